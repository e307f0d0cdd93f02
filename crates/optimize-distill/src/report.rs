//! What a distillation run writes besides the student: the JSON-lines training log, the
//! report (JSON and Markdown) and the loss/accuracy curves (SVG and PNG, drawn by
//! `optimize_bench::chart`).
//!
//! The report's JSON schema, `optimize.distill-report/1`:
//!
//! | key | what |
//! |---|---|
//! | `schema`, `recipe`, `name`, `seed` | what ran |
//! | `data` | sample counts: `transfer`, `labelled`, `unlabelled`, `val`, `test`, `classes`, `sample_shape` |
//! | `models[]` | `role` (`teacher`; `initial`, the student before training, when the recipe gives its weights; `distilled`; `alone`), `path`, `test_accuracy`, `parameters`, `bytes` (ONNX file), `latency_p50_ms` (tract, 1 thread, batch 1; `null` when not measured) |
//! | `distilled`, `alone` | the run: `temperature`, `alpha`, `lr`, `best_epoch`, `best_val_accuracy`, `epochs`, `stopped_early`, `samples_per_s` (mean) |
//! | `sweep[]` | every trial, same fields |
//! | `parity[]` | the exported student in tract and ONNX Runtime against candle: `backend`, `max_abs_diff`, `skipped` |
//! | `files[]` | what was written |
//!
//! Each line of `log.jsonl` is one [`crate::run::EpochRecord`].

use std::path::{Path, PathBuf};

use optimize_bench::chart::{line_chart, Line, LinePanel};
use serde::Serialize;

use crate::checkpoint::write_atomic;
use crate::export::Parity;
use crate::run::{EpochRecord, RunResult};
use crate::{Error, Result};

/// The report's schema name.
pub const SCHEMA: &str = "optimize.distill-report/1";

/// The report; see the [module doc](self) for the schema.
#[derive(Debug, Clone, Serialize)]
pub struct DistillReport {
    /// [`SCHEMA`].
    pub schema: String,
    /// The recipe file.
    pub recipe: String,
    /// The recipe's name.
    pub name: String,
    /// The recipe's seed.
    pub seed: u64,
    /// Sample counts.
    pub data: DataSummary,
    /// Teacher, distilled student, student alone.
    pub models: Vec<ModelRow>,
    /// The distilled run.
    pub distilled: RunSummary,
    /// The student trained alone.
    pub alone: Option<RunSummary>,
    /// Sweep trials.
    pub sweep: Vec<RunSummary>,
    /// Export parity.
    pub parity: Vec<Parity>,
    /// Files written.
    pub files: Vec<String>,
}

/// Sample counts.
#[derive(Debug, Clone, Serialize)]
pub struct DataSummary {
    /// Samples in the transfer set.
    pub transfer: usize,
    /// Of which labelled.
    pub labelled: usize,
    /// Of which unlabelled.
    pub unlabelled: usize,
    /// Validation samples.
    pub val: usize,
    /// Test samples.
    pub test: usize,
    /// Classes.
    pub classes: usize,
    /// Shape of one sample.
    pub sample_shape: Vec<usize>,
}

/// One model of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    /// `teacher`, `distilled` or `alone`.
    pub role: String,
    /// Its ONNX file.
    pub path: String,
    /// Top-1 accuracy on the test split.
    pub test_accuracy: f64,
    /// Trainable parameters (students; `null` for an ONNX teacher).
    pub parameters: Option<usize>,
    /// ONNX file size in bytes.
    pub bytes: Option<u64>,
    /// Median latency of one call (batch 1, tract, 1 thread), if measured.
    pub latency_p50_ms: Option<f64>,
}

/// A run in short.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The run's name.
    pub name: String,
    /// Temperature.
    pub temperature: f64,
    /// Alpha.
    pub alpha: f64,
    /// Peak learning rate.
    pub lr: f64,
    /// The epoch kept.
    pub best_epoch: usize,
    /// Its validation accuracy.
    pub best_val_accuracy: f64,
    /// Epochs trained.
    pub epochs: usize,
    /// Whether early stopping ended it.
    pub stopped_early: bool,
    /// Mean training throughput.
    pub samples_per_s: f64,
}

