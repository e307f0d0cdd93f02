//! `optimize quantize --auto`: the search meets its goal or says it did not, always writes a
//! model, and its report says what it tried.

use crate::util::{check_model, model, optimize};
use serde_json::Value;
use std::path::Path;

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

/// With labels the goal is top-1 within 1 point of float32 on the 359 held-out digits; the
/// answer meets it and is never slower than float32 on ONNX Runtime (the search measures that
/// and writes float32 itself when no int8 variant is faster).
#[test]
fn digits_mlp_meets_max_drop() {
    let dir = tempfile::tempdir().unwrap();
    let (code, report, stderr) = auto(dir.path(), "120s", &["--max-drop", "0.01"]);
    assert_eq!(code, 0, "{stderr}");
    let a = &report["auto"];
    assert_eq!(a["schema"], "optimize.auto/1");
    assert_eq!(a["metric"], "top1");
    assert_eq!(a["met"], true, "{a}");
    assert_eq!(a["not_slower"], true, "{a}");
    let fp32 = a["fp32_metric"].as_f64().unwrap();
    assert!(fp32 > 0.95, "{fp32}");
    if let Some(t) = a["chosen"].as_u64() {
        let chosen = &a["trials"][t as usize];
        assert!(
            chosen["metric"].as_f64().unwrap() >= fp32 - 0.01,
            "{chosen}"
        );
        assert!(chosen["latency_ms"].as_f64().unwrap() <= a["fp32_latency_ms"].as_f64().unwrap());
    }
    assert!(!a["trials"].as_array().unwrap().is_empty());
    check_model(&dir.path().join("auto.onnx"));
}

/// A goal no int8 model can meet (outputs identical to float32's) still writes the closest
/// model found, flags it, and exits with 1.
#[test]
fn unmeetable_goal_writes_the_closest_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (code, report, stderr) = auto(dir.path(), "20s", &["--min-cosine", "1.0"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no configuration met the goal"), "{stderr}");
    let a = &report["auto"];
    assert_eq!(a["met"], false, "{a}");
    assert!(a["chosen"].as_u64().is_some(), "{a}");
    check_model(&dir.path().join("auto.onnx"));
}

/// The budget stops the search; what was found so far is written.
#[test]
fn budget_stops_the_search_and_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (code, report, stderr) = auto(dir.path(), "0.001s", &[]);
    assert!(code == 0 || code == 1, "{stderr}");
    let a = &report["auto"];
    assert!(
        a["stopped"].as_str().unwrap_or("").contains("budget"),
        "{a}"
    );
    assert!(dir.path().join("auto.onnx").exists());
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
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    let a = &report["auto"];
    assert_eq!(a["met"], true, "{a}");
    let full = &a["trials"][0];
    assert!(full["meets"] == false, "full int8 should fail here: {full}");
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
