//! `optimize` for training code: one dependency that brings every part of the toolkit.
//!
//! Each module is one of the library crates, re-exported under a short name:
//!
//! - [`onnx`]: ONNX models: load (external data included), inspect, edit, save atomically.
//! - [`data`]: tensors in memory and seeded random inputs.
//! - [`runtime`]: running models on ONNX Runtime (loaded dynamically) to check and measure them.
//! - [`distill`]: teacher-student distillation with candle: losses, the `Distiller` for your own
//!   training loop, recipes, student export to ONNX.
//! - [`prune`]: magnitude, N:M, structured channel and low-rank pruning of ONNX models, and
//!   gradual magnitude pruning of candle weights while they train
//!   ([`prune::schedule::GradualPruner`]).
//!
//! The quantization pass and benchmarks join as they land.
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

pub use optimize_data as data;
pub use optimize_distill as distill;
pub use optimize_onnx as onnx;
pub use optimize_prune as prune;
pub use optimize_runtime as runtime;
