//! What the fp16 pass knows about each operator: which of its slots carry the float type `T`
//! that turns into float16, and what element types its outputs have.
//!
//! Two tables, both checked against the ONNX 1.23 schemas for opsets 7 to 21
//! (`tests/cases/fp16-ort-kernels/probe.py --schemas` prints the check):
//!
//! - [`FP16_OPS`]: operators that may run in float16. For each, the inputs and outputs that share
//!   the float type parameter (`T`) and the first opset whose schema lets that parameter be
//!   `tensor(float16)`. Slots outside the list keep the type they had (Resize's `scales` is
//!   `tensor(float)` only; Reshape's `shape` is int64).
//! - [`output_types`]: element types of a node's outputs from its inputs and attributes, for
//!   every operator the pass meets, so it knows which tensors are float32 without shape
//!   inference. Operators in neither table are unknown: their outputs are typed only from the
//!   model's own `value_info`, and they stay in float32.

use optimize_onnx::proto::tensor_proto::DataType;
use optimize_onnx::proto::{AttributeProto, NodeProto, TensorProto};

/// `tensor(float)`, the type this pass converts.
pub(crate) const FLOAT: i32 = DataType::Float as i32;
/// `tensor(float16)`.
pub(crate) const FLOAT16: i32 = DataType::Float16 as i32;
const INT64: i32 = DataType::Int64 as i32;
const INT32: i32 = DataType::Int32 as i32;
const BOOL: i32 = DataType::Bool as i32;
const STRING: i32 = DataType::String as i32;

/// True for the element types the converter treats as floating point.
pub(crate) fn is_float(code: i32) -> bool {
    code == FLOAT
        || code == FLOAT16
        || code == DataType::Double as i32
        || code == DataType::Bfloat16 as i32
}

/// Which slots of a node carry the float type parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slots {
    /// Every slot whose element type is floating point (integer slots such as LSTM's
    /// `sequence_lens` or Pow's integer exponent are not `T`).
    Float,
    /// Only these positions.
    Only(&'static [usize]),
    /// None (an output of another type, such as ArgMax's indices).
    None,
}

impl Slots {
    /// Whether position `i`, holding a value of element type `ty`, carries `T`.
    pub(crate) fn has(self, i: usize, ty: Option<i32>) -> bool {
        match self {
            Slots::Float => ty.is_some_and(is_float),
            Slots::Only(list) => list.contains(&i),
            Slots::None => false,
        }
    }
}

/// An operator that may run in float16.
#[derive(Debug)]
pub(crate) struct Fp16Op {
    /// `op_type` in the default ONNX domain.
    pub name: &'static str,
    /// First opset whose schema allows `tensor(float16)` for `T` (the op's first version for most).
    pub since: i64,
    /// Inputs of type `T`.
    pub inputs: Slots,
    /// Outputs of type `T`.
    pub outputs: Slots,
}

const fn op(name: &'static str, since: i64, inputs: Slots, outputs: Slots) -> Fp16Op {
    Fp16Op {
        name,
        since,
        inputs,
        outputs,
    }
}

use Slots::{Float as F, None as N, Only};

