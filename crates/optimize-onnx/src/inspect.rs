//! `inspect`: a summary of a model that people read as a table and machines read as JSON.
//!
//! # JSON schema (`optimize.inspect/1`)
//!
//! The schema is stable: fields are only ever added, and a breaking change bumps the `schema`
//! string. Sizes are bytes; shapes are arrays whose entries are a number (fixed dimension), a
//! string (symbolic dimension, by name) or `null` (unknown).
//!
//! ```json
//! {
//!   "schema": "optimize.inspect/1",
//!   "path": "models/digits-mlp.onnx", "file_bytes": 45311,
//!   "ir_version": 8, "opsets": [{"domain": "", "version": 17}],
//!   "producer": {"name": "pytorch", "version": "2.1"}, "domain": null, "model_version": null,
//!   "doc_string": null, "metadata": [{"key": "k", "value": "v"}],
//!   "inputs":  [{"name": "input", "dtype": "float32", "shape": ["batch", 64]}],
//!   "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", 10]}],
//!   "graph": {"nodes": 5, "nodes_with_subgraphs": 5, "subgraphs": 0, "functions": 0, "initializers": 6},
//!   "op_types": [{"op_type": "Gemm", "domain": "", "count": 3}],
//!   "parameters": {"count": 11274, "bytes": 45096,
//!                  "by_dtype": [{"dtype": "float32", "tensors": 6, "count": 11274, "bytes": 45096}]},
//!   "largest_tensors": [{"name": "fc1.weight", "dtype": "float32", "shape": [128, 64],
//!                        "bytes": 32768, "source": "initializer"}],
//!   "external_data": [{"location": "model.onnx.data", "tensors": 3, "bytes": 1024}],
//!   "precision": {"summary": "fp32", "formats": [], "qdq_nodes": 0, "qoperator_nodes": 0,
//!                 "matmul_nbits_nodes": 0, "fp16_parameter_bytes": 0, "float_parameter_bytes": 45096}
//! }
//! ```
//!
//! `parameters` counts every stored tensor: initializers and `Constant` node values in the main
//! graph and in subgraphs (exporters put weights in both). `precision.formats` lists what is
//! present among `qdq`, `qoperator`, `matmulnbits`, `int8-weights` and `fp16`; `summary` is one word for people.

use crate::dtype::ElemType;
use crate::model::{ExternalFile, Model};
use crate::proto::tensor_shape_proto::dimension::Value as DimValue;
use crate::proto::type_proto::Value as TypeValue;
use crate::proto::{TensorProto, ValueInfoProto};
use crate::tensor::{data_bytes, numel};
use crate::walk::for_each_graph;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// The schema identifier written in every summary.
pub const SCHEMA: &str = "optimize.inspect/1";

/// Everything `optimize inspect` reports about a model. See the module docs for the JSON form.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)] // fields are documented in the module-level schema
pub struct Summary {
    pub schema: &'static str,
    pub path: Option<String>,
    pub file_bytes: Option<u64>,
    pub ir_version: i64,
    pub opsets: Vec<Opset>,
    pub producer: Producer,
    pub domain: Option<String>,
    pub model_version: Option<i64>,
    pub doc_string: Option<String>,
    pub metadata: Vec<MetadataEntry>,
    pub inputs: Vec<ValueSummary>,
    pub outputs: Vec<ValueSummary>,
    pub graph: GraphCounts,
    pub op_types: Vec<OpCount>,
    pub parameters: Parameters,
    pub largest_tensors: Vec<TensorSummary>,
    pub external_data: Vec<ExternalFile>,
    pub precision: Precision,
}

/// An opset the model imports.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub struct Opset {
    pub domain: String,
    pub version: i64,
}

/// Who wrote the model.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub struct Producer {
    pub name: Option<String>,
    pub version: Option<String>,
}

/// One `metadata_props` entry.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub struct MetadataEntry {
    pub key: String,
    pub value: String,
}

/// One dimension of a shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Dim {
    /// A fixed size.
    Fixed(i64),
    /// A symbolic dimension, by name (`batch`, `sequence`).
    Symbolic(String),
    /// Unknown.
    Unknown,
}

