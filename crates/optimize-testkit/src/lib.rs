//! Test support shared by the workspace's test suites, so each rule is written once.
//!
//! - [`root`], [`python`]: the workspace and its `.venv` interpreter (made by
//!   `scripts/setup-venv.sh`).
//! - [`manifest`], [`entry`]: `models/manifest.json`, typed; [`Entry::inputs`] builds the seeded
//!   inputs its hints describe, the same tensors in every crate's tests.
//! - [`check_model`] runs `onnx.checker.check_model(full_check=True)`.
//!
//! Everything here panics with a message that says what to run when something is missing: a
//! test whose model or runtime is absent fails, it never passes by skipping.
//!
//! ```no_run
//! let digits = optimize_testkit::entry("digits-cnn");
//! let sample = digits.inputs(1000); // [("input", Tensor [4, 1, 8, 8])]
//! assert_eq!(sample[0].0, "input");
//! ```

#![deny(missing_docs)]

use optimize_data::{random_tensor, DType, RandomRange, Tensor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The project's Python (`.venv/bin/python`), with onnx and onnxruntime installed.
pub fn python() -> PathBuf {
    let py = root().join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} missing: run scripts/setup-venv.sh",
        py.display()
    );
    py
}

/// `onnx.checker.check_model(path, full_check=True)`; panics with the checker's message.
pub fn check_model(path: &Path) {
    let out = Command::new(python())
        .args([
            "-c",
            "import onnx,sys; onnx.checker.check_model(sys.argv[1], full_check=True)",
        ])
        .arg(path)
        .output()
        .expect("run the venv's python");
    assert!(
        out.status.success(),
        "{}: onnx.checker: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `models/manifest.json`: every model the tests and benchmarks use.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// One entry per model.
    pub models: Vec<Entry>,
}

/// One model of the manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    /// The manifest's name for it (`digits-cnn`).
    pub name: String,
    /// Its path from the workspace root.
    pub file: String,
    /// `committed`, `test` or `bench`.
    pub tier: String,
    /// How to fill each graph input, by name (sorted by name).
    pub inputs: BTreeMap<String, InputHint>,
}

/// How to fill one graph input: `value` fills every element; otherwise integers are uniform in
/// `[low, high)` (default `[0, 10)`) and floats in `[low, high)` (default `[-1, 1)`).
#[derive(Debug, Clone, Deserialize)]
pub struct InputHint {
    /// Element type, as numpy names it (`float32`, `int64`).
    pub dtype: String,
    /// A concrete shape (symbolic dims replaced).
    pub shape: Vec<usize>,
    /// A constant for every element.
    #[serde(default)]
    pub value: Option<f64>,
    /// Lower bound of the uniform range.
    #[serde(default)]
    pub low: Option<f64>,
    /// Upper bound (exclusive) of the uniform range.
    #[serde(default)]
    pub high: Option<f64>,
}

/// Reads `models/manifest.json`.
pub fn manifest() -> Manifest {
    let path = root().join("models/manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The manifest entry of model `name`.
pub fn entry(name: &str) -> Entry {
    manifest()
        .models
        .into_iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("{name} not in models/manifest.json"))
}

impl Entry {
    /// The model file; panics with the command that fetches it when it is missing.
    pub fn path(&self) -> PathBuf {
        let path = root().join(&self.file);
        assert!(
            path.exists(),
            "{} missing: run .venv/bin/python scripts/fetch-models.py",
            path.display()
        );
        path
    }

    /// One seeded sample: a tensor per input at its hint's shape, input `i` (in name order)
    /// drawn with seed `seed + i`.
    pub fn inputs(&self, seed: u64) -> Vec<(String, Tensor)> {
        self.inputs
            .iter()
            .enumerate()
            .map(|(i, (name, h))| (name.clone(), h.tensor(&h.shape, seed + i as u64)))
            .collect()
    }
}

impl InputHint {
    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
            .parse()
            .unwrap_or_else(|e| panic!("manifest dtype {}: {e}", self.dtype))
    }

    /// A deterministic tensor of `shape` (the hint's own, or one with another batch) drawn with
    /// `seed`.
    pub fn tensor(&self, shape: &[usize], seed: u64) -> Tensor {
        let dtype = self.dtype();
        let range = match (self.value, dtype.is_float()) {
            (Some(v), true) => {
                let n = shape.iter().product();
                return Tensor::from_f32(shape.to_vec(), vec![v as f32; n])
                    .expect("constant tensor");
            }
            (Some(v), false) => RandomRange::Int {
                low: v as i64,
                high: v as i64 + 1,
            },
            (None, true) => RandomRange::Float {
                low: self.low.unwrap_or(-1.0),
                high: self.high.unwrap_or(1.0),
            },
            (None, false) => RandomRange::Int {
                low: self.low.map_or(0, |v| v as i64),
                high: self.high.map_or(10, |v| v as i64),
            },
        };
        random_tensor(dtype, shape, seed, range).expect("seeded tensor")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_fill_as_the_manifest_says() {
        let constant = InputHint {
            dtype: "int64".into(),
            shape: vec![],
            value: Some(16000.0),
            low: None,
            high: None,
        };
        let t = constant.tensor(&[], 0);
        assert_eq!(t.shape(), &[] as &[usize]);
        assert_eq!(t.to_i64_vec().unwrap(), vec![16000]);

        let uniform = InputHint {
            dtype: "float32".into(),
            shape: vec![2, 3],
            value: None,
            low: Some(0.0),
            high: Some(1.0),
        };
        let a = uniform.tensor(&[2, 3], 5).to_f32_vec().unwrap();
        assert!(a.iter().all(|v| (0.0..1.0).contains(v)), "{a:?}");
        assert_eq!(a, uniform.tensor(&[2, 3], 5).to_f32_vec().unwrap());
        assert_ne!(a, uniform.tensor(&[2, 3], 6).to_f32_vec().unwrap());
    }

    #[test]
    fn every_manifest_entry_parses() {
        let m = manifest();
        assert!(m.models.iter().any(|e| e.name == "digits-cnn"));
        for e in &m.models {
            for h in e.inputs.values() {
                h.dtype();
            }
        }
    }
}