impl RunSummary {
    /// The summary of a finished run.
    pub fn of(r: &RunResult) -> Self {
        let (samples, secs) = r.history.iter().fold((0.0, 0.0), |(n, s), e| {
            (n + e.samples as f64, s + e.seconds)
        });
        RunSummary {
            name: r.name.clone(),
            temperature: r.temperature,
            alpha: r.alpha,
            lr: r.lr,
            best_epoch: r.best_epoch,
            best_val_accuracy: r.best_val_accuracy,
            epochs: r.history.len(),
            stopped_early: r.stopped_early,
            samples_per_s: samples / f64::max(secs, 1e-9),
        }
    }
}

/// Writes the training log: one JSON line per epoch of every run.
pub fn write_log(path: &Path, runs: &[&RunResult]) -> Result<()> {
    let mut text = String::new();
    for r in runs {
        for e in &r.history {
            text.push_str(&serde_json::to_string(e).map_err(|e| Error::Export(e.to_string()))?);
            text.push('\n');
        }
    }
    write_atomic(path, text.as_bytes())
}

impl DistillReport {
    /// The report as Markdown.
    pub fn markdown(&self, charts: &[PathBuf]) -> String {
        let mut md = format!("# Distillation: {}\n\n", self.name);
        md.push_str(&format!(
            "Recipe `{}`, seed {}. Transfer set {} samples ({} labelled, {} without labels); validation {}, test {}; {} classes.\n\n",
            self.recipe, self.seed, self.data.transfer, self.data.labelled, self.data.unlabelled, self.data.val, self.data.test, self.data.classes
        ));
        md.push_str("| model | test accuracy | parameters | ONNX size | latency p50 (tract, batch 1) |\n|---|---:|---:|---:|---:|\n");
        for m in &self.models {
            md.push_str(&format!(
                "| {} | {:.2}% | {} | {} | {} |\n",
                m.role,
                m.test_accuracy * 100.0,
                m.parameters.map_or("-".into(), |p| p.to_string()),
                m.bytes
                    .map_or("-".into(), optimize_bench::report::human_bytes),
                m.latency_p50_ms
                    .map_or("-".into(), |l| format!("{l:.4} ms")),
            ));
        }
        md.push_str("\n| run | T | alpha | lr | best epoch | val accuracy | epochs | samples/s |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in std::iter::once(&self.distilled)
            .chain(&self.alone)
            .chain(&self.sweep)
        {
            md.push_str(&format!(
                "| {} | {} | {} | {:e} | {} | {:.2}% | {}{} | {:.0} |\n",
                r.name,
                r.temperature,
                r.alpha,
                r.lr,
                r.best_epoch,
                r.best_val_accuracy * 100.0,
                r.epochs,
                if r.stopped_early { " (early stop)" } else { "" },
                r.samples_per_s
            ));
        }
        if !self.parity.is_empty() {
            md.push_str("\nExported student against candle: ");
            let parts: Vec<String> = self
                .parity
                .iter()
                .map(|p| match (p.max_abs_diff, &p.skipped) {
                    (Some(d), _) => format!("{} max |diff| {d:.1e}", p.backend),
                    (None, Some(why)) => format!("{} not run ({why})", p.backend),
                    _ => p.backend.clone(),
                })
                .collect();
            md.push_str(&parts.join("; "));
            md.push_str(".\n");
        }
        for c in charts {
            if c.extension().is_some_and(|e| e == "png") {
                let name = c
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                md.push_str(&format!("\n![training curves]({name})\n"));
            }
        }
        md
    }
}

/// Draws training loss and validation accuracy per epoch of `runs` into
/// `dir/curves.{svg,png}` ([`optimize_bench::chart::line_chart`]); returns the two paths.
pub fn draw(dir: &Path, runs: &[(&str, &[EpochRecord])]) -> Result<Vec<PathBuf>> {
    let panel = |title, f: fn(&EpochRecord) -> f64| LinePanel {
        title,
        x_label: "epoch",
        lines: runs
            .iter()
            .map(|(name, h)| Line {
                name,
                points: h.iter().map(|e| (e.epoch as f64, f(e))).collect(),
            })
            .collect(),
    };
    let panels = [
        panel("training loss", |e| e.train_loss),
        panel("validation accuracy", |e| e.val_accuracy),
    ];
    let files = line_chart(
        dir,
        "curves",
        (1000, 420),
        &panels,
        "training curves".into(),
        "Training loss and validation accuracy per epoch.".into(),
    )
    .map_err(|e| match e {
        optimize_bench::Error::Chart { path, message } => Error::Chart { path, message },
        e => e.into(),
    })?;
    Ok(vec![files.svg, files.png])
}
