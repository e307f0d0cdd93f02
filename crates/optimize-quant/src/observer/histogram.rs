//! A streaming histogram with a fixed number of bins over a range that grows.
//!
//! Calibration does not know an activation's range in advance, and must not
//! keep the samples, so the histogram starts from the first values it sees and
//! widens itself when a later value falls outside. Memory is `bins` counters
//! whatever the number of samples.
//!
//! # Grid
//!
//! The histogram covers `[-T, T)` ([`Domain::Signed`], for values) or `[0, T)`
//! ([`Domain::Magnitude`], for `|x|`) with `B` bins of width `w = 2T/B` or `T/B`.
//! `T` is always a power of two: the smallest `2^e` strictly greater than the
//! largest `|x|` seen so far. Bin `i` (signed) holds
//! `-T + i·w <= x < -T + (i+1)·w`; 0 is the edge between bins `B/2 - 1` and `B/2`.
//!
//! # Growth: doubling and merging bins, exactly
//!
//! When a value reaches `|x| >= T`, `T` grows to `T' = 2^k·T` and the counts are
//! merged: the new width is `2^k·w`, and every old edge is a multiple of `w`
//! from 0 while every new edge is a multiple of `2^k·w` from 0, so each old bin
//! lies inside exactly one new bin:
//!
//! ```text
//! signed:    new(i) = B/2 + floor((i - B/2) / 2^k)
//! magnitude: new(i) = floor(i / 2^k)
//! ```
//!
//! No count is split or estimated, so the histogram after any sequence of
//! `observe` calls is exactly the histogram of all the values binned directly
//! on the final grid (bin indices are computed in f64, where `x · (B/2) / T` is
//! exact for `B < 2^29`). Because `T` depends only on the largest `|x|`, the
//! result does not depend on the order or the chunking of the values, and two
//! histograms can be merged exactly ([`Histogram::merge`]).
//!
//! The price is resolution: the data's largest `|x|` lies in `[T/2, T)`, so
//! between `B/2` and `B` bins (signed: `B/4` to `B/2` per side) cover the data.
//! ONNX Runtime's `HistogramCollector` instead keeps the first batch's bin width
//! and appends bins when the range grows, which is also exact but lets memory
//! grow with the range (11,556 bins for the test data here, from 2,048).
//!
//! Zeros seen before any non-zero value (an all-zero first batch) are kept in a
//! counter and land in the bin holding 0 once `T` is known.

use crate::error::{Error, Result};

/// The default number of bins, as ONNX Runtime's calibrators.
pub const DEFAULT_BINS: usize = 2048;

/// What the histogram counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// Values `x` over `[-T, T)`.
    Signed,
    /// Magnitudes `|x|` over `[0, T)`.
    Magnitude,
}

/// A fixed-size histogram over a power-of-two range that doubles as needed,
/// with the extremes, count and non-finite count of what it saw.
#[derive(Debug, Clone)]
pub struct Histogram {
    domain: Domain,
    counts: Vec<u64>,
    /// `T = 2^exp`; `None` until a non-zero finite value arrives.
    exp: Option<i32>,
    /// Zeros seen while `exp` was `None`.
    pending_zeros: u64,
    min: f32,
    max: f32,
    finite: u64,
    non_finite: u64,
}

impl Histogram {
    /// An empty histogram with `bins` bins.
    ///
    /// # Errors
    /// [`Error::InvalidBins`] unless `bins` is even, at least 2 and below 2^29.
    pub fn new(bins: usize, domain: Domain) -> Result<Self> {
        if bins < 2 || !bins.is_multiple_of(2) || bins >= 1 << 29 {
            return Err(Error::InvalidBins { bins });
        }
        Ok(Histogram {
            domain,
            counts: vec![0; bins],
            exp: None,
            pending_zeros: 0,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            finite: 0,
            non_finite: 0,
        })
    }

