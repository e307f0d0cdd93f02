//! Calibration data cases: a set of arrays for a model's inputs, written as `.npy`, `.npz`,
//! `.safetensors` or a folder of them, with damage at every level.
//!
//! A [`DataCase`] is built in three steps, each drawn from the stream:
//! 1. arrays that fit the model's [`InputSpec`]s (a leading sample axis, a `label` now and
//!    then);
//! 2. semantic damage ([`damage_arrays`]): wrong dtypes, NaN and infinities, shapes that do not
//!    fit, empty arrays, sample counts that disagree, missing or renamed inputs;
//! 3. encoding with damage ([`encode`]): `.npy` headers with other `descr`, `fortran_order`,
//!    `shape`, version or length; zip archives with odd member names, cut short or with a
//!    broken directory; safetensors with bad header JSON, offsets or dtypes; folders with
//!    hidden files, sub-folders and files whose arrays disagree; then byte-level damage.
//!
//! ```
//! use optimize_data::{DType, InputSpec};
//! use optimize_fuzz::data::{generate, Damage};
//! use optimize_fuzz::rng::Rng;
//!
//! let specs = vec![InputSpec::new("x", DType::F32, [None, Some(4)])];
//! let case = generate(&specs, &mut Rng::new(5), Damage::Heavy);
//! assert!(!case.files.is_empty() || case.open == "data");
//! ```

use crate::rng::Rng;
use optimize_data::{DType, InputSpec};
use std::io::{Cursor, Write};
use std::path::Path;

/// How hard [`generate`] damages the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// Every kind of damage (the calibration readers' target).
    Heavy,
    /// Mostly data a pass can calibrate on; now and then NaN, a wrong shape or dtype.
    Light,
}

/// One array before encoding: name, dtype, shape and little-endian bytes (which may disagree
/// with the shape once damaged).
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// The array's name (a model input, `label`, or anything).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Shape, sample axis first.
    pub shape: Vec<usize>,
    /// The data.
    pub bytes: Vec<u8>,
}

/// Files to write into an empty folder, and which path to open as calibration data.
#[derive(Debug, Clone, PartialEq)]
pub struct DataCase {
    /// The model inputs the set is opened for.
    pub specs: Vec<InputSpec>,
    /// Relative path and contents of every file (folders are made as needed).
    pub files: Vec<(String, Vec<u8>)>,
    /// The relative path to open: a file, or the folder `data`.
    pub open: String,
}

impl DataCase {
    /// Writes the files under `dir`; returns the path to open.
    pub fn write(&self, dir: &Path) -> std::io::Result<std::path::PathBuf> {
        std::fs::create_dir_all(dir.join("data"))?;
        for (rel, bytes) in &self.files {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, bytes)?;
        }
        Ok(dir.join(&self.open))
    }
}

/// A dtype's `.npy` descr (`<f4`), as optimize-data writes it; bf16 has none in NumPy and
/// borrows `<u2`.
pub fn descr(dtype: DType) -> &'static str {
    optimize_data::npy::descr(dtype).unwrap_or("<u2")
}

/// A dtype's safetensors name (`F32`).
fn st_dtype(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "F32",
        DType::F16 => "F16",
        DType::F64 => "F64",
        DType::I8 => "I8",
        DType::U8 => "U8",
        DType::I16 => "I16",
        DType::U16 => "U16",
        DType::I32 => "I32",
        DType::U32 => "U32",
        DType::I64 => "I64",
        DType::U64 => "U64",
        DType::Bool => "BOOL",
        _ => "BF16",
    }
}

/// `count` elements of `dtype`: ordinary values, or interesting ones (NaN, infinities, edges)
/// when `nasty`.
pub fn values(dtype: DType, count: usize, rng: &mut Rng, nasty: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(count * dtype.size_of());
    for _ in 0..count {
        match dtype {
            DType::F32 => {
                let v = if nasty {
                    rng.float()
                } else {
                    (rng.unit() * 2.0 - 1.0) as f32
                };
                out.extend(v.to_le_bytes());
            }
            DType::F64 => {
                let v = if nasty {
                    f64::from(rng.float())
                } else {
                    rng.unit() * 2.0 - 1.0
                };
                out.extend(v.to_le_bytes());
            }
            DType::Bool => out.push(if nasty {
                rng.u64() as u8
            } else {
                rng.below(2) as u8
            }),
            d if d.is_int() && !nasty => {
                let v = rng.below(10) as u64;
                out.extend(&v.to_le_bytes()[..d.size_of()]);
            }
            d => out.extend(&rng.u64().to_le_bytes()[..d.size_of()]),
        }
    }
    out
}

