//! The `mse` observer: the clipping range with the smallest expected squared
//! error after quantization, searched over a streaming [`Histogram`].
//!
//! ONNX Runtime has no such calibrator; this is the method of TensorRT's and
//! PyTorch's MSE calibrators and NNCF's MSE range init: try every clipping
//! range on the histogram grid and keep the one that minimizes
//!
//! ```text
//! E(lo, hi) = N_in · Δ² / 12                               rounding noise inside
//!           + Σ_{bins left of lo}  n_j · ((c_j - lo)² + w²/12)   clipping below
//!           + Σ_{bins right of hi} n_j · ((c_j - hi)² + w²/12)   clipping above
//! Δ = (hi - lo) / S
//! ```
//!
//! where `n_j` and `c_j` are the count and centre of bin `j`, `w` the bin width,
//! `N_in` the count between `lo` and `hi`, and `S` the number of steps of the
//! integer range ([`DEFAULT_STEPS`] = 255 for 8 bits). Inside the range the
//! rounding error is uniform on `[-Δ/2, Δ/2]`, mean square `Δ²/12` (Widrow's
//! model); a value `x` beyond `hi` costs `(x - hi)²`, and for `x` spread evenly
//! over its bin that averages `(c_j - hi)² + w²/12`. The sums come from prefix
//! sums of `n`, `n·c`, `n·c²`, so each candidate costs O(1).
//!
//! Candidates are bin edges: symmetric, `±k·w` on the `|x|` histogram
//! (`k = 1..=B`, `E` with `lo = -hi`); asymmetric, every pair of edges
//! `lo <= 0 <= hi` on the signed histogram (`(B/2 + 1)²` pairs, about a
//! million for 2048 bins). The range is clipped to the observed `[min, max]`.

use super::histogram::{Domain, Histogram, DEFAULT_BINS};
use super::{Observer, Range};
use crate::error::{Error, Result};

/// Steps of the 8-bit integer range, `qmax - qmin`.
pub const DEFAULT_STEPS: u32 = 255;

/// Mean-squared-error clipping search over a streaming histogram.
#[derive(Debug, Clone)]
pub struct MseObserver {
    hist: Histogram,
    symmetric: bool,
    steps: u32,
}

impl MseObserver {
    /// A new observer with [`DEFAULT_BINS`] bins and [`DEFAULT_STEPS`] steps.
    pub fn new(symmetric: bool) -> Self {
        Self::with_bins(symmetric, DEFAULT_BINS, DEFAULT_STEPS).expect("the defaults are valid")
    }

    /// A new observer with `bins` histogram bins, for an integer range of
    /// `steps` steps (`qmax - qmin`).
    ///
    /// # Errors
    /// [`Error::InvalidBins`] unless `bins` is even and at least 2 and `steps >= 1`.
    pub fn with_bins(symmetric: bool, bins: usize, steps: u32) -> Result<Self> {
        if steps == 0 {
            return Err(Error::InvalidBins { bins: 0 });
        }
        let domain = if symmetric {
            Domain::Magnitude
        } else {
            Domain::Signed
        };
        Ok(MseObserver {
            hist: Histogram::new(bins, domain)?,
            symmetric,
            steps,
        })
    }

    /// The histogram collected so far.
    pub fn histogram(&self) -> &Histogram {
        &self.hist
    }

