//! Named tensors in safetensors files: student weights and training checkpoints.
//!
//! Files are written to a temp file in the target folder, fsynced and renamed, so a crash
//! (or Ctrl-C) never leaves half a checkpoint. Metadata is one JSON string under the key
//! `optimize.distill`, so equal contents give equal bytes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use safetensors::tensor::TensorView;

use crate::{Error, Result};

/// The metadata key our JSON lives under.
pub const METADATA_KEY: &str = "optimize.distill";

/// Writes `tensors` (converted to `f32`) and `metadata` to `path` atomically.
pub fn write_tensors(
    path: &Path,
    tensors: &BTreeMap<String, Tensor>,
    metadata: Option<&str>,
) -> Result<()> {
    let mut raw: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        raw.push((name.clone(), t.dims().to_vec(), bytes));
    }
    let views = raw
        .iter()
        .map(|(n, shape, bytes)| {
            TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes).map(|v| (n.clone(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Export(format!("{}: {e}", path.display())))?;
    let info = metadata.map(|m| HashMap::from([(METADATA_KEY.to_string(), m.to_string())]));
    let bytes = safetensors::serialize(views, info)
        .map_err(|e| Error::Export(format!("{}: {e}", path.display())))?;
    write_atomic(path, &bytes)
}

/// Writes `bytes` to `path` atomically ([`optimize_data::atomic`]), creating its folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    optimize_data::atomic::write(path, bytes).map_err(err)
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::MissingFile {
        key: "weights".into(),
        path: path.to_path_buf(),
        source,
    })
}

fn bad(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Reads every tensor of a safetensors file as `f32`.
pub fn read_tensors(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    let bytes = read_file(path)?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(path, e))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            safetensors::Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            safetensors::Dtype::F64 => data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            safetensors::Dtype::F16 => data
                .chunks_exact(2)
                .map(|c| optimize_data::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            safetensors::Dtype::BF16 => data
                .chunks_exact(2)
                .map(|c| optimize_data::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => {
                return Err(bad(
                    path,
                    format!("tensor `{name}` is {other:?}; weights must be floats"),
                ))
            }
        };
        out.insert(name, Tensor::from_vec(values, view.shape(), &Device::Cpu)?);
    }
    Ok(out)
}

/// The JSON metadata string of a file written by [`write_tensors`], if any.
pub fn read_metadata(path: &Path) -> Result<Option<String>> {
    let bytes = read_file(path)?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(path, e))?;
    Ok(meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY).cloned()))
}

/// The tensors whose names start with `prefix.`, with the prefix removed.
pub fn with_prefix(tensors: &BTreeMap<String, Tensor>, prefix: &str) -> BTreeMap<String, Tensor> {
    let p = format!("{prefix}.");
    tensors
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(&p).map(|k| (k.to_string(), v.clone())))
        .collect()
}

/// `tensors` with every name prefixed by `prefix.`, added to `out`.
pub fn add_prefixed(
    out: &mut BTreeMap<String, Tensor>,
    prefix: &str,
    tensors: &BTreeMap<String, Tensor>,
) {
    for (k, v) in tensors {
        out.insert(format!("{prefix}.{k}"), v.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_byte_stable() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = BTreeMap::new();
        t.insert(
            "b".to_string(),
            Tensor::new(&[1f32, 2.], &Device::Cpu).unwrap(),
        );
        t.insert(
            "a".to_string(),
            Tensor::new(&[[3f32]], &Device::Cpu).unwrap(),
        );
        let p1 = dir.path().join("1.safetensors");
        let p2 = dir.path().join("2.safetensors");
        write_tensors(&p1, &t, Some("{\"x\":1}")).unwrap();
        write_tensors(&p2, &t, Some("{\"x\":1}")).unwrap();
        assert_eq!(std::fs::read(&p1).unwrap(), std::fs::read(&p2).unwrap());
        let back = read_tensors(&p1).unwrap();
        assert_eq!(back["b"].to_vec1::<f32>().unwrap(), [1.0, 2.0]);
        assert_eq!(back["a"].dims(), [1, 1]);
        assert_eq!(read_metadata(&p1).unwrap().as_deref(), Some("{\"x\":1}"));
    }
}