    /// Adds a batch of values; NaN and `±Inf` are counted and skipped.
    pub fn observe(&mut self, values: &[f32]) {
        // First pass: extremes, so the grid grows at most once per batch.
        let (mut lo, mut hi, mut finite) = (f32::INFINITY, f32::NEG_INFINITY, 0u64);
        for &v in values {
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
                finite += 1;
            }
        }
        self.non_finite += values.len() as u64 - finite;
        if finite == 0 {
            return;
        }
        self.finite += finite;
        self.min = self.min.min(lo);
        self.max = self.max.max(hi);
        let absmax = hi.max(-lo);
        if absmax > 0.0 {
            self.grow_to(exponent_above(absmax));
        }
        let Some(exp) = self.exp else {
            self.pending_zeros += finite; // every finite value was ±0
            return;
        };
        let (scale, offset) = self.index_map(exp);
        let last = self.counts.len() - 1;
        for &v in values {
            if v.is_finite() {
                let x = match self.domain {
                    Domain::Signed => f64::from(v),
                    Domain::Magnitude => f64::from(v.abs()),
                };
                // |x| < T, so the index is in range; min() only guards rounding.
                let i = (x * scale + offset).floor() as usize;
                self.counts[i.min(last)] += 1;
            }
        }
    }

    /// Adds every count of `other`, as if its values had been observed here.
    ///
    /// # Panics
    /// If the two histograms have different bin counts or domains (a bug in
    /// the caller, not a data problem).
    pub fn merge(&mut self, other: &Histogram) {
        assert_eq!(
            self.counts.len(),
            other.counts.len(),
            "merging histograms of different sizes"
        );
        assert_eq!(
            self.domain, other.domain,
            "merging histograms of different domains"
        );
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.finite += other.finite;
        self.non_finite += other.non_finite;
        self.pending_zeros += other.pending_zeros;
        let Some(other_exp) = other.exp else { return };
        self.grow_to(other_exp);
        let exp = self.exp.unwrap_or(other_exp);
        let shift = (exp - other_exp) as u32;
        for (i, &n) in other.counts.iter().enumerate() {
            if n > 0 {
                let j = self.merged_index(i, shift);
                self.counts[j] += n;
            }
        }
    }

    /// Makes `T >= 2^exp`, merging bins pairwise as many times as needed.
    fn grow_to(&mut self, exp: i32) {
        match self.exp {
            Some(old) if old >= exp => {}
            Some(old) => {
                let shift = (exp - old) as u32;
                let mut merged = vec![0u64; self.counts.len()];
                for (i, &n) in self.counts.iter().enumerate() {
                    merged[self.merged_index(i, shift)] += n;
                }
                // Reuse the allocation: capacity never changes.
                self.counts.copy_from_slice(&merged);
                self.exp = Some(exp);
            }
            None => {
                self.exp = Some(exp);
                let zero_bin = self.zero_bin();
                self.counts[zero_bin] += std::mem::take(&mut self.pending_zeros);
            }
        }
    }

    /// Where bin `i` goes when `T` grows by `2^shift`.
    fn merged_index(&self, i: usize, shift: u32) -> usize {
        let shift = shift.min(63);
        match self.domain {
            Domain::Signed => {
                let half = (self.counts.len() / 2) as i64;
                // `>>` on i64 is floor division by 2^shift, also for negatives.
                (half + ((i as i64 - half) >> shift)) as usize
            }
            Domain::Magnitude => i >> shift,
        }
    }

    /// `(scale, offset)` with `bin = floor(x * scale + offset)` for `T = 2^exp`.
    fn index_map(&self, exp: i32) -> (f64, f64) {
        let bins = self.counts.len() as f64;
        match self.domain {
            Domain::Signed => (bins / 2.0 * pow2(-exp), bins / 2.0),
            Domain::Magnitude => (bins * pow2(-exp), 0.0),
        }
    }

    /// The bin whose lower edge is 0.
    fn zero_bin(&self) -> usize {
        match self.domain {
            Domain::Signed => self.counts.len() / 2,
            Domain::Magnitude => 0,
        }
    }

    /// The bin counts, lowest bin first. All zero while [`Histogram::limit`] is `None`.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The counts including zeros still waiting for a grid, so they add up to
    /// [`Histogram::count`]. Allocates only when such zeros exist.
    pub(crate) fn counts_with_pending(&self) -> std::borrow::Cow<'_, [u64]> {
        if self.pending_zeros == 0 {
            return std::borrow::Cow::Borrowed(&self.counts);
        }
        let mut c = self.counts.clone();
        c[self.zero_bin()] += self.pending_zeros;
        std::borrow::Cow::Owned(c)
    }

    /// What is counted: values or magnitudes.
    pub fn domain(&self) -> Domain {
        self.domain
    }

    /// `T`, the upper end of the covered range, or `None` before the first
    /// non-zero finite value.
    pub fn limit(&self) -> Option<f64> {
        self.exp.map(pow2)
    }

    /// Lower edge of the range: `-T` (signed) or 0 (magnitude). 0 before any grid.
    pub fn lower(&self) -> f64 {
        match (self.domain, self.limit()) {
            (Domain::Signed, Some(t)) => -t,
            _ => 0.0,
        }
    }

    /// Bin width, or 0 before the first non-zero finite value.
    pub fn bin_width(&self) -> f64 {
        let t = self.limit().unwrap_or(0.0);
        let bins = self.counts.len() as f64;
        match self.domain {
            Domain::Signed => 2.0 * t / bins,
            Domain::Magnitude => t / bins,
        }
    }

    /// Lower edge of bin `i` (`i` may be `bins`, the upper end).
    pub fn edge(&self, i: usize) -> f64 {
        self.lower() + i as f64 * self.bin_width()
    }

    /// The value below which `rank` of the observed values lie, interpolated
    /// linearly inside the bin where the cumulative count reaches `rank`
    /// (values are taken as spread evenly over their bin). `rank` is clamped to
    /// `[0, count]`. `None` if nothing finite was observed.
    pub fn value_at_rank(&self, rank: f64) -> Option<f64> {
        if self.finite == 0 {
            return None;
        }
        let counts = self.counts_with_pending();
        let rank = rank.clamp(0.0, self.finite as f64);
        let mut below = 0u64;
        for (i, &n) in counts.iter().enumerate() {
            if n > 0 && (below + n) as f64 >= rank {
                let frac = ((rank - below as f64) / n as f64).clamp(0.0, 1.0);
                return Some(self.edge(i) + frac * self.bin_width());
            }
            below += n;
        }
        Some(self.edge(counts.len()))
    }

    /// Smallest finite value seen, or `None`.
    pub fn min(&self) -> Option<f32> {
        (self.finite > 0).then_some(self.min)
    }

    /// Largest finite value seen, or `None`.
    pub fn max(&self) -> Option<f32> {
        (self.finite > 0).then_some(self.max)
    }

    /// How many finite values were observed.
    pub fn count(&self) -> u64 {
        self.finite
    }

    /// How many NaN or infinite values were skipped.
    pub fn non_finite(&self) -> u64 {
        self.non_finite
    }

    /// Allocated bin capacity (for memory checks).
    pub fn capacity(&self) -> usize {
        self.counts.capacity()
    }
}

