//! Reductions: the Reduce* ops, ArgMax/ArgMin, CumSum, TopK.
//!
//! From opset 18 most Reduce* ops take their axes as an int64 input 1, so only input 0 is `T`.
//! ArgMax/ArgMin and TopK's second output are int64 indices.
use super::Slots::{Float as F, None as N, Only};
use super::{OpInfo, OutputType};
use crate::proto::tensor_proto::DataType;

const INDICES: &[OutputType] = &[OutputType::Is(DataType::Int64)];

/// The rows of this family.
pub(super) const OPS: &[OpInfo] = &[
    OpInfo::op("ArgMax").fp16(1, Only(&[0]), N).outputs(INDICES),
    OpInfo::op("ArgMin").fp16(1, Only(&[0]), N).outputs(INDICES),
    OpInfo::op("CumSum").fp16(14, Only(&[0]), F),
    OpInfo::op("ReduceL1").fp16(1, Only(&[0]), F),
    OpInfo::op("ReduceL2").fp16(1, Only(&[0]), F),
    OpInfo::op("ReduceLogSum").fp16(1, Only(&[0]), F),
    OpInfo::op("ReduceLogSumExp").fp16(1, Only(&[0]), F),
    OpInfo::op("ReduceMax").fp16(1, Only(&[0]), F),
    OpInfo::op("ReduceMean").fp16(1, Only(&[0]), F),
    OpInfo::op("ReduceMin").fp16(1, Only(&[0]), F),
    OpInfo::op("ReduceProd").fp16(1, Only(&[0]), F),
    OpInfo::op("ReduceSum").fp16(1, Only(&[0]), F),
    OpInfo::op("ReduceSumSquare").fp16(1, Only(&[0]), F),
    OpInfo::op("TopK")
        .fp16(1, Only(&[0]), Only(&[0]))
        .outputs(&[OutputType::T, OutputType::Is(DataType::Int64)]),
];
