use std::path::{Path, PathBuf};
use std::process::Command;

pub use optimize_testkit::{python, root};

pub fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(name)
}

/// Runs scripts/same_model.py; panics with its output when the two models differ.
pub fn assert_same_model(original: &Path, saved: &Path, check: bool) {
    let mut cmd = Command::new(python());
    cmd.arg(root().join("scripts/same_model.py"))
        .arg(original)
        .arg(saved);
    if check {
        cmd.arg("--check");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "models differ:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn sha256(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap();
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// Files in `dir`, sorted, to prove nothing extra (temp files, partial outputs) was left.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
