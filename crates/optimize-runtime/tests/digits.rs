use optimize_data::{random_tensor, DType, RandomRange};
use optimize_runtime::{Dim, OrtSession, SessionOptions};

use crate::util::{named, workspace};

/// digits-mlp on 4 seeded rows, against Python onnxruntime 1.31.1 on the same bytes:
///
/// ```python
/// M = (1 << 64) - 1
/// def splitmix64(s):
///     while True:
///         s = (s + 0x9e3779b97f4a7c15) & M
///         z = s
///         z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
///         z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
///         yield z ^ (z >> 31)
/// g = splitmix64(0)   # random_tensor(F32, [4, 64], seed 0, Float { low: 0, high: 1 })
/// x = np.array([((next(g) >> 40) / 2**24) for _ in range(256)], np.float64).astype(np.float32).reshape(4, 64)
/// so = ort.SessionOptions(); so.intra_op_num_threads = 1
/// y = ort.InferenceSession("models/digits-mlp.onnx", so).run(None, {"input": x})[0]
/// y.argmax(1)  # [9 2 7 4]
/// y[0]         # [-5.9669185, -3.1559658, -7.7143373, -7.4892306, 0.82557374,
///              #  -9.385537, -10.101763, 1.1517231, -4.484785, 8.670686]
/// ```
#[test]
fn matches_python_onnxruntime() {
    let path = workspace("models/digits-mlp.onnx");
    let s = OrtSession::from_file(&path, &SessionOptions::deterministic()).unwrap();
    assert_eq!(s.inputs()[0].name, "input");
    assert_eq!(
        s.inputs()[0].shape,
        [Dim::Symbolic("batch".into()), Dim::Fixed(64)]
    );
    assert_eq!(s.outputs()[0].name, "logits");

    let x = random_tensor(
        DType::F32,
        &[4, 64],
        0,
        RandomRange::Float {
            low: 0.0,
            high: 1.0,
        },
    )
    .unwrap();
    assert_eq!(&x.to_f32_vec().unwrap()[..2], [0.8833108, 0.43152797]);
    let out = s.run(&named([("input", x)])).unwrap();
    let (name, logits) = &out[0];
    assert_eq!(name, "logits");
    assert_eq!(logits.shape(), [4, 10]);
    let logits = logits.to_f32_vec().unwrap();

    let argmax: Vec<usize> = logits
        .chunks(10)
        .map(|row| (0..10).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap())
        .collect();
    assert_eq!(argmax, [9, 2, 7, 4]);
    let expected_row0 = [
        -5.9669185, -3.1559658, -7.7143373, -7.4892306, 0.82557374, -9.385537, -10.101763,
        1.1517231, -4.484785, 8.670686,
    ];
    for (got, want) in logits[..10].iter().zip(expected_row0) {
        assert!((got - want).abs() <= 1e-5, "{got} vs {want}");
    }
}
