//! Turning a float32 weight initializer into int8 data plus scale and zero-point initializers.

use crate::scale::{quantize_per_channel, quantize_per_tensor, QuantParams, QuantType};
use crate::{Error, Result};
use optimize_onnx::build::{read_f32, tensor_f32, tensor_raw};
use optimize_onnx::proto::tensor_proto::DataType;
use optimize_onnx::proto::TensorProto;

/// A weight quantized to int8, as the initializers a graph needs.
#[derive(Debug, Clone)]
pub struct QuantizedWeight {
    /// The data, same shape as the float weight: int8, or int8 + 128 as uint8.
    pub data: TensorProto,
    /// Scales: a scalar, or one per channel (`[C]`).
    pub scale: TensorProto,
    /// Zero points (0 as int8, or 128 as uint8; same shape as `scale`).
    pub zero_point: TensorProto,
    /// How the values are stored.
    pub wtype: WeightType,
    /// The scales, for computing bias scales and reports.
    pub params: Vec<QuantParams>,
    /// The per-channel axis, if per-channel.
    pub axis: Option<usize>,
    /// NaN or infinite values found in the weight (quantized to the zero point or saturated).
    pub non_finite: u64,
    /// ‖W − dequantize(quantize(W))‖ / ‖W‖ over the finite values: how much of the weight int8
    /// loses. Well-behaved weights land near 1%; a few large outliers push it far higher.
    pub relative_error: f64,
}

/// Weights whose int8 form loses more than this share of their norm are left in float (a
/// per-tensor scale stretched by outliers rounds most values to 0 or ±1).
pub const MAX_RELATIVE_ERROR: f64 = 0.08;

fn relative_error(
    values: &[f32],
    data: &[u8],
    scales: &[f32],
    channel_of: impl Fn(usize) -> usize,
) -> f64 {
    let (mut err, mut norm) = (0f64, 0f64);
    for (i, (&v, &q)) in values.iter().zip(data).enumerate() {
        if !v.is_finite() {
            continue;
        }
        let d = f64::from(q as i8) * f64::from(scales[channel_of(i)]);
        err += (f64::from(v) - d).powi(2);
        norm += f64::from(v).powi(2);
    }
    if norm == 0.0 {
        0.0
    } else {
        (err / norm).sqrt()
    }
}

/// The float values and shape of a float32 tensor.
pub fn float_values(t: &TensorProto) -> Result<(Vec<f32>, Vec<usize>)> {
    let values = read_f32(t).ok_or_else(|| Error::Unsupported {
        what: format!("weight '{}' is not float32", t.name()),
    })?;
    let shape = t.dims.iter().map(|&d| d.max(0) as usize).collect();
    Ok((values, shape))
}

impl QuantizedWeight {
    /// The weight as the runtime will see it: `q · scale` of each value's channel, for `shape`
    /// (the float weight's).
    pub fn dequantized(&self, shape: &[usize]) -> Vec<f32> {
        let data = self.data.raw_data.as_deref().unwrap_or_default();
        let inner: usize = self.axis.map_or(1, |a| shape[a + 1..].iter().product());
        let channels = self.params.len().max(1);
        data.iter()
            .enumerate()
            .map(|(i, &q)| {
                let c = if self.axis.is_some() {
                    (i / inner.max(1)) % channels
                } else {
                    0
                };
                self.wtype.value(q) as f32 * self.params[c].scale
            })
            .collect()
    }
}

/// How int8 weights are stored for the runtime's integer kernels.
///
/// ONNX Runtime's x86 kernels for uint8 activations × int8 weights multiply with `VPMADDUBSW`
/// where the CPU has AVX2 but no VNNI: it adds two 8-bit products into a saturating 16-bit sum,
/// so full-range weights clip (`255 · 127 · 2 > 32767`). Its uint8 × uint8 kernels widen to 16
/// bits first and are exact. The same symmetric int8 values stored as uint8 (`q + 128`, zero
/// point 128) give the same dequantized weights and pick those kernels. Measured on such a
/// machine with ONNX Runtime's own tool (cosine with float32): digits-mlp dynamic per-channel
/// 0.99889 int8, 0.99997 int8 in 7 bits (`reduce_range`), 0.99999 uint8; digits-cnn static
/// QDQ 0.99878 / 0.99981 / 0.99988, and the uint8 model still fuses into QLinearConv and QGemm.
/// But ONNX Runtime's uint8 × uint8 kernels are also slow there: PP-OCRv4's recogniser in static
/// QDQ with per-channel weights ran 2.0× float32's time with uint8 weights and 0.85× with int8
/// weights in 7 bits (ONNX Runtime's own tool, 1 thread; the detector 1.11× and 0.97×). 7-bit
/// weights keep the fast kernels exact at one bit of weight precision, hence the default there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightType {
    /// Signed: what VNNI, ARM and GPU kernels take, and ONNX Runtime's default.
    #[default]
    Int8,
    /// The same values plus 128 as uint8, zero point 128: exact on x86 without VNNI, but
    /// computed by slower kernels there.
    Uint8,
    /// Int8 holding 7-bit values (`[-63, 63]`, ONNX Runtime's `reduce_range`): exact and fast on
    /// x86 without VNNI, one bit coarser.
    Int7,
}

