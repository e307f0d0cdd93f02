//! How long one call takes: [`measure_latency`] times a closure and summarizes the times as
//! [`LatencyStats`].
//!
//! The protocol follows MLPerf Inference's SingleStream scenario: one query at a time, the next
//! issued when the previous returns, and the run lasts until **both** at least
//! [`LatencyConfig::min_iterations`] calls **and** at least [`LatencyConfig::min_duration`] of
//! timed calls have been made. [`LatencyConfig::warmup`] calls come first and are not timed
//! (they pay for lazy initialisation: tract's plan, ONNX Runtime's first-run allocations).
//!
//! Each call is timed on its own with [`Instant`] (a monotonic clock). The statistics:
//! - percentiles p`q` by linear interpolation between closest ranks, as NumPy's default
//!   `np.percentile(x, q)`: sorted `x`, position `h = (n − 1)·q/100`, value
//!   `x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋])`;
//! - mean, sample standard deviation (divisor `n − 1`) and coefficient of variation
//!   `CV = std / mean` (above 0.10 the run was noisy: another process, frequency scaling);
//! - harness overhead: the median time of timing an empty closure the same way, i.e. what the
//!   clock itself adds to every number here.
//!
//! ```
//! use std::time::Duration;
//! use optimize_bench::latency::{measure_latency, LatencyConfig};
//!
//! let config = LatencyConfig { warmup: 2, min_iterations: 20, min_duration: Duration::ZERO };
//! let stats = measure_latency(&config, || {
//!     std::hint::black_box((0..1000u64).sum::<u64>());
//!     Ok::<(), std::convert::Infallible>(())
//! })?;
//! assert_eq!(stats.iterations, 20);
//! assert!(stats.p50_ms <= stats.p90_ms && stats.p90_ms <= stats.p99_ms);
//! # Ok::<(), optimize_bench::Error>(())
//! ```

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How long to measure: warm-up calls, then at least `min_iterations` timed calls and at least
/// `min_duration` of timed calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyConfig {
    /// Untimed calls before measuring.
    pub warmup: usize,
    /// Fewest timed calls; must be at least 1.
    pub min_iterations: usize,
    /// Least total time of timed calls.
    pub min_duration: Duration,
}

impl Default for LatencyConfig {
    /// 10 warm-up calls, then at least 100 calls and 1 s.
    fn default() -> Self {
        Self {
            warmup: 10,
            min_iterations: 100,
            min_duration: Duration::from_secs(1),
        }
    }
}

impl LatencyConfig {
    /// Checks the config: at least one timed iteration.
    pub fn validate(&self) -> Result<()> {
        if self.min_iterations == 0 {
            return Err(Error::InvalidConfig(
                "iterations must be at least 1 (got 0)".into(),
            ));
        }
        Ok(())
    }
}

/// Summary of the timed calls, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Timed calls.
    pub iterations: usize,
    /// Untimed warm-up calls made before them.
    pub warmup: usize,
    /// Sum of the timed calls, in seconds.
    pub total_s: f64,
    /// Fastest call.
    pub min_ms: f64,
    /// 25th percentile (lower edge of the box in box plots).
    pub p25_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 75th percentile (upper edge of the box).
    pub p75_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest call.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// Sample standard deviation.
    pub std_ms: f64,
    /// Coefficient of variation, `std / mean`; above 0.10 the run was noisy.
    pub cv: f64,
    /// What timing one call costs by itself (median over timing an empty closure), in
    /// nanoseconds; included in every time above.
    pub overhead_ns: f64,
}

impl LatencyStats {
    /// Statistics of `times_ms` (at least one value); `overhead_ns` and `warmup` are stored
    /// as given.
    pub fn from_times(times_ms: &[f64], warmup: usize, overhead_ns: f64) -> Result<Self> {
        if times_ms.is_empty() {
            return Err(Error::InvalidConfig(
                "no timed iteration to summarize".into(),
            ));
        }
        let mut sorted = times_ms.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let total: f64 = sorted.iter().sum();
        let mean = total / n as f64;
        let var = if n > 1 {
            sorted.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        let std = var.sqrt();
        Ok(Self {
            iterations: n,
            warmup,
            total_s: total / 1000.0,
            min_ms: sorted[0],
            p25_ms: percentile(&sorted, 25.0),
            p50_ms: percentile(&sorted, 50.0),
            p75_ms: percentile(&sorted, 75.0),
            p90_ms: percentile(&sorted, 90.0),
            p99_ms: percentile(&sorted, 99.0),
            max_ms: sorted[n - 1],
            mean_ms: mean,
            std_ms: std,
            cv: if mean > 0.0 { std / mean } else { 0.0 },
            overhead_ns,
        })
    }

    /// True when the run was noisy: CV above 10%.
    pub fn is_noisy(&self) -> bool {
        self.cv > 0.10
    }
}

/// The `q`-th percentile (0–100) of sorted, non-empty `sorted`, interpolating linearly between
/// closest ranks (NumPy's default method).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 1 {
        return sorted[0];
    }
    let h = (n - 1) as f64 * q.clamp(0.0, 100.0) / 100.0;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Median time, in nanoseconds, of timing an empty closure the way [`measure_latency`] times
