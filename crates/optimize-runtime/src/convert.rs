//! Moving tensors between [`optimize_data::Tensor`] and ONNX Runtime values.
//!
//! Both sides store elements row-major in host byte order; on the little-endian hosts ONNX
//! Runtime supports, that is the little-endian layout [`Tensor`] uses, so conversion is one
//! byte copy each way. `bool` is one byte holding 0 or 1 on both sides.

use optimize_data::{DType, Tensor};
use ort::memory::Allocator;
use ort::value::{DynTensor, DynTensorValueType, DynValue, TensorElementType, ValueType};

use crate::info::{Dim, TensorInfo};
use crate::{Error, Result};

// A big-endian host would need byte swapping here; ONNX Runtime does not build for one.
const _: () = assert!(
    cfg!(target_endian = "little"),
    "optimize-runtime assumes a little-endian host"
);

/// The [`DType`] for an ONNX Runtime element type, if there is one.
pub(crate) fn dtype_from_ort(ty: TensorElementType) -> Option<DType> {
    Some(match ty {
        TensorElementType::Float32 => DType::F32,
        TensorElementType::Float16 => DType::F16,
        TensorElementType::Bfloat16 => DType::BF16,
        TensorElementType::Float64 => DType::F64,
        TensorElementType::Int8 => DType::I8,
        TensorElementType::Uint8 => DType::U8,
        TensorElementType::Int16 => DType::I16,
        TensorElementType::Uint16 => DType::U16,
        TensorElementType::Int32 => DType::I32,
        TensorElementType::Uint32 => DType::U32,
        TensorElementType::Int64 => DType::I64,
        TensorElementType::Uint64 => DType::U64,
        TensorElementType::Bool => DType::Bool,
        _ => return None,
    })
}

/// The ONNX Runtime element type for a [`DType`].
pub(crate) fn dtype_to_ort(dtype: DType) -> Option<TensorElementType> {
    Some(match dtype {
        DType::F32 => TensorElementType::Float32,
        DType::F16 => TensorElementType::Float16,
        DType::BF16 => TensorElementType::Bfloat16,
        DType::F64 => TensorElementType::Float64,
        DType::I8 => TensorElementType::Int8,
        DType::U8 => TensorElementType::Uint8,
        DType::I16 => TensorElementType::Int16,
        DType::U16 => TensorElementType::Uint16,
        DType::I32 => TensorElementType::Int32,
        DType::U32 => TensorElementType::Uint32,
        DType::I64 => TensorElementType::Int64,
        DType::U64 => TensorElementType::Uint64,
        DType::Bool => TensorElementType::Bool,
        _ => return None,
    })
}

/// Metadata for a session input or output.
pub(crate) fn tensor_info(name: &str, ty: &ValueType) -> TensorInfo {
    let onnx_type = ty.to_string();
    match ty {
        ValueType::Tensor {
            ty,
            shape,
            dimension_symbols,
        } => TensorInfo {
            name: name.into(),
            dtype: dtype_from_ort(*ty),
            shape: shape
                .iter()
                .enumerate()
                .map(|(i, &d)| match usize::try_from(d) {
                    Ok(n) => Dim::Fixed(n),
                    Err(_) => match dimension_symbols.get(i) {
                        Some(s) if !s.is_empty() => Dim::Symbolic(s.clone()),
                        _ => Dim::Unknown,
                    },
                })
                .collect(),
            onnx_type,
        },
        _ => TensorInfo {
            name: name.into(),
            dtype: None,
            shape: Vec::new(),
            onnx_type,
        },
    }
}

/// Copies a [`Tensor`] into a new CPU tensor owned by ONNX Runtime.
pub(crate) fn to_ort(name: &str, tensor: &Tensor) -> Result<DynTensor> {
    let shape = tensor
        .shape()
        .iter()
        .map(|&d| i64::try_from(d))
        .collect::<Result<Vec<i64>, _>>()
        .map_err(|_| Error::InputMismatch {
            name: name.into(),
            expected: "dimensions that fit in i64".into(),
            found: format!("{:?}", tensor.shape()),
        })?;
    let ty = dtype_to_ort(tensor.dtype()).ok_or_else(|| Error::UnsupportedDType {
        name: name.into(),
        onnx_type: tensor.dtype().to_string(),
    })?;
    let mut value = DynTensor::new(&Allocator::default(), ty, shape).map_err(|e| Error::Run {
        message: format!("allocating input `{name}`: {e}"),
    })?;
    let bytes = tensor.as_bytes();
    if !bytes.is_empty() {
        let dst = value.data_ptr_mut().cast::<u8>();
        if dst.is_null() {
            return Err(Error::Run {
                message: format!("ONNX Runtime gave no buffer for input `{name}`"),
            });
        }
        // SAFETY: ONNX Runtime allocated `numel * size_of(dtype)` bytes on the CPU for this
        // shape and dtype, which is exactly `bytes.len()` (a `Tensor` invariant); the regions
        // are distinct allocations.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
    }
    Ok(value)
}

/// Copies an ONNX Runtime output value into a [`Tensor`].
pub(crate) fn from_ort(name: &str, value: DynValue) -> Result<Tensor> {
    let unsupported = |value: &DynValue| Error::UnsupportedDType {
        name: name.into(),
        onnx_type: value.dtype().to_string(),
    };
    let ValueType::Tensor { ty, .. } = value.dtype() else {
        return Err(unsupported(&value));
    };
    let Some(dtype) = dtype_from_ort(*ty) else {
        return Err(unsupported(&value));
    };
    let tensor = value
        .downcast::<DynTensorValueType>()
        .map_err(|e| Error::Run {
            message: format!("reading output `{name}`: {e}"),
        })?;
    if !tensor.memory_info().is_cpu_accessible() {
        return Err(Error::Run {
            message: format!("output `{name}` is not in CPU memory"),
        });
    }
    let shape = tensor
        .shape()
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| Error::Run {
            message: format!(
                "output `{name}` has a negative dimension: {}",
                tensor.shape()
            ),
        })?;
    let len = optimize_data::tensor::numel(&shape)?
        .checked_mul(dtype.size_of())
        .ok_or_else(|| optimize_data::Error::ShapeOverflow {
            shape: shape.clone(),
        })?;
    let mut bytes = vec![0u8; len];
    if len > 0 {
        let src = tensor.data_ptr().cast::<u8>();
        if src.is_null() {
            return Err(Error::Run {
                message: format!("output `{name}` has no data"),
            });
        }
        // SAFETY: the tensor lives in CPU memory (checked above) and holds
        // `numel(shape) * size_of(dtype)` bytes for its shape and element type.
        unsafe { std::ptr::copy_nonoverlapping(src, bytes.as_mut_ptr(), len) };
    }
    Ok(Tensor::from_bytes(dtype, shape, bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_mapping_round_trips() {
        for dtype in DType::ALL {
            assert_eq!(dtype_to_ort(dtype).and_then(dtype_from_ort), Some(dtype));
        }
        assert_eq!(dtype_from_ort(TensorElementType::String), None);
        assert_eq!(dtype_from_ort(TensorElementType::Float8E4M3FN), None);
    }
}
