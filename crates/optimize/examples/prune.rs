//! Channel pruning of the digits CNN through the facade: half the channels of every group it
//! can prune, verified on the labelled test split, latency measured before and after.
//!
//! ```sh
//! cargo run -p optimize --example prune
//! ```
//!
//! Expected: about a quarter of the parameters left and a smaller file; accuracy drops (no
//! fine-tuning here: see `--recover`), and the report says by how much.

use optimize::prune::job::{Method, PruneConfig, PruneJob};

fn main() -> anyhow::Result<()> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let dir = tempfile::tempdir()?;
    let output = dir.path().join("digits-cnn.channels.onnx");
    let mut config = PruneConfig {
        method: Method::Channels,
        ratio: Some(0.5),
        eval: Some(format!("{root}/models/data/digits-test-cnn.npz").into()),
        ..PruneConfig::default()
    };
    config.latency.min_duration = std::time::Duration::from_millis(100);
    let job = PruneJob::new(format!("{root}/models/digits-cnn.onnx"), &output, config);
    let report = job.run(&mut optimize::job::Quiet, None)?;

    let p = &report.pruning.parameters;
    let accuracy = report
        .outcome
        .verification
        .as_ref()
        .and_then(|v| v.accuracy.as_ref())
        .expect("the test split has labels");
    println!(
        "parameters {} -> {}, {:.2}x the size, top-1 {:.2}% -> {:.2}%",
        p.before,
        p.after,
        report.outcome.size_ratio,
        accuracy.before.top1 * 100.0,
        accuracy.after.top1 * 100.0
    );
    for l in &report.outcome.latency {
        println!(
            "{}: {:.3} ms -> {:.3} ms",
            l.runtime, l.before_ms, l.after_ms
        );
    }
    assert!(report.accepted() && output.exists());
    assert!(
        p.after * 2 < p.before,
        "half the channels: {} -> {}",
        p.before,
        p.after
    );
    assert!(report.outcome.size_ratio < 0.5);
    assert_eq!(
        report.outcome.latency.len(),
        2,
        "{:?}",
        report.outcome.latency_skipped
    );
    // The pruned model still classifies: far above the 10% of chance.
    assert!(accuracy.after.top1 > 0.3, "{}", accuracy.after.top1);
    Ok(())
}
