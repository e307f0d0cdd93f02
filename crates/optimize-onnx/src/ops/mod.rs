//! What the passes know about each ONNX operator, as one registry filled per op family.
//!
//! Every pass that treats operators differently reads its facts here: the quantizer (which input
//! is the weight, its per-channel axis, the dynamic integer form, how static QDQ carries int8
//! through ops without weights), the float16 converter (which slots carry the float type `T`,
//! since which opset `T` may be float16, what element types the outputs have), the pruner (which
//! axes of the weight hold output and input channels, which ranks a layer's weight has) and the
//! distillation import (which ops become a candle student layer). What a pass *decides* from
//! these facts (its thresholds, its pattern matching over chains) stays in the pass.
//!
//! The rows live in one file per family: [`nn`] (convolution, normalization, pooling, dropout,
//! detection), [`rnn`], [`linalg`] (MatMul, Gemm, Einsum), [`activation`], [`elementwise`]
//! (math, comparison, logic, bitwise), [`reduce`], [`shape`] (data movement, indexing) and
//! [`generator`] (Cast, Constant, random and window ops). An op in no file is unknown: every
//! pass leaves it untouched (and lists it in its report), and its outputs are typed only from
//! the model's own `value_info`. Only the default domain (`""`, also spelled `ai.onnx`) has
//! entries; [`lookup`] answers `None` for any other domain.
//!
//! The ops with a role beyond their float16 and type facts (checked against the registry by a
//! unit test):
//!
//! | op | weight input (layout) | output axis | input axis | bias | weight ranks | quantize | prune | distill import |
//! |----|----|----|----|----|----|----|----|----|
//! | Add | – | – | – | – | – | QDQ, calibrated (inputs 0, 1) | – | bias of the MatMul before it |
//! | AveragePool | – | – | – | – | – | QDQ, calibrated (input 0) | – | `AvgPool2d` |
//! | BatchNormalization | – | – | – | – | – | – | – | `BatchNorm` |
//! | Clip | – | – | – | – | – | QDQ, folded into the Q before it | – | – |
//! | Concat | – | – | – | – | – | QDQ, calibrated (all inputs) | – | – |
//! | Conv | 1 (`[O, I/group, k...]`) | 0 | 1 | 2 | 3–5 | weight, dynamic `ConvInteger` | yes | `Conv2d` |
//! | ConvTranspose | 1 (`[I, O/group, k...]`) | 1 | 0 | 2 | 3–5 | – | yes | – |
//! | Div | – | – | – | – | – | QDQ, by a constant: Mul by its reciprocal | – | – |
//! | Dropout | – | – | – | – | – | – | – | dropped |
//! | Flatten | – | – | – | – | – | QDQ pass-through | – | `Flatten` |
//! | Gelu | – | – | – | – | – | – | – | `Gelu` |
//! | Gemm | 1 (`[N, K]` if `transB`, else `[K, N]`) | 0 if `transB`, else 1 | 1 if `transB`, else 0 | 2 | 2 | weight, dynamic `MatMulInteger` | yes | `Linear` |
//! | GlobalAveragePool | – | – | – | – | – | QDQ, calibrated (input 0) | – | – |
//! | HardSigmoid | – | – | – | – | – | QDQ, calibrated (input 0) | – | – |
//! | HardSwish | – | – | – | – | – | QDQ, calibrated (input 0) | – | – |
//! | Identity | – | – | – | – | – | – | – | dropped |
//! | LeakyRelu | – | – | – | – | – | QDQ, calibrated (input 0) | – | – |
//! | MatMul | 1 (`[K, N]`) | rank − 1 | rank − 2 | – | 2 | weight, dynamic `MatMulInteger` | yes | `Linear` |
//! | MaxPool | – | – | – | – | – | QDQ pass-through | – | `MaxPool2d` |
//! | Mul | – | – | – | – | – | QDQ, calibrated (inputs 0, 1) | – | – |
//! | Relu | – | – | – | – | – | QDQ, folded into the Q before it | – | `Relu` |
//! | Reshape | – | – | – | – | – | QDQ pass-through | – | `Flatten` |
//! | Resize | – | – | – | – | – | QDQ pass-through | – | – |
//! | Sigmoid | – | – | – | – | – | QDQ, calibrated (input 0) | – | – |
//! | Squeeze | – | – | – | – | – | QDQ pass-through | – | – |
//! | Transpose | – | – | – | – | – | QDQ pass-through | – | – |
//! | Unsqueeze | – | – | – | – | – | QDQ pass-through | – | – |
//!
//! Why each quantized op is treated as it is (static QDQ aims at the integer kernels and QDQ
//! fusions of ONNX Runtime's CPU provider; an op between two Q/DQ pairs that it has no kernel
//! for runs in float):
//!
//! | quantized op | why |
//! |----|----|
//! | Add | QLinearAdd (residuals; a constant addend is quantized) |
//! | AveragePool | QLinearAveragePool |
//! | Clip | with a constant minimum of 0 (Relu6): folded into the Q before it |
//! | Concat | QLinearConcat |
//! | Conv | static: QLinearConv; dynamic: weight stored int8 (ConvInteger runs 4-6x slower) |
//! | Div | no integer Div: by a constant, written as a Mul by its reciprocal (QLinearMul) |
//! | Flatten | moves int8 values: the Q/DQ pair is dropped |
//! | Gemm | static: QGemm; dynamic: MatMulInteger |
//! | GlobalAveragePool | QLinearGlobalAveragePool |
//! | HardSigmoid | no integer kernel: float on its small squeeze-excitation tensor, quantized after so the Mul it scales by runs as QLinearMul |
//! | HardSwish | no integer kernel: float between DQ and Q, quantized after so the ops it feeds stay int8 |
//! | LeakyRelu | QLinearLeakyRelu |
//! | MatMul | static: QLinearMatMul; dynamic: MatMulInteger (DynamicQuantizeMatMul) |
//! | MaxPool | max of int8 values: the Q/DQ pair is dropped |
//! | Mul | QLinearMul (squeeze-excitation, HardSwish as x·relu6(x+3)) |
//! | Relu | folded into the Q before it (uint8 from 0 clamps) |
//! | Reshape | moves int8 values: the Q/DQ pair is dropped |
//! | Resize | picks or blends input values: same scale, the Q/DQ pair is dropped |
//! | Sigmoid | QLinearSigmoid |
//! | Squeeze | moves int8 values: the Q/DQ pair is dropped |
//! | Transpose | moves int8 values: the Q/DQ pair is dropped |
//! | Unsqueeze | moves int8 values: the Q/DQ pair is dropped |
//!
//! "Weight ranks" are the ranks a layer's weight has (1-D to 3-D convolutions; a MatMul is a
//! layer only with a 2-D weight, though the quantizer also quantizes a batched one, per channel
//! on its last axis). "Distill import" names the student layer an op becomes when its
//! attributes fit one (see `optimize_distill::import`); "dropped" ops are the identity at
//! inference.
//!
//! The float16 facts (first opset whose schema allows `tensor(float16)` for `T`, the `T` slots)
//! were checked against the ONNX 1.23 schemas for opsets 7 to 21
//! (`crates/optimize-quant/tests/cases/fp16-ort-kernels/probe.py` prints, per op and opset,
//! whether the schema allows float16 and whether ONNX Runtime has a kernel for it).
//!
//! ```
//! use optimize_onnx::build::{attr_int, node, WithAttr};
//! use optimize_onnx::ops::{self, QuantRole};
//!
//! let gemm = node("Gemm", &["x", "w", "b"], &["y"], "fc").with_attr(attr_int("transB", 1));
//! let info = ops::of(&gemm).unwrap();
//! let weight = info.weight.as_ref().unwrap();
//! assert_eq!((weight.input, weight.bias), (1, Some(2)));
//! assert_eq!(weight.out_axis.of(&gemm, 2), 0); // transB: the weight is stored [N, K]
//! assert!(matches!(info.quant, QuantRole::Weighted(_)) && info.prune);
//! assert!(ops::lookup("com.microsoft", "Gemm").is_none());
//! ```

