//! A dense tensor held in memory as little-endian bytes.
//!
//! [`Tensor`] is name-less: a [`DType`], a shape and `numel * dtype.size_of()` bytes in
//! row-major (C) order, little-endian whatever the host, so the bytes can be compared, hashed
//! or written to disk as they are. Every constructor checks that the data fills the shape
//! exactly.
//!
//! Typed access goes through [`Element`], implemented for `f32`, [`half::f16`],
//! [`half::bf16`], `f64`, the integer types and `bool`: [`Tensor::from_vec`] and
//! [`Tensor::to_vec`], or the named shorthands such as [`Tensor::from_f32`] and
//! [`Tensor::to_f32_vec`].
//!
//! ```
//! use optimize_data::{DType, Tensor};
//!
//! let t = Tensor::from_f32(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0])?;
//! assert_eq!(t.dtype(), DType::F32);
//! assert_eq!(t.as_bytes().len(), 16);
//! assert_eq!(t.to_f32_vec()?, [1.0, 2.0, 3.0, 4.0]);
//! assert!(t.to_i64_vec().is_err());
//! # Ok::<(), optimize_data::Error>(())
//! ```

use half::{bf16, f16};

use crate::{DType, Error, Result};

mod sealed {
    pub trait Sealed {}
}

/// A Rust type that can be a tensor element: it names its [`DType`] and converts to and from
/// little-endian bytes.
///
/// Implemented for `f32`, `f16`, `bf16`, `f64`, `i8`, `u8`, `i16`, `u16`, `i32`, `u32`,
/// `i64`, `u64` and `bool`; sealed.
pub trait Element: Copy + sealed::Sealed {
    /// The dtype of this element type.
    const DTYPE: DType;
    /// Appends the element's little-endian bytes to `out`.
    fn write_le(self, out: &mut Vec<u8>);
    /// Reads an element from exactly `DTYPE.size_of()` little-endian bytes.
    fn read_le(bytes: &[u8]) -> Self;
}

macro_rules! impl_element {
    ($($t:ty => $dtype:ident),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = DType::$dtype;
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn read_le(bytes: &[u8]) -> Self {
                let mut buf = [0u8; std::mem::size_of::<$t>()];
                buf.copy_from_slice(bytes);
                <$t>::from_le_bytes(buf)
            }
        }
    )*};
}

impl_element!(
    f32 => F32, f16 => F16, bf16 => BF16, f64 => F64,
    i8 => I8, u8 => U8, i16 => I16, u16 => U16,
    i32 => I32, u32 => U32, i64 => I64, u64 => U64,
);

impl sealed::Sealed for bool {}
impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn write_le(self, out: &mut Vec<u8>) {
        out.push(u8::from(self));
    }
    /// Any nonzero byte reads as `true`, as in NumPy.
    fn read_le(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
}

/// A dense, row-major tensor: dtype, shape and little-endian bytes.
///
/// Invariant: `bytes.len() == numel(shape) * dtype.size_of()`. A shape of `[]` is a scalar
/// holding one element; a shape with a zero dimension holds none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tensor {
    dtype: DType,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

/// Number of elements of `shape`, or [`Error::ShapeOverflow`].
pub fn numel(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::ShapeOverflow {
            shape: shape.to_vec(),
        })
}

fn byte_len(dtype: DType, shape: &[usize]) -> Result<usize> {
    numel(shape)?
        .checked_mul(dtype.size_of())
        .ok_or_else(|| Error::ShapeOverflow {
            shape: shape.to_vec(),
        })
}

macro_rules! named_access {
    ($($t:ty: $from:ident, $to:ident;)*) => {$(
        #[doc = concat!("Builds a `", stringify!($t), "` tensor; shorthand for [`Tensor::from_vec`].")]
        pub fn $from(shape: Vec<usize>, data: Vec<$t>) -> Result<Self> {
            Self::from_vec(shape, data)
        }
        #[doc = concat!("Copies out the elements of a `", stringify!($t), "` tensor; shorthand for [`Tensor::to_vec`].")]
        pub fn $to(&self) -> Result<Vec<$t>> {
            self.to_vec()
        }
    )*};
}

impl Tensor {
    /// Wraps raw little-endian bytes, checking that they fill `shape` exactly.
    pub fn from_bytes(dtype: DType, shape: Vec<usize>, bytes: Vec<u8>) -> Result<Self> {
        let expected = byte_len(dtype, &shape)?;
        if bytes.len() != expected {
            return Err(Error::ByteLength {
                dtype,
                shape,
                expected,
                found: bytes.len(),
            });
        }
        Ok(Self {
            dtype,
            shape,
            bytes,
        })
    }

    /// A tensor of all-zero bytes (0, 0.0 or `false`).
    pub fn zeros(dtype: DType, shape: Vec<usize>) -> Result<Self> {
        let len = byte_len(dtype, &shape)?;
        Ok(Self {
            dtype,
            shape,
            bytes: vec![0; len],
        })
    }