/// A graph input or output.
#[derive(Debug, Clone, Serialize)]
pub struct ValueSummary {
    /// Its name.
    pub name: String,
    /// Element type name, or the kind of a non-tensor value (`sequence`, `map`, `optional`).
    pub dtype: String,
    /// Its shape, or `None` when the model leaves the rank unknown.
    pub shape: Option<Vec<Dim>>,
}

/// Sizes of the graph.
#[derive(Debug, Clone, Serialize)]
pub struct GraphCounts {
    /// Nodes in the main graph.
    pub nodes: usize,
    /// Nodes in the main graph and all subgraphs.
    pub nodes_with_subgraphs: usize,
    /// Subgraphs (bodies of If/Loop/Scan).
    pub subgraphs: usize,
    /// Model-local functions.
    pub functions: usize,
    /// Initializers in the main graph and subgraphs.
    pub initializers: usize,
}

/// How often an operator appears (in all graphs).
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub struct OpCount {
    pub op_type: String,
    pub domain: String,
    pub count: usize,
}

/// Stored tensor totals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Parameters {
    /// Elements in all stored tensors.
    pub count: u64,
    /// Bytes of their data.
    pub bytes: u64,
    /// The same, by element type, largest first.
    pub by_dtype: Vec<DTypeParameters>,
}

/// Stored tensor totals of one element type.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub struct DTypeParameters {
    pub dtype: String,
    pub tensors: usize,
    pub count: u64,
    pub bytes: u64,
}

/// One stored tensor.
#[derive(Debug, Clone, Serialize)]
pub struct TensorSummary {
    /// The tensor's name (for a `Constant` node: its output's name).
    pub name: String,
    /// Element type name.
    pub dtype: String,
    /// Shape.
    pub shape: Vec<i64>,
    /// Bytes of data.
    pub bytes: u64,
    /// `initializer` or `constant`.
    pub source: &'static str,
}

/// Whether the model is already quantized or in half precision.
#[derive(Debug, Clone, Serialize)]
pub struct Precision {
    /// One word for people: `fp32`, `fp16`, `int8 (QDQ)`, `int8 (QOperator)`, `int4 (MatMulNBits)`,
    /// `int8 (weight-only)`, `mixed`, or `other`.
    pub summary: String,
    /// Formats present: any of `qdq`, `qoperator`, `matmulnbits`, `int8-weights` (low-bit integer
    /// weights with no quantization operators, dequantized by ordinary ops), `fp16`.
    pub formats: Vec<&'static str>,
    /// QuantizeLinear / DequantizeLinear nodes.
    pub qdq_nodes: usize,
    /// Integer operator nodes (QLinearConv, MatMulInteger, ConvInteger, DynamicQuantizeLinear, ...).
    pub qoperator_nodes: usize,
    /// MatMulNBits / GatherBlockQuantized nodes (block-quantized weights).
    pub matmul_nbits_nodes: usize,
    /// Bytes of float16/bfloat16 stored tensors.
    pub fp16_parameter_bytes: u64,
    /// Bytes of all floating-point stored tensors.
    pub float_parameter_bytes: u64,
}

const QDQ_OPS: &[&str] = &["QuantizeLinear", "DequantizeLinear"];
const NBITS_OPS: &[&str] = &["MatMulNBits", "GatherBlockQuantized", "MatMulBnb4"];

fn is_qoperator(op: &str) -> bool {
    op.starts_with("QLinear")
        || matches!(
            op,
            "ConvInteger"
                | "MatMulInteger"
                | "DynamicQuantizeLinear"
                | "DynamicQuantizeMatMul"
                | "QGemm"
                | "QAttention"
                | "QOrderedMatMul"
                | "DynamicQuantizeLSTM"
                | "QEmbedLayerNormalization"
        )
}

/// How many tensors `largest_tensors` lists.
pub const LARGEST: usize = 10;

