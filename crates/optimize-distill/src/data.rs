//! Samples for training: read from `.npz`, safetensors or CSV (gzip allowed), split by
//! fraction and seed, with a labelled part and augmentations for the transfer set.
//!
//! - `.npz` / `.safetensors`: the arrays named by `data.inputs` (first axis = samples, any
//!   numeric type) and `data.labels` (integers).
//! - `.csv` / `.csv.gz`: one sample a line, numbers separated by commas (read with the `csv`
//!   crate: quoted fields, blank lines and spaces around values are fine); `data.label_column`
//!   (default the last) is the label, every other column an input value.
//!
//! Inputs are multiplied by `data.scale` and reshaped to `data.shape` per sample. Splits are a
//! seeded shuffle cut by fraction ([`Splits::by_fraction`]); the labelled part of the training
//! split is stratified by class ([`labelled_subset`]). Every draw uses
//! [`optimize_data::SplitMix64`], so the same seed gives the same samples on every
//! machine.
//!
//! ```
//! use optimize_distill::data::Splits;
//! let s = Splits::by_fraction(100, 0.7, 0.1, 0.2, 0);
//! assert_eq!((s.train.len(), s.val.len(), s.test.len()), (70, 10, 20));
//! assert_eq!(s, Splits::by_fraction(100, 0.7, 0.1, 0.2, 0));
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use optimize_data::{read_arrays, SplitMix64, Tensor};

use crate::recipe::{AugmentSpec, DataSpec};
use crate::{Error, Result};

/// Samples in memory: inputs as `f32` rows, labels (`-1` where unknown).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Inputs, `len × sample_size` values, sample after sample.
    pub x: Vec<f32>,
    /// Labels, one per sample; `-1` marks a sample without a label.
    pub y: Vec<i64>,
    /// The shape of one sample.
    pub sample_shape: Vec<usize>,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Values per sample.
    pub fn sample_size(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// The samples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let d = self.sample_size();
        let mut x = Vec::with_capacity(indices.len() * d);
        for &i in indices {
            x.extend_from_slice(&self.x[i * d..(i + 1) * d]);
        }
        Dataset {
            x,
            y: indices.iter().map(|&i| self.y[i]).collect(),
            sample_shape: self.sample_shape.clone(),
        }
    }

    /// Appends `other`'s samples (same sample shape).
    pub fn extend(&mut self, other: &Dataset) -> Result<()> {
        if other.sample_shape != self.sample_shape {
            return Err(Error::Shape(format!(
                "samples of shape {:?} cannot join samples of shape {:?}",
                other.sample_shape, self.sample_shape
            )));
        }
        self.x.extend_from_slice(&other.x);
        self.y.extend_from_slice(&other.y);
        Ok(())
    }

    /// Number of classes the labels name (largest label + 1).
    pub fn classes(&self) -> usize {
        self.y
            .iter()
            .copied()
            .max()
            .map_or(0, |m| (m + 1).max(0) as usize)
    }
}

/// Reads the file at `path` as `spec` describes. With `labels` false, labels are not read
/// (every sample gets `-1`): unlabelled transfer inputs.
pub fn load(path: &Path, spec: &DataSpec, labels: bool) -> Result<Dataset> {
    let name = path.to_string_lossy().to_lowercase();
    let (x, y, shape) = if name.ends_with(".csv") || name.ends_with(".csv.gz") {
        read_csv(path, spec, labels)?
    } else {
        read_named(path, spec, labels)?
    };
    let mut data = Dataset {
        x,
        y,
        sample_shape: shape,
    };
    if spec.scale != 1.0 {
        for v in &mut data.x {
            *v *= spec.scale;
        }
    }
    if let Some(shape) = &spec.shape {
        if shape.iter().product::<usize>() != data.sample_size() {
            return Err(Error::Shape(format!(
                "{}: a sample has {} values ({:?}); data.shape {:?} needs {}",
                path.display(),
                data.sample_size(),
                data.sample_shape,
                shape,
                shape.iter().product::<usize>()
            )));
        }
        data.sample_shape = shape.clone();
    }
    if let Some(i) = data.x.iter().position(|v| !v.is_finite()) {
        return Err(Error::BadData {
            path: path.to_path_buf(),
            message: format!(
                "sample {} holds {} (inputs must be finite)",
                i / data.sample_size().max(1),
                data.x[i]
            ),
        });
    }
    if data.is_empty() {
        return Err(Error::BadData {
            path: path.to_path_buf(),
            message: "holds no samples".into(),
        });
    }
    Ok(data)
}

