//! The one error type of `optimize-prune`.
//!
//! Variants are grouped by what went wrong: a setting the user gave (sparsity, pattern, ratio,
//! criterion, rank, energy), the model (nothing to prune, a weight the pass cannot read), and the
//! outcome (a pattern check or the verification of the output failed). Each carries what the user
//! needs to fix the problem: the value given, the tensor or node name.

/// Result of an `optimize-prune` operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while pruning.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- settings ---------------------------------------------------------------
    /// A sparsity outside `[0, 1)`.
    #[error("sparsity {given} is outside [0, 1): give the share of weights to zero, e.g. 0.5")]
    InvalidSparsity {
        /// The value given.
        given: f64,
    },

    /// An N:M pattern that is not `N:M` with `0 < N < M`.
    #[error("unknown N:M pattern {given:?}: expected N:M with 0 < N < M <= 64, e.g. 2:4 (keep 2 of every 4 weights) or 1:4")]
    UnknownPattern {
        /// The text given.
        given: String,
    },

    /// A channel ratio outside `[0, 1)`.
    #[error(
        "channel ratio {given} is outside [0, 1): give the share of channels to remove, e.g. 0.5"
    )]
    InvalidRatio {
        /// The value given.
        given: f64,
    },

    /// A channel-importance criterion we do not know.
    #[error("unknown criterion {given:?}: expected l1, l2 or bn-scale")]
    UnknownCriterion {
        /// The text given.
        given: String,
    },

    /// A low-rank setting that cannot be used: rank 0, or an energy outside `(0, 1]`.
    #[error("invalid low-rank setting: {detail}")]
    InvalidRank {
        /// What is wrong, with the value given.
        detail: String,
    },

    /// A sparsity schedule that goes down or ends before it begins.
    #[error("invalid sparsity schedule: {detail}")]
    InvalidSchedule {
        /// What is wrong, with the values given.
        detail: String,
    },

    // --- the model -----------------------------------------------------------------
    /// No layer of the model can be pruned with the given settings.
    #[error("nothing to prune: {detail}")]
    NothingToPrune {
        /// Why, e.g. which ops the model has, or why each candidate was skipped.
        detail: String,
    },

    /// A weight whose data the pass cannot use.
    #[error("weight '{tensor}': {detail}")]
    BadWeight {
        /// The initializer's name.
        tensor: String,
        /// What is wrong with it.
        detail: String,
    },

    /// The model could not be read, checked or written.
    #[error(transparent)]
    Onnx(#[from] optimize_onnx::Error),

    /// A runtime could not load or run a model.
    #[error(transparent)]
    Runtime(#[from] optimize_runtime::Error),

    /// Evaluation or verification data could not be read or does not fit the model.
    #[error(transparent)]
    Data(#[from] optimize_data::Error),

    /// A candle operation failed while masking weights during training.
    #[cfg(feature = "candle")]
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// Measuring a model failed.
    #[error(transparent)]
    Bench(#[from] optimize_bench::Error),

    /// The job's settings are inconsistent or out of range.
    #[error("{detail}")]
    Config {
        /// What is wrong, naming the setting.
        detail: String,
    },

    /// Fine-tuning after pruning failed.
    #[error("fine-tuning failed: {detail}")]
    Finetune {
        /// Why.
        detail: String,
    },

    /// Fine-tuning was interrupted; it saved a checkpoint.
    #[error("fine-tuning interrupted (checkpoint {}); run the prune again to start over", checkpoint.display())]
    Interrupted {
        /// The checkpoint written.
        checkpoint: std::path::PathBuf,
    },

    // --- the outcome ---------------------------------------------------------------
    /// A pruned weight does not hold the N:M pattern it was pruned to (a bug in the pass).
    #[error("weight '{tensor}' breaks the {n}:{m} pattern: group {group} along the input dimension holds {nonzeros} non-zeros")]
    PatternViolated {
        /// The initializer's name.
        tensor: String,
        /// Index of the first bad group.
        group: usize,
        /// Non-zeros found in it.
        nonzeros: usize,
        /// Non-zeros allowed per group.
        n: usize,
        /// Group size.
        m: usize,
    },
}

impl Error {
    /// True when the error is about the input (model, data, flags) rather than a failure while
    /// working; the CLI exits with 2 for these and 1 otherwise.
    pub fn is_input_error(&self) -> bool {
        match self {
            Error::Onnx(e) => e.is_input_error(),
            Error::Bench(e) => e.is_input_error(),
            Error::Data(_) => true,
            Error::Runtime(_)
            | Error::PatternViolated { .. }
            | Error::Finetune { .. }
            | Error::Interrupted { .. } => false,
            #[cfg(feature = "candle")]
            Error::Candle(_) => false,
            _ => true,
        }
    }
}
