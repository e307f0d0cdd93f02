//! `upgrade_opset` on hand-made models (one per rule, tests/cases/opset-upgrade/make.py) and on
//! the PaddleOCR exports of models/manifest.json: the upgraded model passes
//! `onnx.checker.check_model(full_check=True)` and ONNX Runtime gives the same outputs for it and
//! the original (scripts/same_outputs.py, max abs diff <= 1e-5 on seeded inputs).

use crate::util::{case, python, root};
use optimize_onnx::transform::{changed_ops, upgrade_opset, MAX_TARGET_OPSET, MIN_SOURCE_OPSET};
use optimize_onnx::{build, save, Error, Model, SaveOptions};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Upgrades `src` to `target`, saves it in `dir`, and checks it against the original in ONNX
/// Runtime; returns the rewrite counts and the script's JSON line.
fn upgrade_and_compare(
    src: &Path,
    target: i64,
    manifest_name: Option<&str>,
    dir: &Path,
) -> (BTreeMap<String, usize>, String) {
    let mut model = Model::load(src).unwrap();
    let report = upgrade_opset(&mut model.proto, target)
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    assert_eq!(build::opset(&model.proto, ""), Some(target));
    let stem = src.file_stem().unwrap().to_string_lossy();
    let out = dir.join(format!("{stem}.opset{target}.onnx"));
    save(&model, &out, &SaveOptions::default()).unwrap();
    let mut cmd = Command::new(python());
    cmd.arg(root().join("scripts/same_outputs.py"))
        .arg(src)
        .arg(&out);
    if let Some(name) = manifest_name {
        cmd.args(["--model", name]);
    }
    let run = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).trim().to_string();
    assert!(
        run.status.success(),
        "{} -> opset {target}: {report:?}\n{stdout}\n{}",
        src.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    // Shown with --no-capture: what was rewritten and how close the outputs are.
    println!("{stem} -> {target}: {:?} {stdout}", report.rewritten);
    (report.rewritten, stdout)
}

/// Expected rewrite counts, by op type.
type Counts = &'static [(&'static str, usize)];

fn counts(pairs: Counts) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn every_rule_keeps_outputs_in_onnx_runtime() {
    let dir = tempfile::tempdir().unwrap();
    #[rustfmt::skip]
    let cases: &[(&str, i64, Counts)] = &[
        // axis 1 on rank 3 (differs), axis 0, default axis, and axis 2 of an intermediate are
        // spelled out; axis -1, and axis 2 of the rank-3 graph input, are kept.
        ("softmax-axis", 13, &[("Hardmax", 1), ("LogSoftmax", 1), ("Softmax", 2)]),
        ("softmax-axis", 21, &[("Hardmax", 1), ("LogSoftmax", 1), ("Softmax", 2)]),
        ("squeeze-unsqueeze", 13, &[("Squeeze", 1), ("Unsqueeze", 1)]),
        ("split", 13, &[("Split", 1)]),
        ("split", 18, &[("Split", 2)]),
        ("reduce", 13, &[("ReduceSum", 1)]),
        ("reduce", 18, &[("ReduceMax", 1), ("ReduceMean", 1), ("ReduceSum", 1)]),
        ("dropout", 13, &[("Dropout", 1)]),
        ("opset9", 13, &[("Resize", 2), ("Slice", 1), ("TopK", 1), ("Upsample", 2)]),
        ("opset10", 13, &[("Clip", 2), ("Pad", 2), ("Resize", 4), ("Scatter", 1)]),
        ("opset10", 21, &[("Clip", 2), ("Pad", 2), ("Resize", 4), ("Scatter", 1)]),
        ("resize-tf-half-pixel", 13, &[("Resize", 4)]),
        ("subgraph", 13, &[("ReduceSum", 2), ("Softmax", 4), ("Squeeze", 2)]),
        ("ir3", 13, &[("Unsqueeze", 1)]),
        ("roi-align", 16, &[("RoiAlign", 1)]),
        ("grid-sample", 20, &[("GridSample", 2)]),
        ("dft", 20, &[("DFT", 2)]),
        ("dft", 21, &[("DFT", 2)]),
    ];
    for (name, target, expected) in cases {
        let src = case(&format!("opset-upgrade/{name}.onnx"));
        let (rewritten, _) = upgrade_and_compare(&src, *target, None, dir.path());
        assert_eq!(rewritten, counts(expected), "{name} -> {target}");
    }
}

#[test]
fn old_ir_lists_added_initializers_as_inputs() {
    let mut model = Model::load(case("opset-upgrade/ir3.onnx")).unwrap();
    upgrade_opset(&mut model.proto, 13).unwrap();
    let g = model.proto.graph.as_ref().unwrap();
    for t in &g.initializer {
        assert!(
            g.input.iter().any(|i| i.name() == t.name()),
            "{} is not a graph input",
            t.name()
        );
    }
    assert_eq!(g.initializer.len(), 2, "w and the Unsqueeze axes");
}

#[test]
fn refusal_names_the_op_and_node_and_keeps_the_model() {
    let mut model = Model::load(case("opset-upgrade/refused-resize-down.onnx")).unwrap();
    let before = model.proto.clone();
    let err = upgrade_opset(&mut model.proto, 13).unwrap_err();
    assert!(matches!(err, Error::OpsetRefused { .. }), "{err:?}");
    let msg = err.to_string();
    for part in [
        "from 10 to 13",
        "Resize 'near_down' (opset 11)",
        "down-samples",
    ] {
        assert!(msg.contains(part), "{part:?} not in: {msg}");
    }
    assert!(err.is_input_error());
    assert_eq!(model.proto, before);
}

