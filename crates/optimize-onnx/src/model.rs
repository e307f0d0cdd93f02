//! Loading a model from disk: framing check, decode, external data, validation.

use crate::error::{Error, Result};
use crate::proto::tensor_proto::DataLocation;
use crate::proto::{ModelProto, TensorProto};
use crate::tensor;
use crate::walk::{for_each_tensor, for_each_tensor_mut};
use crate::wire::{check_model_framing, WireProblem};
use prost::Message;
use std::collections::hash_map::{Entry, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

/// An ONNX model in memory, with every tensor's data held inline.
///
/// [`Model::load`] reads external data into the tensors, so passes never care where data lived;
/// [`crate::save`] decides afresh where it goes. The model remembers the files it came from so a
/// save never writes over them.
#[derive(Debug, Clone)]
pub struct Model {
    /// The decoded protobuf. Edit it freely; [`crate::save`] writes whatever it holds.
    pub proto: ModelProto,
    source: Option<PathBuf>,
    external_files: Vec<ExternalFile>,
}

/// One external-data file a model was loaded from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExternalFile {
    /// The `location` as written in the model (relative to the model's folder).
    pub location: String,
    /// Number of tensors whose data came from this file.
    pub tensors: usize,
    /// Bytes read from it.
    pub bytes: u64,
}

impl Model {
    /// Wraps a protobuf built in memory (no source file, no external data).
    pub fn from_proto(proto: ModelProto) -> Model {
        Model {
            proto,
            source: None,
            external_files: Vec::new(),
        }
    }

    /// Reads an `.onnx` file, resolving external data relative to its folder, and checks every
    /// stored tensor: known element type, valid shape, data length matching shape and type.
    ///
    /// Errors name the file and the problem: missing file, folder, empty file, bytes that are not
    /// protobuf or are cut short, protobuf that is not a model, missing or short external data,
    /// tensors whose data does not match their shape, unknown data types.
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let read_err = |source| Error::Read {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        if meta.is_dir() {
            return Err(Error::IsDirectory {
                path: path.to_path_buf(),
            });
        }
        let bytes = std::fs::read(path).map_err(read_err)?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut model = Model::decode(&bytes, path, Some(&base))?;
        model.source = Some(path.to_path_buf());
        Ok(model)
    }

    /// Decodes a model from bytes. `name` is used in error messages; external data is resolved
    /// against `base_dir`, and is an error if `base_dir` is `None`.
    pub fn decode(bytes: &[u8], name: &Path, base_dir: Option<&Path>) -> Result<Model> {
        if bytes.is_empty() {
            return Err(Error::Empty {
                path: name.to_path_buf(),
            });
        }
        match check_model_framing(bytes) {
            Ok(()) => {}
            Err(WireProblem::Malformed(detail)) => {
                return Err(Error::Decode {
                    path: name.to_path_buf(),
                    detail,
                })
            }
            Err(WireProblem::NotModel(detail)) => {
                return Err(Error::NotAModel {
                    path: name.to_path_buf(),
                    detail,
                })
            }
        }
        let proto = ModelProto::decode(bytes).map_err(|e| Error::Decode {
            path: name.to_path_buf(),
            detail: e.to_string(),
        })?;
        if proto.ir_version.is_none() {
            return Err(Error::NotAModel {
                path: name.to_path_buf(),
                detail: "it has no ir_version".into(),
            });
        }
        // IR 3 and later name the operator sets they use; without one no operator can be resolved.
        if proto.ir_version.is_some_and(|v| v >= 3) && proto.opset_import.is_empty() {
            return Err(Error::NotAModel {
                path: name.to_path_buf(),
                detail: "it imports no operator set (opset_import is empty)".into(),
            });
        }
        let mut model = Model::from_proto(proto);
        model.external_files = resolve_external_data(&mut model.proto, name, base_dir)?;
        model.validate(name)?;
        Ok(model)
    }

    /// Checks every stored tensor (type, shape, data length); see [`Model::load`].
    pub fn validate(&self, name: &Path) -> Result<()> {
        let mut first_err = None;
        for_each_tensor(&self.proto, &mut |t, _| {
            if first_err.is_none() {
                first_err = tensor::validate(t, name).err();
            }
        });
        first_err.map_or(Ok(()), Err)
    }