pub mod activation;
pub mod elementwise;
pub mod generator;
pub mod linalg;
pub mod nn;
pub mod reduce;
pub mod rnn;
pub mod shape;

use crate::proto::tensor_proto::DataType;
use crate::proto::NodeProto;
use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::OnceLock;

/// Everything the registry knows about one operator of the default domain.
#[derive(Debug)]
pub struct OpInfo {
    /// ONNX op type.
    pub op_type: &'static str,
    /// The weight, for ops that multiply their input by one (`None` for the others).
    pub weight: Option<Weight>,
    /// How the quantizer treats the op.
    pub quant: QuantRole,
    /// Why it is treated so: the integer kernel or fusion of ONNX Runtime's CPU provider the
    /// role aims at (empty for ops without a role).
    pub quant_why: &'static str,
    /// The float16 facts, for ops that may run in float16.
    pub fp16: Option<Float16>,
    /// Element types of the outputs, one rule per output position; the last rule also covers
    /// every later output. Empty: unknown (typed from the model's `value_info` only).
    pub outputs: &'static [OutputType],
    /// Whether the pruner may shrink the channels of its weight.
    pub prune: bool,
    /// What the distillation import makes of it.
    pub import: Import,
}

/// Where an op's weight is and how its axes are laid out.
#[derive(Debug)]
pub struct Weight {
    /// The input that holds the weight.
    pub input: usize,
    /// The weight's layout, in words (for docs and messages).
    pub layout: &'static str,
    /// The input that holds the bias, if the op has one.
    pub bias: Option<usize>,
    /// The axis of the weight indexing output channels (neurons): the quantizer's per-channel
    /// axis.
    pub out_axis: Axis,
    /// The axis of the weight indexing input channels (features): the reduction axis.
    pub in_axis: Axis,
    /// The ranks a layer's weight has.
    pub ranks: RangeInclusive<usize>,
}

