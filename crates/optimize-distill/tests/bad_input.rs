use optimize_distill::pipeline::{distill, DistillOptions, Outcome};
use optimize_distill::run::Quiet;
use optimize_distill::{Error, Recipe};

use crate::util::{mlp_recipe, root, write};

fn fails(text: &str) -> (Error, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "r.toml", text);
    let options = DistillOptions {
        out_dir: dir.path().join("out"),
        ..Default::default()
    };
    let e = match Recipe::load(&p) {
        Ok(r) => distill(r, &options, &mut Quiet).unwrap_err(),
        Err(e) => e,
    };
    (e, dir)
}

#[test]
fn teacher_and_student_output_sizes_differ() {
    let text = mlp_recipe(1, "").replace(
        "{ type = \"linear\", out = 10 }]",
        "{ type = \"linear\", out = 7 }]",
    );
    let (e, _d) = fails(&text);
    assert!(matches!(e, Error::Mismatch(_)), "{e}");
    assert!(
        e.to_string()
            .contains("the teacher outputs [10] per sample, the student [7]"),
        "{e}"
    );
    assert!(e.is_input_error());
}

#[test]
fn data_that_does_not_fit_the_teacher() {
    // The CNN teacher takes [n, 1, 8, 8]; flat samples do not fit it.
    let text = mlp_recipe(1, "").replace("digits-mlp.onnx", "digits-cnn.onnx");
    let (e, _d) = fails(&text);
    assert!(matches!(e, Error::Shape(_)), "{e}");
    assert!(
        e.to_string()
            .contains("the teacher cannot run on the validation samples of shape [64]"),
        "{e}"
    );
}

#[test]
fn data_that_does_not_fit_the_student() {
    let text = mlp_recipe(1, "").replace("split = {", "shape = [1, 8, 8]\nsplit = {");
    let (e, _d) = fails(&text.replace("digits-mlp.onnx", "digits-cnn.onnx"));
    assert!(
        e.to_string()
            .contains("the student does not fit samples of shape [1, 8, 8]"),
        "{e}"
    );
    assert!(e.to_string().contains("add a flatten"), "{e}");
    let text = mlp_recipe(1, "").replace("split = {", "shape = [3, 7]\nsplit = {");
    let (e, _d) = fails(&text);
    assert!(e.to_string().contains("data.shape [3, 7] needs 21"), "{e}");
}

#[test]
fn missing_data_array_is_named() {
    let text = mlp_recipe(1, "").replace("split = {", "inputs = \"pixels\"\nsplit = {");
    let (e, _d) = fails(&text);
    assert!(
        e.to_string()
            .contains("has no array `pixels` (it has: input [1438, 64], label [1438])"),
        "{e}"
    );
}

/// The learning rate jumps by 1e30 after the first epoch: the loss becomes NaN in the
/// second, training stops with a message, and the checkpoint from the first epoch stays.
#[test]
fn nan_loss_stops_and_keeps_the_last_checkpoint() {
    let text = mlp_recipe(
        3,
        "[schedule]\nkind = \"step\"\nstep_epochs = 1\ngamma = 1e30\n[checkpoint]\nevery = 1\n",
    );
    let (e, dir) = fails(&text);
    let msg = e.to_string();
    assert!(matches!(e, Error::NonFiniteLoss { epoch: 2, .. }), "{msg}");
    assert!(
        msg.starts_with("distilled: the loss became NaN at epoch 2")
            || msg.starts_with("distilled: the loss became inf at epoch 2"),
        "{msg}"
    );
    assert!(msg.contains("lower the learning rate"), "{msg}");
    let ckpt = dir.path().join("out/checkpoint.safetensors");
    assert!(
        msg.contains(&format!("the last good checkpoint is {}", ckpt.display())),
        "{msg}"
    );
    assert!(ckpt.is_file());
    // The checkpoint is good: it resumes (and fails again at the same place).
    let recipe = Recipe::load(dir.path().join("r.toml")).unwrap();
    let options = DistillOptions {
        out_dir: dir.path().join("out"),
        resume: Some(ckpt.clone()),
        sweep: false,
    };
    let again = distill(recipe, &options, &mut Quiet).map(|o| matches!(o, Outcome::Done(_)));
    assert!(
        matches!(again, Err(Error::NonFiniteLoss { epoch: 2, .. })),
        "{again:?}"
    );
    let _ = root();
}
