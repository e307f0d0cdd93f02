//! Structure-aware mutations of a decoded ONNX model ([`ModelProto`]).
//!
//! Each mutation damages one thing a real file gets wrong: a tensor's dims or data, a dtype,
//! the node list, a node's wiring, its op type, an attribute, the opset or IR version, names,
//! or an `If`/`Loop` body. [`mutate_model`] applies a few of them, chosen by the stream, and
//! names what it did so a crash report reads as a recipe.
//!
//! Under [`Profile::Valid`] stored tensors keep data that matches their dims and dtype, so the
//! model still passes [`optimize_onnx::Model::decode`]'s checks and reaches the passes; under
//! [`Profile::Loose`] anything goes, which is what the loader must survive.
//!
//! ```
//! use optimize_fuzz::model::{mutate_model, Profile};
//! use optimize_fuzz::rng::Rng;
//! use optimize_onnx::build::{model, node, tensor_f32, value_info_f32};
//! use optimize_onnx::proto::GraphProto;
//!
//! let g = GraphProto {
//!     node: vec![node("MatMul", &["x", "w"], &["y"], "mm")],
//!     initializer: vec![tensor_f32("w", &[2, 2], &[1.0, 2.0, 3.0, 4.0])],
//!     input: vec![value_info_f32("x", &[None, Some(2)])],
//!     output: vec![value_info_f32("y", &[None, Some(2)])],
//!     ..Default::default()
//! };
//! let mut m = model(g, 17);
//! let done = mutate_model(&mut m, &mut Rng::new(3), Profile::Valid, 2);
//! assert_eq!(done.len(), 2);
//! ```

use crate::rng::Rng;
use optimize_onnx::build::attr_graph;
use optimize_onnx::proto::attribute_proto::AttributeType;
use optimize_onnx::proto::tensor_proto::DataType;
use optimize_onnx::proto::tensor_shape_proto::{dimension, Dimension};
use optimize_onnx::proto::{
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use optimize_onnx::walk::{self, GraphPath};

/// How much damage a mutation may do to stored tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Anything: dims, data lengths and dtypes may disagree (the loader's input).
    Loose,
    /// Stored tensors stay self-consistent, so the model loads and reaches a pass.
    Valid,
}

/// One kind of damage, by the name reported with a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// An initializer's dims changed, negated, zeroed, made huge, added or removed.
    InitializerDims,
    /// An initializer reshaped to other dims with the same element count.
    InitializerReshape,
    /// A graph input, output or value_info's shape or type damaged.
    ValueInfo,
    /// `raw_data` cut short, lengthened, or moved to the typed fields.
    RawData,
    /// An initializer's element type swapped.
    DType,
    /// Stored float values replaced by NaN, infinities, subnormals, huge values.
    Values,
    /// A node dropped, duplicated or the nodes reordered.
    Nodes,
    /// A node input or output renamed, dropped, added or pointed at nothing.
    Wiring,
    /// A node's op type changed to another op of the registry (or an unknown one).
    OpType,
    /// An attribute corrupted, retyped, removed or added (kernel_shape, group, axis, perm, pads).
    Attribute,
    /// The opset (1..25), the IR version or the opset imports changed.
    Version,
    /// The graph emptied: no nodes, inputs, outputs or graph at all.
    Empty,
    /// Names duplicated: initializers, node outputs, inputs named like initializers.
    Names,
    /// An `If`/`Loop`/`Scan` body removed, swapped, emptied or retyped.
    Subgraph,
    /// A weight moved between an initializer and a `Constant` node.
    Constant,
    /// A tensor pointed at external data that does not exist or escapes the folder.
    ExternalData,
}

impl Mutation {
    /// Every mutation.
    pub const ALL: [Mutation; 16] = [
        Mutation::InitializerDims,
        Mutation::InitializerReshape,
        Mutation::ValueInfo,
        Mutation::RawData,
        Mutation::DType,
        Mutation::Values,
        Mutation::Nodes,
        Mutation::Wiring,
        Mutation::OpType,
        Mutation::Attribute,
        Mutation::Version,
        Mutation::Empty,
        Mutation::Names,
        Mutation::Subgraph,
        Mutation::Constant,
        Mutation::ExternalData,
    ];

