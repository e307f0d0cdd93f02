//! NumPy `.npz` archives: a zip file of `.npy` members, one per named array.
//!
//! `np.savez` stores members uncompressed and `np.savez_compressed` deflates them; both read
//! here, one member at a time, straight from the zip stream. An array's name is its member
//! name without `.npy` (NumPy's `NpzFile.files`). Members that do not end in `.npy` and folder
//! entries are skipped; two members with the same array name are an error.
//!
//! [`write_npz`] writes what `np.savez` does (stored members, `.npy` version 1.0), and the same
//! bytes every time: members sorted by name, all dated 1980-01-01 00:00:00 with mode 0644.
//!
//! ```
//! use optimize_data::{npz, Tensor};
//!
//! let dir = std::env::temp_dir().join(format!("npz-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("io.npz");
//! let x = Tensor::from_f32(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0])?;
//! let y = Tensor::from_i64(vec![2], vec![0, 1])?;
//! npz::write_npz(&path, [("x", &x), ("y", &y)])?;
//!
//! let arrays = npz::read_npz(&path)?;
//! assert_eq!(arrays, [("x".to_string(), x), ("y".to_string(), y)]);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), optimize_data::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::npy::{self, NpyHeader, Origin};
use crate::{Error, Result, Tensor};

/// An open `.npz` archive: the list of arrays, and each array's header or data on demand.
pub struct NpzReader {
    path: PathBuf,
    archive: ZipArchive<BufReader<File>>,
    /// Array name and zip member index, in archive order.
    members: Vec<(String, usize)>,
}

impl std::fmt::Debug for NpzReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NpzReader")
            .field("path", &self.path)
            .field("members", &self.members)
            .finish()
    }
}

impl NpzReader {
    /// Opens the archive at `path` and lists its `.npy` members.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let zip_error = |e: zip::result::ZipError| Error::Zip {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        let file = File::open(path).map_err(|e| Error::read(path, e))?;
        let archive = ZipArchive::new(BufReader::new(file)).map_err(zip_error)?;
        let mut members = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for index in 0..archive.len() {
            let Some(name) = archive.name_for_index(index) else {
                continue;
            };
            let name = name.map_err(zip_error)?;
            let Some(array) = name.strip_suffix(".npy") else {
                continue;
            };
            if !seen.insert(array.to_string()) {
                return Err(Error::DuplicateArray {
                    path: path.to_path_buf(),
                    array: array.to_string(),
                });
            }
            members.push((array.to_string(), index));
        }
        Ok(Self {
            path: path.to_path_buf(),
            archive,
            members,
        })
    }

    /// The archive's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Array names, in archive order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|(name, _)| name.as_str())
    }

    fn index_of(&self, name: &str) -> Result<usize> {
        self.members
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, index)| index)
            .ok_or_else(|| Error::NoSuchArray {
                path: self.path.clone(),
                array: name.to_string(),
                found: self.names().map(str::to_string).collect(),
            })
    }

    /// Reads one array's header, decompressing only the first bytes of its member. Checks the
    /// member's size against the header.
    pub fn header(&mut self, name: &str) -> Result<NpyHeader> {
        let index = self.index_of(name)?;
        let origin = Origin {
            path: &self.path,
            array: Some(name),
        };
        let mut member = self.archive.by_index(index).map_err(|e| Error::Zip {
            path: self.path.clone(),
            detail: format!("member '{name}.npy': {e}"),
        })?;
        checked_header(&mut member, origin)
    }

    /// Reads one array, opening its member once: the header (checked as [`NpzReader::header`]
    /// checks it), then the data.
    pub fn read(&mut self, name: &str) -> Result<Tensor> {
        let index = self.index_of(name)?;
        let origin = Origin {
            path: &self.path,
            array: Some(name),
        };
        let mut member = self.archive.by_index(index).map_err(|e| Error::Zip {
            path: self.path.clone(),
            detail: format!("member '{name}.npy': {e}"),
        })?;
        let header = checked_header(&mut member, origin)?;
        npy::read_data(&mut member, &header, origin)
    }

    /// Every array's header, in archive order.
    pub fn headers(&mut self) -> Result<Vec<(String, NpyHeader)>> {
        let names: Vec<String> = self.names().map(str::to_string).collect();
        names
            .into_iter()
            .map(|name| Ok((name.clone(), self.header(&name)?)))
            .collect()
    }

    /// Every array, in archive order.
    pub fn read_all(&mut self) -> Result<Vec<(String, Tensor)>> {
        let names: Vec<String> = self.names().map(str::to_string).collect();
        names
            .into_iter()
            .map(|name| Ok((name.clone(), self.read(&name)?)))
            .collect()
    }
}

/// Reads every array of the `.npz` archive at `path`, in archive order.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    NpzReader::open(path)?.read_all()
}

/// Writes named tensors as an `.npz` archive at `path`, atomically (see the module doc for
/// the exact layout). Names must be non-empty, distinct and free of NUL characters.
pub fn write_npz<'t, S: AsRef<str>>(
    path: impl AsRef<Path>,
    arrays: impl IntoIterator<Item = (S, &'t Tensor)>,
) -> Result<()> {
    let path = path.as_ref();
    let sorted = sorted_arrays(path, arrays)?;
    crate::atomic::write_with(
        path,
        |file| {
            let mut w = BufWriter::new(file);
            write_sorted(&mut w, &sorted, path)?;
            w.flush().map_err(|e| Error::write(path, e))
        },
        |e| Error::write(path, e),
    )
}

