//! Data files by extension: `.npy`, `.npz` and `.safetensors`, read as named arrays.
//!
//! [`read_arrays`] reads every array of a file and [`read_array_infos`] only their names,
//! dtypes and shapes (headers, no data). The one array of a `.npy` file is named after the
//! file's stem (`x.npy` holds `x`).

use std::path::Path;

use crate::{npy, npz, safetensors, DType, Error, Result, Tensor};

/// A data file format, told by the file's extension (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// NumPy `.npy`: one array.
    Npy,
    /// NumPy `.npz`: a zip of `.npy` arrays, stored or deflated.
    Npz,
    /// `.safetensors`: named tensors.
    Safetensors,
}

impl Format {
    /// The format of `path` by its extension, or `None` for any other file.
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "npy" => Some(Format::Npy),
            "npz" => Some(Format::Npz),
            "safetensors" => Some(Format::Safetensors),
            _ => None,
        }
    }
}

/// The name, dtype and shape of an array in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayInfo {
    /// The array's name in the file.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Shape, outermost dimension first.
    pub shape: Vec<usize>,
}

fn format_of(path: &Path) -> Result<Format> {
    Format::of(path).ok_or_else(|| Error::UnknownFormat {
        path: path.to_path_buf(),
    })
}

fn npy_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads every array of the `.npy`, `.npz` or `.safetensors` file at `path`: in archive order
/// for `.npz`, by name for safetensors.
pub fn read_arrays(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    let path = path.as_ref();
    match format_of(path)? {
        Format::Npy => Ok(vec![(npy_name(path), npy::read_npy(path)?)]),
        Format::Npz => npz::read_npz(path),
        Format::Safetensors => safetensors::read_safetensors(path),
    }
}

/// Reads the names, dtypes and shapes of the arrays in the file at `path`, in the order
/// [`read_arrays`] gives, without reading the data.
pub fn read_array_infos(path: impl AsRef<Path>) -> Result<Vec<ArrayInfo>> {
    let path = path.as_ref();
    match format_of(path)? {
        Format::Npy => {
            let header = npy::read_npy_header(path)?;
            Ok(vec![ArrayInfo {
                name: npy_name(path),
                dtype: header.dtype,
                shape: header.shape,
            }])
        }
        Format::Npz => Ok(npz::NpzReader::open(path)?
            .headers()?
            .into_iter()
            .map(|(name, h)| ArrayInfo {
                name,
                dtype: h.dtype,
                shape: h.shape,
            })
            .collect()),
        Format::Safetensors => safetensors::read_safetensors_infos(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension() {
        assert_eq!(Format::of(Path::new("a/b.NPZ")), Some(Format::Npz));
        assert_eq!(Format::of(Path::new("x.npy")), Some(Format::Npy));
        assert_eq!(
            Format::of(Path::new("m.safetensors")),
            Some(Format::Safetensors)
        );
        assert_eq!(Format::of(Path::new("notes.txt")), None);
        assert_eq!(Format::of(Path::new("npy")), None);
        let err = read_arrays("data.csv").unwrap_err();
        assert!(matches!(err, Error::UnknownFormat { .. }), "{err}");
    }
}