    /// The mutations that keep stored tensors consistent ([`Profile::Valid`]).
    pub const VALID: [Mutation; 12] = [
        Mutation::InitializerReshape,
        Mutation::ValueInfo,
        Mutation::Values,
        Mutation::Nodes,
        Mutation::Wiring,
        Mutation::OpType,
        Mutation::Attribute,
        Mutation::Version,
        Mutation::Empty,
        Mutation::Names,
        Mutation::Subgraph,
        Mutation::Constant,
    ];

    /// Its name in crash reports.
    pub fn name(self) -> &'static str {
        match self {
            Mutation::InitializerDims => "initializer-dims",
            Mutation::InitializerReshape => "initializer-reshape",
            Mutation::ValueInfo => "value-info",
            Mutation::RawData => "raw-data",
            Mutation::DType => "dtype",
            Mutation::Values => "values",
            Mutation::Nodes => "nodes",
            Mutation::Wiring => "wiring",
            Mutation::OpType => "op-type",
            Mutation::Attribute => "attribute",
            Mutation::Version => "version",
            Mutation::Empty => "empty",
            Mutation::Names => "names",
            Mutation::Subgraph => "subgraph",
            Mutation::Constant => "constant",
            Mutation::ExternalData => "external-data",
        }
    }
}

/// Applies `count` mutations allowed by `profile`, each to a graph (main or nested) chosen by
/// the stream; returns their names in order. A mutation that finds nothing to change (no
/// initializer in the graph it picked) still counts.
pub fn mutate_model(
    model: &mut ModelProto,
    rng: &mut Rng,
    profile: Profile,
    count: usize,
) -> Vec<&'static str> {
    let allowed: &[Mutation] = match profile {
        Profile::Loose => &Mutation::ALL,
        Profile::Valid => &Mutation::VALID,
    };
    (0..count)
        .map(|_| {
            let m = *rng.pick(allowed).expect("non-empty");
            apply(model, m, rng);
            m.name()
        })
        .collect()
}

/// Applies one mutation.
pub fn apply(model: &mut ModelProto, mutation: Mutation, rng: &mut Rng) {
    match mutation {
        Mutation::Version => return version(model, rng),
        Mutation::Empty if rng.chance(0.1) => {
            model.graph = None;
            return;
        }
        _ => {}
    }
    let Some(main) = model.graph.as_mut() else {
        return;
    };
    let mut paths: Vec<GraphPath> = Vec::new();
    walk::for_each_graph_path(main, &mut |_, p| paths.push(p.clone()));
    // The main graph most of the time: it is what passes change.
    let path = if rng.chance(0.6) {
        Vec::new()
    } else {
        rng.pick(&paths).cloned().unwrap_or_default()
    };
    let Some(g) = walk::graph_at_mut(main, &path) else {
        return;
    };
    match mutation {
        Mutation::InitializerDims => initializer_dims(g, rng),
        Mutation::InitializerReshape => initializer_reshape(g, rng),
        Mutation::ValueInfo => value_info(g, rng),
        Mutation::RawData => raw_data(g, rng),
        Mutation::DType => dtype(g, rng),
        Mutation::Values => values(g, rng),
        Mutation::Nodes => nodes(g, rng),
        Mutation::Wiring => wiring(g, rng),
        Mutation::OpType => op_type(g, rng),
        Mutation::Attribute => attribute(g, rng),
        Mutation::Empty => empty(g, rng),
        Mutation::Names => names(g, rng),
        Mutation::Subgraph => subgraph(g, rng),
        Mutation::Constant => constant(g, rng),
        Mutation::ExternalData => external_data(g, rng),
        Mutation::Version => unreachable!("handled above"),
    }
}

/// Every tensor name the graph mentions: inputs, outputs, initializers, node ends.
fn tensor_names(g: &GraphProto) -> Vec<String> {
    let mut names: Vec<String> = g
        .input
        .iter()
        .chain(&g.output)
        .chain(&g.value_info)
        .map(|v| v.name().to_string())
        .chain(g.initializer.iter().map(|t| t.name().to_string()))
        .chain(
            g.node
                .iter()
                .flat_map(|n| n.input.iter().chain(&n.output).cloned()),
        )
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A name to wire something to: an existing tensor, nothing, or a fresh dangling name.
fn some_name(g: &GraphProto, rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => String::new(),
        1 => format!("dangling_{}", rng.below(1000)),
        _ => rng
            .pick(&tensor_names(g))
            .cloned()
            .unwrap_or_else(|| "x".into()),
    }
}