    /// Builds a tensor from typed elements, checking that they fill `shape` exactly.
    pub fn from_vec<T: Element>(shape: Vec<usize>, data: Vec<T>) -> Result<Self> {
        let expected = numel(&shape)?;
        if data.len() != expected {
            return Err(Error::ElementCount {
                shape,
                expected,
                found: data.len(),
            });
        }
        let mut bytes = Vec::with_capacity(byte_len(T::DTYPE, &shape)?);
        for x in data {
            x.write_le(&mut bytes);
        }
        Ok(Self {
            dtype: T::DTYPE,
            shape,
            bytes,
        })
    }

    /// Every element as `f64`, whatever the dtype (booleans as 0/1; 64-bit integers beyond 2^53
    /// round). For comparing outputs of any type with one set of metrics.
    pub fn to_f64_lossy(&self) -> Vec<f64> {
        fn conv<T: Element>(t: &Tensor, f: impl Fn(T) -> f64) -> Vec<f64> {
            t.to_vec::<T>()
                .map(|v| v.into_iter().map(f).collect())
                .unwrap_or_default()
        }
        match self.dtype {
            DType::F32 => conv(self, |v: f32| f64::from(v)),
            DType::F16 => conv(self, |v: f16| f64::from(v.to_f32())),
            DType::BF16 => conv(self, |v: bf16| f64::from(v.to_f32())),
            DType::F64 => conv(self, |v: f64| v),
            DType::I8 => conv(self, |v: i8| f64::from(v)),
            DType::U8 => conv(self, |v: u8| f64::from(v)),
            DType::I16 => conv(self, |v: i16| f64::from(v)),
            DType::U16 => conv(self, |v: u16| f64::from(v)),
            DType::I32 => conv(self, |v: i32| f64::from(v)),
            DType::U32 => conv(self, |v: u32| f64::from(v)),
            DType::I64 => conv(self, |v: i64| v as f64),
            DType::U64 => conv(self, |v: u64| v as f64),
            DType::Bool => conv(self, |v: bool| f64::from(u8::from(v))),
        }
    }

