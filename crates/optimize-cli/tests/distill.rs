use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::{optimize, root};

/// A short digits recipe (MLP teacher, 10% labels) with `epochs` epochs, in `dir`.
fn recipe(dir: &Path, epochs: usize, extra: &str) -> String {
    let r = root();
    let text = format!(
        r#"seed = 1
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

[optimizer]
lr = 0.005
{extra}
[report]
latency = false
"#,
        r = r.display()
    );
    std::fs::write(dir.join("r.toml"), text).unwrap();
    "r.toml".into()
}

#[test]
fn distill_writes_the_student_and_the_comparison() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(dir.path(), 2, "");
    let run = optimize(dir.path(), &["distill", &r, "-o", "out"]);
    assert_eq!(run.code, 0, "{run:?}");
    for word in [
        "teacher",
        "distilled",
        "alone",
        "student.onnx in tract: max |diff|",
    ] {
        assert!(
            run.stdout.contains(word),
            "`{word}` missing:\n{}",
            run.stdout
        );
    }
    assert!(
        run.stderr.contains("distilled epoch 2/2: loss"),
        "{}",
        run.stderr
    );
    for f in [
        "student.onnx",
        "student.safetensors",
        "student.json",
        "alone.onnx",
        "log.jsonl",
        "report.md",
        "report.json",
        "curves.png",
    ] {
        assert!(dir.path().join("out").join(f).is_file(), "{f} missing");
    }

    let run = optimize(dir.path(), &["distill", &r, "-o", "out2", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["schema"], "optimize.distill-report/1");
    assert_eq!(v["models"].as_array().unwrap().len(), 3);
    assert_eq!(run.stderr, "", "--json prints no progress");
    // Same recipe, same seed: the same student bytes.
    let a = std::fs::read(dir.path().join("out/student.onnx")).unwrap();
    let b = std::fs::read(dir.path().join("out2/student.onnx")).unwrap();
    assert!(a == b, "student.onnx differs between two runs");
}

#[test]
fn bad_recipes_exit_2_naming_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(dir.path(), 1, "momentun = 0.9\n");
    let run = optimize(dir.path(), &["distill", &r]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: r.toml:21: optimizer.momentun: unknown field `momentun`"),
        "{}",
        run.stderr
    );
    let text = std::fs::read_to_string(dir.path().join("r.toml")).unwrap();
    std::fs::write(
        dir.path().join("r.toml"),
        text.replace("momentun = 0.9\n", "")
            .replace("out = 16", "out = \"16\""),
    )
    .unwrap();
    let run = optimize(dir.path(), &["distill", &r]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.starts_with("error: r.toml:9: "),
        "{}",
        run.stderr
    );
    let run = optimize(dir.path(), &["distill", "missing.toml"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("missing.toml"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"));
}

/// Ctrl-C during training writes a checkpoint and exits 130; --resume refuses a changed recipe
/// (exact resumption is tested in optimize-distill: stopped_and_resumed_runs_end_where_uninterrupted_ones_do).
#[test]
fn ctrl_c_saves_a_checkpoint_and_resume_checks_the_recipe() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(dir.path(), 400, "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_optimize"))
        .args(["distill", &r, "-o", "out"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    // Wait for the first epoch to finish, then interrupt.
    while stderr.read_line(&mut line).unwrap() > 0 && !line.contains("epoch 1/400") {}
    assert!(line.contains("epoch 1/400"), "{line}");
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(
        rest.contains("interrupted; checkpoint written to out/checkpoint.safetensors"),
        "{rest}"
    );
    assert!(
        rest.contains("--resume out/checkpoint.safetensors"),
        "{rest}"
    );
    let ckpt = dir.path().join("out/checkpoint.safetensors");
    assert!(ckpt.is_file());

    // Resume with fewer epochs is another recipe: refused, the checkpoint kept.
    let text = std::fs::read_to_string(dir.path().join("r.toml")).unwrap();
    std::fs::write(
        dir.path().join("r.toml"),
        text.replace("epochs = 400", "epochs = 3"),
    )
    .unwrap();
    let run = optimize(
        dir.path(),
        &[
            "distill",
            &r,
            "-o",
            "out",
            "--resume",
            "out/checkpoint.safetensors",
        ],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("was written for a different recipe"),
        "{}",
        run.stderr
    );
    assert!(ckpt.is_file());
}