/// Writes named tensors as an `.npz` archive to a seekable writer; `name` is the file name
/// used in error messages.
pub fn write_npz_to<'t, W: Write + Seek, S: AsRef<str>>(
    writer: W,
    arrays: impl IntoIterator<Item = (S, &'t Tensor)>,
    name: &Path,
) -> Result<()> {
    let sorted = sorted_arrays(name, arrays)?;
    write_sorted(writer, &sorted, name)
}

fn sorted_arrays<'t, S: AsRef<str>>(
    path: &Path,
    arrays: impl IntoIterator<Item = (S, &'t Tensor)>,
) -> Result<BTreeMap<String, &'t Tensor>> {
    let mut sorted = BTreeMap::new();
    for (name, tensor) in arrays {
        let name = name.as_ref();
        let bad = |reason: &str| Error::BadArrayName {
            path: path.to_path_buf(),
            array: name.to_string(),
            reason: reason.to_string(),
        };
        if name.is_empty() {
            return Err(bad("names must not be empty"));
        }
        if name.contains('\0') {
            return Err(bad("names must not contain NUL"));
        }
        if sorted.insert(name.to_string(), tensor).is_some() {
            return Err(Error::DuplicateArray {
                path: path.to_path_buf(),
                array: name.to_string(),
            });
        }
    }
    Ok(sorted)
}

fn write_sorted<W: Write + Seek>(
    writer: W,
    arrays: &BTreeMap<String, &Tensor>,
    path: &Path,
) -> Result<()> {
    let zip_error = |e: zip::result::ZipError| Error::Zip {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let mut zip = ZipWriter::new(writer);
    for (name, tensor) in arrays {
        let origin = Origin {
            path,
            array: Some(name),
        };
        let header = npy::header_bytes(tensor.dtype(), tensor.shape(), origin)?;
        let size = (header.len() + tensor.as_bytes().len()) as u64;
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .last_modified_time(DateTime::default())
            .unix_permissions(0o644)
            .large_file(size >= u64::from(u32::MAX));
        zip.start_file(format!("{name}.npy"), options)
            .map_err(zip_error)?;
        zip.write_all(&header)
            .and_then(|()| zip.write_all(tensor.as_bytes()))
            .map_err(|e| Error::write(path, e))?;
    }
    let mut inner = zip.finish().map_err(zip_error)?;
    inner.flush().map_err(|e| Error::write(path, e))
}

/// Reads a member's npy header and checks the member's size against it: the zip directory's
/// size is untrusted too, but it must agree with the header, which catches a lying header
/// before any data is decompressed.
fn checked_header<R: std::io::Read>(
    member: &mut zip::read::ZipFile<'_, R>,
    origin: Origin<'_>,
) -> Result<NpyHeader> {
    let size = member.size();
    let header = npy::read_header(member, origin)?;
    let found = size.saturating_sub(header.data_offset as u64);
    if found != header.data_len as u64 {
        return Err(origin.data_length(&header, found));
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::{random_tensor, DType, RandomRange};

    fn npz_bytes(arrays: &[(&str, &Tensor)]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        write_npz_to(&mut out, arrays.iter().copied(), Path::new("t.npz")).unwrap();
        out.into_inner()
    }

    #[test]
    fn writing_is_deterministic_and_sorted() {
        let a =
            random_tensor(DType::F32, &[3, 2], 1, RandomRange::default_for(DType::F32)).unwrap();
        let b = Tensor::from_bool(vec![2], vec![true, false]).unwrap();
        let one = npz_bytes(&[("b", &b), ("a", &a)]);
        let two = npz_bytes(&[("a", &a), ("b", &b)]);
        assert_eq!(one, two);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.npz");
        std::fs::write(&path, &one).unwrap();
        let mut reader = NpzReader::open(&path).unwrap();
        assert_eq!(reader.names().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(reader.read("b").unwrap(), b);
        assert_eq!(reader.header("a").unwrap().shape, [3, 2]);
        let err = reader.read("c").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: no array named 'c' (found: a, b)", path.display())
        );
    }

    #[test]
    fn bad_names_are_refused() {
        let t = Tensor::from_u8(vec![1], vec![1]).unwrap();
        let mut out = Cursor::new(Vec::new());
        let err = write_npz_to(&mut out, [("x", &t), ("x", &t)], Path::new("t.npz")).unwrap_err();
        assert!(matches!(err, Error::DuplicateArray { .. }), "{err}");
        let err = write_npz_to(&mut out, [("", &t)], Path::new("t.npz")).unwrap_err();
        assert!(matches!(err, Error::BadArrayName { .. }), "{err}");
        let bf = Tensor::zeros(DType::BF16, vec![1]).unwrap();
        let err = write_npz_to(&mut out, [("w", &bf)], Path::new("t.npz")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.npz: array 'w': cannot write a bf16 tensor as .npy: NumPy has no bf16 dtype; convert it to f32 first"
        );
    }

    #[test]
    fn not_a_zip_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.npz");
        std::fs::write(&path, b"\x93NUMPY not a zip").unwrap();
        let err = NpzReader::open(&path).unwrap_err();
        assert!(matches!(err, Error::Zip { .. }), "{err}");
        let err = NpzReader::open(dir.path().join("missing.npz")).unwrap_err();
        assert!(matches!(err, Error::Read { .. }), "{err}");
    }
}