/// Arrays that fit `specs`: `n` samples each (a leading axis), symbolic dims of 1 to 3.
fn fitting_arrays(specs: &[InputSpec], n: usize, rng: &mut Rng) -> Vec<Array> {
    let mut arrays: Vec<Array> = specs
        .iter()
        .map(|s| {
            // A spec whose first axis is the batch: the array's sample axis replaces it.
            // Huge declared dims (a mutated model's) get data that does not fit them.
            let mut rest: Vec<usize> = s
                .shape
                .iter()
                .skip(usize::from(!s.shape.is_empty()))
                .map(|d| d.filter(|&d| d <= 64).unwrap_or(1 + rng.below(3)))
                .collect();
            let fits = rest
                .iter()
                .try_fold(n.max(1), |acc, &d| acc.checked_mul(d))
                .is_some_and(|c| c <= 1 << 16);
            if !fits {
                rest.iter_mut().for_each(|d| *d = 1);
            }
            let mut shape = vec![n];
            shape.extend(rest);
            let count = shape.iter().product::<usize>();
            Array {
                name: s.name.clone(),
                dtype: s.dtype,
                bytes: values(s.dtype, count, rng, false),
                shape,
            }
        })
        .collect();
    if rng.chance(0.3) {
        arrays.push(Array {
            name: if rng.chance(0.8) { "label" } else { "labels" }.into(),
            dtype: DType::I64,
            shape: vec![n],
            bytes: values(DType::I64, n, rng, false),
        });
    }
    arrays
}

/// Semantic damage to `arrays`; returns what was done.
pub fn damage_arrays(arrays: &mut Vec<Array>, rng: &mut Rng) -> &'static str {
    let n = arrays.len();
    if n == 0 {
        return "none";
    }
    let i = rng.below(n);
    let a = &mut arrays[i];
    match rng.below(9) {
        0 => {
            // Another dtype, with data to match.
            a.dtype = *rng.pick(&DType::ALL).expect("non-empty");
            let count = a.shape.iter().product::<usize>();
            a.bytes = values(a.dtype, count, rng, false);
            "dtype"
        }
        1 => {
            let count = a.shape.iter().product::<usize>();
            a.bytes = values(a.dtype, count, rng, true);
            "non-finite"
        }
        2 if a.shape.len() > 1 => {
            // A sample shape that does not fit the model.
            let k = 1 + rng.below(a.shape.len() - 1);
            a.shape[k] = [0, 1, 2, 5, 100][rng.below(5)];
            if a.shape.iter().product::<usize>() > 1 << 18 {
                a.shape[k] = 0;
            }
            let count = a.shape.iter().product::<usize>();
            a.bytes = values(a.dtype, count, rng, false);
            "shape"
        }
        3 if !a.shape.is_empty() => {
            a.shape[0] = 0;
            a.bytes.clear();
            "empty"
        }
        4 if !a.shape.is_empty() => {
            // One array holds another number of samples than the rest.
            let per = a.shape[1..].iter().product::<usize>();
            a.shape[0] += 1 + rng.below(3);
            a.bytes = values(a.dtype, a.shape[0] * per, rng, false);
            "sample-count"
        }
        5 => {
            arrays.remove(i);
            "missing"
        }
        6 => {
            a.name = ["", "x.npy", "input ", "../x", "label", "__metadata__"][rng.below(6)].into();
            "renamed"
        }
        7 => {
            // No sample axis: the whole array is one sample (or a scalar).
            if a.shape.len() > 1 && rng.chance(0.5) {
                a.shape.remove(0);
            } else {
                a.shape = vec![];
            }
            let count = a.shape.iter().product::<usize>();
            a.bytes = values(a.dtype, count, rng, false);
            "whole-sample"
        }
        _ => {
            // Bytes that disagree with the shape.
            if rng.chance(0.5) {
                a.bytes.truncate(a.bytes.len() / 2);
            } else {
                a.bytes.extend([0u8; 3]);
            }
            "data-length"
        }
    }
}

