//! Small models built in code for the pass tests, and helpers to run them.
#![allow(dead_code)] // each test module uses its own share

use optimize_data::{SplitMix64, Tensor};
use optimize_onnx::build::{attr_int, node, tensor_f32, WithAttr};
use optimize_onnx::proto::tensor_shape_proto::{dimension, Dimension};
use optimize_onnx::proto::{
    type_proto, GraphProto, ModelProto, NodeProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use optimize_onnx::Model;
use std::path::{Path, PathBuf};

/// A float tensor value; negative dims are symbolic (`batch`).
pub fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(1),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(if d < 0 {
                                dimension::Value::DimParam("batch".into())
                            } else {
                                dimension::Value::DimValue(d)
                            }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A model of one graph at opset 17.
pub fn model(
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    inputs: &[(&str, &[i64])],
    outputs: &[(&str, &[i64])],
) -> Model {
    Model::from_proto(ModelProto {
        producer_name: Some("optimize-prune tests".into()),
        ..optimize_onnx::build::model(
            GraphProto {
                name: Some("g".into()),
                node: nodes,
                initializer: initializers,
                input: inputs.iter().map(|(n, d)| value_info(n, d)).collect(),
                output: outputs.iter().map(|(n, d)| value_info(n, d)).collect(),
                ..Default::default()
            },
            17,
        )
    })
}

/// `n` values uniform in [-1, 1), from `seed`.
pub fn seeded(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
        .collect()
}

/// A float32 initializer of seeded values.
pub fn weight(name: &str, dims: &[i64], seed: u64) -> TensorProto {
    let n = dims.iter().product::<i64>() as usize;
    tensor_f32(name, dims, &seeded(n, seed))
}

/// The values of initializer `name` of `model`.
pub fn values(model: &Model, name: &str) -> Vec<f32> {
    let g = model.proto.graph.as_ref().unwrap();
    let t = g
        .initializer
        .iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("no initializer {name}"));
    optimize_onnx::build::read_f32(t).unwrap()
}

/// The shape of initializer `name` of `model`.
pub fn dims(model: &Model, name: &str) -> Vec<i64> {
    let g = model.proto.graph.as_ref().unwrap();
    g.initializer
        .iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("no initializer {name}"))
        .dims
        .clone()
}

/// x[batch, 8] → Gemm(transB=1, 16) → Relu → MatMul[16, 12] → Relu → Gemm(transB=0, 4) → y.
pub fn mlp() -> Model {
    model(
        vec![
            node("Gemm", &["x", "w1", "b1"], &["h1"], "fc1").with_attr(attr_int("transB", 1)),
            node("Relu", &["h1"], &["r1"], "relu1"),
            node("MatMul", &["r1", "w2"], &["h2"], "fc2"),
            node("Relu", &["h2"], &["r2"], "relu2"),
            node("Gemm", &["r2", "w3", "b3"], &["y"], "fc3"),
        ],
        vec![
            weight("w1", &[16, 8], 1),
            weight("b1", &[16], 2),
            weight("w2", &[16, 12], 3),
            weight("w3", &[12, 4], 4),
            weight("b3", &[4], 5),
        ],
        &[("x", &[-1, 8])],
        &[("y", &[-1, 4])],
    )
}

/// Writes `model` to `dir/name` and returns the path.
pub fn write(model: &Model, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    optimize_onnx::save(model, &path, &Default::default()).unwrap();
    path
}

/// Runs `model` in ONNX Runtime on `inputs`; returns every output.
pub fn run_ort(model: &Path, inputs: &[(String, Tensor)]) -> Vec<(String, Tensor)> {
    let s = optimize_runtime::OrtSession::from_file(
        model,
        &optimize_runtime::SessionOptions::deterministic(),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", model.display()));
    s.run(inputs)
        .unwrap_or_else(|e| panic!("{}: {e}", model.display()))
}

/// A seeded float input.
pub fn input(name: &str, shape: &[usize], seed: u64) -> (String, Tensor) {
    let n = shape.iter().product();
    (
        name.to_string(),
        Tensor::from_f32(shape.to_vec(), seeded(n, seed)).unwrap(),
    )
}
