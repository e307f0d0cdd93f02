use optimize_distill::{Error, Recipe};

use crate::util::{mlp_recipe, write};

fn load_err(text: &str) -> (String, Error) {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "r.toml", text);
    let e = Recipe::load(&p).unwrap_err();
    let msg = e.to_string();
    let name = p.display().to_string();
    (msg.replace(&name, "r.toml"), e)
}

#[test]
fn the_shipped_recipes_load() {
    let root = crate::util::root();
    for name in ["digits-mlp.toml", "digits-cnn.toml"] {
        let r = Recipe::load(root.join("recipes").join(name)).unwrap();
        assert_eq!(r.transfer.labelled_fraction, 0.1, "{name}");
        assert!(r.sweep_grid().len() > 1, "{name}");
    }
    let cnn = root.join("models/digits-cnn.onnx");
    let r = Recipe::load_with_models(root.join("recipes/recover-digits.toml"), &cnn, &cnn).unwrap();
    assert_eq!(r.student.onnx.as_deref(), Some(cnn.as_path()));
}

#[test]
fn unknown_key_names_line_and_key() {
    let text = mlp_recipe(1, "").replace("lr = 0.005", "lr = 0.005\nmomentun = 0.9");
    let (msg, e) = load_err(&text);
    assert!(
        msg.starts_with("r.toml:25: optimizer.momentun: unknown field `momentun`"),
        "{msg}"
    );
    assert!(e.is_input_error());
}

#[test]
fn wrong_type_names_line_and_key() {
    let text = mlp_recipe(1, "").replace("temperature = 4.0", "temperature = \"hot\"");
    let (msg, _) = load_err(&text);
    assert!(
        msg.starts_with("r.toml:20: loss.temperature: invalid type: string \"hot\""),
        "{msg}"
    );
    let text = mlp_recipe(1, "").replace("batch_size = 64", "batch_size = [64]");
    let (msg, _) = load_err(&text);
    assert!(
        msg.starts_with("r.toml:3: batch_size: invalid type: sequence"),
        "{msg}"
    );
}

#[test]
fn unknown_layer_type_is_named() {
    let text = mlp_recipe(1, "").replace("type = \"relu\"", "type = \"relu6\"");
    let (msg, _) = load_err(&text);
    assert!(msg.starts_with("r.toml:9: "), "{msg}");
    assert!(msg.contains("relu6"), "{msg}");
}

#[test]
fn missing_file_is_named() {
    let text = mlp_recipe(1, "").replace("digits-mlp.onnx", "no-such-teacher.onnx");
    let (msg, e) = load_err(&text);
    assert!(matches!(e, Error::MissingFile { .. }), "{msg}");
    assert!(
        msg.starts_with("teacher.onnx: ") && msg.contains("no-such-teacher.onnx"),
        "{msg}"
    );
}

#[test]
fn bad_split_fractions() {
    let text = mlp_recipe(1, "").replace("train = 0.9, val = 0.1", "train = 0.9, val = 0.3");
    let (msg, _) = load_err(&text);
    assert!(msg.contains("data.split: fractions sum to 1.2"), "{msg}");
    let text = mlp_recipe(1, "").replace("train = 0.9", "train = 1.5");
    let (msg, _) = load_err(&text);
    assert!(
        msg.contains("data.split.train: 1.5 is not a fraction in [0, 1]"),
        "{msg}"
    );
    let text = mlp_recipe(1, "").replace("labelled_fraction = 0.1", "labelled_fraction = 0");
    let (msg, _) = load_err(&text);
    assert!(
        msg.contains("transfer.labelled_fraction: 0 is not a fraction in (0, 1]"),
        "{msg}"
    );
}

#[test]
fn missing_student_is_named() {
    let text = mlp_recipe(1, "").replace("[student]", "[students]");
    let (msg, _) = load_err(&text);
    assert!(msg.contains("students"), "{msg}");
}

#[test]
fn an_onnx_student_brings_its_own_layers() {
    let mlp = crate::util::root().join("models/digits-mlp.onnx");
    let text = mlp_recipe(1, "").replace(
        "[student]\n",
        &format!("[student]\nonnx = \"{}\"\n", mlp.display()),
    );
    let (msg, e) = load_err(&text);
    assert!(
        msg.contains("student: give either `onnx` or `layers`"),
        "{msg}"
    );
    assert!(e.is_input_error());
}

/// `optimize prune --recover`: the recipe gives data and training; the models come from the
/// command, so a recipe that names its own is refused rather than silently overridden.
#[test]
fn a_recovery_recipe_leaves_the_models_out() {
    let root = crate::util::root();
    let (teacher, student) = (
        root.join("models/digits-mlp.onnx"),
        root.join("models/digits-mlp.onnx"),
    );
    let dir = tempfile::tempdir().unwrap();
    let full = write(dir.path(), "full.toml", &mlp_recipe(1, ""));
    let e = Recipe::load_with_models(&full, &teacher, &student).unwrap_err();
    assert!(
        e.to_string().contains(
            "teacher: leave [teacher] out: the original and the pruned model take its place"
        ),
        "{e}"
    );
    let text = mlp_recipe(1, "");
    let start = text.find("[teacher]").unwrap();
    let end = text.find("[data]").unwrap();
    let bare = write(
        dir.path(),
        "bare.toml",
        &format!("{}{}", &text[..start], &text[end..]),
    );
    let r = Recipe::load_with_models(&bare, &teacher, &student).unwrap();
    assert_eq!(r.teacher.onnx.as_deref(), Some(teacher.as_path()));
    assert_eq!(r.student.onnx.as_deref(), Some(student.as_path()));
    assert!(r.student.layers.is_empty());
}