    /// The best `(lo, hi)` on the grid (see the module docs).
    fn search(&self) -> (f64, f64) {
        let counts = self.hist.counts();
        let bins = counts.len();
        let w = self.hist.bin_width();
        let s = f64::from(self.steps);
        // m0[j], m1[j], m2[j]: sums of n, n·c, n·c² over bins[..j].
        let (mut m0, mut m1, mut m2) = (
            vec![0.0; bins + 1],
            vec![0.0; bins + 1],
            vec![0.0; bins + 1],
        );
        for (j, &n) in counts.iter().enumerate() {
            let n = n as f64;
            let c = self.hist.edge(j) + w / 2.0;
            m0[j + 1] = m0[j] + n;
            m1[j + 1] = m1[j] + n * c;
            m2[j + 1] = m2[j] + n * c * c;
        }
        let total = m0[bins];
        // Σ n (c - t)² + n w²/12 over bins[a..b]; never negative despite rounding.
        let clip = |a: usize, b: usize, t: f64| -> f64 {
            let (n, s1, s2) = (m0[b] - m0[a], m1[b] - m1[a], m2[b] - m2[a]);
            (s2 - 2.0 * t * s1 + t * t * n).max(0.0) + n * w * w / 12.0
        };
        let mut best = (f64::INFINITY, 0.0, 0.0);
        if self.symmetric {
            for (k, &inside) in m0.iter().enumerate().skip(1) {
                let t = self.hist.edge(k);
                let delta = 2.0 * t / s;
                let e = inside * delta * delta / 12.0 + clip(k, bins, t);
                if e < best.0 {
                    best = (e, -t, t);
                }
            }
        } else {
            let zero = bins / 2;
            for a in 0..=zero {
                let lo = self.hist.edge(a);
                let left = clip(0, a, lo);
                for b in zero..=bins {
                    if a == b {
                        continue;
                    }
                    let hi = self.hist.edge(b);
                    let delta = (hi - lo) / s;
                    let inside = total - m0[a] - (m0[bins] - m0[b]);
                    let e = left + inside * delta * delta / 12.0 + clip(b, bins, hi);
                    if e < best.0 {
                        best = (e, lo, hi);
                    }
                }
            }
        }
        (best.1, best.2)
    }
}

impl Observer for MseObserver {
    fn observe(&mut self, values: &[f32]) {
        self.hist.observe(values);
    }

