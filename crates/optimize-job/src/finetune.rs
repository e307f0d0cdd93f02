//! [`Finetune`]: how a pass asks for its output to be fine-tuned against the original, without
//! depending on the crate that trains.
//!
//! Passes never depend on each other, yet `prune --recover` is "prune, then distill the pruned
//! model from the original". The pruning job takes a `&dyn Finetune`; `optimize-distill`
//! implements it; whoever composes the two (the CLI, a pipeline, a training script) passes one
//! to the other.

use std::path::PathBuf;

/// What to fine-tune.
#[derive(Debug, Clone)]
pub struct FinetuneRequest {
    /// The model before the pass: the teacher.
    pub original: PathBuf,
    /// The pass's output on disk: the student to start from.
    pub candidate: PathBuf,
    /// How to train (for distillation, a recipe without `[teacher]` and `[student]`).
    pub recipe: PathBuf,
    /// Where the fine-tuning writes its report, curves and checkpoints.
    pub work_dir: PathBuf,
}

/// What fine-tuning produced.
#[derive(Debug, Clone)]
pub struct Finetuned {
    /// The fine-tuned model, in ONNX, with the candidate's input and output names.
    pub model: PathBuf,
    /// Test accuracy of the original.
    pub original_accuracy: f64,
    /// Test accuracy of the candidate before fine-tuning.
    pub candidate_accuracy: f64,
    /// Test accuracy after fine-tuning.
    pub finetuned_accuracy: f64,
    /// Test accuracy of the candidate fine-tuned on the labels alone, when measured.
    pub alone_accuracy: Option<f64>,
    /// The epoch kept, and the epochs run.
    pub best_epoch: usize,
    /// Epochs run.
    pub epochs: usize,
}

/// Why fine-tuning did not finish.
#[derive(Debug)]
pub enum FinetuneError {
    /// Stopped through [`crate::Progress::cancelled`]; its state was saved here.
    Interrupted {
        /// The checkpoint written.
        checkpoint: PathBuf,
    },
    /// The recipe or data was wrong (a user's input error).
    Input(Box<dyn std::error::Error + Send + Sync>),
    /// Training or export failed.
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl std::fmt::Display for FinetuneError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FinetuneError::Interrupted { checkpoint } => write!(
                f,
                "fine-tuning interrupted (checkpoint {})",
                checkpoint.display()
            ),
            FinetuneError::Input(e) | FinetuneError::Failed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for FinetuneError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FinetuneError::Interrupted { .. } => None,
            FinetuneError::Input(e) | FinetuneError::Failed(e) => Some(e.as_ref()),
        }
    }
}

/// Fine-tunes a pass's output against the original model.
pub trait Finetune {
    /// Trains `request.candidate` with `request.original` as the teacher, reporting to
    /// `progress`, and writes the result under `request.work_dir`.
    fn finetune(
        &self,
        request: &FinetuneRequest,
        progress: &mut dyn crate::Progress,
    ) -> Result<Finetuned, FinetuneError>;
}
