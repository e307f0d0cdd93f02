//! Checks on stored tensors: element type, shape, and that the data holds what the shape says.

use crate::dtype::ElemType;
use crate::error::{Error, Result};
use crate::proto::tensor_proto::DataType;
use crate::proto::TensorProto;
use std::path::Path;

/// The element count of `dims`, or `None` if a dimension is negative or the product overflows.
pub fn numel(dims: &[i64]) -> Option<u64> {
    dims.iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(u64::try_from(d).ok()?))
}

/// The tensor's element type, or an error naming the tensor and the unknown code.
pub fn elem_type(t: &TensorProto, path: &Path) -> Result<ElemType> {
    let code = t.data_type.unwrap_or(0);
    ElemType::from_code(code).ok_or_else(|| Error::UnknownDType {
        path: path.to_path_buf(),
        tensor: t.name().to_string(),
        code,
    })
}

/// Bytes the tensor's data takes once loaded (raw or typed fields), used for size statistics.
pub fn data_bytes(t: &TensorProto) -> u64 {
    if let Some(raw) = &t.raw_data {
        return raw.len() as u64;
    }
    let dtype = t.data_type.and_then(ElemType::from_code);
    match (dtype, numel(&t.dims)) {
        (Some(d), Some(n)) => d
            .raw_len(n)
            .unwrap_or_else(|| t.string_data.iter().map(|s| s.len() as u64).sum()),
        _ => 0,
    }
}

/// Checks that a tensor (already holding its data inline) has a known type, a valid shape and
/// exactly as much data as its shape and type require.
pub fn validate(t: &TensorProto, path: &Path) -> Result<()> {
    let dtype = elem_type(t, path)?;
    let n = numel(&t.dims).ok_or_else(|| Error::BadShape {
        path: path.to_path_buf(),
        tensor: t.name().to_string(),
        dims: t.dims.clone(),
    })?;
    let mismatch = |expected: String, found: String| Error::DataLength {
        path: path.to_path_buf(),
        tensor: t.name().to_string(),
        ty: format!("{} {:?}", dtype.name(), t.dims),
        expected,
        found,
    };
    if let Some(raw) = &t.raw_data {
        let Some(expected) = dtype.raw_len(n) else {
            return Err(mismatch(
                "string_data (strings cannot use raw_data)".into(),
                format!("{} raw bytes", raw.len()),
            ));
        };
        if raw.len() as u64 != expected {
            return Err(mismatch(
                format!("{expected} bytes"),
                format!("{} bytes", raw.len()),
            ));
        }
        return Ok(());
    }
    // Typed fields: which one holds the data, and how many entries the shape needs there.
    let (found, expected) = {
        use DataType::*;
        match dtype.data_type() {
            Float => (t.float_data.len(), n),
            Complex64 => (t.float_data.len(), n.saturating_mul(2)),
            Double => (t.double_data.len(), n),
            Complex128 => (t.double_data.len(), n.saturating_mul(2)),
            Int64 => (t.int64_data.len(), n),
            Uint32 | Uint64 => (t.uint64_data.len(), n),
            String => (t.string_data.len(), n),
            Int4 | Uint4 | Float4e2m1 => (t.int32_data.len(), n.div_ceil(2)),
            Int2 | Uint2 => (t.int32_data.len(), n.div_ceil(4)),
            _ => (t.int32_data.len(), n),
        }
    };
    if found as u64 != expected {
        return Err(mismatch(
            format!("{expected} values"),
            format!("{found} values"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(dims: Vec<i64>, dtype: i32) -> TensorProto {
        TensorProto {
            dims,
            data_type: Some(dtype),
            name: Some("w".into()),
            ..Default::default()
        }
    }

    #[test]
    fn raw_length_must_match_shape() {
        let mut t = tensor(vec![2, 3], 1);
        t.raw_data = Some(vec![0u8; 24].into());
        validate(&t, Path::new("m.onnx")).unwrap();
        t.raw_data = Some(vec![0u8; 20].into());
        let err = validate(&t, Path::new("m.onnx")).unwrap_err().to_string();
        assert!(
            err.contains("'w'") && err.contains("24 bytes") && err.contains("20 bytes"),
            "{err}"
        );
    }

    #[test]
    fn typed_fields_count_values() {
        let mut t = tensor(vec![3], 7);
        t.int64_data = vec![1, 2, 3];
        validate(&t, Path::new("m.onnx")).unwrap();
        t.int64_data.pop();
        assert!(matches!(
            validate(&t, Path::new("m.onnx")),
            Err(Error::DataLength { .. })
        ));
        let mut packed = tensor(vec![3], 22); // int4: two per int32 entry
        packed.int32_data = vec![0, 0];
        validate(&packed, Path::new("m.onnx")).unwrap();
    }

    #[test]
    fn unknown_dtype_and_negative_dims_are_errors() {
        let t = tensor(vec![1], 99);
        assert!(matches!(
            validate(&t, Path::new("m.onnx")),
            Err(Error::UnknownDType { code: 99, .. })
        ));
        let t = tensor(vec![-1], 1);
        assert!(matches!(
            validate(&t, Path::new("m.onnx")),
            Err(Error::BadShape { .. })
        ));
    }

    #[test]
    fn scalars_need_one_element() {
        let mut t = tensor(vec![], 1);
        assert!(validate(&t, Path::new("m.onnx")).is_err());
        t.float_data = vec![1.0];
        validate(&t, Path::new("m.onnx")).unwrap();
    }
}
