//! Measuring models for `optimize`: how fast, how big, how accurate, how close to the original.
//!
//! Measurement returns data and never prints, so the CLI, reports and sweeps all share it.
//!
//! - [`Bench`] ([`mod@bench`]): measures one model on one back end ([`Engine`]: tract, ONNX
//!   Runtime on the CPU, or on CUDA) and returns a [`BenchResult`], serialisable as JSON with a
//!   versioned schema ([`bench::SCHEMA`], `optimize.bench/1`).
//! - [`job`]: the whole `optimize bench` workflow ([`job::BenchJob`]): every (model, back end)
//!   pair measured, each in a fresh process when the caller can start one, and the report.
//! - [`latency`]: the timing protocol (warm-up, then at least N calls and S seconds, as MLPerf's
//!   SingleStream) and [`LatencyStats`] (percentiles, mean, std, CV, harness overhead).
//! - [`compare`]: latency before and after a pass ([`compare::before_after`]), for the passes'
//!   reports.
//! - [`memory`]: peak resident memory of the process ([`MemoryStats`]); measure each model in a
//!   process of its own to get its peak.
//! - [`accuracy`]: top-1 accuracy on labelled evaluation data.
//! - [`fidelity`]: a model's outputs against a reference model's.
//! - [`verify`]: a rewritten model (quantized, pruned) checked against its original: it loads and
//!   runs in ONNX Runtime and tract, output error, accuracy before and after on labelled data.
//! - [`policy`]: when a rewritten model is accepted ([`VerifyPolicy`] → [`Verdict`]): accuracy
//!   drop with labels, output cosine / max abs without; non-finite or all-zero outputs never
//!   match.
//! - [`task`]: the user's own measure of quality ([`task::TaskMetric`]): detections against
//!   float32's as F1, or an external command that prints one number.
//! - [`ort_graph`]: what ONNX Runtime really runs after optimizing a model (fused integer
//!   kernels, Q/DQ left standing, float convolutions), counted.
//! - [`machine`]: the CPU, OS and library versions a result came from; pinning to one core.
//! - [`report`]: many results against a baseline as `report.json` and `report.md`, with charts
//!   drawn by [`chart`] (SVG and PNG, text in a bundled font).
//!
//! It is not for timing our own Rust functions (that is criterion, in each crate's benches).
//!
//! ```no_run
//! use std::time::Duration;
//! use optimize_bench::{report::Report, Bench, Engine};
//!
//! let mut results = Vec::new();
//! for model in ["models/digits-cnn.onnx", "models/digits-cnn.int8.onnx"] {
//!     let result = Bench::new(model)
//!         .backend(Engine::Ort)
//!         .threads(1)
//!         .iterations(200)
//!         .min_duration(Duration::from_secs(1))
//!         .eval("models/data/digits-test-cnn.npz")
//!         .reference("models/digits-cnn.onnx")
//!         .run()?;
//!     println!("{}: p50 {:.3} ms", result.label(), result.latency.p50_ms);
//!     results.push(result);
//! }
//! let report = Report::new(results, 0, "optimize bench ...".into());
//! report.write("results/digits-cnn".as_ref())?; // report.json, report.md, charts
//! # Ok::<(), optimize_bench::Error>(())
//! ```
#![deny(missing_docs)]

pub mod accuracy;
pub mod bench;
pub mod chart;
pub mod compare;
mod error;
pub mod fidelity;
pub mod job;
pub mod latency;
pub mod machine;
pub mod memory;
pub mod ort_graph;
pub mod outcome;
pub mod policy;
pub mod report;
pub mod task;
pub mod verify;

pub use accuracy::{Accuracy, AccuracyAccumulator};
pub use bench::{Bench, BenchConfig, BenchResult, Engine, Target};
pub use error::{Error, Result};
pub use fidelity::{FidelityAccumulator, OutputFidelity};
pub use latency::{measure_latency, LatencyConfig, LatencyStats};
pub use machine::{Machine, Versions};
pub use memory::MemoryStats;
pub use outcome::{FileSize, Outcome};
pub use policy::{CosineOf, Verdict, VerifyPolicy};
pub use report::Report;
pub use task::{TaskChange, TaskMetric};
