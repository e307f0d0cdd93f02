//! The error type of `optimize-distill`.

use std::path::PathBuf;

/// Everything that can go wrong while reading a recipe, loading data and models, training,
/// exporting or writing a report.
///
/// Grouped by stage. [`Error::is_input_error`] tells the caller's mistakes (a bad recipe, data
/// that does not fit the models: exit code 2 in the CLI) from failures while working.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- the recipe ---
    /// The recipe could not be read.
    #[error("{}: {source}", path.display())]
    ReadRecipe {
        /// The recipe file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The recipe is not valid TOML, has a key we do not know, or a value of the wrong type.
    #[error("{}:{line}: {key}: {message}", path.display())]
    Recipe {
        /// The recipe file.
        path: PathBuf,
        /// 1-based line of the offending key or value.
        line: usize,
        /// The key, with its table (`optimizer.lr`); `-` when the problem is not one key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A recipe value parses but is not allowed (split fractions that pass 1, a negative
    /// temperature, a layer that does not fit its input).
    #[error("{}: {key}: {message}", path.display())]
    InvalidRecipe {
        /// The recipe file (or `<config>` for configurations built in code).
        path: PathBuf,
        /// The key, with its table.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A file the recipe names does not exist or cannot be read.
    #[error("{key}: {}: {source}", path.display())]
    MissingFile {
        /// The recipe key that names it.
        key: String,
        /// The path, resolved against the recipe's folder.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },

    // --- data and models ---
    /// Data could not be read (names the file and the array).
    #[error(transparent)]
    Data(#[from] optimize_data::Error),
    /// A data file is malformed (CSV rows of different lengths, a value that is not a number).
    #[error("{}: {message}", path.display())]
    BadData {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line or array.
        message: String,
    },
    /// The data does not fit the models: wrong per-sample shape, labels out of range.
    #[error("{0}")]
    Shape(String),
    /// The teacher and the student disagree on the number of classes, or a hint's widths.
    #[error("teacher and student do not match: {0}")]
    Mismatch(String),
    /// The ONNX teacher could not be loaded or run.
    #[error("teacher: {0}")]
    Runtime(#[from] optimize_runtime::Error),
    /// The ONNX teacher file is not a usable model.
    #[error("teacher: {0}")]
    Onnx(#[from] optimize_onnx::Error),

    // --- training ---
    /// candle failed (shapes that do not broadcast, an op without a backward pass).
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// The loss became NaN or infinite. Nothing was written for this epoch; the last
    /// checkpoint, if any, stays as it was.
    #[error("{run}: the loss became {value} at epoch {epoch}, batch {batch}; lower the learning rate (now {lr:e}) or check the data for NaN/Inf{}", last_checkpoint.as_ref().map(|p| format!("; the last good checkpoint is {}", p.display())).unwrap_or_default())]
    NonFiniteLoss {
        /// Which training run (`distilled`, `alone`, a sweep trial).
        run: String,
        /// 1-based epoch.
        epoch: usize,
        /// 0-based batch within the epoch.
        batch: usize,
        /// The value (`NaN`, `inf`).
        value: f32,
        /// The learning rate at that step.
        lr: f64,
        /// The last checkpoint written before, if any.
        last_checkpoint: Option<PathBuf>,
    },
    /// An ONNX model cannot be read as a student (see [`crate::import`]).
    #[error("{}: cannot start the student from this model: {message}", path.display())]
    Import {
        /// The model.
        path: PathBuf,
        /// What the student cannot express.
        message: String,
    },
    /// A checkpoint could not be used to resume.
    #[error("{}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    // --- outputs ---
    /// An output could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The student could not be exported to ONNX or the export did not match candle.
    #[error("export: {0}")]
    Export(String),
    /// Measuring a model for the report failed.
    #[error("report: {0}")]
    Bench(#[from] optimize_bench::Error),
    /// A chart could not be drawn.
    #[error("chart {}: {message}", path.display())]
    Chart {
        /// The chart file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// Whether the caller can fix this by changing the recipe, the data or the models (exit
    /// code 2), rather than a failure while working (exit code 1).
    pub fn is_input_error(&self) -> bool {
        match self {
            Error::ReadRecipe { .. }
            | Error::Recipe { .. }
            | Error::InvalidRecipe { .. }
            | Error::MissingFile { .. }
            | Error::Data(_)
            | Error::BadData { .. }
            | Error::Shape(_)
            | Error::Mismatch(_)
            | Error::Onnx(_)
            | Error::Import { .. }
            | Error::Checkpoint { .. } => true,
            Error::Runtime(e) => matches!(
                e,
                optimize_runtime::Error::InputMismatch { .. }
                    | optimize_runtime::Error::UnknownInput { .. }
                    | optimize_runtime::Error::MissingInput { .. }
            ),
            _ => false,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