/// `2^e` for any exponent a finite f32 can produce (exact in f64).
fn pow2(e: i32) -> f64 {
    2f64.powi(e)
}

/// The smallest `e` with `2^e > x`, for finite `x > 0`.
fn exponent_above(x: f32) -> i32 {
    // Every f32, subnormals included, is a normal f64, whose biased exponent
    // field is floor(log2 x) + 1023.
    let bits = f64::from(x).to_bits();
    ((bits >> 52) & 0x7ff) as i32 - 1023 + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exponent_above_is_strict() {
        assert_eq!(exponent_above(1.0), 1); // 2^1 > 1
        assert_eq!(exponent_above(1.5), 1);
        assert_eq!(exponent_above(0.75), 0);
        assert_eq!(exponent_above(8.0), 4);
        assert_eq!(exponent_above(f32::MAX), 128);
        assert_eq!(exponent_above(f32::from_bits(1)), -148); // 2^-149 -> 2^-148
    }

    #[test]
    fn bins_a_batch_by_hand() {
        // Largest |x| is 3 -> T = 4; 8 signed bins of width 1 over [-4, 4).
        let mut h = Histogram::new(8, Domain::Signed).unwrap();
        h.observe(&[-3.0, -0.5, 0.0, 0.25, 1.0, 2.9, 3.0, f32::NAN]);
        assert_eq!(h.limit(), Some(4.0));
        // bins:        [-4,-3) [-3,-2) [-2,-1) [-1,0) [0,1) [1,2) [2,3) [3,4)
        assert_eq!(h.counts(), &[0, 1, 0, 1, 2, 1, 1, 1]);
        assert_eq!((h.count(), h.non_finite()), (7, 1));
        assert_eq!((h.min(), h.max()), (Some(-3.0), Some(3.0)));
    }

    #[test]
    fn growth_merges_bins_pairwise() {
        let mut h = Histogram::new(8, Domain::Signed).unwrap();
        h.observe(&[-3.0, -0.5, 0.0, 0.25, 1.0, 2.9, 3.0]);
        // 5 -> T = 8, width 2: [-8,-6) [-6,-4) [-4,-2) [-2,0) [0,2) [2,4) [4,6) [6,8).
        h.observe(&[5.0]);
        assert_eq!(h.limit(), Some(8.0));
        assert_eq!(h.counts(), &[0, 0, 1, 1, 3, 2, 1, 0]);
        // -40 -> T = 64 (shift 3), width 16: all old values land in [-16,0) or [0,16),
        // -40 in [-48,-32).
        h.observe(&[-40.0]);
        assert_eq!(h.counts(), &[0, 1, 0, 2, 6, 0, 0, 0]);
    }

    #[test]
    fn magnitude_bins_absolute_values() {
        // |x| max 3 -> T = 4, 4 bins of width 1.
        let mut h = Histogram::new(4, Domain::Magnitude).unwrap();
        h.observe(&[-3.0, -0.5, 0.0, 1.0, 2.5]);
        assert_eq!(h.counts(), &[2, 1, 1, 1]);
        h.observe(&[-7.0]); // T = 8, width 2
        assert_eq!(h.counts(), &[3, 2, 0, 1]);
    }

    #[test]
    fn zeros_before_the_first_non_zero_are_kept() {
        let mut h = Histogram::new(4, Domain::Signed).unwrap();
        h.observe(&[0.0, -0.0]);
        assert_eq!(h.limit(), None);
        assert_eq!(h.value_at_rank(1.0), Some(0.0));
        h.observe(&[1.0]); // T = 2: [-2,-1) [-1,0) [0,1) [1,2)
        assert_eq!(h.counts(), &[0, 0, 2, 1]);
    }

    #[test]
    fn rejects_odd_or_tiny_bin_counts() {
        assert!(matches!(
            Histogram::new(7, Domain::Signed),
            Err(Error::InvalidBins { bins: 7 })
        ));
        assert!(Histogram::new(0, Domain::Magnitude).is_err());
        assert!(Histogram::new(2, Domain::Magnitude).is_ok());
    }

    #[test]
    fn value_at_rank_interpolates_inside_the_bin() {
        // T = 4, width 1 (magnitude): bins [0,1):2 [1,2):1 [2,3):0 [3,4):1.
        let mut h = Histogram::new(4, Domain::Magnitude).unwrap();
        h.observe(&[0.1, 0.2, 1.5, 3.5]);
        assert_eq!(h.value_at_rank(0.0), Some(0.0));
        assert_eq!(h.value_at_rank(1.0), Some(0.5)); // half of bin 0's two values
        assert_eq!(h.value_at_rank(2.0), Some(1.0));
        assert_eq!(h.value_at_rank(3.0), Some(2.0));
        assert_eq!(h.value_at_rank(3.5), Some(3.5)); // the empty bin is skipped
        assert_eq!(h.value_at_rank(4.0), Some(4.0));
        assert_eq!(h.value_at_rank(9.0), Some(4.0)); // clamped to the count
    }

    #[test]
    fn memory_does_not_grow_with_observations() {
        let mut h = Histogram::new(DEFAULT_BINS, Domain::Signed).unwrap();
        let before = (std::mem::size_of_val(&h), h.capacity());
        let mut x = 1.0f32;
        for i in 0..10_000 {
            x *= 1.001; // keeps widening the range
            h.observe(&[x, -x * 0.5, i as f32 * 1e-3, f32::NAN]);
        }
        assert_eq!((std::mem::size_of_val(&h), h.capacity()), before);
        assert_eq!(h.count(), 30_000);
    }

    fn values() -> impl Strategy<Value = Vec<f32>> {
        prop::collection::vec(
            prop_oneof![
                -1e3f32..1e3,
                -1.0f32..1.0,
                Just(0.0),
                Just(f32::NAN),
                Just(64.0)
            ],
            0..200,
        )
    }

    proptest! {
        /// Growing and merging are exact: any chunking gives the histogram of
        /// the concatenation, bit for bit.
        #[test]
        fn chunking_does_not_change_the_histogram(
            v in values(),
            cuts in prop::collection::vec(0usize..200, 0..8),
            signed in any::<bool>(),
        ) {
            let domain = if signed { Domain::Signed } else { Domain::Magnitude };
            let mut whole = Histogram::new(64, domain).unwrap();
            whole.observe(&v);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(v.len())).collect();
            cuts.sort();
            let mut chunked = Histogram::new(64, domain).unwrap();
            let mut start = 0;
            for c in cuts.into_iter().chain([v.len()]) {
                chunked.observe(&v[start..c]);
                start = c;
            }
            prop_assert_eq!(whole.counts(), chunked.counts());
            prop_assert_eq!(whole.limit(), chunked.limit());
            prop_assert_eq!(whole.count(), chunked.count());
            prop_assert_eq!(whole.non_finite(), chunked.non_finite());

            // Merging two halves is the same too.
            let mid = v.len() / 2;
            let (mut a, mut b) = (Histogram::new(64, domain).unwrap(), Histogram::new(64, domain).unwrap());
            a.observe(&v[..mid]);
            b.observe(&v[mid..]);
            b.merge(&a);
            prop_assert_eq!(whole.counts_with_pending(), b.counts_with_pending());
        }

        /// Every finite value is counted in the bin whose edges bracket it.
        #[test]
        fn values_land_between_their_bin_edges(v in values()) {
            let mut h = Histogram::new(64, Domain::Signed).unwrap();
            h.observe(&v);
            let total: u64 = h.counts_with_pending().iter().sum();
            prop_assert_eq!(total, h.count());
            for &x in v.iter().filter(|x| x.is_finite()) {
                let Some(t) = h.limit() else { continue };
                prop_assert!(f64::from(x.abs()) < t);
                let i = ((f64::from(x) - h.lower()) / h.bin_width()).floor() as usize;
                prop_assert!(h.counts()[i] > 0);
            }
        }
    }
}
