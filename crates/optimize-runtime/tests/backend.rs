use optimize_data::Tensor;
use optimize_onnx::build::{node, value_info_f32};
use optimize_onnx::proto::{GraphProto, ModelProto, ValueInfoProto};
use optimize_runtime::{load_model, Backend, Error};
use prost::Message;

use crate::util::{named, workspace};

/// A float tensor value of fixed shape.
fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let dims: Vec<Option<i64>> = dims.iter().map(|&d| Some(d)).collect();
    value_info_f32(name, &dims)
}

/// `y = Det(x)` for x: f32 [2, 3, 3]. tract 0.23 has no Det; ONNX Runtime has (opset 11+).
fn det_model() -> Vec<u8> {
    ModelProto {
        producer_name: Some("optimize-runtime tests".into()),
        ..optimize_onnx::build::model(
            GraphProto {
                name: Some("det".into()),
                node: vec![node("Det", &["x"], &["y"], "the_det")],
                input: vec![value_info("x", &[2, 3, 3])],
                output: vec![value_info("y", &[2])],
                ..Default::default()
            },
            17,
        )
    }
    .encode_to_vec()
}

#[test]
fn tract_is_used_when_it_can() {
    let path = workspace("models/digits-mlp.onnx");
    let (model, backend, why) = load_model(&path, Backend::Tract, true).unwrap();
    assert_eq!((backend, why), (Backend::Tract, None));
    let out = model
        .run(&named([(
            "input",
            Tensor::zeros(optimize_data::DType::F32, vec![2, 64]).unwrap(),
        )]))
        .unwrap();
    assert_eq!(out[0].1.shape(), [2, 10]);
    assert_eq!(
        (model.backend(), model.fallback_reason()),
        (Some(Backend::Tract), None)
    );

    let (model, backend, why) = load_model(&path, Backend::Ort, true).unwrap();
    assert_eq!(
        (backend, why, model.backend()),
        (Backend::Ort, None, Some(Backend::Ort))
    );
}

/// A missing operator found at load: load_model says why it fell back, and ONNX Runtime
/// computes the determinants (24 for diag(2, 3, 4); 1*4 - 2*3 = -2 for the second).
#[test]
fn an_operator_tract_lacks_falls_back_to_onnx_runtime() {
    let bytes = det_model();
    let err = load_model(&bytes, Backend::Tract, false).err().unwrap();
    assert!(
        matches!(&err, Error::UnsupportedOperator { op, node, .. } if op == "Det" && node == "the_det"),
        "{err}"
    );

    let (model, backend, why) = load_model(&bytes, Backend::Tract, true).unwrap();
    assert_eq!(backend, Backend::Ort);
    let why = why.unwrap();
    assert!(why.contains("node `the_det` (Det)"), "{why}");
    #[rustfmt::skip]
    let x = Tensor::from_f32(vec![2, 3, 3], vec![
        2.0, 0.0, 0.0,  0.0, 3.0, 0.0,  0.0, 0.0, 4.0,
        1.0, 2.0, 0.0,  3.0, 4.0, 0.0,  0.0, 0.0, 1.0,
    ])
    .unwrap();
    let out = model.run(&named([("x", x)])).unwrap();
    let y = out[0].1.to_f32_vec().unwrap();
    assert!(
        (y[0] - 24.0).abs() < 1e-4 && (y[1] + 2.0).abs() < 1e-4,
        "{y:?}"
    );
}

/// When neither back end can load the model, the error is the preferred one's: for tract,
/// the one naming the operator.
#[test]
fn when_both_fail_the_preferred_error_is_returned() {
    let bytes = std::fs::read(workspace("models/digits-mlp.onnx")).unwrap();
    let mut model = ModelProto::decode(bytes.as_slice()).unwrap();
    let relu = model
        .graph
        .as_mut()
        .unwrap()
        .node
        .iter_mut()
        .find(|n| n.op_type() == "Relu")
        .unwrap();
    relu.op_type = Some("Frobnicate".into());
    let bytes = model.encode_to_vec();

    let err = load_model(&bytes, Backend::Tract, true).err().unwrap();
    assert!(
        matches!(&err, Error::UnsupportedOperator { op, .. } if op == "Frobnicate"),
        "{err}"
    );
    let err = load_model(&bytes, Backend::Ort, true).err().unwrap();
    assert!(matches!(&err, Error::Load { .. }), "{err}");
}

/// Input mistakes are the caller's: the model stays on tract and the error names the input.
#[test]
fn a_bad_input_does_not_cause_a_fallback() {
    let path = workspace("models/digits-mlp.onnx");
    let (model, _, _) = load_model(&path, Backend::Tract, true).unwrap();
    let x = Tensor::zeros(optimize_data::DType::F32, vec![2, 63]).unwrap();
    let err = model.run(&named([("input", x)])).unwrap_err();
    assert!(
        matches!(&err, Error::InputMismatch { name, .. } if name == "input"),
        "{err}"
    );
    assert_eq!(model.backend(), Some(Backend::Tract));
}
