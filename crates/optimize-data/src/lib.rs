//! Tensors in memory for `optimize`.
//!
//! This crate holds the data that flows into and out of models: a [`Tensor`] is a
//! [`DType`], a shape and little-endian bytes, with typed constructors and accessors
//! ([`Tensor::from_f32`], [`Tensor::to_i64_vec`], the generic [`Tensor::from_vec`] over
//! [`Element`]). [`random_tensor`] makes seeded inputs whose bytes are the same on every
//! platform, for checking that a model gives the same answer before and after a pass.
//!
//! It knows nothing about ONNX or runtimes (`optimize-onnx` and `optimize-runtime` depend on
//! it, not the other way). Readers for `.npy`, `.npz` and safetensors files come later.
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
#![deny(missing_docs)]

pub mod dtype;
mod error;
pub mod random;
pub mod tensor;

pub use dtype::DType;
pub use error::{Error, Result};
pub use half::{bf16, f16};
pub use random::{random_tensor, RandomRange, SplitMix64};
pub use tensor::{Element, Tensor};
