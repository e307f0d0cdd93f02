//! Measuring one model on the recipe's target: latency percentiles, throughput and peak memory
//! through [`optimize_bench::job::BenchJob`] (in a child process when the caller provides one),
//! size on disk, and the recipe's metric.

use crate::recipe::{DataSpec, Metric, TargetSpec};
use optimize_bench::job::{BenchJob, Isolation};
use optimize_bench::BenchResult;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// One model measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// The bench run: latency, memory, accuracy and fidelity against the original. `None` for a
    /// metric-only probe.
    pub bench: Option<BenchResult>,
    /// The metric's value, when it could be measured.
    pub metric: Option<f64>,
    /// Why the metric could not be measured (a failing command's exit status and stderr).
    pub metric_error: Option<String>,
    /// Samples the metric was measured on (built-in metrics).
    pub metric_samples: Option<usize>,
    /// Size on disk, external data included.
    pub size_bytes: u64,
    /// The median latency of each round, when the model was timed in rounds interleaved with
    /// the others (its `bench.latency` is then the median over rounds of each statistic).
    #[serde(default)]
    pub round_p50_ms: Vec<f64>,
}

/// What the measurements of a pipeline share.
pub struct Meter<'a> {
    /// The original model (the reference of fidelity metrics).
    pub original: &'a Path,
    /// Where latency is measured.
    pub target: &'a TargetSpec,
    /// Evaluation data and shapes.
    pub data: &'a DataSpec,
    /// The judge.
    pub metric: &'a Metric,
    /// How bench runs are isolated.
    pub isolation: &'a Isolation,
}

impl Meter<'_> {
    /// Measures the metric alone, for early exits: the bench runs each sample once, untimed.
    pub fn probe_metric(&self, model: &Path) -> Result<Measurement, String> {
        if let Metric::Command(c) = self.metric {
            let (metric, metric_error) = match c.measure(model) {
                Ok(v) => (Some(v), None),
                Err(e) => (None, Some(e.to_string())),
            };
            return Ok(Measurement {
                bench: None,
                metric,
                metric_error,
                metric_samples: None,
                size_bytes: model_size(model),
                round_p50_ms: Vec::new(),
            });
        }
        let job = self.bench_job(model, true);
        let mut m = self.run(model, job)?;
        m.bench = None;
        Ok(m)
    }

    /// Measures `models` in `rounds` interleaved rounds: each round times every model in turn
    /// for a share of the target's calls and time (a drift in machine load then hits all
    /// alike); the first round also scores the metric. Each model's latency statistics are
    /// the medians over rounds; `each(i)` is called as model `i` finishes a round.
    pub fn measure_rounds(
        &self,
        models: &[&Path],
        rounds: usize,
        cancelled: &dyn Fn() -> bool,
        each: &mut dyn FnMut(usize),
    ) -> Vec<Result<Measurement, String>> {
        let rounds = rounds.max(1);
        let mut out: Vec<Result<Measurement, String>> =
            models.iter().map(|_| Err(String::new())).collect();
        let mut runs: Vec<Vec<BenchResult>> = vec![Vec::new(); models.len()];
        for round in 0..rounds {
            for (i, model) in models.iter().enumerate() {
                if cancelled() || (round > 0 && out[i].is_err()) {
                    continue;
                }
                let mut job = self.bench_job(model, false);
                job.warmup = if round == 0 {
                    job.warmup
                } else {
                    job.warmup.min(3)
                };
                job.iterations = job.iterations.div_ceil(rounds).max(1);
                job.min_duration /= rounds as u32;
                if round == 0 {
                    out[i] = self.run(model, job);
                    if let Ok(m) = &out[i] {
                        runs[i].extend(m.bench.clone());
                    }
                } else {
                    job.score = false;
                    job.reference = None;
                    match job.run(&mut optimize_job::Quiet) {
                        Ok(r) => runs[i].extend(r.runs.into_iter().next()),
                        Err(e) => out[i] = Err(e.to_string()),
                    }
                }
                each(i);
            }
        }
        for (m, runs) in out.iter_mut().zip(runs) {
            if let (Ok(m), Some(first)) = (m, runs.first()) {
                let mut bench = first.clone();
                bench.latency = median_stats(&runs);
                bench.memory.peak_rss_bytes =
                    runs.iter().filter_map(|r| r.memory.peak_rss_bytes).max();
                m.round_p50_ms = runs.iter().map(|r| r.latency.p50_ms).collect();
                m.bench = Some(bench);
            }
        }
        out
    }

    fn bench_job(&self, model: &Path, untimed: bool) -> BenchJob {
        let t = self.target;
        BenchJob {
            models: vec![model.to_path_buf()],
            engines: vec![t.engine],
            threads: Some(t.threads),
            batch: t.batch,
            warmup: if untimed { 0 } else { t.warmup },
            iterations: if untimed { 1 } else { t.iterations },
            min_duration: if untimed {
                Duration::ZERO
            } else {
                t.min_duration
            },
            shapes: self.data.shapes.clone(),
            eval: self.data.eval.clone(),
            reference: Some(self.original.to_path_buf()),
            isolation: if untimed {
                Isolation::InProcess
            } else {
                self.isolation.clone()
            },
            ..BenchJob::default()
        }
    }

    fn run(&self, model: &Path, job: BenchJob) -> Result<Measurement, String> {
        let report = job
            .run(&mut optimize_job::Quiet)
            .map_err(|e| e.to_string())?;
        let bench = report
            .runs
            .into_iter()
            .next()
            .ok_or_else(|| "the bench returned no run".to_string())?;
        let (metric, metric_error, metric_samples) = self.metric_of(model, &bench);
        Ok(Measurement {
            size_bytes: bench.model.bytes,
            bench: Some(bench),
            metric,
            metric_error,
            metric_samples,
            round_p50_ms: Vec::new(),
        })
    }

    fn metric_of(
        &self,
        model: &Path,
        bench: &BenchResult,
    ) -> (Option<f64>, Option<String>, Option<usize>) {
        let fidelity = bench.fidelity.as_ref();
        let samples = fidelity.map(|f| f.samples);
        match self.metric {
            Metric::Top1 => match &bench.accuracy {
                Some(a) => (Some(a.top1), None, Some(a.samples as usize)),
                None => (None, Some("the evaluation data has no labels".into()), None),
            },
            Metric::Cosine => {
                let v = fidelity.and_then(|f| {
                    f.outputs
                        .iter()
                        .filter_map(|o| o.normalized_cosine.or(o.cosine))
                        .min_by(f64::total_cmp)
                });
                match v {
                    Some(v) => (Some(v), None, samples),
                    None => (None, Some(no_fidelity(bench)), None),
                }
            }
            Metric::MaxAbs => {
                let v = fidelity.and_then(|f| {
                    f.outputs
                        .iter()
                        .map(|o| {
                            if o.non_finite_mismatches > 0 {
                                f64::INFINITY
                            } else {
                                o.max_abs
                            }
                        })
                        .max_by(f64::total_cmp)
                });
                match v {
                    Some(v) => (Some(v), None, samples),
                    None => (None, Some(no_fidelity(bench)), None),
                }
            }
            Metric::Command(c) => match c.measure(model) {
                Ok(v) => (Some(v), None, None),
                Err(e) => (None, Some(e.to_string()), None),
            },
        }
    }
}

