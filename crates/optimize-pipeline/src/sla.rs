//! SLA verdicts and the choice of the winner.
//!
//! Each bound of [`Sla`] is a [`Check`] on the measured value: met or not, and by how much it
//! misses (relative to the bound, so misses of different units add up). A configuration meets
//! the SLA when every check is met. Among those, [`Select`] picks the winner (ties: smaller
//! file, then lower median latency, then the earlier row). When none meets it, the closest is
//! the one whose relative misses sum to the least.

use crate::recipe::{Metric, Select, Sla};
use serde::{Deserialize, Serialize};

/// The numbers of one measured configuration that the SLA reads.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Numbers {
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Half the interquartile range of the latency, ms: how far apart two medians must be
    /// before one model counts as faster.
    #[serde(default)]
    pub spread_ms: f64,
    /// Samples per second.
    pub throughput: f64,
    /// Bytes on disk.
    pub size_bytes: u64,
    /// Peak resident memory of the measuring process, bytes, when known.
    pub peak_rss_bytes: Option<u64>,
    /// The metric, when measured.
    pub metric: Option<f64>,
}

/// One bound of the SLA, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// `latency_p50_ms`, `metric_max_drop`, ... (the recipe's key).
    pub key: String,
    /// The bound in words: `p50 ≤ 0.050 ms`.
    pub bound: String,
    /// The measured value it was held to (the drop, for `metric_max_drop`), if measured.
    pub value: Option<f64>,
    /// The value in words.
    pub shown: String,
    /// Whether the bound holds.
    pub met: bool,
    /// How far it misses, relative to the bound (0 when met; 1 when not measured).
    pub miss: f64,
}

/// Judges `n` against every bound of `sla`; `baseline` is the original's metric, and
/// `original_p50_ms` its median latency from the same rounds.
pub fn judge(
    sla: &Sla,
    metric: &Metric,
    n: &Numbers,
    baseline: Option<f64>,
    original_p50_ms: Option<f64>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Some(l) = sla.latency_p50_ms {
        checks.push(at_most("latency_p50_ms", "p50", l, Some(n.p50_ms), "ms"));
    }
    if let Some(l) = sla.latency_p50_ratio {
        let ratio = original_p50_ms.filter(|o| *o > 0.0).map(|o| n.p50_ms / o);
        checks.push(at_most(
            "latency_p50_ratio",
            "p50 ÷ original's",
            l,
            ratio,
            "×",
        ));
    }
    if let Some(l) = sla.latency_p90_ms {
        checks.push(at_most("latency_p90_ms", "p90", l, Some(n.p90_ms), "ms"));
    }
    if let Some(l) = sla.latency_p99_ms {
        checks.push(at_most("latency_p99_ms", "p99", l, Some(n.p99_ms), "ms"));
    }
    if let Some(s) = sla.size_max {
        checks.push(at_most(
            "size_max",
            "size",
            s.as_u64() as f64 / 1024.0,
            Some(n.size_bytes as f64 / 1024.0),
            "KiB",
        ));
    }
    if let Some(s) = sla.peak_rss_max {
        checks.push(at_most(
            "peak_rss_max",
            "peak RSS",
            s.as_u64() as f64 / 1048576.0,
            n.peak_rss_bytes.map(|b| b as f64 / 1048576.0),
            "MiB",
        ));
    }
    if let Some(d) = sla.metric_max_drop {
        let drop = n.metric.zip(baseline).map(|(m, b)| {
            if metric.higher_is_better() {
                b - m
            } else {
                m - b
            }
        });
        // A drop bound of 0 misses by the drop itself.
        let shown = drop.map_or("not measured".into(), |v| format!("drop {}", fmt(v)));
        let (met, miss) = match drop {
            Some(v) if v.is_finite() && v <= d + 1e-12 => (true, 0.0),
            Some(v) if v.is_finite() => (false, (v - d) / d.max(1e-3)),
            _ => (false, 1.0),
        };
        checks.push(Check {
            key: "metric_max_drop".into(),
            bound: format!("{} drop ≤ {}", metric.short(), fmt(d)),
            value: drop,
            shown,
            met,
            miss,
        });
    }
    if let Some(l) = sla.metric_max {
        checks.push(at_most("metric_max", metric.short(), l, n.metric, ""));
    }
    if let Some(l) = sla.throughput_min {
        checks.push(at_least(
            "throughput_min",
            "throughput",
            l,
            Some(n.throughput),
            "/s",
        ));
    }
    if let Some(l) = sla.metric_min {
        checks.push(at_least("metric_min", metric.short(), l, n.metric, ""));
    }
    checks
}

