//! What a pruning pass did, for people (the CLI's tables) and machines (`--json`).
//!
//! [`PruneReport`] is what the pass itself returns: every layer changed, every layer or channel
//! group left alone and why, parameter counts, and notes on what the method buys on dense
//! runtimes. [`RunReport`] is one whole `optimize prune` run: the pass, the files, the
//! verification and the measurements.

use serde::Serialize;
use std::io::Write;

/// What a pass changed and what it left alone, and why.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    /// `magnitude`, `n:m`, `channels` or `low-rank`.
    pub method: String,
    /// The settings, in words: `sparsity 0.5, global`.
    pub settings: String,
    /// `Constant` nodes moved into initializers first.
    pub constants_folded: usize,
    /// Every layer whose weight changed.
    pub layers: Vec<LayerChange>,
    /// Weighted nodes left alone, with why.
    pub skipped: Vec<Skipped>,
    /// Channel groups (structured pruning only): pruned, or left alone with why.
    pub groups: Vec<GroupReport>,
    /// Parameters of the whole model before and after.
    pub parameters: ParamStats,
    /// The N:M check (N:M only): every group of every pruned weight holds the pattern.
    pub pattern_check: Option<PatternCheck>,
    /// What the method buys on which runtime, and anything else a user should know.
    pub notes: Vec<String>,
}

/// One layer whose weight changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerChange {
    /// Node name (first output's name for unnamed nodes).
    pub node: String,
    /// Op type.
    pub op_type: String,
    /// The weight initializer.
    pub weight: String,
    /// Weight shape before.
    pub shape_before: Vec<usize>,
    /// Weight shape after (for low-rank: the shapes of the two factors, concatenated).
    pub shape_after: Vec<usize>,
    /// Entries that were exactly zero before.
    pub zeros_before: usize,
    /// Entries that are exactly zero after.
    pub zeros_after: usize,
    /// Parameters before (weight only).
    pub params_before: usize,
    /// Parameters after (weight, or both factors).
    pub params_after: usize,
    /// Low-rank: the rank kept.
    pub rank: Option<usize>,
    /// Low-rank: the share of the squared singular values kept.
    pub energy: Option<f64>,
}

impl LayerChange {
    /// Share of zero entries after, 0–1.
    pub fn sparsity(&self) -> f64 {
        self.zeros_after as f64 / self.params_after.max(1) as f64
    }
}

/// A weighted node left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Node name (first output's name for unnamed nodes).
    pub node: String,
    /// Op type.
    pub op_type: String,
    /// Why.
    pub reason: String,
}

/// One group of channels that must be pruned together (structured pruning).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupReport {
    /// The layers whose output channels form the group (more than one when a residual `Add`
    /// or a `Mul` ties them together).
    pub producers: Vec<String>,
    /// Channels before.
    pub channels_before: usize,
    /// Channels after (equal to before when left alone).
    pub channels_after: usize,
    /// Other tensors rewritten with the group: next layers' inputs, BatchNorm, biases, ...
    pub dependents: usize,
    /// Why the group was left alone, if it was.
    pub skipped: Option<String>,
}

/// Parameter counts of the whole model (every float initializer element).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ParamStats {
    /// Before the pass.
    pub before: u64,
    /// After the pass.
    pub after: u64,
    /// Exactly-zero parameters before.
    pub zeros_before: u64,
    /// Exactly-zero parameters after.
    pub zeros_after: u64,
}

/// The result of checking every pruned weight for its N:M pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PatternCheck {
    /// Non-zeros allowed per group.
    pub n: usize,
    /// Group size.
    pub m: usize,
    /// Weights checked.
    pub weights: usize,
    /// Groups checked; every one holds at most `n` non-zeros.
    pub groups: usize,
}

/// Everything one `optimize prune` run did, as `--json` prints it.
///
/// Schema `optimize.prune/1`: fields are only ever added; a breaking change bumps the schema.
/// Sizes are bytes, times milliseconds.
///
/// ```json
/// {
///   "schema": "optimize.prune/1",
///   "input": {"path": "models/digits-cnn.onnx", "bytes": 154635},
///   "output": {"path": "models/digits-cnn.channels.onnx", "bytes": 40211},
///   "size_ratio": 0.26,
///   "compressed": {"format": "gzip", "input": 142000, "output": 37000},
///   "pruning": {"method": "channels", "settings": "ratio 0.5, criterion l1", "...": "..."},
///   "verification": {"samples": 360, "source": "...", "runtimes": [], "accuracy": []},
///   "latency": [{"runtime": "ort", "before_ms": 0.05, "after_ms": 0.03, "speedup": 1.6}],
///   "latency_skipped": null,
///   "timings_ms": [["load", 3.1], ["prune", 1.0], ["save", 0.4]]
/// }
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Always `optimize.prune/1`.
    pub schema: &'static str,
    /// Sizes, verification, verdict, where the output went, latency before and after (their
    /// fields sit at the top level of the JSON).
    #[serde(flatten)]
    pub outcome: optimize_bench::Outcome,
    /// Sizes after general-purpose compression: where unstructured sparsity shows.
    pub compressed: Option<CompressedSize>,
    /// What the pass did.
    pub pruning: PruneReport,
    /// Fine-tuning after pruning (`--recover`).
    pub recovery: Option<Recovery>,
    /// Wall time of each phase, in order.
    pub timings_ms: Vec<(String, f64)>,
}

/// Accuracy before pruning, after pruning and after recovery by distillation, on the recipe's
/// test split.
#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    /// The recipe that drove the fine-tuning.
    pub recipe: String,
    /// The folder with its report, curves and log.
    pub dir: String,
    /// The original model (the teacher).
    pub before_pruning: f64,
    /// The pruned model, before fine-tuning.
    pub after_pruning: f64,
    /// The pruned model distilled from the original: the model written.
    pub after_recovery: f64,
    /// The pruned model fine-tuned on the labels alone with the same budget, when the recipe's
    /// report asks for that baseline.
    pub fine_tuned_alone: Option<f64>,
    /// The epoch whose weights were kept, and the epochs run.
    pub best_epoch: usize,
    /// Epochs run.
    pub epochs: usize,
}

/// Model sizes after compression.
#[derive(Debug, Clone, Serialize)]
pub struct CompressedSize {
    /// The compression: `gzip` (level 6, as `gzip` does by default).
    pub format: &'static str,
    /// Compressed input, bytes.
    pub input: u64,
    /// Compressed output, bytes.
    pub output: u64,
}

pub use optimize_bench::compare::LatencyChange;

/// Bytes `data` takes after gzip at its default level.
pub fn gzip_len(data: &[u8]) -> u64 {
    struct Count(u64);
    impl Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut enc = flate2::write::GzEncoder::new(Count(0), flate2::Compression::default());
    // Writing to a counter cannot fail.
    let _ = enc.write_all(data);
    enc.finish().map_or(0, |c| c.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_compress_better_than_noise() {
        let mut rng = optimize_data::SplitMix64::new(1);
        let noise: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
        let mut half = noise.clone();
        half[..2048].fill(0);
        let (n, h) = (gzip_len(&noise), gzip_len(&half));
        assert!(n > 3900 && h < n * 6 / 10, "noise {n}, half zeros {h}");
    }
}
