//! Choosing a back end for a model, with a fallback.
//!
//! [`load_model`] loads a model into the [`Backend`] asked for and, if that fails and a
//! fallback is allowed, into the other one. The rule, in full:
//!
//! 1. Load with the preferred back end. For tract, loading parses the model and checks that
//!    tract has every op type, so a missing operator fails here, named.
//! 2. If that fails and `fallback` is true, load with the other back end. Success returns the
//!    model, the back end that loaded it, and why the preferred one was passed over (its error
//!    on one line), so callers can put it in their report.
//! 3. If both fail, return the preferred back end's error: for tract, the one naming the
//!    operator; the other back end's error (typically "ONNX Runtime not found") adds nothing
//!    the user can act on for this model.
//! 4. tract only learns some limits when it plans for real input shapes (an `If` whose two
//!    branches give different shapes, as in Silero VAD). So with tract preferred and
//!    `fallback` true, the model returned switches to ONNX Runtime, for good, the first time
//!    tract fails to plan or run it for a reason other than bad inputs; that run is retried
//!    on ONNX Runtime. [`Model::backend`] and [`Model::fallback_reason`] then say so. If ONNX
//!    Runtime cannot load the model either, tract's error is returned.
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
use std::sync::{Mutex, OnceLock};

use optimize_data::Tensor;

use crate::{Error, Model, OrtSession, Result, SessionOptions, TensorInfo, TractSession};

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
            (Backend::Tract, source) => Box::new(TractSession::from_source(source, options)?),
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
/// [module doc](self) for the rule. Uses [`SessionOptions::default`]; see [`load_model_with`].
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
    if preferred == Backend::Tract && fallback {
        match TractSession::from_source(source, options) {
            Ok(tract) => {
                let model = TractThenOrt {
                    tract,
                    source: OwnedSource::from(source),
                    options: options.clone(),
                    switch: Mutex::new(()),
                    ort: OnceLock::new(),
                };
                return Ok((Box::new(model), Backend::Tract, None));
            }
            Err(tract_error) => {
                return match Backend::Ort.load(source, options) {
                    Ok(model) => Ok((model, Backend::Ort, Some(tract_error.to_string()))),
                    Err(_) => Err(tract_error),
                };
            }
        }
    }
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

/// A model source that outlives the call that gave it, for loading later.
#[derive(Debug)]
enum OwnedSource {
    File(PathBuf),
    Bytes(Vec<u8>),
}

impl OwnedSource {
    fn borrow(&self) -> ModelSource<'_> {
        match self {
            OwnedSource::File(path) => ModelSource::File(path),
            OwnedSource::Bytes(bytes) => ModelSource::Bytes(bytes),
        }
    }
}

impl From<ModelSource<'_>> for OwnedSource {
    fn from(source: ModelSource<'_>) -> Self {
        match source {
            ModelSource::File(path) => OwnedSource::File(path.to_path_buf()),
            ModelSource::Bytes(bytes) => OwnedSource::Bytes(bytes.to_vec()),
        }
    }
}

/// A model in tract that moves to ONNX Runtime the first time tract fails on it (rule 4 of
/// the module doc). Keeps the model's file path, or a copy of its bytes, to load it again.
struct TractThenOrt {
    tract: TractSession,
    source: OwnedSource,
    options: SessionOptions,
    /// Held while switching, so two failing runs load ONNX Runtime once.
    switch: Mutex<()>,
    /// Set once tract has failed: the ONNX Runtime session and tract's error.
    ort: OnceLock<(OrtSession, String)>,
}

impl TractThenOrt {
    /// Whether `error` is the caller's (a wrong input), which ONNX Runtime would reject too.
    fn is_input_error(error: &Error) -> bool {
        matches!(
            error,
            Error::UnknownInput { .. }
                | Error::MissingInput { .. }
                | Error::DuplicateInput { .. }
                | Error::InputMismatch { .. }
        )
    }

    /// The ONNX Runtime session, loaded now if tract has not failed before.
    fn switch_to_ort(&self, tract_error: Error) -> Result<&OrtSession> {
        let _guard = self.switch.lock().map_err(|_| Error::Run {
            message: "an earlier run panicked while switching to ONNX Runtime".into(),
        })?;
        if let Some((ort, _)) = self.ort.get() {
            return Ok(ort);
        }
        let ort = match self.source.borrow() {
            ModelSource::File(path) => OrtSession::from_file(path, &self.options),
            ModelSource::Bytes(bytes) => OrtSession::from_bytes(bytes, &self.options),
        }
        .map_err(|_| tract_error.clone())?;
        let (ort, _) = self.ort.get_or_init(|| (ort, tract_error.to_string()));
        Ok(ort)
    }
}

impl Model for TractThenOrt {
    fn inputs(&self) -> &[TensorInfo] {
        match self.ort.get() {
            Some((ort, _)) => ort.inputs(),
            None => self.tract.inputs(),
        }
    }

    fn outputs(&self) -> &[TensorInfo] {
        match self.ort.get() {
            Some((ort, _)) => ort.outputs(),
            None => self.tract.outputs(),
        }
    }

    fn run(&self, inputs: &[(String, Tensor)]) -> Result<Vec<(String, Tensor)>> {
        if let Some((ort, _)) = self.ort.get() {
            return ort.run(inputs);
        }
        match self.tract.run(inputs) {
            Err(e) if !Self::is_input_error(&e) => self.switch_to_ort(e)?.run(inputs),
            result => result,
        }
    }

    fn backend(&self) -> Option<Backend> {
        Some(match self.ort.get() {
            Some(_) => Backend::Ort,
            None => Backend::Tract,
        })
    }

    fn fallback_reason(&self) -> Option<String> {
        self.ort.get().map(|(_, why)| why.clone())
    }
}
