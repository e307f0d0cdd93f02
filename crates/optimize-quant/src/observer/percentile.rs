//! The `percentile` observer: clip the rarest values away.
//!
//! With `n` finite values and percentile `P` (e.g. 99.999):
//!
//! ```text
//! symmetric:  t = Q|x|(P/100 · n),           range = [-t, t]
//! asymmetric: lo = Qx(c · n), hi = Qx((1 - c) · n),  c = (100 - P) / 200
//! ```
//!
//! where `Q(r)` is the value below which `r` of the values lie, read off a
//! streaming [`Histogram`] (of `|x|` when symmetric, of `x` otherwise, as ONNX
//! Runtime's `PercentileCalibrater`) and interpolated linearly inside the bin
//! where the cumulative count reaches `r`. The range is then clipped to the
//! observed `[min, max]`, as ONNX Runtime does.
//!
//! Deviation from ONNX Runtime: ORT returns the *lower edge* of that bin, found
//! with a float cumulative sum (`np.cumsum(hist / total)`). That is biased low
//! by up to a bin, and at ranks that are whole numbers the float sum can fall
//! just short (0.99899999 < 0.999) and step to the next order statistic. Here
//! counts are summed as integers and the bin is interpolated, so the result is
//! within one bin width of the exact percentile.

use super::histogram::{Domain, Histogram, DEFAULT_BINS};
use super::{Observer, Range};
use crate::error::Result;

/// The default percentile, as ONNX Runtime's `PercentileCalibrater`.
pub const DEFAULT_PERCENTILE: f64 = 99.999;

/// Clips at a percentile of a streaming histogram.
#[derive(Debug, Clone)]
pub struct PercentileObserver {
    hist: Histogram,
    percentile: f64,
    symmetric: bool,
}

impl PercentileObserver {
    /// A new observer with [`DEFAULT_BINS`] bins. `percentile` is in `[0, 100]`
    /// (clamped); `symmetric` works on `|x|` and returns `±t`.
    pub fn new(percentile: f64, symmetric: bool) -> Self {
        Self::with_bins(percentile, symmetric, DEFAULT_BINS)
            .expect("the default bin count is valid")
    }

    /// As [`PercentileObserver::new`] with `bins` histogram bins.
    ///
    /// # Errors
    /// [`crate::Error::InvalidBins`] unless `bins` is even and at least 2.
    pub fn with_bins(percentile: f64, symmetric: bool, bins: usize) -> Result<Self> {
        let domain = if symmetric {
            Domain::Magnitude
        } else {
            Domain::Signed
        };
        Ok(PercentileObserver {
            hist: Histogram::new(bins, domain)?,
            percentile: if percentile.is_nan() {
                100.0
            } else {
                percentile.clamp(0.0, 100.0)
            },
            symmetric,
        })
    }

    /// The histogram collected so far.
    pub fn histogram(&self) -> &Histogram {
        &self.hist
    }
}

impl Observer for PercentileObserver {
    fn observe(&mut self, values: &[f32]) {
        self.hist.observe(values);
    }

    fn range(&self) -> Option<Range> {
        let (min, max) = (self.hist.min()?, self.hist.max()?);
        let n = self.hist.count() as f64;
        let (lo, hi) = if self.symmetric {
            let t = self.hist.value_at_rank(rank(self.percentile, n))?;
            (-t, t)
        } else {
            let cut = (100.0 - self.percentile) / 2.0;
            let lo = self.hist.value_at_rank(rank(cut, n))?;
            let hi = self.hist.value_at_rank(rank(100.0 - cut, n))?;
            (lo, hi)
        };
        Some(Range::clipped(lo, hi, min, max))
    }

    fn non_finite(&self) -> u64 {
        self.hist.non_finite()
    }

    fn count(&self) -> u64 {
        self.hist.count()
    }
}

/// How many of `n` values lie below the `percent`th percentile: `percent · n / 100`,
/// snapped to the nearest whole number when within 1e-9 of it. The percentile
/// comes from decimal text, and binary rounding must not move a whole rank
/// (99.9 / 100 · 10000 is 9990.000000000002 in f64) to the next value.
fn rank(percent: f64, n: f64) -> f64 {
    let r = percent * n / 100.0;
    let whole = r.round();
    if (r - whole).abs() <= 1e-9 * whole.max(1.0) {
        whole
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_ranks_stay_whole() {
        assert_eq!(99.9 / 100.0 * 10000.0, 9990.000000000002);
        assert_eq!(rank(99.9, 10000.0), 9990.0);
        assert_eq!(rank(99.985, 10000.0), 9998.5);
        assert_eq!(rank(0.005, 10000.0), 0.5);
    }

    #[test]
    fn symmetric_percentile_by_hand() {
        // |x| = 0.5 x 98, 1.5, 3.5 -> T = 4, 4 magnitude bins of width 1 (bins=4):
        // [0,1):98 [1,2):1 [2,3):0 [3,4):1. P = 99 -> rank 99 -> bin [1,2) full -> 2.0.
        let mut obs = PercentileObserver::with_bins(99.0, true, 4).unwrap();
        let mut v = vec![0.5f32; 98];
        v.extend([-1.5, 3.5]);
        obs.observe(&v);
        assert_eq!(
            obs.range(),
            Some(Range {
                min: -1.5,
                max: 2.0
            })
        ); // -2 clipped to min -1.5
           // P = 98.5 -> rank 98.5 -> half way into [1,2) -> 1.5.
        let mut obs = PercentileObserver::with_bins(98.5, true, 4).unwrap();
        obs.observe(&v);
        assert_eq!(
            obs.range(),
            Some(Range {
                min: -1.5,
                max: 1.5
            })
        );
    }

    #[test]
    fn asymmetric_percentile_by_hand() {
        // 100 values: -3.5, 98 x 0.5, 2.5; T = 4, 8 signed bins of width 1.
        // P = 98 -> cut 1% each side: rank 1 -> end of bin [-4,-3) = -3.0,
        // rank 99 -> end of bin [0,1) = 1.0.
        let mut obs = PercentileObserver::with_bins(98.0, false, 8).unwrap();
        let mut v = vec![0.5f32; 98];
        v.extend([-3.5, 2.5]);
        obs.observe(&v);
        assert_eq!(
            obs.range(),
            Some(Range {
                min: -3.0,
                max: 1.0
            })
        );
        // P = 100 is min-max.
        let mut obs = PercentileObserver::with_bins(100.0, false, 8).unwrap();
        obs.observe(&v);
        assert_eq!(
            obs.range(),
            Some(Range {
                min: -3.5,
                max: 2.5
            })
        );
    }
}