fn numel(dims: &[i64]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| {
        usize::try_from(d).ok().and_then(|d| acc.checked_mul(d))
    })
}

fn initializer_dims(g: &mut GraphProto, rng: &mut Rng) {
    let n = g.initializer.len();
    let Some(t) = g.initializer.get_mut(rng.below(n)) else {
        return;
    };
    mutate_dims(&mut t.dims, rng);
}

fn mutate_dims(dims: &mut Vec<i64>, rng: &mut Rng) {
    match rng.below(6) {
        0 if !dims.is_empty() => {
            let i = rng.below(dims.len());
            dims[i] = rng.int();
        }
        1 if !dims.is_empty() => {
            let i = rng.below(dims.len());
            dims[i] = dims[i].wrapping_neg();
        }
        2 if !dims.is_empty() => {
            let i = rng.below(dims.len());
            dims[i] = 0;
        }
        3 => {
            let at = rng.below(dims.len() + 1);
            dims.insert(at, rng.int());
        }
        4 if !dims.is_empty() => {
            dims.remove(rng.below(dims.len()));
        }
        _ => {
            let v = rng.int();
            dims.iter_mut().for_each(|d| *d = v);
        }
    }
}

/// Other dims with the same element count: flattened, split, a unit axis added or removed,
/// reversed, or the rank changed to one the ops do not expect.
fn initializer_reshape(g: &mut GraphProto, rng: &mut Rng) {
    let n = g.initializer.len();
    let Some(t) = g.initializer.get_mut(rng.below(n)) else {
        return;
    };
    let Some(count) = numel(&t.dims) else { return };
    let count = count as i64;
    t.dims = match rng.below(6) {
        0 => vec![count],
        1 => vec![1, count],
        2 => {
            let mut d = t.dims.clone();
            d.insert(rng.below(d.len() + 1), 1);
            d
        }
        3 => {
            let mut d = t.dims.clone();
            d.reverse();
            d
        }
        4 if count > 1 && count % 2 == 0 => vec![2, count / 2, 1],
        _ if count == 1 => vec![],
        _ => vec![count, 1, 1, 1],
    };
}

fn value_info(g: &mut GraphProto, rng: &mut Rng) {
    let lists = [g.input.len(), g.output.len(), g.value_info.len()];
    let which = rng.below(3);
    let list = match which {
        0 => &mut g.input,
        1 => &mut g.output,
        _ => &mut g.value_info,
    };
    let Some(v) = list.get_mut(rng.below(lists[which])) else {
        return;
    };
    let tensor = match v.r#type.as_mut().and_then(|t| t.value.as_mut()) {
        Some(type_proto::Value::TensorType(t)) => t,
        _ => {
            v.r#type = Some(tensor_type(rng.range(-1, 25) as i32, vec![]));
            return;
        }
    };
    match rng.below(7) {
        0 => tensor.elem_type = Some(rng.range(-1, 25) as i32),
        1 => tensor.shape = None,
        2 => v.r#type = None,
        3 => {
            // A sequence where a tensor was declared.
            v.r#type = Some(TypeProto {
                value: Some(type_proto::Value::SequenceType(Box::new(
                    type_proto::Sequence {
                        elem_type: Some(Box::new(tensor_type(1, vec![]))),
                    },
                ))),
                ..Default::default()
            })
        }
        _ => {
            let shape = tensor.shape.get_or_insert_with(Default::default);
            let mut dims: Vec<i64> = shape
                .dim
                .iter()
                .map(|d| match d.value {
                    Some(dimension::Value::DimValue(v)) => v,
                    _ => -1,
                })
                .collect();
            mutate_dims(&mut dims, rng);
            shape.dim = dims
                .into_iter()
                .map(|d| Dimension {
                    value: Some(if d == -1 && rng.chance(0.5) {
                        dimension::Value::DimParam(
                            ["batch", "", "N", "seq"][rng.below(4)].to_string(),
                        )
                    } else {
                        dimension::Value::DimValue(d)
                    }),
                    ..Default::default()
                })
                .collect();
        }
    }
}

