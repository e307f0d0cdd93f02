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
