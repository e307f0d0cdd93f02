//! Replays the seed corpus and every saved crash under `regressions/` through the targets.
//!
//! A file in `regressions/` is an input that once made the library panic (or return a model
//! that does not load), named `<target>-<seed>` after the run that found it: a `.onnx` file,
//! or a folder with `case.json` for calibration data. It must now give an error or run to the
//! end. The file list in `regressions/README.md` says which bug each one was.

use optimize_fuzz::corpus::{corpus_dir, hand_built, Corpus};
use optimize_fuzz::run::{read_input, regression_dir, run_one};
use optimize_fuzz::{Input, Outcome, Target};
use prost::Message;
use std::path::PathBuf;
use std::time::Duration;

/// An execution taking longer than this is a hang (the slowest seen take under a second).
const HANG: Duration = Duration::from_secs(60);

/// Runs `input` through `targets`; returns failures (panics, bad outputs, hangs) as lines.
fn replay(name: &str, input: &Input, targets: &[(Target, u64)]) -> Vec<String> {
    let mut failures = Vec::new();
    for &(target, seed) in targets {
        let (tx, rx) = std::sync::mpsc::channel();
        let input = input.clone();
        // On a thread, so a hang fails the test instead of stalling it.
        std::thread::spawn(move || {
            let scratch = tempfile::tempdir().unwrap();
            let _ = tx.send(run_one(target, seed, &input, scratch.path()));
        });
        match rx.recv_timeout(HANG) {
            Ok(Ok(Outcome::BadOutput(e))) | Ok(Err(e)) => {
                failures.push(format!("{name} ({}): {e}", target.name()))
            }
            Ok(Ok(_)) => {}
            Err(_) => failures.push(format!(
                "{name} ({}, seed {seed}): still running after {HANG:?}",
                target.name()
            )),
        }
        if failures.iter().any(|f| f.contains("still running")) {
            break;
        }
    }
    failures
}

#[test]
fn corpus_is_current() {
    for (name, proto) in hand_built() {
        let path = corpus_dir().join(name);
        let committed = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run: cargo run -p optimize-fuzz -- write-corpus",
                path.display()
            )
        });
        assert!(
            committed == proto.encode_to_vec(),
            "{} differs from corpus::hand_built(); run: cargo run -p optimize-fuzz -- write-corpus",
            path.display()
        );
        assert!(
            committed.len() < 4096,
            "{name} is {} bytes",
            committed.len()
        );
    }
}

/// Every corpus model, unmutated, through every target: the seeds themselves load, and the
/// passes run on most of them.
#[test]
fn corpus_replays() {
    let corpus = Corpus::load().unwrap();
    let all: Vec<(Target, u64)> = Target::ALL.iter().map(|&t| (t, 0)).collect();
    let mut failures = Vec::new();
    let mut replayed = 0;
    for seed in &corpus.seeds {
        let input = Input::Model(seed.bytes.clone());
        failures.extend(replay(&seed.name, &input, &all));
        replayed += 1;
        // Every seed loads cleanly.
        optimize_onnx::Model::decode(&seed.bytes, std::path::Path::new(&seed.name), None)
            .unwrap_or_else(|e| panic!("{}: {e}", seed.name));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        replayed,
        hand_built().len() + optimize_fuzz::corpus::REAL_MODELS.len()
    );
}

/// Every saved crash under `regressions/` now errors or runs to the end.
#[test]
fn regressions_replay() {
    let dir = regression_dir();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    entries.sort();
    let mut failures = Vec::new();
    let mut replayed = 0;
    for path in &entries {
        let (named, input) = read_input(path).unwrap();
        // The settings that crashed (drawn from the seed in the name), and 16 other draws in
        // case the settings code has changed since.
        let targets: Vec<(Target, u64)> = match named {
            Some((target, seed)) => std::iter::once((target, seed))
                .chain((0..16).map(|s| (target, s)))
                .collect(),
            None => Target::ALL.iter().map(|&t| (t, 0)).collect(),
        };
        failures.extend(replay(&path.display().to_string(), &input, &targets));
        replayed += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(replayed, entries.len());
}
