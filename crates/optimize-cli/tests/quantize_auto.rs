//! `optimize quantize --auto`: the search meets its goal or says it did not, always writes a
//! model, and its report says what it tried.

use crate::util::{check_model, model, optimize};
use optimize_data::{read_npz, Tensor};
use optimize_runtime::{OrtSession, SessionOptions};
use serde_json::Value;
use std::path::Path;

/// The logits of `path` in ONNX Runtime on all of models/data/digits-test.npz, and the labels.
fn digits_logits(path: &Path) -> (Vec<f32>, Vec<i64>) {
    let arrays = read_npz(model("data/digits-test.npz")).unwrap();
    let get = |name: &str| -> Tensor {
        arrays
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("digits-test.npz has no {name}"))
            .1
            .clone()
    };
    let labels = get("label").to_vec::<i64>().unwrap();
    let session = OrtSession::from_file(path, &SessionOptions::deterministic())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let out = session
        .run(&[("input".to_string(), get("input"))])
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(out[0].1.shape(), [labels.len(), 10], "{}", path.display());
    (out[0].1.to_vec::<f32>().unwrap(), labels)
}

/// Top-1 accuracy of `path` on the digits test split, computed here against the labels.
fn digits_top1(path: &Path) -> f64 {
    let (logits, labels) = digits_logits(path);
    let right = logits
        .chunks(10)
        .zip(&labels)
        .filter(|(row, &label)| {
            let best = (0..10).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            best as i64 == label
        })
        .count();
    right as f64 / labels.len() as f64
}

/// Whether any initializer of the model at `path` (main graph) is stored as int8 or uint8.
fn has_int8_initializer(path: &Path) -> bool {
    use optimize_onnx::proto::tensor_proto::DataType;
    let m = optimize_onnx::Model::load(path).unwrap();
    m.proto.graph.as_ref().unwrap().initializer.iter().any(|t| {
        [DataType::Int8 as i32, DataType::Uint8 as i32].contains(&t.data_type.unwrap_or(0))
    })
}

fn auto(dir: &Path, budget: &str, extra: &[&str]) -> (i32, Value, String) {
    let (train, test, m) = (
        model("data/digits-train.npz"),
        model("data/digits-test.npz"),
        model("digits-mlp.onnx"),
    );
    let mut args = vec![
        "quantize",
        "--int8",
        "--auto",
        "--calibrate",
        train.to_str().unwrap(),
        "--eval",
        test.to_str().unwrap(),
        m.to_str().unwrap(),
        "-o",
        "auto.onnx",
        "--json",
        "--budget",
        budget,
    ];
    args.extend_from_slice(extra);
    let r = optimize(dir, &args);
    let report = serde_json::from_str(&r.stdout).unwrap_or(Value::Null);
    (r.code, report, r.stderr)
}

/// With labels the goal is top-1 within 1 point of float32 on the 359 held-out digits. The
/// written file is judged here, not by the search's numbers: its top-1 on the digits test
/// split against the labels, measured in ONNX Runtime, is within 1 point of float32's. An
/// int8 answer must hold int8 weights and be smaller; a float32 answer must compute float32's
/// logits exactly. Nothing here compares times (speed is measured in benches/).
#[test]
fn digits_mlp_meets_max_drop() {
    let dir = tempfile::tempdir().unwrap();
    let (code, report, stderr) = auto(dir.path(), "120s", &["--max-drop", "0.01"]);
    assert_eq!(code, 0, "{stderr}");
    let a = &report["auto"];
    assert_eq!(a["schema"], "optimize.auto/1");
    assert_eq!(a["metric"], "top1");
    assert_eq!(a["met"], true, "{a}");
    assert!(!a["trials"].as_array().unwrap().is_empty());
    let out = dir.path().join("auto.onnx");
    check_model(&out);

    let original = model("digits-mlp.onnx");
    let fp32 = digits_top1(&original);
    assert!(fp32 > 0.95, "float32 top-1 {fp32}");
    // The search judged float32 on the same 359 digits: it must have measured the same.
    assert_eq!(a["fp32_metric"].as_f64(), Some(fp32), "{a}");
    let written = digits_top1(&out);
    assert!(
        written >= fp32 - 0.01,
        "written model: top-1 {written:.4}, float32 {fp32:.4} (more than 1 point lower)"
    );
    match a["chosen"].as_u64() {
        Some(_) => {
            assert!(
                has_int8_initializer(&out),
                "an int8 answer with no int8 weight"
            );
            let (a_bytes, b_bytes) = (
                std::fs::metadata(&original).unwrap().len(),
                std::fs::metadata(&out).unwrap().len(),
            );
            assert!(b_bytes < a_bytes, "{b_bytes} bytes, float32 {a_bytes}");
        }
        None => {
            assert!(
                !has_int8_initializer(&out),
                "a float32 answer with int8 weights"
            );
            assert_eq!(
                digits_logits(&out).0,
                digits_logits(&original).0,
                "a float32 answer must compute float32's logits"
            );
        }
    }
}

