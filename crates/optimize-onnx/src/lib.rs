//! ONNX models for `optimize`: the protobuf types, lossless load and save, and the inspect summary.
//!
//! This crate is the base every pass stands on. It is for reading a `.onnx` file into memory,
//! looking at it, editing the protobuf, and writing it back; it is not for running models (see
//! `optimize-runtime`) or for changing them (the pass crates).
//!
//! - [`proto`]: every message of the official `onnx-ml.proto`, generated and committed, so a
//!   round trip keeps every field the spec defines (doc strings, metadata, value_info, functions,
//!   sparse initializers, training info) and the difference between absent and default values.
//! - [`Model`]: a decoded model whose tensors all hold their data inline. [`Model::load`] checks the
//!   framing, decodes, reads external data (relative to the model's folder) and validates every
//!   stored tensor, so later code can trust shapes and lengths.
//! - [`save`]: atomic write (temp file, fsync, rename) that never writes over the model's own
//!   files, with external data when asked or when the model passes protobuf's 2 GiB limit.
//! - [`Summary`]: what `optimize inspect` prints, with a stable JSON schema.
//! - For passes: [`GraphView`] (producers and consumers of every tensor), [`build`] (node and
//!   tensor constructors), [`transform`] (rewrites every pass may want first, such as moving
//!   `Constant` weights into initializers or upgrading the opset), [`walk`] (every tensor and
//!   subgraph), [`names`] (fresh names that collide with none in the model), [`filter`] (the
//!   `--op-types` / `--exclude-nodes` rule every pass shares), [`ops`] (what every pass knows
//!   about each operator: weight input and channel axes, quantization role, float16 slots,
//!   output types, pruning and distillation import).
//!
//! ```no_run
//! use optimize_onnx::{save, Model, SaveOptions, Summary};
//!
//! let model = Model::load("models/digits-mlp.onnx")?;
//! let summary = Summary::of(&model, None);
//! println!("{} parameters, {}", summary.parameters.count, summary.precision.summary);
//! save(&model, "/tmp/copy.onnx", &SaveOptions::default())?;
//! # Ok::<(), optimize_onnx::Error>(())
//! ```
#![deny(missing_docs)]

pub mod build;
pub mod dtype;
mod error;
pub mod filter;
pub mod graph;
pub mod inspect;
mod model;
pub mod names;
pub mod ops;
pub mod proto;
mod save;
mod stage;
pub mod tensor;
pub mod transform;
pub mod walk;
mod wire;

pub use dtype::ElemType;
pub use error::{Error, Result};
pub use graph::GraphView;
pub use inspect::Summary;
pub use model::{ExternalFile, Model};
pub use save::{
    refuse_overwrite, save, ExternalData, ExternalDataReport, SaveOptions, SaveReport,
    PROTOBUF_LIMIT,
};
pub use stage::{stage, Staged};
