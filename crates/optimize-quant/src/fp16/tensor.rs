//! Converting stored float32 tensors to float16: round to nearest even, clamp what overflows.
//!
//! IEEE half precision holds finite values up to ±65504 and, below 2^-14, subnormals down to
//! 2^-24. A float32 value beyond ±65504 would round to infinity; it is clamped to ±65504 instead
//! and counted, so no weight turns into Inf. A nonzero value that rounds to zero (magnitude at
//! most 2^-25) is flushed and counted. Infinities and NaN in the input are kept as they are.

use super::Fp16Error;
use half::f16;
use optimize_onnx::proto::tensor_proto::{DataLocation, DataType};
use optimize_onnx::proto::TensorProto;

/// What converting one or more tensors changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Conversion {
    /// Finite values beyond ±65504, stored as ±65504.
    pub clamped: u64,
    /// Nonzero values that became zero.
    pub flushed: u64,
}

impl Conversion {
    pub(crate) fn add(&mut self, other: Conversion) {
        self.clamped += other.clamped;
        self.flushed += other.flushed;
    }
}

/// One value to float16 with clamping, and what happened to it.
pub(crate) fn to_f16(x: f32, c: &mut Conversion) -> f16 {
    if x.is_finite() && x.abs() > f16::MAX.to_f32() {
        c.clamped += 1;
        return if x > 0.0 { f16::MAX } else { f16::MIN };
    }
    let h = f16::from_f32(x);
    if x != 0.0 && h.to_f32() == 0.0 {
        c.flushed += 1;
    }
    h
}

/// Little-endian float16 bytes of `values`.
pub(crate) fn f16_bytes(values: &[f32], c: &mut Conversion) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&x| to_f16(x, c).to_le_bytes())
        .collect()
}

/// The values of a float32 tensor held inline (`raw_data` or `float_data`).
pub(crate) fn read_f32(t: &TensorProto) -> Result<Vec<f32>, Fp16Error> {
    let name = || t.name().to_string();
    if t.data_location == Some(DataLocation::External as i32) {
        return Err(Fp16Error::ExternalData { tensor: name() });
    }
    let numel = t
        .dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(u64::try_from(d).ok()?))
        .ok_or_else(|| Fp16Error::TensorData {
            tensor: name(),
            detail: format!("invalid dims {:?}", t.dims),
        })?;
    match &t.raw_data {
        Some(raw) => {
            if raw.len() as u64 != numel.saturating_mul(4) {
                return Err(Fp16Error::TensorData {
                    tensor: name(),
                    detail: format!(
                        "{} raw bytes for {numel} float32 values (expected {})",
                        raw.len(),
                        numel.saturating_mul(4)
                    ),
                });
            }
            Ok(raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        }
        None => {
            if t.float_data.len() as u64 != numel {
                return Err(Fp16Error::TensorData {
                    tensor: name(),
                    detail: format!(
                        "{} float_data values for {numel} elements",
                        t.float_data.len()
                    ),
                });
            }
            Ok(t.float_data.clone())
        }
    }
}

/// Replaces a float32 tensor's values (same count), stored as `raw_data`.
pub(crate) fn write_f32(t: &mut TensorProto, values: &[f32]) {
    t.raw_data = Some(
        values
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<u8>>()
            .into(),
    );
    t.float_data.clear();
}

/// Rewrites a float32 tensor in place as float16 (data in `raw_data`).
pub(crate) fn convert(t: &mut TensorProto) -> Result<Conversion, Fp16Error> {
    let values = read_f32(t)?;
    let mut c = Conversion::default();
    t.raw_data = Some(f16_bytes(&values, &mut c).into());
    t.float_data.clear();
    t.data_type = Some(DataType::Float16 as i32);
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_overflow_and_counts_flushes() {
        let mut c = Conversion::default();
        // 65504 is the largest half; 65519 still rounds down to it but is outside the range.
        let got: Vec<f32> = [1e5f32, -1e5, 65504.0, 65519.0, 1.0, 1e-8, -1e-8, 0.0, 6e-8]
            .iter()
            .map(|&x| to_f16(x, &mut c).to_f32())
            .collect();
        assert_eq!(got[..5], [65504.0, -65504.0, 65504.0, 65504.0, 1.0]);
        assert_eq!(got[5..8], [0.0, 0.0, 0.0]);
        // 6e-8 is above 2^-25 and rounds to the smallest subnormal, 2^-24.
        assert_eq!(got[8], 2f32.powi(-24));
        assert_eq!(
            c,
            Conversion {
                clamped: 3,
                flushed: 2
            }
        );
    }

    #[test]
    fn keeps_inf_and_nan() {
        let mut c = Conversion::default();
        assert!(to_f16(f32::INFINITY, &mut c).is_infinite());
        assert!(to_f16(f32::NAN, &mut c).is_nan());
        assert_eq!(c, Conversion::default());
    }

    #[test]
    fn converts_raw_and_typed_data() {
        let mut raw = TensorProto {
            dims: vec![2],
            data_type: Some(DataType::Float as i32),
            raw_data: Some(
                [1.5f32, -2.0]
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect::<Vec<_>>()
                    .into(),
            ),
            ..Default::default()
        };
        convert(&mut raw).unwrap();
        assert_eq!(raw.data_type, Some(DataType::Float16 as i32));
        assert_eq!(raw.raw_data.as_deref(), Some(&[0x00, 0x3e, 0x00, 0xc0][..]));
        let mut typed = TensorProto {
            dims: vec![],
            data_type: Some(DataType::Float as i32),
            float_data: vec![1e5],
            ..Default::default()
        };
        let c = convert(&mut typed).unwrap();
        assert_eq!(c.clamped, 1);
        assert!(typed.float_data.is_empty());
        assert_eq!(typed.raw_data.as_deref(), Some(&f16::MAX.to_le_bytes()[..]));
        let mut short = TensorProto {
            dims: vec![3],
            data_type: Some(DataType::Float as i32),
            float_data: vec![1.0],
            name: Some("w".into()),
            ..Default::default()
        };
        assert!(matches!(
            convert(&mut short),
            Err(Fp16Error::TensorData { .. })
        ));
    }
}
