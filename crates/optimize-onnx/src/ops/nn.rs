//! Neural-network layers: convolution, normalization, pooling, dropout, detection.
//!
//! Conv and ConvTranspose are the weighted ops here. Conv stores its weight `[O, I/group, k...]`
//! (output channels first); ConvTranspose stores it `[I, O/group, k...]`, so its output channels
//! are on axis 1 and its input channels on axis 0 (ONNX `ConvTranspose`, input `W`). Both take
//! a 1-D to 3-D kernel, so the weight has rank 3 to 5.

use super::Axis::Fixed;
use super::Slots::{Float as F, Only};
use super::{Import, IntegerForm, OpInfo, OutputType, QuantRole, Weight};
use crate::proto::tensor_proto::DataType;
use crate::proto::NodeProto;

const CONV: Weight = Weight {
    input: 1,
    layout: "`[O, I/group, k...]`",
    bias: Some(2),
    out_axis: Fixed(0),
    in_axis: Fixed(1),
    ranks: 3..=5,
};

const CONV_TRANSPOSE: Weight = Weight {
    input: 1,
    layout: "`[I, O/group, k...]`",
    bias: Some(2),
    out_axis: Fixed(1),
    in_axis: Fixed(0),
    ranks: 3..=5,
};

/// LayerNormalization's Mean and InvStdDev have type `U`: float32 unless `stash_type` names
/// another type.
fn stash_type(node: &NodeProto) -> Option<i32> {
    match crate::build::attr(node, "stash_type").and_then(|a| a.i) {
        None | Some(1) => Some(DataType::Float as i32),
        Some(_) => None,
    }
}

/// The rows of this family.
pub(super) const OPS: &[OpInfo] = &[
    OpInfo::op("AveragePool")
        .fp16(7, F, F)
        .quant(QuantRole::Calibrated { inputs: 1 }, "QLinearAveragePool")
        .import(Import::Layer("AvgPool2d")),
    OpInfo::op("BatchNormalization")
        .fp16(7, F, F)
        .import(Import::Layer("BatchNorm")),
    OpInfo::op("Conv")
        .fp16(1, F, F)
        .weight(CONV)
        .quant(
            QuantRole::Weighted(IntegerForm::ConvInteger),
            "static: QLinearConv; dynamic: weight stored int8 (ConvInteger runs 4-6x slower)",
        )
        .prune()
        .import(Import::Layer("Conv2d")),
    OpInfo::op("ConvTranspose")
        .fp16(1, F, F)
        .weight(CONV_TRANSPOSE)
        .prune(),
    OpInfo::op("Dropout")
        .fp16(7, Only(&[0]), Only(&[0]))
        .outputs(&[OutputType::T, OutputType::Is(DataType::Bool)])
        .import(Import::Dropped),
    OpInfo::op("GlobalAveragePool").fp16(1, F, F).quant(
        QuantRole::Calibrated { inputs: 1 },
        "QLinearGlobalAveragePool",
    ),
    OpInfo::op("GlobalLpPool").fp16(2, F, F),
    OpInfo::op("GlobalMaxPool").fp16(1, F, F),
    OpInfo::op("GroupNormalization").fp16(21, F, F),
    OpInfo::op("InstanceNormalization").fp16(6, F, F),
    OpInfo::op("LRN").fp16(1, F, F),
    OpInfo::op("LayerNormalization")
        .fp16(17, F, Only(&[0]))
        .outputs(&[
            OutputType::T,
            OutputType::Rule("float32 unless `stash_type` says otherwise", stash_type),
        ]),
    OpInfo::op("LpNormalization").fp16(1, F, F),
    OpInfo::op("LpPool").fp16(2, F, F),
    OpInfo::op("MaxPool")
        .fp16(1, F, Only(&[0]))
        .outputs(&[OutputType::T, OutputType::Is(DataType::Int64)])
        .quant(
            QuantRole::PassThrough,
            "max of int8 values: the Q/DQ pair is dropped",
        )
        .import(Import::Layer("MaxPool2d")),
    OpInfo::op("MeanVarianceNormalization").fp16(9, F, F),
    // The schema has no float16 for NonMaxSuppression at any opset up to 21.
    OpInfo::op("NonMaxSuppression").outputs(&[OutputType::Is(DataType::Int64)]),
    OpInfo::op("RoiAlign").fp16(10, Only(&[0, 1]), F),
];
