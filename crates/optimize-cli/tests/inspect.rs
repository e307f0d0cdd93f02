use crate::util::{model, optimize, root};
use serde_json::Value;

fn inspect_json(path: &std::path::Path) -> Value {
    let run = optimize(&root(), &["inspect", "--json", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    serde_json::from_str(&run.stdout).unwrap()
}

#[test]
fn json_describes_the_digits_cnn() {
    let v = inspect_json(&model("digits-cnn.onnx"));
    assert_eq!(v["schema"], "optimize.inspect/1");
    assert_eq!(v["ir_version"], 8);
    assert_eq!(v["opsets"][0]["version"], 17);
    assert_eq!(v["inputs"][0]["name"], "input");
    assert_eq!(v["inputs"][0]["dtype"], "float32");
    assert_eq!(
        v["inputs"][0]["shape"],
        serde_json::json!(["batch", 1, 8, 8])
    );
    assert_eq!(v["outputs"][0]["shape"], serde_json::json!(["batch", 10]));
    // Conv(1->16, 3x3) + Conv(16->32, 3x3) + Gemm(512->64) + Gemm(64->10), with biases.
    let expected = 16 * 9 + 16 + 32 * 16 * 9 + 32 + 512 * 64 + 64 + 64 * 10 + 10;
    assert_eq!(v["parameters"]["count"], expected);
    assert_eq!(v["parameters"]["bytes"], expected * 4);
    assert_eq!(v["parameters"]["by_dtype"][0]["dtype"], "float32");
    assert_eq!(
        v["largest_tensors"][0]["shape"],
        serde_json::json!([64, 512])
    );
    let ops: Vec<(&str, u64)> = v["op_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["op_type"].as_str().unwrap(), o["count"].as_u64().unwrap()))
        .collect();
    assert!(
        ops.contains(&("Conv", 2)) && ops.contains(&("Gemm", 2)) && ops.contains(&("MaxPool", 1)),
        "{ops:?}"
    );
    assert_eq!(v["precision"]["summary"], "fp32");
    assert_eq!(v["precision"]["formats"], serde_json::json!([]));
    assert_eq!(v["external_data"], serde_json::json!([]));
}

#[test]
fn table_shows_every_section() {
    let run = optimize(&root(), &["inspect", "models/digits-mlp.onnx"]);
    assert_eq!(run.code, 0, "{run:?}");
    for section in [
        "IR version",
        "opsets",
        "producer",
        "Inputs",
        "Outputs",
        "Operators",
        "Parameters",
        "Largest tensors",
        "External data",
        "Precision",
    ] {
        assert!(
            run.stdout.contains(section),
            "missing {section}:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("[batch, 64]"), "{}", run.stdout);
}

#[test]
fn external_data_files_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let run = optimize(
        dir.path(),
        &[
            "convert",
            model("digits-cnn.onnx").to_str().unwrap(),
            "-o",
            "ext.onnx",
            "--external-data",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let tensors = report["external_data"]["tensors"].as_u64().unwrap();
    assert!(tensors >= 2, "{report}"); // every weight of 1 KiB or more
    let v = inspect_json(&dir.path().join("ext.onnx"));
    assert_eq!(v["external_data"][0]["location"], "ext.onnx.data");
    assert_eq!(v["external_data"][0]["tensors"].as_u64().unwrap(), tensors);
    // Same parameters as the inline original.
    assert_eq!(
        v["parameters"],
        inspect_json(&model("digits-cnn.onnx"))["parameters"]
    );
}

#[test]
fn help_and_version() {
    let run = optimize(&root(), &["--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("optimize inspect"), "{}", run.stdout);
    for sub in ["inspect", "convert"] {
        let run = optimize(&root(), &[sub, "--help"]);
        assert_eq!(run.code, 0);
        assert!(run.stdout.contains("Example"), "{sub}: {}", run.stdout);
    }
    let run = optimize(&root(), &["--version"]);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout.trim(),
        format!("optimize {}", env!("CARGO_PKG_VERSION"))
    );
}
