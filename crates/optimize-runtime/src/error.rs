//! The error type of `optimize-runtime`.

use std::path::PathBuf;

/// Everything that can go wrong while finding a runtime, loading a model or running it.
///
/// Variants are grouped by stage: finding and loading the runtime library, loading a model,
/// checking inputs, running. `Clone` so that a failed one-time initialisation can hand the
/// same error to every caller.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- finding and loading the ONNX Runtime library ---
    /// No ONNX Runtime shared library was found; `hint` says how to get one.
    #[error("{hint} (searched: {})", display_paths(.searched))]
    LibraryNotFound {
        /// Every path and location that was tried, in order.
        searched: Vec<PathBuf>,
        /// What to do about it.
        hint: String,
    },
    /// The library file exists but could not be loaded as ONNX Runtime.
    #[error("cannot load ONNX Runtime from {}: {message}", .path.display())]
    LibraryLoad {
        /// The library file.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },
    /// The library is a version of ONNX Runtime this build cannot use.
    #[error(
        "ONNX Runtime {found} at {} is not supported: need {required}; \
         run `scripts/setup-venv.sh` (onnxruntime==1.31.1) or point ORT_DYLIB_PATH at a supported build",
        .path.display()
    )]
    UnsupportedVersion {
        /// The library file.
        path: PathBuf,
        /// The version it reports.
        found: String,
        /// The versions that work.
        required: String,
    },
    /// ONNX Runtime loaded but its environment could not be created.
    #[error("cannot initialise ONNX Runtime: {message}")]
    Init {
        /// ONNX Runtime's message.
        message: String,
    },

    /// The device asked for cannot be used: this build lacks it, or the ONNX Runtime library
    /// found has no execution provider for it, or there is no such hardware.
    #[error("{device} is not available: {hint}")]
    DeviceUnavailable {
        /// The device, e.g. `CUDA`.
        device: String,
        /// Why, and how to get it.
        hint: String,
    },

    // --- loading a model ---
    /// The back end rejected the model or the session options.
    #[error("cannot load model {model}: {message}")]
    Load {
        /// The model's path, or `<bytes>` for a model given in memory.
        model: String,
        /// The back end's message (for tract, its error chain on one line).
        message: String,
    },

    /// tract cannot run an operator of the model: it has no implementation of the op type, or
    /// it cannot handle this node (its attributes, input types or shapes). ONNX Runtime may
    /// still run the model; see [`load_model`](crate::load_model).
    #[error("tract cannot run model {model}: node `{node}` ({op}): {message}")]
    UnsupportedOperator {
        /// The model's path, or `<bytes>` for a model given in memory.
        model: String,
        /// The ONNX op type, prefixed by its domain when that is not the default one
        /// (`com.microsoft.FusedConv`).
        op: String,
        /// The node's name (its first output's name when the node has none).
        node: String,
        /// tract's error chain on one line, or what tract lacks.
        message: String,
    },

    // --- checking inputs ---
    /// An input was given that the model does not have.
    #[error("model has no input named `{name}`; its inputs are {}", display_names(.expected))]
    UnknownInput {
        /// The name that was given.
        name: String,
        /// The model's input names.
        expected: Vec<String>,
    },
    /// A model input was not given.
    #[error("input `{name}` is missing")]
    MissingInput {
        /// The input's name.
        name: String,
    },
    /// The same input was given twice.
    #[error("input `{name}` is given more than once")]
    DuplicateInput {
        /// The input's name.
        name: String,
    },
    /// An input tensor's dtype or shape does not match what the model declares.
    #[error("input `{name}`: model expects {expected}, got {found}")]
    InputMismatch {
        /// The input's name.
        name: String,
        /// Declared dtype and shape, e.g. `f32 [batch, 64]`.
        expected: String,
        /// The given tensor's dtype and shape, e.g. `i64 [2, 64]`.
        found: String,
    },
    /// A model input or output has a type this crate cannot represent as a
    /// [`Tensor`](optimize_data::Tensor) (strings, sequences, maps, complex, 4-bit, 8-bit float).
    #[error("`{name}` has type {onnx_type}, which optimize cannot pass to or read from a model")]
    UnsupportedDType {
        /// The input or output name.
        name: String,
        /// The type as ONNX Runtime describes it.
        onnx_type: String,
    },

    // --- running ---
    /// The back end failed while running the model.
    #[error("running the model failed: {message}")]
    Run {
        /// The back end's message (for tract, its error chain on one line).
        message: String,
    },
    /// A tensor could not be built from what the runtime returned.
    #[error(transparent)]
    Data(#[from] optimize_data::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn display_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "nothing".into();
    }
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

fn display_names(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!("[{}]", quoted.join(", "))
}
