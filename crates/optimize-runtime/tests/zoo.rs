//! The "test" tier of models/manifest.json in tract, checked against ONNX Runtime.
//!
//! Each model runs on the manifest's input hints (seeded); where tract runs it, every output
//! must match ONNX Runtime within the model's tolerance below; where it does not, the error
//! must name an operator and [`load_model`] must fall back to ONNX Runtime and run.
//!
//! What tract 0.23.9 does with them (max abs diff against ONNX Runtime 1.31.1, one thread;
//! run with `--no-capture` to see the current numbers):
//!
//! | model                | tract                                   | max abs diff               |
//! |----------------------|-----------------------------------------|----------------------------|
//! | ppocr-cls-mobile-v2  | runs                                    | 2.1e-7                     |
//! | ppocr-v4-det         | runs (only with concrete input shapes)  | 1.4e-6                     |
//! | silero-vad           | falls back at first run: `If_0` (If)    | 0 (it is ONNX Runtime)     |
//! | silero-vad-half      | falls back at first run: `/decoder/If`  | 0 (it is ONNX Runtime)     |
//! | paraphrase-minilm-l3 | runs                                    | 1.9e-6 (int64 outputs: 0)  |
//!
//! - ppocr-v4-det: with its symbolic H and W, tract cannot prove two shapes equal at a Concat
//!   (`(h+31)/32*8` against `4*max(2*((h+31)/32), (h+15)/16)`), so analysis at load is
//!   best-effort and the real check happens per input shape.
//! - silero-vad(-half): tract types both branches of every `If` and requires them to agree;
//!   the branches of the decoder's `If` give different shapes (a Squeeze that only one branch
//!   can take). ONNX Runtime runs only the branch taken.

use std::path::Path;

use optimize_data::{random_tensor, DType, RandomRange, Tensor};
use optimize_runtime::{load_model, Backend, Error, OrtSession, SessionOptions, TractSession};
use serde_json::Value;

use crate::util::{max_abs_diff, workspace};

/// Whether tract 0.23.9 runs the model (the table above); a change either way fails the test,
/// so the table stays true.
fn runs_in_tract(model: &str) -> bool {
    !matches!(model, "silero-vad" | "silero-vad-half")
}

/// How close the outputs must come to ONNX Runtime's (one thread), per model. float32 sums
/// in a different order differ in the last bits; the deeper the net, the more bits.
fn tolerance(model: &str) -> f64 {
    match model {
        "ppocr-v4-det" | "paraphrase-minilm-l3" => 1e-4,
        _ => 1e-5,
    }
}

struct Entry {
    name: String,
    file: String,
    inputs: Vec<(String, Tensor)>,
}

fn test_tier() -> Vec<Entry> {
    let text = std::fs::read_to_string(workspace("models/manifest.json")).unwrap();
    let manifest: Value = serde_json::from_str(&text).unwrap();
    manifest["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["tier"] == "test")
        .map(|m| Entry {
            name: m["name"].as_str().unwrap().to_string(),
            file: m["file"].as_str().unwrap().to_string(),
            inputs: m["inputs"]
                .as_object()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(seed, (name, hint))| (name.clone(), hinted_tensor(hint, seed as u64)))
                .collect(),
        })
        .collect()
}

/// A tensor following the manifest's input hint: every element `value`, else uniform in
/// `[low, high)`; floats with no bounds are drawn from `[-1, 1)` (the manifest's Python checker
/// draws a standard normal, which `random_tensor` does not offer).
fn hinted_tensor(hint: &Value, seed: u64) -> Tensor {
    let dtype = match hint["dtype"].as_str().unwrap() {
        "float32" => DType::F32,
        "int64" => DType::I64,
        other => panic!("input hint dtype {other} not handled"),
    };
    let shape: Vec<usize> = hint["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let range = if let Some(value) = hint.get("value") {
        match dtype {
            DType::I64 => {
                let v = value.as_i64().unwrap();
                RandomRange::Int {
                    low: v,
                    high: v + 1,
                }
            }
            _ => {
                let n = optimize_data::tensor::numel(&shape).unwrap();
                return Tensor::from_f32(shape, vec![value.as_f64().unwrap() as f32; n]).unwrap();
            }
        }
    } else {
        match (dtype, hint["low"].as_f64(), hint["high"].as_f64()) {
            (DType::I64, Some(low), Some(high)) => RandomRange::Int {
                low: low as i64,
                high: high as i64,
            },
            (_, Some(low), Some(high)) => RandomRange::Float { low, high },
            _ => RandomRange::default_for(dtype),
        }
    };
    random_tensor(dtype, &shape, seed, range).unwrap()
}