fn no_fidelity(bench: &BenchResult) -> String {
    format!(
        "no output of {} could be compared with the original's",
        bench.model.path
    )
}

/// Bytes on disk of a model: its file and its external data files.
pub fn model_size(model: &Path) -> u64 {
    match optimize_onnx::Model::load(model) {
        Ok(m) => m
            .source_files()
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum(),
        Err(_) => std::fs::metadata(model).map_or(0, |m| m.len()),
    }
}

/// Each statistic's median over the rounds; calls and time are summed.
fn median_stats(runs: &[BenchResult]) -> optimize_bench::LatencyStats {
    let med = |f: &dyn Fn(&optimize_bench::LatencyStats) -> f64| -> f64 {
        let mut v: Vec<f64> = runs.iter().map(|r| f(&r.latency)).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let mut s = runs[0].latency.clone();
    s.iterations = runs.iter().map(|r| r.latency.iterations).sum();
    s.total_s = runs.iter().map(|r| r.latency.total_s).sum();
    s.min_ms = runs
        .iter()
        .map(|r| r.latency.min_ms)
        .fold(f64::INFINITY, f64::min);
    s.max_ms = runs.iter().map(|r| r.latency.max_ms).fold(0.0, f64::max);
    s.p25_ms = med(&|l| l.p25_ms);
    s.p50_ms = med(&|l| l.p50_ms);
    s.p75_ms = med(&|l| l.p75_ms);
    s.p90_ms = med(&|l| l.p90_ms);
    s.p99_ms = med(&|l| l.p99_ms);
    s.mean_ms = med(&|l| l.mean_ms);
    s.std_ms = med(&|l| l.std_ms);
    s.cv = med(&|l| l.cv);
    s.overhead_ns = med(&|l| l.overhead_ns);
    s
}
