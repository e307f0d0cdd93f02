//! Pruning passes for `optimize`: magnitude and N:M sparsity, structured channel pruning that
//! physically shrinks the model, and low-rank factorization.
//!
//! What this crate is for: taking a float32 ONNX [`Model`] and removing weights from it, and
//! saying plainly what that buys on the runtime it will run on. Sparsity that only writes zeros
//! into dense tensors makes nothing faster on ONNX Runtime or tract; every report says so, and
//! the methods that do shrink the model ([`channel`], [`low_rank`]) rewrite the graph so that
//! the output really has fewer parameters and fewer operations.
//!
//! - [`job`]: the whole `optimize prune` workflow as one call ([`job::PruneJob`]): load, prune,
//!   optionally fine-tune through an [`optimize_job::Finetune`] (distillation), stage, verify
//!   under a policy, move into place only when accepted, time before and after. Start here.
//! - [`magnitude`]: unstructured, the smallest `|w|` set to zero, one threshold for the model
//!   or one per layer. Smaller only after compression.
//! - [`n_m`]: N:M semi-structured sparsity (2:4) along the input dimension, the pattern sparse
//!   tensor cores run, with a check that every group holds it.
//! - [`channel`]: structured pruning. Output channels (neurons) are removed whole, together with
//!   every tensor that depends on them (the next layer's inputs, BatchNorm, biases, depthwise
//!   convolutions), in groups tied by residual `Add`s and `Concat`s, dependency-graph style.
//!   Groups it cannot prune safely are left alone and listed.
//! - [`low_rank`]: a MatMul/Gemm weight `W` replaced by two factors from a truncated SVD when
//!   that saves parameters.
//! - [`schedule`]: for training code, gradual magnitude pruning of candle weights with a cubic
//!   sparsity schedule (feature `candle`, on by default).
//! - [`report`] holds what a pass and a run report; outputs are verified with
//!   [`optimize_bench::verify`] (loaded in ONNX Runtime and tract, compared with the original,
//!   accuracy scored on labelled data).
//! - Which ops carry weights, and along which axes, is one table in [`layers`].
//!
//! Every pass first moves weights held in `Constant` nodes into initializers, touches only the
//! main graph, and never depends on shape inference.
//!
//! ```no_run
//! use optimize_onnx::{save, Model, SaveOptions};
//! use optimize_prune::channel::{prune_channels, ChannelConfig, Criterion};
//!
//! let model = Model::load("models/digits-cnn.onnx")?;
//! let config = ChannelConfig { ratio: 0.5, criterion: Criterion::L1, ..ChannelConfig::default() };
//! let (pruned, report) = prune_channels(&model, &config)?;
//! println!("parameters {} -> {}", report.parameters.before, report.parameters.after);
//! save(&pruned, "digits-cnn.channels.onnx", &SaveOptions::default())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod channel;
mod error;
pub mod job;
pub mod layers;
pub mod low_rank;
pub mod magnitude;
pub mod n_m;
pub mod report;
pub mod schedule;
pub mod svd;
pub mod weights;

pub use channel::{plan_channels, prune_channels, ChannelConfig, ChannelPlan, Criterion};
pub use error::{Error, Result};
pub use low_rank::{factorize, LowRankConfig, RankRule};
pub use magnitude::{prune_magnitude, MagnitudeConfig, Scope};
pub use n_m::{prune_n_m, NmConfig, NmPattern};
pub use report::PruneReport;

use optimize_onnx::proto::GraphProto;
use optimize_onnx::Model;
use report::Skipped;
use std::collections::HashMap;

/// A copy of `model` ready for a pass: `Constant` weights moved into initializers. Returns the
/// copy and how many constants were moved.
fn prepare(model: &Model) -> (Model, usize) {
    let mut proto = model.proto.clone();
    let folded = optimize_onnx::transform::constants_to_initializers(&mut proto);
    (Model::from_proto(proto), folded)
}

/// Elements of every initializer of `graph`, and how many of the float32 ones are exactly zero.
fn parameter_stats(graph: &GraphProto) -> (u64, u64) {
    let mut total = 0u64;
    let mut zeros = 0u64;
    for t in &graph.initializer {
        total += optimize_onnx::tensor::numel(&t.dims).unwrap_or(0);
        if let Some(v) = optimize_onnx::build::read_f32(t) {
            zeros += weights::zeros(&v) as u64;
        }
    }
    (total, zeros)
}

/// Initializer name → index in `graph.initializer`.
fn initializer_index(graph: &GraphProto) -> HashMap<String, usize> {
    graph
        .initializer
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name().to_string(), i))
        .collect()
}

/// The error for a model with no layer a pass can change: the reasons each candidate was left,
/// or the ops the model has.
fn nothing_to_prune(model: &Model, skipped: &[Skipped]) -> Error {
    if skipped.is_empty() {
        let ops: Vec<String> = optimize_onnx::Summary::of(model, None)
            .op_types
            .iter()
            .take(8)
            .map(|o| format!("{} {}", o.op_type, o.count))
            .collect();
        let supported: Vec<&str> = layers::supported().collect();
        return Error::NothingToPrune {
            detail: format!(
                "the model has no {} node with a stored weight (its ops: {})",
                supported.join("/"),
                if ops.is_empty() {
                    "none".to_string()
                } else {
                    ops.join(", ")
                }
            ),
        };
    }
    let reasons: Vec<String> = skipped
        .iter()
        .take(6)
        .map(|s| format!("{} ({}): {}", s.node, s.op_type, s.reason))
        .collect();
    let more = skipped.len().saturating_sub(reasons.len());
    Error::NothingToPrune {
        detail: format!(
            "every candidate was left alone: {}{}",
            reasons.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        ),
    }
}