#[test]
fn test_tier_models_in_tract_or_fallback() {
    let mut report = Vec::new();
    for entry in test_tier() {
        let path = workspace(&entry.file);
        assert!(
            path.is_file(),
            "{} is missing: run scripts/fetch-models.py",
            path.display()
        );
        report.push(check(&entry, &path));
    }
    // Shown with `--no-capture`; the table at the top of this file is this output.
    for line in &report {
        println!("{line}");
    }
}

fn check(entry: &Entry, path: &Path) -> String {
    let name = entry.name.as_str();
    let ort = OrtSession::from_file(path, &SessionOptions::deterministic()).unwrap();
    let expected = ort.run(&entry.inputs).unwrap();
    let tract = TractSession::from_file(path, &SessionOptions::default())
        .and_then(|s| s.run(&entry.inputs));
    match tract {
        Ok(got) => {
            assert!(
                runs_in_tract(name),
                "{name} now runs in tract: update the table"
            );
            format!("{name:<22} tract runs; {}", compare(name, &got, &expected))
        }
        Err(err) => {
            assert!(
                !runs_in_tract(name),
                "{name} no longer runs in tract: {err}"
            );
            let Error::UnsupportedOperator { op, node, .. } = &err else {
                panic!("{name}: tract failed without naming an operator: {err}")
            };
            // Whether tract fails at load or at the first run, load_model ends on ONNX
            // Runtime and says why.
            let (model, _, why) = load_model(path, Backend::Tract, true).unwrap();
            let out = model.run(&entry.inputs).unwrap();
            assert_eq!(model.backend(), Some(Backend::Ort), "{name}");
            let why = why.or_else(|| model.fallback_reason()).unwrap();
            assert!(
                why.contains(op.as_str()) && why.contains(node.as_str()),
                "{why}"
            );
            format!(
                "{name:<22} falls back to ORT ({}); tract: node `{node}` ({op}): {err}",
                compare(name, &out, &expected)
            )
        }
    }
}

/// Every output within the model's tolerance; returns the max abs diff of each.
fn compare(model: &str, got: &[(String, Tensor)], expected: &[(String, Tensor)]) -> String {
    assert_eq!(got.len(), expected.len(), "{model}");
    let mut diffs = Vec::new();
    for ((name, a), (ort_name, b)) in got.iter().zip(expected) {
        assert_eq!(name, ort_name, "{model}");
        assert_eq!(a.dtype(), b.dtype(), "{model} {name}");
        let diff = max_abs_diff(a, b);
        assert!(
            diff <= tolerance(model),
            "{model} output {name}: max abs diff {diff} > {}",
            tolerance(model)
        );
        diffs.push(format!("{name}: {diff:.1e}"));
    }
    diffs.join(", ")
}

/// On the manifest's random inputs the detector's probability map is ~1e-5 everywhere, so the
/// bound above says little about it. On a real text image (scripts/ocr_inputs.py: a crop of a
/// photographed page, pinned by sha256) the map is far from zero; tract must still give ONNX
/// Runtime's map within the same bound.
#[test]
fn ppocr_det_on_a_text_image_matches_onnx_runtime() {
    let name = "ppocr-v4-det";
    let path = workspace("models/cache/ch_PP-OCRv4_det_infer.onnx");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-models.py",
        path.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("text.npz");
    let py = workspace(".venv/bin/python");
    assert!(
        py.exists(),
        "{} missing: run scripts/setup-venv.sh",
        py.display()
    );
    let run = std::process::Command::new(py)
        .arg(workspace("scripts/ocr_inputs.py"))
        .args([name, npz.to_str().unwrap(), "-n", "1"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "scripts/ocr_inputs.py: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let inputs: Vec<(String, Tensor)> = optimize_data::read_npz(&npz)
        .unwrap()
        .into_iter()
        .map(|(input, t)| {
            let shape = t.shape()[1..].to_vec();
            let bytes = t.as_bytes().to_vec();
            (input, Tensor::from_bytes(t.dtype(), shape, bytes).unwrap())
        })
        .collect();
    let ort = OrtSession::from_file(&path, &SessionOptions::deterministic()).unwrap();
    let expected = ort.run(&inputs).unwrap();
    let map = expected[0].1.to_f32_vec().unwrap();
    let text = map.iter().filter(|&&p| p > 0.3).count() as f64 / map.len() as f64;
    assert!(text > 0.01, "only {text:.4} of the map is text");
    let tract = TractSession::from_file(&path, &SessionOptions::default()).unwrap();
    let got = tract.run(&inputs).unwrap();
    println!(
        "{name} on text ({text:.3} of the map above 0.3): {}",
        compare(name, &got, &expected)
    );
}
