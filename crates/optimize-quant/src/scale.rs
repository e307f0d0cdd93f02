//! Linear quantization math: scales, zero points, quantize and dequantize.
//!
//! A real value `r` is represented by an integer `q` in `[qmin, qmax]` through
//!
//! ```text
//! r = scale * (q - zero_point)                       (ONNX DequantizeLinear)
//! q = saturate(round_half_even(r / scale) + zero_point)   (ONNX QuantizeLinear)
//! ```
//!
//! [`params_for_range`] picks `scale` and `zero_point` for a range `[min, max]`,
//! following ONNX Runtime's `compute_scale_zp` (`quant_utils.py`):
//!
//! 1. The range always includes 0, so that 0 (padding, ReLU output) is exact:
//!    `rmin = min(min, 0)`, `rmax = max(max, 0)`.
//! 2. Symmetric: `rmax = max(|rmin|, |rmax|)`, `rmin = -rmax`, and the zero point
//!    is the middle of the integer range, `round_half_even((qmin + qmax) / 2)`:
//!    0 for I8, 128 for U8, the same for every channel.
//! 3. `scale = (rmax - rmin) / (qmax - qmin)`, computed in f64 so that a range
//!    as wide as `[-f32::MAX, f32::MAX]` does not overflow.
//! 4. Asymmetric: `zero_point = round_half_even(qmin - rmin / scale)`, clamped to
//!    `[qmin, qmax]`.
//!
//! Where this module differs from ONNX Runtime, on purpose:
//!
//! - A range of zero width (an all-zero tensor) gives `scale = 1.0`, as in ONNX
//!   Runtime, but a symmetric U8 tensor keeps zero point 128 (ONNX Runtime gives 0),
//!   so that every channel of a per-channel tensor has the same zero point.
//! - A range that is not zero but whose scale would fall below
//!   [`f32::MIN_POSITIVE`] (the smallest normal f32) gets `scale = f32::MIN_POSITIVE`
//!   instead of ONNX Runtime's `1.0`: every value still fits in `[qmin, qmax]`
//!   (a larger scale only widens the covered range) and tiny values keep some
//!   resolution instead of all becoming 0. Subnormal scales are never produced
//!   because many kernels flush them to zero.
//! - NaN bounds are ignored (the range includes 0 anyway) and infinite bounds are
//!   clamped to `±f32::MAX`, so a scale is always finite, normal and positive.
//!
//! Quantizing skips non-finite values when it computes a range, then writes NaN
//! as the zero point (it dequantizes to 0) and `±Inf` as the largest/smallest
//! integer of the type (QuantizeLinear saturation, so `-Inf` is -128 even for
//! symmetric I8); how many there were is returned so the quantizer can report
//! them ("tensor w: 3 non-finite values").
//!
//! ```
//! use optimize_quant::scale::{params_for_range, QuantType};
//!
//! // Asymmetric U8 for [-1, 3]: scale 4/255, zero point round(255/4) = 64.
//! let p = params_for_range(-1.0, 3.0, QuantType::U8, false);
//! assert_eq!(p.zero_point, 64);
//! assert!((p.scale - 4.0 / 255.0).abs() < 1e-9);
//! ```

use crate::error::{Error, Result};

/// The integer type values are quantized to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantType {
    /// Signed 8-bit: `[-128, 127]`, or `[-127, 127]` when symmetric.
    I8,
    /// Unsigned 8-bit: `[0, 255]`.
    U8,
    /// Signed 7-bit stored in int8: `[-64, 63]`, or `[-63, 63]` when symmetric. Weights in this
    /// range never overflow the 16-bit sums of x86 integer kernels without VNNI (`255 · 64 · 2 <
    /// 32767`), as ONNX Runtime's `reduce_range`.
    I7,
}

impl QuantType {
    /// The full integer range `(qmin, qmax)` of the type.
    pub fn full_range(self) -> (i32, i32) {
        match self {
            QuantType::I8 => (-128, 127),
            QuantType::U8 => (0, 255),
            QuantType::I7 => (-64, 63),
        }
    }

    /// The integer range used by [`params_for_range`].
    ///
    /// As ONNX Runtime's `get_qmin_qmax_for_qType`: symmetric I8 drops -128 so
    /// that the range is symmetric around the zero point 0 (`[-127, 127]`);
    /// everything else uses the full range. Use [`params_for_qrange`] with
    /// [`QuantType::full_range`] to keep -128.
    pub fn qrange(self, symmetric: bool) -> (i32, i32) {
        match (self, symmetric) {
            (QuantType::I8, true) => (-127, 127),
            (QuantType::I7, true) => (-63, 63),
            _ => self.full_range(),
        }
    }

