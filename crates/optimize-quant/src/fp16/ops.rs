//! The fp16 pass's view of the operator registry ([`optimize_onnx::ops`]): which slots of an
//! operator carry the float type `T` that turns into float16, since which opset `T` may be
//! float16, and what element types its outputs have, so the pass knows which tensors are
//! float32 without shape inference.
//!
//! Operators the registry gives no float16 facts stay in float32; operators it does not know
//! at all are unknown, and their outputs are typed only from the model's own `value_info`.

use optimize_onnx::ops::{self, Float16};
use optimize_onnx::proto::tensor_proto::DataType;
use optimize_onnx::proto::NodeProto;

pub(crate) use optimize_onnx::ops::{is_float, Slots};

/// `tensor(float)`, the type this pass converts.
pub(crate) const FLOAT: i32 = DataType::Float as i32;
/// `tensor(float16)`.
pub(crate) const FLOAT16: i32 = DataType::Float16 as i32;

/// The float16 facts of a default-domain operator, if it may run in float16.
pub(crate) fn fp16_op(op_type: &str) -> Option<Float16> {
    ops::lookup("", op_type).and_then(|o| o.fp16)
}

/// True for the ONNX default domain (`""` or `"ai.onnx"`).
pub(crate) fn is_default_domain(node: &NodeProto) -> bool {
    ops::is_default_domain(node.domain())
}

/// An integer attribute, if present.
pub(crate) fn attr_i(node: &NodeProto, name: &str) -> Option<i64> {
    optimize_onnx::build::attr(node, name).and_then(|a| a.i)
}

/// Element types of `node`'s outputs given its inputs' (`None` = unknown). Control flow
/// (If/Loop/Scan) is typed by the caller, which can see the bodies.
pub(crate) fn output_types(node: &NodeProto, inputs: &[Option<i32>]) -> Vec<Option<i32>> {
    ops::output_types(node, inputs)
}
