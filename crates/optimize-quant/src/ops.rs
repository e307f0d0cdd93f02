//! What the quantizer knows about each operator, as one table.
//!
//! | op       | activation inputs | weight input (per-channel axis)            | bias | dynamic form | static (QDQ) |
//! |----------|-------------------|--------------------------------------------|------|--------------|--------------|
//! | Conv     | 0                 | 1 (axis 0: `[O, I/g, kh, kw]`)              | 2    | ConvInteger  | yes          |
//! | MatMul   | 0, and 1 if not a weight | 1 (axis rank-1: `[K, N]`)           | –    | MatMulInteger| yes          |
//! | Gemm     | 0                 | 1 (axis 0 if `transB`, else 1)              | 2    | MatMulInteger| yes          |
//!
//! Ops not in this table are never quantized and are listed in the report as unsupported. The
//! table is data, so adding an op is adding a row.

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
