//! The error type of `optimize-data`.

use crate::DType;

/// Everything that can go wrong while building, reading or generating a [`Tensor`](crate::Tensor).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The raw data does not hold exactly `numel * dtype.size_of()` bytes for the shape.
    #[error("tensor of dtype {dtype} and shape {shape:?} needs {expected} bytes, got {found}")]
    ByteLength {
        /// Element type of the tensor.
        dtype: DType,
        /// Shape the data was meant to fill.
        shape: Vec<usize>,
        /// Bytes the shape needs.
        expected: usize,
        /// Bytes that were given.
        found: usize,
    },
    /// A typed constructor got a different number of elements than the shape holds.
    #[error("shape {shape:?} holds {expected} elements, got {found}")]
    ElementCount {
        /// Shape the data was meant to fill.
        shape: Vec<usize>,
        /// Elements the shape holds.
        expected: usize,
        /// Elements that were given.
        found: usize,
    },
    /// The number of elements or bytes of a shape does not fit in `usize`.
    #[error("shape {shape:?} is too large: its element or byte count overflows usize")]
    ShapeOverflow {
        /// The offending shape.
        shape: Vec<usize>,
    },
    /// A typed accessor was called on a tensor of another dtype.
    #[error("tensor has dtype {found}, asked for {expected}")]
    DTypeMismatch {
        /// The dtype the caller asked for.
        expected: DType,
        /// The tensor's dtype.
        found: DType,
    },
    /// A dtype name was not recognised.
    #[error("unknown dtype `{name}`; expected one of f32, f16, bf16, f64, i8, u8, i16, u16, i32, u32, i64, u64, bool")]
    UnknownDType {
        /// The name that was given.
        name: String,
    },
    /// A random range is empty, not finite, or does not fit the dtype.
    #[error("invalid random range for {dtype}: {reason}")]
    InvalidRange {
        /// The dtype being generated.
        dtype: DType,
        /// Why the range was rejected.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
