//! The content-addressed cache under the output folder: every finished step's model, every
//! failed step's error, and every measurement, each under the key of what produced it.
//!
//! A step's key is the SHA-256 of its input's key, its kind and settings (as JSON), and the
//! contents of every file those settings name (calibration and evaluation data, recipes); the
//! original model's key is the SHA-256 of its bytes. Two chains that share a prefix therefore
//! share its entries, and a re-run after an interruption finds every step that finished.
//!
//! Layout (`<out>/cache/`):
//!
//! | path | what |
//! |---|---|
//! | `steps/<key>/model.onnx` (+ external data) | a finished step's output |
//! | `steps/<key>/step.json` | its [`StepRecord`]: settings, seconds, the job's report |
//! | `failed/<key>.json` | a failed step's [`StepRecord`], with its error |
//! | `measure/<key>.json` | a model measured on the target |
//! | `tmp/` | work in progress; a killed run leaves it, the next run clears it |
//!
//! Entries appear by renaming a finished temporary folder or file into place, so a process
//! killed at any moment leaves either a whole entry or none.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What a step did, kept beside its output (or alone, when it failed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step's key.
    pub key: String,
    /// `quantize`, `prune` or `distill`.
    pub kind: String,
    /// Its settings as the recipe wrote them (after expansion).
    pub settings: String,
    /// Wall time of the step.
    pub seconds: f64,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The job's own report (JSON), when it has one.
    pub report: Option<serde_json::Value>,
}

/// The cache of one output folder.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// The cache under `out_dir`, created if missing; leftovers of a killed run are removed.
    pub fn open(out_dir: &Path) -> Result<Cache> {
        let root = out_dir.join("cache");
        for sub in ["steps", "failed", "measure"] {
            create_dir(&root.join(sub))?;
        }
        let tmp = root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|source| Error::Io {
                path: tmp.clone(),
                source,
            })?;
        }
        create_dir(&tmp)?;
        Ok(Cache { root })
    }

    /// The cache folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The output model of the finished step `key`, if it is cached.
    pub fn model(&self, key: &str) -> Option<PathBuf> {
        let m = self.root.join("steps").join(key).join("model.onnx");
        m.is_file().then_some(m)
    }

    /// The record of step `key`, finished or failed.
    pub fn record(&self, key: &str) -> Option<StepRecord> {
        let done = self.root.join("steps").join(key).join("step.json");
        let failed = self.root.join("failed").join(format!("{key}.json"));
        [done, failed]
            .iter()
            .find_map(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// A fresh temporary folder for step `key` to write into.
    pub fn work_dir(&self, key: &str) -> Result<PathBuf> {
        let dir = self
            .root
            .join("tmp")
            .join(format!("{key}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
        }
        create_dir(&dir)?;
        Ok(dir)
    }

    /// Moves a finished work folder (holding `model.onnx`) into place with its record.
    pub fn commit(&self, work: &Path, record: &StepRecord) -> Result<PathBuf> {
        write_json(&work.join("step.json"), record)?;
        let dest = self.root.join("steps").join(&record.key);
        if dest.exists() {
            // Another worker finished the same step first; its entry is as good.
            let _ = std::fs::remove_dir_all(work);
        } else {
            std::fs::rename(work, &dest).map_err(|source| Error::Io {
                path: dest.clone(),
                source,
            })?;
        }
        Ok(dest.join("model.onnx"))
    }

    /// Records a failed step.
    pub fn fail(&self, record: &StepRecord) -> Result<()> {
        write_json(
            &self
                .root
                .join("failed")
                .join(format!("{}.json", record.key)),
            record,
        )
    }

    /// Forgets a failed step, so it runs again.
    pub fn forget_failure(&self, key: &str) {
        let _ = std::fs::remove_file(self.root.join("failed").join(format!("{key}.json")));
    }

    /// A cached measurement.
    pub fn measurement<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        let p = self.root.join("measure").join(format!("{key}.json"));
        std::fs::read(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Stores a measurement.
    pub fn store_measurement<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        write_json(
            &self.root.join("measure").join(format!("{key}.json")),
            value,
        )
    }
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    bytes.push(b'\n');
    optimize_data::atomic::write(path, &bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// SHA-256 of files and folders, each read once per run.
#[derive(Debug, Default)]
pub struct Hasher {
    seen: BTreeMap<PathBuf, String>,
}

impl Hasher {
    /// The hex SHA-256 of the file at `path`, or of a folder's files (names and contents, in
    /// name order); a model's external data files beside it are not included (see
    /// [`Hasher::model`]).
    pub fn file(&mut self, path: &Path) -> Result<String> {
        if let Some(h) = self.seen.get(path) {
            return Ok(h.clone());
        }
        let mut sha = Sha256::new();
        hash_into(path, &mut sha)?;
        let hex = hex(&sha.finalize());
        self.seen.insert(path.to_path_buf(), hex.clone());
        Ok(hex)
    }

    /// The hex SHA-256 of a model: its file and every external data file it names.
    pub fn model(&mut self, path: &Path) -> Result<String> {
        if let Some(h) = self.seen.get(path) {
            return Ok(h.clone());
        }
        let model = optimize_onnx::Model::load(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let mut sha = Sha256::new();
        // The model file first, then each external data file (by name and contents).
        for (i, file) in model.source_files().iter().enumerate() {
            if i > 0 {
                sha.update(file.file_name().unwrap_or_default().as_encoded_bytes());
            }
            hash_into(file, &mut sha)?;
        }
        let hex = hex(&sha.finalize());
        self.seen.insert(path.to_path_buf(), hex.clone());
        Ok(hex)
    }
}

fn hash_into(path: &Path, sha: &mut Sha256) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            sha.update(e.file_name().unwrap_or_default().as_encoded_bytes());
            hash_into(&e, sha)?;
        }
        return Ok(());
    }
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
    }
    Ok(())
}

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_is_all_or_nothing_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let work = cache.work_dir("k1").unwrap();
        std::fs::write(work.join("model.onnx"), b"m").unwrap();
        assert!(cache.model("k1").is_none(), "not visible before commit");
        let record = StepRecord {
            key: "k1".into(),
            kind: "prune".into(),
            settings: "ratio=0.5".into(),
            seconds: 1.0,
            error: None,
            report: None,
        };
        cache.commit(&work, &record).unwrap();
        // A killed run's leftovers are cleared on open; finished entries stay.
        let stale = cache.work_dir("k2").unwrap();
        std::fs::write(stale.join("model.onnx"), b"half").unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        assert!(cache.model("k1").is_some());
        assert_eq!(cache.record("k1").unwrap(), record);
        assert!(cache.model("k2").is_none());
        assert!(!stale.exists());
    }

    #[test]
    fn folder_hash_follows_contents() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.npy"), b"1").unwrap();
        let h1 = Hasher::default().file(dir.path()).unwrap();
        std::fs::write(dir.path().join("a.npy"), b"2").unwrap();
        let h2 = Hasher::default().file(dir.path()).unwrap();
        assert_ne!(h1, h2);
        assert_eq!(sha256_hex(b"").len(), 64);
    }
}
