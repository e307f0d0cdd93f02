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
    /// Measures `model` fully (latency, memory, metric). An error is for a model that could not
    /// be measured at all; a metric that fails is recorded in the result.
    pub fn measure(&self, model: &Path) -> Result<Measurement, String> {
        let job = self.bench_job(model, false);
        self.run(model, job)
    }

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
            });
        }
        let job = self.bench_job(model, true);
        let mut m = self.run(model, job)?;
        m.bench = None;
        Ok(m)
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
