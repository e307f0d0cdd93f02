//! Moving tensors and facts between [`optimize_data`] and tract.
//!
//! Both sides store elements row-major and little-endian (tract on the hosts it supports), so
//! numeric tensors cross as one byte copy. `bool` is rebuilt element by element, because a
//! tract `bool` must hold 0 or 1 and an [`optimize_data::Tensor`]'s bytes are not checked.
//! tract's internal `TDim` (symbolic shape arithmetic) leaves as `i64`, its ONNX type.

use optimize_data::{DType, Tensor};
use tract_onnx::prelude::{
    DatumType, InferenceFact, IntoTValue, TDim, TValue, Tensor as TractTensor,
};
use tract_onnx::tract_hir::infer::{Factoid, GenericFactoid};

use crate::info::{Dim, TensorInfo};
use crate::{Error, Result};

/// The [`DType`] for a tract datum type, if there is one.
pub(crate) fn dtype_from_tract(dt: DatumType) -> Option<DType> {
    Some(match dt {
        DatumType::F32 => DType::F32,
        DatumType::F16 => DType::F16,
        DatumType::F64 => DType::F64,
        DatumType::I8 => DType::I8,
        DatumType::U8 => DType::U8,
        DatumType::I16 => DType::I16,
        DatumType::U16 => DType::U16,
        DatumType::I32 => DType::I32,
        DatumType::U32 => DType::U32,
        DatumType::I64 | DatumType::TDim => DType::I64,
        DatumType::U64 => DType::U64,
        DatumType::Bool => DType::Bool,
        _ => return None,
    })
}

/// The tract datum type for a [`DType`]; `None` for `bf16`, which tract does not have.
pub(crate) fn dtype_to_tract(dtype: DType) -> Option<DatumType> {
    Some(match dtype {
        DType::F32 => DatumType::F32,
        DType::F16 => DatumType::F16,
        DType::F64 => DatumType::F64,
        DType::I8 => DatumType::I8,
        DType::U8 => DatumType::U8,
        DType::I16 => DatumType::I16,
        DType::U16 => DatumType::U16,
        DType::I32 => DatumType::I32,
        DType::U32 => DatumType::U32,
        DType::I64 => DatumType::I64,
        DType::U64 => DatumType::U64,
        DType::Bool => DatumType::Bool,
        _ => return None,
    })
}

/// What tract knows about a graph input or output, as a [`TensorInfo`].
///
/// A dimension tract holds as a symbol keeps its name; a symbolic expression (`2*batch`) is
/// shown as written; a dimension tract knows nothing about is [`Dim::Unknown`]. The second
/// value is false when the rank itself is unknown (the model declares no shape).
pub(crate) fn tensor_info(name: &str, fact: &InferenceFact) -> (TensorInfo, bool) {
    let dt = fact.datum_type.concretize();
    let rank_known = !fact.shape.is_open();
    let shape: Vec<Dim> = fact
        .shape
        .dims()
        .map(|d| match d {
            GenericFactoid::Only(TDim::Val(n)) => {
                usize::try_from(*n).map_or(Dim::Unknown, Dim::Fixed)
            }
            GenericFactoid::Only(TDim::Sym(s)) => Dim::Symbolic(s.to_string()),
            GenericFactoid::Only(expr) => Dim::Symbolic(expr.to_string()),
            GenericFactoid::Any => Dim::Unknown,
        })
        .collect();
    let type_name = match dt {
        Some(dt) => dtype_from_tract(dt).map_or_else(|| format!("{dt:?}"), |d| d.to_string()),
        None => "?".into(),
    };
    let shape_text = if rank_known {
        let dims: Vec<String> = shape
            .iter()
            .map(|d| match d {
                Dim::Unknown => "dyn".into(),
                d => d.to_string(),
            })
            .collect();
        dims.join(", ")
    } else {
        "..".into()
    };
    let info = TensorInfo {
        name: name.into(),
        dtype: dt.and_then(dtype_from_tract),
        shape,
        onnx_type: format!("Tensor<{type_name}>({shape_text})"),
    };
    (info, rank_known)
}

