//! The `entropy` observer: the threshold whose int8 histogram loses the least
//! information (KL divergence), after TensorRT's calibrator.
//!
//! On the signed [`Histogram`] of `B` bins (0 on the edge between bins `B/2-1`
//! and `B/2`), for each candidate `i = M/2 ..= B/2` (`M` quantized bins, 128):
//!
//! ```text
//! slice  = hist[B/2 - i .. B/2 + i]                 2i bins, threshold t_i = i·w
//! P      = slice, with everything left of it added to P[0] and right of it to P[2i-1]
//! Q      = slice merged into M groups (bin k goes to group floor(k·M / 2i)), each
//!          group's sum spread evenly over the bins of the group where P is
//!          non-zero; Q = 0 where P = 0
//! P, Q   = smoothed: zero entries get ε = 1e-4, taken evenly from the non-zero ones
//! D(i)   = KL(P || Q) = Σ p_k ln(p_k / q_k),  p, q normalized
//! ```
//!
//! and the range is `±t_i` for the first `i` with the smallest `D`, clipped to
//! the observed `[min, max]` (as ONNX Runtime does, so a ReLU output keeps 0 as
//! its lower end).
//!
//! This is MXNet's `_get_optimal_threshold`, which ONNX Runtime's
//! `get_entropy_threshold` ports, with TensorRT's even grouping (pytorch-quantization's
//! `_compute_amax_entropy` spreads bins over groups with `linspace`); MXNet and
//! ORT give all `2i mod M` leftover bins to the last group, which with a 2048-bin
//! histogram can make that group 15 times wider than the others.
//!
//! Deviations from ONNX Runtime 1.31, whose port has bugs: it slices `2i + 1`
//! bins of an even histogram (`[-i·w, (i+1)·w)`, lopsided), spreads `Q` over
//! the empty bins of `P` too, truncates `Q` to integers (so sparse tails get
//! `Q = 0` and are penalized), and leaves `Q = 0` on the leftover bins. Its
//! thresholds come out 9-30% lower than this method's on the same histogram
//! (normal data: 3.19 vs 3.50; the reference data: 5.62 vs 7.92). The reference
//! test checks this method against ORT's code with those bugs fixed, run on
//! ORT's own histogram.

use super::histogram::{Domain, Histogram, DEFAULT_BINS};
use super::{Observer, Range};
use crate::error::{Error, Result};

/// Quantized bins of the candidate distribution, as ONNX Runtime's default.
pub const DEFAULT_QUANTIZED_BINS: usize = 128;

/// Smoothing mass given to empty bins, as MXNet and ONNX Runtime.
const EPS: f64 = 1e-4;

/// KL-divergence threshold search over a streaming histogram.
#[derive(Debug, Clone)]
pub struct EntropyObserver {
    hist: Histogram,
    quantized_bins: usize,
}

impl Default for EntropyObserver {
    fn default() -> Self {
        Self::new()
    }
}

impl EntropyObserver {
    /// A new observer with [`DEFAULT_BINS`] bins and [`DEFAULT_QUANTIZED_BINS`].
    pub fn new() -> Self {
        Self::with_bins(DEFAULT_BINS, DEFAULT_QUANTIZED_BINS).expect("the defaults are valid")
    }

    /// A new observer with `bins` histogram bins and `quantized_bins` groups in
    /// the candidate distribution.
    ///
    /// # Errors
    /// [`Error::InvalidBins`] unless `bins` is even and at least 2 and
    /// `quantized_bins` is even and at least 2.
    pub fn with_bins(bins: usize, quantized_bins: usize) -> Result<Self> {
        if quantized_bins < 2 || !quantized_bins.is_multiple_of(2) {
            return Err(Error::InvalidBins {
                bins: quantized_bins,
            });
        }
        Ok(EntropyObserver {
            hist: Histogram::new(bins, Domain::Signed)?,
            quantized_bins,
        })
    }

    /// The histogram collected so far.
    pub fn histogram(&self) -> &Histogram {
        &self.hist
    }

    /// The threshold `t` with the smallest divergence (see the module docs).
    fn threshold(&self) -> f64 {
        let counts = self.hist.counts();
        let half = counts.len() / 2;
        let first = (self.quantized_bins / 2).min(half);
        // prefix[j] = sum of counts[..j], for the outlier sums.
        let mut prefix = Vec::with_capacity(counts.len() + 1);
        prefix.push(0u64);
        for &c in counts {
            prefix.push(prefix.last().copied().unwrap_or(0) + c);
        }
        let total = prefix[counts.len()];
        let mut p = Vec::with_capacity(counts.len());
        let mut q = Vec::with_capacity(counts.len());
        let mut best = (f64::INFINITY, half);
        for i in first..=half {
            let (start, end) = (half - i, half + i);
            let slice = &counts[start..end];
            p.clear();
            p.extend(slice.iter().map(|&c| c as f64));
            p[0] += prefix[start] as f64;
            p[2 * i - 1] += (total - prefix[end]) as f64;
            quantize_like(slice, &p, self.quantized_bins, &mut q);
            let d = smoothed_kl(&mut p, &mut q);
            if d < best.0 {
                best = (d, i);
            }
        }
        best.1 as f64 * self.hist.bin_width()
    }
}

