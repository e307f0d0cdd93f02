//! What the opset upgrade may trust about a tensor before it rewrites anything: its element type,
//! its rank, and, for small constants, its value.
//!
//! - Element types come from declared types (graph inputs, outputs, `value_info`), initializers
//!   and `Constant` nodes, then flow forward through ops whose output type follows from their
//!   inputs (`Relu` has its input's type, `Shape` gives int64, `Cast` says). Declared types win.
//!   They are only used to pick the type of a constant a rewrite adds (`Clip` bounds, `Pad`
//!   values) and to refuse nodes a new opset no longer accepts.
//! - Ranks are taken only where the spec binds them: main-graph inputs with a declared shape
//!   (runtimes reject inputs of another rank), initializers and `Constant` nodes. Shapes in
//!   `value_info` are not used: exporters leave them stale often enough that a rewrite relying on
//!   them could change what a model computes.
//! - Values are kept for constants of at most [`SMALL`] elements (scales, axes).
//!
//! Names are unique across a model and its subgraphs (ONNX forbids shadowing), so one map serves
//! every graph. Building it is one pass over the nodes.

use crate::build::{tensor_f32, tensor_i64};
use crate::proto::tensor_proto::DataType;
use crate::proto::type_proto::Value as TypeValue;
use crate::proto::{GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto};
use crate::walk::for_each_graph;
use std::collections::{HashMap, HashSet};

/// Constants with at most this many elements have their value kept.
pub const SMALL: i64 = 64;

/// Element types, ranks and small constant values of a model's tensors, by name.
#[derive(Debug, Default)]
pub struct Facts {
    elem: HashMap<String, i32>,
    rank: HashMap<String, usize>,
    small: HashMap<String, TensorProto>,
    /// Names some node reads (in any graph, outer-scope reads included) or a graph outputs.
    read: HashSet<String>,
}

impl Facts {
    /// Collects what `model` says about its tensors (main graph and every subgraph).
    pub fn of(model: &ModelProto) -> Facts {
        let mut facts = Facts::default();
        let Some(main) = &model.graph else {
            return facts;
        };
        for v in &main.input {
            if let Some(rank) = declared_rank(v) {
                facts.rank.insert(v.name().to_string(), rank);
            }
        }
        for_each_graph(main, &mut |g, _| facts.add_graph(g));
        facts
    }

    /// The element type (`TensorProto.DataType` code) of `name`, if known.
    pub fn elem_type(&self, name: &str) -> Option<i32> {
        self.elem.get(name).copied()
    }

    /// The rank of `name`, where the model binds it (see the module doc).
    pub fn rank(&self, name: &str) -> Option<usize> {
        self.rank.get(name).copied()
    }

    /// The value of `name` if it is a constant of at most [`SMALL`] elements.
    pub fn constant(&self, name: &str) -> Option<&TensorProto> {
        self.small.get(name)
    }

    /// Whether any node reads `name`, or a graph lists it as an output.
    pub fn is_read(&self, name: &str) -> bool {
        self.read.contains(name)
    }

    fn add_graph(&mut self, g: &GraphProto) {
        self.read
            .extend(g.output.iter().map(|v| v.name().to_string()));
        for node in &g.node {
            self.read
                .extend(node.input.iter().filter(|i| !i.is_empty()).cloned());
        }
        for v in g.input.iter().chain(&g.output).chain(&g.value_info) {
            if let Some(e) = declared_elem(v) {
                self.elem.insert(v.name().to_string(), e);
            }
        }
        for t in &g.initializer {
            self.add_tensor(t.name(), t);
        }
        for node in &g.node {
            if is_default_domain(node) && node.op_type() == "Constant" {
                if let (Some(out), Some(t)) = (node.output.first(), constant_value(node)) {
                    self.add_tensor(out, &t);
                }
                continue;
            }
            self.propagate(node);
        }
    }

