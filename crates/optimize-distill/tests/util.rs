use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A short digits recipe: MLP teacher, a small MLP student, 10% labels, `epochs` epochs.
/// `extra` is appended (later tables and keys).
pub fn mlp_recipe(epochs: usize, extra: &str) -> String {
    let r = root();
    format!(
        r#"seed = 3
epochs = {epochs}
batch_size = 64

[teacher]
onnx = "{r}/models/digits-mlp.onnx"

[student]
layers = [{{ type = "linear", out = 16 }}, {{ type = "relu" }}, {{ type = "linear", out = 10 }}]

[data]
path = "{r}/models/data/digits-train.npz"
test = "{r}/models/data/digits-test.npz"
split = {{ train = 0.9, val = 0.1 }}

[transfer]
labelled_fraction = 0.1

[loss]
temperature = 4.0
alpha = 0.3

[optimizer]
lr = 0.005
{extra}
[report]
latency = false
"#,
        r = r.display()
    )
}

/// Writes `text` as `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}
