//! Writing a file atomically: into a temporary file in the target's folder, synced, then
//! renamed over the target, so a reader never sees half a file and a failed write never
//! destroys the old one.
//!
//! The one helper for every file the workspace writes except models (`optimize_onnx::save`
//! commits a model and its external data as a pair, and `optimize-onnx` depends on no other
//! crate of ours). The temporary file comes from `tempfile` (a random name, removed if the write
//! fails or panics); errors never name it, only the target, since the temporary name means
//! nothing to the user.
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("notes.txt");
//! optimize_data::atomic::write(&path, b"hello\n")?;
//! assert_eq!(std::fs::read(&path)?, b"hello\n");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically. The folder must exist.
pub fn write(path: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    write_with(path.as_ref(), |file| file.write_all(bytes), |e| e)
}

/// Creates a temporary file in `path`'s folder, lets `fill` write it, syncs it and renames it
/// to `path`. I/O errors of those steps go through `io_error` (to add the target's name); on any
/// error the temporary file is removed and `path` is left as it was.
pub fn write_with<E>(
    path: &Path,
    fill: impl FnOnce(&mut File) -> Result<(), E>,
    io_error: impl Fn(io::Error) -> E,
) -> Result<(), E> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // `make_in` passes our open's error through as it is; `tempfile_in` and writes through
    // `NamedTempFile` would add the temporary path to it.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .make_in(dir, |p| {
            OpenOptions::new().write(true).create_new(true).open(p)
        })
        .map_err(&io_error)?;
    fill(tmp.as_file_mut())?;
    tmp.as_file().sync_all().map_err(&io_error)?;
    tmp.persist(path).map_err(|e| io_error(e.error))?;
    sync_dir(dir);
    Ok(())
}

/// Makes the rename durable; best effort, as some filesystems cannot fsync a folder.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        std::fs::write(&path, "old").unwrap();
        write(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn failed_fill_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        std::fs::write(&path, "old").unwrap();
        let r: Result<(), String> = write_with(&path, |_| Err("no".into()), |e| e.to_string());
        assert_eq!(r, Err("no".into()));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn errors_do_not_name_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("a.json");
        let e = write(&path, b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        // The temporary file would be `.a.json.XXXXXX.tmp`.
        assert!(!e.to_string().contains("a.json"), "{e}");
    }
}