    fn range(&self) -> Option<Range> {
        let (min, max) = (self.hist.min()?, self.hist.max()?);
        if self.hist.limit().is_none() {
            return Some(Range { min, max }); // only zeros
        }
        let (lo, hi) = self.search();
        Some(Range::clipped(lo, hi, min, max))
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
    fn symmetric_search_by_hand() {
        // |x|: 99 values 0.5 and one 3.5, T = 4, 4 bins of width 1, S = 2 steps.
        // k=1 (t=1): Δ=1,   99/12 + (3.5-1)² + 1/12 = 8.25 + 6.25 + 0.0833 = 14.58
        // k=2 (t=2): Δ=2,   99·4/12 + (1.5)² + 1/12 = 33 + 2.25 + 0.083 = 35.33
        // k=4 (t=4): Δ=4,   100·16/12 = 133.3
        // -> t = 1; [-1, 1] clipped to the observed [0.5, 3.5] is [0.5, 1].
        let mut obs = MseObserver::with_bins(true, 4, 2).unwrap();
        let mut v = vec![0.5f32; 99];
        v.push(3.5);
        obs.observe(&v);
        assert_eq!(obs.range(), Some(Range { min: 0.5, max: 1.0 }));
    }

    #[test]
    fn asymmetric_search_by_hand() {
        // Signed, T = 4, 4 bins of width 2: [-4,-2) [-2,0) [0,2) [2,4); S = 2 steps.
        // Ten values 1.0 (centre 1) and one -3.0 (centre -3).
        // [-4, 4]: Δ=4, 11·16/12 = 14.67      [-4, 2]: Δ=3, 11·9/12 = 8.25
        // [-2, 2]: Δ=2, 10·4/12 + (1 + 4/12) = 4.67   <- best
        // [ 0, 2]: Δ=1, 10/12 + (9 + 4/12) = 10.17    [-2, 4]: Δ=3, 10·9/12 + 1.33 = 8.83
        // [-2, 2] clipped to the observed [-3, 1] is [-2, 1].
        let mut obs = MseObserver::with_bins(false, 4, 2).unwrap();
        let mut v = vec![1.0f32; 10];
        v.push(-3.0);
        obs.observe(&v);
        assert_eq!(
            obs.range(),
            Some(Range {
                min: -2.0,
                max: 1.0
            })
        );
    }

    /// E(lo, hi) straight from the formula, bin by bin, for checking the
    /// prefix-sum search.
    fn direct(h: &Histogram, lo: f64, hi: f64, steps: f64) -> f64 {
        let w = h.bin_width();
        let delta = (hi - lo) / steps;
        let mut e = 0.0;
        for (j, &n) in h.counts().iter().enumerate() {
            let (a, c) = (h.edge(j), h.edge(j) + w / 2.0);
            let n = n as f64;
            e += if a < lo {
                n * ((c - lo).powi(2) + w * w / 12.0)
            } else if a >= hi {
                n * ((c - hi).powi(2) + w * w / 12.0)
            } else {
                n * delta * delta / 12.0
            };
        }
        e
    }

    #[test]
    fn search_finds_the_minimum_of_the_formula() {
        let data = super::super::reference::normal_outliers();
        for symmetric in [false, true] {
            let mut obs = MseObserver::with_bins(symmetric, 64, 15).unwrap();
            obs.observe(&data);
            let h = obs.histogram();
            let (lo, hi) = obs.search();
            let found = direct(h, lo, hi, 15.0);
            let bins = h.counts().len();
            let mut best = f64::INFINITY;
            for a in 0..=bins {
                for b in a + 1..=bins {
                    let (l, u) = (h.edge(a), h.edge(b));
                    let ok = if symmetric {
                        a == 0
                    } else {
                        l <= 0.0 && u >= 0.0
                    };
                    if ok {
                        // Symmetric: the |x| histogram with t = u, so lo = 0 on the grid.
                        let e = if symmetric {
                            direct_sym(h, u, 15.0)
                        } else {
                            direct(h, l, u, 15.0)
                        };
                        best = best.min(e);
                    }
                }
            }
            let found = if symmetric {
                direct_sym(h, hi, 15.0)
            } else {
                found
            };
            assert!(
                (found - best).abs() <= 1e-9 * best,
                "symmetric {symmetric}: {found} vs {best}"
            );
        }
    }

    /// The symmetric formula on the |x| histogram: Δ = 2t/S.
    fn direct_sym(h: &Histogram, t: f64, steps: f64) -> f64 {
        let w = h.bin_width();
        let delta = 2.0 * t / steps;
        let mut e = 0.0;
        for (j, &n) in h.counts().iter().enumerate() {
            let c = h.edge(j) + w / 2.0;
            let n = n as f64;
            e += if h.edge(j) >= t {
                n * ((c - t).powi(2) + w * w / 12.0)
            } else {
                n * delta * delta / 12.0
            };
        }
        e
    }

    #[test]
    fn threshold_is_near_optimal_on_the_raw_values() {
        // The same error model evaluated on the raw values instead of bin centres:
        // the histogram's threshold must be within 1% of the best raw threshold
        // (scanned every 0.001). The objective is flat near its minimum, so the
        // thresholds themselves may differ by more than a bin.
        let data = super::super::reference::normal_outliers();
        let raw = |t: f64| -> f64 {
            let delta = 2.0 * t / 255.0;
            data.iter()
                .map(|&x| {
                    let a = f64::from(x.abs());
                    if a <= t {
                        delta * delta / 12.0
                    } else {
                        (a - t).powi(2)
                    }
                })
                .sum()
        };
        let mut obs = MseObserver::new(true);
        obs.observe(&data);
        let r = obs.range().unwrap();
        let t = f64::from(r.max.max(-r.min));
        let best = (1..12_000)
            .map(|k| raw(k as f64 * 1e-3))
            .fold(f64::INFINITY, f64::min);
        assert!(raw(t) <= best * 1.01, "t = {t}: {} vs best {best}", raw(t));
    }
}
