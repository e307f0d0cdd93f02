//! `optimize prune` end to end on the digits models and the real models in models/cache: every
//! output passes `onnx.checker.check_model(full_check=True)`, runs in ONNX Runtime, and holds
//! what the method promises, checked here on the written file (not taken from the report):
//! the sparsity, the N:M pattern in every group, the shapes.

use crate::util::{check_model, model, optimize};
use optimize_onnx::build::read_f32;
use optimize_onnx::Model;
use serde_json::Value;
use std::path::Path;

/// Runs `optimize prune ARGS --json` in `dir`; returns the report.
fn prune(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["prune"];
    all.extend_from_slice(args);
    all.push("--json");
    let r = optimize(dir, &all);
    assert_eq!(r.code, 0, "{all:?}: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// Weights of the Conv/Gemm/MatMul nodes of `path`, by initializer name.
fn layer_weights(path: &Path) -> Vec<(String, Vec<i64>, Vec<f32>)> {
    let m = Model::load(path).unwrap();
    let g = m.proto.graph.as_ref().unwrap();
    let mut out = Vec::new();
    for n in &g.node {
        if !["Conv", "Gemm", "MatMul"].contains(&n.op_type()) {
            continue;
        }
        if let Some(t) = g.initializer.iter().find(|t| t.name() == n.input[1]) {
            out.push((t.name().to_string(), t.dims.clone(), read_f32(t).unwrap()));
        }
    }
    out
}

#[test]
fn magnitude_on_the_digits_models() {
    let dir = tempfile::tempdir().unwrap();
    for (name, data) in [
        ("digits-mlp.onnx", "data/digits-test.npz"),
        ("digits-cnn.onnx", "data/digits-test-cnn.npz"),
    ] {
        let src = model(name);
        let eval = model(data);
        let report = prune(
            dir.path(),
            &[
                src.to_str().unwrap(),
                "--method",
                "magnitude",
                "--sparsity",
                "0.6",
                "--per-layer",
                "--eval",
                eval.to_str().unwrap(),
                "--no-bench",
                "-o",
                "out.onnx",
            ],
        );
        let out = dir.path().join("out.onnx");
        check_model(&out);
        for (w, _, v) in layer_weights(&out) {
            let zeros = v.iter().filter(|x| **x == 0.0).count();
            let want = (v.len() as f64 * 0.6).round() as usize;
            assert_eq!(zeros, want, "{name} {w}");
        }
        let p = &report["pruning"];
        assert_eq!(p["method"], "magnitude");
        assert!(p["notes"][0].as_str().unwrap().contains("no faster"));
        // Dense storage: no smaller on disk, smaller compressed.
        let c = &report["compressed"];
        assert!(c["output"].as_u64() < c["input"].as_u64(), "{c}");
        assert!(report["size_ratio"].as_f64().unwrap() > 0.99);
        let acc = &report["verification"]["accuracy"];
        assert!(acc["before"]["top1"].as_f64().unwrap() > 0.9, "{acc}");
        assert!(acc["after"]["samples"].as_u64().unwrap() > 300, "{acc}");
        let rts = report["verification"]["runtimes"].as_array().unwrap();
        assert_eq!(rts.len(), 2);
        assert!(rts.iter().all(|r| r["ok"] == true), "{rts:?}");
        let stamped = Model::load(&out).unwrap();
        assert!(stamped.proto.metadata_props.iter().any(
            |m| m.key() == "optimize.prune" && m.value().starts_with("magnitude, sparsity 0.6")
        ));
    }
}

#[test]
fn n_m_on_the_digits_cnn_holds_the_pattern_in_every_group() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(model("digits-cnn.onnx"), dir.path().join("cnn.onnx")).unwrap();
    let report = prune(
        dir.path(),
        &[
            "cnn.onnx",
            "--method",
            "nm",
            "--pattern",
            "2:4",
            "--no-bench",
        ],
    );
    // Without -o the output goes beside the input, named after the method.
    assert_eq!(report["output"]["path"], "cnn.nm.onnx");
    let out = dir.path().join("cnn.nm.onnx");
    check_model(&out);
    let mut groups = 0;
    for (w, d, v) in layer_weights(&out) {
        let d: Vec<usize> = d.iter().map(|&x| x as usize).collect();
        // Conv [O, I, kh, kw] (input axis 1) and Gemm transB=1 [N, K] (axis 1): groups of 4
        // along axis 1; conv1 has I = 1 and is left alone.
        if !d[1].is_multiple_of(4) {
            assert!(v.iter().all(|x| *x != 0.0), "{w} should be untouched");
            continue;
        }
        let inner: usize = d[2..].iter().product();
        for o in 0..d[0] {
            for g in 0..d[1] / 4 {
                for s in 0..inner {
                    let nz = (0..4)
                        .filter(|j| v[(o * d[1] + g * 4 + j) * inner + s] != 0.0)
                        .count();
                    assert!(nz <= 2, "{w}: group ({o}, {g}, {s}) has {nz} non-zeros");
                    groups += 1;
                }
            }
        }
    }
    assert_eq!(
        report["pruning"]["pattern_check"]["groups"].as_u64(),
        Some(groups as u64)
    );
    let skipped = report["pruning"]["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0]["reason"]
        .as_str()
        .unwrap()
        .contains("not a multiple of 4"));
}

/// Runs the float32 original and `candidate` in ONNX Runtime on seeded inputs of `shape` for
/// input `input`; returns the largest absolute difference and the largest |output|.
fn ort_diff(original: &Path, candidate: &Path, input: &str, shape: &[usize]) -> (f64, f64) {
    use optimize_data::{random_tensor, DType, RandomRange};
    use optimize_runtime::{OrtSession, SessionOptions};
    let opts = SessionOptions::deterministic();
    let a = OrtSession::from_file(original, &opts).unwrap();
    let b = OrtSession::from_file(candidate, &opts).unwrap();
    let (mut diff, mut scale) = (0f64, 0f64);
    for seed in 0..4 {
        let x = random_tensor(
            DType::F32,
            shape,
            seed,
            RandomRange::Float {
                low: 0.0,
                high: 1.0,
            },
        )
        .unwrap();
        let inputs = [(input.to_string(), x)];
        let (ya, yb) = (a.run(&inputs).unwrap(), b.run(&inputs).unwrap());
        for ((_, p), (_, q)) in ya.iter().zip(&yb) {
            for (p, q) in p.to_f64_lossy().into_iter().zip(q.to_f64_lossy()) {
                diff = diff.max((p - q).abs());
                scale = scale.max(p.abs());
            }
        }
    }
    (diff, scale)
}

#[test]
fn channels_shrink_the_digits_and_real_conv_nets() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str], &str, &[usize]); 4] = [
        (
            "digits-cnn.onnx",
            &["--eval", "data/digits-test-cnn.npz"],
            "input",
            &[1, 1, 8, 8],
        ),
        (
            "digits-mlp.onnx",
            &["--eval", "data/digits-test.npz"],
            "input",
            &[1, 64],
        ),
        (
            "cache/ch_ppocr_mobile_v2.0_cls_infer.onnx",
            &["--shape", "x=1x3x48x192"],
            "x",
            &[1, 3, 48, 192],
        ),
        (
            "cache/ch_PP-OCRv4_det_infer.onnx",
            &["--shape", "x=1x3x128x128"],
            "x",
            &[1, 3, 128, 128],
        ),
    ];
    for (name, extra, input, shape) in cases {
        let src = model(name);
        assert!(
            src.exists(),
            "{} missing: run scripts/fetch-models.py",
            src.display()
        );
        let mut args = vec![
            src.to_str().unwrap().to_string(),
            "--method".into(),
            "channels".into(),
            "--ratio".into(),
            "0.5".into(),
            "--no-bench".into(),
            "-o".into(),
            "out.onnx".into(),
        ];
        for e in extra {
            // Data paths are relative to models/.
            args.push(if e.starts_with("data/") {
                model(e).to_str().unwrap().to_string()
            } else {
                e.to_string()
            });
        }
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let report = prune(dir.path(), &args);
        let out = dir.path().join("out.onnx");
        check_model(&out);
        let p = &report["pruning"]["parameters"];
        let (before, after) = (p["before"].as_u64().unwrap(), p["after"].as_u64().unwrap());
        assert!(
            after * 10 < before * 5,
            "{name}: parameters {before} -> {after}"
        );
        assert!(report["size_ratio"].as_f64().unwrap() < 0.5, "{name}");
        let groups = report["pruning"]["groups"].as_array().unwrap();
        assert!(groups.iter().any(|g| g["skipped"].is_null()), "{name}");
        // The classifier layer stays (a graph output, or read by a softmax), with why.
        let last = groups.last().unwrap();
        assert!(
            last["skipped"]
                .as_str()
                .is_some_and(|s| s.contains("graph output") || s.contains("Softmax")),
            "{name}: {last}"
        );
        let rts = report["verification"]["runtimes"].as_array().unwrap();
        assert!(rts[0]["ok"] == true, "{name}: {rts:?}");
        assert!(rts[1]["ok"] == true, "{name}: tract: {rts:?}");
        // Outputs keep their shapes and the model still runs on its original inputs.
        let (_, scale) = ort_diff(&src, &out, input, shape);
        assert!(scale.is_finite(), "{name}");
        if name.starts_with("digits") {
            let acc = &report["verification"]["accuracy"];
            assert!(
                acc["after"]["top1"].as_f64().unwrap() > 0.3,
                "{name}: {acc}"
            );
        }
    }
}