fn at_most(key: &str, what: &str, limit: f64, value: Option<f64>, unit: &str) -> Check {
    bounded(key, what, limit, value, unit, true)
}

fn at_least(key: &str, what: &str, limit: f64, value: Option<f64>, unit: &str) -> Check {
    bounded(key, what, limit, value, unit, false)
}

/// `value` held to `limit` from above (`upper`) or below; the miss is relative to the limit.
fn bounded(
    key: &str,
    what: &str,
    limit: f64,
    value: Option<f64>,
    unit: &str,
    upper: bool,
) -> Check {
    let shown = value.map_or("not measured".into(), |v| format!("{} {unit}", fmt(v)));
    let over = |v: f64| if upper { v - limit } else { limit - v };
    let (met, miss) = match value {
        Some(v) if v.is_finite() && over(v) <= 0.0 => (true, 0.0),
        Some(v) if v.is_finite() => (false, over(v) / limit.abs().max(1e-12)),
        _ => (false, 1.0),
    };
    let sign = if upper { "≤" } else { "≥" };
    Check {
        key: key.into(),
        bound: format!("{what} {sign} {} {unit}", fmt(limit)).trim().into(),
        value,
        shown: shown.trim().into(),
        met,
        miss,
    }
}

/// Four significant digits, no exponent for everyday values.
pub fn fmt(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    format!("{v:.digits$}")
}

/// A measured configuration as the selection sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Its numbers.
    pub numbers: &'a Numbers,
    /// Its checks.
    pub checks: &'a [Check],
}

impl Candidate<'_> {
    /// Meets every bound.
    pub fn meets(&self) -> bool {
        self.checks.iter().all(|c| c.met)
    }

    /// Sum of the relative misses.
    pub fn total_miss(&self) -> f64 {
        self.checks.iter().map(|c| c.miss).sum()
    }
}

/// The index of the winner among `candidates` (`None` entries were not measured): the best by
/// `select` among those meeting the SLA. For `latency`, medians closer to the fastest than
/// their spreads (half the interquartile range of each) are a tie, which the smaller file wins:
/// a timing within the noise decides nothing. Other ties go to the smaller file, then the better
/// metric, then the earlier row.
pub fn winner(
    candidates: &[Option<Candidate>],
    select: Select,
    higher_is_better: bool,
) -> Option<usize> {
    // Ties never go by a timing: after the rule's own number, the smaller file, then the
    // better metric, then the earlier row.
    let metric = |c: &Candidate| -> f64 {
        c.numbers
            .metric
            .map_or(f64::INFINITY, |m| if higher_is_better { -m } else { m })
    };
    let size = |c: &Candidate| c.numbers.size_bytes as f64;
    match select {
        Select::Latency => {
            let fastest = best_by(
                candidates,
                |c| c.meets(),
                |c| (c.numbers.p50_ms, size(c), metric(c)),
            )?;
            let f = candidates[fastest]?.numbers;
            best_by(
                candidates,
                |c| c.meets() && c.numbers.p50_ms <= f.p50_ms + f.spread_ms + c.numbers.spread_ms,
                |c| (size(c), metric(c), 0.0),
            )
        }
        Select::Size => best_by(candidates, |c| c.meets(), |c| (size(c), metric(c), 0.0)),
        Select::Metric => best_by(candidates, |c| c.meets(), |c| (metric(c), size(c), 0.0)),
    }
}

/// The index of the configuration closest to meeting the SLA (least total relative miss).
pub fn closest(candidates: &[Option<Candidate>]) -> Option<usize> {
    best_by(
        candidates,
        |_| true,
        |c| (c.total_miss(), c.numbers.size_bytes as f64, 0.0),
    )
}

