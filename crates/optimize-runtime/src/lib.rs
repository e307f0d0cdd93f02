//! Running ONNX models for `optimize`.
//!
//! This crate turns an ONNX file and some [`Tensor`](optimize_data::Tensor)s into output
//! tensors. It is for checking and measuring models (does the optimised model still predict
//! the same class? how fast is it? what range does each activation cover?), not for editing
//! them (that is `optimize-onnx`).
//!
//! Two back ends, one interface:
//! - [`TractSession`] ([`tract`]): tract, a pure-Rust engine compiled in. It needs nothing installed, so
//!   the quantizer uses it to run calibration data and to verify its outputs. It parses
//!   the model ignoring stale output shapes and `value_info`, names any operator it lacks
//!   ([`Error::UnsupportedOperator`]), and optimises the model per set of input shapes,
//!   caching one plan per shape set.
//! - [`OrtSession`]: ONNX Runtime, the reference, loaded at run time from `ORT_DYLIB_PATH`,
//!   the workspace's `.venv`, or the active Python's `onnxruntime` package (see
//!   [`discovery`]). [`init`] loads it once per process and checks its version; every session
//!   calls it, so calling it yourself is only needed to report which library is in use.
//! - [`Runtime`] and [`Model`]: the back-end-neutral traits; [`Tract`] and [`OnnxRuntime`]
//!   load models with fixed [`SessionOptions`] (threads, [`OptimizationLevel`]).
//! - [`load_model`]: tract first and ONNX Runtime as the fallback. If tract cannot load the
//!   model, or later fails to plan or run it (other than for a wrong input), the model is
//!   run by ONNX Runtime instead and the reason is reported; if ONNX Runtime cannot load it
//!   either, tract's error, naming the operator, is returned. [`backend`] gives the
//!   exact rule.
//!
//! Both sessions have the same contract: declared [`inputs`](OrtSession::inputs) and
//! [`outputs`](OrtSession::outputs) as [`TensorInfo`] (symbolic dimensions by name), inputs
//! matched by name and checked before the back end sees them, every output returned named and
//! in graph order, including intermediate tensors added as extra graph outputs. All dtypes of
//! [`optimize_data::DType`] pass through ONNX Runtime; tract has all but `bf16`. Errors are one
//! [`Error`] enum whose variants name the path, input, output or node involved.
//!
//! ```no_run
//! use optimize_data::{random_tensor, DType, RandomRange};
//! use optimize_runtime::{load_model, Backend, SessionOptions, TractSession};
//!
//! let session = TractSession::from_file("models/digits-mlp.onnx", &SessionOptions::default())?;
//! println!("{}: {}", session.inputs()[0].name, session.inputs()[0].describe()); // input: f32 [batch, 64]
//!
//! let x = random_tensor(DType::F32, &[2, 64], 0, RandomRange::Float { low: 0.0, high: 1.0 })?;
//! let outputs = session.run(&[("input".to_string(), x.clone())])?;
//! let (name, logits) = &outputs[0];
//! assert_eq!((name.as_str(), logits.shape()), ("logits", &[2, 10][..]));
//!
//! // tract if it can, ONNX Runtime if not, and why.
//! let path = std::path::Path::new("models/cache/silero_vad.onnx");
//! let (model, backend, why) = load_model(path, Backend::Tract, true)?;
//! println!("loaded with {backend}; fell back: {:?}", why.or(model.fallback_reason()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod backend;
mod convert;
pub mod discovery;
pub mod environment;
mod error;
mod info;
mod runtime;
mod session;
pub mod tract;

pub use backend::{load_model, load_model_with, Backend, ModelSource};
pub use discovery::{find_onnxruntime, LibrarySearch};
pub use environment::{init, OrtLibrary};
pub use error::{Error, Result};
pub use info::{Dim, TensorInfo};
pub use runtime::{Model, OnnxRuntime, Runtime, Tract};
pub use session::{ort_optimized_model, Device, OptimizationLevel, OrtSession, SessionOptions};
pub use tract::TractSession;