fn tensor_type(elem_type: i32, dims: Vec<i64>) -> TypeProto {
    TypeProto {
        value: Some(type_proto::Value::TensorType(type_proto::Tensor {
            elem_type: Some(elem_type),
            shape: Some(TensorShapeProto {
                dim: dims
                    .into_iter()
                    .map(|d| Dimension {
                        value: Some(dimension::Value::DimValue(d)),
                        ..Default::default()
                    })
                    .collect(),
            }),
        })),
        ..Default::default()
    }
}

fn raw_data(g: &mut GraphProto, rng: &mut Rng) {
    let n = g.initializer.len();
    let Some(t) = g.initializer.get_mut(rng.below(n)) else {
        return;
    };
    let mut raw = t.raw_data.as_deref().unwrap_or_default().to_vec();
    match rng.below(5) {
        0 => raw.truncate(rng.below(raw.len() + 1)),
        1 => raw.extend((0..1 + rng.below(9)).map(|_| rng.u64() as u8)),
        2 => {
            // The same values in the typed field (float_data), raw bytes gone.
            t.float_data = raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            t.raw_data = None;
            return;
        }
        3 => {
            // Both raw and typed data.
            t.float_data = vec![rng.float(); 1 + rng.below(4)];
        }
        _ => raw.clear(),
    }
    t.raw_data = Some(raw.into());
}

fn dtype(g: &mut GraphProto, rng: &mut Rng) {
    let n = g.initializer.len();
    let Some(t) = g.initializer.get_mut(rng.below(n)) else {
        return;
    };
    t.data_type = Some(match rng.below(4) {
        // Same element size as float32: the data still fits.
        0 => *rng
            .pick(&[DataType::Int32 as i32, DataType::Uint32 as i32])
            .expect("non-empty"),
        // Any defined type, including strings, complex and 4-bit types.
        1 | 2 => rng.range(0, 23) as i32,
        _ => rng.int() as i32,
    });
}

