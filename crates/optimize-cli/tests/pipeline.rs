//! `optimize pipeline` on digits-cnn: bad recipes (exit 2, line and key), an SLA nobody meets
//! (exit 1, the closest named), and a run killed with SIGKILL then run again (the same results,
//! no step run twice).

use crate::util::{expect_failure, optimize, root};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A recipe for digits-cnn in `dir` (model and data by absolute path, short timing) + `body`.
fn recipe(dir: &Path, name: &str, body: &str) -> PathBuf {
    let r = root();
    let text = format!(
        "[model]\npath = \"{}\"\n[data]\ncalibrate = \"{}\"\neval = \"{}\"\n[target]\nwarmup = 2\niterations = 20\nmin_duration = \"100ms\"\n{body}",
        r.join("models/digits-cnn.onnx").display(),
        r.join("models/data/digits-train-cnn.npz").display(),
        r.join("models/data/digits-test-cnn.npz").display(),
    );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn bad_recipes_exit_2_naming_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[[configs]]\nname = \"p\"\n[[configs.steps]]\nprune = { method = \"channels\", ratoi = 0.5 }\n",
            vec!["typo.toml:13", "configs[0].steps[0].prune.ratoi", "unknown field"],
        ),
        (
            "[sla]\nlatency_p50_ms = \"fast\"\n[[configs]]\nsteps = [{ quantize = {} }]\n",
            vec!["typo.toml:11", "sla.latency_p50_ms"],
        ),
        (
            "[sla]\nselect = \"cheapest\"\n[[configs]]\nsteps = [{ quantize = {} }]\n",
            vec!["typo.toml:11", "sla.select"],
        ),
        (
            "[[configs]]\nsteps = [{ quantize = { mode = \"fp16\", per_channel = true } }]\n",
            vec!["typo.toml:11", "configs[0].steps[0].quantize", "fp16"],
        ),
    ];
    for (body, needles) in cases {
        let path = recipe(dir.path(), "typo.toml", body);
        let p = path.to_str().unwrap();
        expect_failure(dir.path(), &["pipeline", p, "-o", "out"], 2, &needles);
    }
    // A file the recipe names that does not exist.
    std::fs::write(
        dir.path().join("missing.toml"),
        "[model]\npath = \"nope.onnx\"\n[[configs]]\nsteps = [{ quantize = {} }]\n",
    )
    .unwrap();
    expect_failure(
        dir.path(),
        &["pipeline", "missing.toml", "-o", "out"],
        2,
        &["missing.toml", "nope.onnx"],
    );
}

#[test]
fn an_sla_nobody_meets_exits_1_with_the_closest() {
    let dir = tempfile::tempdir().unwrap();
    let path = recipe(
        dir.path(),
        "strict.toml",
        "[sla]\nsize_max = \"10 KiB\"\nmetric_max_drop = 0.01\n[[configs]]\nname = \"q\"\nsteps = [{ quantize = { mode = [\"dynamic\", \"fp16\"] } }]\n",
    );
    let r = optimize(
        dir.path(),
        &["pipeline", path.to_str().unwrap(), "-o", "out", "--json"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("no configuration meets the SLA"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("closest is q[mode=dynamic]"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("size ≤ 10"), "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(report["winner"].is_null());
    assert_eq!(report["closest"], 1, "dynamic int8 is the smallest");
    assert!(!dir.path().join("out/best.onnx").exists());
    let md = std::fs::read_to_string(dir.path().join("out/report.md")).unwrap();
    assert!(md.contains("No configuration meets the SLA"), "{md}");

    // --dry-run: the plan, with what the cache now holds; nothing runs.
    let r = optimize(
        dir.path(),
        &["pipeline", path.to_str().unwrap(), "-o", "out", "--dry-run"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .starts_with("2 configurations (2 expanded) + the original"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("q[mode=fp16]: quantize {mode=fp16} (cached)"),
        "{}",
        r.stdout
    );
}

/// `ran KEY` / `measured KEY` lines of steps.log, counted.
fn log_counts(out: &Path) -> BTreeMap<String, usize> {
    let log = std::fs::read_to_string(out.join("steps.log")).unwrap_or_default();
    let mut counts = BTreeMap::new();
    for line in log.lines() {
        let mut words = line.split_whitespace();
        if let (Some(what), Some(key)) = (words.next(), words.next()) {
            *counts.entry(format!("{what} {key}")).or_insert(0) += 1;
        }
    }
    counts
}

fn verdicts(report: &serde_json::Value) -> Vec<(String, String, bool, Vec<bool>)> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r["sla_met"].as_bool().unwrap(),
                r["sla"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["met"].as_bool().unwrap())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn a_killed_run_goes_on_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let path = recipe(
        dir.path(),
        "grid.toml",
        "[sla]\nsize_max = \"60 KiB\"\nmetric_max_drop = 0.05\nselect = \"size\"\n\
         [[configs]]\nname = \"pq\"\n[[configs.steps]]\nprune = { method = \"magnitude\", sparsity = [0.1, 0.2, 0.3, 0.4] }\n\
         [[configs.steps]]\nquantize = { mode = [\"dynamic\", \"static\"] }\n",
    );
    let recipe = path.to_str().unwrap();
    let killed = dir.path().join("killed");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_optimize"))
        .args(["pipeline", recipe, "-o"])
        .arg(&killed)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once a few steps have finished.
    let steps = killed.join("cache/steps");
    let started = Instant::now();
    loop {
        let done = std::fs::read_dir(&steps).map_or(0, |d| d.count());
        if done >= 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "no steps finished"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !killed.join("results.json").exists(),
        "killed before the end"
    );
    let before = log_counts(&killed);
    assert!(!before.is_empty());

    // Run again: it finishes, and nothing that finished before runs again.
    let r = optimize(dir.path(), &["pipeline", recipe, "-o", "killed", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let resumed: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    for (line, n) in log_counts(&killed) {
        assert_eq!(n, 1, "{line} appears {n} times in steps.log");
    }
    assert!(
        resumed["cache"]["cached"].as_u64().unwrap() >= 3,
        "{}",
        resumed["cache"]
    );

    // The same results as a run never interrupted.
    let r = optimize(dir.path(), &["pipeline", recipe, "-o", "whole", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let whole: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(verdicts(&resumed), verdicts(&whole));
    assert_eq!(resumed["winner"], whole["winner"]);
    assert_eq!(resumed["rows"].as_array().unwrap().len(), 9);
    for (a, b) in resumed["rows"]
        .as_array()
        .unwrap()
        .iter()
        .zip(whole["rows"].as_array().unwrap())
    {
        assert_eq!(
            a["numbers"]["size_bytes"], b["numbers"]["size_bytes"],
            "{}",
            a["name"]
        );
        assert_eq!(
            a["numbers"]["metric"], b["numbers"]["metric"],
            "{}",
            a["name"]
        );
    }
}
