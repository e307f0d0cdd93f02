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