/// Replaces some float32 values of a stored tensor (initializer or `Constant`) with
/// interesting ones, keeping the data length.
fn values(g: &mut GraphProto, rng: &mut Rng) {
    let fill = rng.chance(0.3);
    let value = rng.float();
    let edit = |t: &mut TensorProto, rng: &mut Rng| {
        if t.data_type != Some(DataType::Float as i32) {
            return;
        }
        let Some(raw) = t.raw_data.as_ref() else {
            return;
        };
        let mut raw = raw.to_vec();
        let count = raw.len() / 4;
        if count == 0 {
            return;
        }
        let hits = if fill { count } else { 1 + rng.below(4) };
        for _ in 0..hits {
            let i = rng.below(count);
            let v = if fill { value } else { rng.float() };
            raw[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        t.raw_data = Some(raw.into());
    };
    if !g.initializer.is_empty() && rng.chance(0.8) {
        let i = rng.below(g.initializer.len());
        edit(&mut g.initializer[i], rng);
    } else {
        let n = g.node.len();
        if let Some(node) = g.node.get_mut(rng.below(n)) {
            for a in &mut node.attribute {
                if let Some(t) = a.t.as_mut() {
                    edit(t, rng);
                }
            }
        }
    }
}

fn nodes(g: &mut GraphProto, rng: &mut Rng) {
    let n = g.node.len();
    if n == 0 {
        return;
    }
    match rng.below(5) {
        0 => {
            g.node.remove(rng.below(n));
        }
        1 => {
            let copy = g.node[rng.below(n)].clone();
            g.node.insert(rng.below(n + 1), copy);
        }
        2 => g.node.reverse(),
        3 => rng.shuffle(&mut g.node),
        _ => g.node.swap(rng.below(n), rng.below(n)),
    }
}

fn wiring(g: &mut GraphProto, rng: &mut Rng) {
    let n = g.node.len();
    if n == 0 {
        return;
    }
    let i = rng.below(n);
    let name = some_name(g, rng);
    let node = &mut g.node[i];
    let outputs = rng.chance(0.3);
    let ends = if outputs {
        &mut node.output
    } else {
        &mut node.input
    };
    match rng.below(4) {
        0 if !ends.is_empty() => {
            ends.remove(rng.below(ends.len()));
        }
        1 => ends.push(name),
        2 => ends.clear(),
        _ => {
            if ends.is_empty() {
                ends.push(name);
            } else {
                let k = rng.below(ends.len());
                ends[k] = name;
            }
        }
    }
}

/// Ops worth switching to beyond the registry: the control flow and quantization ops passes
/// special-case, and a few it does not know.
const EXTRA_OPS: &[&str] = &[
    "If",
    "Loop",
    "Scan",
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeLinear",
    "MatMulInteger",
    "ConvInteger",
    "QLinearConv",
    "Constant",
    "NotAnOp",
    "",
];

fn op_type(g: &mut GraphProto, rng: &mut Rng) {
    let n = g.node.len();
    if n == 0 {
        return;
    }
    let i = rng.below(n);
    let op = if rng.chance(0.75) {
        let all: Vec<&str> = optimize_onnx::ops::all().map(|o| o.op_type).collect();
        rng.pick(&all).copied().unwrap_or("Relu")
    } else {
        rng.pick(EXTRA_OPS).copied().unwrap_or("Relu")
    };
    let node = &mut g.node[i];
    node.op_type = Some(op.to_string());
    if rng.chance(0.1) {
        node.domain =
            Some(["com.microsoft", "ai.onnx", "ai.onnx.ml", "custom"][rng.below(4)].to_string());
    }
}

/// The attributes passes read most: shapes of convolutions, axes, permutations.
const ATTRIBUTES: &[&str] = &[
    "kernel_shape",
    "group",
    "axis",
    "axes",
    "perm",
    "pads",
    "strides",
    "dilations",
    "transA",
    "transB",
    "alpha",
    "beta",
    "epsilon",
    "to",
    "keepdims",
    "auto_pad",
    "value",
    "then_branch",
    "body",
];

fn attribute(g: &mut GraphProto, rng: &mut Rng) {
    let n = g.node.len();
    if n == 0 {
        return;
    }
    let node = &mut g.node[rng.below(n)];
    let existing = node.attribute.len();
    if existing > 0 && rng.chance(0.7) {
        let k = rng.below(existing);
        let a = &mut node.attribute[k];
        match rng.below(7) {
            0 => {
                node.attribute.remove(k);
            }
            1 => a.r#type = Some(rng.range(0, 15) as i32),
            2 => a.i = Some(rng.int()),
            3 => a.ints = (0..rng.below(7)).map(|_| rng.int()).collect(),
            4 if !a.ints.is_empty() => {
                let j = rng.below(a.ints.len());
                a.ints[j] = rng.int();
            }
            5 => {
                let dup = a.clone();
                node.attribute.push(dup);
            }
            _ => a.f = Some(rng.float()),
        }
        return;
    }
    let name = rng.pick(ATTRIBUTES).copied().unwrap_or("axis");
    node.attribute
        .retain(|a| rng.chance(0.5) || a.name() != name);
    let mut a = AttributeProto {
        name: Some(name.to_string()),
        ..Default::default()
    };
    match rng.below(4) {
        0 => {
            a.r#type = Some(AttributeType::Int as i32);
            a.i = Some(rng.int());
        }
        1 => {
            a.r#type = Some(AttributeType::Ints as i32);
            a.ints = (0..rng.below(9)).map(|_| rng.int()).collect();
        }
        2 => {
            a.r#type = Some(AttributeType::Float as i32);
            a.f = Some(rng.float());
        }
        _ => {
            a.r#type = Some(AttributeType::String as i32);
            a.s = Some(b"SAME_UPPER".to_vec());
        }
    }
    node.attribute.push(a);
}

fn version(model: &mut ModelProto, rng: &mut Rng) {
    match rng.below(6) {
        0 => model.ir_version = Some(rng.range(0, 12)),
        1 => model.opset_import.clear(),
        2 => model.opset_import.push(OperatorSetIdProto {
            domain: Some(["", "ai.onnx", "com.microsoft"][rng.below(3)].to_string()),
            version: Some(rng.range(1, 25)),
        }),
        3 => {
            model.ir_version = Some(rng.int());
            if let Some(o) = model.opset_import.first_mut() {
                o.version = Some(rng.int());
            }
        }
        _ => {
            let v = rng.range(1, 25);
            match model
                .opset_import
                .iter_mut()
                .find(|o| matches!(o.domain(), "" | "ai.onnx"))
            {
                Some(o) => o.version = Some(v),
                None => model.opset_import.push(OperatorSetIdProto {
                    domain: Some(String::new()),
                    version: Some(v),
                }),
            }
        }
    }
}

fn empty(g: &mut GraphProto, rng: &mut Rng) {
    match rng.below(5) {
        0 => g.node.clear(),
        1 => g.input.clear(),
        2 => g.output.clear(),
        3 => g.initializer.clear(),
        _ => *g = GraphProto::default(),
    }
}

fn names(g: &mut GraphProto, rng: &mut Rng) {
    match rng.below(5) {
        0 if !g.initializer.is_empty() => {
            let t = g.initializer[rng.below(g.initializer.len())].clone();
            g.initializer.push(t);
        }
        1 if g.node.len() > 1 => {
            // Two nodes write the same tensor.
            let (a, b) = (rng.below(g.node.len()), rng.below(g.node.len()));
            if let Some(o) = g.node[a].output.first().cloned() {
                if let Some(slot) = g.node[b].output.first_mut() {
                    *slot = o;
                }
            }
        }
        2 if !g.initializer.is_empty() => {
            // A graph input with an initializer's name (IR 3 style), possibly of another type.
            let t = &g.initializer[rng.below(g.initializer.len())];
            let dims = if rng.chance(0.5) {
                t.dims.clone()
            } else {
                vec![rng.int()]
            };
            let ty = if rng.chance(0.7) {
                t.data_type()
            } else {
                rng.range(0, 16) as i32
            };
            g.input.push(ValueInfoProto {
                name: t.name.clone(),
                r#type: Some(tensor_type(ty, dims)),
                ..Default::default()
            });
        }
        3 if !g.initializer.is_empty() && g.initializer.len() > 1 => {
            let name = g.initializer[0].name.clone();
            let k = 1 + rng.below(g.initializer.len() - 1);
            g.initializer[k].name = name;
        }
        _ => {
            // A node named like another, or with an empty name.
            let n = g.node.len();
            if n > 0 {
                let name = g.node[rng.below(n)].name.clone();
                let k = rng.below(n);
                g.node[k].name = if rng.chance(0.5) { name } else { None };
            }
        }
    }
}

fn subgraph(g: &mut GraphProto, rng: &mut Rng) {
    let holders: Vec<usize> = g
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            n.attribute
                .iter()
                .any(|a| a.g.is_some() || !a.graphs.is_empty())
        })
        .map(|(i, _)| i)
        .collect();
    let Some(&i) = rng.pick(&holders) else {
        // No control flow here: add an If whose branches are copies of this graph's outputs.
        if !g.node.is_empty() && rng.chance(0.5) {
            let cond = some_name(g, rng);
            let branch = GraphProto {
                node: vec![g.node[rng.below(g.node.len())].clone()],
                output: g.output.clone(),
                ..Default::default()
            };
            let out = g
                .output
                .first()
                .map_or("if_out".to_string(), |v| v.name().to_string());
            g.node.push(NodeProto {
                op_type: Some("If".into()),
                input: vec![cond],
                output: vec![out],
                attribute: vec![
                    attr_graph("then_branch", branch.clone()),
                    attr_graph("else_branch", branch),
                ],
                ..Default::default()
            });
        }
        return;
    };
    let node = &mut g.node[i];
    let k = rng.below(node.attribute.len());
    match rng.below(7) {
        0 => {
            node.attribute.retain(|a| a.g.is_none());
        }
        1 => node.attribute.reverse(),
        2 => {
            if let Some(sub) = node.attribute[k].g.as_mut() {
                *sub = GraphProto::default();
            }
        }
        3 => {
            if let Some(sub) = node.attribute[k].g.as_mut() {
                match rng.below(3) {
                    0 => sub.input.clear(),
                    1 => sub.output.clear(),
                    _ => sub
                        .output
                        .push(sub.output.first().cloned().unwrap_or_default()),
                }
            }
        }
        4 => node.attribute[k].r#type = Some(AttributeType::Int as i32),
        5 => {
            // The subgraph moved to the list form, or duplicated into it.
            if let Some(sub) = node.attribute[k].g.clone() {
                if rng.chance(0.5) {
                    node.attribute[k].g = None;
                }
                node.attribute[k].graphs.push(sub);
            }
        }
        _ => {
            // Outputs of the holder no longer match its body's.
            if rng.chance(0.5) {
                node.output.push(format!("extra_{}", rng.below(100)));
            } else {
                node.output.truncate(node.output.len().saturating_sub(1));
            }
        }
    }
}