type Loaded = (Vec<f32>, Vec<i64>, Vec<usize>);

fn read_named(path: &Path, spec: &DataSpec, labels: bool) -> Result<Loaded> {
    let arrays = read_arrays(path)?;
    let names = || {
        arrays
            .iter()
            .map(|(n, t)| format!("{n} {:?}", t.shape()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let find = |want: &str| -> Result<&Tensor> {
        arrays
            .iter()
            .find(|(n, _)| n == want)
            .map(|(_, t)| t)
            .ok_or_else(|| Error::BadData {
                path: path.to_path_buf(),
                message: format!(
                    "has no array `{want}` (it has: {}); set data.inputs / data.labels",
                    names()
                ),
            })
    };
    let xs = find(&spec.inputs)?;
    if xs.shape().is_empty() {
        return Err(Error::Shape(format!(
            "{}: array `{}` is a scalar; the first axis must index samples",
            path.display(),
            spec.inputs
        )));
    }
    let n = xs.shape()[0];
    let x: Vec<f32> = xs.to_f64_lossy().into_iter().map(|v| v as f32).collect();
    let y = if labels {
        let ys = find(&spec.labels)?;
        if ys.shape() != [n] {
            return Err(Error::Shape(format!(
                "{}: labels `{}` have shape {:?}; expected [{n}], one per sample of `{}`",
                path.display(),
                spec.labels,
                ys.shape(),
                spec.inputs
            )));
        }
        to_labels(&ys.to_f64_lossy(), path)?
    } else {
        vec![-1; n]
    };
    Ok((x, y, xs.shape()[1..].to_vec()))
}

fn to_labels(values: &[f64], path: &Path) -> Result<Vec<i64>> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if v.fract() == 0.0 && (0.0..1e9).contains(&v) {
                Ok(v as i64)
            } else {
                Err(Error::BadData {
                    path: path.to_path_buf(),
                    message: format!("label {i} is {v}; labels are class indices 0, 1, 2, ..."),
                })
            }
        })
        .collect()
}

fn read_csv(path: &Path, spec: &DataSpec, labels: bool) -> Result<Loaded> {
    let file = std::fs::File::open(path).map_err(|source| Error::MissingFile {
        key: "data".into(),
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader: Box<dyn Read> = if path.to_string_lossy().to_lowercase().ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut text = Vec::new();
    reader.read_to_end(&mut text).map_err(|e| Error::BadData {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let bad = |line: usize, message: String| Error::BadData {
        path: path.to_path_buf(),
        message: format!("line {line}: {message}"),
    };
    let mut lines = Lines::new(&text);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let mut width = None;
    // Rows of different lengths get our message (with both counts), not csv's.
    let mut rows = csv::ReaderBuilder::new()
        .has_headers(spec.header)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_slice());
    for row in rows.records() {
        let row = row.map_err(|e| {
            let line = e.position().map_or(0, |p| lines.of(p.byte()));
            match e.kind() {
                csv::ErrorKind::Utf8 { err, .. } => bad(line, format!("not UTF-8 text: {err}")),
                _ => bad(line, e.to_string()),
            }
        })?;
        let line = row.position().map_or(0, |p| lines.of(p.byte()));
        if row.iter().all(str::is_empty) {
            continue;
        }
        let values: Vec<f32> = row
            .iter()
            .map(|v| {
                v.parse::<f32>()
                    .map_err(|_| bad(line, format!("`{v}` is not a number")))
            })
            .collect::<Result<_>>()?;
        if *width.get_or_insert(values.len()) != values.len() {
            return Err(bad(
                line,
                format!(
                    "{} columns, earlier lines have {}",
                    values.len(),
                    width.unwrap_or(0)
                ),
            ));
        }
        if labels {
            let col = if spec.label_column < 0 {
                values.len() as i64 + spec.label_column
            } else {
                spec.label_column
            };
            if col < 0 || col as usize >= values.len() {
                return Err(bad(
                    line,
                    format!(
                        "no label column {} in {} columns",
                        spec.label_column,
                        values.len()
                    ),
                ));
            }
            let col = col as usize;
            y.push(
                to_labels(&[values[col] as f64], path).map_err(|_| {
                    bad(line, format!("label {} is not a class index", values[col]))
                })?[0],
            );
            x.extend(
                values
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != col)
                    .map(|(_, v)| *v),
            );
        } else {
            y.push(-1);
            x.extend(values);
        }
    }
    let d = x.len().checked_div(y.len()).unwrap_or(0);
    Ok((x, y, vec![d]))
}

/// 1-based line numbers of byte offsets, counted forward. `csv`'s own line numbers are off
/// after blank lines and with CRLF line ends (rust-csv issue #208), and a record's offset points
/// at the blank lines before it, which are skipped here.
struct Lines<'t> {
    text: &'t [u8],
    at: usize,
    line: usize,
}

impl<'t> Lines<'t> {
    fn new(text: &'t [u8]) -> Self {
        Lines {
            text,
            at: 0,
            line: 1,
        }
    }

    /// The line a record starting at `byte` (or at the blank lines before it) is on; offsets
    /// must not go backwards.
    fn of(&mut self, byte: u64) -> usize {
        let byte = usize::try_from(byte).map_or(self.text.len(), |b| b.min(self.text.len()));
        let blank = self.text[byte..]
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        let start = (byte + blank).max(self.at);
        self.line += self.text[self.at..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.at = start;
        self.line
    }
}

/// Indices of the training, validation and test samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splits {
    /// Training samples.
    pub train: Vec<usize>,
    /// Validation samples.
    pub val: Vec<usize>,
    /// Test samples.
    pub test: Vec<usize>,
}

/// A seeded Fisher–Yates permutation of `0..n`.
pub fn permutation(n: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        p.swap(i, j);
    }
    p
}

