//! `convert_to_fp16` on real models and on small hand-built graphs.
//!
//! Every converted model is saved with `optimize_onnx::save`, must pass
//! `onnx.checker.check_model(full_check=True)` (the workspace's .venv Python), and must load and
//! run in ONNX Runtime's CPU provider. Real models are compared with their float32 originals on
//! seeded inputs from models/manifest.json's hints, each against a stated tolerance; the digits
//! classifiers must predict the same class on all 359 held-out digits.

use optimize_data::{DType, Tensor};
use optimize_onnx::build::{attr_graph, attr_int, attr_tensor, WithAttr};
use optimize_onnx::proto::tensor_proto::DataType;
use optimize_onnx::proto::{
    tensor_shape_proto, type_proto, GraphProto, ModelProto, NodeProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use optimize_onnx::{save, Model, SaveOptions};
use optimize_quant::fp16::{convert_to_fp16, default_block_ops, Fp16Config, Fp16Report};
use optimize_runtime::{OrtSession, SessionOptions};
use optimize_testkit::{check_model, entry, python, root};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const F32: i32 = DataType::Float as i32;
const F16: i32 = DataType::Float16 as i32;

fn run_python(args: &[&str]) -> String {
    let out = Command::new(python()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "python {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run(model: &Path, inputs: &[(String, Tensor)]) -> Vec<(String, Tensor)> {
    let session = OrtSession::from_file(model, &SessionOptions::deterministic())
        .unwrap_or_else(|e| panic!("{}: {e}", model.display()));
    session
        .run(inputs)
        .unwrap_or_else(|e| panic!("{}: {e}", model.display()))
}

fn as_f32(t: &Tensor) -> Vec<f32> {
    match t.dtype() {
        DType::F32 => t.to_vec::<f32>().unwrap(),
        DType::F16 => t
            .to_vec::<half::f16>()
            .unwrap()
            .into_iter()
            .map(f32::from)
            .collect(),
        other => panic!("not a float tensor: {other}"),
    }
}

/// Converts, saves to a temp folder, checks with onnx.checker. Returns the folder (kept alive by
/// the caller), the saved path, the converted proto and the report.
fn convert_and_save(
    model: &ModelProto,
    config: &Fp16Config,
) -> (tempfile::TempDir, PathBuf, ModelProto, Fp16Report) {
    let (fp16, report) = convert_to_fp16(model, config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fp16.onnx");
    save(
        &Model::from_proto(fp16.clone()),
        &path,
        &SaveOptions::default(),
    )
    .unwrap();
    check_model(&path);
    (dir, path, fp16, report)
}

/// Largest |a - b| over all float outputs, that relative to the largest |a|, and the cosine
/// similarity of a and b (NaN when either is all zeros, which no bound accepts), per output.
fn compare(
    name: &str,
    expected: &[(String, Tensor)],
    got: &[(String, Tensor)],
) -> BTreeMap<String, (f32, f32, f64)> {
    assert_eq!(expected.len(), got.len(), "{name}: output count");
    let mut errors = BTreeMap::new();
    for ((en, et), (gn, gt)) in expected.iter().zip(got) {
        assert_eq!(en, gn, "{name}: output names");
        assert_eq!(et.shape(), gt.shape(), "{name}/{en}: shape");
        assert_eq!(et.dtype(), gt.dtype(), "{name}/{en}: dtype");
        if !et.dtype().is_float() {
            assert_eq!(et, gt, "{name}/{en}: integer output differs");
            continue;
        }
        let (a, b) = (as_f32(et), as_f32(gt));
        assert!(
            b.iter().all(|x| x.is_finite()),
            "{name}/{en}: float16 model produced Inf or NaN"
        );
        let max_abs = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        let scale = a.iter().map(|x| x.abs()).fold(0.0, f32::max).max(1e-6);
        let dot = |p: &[f32], q: &[f32]| {
            p.iter()
                .zip(q)
                .map(|(x, y)| *x as f64 * *y as f64)
                .sum::<f64>()
        };
        let cos = dot(&a, &b) / (dot(&a, &a) * dot(&b, &b)).sqrt();
        errors.insert(en.clone(), (max_abs, max_abs / scale, cos));
    }
    errors
}

/// How close a float16 model's float outputs must stay to the original's.
#[derive(Debug, Clone, Copy)]
enum Bound {
    /// Largest absolute difference (for probabilities).
    Abs(f32),
    /// Largest absolute difference over the output's largest magnitude (for embeddings, states).
    Rel(f32),
    /// Smallest cosine similarity (for the text detector's map on a real text image, where a
    /// few edge pixels on the sigmoid's steep part move by a lot and the rest by nothing).
    Cosine(f64),
}

/// What conversion with the default config must do to the model at `path`, counted on the
/// float32 file by tests/cases/fp16-counts/counts.py with the onnx package: the nodes of each
/// blocked op type, the BatchNormalization nodes with out-of-range statistics, the float32 values
/// beyond ±65504 elsewhere.
fn reference_counts(path: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/fp16-counts/counts.py");
    let mut args = vec![
        script.to_str().unwrap().to_string(),
        path.to_str().unwrap().to_string(),
    ];
    args.extend(default_block_ops());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    serde_json::from_str(run_python(&args).trim()).unwrap()
}

/// The report's counts agree with [`reference_counts`]: every blocked node and only those kept
/// float32, every out-of-range BatchNormalization folded, every other out-of-range value
/// clamped. Returns the reference.
fn check_counts(name: &str, path: &Path, report: &Fp16Report) -> Value {
    let want = reference_counts(path);
    let nodes: BTreeMap<String, usize> = serde_json::from_value(want["nodes"].clone()).unwrap();
    assert_eq!(report.nodes_kept_fp32, nodes, "{name}: nodes kept float32");
    assert_eq!(
        report.batch_norms_folded as u64,
        want["batch_norms_out_of_range"].as_u64().unwrap(),
        "{name}: BatchNormalization nodes folded"
    );
    assert_eq!(
        report.values_clamped,
        want["values_beyond_fp16"].as_u64().unwrap(),
        "{name}: values clamped"
    );
    want
}

/// Converts a model from models/manifest.json with the default config, checks it, runs both on
/// seeded inputs and asserts every float output is within `bound` and the report's counts
/// against [`check_counts`]. Returns the report and the reference counts.
fn real_model(name: &str, bound: Bound) -> (Fp16Report, Value) {
    let m = entry(name);
    let path = m.path();
    let model = Model::load(&path).unwrap();
    let (dir, saved, _fp16, report) = convert_and_save(&model.proto, &Fp16Config::default());
    let inputs = if name == "ppocr-v4-det" {
        text_input(name, dir.path())
    } else {
        m.inputs(1000)
    };
    let expected = run(&path, &inputs);
    if name == "ppocr-v4-det" {
        // On random inputs this map is ~1e-5 everywhere and any bound passes; on text it is not.
        let map = as_f32(&expected[0].1);
        let text = map.iter().filter(|&&p| p > 0.3).count() as f64 / map.len() as f64;
        assert!(text > 0.01, "{name}: only {text:.4} of the map is text");
    }
    let errors = compare(name, &expected, &run(&saved, &inputs));
    eprintln!("{name}: {report:?}\n{name}: max abs / relative error per output: {errors:?}");
    for (out, &(abs, rel, cos)) in &errors {
        let ok = match bound {
            Bound::Abs(b) => abs <= b,
            Bound::Rel(b) => rel <= b,
            Bound::Cosine(c) => cos >= c,
        };
        assert!(
            ok,
            "{name}/{out}: error {abs} ({rel} of the range, cosine {cos}) exceeds {bound:?}"
        );
    }
    assert!(report.nodes_fp16 > 0, "{name}: nothing converted");
    let want = check_counts(name, &path, &report);
    (report, want)
}

/// One real text image for PaddleOCR model `name` ([1, 3, H, W] at its input hint's shape),
/// written by scripts/ocr_inputs.py (a crop of a photographed page, pinned by sha256).
fn text_input(name: &str, dir: &Path) -> Vec<(String, Tensor)> {
    let path = dir.join("text.npz");
    run_python(&[
        root().join("scripts/ocr_inputs.py").to_str().unwrap(),
        name,
        path.to_str().unwrap(),
        "-n",
        "1",
    ]);
    optimize_data::read_npz(&path)
        .unwrap()
        .into_iter()
        .map(|(input, t)| {
            let shape = t.shape()[1..].to_vec();
            let t = Tensor::from_bytes(t.dtype(), shape, t.as_bytes().to_vec()).unwrap();
            (input, t)
        })
        .collect()
}

/// Argmax agreement on models/data/digits-test.npz, through tests/cases/fp16-digits/accuracy.py.
fn digits(name: &str, cnn: bool) -> Value {
    let file = entry(name).path();
    let model = Model::load(&file).unwrap();
    let (_dir, saved, _, report) = convert_and_save(&model.proto, &Fp16Config::default());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/fp16-digits/accuracy.py");
    let mut args = vec![
        script.to_str().unwrap(),
        file.to_str().unwrap(),
        saved.to_str().unwrap(),
    ];
    if cnn {
        args.push("--cnn");
    }
    let out: Value = serde_json::from_str(run_python(&args).trim()).unwrap();
    eprintln!("{name}: {report:?}\n{name}: {out}");
    assert_eq!(out["samples"], 359);
    assert_eq!(
        out["agree"], 359,
        "{name}: float16 changes the predicted class: {out}"
    );
    check_counts(name, &file, &report);
    out
}

// ---- real models --------------------------------------------------------------------------

#[test]
fn digits_mlp_predicts_the_same_class_on_every_test_digit() {
    let out = digits("digits-mlp", false);
    assert!(out["max_abs"].as_f64().unwrap() < 0.05, "{out}");
}

#[test]
fn digits_cnn_predicts_the_same_class_on_every_test_digit() {
    let out = digits("digits-cnn", true);
    assert!(out["max_abs"].as_f64().unwrap() < 0.05, "{out}");
}

#[test]
fn ppocr_cls_mobile_v2() {
    // Softmax over 2 classes (measured: 2.7e-3).
    real_model("ppocr-cls-mobile-v2", Bound::Abs(1e-2));
}

#[test]
fn ppocr_v4_det() {
    // Sigmoid text-probability map on a real text image, about 16% of it above 0.3 (measured:
    // cosine 0.99999). Without folding BatchNormalization's 1e7 variances instead of clamping
    // them, pixels reach 1.0.
    let (_, want) = real_model("ppocr-v4-det", Bound::Cosine(0.9999));
    assert!(
        want["batch_norms_out_of_range"].as_u64() > Some(0),
        "{want}"
    );
}

#[test]
fn silero_vad() {
    // Speech probability and LSTM state, through 25 If nodes (measured: 3.6e-6 and 1.7e-3).
    let (_, want) = real_model("silero-vad", Bound::Abs(1e-2));
    assert!(want["nodes"]["Pow"].as_u64() > Some(0), "{want}");
}

#[test]
fn silero_vad_half() {
    // Measured: 5.8e-5 and 2.4e-3.
    real_model("silero-vad-half", Bound::Abs(1e-2));
}

#[test]
fn paraphrase_minilm_l3() {
    // Token and sentence embeddings (measured: 9.5e-4 and 6.8e-4 of the range); the two int64
    // pass-through outputs must be identical. The -3.4e38 attention-mask constant is clamped.
    let (_, want) = real_model("paraphrase-minilm-l3", Bound::Rel(1e-2));
    assert!(want["values_beyond_fp16"].as_u64() > Some(0), "{want}");
}

// ---- small graphs -------------------------------------------------------------------------

fn vi(name: &str, elem: i32, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem),
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

fn elem_type(v: &ValueInfoProto) -> i32 {
    match v.r#type.as_ref().unwrap().value.as_ref().unwrap() {
        type_proto::Value::TensorType(t) => t.elem_type.unwrap(),
        _ => panic!("not a tensor"),
    }
}

fn weight(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(F32),
        float_data: data.to_vec(),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        name: Some(outputs[0].to_string()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn model(graph: GraphProto) -> ModelProto {
    ModelProto {
        producer_name: Some("optimize-quant tests".into()),
        ..optimize_onnx::build::model(graph, 17)
    }
}

fn ops(g: &GraphProto) -> Vec<&str> {
    g.node.iter().map(|n| n.op_type()).collect()
}

fn cast_to(n: &NodeProto) -> i64 {
    assert_eq!(n.op_type(), "Cast");
    n.attribute
        .iter()
        .find(|a| a.name() == "to")
        .unwrap()
        .i
        .unwrap()
}

/// x[1,2] -> MatMul(W) -> Relu -> y, W float32 [2,2].
fn mlp(w: &[f32]) -> ModelProto {
    model(GraphProto {
        name: Some("mlp".into()),
        node: vec![
            node("MatMul", &["x", "W"], &["h"]),
            node("Relu", &["h"], &["y"]),
        ],
        initializer: vec![weight("W", &[2, 2], w)],
        input: vec![vi("x", F32, &[1, 2])],
        output: vec![vi("y", F32, &[1, 2])],
        ..Default::default()
    })
}

fn x_input(values: &[f32]) -> Vec<(String, Tensor)> {
    vec![(
        "x".into(),
        Tensor::from_f32(vec![1, values.len()], values.to_vec()).unwrap(),
    )]
}

#[test]
fn weights_beyond_the_half_range_are_clamped_and_counted() {
    let m = mlp(&[1e5, 1e-9, -7e4, 0.5]);
    let (_dir, path, fp16, report) = convert_and_save(&m, &Fp16Config::default());
    assert_eq!(report.values_clamped, 2);
    assert_eq!(report.tiny_values_flushed, 1);
    assert_eq!(report.initializers_converted, 1);
    let w = &fp16.graph.as_ref().unwrap().initializer[0];
    assert_eq!(w.data_type, Some(F16));
    let bytes = w.raw_data.as_deref().unwrap();
    let values: Vec<f32> = bytes
        .chunks_exact(2)
        .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
        .collect();
    assert_eq!(values, [65504.0, 0.0, -65504.0, 0.5]);
    // x = [1e-3, 0]: x·W = [65.504, 0] in float16 (no Inf), [100, 0] in float32.
    let got = run(&path, &x_input(&[1e-3, 0.0]));
    let y = as_f32(&got[0].1);
    assert!(y.iter().all(|v| v.is_finite()), "{y:?}");
    assert!((y[0] - 65.5).abs() < 0.1, "{y:?}");
}

#[test]
fn keep_io_types_puts_casts_at_the_boundary() {
    let m = mlp(&[1.0, 2.0, 3.0, 4.0]);
    let (_dir, path, fp16, report) = convert_and_save(&m, &Fp16Config::default());
    let g = fp16.graph.as_ref().unwrap();
    assert_eq!(ops(g), ["Cast", "MatMul", "Relu", "Cast"]);
    assert_eq!((cast_to(&g.node[0]), cast_to(&g.node[3])), (10, 1));
    assert_eq!(elem_type(&g.input[0]), F32);
    assert_eq!((g.output[0].name(), elem_type(&g.output[0])), ("y", F32));
    // The output keeps its name; the float16 value is renamed.
    assert_eq!(g.node[2].output[0], "y_fp16");
    assert_eq!(g.node[3].output[0], "y");
    assert_eq!(report.casts_inserted, 2);
    assert_eq!(report.nodes_fp16, 2);
    let y = as_f32(&run(&path, &x_input(&[1.0, -1.0]))[0].1);
    assert_eq!(y, [0.0, 0.0]); // [1-3, 2-4] -> Relu
    let y = as_f32(&run(&path, &x_input(&[1.0, 1.0]))[0].1);
    assert_eq!(y, [4.0, 6.0]);
}

#[test]
fn without_keep_io_types_inputs_and_outputs_are_float16() {
    let m = mlp(&[1.0, 2.0, 3.0, 4.0]);
    let config = Fp16Config {
        keep_io_types: false,
        ..Fp16Config::default()
    };
    let (_dir, path, fp16, report) = convert_and_save(&m, &config);
    let g = fp16.graph.as_ref().unwrap();
    assert_eq!(ops(g), ["MatMul", "Relu"]);
    assert_eq!(report.casts_inserted, 0);
    assert_eq!(
        (elem_type(&g.input[0]), elem_type(&g.output[0])),
        (F16, F16)
    );
    let x = Tensor::from_vec(vec![1, 2], vec![half::f16::from_f32(1.0); 2]).unwrap();
    let got = run(&path, &[("x".into(), x)]);
    assert_eq!(got[0].1.dtype(), DType::F16);
    assert_eq!(as_f32(&got[0].1), [4.0, 6.0]);
}

/// x -> Relu -> a -> Exp (blocked) -> b -> Relu -> y
fn exp_chain() -> ModelProto {
    model(GraphProto {
        name: Some("exp".into()),
        node: vec![
            node("Relu", &["x"], &["a"]),
            node("Exp", &["a"], &["b"]),
            node("Relu", &["b"], &["y"]),
        ],
        input: vec![vi("x", F32, &[1, 2])],
        output: vec![vi("y", F32, &[1, 2])],
        ..Default::default()
    })
}

#[test]
fn a_blocked_op_gets_casts_on_its_float_inputs_and_outputs() {
    assert!(default_block_ops().contains("Exp"));
    let (_dir, path, fp16, report) = convert_and_save(&exp_chain(), &Fp16Config::default());
    let g = fp16.graph.as_ref().unwrap();
    assert_eq!(
        ops(g),
        ["Cast", "Relu", "Cast", "Exp", "Cast", "Relu", "Cast"]
    );
    let exp = &g.node[3];
    assert_eq!(exp.input[0], g.node[2].output[0]);
    assert_eq!(cast_to(&g.node[2]), 1);
    assert_eq!(cast_to(&g.node[4]), 10);
    assert_eq!(
        report.nodes_kept_fp32,
        BTreeMap::from([("Exp".to_string(), 1)])
    );
    assert_eq!(report.casts_inserted, 4);
    let y = as_f32(&run(&path, &x_input(&[1.0, -1.0]))[0].1);
    assert!((y[0] - 1f32.exp()).abs() < 2e-3 && y[1] == 1.0, "{y:?}");
}

#[test]
fn keep_fp32_nodes_names_nodes_by_output_tensor() {
    let config = Fp16Config {
        keep_fp32_nodes: ["a".to_string()].into(),
        block_ops: Default::default(),
        ..Fp16Config::default()
    };
    let (_dir, _path, fp16, report) = convert_and_save(&exp_chain(), &config);
    let g = fp16.graph.as_ref().unwrap();
    // The first Relu stays float32 and reads x directly; Exp and the last Relu are float16.
    assert_eq!(ops(g), ["Relu", "Cast", "Exp", "Relu", "Cast"]);
    assert_eq!(g.node[0].input[0], "x");
    assert_eq!(
        report.nodes_kept_fp32,
        BTreeMap::from([("Relu".to_string(), 1)])
    );
    assert_eq!(report.nodes_fp16, 2);
}

#[test]
fn existing_casts_to_float_follow_their_readers() {
    // x -> Relu -> Cast(to float) -> c -> Relu -> y1 ; c is also output y2 directly via Identity
    // in a second model: a Cast feeding only a float16 node is retargeted; one feeding a graph
    // output (kept float32) is left alone.
    let g = GraphProto {
        name: Some("casts".into()),
        node: vec![
            node("Relu", &["x"], &["a"]),
            node("Cast", &["a"], &["c"]).with_attr(attr_int("to", 1)),
            node("Relu", &["c"], &["y"]),
            node("Cast", &["a"], &["d"]).with_attr(attr_int("to", 1)),
        ],
        input: vec![vi("x", F32, &[1, 2])],
        output: vec![vi("y", F32, &[1, 2]), vi("d", F32, &[1, 2])],
        ..Default::default()
    };
    let (_dir, path, fp16, _) = convert_and_save(&model(g), &Fp16Config::default());
    let g = fp16.graph.as_ref().unwrap();
    let by_out = |o: &str| g.node.iter().find(|n| n.output[0] == o).unwrap();
    assert_eq!(cast_to(by_out("c")), 10);
    assert_eq!(cast_to(by_out("d")), 1);
    assert_eq!(by_out("d").input[0], "a"); // reads the float16 value, no extra cast
    let got = run(&path, &x_input(&[2.0, -1.0]));
    assert_eq!(as_f32(&got[0].1), [2.0, 0.0]);
    assert_eq!(as_f32(&got[1].1), [2.0, 0.0]);
}

#[test]
fn a_weight_shared_with_a_float32_node_keeps_float32() {
    // W feeds MatMul (float16) and Exp (blocked): it stays float32 and MatMul reads a cast.
    let g = GraphProto {
        name: Some("shared".into()),
        node: vec![
            node("MatMul", &["x", "W"], &["y"]),
            node("Exp", &["W"], &["z"]),
        ],
        initializer: vec![weight("W", &[2, 2], &[0.1, 0.2, 0.3, 0.4])],
        input: vec![vi("x", F32, &[1, 2])],
        output: vec![vi("y", F32, &[1, 2]), vi("z", F32, &[2, 2])],
        ..Default::default()
    };
    let (_dir, path, fp16, report) = convert_and_save(&model(g), &Fp16Config::default());
    let g = fp16.graph.as_ref().unwrap();
    assert_eq!(g.initializer[0].data_type, Some(F32));
    assert_eq!(report.initializers_converted, 0);
    let z = as_f32(&run(&path, &x_input(&[1.0, 1.0]))[1].1);
    // Full float32 precision: exp of the unrounded weights.
    for (z, w) in z.iter().zip([0.1f32, 0.2, 0.3, 0.4]) {
        assert!((z - w.exp()).abs() < 1e-6, "{z} vs exp({w})");
    }
}

/// if c: Relu(x) + Constant  else: Exp(x) (blocked);  then y = If * 0.5
fn if_model() -> ModelProto {
    let then_branch = GraphProto {
        name: Some("then".into()),
        node: vec![
            node("Constant", &[], &["k"])
                .with_attr(attr_tensor("value", weight("", &[2], &[1.0, 1e6]))),
            node("Relu", &["x"], &["r"]),
            node("Add", &["r", "k"], &["t_out"]),
        ],
        output: vec![vi("t_out", F32, &[1, 2])],
        ..Default::default()
    };
    let else_branch = GraphProto {
        name: Some("else".into()),
        node: vec![node("Exp", &["x"], &["e_out"])],
        output: vec![vi("e_out", F32, &[1, 2])],
        ..Default::default()
    };
    model(GraphProto {
        name: Some("if".into()),
        node: vec![
            node("If", &["c"], &["i"])
                .with_attr(attr_graph("then_branch", then_branch))
                .with_attr(attr_graph("else_branch", else_branch)),
            node("Mul", &["i", "half"], &["y"]),
        ],
        initializer: vec![weight("half", &[], &[0.5])],
        input: vec![vi("c", DataType::Bool as i32, &[]), vi("x", F32, &[1, 2])],
        output: vec![vi("y", F32, &[1, 2])],
        value_info: vec![vi("i", F32, &[1, 2])],
        ..Default::default()
    })
}

#[test]
fn if_branches_produce_the_type_the_if_node_has() {
    let (_dir, path, fp16, report) = convert_and_save(&if_model(), &Fp16Config::default());
    let g = fp16.graph.as_ref().unwrap();
    let if_node = &g.node.iter().find(|n| n.op_type() == "If").unwrap();
    let branch = |name: &str| {
        if_node
            .attribute
            .iter()
            .find(|a| a.name() == name)
            .unwrap()
            .g
            .as_ref()
            .unwrap()
    };
    let (then_g, else_g) = (branch("then_branch"), branch("else_branch"));
    // The If feeds a float16 Mul, so both branches end in float16.
    assert_eq!(elem_type(&then_g.output[0]), F16);
    assert_eq!(elem_type(&else_g.output[0]), F16);
    assert_eq!(elem_type(&g.value_info[0]), F16);
    // then: x is cast inside the branch, the constant converted (1e6 clamped).
    assert_eq!(ops(then_g), ["Constant", "Cast", "Relu", "Add"]);
    // else: Exp is blocked: it reads x as is and its result is cast to float16 for the output.
    assert_eq!(ops(else_g), ["Exp", "Cast"]);
    assert_eq!(else_g.output[0].name(), else_g.node[1].output[0]);
    assert_eq!(report.values_clamped, 1);
    assert_eq!(
        report.nodes_kept_fp32,
        BTreeMap::from([("Exp".to_string(), 1)])
    );

    let x = Tensor::from_f32(vec![1, 2], vec![0.5, -2.0]).unwrap();
    for c in [true, false] {
        let inputs = vec![
            ("c".to_string(), Tensor::from_vec(vec![], vec![c]).unwrap()),
            ("x".to_string(), x.clone()),
        ];
        let y = as_f32(&run(&path, &inputs)[0].1);
        // then: [(0.5 + 1), (0 + 65504)] * 0.5 (1e6 was clamped); else: exp(x) * 0.5.
        let expected = if c {
            [0.75, 32752.0]
        } else {
            [0.5 * 0.5f32.exp(), 0.5 * (-2f32).exp()]
        };
        for (a, b) in y.iter().zip(expected) {
            assert!((a - b).abs() <= 1e-3 * b.abs(), "{y:?} vs {expected:?}");
        }
    }
}

#[test]
fn a_loop_keeps_its_carried_state_type() {
    // Loop 3 times: s = Relu(s) * 1.5 ; body in float16 with casts at its boundary.
    let body = GraphProto {
        name: Some("body".into()),
        node: vec![
            node("Identity", &["cond_in"], &["cond_out"]),
            node("Relu", &["s_in"], &["r"]),
            node("Mul", &["r", "k"], &["s_out"]),
        ],
        initializer: vec![weight("k", &[], &[1.5])],
        input: vec![
            vi("iter", DataType::Int64 as i32, &[]),
            vi("cond_in", DataType::Bool as i32, &[]),
            vi("s_in", F32, &[1, 2]),
        ],
        output: vec![
            vi("cond_out", DataType::Bool as i32, &[]),
            vi("s_out", F32, &[1, 2]),
        ],
        ..Default::default()
    };
    let g = GraphProto {
        name: Some("loop".into()),
        node: vec![
            node("Relu", &["x"], &["s0"]),
            node("Loop", &["n", "t", "s0"], &["s"]).with_attr(attr_graph("body", body)),
            node("Relu", &["s"], &["y"]),
        ],
        initializer: vec![
            TensorProto {
                name: Some("n".into()),
                data_type: Some(DataType::Int64 as i32),
                int64_data: vec![3],
                ..Default::default()
            },
            TensorProto {
                name: Some("t".into()),
                data_type: Some(DataType::Bool as i32),
                int32_data: vec![1],
                ..Default::default()
            },
        ],
        input: vec![vi("x", F32, &[1, 2])],
        output: vec![vi("y", F32, &[1, 2])],
        ..Default::default()
    };
    let (_dir, path, fp16, report) = convert_and_save(&model(g), &Fp16Config::default());
    let g = fp16.graph.as_ref().unwrap();
    let body = g
        .node
        .iter()
        .find(|n| n.op_type() == "Loop")
        .unwrap()
        .attribute[0]
        .g
        .as_ref()
        .unwrap();
    assert_eq!(elem_type(&body.input[2]), F32);
    assert_eq!(elem_type(&body.output[1]), F32);
    assert_eq!(body.initializer[0].data_type, Some(F16));
    assert_eq!(report.nodes_fp16, 4); // 2 Relu outside, Relu and Mul in the body (Identity is bool)
    let y = as_f32(&run(&path, &x_input(&[2.0, -1.0]))[0].1);
    assert_eq!(y, [6.75, 0.0]);
}
