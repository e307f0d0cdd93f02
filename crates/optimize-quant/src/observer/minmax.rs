//! The `minmax` observer: the smallest and largest finite value seen.
//!
//! ```text
//! asymmetric: [min x, max x]
//! symmetric:  [-a, a],  a = max(|min x|, |max x|)
//! ```
//!
//! As ONNX Runtime's `MinMaxCalibrater` (without its moving-average option).
//! Exact, O(1) state, and sensitive to a single outlier, which is what the
//! histogram methods are for.

use super::{Observer, Range};

/// Tracks the smallest and largest finite value.
#[derive(Debug, Clone)]
pub struct MinMaxObserver {
    symmetric: bool,
    min: f32,
    max: f32,
    finite: u64,
    non_finite: u64,
}

impl MinMaxObserver {
    /// A new observer; `symmetric` makes the range `±max|x|`.
    pub fn new(symmetric: bool) -> Self {
        MinMaxObserver {
            symmetric,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            finite: 0,
            non_finite: 0,
        }
    }
}

impl Observer for MinMaxObserver {
    fn observe(&mut self, values: &[f32]) {
        for &v in values {
            if v.is_finite() {
                self.min = self.min.min(v);
                self.max = self.max.max(v);
                self.finite += 1;
            } else {
                self.non_finite += 1;
            }
        }
    }

    fn range(&self) -> Option<Range> {
        if self.finite == 0 {
            return None;
        }
        if self.symmetric {
            let a = self.max.max(-self.min);
            return Some(Range { min: -a, max: a });
        }
        Some(Range {
            min: self.min,
            max: self.max,
        })
    }

    fn non_finite(&self) -> u64 {
        self.non_finite
    }

    fn count(&self) -> u64 {
        self.finite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_exact_extremes_across_batches() {
        let mut obs = MinMaxObserver::new(false);
        obs.observe(&[0.5, -0.25]);
        obs.observe(&[3.0, f32::NAN, -1.5]);
        obs.observe(&[f32::NEG_INFINITY]);
        assert_eq!(
            obs.range(),
            Some(Range {
                min: -1.5,
                max: 3.0
            })
        );
        assert_eq!((obs.count(), obs.non_finite()), (4, 2));
    }

    #[test]
    fn symmetric_uses_the_largest_magnitude() {
        let mut obs = MinMaxObserver::new(true);
        obs.observe(&[0.5, -4.0, 3.0]);
        assert_eq!(
            obs.range(),
            Some(Range {
                min: -4.0,
                max: 4.0
            })
        );
    }

    #[test]
    fn state_is_constant_size() {
        let mut obs = MinMaxObserver::new(false);
        let size = std::mem::size_of_val(&obs);
        for i in 0..10_000 {
            obs.observe(&[i as f32, -(i as f32)]);
        }
        assert_eq!(std::mem::size_of_val(&obs), size);
        assert_eq!(
            obs.range(),
            Some(Range {
                min: -9999.0,
                max: 9999.0
            })
        );
    }
}