/// Fills `q`: `slice` merged into `groups` groups (bin `k` of `n` goes to
/// group `floor(k · groups / n)`) and spread back evenly over the bins of each
/// group where `p` is non-zero.
fn quantize_like(slice: &[u64], p: &[f64], groups: usize, q: &mut Vec<f64>) {
    let n = slice.len();
    let groups = groups.clamp(1, n.max(1));
    let mut sums = vec![0u64; groups];
    let mut nonzero = vec![0u32; groups];
    for k in 0..n {
        let g = k * groups / n;
        sums[g] += slice[k];
        nonzero[g] += u32::from(p[k] != 0.0);
    }
    q.clear();
    q.extend((0..n).map(|k| {
        let g = k * groups / n;
        if p[k] != 0.0 {
            sums[g] as f64 / f64::from(nonzero[g])
        } else {
            0.0
        }
    }));
}

/// Gives zero entries `EPS` taken evenly from the non-zero ones; false if all
/// entries are zero, or the smoothing would make an entry non-positive.
fn smooth(d: &mut [f64]) -> bool {
    let zeros = d.iter().filter(|&&v| v == 0.0).count();
    let nonzeros = d.len() - zeros;
    if nonzeros == 0 {
        return false;
    }
    let take = EPS * zeros as f64 / nonzeros as f64;
    for v in d.iter_mut() {
        *v = if *v == 0.0 { EPS } else { *v - take };
        if *v <= 0.0 {
            return false;
        }
    }
    true
}

/// KL(p || q) after smoothing both; infinite when either cannot be smoothed.
fn smoothed_kl(p: &mut [f64], q: &mut [f64]) -> f64 {
    if !smooth(p) || !smooth(q) {
        return f64::INFINITY;
    }
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    p.iter()
        .zip(q.iter())
        .map(|(&a, &b)| {
            let (a, b) = (a / sp, b / sq);
            a * (a / b).ln()
        })
        .sum()
}

impl Observer for EntropyObserver {
    fn observe(&mut self, values: &[f32]) {
        self.hist.observe(values);
    }

    fn range(&self) -> Option<Range> {
        let (min, max) = (self.hist.min()?, self.hist.max()?);
        if self.hist.limit().is_none() {
            return Some(Range { min, max }); // only zeros
        }
        let t = self.threshold();
        Some(Range::clipped(-t, t, min, max))
    }

    fn non_finite(&self) -> u64 {
        self.hist.non_finite()
    }

    fn count(&self) -> u64 {
        self.hist.count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_like_spreads_over_non_zero_bins() {
        // 6 bins into 2 groups of 3: [4, 0, 2 | 1, 1, 0]; P has a zero in bins 1 and 5.
        let slice = [4, 0, 2, 1, 1, 0];
        let p = [4.0, 0.0, 2.0, 1.0, 1.0, 0.0];
        let mut q = vec![];
        quantize_like(&slice, &p, 2, &mut q);
        assert_eq!(q, vec![3.0, 0.0, 3.0, 1.0, 1.0, 0.0]);
        // 7 bins into 2 groups: floor(k·2/7) puts bins 0..=3 in group 0, 4..=6 in group 1.
        let slice = [1, 1, 1, 1, 2, 2, 5];
        let p = [1.0; 7];
        quantize_like(&slice, &p, 2, &mut q);
        assert_eq!(q, vec![1.0, 1.0, 1.0, 1.0, 3.0, 3.0, 3.0]);
    }

    #[test]
    fn kl_of_identical_distributions_is_zero() {
        let mut p = vec![1.0, 2.0, 3.0];
        let mut q = vec![2.0, 4.0, 6.0];
        assert!(smoothed_kl(&mut p, &mut q).abs() < 1e-12);
        // By hand: p = (1/2, 1/2), q = (1/4, 3/4): KL = 1/2 ln 2 + 1/2 ln(2/3).
        let mut p = vec![1.0, 1.0];
        let mut q = vec![1.0, 3.0];
        let expected = 0.5 * 2f64.ln() + 0.5 * (2.0f64 / 3.0).ln();
        assert!((smoothed_kl(&mut p, &mut q) - expected).abs() < 1e-12);
    }

    #[test]
    fn uniform_data_keeps_the_full_range() {
        // A flat histogram loses nothing by keeping everything: with 8 quantized
        // bins over 16, clipping only folds mass into the edge bins.
        let mut obs = EntropyObserver::with_bins(16, 8).unwrap();
        let v: Vec<f32> = (0..1600).map(|k| -8.0 + (k as f32 + 0.5) / 100.0).collect();
        obs.observe(&v);
        let r = obs.range().unwrap();
        assert_eq!(r.max, v[1599]);
        assert_eq!(r.min, v[0]);
    }

    #[test]
    fn a_lone_outlier_is_clipped() {
        let mut obs = EntropyObserver::new();
        let v: Vec<f32> = (0..10_000).map(|k| ((k as f32) * 0.618).sin()).collect();
        obs.observe(&v);
        obs.observe(&[12.0]);
        let r = obs.range().unwrap();
        assert!(r.max < 2.0 && r.min > -2.0, "{r:?}");
    }
}