impl Splits {
    /// Shuffles `0..n` with `seed` and cuts it into `train`, `val` and `test` fractions
    /// (rounded; what is left over is unused).
    pub fn by_fraction(n: usize, train: f64, val: f64, test: f64, seed: u64) -> Splits {
        let p = permutation(n, &mut SplitMix64::new(seed));
        let count = |f: f64| ((f * n as f64).round() as usize).min(n);
        let n_train = count(train);
        let n_val = count(val).min(n - n_train);
        let n_test = count(test).min(n - n_train - n_val);
        Splits {
            train: p[..n_train].to_vec(),
            val: p[n_train..n_train + n_val].to_vec(),
            test: p[n_train + n_val..n_train + n_val + n_test].to_vec(),
        }
    }
}

/// Positions (into `labels`) of the labelled part: `fraction` of each class (at least one
/// sample of each class present), seeded.
pub fn labelled_subset(labels: &[i64], fraction: f64, seed: u64) -> Vec<usize> {
    if fraction >= 1.0 {
        return (0..labels.len()).filter(|&i| labels[i] >= 0).collect();
    }
    let mut rng = SplitMix64::new(seed ^ 0x1abe_11ed);
    let classes = labels.iter().copied().max().unwrap_or(-1);
    let mut chosen = Vec::new();
    for c in 0..=classes {
        let members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
        if members.is_empty() {
            continue;
        }
        let take = ((fraction * members.len() as f64).round() as usize).clamp(1, members.len());
        let p = permutation(members.len(), &mut rng);
        chosen.extend(p[..take].iter().map(|&j| members[j]));
    }
    chosen.sort_unstable();
    chosen
}

/// Applies `spec`'s augmentations to one batch in place (`x` holds samples of `sample_shape`).
pub fn augment(
    x: &mut [f32],
    sample_shape: &[usize],
    spec: &AugmentSpec,
    rng: &mut SplitMix64,
) -> Result<()> {
    let d: usize = sample_shape.iter().product();
    if d == 0 {
        return Ok(());
    }
    if spec.shift > 0 {
        let (h, w) = match (spec.image, sample_shape) {
            (Some([h, w]), _) => (h, w),
            (None, [.., h, w]) => (*h, *w),
            _ => {
                return Err(Error::Shape(format!(
                    "transfer.augment.shift needs images; samples are {sample_shape:?}: set transfer.augment.image = [height, width]"
                )))
            }
        };
        if h * w == 0 || !d.is_multiple_of(h * w) {
            return Err(Error::Shape(format!(
                "transfer.augment.image [{h}, {w}] does not divide a sample of {d} values"
            )));
        }
        let channels = d / (h * w);
        let s = spec.shift as i64;
        let mut out = vec![0f32; d];
        for sample in x.chunks_mut(d) {
            let dy = rng.below(2 * s as u64 + 1) as i64 - s;
            let dx = rng.below(2 * s as u64 + 1) as i64 - s;
            out.iter_mut().for_each(|v| *v = 0.0);
            for c in 0..channels {
                for r in 0..h as i64 {
                    let sr = r - dy;
                    if sr < 0 || sr >= h as i64 {
                        continue;
                    }
                    for col in 0..w as i64 {
                        let sc = col - dx;
                        if sc < 0 || sc >= w as i64 {
                            continue;
                        }
                        out[c * h * w + (r as usize) * w + col as usize] =
                            sample[c * h * w + (sr as usize) * w + sc as usize];
                    }
                }
            }
            sample.copy_from_slice(&out);
        }
    }
    if spec.noise > 0.0 {
        for v in x.iter_mut() {
            // Box–Muller: one normal draw from two uniforms.
            let u1 = rng.next_f64().max(f64::MIN_POSITIVE);
            let u2 = rng.next_f64();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            *v += spec.noise * z as f32;
        }
    }
    Ok(())
}

