//! A baseline and its dynamic int8 variant measured through the facade, in this process, with
//! the report written to a folder.
//!
//! ```sh
//! cargo run -p optimize --example bench
//! ```
//!
//! Expected: two runs with latency percentiles and top-1 accuracy, the variant smaller, and
//! report.json / report.md in the folder.

use optimize::bench::{job::BenchJob, Engine};
use optimize::quant::job::{QuantizeConfig, QuantizeJob};

fn main() -> anyhow::Result<()> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let dir = tempfile::tempdir()?;
    let baseline = format!("{root}/models/digits-mlp.onnx");
    let variant = dir.path().join("digits-mlp.int8.onnx");
    QuantizeJob::new(&baseline, &variant, QuantizeConfig::default())
        .run(&mut optimize::job::Quiet)?;

    let job = BenchJob {
        baseline: Some(baseline.into()),
        models: vec![variant],
        engines: vec![Engine::Ort],
        threads: Some(1),
        iterations: 50,
        min_duration: std::time::Duration::from_millis(200),
        eval: Some(format!("{root}/models/data/digits-test.npz").into()),
        out_dir: Some(dir.path().join("report")),
        ..BenchJob::default()
    };
    let report = job.run(&mut optimize::job::Quiet)?;
    for (run, cmp) in report.runs.iter().zip(&report.comparisons) {
        println!(
            "{}: {} bytes, p50 {:.4} ms ({:.2}x), top-1 {:.2}%",
            run.model.name,
            run.model.bytes,
            run.latency.p50_ms,
            cmp.p50_ratio,
            run.accuracy.as_ref().map_or(f64::NAN, |a| a.top1 * 100.0)
        );
    }
    assert_eq!(report.runs.len(), 2);
    assert!(report.runs[1].model.bytes < report.runs[0].model.bytes);
    assert!(report.runs.iter().all(|r| r.accuracy.is_some()));
    assert!(dir.path().join("report/report.json").exists());
    assert!(dir.path().join("report/report.md").exists());
    Ok(())
}