/// A goal no trial can meet still writes the closest model found, flags it, and exits with 1.
/// Every trial that floats all nodes computes float32's outputs, so the goal comes from a
/// metric command that scores float32 (its first call) 1 and every later model 0.5.
#[test]
fn unmeetable_goal_writes_the_closest_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let judge = "sh -c 'if [ -e seen ]; then echo 0.5; else touch seen; echo 1; fi' --";
    let (code, report, stderr) = auto(dir.path(), "20s", &["--metric-command", judge]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no configuration met the goal"), "{stderr}");
    let a = &report["auto"];
    assert_eq!(a["met"], false, "{a}");
    assert!(a["chosen"].as_u64().is_some(), "{a}");
    check_model(&dir.path().join("auto.onnx"));
}

/// The budget stops the search; what was found so far is written. The goal (a drop of up to
/// 100 points) is met by every trial, so the exit code is fixed: 0.
#[test]
fn budget_stops_the_search_and_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (code, report, stderr) = auto(dir.path(), "0.001s", &["--max-drop", "1"]);
    assert_eq!(code, 0, "{stderr}");
    let a = &report["auto"];
    assert!(
        a["stopped"].as_str().unwrap_or("").contains("budget"),
        "{a}"
    );
    assert_eq!(a["met"], true, "{a}");
    let out = dir.path().join("auto.onnx");
    check_model(&out);
    // Whatever it wrote is a working digits classifier.
    assert!(digits_top1(&out) > 0.9);
}

/// Issue 14: two runs of one command wrote different models when a timing within noise
/// decided. Decisions now need a gain beyond the measured spread, and ties go by size: the same
/// command twice writes the same bytes, and the report lists every timing decision.
#[test]
fn two_runs_write_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut written = Vec::new();
    for _ in 0..2 {
        let (code, report, stderr) = auto(dir.path(), "60s", &[]);
        assert_eq!(code, 0, "{stderr}");
        let decisions = report["auto"]["timing_decisions"].as_array().unwrap();
        assert!(
            decisions
                .iter()
                .any(|d| d.as_str().unwrap().contains("spread ±")),
            "{decisions:?}"
        );
        written.push(std::fs::read(dir.path().join("auto.onnx")).unwrap());
    }
    assert!(written[0] == written[1], "two runs wrote different models");
}

/// Issue 14: `--budget 2m` ran 140-149 s. The budget bounds the whole command (load, search,
/// final timing, verification, saving) within 5%: the search keeps time back for what follows.
/// digits-cnn under a goal only float32 meets searches longer than 3 s.
#[test]
fn the_budget_bounds_the_whole_command() {
    let dir = tempfile::tempdir().unwrap();
    let (cal, m) = (model("data/digits-train-cnn.npz"), model("digits-cnn.onnx"));
    let started = std::time::Instant::now();
    let r = optimize(
        dir.path(),
        &[
            "quantize",
            "--int8",
            "--auto",
            "--calibrate",
            cal.to_str().unwrap(),
            m.to_str().unwrap(),
            "-o",
            "auto.onnx",
            "--min-cosine",
            "1.0",
            "--budget",
            "3s",
            "--json",
        ],
    );
    let wall = started.elapsed().as_secs_f64();
    // Only float32's own compute meets cosine 1: exit 0 when the search reached it, else 1.
    assert!(r.code == 0 || r.code == 1, "{r:?}");
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    let a = &report["auto"];
    assert!(
        a["stopped"].as_str().unwrap().contains("budget of 3 s"),
        "{a}"
    );
    assert!(
        wall <= 3.0 * 1.05,
        "the command took {wall:.2} s of a 3 s budget"
    );
    check_model(&dir.path().join("auto.onnx"));
}