/// The files a data spec reads, resolved: the main file and the optional test file.
pub fn files(spec: &DataSpec, resolve: impl Fn(&Path) -> PathBuf) -> (PathBuf, Option<PathBuf>) {
    (resolve(&spec.path), spec.test.as_deref().map(resolve))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_disjoint_and_seeded() {
        let s = Splits::by_fraction(10, 0.5, 0.2, 0.3, 3);
        let mut all: Vec<usize> = s
            .train
            .iter()
            .chain(&s.val)
            .chain(&s.test)
            .copied()
            .collect();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_ne!(s, Splits::by_fraction(10, 0.5, 0.2, 0.3, 4));
    }

    #[test]
    fn labelled_subset_is_stratified() {
        let labels: Vec<i64> = (0..100).map(|i| i % 4).collect();
        let sub = labelled_subset(&labels, 0.1, 0);
        for c in 0..4 {
            assert_eq!(sub.iter().filter(|&&i| labels[i] == c).count(), 3); // round(2.5) = 3
        }
        assert_eq!(sub, labelled_subset(&labels, 0.1, 0));
    }

    #[test]
    fn shift_moves_pixels() {
        let mut x = vec![0f32; 9];
        x[4] = 1.0; // centre of 3x3
        let spec = AugmentSpec {
            shift: 1,
            noise: 0.0,
            image: Some([3, 3]),
        };
        let mut rng = SplitMix64::new(1);
        augment(&mut x, &[9], &spec, &mut rng).unwrap();
        assert_eq!(x.iter().sum::<f32>(), 1.0);
        let spec = AugmentSpec {
            shift: 1,
            noise: 0.0,
            image: None,
        };
        assert!(augment(&mut x, &[9], &spec, &mut rng).is_err());
    }

    #[test]
    fn csv_with_gzip_and_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let spec: DataSpec = toml::from_str("path = \"x.csv\"\nscale = 0.5").unwrap();
        let p = dir.path().join("x.csv.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut enc, b"1,2,0\n3,4,1\n").unwrap();
        std::fs::write(&p, enc.finish().unwrap()).unwrap();
        let d = load(&p, &spec, true).unwrap();
        assert_eq!(
            (d.x.clone(), d.y.clone(), d.sample_shape.clone()),
            (vec![0.5, 1.0, 1.5, 2.0], vec![0, 1], vec![2])
        );
        let p = dir.path().join("bad.csv");
        std::fs::write(&p, "1,2,0\n3,x,1\n").unwrap();
        let e = load(&p, &spec, true).unwrap_err().to_string();
        assert!(e.contains("line 2: `x` is not a number"), "{e}");
        std::fs::write(&p, "1,2,0\n3,1\n").unwrap();
        let e = load(&p, &spec, true).unwrap_err().to_string();
        assert!(e.contains("line 2: 2 columns, earlier lines have 3"), "{e}");
        // A header, a blank line, spaces and a quoted field (as spreadsheets write them).
        let spec: DataSpec = toml::from_str("path = \"x.csv\"\nheader = true").unwrap();
        std::fs::write(&p, "a,b,label\n1, 2,0\n\n\"3.5\",4 ,1\n").unwrap();
        let d = load(&p, &spec, true).unwrap();
        assert_eq!((d.x, d.y), (vec![1.0, 2.0, 3.5, 4.0], vec![0, 1]));
        std::fs::write(&p, "a,b,label\n1,2,0\n\n3,x,1\n").unwrap();
        let e = load(&p, &spec, true).unwrap_err().to_string();
        assert!(e.contains("line 4: `x` is not a number"), "{e}");
        std::fs::write(&p, "a,b,label\r\n1,2,0\r\n\r\n\r\n3,x,1\r\n").unwrap();
        let e = load(&p, &spec, true).unwrap_err().to_string();
        assert!(e.contains("line 5: `x` is not a number"), "{e}");
    }
}
