//! Turning a float32 weight initializer into int8 data plus scale and zero-point initializers.

use crate::scale::{quantize_per_channel, quantize_per_tensor, QuantParams, QuantType};
use crate::{Error, Result};
use optimize_onnx::build::{read_f32, tensor_f32, tensor_raw};
use optimize_onnx::proto::tensor_proto::DataType;
use optimize_onnx::proto::TensorProto;

/// A weight quantized to int8, as the initializers a graph needs.
#[derive(Debug, Clone)]
pub struct QuantizedWeight {
    /// The int8 data, same shape as the float weight.
    pub data: TensorProto,
    /// Scales: a scalar, or one per channel (`[C]`).
    pub scale: TensorProto,
    /// Zero points (int8 zeros, same shape as `scale`).
    pub zero_point: TensorProto,
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
                f32::from(q as i8) * self.params[c].scale
            })
            .collect()
    }
}

/// Quantizes `values` (of `shape`) symmetrically to int8, per tensor or per channel along `axis`.
/// The new initializers are named `{base}_quantized`, `{base}_scale`, `{base}_zero_point` by the
/// caller's `names` choice.
pub fn quantize_weight(
    values: &[f32],
    shape: &[usize],
    axis: Option<usize>,
    names: [&str; 3],
) -> Result<QuantizedWeight> {
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    let (data, params, non_finite) = match axis {
        None => {
            let q = quantize_per_tensor(values, QuantType::I8, true);
            (q.data, vec![q.params], q.non_finite)
        }
        Some(a) => {
            let q = quantize_per_channel(values, shape, a, QuantType::I8, true)?;
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
    Ok(QuantizedWeight {
        data: tensor_raw(names[0], DataType::Int8, &dims, data),
        scale: tensor_f32(names[1], &pdims, &scales),
        zero_point: tensor_raw(names[2], DataType::Int8, &pdims, zps),
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
        let q = quantize_weight(&w, &[2, 3], Some(1), ["w_q", "w_s", "w_zp"]).unwrap();
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
    fn transposes() {
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
