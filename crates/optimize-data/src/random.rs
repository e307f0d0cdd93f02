//! Seeded, platform-independent random tensors for feeding models.
//!
//! [`random_tensor`] fills a tensor from [`SplitMix64`] (Steele, Lea & Flood, "Fast
//! splittable pseudorandom number generators", OOPSLA 2014), one 64-bit draw per element in
//! row-major order. Everything is integer arithmetic or a single correctly rounded IEEE
//! operation, so the same `(dtype, shape, seed, range)` gives the same bytes on every platform
//! and every run.
//!
//! Values, with [`RandomRange::default_for`]:
//! - floats: uniform in `[-1, 1)`; `f32`/`f64` take the top 24/53 bits of the draw as a
//!   fraction `u` in `[0, 1)` and compute `low + u * (high - low)` in `f64`; `f16`/`bf16`
//!   round the `f32` value. A value that rounds up to `high` is moved one step down, so the
//!   upper bound stays exclusive.
//! - integers: uniform in `[low, high)`, `[0, 10)` by default, by Lemire's multiply-shift
//!   (`low + (draw * span) >> 64`).
//! - `bool`: 0 or 1 with equal probability (the range is ignored).
//!
//! ```
//! use optimize_data::{random_tensor, DType, RandomRange};
//!
//! let a = random_tensor(DType::F32, &[2, 3], 42, RandomRange::default_for(DType::F32))?;
//! let b = random_tensor(DType::F32, &[2, 3], 42, RandomRange::Float { low: -1.0, high: 1.0 })?;
//! assert_eq!(a, b);
//! assert!(a.to_f32_vec()?.iter().all(|x| (-1.0..1.0).contains(x)));
//!
//! let ids = random_tensor(DType::I64, &[4], 7, RandomRange::Int { low: 0, high: 100 })?;
//! assert!(ids.to_i64_vec()?.iter().all(|x| (0..100).contains(x)));
//! # Ok::<(), optimize_data::Error>(())
//! ```

use half::{bf16, f16};

use crate::tensor::{numel, Element};
use crate::{DType, Error, Result, Tensor};

/// The SplitMix64 generator: 64 bits of state, one addition and a mixing function per draw.
///
/// Small, fast and good enough for test inputs and data splits; not for cryptography.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`; equal seeds give equal streams.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform `f64` in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `[0, span)`; `span` must be nonzero.
    pub fn below(&mut self, span: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(span)) >> 64) as u64
    }
}

/// The range values are drawn from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RandomRange {
    /// Uniform reals in `[low, high)`; for float dtypes only.
    Float {
        /// Inclusive lower bound.
        low: f64,
        /// Exclusive upper bound.
        high: f64,
    },
    /// Uniform integers in `[low, high)`; for integer dtypes, or float dtypes wanting
    /// integer values (such as class ids stored as floats).
    Int {
        /// Inclusive lower bound.
        low: i64,
        /// Exclusive upper bound.
        high: i64,
    },
}

impl RandomRange {
    /// `Float { -1, 1 }` for float dtypes, `Int { 0, 10 }` for integer dtypes and `bool`.
    pub fn default_for(dtype: DType) -> Self {
        if dtype.is_float() {
            RandomRange::Float {
                low: -1.0,
                high: 1.0,
            }
        } else {
            RandomRange::Int { low: 0, high: 10 }
        }
    }
}