/// The `.npy` encoding of `a`, NumPy's layout (header padded so data starts at a multiple of
/// 64), with the header's fields damaged when `damage`.
pub fn npy(a: &Array, rng: &mut Rng, damage: bool) -> Vec<u8> {
    let dims: Vec<String> = a.shape.iter().map(usize::to_string).collect();
    let mut shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut descr = descr(a.dtype).to_string();
    let mut fortran = "False".to_string();
    let mut version: (u8, u8) = (1, 0);
    let mut extra = String::new();
    if damage {
        match rng.below(6) {
            0 => {
                descr = [
                    ">f4", "<f3", "<U4", "|O", "<c8", "", "float32", "<i4", "|b1", "<f8", "=f4",
                    "|V4", "<M8",
                ][rng.below(13)]
                .into()
            }
            1 => fortran = ["True", "1", "'no'", "None"][rng.below(4)].into(),
            2 => {
                shape = [
                    "()",
                    "(-1,)",
                    "(99999999999999999999,)",
                    "(18446744073709551615, 2)",
                    "(4294967296, 4294967296)",
                    "(3,",
                    "[3]",
                    "(1e3,)",
                    "(0,)",
                    "(,)",
                    "(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33)",
                ][rng.below(11)]
                .into()
            }
            3 => version = [(2, 0), (3, 0), (0, 0), (4, 0), (1, 1)][rng.below(5)],
            4 => extra = [", 'x': 1", "}", "{", ", 'shape': (2,)", "\u{e9}"][rng.below(5)].into(),
            _ => {}
        }
    }
    let dict =
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}{extra}, }}");
    let len_size = if version.0 >= 2 { 4 } else { 2 };
    let unpadded = 6 + 2 + len_size + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    let mut header = dict.into_bytes();
    header.extend(std::iter::repeat_n(b' ', pad));
    header.push(b'\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend([version.0, version.1]);
    let mut hlen = header.len() as u32;
    if damage && rng.chance(0.15) {
        hlen = [0, 1, hlen + 1, hlen.saturating_sub(1), u32::MAX, 65535][rng.below(6)];
    }
    if len_size == 2 {
        out.extend((hlen as u16).to_le_bytes());
    } else {
        out.extend(hlen.to_le_bytes());
    }
    out.extend(header);
    out.extend(&a.bytes);
    out
}

/// A zip archive holding one `.npy` member per array (stored or deflated, like `np.savez`
/// and `np.savez_compressed`), with odd member names when `damage`.
pub fn npz(arrays: &[Array], rng: &mut Rng, damage: bool) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let method = if rng.chance(0.5) {
        zip::CompressionMethod::Stored
    } else {
        zip::CompressionMethod::Deflated
    };
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for a in arrays {
        let mut name = format!("{}.npy", a.name);
        if damage && rng.chance(0.2) {
            name = [
                a.name.clone(),
                format!("../{}.npy", a.name),
                format!("sub/{}.npy", a.name),
                ".npy".into(),
                format!("{}.NPY", a.name),
                format!("{}.npy/", a.name),
            ][rng.below(6)]
            .clone();
        }
        let damage_member = damage && rng.chance(0.3);
        let body = npy(a, rng, damage_member);
        // The zip writer refuses duplicate names; a refused member is simply left out.
        if zip.start_file(name, options).is_ok() {
            let _ = zip.write_all(&body);
        }
    }
    match zip.finish() {
        Ok(c) => c.into_inner(),
        Err(_) => Vec::new(),
    }
}

/// A safetensors file of `arrays`, with a damaged header or offsets when `damage`.
pub fn safetensors(arrays: &[Array], rng: &mut Rng, damage: bool) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data: Vec<u8> = Vec::new();
    for a in arrays {
        let start = data.len();
        data.extend(&a.bytes);
        let mut offsets = serde_json::json!([start, data.len()]);
        let mut dtype = serde_json::json!(st_dtype(a.dtype));
        let mut shape = serde_json::json!(a.shape);
        if damage && rng.chance(0.4) {
            match rng.below(6) {
                0 => offsets = serde_json::json!([data.len(), start]),
                1 => offsets = serde_json::json!([start, data.len() + 1 + rng.below(100)]),
                2 => offsets = serde_json::json!([0, u64::MAX]),
                3 => dtype = serde_json::json!(["F8_E4M3", "Q4", "", "C64", "F4"][rng.below(5)]),
                4 => shape = serde_json::json!([-1, 2]),
                _ => shape = serde_json::json!([u64::MAX, u64::MAX]),
            }
        }
        header.insert(
            a.name.clone(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": offsets}),
        );
    }
    if rng.chance(0.2) {
        let meta = if damage && rng.chance(0.5) {
            serde_json::json!({"format": 1})
        } else {
            serde_json::json!({"format": "pt"})
        };
        header.insert("__metadata__".into(), meta);
    }
    let mut text = serde_json::Value::Object(header).to_string().into_bytes();
    if damage && rng.chance(0.2) {
        match rng.below(4) {
            0 => text.truncate(rng.below(text.len() + 1)),
            1 => text = b"[1, 2, 3]".to_vec(),
            2 => text = vec![0xff, 0xfe, b'{', b'}'],
            _ => {
                text.splice(0..0, *b"   ");
            }
        }
    }
    // The header is padded with spaces to a multiple of 8, as the safetensors crate writes it.
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut len = text.len() as u64;
    if damage && rng.chance(0.1) {
        len = [0, 1, len + 8, u64::MAX, 100_000_001][rng.below(5)];
    }
    let mut out = len.to_le_bytes().to_vec();
    out.extend(text);
    out.extend(data);
    out
}

