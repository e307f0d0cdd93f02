//! Calibration and evaluation data for a model: samples streamed from `.npy`, `.npz` and
//! `.safetensors` files.
//!
//! A [`CalibrationSet`] opens a data file, or a folder of them, for a model whose inputs are
//! described by [`InputSpec`]s. The rules:
//!
//! - Arrays are named after the model's inputs. Every array's **first axis indexes samples**:
//!   `input` of shape `[100, 64]` is 100 samples of `[64]`. Each sample is yielded with a batch
//!   axis of 1 (`[1, 64]`) when the model input's first axis is its batch axis (symbolic or 1).
//! - The rest of an array's shape must fit the model input's shape after the batch axis, or the
//!   model input's whole shape: then each sample is fed as it is. That second form is for
//!   inputs whose batch axis is not first or that have none (a recurrent state `[2, batch, 128]`
//!   stored as `[n, 2, 1, 128]`, a sample-rate scalar stored as `[n]`). Symbolic dimensions fit
//!   anything; the dtypes must be equal: no conversion is made, the error says what to save
//!   instead.
//! - An input array that fits neither way but whose *whole* shape fits the model input's shape
//!   is one sample, fed as it is: a file saved per request (`sr` as a scalar `[]`, `state` as
//!   `[2, 1, 128]`, next to `input` as `[1, 512]`) holds one sample. When both readings fit,
//!   the first axis counts samples.
//! - Arrays that are not model inputs (such as `label`) are *extras*: they follow the same
//!   first-axis rule, come with each [`Sample`], and can be read whole ([`CalibrationSet::extra`],
//!   [`CalibrationSet::labels`]) to score predictions.
//! - A `.npy` file holds one array; it is allowed for single-input models only and names
//!   that input whatever the file is called.
//! - A folder is read file by file in file-name order; each file holds a run of samples with
//!   the same arrays. Files whose extension is not `.npy`, `.npz` or `.safetensors`,
//!   sub-folders and hidden files (names starting with `.`) are ignored; a folder with no data
//!   file is an error.
//! - NaN and infinite values are not errors here; see [`Tensor::count_non_finite`].
//!
//! [`CalibrationSet::open`] reads only headers and checks every file against the inputs, so a
//! mistake shows up before any work starts. Iterating reads data: a single file is read once
//! and kept; for a folder, at most one file's arrays are in memory at a time.
//!
//! ```
//! use optimize_data::calibration::{CalibrationSet, InputSpec};
//! use optimize_data::{npz, DType, Tensor};
//!
//! # let dir = std::env::temp_dir().join(format!("calib-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("calib.npz");
//! let x = Tensor::from_f32(vec![3, 2], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0])?;
//! let label = Tensor::from_i64(vec![3], vec![7, 8, 9])?;
//! npz::write_npz(&path, [("x", &x), ("label", &label)])?;
//!
//! // The model takes x: float32 [batch, 2].
//! let set = CalibrationSet::open(&path, &[InputSpec::new("x", DType::F32, [None, Some(2)])])?;
//! assert_eq!(set.len(), 3);
//! let (calibrate, verify) = set.split(1);
//! assert_eq!((calibrate, verify.clone()), (0..2, 2..3));
//! for sample in set.iter_range(verify) {
//!     let sample = sample?;
//!     assert_eq!(sample.inputs[0].1.shape(), [1, 2]);
//!     assert_eq!(sample.extra("label").unwrap().to_i64_vec()?, [9]);
//! }
//! assert_eq!(set.labels()?.to_i64_vec()?, [7, 8, 9]);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), optimize_data::Error>(())
//! ```

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::format::{read_array_infos, read_arrays, ArrayInfo, Format};
use crate::tensor::numel;
use crate::{DType, Error, Result, Tensor};

/// A model input as calibration needs it: name, dtype and shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InputSpec {
    /// The graph input's name; the data array must have the same name.
    pub name: String,
    /// The element type the model expects.
    pub dtype: DType,
    /// The declared shape, batch axis first; `None` for a symbolic dimension.
    pub shape: Vec<Option<usize>>,
}