/// An axis of a weight, as a function of the node and the weight's rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Always this axis.
    Fixed(usize),
    /// `rank - k` (0 when the weight has fewer than `k` axes).
    FromEnd(usize),
    /// `set` when the integer attribute `attr` is present and non-zero, else `unset`.
    IfAttr {
        /// The attribute's name (Gemm's `transB`).
        attr: &'static str,
        /// The axis when the attribute is set.
        set: usize,
        /// The axis otherwise.
        unset: usize,
    },
}

impl Axis {
    /// The axis for `node`, whose weight has `rank` axes.
    pub fn of(self, node: &NodeProto, rank: usize) -> usize {
        match self {
            Axis::Fixed(a) => a,
            Axis::FromEnd(k) => rank.saturating_sub(k),
            Axis::IfAttr { attr, set, unset } => {
                if crate::build::attr_i(node, attr, 0) != 0 {
                    set
                } else {
                    unset
                }
            }
        }
    }
}

/// How the quantizer treats an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantRole {
    /// Never quantized.
    None,
    /// Its weight is quantized to int8; dynamic quantization rewrites it into this integer op.
    Weighted(IntegerForm),
    /// An op without weights that static QDQ carries int8 through: the output reuses input 0's
    /// scale and zero point (data movement and max: int8 in, the same int8 out).
    PassThrough,
    /// An op without weights whose output gets its own calibrated range in static QDQ
    /// (ONNX Runtime's `QLinearAdd`, `QLinearConcat`, ...).
    /// Leading inputs must be quantized activations or scalar float constants (at least one an
    /// activation); constants are quantized as they are.
    Calibrated {
        /// How many leading inputs must already be quantized (`usize::MAX` for all).
        inputs: usize,
    },
    /// A division of a quantized activation (input 0) by a constant (input 1): static QDQ
    /// writes it as a multiplication by the constant's reciprocal, which has an integer kernel.
    DivideByConstant,
    /// Clamps from 0 (Relu; Clip with a constant minimum of 0): folded into the quantization of
    /// the op before it, since uint8 from zero point 0 clamps as it does.
    Folded,
}