/// Encodes `arrays` as one file of a format drawn from the stream (a `.npy` only for a single
/// array); returns its extension and bytes.
fn encode_file(arrays: &[Array], rng: &mut Rng, damage: bool) -> (&'static str, Vec<u8>) {
    match rng.below(if arrays.len() == 1 { 5 } else { 4 }) {
        0 | 1 => ("npz", npz(arrays, rng, damage)),
        2 | 3 => ("safetensors", safetensors(arrays, rng, damage)),
        _ => ("npy", npy(&arrays[0], rng, damage)),
    }
}

/// The files of a case: one file, or a folder of files holding runs of samples.
pub fn encode(arrays: &[Array], rng: &mut Rng, damage: bool) -> (Vec<(String, Vec<u8>)>, String) {
    if arrays.is_empty() || rng.chance(0.25) {
        // A folder: 0 to 3 data files, and now and then a hidden file, a sub-folder, or a file
        // of another kind.
        let mut files = Vec::new();
        let count = if rng.chance(0.1) { 0 } else { 1 + rng.below(3) };
        for k in 0..count {
            let mut part = arrays.to_vec();
            if damage && rng.chance(0.3) {
                damage_arrays(&mut part, rng);
            }
            if part.is_empty() {
                continue;
            }
            let damage_file = damage && rng.chance(0.3);
            let (ext, bytes) = encode_file(&part, rng, damage_file);
            files.push((format!("data/part{k}.{ext}"), bytes));
        }
        if damage && rng.chance(0.3) {
            let (rel, bytes) = [
                ("data/.hidden.npz", vec![1u8, 2, 3]),
                ("data/readme.txt", b"not data".to_vec()),
                ("data/sub/part9.npz", Vec::new()),
                ("data/empty.npy", Vec::new()),
            ][rng.below(4)]
            .clone();
            files.push((rel.to_string(), bytes));
        }
        return (files, "data".into());
    }
    let (ext, bytes) = encode_file(arrays, rng, damage);
    let name = if damage && rng.chance(0.05) {
        // A file whose extension lies about its contents.
        ["data.npz", "data.npy", "data.safetensors", "data.bin"][rng.below(4)].to_string()
    } else {
        format!("data.{ext}")
    };
    (vec![(name.clone(), bytes)], name)
}

/// A calibration data case for `specs`, damaged as `damage` says.
pub fn generate(specs: &[InputSpec], rng: &mut Rng, damage: Damage) -> DataCase {
    let n = match rng.below(8) {
        0 => 0,
        1 => 5 + rng.below(4),
        _ => 1 + rng.below(3),
    };
    let mut arrays = fitting_arrays(specs, n, rng);
    let (rounds, encode_damage, byte_damage) = match damage {
        Damage::Heavy => (rng.below(3), rng.chance(0.5), rng.chance(0.25)),
        Damage::Light => (usize::from(rng.chance(0.2)), false, false),
    };
    for _ in 0..rounds {
        damage_arrays(&mut arrays, rng);
    }
    let (mut files, open) = encode(&arrays, rng, encode_damage);
    if byte_damage && !files.is_empty() {
        let k = rng.below(files.len());
        let count = 1 + rng.below(3);
        crate::bytes::mutate_bytes(&mut files[k].1, rng, None, count);
    }
    DataCase {
        specs: specs.to_vec(),
        files,
        open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use optimize_data::CalibrationSet;

    #[test]
    fn undamaged_npy_matches_numpys_layout() {
        let a = Array {
            name: "x".into(),
            dtype: DType::F32,
            shape: vec![2, 3],
            bytes: vec![0; 24],
        };
        let bytes = npy(&a, &mut Rng::new(0), false);
        let t = optimize_data::npy::read_npy_from(&bytes[..], Path::new("x.npy")).unwrap();
        assert_eq!(t.shape(), [2, 3]);
        // NumPy pads the header so the data starts on a 64-byte boundary.
        assert_eq!((bytes.len() - 24) % 64, 0);
    }

    #[test]
    fn light_damage_mostly_opens() {
        let specs = vec![
            InputSpec::new("x", DType::F32, [None, Some(4)]),
            InputSpec::new("ids", DType::I64, [Some(1), None]),
        ];
        let dir = tempfile::tempdir().unwrap();
        let mut opened = 0;
        for seed in 0..40 {
            let case = generate(&specs, &mut Rng::new(seed), Damage::Light);
            let sub = dir.path().join(seed.to_string());
            let path = case.write(&sub).unwrap();
            if let Ok(set) = CalibrationSet::open(&path, &specs) {
                opened += 1;
                for s in set.iter() {
                    let _ = s;
                }
            }
        }
        assert!(
            opened >= 20,
            "only {opened} of 40 lightly damaged sets opened"
        );
    }
}
