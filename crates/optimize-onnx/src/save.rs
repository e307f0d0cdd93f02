//! Writing a model: atomically, never over its inputs, with external data when asked or needed.
//!
//! Protobuf cannot serialize a message over 2 GiB, so a model whose encoding would pass that limit
//! is written with its large tensors in a side file `<output>.data` (the layout ONNX's own
//! `save_model(..., save_as_external_data=True)` produces and every runtime reads). Both files are
//! written to temp files in the target folder, fsynced, then renamed, so a crash or a full disk
//! never leaves a partial output.

use crate::error::{Error, Result};
use crate::model::Model;
use crate::proto::tensor_proto::DataLocation;
use crate::proto::{ModelProto, StringStringEntryProto};
use crate::walk::for_each_tensor_mut;
use prost::Message;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The largest message protobuf can serialize.
pub const PROTOBUF_LIMIT: u64 = i32::MAX as u64;

/// Where tensor data goes when saving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExternalData {
    /// Inline, unless the model would pass the 2 GiB protobuf limit; then as [`ExternalData::Always`].
    #[default]
    Auto,
    /// Tensors of at least [`SaveOptions::size_threshold`] bytes go to `<output>.data`.
    Always,
    /// Everything inline; saving a model over the limit is an error.
    Never,
}

/// How [`save`] writes a model.
#[derive(Debug, Clone)]
pub struct SaveOptions {
    /// Where tensor data goes.
    pub external_data: ExternalData,
    /// Tensors smaller than this stay inline even when data goes external (ONNX's default: 1024).
    pub size_threshold: u64,
    /// Largest encoded model [`ExternalData::Auto`] writes inline; protobuf's limit by default.
    pub inline_limit: u64,
}

impl Default for SaveOptions {
    fn default() -> Self {
        SaveOptions {
            external_data: ExternalData::Auto,
            size_threshold: 1024,
            inline_limit: PROTOBUF_LIMIT,
        }
    }
}

/// What [`save`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SaveReport {
    /// The model file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// The external-data file, if one was written.
    pub external_data: Option<ExternalDataReport>,
}

/// The external-data side file [`save`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExternalDataReport {
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// How many tensors it holds.
    pub tensors: usize,
}

// Large tensors start on a page boundary so runtimes can memory-map them.
const PAGE: u64 = 4096;
const SMALL_ALIGN: u64 = 64;