/// The integer op dynamic quantization turns a weighted op into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegerForm {
    /// `ConvInteger`, for convolutions.
    ConvInteger,
    /// `MatMulInteger`, for MatMul and Gemm.
    MatMulInteger,
}

impl IntegerForm {
    /// The op type of the integer form.
    pub fn op_type(self) -> &'static str {
        match self {
            IntegerForm::ConvInteger => "ConvInteger",
            IntegerForm::MatMulInteger => "MatMulInteger",
        }
    }
}

/// The float16 facts of an op that may run in float16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Float16 {
    /// First opset whose schema allows `tensor(float16)` for `T` (the op's first version for
    /// most).
    pub since: i64,
    /// Inputs of type `T`.
    pub inputs: Slots,
    /// Outputs of type `T`.
    pub outputs: Slots,
}

/// Which slots of a node carry the float type parameter `T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slots {
    /// Every slot whose element type is floating point (integer slots such as LSTM's
    /// `sequence_lens` or Pow's integer exponent are not `T`).
    Float,
    /// Only these positions (Resize's `scales` is `tensor(float)` only, Reshape's `shape` is
    /// int64: neither is `T`).
    Only(&'static [usize]),
    /// None (an output of another type, such as ArgMax's indices).
    None,
}

impl Slots {
    /// Whether position `i`, holding a value of element type `ty`, carries `T`.
    pub fn has(self, i: usize, ty: Option<i32>) -> bool {
        match self {
            Slots::Float => ty.is_some_and(is_float),
            Slots::Only(list) => list.contains(&i),
            Slots::None => false,
        }
    }
}

/// True for the element types (`TensorProto.DataType` codes) treated as floating point:
/// float32, float16, float64 and bfloat16.
pub fn is_float(code: i32) -> bool {
    code == DataType::Float as i32
        || code == DataType::Float16 as i32
        || code == DataType::Double as i32
        || code == DataType::Bfloat16 as i32
}

/// The rule giving one output's element type.
#[derive(Debug, Clone, Copy)]
pub enum OutputType {
    /// The float type parameter `T`: the type of the first `T` input whose type is known (for
    /// [`Slots::Float`] inputs, input 0's type when none is floating point).
    T,
    /// Always this type.
    Is(DataType),
    /// The type of this input.
    Input(usize),
    /// The type an integer attribute names (`Cast`'s `to`), else the fallback rule.
    Attr(&'static str, &'static OutputType),
    /// Computed from the node's attributes by a rule described in words.
    Rule(&'static str, fn(&NodeProto) -> Option<i32>),
    /// Not known from the node alone.
    Unknown,
}

impl OutputType {
    /// The type this rule gives an output of `node`, whose `T` is `t`.
    fn eval(&self, node: &NodeProto, t: Option<i32>, inputs: &[Option<i32>]) -> Option<i32> {
        match *self {
            OutputType::T => t,
            OutputType::Is(d) => Some(d as i32),
            OutputType::Input(k) => inputs.get(k).copied().flatten(),
            OutputType::Attr(name, fallback) => {
                match crate::build::attr(node, name).and_then(|a| a.i) {
                    Some(code) => i32::try_from(code).ok(),
                    None => fallback.eval(node, t, inputs),
                }
            }
            OutputType::Rule(_, f) => f(node),
            OutputType::Unknown => None,
        }
    }
}

/// What the distillation import makes of an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Import {
    /// Nothing: a model holding it cannot become a student.
    No,
    /// This student layer (when the node's attributes fit it).
    Layer(&'static str),
    /// The bias of the Linear layer made from the MatMul right before it.
    Bias,
    /// Dropped: the identity at inference.
    Dropped,
}

// Builders for the family files' rows, so each row names only what differs from "unknown".
impl OpInfo {
    const fn op(op_type: &'static str) -> OpInfo {
        OpInfo {
            op_type,
            weight: None,
            quant: QuantRole::None,
            quant_why: "",
            fp16: None,
            outputs: &[],
            prune: false,
            import: Import::No,
        }
    }