impl InputSpec {
    /// An input spec from its parts.
    pub fn new(
        name: impl Into<String>,
        dtype: DType,
        shape: impl Into<Vec<Option<usize>>>,
    ) -> Self {
        Self {
            name: name.into(),
            dtype,
            shape: shape.into(),
        }
    }
}

/// One sample: a tensor per model input and per extra array, each with a leading axis of 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Index of the sample in the whole set, `0..len`.
    pub index: usize,
    /// Model inputs, in the order the [`InputSpec`]s were given.
    pub inputs: Vec<(String, Tensor)>,
    /// Arrays that are not model inputs (labels and the like), sorted by name.
    pub extras: Vec<(String, Tensor)>,
}

impl Sample {
    /// The tensor for model input `name`.
    pub fn input(&self, name: &str) -> Option<&Tensor> {
        self.inputs.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// The extra array `name` of this sample.
    pub fn extra(&self, name: &str) -> Option<&Tensor> {
        self.extras.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// One data file of a set and the samples it holds.
#[derive(Debug)]
struct Shard {
    path: PathBuf,
    format: Format,
    /// Index of the file's first sample in the whole set.
    start: usize,
    samples: usize,
    /// The file's arrays as the headers describe them, sorted by name (a `.npy` array
    /// renamed to the model input).
    arrays: Vec<ArrayInfo>,
    /// Per model input: the array is one whole sample, not a stack of them.
    whole: Vec<bool>,
}

/// One file's arrays in memory, in the set's order.
struct Loaded {
    inputs: Vec<Tensor>,
    extras: Vec<Tensor>,
}

/// Samples for a model from a data file or folder; see the module doc for the rules.
pub struct CalibrationSet {
    path: PathBuf,
    inputs: Vec<InputSpec>,
    /// Extra arrays: name, dtype and the shape of one sample, sorted by name.
    extras: Vec<ArrayInfo>,
    shards: Vec<Shard>,
    len: usize,
    /// The arrays of a single-file set, read on first use.
    single: OnceLock<Arc<Loaded>>,
}

impl fmt::Debug for CalibrationSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CalibrationSet")
            .field("path", &self.path)
            .field("inputs", &self.inputs)
            .field("extras", &self.extras)
            .field("shards", &self.shards)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl CalibrationSet {
    /// Opens `path` (a `.npy`, `.npz` or `.safetensors` file, or a folder of them) for a model
    /// with `inputs`, reading every file's headers and checking names, dtypes, sample shapes
    /// and sample counts. No data is read yet.
    pub fn open(path: impl AsRef<Path>, inputs: &[InputSpec]) -> Result<Self> {
        let path = path.as_ref();
        check_specs(inputs)?;
        let files = data_files(path)?;
        let mut shards: Vec<Shard> = Vec::with_capacity(files.len());
        let mut extras: Option<Vec<ArrayInfo>> = None;
        let mut len = 0usize;
        for file in files {
            let format =
                Format::of(&file).ok_or_else(|| Error::UnknownFormat { path: file.clone() })?;
            let mut arrays = read_array_infos(&file)?;
            if format == Format::Npy {
                let [input] = inputs else {
                    return Err(Error::NpyNeedsOneInput {
                        path: file,
                        inputs: inputs.iter().map(|i| i.name.clone()).collect(),
                    });
                };
                for array in &mut arrays {
                    array.name.clone_from(&input.name);
                }
            }
            arrays.sort_by(|a, b| a.name.cmp(&b.name));
            let (samples, whole) = check_file(&file, &arrays, inputs)?;
            let file_extras: Vec<ArrayInfo> = arrays
                .iter()
                .filter(|a| !inputs.iter().any(|i| i.name == a.name))
                .map(|a| ArrayInfo {
                    name: a.name.clone(),
                    dtype: a.dtype,
                    shape: a.shape[1..].to_vec(),
                })
                .collect();
            match (&extras, shards.first()) {
                (Some(first_extras), Some(first)) => {
                    check_same_extras(&file, &file_extras, &first.path, first_extras)?
                }
                _ => extras = Some(file_extras),
            }
            let start = len;
            len = len
                .checked_add(samples)
                .ok_or_else(|| Error::ShapeOverflow {
                    shape: vec![len, samples],
                })?;
            shards.push(Shard {
                path: file,
                format,
                start,
                samples,
                arrays,
                whole,
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            inputs: inputs.to_vec(),
            extras: extras.unwrap_or_default(),
            shards,
            len,
            single: OnceLock::new(),
        })
    }

    /// The path the set was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The data files, in the order their samples come.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.shards.iter().map(|s| s.path.as_path())
    }

    /// The model inputs the set was opened for.
    pub fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }

    /// The names of the extra (non-input) arrays, sorted.
    pub fn extra_names(&self) -> impl Iterator<Item = &str> {
        self.extras.iter().map(|e| e.name.as_str())
    }

    /// Total number of samples, from the headers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the set holds no samples.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Splits `0..len` into samples to calibrate on and the last `holdout` samples to verify
    /// on. A `holdout` of `len` or more holds everything out.
    pub fn split(&self, holdout: usize) -> (Range<usize>, Range<usize>) {
        let cut = self.len - holdout.min(self.len);
        (0..cut, cut..self.len)
    }

    /// Every sample, in order.
    pub fn iter(&self) -> Samples<'_> {
        self.iter_range(0..self.len)
    }

    /// The samples with indices in `range` (clamped to `0..len`), in order. Files before the
    /// range are not read.
    pub fn iter_range(&self, range: Range<usize>) -> Samples<'_> {
        let end = range.end.min(self.len);
        Samples {
            set: self,
            next: range.start.min(end),
            end,
            current: None,
            done: false,
        }
    }

