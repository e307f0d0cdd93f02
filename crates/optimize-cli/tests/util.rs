use std::path::{Path, PathBuf};
use std::process::Command;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

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

/// Files in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// models/manifest.json.
pub fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("models/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The manifest entry of model `name`.
pub fn entry(name: &str) -> serde_json::Value {
    manifest()["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in models/manifest.json"))
        .clone()
}

/// A deterministic tensor from one input hint of the manifest: `value` fills every element;
/// otherwise integers are uniform in [low, high) (default [0, 10)) and floats in [low, high)
/// (default [-1, 1)).
pub fn hint_tensor(h: &serde_json::Value, shape: &[usize], seed: u64) -> optimize_data::Tensor {
    use optimize_data::{random_tensor, DType, RandomRange, Tensor};
    let dtype: DType = h["dtype"].as_str().unwrap().parse().unwrap();
    if let Some(v) = h.get("value") {
        let n: usize = shape.iter().product();
        return match dtype {
            DType::F32 => {
                Tensor::from_f32(shape.to_vec(), vec![v.as_f64().unwrap() as f32; n]).unwrap()
            }
            DType::I64 => Tensor::from_i64(shape.to_vec(), vec![v.as_i64().unwrap(); n]).unwrap(),
            other => panic!("no constant fill for {other}"),
        };
    }
    let range = if dtype.is_float() {
        RandomRange::Float {
            low: h["low"].as_f64().unwrap_or(-1.0),
            high: h["high"].as_f64().unwrap_or(1.0),
        }
    } else {
        RandomRange::Int {
            low: h["low"].as_i64().unwrap_or(0),
            high: h["high"].as_i64().unwrap_or(10),
        }
    };
    random_tensor(dtype, shape, seed, range).unwrap()
}

/// The shape a manifest input hint gives.
pub fn hint_shape(h: &serde_json::Value) -> Vec<usize> {
    h["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

/// `onnx.checker.check_model(path, full_check=True)` in the project's .venv; panics with the
/// checker's message.
pub fn check_model(path: &Path) {
    let py = root().join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} missing: run scripts/setup-venv.sh",
        py.display()
    );
    let out = Command::new(py)
        .args([
            "-c",
            "import onnx,sys; onnx.checker.check_model(sys.argv[1], full_check=True)",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: onnx.checker: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
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
