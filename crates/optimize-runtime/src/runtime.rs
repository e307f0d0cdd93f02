//! The back-end-neutral interface: a [`Runtime`] loads a [`Model`] that runs on [`Tensor`]s.
//!
//! Code that only needs "run this ONNX file" (benchmarks, fidelity checks, calibration) takes
//! a `&dyn Runtime`, so the back ends are interchangeable: [`OnnxRuntime`] loads
//! [`OrtSession`]s, [`Tract`] loads [`TractSession`]s. To try tract and fall back to ONNX
//! Runtime, use [`load_model`](crate::load_model).
//!
//! ```no_run
//! use optimize_data::{random_tensor, DType, RandomRange};
//! use optimize_runtime::{OnnxRuntime, Runtime, SessionOptions};
//!
//! let runtime = OnnxRuntime::new(SessionOptions::deterministic());
//! let model = runtime.load("models/digits-mlp.onnx".as_ref())?;
//! let x = random_tensor(DType::F32, &[4, 64], 0, RandomRange::default_for(DType::F32))?;
//! let outputs = model.run(&[("input".to_string(), x)])?;
//! assert_eq!(outputs[0].1.shape(), [4, 10]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use optimize_data::Tensor;

use crate::{Backend, OrtSession, Result, SessionOptions, TensorInfo, TractSession};

/// A way of running ONNX models.
pub trait Runtime: Send + Sync {
    /// Short name for reports, such as `onnxruntime`.
    fn name(&self) -> &'static str;
    /// Loads the model file at `path` (with any external data beside it).
    fn load(&self, path: &Path) -> Result<Box<dyn Model>>;
}

/// A model loaded by a [`Runtime`].
pub trait Model: Send + Sync {
    /// Declared inputs, in graph order.
    fn inputs(&self) -> &[TensorInfo];
    /// Declared outputs, in graph order.
    fn outputs(&self) -> &[TensorInfo];
    /// Runs the model on named inputs; returns every output, named, in graph order.
    fn run(&self, inputs: &[(String, Tensor)]) -> Result<Vec<(String, Tensor)>>;
    /// Which of this crate's back ends runs the model now; `None` for a model from elsewhere.
    /// A model from [`load_model`](crate::load_model) may change from tract to ONNX Runtime
    /// after a run (see [`fallback_reason`](Model::fallback_reason)).
    fn backend(&self) -> Option<Backend> {
        None
    }
    /// Why this model left tract for ONNX Runtime after loading, if it did (only models from
    /// [`load_model`](crate::load_model) do): tract's error on one line.
    fn fallback_reason(&self) -> Option<String> {
        None
    }
}

/// The ONNX Runtime back end: loads models as [`OrtSession`]s with fixed options.
#[derive(Debug, Clone, Default)]
pub struct OnnxRuntime {
    /// Options every loaded model gets.
    pub options: SessionOptions,
}

impl OnnxRuntime {
    /// A back end that loads models with `options`.
    pub fn new(options: SessionOptions) -> Self {
        Self { options }
    }
}

impl Runtime for OnnxRuntime {
    fn name(&self) -> &'static str {
        "onnxruntime"
    }

    fn load(&self, path: &Path) -> Result<Box<dyn Model>> {
        Ok(Box::new(OrtSession::from_file(path, &self.options)?))
    }
}

impl Model for OrtSession {
    fn inputs(&self) -> &[TensorInfo] {
        OrtSession::inputs(self)
    }

    fn outputs(&self) -> &[TensorInfo] {
        OrtSession::outputs(self)
    }

    fn run(&self, inputs: &[(String, Tensor)]) -> Result<Vec<(String, Tensor)>> {
        OrtSession::run(self, inputs)
    }

    fn backend(&self) -> Option<Backend> {
        Some(Backend::Ort)
    }
}

/// The tract back end: loads models as [`TractSession`]s with fixed options.
#[derive(Debug, Clone, Default)]
pub struct Tract {
    /// Options every loaded model gets (tract reads only the optimisation level).
    pub options: SessionOptions,
}

impl Tract {
    /// A back end that loads models with `options`.
    pub fn new(options: SessionOptions) -> Self {
        Self { options }
    }
}

impl Runtime for Tract {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn load(&self, path: &Path) -> Result<Box<dyn Model>> {
        Ok(Box::new(TractSession::from_file(path, &self.options)?))
    }
}

impl Model for TractSession {
    fn inputs(&self) -> &[TensorInfo] {
        TractSession::inputs(self)
    }

    fn outputs(&self) -> &[TensorInfo] {
        TractSession::outputs(self)
    }

    fn run(&self, inputs: &[(String, Tensor)]) -> Result<Vec<(String, Tensor)>> {
        TractSession::run(self, inputs)
    }

    fn backend(&self) -> Option<Backend> {
        Some(Backend::Tract)
    }
}