    /// The whole extra array `name` across all files: shape `[len, ...]`. For a folder this
    /// reads every file once (one at a time).
    pub fn extra(&self, name: &str) -> Result<Tensor> {
        let Some(pos) = self.extras.iter().position(|e| e.name == name) else {
            return Err(Error::NoSuchArray {
                path: self.path.clone(),
                array: name.to_string(),
                found: self.extra_names().map(str::to_string).collect(),
            });
        };
        let info = &self.extras[pos];
        let mut shape = vec![self.len];
        shape.extend_from_slice(&info.shape);
        let mut bytes = Vec::new();
        for i in 0..self.shards.len() {
            let loaded = self.load(i)?;
            bytes.extend_from_slice(loaded.extras[pos].as_bytes());
        }
        Tensor::from_bytes(info.dtype, shape, bytes)
    }

    /// The labels of an evaluation set: the extra array `label`, or else `labels`.
    pub fn labels(&self) -> Result<Tensor> {
        let name = if self.extras.iter().any(|e| e.name == "label") {
            "label"
        } else if self.extras.iter().any(|e| e.name == "labels") {
            "labels"
        } else {
            return Err(Error::NoSuchArray {
                path: self.path.clone(),
                array: "label".into(),
                found: self.extra_names().map(str::to_string).collect(),
            });
        };
        self.extra(name)
    }

    /// The arrays of file `i`: from the cache for a single-file set, else read now.
    fn load(&self, i: usize) -> Result<Arc<Loaded>> {
        if self.shards.len() == 1 {
            if let Some(loaded) = self.single.get() {
                return Ok(Arc::clone(loaded));
            }
            let loaded = Arc::new(self.read_shard(i)?);
            // Another thread may have won the race; either copy is the same data.
            return Ok(Arc::clone(self.single.get_or_init(|| loaded)));
        }
        Ok(Arc::new(self.read_shard(i)?))
    }

    fn read_shard(&self, i: usize) -> Result<Loaded> {
        let shard = &self.shards[i];
        let mut arrays = read_arrays(&shard.path)?;
        if shard.format == Format::Npy {
            if let Some(input) = self.inputs.first() {
                for (name, _) in &mut arrays {
                    name.clone_from(&input.name);
                }
            }
        }
        arrays.sort_by(|a, b| a.0.cmp(&b.0));
        let found: Vec<ArrayInfo> = arrays
            .iter()
            .map(|(name, t)| ArrayInfo {
                name: name.clone(),
                dtype: t.dtype(),
                shape: t.shape().to_vec(),
            })
            .collect();
        if found != shard.arrays {
            return Err(Error::FilesDisagree {
                path: shard.path.clone(),
                first: shard.path.clone(),
                detail: "the file changed after the calibration set was opened".into(),
            });
        }
        let mut take =
            |name: &str| -> Result<Tensor> {
                let pos = arrays.iter().position(|(n, _)| n == name).ok_or_else(|| {
                    Error::NoSuchArray {
                        path: shard.path.clone(),
                        array: name.to_string(),
                        found: vec![],
                    }
                })?;
                Ok(arrays.swap_remove(pos).1)
            };
        let inputs = self
            .inputs
            .iter()
            .map(|i| take(&i.name))
            .collect::<Result<Vec<_>>>()?;
        let extras = self
            .extras
            .iter()
            .map(|e| take(&e.name))
            .collect::<Result<Vec<_>>>()?;
        Ok(Loaded { inputs, extras })
    }

