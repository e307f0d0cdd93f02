//! Issue 14: outputs judged by the user's own measure of quality. `--output-layout` reads a
//! detector's outputs as detections (F1 against float32's); `--metric-command` runs the user's
//! evaluation script on the original and the output, in verification and in every `--auto`
//! trial.

use crate::util::{json_ok, listing, model, optimize};
use optimize_data::{write_npz, Tensor};
use optimize_onnx::build::{node, tensor_f32, value_info_f32};
use optimize_onnx::proto::GraphProto;
use optimize_onnx::Model;
use serde_json::Value;
use std::path::Path;

/// A detector head `[batch, 50 anchors, 6 channels]` (box cx, cy, w, h in pixels, then two class
/// scores in [0, 1]), made by a MatMul that mixes its input's channels a little, and 64
/// calibration samples of it.
fn detector(dir: &Path) {
    let mut w = vec![0.0f32; 36];
    for i in 0..6 {
        w[i * 6 + i] = 1.0;
    }
    // A little mixing among the box channels and among the score channels.
    w[1] = 0.01;
    w[4 * 6 + 5] = 0.02;
    let g = GraphProto {
        name: Some("detector".into()),
        node: vec![node("MatMul", &["x", "w"], &["y"], "head")],
        input: vec![value_info_f32("x", &[None, Some(50), Some(6)])],
        output: vec![value_info_f32("y", &[None, Some(50), Some(6)])],
        initializer: vec![tensor_f32("w", &[6, 6], &w)],
        ..Default::default()
    };
    let m = Model::from_proto(optimize_onnx::build::model(g, 17));
    optimize_onnx::save(&m, dir.join("det.onnx"), &Default::default()).unwrap();
    let mut v = Vec::with_capacity(64 * 50 * 6);
    let mut state = 7u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    for _ in 0..64 * 50 {
        let (cx, cy) = (next() * 640.0, next() * 640.0);
        let (bw, bh) = (20.0 + next() * 100.0, 20.0 + next() * 100.0);
        v.extend([cx, cy, bw, bh, next(), next()]);
    }
    let x = Tensor::from_f32(vec![64, 50, 6], v).unwrap();
    write_npz(dir.join("cal.npz"), [("x", &x)]).unwrap();
}

/// Static int8 with per-tensor activations puts the pixel-sized box values and the [0, 1] class
/// scores on one int8 grid of about 2.5 per step: every score rounds to 0 or 2.5, while the
/// output's raw cosine stays near 1. Judged as detections it is rejected, with the F1 and the
/// counts in the report; fp16 keeps the scores and is accepted at F1 1.
#[test]
fn a_detector_is_judged_by_its_detections() {
    let dir = tempfile::tempdir().unwrap();
    detector(dir.path());
    let layout = "boxes:0..4,scores:4..";
    let r = optimize(
        dir.path(),
        &[
            "quantize",
            "--int8",
            "--calibrate",
            "cal.npz",
            "det.onnx",
            "-o",
            "q.onnx",
            "--output-layout",
            layout,
            "--no-bench",
            "--json",
        ],
    );
    assert_eq!(r.code, 1, "{r:?}");
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    let verdict = &report["verdict"];
    assert!(
        verdict["judge"]
            .as_str()
            .unwrap()
            .starts_with("detection F1 against float32 (boxes:0..4"),
        "{verdict}"
    );
    assert!(
        verdict["judge"]
            .as_str()
            .unwrap()
            .ends_with("on 16 samples"),
        "{verdict}"
    );
    let task = &report["verification"]["task"];
    let f1 = task["after"].as_f64().unwrap();
    assert!(f1 < 0.5, "{task}");
    let d = &task["detections"];
    assert!(d["reference"].as_u64().unwrap() > 100, "{task}");
    // The raw cosine did not see it.
    let outputs = &report["verification"]["runtimes"][0]["outputs"][0];
    assert!(outputs["cosine"].as_f64().unwrap() > 0.999, "{outputs}");
    assert!(!listing(dir.path()).contains(&"q.onnx".to_string()));

    let r = optimize(
        dir.path(),
        &[
            "quantize",
            "--fp16",
            "--calibrate",
            "cal.npz",
            "det.onnx",
            "-o",
            "h.onnx",
            "--output-layout",
            layout,
            "--no-bench",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("verdict: passed (detection F1"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("detections matched"), "{}", r.stdout);
}

const EVAL: &str = r#"
import sys
import numpy as np
import onnxruntime as ort
data = np.load(sys.argv[1])
s = ort.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])
x = data["input"]
y = s.run(None, {s.get_inputs()[0].name: x})[0]
print("loaded", sys.argv[2])
print("accuracy", float((y.argmax(1) == data["label"]).mean()))
"#;

