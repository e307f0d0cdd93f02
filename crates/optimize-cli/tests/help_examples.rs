//! Every example command in `--help` runs as printed (issue 13: the static example once
//! calibrated on the eval set and exited 2). Each help text lists one command per line; the
//! commands run in a fresh folder that links `models/` and `recipes/` from the repository, in
//! the order a reader meets them, so later examples may use what earlier ones wrote.

use crate::util::{optimize, root};

/// `optimize SUB --help`, the top level first.
const HELPS: &[&[&str]] = &[
    &["--help"],
    &["inspect", "--help"],
    &["convert", "--help"],
    &["quantize", "--help"],
    &["prune", "--help"],
    &["bench", "--help"],
    &["report", "--help"],
    &["distill", "--help"],
];

/// The example command lines of a help text: lines that start with `  optimize `.
fn examples(help: &str) -> Vec<String> {
    help.lines()
        .filter_map(|l| l.strip_prefix("  optimize "))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_help_example_runs() {
    let dir = tempfile::tempdir().unwrap();
    for d in ["models", "recipes"] {
        std::os::unix::fs::symlink(root().join(d), dir.path().join(d)).unwrap();
    }
    let mut ran = 0;
    for help in HELPS {
        // Wide enough that clap does not wrap the example lines (it wraps at 100 columns when
        // it cannot ask a terminal).
        let text = std::process::Command::new(env!("CARGO_BIN_EXE_optimize"))
            .args(*help)
            .env("COLUMNS", "1000")
            .output()
            .unwrap();
        assert!(text.status.success(), "{help:?}");
        let lines = examples(&String::from_utf8_lossy(&text.stdout));
        assert!(!lines.is_empty(), "{help:?} has no example");
        for line in lines {
            // Every example is a plain command line: no pipes, quotes or continuations.
            assert!(
                !line.contains(['|', '\\', '\'', '"', '>']),
                "not a plain command: {line}"
            );
            let args: Vec<&str> = line.split_whitespace().collect();
            let run = optimize(dir.path(), &args);
            assert_eq!(
                run.code, 0,
                "optimize {line}\nstdout:\n{}\nstderr:\n{}",
                run.stdout, run.stderr
            );
            ran += 1;
        }
    }
    // The examples wrote where they said, not beside the shared models.
    assert!(dir.path().join("digits-cnn.int8.onnx").exists());
    assert!(dir.path().join("bench-digits-cnn/report.md").exists());
    assert!(ran >= 20, "only {ran} examples");
}