    /// Records who made this model and how: `producer_name` = `optimize`, `producer_version` =
    /// `version`, and a `metadata_props` entry `optimize.<step>` = `description` (replacing an
    /// earlier entry for the same step), so every file we write says what was done to it.
    pub fn stamp(&mut self, version: &str, step: &str, description: &str) {
        use crate::proto::StringStringEntryProto;
        self.proto.producer_name = Some("optimize".into());
        self.proto.producer_version = Some(version.to_string());
        let key = format!("optimize.{step}");
        self.proto.metadata_props.retain(|m| m.key() != key);
        self.proto.metadata_props.push(StringStringEntryProto {
            key: Some(key),
            value: Some(description.to_string()),
        });
    }

    /// The file this model was loaded from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// The external-data files read while loading, in first-use order.
    pub fn external_files(&self) -> &[ExternalFile] {
        &self.external_files
    }

    /// Every file this model was read from: the model itself and its external-data files.
    pub fn source_files(&self) -> Vec<PathBuf> {
        let Some(src) = &self.source else {
            return Vec::new();
        };
        let base = src.parent().unwrap_or(Path::new("."));
        std::iter::once(src.clone())
            .chain(self.external_files.iter().map(|f| base.join(&f.location)))
            .collect()
    }
}

fn is_external(t: &TensorProto) -> bool {
    t.data_location == Some(DataLocation::External as i32)
}

/// Reads every external tensor's bytes into `raw_data` and clears its external reference.
fn resolve_external_data(
    model: &mut ModelProto,
    name: &Path,
    base_dir: Option<&Path>,
) -> Result<Vec<ExternalFile>> {
    let mut files: HashMap<String, (File, u64)> = HashMap::new();
    let mut stats: Vec<ExternalFile> = Vec::new();
    let mut first_err: Option<Error> = None;
    for_each_tensor_mut(model, &mut |t, _| {
        if first_err.is_some() || !is_external(t) {
            return;
        }
        match read_external(t, name, base_dir, &mut files) {
            Ok((location, data)) => {
                let len = data.len() as u64;
                match stats.iter_mut().find(|f| f.location == location) {
                    Some(f) => {
                        f.tensors += 1;
                        f.bytes += len;
                    }
                    None => stats.push(ExternalFile {
                        location,
                        tensors: 1,
                        bytes: len,
                    }),
                }
                t.raw_data = Some(data.into());
                t.external_data.clear();
                t.data_location = None;
            }
            Err(e) => first_err = Some(e),
        }
    });
    first_err.map_or(Ok(stats), Err)
}

fn read_external(
    t: &TensorProto,
    name: &Path,
    base_dir: Option<&Path>,
    files: &mut HashMap<String, (File, u64)>,
) -> Result<(String, Vec<u8>)> {
    let err = |detail: String| Error::ExternalData {
        path: name.to_path_buf(),
        tensor: t.name().to_string(),
        detail,
    };
    let entry = |key: &str| {
        t.external_data
            .iter()
            .find(|e| e.key() == key)
            .map(|e| e.value())
    };
    let location = entry("location").ok_or_else(|| err("has no 'location' key".into()))?;
    let parse = |key: &str| -> Result<Option<u64>> {
        entry(key)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| err(format!("has a bad '{key}' value '{v}'")))
            })
            .transpose()
    };
    let offset = parse("offset")?.unwrap_or(0);
    let length = parse("length")?;
    // The spec requires locations relative to the model's folder; refuse anything that escapes it.
    let rel = Path::new(location);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(err(format!(
            "location '{location}' must be a relative path inside the model's folder"
        )));
    }
    let base = base_dir.ok_or_else(|| {
        err(format!(
            "'{location}' cannot be resolved for a model read from memory"
        ))
    })?;
    let file_path = base.join(rel);
    let (file, size) = match files.entry(location.to_string()) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(v) => {
            let f = File::open(&file_path).map_err(|e| {
                err(format!(
                    "file {} cannot be opened: {e}",
                    file_path.display()
                ))
            })?;
            let size = f
                .metadata()
                .map_err(|e| err(format!("file {}: {e}", file_path.display())))?
                .len();
            v.insert((f, size))
        }
    };
    let size = *size;
    let length = length.unwrap_or_else(|| size.saturating_sub(offset));
    let end = offset
        .checked_add(length)
        .ok_or_else(|| err("offset + length overflows".into()))?;
    if end > size {
        return Err(err(format!(
            "range {offset}..{end} runs past the end of {} ({size} bytes)",
            file_path.display()
        )));
    }
    let mut data = vec![0u8; usize::try_from(length).map_err(|_| err("length too large".into()))?];
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_exact(&mut data))
        .map_err(|e| err(format!("cannot read {}: {e}", file_path.display())))?;
    Ok((location.to_string(), data))
}