fn constant(g: &mut GraphProto, rng: &mut Rng) {
    if !g.initializer.is_empty() && rng.chance(0.6) {
        // Initializer -> Constant node (at a random place in the node list).
        let t = g.initializer.remove(rng.below(g.initializer.len()));
        let name = t.name().to_string();
        let attr = match rng.below(4) {
            0 => AttributeProto {
                name: Some("value_float".into()),
                r#type: Some(AttributeType::Float as i32),
                f: Some(rng.float()),
                ..Default::default()
            },
            1 => AttributeProto {
                name: Some("value_ints".into()),
                r#type: Some(AttributeType::Ints as i32),
                ints: (0..rng.below(5)).map(|_| rng.int()).collect(),
                ..Default::default()
            },
            _ => AttributeProto {
                name: Some("value".into()),
                r#type: Some(AttributeType::Tensor as i32),
                t: Some(t),
                ..Default::default()
            },
        };
        let node = NodeProto {
            op_type: Some("Constant".into()),
            output: vec![name],
            attribute: vec![attr],
            ..Default::default()
        };
        let at = rng.below(g.node.len() + 1);
        g.node.insert(at, node);
    } else {
        // Constant node -> initializer, or a Constant with no value at all.
        let Some(i) = g.node.iter().position(|n| n.op_type() == "Constant") else {
            return;
        };
        let node = g.node.remove(i);
        if rng.chance(0.3) {
            g.node.insert(
                i,
                NodeProto {
                    attribute: Vec::new(),
                    ..node
                },
            );
        } else if let Some(mut t) = node.attribute.into_iter().find_map(|a| a.t) {
            t.name = node.output.first().cloned();
            g.initializer.push(t);
        }
    }
}

