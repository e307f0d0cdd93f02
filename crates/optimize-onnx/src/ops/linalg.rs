//! Linear algebra: MatMul, Gemm, Einsum.
//!
//! Gemm computes `alpha * A' * B' + beta * C` with `B' = B` stored `[K, N]`, or `Bᵀ` stored
//! `[N, K]` when `transB` is set, so its output-channel axis is 1, or 0 with `transB` (ONNX
//! `Gemm`). MatMul follows numpy: a weight `[..., K, N]` has its output channels on the last
//! axis and its reduction axis second to last; a layer's weight is 2-D.

use super::Axis::{FromEnd, IfAttr};
use super::Slots::Float as F;
use super::{Import, IntegerForm, OpInfo, QuantRole, Weight};

const GEMM: Weight = Weight {
    input: 1,
    layout: "`[N, K]` if `transB`, else `[K, N]`",
    bias: Some(2),
    out_axis: IfAttr {
        attr: "transB",
        set: 0,
        unset: 1,
    },
    in_axis: IfAttr {
        attr: "transB",
        set: 1,
        unset: 0,
    },
    ranks: 2..=2,
};

const MATMUL: Weight = Weight {
    input: 1,
    layout: "`[K, N]`",
    bias: None,
    out_axis: FromEnd(1),
    in_axis: FromEnd(2),
    ranks: 2..=2,
};

/// The rows of this family.
pub(super) const OPS: &[OpInfo] = &[
    OpInfo::op("Einsum").fp16(12, F, F),
    OpInfo::op("Gemm")
        .fp16(7, F, F)
        .weight(GEMM)
        .quant(
            QuantRole::Weighted(IntegerForm::MatMulInteger),
            "static: QGemm; dynamic: MatMulInteger",
        )
        .prune()
        .import(Import::Layer("Linear")),
    OpInfo::op("MatMul")
        .fp16(1, F, F)
        .weight(MATMUL)
        .quant(
            QuantRole::Weighted(IntegerForm::MatMulInteger),
            "static: QLinearMatMul; dynamic: MatMulInteger (DynamicQuantizeMatMul)",
        )
        .prune()
        .import(Import::Layer("Linear")),
];