/// What the upgrade must rewrite in a PaddleOCR export, counted on the source model itself
/// (these exports carry no shapes for intermediate values, so no axis is provably the last):
/// from below 13 to 13 or more, every Softmax, LogSoftmax and Hardmax whose axis is not -1
/// (the default, 1, included: opset 13 changed what the axis means), and every Squeeze,
/// Unsqueeze and ReduceSum with an `axes` attribute (it became an input); from below 18 to 18
/// or more, every other Reduce op with an `axes` attribute.
fn expected_rewrites(model: &Model, target: i64) -> BTreeMap<String, usize> {
    let from = build::opset(&model.proto, "").unwrap();
    let g = model.proto.graph.as_ref().unwrap();
    let mut out = BTreeMap::new();
    for n in &g.node {
        let attr = |name: &str| n.attribute.iter().find(|a| a.name() == name);
        let op = n.op_type();
        let rewritten = match op {
            "Softmax" | "LogSoftmax" | "Hardmax" => {
                from < 13 && target >= 13 && attr("axis").and_then(|a| a.i) != Some(-1)
            }
            "Squeeze" | "Unsqueeze" | "ReduceSum" => {
                from < 13 && target >= 13 && attr("axes").is_some()
            }
            _ if op.starts_with("Reduce") => from < 18 && target >= 18 && attr("axes").is_some(),
            _ => false,
        };
        if rewritten {
            *out.entry(op.to_string()).or_default() += 1;
        }
    }
    out
}

/// Upgrades the model of manifest entry `name` (file `file` in models/cache) to `target`,
/// checks its outputs, and checks the rewrite counts against [`expected_rewrites`] and against
/// `expected` (the same counts read off the model with the onnx package, kept here so a
/// reader sees them); a missing file fails, naming the tier that fetches it.
fn paddle(name: &str, file: &str, tier: &str, target: i64, expected: Counts) {
    let dir = tempfile::tempdir().unwrap();
    let src = root().join("models/cache").join(file);
    assert!(
        src.exists(),
        "{} missing: run scripts/fetch-models.py --tier {tier}",
        src.display()
    );
    let derived = expected_rewrites(&Model::load(&src).unwrap(), target);
    assert_eq!(
        derived,
        counts(expected),
        "{name} -> {target}: counted on the model"
    );
    let (rewritten, _) = upgrade_and_compare(&src, target, Some(name), dir.path());
    assert_eq!(rewritten, derived, "{name} -> {target}");
}

/// PaddleOCR exports at opsets 11 and 12, the reason this pass exists: the classifier and the
/// detector, both in the test tier (scripts/fetch-models.py).
#[test]
fn paddle_models_keep_their_outputs() {
    paddle(
        "ppocr-cls-mobile-v2",
        "ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "test",
        13,
        &[("Softmax", 1)],
    );
    // Opset 12 with Clip and Resize already in their opset-11 form: only the version moves.
    paddle(
        "ppocr-v4-det",
        "ch_PP-OCRv4_det_infer.onnx",
        "test",
        13,
        &[],
    );
}

/// The recognizer is in the bench tier only, so this test is ignored by default (the runner
/// lists it); `cargo test -- --ignored` runs it and fails when the model is missing.
#[test]
#[ignore = "needs the bench tier: scripts/fetch-models.py --tier bench"]
fn paddle_recognizer_keeps_its_outputs() {
    let file = "ch_PP-OCRv4_rec_infer.onnx";
    paddle(
        "ppocr-v4-rec",
        file,
        "bench",
        13,
        &[("Softmax", 3), ("Squeeze", 7)],
    );
    paddle(
        "ppocr-v4-rec",
        file,
        "bench",
        18,
        &[("ReduceMean", 10), ("Softmax", 3), ("Squeeze", 7)],
    );
}

/// The pass's table of changed ops is the installed onnx package's: every op that gets a new
/// schema version at a step in MIN_SOURCE_OPSET+1..=MAX_TARGET_OPSET is reviewed there, and
/// nothing else is (except Upsample at 11, listed on purpose for opset-10 models that still hold
/// the deprecated op).
#[test]
fn table_of_changed_ops_matches_onnx_schemas() {
    let script = format!(
        "import json, onnx.defs as d\n\
         by = {{}}\n\
         for s in d.get_all_schemas_with_history():\n\
         \x20   if s.domain in ('', 'ai.onnx'):\n\
         \x20       by.setdefault(s.name, set()).add(s.since_version)\n\
         print(json.dumps({{v: sorted(n for n, vs in by.items() if v in vs and min(vs) < v)\n\
         \x20                 for v in range({}, {})}}))",
        MIN_SOURCE_OPSET + 1,
        MAX_TARGET_OPSET + 1
    );
    let out = Command::new(python())
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let onnx: BTreeMap<String, Vec<String>> = serde_json::from_slice(&out.stdout).unwrap();
    for v in MIN_SOURCE_OPSET + 1..=MAX_TARGET_OPSET {
        let mut ours: Vec<&str> = changed_ops(v).into_iter().map(|(op, _)| op).collect();
        if v == 11 {
            ours.retain(|op| *op != "Upsample");
        }
        assert_eq!(ours, onnx[&v.to_string()], "ops changed at opset {v}");
    }
}
