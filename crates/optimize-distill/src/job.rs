//! The `optimize distill` workflow as one library call ([`DistillJob::run`]), and the
//! fine-tuning step other passes hand their output to ([`Recover`], an
//! [`optimize_job::Finetune`]: `prune --recover` is a pruning job given a `Recover`).
//!
//! ```no_run
//! use optimize_distill::job::{DistillJob, Outcome};
//! let job = DistillJob::new("recipes/digits-cnn.toml").out_dir("out/digits-cnn");
//! match job.run(&mut optimize_job::Quiet)? {
//!     Outcome::Done(report) => println!("student {:.2}%", report.models[1].test_accuracy * 100.0),
//!     Outcome::Interrupted { checkpoint } => println!("resume from {}", checkpoint.display()),
//! }
//! # Ok::<(), optimize_distill::Error>(())
//! ```

use crate::pipeline::{distill, DistillOptions};
use crate::{Error, Recipe, Result};
use optimize_job::{Finetune, FinetuneError, FinetuneRequest, Finetuned, Progress};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use crate::pipeline::Outcome;

/// One distillation to run, as data (a pipeline step can hold one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistillJob {
    /// The recipe (TOML; schema in recipes/README.md).
    pub recipe: PathBuf,
    /// The output folder [default: `distill-<recipe name>` in the current folder, so no
    /// committed file is ever written over].
    #[serde(default)]
    pub out_dir: Option<PathBuf>,
    /// A checkpoint of an earlier run of the same recipe to go on from.
    #[serde(default)]
    pub resume: Option<PathBuf>,
    /// Search the recipe's `[sweep]` grid and keep the best student on validation.
    #[serde(default)]
    pub sweep: bool,
}

impl DistillJob {
    /// A job for the recipe at `recipe`, with the default output folder.
    pub fn new(recipe: impl Into<PathBuf>) -> Self {
        DistillJob {
            recipe: recipe.into(),
            out_dir: None,
            resume: None,
            sweep: false,
        }
    }

    /// Writes into `dir`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// The output folder this job writes to, given its recipe's name.
    pub fn out_dir_for(&self, recipe: &Recipe) -> PathBuf {
        self.out_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("distill-{}", recipe.name())))
    }

    /// Loads the recipe, trains, exports and writes every file of [`crate::pipeline`] into the
    /// output folder. Cancelled through `progress`, it writes a checkpoint and returns
    /// [`Outcome::Interrupted`].
    pub fn run(&self, progress: &mut dyn Progress) -> Result<Outcome> {
        let recipe = Recipe::load(&self.recipe)?;
        let options = DistillOptions {
            out_dir: self.out_dir_for(&recipe),
            resume: self.resume.clone(),
            sweep: self.sweep,
        };
        distill(recipe, &options, progress)
    }
}

/// Fine-tunes a pass's output by distillation from the original ([`Finetune`]): the recipe
/// gives data, loss, optimizer and epochs and leaves out `[teacher]` and `[student]`; the
/// candidate must be a chain of layers [`crate::import`] can read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Recover;

impl Finetune for Recover {
    fn finetune(
        &self,
        request: &FinetuneRequest,
        progress: &mut dyn Progress,
    ) -> std::result::Result<Finetuned, FinetuneError> {
        let wrap = |e: Error| {
            if e.is_input_error() {
                FinetuneError::Input(Box::new(e))
            } else {
                FinetuneError::Failed(Box::new(e))
            }
        };
        let recipe =
            Recipe::load_with_models(&request.recipe, &request.original, &request.candidate)
                .map_err(wrap)?;
        let options = DistillOptions {
            out_dir: request.work_dir.clone(),
            resume: None,
            sweep: false,
        };
        let report = match distill(recipe, &options, progress).map_err(wrap)? {
            Outcome::Done(r) => r,
            Outcome::Interrupted { checkpoint } => {
                return Err(FinetuneError::Interrupted { checkpoint })
            }
        };
        let accuracy = |role: &str| {
            report
                .models
                .iter()
                .find(|m| m.role == role)
                .map(|m| m.test_accuracy)
        };
        let missing = |role: &str| {
            FinetuneError::Failed(format!("the distillation report has no {role} model").into())
        };
        let model = request.work_dir.join("recovered.onnx");
        rename_like(
            &request.work_dir.join("student.onnx"),
            &request.candidate,
            &model,
        )
        .map_err(wrap)?;
        Ok(Finetuned {
            model,
            original_accuracy: accuracy("teacher").ok_or_else(|| missing("teacher"))?,
            candidate_accuracy: accuracy("initial").ok_or_else(|| missing("initial"))?,
            finetuned_accuracy: accuracy("distilled").ok_or_else(|| missing("distilled"))?,
            alone_accuracy: accuracy("alone"),
            best_epoch: report.distilled.best_epoch,
            epochs: report.distilled.epochs,
        })
    }
}

/// Writes the exported student at `path` to `out` with the input and output names of `like`,
/// so it drops in where the candidate would have gone.
fn rename_like(path: &Path, like: &Path, out: &Path) -> Result<()> {
    let mut student = optimize_onnx::Model::load(path)?;
    let reference = optimize_onnx::Model::load(like)?;
    if let (Some(g), Some(pg)) = (student.proto.graph.as_mut(), reference.proto.graph.as_ref()) {
        let pairs: Vec<(String, String)> = g
            .input
            .iter()
            .zip(
                pg.input
                    .iter()
                    .filter(|i| !pg.initializer.iter().any(|t| t.name() == i.name())),
            )
            .chain(g.output.iter().zip(&pg.output))
            .map(|(a, b)| (a.name().to_string(), b.name().to_string()))
            .collect();
        for (from, to) in pairs {
            optimize_onnx::transform::rename_value(g, &from, &to);
        }
    }
    optimize_onnx::save(&student, out, &optimize_onnx::SaveOptions::default())?;
    Ok(())
}