    fn add_tensor(&mut self, name: &str, t: &TensorProto) {
        if let Some(e) = t.data_type.filter(|&e| e != 0) {
            self.elem.entry(name.to_string()).or_insert(e);
        }
        self.rank.insert(name.to_string(), t.dims.len());
        let numel = t.dims.iter().try_fold(1i64, |acc, &d| {
            (d >= 0).then(|| acc.checked_mul(d)).flatten()
        });
        if numel.is_some_and(|n| n <= SMALL) {
            self.small.insert(name.to_string(), t.clone());
        }
    }

    /// Output types that follow from the node's inputs or attributes.
    fn propagate(&mut self, node: &NodeProto) {
        if !is_default_domain(node) {
            return;
        }
        let input = |i: usize| {
            node.input
                .get(i)
                .and_then(|name| self.elem.get(name.as_str()))
                .copied()
        };
        let op = node.op_type();
        let out0 = match op {
            "Cast" => crate::build::attr(node, "to")
                .and_then(|a| a.i)
                .map(|t| t as i32),
            "CastLike" => input(1),
            "Shape" | "Size" | "ArgMax" | "ArgMin" | "NonZero" | "NonMaxSuppression" => {
                Some(DataType::Int64 as i32)
            }
            "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "Not" | "And"
            | "Or" | "Xor" | "IsNaN" | "IsInf" => Some(DataType::Bool as i32),
            "Where" | "DequantizeLinear" => input(1),
            "QuantizeLinear" => input(2).or(Some(DataType::Uint8 as i32)),
            "ConstantOfShape" => Some(
                crate::build::attr(node, "value")
                    .and_then(|a| a.t.as_ref())
                    .and_then(|t| t.data_type)
                    .unwrap_or(DataType::Float as i32),
            ),
            _ if SAME_AS_FIRST_INPUT.contains(&op) => input(0),
            _ => None,
        };
        let Some(e) = out0 else {
            return;
        };
        // Split's outputs all share the input's type; the other ops type only their first output
        // this way (MaxPool and TopK indices are int64, Dropout's mask is bool).
        let typed = if op == "Split" { node.output.len() } else { 1 };
        for out in node.output.iter().take(typed).filter(|o| !o.is_empty()) {
            self.elem.entry(out.clone()).or_insert(e);
        }
    }
}

/// Default-domain ops whose first output has the element type of their first input.
const SAME_AS_FIRST_INPUT: &[&str] = &[
    "Abs",
    "Acos",
    "Acosh",
    "Add",
    "Asin",
    "Asinh",
    "Atan",
    "Atanh",
    "AveragePool",
    "BatchNormalization",
    "Ceil",
    "Celu",
    "Clip",
    "Concat",
    "Conv",
    "ConvTranspose",
    "Cos",
    "Cosh",
    "CumSum",
    "DepthToSpace",
    "Div",
    "Dropout",
    "Elu",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Floor",
    "Gather",
    "GatherElements",
    "GatherND",
    "Gemm",
    "GlobalAveragePool",
    "GlobalLpPool",
    "GlobalMaxPool",
    "HardSigmoid",
    "HardSwish",
    "Hardmax",
    "Identity",
    "InstanceNormalization",
    "LRN",
    "LayerNormalization",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "LpNormalization",
    "LpPool",
    "MatMul",
    "Max",
    "MaxPool",
    "Mean",
    "MeanVarianceNormalization",
    "Min",
    "Mod",
    "Mul",
    "Neg",
    "PRelu",
    "Pad",
    "Pow",
    "Reciprocal",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
    "Relu",
    "Reshape",
    "Resize",
    "ReverseSequence",
    "Round",
    "Scatter",
    "ScatterElements",
    "ScatterND",
    "Selu",
    "Shrink",
    "Sigmoid",
    "Sign",
    "Sin",
    "Sinh",
    "Slice",
    "Softmax",
    "Softplus",
    "Softsign",
    "SpaceToDepth",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Tan",
    "Tanh",
    "ThresholdedRelu",
    "Tile",
    "TopK",
    "Transpose",
    "Unsqueeze",
    "Upsample",
];

/// True for nodes of the default ONNX domain (`""`, also spelled `ai.onnx`).
pub fn is_default_domain(node: &NodeProto) -> bool {
    matches!(node.domain(), "" | "ai.onnx")
}