/// Writes `model` to `path` as `options` say. Refuses to write over any file the model was loaded
/// from. Either everything is written or nothing is.
pub fn save(model: &Model, path: impl AsRef<Path>, options: &SaveOptions) -> Result<SaveReport> {
    let path = path.as_ref();
    refuse_overwrite(model, path)?;
    let write_err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let encoded_len = model.proto.encoded_len() as u64;
    let external = match options.external_data {
        ExternalData::Always => true,
        ExternalData::Never if encoded_len > PROTOBUF_LIMIT => {
            return Err(Error::Save {
                path: path.to_path_buf(),
                detail: format!(
                    "model is {encoded_len} bytes, over protobuf's 2 GiB limit; use external data"
                ),
            })
        }
        ExternalData::Never => false,
        ExternalData::Auto => encoded_len > options.inline_limit.min(PROTOBUF_LIMIT),
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !external {
        let bytes = model.proto.encode_to_vec();
        let tmp = write_temp(&dir, &bytes).map_err(write_err)?;
        tmp.persist(path).map_err(|e| write_err(e.error))?;
        sync_dir(&dir);
        return Ok(SaveReport {
            path: path.to_path_buf(),
            bytes: bytes.len() as u64,
            external_data: None,
        });
    }

    let file_name = path.file_name().ok_or_else(|| Error::Save {
        path: path.to_path_buf(),
        detail: "output path has no file name".into(),
    })?;
    let data_name = format!("{}.data", file_name.to_string_lossy());
    let data_path = dir.join(&data_name);
    refuse_overwrite(model, &data_path)?;
    // `raw_data` is a refcounted `Bytes`, so this clone shares the tensor data.
    let mut proto: ModelProto = model.proto.clone();
    let mut data_tmp = new_temp(&dir).map_err(write_err)?;
    let (bytes, tensors) = move_to_external(
        &mut proto,
        &data_name,
        options.size_threshold,
        data_tmp.as_file_mut(),
    )
    .map_err(|e| Error::Write {
        path: data_path.clone(),
        source: e,
    })?;
    let model_bytes = proto.encode_to_vec();
    if model_bytes.len() as u64 > PROTOBUF_LIMIT {
        return Err(Error::Save {
            path: path.to_path_buf(),
            detail: "still over 2 GiB after moving raw tensor data out: tensors in typed fields (float_data, int64_data) stay inline".into(),
        });
    }
    data_tmp.as_file().sync_all().map_err(|e| Error::Write {
        path: data_path.clone(),
        source: e,
    })?;
    let model_tmp = write_temp(&dir, &model_bytes).map_err(write_err)?;
    data_tmp.persist(&data_path).map_err(|e| Error::Write {
        path: data_path.clone(),
        source: e.error,
    })?;
    model_tmp.persist(path).map_err(|e| write_err(e.error))?;
    sync_dir(&dir);
    Ok(SaveReport {
        path: path.to_path_buf(),
        bytes: model_bytes.len() as u64,
        external_data: Some(ExternalDataReport {
            path: data_path,
            bytes,
            tensors,
        }),
    })
}

/// Moves every `raw_data` of at least `threshold` bytes into `out`, leaving external references.
fn move_to_external(
    proto: &mut ModelProto,
    location: &str,
    threshold: u64,
    out: &mut std::fs::File,
) -> std::io::Result<(u64, usize)> {
    let mut w = std::io::BufWriter::new(out);
    let (mut offset, mut tensors) = (0u64, 0usize);
    let mut first_err = None;
    for_each_tensor_mut(proto, &mut |t, _| {
        let Some(raw) = &t.raw_data else { return };
        let len = raw.len() as u64;
        if first_err.is_some() || len < threshold.max(1) {
            return;
        }
        let align = if len >= PAGE * 256 { PAGE } else { SMALL_ALIGN };
        let start = offset.div_ceil(align) * align;
        let pad = vec![0u8; (start - offset) as usize];
        if let Err(e) = w.write_all(&pad).and_then(|_| w.write_all(raw)) {
            first_err = Some(e);
            return;
        }
        let kv = |k: &str, v: String| StringStringEntryProto {
            key: Some(k.into()),
            value: Some(v),
        };
        t.external_data = vec![
            kv("location", location.to_string()),
            kv("offset", start.to_string()),
            kv("length", len.to_string()),
        ];
        t.data_location = Some(DataLocation::External as i32);
        t.raw_data = None;
        offset = start + len;
        tensors += 1;
    });
    if let Some(e) = first_err {
        return Err(e);
    }
    w.flush()?;
    Ok((offset, tensors))
}

fn write_temp(dir: &Path, bytes: &[u8]) -> std::io::Result<tempfile::NamedTempFile> {
    let mut tmp = new_temp(dir)?;
    // Through the `File`: `NamedTempFile`'s own `Write` adds the temporary path to its errors.
    tmp.as_file_mut().write_all(bytes)?;
    tmp.as_file().sync_all()?;
    Ok(tmp)
}

// Opened by us through `make_in`, so an error is the system's alone (not naming the temporary
// file, which means nothing to the user) and the mode is the usual one for a new file, not
// tempfile's private 0600. The one-file writer of the other crates is `optimize_data::atomic`;
// a model is written here because its external data is committed with it, and this crate
// depends on no other of ours.
fn new_temp(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".optimize-")
        .suffix(".tmp")
        .make_in(dir, |p| {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p)
        })
}

// Makes the rename durable; best effort, as some filesystems cannot fsync a directory.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Fails with [`Error::WouldOverwriteInput`] when `target` is one of the files `model` was loaded
/// from; jobs call it before any work so a bad output path costs nothing.
pub fn refuse_overwrite(model: &Model, target: &Path) -> Result<()> {
    let Ok(target) = absolute(target) else {
        return Ok(());
    };
    for src in model.source_files() {
        if absolute(&src).is_ok_and(|s| s == target) {
            return Err(Error::WouldOverwriteInput { path: target });
        }
    }
    Ok(())
}

/// The canonical path of `p`, following links, also when `p` itself does not exist yet.
fn absolute(p: &Path) -> std::io::Result<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Ok(c);
    }
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.canonicalize()?,
        _ => std::env::current_dir()?,
    };
    Ok(parent.join(p.file_name().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_target_not_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let model = Model::from_proto(ModelProto::default());
        let target = dir.path().join("missing").join("m.onnx");
        for external_data in [ExternalData::Never, ExternalData::Always] {
            let options = SaveOptions {
                external_data,
                ..SaveOptions::default()
            };
            let e = save(&model, &target, &options).unwrap_err().to_string();
            assert!(e.starts_with(&target.display().to_string()), "{e}");
            assert!(!e.contains(".optimize-"), "{e}");
        }
        save(&model, dir.path().join("m.onnx"), &SaveOptions::default()).unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the model is left");
    }
}