fn eval_script(dir: &Path) -> String {
    std::fs::write(dir.join("eval.py"), EVAL).unwrap();
    format!(
        "{} eval.py {} {{model}}",
        optimize_testkit::python().display(),
        model("data/digits-test.npz").display()
    )
}

/// The user's script judges: its number before and after is in the report, and the verdict
/// names it. A script that fails stops the command with its stderr, and nothing is written.
#[test]
fn a_metric_command_judges_verification() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(model("digits-mlp.onnx"), dir.path().join("m.onnx")).unwrap();
    let cmd = eval_script(dir.path());
    let report = json_ok(
        dir.path(),
        &[
            "quantize",
            "--int8",
            "m.onnx",
            "-o",
            "q.onnx",
            "--metric-command",
            &cmd,
            "--json",
            "--no-bench",
        ],
    );
    let task = &report["verification"]["task"];
    let (before, after) = (
        task["before"].as_f64().unwrap(),
        task["after"].as_f64().unwrap(),
    );
    assert!(before > 0.95 && (before - after).abs() <= 0.01, "{task}");
    assert!(
        report["verdict"]["judge"]
            .as_str()
            .unwrap()
            .contains("metric command `"),
        "{}",
        report["verdict"]
    );

    // A script that fails (its data file is missing): the command stops, with its stderr.
    let broken = format!(
        "{} eval.py missing.npz {{model}}",
        optimize_testkit::python().display()
    );
    let r = optimize(
        dir.path(),
        &[
            "quantize",
            "--int8",
            "m.onnx",
            "-o",
            "q2.onnx",
            "--metric-command",
            &broken,
            "--no-bench",
        ],
    );
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("metric command"), "{}", r.stderr);
    assert!(
        r.stderr.contains("exited with") && r.stderr.contains("missing.npz"),
        "{}",
        r.stderr
    );
    assert!(!listing(dir.path()).contains(&"q2.onnx".to_string()));
}

/// `--auto` judged by the user's script: every answer trial runs it, the report says so, and
/// the written model's number, measured again here, is within the goal.
#[test]
fn auto_is_judged_by_the_metric_command() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(model("digits-mlp.onnx"), dir.path().join("m.onnx")).unwrap();
    let cmd = eval_script(dir.path());
    let train = model("data/digits-train.npz");
    let report = json_ok(
        dir.path(),
        &[
            "quantize",
            "--int8",
            "--auto",
            "--calibrate",
            train.to_str().unwrap(),
            "m.onnx",
            "-o",
            "a.onnx",
            "--metric-command",
            &cmd,
            "--max-drop",
            "0.01",
            "--budget",
            "120s",
            "--accuracy-only",
            "--json",
        ],
    );
    let a = &report["auto"];
    assert_eq!(a["metric"], "metric command", "{a}");
    assert!(a["judge"].as_str().unwrap().contains("eval.py"), "{a}");
    let fp32 = a["fp32_metric"].as_f64().unwrap();
    assert!(fp32 > 0.95, "{a}");
    for t in a["trials"].as_array().unwrap() {
        let probe = t["kind"] == "sensitivity-probe";
        assert_eq!(t["metric"].is_null(), probe, "{t}");
    }
    assert_eq!(a["met"], true, "{a}");
    // Measured again on the written file.
    let out = std::process::Command::new(optimize_testkit::python())
        .args([
            "eval.py",
            model("data/digits-test.npz").to_str().unwrap(),
            "a.onnx",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let written: f64 = text.split_whitespace().last().unwrap().parse().unwrap();
    assert!(written >= fp32 - 0.01, "written {written}, float32 {fp32}");
}

/// A cosine goal with a task metric is a usage error: the metric is the judge.
#[test]
fn a_cosine_goal_with_a_task_metric_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(model("digits-mlp.onnx"), dir.path().join("m.onnx")).unwrap();
    let train = model("data/digits-train.npz");
    crate::util::expect_failure(
        dir.path(),
        &[
            "quantize",
            "--int8",
            "--auto",
            "--calibrate",
            train.to_str().unwrap(),
            "m.onnx",
            "-o",
            "a.onnx",
            "--metric-command",
            "true",
            "--min-cosine",
            "0.99",
        ],
        2,
        &["task metric", "not a cosine"],
    );
    crate::util::expect_failure(
        dir.path(),
        &[
            "quantize",
            "--int8",
            "m.onnx",
            "--output-layout",
            "boxes:0..3,scores:3..",
        ],
        2,
        &["--output-layout", "4 channels"],
    );
}