#[test]
fn lowrank_at_full_rank_reproduces_the_mlp_and_energy_shrinks_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = model("digits-mlp.onnx");
    let s = src.to_str().unwrap();
    prune(
        dir.path(),
        &[
            s,
            "--method",
            "lowrank",
            "--rank",
            "1000",
            "--force",
            "--no-bench",
            "-o",
            "full.onnx",
        ],
    );
    let full = dir.path().join("full.onnx");
    check_model(&full);
    let (diff, scale) = ort_diff(&src, &full, "input", &[4, 64]);
    assert!(
        diff < 1e-4,
        "full rank differs by {diff} (outputs up to {scale})"
    );

    let report = prune(
        dir.path(),
        &[
            s,
            "--method",
            "lowrank",
            "--energy",
            "0.9",
            "--no-bench",
            "-o",
            "lr.onnx",
        ],
    );
    check_model(&dir.path().join("lr.onnx"));
    let layers = report["pruning"]["layers"].as_array().unwrap();
    assert!(!layers.is_empty());
    for l in layers {
        assert!(
            l["params_after"].as_u64() < l["params_before"].as_u64(),
            "{l}"
        );
        assert!(l["energy"].as_f64().unwrap() >= 0.9, "{l}");
    }
}

/// `--recover`: half the digits CNN's channels removed, then distilled from the original.
/// The written model is the recovered one: it keeps the original's input and output names,
/// passes the checker, runs in both runtimes, and beats the pruned model on the test split.
#[test]
fn recover_distills_the_pruned_digits_cnn_from_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("recover.toml");
    std::fs::write(
        &recipe,
        format!(
            "seed = 1\nepochs = 6\nbatch_size = 32\n\n[data]\npath = \"{}\"\ntest = \"{}\"\nsplit = {{ train = 0.9, val = 0.1 }}\n\n[optimizer]\nlr = 0.003\n\n[report]\nbaseline = false\nlatency = false\n",
            model("data/digits-train.npz").display(),
            model("data/digits-test.npz").display()
        ),
    )
    .unwrap();
    let src = model("digits-cnn.onnx");
    let report = prune(
        dir.path(),
        &[
            src.to_str().unwrap(),
            "--method",
            "channels",
            "--ratio",
            "0.75",
            "--no-bench",
            "--eval",
            model("data/digits-test-cnn.npz").to_str().unwrap(),
            "--recover",
            recipe.to_str().unwrap(),
            // Six epochs win back most of what 75% of the channels cost, not all of it: the
            // default bound after recovery (1 point) is for real recipes.
            "--max-drop",
            "0.1",
            "-o",
            "out.onnx",
        ],
    );
    let out = dir.path().join("out.onnx");
    check_model(&out);
    let rc = &report["recovery"];
    let acc = |k: &str| rc[k].as_f64().unwrap_or_else(|| panic!("{k}: {rc}"));
    assert!(acc("before_pruning") > 0.95, "{rc}");
    assert!(
        acc("after_recovery") > acc("after_pruning") + 0.02,
        "recovery gained nothing: {rc}"
    );
    assert!(dir.path().join("out.onnx.recover/report.md").exists());
    // The file written is the recovered model: its accuracy in ONNX Runtime is the recipe's.
    let v = &report["verification"];
    let after = v["accuracy"]["after"]["top1"].as_f64().unwrap();
    assert!((after - acc("after_recovery")).abs() < 0.01, "{v} vs {rc}");
    let m = Model::load(&out).unwrap();
    let g = m.proto.graph.as_ref().unwrap();
    assert_eq!(g.input[0].name(), "input");
    assert_eq!(g.output[0].name(), "logits");
    // Fewer parameters than the original, as pruned.
    let p = &report["pruning"]["parameters"];
    assert!(p["after"].as_u64().unwrap() * 2 < p["before"].as_u64().unwrap());
}

