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