/// Operators that may run in float16, with their `T` slots. Sorted by name.
///
/// Not here on purpose (the schema has no float16 for them at any opset up to 21): Range,
/// NonMaxSuppression, Celu. Not here because their output type comes from an attribute or
/// their semantics need care: Cast, CastLike, Constant, ConstantOfShape, EyeLike, the Random*
/// ops, Multinomial, Bernoulli, the window functions, control flow (If, Loop, Scan).
pub(crate) static FP16_OPS: &[Fp16Op] = &[
    op("Abs", 6, F, F),
    op("Acos", 7, F, F),
    op("Acosh", 9, F, F),
    op("Add", 7, F, F),
    op("ArgMax", 1, Only(&[0]), N),
    op("ArgMin", 1, Only(&[0]), N),
    op("Asin", 7, F, F),
    op("Asinh", 9, F, F),
    op("Atan", 7, F, F),
    op("Atanh", 9, F, F),
    op("AveragePool", 7, F, F),
    op("BatchNormalization", 7, F, F),
    op("Ceil", 6, F, F),
    op("Clip", 6, F, F),
    op("Compress", 9, Only(&[0]), F),
    op("Concat", 4, F, F),
    op("Conv", 1, F, F),
    op("ConvTranspose", 1, F, F),
    op("Cos", 7, F, F),
    op("Cosh", 9, F, F),
    op("CumSum", 14, Only(&[0]), F),
    op("DepthToSpace", 1, F, F),
    op("Div", 7, F, F),
    op("Dropout", 7, Only(&[0]), Only(&[0])),
    op("Einsum", 12, F, F),
    op("Elu", 6, F, F),
    op("Equal", 11, F, N),
    op("Erf", 9, F, F),
    op("Exp", 6, F, F),
    op("Expand", 8, Only(&[0]), F),
    op("Flatten", 1, F, F),
    op("Floor", 6, F, F),
    op("GRU", 7, F, F),
    op("Gather", 1, Only(&[0]), F),
    op("GatherElements", 11, Only(&[0]), F),
    op("GatherND", 11, Only(&[0]), F),
    op("Gelu", 20, F, F),
    op("Gemm", 7, F, F),
    op("GlobalAveragePool", 1, F, F),
    op("GlobalLpPool", 2, F, F),
    op("GlobalMaxPool", 1, F, F),
    op("Greater", 7, F, N),
    op("GreaterOrEqual", 12, F, N),
    op("GroupNormalization", 21, F, F),
    op("HardSigmoid", 6, F, F),
    op("HardSwish", 14, F, F),
    op("Hardmax", 1, F, F),
    op("Identity", 1, F, F),
    op("InstanceNormalization", 6, F, F),
    op("LRN", 1, F, F),
    op("LSTM", 7, F, F),
    op("LayerNormalization", 17, F, Only(&[0])),
    op("LeakyRelu", 6, F, F),
    op("Less", 7, F, N),
    op("LessOrEqual", 12, F, N),
    op("Log", 6, F, F),
    op("LogSoftmax", 1, F, F),
    op("LpNormalization", 1, F, F),
    op("LpPool", 2, F, F),
    op("MatMul", 1, F, F),
    op("Max", 6, F, F),
    op("MaxPool", 1, F, Only(&[0])),
    op("Mean", 6, F, F),
    op("MeanVarianceNormalization", 9, F, F),
    op("Min", 6, F, F),
    op("Mish", 18, F, F),
    op("Mod", 10, F, F),
    op("Mul", 7, F, F),
    op("Neg", 6, F, F),
    op("PRelu", 7, F, F),
    op("Pad", 2, Only(&[0, 2]), F),
    op("Pow", 7, F, F),
    op("RNN", 7, F, F),
    op("Reciprocal", 6, F, F),
    op("ReduceL1", 1, Only(&[0]), F),
    op("ReduceL2", 1, Only(&[0]), F),
    op("ReduceLogSum", 1, Only(&[0]), F),
    op("ReduceLogSumExp", 1, Only(&[0]), F),
    op("ReduceMax", 1, Only(&[0]), F),
    op("ReduceMean", 1, Only(&[0]), F),
    op("ReduceMin", 1, Only(&[0]), F),
    op("ReduceProd", 1, Only(&[0]), F),
    op("ReduceSum", 1, Only(&[0]), F),
    op("ReduceSumSquare", 1, Only(&[0]), F),
    op("Relu", 6, F, F),
    op("Reshape", 1, Only(&[0]), F),
    op("Resize", 10, Only(&[0]), F),
    op("ReverseSequence", 10, Only(&[0]), F),
    op("RoiAlign", 10, Only(&[0, 1]), F),
    op("Round", 11, F, F),
    op("ScatterElements", 11, Only(&[0, 2]), F),
    op("ScatterND", 11, Only(&[0, 2]), F),
    op("Selu", 6, F, F),
    op("Shrink", 9, F, F),
    op("Sigmoid", 6, F, F),
    op("Sign", 9, F, F),
    op("Sin", 7, F, F),
    op("Sinh", 9, F, F),
    op("Slice", 1, Only(&[0]), F),
    op("Softmax", 1, F, F),
    op("Softplus", 1, F, F),
    op("Softsign", 1, F, F),
    op("SpaceToDepth", 1, F, F),
    op("Split", 2, Only(&[0]), F),
    op("Sqrt", 6, F, F),
    op("Squeeze", 1, Only(&[0]), F),
    op("Sub", 7, F, F),
    op("Sum", 6, F, F),
    op("Tan", 7, F, F),
    op("Tanh", 6, F, F),
    op("ThresholdedRelu", 10, F, F),
    op("Tile", 6, Only(&[0]), F),
    op("TopK", 1, Only(&[0]), Only(&[0])),
    op("Transpose", 1, F, F),
    op("Trilu", 14, Only(&[0]), F),
    op("Unsqueeze", 1, Only(&[0]), F),
    op("Upsample", 7, Only(&[0]), F),
    op("Where", 9, Only(&[1, 2]), F),
];

/// The entry for a default-domain operator, if it may run in float16.
pub(crate) fn fp16_op(op_type: &str) -> Option<&'static Fp16Op> {
    FP16_OPS
        .binary_search_by(|o| o.name.cmp(op_type))
        .ok()
        .map(|i| &FP16_OPS[i])
}

/// True for the ONNX default domain (`""` or `"ai.onnx"`).
pub(crate) fn is_default_domain(node: &NodeProto) -> bool {
    matches!(node.domain(), "" | "ai.onnx")
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name() == name)
}

/// An integer attribute, if present.
pub(crate) fn attr_i(node: &NodeProto, name: &str) -> Option<i64> {
    attr(node, name).and_then(|a| a.i)
}

/// The element type a `Constant` node produces, from whichever `value*` attribute it has.
fn constant_type(node: &NodeProto) -> Option<i32> {
    let a = node
        .attribute
        .iter()
        .find(|a| a.name().starts_with("value"))?;
    Some(match a.name() {
        "value" => a.t.as_ref()?.data_type?,
        "value_float" | "value_floats" => FLOAT,
        "value_int" | "value_ints" => INT64,
        "value_string" | "value_strings" => STRING,
        "sparse_value" => a.sparse_tensor.as_ref()?.values.as_ref()?.data_type?,
        _ => return None,
    })
}

