use std::path::PathBuf;

/// `tests/cases/<name>/model.onnx`.
pub fn case(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(name)
        .join("model.onnx")
}

/// A path under the workspace root.
pub fn workspace(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// Named inputs from `(name, tensor)` pairs.
pub fn named<const N: usize>(
    pairs: [(&str, optimize_data::Tensor); N],
) -> Vec<(String, optimize_data::Tensor)> {
    pairs.into_iter().map(|(n, t)| (n.to_string(), t)).collect()
}

/// The largest absolute difference between two tensors of the same shape, compared as f64
/// (any numeric dtype).
pub fn max_abs_diff(a: &optimize_data::Tensor, b: &optimize_data::Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    let (a, b) = (as_f64(a), as_f64(b));
    a.iter()
        .zip(&b)
        .map(|(x, y)| if x == y { 0.0 } else { (x - y).abs() })
        .fold(0.0, f64::max)
}

/// Every element as f64.
pub fn as_f64(t: &optimize_data::Tensor) -> Vec<f64> {
    use optimize_data::DType;
    match t.dtype() {
        DType::F32 => t.to_f32_vec().unwrap().into_iter().map(f64::from).collect(),
        DType::F64 => t.to_vec::<f64>().unwrap(),
        DType::I64 => t
            .to_i64_vec()
            .unwrap()
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        DType::F16 => t.to_f16_vec().unwrap().into_iter().map(f64::from).collect(),
        other => panic!("as_f64: {other} not handled"),
    }
}

/// The index of the largest value in each row of a 2-D f32 tensor.
pub fn argmax_rows(t: &optimize_data::Tensor) -> Vec<usize> {
    let cols = *t.shape().last().unwrap();
    t.to_f32_vec()
        .unwrap()
        .chunks(cols)
        .map(|row| {
            (0..cols)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap()
        })
        .collect()
}
