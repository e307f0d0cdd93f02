//! Choosing a back end for a model, with a fallback.
//!
//! [`load_model`] loads a model into the [`Backend`] asked for and, if that fails and a
//! fallback is allowed, into the other one. The rule, in full:
//!
//! 1. Load with the preferred back end. For tract, loading includes analysing the model with
//!    its declared input shapes, so a missing operator fails here, naming it.
//! 2. If that fails and `fallback` is true, load with the other back end. Success returns the
//!    model, the back end that loaded it, and why the preferred one was passed over (its error
//!    on one line), so callers can put it in their report.
//! 3. If both fail, return the preferred back end's error: for tract, the one naming the
//!    operator; the other back end's error (typically "ONNX Runtime not found") adds nothing
//!    the user can act on for this model.
//!
//! A model that tract loads but cannot run at some input shape fails at
//! [`Model::run`](crate::Model::run) with
//! [`Error::UnsupportedOperator`](crate::Error::UnsupportedOperator); no fallback happens
//! then. Such models are rare (tract checks the ops and analyses the graph at load), and a
//! caller that meets one can call [`load_model`] again with [`Backend::Ort`].
//!
//! ```no_run
//! use optimize_runtime::{load_model, Backend};
//!
//! let path = std::path::Path::new("models/digits-mlp.onnx");
//! let (model, backend, why) = load_model(path, Backend::Tract, true)?;
//! if let Some(why) = why {
//!     eprintln!("running on {backend} because tract could not: {why}");
//! }
//! println!("{} inputs", model.inputs().len());
//! # Ok::<(), optimize_runtime::Error>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use crate::{Model, OrtSession, Result, SessionOptions, TractSession};

/// A back end that runs ONNX models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// tract: pure Rust, always available.
    Tract,
    /// ONNX Runtime, loaded at run time (see [`init`](crate::init)).
    Ort,
}

impl Backend {
    /// Short name for reports: `tract` or `onnxruntime`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Tract => "tract",
            Backend::Ort => "onnxruntime",
        }
    }

    /// The other back end, the one [`load_model`] falls back to.
    pub fn other(self) -> Backend {
        match self {
            Backend::Tract => Backend::Ort,
            Backend::Ort => Backend::Tract,
        }
    }

    /// Loads `source` with this back end alone.
    pub fn load(self, source: ModelSource<'_>, options: &SessionOptions) -> Result<Box<dyn Model>> {
        Ok(match (self, source) {
            (Backend::Tract, ModelSource::File(path)) => {
                Box::new(TractSession::from_file(path, options)?)
            }
            (Backend::Tract, ModelSource::Bytes(bytes)) => {
                Box::new(TractSession::from_bytes(bytes, options)?)
            }
            (Backend::Ort, ModelSource::File(path)) => {
                Box::new(OrtSession::from_file(path, options)?)
            }
            (Backend::Ort, ModelSource::Bytes(bytes)) => {
                Box::new(OrtSession::from_bytes(bytes, options)?)
            }
        })
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a model comes from: a file (external data is found beside it) or serialized bytes
/// (which must be self-contained).
#[derive(Debug, Clone, Copy)]
pub enum ModelSource<'a> {
    /// A model file.
    File(&'a Path),
    /// A serialized `ModelProto`.
    Bytes(&'a [u8]),
}

impl<'a> From<&'a Path> for ModelSource<'a> {
    fn from(path: &'a Path) -> Self {
        ModelSource::File(path)
    }
}

impl<'a> From<&'a PathBuf> for ModelSource<'a> {
    fn from(path: &'a PathBuf) -> Self {
        ModelSource::File(path)
    }
}

impl<'a> From<&'a [u8]> for ModelSource<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        ModelSource::Bytes(bytes)
    }
}

impl<'a> From<&'a Vec<u8>> for ModelSource<'a> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        ModelSource::Bytes(bytes)
    }
}

/// Loads a model with `preferred`, falling back to the other back end if allowed; see the
/// module doc for the rule. Uses [`SessionOptions::default`]; see [`load_model_with`].
///
/// Returns the model, the back end that loaded it, and, when that is not `preferred`, why
/// `preferred` could not (its error on one line).
pub fn load_model<'a>(
    source: impl Into<ModelSource<'a>>,
    preferred: Backend,
    fallback: bool,
) -> Result<(Box<dyn Model>, Backend, Option<String>)> {
    load_model_with(source, preferred, fallback, &SessionOptions::default())
}

/// [`load_model`] with session options for either back end.
pub fn load_model_with<'a>(
    source: impl Into<ModelSource<'a>>,
    preferred: Backend,
    fallback: bool,
    options: &SessionOptions,
) -> Result<(Box<dyn Model>, Backend, Option<String>)> {
    let source = source.into();
    let first = match preferred.load(source, options) {
        Ok(model) => return Ok((model, preferred, None)),
        Err(e) => e,
    };
    if !fallback {
        return Err(first);
    }
    let other = preferred.other();
    match other.load(source, options) {
        Ok(model) => Ok((model, other, Some(first.to_string()))),
        Err(_) => Err(first),
    }
}