/// `ConstantOfShape`'s element type: its `value` tensor's, float32 when absent.
fn constant_of_shape_type(node: &NodeProto) -> Option<i32> {
    match attr(node, "value") {
        Some(a) => a.t.as_ref().and_then(|t: &TensorProto| t.data_type),
        None => Some(FLOAT),
    }
}

/// Element types of `node`'s outputs given its inputs' (`None` = unknown). Control flow
/// (If/Loop/Scan) is typed by the caller, which can see the bodies.
pub(crate) fn output_types(node: &NodeProto, inputs: &[Option<i32>]) -> Vec<Option<i32>> {
    let n = node.output.len();
    let all = |t: Option<i32>| vec![t; n];
    let input = |i: usize| inputs.get(i).copied().flatten();
    if !is_default_domain(node) {
        return all(None);
    }
    let op_type = node.op_type();
    if let Some(entry) = fp16_op(op_type) {
        // `T` is the type of the first `T` input whose type is known.
        let t = inputs
            .iter()
            .enumerate()
            .find(|(i, ty)| ty.is_some() && entry.inputs.has(*i, **ty))
            .and_then(|(_, ty)| *ty)
            .or_else(|| match entry.inputs {
                Slots::Float => input(0),
                _ => None,
            });
        return (0..n)
            .map(|i| match (op_type, i) {
                (_, _) if entry.outputs.has(i, t) || matches!(entry.outputs, Slots::Float) => t,
                ("ArgMax" | "ArgMin", _) | ("MaxPool" | "TopK", 1) => Some(INT64),
                ("Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual", _)
                | ("Dropout", 1) => Some(BOOL),
                // Mean and InvStdDev have type U, float32 unless stash_type says otherwise.
                ("LayerNormalization", _) => match attr_i(node, "stash_type") {
                    None | Some(1) => Some(FLOAT),
                    Some(_) => None,
                },
                _ => None,
            })
            .collect();
    }
    match op_type {
        "Cast" => all(attr_i(node, "to").and_then(|t| i32::try_from(t).ok())),
        "Constant" => all(constant_type(node)),
        "ConstantOfShape" => all(constant_of_shape_type(node)),
        "Shape" | "Size" | "NonZero" | "NonMaxSuppression" => all(Some(INT64)),
        "Not" | "And" | "Or" | "Xor" | "IsNaN" | "IsInf" => all(Some(BOOL)),
        "Range" | "BitShift" | "BitwiseAnd" | "BitwiseOr" | "BitwiseXor" | "BitwiseNot"
        | "Celu" => all(input(0)),
        "CastLike" => all(input(1)),
        "Unique" => (0..n)
            .map(|i| if i == 0 { input(0) } else { Some(INT64) })
            .collect(),
        "RandomNormal" | "RandomUniform" => {
            all(Some(attr_i(node, "dtype").map_or(FLOAT, |d| d as i32)))
        }
        "RandomNormalLike" | "RandomUniformLike" | "EyeLike" | "Bernoulli" => {
            all(attr_i(node, "dtype").map(|d| d as i32).or(input(0)))
        }
        "Multinomial" => all(Some(attr_i(node, "dtype").map_or(INT32, |d| d as i32))),
        "HannWindow" | "HammingWindow" | "BlackmanWindow" | "MelWeightMatrix" => all(Some(
            attr_i(node, "output_datatype").map_or(FLOAT, |d| d as i32),
        )),
        _ => all(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        for w in FP16_OPS.windows(2) {
            assert!(w[0].name < w[1].name, "{} >= {}", w[0].name, w[1].name);
        }
        assert!(fp16_op("Conv").is_some());
        assert!(fp16_op("Range").is_none());
    }

    fn node(op: &str, outputs: usize) -> NodeProto {
        NodeProto {
            op_type: Some(op.into()),
            output: (0..outputs).map(|i| format!("o{i}")).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn outputs_follow_t_or_are_fixed() {
        let f = Some(FLOAT);
        assert_eq!(output_types(&node("Add", 1), &[f, f]), vec![Some(FLOAT)]);
        assert_eq!(
            output_types(&node("TopK", 2), &[f, Some(INT64)]),
            vec![f, Some(INT64)]
        );
        assert_eq!(output_types(&node("Less", 1), &[f, f]), vec![Some(BOOL)]);
        assert_eq!(
            output_types(&node("Reshape", 1), &[None, Some(INT64)]),
            vec![None]
        );
        assert_eq!(output_types(&node("Shape", 1), &[None]), vec![Some(INT64)]);
        // An integer Add stays integer.
        assert_eq!(
            output_types(&node("Add", 1), &[Some(INT64), Some(INT64)]),
            vec![Some(INT64)]
        );
        assert_eq!(output_types(&node("MyCustomOp", 1), &[f]), vec![None]);
    }
}
