//! Loading ONNX Runtime once per process.
//!
//! [`init`] finds the library ([`find_onnxruntime`]), checks its
//! version, hands it to the `ort` crate and creates the ONNX Runtime environment every session
//! shares. This happens on the first call only; later calls return the same
//! [`OrtLibrary`], or the same error, without searching again. Nothing here panics on a
//! missing or wrong library: `ort`'s own fallback loader would, so no `ort` API is touched
//! before the library has been loaded and checked.
//!
//! Supported versions: ONNX Runtime 1.x with x ≥ [`ort::MINOR_VERSION`] (31 for this build),
//! which must also hand out API version [`ort::MINOR_VERSION`].

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

use crate::{find_onnxruntime, Error, Result};

/// The ONNX Runtime library this process loaded.
#[derive(Debug)]
pub struct OrtLibrary {
    /// The shared library file.
    pub path: PathBuf,
    /// Its version, e.g. `1.31.1`.
    pub version: String,
    pub(crate) environment: Environment,
    /// Keeps our own handle open so the library is never unloaded under `ort`.
    _library: libloading::Library,
}

static ORT: OnceLock<Result<OrtLibrary>> = OnceLock::new();

/// Loads ONNX Runtime on first use and returns it; see the module doc.
pub fn init() -> Result<&'static OrtLibrary> {
    ORT.get_or_init(|| find_onnxruntime().and_then(|path| load(&path)))
        .as_ref()
        .map_err(Clone::clone)
}

fn load(path: &Path) -> Result<OrtLibrary> {
    let (library, version) = probe(path)?;
    ort::init_from(path)
        .map_err(|e| Error::LibraryLoad {
            path: path.into(),
            message: e.to_string(),
        })?
        .with_name("optimize")
        .with_telemetry(false)
        .build()
        .map(|environment| OrtLibrary {
            path: path.into(),
            version,
            environment,
            _library: library,
        })
        .map_err(|e| Error::Init {
            message: e.to_string(),
        })
}

/// Opens the library, reads its version and checks that it serves the API `ort` needs.
fn probe(path: &Path) -> Result<(libloading::Library, String)> {
    let load_error = |message: String| Error::LibraryLoad {
        path: path.into(),
        message,
    };
    // SAFETY: loading a shared library runs its initialisers; this is the library the user
    // pointed us at (or the one in their Python environment), which we are about to use anyway.
    let library =
        unsafe { libloading::Library::new(path) }.map_err(|e| load_error(e.to_string()))?;
    // SAFETY: `OrtGetApiBase` has this signature in every ONNX Runtime release (C API, stable).
    let get_base = unsafe {
        library.get::<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase>(b"OrtGetApiBase\0")
    }
    .map_err(|e| load_error(format!("not an ONNX Runtime library ({e})")))?;
    // SAFETY: calling the C entry point; it returns a pointer to a static struct or null.
    let base = unsafe { get_base() };
    if base.is_null() {
        return Err(load_error("OrtGetApiBase returned null".into()));
    }
    // SAFETY: `base` is non-null and points to ONNX Runtime's static `OrtApiBase`, whose
    // `GetVersionString` returns a static NUL-terminated string.
    let version = unsafe {
        let ptr = ((*base).GetVersionString)();
        if ptr.is_null() {
            return Err(load_error("GetVersionString returned null".into()));
        }
        CStr::from_ptr(ptr).to_string_lossy().into_owned()
    };
    let required = format!("ONNX Runtime 1.x with x >= {}", ort::MINOR_VERSION);
    let unsupported = || Error::UnsupportedVersion {
        path: path.into(),
        found: version.clone(),
        required: required.clone(),
    };
    if !is_supported_version(&version) {
        return Err(unsupported());
    }
    // SAFETY: as above; `GetApi` returns null for API versions the library does not serve.
    let api = unsafe { ((*base).GetApi)(ort::MINOR_VERSION) };
    if api.is_null() {
        return Err(unsupported());
    }
    Ok((library, version))
}

/// True for `1.x[.y…]` with `x >= ort::MINOR_VERSION`.
fn is_supported_version(version: &str) -> bool {
    let mut parts = version.split('.');
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
    matches!((major, minor), (Some(1), Some(minor)) if minor >= ort::MINOR_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(ort::MINOR_VERSION, 31);
        assert!(is_supported_version("1.31.1"));
        assert!(is_supported_version("1.32.0"));
        assert!(!is_supported_version("1.30.0"));
        assert!(!is_supported_version("2.0.0"));
        assert!(!is_supported_version("garbage"));
    }

    #[test]
    fn probing_a_non_library_is_an_error_not_a_panic() {
        let tmp = tempfile::tempdir().unwrap();
        let fake = tmp.path().join("libonnxruntime.so");
        std::fs::write(&fake, b"not an elf file").unwrap();
        let err = probe(&fake).unwrap_err();
        assert!(matches!(err, Error::LibraryLoad { .. }), "{err:?}");
        assert!(err.to_string().contains(&fake.display().to_string()));
    }
}
