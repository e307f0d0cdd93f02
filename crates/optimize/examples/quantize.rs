//! Static int8 of the digits CNN through the facade, as a training script would write it:
//! calibrate on the training split, verify on the test split, and check what was written.
//!
//! ```sh
//! cargo run -p optimize --example quantize
//! ```
//!
//! Expected: the int8 model at about a third of the size, accepted by top-1 accuracy on the
//! 359 test samples within one point of float32's.

use optimize::quant::job::{Mode, QuantizeConfig, QuantizeJob};

fn main() -> anyhow::Result<()> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let dir = tempfile::tempdir()?;
    let output = dir.path().join("digits-cnn.int8.onnx");
    let config = QuantizeConfig {
        mode: Mode::Static,
        calibrate: Some(format!("{root}/models/data/digits-train-cnn.npz").into()),
        eval: Some(format!("{root}/models/data/digits-test-cnn.npz").into()),
        per_channel: true,
        ..QuantizeConfig::default()
    };
    let job = QuantizeJob::new(format!("{root}/models/digits-cnn.onnx"), &output, config);
    let report = job.run(&mut optimize::job::Quiet)?;

    let verdict = report.outcome.verdict.as_ref().expect("verification ran");
    let accuracy = report
        .outcome
        .verification
        .as_ref()
        .and_then(|v| v.accuracy.as_ref())
        .expect("the test split has labels");
    println!(
        "{:.2}x the size; top-1 {:.2}% -> {:.2}%; {} ({})",
        report.outcome.size_ratio,
        accuracy.before.top1 * 100.0,
        accuracy.after.top1 * 100.0,
        if verdict.passed {
            "accepted"
        } else {
            "rejected"
        },
        verdict.judge
    );
    assert!(verdict.passed, "{:?}", verdict.failures);
    assert!(report.accepted() && output.exists());
    assert!(
        report.outcome.size_ratio < 0.5,
        "int8 weights: {}",
        report.outcome.size_ratio
    );
    assert!(accuracy.before.top1 - accuracy.after.top1 <= 0.01 + 1e-9);
    // The report measured the written file.
    assert_eq!(
        std::fs::metadata(&output)?.len(),
        report.outcome.output.bytes
    );
    Ok(())
}