fn external_data(g: &mut GraphProto, rng: &mut Rng) {
    let n = g.initializer.len();
    let Some(t) = g.initializer.get_mut(rng.below(n)) else {
        return;
    };
    let location = [
        "missing.bin",
        "../escape.bin",
        "/etc/hostname",
        "",
        ".",
        "model.onnx",
    ][rng.below(6)];
    t.data_location = Some(1);
    t.raw_data = None;
    let entry = |k: &str, v: String| StringStringEntryProto {
        key: Some(k.into()),
        value: Some(v),
    };
    t.external_data = vec![entry("location", location.to_string())];
    if rng.chance(0.5) {
        t.external_data.push(entry("offset", rng.int().to_string()));
        t.external_data.push(entry("length", rng.int().to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use optimize_onnx::build::{model, node, tensor_f32, value_info_f32};
    use prost::Message;

    fn mlp() -> ModelProto {
        let g = GraphProto {
            node: vec![
                node("MatMul", &["x", "w"], &["h"], "mm"),
                node("Relu", &["h"], &["y"], "relu"),
            ],
            initializer: vec![tensor_f32("w", &[2, 2], &[1.0, -2.0, 3.0, 4.0])],
            input: vec![value_info_f32("x", &[None, Some(2)])],
            output: vec![value_info_f32("y", &[None, Some(2)])],
            ..Default::default()
        };
        model(g, 17)
    }

    #[test]
    fn mutations_are_deterministic_and_change_the_model() {
        let original = mlp();
        let mut changed = 0;
        for seed in 0..200 {
            let (mut a, mut b) = (original.clone(), original.clone());
            let da = mutate_model(&mut a, &mut Rng::new(seed), Profile::Loose, 2);
            let db = mutate_model(&mut b, &mut Rng::new(seed), Profile::Loose, 2);
            assert_eq!(da, db);
            assert_eq!(a.encode_to_vec(), b.encode_to_vec(), "seed {seed}");
            changed += usize::from(a != original);
        }
        assert!(changed > 150, "only {changed} of 200 mutated models differ");
    }

    #[test]
    fn valid_profile_keeps_tensors_loadable() {
        for seed in 0..300 {
            let mut m = mlp();
            mutate_model(&mut m, &mut Rng::new(seed), Profile::Valid, 3);
            let model = optimize_onnx::Model::from_proto(m);
            // Node and version damage may remain; tensor data must still match its dims.
            model
                .validate(std::path::Path::new("m.onnx"))
                .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        }
    }

    #[test]
    fn every_mutation_is_named_once() {
        let mut names: Vec<&str> = Mutation::ALL.iter().map(|m| m.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Mutation::ALL.len());
        assert!(Mutation::VALID.iter().all(|m| Mutation::ALL.contains(m)));
    }
}