fn declared_elem(v: &ValueInfoProto) -> Option<i32> {
    match v.r#type.as_ref()?.value.as_ref()? {
        TypeValue::TensorType(t) => t.elem_type.filter(|&e| e != 0),
        _ => None,
    }
}

fn declared_rank(v: &ValueInfoProto) -> Option<usize> {
    match v.r#type.as_ref()?.value.as_ref()? {
        TypeValue::TensorType(t) => t.shape.as_ref().map(|s| s.dim.len()),
        _ => None,
    }
}

/// The tensor a `Constant` node holds, for the dense forms; `None` for sparse values.
fn constant_value(node: &NodeProto) -> Option<TensorProto> {
    let attr = node.attribute.first()?;
    Some(match attr.name() {
        "value" => attr.t.clone()?,
        "value_float" => tensor_f32("", &[], &[attr.f?]),
        "value_floats" => tensor_f32("", &[attr.floats.len() as i64], &attr.floats),
        "value_int" => tensor_i64("", &[], &[attr.i?]),
        "value_ints" => tensor_i64("", &[attr.ints.len() as i64], &attr.ints),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{attr_int, node, WithAttr};
    use crate::proto::type_proto::Tensor;
    use crate::proto::{tensor_shape_proto, AttributeProto, TensorShapeProto, TypeProto};

    fn typed(name: &str, elem: DataType, rank: Option<usize>) -> ValueInfoProto {
        ValueInfoProto {
            name: Some(name.into()),
            r#type: Some(TypeProto {
                value: Some(TypeValue::TensorType(Tensor {
                    elem_type: Some(elem as i32),
                    shape: rank.map(|r| TensorShapeProto {
                        dim: vec![tensor_shape_proto::Dimension::default(); r],
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn types_flow_forward_and_ranks_come_only_from_binding_sources() {
        let mut konst = node("Constant", &[], &["k"], "k");
        konst.attribute.push(AttributeProto {
            name: Some("value_floats".into()),
            floats: vec![1.0, 2.0],
            ..Default::default()
        });
        let g = GraphProto {
            input: vec![typed("x", DataType::Float16, Some(4))],
            value_info: vec![typed("stale", DataType::Float, Some(2))],
            initializer: vec![tensor_i64("big", &[100], &[0; 100])],
            node: vec![
                konst,
                node("Relu", &["x"], &["r"], "relu"),
                node("Shape", &["r"], &["s"], "shape"),
                node("Cast", &["s"], &["c"], "cast").with_attr(attr_int("to", 11)),
                node("Split", &["r"], &["a", "b"], "split"),
                node("MaxPool", &["r"], &["p", "idx"], "pool"),
                node("Neg", &["stale"], &["n"], "neg"),
                node("Mystery", &["x"], &["m"], "m"),
            ],
            ..Default::default()
        };
        let f = Facts::of(&ModelProto {
            graph: Some(g),
            ..Default::default()
        });
        let f16 = Some(DataType::Float16 as i32);
        assert_eq!(f.elem_type("r"), f16);
        assert_eq!(f.elem_type("s"), Some(DataType::Int64 as i32));
        assert_eq!(f.elem_type("c"), Some(DataType::Double as i32));
        assert_eq!((f.elem_type("a"), f.elem_type("b")), (f16, f16));
        assert_eq!((f.elem_type("p"), f.elem_type("idx")), (f16, None));
        assert_eq!(f.elem_type("n"), Some(DataType::Float as i32));
        assert_eq!(f.elem_type("m"), None);
        assert_eq!(f.rank("x"), Some(4));
        assert_eq!(f.rank("k"), Some(1));
        assert_eq!(f.rank("big"), Some(1));
        assert_eq!(f.rank("stale"), None, "value_info shapes are not trusted");
        assert_eq!(f.rank("r"), None);
        assert_eq!(
            f.constant("k").and_then(crate::build::read_f32),
            Some(vec![1.0, 2.0])
        );
        assert!(f.constant("big").is_none(), "only small constants are kept");
    }
}
