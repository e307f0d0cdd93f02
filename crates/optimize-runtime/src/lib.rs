//! Running ONNX models for `optimize`.
//!
//! This crate turns an ONNX file and some [`Tensor`](optimize_data::Tensor)s into output
//! tensors. It is for checking and measuring models (does the optimised model still predict
//! the same class? how fast is it?), not for editing them (that is `optimize-onnx`).
//!
//! The pieces:
//! - [`Runtime`] and [`Model`]: the back-end-neutral interface. [`OnnxRuntime`] is the
//!   ONNX Runtime back end; tract comes later.
//! - [`OrtSession`]: a model loaded into ONNX Runtime, with [`SessionOptions`] (threads,
//!   [`OptimizationLevel`]), declared [`inputs`](OrtSession::inputs) and
//!   [`outputs`](OrtSession::outputs) as [`TensorInfo`], and [`run`](OrtSession::run).
//! - [`find_onnxruntime`] and [`LibrarySearch`]: ONNX Runtime is not linked but loaded at run
//!   time from `ORT_DYLIB_PATH`, the workspace's `.venv`, or the active Python's
//!   `onnxruntime` package (see [`discovery`]). [`init`] loads it once per process and checks
//!   its version; every session calls it, so calling it yourself is only needed to report
//!   which library is in use.
//!
//! All dtypes of [`optimize_data::DType`] pass both ways. Errors are one [`Error`] enum
//! whose variants name the path, input or output involved.
//!
//! ```no_run
//! use optimize_data::{random_tensor, DType, RandomRange};
//! use optimize_runtime::{OrtSession, SessionOptions};
//!
//! let session = OrtSession::from_file("models/digits-mlp.onnx", &SessionOptions::deterministic())?;
//! println!("{}: {}", session.inputs()[0].name, session.inputs()[0].describe()); // input: f32 [batch, 64]
//!
//! let x = random_tensor(DType::F32, &[2, 64], 0, RandomRange::Float { low: 0.0, high: 1.0 })?;
//! let outputs = session.run(&[("input".to_string(), x)])?;
//! let (name, logits) = &outputs[0];
//! assert_eq!((name.as_str(), logits.shape()), ("logits", &[2, 10][..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod backend;
mod convert;
pub mod discovery;
pub mod environment;
mod error;
mod info;
mod runtime;
mod session;
mod tract;

pub use backend::{load_model, load_model_with, Backend, ModelSource};
pub use discovery::{find_onnxruntime, LibrarySearch};
pub use environment::{init, OrtLibrary};
pub use error::{Error, Result};
pub use info::{Dim, TensorInfo};
pub use runtime::{Model, OnnxRuntime, Runtime, Tract};
pub use session::{OptimizationLevel, OrtSession, SessionOptions};
pub use tract::TractSession;