#[test]
fn recover_refuses_a_recipe_that_names_its_own_models() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = crate::util::root().join("recipes/digits-cnn.toml");
    let src = model("digits-cnn.onnx");
    let r = optimize(
        dir.path(),
        &[
            "prune",
            src.to_str().unwrap(),
            "--method",
            "channels",
            "--ratio",
            "0.5",
            "--no-bench",
            "--recover",
            recipe.to_str().unwrap(),
            "-o",
            "out.onnx",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("leave [teacher] out"), "{}", r.stderr);
    assert!(
        !dir.path().join("out.onnx").exists(),
        "a partial output was left"
    );
}

/// A verification bound the output misses: exit 1, the measured drop in the message, nothing at
/// the output path; with --keep-rejected the model is kept beside it (issue 13).
#[test]
fn an_output_that_misses_its_bound_is_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let src = model("digits-cnn.onnx");
    let eval = model("data/digits-test-cnn.npz");
    let args = [
        "prune",
        src.to_str().unwrap(),
        "--method",
        "channels",
        "--ratio",
        "0.75",
        "--no-bench",
        "--eval",
        eval.to_str().unwrap(),
        "--max-drop",
        "0.005",
        "-o",
        "out.onnx",
    ];
    let r = optimize(dir.path(), &args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("top-1 accuracy fell"), "{}", r.stderr);
    assert!(
        r.stderr.contains("out.onnx was not written"),
        "{}",
        r.stderr
    );
    assert!(
        crate::util::listing(dir.path()).is_empty(),
        "{:?}",
        crate::util::listing(dir.path())
    );
    let mut keep = args.to_vec();
    keep.push("--keep-rejected");
    let r = optimize(dir.path(), &keep);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(crate::util::listing(dir.path()), ["out.rejected.onnx"]);
    Model::load(dir.path().join("out.rejected.onnx")).unwrap();
}