    /// May run in float16 from opset `since`, with these `T` slots; outputs default to `T`.
    const fn fp16(mut self, since: i64, inputs: Slots, outputs: Slots) -> OpInfo {
        self.fp16 = Some(Float16 {
            since,
            inputs,
            outputs,
        });
        if self.outputs.is_empty() {
            self.outputs = &[OutputType::T];
        }
        self
    }

    const fn outputs(mut self, outputs: &'static [OutputType]) -> OpInfo {
        self.outputs = outputs;
        self
    }

    const fn weight(mut self, weight: Weight) -> OpInfo {
        self.weight = Some(weight);
        self
    }

    const fn quant(mut self, quant: QuantRole, why: &'static str) -> OpInfo {
        self.quant = quant;
        self.quant_why = why;
        self
    }

    const fn prune(mut self) -> OpInfo {
        self.prune = true;
        self
    }

    const fn import(mut self, import: Import) -> OpInfo {
        self.import = import;
        self
    }
}

impl OpInfo {
    /// The input holding the weight, for weighted ops.
    pub fn weight_input(&self) -> Option<usize> {
        self.weight.as_ref().map(|w| w.input)
    }

    /// The input holding the bias, for weighted ops that have one.
    pub fn bias_input(&self) -> Option<usize> {
        self.weight.as_ref().and_then(|w| w.bias)
    }

    /// Element types of `node`'s outputs given its inputs' (`None` = unknown). `node` must be
    /// of this op; control flow (If/Loop/Scan) is typed by the caller, which sees the bodies.
    pub fn output_types(&self, node: &NodeProto, inputs: &[Option<i32>]) -> Vec<Option<i32>> {
        let input = |i: usize| inputs.get(i).copied().flatten();
        let t = self.fp16.and_then(|f| {
            inputs
                .iter()
                .enumerate()
                .find(|(i, ty)| ty.is_some() && f.inputs.has(*i, **ty))
                .and_then(|(_, ty)| *ty)
                .or(match f.inputs {
                    Slots::Float => input(0),
                    _ => None,
                })
        });
        (0..node.output.len())
            .map(|i| {
                self.outputs
                    .get(i)
                    .or(self.outputs.last())
                    .and_then(|r| r.eval(node, t, inputs))
            })
            .collect()
    }
}

/// Every family's rows, in the order the module doc lists the families.
const FAMILIES: &[&[OpInfo]] = &[
    nn::OPS,
    rnn::OPS,
    linalg::OPS,
    activation::OPS,
    elementwise::OPS,
    reduce::OPS,
    shape::OPS,
    generator::OPS,
];

/// True for the ONNX default domain (`""`, also spelled `ai.onnx`).
pub fn is_default_domain(domain: &str) -> bool {
    matches!(domain, "" | "ai.onnx")
}

/// The entry for `op_type` in `domain`, if the registry knows it.
pub fn lookup(domain: &str, op_type: &str) -> Option<&'static OpInfo> {
    static INDEX: OnceLock<HashMap<&'static str, &'static OpInfo>> = OnceLock::new();
    if !is_default_domain(domain) {
        return None;
    }
    INDEX
        .get_or_init(|| all().map(|o| (o.op_type, o)).collect())
        .get(op_type)
        .copied()
}

/// The entry for `node`'s op type in its domain, if the registry knows it.
pub fn of(node: &NodeProto) -> Option<&'static OpInfo> {
    lookup(node.domain(), node.op_type())
}

/// Every entry, family by family.
pub fn all() -> impl Iterator<Item = &'static OpInfo> {
    FAMILIES.iter().flat_map(|f| f.iter())
}

/// Element types of `node`'s outputs given its inputs' (`None` = unknown): all unknown for an
/// op the registry does not know.
pub fn output_types(node: &NodeProto, inputs: &[Option<i32>]) -> Vec<Option<i32>> {
    match of(node) {
        Some(info) => info.output_types(node, inputs),
        None => vec![None; node.output.len()],
    }
}

#[cfg(test)]
mod tests;
