//! The error type of `optimize-bench`.

use std::path::PathBuf;

/// Everything that can go wrong while measuring a model or writing a report.
///
/// Grouped by stage: the configuration, the model and its inputs, evaluation data, running,
/// writing and reading reports. [`Error::is_input_error`] tells the caller's mistakes (exit
/// code 2 in the CLI) from failures while working.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- configuration ---
    /// A setting is out of range (zero iterations, batch 0, an unknown back end name).
    #[error("{0}")]
    InvalidConfig(String),

    // --- the model and its inputs ---
    /// An input's shape cannot be settled: a symbolic dimension without a `--shape` for it, a
    /// shape given for an input the model does not have, or one whose rank or fixed sizes
    /// disagree with the model.
    #[error("input `{input}`: {message}")]
    Shape {
        /// The model input.
        input: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Loading or running the model failed in the back end (a missing operator is named here,
    /// with its node).
    #[error(transparent)]
    Runtime(#[from] optimize_runtime::Error),
    /// The model file could not be read to size it.
    #[error(transparent)]
    Model(#[from] optimize_onnx::Error),

    // --- evaluation data ---
    /// The evaluation data could not be read or does not fit the model (names file and array).
    #[error(transparent)]
    Data(#[from] optimize_data::Error),
    /// Accuracy needs class scores, but the output is not `[batch, classes ≥ 2]`.
    #[error("output `{output}` has shape {shape:?}, not [batch, classes]: top-1 accuracy needs class scores")]
    NotAClassifier {
        /// The output.
        output: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// The evaluation data and the model's outputs do not go together.
    #[error("evaluation: {0}")]
    Eval(String),
    /// A rewritten model failed verification: it does not load or run in ONNX Runtime, or an
    /// output is missing.
    #[error("verification: {0}")]
    Verify(String),
    /// The model's outputs cannot be compared with the reference model's.
    #[error("compared with the reference {reference}: {source}")]
    Compare {
        /// The reference model.
        reference: String,
        /// Which output differs and how.
        source: crate::fidelity::CompareError,
    },

    /// A measuring child process failed while working.
    #[error("{0}")]
    Worker(String),

    // --- reports ---
    /// A report file or folder could not be written.
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A saved result could not be read back.
    #[error("cannot read {}: {message}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Drawing a chart failed.
    #[error("cannot draw chart {}: {message}", .path.display())]
    Chart {
        /// The chart file.
        path: PathBuf,
        /// plotters' message.
        message: String,
    },
}

impl Error {
    /// True for the caller's mistakes: a bad setting, a model or input that does not fit,
    /// unreadable evaluation data or saved results, a back end that cannot run this model or
    /// is not available here. False for failures while working (writing files, a run that
    /// fails midway).
    pub fn is_input_error(&self) -> bool {
        use optimize_runtime::Error as R;
        match self {
            Error::InvalidConfig(_)
            | Error::Shape { .. }
            | Error::Data(_)
            | Error::NotAClassifier { .. }
            | Error::Eval(_)
            | Error::Compare { .. }
            | Error::Read { .. } => true,
            Error::Model(e) => e.is_input_error(),
            Error::Runtime(e) => matches!(
                e,
                R::Load { .. }
                    | R::UnsupportedOperator { .. }
                    | R::DeviceUnavailable { .. }
                    | R::UnknownInput { .. }
                    | R::MissingInput { .. }
                    | R::DuplicateInput { .. }
                    | R::InputMismatch { .. }
                    | R::UnsupportedDType { .. }
            ),
            Error::Write { .. } | Error::Chart { .. } | Error::Verify(_) | Error::Worker(_) => {
                false
            }
        }
    }
}

impl From<std::convert::Infallible> for Error {
    fn from(e: std::convert::Infallible) -> Self {
        match e {}
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
