//! Records the version of tract this build links, for bench reports: tract exposes no version
//! constant, so it is read from the workspace's Cargo.lock (the only record of the resolved
//! version). Outside the workspace it falls back to the requirement in our Cargo.toml.

use std::path::Path;

fn main() {
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let version = std::fs::read_to_string(&lock)
        .ok()
        .and_then(|text| package_version(&text, "tract-onnx"))
        .unwrap_or_else(|| "0.23 (exact version unknown)".to_string());
    println!("cargo:rustc-env=OPTIMIZE_TRACT_VERSION={version}");
}

/// The `version` of `[[package]] name = "<name>"` in a Cargo.lock.
fn package_version(lock: &str, name: &str) -> Option<String> {
    let needle = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == needle {
            let next = lines.next()?.trim();
            let v = next.strip_prefix("version = \"")?.strip_suffix('"')?;
            return Some(v.to_string());
        }
    }
    None
}