    /// The raw byte that stores `q` (two's complement for I8), `q` saturated.
    fn encode(self, q: i32) -> u8 {
        let (lo, hi) = self.full_range();
        let q = q.clamp(lo, hi);
        match self {
            QuantType::I8 | QuantType::I7 => q as i8 as u8,
            QuantType::U8 => q as u8,
        }
    }

    /// The integer stored in a raw byte.
    fn decode(self, b: u8) -> i32 {
        match self {
            QuantType::I8 | QuantType::I7 => b as i8 as i32,
            QuantType::U8 => b as i32,
        }
    }
}

/// Scale and zero point of one quantized tensor or channel:
/// `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantParams {
    /// Step between neighbouring integers, in real units. Always finite and at
    /// least [`f32::MIN_POSITIVE`].
    pub scale: f32,
    /// The integer that represents real 0 exactly; inside the type's range.
    pub zero_point: i32,
}

/// A tensor quantized with one scale and zero point.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantized {
    /// One raw byte per value (two's complement for I8), in input order.
    pub data: Vec<u8>,
    /// Scale and zero point of the whole tensor.
    pub params: QuantParams,
    /// How many input values were NaN or infinite.
    pub non_finite: u64,
}

/// A tensor quantized with one scale and zero point per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedPerChannel {
    /// One raw byte per value (two's complement for I8), in input order.
    pub data: Vec<u8>,
    /// Scale and zero point of each channel along `axis`, in channel order.
    pub params: Vec<QuantParams>,
    /// How many input values were NaN or infinite.
    pub non_finite: u64,
}

/// Scale and zero point for values in `[min, max]`, using the integer range
/// [`QuantType::qrange`] (`[-127, 127]` for symmetric I8).
///
/// See the module docs for the rules. Never panics and never returns a scale
/// that is zero, subnormal, infinite or NaN, whatever `min` and `max` are.
pub fn params_for_range(min: f32, max: f32, qtype: QuantType, symmetric: bool) -> QuantParams {
    let (qmin, qmax) = qtype.qrange(symmetric);
    params_for_qrange(min, max, qmin, qmax, symmetric)
}

/// Scale and zero point for values in `[min, max]` with an explicit integer range.
///
/// `qmin <= 0 <= qmax` and `qmin < qmax` are expected (all ONNX integer types);
/// other ranges are widened to include 0 and made at least one step wide.
pub fn params_for_qrange(min: f32, max: f32, qmin: i32, qmax: i32, symmetric: bool) -> QuantParams {
    let qmin = qmin.min(0);
    let qmax = qmax.max(0).max(qmin + 1);
    let sane = |v: f32| -> f64 {
        if v.is_nan() {
            0.0
        } else {
            f64::from(v.clamp(-f32::MAX, f32::MAX))
        }
    };
    let mut rmin = sane(min).min(0.0);
    let mut rmax = sane(max).max(0.0);
    if symmetric {
        let absmax = rmax.max(-rmin);
        rmin = -absmax;
        rmax = absmax;
    }
    // The midpoint of the integer range; rounds half to even as numpy does
    // (U8: 127.5 -> 128).
    let mid = (f64::from(qmin + qmax) / 2.0).round_ties_even() as i32;
    let dq = f64::from(qmax - qmin);
    let range = rmax - rmin;
    if range == 0.0 {
        return QuantParams {
            scale: 1.0,
            zero_point: if symmetric { mid } else { 0.clamp(qmin, qmax) },
        };
    }
    // f32 rounding of the scale may land a hair below the exact quotient, so
    // that rmax maps to qmax + a fraction; quantization saturates it.
    let scale = ((range / dq) as f32).max(f32::MIN_POSITIVE);
    let zero_point = if symmetric {
        mid
    } else {
        let zp = (f64::from(qmin) - rmin / f64::from(scale)).round_ties_even();
        (zp as i32).clamp(qmin, qmax)
    };
    QuantParams { scale, zero_point }
}