/// Copies a [`Tensor`] into a tract value.
pub(crate) fn to_tract(name: &str, tensor: &Tensor) -> Result<TValue> {
    let dt = dtype_to_tract(tensor.dtype()).ok_or_else(|| Error::UnsupportedDType {
        name: name.into(),
        onnx_type: format!("{} (tract has no such type)", tensor.dtype()),
    })?;
    let run_error = |e: tract_onnx::prelude::TractError| Error::Run {
        message: format!("input `{name}`: {e:#}"),
    };
    let value = if dt == DatumType::Bool {
        let bools: Vec<bool> = tensor.as_bytes().iter().map(|&b| b != 0).collect();
        TractTensor::from_shape(tensor.shape(), &bools).map_err(run_error)?
    } else {
        // SAFETY: every bit pattern is a valid value of the numeric types above, and
        // `from_raw_dt` checks that the bytes fill the shape before copying them.
        unsafe { TractTensor::from_raw_dt(dt, tensor.shape(), tensor.as_bytes()) }
            .map_err(run_error)?
    };
    Ok(value.into_tvalue())
}

/// Copies a tract output value into a [`Tensor`].
pub(crate) fn from_tract(name: &str, value: &TractTensor) -> Result<Tensor> {
    let owned;
    let value = if value.datum_type() == DatumType::TDim {
        owned = value.cast_to::<i64>().map_err(|e| Error::Run {
            message: format!("output `{name}`: a symbolic dimension is left: {e:#}"),
        })?;
        &*owned
    } else {
        value
    };
    let dt = value.datum_type();
    let dtype = dtype_from_tract(dt).ok_or_else(|| Error::UnsupportedDType {
        name: name.into(),
        onnx_type: format!("{dt:?}"),
    })?;
    let view = value.try_as_plain_ram().map_err(|e| Error::Run {
        message: format!("reading output `{name}`: {e:#}"),
    })?;
    Ok(Tensor::from_bytes(
        dtype,
        value.shape().to_vec(),
        view.as_bytes().to_vec(),
    )?)
}

/// A fact with the tensor's dtype and concrete shape, to pin an input before optimising.
pub(crate) fn concrete_fact(dt: DatumType, shape: &[usize]) -> InferenceFact {
    InferenceFact::dt_shape(dt, shape.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_mapping_round_trips_where_tract_has_the_type() {
        for dtype in DType::ALL {
            match dtype_to_tract(dtype) {
                Some(dt) => assert_eq!(dtype_from_tract(dt), Some(dtype)),
                None => assert_eq!(dtype, DType::BF16),
            }
        }
        assert_eq!(dtype_from_tract(DatumType::String), None);
        assert_eq!(dtype_from_tract(DatumType::TDim), Some(DType::I64));
    }

    #[test]
    fn tensors_cross_both_ways() {
        let t = Tensor::from_i64(vec![2, 2], vec![i64::MIN, -1, 1 << 40, 7]).unwrap();
        let v = to_tract("x", &t).unwrap();
        assert_eq!(from_tract("x", &v).unwrap(), t);

        // A bool byte other than 0 or 1 is read as true rather than handed to tract as is.
        let b = Tensor::from_bytes(DType::Bool, vec![3], vec![0, 1, 7]).unwrap();
        let v = to_tract("b", &b).unwrap();
        assert_eq!(
            from_tract("b", &v).unwrap().to_bool_vec().unwrap(),
            [false, true, true]
        );

        let err = to_tract("h", &Tensor::zeros(DType::BF16, vec![1]).unwrap()).unwrap_err();
        assert!(
            matches!(&err, Error::UnsupportedDType { name, .. } if name == "h"),
            "{err}"
        );
    }
}
