//! Data movement and indexing: reshapes, transposes, concatenation, slicing, gathering,
//! padding, resizing, and the shape queries.
//!
//! These ops copy values of `T` without computing on them; their index, shape and size inputs
//! are integers and stay so. Static QDQ carries int8 through the pure reshapes and Resize (the
//! output reuses the input's scale), and gives Concat's output its own calibrated range.
use super::Slots::{Float as F, Only};
use super::{Import, OpInfo, OutputType, QuantRole};
use crate::proto::tensor_proto::DataType;

const INT64: &[OutputType] = &[OutputType::Is(DataType::Int64)];
/// Why the pure data movers carry int8 with their input's scale.
const MOVES: &str = "moves int8 values: the Q/DQ pair is dropped";

/// The rows of this family.
pub(super) const OPS: &[OpInfo] = &[
    OpInfo::op("Compress").fp16(9, Only(&[0]), F),
    OpInfo::op("Concat").fp16(4, F, F).quant(
        QuantRole::Calibrated { inputs: usize::MAX },
        "QLinearConcat",
    ),
    OpInfo::op("DepthToSpace").fp16(1, F, F),
    OpInfo::op("Expand").fp16(8, Only(&[0]), F),
    OpInfo::op("Flatten")
        .fp16(1, F, F)
        .quant(QuantRole::PassThrough, MOVES)
        .import(Import::Layer("Flatten")),
    OpInfo::op("Gather").fp16(1, Only(&[0]), F),
    OpInfo::op("GatherElements").fp16(11, Only(&[0]), F),
    OpInfo::op("GatherND").fp16(11, Only(&[0]), F),
    OpInfo::op("Identity").fp16(1, F, F).import(Import::Dropped),
    OpInfo::op("NonZero").outputs(INT64),
    OpInfo::op("Pad").fp16(2, Only(&[0, 2]), F),
    OpInfo::op("Reshape")
        .fp16(1, Only(&[0]), F)
        .quant(QuantRole::PassThrough, MOVES)
        .import(Import::Layer("Flatten")),
    OpInfo::op("Resize").fp16(10, Only(&[0]), F).quant(
        QuantRole::PassThrough,
        "picks or blends input values: same scale, the Q/DQ pair is dropped",
    ),
    OpInfo::op("ReverseSequence").fp16(10, Only(&[0]), F),
    OpInfo::op("ScatterElements").fp16(11, Only(&[0, 2]), F),
    OpInfo::op("ScatterND").fp16(11, Only(&[0, 2]), F),
    OpInfo::op("Shape").outputs(INT64),
    OpInfo::op("Size").outputs(INT64),
    OpInfo::op("Slice").fp16(1, Only(&[0]), F),
    OpInfo::op("SpaceToDepth").fp16(1, F, F),
    OpInfo::op("Split").fp16(2, Only(&[0]), F),
    OpInfo::op("Squeeze")
        .fp16(1, Only(&[0]), F)
        .quant(QuantRole::PassThrough, MOVES),
    OpInfo::op("Tile").fp16(6, Only(&[0]), F),
    OpInfo::op("Transpose")
        .fp16(1, F, F)
        .quant(QuantRole::PassThrough, MOVES),
    OpInfo::op("Trilu").fp16(14, Only(&[0]), F),
    OpInfo::op("Unique").outputs(&[OutputType::Input(0), OutputType::Is(DataType::Int64)]),
    OpInfo::op("Unsqueeze")
        .fp16(1, Only(&[0]), F)
        .quant(QuantRole::PassThrough, MOVES),
    OpInfo::op("Upsample").fp16(7, Only(&[0]), F),
];
