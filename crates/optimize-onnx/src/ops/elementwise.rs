//! Elementwise ops: math, comparison, logic, bitwise.
//!
//! Comparisons read `T` and output bool; logic ops (`Not`, `And`, ..., `IsNaN`, `IsInf`) output
//! bool and bitwise ops keep their integer input's type, so neither family has a float16 form.
use super::Slots::{Float as F, None as N, Only};
use super::{Import, OpInfo, OutputType, QuantRole};
use crate::proto::tensor_proto::DataType;

const BOOL: &[OutputType] = &[OutputType::Is(DataType::Bool)];
const SAME: &[OutputType] = &[OutputType::Input(0)];

/// The rows of this family.
pub(super) const OPS: &[OpInfo] = &[
    OpInfo::op("Abs").fp16(6, F, F),
    OpInfo::op("Acos").fp16(7, F, F),
    OpInfo::op("Acosh").fp16(9, F, F),
    OpInfo::op("Add")
        .fp16(7, F, F)
        .quant(
            QuantRole::Calibrated { inputs: 2 },
            "QLinearAdd (residuals; a constant addend is quantized)",
        )
        .import(Import::Bias),
    OpInfo::op("And").outputs(BOOL),
    OpInfo::op("Asin").fp16(7, F, F),
    OpInfo::op("Asinh").fp16(9, F, F),
    OpInfo::op("Atan").fp16(7, F, F),
    OpInfo::op("Atanh").fp16(9, F, F),
    OpInfo::op("BitShift").outputs(SAME),
    OpInfo::op("BitwiseAnd").outputs(SAME),
    OpInfo::op("BitwiseNot").outputs(SAME),
    OpInfo::op("BitwiseOr").outputs(SAME),
    OpInfo::op("BitwiseXor").outputs(SAME),
    OpInfo::op("Ceil").fp16(6, F, F),
    OpInfo::op("Clip").fp16(6, F, F).quant(
        QuantRole::Folded,
        "with a constant minimum of 0 (Relu6): folded into the Q before it",
    ),
    OpInfo::op("Cos").fp16(7, F, F),
    OpInfo::op("Cosh").fp16(9, F, F),
    OpInfo::op("Div").fp16(7, F, F).quant(
        QuantRole::DivideByConstant,
        "no integer Div: by a constant, written as a Mul by its reciprocal (QLinearMul)",
    ),
    OpInfo::op("Equal").fp16(11, F, N).outputs(BOOL),
    OpInfo::op("Erf").fp16(9, F, F),
    OpInfo::op("Exp").fp16(6, F, F),
    OpInfo::op("Floor").fp16(6, F, F),
    OpInfo::op("Greater").fp16(7, F, N).outputs(BOOL),
    OpInfo::op("GreaterOrEqual").fp16(12, F, N).outputs(BOOL),
    OpInfo::op("IsInf").outputs(BOOL),
    OpInfo::op("IsNaN").outputs(BOOL),
    OpInfo::op("Less").fp16(7, F, N).outputs(BOOL),
    OpInfo::op("LessOrEqual").fp16(12, F, N).outputs(BOOL),
    OpInfo::op("Log").fp16(6, F, F),
    OpInfo::op("Max").fp16(6, F, F),
    OpInfo::op("Mean").fp16(6, F, F),
    OpInfo::op("Min").fp16(6, F, F),
    OpInfo::op("Mod").fp16(10, F, F),
    OpInfo::op("Mul").fp16(7, F, F).quant(
        QuantRole::Calibrated { inputs: 2 },
        "QLinearMul (squeeze-excitation, HardSwish as x·relu6(x+3))",
    ),
    OpInfo::op("Neg").fp16(6, F, F),
    OpInfo::op("Not").outputs(BOOL),
    OpInfo::op("Or").outputs(BOOL),
    OpInfo::op("Pow").fp16(7, F, F),
    OpInfo::op("Reciprocal").fp16(6, F, F),
    OpInfo::op("Round").fp16(11, F, F),
    OpInfo::op("Sign").fp16(9, F, F),
    OpInfo::op("Sin").fp16(7, F, F),
    OpInfo::op("Sinh").fp16(9, F, F),
    OpInfo::op("Sqrt").fp16(6, F, F),
    OpInfo::op("Sub").fp16(7, F, F),
    OpInfo::op("Sum").fp16(6, F, F),
    OpInfo::op("Tan").fp16(7, F, F),
    OpInfo::op("Tanh").fp16(6, F, F),
    OpInfo::op("Where").fp16(9, Only(&[1, 2]), F),
    OpInfo::op("Xor").outputs(BOOL),
];
