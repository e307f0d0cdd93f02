//! A model loaded into ONNX Runtime.
//!
//! [`OrtSession`] wraps an ONNX Runtime session: load it from a file
//! ([`OrtSession::from_file`], which resolves external data relative to the model's folder)
//! or from bytes ([`OrtSession::from_bytes`], for self-contained models), read its declared
//! [`inputs`](OrtSession::inputs) and [`outputs`](OrtSession::outputs), and
//! [`run`](OrtSession::run) it on [`Tensor`]s. Inputs are checked against the declared
//! names, dtypes and fixed dimensions before ONNX Runtime sees them, so a mistake names the
//! input at fault.
//!
//! [`SessionOptions`] picks the graph optimisation level (ONNX Runtime's default, all
//! optimisations, unless told otherwise) and the number of threads. Results can differ in the
//! last bits between thread counts, because parallel reductions add in a different order;
//! [`SessionOptions::deterministic`] (one thread) gives the same bits every run.

use std::path::Path;
use std::sync::Mutex;

use optimize_data::Tensor;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::{Session, SessionInputValue};

use crate::convert::{from_ort, tensor_info, to_ort};
use crate::info::{check_inputs, TensorInfo};
use crate::{environment, Error, Result};

/// How much ONNX Runtime may rewrite the graph before running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OptimizationLevel {
    /// No graph rewrites: runs the graph as written.
    Disable,
    /// Semantics-preserving rewrites: constant folding, redundant node removal.
    Basic,
    /// Also fusions of complex node groups (such as GELU, attention).
    Extended,
    /// Also layout changes (such as NCHWc for convolutions).
    Layout,
    /// Everything ONNX Runtime offers (its own default).
    #[default]
    All,
}

impl OptimizationLevel {
    fn to_ort(self) -> GraphOptimizationLevel {
        match self {
            OptimizationLevel::Disable => GraphOptimizationLevel::Disable,
            OptimizationLevel::Basic => GraphOptimizationLevel::Level1,
            OptimizationLevel::Extended => GraphOptimizationLevel::Level2,
            OptimizationLevel::Layout => GraphOptimizationLevel::Level3,
            OptimizationLevel::All => GraphOptimizationLevel::All,
        }
    }
}

/// Where ONNX Runtime runs a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// The CPU execution provider (always there).
    #[default]
    Cpu,
    /// The CUDA execution provider on the GPU with this index. Needs this crate's `cuda`
    /// feature and a GPU build of ONNX Runtime; otherwise loading returns
    /// [`Error::DeviceUnavailable`] saying which is missing. tract has no GPU back end.
    Cuda(i32),
}

impl Device {
    /// Checks that this device can be used by the ONNX Runtime library this process loads
    /// (loading it if needed): for CUDA, that this build has the `cuda` feature and that the
    /// library has the CUDA execution provider. A missing GPU or driver shows up only when a
    /// model is loaded.
    pub fn check(self) -> Result<()> {
        match self {
            Device::Cpu => Ok(()),
            Device::Cuda(_) => cuda::check(),
        }
    }
}

/// Options for loading a model into ONNX Runtime.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SessionOptions {
    /// Threads for parallelism inside an operator; `None` lets ONNX Runtime choose (one per
    /// physical core). `Some(1)` makes results reproducible bit for bit.
    pub threads: Option<usize>,
    /// Graph optimisation level; all optimisations by default.
    pub optimization_level: OptimizationLevel,
    /// Where ONNX Runtime runs the model; the CPU by default. tract accepts only the CPU.
    pub device: Device,
}

impl SessionOptions {
    /// One thread, all optimisations: the same output bits on every run.
    pub fn deterministic() -> Self {
        Self {
            threads: Some(1),
            ..Self::default()
        }
    }

    /// Sets [`SessionOptions::threads`].
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Sets [`SessionOptions::device`].
    pub fn with_device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Sets [`SessionOptions::optimization_level`].
    pub fn with_optimization_level(mut self, level: OptimizationLevel) -> Self {
        self.optimization_level = level;
        self
    }
}

/// A model loaded into ONNX Runtime, ready to run.
///
/// `Send + Sync`; concurrent [`run`](OrtSession::run) calls on one session take turns.
#[derive(Debug)]
pub struct OrtSession {
    session: Mutex<Session>,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
}

impl OrtSession {
    /// Loads a model file. External data files are found relative to the model's folder.
    pub fn from_file(path: impl AsRef<Path>, options: &SessionOptions) -> Result<Self> {
        let path = path.as_ref();
        let model = path.display().to_string();
        let load_error = |message: String| Error::Load {
            model: model.clone(),
            message,
        };
        if !path.is_file() {
            return Err(load_error("no such file".into()));
        }
        let session = builder(options, &model)?
            .commit_from_file(path)
            .map_err(|e| load_error(e.to_string()))?;
        Ok(Self::new(session))
    }

    /// Loads a model from its serialized bytes. Models with external data need
    /// [`OrtSession::from_file`], since bytes carry no folder to resolve the data files in.
    pub fn from_bytes(bytes: &[u8], options: &SessionOptions) -> Result<Self> {
        let load_error = |message: String| Error::Load {
            model: "<bytes>".into(),
            message,
        };
        let session = builder(options, "<bytes>")?
            .commit_from_memory(bytes)
            .map_err(|e| load_error(e.to_string()))?;
        Ok(Self::new(session))
    }

    fn new(session: Session) -> Self {
        let inputs = session
            .inputs()
            .iter()
            .map(|o| tensor_info(o.name(), o.dtype()))
            .collect();
        let outputs = session
            .outputs()
            .iter()
            .map(|o| tensor_info(o.name(), o.dtype()))
            .collect();
        Self {
            session: Mutex::new(session),
            inputs,
            outputs,
        }
    }

