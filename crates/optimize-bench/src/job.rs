//! The whole `optimize bench` workflow as one library call: [`BenchJob::run`] measures every
//! (model, back end) pair, the baseline's first, each in a process of its own when the caller
//! can start one ([`Isolation`]), and returns the [`Report`] against the baseline, written as
//! a folder (report.json, report.md, charts) when the job has an output folder.
//!
//! ```no_run
//! use optimize_bench::job::BenchJob;
//! use optimize_bench::Engine;
//! let job = BenchJob {
//!     baseline: Some("models/digits-cnn.onnx".into()),
//!     models: vec!["digits-cnn.int8.onnx".into()],
//!     engines: vec![Engine::Ort],
//!     threads: Some(1),
//!     eval: Some("models/data/digits-test-cnn.npz".into()),
//!     out_dir: Some("bench-digits-cnn".into()),
//!     ..BenchJob::default()
//! };
//! let report = job.run(&mut optimize_job::Quiet)?;
//! for (run, cmp) in report.runs.iter().zip(&report.comparisons) {
//!     println!("{}: p50 {:.3} ms ({:.2}x the baseline)", run.model.name, run.latency.p50_ms, cmp.p50_ratio);
//! }
//! # Ok::<(), optimize_bench::Error>(())
//! ```

use crate::{Bench, BenchConfig, BenchResult, Engine, Error, Report, Result, Target};
use optimize_job::Progress;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How each measurement runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Isolation {
    /// In this process, one after another (peak memory is then the process's, not the run's).
    #[default]
    InProcess,
    /// In a child process per pair: `program args... --config JSON` measures one
    /// [`BenchConfig`] with [`Bench::run`] and prints its [`BenchResult`] as one line of JSON
    /// (the `optimize bench-worker` subcommand). A fresh process keeps runs from sharing caches,
    /// allocator state and thread pools, and makes each peak RSS that run's own.
    Subprocess {
        /// The executable.
        program: PathBuf,
        /// Arguments before `--config`.
        args: Vec<String>,
    },
}

/// A set of models to measure, as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BenchJob {
    /// The model the others are compared with; measured first.
    pub baseline: Option<PathBuf>,
    /// The models to measure (with a baseline, its variants).
    pub models: Vec<PathBuf>,
    /// Back ends; empty: the target's (ONNX Runtime; tract for edge; CUDA for cuda).
    pub engines: Vec<Engine>,
    /// Where: the CPU, a simulated edge device, CUDA.
    pub target: Target,
    /// Intra-op threads; unset: the back end's choice (1 for the edge target).
    pub threads: Option<usize>,
    /// Batch size for inputs whose first axis is symbolic.
    pub batch: usize,
    /// Untimed calls first (default 10).
    pub warmup: usize,
    /// Fewest timed calls (default 100).
    pub iterations: usize,
    /// Least total time of the timed calls (default 1 s).
    #[serde(with = "humantime_serde")]
    pub min_duration: Duration,
    /// Whole shapes of inputs with symbolic axes.
    pub shapes: BTreeMap<String, Vec<usize>>,
    /// Evaluation data: timed on, and scored for top-1 when it holds labels.
    pub eval: Option<PathBuf>,
    /// The model outputs are compared with [default with a baseline: the baseline].
    pub reference: Option<PathBuf>,
    /// Flag runs whose peak RSS passes this many bytes.
    pub mem_budget: Option<u64>,
    /// Seed for random inputs.
    pub seed: u64,
    /// Write report.json, report.md and the charts here.
    pub out_dir: Option<PathBuf>,
    /// Score accuracy and fidelity besides timing (default true).
    pub score: bool,
    /// The command line to record in the report.
    pub command: String,
    /// How each measurement runs (not part of a config file: the caller knows its executable).
    #[serde(skip)]
    pub isolation: Isolation,
}

impl Default for BenchJob {
    fn default() -> Self {
        BenchJob {
            baseline: None,
            models: Vec::new(),
            engines: Vec::new(),
            target: Target::Cpu,
            threads: None,
            batch: 1,
            warmup: 10,
            iterations: 100,
            min_duration: Duration::from_secs(1),
            shapes: BTreeMap::new(),
            eval: None,
            reference: None,
            mem_budget: None,
            seed: 0,
            out_dir: None,
            score: true,
            command: String::new(),
            isolation: Isolation::InProcess,
        }
    }
}

/// The default report folder for a baseline: `bench-<baseline stem>` in the current folder, so
/// a default never writes over committed reports.
pub fn default_out_dir(baseline: &Path) -> PathBuf {
    let stem = baseline
        .file_stem()
        .map_or("baseline".into(), |f| f.to_string_lossy().into_owned());
    PathBuf::from(format!("bench-{stem}"))
}