/// each call: the harness's own cost per iteration.
pub fn timer_overhead_ns() -> f64 {
    const SAMPLES: usize = 1001;
    let mut times = Vec::with_capacity(SAMPLES);
    let empty = || std::hint::black_box(());
    for _ in 0..SAMPLES {
        let start = Instant::now();
        empty();
        times.push(start.elapsed().as_nanos() as f64);
    }
    times.sort_by(f64::total_cmp);
    percentile(&times, 50.0)
}

/// Times `call` per the protocol in the [module doc](self) and returns the statistics.
/// The first error `call` returns stops the run and is returned, converted by `Into`.
pub fn measure_latency<E>(
    config: &LatencyConfig,
    mut call: impl FnMut() -> std::result::Result<(), E>,
) -> Result<LatencyStats>
where
    E: Into<Error>,
{
    config.validate()?;
    for _ in 0..config.warmup {
        call().map_err(Into::into)?;
    }
    let overhead = timer_overhead_ns();
    let mut times = Vec::with_capacity(config.min_iterations);
    let mut timed = Duration::ZERO;
    while times.len() < config.min_iterations || timed < config.min_duration {
        let start = Instant::now();
        call().map_err(Into::into)?;
        let took = start.elapsed();
        timed += took;
        times.push(took.as_secs_f64() * 1000.0);
    }
    LatencyStats::from_times(&times, config.warmup, overhead)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_numpy() {
        // np.percentile([1, 2, 3, 4, 10], [25, 50, 90, 99]) -> [2.0, 3.0, 7.6, 9.76]
        let s = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert!((percentile(&s, 25.0) - 2.0).abs() < 1e-12);
        assert!((percentile(&s, 50.0) - 3.0).abs() < 1e-12);
        assert!((percentile(&s, 90.0) - 7.6).abs() < 1e-12);
        assert!((percentile(&s, 99.0) - 9.76).abs() < 1e-12);
        assert_eq!(percentile(&[5.0], 99.0), 5.0);
    }

    #[test]
    fn stats_by_hand() {
        // mean 4, sample variance ((3² + 2² + 1² + 0 + 6²) / 4) = 12.5
        let st = LatencyStats::from_times(&[4.0, 1.0, 10.0, 2.0, 3.0], 3, 20.0).unwrap();
        assert_eq!(st.iterations, 5);
        assert_eq!((st.min_ms, st.max_ms, st.p50_ms), (1.0, 10.0, 3.0));
        assert!((st.mean_ms - 4.0).abs() < 1e-12);
        assert!((st.std_ms - 12.5f64.sqrt()).abs() < 1e-12);
        assert!((st.cv - 12.5f64.sqrt() / 4.0).abs() < 1e-12);
        assert!((st.total_s - 0.020).abs() < 1e-12);
        assert!(st.is_noisy());
        assert_eq!((st.warmup, st.overhead_ns), (3, 20.0));
    }

    #[test]
    fn runs_until_both_iterations_and_duration() {
        let config = LatencyConfig {
            warmup: 1,
            min_iterations: 3,
            min_duration: Duration::from_millis(20),
        };
        let mut calls = 0;
        let stats = measure_latency(&config, || {
            calls += 1;
            std::thread::sleep(Duration::from_millis(2));
            Ok::<(), Error>(())
        })
        .unwrap();
        assert_eq!(calls, stats.iterations + 1);
        assert!(stats.iterations >= 3);
        assert!(stats.total_s >= 0.020);
    }

    #[test]
    fn zero_iterations_is_an_error_and_errors_stop_the_run() {
        let config = LatencyConfig {
            min_iterations: 0,
            ..LatencyConfig::default()
        };
        let err = measure_latency(&config, || Ok::<(), Error>(())).unwrap_err();
        assert!(
            err.to_string().contains("iterations must be at least 1"),
            "{err}"
        );
        let config = LatencyConfig::default();
        let err = measure_latency(&config, || Err(Error::InvalidConfig("boom".into())));
        assert!(err.unwrap_err().to_string().contains("boom"));
        assert!(LatencyStats::from_times(&[], 0, 0.0).is_err());
    }
}