impl Summary {
    /// Summarizes `model`. `file_bytes` is the size of the `.onnx` file, when there is one.
    pub fn of(model: &Model, file_bytes: Option<u64>) -> Summary {
        let p = &model.proto;
        let empty = Default::default();
        let g = p.graph.as_ref().unwrap_or(&empty);

        let mut counts = GraphCounts {
            nodes: g.node.len(),
            nodes_with_subgraphs: 0,
            subgraphs: 0,
            functions: p.functions.len(),
            initializers: 0,
        };
        let mut ops: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut tensors: Vec<(String, &TensorProto, &'static str)> = Vec::new();
        for_each_graph(g, &mut |graph, depth| {
            counts.subgraphs += usize::from(depth > 0);
            counts.nodes_with_subgraphs += graph.node.len();
            counts.initializers += graph.initializer.len();
            tensors.extend(
                graph
                    .initializer
                    .iter()
                    .map(|t| (t.name().to_string(), t, "initializer")),
            );
            for node in &graph.node {
                *ops.entry((node.op_type().to_string(), node.domain().to_string()))
                    .or_default() += 1;
                if node.op_type() == "Constant" && node.domain().is_empty() {
                    let out = node.output.first().cloned().unwrap_or_default();
                    for attr in &node.attribute {
                        tensors.extend(attr.t.iter().map(|t| (out.clone(), t, "constant")));
                    }
                }
            }
        });
        for func in &p.functions {
            for node in &func.node {
                *ops.entry((node.op_type().to_string(), node.domain().to_string()))
                    .or_default() += 1;
            }
        }
        let mut op_types: Vec<OpCount> = ops
            .into_iter()
            .map(|((op_type, domain), count)| OpCount {
                op_type,
                domain,
                count,
            })
            .collect();
        op_types.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.op_type.cmp(&b.op_type))
        });

        let mut parameters = Parameters::default();
        let mut by_dtype: BTreeMap<String, DTypeParameters> = BTreeMap::new();
        let (mut fp16_bytes, mut float_bytes, mut low_bit_bytes) = (0u64, 0u64, 0u64);
        let mut largest: Vec<TensorSummary> = Vec::with_capacity(tensors.len());
        for (name, t, source) in &tensors {
            let dtype = t.data_type.and_then(ElemType::from_code);
            let dtype_name = dtype.map_or("unknown", |d| d.name()).to_string();
            let n = numel(&t.dims).unwrap_or(0);
            let bytes = data_bytes(t);
            parameters.count += n;
            parameters.bytes += bytes;
            let e = by_dtype
                .entry(dtype_name.clone())
                .or_insert_with(|| DTypeParameters {
                    dtype: dtype_name.clone(),
                    tensors: 0,
                    count: 0,
                    bytes: 0,
                });
            e.tensors += 1;
            e.count += n;
            e.bytes += bytes;
            if dtype.is_some_and(|d| d.is_low_bit_int()) {
                low_bit_bytes += bytes;
            }
            if dtype.is_some_and(|d| d.is_float()) {
                float_bytes += bytes;
                if dtype.is_some_and(|d| d.bits() == Some(16)) {
                    fp16_bytes += bytes;
                }
            }
            largest.push(TensorSummary {
                name: name.clone(),
                dtype: dtype_name,
                shape: t.dims.clone(),
                bytes,
                source,
            });
        }
        parameters.by_dtype = by_dtype.into_values().collect();
        parameters
            .by_dtype
            .sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.dtype.cmp(&b.dtype)));
        largest.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
        largest.truncate(LARGEST);

        let count_ops = |pred: &dyn Fn(&str) -> bool| {
            op_types
                .iter()
                .filter(|o| pred(&o.op_type))
                .map(|o| o.count)
                .sum::<usize>()
        };
        let qdq_nodes = count_ops(&|op| QDQ_OPS.contains(&op));
        let qoperator_nodes = count_ops(&is_qoperator);
        let matmul_nbits_nodes = count_ops(&|op| NBITS_OPS.contains(&op));
        let fp16_io = g
            .input
            .iter()
            .chain(&g.output)
            .any(|v| value_dtype(v) == "float16");
        let is_fp16 = fp16_io || (float_bytes > 0 && fp16_bytes * 2 > float_bytes);
        // Weight-only int8 without Q/DQ ops (int8 weights dequantized by Cast and Mul, as some
        // exporters write): most stored bytes are low-bit integers.
        let int_weights =
            qdq_nodes + qoperator_nodes + matmul_nbits_nodes == 0 && low_bit_bytes > float_bytes;
        let mut formats = Vec::new();
        for (present, name) in [
            (qdq_nodes > 0, "qdq"),
            (qoperator_nodes > 0, "qoperator"),
            (matmul_nbits_nodes > 0, "matmulnbits"),
            (int_weights, "int8-weights"),
            (is_fp16, "fp16"),
        ] {
            if present {
                formats.push(name);
            }
        }
        let summary = match formats.as_slice() {
            [] if float_bytes > 0 || parameters.bytes == 0 => "fp32",
            [] => "other",
            ["qdq"] => "int8 (QDQ)",
            ["qoperator"] => "int8 (QOperator)",
            ["matmulnbits"] => "int4 (MatMulNBits)",
            ["int8-weights"] => "int8 (weight-only)",
            ["fp16"] => "fp16",
            _ => "mixed",
        }
        .to_string();

        let initializer_names: HashSet<&str> = g.initializer.iter().map(|t| t.name()).collect();
        Summary {
            schema: SCHEMA,
            path: model.source().map(|s| s.display().to_string()),
            file_bytes,
            ir_version: p.ir_version.unwrap_or(0),
            opsets: p
                .opset_import
                .iter()
                .map(|o| Opset {
                    domain: o.domain().to_string(),
                    version: o.version(),
                })
                .collect(),
            producer: Producer {
                name: p.producer_name.clone(),
                version: p.producer_version.clone(),
            },
            domain: p.domain.clone(),
            model_version: p.model_version,
            doc_string: p.doc_string.clone(),
            metadata: p
                .metadata_props
                .iter()
                .map(|m| MetadataEntry {
                    key: m.key().to_string(),
                    value: m.value().to_string(),
                })
                .collect(),
            // IR < 4 lists initializers among the inputs; they are weights, not inputs.
            inputs: g
                .input
                .iter()
                .filter(|v| !initializer_names.contains(v.name()))
                .map(value_summary)
                .collect(),
            outputs: g.output.iter().map(value_summary).collect(),
            graph: counts,
            op_types,
            parameters,
            largest_tensors: largest,
            external_data: model.external_files().to_vec(),
            precision: Precision {
                summary,
                formats,
                qdq_nodes,
                qoperator_nodes,
                matmul_nbits_nodes,
                fp16_parameter_bytes: fp16_bytes,
                float_parameter_bytes: float_bytes,
            },
        }
    }
}

