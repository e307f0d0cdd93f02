//! Activations: Relu and its relatives, Sigmoid, Softmax, Gelu, ...
//!
//! All are elementwise over `T` (Softmax, LogSoftmax and Hardmax along an axis). Celu has no
//! float16 form at any opset up to 21, so only its output type is known.
use super::Slots::Float as F;
use super::{Import, OpInfo, OutputType, QuantRole};

/// The rows of this family.
pub(super) const OPS: &[OpInfo] = &[
    OpInfo::op("Celu").outputs(&[OutputType::Input(0)]),
    OpInfo::op("Elu").fp16(6, F, F),
    OpInfo::op("Gelu")
        .fp16(20, F, F)
        .import(Import::Layer("Gelu")),
    OpInfo::op("HardSigmoid").fp16(6, F, F).quant(
        QuantRole::Calibrated { inputs: 1 },
        "no integer kernel: float on its small squeeze-excitation tensor, quantized after so the Mul it scales by runs as QLinearMul",
    ),
    OpInfo::op("HardSwish").fp16(14, F, F).quant(
        QuantRole::Calibrated { inputs: 1 },
        "no integer kernel: float between DQ and Q, quantized after so the ops it feeds stay int8",
    ),
    OpInfo::op("Hardmax").fp16(1, F, F),
    OpInfo::op("LeakyRelu")
        .fp16(6, F, F)
        .quant(QuantRole::Calibrated { inputs: 1 }, "QLinearLeakyRelu"),
    OpInfo::op("LogSoftmax").fp16(1, F, F),
    OpInfo::op("Mish").fp16(18, F, F),
    OpInfo::op("PRelu").fp16(7, F, F),
    OpInfo::op("Relu")
        .fp16(6, F, F)
        .quant(QuantRole::Folded, "folded into the Q before it (uint8 from 0 clamps)")
        .import(Import::Layer("Relu")),
    OpInfo::op("Selu").fp16(6, F, F),
    OpInfo::op("Shrink").fp16(9, F, F),
    OpInfo::op("Sigmoid")
        .fp16(6, F, F)
        .quant(QuantRole::Calibrated { inputs: 1 }, "QLinearSigmoid"),
    OpInfo::op("Softmax").fp16(1, F, F),
    OpInfo::op("Softplus").fp16(1, F, F),
    OpInfo::op("Softsign").fp16(1, F, F),
    OpInfo::op("ThresholdedRelu").fp16(10, F, F),
];
