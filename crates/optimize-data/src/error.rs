//! The error type of `optimize-data`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::DType;

/// Everything that can go wrong while building, reading, writing or generating tensors.
///
/// Variants about files name the file and, where one is known, the array; their `Display` is
/// one line a user can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- Tensors in memory -------------------------------------------------------------
    /// The raw data does not hold exactly `numel * dtype.size_of()` bytes for the shape.
    #[error("tensor of dtype {dtype} and shape {shape:?} needs {expected} bytes, got {found}")]
    ByteLength {
        /// Element type of the tensor.
        dtype: DType,
        /// Shape the data was meant to fill.
        shape: Vec<usize>,
        /// Bytes the shape needs.
        expected: usize,
        /// Bytes that were given.
        found: usize,
    },
    /// A typed constructor got a different number of elements than the shape holds.
    #[error("shape {shape:?} holds {expected} elements, got {found}")]
    ElementCount {
        /// Shape the data was meant to fill.
        shape: Vec<usize>,
        /// Elements the shape holds.
        expected: usize,
        /// Elements that were given.
        found: usize,
    },
    /// The number of elements or bytes of a shape does not fit in `usize`.
    #[error("shape {shape:?} is too large: its element or byte count overflows usize")]
    ShapeOverflow {
        /// The offending shape.
        shape: Vec<usize>,
    },
    /// A typed accessor was called on a tensor of another dtype.
    #[error("tensor has dtype {found}, asked for {expected}")]
    DTypeMismatch {
        /// The dtype the caller asked for.
        expected: DType,
        /// The tensor's dtype.
        found: DType,
    },
    /// A dtype name was not recognised.
    #[error("unknown dtype `{name}`; expected one of f32, f16, bf16, f64, i8, u8, i16, u16, i32, u32, i64, u64, bool")]
    UnknownDType {
        /// The name that was given.
        name: String,
    },
    /// A random range is empty, not finite, or does not fit the dtype.
    #[error("invalid random range for {dtype}: {reason}")]
    InvalidRange {
        /// The dtype being generated.
        dtype: DType,
        /// Why the range was rejected.
        reason: String,
    },

    // ---- Files: I/O ----------------------------------------------------------------------
    /// A file or folder could not be opened, read or listed.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// The underlying I/O error.
        source: IoError,
    },
    /// A file could not be created or written.
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        source: IoError,
    },

    // ---- Files: formats ------------------------------------------------------------------
    /// The bytes are not a `.npy` array: wrong magic, a header that does not parse, missing
    /// keys, a negative or overflowing shape.
    #[error("{}: not a valid .npy array: {detail}", at(path, array))]
    Npy {
        /// The file (for an `.npz` member, the archive).
        path: PathBuf,
        /// The `.npz` member's array name, if the array came from an archive.
        array: Option<String>,
        /// What is wrong, e.g. "header has no 'shape' key".
        detail: String,
    },
    /// A well-formed `.npy` array that uses something this crate does not read: Fortran order,
    /// big-endian or object data, a structured or unknown dtype, an unknown format version.
    #[error("{}: unsupported .npy array: {what}", at(path, array))]
    UnsupportedNpy {
        /// The file (for an `.npz` member, the archive).
        path: PathBuf,
        /// The `.npz` member's array name, if the array came from an archive.
        array: Option<String>,
        /// What is unsupported, and how to save the data instead.
        what: String,
    },
    /// The data after a header is shorter or longer than the header's dtype and shape need:
    /// a truncated file, or a header lying about the shape.
    #[error("{}: header says {dtype} {shape:?}, which needs {expected} bytes of data, but {found} bytes follow", at(path, array))]
    DataLength {
        /// The file (for an `.npz` member, the archive).
        path: PathBuf,
        /// The array's name, if known.
        array: Option<String>,
        /// The dtype the header declares.
        dtype: DType,
        /// The shape the header declares.
        shape: Vec<usize>,
        /// Bytes of data the header implies.
        expected: u64,
        /// Bytes of data actually present.
        found: u64,
    },
    /// The file is not a readable zip archive (`.npz`), or a member could not be opened.
    #[error("{}: not a valid .npz (zip) archive: {detail}", path.display())]
    Zip {
        /// The archive.
        path: PathBuf,
        /// What the zip reader or writer reported.
        detail: String,
    },
    /// The file is not a valid safetensors file.
    #[error("{}: not a valid safetensors file: {detail}", path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong with the header or offsets.
        detail: String,
    },
    /// An array in a file has an element type that [`DType`] does not cover
    /// (safetensors `F8_E4M3`, `C64`, …).
    #[error("{}: array '{array}' has dtype {found}, which optimize-data does not support", path.display())]
    UnsupportedDType {
        /// The file.
        path: PathBuf,
        /// The array's name.
        array: String,
        /// The dtype as the file spells it.
        found: String,
    },
    /// Two arrays in one file, or two arrays given to a writer, have the same name.
    #[error("{}: more than one array is named '{array}'", path.display())]
    DuplicateArray {
        /// The file.
        path: PathBuf,
        /// The repeated name.
        array: String,
    },
    /// A tensor's dtype has no NumPy equivalent, so it cannot be written as `.npy`/`.npz`.
    #[error("{}: cannot write a {dtype} tensor as .npy: NumPy has no {dtype} dtype; convert it to f32 first", at(path, array))]
    NoNumpyDType {
        /// The file being written.
        path: PathBuf,
        /// The array's name, when writing an `.npz`.
        array: Option<String>,
        /// The tensor's dtype.
        dtype: DType,
    },
    /// An array name cannot be stored in an `.npz` archive.
    #[error("{}: cannot store an array named {array:?}: {reason}", path.display())]
    BadArrayName {
        /// The archive being written.
        path: PathBuf,
        /// The name.
        array: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A file that is none of `.npy`, `.npz` or `.safetensors`.
    #[error("{}: not a data file: expected a .npy, .npz or .safetensors file, or a folder of them", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// A folder that holds no `.npy`, `.npz` or `.safetensors` file.
    #[error("{}: folder holds no .npy, .npz or .safetensors file{}", path.display(), ignored_note(ignored))]
    NoDataFiles {
        /// The folder.
        path: PathBuf,
        /// Names of the entries that were skipped (other extensions, sub-folders).
        ignored: Vec<String>,
    },
    /// A file does not hold an array of that name.
    #[error("{}: no array named '{array}' (found: {})", path.display(), names_or_none(found))]
    NoSuchArray {
        /// The file or data set.
        path: PathBuf,
        /// The name asked for.
        array: String,
        /// The names that are there.
        found: Vec<String>,
    },

    // ---- Calibration sets ------------------------------------------------------------------
    /// A model input cannot be fed one sample at a time: it has no axes, its first (batch)
    /// axis is fixed to a size other than 1, or two inputs share a name.
    #[error("model input '{input}' cannot be calibrated: {reason}")]
    InputSpec {
        /// The model input.
        input: String,
        /// What is wrong with its declaration.
        reason: String,
    },
    /// A data file has no array for one of the model's inputs.
    #[error("{}: no array for model input '{input}' (found: {})", path.display(), names_or_none(found))]
    MissingInput {
        /// The data file.
        path: PathBuf,
        /// The model input.
        input: String,
        /// The arrays the file holds.
        found: Vec<String>,
    },
    /// An array's dtype differs from its model input's; no conversion is made.
    #[error("{}: array '{array}' is {} but model input '{array}' is {}; save it as {}", path.display(), numpy_name(*found), numpy_name(*expected), numpy_name(*expected))]
    InputDType {
        /// The data file.
        path: PathBuf,
        /// The array, named after the model input.
        array: String,
        /// The array's dtype.
        found: DType,
        /// The model input's dtype.
        expected: DType,
    },
    /// One sample of an array (its shape without the first axis) does not fit the model
    /// input's shape without its batch axis.
    #[error("{}: array '{array}' sample shape {sample:?} does not fit model input {} (the array's first axis counts samples; each sample is fed with a batch axis of 1)", path.display(), model_shape(model))]
    SampleShape {
        /// The data file.
        path: PathBuf,
        /// The array, named after the model input.
        array: String,
        /// The shape of one sample (the array's shape without its first axis).
        sample: Vec<usize>,
        /// The model input's shape; `None` for a symbolic dimension.
        model: Vec<Option<usize>>,
    },
    /// An array in a calibration file has no first axis to index samples by.
    #[error("{}: array '{array}' is a 0-d scalar; every array in a calibration file needs a first axis that counts samples", path.display())]
    NoSampleAxis {
        /// The data file.
        path: PathBuf,
        /// The array.
        array: String,
    },
    /// Two arrays in one file hold different numbers of samples.
    #[error("{}: array '{first}' holds {first_count} samples but array '{array}' holds {count}", path.display())]
    SampleCount {
        /// The data file.
        path: PathBuf,
        /// The first array of the file.
        first: String,
        /// Samples in `first`.
        first_count: usize,
        /// The array that disagrees.
        array: String,
        /// Samples in `array`.
        count: usize,
    },
    /// A single `.npy` file was given for a model with other than one input.
    #[error("{}: a .npy file holds one array, but the model has {} inputs ({}); use .npz or .safetensors with one array per input", path.display(), inputs.len(), inputs.join(", "))]
    NpyNeedsOneInput {
        /// The `.npy` file.
        path: PathBuf,
        /// The model's inputs.
        inputs: Vec<String>,
    },
    /// A file in a calibration folder does not hold the same arrays as the first file, or a
    /// file changed between opening the set and reading it.
    #[error("{}: {detail} (compared with {})", path.display(), first.display())]
    FilesDisagree {
        /// The file that disagrees.
        path: PathBuf,
        /// The file it was compared with.
        first: PathBuf,
        /// What differs.
        detail: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A shared [`std::io::Error`], so that [`Error`] stays `Clone` and `PartialEq`.
///
/// Two `IoError`s are equal when their [`kind`](std::io::Error::kind) and message are.
#[derive(Debug, Clone)]
pub struct IoError(Arc<std::io::Error>);

impl IoError {
    /// The underlying error.
    pub fn get(&self) -> &std::io::Error {
        &self.0
    }

    /// The kind of the underlying error.
    pub fn kind(&self) -> std::io::ErrorKind {
        self.0.kind()
    }
}

impl From<std::io::Error> for IoError {
    fn from(e: std::io::Error) -> Self {
        Self(Arc::new(e))
    }
}

impl PartialEq for IoError {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind() && self.0.to_string() == other.0.to_string()
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for IoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl Error {
    /// A [`Error::Read`] for `path`.
    pub(crate) fn read(path: &Path, e: std::io::Error) -> Self {
        Error::Read {
            path: path.to_path_buf(),
            source: e.into(),
        }
    }

    /// A [`Error::Write`] for `path`.
    pub(crate) fn write(path: &Path, e: std::io::Error) -> Self {
        Error::Write {
            path: path.to_path_buf(),
            source: e.into(),
        }
    }
}

/// `file` or `file: array 'name'`.
fn at(path: &Path, array: &Option<String>) -> String {
    match array {
        Some(a) => format!("{}: array '{a}'", path.display()),
        None => path.display().to_string(),
    }
}

fn names_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

fn ignored_note(ignored: &[String]) -> String {
    if ignored.is_empty() {
        String::new()
    } else {
        format!(" (ignored: {})", ignored.join(", "))
    }
}

/// `[?, 64]`: a model input's shape with symbolic dimensions as `?`.
pub(crate) fn model_shape(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> = shape
        .iter()
        .map(|d| d.map_or_else(|| "?".to_string(), |d| d.to_string()))
        .collect();
    format!("[{}]", dims.join(", "))
}

/// The NumPy name of a dtype (`float32`, `int64`, `bool`), as users write it in `astype`.
pub(crate) fn numpy_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "float32",
        DType::F16 => "float16",
        DType::BF16 => "bfloat16",
        DType::F64 => "float64",
        DType::I8 => "int8",
        DType::U8 => "uint8",
        DType::I16 => "int16",
        DType::U16 => "uint16",
        DType::I32 => "int32",
        DType::U32 => "uint32",
        DType::I64 => "int64",
        DType::U64 => "uint64",
        DType::Bool => "bool",
    }
}