/// A tensor of `dtype` and `shape` filled deterministically from `seed` (see the module doc).
///
/// Errors with [`Error::InvalidRange`] when the range is empty or not finite, when a
/// [`RandomRange::Float`] is given for an integer dtype, or when an integer range does not fit
/// the dtype (such as `[-1, 5)` for `u8`).
pub fn random_tensor(
    dtype: DType,
    shape: &[usize],
    seed: u64,
    range: RandomRange,
) -> Result<Tensor> {
    let n = numel(shape)?;
    let mut rng = SplitMix64::new(seed);
    let invalid = |reason: String| Error::InvalidRange { dtype, reason };
    let shape = shape.to_vec();

    if dtype == DType::Bool {
        let data = (0..n).map(|_| rng.next_u64() >> 63 == 1).collect();
        return Tensor::from_vec::<bool>(shape, data);
    }

    match range {
        RandomRange::Float { low, high } => {
            if !dtype.is_float() {
                return Err(invalid(
                    "a float range needs a float dtype; use RandomRange::Int".into(),
                ));
            }
            if !(low.is_finite() && high.is_finite() && low < high) {
                return Err(invalid(format!("[{low}, {high}) is empty or not finite")));
            }
            let mut draw = || rng.next_u64();
            Ok(fill_float(dtype, shape, n, low, high, &mut draw))
        }
        RandomRange::Int { low, high } => {
            if low >= high {
                return Err(invalid(format!("[{low}, {high}) is empty")));
            }
            if let Some((min, max)) = dtype.int_bounds() {
                if i128::from(low) < min || i128::from(high) - 1 > max {
                    return Err(invalid(format!("[{low}, {high}) does not fit in {dtype}")));
                }
            }
            let span = (i128::from(high) - i128::from(low)) as u64;
            let values = (0..n).map(|_| i128::from(low) + i128::from(rng.below(span)));
            // Every value lies in [low, high), which was checked against the dtype above, and
            // integer-valued floats are exact in f64 up to 2^53 (rounded beyond, as `as` does).
            macro_rules! ints {
                ($t:ty) => {
                    Tensor::from_vec::<$t>(shape, values.map(|v| v as $t).collect())
                };
            }
            match dtype {
                DType::I8 => ints!(i8),
                DType::U8 => ints!(u8),
                DType::I16 => ints!(i16),
                DType::U16 => ints!(u16),
                DType::I32 => ints!(i32),
                DType::U32 => ints!(u32),
                DType::I64 => ints!(i64),
                DType::U64 => ints!(u64),
                DType::F64 => ints!(f64),
                DType::F32 => ints!(f32),
                DType::F16 => {
                    Tensor::from_vec(shape, values.map(|v| f16::from_f64(v as f64)).collect())
                }
                DType::BF16 => {
                    Tensor::from_vec(shape, values.map(|v| bf16::from_f64(v as f64)).collect())
                }
                DType::Bool => unreachable!("handled above"),
            }
        }
    }
}

/// Uniform floats in `[low, high)` for a float dtype; the range was validated by the caller.
fn fill_float(
    dtype: DType,
    shape: Vec<usize>,
    n: usize,
    low: f64,
    high: f64,
    draw: &mut dyn FnMut() -> u64,
) -> Tensor {
    let width = high - low;
    let mut unit = |bits: u32| {
        let u = (draw() >> (64 - bits)) as f64 / (1u64 << bits) as f64;
        low + u * width
    };
    fn build<T: Element>(shape: Vec<usize>, data: Vec<T>) -> Tensor {
        match Tensor::from_vec(shape, data) {
            Ok(t) => t,
            // `data` has exactly numel(shape) elements by construction.
            Err(e) => unreachable!("{e}"),
        }
    }
    match dtype {
        DType::F64 => build(
            shape,
            (0..n).map(|_| below_high_f64(unit(53), high)).collect(),
        ),
        DType::F32 => build(shape, (0..n).map(|_| f32_below(unit(24), high)).collect()),
        DType::F16 => build(
            shape,
            (0..n)
                .map(|_| {
                    let x = f16::from_f32(f32_below(unit(24), high));
                    if f64::from(x) >= high {
                        f16::from_bits(step_down(x.to_bits().into(), 15) as u16)
                    } else {
                        x
                    }
                })
                .collect(),
        ),
        DType::BF16 => build(
            shape,
            (0..n)
                .map(|_| {
                    let x = bf16::from_f32(f32_below(unit(24), high));
                    if f64::from(x) >= high {
                        bf16::from_bits(step_down(x.to_bits().into(), 15) as u16)
                    } else {
                        x
                    }
                })
                .collect(),
        ),
        _ => unreachable!("fill_float is only called for float dtypes"),
    }
}

fn below_high_f64(x: f64, high: f64) -> f64 {
    if x >= high {
        f64::from_bits(step_down(x.to_bits(), 63))
    } else {
        x
    }
}

fn f32_below(x: f64, high: f64) -> f32 {
    let y = x as f32;
    if f64::from(y) >= high {
        f32::from_bits(step_down(y.to_bits().into(), 31) as u32)
    } else {
        y
    }
}

