//! Static QDQ reaches into If branches and Loop bodies.
//!
//! A hand-built model holds a MatMul (+Relu) in each branch of an If and one in the body of a
//! Loop, with the weights in the main graph and in the bodies. Checked with ONNX Runtime:
//! calibration's capture model hands out the inner tensors with the right values (the branch
//! not taken gives an empty tensor, the Loop stacks its iterations); the quantized model passes
//! `onnx.checker` (full check), quantizes all three MatMuls, and stays close to float32 for both
//! branch choices. A Relu folded into a quantization must keep its output name alive for readers
//! inside subgraphs (a bug that once fed pre-Relu values to silero-vad's decoder).

use optimize_data::{random_tensor, DType, RandomRange, Tensor};
use optimize_onnx::build::{attr_graph, node, tensor_f32, tensor_i64};
use optimize_onnx::proto::tensor_proto::DataType;
use optimize_onnx::proto::{
    tensor_shape_proto, type_proto, GraphProto, ModelProto, NodeProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use optimize_onnx::{save, Model, SaveOptions};
use optimize_quant::calibrate::capture_model;
use optimize_quant::{quantize_static_with, QuantConfig};
use optimize_runtime::{OrtSession, SessionOptions};
use prost::Message;
use std::collections::BTreeSet;

fn value(name: &str, elem: DataType, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem as i32),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| tensor_shape_proto::Dimension {
                            value: Some(tensor_shape_proto::dimension::Value::DimValue(d)),
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

fn weight(name: &str, seed: u64) -> optimize_onnx::proto::TensorProto {
    let t = random_tensor(
        DType::F32,
        &[4, 4],
        seed,
        RandomRange::Float {
            low: -1.0,
            high: 1.0,
        },
    )
    .unwrap();
    tensor_f32(name, &[4, 4], &t.to_f32_vec().unwrap())
}

/// `z = If(c, then: Relu(x @ w_then) read through Identity, else: x @ w_else)`, then
/// `v = Loop(3, v0 = z): Relu(v @ w_loop)`.
fn model() -> Model {
    let then_branch = GraphProto {
        name: Some("then".into()),
        node: vec![
            node("MatMul", &["x", "w_then"], &["t_mm"], "then_mm"),
            node("Relu", &["t_mm"], &["t_relu"], "then_relu"),
            node("Identity", &["t_relu"], &["t_out"], "then_id"),
        ],
        output: vec![value("t_out", DataType::Float, &[1, 4])],
        ..Default::default()
    };
    let else_branch = GraphProto {
        name: Some("else".into()),
        node: vec![node("MatMul", &["x", "w_else"], &["e_out"], "else_mm")],
        initializer: vec![weight("w_else", 2)],
        output: vec![value("e_out", DataType::Float, &[1, 4])],
        ..Default::default()
    };
    let mut iff: NodeProto = node("If", &["c"], &["z"], "if");
    iff.attribute = vec![
        attr_graph("then_branch", then_branch),
        attr_graph("else_branch", else_branch),
    ];
    let body = GraphProto {
        name: Some("body".into()),
        node: vec![
            node("Identity", &["cond_in"], &["cond_out"], "body_cond"),
            node("MatMul", &["v_in", "w_loop"], &["l_mm"], "loop_mm"),
            node("Relu", &["l_mm"], &["v_out"], "loop_relu"),
        ],
        input: vec![
            value("iter", DataType::Int64, &[]),
            value("cond_in", DataType::Bool, &[]),
            value("v_in", DataType::Float, &[1, 4]),
        ],
        output: vec![
            value("cond_out", DataType::Bool, &[]),
            value("v_out", DataType::Float, &[1, 4]),
        ],
        initializer: vec![weight("w_loop", 3)],
        ..Default::default()
    };
    let mut lp = node("Loop", &["trips", "", "z"], &["v"], "loop");
    lp.attribute = vec![attr_graph("body", body)];
    let g = GraphProto {
        name: Some("subgraphs".into()),
        node: vec![iff, lp],
        initializer: vec![weight("w_then", 1), tensor_i64("trips", &[], &[3])],
        input: vec![
            value("x", DataType::Float, &[1, 4]),
            value("c", DataType::Bool, &[]),
        ],
        output: vec![value("v", DataType::Float, &[1, 4])],
        ..Default::default()
    };
    Model::from_proto(optimize_onnx::build::model(g, 17))
}

fn sample(seed: u64, c: bool) -> Vec<(String, Tensor)> {
    vec![
        (
            "x".into(),
            random_tensor(
                DType::F32,
                &[1, 4],
                seed,
                RandomRange::Float {
                    low: -2.0,
                    high: 2.0,
                },
            )
            .unwrap(),
        ),
        (
            "c".into(),
            Tensor::from_bytes(DType::Bool, vec![], vec![u8::from(c)]).unwrap(),
        ),
    ]
}

fn ort(proto: &ModelProto) -> OrtSession {
    OrtSession::from_bytes(&proto.encode_to_vec(), &SessionOptions::default()).unwrap()
}

fn output<'a>(outs: &'a [(String, Tensor)], name: &str) -> &'a Tensor {
    &outs.iter().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn capture_hands_out_branch_and_loop_tensors() {
    let m = model();
    let wanted: BTreeSet<String> = ["t_mm", "e_out", "l_mm"].map(String::from).into();
    let cap = capture_model(&m.proto, &wanted);
    assert!(cap.unreachable.is_empty(), "{:?}", cap.unreachable);
    let carried: BTreeSet<&str> = cap.outputs.values().map(String::as_str).collect();
    assert_eq!(carried, ["e_out", "l_mm", "t_mm"].into());
    let session = ort(&cap.model);
    let by_tensor = |outs: &[(String, Tensor)], t: &str| -> Tensor {
        let out = cap.outputs.iter().find(|(_, v)| *v == t).unwrap().0;
        output(outs, out).clone()
    };
    for c in [true, false] {
        let outs = session.run(&sample(7, c)).unwrap();
        let (t, e) = (by_tensor(&outs, "t_mm"), by_tensor(&outs, "e_out"));
        // Only the branch taken produces values; the other hands out an empty tensor.
        let (taken, absent) = if c { (&t, &e) } else { (&e, &t) };
        assert_eq!(taken.shape(), &[1, 4], "c={c}");
        assert_eq!(absent.shape().iter().product::<usize>(), 0, "c={c}");
        // The Loop stacks its body's tensor over the 3 iterations.
        assert_eq!(by_tensor(&outs, "l_mm").shape(), &[3, 1, 4], "c={c}");
        // The real output is unchanged by the capture.
        let plain = ort(&m.proto).run(&sample(7, c)).unwrap();
        assert_eq!(output(&outs, "v"), output(&plain, "v"));
    }
}

#[test]
fn static_qdq_quantizes_branches_and_loop_bodies() {
    let m = model();
    let samples: Vec<_> = (0..16).map(|i| Ok(sample(100 + i, i % 2 == 0))).collect();
    let load =
        |bytes: &[u8]| -> optimize_quant::Result<(Box<dyn optimize_runtime::Model>, String)> {
            let s = OrtSession::from_bytes(bytes, &SessionOptions::default())?;
            Ok((Box::new(s), "onnxruntime".into()))
        };
    let (q, report, cal) = quantize_static_with(
        &m,
        samples.into_iter(),
        &QuantConfig::default(),
        &load,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(cal.samples, 16);
    assert_eq!(report.quantized.get("MatMul"), Some(&3), "{report:?}");
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);

    // The Relu inside the then-branch is folded into a uint8 quantization; its output name is
    // now produced by the DequantizeLinear, so the Identity after it still reads clamped values.
    let g = q.proto.graph.as_ref().unwrap();
    let then_g = g.node[0].attribute[0].g.as_ref().unwrap();
    assert!(then_g.node.iter().all(|n| n.op_type() != "Relu"));
    let dq = then_g
        .node
        .iter()
        .find(|n| n.output.first().map(String::as_str) == Some("t_relu"))
        .unwrap();
    assert_eq!(dq.op_type(), "DequantizeLinear");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.onnx");
    save(&q, &path, &SaveOptions::default()).unwrap();
    optimize_testkit::check_model(&path);

    let (float, quant) = (ort(&m.proto), ort(&q.proto));
    for i in 0..8 {
        let s = sample(500 + i, i % 2 == 1);
        let a = output(&float.run(&s).unwrap(), "v").to_f32_vec().unwrap();
        let b = output(&quant.run(&s).unwrap(), "v").to_f32_vec().unwrap();
        let dot: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(x * y)).sum();
        let na: f64 = a.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt();
        let nb: f64 = b.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt();
        let cos = if na == 0.0 && nb == 0.0 {
            1.0
        } else {
            dot / (na * nb)
        };
        assert!(cos > 0.99, "sample {i}: cosine {cos}: {a:?} vs {b:?}");
    }
}