impl WeightType {
    /// The weight type whose integer kernels are exact and fast on this machine:
    /// [`WeightType::Int7`] on x86-64 with AVX2 and without VNNI (AVX512-VNNI or AVX-VNNI),
    /// else int8.
    pub fn for_this_cpu() -> WeightType {
        if saturates_u8s8() {
            WeightType::Int7
        } else {
            WeightType::Int8
        }
    }

    /// The ONNX element type.
    pub fn data_type(self) -> DataType {
        match self {
            WeightType::Int8 | WeightType::Int7 => DataType::Int8,
            WeightType::Uint8 => DataType::Uint8,
        }
    }

    /// The range the symmetric values are quantized to.
    fn qtype(self) -> QuantType {
        match self {
            WeightType::Int7 => QuantType::I7,
            WeightType::Int8 | WeightType::Uint8 => QuantType::I8,
        }
    }

    /// The symmetric int8 value a stored byte holds.
    fn value(self, stored: u8) -> i32 {
        match self {
            WeightType::Int8 | WeightType::Int7 => i32::from(stored as i8),
            WeightType::Uint8 => i32::from(stored) - 128,
        }
    }

    /// What is added to a symmetric int8 value to store it.
    fn offset(self) -> i32 {
        match self {
            WeightType::Int8 | WeightType::Int7 => 0,
            WeightType::Uint8 => 128,
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn saturates_u8s8() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && !std::arch::is_x86_feature_detected!("avx512vnni")
        && !std::arch::is_x86_feature_detected!("avxvnni")
}

#[cfg(not(target_arch = "x86_64"))]
fn saturates_u8s8() -> bool {
    false
}

/// Quantizes `values` (of `shape`) symmetrically to int8 (`[-127, 127]`), per tensor or per
/// channel along `axis`, stored as `wtype`.
/// The new initializers are named `{base}_quantized`, `{base}_scale`, `{base}_zero_point` by the
/// caller's `names` choice.
pub fn quantize_weight(
    values: &[f32],
    shape: &[usize],
    axis: Option<usize>,
    wtype: WeightType,
    names: [&str; 3],
) -> Result<QuantizedWeight> {
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    let (data, params, non_finite) = match axis {
        None => {
            let q = quantize_per_tensor(values, wtype.qtype(), true);
            (q.data, vec![q.params], q.non_finite)
        }
        Some(a) => {
            let q = quantize_per_channel(values, shape, a, wtype.qtype(), true)?;
            (q.data, q.params, q.non_finite)
        }
    };
    let scales: Vec<f32> = params.iter().map(|p| p.scale).collect();
    let zps: Vec<u8> = params.iter().map(|p| p.zero_point as i8 as u8).collect();
    // Symmetric int8: zero point 0, so a value is q * scale of its channel.
    let inner: usize = axis.map_or(1, |a| shape[a + 1..].iter().product());
    let channels = params.len();
    let rel = relative_error(values, &data, &scales, |i| {
        if axis.is_some() {
            (i / inner.max(1)) % channels
        } else {
            0
        }
    });
    let pdims: Vec<i64> = if axis.is_some() {
        vec![params.len() as i64]
    } else {
        vec![]
    };
    // Stored as uint8: the same values shifted by 128, so the dequantized weight is unchanged.
    let offset = wtype.offset();
    let store = |b: u8| (i32::from(b as i8) + offset) as u8;
    let data: Vec<u8> = data.into_iter().map(store).collect();
    let zps: Vec<u8> = zps.into_iter().map(store).collect();
    Ok(QuantizedWeight {
        data: tensor_raw(names[0], wtype.data_type(), &dims, data),
        scale: tensor_f32(names[1], &pdims, &scales),
        zero_point: tensor_raw(names[2], wtype.data_type(), &pdims, zps),
        wtype,
        params,
        axis,
        non_finite,
        relative_error: rel,
    })
}

/// Transposes a row-major `[r, c]` matrix.
pub fn transpose(values: &[f32], r: usize, c: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for i in 0..r {
        for j in 0..c {
            out[j * r + i] = values[i * c + j];
        }
    }
    out
}

/// `values` (of `shape`) as symmetric int8 with one scale per slice along `axis`, stored to be
/// expanded back to float32 by a `Cast` and a `Mul` of constants, which runtimes fold once at
/// load: the quantized weight (its int8 data named `q_name`, its error and non-finite count)
/// and the scales as a float tensor `s_name` shaped to broadcast against the weight
/// (`[1, .., C, .., 1]`). Signed int8 whatever the weight type: the `Cast` reads it as is.
pub(crate) fn int8_stored(
    values: &[f32],
    shape: &[usize],
    axis: usize,
    q_name: &str,
    s_name: &str,
) -> Result<(QuantizedWeight, TensorProto)> {
    let qw = quantize_weight(
        values,
        shape,
        Some(axis),
        WeightType::Int8,
        [q_name, "", ""],
    )?;
    let dims: Vec<i64> = (0..shape.len())
        .map(|d| if d == axis { shape[d] as i64 } else { 1 })
        .collect();
    let scales: Vec<f32> = qw.params.iter().map(|p| p.scale).collect();
    let scale = tensor_f32(s_name, &dims, &scales);
    Ok((qw, scale))
}

/// The values of an int8 tensor stored as raw bytes (tests).
#[cfg(test)]
pub(crate) fn int8_values(t: &TensorProto) -> Vec<i8> {
    t.raw_data
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|&b| b as i8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_weight_initializers() {
        // [K=2, N=3], axis 1: channel absmax 2, 4, 0 -> scales 2/127, 4/127, and the zero-range rule.
        let w = [1.0, -4.0, 0.0, 2.0, 1.0, 0.0];
        let q = quantize_weight(
            &w,
            &[2, 3],
            Some(1),
            WeightType::Int8,
            ["w_q", "w_s", "w_zp"],
        )
        .unwrap();
        assert_eq!(q.data.dims, vec![2, 3]);
        assert_eq!(q.scale.dims, vec![3]);
        let s = read_f32(&q.scale).unwrap();
        assert!(
            (s[0] - 2.0 / 127.0).abs() < 1e-7 && (s[1] - 4.0 / 127.0).abs() < 1e-7,
            "{s:?}"
        );
        assert!(s[2] >= f32::MIN_POSITIVE && s[2].is_finite());
        let data = int8_values(&q.data);
        assert_eq!(data, vec![64, -127, 0, 127, 32, 0]);
        assert_eq!(q.zero_point.raw_data.as_ref().unwrap().as_ref(), &[0, 0, 0]);
    }

    #[test]
    fn uint8_weights_are_the_int8_values_plus_128() {
        let w = [1.0, -4.0, 0.0, 2.0, 1.0, 0.0];
        let q = |t| quantize_weight(&w, &[2, 3], Some(1), t, ["q", "s", "zp"]).unwrap();
        let (i8w, u8w) = (q(WeightType::Int8), q(WeightType::Uint8));
        assert_eq!(u8w.data.data_type, Some(DataType::Uint8 as i32));
        assert_eq!(u8w.zero_point.data_type, Some(DataType::Uint8 as i32));
        let stored = u8w.data.raw_data.as_deref().unwrap();
        assert_eq!(stored, &[192, 1, 128, 255, 160, 128]);
        assert_eq!(
            u8w.zero_point.raw_data.as_deref().unwrap(),
            &[128, 128, 128]
        );
        assert_eq!(read_f32(&u8w.scale).unwrap(), read_f32(&i8w.scale).unwrap());
        assert_eq!(u8w.dequantized(&[2, 3]), i8w.dequantized(&[2, 3]));
        assert_eq!(u8w.relative_error, i8w.relative_error);
    }

    #[test]
    fn seven_bit_weights_stay_within_63() {
        let w = [1.0, -4.0, 0.0, 2.0, 1.0, 0.0];
        let q = quantize_weight(&w, &[2, 3], Some(1), WeightType::Int7, ["q", "s", "zp"]).unwrap();
        assert_eq!(q.data.data_type, Some(DataType::Int8 as i32));
        // 1 / (2/63) is 31.5 in exact arithmetic, a hair under in float32: 31.
        assert_eq!(int8_values(&q.data), vec![31, -63, 0, 63, 16, 0]);
        let s = read_f32(&q.scale).unwrap();
        assert!((s[1] - 4.0 / 63.0).abs() < 1e-7, "{s:?}");
        let back = q.dequantized(&[2, 3]);
        assert!(back
            .iter()
            .zip(&w)
            .all(|(a, b)| (a - b).abs() <= s[0].max(s[1]) / 2.0));
    }

    #[test]
    fn transposes() {
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