    /// The model's inputs, in graph order.
    pub fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    /// The model's outputs, in graph order.
    pub fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    /// Runs the model on named inputs and returns every output, named, in graph order.
    ///
    /// Every model input must be given exactly once, with the declared dtype, rank and fixed
    /// dimensions; otherwise this returns [`Error::UnknownInput`], [`Error::DuplicateInput`],
    /// [`Error::MissingInput`] or [`Error::InputMismatch`] naming the input.
    pub fn run(&self, inputs: &[(String, Tensor)]) -> Result<Vec<(String, Tensor)>> {
        check_inputs(&self.inputs, inputs, |_| true)?;
        let mut values: Vec<(String, SessionInputValue<'_>)> = Vec::with_capacity(inputs.len());
        for (name, tensor) in inputs {
            values.push((name.clone(), to_ort(name, tensor)?.into()));
        }
        let mut session = self.session.lock().map_err(|_| Error::Run {
            message: "an earlier run panicked while holding the session".into(),
        })?;
        let outputs = session.run(values).map_err(|e| Error::Run {
            message: e.to_string(),
        })?;
        outputs
            .into_iter()
            .map(|(name, value)| Ok((name.to_string(), from_ort(name, value)?)))
            .collect()
    }
}

/// The graph ONNX Runtime runs for the model in `bytes` once it has optimized it for `options`
/// (fusions such as `QLinearConv` from QuantizeLinear/DequantizeLinear around a Conv, folded
/// constants), as a serialized `ModelProto`: what a quantized model really runs, to count.
pub fn ort_optimized_model(bytes: &[u8], options: &SessionOptions) -> Result<Vec<u8>> {
    let load_error = |message: String| Error::Load {
        model: "<bytes>".into(),
        message,
    };
    let dir = tempfile::tempdir().map_err(|e| load_error(format!("a temporary folder: {e}")))?;
    let path = dir.path().join("optimized.onnx");
    let session = builder(options, "<bytes>")?
        .with_optimized_model_path(&path)
        .map_err(|e| load_error(e.to_string()))?
        .commit_from_memory(bytes)
        .map_err(|e| load_error(e.to_string()))?;
    drop(session);
    std::fs::read(&path).map_err(|e| {
        load_error(format!(
            "ONNX Runtime wrote no optimized model to {}: {e}",
            path.display()
        ))
    })
}

/// A session builder with `options` applied; runtime initialisation errors pass through as
/// they are, option errors become [`Error::Load`] for `model`.
fn builder(options: &SessionOptions, model: &str) -> Result<SessionBuilder> {
    let ort = environment::init()?;
    let load_error = |e: &dyn std::fmt::Display| Error::Load {
        model: model.into(),
        message: e.to_string(),
    };
    let mut builder = Session::builder(&ort.environment)
        .map_err(|e| load_error(&e))?
        .with_optimization_level(options.optimization_level.to_ort())
        .map_err(|e| load_error(&e))?
        // Failures come back to us as errors and are reported once, on one line; ONNX Runtime's
        // own log would print them again (and its warnings about unused initializers) to stderr.
        .with_log_level(ort::logging::LogLevel::Fatal)
        .map_err(|e| load_error(&e))?;
    if let Some(threads) = options.threads {
        builder = builder
            .with_intra_threads(threads)
            .map_err(|e| load_error(&e))?;
    }
    if let Device::Cuda(id) = options.device {
        builder = cuda::register(builder, id, model)?;
    }
    Ok(builder)
}

#[cfg(feature = "cuda")]
mod cuda {
    use ort::ep::ExecutionProvider;
    use ort::session::builder::SessionBuilder;

    use crate::{environment, Error, Result};

    pub fn check() -> Result<()> {
        let ort = environment::init()?;
        let available = ort::ep::CUDA::is_available().map_err(|e| Error::Init {
            message: e.to_string(),
        })?;
        if available {
            return Ok(());
        }
        Err(Error::DeviceUnavailable {
            device: "CUDA".into(),
            hint: format!(
                "ONNX Runtime {} at {} has no CUDA execution provider; install the \
                 onnxruntime-gpu wheel and point ORT_DYLIB_PATH at its libonnxruntime.so",
                ort.version,
                ort.path.display()
            ),
        })
    }

    /// Adds the CUDA execution provider, failing (rather than silently running on the CPU)
    /// when it cannot be set up.
    pub fn register(builder: SessionBuilder, id: i32, model: &str) -> Result<SessionBuilder> {
        check()?;
        builder
            .with_execution_providers([ort::ep::CUDA::default()
                .with_device_id(id)
                .build()
                .error_on_failure()])
            .map_err(|e| Error::DeviceUnavailable {
                device: format!("CUDA device {id}"),
                hint: format!("cannot run model {model} on it: {e}"),
            })
    }
}

#[cfg(not(feature = "cuda"))]
mod cuda {
    use ort::session::builder::SessionBuilder;

    use crate::{Error, Result};

    pub fn check() -> Result<()> {
        Err(Error::DeviceUnavailable {
            device: "CUDA".into(),
            hint: "this build of optimize has no CUDA support; rebuild with `--features cuda` \
                   and use a GPU build of ONNX Runtime (the onnxruntime-gpu wheel)"
                .into(),
        })
    }

    pub fn register(builder: SessionBuilder, _: i32, _: &str) -> Result<SessionBuilder> {
        check()?;
        Ok(builder)
    }
}
