//! Reading safetensors files as named tensors, through the `safetensors` crate.
//!
//! A safetensors file is an 8-byte little-endian header length, a JSON header giving each
//! tensor's dtype, shape and byte range, then the data. [`read_safetensors`] reads the whole
//! file and lets the `safetensors` crate validate it; [`read_safetensors_infos`] reads only the
//! header (capped at 100 MB, as the crate does) and checks each tensor's byte range against
//! its dtype and shape and against the file size. Tensors come back sorted by name. The
//! 8-bit, 6-bit and 4-bit float and complex dtypes have no [`DType`] and are
//! [`Error::UnsupportedDType`].

use std::fs::File;
use std::io::Read;
use std::path::Path;

use ::safetensors::tensor::TensorInfo;
use ::safetensors::{Dtype, SafeTensors};

use crate::format::ArrayInfo;
use crate::tensor::numel;
use crate::{DType, Error, Result, Tensor};

/// The longest safetensors header read, in bytes (the `safetensors` crate's own limit).
pub const MAX_HEADER_LEN: u64 = 100_000_000;

fn dtype_of(path: &Path, name: &str, dtype: Dtype) -> Result<DType> {
    Ok(match dtype {
        Dtype::BOOL => DType::Bool,
        Dtype::U8 => DType::U8,
        Dtype::I8 => DType::I8,
        Dtype::I16 => DType::I16,
        Dtype::U16 => DType::U16,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::I32 => DType::I32,
        Dtype::U32 => DType::U32,
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        Dtype::I64 => DType::I64,
        Dtype::U64 => DType::U64,
        other => {
            return Err(Error::UnsupportedDType {
                path: path.to_path_buf(),
                array: name.to_string(),
                found: format!("{other:?}"),
            })
        }
    })
}

/// Reads every tensor of the safetensors file at `path`, sorted by name.
pub fn read_safetensors(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::read(path, e))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| Error::Safetensors {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let mut tensors = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let dtype = dtype_of(path, &name, view.dtype())?;
            let tensor = Tensor::from_bytes(dtype, view.shape().to_vec(), view.data().to_vec())
                .map_err(|e| Error::Safetensors {
                    path: path.to_path_buf(),
                    detail: format!("tensor '{name}': {e}"),
                })?;
            Ok((name, tensor))
        })
        .collect::<Result<Vec<_>>>()?;
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(tensors)
}

/// Reads the names, dtypes and shapes of the tensors in the safetensors file at `path`, sorted
/// by name, without reading their data.
pub fn read_safetensors_infos(path: impl AsRef<Path>) -> Result<Vec<ArrayInfo>> {
    let path = path.as_ref();
    let bad = |detail: String| Error::Safetensors {
        path: path.to_path_buf(),
        detail,
    };
    let mut file = File::open(path).map_err(|e| Error::read(path, e))?;
    let size = file.metadata().map_err(|e| Error::read(path, e))?.len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|_| bad("file is shorter than the 8-byte header length".into()))?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER_LEN {
        return Err(bad(format!(
            "header length {n} is over the limit of {MAX_HEADER_LEN}"
        )));
    }
    let data_len = size
        .checked_sub(8)
        .and_then(|s| s.checked_sub(n))
        .ok_or_else(|| bad(format!("header length {n} runs past the end of the file")))?;
    let mut header = Vec::new();
    file.take(n)
        .read_to_end(&mut header)
        .map_err(|e| Error::read(path, e))?;
    let json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| bad(format!("header is not a JSON object: {e}")))?;
    let mut infos = Vec::new();
    for (name, value) in json {
        if name == "__metadata__" {
            continue;
        }
        let info: TensorInfo =
            serde_json::from_value(value).map_err(|e| bad(format!("tensor '{name}': {e}")))?;
        let dtype = dtype_of(path, &name, info.dtype)?;
        let (start, end) = info.data_offsets;
        let needed = numel(&info.shape)
            .ok()
            .and_then(|n| n.checked_mul(dtype.size_of()));
        if needed != end.checked_sub(start) || end as u64 > data_len {
            return Err(bad(format!(
                "tensor '{name}': offsets {start}..{end} do not hold {dtype} {:?} within {data_len} bytes of data",
                info.shape
            )));
        }
        infos.push(ArrayInfo {
            name,
            dtype,
            shape: info.shape,
        });
    }
    infos.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(infos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn reads_tensors_and_infos() {
        let dir = tempfile::tempdir().unwrap();
        let header = r#"{"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}"#;
        let mut data = Vec::new();
        data.extend_from_slice(&1.5f32.to_le_bytes());
        data.extend_from_slice(&(-2f32).to_le_bytes());
        data.extend_from_slice(&7i64.to_le_bytes());
        let path = write(dir.path(), "t.safetensors", &file(header, &data));
        let tensors = read_safetensors(&path).unwrap();
        assert_eq!(tensors[0].0, "b");
        assert_eq!(tensors[0].1.to_i64_vec().unwrap(), [7]);
        assert_eq!(tensors[1].1.to_f32_vec().unwrap(), [1.5, -2.0]);
        let infos = read_safetensors_infos(&path).unwrap();
        assert_eq!(infos.len(), 2);
        assert_eq!(
            (
                infos[1].name.as_str(),
                infos[1].dtype,
                infos[1].shape.as_slice()
            ),
            ("w", DType::F32, &[2][..])
        );
    }

    #[test]
    fn bad_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        // Offsets past the data.
        let header = r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
        let path = write(dir.path(), "short.safetensors", &file(header, &[0; 8]));
        assert!(matches!(
            read_safetensors(&path),
            Err(Error::Safetensors { .. })
        ));
        let err = read_safetensors_infos(&path).unwrap_err();
        assert!(err.to_string().contains("offsets 0..16"), "{err}");
        // A dtype we have no DType for.
        let header = r#"{"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}"#;
        let path = write(dir.path(), "f8.safetensors", &file(header, &[0; 2]));
        let err = read_safetensors_infos(&path).unwrap_err();
        assert!(matches!(err, Error::UnsupportedDType { .. }), "{err}");
        assert!(read_safetensors(&path).is_err());
        // A header length far past the end.
        let mut bytes = u64::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        let path = write(dir.path(), "huge.safetensors", &bytes);
        assert!(read_safetensors_infos(&path)
            .unwrap_err()
            .to_string()
            .contains("over the limit"));
        assert!(read_safetensors(&path).is_err());
    }
}