/// Quantizes one value; NaN goes to the zero point, `±Inf` to `qmax`/`qmin`
/// (the cast saturates), the rest is rounded half to even and saturated.
fn quantize_one(v: f32, p: QuantParams, qtype: QuantType) -> u8 {
    let q = if v.is_nan() {
        p.zero_point
    } else {
        // `as i32` saturates and maps ±Inf to i32::MIN/MAX; encode clamps.
        ((v / p.scale).round_ties_even() as i32).saturating_add(p.zero_point)
    };
    qtype.encode(q)
}

/// Min and max of the finite values, and how many were not finite.
fn finite_range<'a>(values: impl Iterator<Item = &'a f32>) -> (f32, f32, u64) {
    let (mut lo, mut hi, mut bad) = (0.0f32, 0.0f32, 0u64);
    for &v in values {
        if v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
        } else {
            bad += 1;
        }
    }
    (lo, hi, bad)
}

/// Quantizes a tensor with one scale and zero point computed from its finite
/// values (see [`params_for_range`]).
pub fn quantize_per_tensor(values: &[f32], qtype: QuantType, symmetric: bool) -> Quantized {
    let (lo, hi, non_finite) = finite_range(values.iter());
    let params = params_for_range(lo, hi, qtype, symmetric);
    let data = values
        .iter()
        .map(|&v| quantize_one(v, params, qtype))
        .collect();
    Quantized {
        data,
        params,
        non_finite,
    }
}

/// Splits a row-major `shape` at `axis` into `(outer, channels, inner)`:
/// element `(o, c, i)` sits at `(o * channels + c) * inner + i`.
fn split_at_axis(len: usize, shape: &[usize], axis: usize) -> Result<(usize, usize, usize)> {
    if axis >= shape.len() {
        return Err(Error::AxisOutOfRange {
            axis,
            rank: shape.len(),
        });
    }
    let expected = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .unwrap_or(usize::MAX);
    if expected != len {
        return Err(Error::ShapeMismatch {
            shape: shape.to_vec(),
            expected,
            found: len,
        });
    }
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    Ok((outer, shape[axis], inner))
}

/// Quantizes a tensor with one scale and zero point per slice along `axis`.
///
/// `axis` follows ONNX QuantizeLinear: the output channel of a Conv weight
/// `[O, I, kh, kw]` is axis 0, of a MatMul weight `[K, N]` axis 1, of a Gemm
/// weight with `transB = 1` (`[N, K]`) axis 0. Values are row-major.
///
/// # Errors
/// [`Error::AxisOutOfRange`] if `axis >= shape.len()`, [`Error::ShapeMismatch`]
/// if `values.len()` is not the product of `shape`.
pub fn quantize_per_channel(
    values: &[f32],
    shape: &[usize],
    axis: usize,
    qtype: QuantType,
    symmetric: bool,
) -> Result<QuantizedPerChannel> {
    let (outer, channels, inner) = split_at_axis(values.len(), shape, axis)?;
    let mut params = Vec::with_capacity(channels);
    let mut non_finite = 0;
    for c in 0..channels {
        let slice = (0..outer).flat_map(|o| {
            let start = (o * channels + c) * inner;
            &values[start..start + inner]
        });
        let (lo, hi, bad) = finite_range(slice);
        non_finite += bad;
        params.push(params_for_range(lo, hi, qtype, symmetric));
    }
    let data = values
        .iter()
        .enumerate()
        .map(|(n, &v)| quantize_one(v, params[(n / inner) % channels], qtype))
        .collect();
    Ok(QuantizedPerChannel {
        data,
        params,
        non_finite,
    })
}

/// Dequantizes raw bytes with one scale and zero point:
/// `scale * (q - zero_point)`.
pub fn dequantize(data: &[u8], params: QuantParams, qtype: QuantType) -> Vec<f32> {
    data.iter()
        .map(|&b| params.scale * (qtype.decode(b) - params.zero_point) as f32)
        .collect()
}

