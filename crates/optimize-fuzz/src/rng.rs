//! The seeded random source every mutator draws from: one seed, one stream, the same input.

use optimize_data::SplitMix64;

/// A deterministic random stream with the helpers mutators need; equal seeds give equal
/// streams on every platform, so a seed alone reproduces an input.
#[derive(Debug, Clone)]
pub struct Rng(SplitMix64);

/// Integers that break code more often than random ones: zero, one, signs, powers of two at
/// type edges, and the extremes.
pub const INTERESTING_I64: &[i64] = &[
    0,
    1,
    -1,
    2,
    3,
    7,
    -2,
    16,
    255,
    256,
    65535,
    65536,
    i32::MAX as i64,
    i32::MIN as i64,
    1 << 31,
    1 << 32,
    1 << 40,
    1 << 62,
    i64::MAX,
    i64::MIN,
    i64::MAX / 2,
];

/// Floats that break numeric code: signed zeros, the non-finite values, subnormals, the
/// float16 edge and the float32 extremes.
pub const INTERESTING_F32: &[f32] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::MIN_POSITIVE,
    1e-45,
    5.96e-8,
    65504.0,
    65520.0,
    1e20,
    -1e20,
    f32::MAX,
    f32::MIN,
];

impl Rng {
    /// A stream seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(SplitMix64::new(seed))
    }

    /// A stream for one purpose of one seed, independent of how much other purposes draw
    /// (so a pass's settings do not change when a mutator is added).
    pub fn for_purpose(seed: u64, purpose: &str) -> Rng {
        let salt = purpose.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Rng::new(seed ^ salt)
    }

    /// The next 64 random bits.
    pub fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A uniform integer in `[0, n)`; 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.0.below(n as u64) as usize
        }
    }

    /// A uniform integer in `[lo, hi]`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = hi.wrapping_sub(lo) as u64;
        if span == u64::MAX {
            return self.u64() as i64;
        }
        lo.wrapping_add(self.0.below(span + 1) as i64)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.0.next_f64() < p
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        self.0.next_f64()
    }

    /// One element of `items`; `None` when it is empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len())])
        }
    }

    /// An integer that is interesting half the time and small otherwise.
    pub fn int(&mut self) -> i64 {
        if self.chance(0.5) {
            INTERESTING_I64[self.below(INTERESTING_I64.len())]
        } else {
            self.range(-4, 64)
        }
    }

    /// A float that is interesting a quarter of the time and ordinary otherwise.
    pub fn float(&mut self) -> f32 {
        if self.chance(0.25) {
            INTERESTING_F32[self.below(INTERESTING_F32.len())]
        } else {
            (self.unit() * 4.0 - 2.0) as f32
        }
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_seeds_give_equal_streams() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert!((0..100).all(|_| a.u64() == b.u64()));
        let (mut c, mut d) = (Rng::for_purpose(7, "x"), Rng::for_purpose(7, "y"));
        assert_ne!(c.u64(), d.u64());
    }

    #[test]
    fn ranges_hold_their_bounds() {
        let mut r = Rng::new(1);
        for _ in 0..1000 {
            let v = r.range(-3, 5);
            assert!((-3..=5).contains(&v));
            assert!(r.below(3) < 3);
        }
        assert_eq!(r.below(0), 0);
        // The full i64 span does not overflow.
        r.range(i64::MIN, i64::MAX);
    }
}