fn value_dtype(v: &ValueInfoProto) -> String {
    match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TypeValue::TensorType(t)) => t
            .elem_type
            .and_then(ElemType::from_code)
            .map_or("unknown", |d| d.name())
            .to_string(),
        Some(TypeValue::SparseTensorType(t)) => format!(
            "sparse {}",
            t.elem_type
                .and_then(ElemType::from_code)
                .map_or("unknown", |d| d.name())
        ),
        Some(TypeValue::SequenceType(_)) => "sequence".into(),
        Some(TypeValue::MapType(_)) => "map".into(),
        Some(TypeValue::OptionalType(_)) => "optional".into(),
        Some(TypeValue::OpaqueType(_)) => "opaque".into(),
        None => "unknown".into(),
    }
}

fn value_summary(v: &ValueInfoProto) -> ValueSummary {
    let shape = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TypeValue::TensorType(t)) => t.shape.as_ref(),
        Some(TypeValue::SparseTensorType(t)) => t.shape.as_ref(),
        _ => None,
    };
    ValueSummary {
        name: v.name().to_string(),
        dtype: value_dtype(v),
        shape: shape.map(|s| {
            s.dim
                .iter()
                .map(|d| match &d.value {
                    Some(DimValue::DimValue(n)) => Dim::Fixed(*n),
                    Some(DimValue::DimParam(s)) if !s.is_empty() => Dim::Symbolic(s.clone()),
                    _ => Dim::Unknown,
                })
                .collect()
        }),
    }
}