/// Dequantizes raw bytes with one scale and zero point per slice along `axis`.
///
/// # Errors
/// As [`quantize_per_channel`], and [`Error::ShapeMismatch`] if there is not
/// one `QuantParams` per channel.
pub fn dequantize_per_channel(
    data: &[u8],
    shape: &[usize],
    axis: usize,
    params: &[QuantParams],
    qtype: QuantType,
) -> Result<Vec<f32>> {
    let (_, channels, inner) = split_at_axis(data.len(), shape, axis)?;
    if params.len() != channels {
        return Err(Error::ShapeMismatch {
            shape: vec![channels],
            expected: channels,
            found: params.len(),
        });
    }
    Ok(data
        .iter()
        .enumerate()
        .map(|(n, &b)| {
            let p = params[(n / inner) % channels];
            p.scale * (qtype.decode(b) - p.zero_point) as f32
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn i8s(data: &[u8]) -> Vec<i8> {
        data.iter().map(|&b| b as i8).collect()
    }

    #[test]
    fn asymmetric_u8_for_minus_one_to_three() {
        // scale = (3 - -1) / 255 = 4/255; zp = round(0 - (-1) / (4/255)) = round(63.75) = 64.
        let p = params_for_range(-1.0, 3.0, QuantType::U8, false);
        assert_eq!(p.scale, (4.0f64 / 255.0) as f32);
        assert_eq!(p.zero_point, 64);
    }

    #[test]
    fn symmetric_i8_for_minus_half_to_two() {
        // absmax = 2 -> [-2, 2] over [-127, 127]: scale = 4/254, zp = 0.
        let p = params_for_range(-0.5, 2.0, QuantType::I8, true);
        assert_eq!(p.scale, (4.0f64 / 254.0) as f32);
        assert_eq!(p.zero_point, 0);
        // Full I8 range [-128, 127]: scale = 4/255, zp = round(-0.5) = 0 (half to even).
        let p = params_for_qrange(-0.5, 2.0, -128, 127, true);
        assert_eq!(p.scale, (4.0f64 / 255.0) as f32);
        assert_eq!(p.zero_point, 0);
        // Symmetric U8: zp = round(127.5) = 128 (half to even), scale = 4/255.
        let p = params_for_range(-0.5, 2.0, QuantType::U8, true);
        assert_eq!(p.scale, (4.0f64 / 255.0) as f32);
        assert_eq!(p.zero_point, 128);
    }

    #[test]
    fn range_is_widened_to_include_zero() {
        // [2, 3] -> [0, 3]: U8 scale 3/255, zp 0; I8 scale 3/255, zp = round(-128) = -128.
        let p = params_for_range(2.0, 3.0, QuantType::U8, false);
        assert_eq!((p.scale, p.zero_point), ((3.0f64 / 255.0) as f32, 0));
        let p = params_for_range(2.0, 3.0, QuantType::I8, false);
        assert_eq!((p.scale, p.zero_point), ((3.0f64 / 255.0) as f32, -128));
        // [-3, -2] -> [-3, 0]: U8 zp = round(0 + 3 / (3/255)) = 255.
        let p = params_for_range(-3.0, -2.0, QuantType::U8, false);
        assert_eq!(p.zero_point, 255);
    }

    #[test]
    fn zero_range_gives_unit_scale_and_exact_zero() {
        assert_eq!(
            params_for_range(0.0, 0.0, QuantType::U8, false),
            QuantParams {
                scale: 1.0,
                zero_point: 0
            }
        );
        assert_eq!(
            params_for_range(0.0, 0.0, QuantType::I8, true),
            QuantParams {
                scale: 1.0,
                zero_point: 0
            }
        );
        assert_eq!(
            params_for_range(0.0, 0.0, QuantType::U8, true),
            QuantParams {
                scale: 1.0,
                zero_point: 128
            }
        );
        let q = quantize_per_tensor(&[0.0, -0.0, 0.0], QuantType::U8, true);
        assert_eq!(q.data, vec![128, 128, 128]);
        assert_eq!(dequantize(&q.data, q.params, QuantType::U8), vec![0.0; 3]);
    }

    #[test]
    fn tiny_range_clamps_scale_to_smallest_normal() {
        // 1e-36 / 255 = 3.9e-39 is subnormal: clamp to 2^-126 = 1.1754944e-38.
        let p = params_for_range(0.0, 1e-36, QuantType::U8, false);
        assert_eq!(
            p,
            QuantParams {
                scale: f32::MIN_POSITIVE,
                zero_point: 0
            }
        );
        // 1e-36 / 2^-126 = 85.07 -> 85; dequantized 85 * 2^-126 = 9.99e-37.
        let q = quantize_per_tensor(&[1e-36], QuantType::U8, false);
        assert_eq!(q.data, vec![85]);
        // Asymmetric I8 for [-1e-36, 0]: zp = round(-128 + 85.07) = -43.
        let p = params_for_range(-1e-36, 0.0, QuantType::I8, false);
        assert_eq!(p.zero_point, -43);
        // The smallest subnormal is still a non-zero range.
        let p = params_for_range(0.0, f32::from_bits(1), QuantType::I8, true);
        assert_eq!(p.scale, f32::MIN_POSITIVE);
    }

    #[test]
    fn non_finite_bounds_never_give_a_bad_scale() {
        // NaN bounds are ignored: [NaN, 2] is [0, 2].
        let p = params_for_range(f32::NAN, 2.0, QuantType::U8, false);
        assert_eq!(p, params_for_range(0.0, 2.0, QuantType::U8, false));
        let p = params_for_range(f32::NAN, f32::NAN, QuantType::I8, true);
        assert_eq!(
            p,
            QuantParams {
                scale: 1.0,
                zero_point: 0
            }
        );
        // Infinite bounds clamp to f32::MAX: symmetric scale = 2 * MAX / 254, finite.
        let p = params_for_range(f32::NEG_INFINITY, f32::INFINITY, QuantType::I8, true);
        assert_eq!(p.scale, (2.0 * f64::from(f32::MAX) / 254.0) as f32);
        assert!(p.scale.is_finite());
        let p = params_for_range(-f32::MAX, f32::MAX, QuantType::U8, false);
        assert!(p.scale.is_finite());
        // zp = round(0 + MAX / (2 MAX / 255)) = round(127.5 +- f32 rounding of the scale).
        assert!((127..=128).contains(&p.zero_point));
    }

    #[test]
    fn non_finite_values_are_skipped_for_the_range_and_counted() {
        // Finite values [-127, 127]: I8 symmetric scale 254/254 = 1. NaN -> zp 0,
        // +Inf -> 127, -Inf -> -128 (QuantizeLinear saturates to the type's range).
        let v = [
            127.0,
            f32::NAN,
            -127.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            2.5,
        ];
        let q = quantize_per_tensor(&v, QuantType::I8, true);
        assert_eq!(q.non_finite, 3);
        assert_eq!(
            q.params,
            QuantParams {
                scale: 1.0,
                zero_point: 0
            }
        );
        assert_eq!(i8s(&q.data), vec![127, 0, -127, 127, -128, 2]);
        // U8 asymmetric: NaN -> zp, +Inf -> 255, -Inf -> 0.
        let q = quantize_per_tensor(
            &[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.0],
            QuantType::U8,
            false,
        );
        assert_eq!((q.non_finite, q.params.zero_point), (3, 0));
        assert_eq!(q.data, vec![0, 255, 0, 255]);
    }

    #[test]
    fn rounding_is_half_to_even_with_saturation() {
        // Scale 1, zp 0 (range [-127, 127] symmetric): 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -2.5 -> -2.
        let v = [127.0, 0.5, 1.5, 2.5, -2.5, -127.0];
        let q = quantize_per_tensor(&v, QuantType::I8, true);
        assert_eq!(q.params.scale, 1.0);
        assert_eq!(i8s(&q.data), vec![127, 0, 2, 2, -2, -127]);
        // Values beyond the params' range saturate.
        let p = QuantParams {
            scale: 1.0,
            zero_point: 0,
        };
        assert_eq!(quantize_one(300.0, p, QuantType::I8) as i8, 127);
        assert_eq!(quantize_one(-300.0, p, QuantType::I8) as i8, -128);
        assert_eq!(quantize_one(-3.0, p, QuantType::U8), 0);
    }

    #[test]
    fn per_channel_on_a_two_by_three_matrix() {
        // [[-63.5, 0, 127], [254, -10, 3]], symmetric I8 over [-127, 127].
        let w = [-63.5, 0.0, 127.0, 254.0, -10.0, 3.0];
        // Axis 0 (rows, as Conv [O, ...] or Gemm transB=1 [N, K]): absmax 127 and 254
        // -> scales 1 and 2. Row 0: -63.5 -> -64 (half to even), 0, 127.
        // Row 1: 254/2 = 127, -10/2 = -5, 3/2 = 1.5 -> 2.
        let q = quantize_per_channel(&w, &[2, 3], 0, QuantType::I8, true).unwrap();
        let scales: Vec<f32> = q.params.iter().map(|p| p.scale).collect();
        assert_eq!(scales, vec![1.0, 2.0]);
        assert!(q.params.iter().all(|p| p.zero_point == 0));
        assert_eq!(i8s(&q.data), vec![-64, 0, 127, 127, -5, 2]);
        // Axis 1 (columns, as a MatMul weight [K, N]): absmax 254, 10, 127 -> scales
        // 2, 20/254, 1. Col 0: -63.5/2 = -31.75 -> -32, 127. Col 1: 0, -127. Col 2: 127, 3.
        let q = quantize_per_channel(&w, &[2, 3], 1, QuantType::I8, true).unwrap();
        let scales: Vec<f32> = q.params.iter().map(|p| p.scale).collect();
        assert_eq!(scales, vec![2.0, (20.0f64 / 254.0) as f32, 1.0]);
        assert_eq!(i8s(&q.data), vec![-32, 0, 127, 127, -127, 3]);
        let back = dequantize_per_channel(&q.data, &[2, 3], 1, &q.params, QuantType::I8).unwrap();
        let expected = [-64.0, 0.0, 127.0, 254.0, -10.0, 3.0];
        for (b, e) in back.iter().zip(expected) {
            assert!((b - e).abs() <= 1e-5, "{b} vs {e}"); // -127 * f32(20/254) is -10 +- 1 ulp
        }
        // Asymmetric U8 along axis 0: row 0 [-63.5, 127] -> scale 190.5/255,
        // zp = round(63.5 * 255 / 190.5) = 85; codes 0, 85, 255.
        let q = quantize_per_channel(&w, &[2, 3], 0, QuantType::U8, false).unwrap();
        assert_eq!(q.params[0].scale, (190.5f64 / 255.0) as f32);
        assert_eq!(q.params[0].zero_point, 85);
        assert_eq!(q.data[..3], [0, 85, 255]);
    }

    #[test]
    fn per_channel_rejects_bad_shapes() {
        let w = [0.0; 6];
        assert!(matches!(
            quantize_per_channel(&w, &[2, 3], 2, QuantType::I8, true),
            Err(Error::AxisOutOfRange { axis: 2, rank: 2 })
        ));
        assert!(matches!(
            quantize_per_channel(&w, &[2, 2], 0, QuantType::I8, true),
            Err(Error::ShapeMismatch {
                expected: 4,
                found: 6,
                ..
            })
        ));
        assert!(quantize_per_channel(&w, &[usize::MAX, 3], 0, QuantType::I8, true).is_err());
    }

    fn finite_f32() -> impl Strategy<Value = f32> {
        prop_oneof![-1e3f32..1e3, -1e-30f32..1e-30, -1e30f32..1e30, Just(0.0)]
    }

    proptest! {
        #[test]
        fn round_trip_error_is_at_most_half_a_step(
            values in prop::collection::vec(finite_f32(), 1..64),
            u8_type in any::<bool>(),
            symmetric in any::<bool>(),
        ) {
            let qtype = if u8_type { QuantType::U8 } else { QuantType::I8 };
            let q = quantize_per_tensor(&values, qtype, symmetric);
            let s = q.params.scale;
            prop_assert!(s.is_finite() && s >= f32::MIN_POSITIVE);
            let back = dequantize(&q.data, q.params, qtype);
            for (v, b) in values.iter().zip(&back) {
                // Half a step, plus f32 rounding of v / scale and of the scale itself.
                let tol = s * 0.5 * (1.0 + 1e-5) + v.abs() * 1e-6;
                prop_assert!((v - b).abs() <= tol, "{} -> {} (scale {}, zp {})", v, b, s, q.params.zero_point);
            }
        }

        #[test]
        fn per_channel_matches_per_tensor_on_each_slice(
            values in prop::collection::vec(-10.0f32..10.0, 12),
            axis in 0usize..3,
        ) {
            let shape = [2, 3, 2];
            let q = quantize_per_channel(&values, &shape, axis, QuantType::I8, false).unwrap();
            // Gather each channel by brute-force index arithmetic and compare.
            for c in 0..shape[axis] {
                let mut slice = vec![];
                let mut codes = vec![];
                for (n, (&v, &code)) in values.iter().zip(&q.data).enumerate() {
                    let idx = [n / 6, (n / 2) % 3, n % 2];
                    if idx[axis] == c {
                        slice.push(v);
                        codes.push(code);
                    }
                }
                let t = quantize_per_tensor(&slice, QuantType::I8, false);
                prop_assert_eq!(t.params, q.params[c]);
                prop_assert_eq!(t.data, codes);
            }
        }
    }
}
