//! Each case writes a bad input into a fresh folder, runs `inspect` and `convert` on it, and
//! checks: exit code 2, one line on stderr naming the file and the problem, no panic, no output
//! file, and the input unchanged.

use crate::util::{listing, model, optimize};
use optimize_onnx::proto::{ModelProto, TensorProto};
use prost::Message;
use std::path::Path;

fn mlp() -> ModelProto {
    ModelProto::decode(std::fs::read(model("digits-mlp.onnx")).unwrap().as_slice()).unwrap()
}

fn first_weight(m: &mut ModelProto) -> &mut TensorProto {
    m.graph
        .as_mut()
        .unwrap()
        .initializer
        .iter_mut()
        .find(|t| t.raw_data.as_ref().is_some_and(|r| r.len() > 64))
        .unwrap()
}

/// Runs both commands on `input` (relative to `dir`) and checks the contract.
fn expect_bad_input(dir: &Path, input: &str, problem: &str) {
    let before = listing(dir);
    let bytes_before = std::fs::read(dir.join(input)).ok();
    for args in [
        vec!["inspect", input],
        vec!["inspect", "--json", input],
        vec!["convert", input, "-o", "out.onnx"],
    ] {
        let run = optimize(dir, &args);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(run.code, 2, "{args:?}: expected exit 2, got {run:?}");
        assert_eq!(
            lines.len(),
            1,
            "{args:?}: expected one line on stderr, got {:?}",
            run.stderr
        );
        assert!(
            lines[0].contains(input),
            "{args:?}: message does not name {input}: {}",
            lines[0]
        );
        assert!(
            lines[0].contains(problem),
            "{args:?}: expected {problem:?} in: {}",
            lines[0]
        );
        assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert_eq!(listing(dir), before, "{args:?}: files appeared or vanished");
        assert_eq!(
            std::fs::read(dir.join(input)).ok(),
            bytes_before,
            "{args:?}: input changed"
        );
    }
}

fn case(write: impl FnOnce(&Path), input: &str, problem: &str) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path());
    expect_bad_input(dir.path(), input, problem);
}

#[test]
fn missing_file() {
    case(|_| {}, "missing.onnx", "No such file");
}

#[test]
fn a_folder() {
    case(
        |d| std::fs::create_dir(d.join("folder.onnx")).unwrap(),
        "folder.onnx",
        "is a directory",
    );
}

#[test]
fn empty_file() {
    case(
        |d| std::fs::write(d.join("empty.onnx"), b"").unwrap(),
        "empty.onnx",
        "file is empty",
    );
}

#[test]
fn random_bytes() {
    // A fixed xorshift stream: reproducible "random" bytes.
    let mut x = 0x9e3779b97f4a7c15u64;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    case(
        |d| std::fs::write(d.join("random.onnx"), bytes).unwrap(),
        "random.onnx",
        "not",
    );
}

#[test]
fn truncated_protobuf() {
    let bytes = std::fs::read(model("digits-mlp.onnx")).unwrap();
    let cut = bytes[..bytes.len() * 2 / 3].to_vec();
    case(
        |d| std::fs::write(d.join("cut.onnx"), cut).unwrap(),
        "cut.onnx",
        "truncated",
    );
}

#[test]
fn protobuf_that_is_not_a_model() {
    let t = TensorProto {
        dims: vec![2],
        data_type: Some(1),
        float_data: vec![1.0, 2.0],
        ..Default::default()
    };
    case(
        |d| std::fs::write(d.join("tensor.pb"), t.encode_to_vec()).unwrap(),
        "tensor.pb",
        "not an ONNX model",
    );
}

#[test]
fn missing_external_data_file() {
    let mut m = mlp();
    let w = first_weight(&mut m);
    w.raw_data = None;
    w.data_location = Some(1);
    w.external_data = vec![optimize_onnx::proto::StringStringEntryProto {
        key: Some("location".into()),
        value: Some("weights.bin".into()),
    }];
    case(
        |d| std::fs::write(d.join("ext.onnx"), m.encode_to_vec()).unwrap(),
        "ext.onnx",
        "weights.bin cannot be opened",
    );
}

#[test]
fn data_length_does_not_match_shape() {
    let mut m = mlp();
    let w = first_weight(&mut m);
    let raw = w.raw_data.take().unwrap();
    w.raw_data = Some(raw.slice(..raw.len() - 4));
    case(
        |d| std::fs::write(d.join("short.onnx"), m.encode_to_vec()).unwrap(),
        "short.onnx",
        "should hold",
    );
}

#[test]
fn unknown_dtype() {
    let mut m = mlp();
    first_weight(&mut m).data_type = Some(99);
    case(
        |d| std::fs::write(d.join("dtype.onnx"), m.encode_to_vec()).unwrap(),
        "dtype.onnx",
        "unknown data type 99",
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["inspect"],
        vec!["frobnicate"],
        vec!["convert", "m.onnx"],
        vec!["inspect", "--nope", "m.onnx"],
    ] {
        let run = optimize(dir.path(), &args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
    }
}

#[test]
fn convert_refuses_to_overwrite_its_input() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(model("digits-mlp.onnx"), dir.path().join("m.onnx")).unwrap();
    let before = std::fs::read(dir.path().join("m.onnx")).unwrap();
    let run = optimize(dir.path(), &["convert", "m.onnx", "-o", "m.onnx"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("refusing to overwrite the input"),
        "{run:?}"
    );
    assert_eq!(std::fs::read(dir.path().join("m.onnx")).unwrap(), before);
    assert_eq!(listing(dir.path()), ["m.onnx"]);
}

#[test]
fn unwritable_output_is_a_failure_while_working() {
    let dir = tempfile::tempdir().unwrap();
    let run = optimize(
        dir.path(),
        &[
            "convert",
            model("digits-mlp.onnx").to_str().unwrap(),
            "-o",
            "no/such/dir/out.onnx",
        ],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no/such/dir/out.onnx"), "{run:?}");
    assert!(listing(dir.path()).is_empty());
}
