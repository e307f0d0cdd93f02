//! What a quantization pass did, for people (the CLI's tables) and machines (`--json`).

use serde::Serialize;
use std::collections::BTreeMap;

/// What a pass changed and what it left alone, and why.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QuantReport {
    /// `int8-dynamic`, `int8-static-qdq` or `fp16`.
    pub mode: String,
    /// `Constant` nodes moved into initializers first.
    pub constants_folded: usize,
    /// BatchNormalization nodes, and Adds and Muls of per-channel constants, folded into the
    /// Conv before them (static QDQ, [`optimize_onnx::transform::fold_batch_norms`]), so the
    /// Conv's int8 output is the final one and no float op runs between two integer kernels.
    pub folded_into_convs: usize,
    /// The opset upgrade done first, when the form asked for needs a newer opset (per-channel
    /// `DequantizeLinear` needs 13).
    pub opset_upgrade: Option<optimize_onnx::transform::OpsetUpgrade>,
    /// Anything else a user should know about how the pass went.
    pub notes: Vec<String>,
    /// Nodes quantized, by op type.
    pub quantized: BTreeMap<String, usize>,
    /// Nodes given int8 weights but left with float activations (weight-only), by op type.
    pub weight_only: BTreeMap<String, usize>,
    /// Nodes left float whose weights are stored in float16 (cast to float32 at load), by op
    /// type.
    pub fp16_weights: BTreeMap<String, usize>,
    /// Nodes left float whose weights are stored in int8 and expanded to float32 at load, by op
    /// type.
    pub int8_storage: BTreeMap<String, usize>,
    /// Nodes left in float, by op type and reason.
    pub skipped: Vec<Skipped>,
    /// Weights quantized: how many, and their bytes before and after.
    pub weights: WeightStats,
    /// Weights that held NaN or infinite values: name and count.
    pub non_finite_weights: Vec<(String, u64)>,
    /// Biases corrected for the mean error of their int8 weights (static, `bias_correction`).
    pub bias_corrected: usize,
    /// Activation tensors given a calibrated range (static only).
    pub activations_quantized: usize,
    /// Multiplications and divisions by a positive scalar folded into the dequantization of
    /// their input (static only): HardSwish's `/ 6`, learnable scales.
    #[serde(default)]
    pub scalings_folded: usize,
    /// How the weights integer kernels read are stored (absent: nothing said, older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_type: Option<crate::weights::WeightType>,
    /// Activations whose calibration data held NaN or infinite values: name and count.
    pub non_finite_activations: Vec<(String, u64)>,
}

/// Nodes of one op type skipped for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Op type.
    pub op_type: String,
    /// Why.
    pub reason: String,
    /// How many nodes.
    pub count: usize,
}

/// Weight sizes before and after.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WeightStats {
    /// Weight tensors quantized.
    pub tensors: usize,
    /// Their float32 bytes.
    pub bytes_before: u64,
    /// Their int8 bytes plus scales and zero points.
    pub bytes_after: u64,
}

impl QuantReport {
    /// Records a skipped node.
    pub fn skip(&mut self, op_type: &str, reason: impl Into<String>) {
        let reason = reason.into();
        match self
            .skipped
            .iter_mut()
            .find(|s| s.op_type == op_type && s.reason == reason)
        {
            Some(s) => s.count += 1,
            None => self.skipped.push(Skipped {
                op_type: op_type.to_string(),
                reason,
                count: 1,
            }),
        }
    }

    /// Records a quantized node.
    pub fn quantized(&mut self, op_type: &str) {
        *self.quantized.entry(op_type.to_string()).or_default() += 1;
    }

    /// Total nodes quantized.
    pub fn nodes_quantized(&self) -> usize {
        self.quantized.values().sum()
    }

    /// Counts a float32 weight of `elements` values now stored in int8 with `scales` float
    /// scales.
    pub(crate) fn count_stored_weight(&mut self, elements: usize, scales: usize) {
        self.weights.tensors += 1;
        self.weights.bytes_before += elements as u64 * 4;
        self.weights.bytes_after += elements as u64 + scales as u64 * 4;
    }
}

/// Everything one `optimize quantize` run did, as `--json` prints it.
///
/// Schema `optimize.quantize/1`: fields are only ever added; a breaking change bumps the schema.
/// Sizes are bytes, times milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Always `optimize.quantize/1`.
    pub schema: &'static str,
    /// Sizes, verification, verdict, where the output went, latency before and after (their
    /// fields sit at the top level of the JSON).
    #[serde(flatten)]
    pub outcome: optimize_bench::Outcome,
    /// What the int8 pass did (absent for fp16).
    pub quantization: Option<QuantReport>,
    /// What the fp16 pass did (absent for int8).
    pub fp16: Option<crate::fp16::Fp16Report>,
    /// The fp16 activation-overflow check: samples run, activations kept float32.
    pub fp16_overflow: Option<crate::Fp16Overflow>,
    /// Why the fp16 overflow check could not run, when it could not.
    pub fp16_overflow_skipped: Option<String>,
    /// What the fp16 overflow check ran the float32 model on: the data's samples and seeded
    /// inputs spread like them, or seeded inputs alone when no data was given.
    pub fp16_overflow_data: Option<String>,
    /// What ONNX Runtime runs of the int8 output once it has optimized it: fused integer
    /// kernels, Q/DQ left standing, float convolutions (measured when verifying).
    pub ort_runs: Option<optimize_bench::ort_graph::OrtGraph>,
    /// Calibration, for static int8.
    pub calibration: Option<CalibrationSummary>,
    /// Wall time of each phase, in order.
    pub timings_ms: Vec<(String, f64)>,
    /// What `--auto` tried and chose.
    pub auto: Option<crate::auto::AutoReport>,
}

/// How calibration went.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationSummary {
    /// The data.
    pub data: String,
    /// `minmax`, `percentile=99.999`, ...
    pub method: String,
    /// Samples calibrated on.
    pub samples: usize,
    /// Samples held out for verification.
    pub held_out: usize,
    /// Runtime that ran the model (and why, if it fell back).
    pub backend: String,
    /// Activation tensors observed.
    pub tensors: usize,
    /// Tensors that never held a finite value (left unquantized).
    pub empty: Vec<String>,
}