    fn sample(&self, shard: &Shard, loaded: &Loaded, index: usize) -> Result<Sample> {
        let local = index - shard.start;
        let inputs = self
            .inputs
            .iter()
            .zip(&loaded.inputs)
            .zip(&shard.whole)
            .map(|((spec, t), &whole)| {
                if whole {
                    return Ok((spec.name.clone(), t.clone()));
                }
                let mut sample = slice_sample(t, local)?;
                // Whole-input layout: the array's sample already has the input's full rank.
                if spec.shape.len() + 1 == t.shape().len() {
                    let shape = sample.shape()[1..].to_vec();
                    sample = sample.reshape(shape)?;
                }
                Ok((spec.name.clone(), sample))
            })
            .collect::<Result<Vec<_>>>()?;
        let extras = self
            .extras
            .iter()
            .zip(&loaded.extras)
            .map(|(info, t)| Ok((info.name.clone(), slice_sample(t, local)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Sample {
            index,
            inputs,
            extras,
        })
    }
}

/// An iterator over the samples of a [`CalibrationSet`]; made by [`CalibrationSet::iter`] and
/// [`CalibrationSet::iter_range`]. After an error it ends.
pub struct Samples<'a> {
    set: &'a CalibrationSet,
    next: usize,
    end: usize,
    current: Option<(usize, Arc<Loaded>)>,
    done: bool,
}

impl fmt::Debug for Samples<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Samples")
            .field("next", &self.next)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

impl Iterator for Samples<'_> {
    type Item = Result<Sample>;