/// The bit pattern of the next representable value toward negative infinity, for an IEEE
/// float whose sign bit is bit `sign_bit` (finite, non-NaN inputs).
fn step_down(bits: u64, sign_bit: u32) -> u64 {
    let sign = 1u64 << sign_bit;
    let magnitude = bits & (sign - 1);
    if bits & sign != 0 {
        bits + 1 // negative: larger magnitude
    } else if magnitude == 0 {
        sign | 1 // +0 → smallest negative subnormal
    } else {
        bits - 1 // positive: smaller magnitude
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_values() {
        // First outputs for seed 1234567, from the reference C implementation
        // (https://prng.di.unimi.it/splitmix64.c), as quoted in many ports' test suites.
        let mut rng = SplitMix64::new(1234567);
        let got: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(
            got,
            [
                6457827717110365317,
                3203168211198807973,
                9817491932198370423
            ]
        );
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        for dtype in DType::ALL {
            let range = RandomRange::default_for(dtype);
            let a = random_tensor(dtype, &[3, 5], 9, range).unwrap();
            let b = random_tensor(dtype, &[3, 5], 9, range).unwrap();
            let c = random_tensor(dtype, &[3, 5], 10, range).unwrap();
            assert_eq!(a, b, "{dtype}");
            assert_ne!(a, c, "{dtype}");
            assert_eq!(a.as_bytes().len(), 15 * dtype.size_of());
        }
    }

    #[test]
    fn pinned_values() {
        // Pins the generator so a change to it shows up here, not as silently different model
        // inputs. Expected values from an independent Python port of the formulas above:
        //   s = (s + 0x9e3779b97f4a7c15) mod 2^64; z = mix(s)   (SplitMix64, seed 0)
        //   int:  (z * 10) >> 64                 -> 8, 4, 0, 9
        //   f32:  -1 + ((z >> 40) / 2^24) * 2    -> struct.pack('<f', ...) bytes below
        let ints = random_tensor(DType::I64, &[4], 0, RandomRange::Int { low: 0, high: 10 });
        assert_eq!(ints.unwrap().to_i64_vec().unwrap(), [8, 4, 0, 9]);
        let floats = random_tensor(DType::F32, &[2], 0, RandomRange::default_for(DType::F32));
        assert_eq!(
            floats.unwrap().as_bytes(),
            [80, 65, 68, 63, 16, 59, 12, 190]
        );
    }

    #[test]
    fn floats_stay_in_range() {
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            let t = random_tensor(dtype, &[2000], 3, RandomRange::default_for(dtype)).unwrap();
            let values: Vec<f64> = match dtype {
                DType::F32 => t.to_f32_vec().unwrap().into_iter().map(f64::from).collect(),
                DType::F64 => t.to_f64_vec().unwrap(),
                DType::F16 => t.to_f16_vec().unwrap().into_iter().map(f64::from).collect(),
                _ => t
                    .to_bf16_vec()
                    .unwrap()
                    .into_iter()
                    .map(f64::from)
                    .collect(),
            };
            assert!(values.iter().all(|x| (-1.0..1.0).contains(x)), "{dtype}");
            assert!(values.iter().any(|&x| x < -0.5) && values.iter().any(|&x| x > 0.5));
        }
    }

    #[test]
    fn ints_cover_the_range_and_no_more() {
        let t =
            random_tensor(DType::I8, &[1000], 5, RandomRange::Int { low: -3, high: 3 }).unwrap();
        let mut seen = t.to_i8_vec().unwrap();
        seen.sort();
        seen.dedup();
        assert_eq!(seen, [-3, -2, -1, 0, 1, 2]);
    }

    #[test]
    fn bools_are_zero_or_one() {
        let t = random_tensor(
            DType::Bool,
            &[100],
            1,
            RandomRange::default_for(DType::Bool),
        )
        .unwrap();
        assert!(t.as_bytes().iter().all(|&b| b <= 1));
        assert!(t.as_bytes().contains(&0) && t.as_bytes().contains(&1));
    }

    #[test]
    fn bad_ranges_are_errors() {
        let bad = [
            (DType::U8, RandomRange::Int { low: -1, high: 5 }),
            (DType::I8, RandomRange::Int { low: 0, high: 200 }),
            (DType::I32, RandomRange::Int { low: 5, high: 5 }),
            (
                DType::I32,
                RandomRange::Float {
                    low: 0.0,
                    high: 1.0,
                },
            ),
            (
                DType::F32,
                RandomRange::Float {
                    low: 1.0,
                    high: -1.0,
                },
            ),
            (
                DType::F32,
                RandomRange::Float {
                    low: 0.0,
                    high: f64::INFINITY,
                },
            ),
        ];
        for (dtype, range) in bad {
            let err = random_tensor(dtype, &[2], 0, range).unwrap_err();
            assert!(
                matches!(err, Error::InvalidRange { .. }),
                "{dtype} {range:?}: {err}"
            );
        }
    }

    #[test]
    fn upper_bound_stays_exclusive_after_rounding() {
        // A narrow range just below 1 where f16 rounding would land on `high`.
        let t = random_tensor(
            DType::F16,
            &[500],
            2,
            RandomRange::Float {
                low: 0.9995,
                high: 1.0,
            },
        )
        .unwrap();
        assert!(t.to_f16_vec().unwrap().iter().all(|x| f64::from(*x) < 1.0));
        assert_eq!(step_down(0, 31), 0x8000_0001);
        assert_eq!(
            f32::from_bits(step_down(1f32.to_bits().into(), 31) as u32),
            1.0 - f32::EPSILON / 2.0
        );
        assert_eq!(
            f32::from_bits(step_down((-1f32).to_bits().into(), 31) as u32),
            -1.0 - f32::EPSILON
        );
    }
}
