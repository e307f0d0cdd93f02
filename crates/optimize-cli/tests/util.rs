use std::path::{Path, PathBuf};
use std::process::Command;

pub use optimize_testkit::{check_model, entry, root};

pub fn model(name: &str) -> PathBuf {
    root().join("models").join(name)
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `optimize ARGS` with `dir` as the working directory.
pub fn optimize(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_optimize"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `optimize ARGS` in `dir`, expects exit 0, and returns its stdout parsed as JSON (the
/// command's `--json` report).
pub fn json_ok(dir: &Path, args: &[&str]) -> serde_json::Value {
    let r = optimize(dir, args);
    assert_eq!(r.code, 0, "{args:?}: {r:?}");
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {r:?}"))
}

/// Files in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs `optimize ARGS` in `dir` and checks it fails cleanly: exit `code`, no panic, one line on
/// stderr holding every needle, and no new file in `dir`.
pub fn expect_failure(dir: &Path, args: &[&str], code: i32, needles: &[&str]) {
    let before = listing(dir);
    let r = optimize(dir, args);
    assert_eq!(r.code, code, "{args:?}: {r:?}");
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(
        r.stderr.lines().count(),
        1,
        "one line expected: {}",
        r.stderr
    );
    for n in needles {
        assert!(
            r.stderr.contains(n),
            "{args:?}: expected {n:?} in {}",
            r.stderr
        );
    }
    assert_eq!(listing(dir), before, "{args:?}: files appeared");
}
