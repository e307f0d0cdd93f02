//! Tensors in memory and on disk for `optimize`.
//!
//! This crate holds the data that flows into and out of models: a [`Tensor`] is a
//! [`DType`], a shape and little-endian bytes, with typed constructors and accessors
//! ([`Tensor::from_f32`], [`Tensor::to_i64_vec`], the generic [`Tensor::from_vec`] over
//! [`Element`]). [`random_tensor`] makes seeded inputs whose bytes are the same on every
//! platform, for checking that a model gives the same answer before and after a pass.
//!
//! On disk:
//! - [`npy`]: NumPy `.npy` arrays, read from a path or any reader, written like `np.save`.
//! - [`npz`]: NumPy `.npz` archives (stored or deflated, as `np.savez`/`np.savez_compressed`
//!   write them), read as named tensors and written deterministically.
//! - [`safetensors`]: safetensors files read as named tensors.
//! - [`format`](mod@format): any of the three by extension ([`read_arrays`], [`read_array_infos`]).
//! - [`calibration`]: a [`CalibrationSet`] streams per-sample inputs for a model (and extras
//!   such as labels) from a data file or folder, checked against the model's [`InputSpec`]s.
//! - [`atomic`]: the atomic file write (temp file in the target folder, fsync, rename) every
//!   crate of ours uses for what it writes, models aside.
//!
//! Every reader treats sizes in files as untrusted: header lengths are capped, data lengths
//! are computed with checked arithmetic and checked against the file. Errors are one
//! [`Error`] enum whose messages name the file and the array.
//!
//! It knows nothing about ONNX or runtimes (`optimize-onnx` and `optimize-runtime` depend on
//! it, not the other way).
//!
//! ```
//! use optimize_data::{random_tensor, DType, RandomRange, Tensor};
//!
//! // A batch of 2 random 64-feature rows, the same every run.
//! let x = random_tensor(DType::F32, &[2, 64], 0, RandomRange::default_for(DType::F32))?;
//! assert_eq!(x.shape(), [2, 64]);
//!
//! // Typed construction checks the element count against the shape.
//! let ids = Tensor::from_i64(vec![3], vec![1, 2, 3])?;
//! assert_eq!(ids.to_i64_vec()?, [1, 2, 3]);
//! assert!(Tensor::from_i64(vec![4], vec![1, 2, 3]).is_err());
//! # Ok::<(), optimize_data::Error>(())
//! ```
//!
//! Calibration data for a model with one input `input: float32 [batch, 64]`, saved from
//! Python with `np.savez("calib.npz", input=x, label=y)`:
//!
//! ```no_run
//! use optimize_data::{CalibrationSet, DType, InputSpec};
//!
//! let spec = InputSpec::new("input", DType::F32, [None, Some(64)]);
//! let set = CalibrationSet::open("calib.npz", &[spec])?;
//! let (calibrate, verify) = set.split(32); // verify on the last 32 samples
//! for sample in set.iter_range(calibrate) {
//!     let sample = sample?;
//!     assert_eq!(sample.inputs[0].1.shape(), [1, 64]);
//! }
//! let labels = set.labels()?; // int64 [len]
//! # let _ = (verify, labels);
//! # Ok::<(), optimize_data::Error>(())
//! ```
#![deny(missing_docs)]

pub mod atomic;
pub mod calibration;
pub mod dtype;
mod error;
pub mod format;
pub mod npy;
pub mod npz;
pub mod random;
pub mod safetensors;
pub mod tensor;

pub use calibration::{CalibrationSet, InputSpec, Sample, Samples};
pub use dtype::DType;
pub use error::{Error, IoError, Result};
pub use format::{read_array_infos, read_arrays, ArrayInfo, Format};
pub use half::{bf16, f16};
pub use npy::{read_npy, write_npy};
pub use npz::{read_npz, write_npz};
pub use random::{random_tensor, RandomRange, SplitMix64};
pub use tensor::{Element, Tensor};