    /// Copies out the elements as `T`; [`Error::DTypeMismatch`] unless `T::DTYPE` is the
    /// tensor's dtype (no conversion happens).
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype {
            return Err(Error::DTypeMismatch {
                expected: T::DTYPE,
                found: self.dtype,
            });
        }
        Ok(self
            .bytes
            .chunks_exact(self.dtype.size_of())
            .map(T::read_le)
            .collect())
    }

    named_access! {
        f32: from_f32, to_f32_vec;
        f16: from_f16, to_f16_vec;
        bf16: from_bf16, to_bf16_vec;
        f64: from_f64, to_f64_vec;
        i8: from_i8, to_i8_vec;
        u8: from_u8, to_u8_vec;
        i16: from_i16, to_i16_vec;
        u16: from_u16, to_u16_vec;
        i32: from_i32, to_i32_vec;
        u32: from_u32, to_u32_vec;
        i64: from_i64, to_i64_vec;
        u64: from_u64, to_u64_vec;
        bool: from_bool, to_bool_vec;
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The shape, outermost dimension first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        // Checked when the tensor was built.
        self.bytes.len() / self.dtype.size_of()
    }

    /// The raw little-endian bytes, row-major.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Takes the raw little-endian bytes out.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Number of NaN and infinite elements; 0 for integer and `bool` tensors.
    ///
    /// Calibration data may hold them (a reader does not reject them); a pass counts them with
    /// this to report and skip them.
    pub fn count_non_finite(&self) -> usize {
        let chunks = self.bytes.chunks_exact(self.dtype.size_of());
        match self.dtype {
            DType::F32 => chunks.filter(|b| !f32::read_le(b).is_finite()).count(),
            DType::F64 => chunks.filter(|b| !f64::read_le(b).is_finite()).count(),
            DType::F16 => chunks.filter(|b| !f16::read_le(b).is_finite()).count(),
            DType::BF16 => chunks.filter(|b| !bf16::read_le(b).is_finite()).count(),
            _ => 0,
        }
    }

    /// Returns the same data under a new shape with the same number of elements.
    pub fn reshape(self, shape: Vec<usize>) -> Result<Self> {
        Self::from_bytes(self.dtype, shape, self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_little_endian() {
        let t = Tensor::from_i32(vec![2], vec![1, -2]).unwrap();
        assert_eq!(t.as_bytes(), [1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff]);
        let t = Tensor::from_f16(vec![1], vec![f16::ONE]).unwrap();
        assert_eq!(t.as_bytes(), [0x00, 0x3c]);
        let t = Tensor::from_bf16(vec![1], vec![bf16::ONE]).unwrap();
        assert_eq!(t.as_bytes(), [0x80, 0x3f]);
    }

    #[test]
    fn round_trips_every_dtype() {
        macro_rules! rt {
            ($from:ident, $to:ident, $v:expr) => {{
                let v = $v;
                let t = Tensor::$from(vec![v.len()], v.clone()).unwrap();
                assert_eq!(t.$to().unwrap(), v);
                assert_eq!(t.as_bytes().len(), v.len() * t.dtype().size_of());
            }};
        }
        rt!(from_f32, to_f32_vec, vec![1.5f32, -0.0, f32::MAX]);
        rt!(from_f16, to_f16_vec, vec![f16::from_f32(0.5), f16::MIN]);
        rt!(
            from_bf16,
            to_bf16_vec,
            vec![bf16::from_f32(-3.0), bf16::MAX]
        );
        rt!(from_f64, to_f64_vec, vec![1e300f64, -1e-300]);
        rt!(from_i8, to_i8_vec, vec![i8::MIN, 0, i8::MAX]);
        rt!(from_u8, to_u8_vec, vec![0u8, 255]);
        rt!(from_i16, to_i16_vec, vec![i16::MIN, i16::MAX]);
        rt!(from_u16, to_u16_vec, vec![0u16, u16::MAX]);
        rt!(from_i32, to_i32_vec, vec![i32::MIN, i32::MAX]);
        rt!(from_u32, to_u32_vec, vec![0u32, u32::MAX]);
        rt!(from_i64, to_i64_vec, vec![i64::MIN, -1, i64::MAX]);
        rt!(from_u64, to_u64_vec, vec![0u64, u64::MAX]);
        rt!(from_bool, to_bool_vec, vec![true, false, true]);
    }

    #[test]
    fn byte_length_is_checked() {
        let err = Tensor::from_bytes(DType::F32, vec![2, 3], vec![0; 23]).unwrap_err();
        assert_eq!(
            err,
            Error::ByteLength {
                dtype: DType::F32,
                shape: vec![2, 3],
                expected: 24,
                found: 23
            }
        );
        assert!(err.to_string().contains("needs 24 bytes, got 23"));
        assert!(Tensor::from_bytes(DType::F32, vec![2, 3], vec![0; 24]).is_ok());
    }

    #[test]
    fn element_count_is_checked() {
        let err = Tensor::from_f32(vec![3], vec![1.0, 2.0]).unwrap_err();
        assert_eq!(
            err,
            Error::ElementCount {
                shape: vec![3],
                expected: 3,
                found: 2
            }
        );
    }

    #[test]
    fn huge_shapes_do_not_overflow() {
        let err = Tensor::zeros(DType::F64, vec![usize::MAX / 4, 3]).unwrap_err();
        assert!(matches!(err, Error::ShapeOverflow { .. }));
        let err = Tensor::zeros(DType::F64, vec![usize::MAX / 4]).unwrap_err();
        assert!(matches!(err, Error::ShapeOverflow { .. }));
    }

    #[test]
    fn scalars_and_empty_tensors() {
        let s = Tensor::from_i64(vec![], vec![7]).unwrap();
        assert_eq!(s.numel(), 1);
        let e = Tensor::from_f32(vec![0, 4], vec![]).unwrap();
        assert_eq!(e.numel(), 0);
        assert_eq!(e.to_f32_vec().unwrap(), Vec::<f32>::new());
    }

    #[test]
    fn dtype_mismatch_names_both() {
        let t = Tensor::from_u8(vec![1], vec![1]).unwrap();
        assert_eq!(
            t.to_vec::<i8>().unwrap_err(),
            Error::DTypeMismatch {
                expected: DType::I8,
                found: DType::U8
            }
        );
    }

    #[test]
    fn counts_non_finite_values() {
        let t = Tensor::from_f32(vec![4], vec![1.0, f32::NAN, f32::INFINITY, -0.0]).unwrap();
        assert_eq!(t.count_non_finite(), 2);
        let t = Tensor::from_f64(vec![2], vec![f64::NEG_INFINITY, 1.0]).unwrap();
        assert_eq!(t.count_non_finite(), 1);
        let t = Tensor::from_f16(vec![3], vec![f16::NAN, f16::MAX, f16::INFINITY]).unwrap();
        assert_eq!(t.count_non_finite(), 2);
        let t = Tensor::from_bf16(vec![2], vec![bf16::NAN, bf16::ONE]).unwrap();
        assert_eq!(t.count_non_finite(), 1);
        let t = Tensor::from_i32(vec![2], vec![i32::MAX, i32::MIN]).unwrap();
        assert_eq!(t.count_non_finite(), 0);
    }

    #[test]
    fn reshape_keeps_bytes() {
        let t = Tensor::from_f32(vec![2, 3], vec![0.0; 6]).unwrap();
        assert_eq!(t.clone().reshape(vec![3, 2]).unwrap().shape(), [3, 2]);
        assert!(t.reshape(vec![4]).is_err());
    }
}
