use std::path::Path;

use candle_core::{Device, Tensor};
use optimize_distill::export::{verify_export, PARITY_TOLERANCE};
use optimize_distill::import::student_from_onnx;
use optimize_distill::student::{LayerSpec, Student};
use optimize_distill::Error;
use optimize_onnx::build::{attr_int, node, tensor_f32, value_info_f32 as value, WithAttr};
use optimize_onnx::proto::{GraphProto, NodeProto, TensorProto};
use optimize_onnx::{save, Model, SaveOptions};

use crate::util::root;

/// The imported student in candle gives the ONNX model's outputs (tract and ONNX Runtime).
fn matches_original(path: &Path, input: &[usize]) -> Vec<LayerSpec> {
    let s = student_from_onnx(path).unwrap();
    assert_eq!(s.input_shape, input);
    let student = Student::new(&s.layers, &s.input_shape, 0, &Device::Cpu).unwrap();
    student.set_tensors(&s.tensors, path).unwrap();
    let mut shape = vec![12];
    shape.extend(input);
    let x = Tensor::randn(0.5f32, 1.0, shape, &Device::Cpu).unwrap();
    let parity = verify_export(path, &student, &x).unwrap();
    for p in &parity {
        if let Some(d) = p.max_abs_diff {
            assert!(d <= PARITY_TOLERANCE, "{parity:?}");
        }
    }
    assert!(
        parity[0].max_abs_diff.is_some(),
        "tract must run: {parity:?}"
    );
    s.layers
}

#[test]
fn digits_models_become_students_with_the_same_outputs() {
    let cnn = matches_original(&root().join("models/digits-cnn.onnx"), &[1, 8, 8]);
    let kinds: Vec<&str> = cnn.iter().map(|l| l.kind()).collect();
    assert_eq!(
        kinds,
        [
            "conv2d",
            "relu",
            "conv2d",
            "relu",
            "max_pool2d",
            "flatten",
            "linear",
            "relu",
            "linear"
        ]
    );
    let mlp = matches_original(&root().join("models/digits-mlp.onnx"), &[64]);
    assert_eq!(mlp.len(), 5);
}

fn ramp(name: &str, dims: &[i64]) -> TensorProto {
    let n: i64 = dims.iter().product();
    let v: Vec<f32> = (0..n).map(|i| ((i * 7 % 11) as f32 - 5.0) / 10.0).collect();
    tensor_f32(name, dims, &v)
}

/// Saves a one-input, one-output model with `nodes` from `input` [batch, 6] to `out`.
fn write_model(
    dir: &Path,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    out: &str,
) -> std::path::PathBuf {
    let proto = optimize_onnx::build::model(
        GraphProto {
            name: Some("g".into()),
            node: nodes,
            initializer: inits,
            input: vec![value("input", &[None, Some(6)])],
            output: vec![value(out, &[None, Some(4)])],
            ..Default::default()
        },
        13,
    );
    let path = dir.join("m.onnx");
    save(&Model::from_proto(proto), &path, &SaveOptions::default()).unwrap();
    path
}

/// `MatMul` with a constant weight and an `Add` of a constant bias: one linear layer, with
/// the weight transposed to candle's `[out, in]`.
#[test]
fn matmul_and_bias_add_become_one_linear_layer() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_model(
        dir.path(),
        vec![
            node("MatMul", &["input", "w"], &["h"], "mm"),
            node("Add", &["b", "h"], &["y"], "add"),
        ],
        vec![ramp("w", &[6, 4]), ramp("b", &[4])],
        "y",
    );
    let layers = matches_original(&path, &[6]);
    assert_eq!(
        layers,
        [LayerSpec::Linear {
            out: 4,
            bias: true,
            name: None
        }]
    );
}

/// What a student cannot express is refused with the file and the node named.
#[test]
fn unsupported_graphs_are_refused_naming_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<NodeProto>, &str)> = vec![
        (
            vec![
                node("Gemm", &["input", "w"], &["h"], "fc").with_attr(attr_int("transB", 0)),
                node("Softmax", &["h"], &["y"], "probs"),
            ],
            "node 'probs' (Softmax) has no student layer",
        ),
        (
            vec![
                node("Gemm", &["input", "w"], &["h"], "fc").with_attr(attr_int("transB", 0)),
                node("Add", &["h", "input"], &["y"], "residual"),
            ],
            "'residual'",
        ),
        (
            vec![node("Gemm", &["input", "w"], &["y"], "fc").with_attr(attr_int("transA", 1))],
            "Gemm 'fc' has transA",
        ),
    ];
    for (nodes, expected) in cases {
        let path = write_model(dir.path(), nodes, vec![ramp("w", &[6, 4])], "y");
        let e = student_from_onnx(&path).unwrap_err();
        assert!(matches!(e, Error::Import { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains(expected), "{msg}");
        assert!(msg.contains("m.onnx"), "{msg}");
        assert!(e.is_input_error());
        std::fs::remove_file(&path).unwrap();
    }
}
