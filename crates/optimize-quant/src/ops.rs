//! The quantizer's view of the operator registry ([`optimize_onnx::ops`], whose module doc has
//! the table: weight and bias inputs, per-channel axis, dynamic integer form, static QDQ role).
//!
//! Weighted ops (Conv, MatMul, Gemm) get int8 weights; dynamic quantization rewrites them into
//! `ConvInteger`/`MatMulInteger`. Static QDQ also carries quantization through ops without
//! weights, so ONNX Runtime can keep the data in int8 between the weighted ops instead of
//! converting back to float: pass-through ops (MaxPool, Flatten, Reshape, Transpose, Squeeze,
//! Unsqueeze) reuse their input's scale, calibrated ones (Add, Mul, Concat, GlobalAveragePool,
//! AveragePool, Sigmoid) get their own range (`QLinearAdd`, `QLinearConcat`, ...).
//!
//! Ops without weights are quantized only when every input their role lists is an activation
//! the pass already quantizes or a scalar float constant, and at least one is an activation,
//! so a transformer's bias and LayerNorm-fed Adds stay float while HardSwish's `x + 3` runs as
//! `QLinearAdd`.
//! A Div by a constant becomes a Mul by its reciprocal (ONNX Runtime has no integer Div). Ops the registry gives no quantization role are never
//! quantized and are listed in the report as unsupported.

use optimize_onnx::ops::{self, OpInfo, QuantRole};
use optimize_onnx::proto::NodeProto;

/// The registry entry for `node`, if the quantizer quantizes its weight.
pub fn rule(node: &NodeProto) -> Option<&'static OpInfo> {
    ops::of(node).filter(|o| matches!(o.quant, QuantRole::Weighted(_)) && o.weight.is_some())
}

/// The per-channel axis of `rule`'s weight in `node`, whose weight has `rank` axes: the axis of
/// output channels.
pub fn channel_axis(rule: &OpInfo, node: &NodeProto, rank: usize) -> usize {
    rule.weight
        .as_ref()
        .map_or(0, |w| w.out_axis.of(node, rank))
}

/// Op types whose weights the quantizer quantizes, for `--help` and reports.
pub fn supported() -> impl Iterator<Item = &'static str> {
    ops::all()
        .filter(|o| matches!(o.quant, QuantRole::Weighted(_)))
        .map(|o| o.op_type)
}

/// How static QDQ treats `node` if it is an op without weights it can carry int8 through:
/// [`QuantRole::PassThrough`], [`QuantRole::Calibrated`] or [`QuantRole::DivideByConstant`].
pub fn activation_op(node: &NodeProto) -> Option<QuantRole> {
    // A MaxPool that also outputs indices is left alone.
    if node.output.len() != 1 {
        return None;
    }
    ops::of(node).map(|o| o.quant).filter(|q| {
        matches!(
            q,
            QuantRole::PassThrough | QuantRole::Calibrated { .. } | QuantRole::DivideByConstant
        )
    })
}

/// The quantization role the registry gives `node` (default domain only).
pub fn activation_role(node: &NodeProto) -> Option<QuantRole> {
    ops::of(node).map(|o| o.quant)
}

/// The inputs of `node` that must be quantized (or, for [`QuantRole::Calibrated`], float
/// constants) for [`activation_op`]'s form.
pub fn quantized_inputs(node: &NodeProto, kind: QuantRole) -> &[String] {
    let n = match kind {
        QuantRole::Calibrated { inputs } => inputs,
        _ => 1,
    };
    &node.input[..n.min(node.input.len())]
}
