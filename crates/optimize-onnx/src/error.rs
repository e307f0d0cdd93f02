//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong reading, checking or writing an ONNX model.
///
/// Each variant names the file it concerns and, where one is known, the tensor; its `Display` is a
/// single line a user can act on. [`Error::is_input_error`] tells a bad input apart from a failure
/// while working (the CLI maps them to exit codes 2 and 1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened or read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The path names a folder, not a model file.
    #[error("{}: is a directory, not an ONNX model file", path.display())]
    IsDirectory {
        /// The path.
        path: PathBuf,
    },
    /// The file has no bytes.
    #[error("{}: file is empty, not an ONNX model", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The bytes are not valid protobuf: random data, or a file cut short.
    #[error("{}: not a valid ONNX protobuf ({detail})", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder found, e.g. "truncated at byte 1234 of 5000".
        detail: String,
    },
    /// Valid protobuf, but not an ONNX model (no graph, no IR version).
    #[error("{}: valid protobuf but not an ONNX model: {detail}", path.display())]
    NotAModel {
        /// The file.
        path: PathBuf,
        /// Which required part is missing.
        detail: String,
    },
    /// A tensor declares an element type the ONNX spec does not define.
    #[error("{}: tensor '{tensor}' has unknown data type {code}", path.display())]
    UnknownDType {
        /// The model file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// The code found in `data_type`.
        code: i32,
    },
    /// A tensor's data does not hold as many elements as its shape and type require.
    #[error("{}: tensor '{tensor}' ({ty}) should hold {expected} but holds {found}", path.display())]
    DataLength {
        /// The model file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// Its element type and shape, e.g. `float32 [128, 64]`.
        ty: String,
        /// What the shape and type require, with its unit ("4096 bytes", "12 values").
        expected: String,
        /// What the tensor holds, in the same unit.
        found: String,
    },
    /// A tensor's shape is invalid (negative dimension, or element count overflows).
    #[error("{}: tensor '{tensor}' has invalid shape {dims:?}", path.display())]
    BadShape {
        /// The model file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// Its declared shape.
        dims: Vec<i64>,
    },
    /// An external-data reference is missing, escapes the model's folder, or points past the end
    /// of its file.
    #[error("{}: tensor '{tensor}': external data {detail}", path.display())]
    ExternalData {
        /// The model file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// What is wrong, with the data file's path.
        detail: String,
    },
    /// Writing the output failed; nothing was left at the destination.
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        /// The destination.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The destination is the input model (or one of its data files); we never write over inputs.
    #[error("{}: refusing to overwrite the input model; choose another output path", path.display())]
    WouldOverwriteInput {
        /// The destination.
        path: PathBuf,
    },
    /// The model cannot be serialized as asked (e.g. over 2 GB with external data disabled).
    #[error("{}: cannot save: {detail}", path.display())]
    Save {
        /// The destination.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The model's `ai.onnx` opset cannot be upgraded as asked: it imports none, the source or
    /// target is outside what [`crate::transform::upgrade_opset`] supports, or the model holds
    /// parts the upgrade does not rewrite (model-local functions, training graphs).
    #[error("cannot upgrade the ai.onnx opset to {to}: {detail}")]
    OpsetUnsupported {
        /// The opset asked for.
        to: i64,
        /// Why not.
        detail: String,
    },
    /// Nodes whose meaning changes between the two opsets in a way no rewrite keeps. The model
    /// was left as it was.
    #[error(
        "cannot upgrade the ai.onnx opset from {from} to {to}: {}",
        refused_list(nodes)
    )]
    OpsetRefused {
        /// The model's opset.
        from: i64,
        /// The opset asked for.
        to: i64,
        /// Every node refused, with the version step and the reason.
        nodes: Vec<crate::transform::RefusedNode>,
    },
}

/// "N node(s) would change meaning: A; B; ..." with at most ten nodes spelled out.
fn refused_list(nodes: &[crate::transform::RefusedNode]) -> String {
    const SHOWN: usize = 10;
    let mut s = format!(
        "{} node{} would change meaning: ",
        nodes.len(),
        if nodes.len() == 1 { "" } else { "s" }
    );
    let listed: Vec<String> = nodes.iter().take(SHOWN).map(|n| n.to_string()).collect();
    s += &listed.join("; ");
    if nodes.len() > SHOWN {
        s += &format!("; and {} more", nodes.len() - SHOWN);
    }
    s
}

impl Error {
    /// True when the error is about the input (missing, malformed or inconsistent file) rather than
    /// a failure while working, such as a full disk.
    pub fn is_input_error(&self) -> bool {
        !matches!(self, Error::Write { .. } | Error::Save { .. })
    }
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