fn best_by(
    candidates: &[Option<Candidate>],
    keep: impl Fn(&Candidate) -> bool,
    key: impl Fn(&Candidate) -> (f64, f64, f64),
) -> Option<usize> {
    let mut best: Option<(usize, (f64, f64, f64))> = None;
    for (i, c) in candidates.iter().enumerate() {
        let Some(c) = c else { continue };
        if !keep(c) {
            continue;
        }
        let k = key(c);
        let better = match &best {
            None => true,
            Some((_, b)) => {
                k.0.total_cmp(&b.0)
                    .then(k.1.total_cmp(&b.1))
                    .then(k.2.total_cmp(&b.2))
                    == std::cmp::Ordering::Less
            }
        };
        if better {
            best = Some((i, k));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(p50: f64, size: u64, metric: f64) -> Numbers {
        Numbers {
            p50_ms: p50,
            p90_ms: p50 * 1.1,
            p99_ms: p50 * 1.2,
            spread_ms: 0.01,
            throughput: 1000.0 / p50,
            size_bytes: size,
            peak_rss_bytes: Some(50 << 20),
            metric: Some(metric),
        }
    }

    #[test]
    fn verdicts_follow_the_numbers() {
        let sla = Sla {
            latency_p50_ms: Some(1.0),
            metric_max_drop: Some(0.01),
            ..Sla::default()
        };
        let checks = judge(
            &sla,
            &Metric::Top1,
            &numbers(0.8, 10, 0.975),
            Some(0.98),
            None,
        );
        assert!(checks.iter().all(|c| c.met), "{checks:?}");
        let checks = judge(
            &sla,
            &Metric::Top1,
            &numbers(1.5, 10, 0.95),
            Some(0.98),
            None,
        );
        assert_eq!(checks.len(), 2);
        assert!(!checks[0].met);
        assert!((checks[0].miss - 0.5).abs() < 1e-9);
        assert!(!checks[1].met);
        assert!((checks[1].value.unwrap() - 0.03).abs() < 1e-9);
        // A ratio bound reads the original's median from the same rounds.
        let ratio = Sla {
            latency_p50_ratio: Some(0.8),
            ..Sla::default()
        };
        let checks = judge(
            &ratio,
            &Metric::Top1,
            &numbers(0.7, 10, 0.9),
            None,
            Some(1.0),
        );
        assert!(checks[0].met && (checks[0].value.unwrap() - 0.7).abs() < 1e-12);
        let checks = judge(
            &ratio,
            &Metric::Top1,
            &numbers(0.9, 10, 0.9),
            None,
            Some(1.0),
        );
        assert!(!checks[0].met);
        // Lower is better: a rise is the drop.
        let checks = judge(
            &sla,
            &Metric::MaxAbs,
            &numbers(0.5, 10, 0.05),
            Some(0.0),
            None,
        );
        assert!(!checks[1].met);
    }

    fn candidates<'a>(ns: &'a [Numbers], checks: &'a [Vec<Check>]) -> Vec<Option<Candidate<'a>>> {
        ns.iter()
            .zip(checks)
            .map(|(numbers, checks)| Some(Candidate { numbers, checks }))
            .collect()
    }

    #[test]
    fn winner_follows_the_selection_rule_and_closest_the_misses() {
        let sla = Sla {
            latency_p50_ms: Some(1.0),
            ..Sla::default()
        };
        let ns = [
            numbers(0.9, 100, 0.90),
            numbers(0.5, 300, 0.95),
            numbers(0.7, 50, 0.99),
            numbers(2.0, 10, 1.0),
        ];
        let checks: Vec<Vec<Check>> = ns
            .iter()
            .map(|n| judge(&sla, &Metric::Top1, n, Some(1.0), None))
            .collect();
        let cands = candidates(&ns, &checks);
        assert_eq!(winner(&cands, Select::Latency, true), Some(1));
        // Within the spreads of the fastest, the smaller file wins.
        let mut close = ns;
        close[2].p50_ms = 0.51;
        let cands_close = candidates(&close, &checks);
        assert_eq!(winner(&cands_close, Select::Latency, true), Some(2));
        assert_eq!(winner(&cands, Select::Size, true), Some(2));
        assert_eq!(winner(&cands, Select::Metric, true), Some(2));
        let strict = Sla {
            latency_p50_ms: Some(0.1),
            ..Sla::default()
        };
        let checks: Vec<Vec<Check>> = ns
            .iter()
            .map(|n| judge(&strict, &Metric::Top1, n, Some(1.0), None))
            .collect();
        let cands = candidates(&ns, &checks);
        assert_eq!(winner(&cands, Select::Latency, true), None);
        assert_eq!(closest(&cands), Some(1));
    }
}
