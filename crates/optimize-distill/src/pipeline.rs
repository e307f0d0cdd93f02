//! The whole job behind `optimize distill recipe.toml`: train ([`crate::run`]), then write
//! the students, their ONNX exports (checked against candle in tract and ONNX Runtime), the
//! training log, the report and the curves into one folder.
//!
//! Files in the output folder:
//!
//! | file | what |
//! |---|---|
//! | `student.safetensors`, `student.json` | the distilled student's weights and its config (layers, input shape, classes, loss settings) |
//! | `student.onnx` | the distilled student in ONNX |
//! | `alone.safetensors`, `alone.onnx` | the same student trained alone (with `report.baseline`) |
//! | `log.jsonl` | one line per epoch of every run |
//! | `report.json`, `report.md`, `curves.svg`, `curves.png` | the comparison ([`crate::report`]) |
//! | `checkpoint.safetensors` | while training (every `checkpoint.every` epochs, and on interrupt); removed at the end |
//!
//! The students' safetensors and ONNX files depend on the recipe and seed alone: the same
//! recipe gives the same bytes. The log and report also hold timings, which do not.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::checkpoint::{write_atomic, write_tensors};
use crate::export::{export_onnx, verify_export, Parity};
use crate::recipe::Recipe;
use crate::report::{draw, write_log, DataSummary, DistillReport, ModelRow, RunSummary, SCHEMA};
use crate::run::{accuracy, all_inputs, Progress, RunResult, Session, Trained};
use crate::student::LayerSpec;
use crate::{Error, Result};

/// How to run a recipe.
#[derive(Debug, Clone, Default)]
pub struct DistillOptions {
    /// The output folder.
    pub out_dir: PathBuf,
    /// A checkpoint to resume from.
    pub resume: Option<PathBuf>,
    /// Search the recipe's `[sweep]` grid and keep the best student on the validation split.
    pub sweep: bool,
}

/// What [`distill`] did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Finished: the report (also written as `report.json`).
    Done(Box<DistillReport>),
    /// Stopped by the observer; resume from this checkpoint.
    Interrupted {
        /// The checkpoint written.
        checkpoint: PathBuf,
    },
}

/// The student's config, written beside its weights.
#[derive(Debug, Clone, Serialize)]
pub struct StudentConfig {
    /// The layers.
    pub layers: Vec<LayerSpec>,
    /// The per-sample input shape.
    pub input_shape: Vec<usize>,
    /// Number of classes.
    pub classes: usize,
    /// Trainable parameters.
    pub parameters: usize,
    /// How it was trained: `distilled` or `alone`.
    pub trained: String,
    /// Temperature, alpha and learning rate of its run.
    pub temperature: f64,
    /// Alpha.
    pub alpha: f64,
    /// Peak learning rate.
    pub lr: f64,
    /// The epoch kept.
    pub best_epoch: usize,
    /// The recipe's seed.
    pub seed: u64,
}

/// Runs `recipe` as `options` say, reporting progress to `observer`.
pub fn distill(
    recipe: Recipe,
    options: &DistillOptions,
    observer: &mut dyn Progress,
) -> Result<Outcome> {
    let out = &options.out_dir;
    std::fs::create_dir_all(out).map_err(|source| Error::Write {
        path: out.clone(),
        source,
    })?;
    let session = Session::prepare(recipe)?;
    let checkpoint = out.join("checkpoint.safetensors");
    let trained = session.train(
        options.sweep,
        &checkpoint,
        options.resume.as_deref(),
        observer,
    )?;
    let (trials, distilled, alone) = match trained {
        Trained::Interrupted { checkpoint } => return Ok(Outcome::Interrupted { checkpoint }),
        Trained::Done {
            trials,
            distilled,
            alone,
        } => (trials, distilled, alone),
    };
    let report = write_outputs(&session, options, &trials, &distilled, alone.as_ref())?;
    if checkpoint.exists() {
        let _ = std::fs::remove_file(&checkpoint);
    }
    Ok(Outcome::Done(Box::new(report)))
}

