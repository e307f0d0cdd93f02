//! What every pass job reports about the file it produced: input and output sizes, the
//! verification and its verdict, where the model was written (or kept when rejected), and the
//! latency before and after.
//!
//! Each pass's run report embeds one [`Outcome`] flattened (`#[serde(flatten)]`), so these
//! fields sit at the top level of its JSON as they always did, and a pipeline or tracker reads
//! them the same way from any pass.

use crate::compare::LatencyChange;
use crate::policy::{Settled, Verdict};
use crate::verify::Verification;
use serde::Serialize;
use std::path::Path;

/// A file and its size.
#[derive(Debug, Clone, Serialize)]
pub struct FileSize {
    /// Path as given.
    pub path: String,
    /// Bytes, external data included.
    pub bytes: u64,
}

/// The part of a pass's report that is the same for every pass.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The input model and its size (with external data).
    pub input: FileSize,
    /// The output model and its size (with external data), as staged before verification.
    pub output: FileSize,
    /// Output size / input size.
    pub size_ratio: f64,
    /// Verification of the output (absent when verification is off).
    pub verification: Option<Verification>,
    /// Whether the output met its verification policy, and why not.
    pub verdict: Option<Verdict>,
    /// The path the output was written to; absent when verification rejected it.
    pub written: Option<String>,
    /// Where a rejected output was kept, when asked to keep it.
    pub rejected: Option<String>,
    /// Median latency before and after, per runtime.
    pub latency: Vec<LatencyChange>,
    /// Why latency was not measured, when it was not.
    pub latency_skipped: Option<String>,
    /// What the output stores, read off the model that was saved.
    pub stored: Option<Stored>,
}

/// What a written model stores, counted on the model itself (not on what the pass meant to
/// do): its precision in one word, stored tensors by element type, and its quantization nodes.
#[derive(Debug, Clone, Serialize)]
pub struct Stored {
    /// `fp32`, `fp16`, `int8 (QDQ)`, `int8 (weight-only)`, `mixed`... as `optimize inspect` says.
    pub precision: String,
    /// Stored tensors by element type: type, tensors, bytes; largest first.
    pub tensors: Vec<(String, usize, u64)>,
    /// QuantizeLinear/DequantizeLinear and integer operator nodes.
    pub quantization_nodes: usize,
}

impl Stored {
    /// Counts `model` (main graph and subgraphs).
    pub fn of(model: &optimize_onnx::Model) -> Stored {
        let summary = optimize_onnx::Summary::of(model, None);
        Stored {
            precision: summary.precision.summary.clone(),
            tensors: summary
                .parameters
                .by_dtype
                .iter()
                .map(|d| (d.dtype.clone(), d.tensors, d.bytes))
                .collect(),
            quantization_nodes: summary.precision.qdq_nodes + summary.precision.qoperator_nodes,
        }
    }
}

impl Outcome {
    /// Gathers what a job measured and where [`settle`](crate::policy::settle) put its output.
    pub fn new(
        (input, output): (&Path, &Path),
        (input_bytes, output_bytes): (u64, u64),
        (verification, verdict): (Option<Verification>, Option<Verdict>),
        settled: Settled,
        (latency, latency_skipped): (Vec<LatencyChange>, Option<String>),
    ) -> Outcome {
        Outcome {
            input: FileSize {
                path: input.display().to_string(),
                bytes: input_bytes,
            },
            output: FileSize {
                path: output.display().to_string(),
                bytes: output_bytes,
            },
            size_ratio: output_bytes as f64 / input_bytes.max(1) as f64,
            verification,
            verdict,
            written: settled.written.map(|p| p.display().to_string()),
            rejected: settled.rejected.map(|p| p.display().to_string()),
            latency,
            latency_skipped,
            stored: None,
        }
    }

    /// This outcome with what `model`, the model that was saved, stores.
    pub fn with_stored(mut self, model: &optimize_onnx::Model) -> Outcome {
        self.stored = Some(Stored::of(model));
        self
    }

    /// True when the output passed verification (or was not verified) and was written.
    pub fn accepted(&self) -> bool {
        self.written.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn flattened_fields_and_acceptance() {
        let o = Outcome::new(
            (Path::new("in.onnx"), Path::new("out.onnx")),
            (1000, 250),
            (None, None),
            Settled {
                written: Some(PathBuf::from("out.onnx")),
                rejected: None,
            },
            (Vec::new(), Some("not asked for".into())),
        );
        assert!(o.accepted());
        assert_eq!(o.size_ratio, 0.25);
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["output"]["bytes"], 250);
        assert_eq!(json["written"], "out.onnx");
        let rejected = Outcome { written: None, ..o };
        assert!(!rejected.accepted());
        let model = optimize_onnx::Model::load(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/digits-mlp.onnx"),
        )
        .unwrap();
        let stored = rejected.with_stored(&model).stored.unwrap();
        assert_eq!(stored.precision, "fp32");
        assert_eq!(stored.tensors[0].0, "float32");
        assert_eq!(stored.quantization_nodes, 0);
    }
}
