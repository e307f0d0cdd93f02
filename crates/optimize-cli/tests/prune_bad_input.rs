//! `optimize prune` on bad input: a sparsity outside [0, 1), an unknown N:M pattern, a model
//! with nothing to prune, flags that do not fit the method. Each gets one line naming the
//! problem, exit code 2, no output file, and the input left as it was.

use crate::util::{self, model};
use optimize_onnx::build::node;
use optimize_onnx::proto::{GraphProto, ValueInfoProto};
use prost::Message;
use std::path::Path;

/// [`util::expect_failure`], and `input` is byte-for-byte as before.
fn expect_failure(dir: &Path, input: &str, args: &[&str], code: i32, needles: &[&str]) {
    let bytes = std::fs::read(dir.join(input)).unwrap();
    util::expect_failure(dir, args, code, needles);
    assert_eq!(
        std::fs::read(dir.join(input)).unwrap(),
        bytes,
        "input changed"
    );
}

fn copy_mlp(dir: &Path) -> &'static str {
    std::fs::copy(model("digits-mlp.onnx"), dir.join("mlp.onnx")).unwrap();
    "mlp.onnx"
}

#[test]
fn sparsity_outside_zero_one() {
    let dir = tempfile::tempdir().unwrap();
    let mlp = copy_mlp(dir.path());
    for s in ["1", "1.5", "-0.5"] {
        let flag = format!("--sparsity={s}");
        expect_failure(
            dir.path(),
            mlp,
            &["prune", mlp, "--method", "magnitude", &flag],
            2,
            &["sparsity", "outside [0, 1)"],
        );
    }
    expect_failure(
        dir.path(),
        mlp,
        &["prune", mlp, "--method", "magnitude", "--sparsity", "-0.5"],
        2,
        &["sparsity -0.5 is outside [0, 1)"],
    );
    expect_failure(
        dir.path(),
        mlp,
        &["prune", mlp, "--method", "magnitude"],
        2,
        &["needs --sparsity"],
    );
}

#[test]
fn unknown_pattern() {
    let dir = tempfile::tempdir().unwrap();
    let mlp = copy_mlp(dir.path());
    for p in ["4:2", "2-4", "0:4", "two:four"] {
        expect_failure(
            dir.path(),
            mlp,
            &["prune", mlp, "--method", "nm", "--pattern", p],
            2,
            &["unknown N:M pattern", p],
        );
    }
}

#[test]
fn model_with_nothing_to_prune() {
    let dir = tempfile::tempdir().unwrap();
    let vi = |n: &str| ValueInfoProto {
        name: Some(n.into()),
        ..Default::default()
    };
    let relu = optimize_onnx::build::model(
        GraphProto {
            node: vec![node("Relu", &["x"], &["y"], "relu")],
            input: vec![vi("x")],
            output: vec![vi("y")],
            ..Default::default()
        },
        17,
    );
    std::fs::write(dir.path().join("relu.onnx"), relu.encode_to_vec()).unwrap();
    for method in [
        &["--method", "magnitude", "--sparsity", "0.5"][..],
        &["--method", "nm"],
    ] {
        let mut args = vec!["prune", "relu.onnx"];
        args.extend_from_slice(method);
        expect_failure(
            dir.path(),
            "relu.onnx",
            &args,
            2,
            &["nothing to prune", "Relu"],
        );
    }
}

#[test]
fn flags_that_do_not_fit_the_method() {
    let dir = tempfile::tempdir().unwrap();
    let mlp = copy_mlp(dir.path());
    expect_failure(
        dir.path(),
        mlp,
        &[
            "prune",
            mlp,
            "--method",
            "magnitude",
            "--sparsity",
            "0.5",
            "--pattern",
            "2:4",
        ],
        2,
        &["--pattern applies to --method nm"],
    );
    expect_failure(
        dir.path(),
        mlp,
        &["prune", mlp, "--method", "nm", "--sparsity", "0.5"],
        2,
        &["--sparsity applies to --method magnitude"],
    );
    expect_failure(
        dir.path(),
        mlp,
        &[
            "prune",
            mlp,
            "--method",
            "magnitude",
            "--sparsity",
            "0.5",
            "-o",
            mlp,
        ],
        2,
        &["refusing to overwrite"],
    );
}

#[test]
fn channel_and_lowrank_settings() {
    let dir = tempfile::tempdir().unwrap();
    let mlp = copy_mlp(dir.path());
    for (args, needles) in [
        (
            &["--method", "channels", "--ratio", "1"][..],
            &["channel ratio 1 is outside [0, 1)"][..],
        ),
        (
            &["--method", "channels", "--ratio=-0.5"],
            &["outside [0, 1)"],
        ),
        (&["--method", "channels"], &["needs --ratio"]),
        (
            &[
                "--method",
                "channels",
                "--ratio",
                "0.5",
                "--criterion",
                "l3",
            ],
            &["unknown criterion \"l3\"", "l1, l2 or bn-scale"],
        ),
        (&["--method", "lowrank"], &["needs --rank R or --energy E"]),
        (
            &["--method", "lowrank", "--rank", "0"],
            &["rank must be at least 1"],
        ),
        (
            &["--method", "lowrank", "--energy", "1.5"],
            &["--energy 1.5 is outside (0, 1]"],
        ),
        (
            &["--method", "nm", "--force"],
            &["--force applies to --method lowrank"],
        ),
    ] {
        let mut all = vec!["prune", mlp];
        all.extend_from_slice(args);
        expect_failure(dir.path(), mlp, &all, 2, needles);
    }
}

#[test]
fn channels_with_every_group_blocked() {
    // One Gemm whose output is the graph output: its channels cannot go.
    let dir = tempfile::tempdir().unwrap();
    let mut m = optimize_onnx::Model::load(model("digits-mlp.onnx")).unwrap();
    let g = m.proto.graph.as_mut().unwrap();
    g.node.retain(|n| n.name() == "fc1");
    g.node[0].output[0] = "logits".into();
    g.initializer.retain(|t| t.name().starts_with("fc1"));
    std::fs::write(dir.path().join("one.onnx"), m.proto.encode_to_vec()).unwrap();
    expect_failure(
        dir.path(),
        "one.onnx",
        &[
            "prune", "one.onnx", "--method", "channels", "--ratio", "0.5",
        ],
        2,
        &[
            "nothing to prune",
            "every channel group was left alone",
            "'logits' is a graph output",
        ],
    );
}
