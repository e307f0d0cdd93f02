//! ONNX tensor element types: names, sizes and the packing rules of `raw_data`.

use crate::proto::tensor_proto::DataType;
use std::fmt;

/// An ONNX tensor element type, as stored in `TensorProto.data_type` and `TypeProto.Tensor.elem_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ElemType(DataType);

impl ElemType {
    /// 32-bit float.
    pub const F32: ElemType = ElemType(DataType::Float);
    /// IEEE half precision.
    pub const F16: ElemType = ElemType(DataType::Float16);

    /// Parses the integer code used in the protobuf; `None` for codes the spec does not define
    /// (and for 0, UNDEFINED, which no tensor may carry).
    pub fn from_code(code: i32) -> Option<ElemType> {
        match DataType::try_from(code) {
            Ok(DataType::Undefined) | Err(_) => None,
            Ok(dt) => Some(ElemType(dt)),
        }
    }

    /// The protobuf integer code.
    pub fn code(self) -> i32 {
        self.0 as i32
    }

    /// The generated protobuf enum.
    pub fn data_type(self) -> DataType {
        self.0
    }

    /// Short lower-case name, as numpy and ONNX Runtime spell it (`float32`, `int64`, `float16`).
    pub fn name(self) -> &'static str {
        use DataType::*;
        match self.0 {
            Undefined => "undefined",
            Float => "float32",
            Uint8 => "uint8",
            Int8 => "int8",
            Uint16 => "uint16",
            Int16 => "int16",
            Int32 => "int32",
            Int64 => "int64",
            String => "string",
            Bool => "bool",
            Float16 => "float16",
            Double => "float64",
            Uint32 => "uint32",
            Uint64 => "uint64",
            Complex64 => "complex64",
            Complex128 => "complex128",
            Bfloat16 => "bfloat16",
            Float8e4m3fn => "float8e4m3fn",
            Float8e4m3fnuz => "float8e4m3fnuz",
            Float8e5m2 => "float8e5m2",
            Float8e5m2fnuz => "float8e5m2fnuz",
            Uint4 => "uint4",
            Int4 => "int4",
            Float4e2m1 => "float4e2m1",
            Float8e8m0 => "float8e8m0",
            Uint2 => "uint2",
            Int2 => "int2",
            Float6e2m3 => "float6e2m3",
            Float6e3m2 => "float6e3m2",
        }
    }

    /// Bits one element takes in `raw_data`; `None` for strings, which have no fixed width.
    pub fn bits(self) -> Option<u64> {
        use DataType::*;
        Some(match self.0 {
            Undefined | String => return None,
            Bool | Uint8 | Int8 | Float8e4m3fn | Float8e4m3fnuz | Float8e5m2 | Float8e5m2fnuz
            | Float8e8m0 => 8,
            Uint16 | Int16 | Float16 | Bfloat16 => 16,
            Float | Int32 | Uint32 => 32,
            Double | Int64 | Uint64 | Complex64 => 64,
            Complex128 => 128,
            Uint4 | Int4 | Float4e2m1 => 4,
            Uint2 | Int2 => 2,
            Float6e2m3 | Float6e3m2 => 6,
        })
    }

    /// Bytes that `numel` elements take in `raw_data`, with sub-byte types packed as the spec says
    /// (4-bit pairs, 2-bit quads, 6-bit groups of four in three bytes); `None` on overflow or for strings.
    pub fn raw_len(self, numel: u64) -> Option<u64> {
        let bits = self.bits()?;
        bits.checked_mul(numel)?.checked_add(7).map(|b| b / 8)
    }

    /// True for the floating-point types that hold weights in fp32/fp16/bf16/fp64 models.
    pub fn is_float(self) -> bool {
        matches!(
            self.0,
            DataType::Float | DataType::Float16 | DataType::Bfloat16 | DataType::Double
        )
    }

    /// True for the integer types quantized models store weights in (8 bits or fewer).
    pub fn is_low_bit_int(self) -> bool {
        use DataType::*;
        matches!(self.0, Int8 | Uint8 | Int4 | Uint4 | Int2 | Uint2)
    }
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_rejected() {
        for code in 1..=28 {
            let t = ElemType::from_code(code).expect("defined code");
            assert_eq!(t.code(), code);
        }
        assert_eq!(ElemType::from_code(0), None);
        assert_eq!(ElemType::from_code(29), None);
        assert_eq!(ElemType::from_code(-1), None);
    }

    #[test]
    fn packed_lengths_follow_the_spec() {
        let f32_ = ElemType::from_code(1).unwrap();
        assert_eq!(f32_.raw_len(10), Some(40));
        let int4 = ElemType::from_code(22).unwrap();
        assert_eq!(int4.raw_len(3), Some(2)); // two per byte, last one padded
        let int2 = ElemType::from_code(26).unwrap();
        assert_eq!(int2.raw_len(5), Some(2));
        let f6 = ElemType::from_code(27).unwrap();
        assert_eq!(f6.raw_len(4), Some(3)); // ceil(6*4/8)
        assert_eq!(f6.raw_len(5), Some(4));
        assert_eq!(ElemType::from_code(8).unwrap().raw_len(3), None); // string
        assert_eq!(f32_.raw_len(u64::MAX), None);
    }
}