impl BenchJob {
    /// One validated config per (model, back end), the baseline's first.
    pub fn configs(&self) -> Result<Vec<BenchConfig>> {
        let engines: Vec<Engine> = if self.engines.is_empty() {
            vec![match self.target {
                Target::Cpu => Engine::Ort,
                Target::Edge => Engine::Tract,
                Target::Cuda => Engine::OrtCuda,
            }]
        } else {
            let mut unique = Vec::new();
            for e in &self.engines {
                if !unique.contains(e) {
                    unique.push(*e);
                }
            }
            unique
        };
        let models: Vec<&PathBuf> = self.baseline.iter().chain(&self.models).collect();
        if models.is_empty() {
            return Err(Error::InvalidConfig("no model to measure".into()));
        }
        let reference = self.reference.clone().or_else(|| self.baseline.clone());
        let mut configs = Vec::new();
        for model in models {
            for &engine in &engines {
                let mut bench = Bench::new(model)
                    .backend(engine)
                    .target(self.target)
                    .batch(self.batch)
                    .warmup(self.warmup)
                    .iterations(self.iterations)
                    .min_duration(self.min_duration)
                    .seed(self.seed)
                    .score(self.score);
                if let Some(t) = self.threads {
                    bench = bench.threads(t);
                }
                for (name, dims) in &self.shapes {
                    bench = bench.shape(name.clone(), dims.clone());
                }
                if let Some(eval) = &self.eval {
                    bench = bench.eval(eval);
                }
                if let Some(r) = &reference {
                    bench = bench.reference(r);
                }
                if let Some(b) = self.mem_budget {
                    bench = bench.mem_budget(b);
                }
                bench.validate()?;
                configs.push(bench.config().clone());
            }
        }
        Ok(configs)
    }

    /// Measures every pair and returns the report; writes its folder when
    /// [`BenchJob::out_dir`] is set (checked writable before any measuring).
    pub fn run(&self, progress: &mut dyn Progress) -> Result<Report> {
        let configs = self.configs()?;
        if let Some(dir) = &self.out_dir {
            check_writable(dir)?;
        }
        progress.phase("measure", Some(configs.len() as u64));
        let mut runs = Vec::with_capacity(configs.len());
        for (i, config) in configs.iter().enumerate() {
            if progress.cancelled() {
                return Err(Error::InvalidConfig("cancelled".into()));
            }
            progress.advance(
                i as u64,
                &format!("{} on {}", config.model.display(), config.engine),
            );
            runs.push(self.measure(config)?);
        }
        progress.advance(configs.len() as u64, "");
        let report = Report::new(runs, 0, self.command.clone());
        if let Some(dir) = &self.out_dir {
            report.write(dir)?;
        }
        Ok(report)
    }

    fn measure(&self, config: &BenchConfig) -> Result<BenchResult> {
        match &self.isolation {
            Isolation::InProcess => Bench::from_config(config.clone()).run(),
            Isolation::Subprocess { program, args } => in_child(program, args, config),
        }
    }
}

/// Exit code of a child that rejected its input (the CLI's code for bad input).
const CHILD_BAD_INPUT: i32 = 2;

/// Runs one config in a child process and reads back its result.
fn in_child(program: &Path, args: &[String], config: &BenchConfig) -> Result<BenchResult> {
    let what = format!("measuring {} on {}", config.model.display(), config.engine);
    let json = serde_json::to_string(config).map_err(|e| Error::Worker(format!("{what}: {e}")))?;
    let out = Command::new(program)
        .args(args)
        .arg("--config")
        .arg(&json)
        .output()
        .map_err(|e| Error::Worker(format!("{what}: cannot start {}: {e}", program.display())))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let message = stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("error: "))
            .map(str::to_string)
            .unwrap_or_else(|| {
                let last = stderr.lines().last().unwrap_or("").trim().to_string();
                match out.status.code() {
                    Some(code) => format!("exited with code {code}: {last}"),
                    None => format!("was killed by a signal: {last}"),
                }
            });
        let message = format!("{what}: {message}");
        return Err(if out.status.code() == Some(CHILD_BAD_INPUT) {
            Error::InvalidConfig(message)
        } else {
            Error::Worker(message)
        });
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).map_err(|e| {
        Error::Worker(format!(
            "{what}: the worker's output is not a bench result: {e}"
        ))
    })
}

/// Fails early, before any measuring, if the report folder cannot be made or written.
fn check_writable(dir: &Path) -> Result<()> {
    let fail = |e: std::io::Error| Error::Write {
        path: dir.to_path_buf(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = tempfile_probe(dir).map_err(fail)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn tempfile_probe(dir: &Path) -> std::io::Result<PathBuf> {
    let probe = dir.join(format!(".optimize-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    Ok(probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_report_folder_is_not_results() {
        assert_eq!(
            default_out_dir(Path::new("models/digits-cnn.onnx")),
            Path::new("bench-digits-cnn")
        );
    }

    #[test]
    fn job_reads_from_toml() {
        let job: BenchJob = toml::from_str(
            "baseline = \"m.onnx\"\nengines = [\"ort\", \"tract\"]\nmin_duration = \"500ms\"\n",
        )
        .unwrap();
        assert_eq!(job.engines, vec![Engine::Ort, Engine::Tract]);
        assert_eq!(job.min_duration, Duration::from_millis(500));
        assert!(toml::from_str::<BenchJob>("baseline = \"m.onnx\"\nwarmpu = 3\n").is_err());
    }

    #[test]
    fn no_model_is_an_error() {
        assert!(BenchJob::default().configs().is_err());
    }
}