fn write_outputs(
    session: &Session,
    options: &DistillOptions,
    trials: &[RunResult],
    distilled: &RunResult,
    alone: Option<&RunResult>,
) -> Result<DistillReport> {
    let out = &options.out_dir;
    let r = &session.recipe;
    let mut files = Vec::new();
    let mut models = Vec::new();
    let teacher_bytes = r
        .teacher
        .onnx
        .as_ref()
        .and_then(|p| std::fs::metadata(r.resolve(p)).ok())
        .map(|m| m.len());
    models.push(ModelRow {
        role: "teacher".into(),
        path: r
            .teacher
            .onnx
            .as_ref()
            .or(r.teacher.weights.as_ref())
            .map(|p| r.resolve(p).display().to_string())
            .unwrap_or_default(),
        test_accuracy: session.teacher_test_accuracy()?,
        parameters: None,
        bytes: teacher_bytes,
        latency_p50_ms: None,
    });
    if let Some(initial) = session.initial_student()? {
        let logits = session.test_logits(&initial)?;
        models.push(ModelRow {
            role: "initial".into(),
            path: r
                .student
                .onnx
                .as_ref()
                .or(r.student.weights.as_ref())
                .map(|p| r.resolve(p).display().to_string())
                .unwrap_or_default(),
            test_accuracy: accuracy(&logits, &session.data.test.y)?,
            parameters: Some(initial.parameter_count()?),
            bytes: r
                .student
                .onnx
                .as_ref()
                .and_then(|p| std::fs::metadata(r.resolve(p)).ok())
                .map(|m| m.len()),
            latency_p50_ms: None,
        });
    }
    let mut parity: Vec<Parity> = Vec::new();
    for (stem, run) in std::iter::once(("student", distilled)).chain(alone.map(|a| ("alone", a))) {
        let student = session.student_with(&run.weights)?;
        let config = StudentConfig {
            layers: r.student.layers.clone(),
            input_shape: student.input_shape().to_vec(),
            classes: session.classes,
            parameters: student.parameter_count()?,
            trained: if stem == "student" {
                "distilled".into()
            } else {
                "alone".into()
            },
            temperature: run.temperature,
            alpha: run.alpha,
            lr: run.lr,
            best_epoch: run.best_epoch,
            seed: r.seed,
        };
        let config_json =
            serde_json::to_string_pretty(&config).map_err(|e| Error::Export(e.to_string()))?;
        let st = out.join(format!("{stem}.safetensors"));
        write_tensors(
            &st,
            &student.tensors()?,
            Some(&serde_json::to_string(&config).map_err(|e| Error::Export(e.to_string()))?),
        )?;
        files.push(st);
        if stem == "student" {
            let cfg = out.join("student.json");
            write_atomic(&cfg, format!("{config_json}\n").as_bytes())?;
            files.push(cfg);
        }
        let onnx = out.join(format!("{stem}.onnx"));
        let description = format!(
            "{} from {} by optimize distill (recipe {}, seed {}, T {}, alpha {}, lr {})",
            if stem == "student" {
                "distilled"
            } else {
                "trained alone on the labelled part"
            },
            models[0].path,
            r.name(),
            r.seed,
            run.temperature,
            run.alpha,
            run.lr
        );
        let bytes = export_onnx(&student, &onnx, &[("optimize.distill", &description)])?;
        let x = all_inputs(&session.data.test)?;
        let checked = verify_export(&onnx, &student, &x)?;
        if stem == "student" {
            parity = checked;
        }
        files.push(onnx.clone());
        let logits = session.test_logits(&student)?;
        models.push(ModelRow {
            role: if stem == "student" {
                "distilled".into()
            } else {
                "alone".into()
            },
            path: onnx.display().to_string(),
            test_accuracy: accuracy(&logits, &session.data.test.y)?,
            parameters: Some(config.parameters),
            bytes: Some(bytes),
            latency_p50_ms: None,
        });
    }
    if r.report.latency {
        let shape: Vec<usize> = std::iter::once(1)
            .chain(session.data.test.sample_shape.iter().copied())
            .collect();
        for m in &mut models {
            if !m.path.ends_with(".onnx") {
                continue;
            }
            let input = if m.role == "teacher" || m.role == "initial" {
                first_input(Path::new(&m.path)).unwrap_or_else(|| "input".into())
            } else {
                "input".into()
            };
            let result = optimize_bench::Bench::new(&m.path)
                .backend(optimize_bench::Engine::Tract)
                .threads(1)
                .warmup(20)
                .iterations(200)
                .min_duration(Duration::from_millis(300))
                .shape(input, shape.clone())
                .run();
            m.latency_p50_ms = result.ok().map(|b| b.latency.p50_ms);
        }
    }
    let log = out.join("log.jsonl");
    let mut runs: Vec<&RunResult> = trials.iter().collect();
    if trials.is_empty() {
        runs.push(distilled);
    }
    runs.extend(alone);
    write_log(&log, &runs)?;
    files.push(log);
    let mut curves: Vec<(&str, &[crate::run::EpochRecord])> =
        vec![("distilled", &distilled.history)];
    if let Some(a) = alone {
        curves.push(("student alone", &a.history));
    }
    let charts = draw(out, &curves)?;
    files.extend(charts.iter().cloned());
    let d = &session.data;
    let labelled = d.labelled.len();
    let mut report = DistillReport {
        schema: SCHEMA.into(),
        recipe: r.path.display().to_string(),
        name: r.name().into(),
        seed: r.seed,
        data: DataSummary {
            transfer: d.transfer.len(),
            labelled,
            unlabelled: d.transfer.len() - labelled,
            val: d.val.len(),
            test: d.test.len(),
            classes: session.classes,
            sample_shape: d.transfer.sample_shape.clone(),
        },
        models,
        distilled: RunSummary::of(distilled),
        alone: alone.map(RunSummary::of),
        sweep: trials.iter().map(RunSummary::of).collect(),
        parity,
        files: Vec::new(),
    };
    let json_path = out.join("report.json");
    let md_path = out.join("report.md");
    files.push(json_path.clone());
    files.push(md_path.clone());
    report.files = files.iter().map(|f| f.display().to_string()).collect();
    let json = serde_json::to_string_pretty(&report).map_err(|e| Error::Export(e.to_string()))?;
    write_atomic(&json_path, format!("{json}\n").as_bytes())?;
    write_atomic(&md_path, report.markdown(&charts).as_bytes())?;
    Ok(report)
}

/// The first graph input of an ONNX file that is not an initializer.
fn first_input(path: &Path) -> Option<String> {
    let model = optimize_onnx::Model::load(path).ok()?;
    let graph = model.proto.graph.as_ref()?;
    let inits: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name()).collect();
    graph
        .input
        .iter()
        .map(|i| i.name().to_string())
        .find(|n| !inits.contains(n.as_str()))
}
