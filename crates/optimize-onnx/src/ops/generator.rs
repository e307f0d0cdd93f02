//! Ops that make values rather than compute on `T`: Cast, Constant, the random and window
//! generators, Range.
//!
//! None runs in float16 through the converter: their output type comes from an attribute or
//! their semantics need care (a Cast to float32 is the converter's own tool). Their output
//! types are known, so the converter can tell which tensors are float32 without shape
//! inference.

use super::OpInfo;
use super::OutputType::{self, Attr, Input, Is, Rule, Unknown};
use crate::proto::tensor_proto::DataType;
use crate::proto::{NodeProto, TensorProto};

const FLOAT: OutputType = Is(DataType::Float);

/// The element type a `Constant` node produces, from whichever `value*` attribute it has.
fn constant_type(node: &NodeProto) -> Option<i32> {
    let a = node
        .attribute
        .iter()
        .find(|a| a.name().starts_with("value"))?;
    Some(match a.name() {
        "value" => a.t.as_ref()?.data_type?,
        "value_float" | "value_floats" => DataType::Float as i32,
        "value_int" | "value_ints" => DataType::Int64 as i32,
        "value_string" | "value_strings" => DataType::String as i32,
        "sparse_value" => a.sparse_tensor.as_ref()?.values.as_ref()?.data_type?,
        _ => return None,
    })
}

/// `ConstantOfShape`'s element type: its `value` tensor's, float32 when absent.
fn constant_of_shape_type(node: &NodeProto) -> Option<i32> {
    match crate::build::attr(node, "value") {
        Some(a) => a.t.as_ref().and_then(|t: &TensorProto| t.data_type),
        None => Some(DataType::Float as i32),
    }
}

/// The rows of this family.
pub(super) const OPS: &[OpInfo] = &[
    OpInfo::op("Bernoulli").outputs(&[Attr("dtype", &Input(0))]),
    OpInfo::op("BlackmanWindow").outputs(&[Attr("output_datatype", &FLOAT)]),
    OpInfo::op("Cast").outputs(&[Attr("to", &Unknown)]),
    OpInfo::op("CastLike").outputs(&[Input(1)]),
    OpInfo::op("Constant").outputs(&[Rule("the `value*` attribute's", constant_type)]),
    OpInfo::op("ConstantOfShape")
        .outputs(&[Rule("`value`'s, else float32", constant_of_shape_type)]),
    OpInfo::op("EyeLike").outputs(&[Attr("dtype", &Input(0))]),
    OpInfo::op("HammingWindow").outputs(&[Attr("output_datatype", &FLOAT)]),
    OpInfo::op("HannWindow").outputs(&[Attr("output_datatype", &FLOAT)]),
    OpInfo::op("MelWeightMatrix").outputs(&[Attr("output_datatype", &FLOAT)]),
    OpInfo::op("Multinomial").outputs(&[Attr("dtype", &Is(DataType::Int32))]),
    OpInfo::op("RandomNormal").outputs(&[Attr("dtype", &FLOAT)]),
    OpInfo::op("RandomNormalLike").outputs(&[Attr("dtype", &Input(0))]),
    OpInfo::op("RandomUniform").outputs(&[Attr("dtype", &FLOAT)]),
    OpInfo::op("RandomUniformLike").outputs(&[Attr("dtype", &Input(0))]),
    // The schema has no float16 for Range at any opset up to 21.
    OpInfo::op("Range").outputs(&[Input(0)]),
];
