//! Writing an output that must pass a check before it appears: [`stage`] saves the model into a
//! hidden folder beside its destination, under the destination's own file name (so external
//! data references stay valid), the caller checks the staged file, then [`Staged::commit`] moves
//! it into place or dropping the [`Staged`] removes it. Nothing is ever left half-written or
//! unchecked at the destination.

use crate::error::{Error, Result};
use crate::model::Model;
use crate::save::{refuse_overwrite, save, ExternalDataReport, SaveOptions, SaveReport};
use std::path::{Path, PathBuf};

/// A saved model waiting for [`Staged::commit`]; dropped, it is deleted.
#[derive(Debug)]
pub struct Staged {
    dir: tempfile::TempDir,
    staged: SaveReport,
    target: PathBuf,
}

/// Saves `model` as `options` say into a hidden folder in `target`'s folder; see the module
/// docs. Refuses a `target` that is one of the model's own source files.
pub fn stage(model: &Model, target: impl AsRef<Path>, options: &SaveOptions) -> Result<Staged> {
    let target = target.as_ref().to_path_buf();
    refuse_overwrite(model, &target)?;
    let file_name = target.file_name().ok_or_else(|| Error::Save {
        path: target.clone(),
        detail: "output path has no file name".into(),
    })?;
    let folder = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = tempfile::Builder::new()
        .prefix(".optimize-stage-")
        .tempdir_in(&folder)
        .map_err(|source| Error::Write {
            path: target.clone(),
            source,
        })?;
    let staged =
        save(model, dir.path().join(file_name), options).map_err(|e| rename_paths(e, &target))?;
    Ok(Staged {
        dir,
        staged,
        target,
    })
}

impl Staged {
    /// The staged model file, to load and check.
    pub fn path(&self) -> &Path {
        &self.staged.path
    }

    /// Where [`Staged::commit`] puts it.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Bytes of the model file plus its external data.
    pub fn bytes(&self) -> u64 {
        self.staged.bytes + self.staged.external_data.as_ref().map_or(0, |e| e.bytes)
    }

    /// Moves the staged files to the destination (external data first, so the model never
    /// points at a missing file) and returns what was written there.
    pub fn commit(self) -> Result<SaveReport> {
        let folder = self.target.parent().filter(|p| !p.as_os_str().is_empty());
        let folder = folder.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let external_data = match &self.staged.external_data {
            Some(e) => {
                let to = folder.join(e.path.file_name().unwrap_or_default());
                std::fs::rename(&e.path, &to).map_err(|source| Error::Write {
                    path: to.clone(),
                    source,
                })?;
                Some(ExternalDataReport {
                    path: to,
                    bytes: e.bytes,
                    tensors: e.tensors,
                })
            }
            None => None,
        };
        std::fs::rename(&self.staged.path, &self.target).map_err(|source| Error::Write {
            path: self.target.clone(),
            source,
        })?;
        if let Ok(d) = std::fs::File::open(&folder) {
            let _ = d.sync_all();
        }
        let report = SaveReport {
            path: self.target.clone(),
            bytes: self.staged.bytes,
            external_data,
        };
        drop(self.dir);
        Ok(report)
    }
}

// Errors name the destination, never the staging folder.
fn rename_paths(e: Error, target: &Path) -> Error {
    match e {
        Error::Write { source, .. } => Error::Write {
            path: target.to_path_buf(),
            source,
        },
        Error::Save { detail, .. } => Error::Save {
            path: target.to_path_buf(),
            detail,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::save::ExternalData;

    fn tiny() -> Model {
        Model::from_proto(crate::build::model(
            crate::proto::GraphProto {
                name: Some("g".into()),
                ..Default::default()
            },
            13,
        ))
    }

    #[test]
    fn nothing_at_the_target_until_commit_and_nothing_left_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.onnx");
        let staged = stage(&tiny(), &target, &SaveOptions::default()).unwrap();
        assert!(staged.path().exists());
        assert!(!target.exists());
        drop(staged);
        assert!(!target.exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "stage folder removed"
        );

        let staged = stage(&tiny(), &target, &SaveOptions::default()).unwrap();
        let written = staged.commit().unwrap();
        assert_eq!(written.path, target);
        assert_eq!(written.bytes, std::fs::metadata(&target).unwrap().len());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only out.onnx"
        );
    }

    #[test]
    fn external_data_moves_with_the_model() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.onnx");
        let options = SaveOptions {
            external_data: ExternalData::Always,
            ..Default::default()
        };
        let mut model = tiny();
        let t = crate::build::tensor_f32("w", &[512], &[0.5; 512]);
        model.proto.graph.as_mut().unwrap().initializer.push(t);
        let written = stage(&model, &target, &options).unwrap().commit().unwrap();
        let data = written.external_data.expect("external data");
        assert_eq!(data.path, dir.path().join("out.onnx.data"));
        let loaded = Model::load(&target).unwrap();
        assert_eq!(loaded.external_files().len(), 1);
    }
}
