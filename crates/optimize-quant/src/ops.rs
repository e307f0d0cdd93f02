//! What the quantizer knows about each operator, as one table.
//!
//! | op       | activation inputs | weight input (per-channel axis)            | bias | dynamic form | static (QDQ) |
//! |----------|-------------------|--------------------------------------------|------|--------------|--------------|
//! | Conv     | 0                 | 1 (axis 0: `[O, I/g, kh, kw]`)              | 2    | ConvInteger  | yes          |
//! | MatMul   | 0, and 1 if not a weight | 1 (axis rank-1: `[K, N]`)           | –    | MatMulInteger| yes          |
//! | Gemm     | 0                 | 1 (axis 0 if `transB`, else 1)              | 2    | MatMulInteger| yes          |
//!
//! Static QDQ also carries quantization through ops without weights, so ONNX Runtime can keep
//! the data in int8 between the ops above instead of converting back to float:
//!
//! | op | inputs that must already be quantized | output scale |
//! |----|----|----|
//! | MaxPool, Flatten, Reshape, Transpose, Squeeze, Unsqueeze | 0 | the input's (pass-through) |
//! | Add, Mul | 0, 1 | calibrated (`QLinearAdd`/`QLinearMul`) |
//! | Concat | all | calibrated (`QLinearConcat`) |
//! | GlobalAveragePool, AveragePool, Sigmoid | 0 | calibrated |
//!
//! They are quantized only when every listed input is an activation the pass already quantizes
//! (never a constant), so a transformer's bias Adds and LayerNorm-fed Adds stay float.
//!
//! Ops not in these tables are never quantized and are listed in the report as unsupported. The
//! tables are data, so adding an op is adding a row.

use optimize_onnx::build::attr_i;
use optimize_onnx::proto::NodeProto;

/// The quantizer's rule for one operator.
#[derive(Debug, Clone, Copy)]
pub struct OpRule {
    /// ONNX op type (default domain).
    pub op_type: &'static str,
    /// The input that holds the weight, if the op has one.
    pub weight_input: Option<usize>,
    /// The input that holds the bias, quantized to int32 in QDQ form.
    pub bias_input: Option<usize>,
    /// Per-channel axis of the weight, given the node and the weight's rank.
    pub channel_axis: fn(&NodeProto, usize) -> usize,
}

fn axis_zero(_: &NodeProto, _: usize) -> usize {
    0
}

fn axis_last(_: &NodeProto, rank: usize) -> usize {
    rank.saturating_sub(1)
}

fn gemm_axis(node: &NodeProto, _: usize) -> usize {
    if attr_i(node, "transB", 0) != 0 {
        0
    } else {
        1
    }
}

const RULES: &[OpRule] = &[
    OpRule {
        op_type: "Conv",
        weight_input: Some(1),
        bias_input: Some(2),
        channel_axis: axis_zero,
    },
    OpRule {
        op_type: "MatMul",
        weight_input: Some(1),
        bias_input: None,
        channel_axis: axis_last,
    },
    OpRule {
        op_type: "Gemm",
        weight_input: Some(1),
        bias_input: Some(2),
        channel_axis: gemm_axis,
    },
];

/// The rule for `node`, if the quantizer handles its op type.
pub fn rule(node: &NodeProto) -> Option<&'static OpRule> {
    if !node.domain().is_empty() && node.domain() != "ai.onnx" {
        return None;
    }
    RULES.iter().find(|r| r.op_type == node.op_type())
}

/// Op types with a rule, for `--help` and reports.
pub fn supported() -> impl Iterator<Item = &'static str> {
    RULES.iter().map(|r| r.op_type)
}

/// How static QDQ treats an op without weights whose inputs are already quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationOp {
    /// The output reuses input 0's scale and zero point (data movement and max: int8 in, the
    /// same int8 out).
    PassThrough,
    /// The output gets its own calibrated range; `all_inputs` means every input must be
    /// quantized, otherwise inputs 0 and 1 (for binary ops) or 0.
    Calibrated {
        /// How many leading inputs must be quantized (`usize::MAX` for all).
        inputs: usize,
    },
}

const ACTIVATION_OPS: &[(&str, ActivationOp)] = &[
    ("MaxPool", ActivationOp::PassThrough),
    ("Flatten", ActivationOp::PassThrough),
    ("Reshape", ActivationOp::PassThrough),
    ("Transpose", ActivationOp::PassThrough),
    ("Squeeze", ActivationOp::PassThrough),
    ("Unsqueeze", ActivationOp::PassThrough),
    ("Add", ActivationOp::Calibrated { inputs: 2 }),
    ("Mul", ActivationOp::Calibrated { inputs: 2 }),
    ("Concat", ActivationOp::Calibrated { inputs: usize::MAX }),
    ("GlobalAveragePool", ActivationOp::Calibrated { inputs: 1 }),
    ("AveragePool", ActivationOp::Calibrated { inputs: 1 }),
    ("Sigmoid", ActivationOp::Calibrated { inputs: 1 }),
];

/// How static QDQ treats `node` if it is an op without weights it can carry int8 through.
pub fn activation_op(node: &NodeProto) -> Option<ActivationOp> {
    if !node.domain().is_empty() && node.domain() != "ai.onnx" {
        return None;
    }
    // A MaxPool that also outputs indices is left alone.
    if node.output.len() != 1 {
        return None;
    }
    ACTIVATION_OPS
        .iter()
        .find(|(op, _)| *op == node.op_type())
        .map(|(_, kind)| *kind)
}

/// The inputs of `node` that must already be quantized for [`activation_op`]'s form.
pub fn quantized_inputs(node: &NodeProto, kind: ActivationOp) -> &[String] {
    let n = match kind {
        ActivationOp::PassThrough => 1,
        ActivationOp::Calibrated { inputs } => inputs,
    };
    &node.input[..n.min(node.input.len())]
}
