//! Finding the ONNX Runtime shared library.
//!
//! `optimize` does not link ONNX Runtime; it loads `libonnxruntime.so` (`.dylib`,
//! `onnxruntime.dll`) at run time from the first of these that has one:
//!
//! 1. `ORT_DYLIB_PATH`, if set: the library file itself. If it does not exist, the search
//!    stops there with an error naming it, rather than silently using another library.
//! 2. A virtual environment `.venv` in the current directory or any ancestor directory:
//!    `.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so*`
//!    (`.venv/Lib/site-packages/…` on Windows). Walking up means tests run from a crate folder
//!    still find the workspace's `.venv`, which `scripts/setup-venv.sh` creates. Then the same
//!    walk from the running executable's folder, so `target/release/optimize` run from
//!    anywhere finds its checkout's `.venv`.
//! 3. The `onnxruntime` package of the active Python: `$VIRTUAL_ENV/bin/python` when
//!    `VIRTUAL_ENV` is set, else `python3` on `PATH`, asked where the package lives.
//!
//! Otherwise [`Error::LibraryNotFound`] lists every place tried and says how to fix it.
//! [`LibrarySearch`] holds the inputs of the search, so it can be run against a made-up
//! environment; [`find_onnxruntime`] runs it against the real one.
//!
//! ```no_run
//! let path = optimize_runtime::find_onnxruntime()?;
//! println!("using {}", path.display());
//! # Ok::<(), optimize_runtime::Error>(())
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// What to do when ONNX Runtime is not found.
pub const NOT_FOUND_HINT: &str = "ONNX Runtime library not found; run `scripts/setup-venv.sh` \
     (creates .venv with onnxruntime==1.31.1) or set ORT_DYLIB_PATH=/path/to/libonnxruntime.so";

/// The inputs of a search for the ONNX Runtime library (see the module doc for the order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibrarySearch {
    /// Value of `ORT_DYLIB_PATH`, if set and non-empty.
    pub ort_dylib_path: Option<PathBuf>,
    /// Directory to start looking for `.venv` from, walking up to the root.
    pub start_dir: Option<PathBuf>,
    /// A second directory to walk up from: the running executable's, so a binary built in a
    /// checkout (`target/release/optimize`) finds the checkout's `.venv` from any folder.
    pub exe_dir: Option<PathBuf>,
    /// Python interpreter to ask for its `onnxruntime` package; `None` skips this step.
    pub python: Option<PathBuf>,
}

impl LibrarySearch {
    /// The search this process would do: `ORT_DYLIB_PATH`, the current directory, the
    /// executable's directory, and `$VIRTUAL_ENV/bin/python` or `python3`.
    pub fn from_env() -> Self {
        let non_empty = |v: Option<OsString>| v.filter(|v| !v.is_empty());
        let python = match non_empty(std::env::var_os("VIRTUAL_ENV")) {
            Some(venv) => venv_python(Path::new(&venv)),
            None => PathBuf::from(if cfg!(windows) { "python" } else { "python3" }),
        };
        Self {
            ort_dylib_path: non_empty(std::env::var_os("ORT_DYLIB_PATH")).map(PathBuf::from),
            start_dir: std::env::current_dir().ok(),
            exe_dir: std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(Path::to_path_buf)),
            python: Some(python),
        }
    }

    /// Runs the search; the path returned exists and is a file.
    pub fn find(&self) -> Result<PathBuf> {
        let mut searched = Vec::new();

        if let Some(path) = &self.ort_dylib_path {
            if path.is_file() {
                return Ok(path.clone());
            }
            return Err(Error::LibraryNotFound {
                searched: vec![path.clone()],
                hint: format!(
                    "ORT_DYLIB_PATH={} does not exist or is not a file; point it at \
                     libonnxruntime.so, or unset it and run `scripts/setup-venv.sh`",
                    path.display()
                ),
            });
        }

        for start in self.start_dir.iter().chain(&self.exe_dir) {
            for dir in start.ancestors() {
                if searched.contains(&dir.join(".venv")) {
                    continue;
                }
                let venv = dir.join(".venv");
                searched.push(venv.clone());
                if let Some(lib) = venv_site_packages(&venv)
                    .iter()
                    .find_map(|sp| library_in_package(&sp.join("onnxruntime")))
                {
                    return Ok(lib);
                }
            }
        }

        if let Some(python) = &self.python {
            searched.push(python.clone());
            if let Some(lib) = python_package_dir(python).and_then(|dir| library_in_package(&dir)) {
                return Ok(lib);
            }
        }

        Err(Error::LibraryNotFound {
            searched,
            hint: NOT_FOUND_HINT.into(),
        })
    }
}

/// Finds the ONNX Runtime library the way this process would load it (see the module doc).
pub fn find_onnxruntime() -> Result<PathBuf> {
    LibrarySearch::from_env().find()
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// `site-packages` folders of a virtual environment, sorted so the result is stable.
fn venv_site_packages(venv: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let windows = venv.join("Lib").join("site-packages");
    if windows.is_dir() {
        found.push(windows);
    }
    if let Ok(entries) = std::fs::read_dir(venv.join("lib")) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("python3") {
                let sp = entry.path().join("site-packages");
                if sp.is_dir() {
                    found.push(sp);
                }
            }
        }
    }
    found.sort();
    found
}

