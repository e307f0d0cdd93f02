//! The one error type of `optimize-quant`.
//!
//! Variants are grouped by what the user got wrong: the calibration settings
//! (a flag or a config value), the tensors handed to the quantization math,
//! and the outcome of calibration. Each carries what is needed to fix the
//! problem: the text that was given, the shape and axis, the tensor name.

/// Result of an `optimize-quant` operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while calibrating or quantizing.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- calibration settings -------------------------------------------------
    /// `--method` named no known calibration method.
    #[error(
        "unknown calibration method {given:?}: expected minmax, percentile[=P], entropy or mse"
    )]
    UnknownMethod {
        /// The text that was given.
        given: String,
    },

    /// A percentile that is not a number in `(0, 100]`.
    #[error("invalid percentile {given:?}: expected a number in (0, 100], e.g. percentile=99.999")]
    InvalidPercentile {
        /// The text that was given after `percentile=`.
        given: String,
    },

    /// A histogram bin count that the observers cannot use.
    #[error("invalid histogram bin count {bins}: expected an even number of at least 2")]
    InvalidBins {
        /// The bin count that was asked for.
        bins: usize,
    },

    // --- tensors handed to the quantization math ------------------------------
    /// The number of values does not match the product of the shape.
    #[error("tensor of shape {shape:?} holds {expected} values, found {found}")]
    ShapeMismatch {
        /// The shape that was given.
        shape: Vec<usize>,
        /// The product of `shape`.
        expected: usize,
        /// How many values were given.
        found: usize,
    },

    /// A per-channel axis that the tensor does not have.
    #[error("quantization axis {axis} is out of range for a tensor of rank {rank}")]
    AxisOutOfRange {
        /// The axis that was asked for.
        axis: usize,
        /// The rank of the tensor.
        rank: usize,
    },

    // --- calibration outcome --------------------------------------------------
    /// Calibration saw no finite value for a tensor, so it has no range.
    ///
    /// The tensor was never produced by the calibration data, or every value
    /// it took was NaN or infinite.
    #[error("calibration saw no finite value for tensor {tensor:?} ({non_finite} non-finite values skipped)")]
    EmptyObserver {
        /// The tensor's name in the model.
        tensor: String,
        /// How many NaN or infinite values were skipped.
        non_finite: u64,
    },

    // --- the model and the passes ----------------------------------------------
    /// The model could not be read, checked or written.
    #[error(transparent)]
    Onnx(#[from] std::sync::Arc<optimize_onnx::Error>),

    /// A runtime could not load or run the model.
    #[error(transparent)]
    Runtime(#[from] optimize_runtime::Error),

    /// Calibration or verification data could not be read or does not fit the model.
    #[error(transparent)]
    Data(#[from] optimize_data::Error),

    /// The model's opset is older than the quantized form needs.
    #[error("the model imports opset {have}; {form} needs opset {need} or later")]
    OpsetTooOld {
        /// The default-domain opset the model imports.
        have: i64,
        /// The opset the form needs.
        need: i64,
        /// The form asked for.
        form: String,
    },

    /// The model's opset is older than the quantized form needs, and upgrading it failed.
    #[error("the model imports opset {have}; {form} needs opset {need}, and upgrading the model failed: {detail}")]
    OpsetUpgradeFailed {
        /// The default-domain opset the model imports.
        have: i64,
        /// The opset the form needs.
        need: i64,
        /// The form asked for.
        form: String,
        /// Why the upgrade failed (the nodes it could not carry over).
        detail: String,
    },

    /// A tensor or node the pass cannot handle.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What, with its name.
        what: String,
    },

    /// The model is already quantized (or already fp16); quantizing again would compound errors.
    #[error("the model is already {summary}; quantizing it again would compound the errors")]
    AlreadyQuantized {
        /// What `inspect` calls its precision, e.g. `int8 (QDQ)`.
        summary: String,
    },

    /// No node of the model can be quantized with the given settings.
    #[error("nothing to quantize: {detail}")]
    NothingToQuantize {
        /// Why, e.g. which ops the model has.
        detail: String,
    },

    /// The job's settings are inconsistent or out of range.
    #[error("{0}")]
    Config(String),

    /// Data given to the job cannot be used with this model.
    #[error("{path}: {detail}")]
    BadData {
        /// The data file or folder.
        path: std::path::PathBuf,
        /// What is wrong.
        detail: String,
    },

    /// Verifying or measuring the output failed.
    #[error(transparent)]
    Bench(#[from] std::sync::Arc<optimize_bench::Error>),

    /// Running the calibration data through the model failed.
    #[error("calibration failed: {detail}")]
    Calibration {
        /// What failed, with the sample index.
        detail: String,
    },
}

impl Error {
    /// True when the error is about the input (model, data, flags) rather than a failure while
    /// working; the CLI exits with 2 for these and 1 otherwise.
    pub fn is_input_error(&self) -> bool {
        match self {
            Error::Onnx(e) => e.is_input_error(),
            Error::Bench(e) => e.is_input_error(),
            Error::Runtime(_) | Error::Calibration { .. } => false,
            _ => true,
        }
    }
}

impl From<optimize_bench::Error> for Error {
    fn from(e: optimize_bench::Error) -> Self {
        Error::Bench(std::sync::Arc::new(e))
    }
}

impl From<optimize_onnx::Error> for Error {
    fn from(e: optimize_onnx::Error) -> Self {
        Error::Onnx(std::sync::Arc::new(e))
    }
}