#[test]
fn bad_budget_and_goal_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = auto(dir.path(), "soon", &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--budget"), "{stderr}");
    let (code, _, stderr) = auto(dir.path(), "10s", &["--max-drop", "5"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(!dir.path().join("auto.onnx").exists());
}

/// `x → MatMul a → h → MatMul b → y`, where channel 0 of `x` swings by ±1000 but `a` ignores
/// it (row 0 of its weight is zero): quantizing `x` for `a` spreads 256 levels over ±1000 and
/// rounds the seven channels `a` reads to nothing. `b` is harmless. The search must find `a`:
/// first in the sensitivity ranking, the one node it keeps in float for accuracy.
#[test]
fn the_one_sensitive_node_is_the_one_kept_float() {
    use optimize_data::{npz::write_npz, Tensor};
    use optimize_onnx::build::{node, tensor_f32, value_info_f32 as value};
    use optimize_onnx::proto::GraphProto;
    use optimize_onnx::{save, Model, SaveOptions};

    // A fixed pseudo-random pattern in [-1, 1).
    let wave = |i: usize, k: usize| ((i * 37 + k * 11) % 23) as f32 / 11.5 - 1.0;
    let mut wa: Vec<f32> = (0..64).map(|i| wave(i, 1)).collect();
    wa[..8].fill(0.0); // row 0: channel 0 of x is ignored
    let wb: Vec<f32> = (0..32).map(|i| wave(i, 2)).collect();
    let proto = optimize_onnx::build::model(
        GraphProto {
            name: Some("sensitive".into()),
            node: vec![
                node("MatMul", &["x", "wa"], &["h"], "a"),
                node("MatMul", &["h", "wb"], &["y"], "b"),
            ],
            initializer: vec![
                tensor_f32("wa", &[8, 8], &wa),
                tensor_f32("wb", &[8, 4], &wb),
            ],
            input: vec![value("x", &[Some(1), Some(8)])],
            output: vec![value("y", &[Some(1), Some(4)])],
            ..Default::default()
        },
        13,
    );
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("sensitive.onnx");
    save(&Model::from_proto(proto), &m, &SaveOptions::default()).unwrap();
    let samples = 64;
    let x: Vec<f32> = (0..samples * 8)
        .map(|i| {
            let (s, c) = (i / 8, i % 8);
            if c == 0 {
                1000.0 * wave(s, 3)
            } else {
                wave(s, c + 4)
            }
        })
        .collect();
    let cal = dir.path().join("cal.npz");
    write_npz(
        &cal,
        [("x", &Tensor::from_f32(vec![samples, 8], x).unwrap())],
    )
    .unwrap();

    let r = optimize(
        dir.path(),
        &[
            "quantize",
            "--int8",
            "--auto",
            "--accuracy-only",
            "--calibrate",
            cal.to_str().unwrap(),
            "--holdout",
            "16",
            m.to_str().unwrap(),
            "-o",
            "auto.onnx",
            "--json",
            "--budget",
            "60s",
            // 7-bit weights, as on CPUs whose int8 kernels saturate: the search also tries
            // full-range weights when full int8 misses.
            "--weight-type",
            "int7",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    let a = &report["auto"];
    assert_eq!(a["met"], true, "{a}");
    let full = &a["trials"][0];
    assert!(full["meets"] == false, "full int8 should fail here: {full}");
    let full_range = a["trials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "full-range int8 weights")
        .unwrap_or_else(|| panic!("no full-range trial: {a}"));
    assert_eq!(full_range["float_nodes"], 0, "{full_range}");
    assert_eq!(a["sensitivity"][0]["node"], "a", "{}", a["sensitivity"]);
    assert_eq!(a["float_for_accuracy"], serde_json::json!(["a"]), "{a}");
    // Weights alone in int8 (activations float) are measured too: both weights stored, no
    // activation quantized.
    let stored = a["trials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "int8 weights stored, float activations")
        .unwrap_or_else(|| panic!("no weights-alone trial: {a}"));
    assert_eq!(stored["weights_alone"], true, "{stored}");
    assert_eq!(stored["float32_compute"], true, "{stored}");
    assert_eq!(stored["int8_storage_nodes"], 2, "{stored}");
    check_model(&dir.path().join("auto.onnx"));
}

/// Issue 14: a graph with nothing static int8 can quantize exited 0 with a "full int8" trial
/// that quantized nothing. It is "nothing to quantize", exit 2, before any calibration, and
/// nothing is written.
#[test]
fn a_graph_with_nothing_to_quantize_is_said_so() {
    use optimize_onnx::build::{model as build_model, node, value_info_f32};
    use optimize_onnx::proto::GraphProto;
    let dir = tempfile::tempdir().unwrap();
    let g = GraphProto {
        name: Some("relu".into()),
        node: vec![node("Relu", &["x"], &["y"], "relu")],
        input: vec![value_info_f32("x", &[None, Some(4)])],
        output: vec![value_info_f32("y", &[None, Some(4)])],
        ..Default::default()
    };
    let m = optimize_onnx::Model::from_proto(build_model(g, 17));
    optimize_onnx::save(&m, dir.path().join("relu.onnx"), &Default::default()).unwrap();
    let x = Tensor::from_f32(vec![8, 4], (0..32).map(|v| v as f32 - 16.0).collect()).unwrap();
    optimize_data::write_npz(dir.path().join("cal.npz"), [("x", &x)]).unwrap();
    crate::util::expect_failure(
        dir.path(),
        &[
            "quantize",
            "--int8",
            "--auto",
            "--calibrate",
            "cal.npz",
            "relu.onnx",
            "-o",
            "q.onnx",
        ],
        2,
        &["relu.onnx", "nothing to quantize"],
    );
}