    fn next(&mut self) -> Option<Result<Sample>> {
        if self.done || self.next >= self.end {
            return None;
        }
        let index = self.next;
        let shards = &self.set.shards;
        let i = shards.partition_point(|s| s.start + s.samples <= index);
        let shard = shards.get(i)?;
        if self.current.as_ref().map(|(c, _)| *c) != Some(i) {
            // Let go of the previous file before reading the next one.
            self.current = None;
            match self.set.load(i) {
                Ok(loaded) => self.current = Some((i, loaded)),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        let (_, loaded) = self.current.as_ref()?;
        self.next += 1;
        let sample = self.set.sample(shard, loaded, index);
        if sample.is_err() {
            self.done = true;
        }
        Some(sample)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = if self.done { 0 } else { self.end - self.next };
        (0, Some(left))
    }
}

/// Sample `i` of `t` (indexing the first axis), with that axis kept at length 1.
fn slice_sample(t: &Tensor, i: usize) -> Result<Tensor> {
    let rest = t.shape().get(1..).unwrap_or(&[]);
    let stride = numel(rest)?
        .checked_mul(t.dtype().size_of())
        .ok_or_else(|| Error::ShapeOverflow {
            shape: rest.to_vec(),
        })?;
    let start = i.saturating_mul(stride);
    let bytes = t
        .as_bytes()
        .get(start..start.saturating_add(stride))
        .ok_or_else(|| Error::ShapeOverflow {
            shape: t.shape().to_vec(),
        })?;
    let mut shape = Vec::with_capacity(rest.len() + 1);
    shape.push(1);
    shape.extend_from_slice(rest);
    Tensor::from_bytes(t.dtype(), shape, bytes.to_vec())
}

fn check_specs(inputs: &[InputSpec]) -> Result<()> {
    for (k, spec) in inputs.iter().enumerate() {
        let bad = |reason: String| Error::InputSpec {
            input: spec.name.clone(),
            reason,
        };
        if inputs[..k].iter().any(|other| other.name == spec.name) {
            return Err(bad("two model inputs have this name".into()));
        }
    }
    Ok(())
}

/// The data files at `path`: the file itself, or a folder's data files sorted by name.
fn data_files(path: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::read(path, e))?;
    if !meta.is_dir() {
        Format::of(path).ok_or_else(|| Error::UnknownFormat {
            path: path.to_path_buf(),
        })?;
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut ignored = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| Error::read(path, e))? {
        let entry = entry.map_err(|e| Error::read(path, e))?;
        let file = entry.path();
        let name = entry.file_name();
        let hidden = name.to_string_lossy().starts_with('.');
        // Follows symbolic links, so a linked data file counts.
        let is_file = std::fs::metadata(&file).is_ok_and(|m| m.is_file());
        if is_file && !hidden && Format::of(&file).is_some() {
            files.push((name, file));
        } else {
            ignored.push(name.to_string_lossy().into_owned());
        }
    }
    if files.is_empty() {
        ignored.sort();
        return Err(Error::NoDataFiles {
            path: path.to_path_buf(),
            ignored,
        });
    }
    files.sort();
    Ok(files.into_iter().map(|(_, file)| file).collect())
}

/// Checks one file's arrays (sorted by name) against the inputs; returns its sample count and,
/// per input, whether its array is one whole sample.
fn check_file(
    path: &Path,
    arrays: &[ArrayInfo],
    inputs: &[InputSpec],
) -> Result<(usize, Vec<bool>)> {
    let mut whole = Vec::with_capacity(inputs.len());
    for spec in inputs {
        let Some(array) = arrays.iter().find(|a| a.name == spec.name) else {
            return Err(Error::MissingInput {
                path: path.to_path_buf(),
                input: spec.name.clone(),
                found: arrays.iter().map(|a| a.name.clone()).collect(),
            });
        };
        if array.dtype != spec.dtype {
            return Err(Error::InputDType {
                path: path.to_path_buf(),
                array: array.name.clone(),
                found: array.dtype,
                expected: spec.dtype,
            });
        }
        let fit = |model: &[Option<usize>], sample: &[usize]| {
            model.len() == sample.len()
                && model
                    .iter()
                    .zip(sample)
                    .all(|(m, s)| m.is_none_or(|m| m == *s))
        };
        let sample = array.shape.get(1..).unwrap_or(&[]);
        // Batch-first input: samples get a batch axis of 1. Otherwise: samples are whole inputs.
        let batched = spec.shape.first().is_some_and(|b| b.is_none_or(|b| b == 1))
            && fit(&spec.shape[1..], sample);
        let stacked = !array.shape.is_empty() && (batched || fit(&spec.shape, sample));
        let one = !stacked && fit(&spec.shape, &array.shape);
        if !stacked && !one {
            return Err(Error::SampleShape {
                path: path.to_path_buf(),
                array: array.name.clone(),
                sample: sample.to_vec(),
                model: spec.shape.clone(),
            });
        }
        whole.push(one);
    }
    let mut count: Option<(&str, usize)> = None;
    for array in arrays {
        let n = match inputs.iter().position(|i| i.name == array.name) {
            Some(k) if whole[k] => 1,
            _ => match array.shape.first() {
                Some(&n) => n,
                None => {
                    return Err(Error::NoSampleAxis {
                        path: path.to_path_buf(),
                        array: array.name.clone(),
                    })
                }
            },
        };
        match count {
            None => count = Some((&array.name, n)),
            Some((first, first_count)) if first_count != n => {
                return Err(Error::SampleCount {
                    path: path.to_path_buf(),
                    first: first.to_string(),
                    first_count,
                    array: array.name.clone(),
                    count: n,
                })
            }
            Some(_) => {}
        }
    }
    Ok((count.map_or(0, |(_, n)| n), whole))
}

/// A later file of a folder must hold the same extra arrays, with the same dtypes and sample
/// shapes, as the first (so that [`CalibrationSet::extra`] can join them).
fn check_same_extras(
    path: &Path,
    extras: &[ArrayInfo],
    first_path: &Path,
    first: &[ArrayInfo],
) -> Result<()> {
    let disagree = |detail: String| Error::FilesDisagree {
        path: path.to_path_buf(),
        first: first_path.to_path_buf(),
        detail,
    };
    let names = |e: &[ArrayInfo]| e.iter().map(|a| a.name.clone()).collect::<Vec<_>>();
    if names(extras) != names(first) {
        return Err(disagree(format!(
            "holds extra arrays [{}] where the first file holds [{}]",
            names(extras).join(", "),
            names(first).join(", ")
        )));
    }
    for (a, b) in extras.iter().zip(first) {
        if a.dtype != b.dtype || a.shape != b.shape {
            return Err(disagree(format!(
                "extra array '{}' is {} with sample shape {:?}, where the first file has {} {:?}",
                a.name, a.dtype, a.shape, b.dtype, b.shape
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, dtype: DType, shape: &[usize]) -> ArrayInfo {
        ArrayInfo {
            name: name.into(),
            dtype,
            shape: shape.to_vec(),
        }
    }

    #[test]
    fn samples_keep_a_batch_axis_of_one() {
        let t = Tensor::from_i32(vec![3, 2], vec![0, 1, 2, 3, 4, 5]).unwrap();
        let s = slice_sample(&t, 1).unwrap();
        assert_eq!(
            (s.shape(), s.to_i32_vec().unwrap()),
            (&[1, 2][..], vec![2, 3])
        );
        let labels = Tensor::from_i64(vec![3], vec![7, 8, 9]).unwrap();
        assert_eq!(slice_sample(&labels, 2).unwrap().to_i64_vec().unwrap(), [9]);
        assert_eq!(slice_sample(&labels, 2).unwrap().shape(), [1]);
        assert!(slice_sample(&labels, 3).is_err());
    }

    #[test]
    fn file_checks_count_samples() {
        let spec = [InputSpec::new("x", DType::F32, [None, Some(2), None])];
        let path = Path::new("d.npz");
        let ok = [
            info("label", DType::I64, &[5]),
            info("x", DType::F32, &[5, 2, 9]),
        ];
        assert_eq!(check_file(path, &ok, &spec).unwrap(), (5, vec![false]));
        let empty = [info("x", DType::F32, &[0, 2, 1])];
        assert_eq!(check_file(path, &empty, &spec).unwrap().0, 0);
        let scalar_x = [info("x", DType::F32, &[])];
        assert!(matches!(
            check_file(path, &scalar_x, &spec),
            Err(Error::SampleShape { .. })
        ));
    }

    /// Issue 14: a folder saved one request per file, with a scalar `sr` and a recurrent state,
    /// failed with "sample shape [] does not fit model input []".
    #[test]
    fn a_file_per_request_holds_one_sample_of_scalar_and_batch_one_inputs() {
        let spec = [
            InputSpec::new("input", DType::F32, [None, Some(512)]),
            InputSpec::new("sr", DType::I64, []),
            InputSpec::new("state", DType::F32, [Some(2), None, Some(128)]),
        ];
        let path = Path::new("request-0001.npz");
        let request = [
            info("input", DType::F32, &[1, 512]),
            info("sr", DType::I64, &[]),
            info("state", DType::F32, &[2, 1, 128]),
        ];
        assert_eq!(
            check_file(path, &request, &spec).unwrap(),
            (1, vec![false, true, true])
        );
        // Stacked files keep their meaning: [n] is n scalars, [n, 2, 1, 128] n states.
        let stacked = [
            info("input", DType::F32, &[3, 512]),
            info("sr", DType::I64, &[3]),
            info("state", DType::F32, &[3, 2, 1, 128]),
        ];
        assert_eq!(
            check_file(path, &stacked, &spec).unwrap(),
            (3, vec![false, false, false])
        );
        // A whole sample next to a stack of three is a count mismatch, said as one.
        let mixed = [
            info("input", DType::F32, &[3, 512]),
            info("sr", DType::I64, &[]),
            info("state", DType::F32, &[3, 2, 1, 128]),
        ];
        assert!(matches!(
            check_file(path, &mixed, &spec),
            Err(Error::SampleCount { .. })
        ));
    }

    #[test]
    fn sets_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CalibrationSet>();
        assert_send_sync::<Sample>();
    }
}