/// The shared library inside an `onnxruntime` Python package folder, if any.
///
/// Wheels ship `capi/libonnxruntime.so.<version>` (Linux), `capi/libonnxruntime.<version>.dylib`
/// (macOS) or `capi/onnxruntime.dll` (Windows), next to provider libraries such as
/// `libonnxruntime_providers_shared.so`, which must not match.
pub fn library_in_package(package: &Path) -> Option<PathBuf> {
    let capi = package.join("capi");
    let mut names: Vec<String> = std::fs::read_dir(&capi)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_library_name(n))
        .collect();
    // Prefer the plain name, then the shortest (least decorated) versioned one.
    names.sort_by_key(|n| (n.len(), n.clone()));
    names
        .into_iter()
        .map(|n| capi.join(n))
        .find(|p| p.is_file())
}

fn is_library_name(name: &str) -> bool {
    let version = |v: &str| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.');
    name == "libonnxruntime.so"
        || name.strip_prefix("libonnxruntime.so.").is_some_and(version)
        || name == "libonnxruntime.dylib"
        || name
            .strip_prefix("libonnxruntime.")
            .and_then(|rest| rest.strip_suffix(".dylib"))
            .is_some_and(version)
        || name == "onnxruntime.dll"
}

/// Asks `python` where its `onnxruntime` package is; `None` if it cannot say.
fn python_package_dir(python: &Path) -> Option<PathBuf> {
    let output = Command::new(python)
        .args([
            "-c",
            "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = String::from_utf8(output.stdout).ok()?;
    let dir = dir.trim();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"").unwrap();
    }

    #[test]
    fn bogus_ort_dylib_path_is_a_clear_error_and_stops_the_search() {
        let tmp = tempfile::tempdir().unwrap();
        // A valid .venv is present, but an explicit ORT_DYLIB_PATH wins, even when wrong.
        touch(
            &tmp.path().join(
                ".venv/lib/python3.11/site-packages/onnxruntime/capi/libonnxruntime.so.1.31.1",
            ),
        );
        let search = LibrarySearch {
            ort_dylib_path: Some("/nonexistent/libonnxruntime.so".into()),
            start_dir: Some(tmp.path().into()),
            exe_dir: None,
            python: None,
        };
        let err = search.find().unwrap_err();
        let Error::LibraryNotFound { searched, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(searched, &[PathBuf::from("/nonexistent/libonnxruntime.so")]);
        let msg = err.to_string();
        assert!(
            msg.contains("ORT_DYLIB_PATH=/nonexistent/libonnxruntime.so does not exist"),
            "{msg}"
        );
        assert!(msg.contains("scripts/setup-venv.sh"), "{msg}");
    }

    #[test]
    fn ort_dylib_path_that_exists_is_used() {
        let tmp = tempfile::tempdir().unwrap();
        let lib = tmp.path().join("custom.so");
        touch(&lib);
        let search = LibrarySearch {
            ort_dylib_path: Some(lib.clone()),
            start_dir: None,
            exe_dir: None,
            python: None,
        };
        assert_eq!(search.find().unwrap(), lib);
    }

    #[test]
    fn venv_is_found_from_a_nested_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let capi = tmp
            .path()
            .join(".venv/lib/python3.12/site-packages/onnxruntime/capi");
        touch(&capi.join("libonnxruntime_providers_shared.so"));
        touch(&capi.join("libonnxruntime.so.1.31.1"));
        let nested = tmp.path().join("crates/optimize-runtime");
        std::fs::create_dir_all(&nested).unwrap();
        let search = LibrarySearch {
            ort_dylib_path: None,
            start_dir: Some(nested),
            exe_dir: None,
            python: None,
        };
        assert_eq!(
            search.find().unwrap(),
            capi.join("libonnxruntime.so.1.31.1")
        );
    }

    #[test]
    fn nothing_found_lists_what_was_searched_and_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let start = tmp.path().join("a");
        std::fs::create_dir_all(&start).unwrap();
        let search = LibrarySearch {
            ort_dylib_path: None,
            start_dir: Some(start.clone()),
            exe_dir: None,
            python: Some(tmp.path().join("no-such-python")),
        };
        let err = search.find().unwrap_err();
        let Error::LibraryNotFound { searched, hint } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(hint, NOT_FOUND_HINT);
        assert_eq!(searched[0], start.join(".venv"));
        assert_eq!(searched[1], tmp.path().join(".venv"));
        assert_eq!(searched.last(), Some(&tmp.path().join("no-such-python")));
        assert!(err
            .to_string()
            .starts_with("ONNX Runtime library not found; run `scripts/setup-venv.sh`"));
    }

    #[test]
    fn library_names() {
        for ok in [
            "libonnxruntime.so",
            "libonnxruntime.so.1.31.1",
            "libonnxruntime.1.31.1.dylib",
            "onnxruntime.dll",
        ] {
            assert!(is_library_name(ok), "{ok}");
        }
        for no in [
            "libonnxruntime_providers_shared.so",
            "onnxruntime_pybind11_state.so",
            "libonnxruntime.so.txt",
        ] {
            assert!(!is_library_name(no), "{no}");
        }
    }
}
