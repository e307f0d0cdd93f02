//! `optimize` for training code: one dependency that brings every part of the toolkit.
//!
//! Each module is one of the library crates, re-exported under a short name:
//!
//! - [`onnx`]: ONNX models: load (external data included), inspect, edit, save atomically, the
//!   operator registry.
//! - [`data`]: tensors on disk and in memory, calibration sets, seeded random inputs.
//! - [`runtime`]: running models on tract and ONNX Runtime (loaded dynamically).
//! - [`job`]: what every job shares: [`job::Progress`] (progress, phases, cancellation) and the
//!   fine-tuning hook between passes.
//! - [`quant`]: int8 dynamic and static QDQ, fp16, and the `--auto` mixed-precision search;
//!   [`quant::job::QuantizeJob`] is the whole `optimize quantize` workflow.
//! - [`prune`]: magnitude, N:M, channel and low-rank pruning, gradual pruning of candle weights
//!   ([`prune::schedule::GradualPruner`]); [`prune::job::PruneJob`] is `optimize prune`.
//! - [`distill`]: teacher-student distillation with candle: losses, the `Distiller` for your own
//!   training loop, recipes, student export; [`distill::job::DistillJob`] is `optimize distill`.
//! - [`bench`]: latency, memory, accuracy and fidelity, verification policies, reports;
//!   [`bench::job::BenchJob`] is `optimize bench`.
//! - [`pipeline`]: many configurations (chains of the jobs above) measured against an SLA, the
//!   best one kept; [`pipeline::PipelineJob`] is `optimize pipeline`.
//!
//! Every job is a config (serde: a recipe or pipeline step can hold one as a TOML table) and a
//! `run` that loads, transforms, saves atomically, verifies and returns the report the CLI
//! prints. A rejected output is never left at the output path.
//!
//! Quantize a model from a training script:
//!
//! ```no_run
//! use optimize::quant::job::{Mode, QuantizeConfig, QuantizeJob};
//!
//! let config = QuantizeConfig {
//!     mode: Mode::Static,
//!     calibrate: Some("models/data/digits-train-cnn.npz".into()),
//!     eval: Some("models/data/digits-test-cnn.npz".into()),
//!     per_channel: true,
//!     ..QuantizeConfig::default()
//! };
//! let report = QuantizeJob::new("models/digits-cnn.onnx", "digits-cnn.int8.onnx", config)
//!     .run(&mut optimize::job::Quiet)?;
//! let verdict = report.outcome.verdict.as_ref().expect("verified");
//! println!("{:.2}x the size; {} by {}", report.outcome.size_ratio,
//!          if verdict.passed { "accepted" } else { "rejected" }, verdict.judge);
//! # Ok::<(), optimize::quant::Error>(())
//! ```
//!
//! Prune, then fine-tune by distillation from the original:
//!
//! ```no_run
//! use optimize::prune::job::{Method, PruneConfig, PruneJob};
//!
//! let config = PruneConfig {
//!     method: Method::Channels,
//!     ratio: Some(0.5),
//!     eval: Some("models/data/digits-test-cnn.npz".into()),
//!     recover: Some("recipes/recover-digits.toml".into()),
//!     ..PruneConfig::default()
//! };
//! let job = PruneJob::new("models/digits-cnn.onnx", "digits-cnn.pruned.onnx", config);
//! let report = job.run(&mut optimize::job::Quiet, Some(&optimize::distill::job::Recover))?;
//! if let Some(r) = &report.recovery {
//!     println!("{:.1}% -> {:.1}% -> {:.1}%", r.before_pruning * 100.0,
//!              r.after_pruning * 100.0, r.after_recovery * 100.0);
//! }
//! # Ok::<(), optimize::prune::Error>(())
//! ```
//!
//! Distill a student as a recipe says:
//!
//! ```no_run
//! use optimize::distill::job::{DistillJob, Outcome};
//!
//! let job = DistillJob::new("recipes/digits-cnn.toml").out_dir("out/digits-cnn");
//! if let Outcome::Done(report) = job.run(&mut optimize::job::Quiet)? {
//!     for m in &report.models {
//!         println!("{}: {:.2}%", m.role, m.test_accuracy * 100.0);
//!     }
//! }
//! # Ok::<(), optimize::distill::Error>(())
//! ```
//!
//! Measure a baseline and its variants:
//!
//! ```no_run
//! use optimize::bench::{job::BenchJob, Engine};
//!
//! let job = BenchJob {
//!     baseline: Some("models/digits-cnn.onnx".into()),
//!     models: vec!["digits-cnn.int8.onnx".into()],
//!     engines: vec![Engine::Ort, Engine::Tract],
//!     ..BenchJob::default()
//! };
//! let report = job.run(&mut optimize::job::Quiet)?;
//! for (run, cmp) in report.runs.iter().zip(&report.comparisons) {
//!     println!("{} on {}: {:.2}x the baseline's p50", run.model.name, run.engine, cmp.p50_ratio);
//! }
//! # Ok::<(), optimize::bench::Error>(())
//! ```
//!
//! Inspect a model:
//!
//! ```no_run
//! use optimize::onnx::{Model, Summary};
//!
//! let model = Model::load("models/digits-cnn.onnx")?;
//! let summary = Summary::of(&model, None);
//! println!("{} parameters ({} bytes), {}", summary.parameters.count, summary.parameters.bytes,
//!          summary.precision.summary);
//! # Ok::<(), optimize::onnx::Error>(())
//! ```
#![deny(missing_docs)]

pub use optimize_bench as bench;
pub use optimize_data as data;
pub use optimize_distill as distill;
pub use optimize_job as job;
pub use optimize_onnx as onnx;
pub use optimize_pipeline as pipeline;
pub use optimize_prune as prune;
pub use optimize_quant as quant;
pub use optimize_runtime as runtime;
