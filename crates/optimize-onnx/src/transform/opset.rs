//! Opset upgrade for the default ONNX domain (`ai.onnx`).
//!
//! Some rewrites need a newer opset than a model was exported with: per-channel QDQ
//! (`DequantizeLinear` with `axis`) needs 13, and PaddlePaddle exports are often at 11 or 12.
//! [`upgrade_opset`] moves a model from opset `from` (at least [`MIN_SOURCE_OPSET`]) to `target`
//! (at most [`MAX_TARGET_OPSET`]) one version step at a time, as the ONNX spec changed: at each
//! step every default-domain node whose op changed at that step is adapted so the model computes
//! the same under the new version, in the main graph and in every `If`/`Loop`/`Scan` body (they
//! share the model's opset). Then the `ai.onnx` entry of `opset_import` is set to `target`.
//!
//! What changes, by step (the full list of ops whose schema changed, and which of them need more
//! than a new version number, is [`changed_ops`]):
//!
//! | step | rewritten |
//! |------|-----------|
//! | 10 | `Slice` starts/ends/axes and `TopK` k attributes to inputs; the deprecated `Upsample` to `Resize` (same meaning) |
//! | 11 | `Clip` min/max and `Pad` pads/value attributes to inputs; `Resize` (10) to Resize-11 with the old "asymmetric" coordinates; `Scatter` to `ScatterElements` |
//! | 12 | `Dropout` ratio attribute to an input |
//! | 13 | `Squeeze`, `Unsqueeze`, `ReduceSum` axes and `Split` sizes to inputs; `Softmax`, `LogSoftmax`, `Hardmax` on an axis that may not be the last one spelled out as Flatten, op, Reshape; `Resize` "tf_half_pixel_for_nn" (nearest) to "half_pixel" with the equivalent rounding |
//! | 16 | `RoiAlign` gets its old coordinate mode ("output_half_pixel") explicitly |
//! | 18 | the other `Reduce*` axes to inputs; `Split` without sizes gets `num_outputs` |
//! | 20 | `DFT` axis to an input; `GridSample` modes renamed |
//!
//! New constants (axes, bounds, ...) become initializers of the main graph, which every subgraph
//! can read, under names unused anywhere in the model; in models of IR version < 4 they are also
//! listed as graph inputs, as that IR requires. Nodes of other domains are left alone.
//!
//! Refused, with every offending node named in one [`Error::OpsetRefused`], and the model left
//! untouched: a node whose old meaning no rewrite is sure to keep. That is nearest `Resize` from
//! opset 10 that may down-sample (its rounding was undefined); `Dropout` whose `mask` output is
//! used, across 10 or 12; `ConvTranspose` with `auto_pad` SAME_* across 11; "tf_half_pixel_for_nn"
//! `Resize` with a linear or cubic mode or ceil-type rounding across 13; `Erf` on integers across
//! 13; `BatchNormalization` training outputs across 14; `QuantizeLinear` of int32 across 19; and
//! `GroupNormalization` across 21. Refused with
//! [`Error::OpsetUnsupported`]: a source below [`MIN_SOURCE_OPSET`], a target above
//! [`MAX_TARGET_OPSET`] or below the source, a model without an `ai.onnx` import, and models with
//! model-local functions using `ai.onnx` ops or with training graphs (not upgraded).
//!
//! The pass is linear in the model's size: one pass to collect names and tensor facts, one to
//! plan each node's rewrite, one to splice the plans in.
//!
//! ```
//! use optimize_onnx::build::{attr_ints, node, WithAttr};
//! use optimize_onnx::proto::{GraphProto, ModelProto, OperatorSetIdProto};
//! use optimize_onnx::transform::upgrade_opset;
//!
//! let squeeze = node("Squeeze", &["x"], &["y"], "sq").with_attr(attr_ints("axes", &[0]));
//! let mut model = ModelProto {
//!     ir_version: Some(7),
//!     opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(12) }],
//!     graph: Some(GraphProto { node: vec![squeeze], ..Default::default() }),
//!     ..Default::default()
//! };
//! let report = upgrade_opset(&mut model, 13)?;
//! assert_eq!(report.rewritten["Squeeze"], 1);
//! let graph = model.graph.as_ref().unwrap();
//! assert_eq!(graph.node[0].input, ["x", "sq_axes"]);
//! assert_eq!(graph.initializer[0].name(), "sq_axes");
//! # Ok::<(), optimize_onnx::Error>(())
//! ```

mod adapters;
mod facts;

use crate::build::opset;
use crate::error::{Error, Result};
use crate::names::Names;
use crate::proto::tensor_shape_proto::{dimension, Dimension};
use crate::proto::type_proto::{Tensor, Value as TypeValue};
use crate::proto::{
    GraphProto, ModelProto, NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use adapters::{Adapter, Ctx};
use facts::{is_default_domain, Facts};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The lowest `ai.onnx` opset [`upgrade_opset`] upgrades from.
pub const MIN_SOURCE_OPSET: i64 = 9;

/// The highest `ai.onnx` opset [`upgrade_opset`] upgrades to.
pub const MAX_TARGET_OPSET: i64 = 21;

/// What [`upgrade_opset`] did. Serialized as JSON by `optimize convert --opset --json`:
/// `{"from": 12, "to": 13, "rewritten": {"Squeeze": 7}, "nodes_added": 0, "initializers_added": 7}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpsetUpgrade {
    /// The `ai.onnx` opset the model imported.
    pub from: i64,
    /// The opset it imports now.
    pub to: i64,
    /// Nodes rewritten, by op type before the rewrite. Ops that only changed version number are
    /// not counted.
    pub rewritten: BTreeMap<String, usize>,
    /// Nodes added around rewritten ones (Shape, Flatten and Reshape around a Softmax).
    pub nodes_added: usize,
    /// Constants added as main-graph initializers (axes, split sizes, bounds, ...).
    pub initializers_added: usize,
}

/// A node [`upgrade_opset`] cannot carry to the target opset, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedNode {
    /// The node's name, or `(output 'y')` for an unnamed node.
    pub node: String,
    /// Its op type.
    pub op_type: String,
    /// The version step at which its meaning changes.
    pub opset: i64,
    /// What changed and why no rewrite keeps it.
    pub reason: String,
}

impl std::fmt::Display for RefusedNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} '{}' (opset {}): {}",
            self.op_type, self.node, self.opset, self.reason
        )
    }
}

/// How the pass treats an op whose schema changed at some version (see [`changed_ops`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Handling {
    /// Only the version number changes: the new schema adds types, or attributes and optional
    /// inputs whose defaults keep the old meaning.
    Compatible,
    /// Nodes may be rewritten, or refused when no rewrite keeps their meaning.
    Adapted,
}

#[derive(Clone, Copy)]
enum Rule {
    Same,
    Adapt(Adapter),
}

use adapters::*;
use Rule::{Adapt, Same};

/// Every `ai.onnx` op whose schema has a new version at each step, from ONNX's operator
/// changelog (docs/Changelog.md) and the schemas in onnx 1.23 (`onnx.defs`); an integration test
/// checks the list against the installed onnx package. Ops not listed at a step did not change
/// there; ops introduced at a step cannot appear in older models.
///
/// `Same` entries were reviewed: their new version only widens types, or adds attributes and
/// optional inputs whose defaults keep the old meaning (ArgMax's `select_last_index`, Reshape's
/// `allowzero`, TopK's `largest`/`sorted`, DepthToSpace's `mode` = DCR, QuantizeLinear's `axis`,
/// ...), or accepts negative axes. `Upsample` did not change at 11: it was deprecated at 10 and
/// becomes Resize there; the entry at 11 catches opset-10 models that still hold one.
const CHANGES: &[(i64, &[(&str, Rule)])] = &[
    (
        10,
        &[
            ("AveragePool", Same),
            ("Dropout", Adapt(dropout_mask_type)),
            ("MaxPool", Same),
            ("Slice", Adapt(slice_inputs)),
            ("TopK", Adapt(topk_input)),
            ("Upsample", Adapt(upsample_to_resize)),
        ],
    ),
    (
        11,
        &[
            ("ArgMax", Same),
            ("ArgMin", Same),
            ("AveragePool", Same),
            ("Clip", Adapt(clip_bounds)),
            ("Compress", Same),
            ("Concat", Same),
            ("Constant", Same),
            ("Conv", Same),
            ("ConvTranspose", Adapt(conv_transpose_same_pad)),
            ("DepthToSpace", Same),
            ("Equal", Same),
            ("Flatten", Same),
            ("Gather", Same),
            ("Gemm", Same),
            ("Hardmax", Same),
            ("If", Same),
            ("LogSoftmax", Same),
            ("Loop", Same),
            ("LpPool", Same),
            ("MaxPool", Same),
            ("MaxUnpool", Same),
            ("NonMaxSuppression", Same),
            ("OneHot", Same),
            ("Pad", Adapt(pad_inputs)),
            ("ReduceL1", Same),
            ("ReduceL2", Same),
            ("ReduceLogSum", Same),
            ("ReduceLogSumExp", Same),
            ("ReduceMax", Same),
            ("ReduceMean", Same),
            ("ReduceMin", Same),
            ("ReduceProd", Same),
            ("ReduceSum", Same),
            ("ReduceSumSquare", Same),
            ("Resize", Adapt(resize_from_10)),
            ("Scan", Same),
            ("Scatter", Adapt(scatter_elements)),
            ("Slice", Same),
            ("Softmax", Same),
            ("Split", Same),
            ("Squeeze", Same),
            ("TopK", Same),
            ("Unsqueeze", Same),
            ("Upsample", Adapt(resize_from_10)),
        ],
    ),
    (
        12,
        &[
            ("ArgMax", Same),
            ("ArgMin", Same),
            ("Clip", Same),
            ("Constant", Same),
            ("Dropout", Adapt(dropout_ratio)),
            ("GatherND", Same),
            ("Max", Same),
            ("MaxPool", Same),
            ("Min", Same),
            ("Pow", Same),
            ("ReduceMax", Same),
            ("ReduceMin", Same),
        ],
    ),
    (
        13,
        &[
            ("Abs", Same),
            ("Add", Same),
            ("ArgMax", Same),
            ("ArgMin", Same),
            ("Cast", Same),
            ("Ceil", Same),
            ("Clip", Same),
            ("Concat", Same),
            ("Constant", Same),
            ("DepthToSpace", Same),
            ("DequantizeLinear", Same),
            ("Div", Same),
            ("Dropout", Same),
            ("Equal", Same),
            ("Erf", Adapt(erf_float_only)),
            ("Exp", Same),
            ("Expand", Same),
            ("Flatten", Same),
            ("Floor", Same),
            ("Gather", Same),
            ("GatherElements", Same),
            ("GatherND", Same),
            ("Gemm", Same),
            ("Greater", Same),
            ("Hardmax", Adapt(softmax_axis)),
            ("Identity", Same),
            ("If", Same),
            ("IsNaN", Same),
            ("LRN", Same),
            ("Less", Same),
            ("Log", Same),
            ("LogSoftmax", Adapt(softmax_axis)),
            ("Loop", Same),
            ("MatMul", Same),
            ("Max", Same),
            ("Mean", Same),
            ("MeanVarianceNormalization", Same),
            ("Min", Same),
            ("Mod", Same),
            ("Mul", Same),
            ("Neg", Same),
            ("NegativeLogLikelihoodLoss", Same),
            ("NonZero", Same),
            ("Pad", Same),
            ("Pow", Same),
            ("QuantizeLinear", Same),
            ("Reciprocal", Same),
            ("ReduceL1", Same),
            ("ReduceL2", Same),
            ("ReduceLogSum", Same),
            ("ReduceLogSumExp", Same),
            ("ReduceMax", Same),
            ("ReduceMean", Same),
            ("ReduceMin", Same),
            ("ReduceProd", Same),
            ("ReduceSum", Adapt(axes_to_input)),
            ("ReduceSumSquare", Same),
            ("Relu", Same),
            ("Reshape", Same),
            ("Resize", Adapt(resize_tf_half_pixel)),
            ("ScatterElements", Same),
            ("ScatterND", Same),
            ("Shape", Same),
            ("Sigmoid", Same),
            ("Sign", Same),
            ("Size", Same),
            ("Slice", Same),
            ("Softmax", Adapt(softmax_axis)),
            ("SoftmaxCrossEntropyLoss", Same),
            ("SpaceToDepth", Same),
            ("Split", Adapt(split_to_input)),
            ("Sqrt", Same),
            ("Squeeze", Adapt(axes_to_input)),
            ("Sub", Same),
            ("Sum", Same),
            ("Tanh", Same),
            ("Tile", Same),
            ("Transpose", Same),
            ("Unsqueeze", Adapt(axes_to_input)),
        ],
    ),
    (
        14,
        &[
            ("Add", Same),
            ("BatchNormalization", Adapt(batch_norm_outputs)),
            ("CumSum", Same),
            ("Div", Same),
            ("GRU", Same),
            ("Identity", Same),
            ("LSTM", Same),
            ("Mul", Same),
            ("RNN", Same),
            ("Relu", Same),
            ("Reshape", Same),
            ("Sub", Same),
        ],
    ),
    (
        15,
        &[("BatchNormalization", Same), ("Pow", Same), ("Shape", Same)],
    ),
    (
        16,
        &[
            ("GreaterOrEqual", Same),
            ("Identity", Same),
            ("If", Same),
            ("LeakyRelu", Same),
            ("LessOrEqual", Same),
            ("Loop", Same),
            ("PRelu", Same),
            ("RoiAlign", Adapt(roi_align_mode)),
            ("Scan", Same),
            ("ScatterElements", Same),
            ("ScatterND", Same),
            ("Where", Same),
        ],
    ),
    (17, &[]),
    (
        18,
        &[
            ("LpPool", Same),
            ("OptionalGetElement", Same),
            ("OptionalHasElement", Same),
            ("Pad", Same),
            ("ReduceL1", Adapt(axes_to_input)),
            ("ReduceL2", Adapt(axes_to_input)),
            ("ReduceLogSum", Adapt(axes_to_input)),
            ("ReduceLogSumExp", Adapt(axes_to_input)),
            ("ReduceMax", Adapt(axes_to_input)),
            ("ReduceMean", Adapt(axes_to_input)),
            ("ReduceMin", Adapt(axes_to_input)),
            ("ReduceProd", Adapt(axes_to_input)),
            ("ReduceSumSquare", Adapt(axes_to_input)),
            ("Resize", Same),
            ("ScatterElements", Same),
            ("ScatterND", Same),
            ("Split", Adapt(split_num_outputs)),
        ],
    ),
    (
        19,
        &[
            ("AveragePool", Same),
            ("Cast", Same),
            ("CastLike", Same),
            ("Constant", Same),
            ("DequantizeLinear", Same),
            ("Equal", Same),
            ("Identity", Same),
            ("If", Same),
            ("Loop", Same),
            ("Pad", Same),
            ("QuantizeLinear", Adapt(quantize_int32_input)),
            ("Reshape", Same),
            ("Resize", Same),
            ("Scan", Same),
            ("Shape", Same),
            ("Size", Same),
        ],
    ),
    (
        20,
        &[
            ("ConstantOfShape", Same),
            ("DFT", Adapt(dft_axis)),
            ("GridSample", Adapt(grid_sample_modes)),
            ("IsInf", Same),
            ("IsNaN", Same),
            ("ReduceMax", Same),
            ("ReduceMin", Same),
        ],
    ),
    (
        21,
        &[
            ("Cast", Same),
            ("CastLike", Same),
            ("Constant", Same),
            ("ConstantOfShape", Same),
            ("DequantizeLinear", Same),
            ("Flatten", Same),
            ("GroupNormalization", Adapt(group_norm_per_channel)),
            ("Identity", Same),
            ("If", Same),
            ("Loop", Same),
            ("Pad", Same),
            ("QLinearMatMul", Same),
            ("QuantizeLinear", Same),
            ("Reshape", Same),
            ("Scan", Same),
            ("Shape", Same),
            ("Size", Same),
            ("Squeeze", Same),
            ("Transpose", Same),
            ("Unsqueeze", Same),
        ],
    ),
];

/// The `ai.onnx` ops whose schema changed at `version` (a new version of the op starts there),
/// each with how [`upgrade_opset`] treats its nodes when crossing that version. Empty outside
/// `MIN_SOURCE_OPSET + 1 ..= MAX_TARGET_OPSET` and for versions where nothing changed.
pub fn changed_ops(version: i64) -> Vec<(&'static str, Handling)> {
    step(version)
        .iter()
        .map(|&(op, rule)| {
            let h = match rule {
                Same => Handling::Compatible,
                Adapt(_) => Handling::Adapted,
            };
            (op, h)
        })
        .collect()
}

fn step(version: i64) -> &'static [(&'static str, Rule)] {
    CHANGES
        .iter()
        .find(|(v, _)| *v == version)
        .map_or(&[], |(_, ops)| ops)
}

/// Rewrites `model` so that it means the same under `ai.onnx` opset `target`, then imports that
/// opset. What is rewritten and what is refused is listed at the top of `transform/opset.rs`; on
/// any error the model is left exactly as it was.
///
/// `target` equal to the model's opset is a no-op that reports nothing rewritten.
pub fn upgrade_opset(model: &mut ModelProto, target: i64) -> Result<OpsetUpgrade> {
    let unsupported = |detail: String| Error::OpsetUnsupported { to: target, detail };
    let from = opset(model, "")
        .ok_or_else(|| unsupported("the model imports no ai.onnx (default domain) opset".into()))?;
    let mut report = OpsetUpgrade {
        from,
        to: target,
        rewritten: BTreeMap::new(),
        nodes_added: 0,
        initializers_added: 0,
    };
    if target == from {
        return Ok(report);
    }
    if target < from {
        return Err(unsupported(format!(
            "the model is at opset {from}; downgrading is not supported"
        )));
    }
    if from < MIN_SOURCE_OPSET {
        return Err(unsupported(format!(
            "the model is at opset {from}; upgrades start from opset {MIN_SOURCE_OPSET}"
        )));
    }
    if target > MAX_TARGET_OPSET {
        return Err(unsupported(format!(
            "opsets above {MAX_TARGET_OPSET} are not supported"
        )));
    }
    check_uncovered_parts(model).map_err(unsupported)?;

    let mut planner = Planner {
        rules: (from + 1..=target)
            .map(|v| step(v).iter().copied().collect())
            .collect(),
        from,
        ctx: Ctx {
            target,
            names: Names::of(model),
            facts: Facts::of(model),
            initializers: Vec::new(),
        },
        plans: HashMap::new(),
        next_id: 0,
        refused: Vec::new(),
        report: &mut report,
    };
    if let Some(g) = &model.graph {
        planner.plan_graph(g);
    }
    if !planner.refused.is_empty() {
        return Err(Error::OpsetRefused {
            from,
            to: target,
            nodes: planner.refused,
        });
    }
    let Planner { mut plans, ctx, .. } = planner;

    let list_as_inputs = model.ir_version.unwrap_or(0) < 4;
    if let Some(g) = &mut model.graph {
        commit_graph(g, &mut 0, &mut plans);
        report.initializers_added = ctx.initializers.len();
        for t in ctx.initializers {
            if list_as_inputs {
                g.input.push(value_info_of(&t));
            }
            g.initializer.push(t);
        }
    }
    for o in &mut model.opset_import {
        if matches!(o.domain(), "" | "ai.onnx") {
            o.version = Some(target);
        }
    }
    Ok(report)
}

/// Parts of a model the pass does not rewrite; upgrading around them would leave them behind.
fn check_uncovered_parts(model: &ModelProto) -> std::result::Result<(), String> {
    fn uses_default_domain(nodes: &[NodeProto]) -> bool {
        nodes.iter().any(|n| {
            is_default_domain(n)
                || n.attribute.iter().any(|a| {
                    a.g.iter()
                        .chain(&a.graphs)
                        .any(|g| uses_default_domain(&g.node))
                })
        })
    }
    if let Some(f) = model
        .functions
        .iter()
        .find(|f| uses_default_domain(&f.node))
    {
        return Err(format!(
            "model-local function '{}' uses ai.onnx ops, and functions are not upgraded",
            f.name()
        ));
    }
    if !model.training_info.is_empty() {
        return Err(
            "the model holds training graphs (training_info), which are not upgraded".into(),
        );
    }
    Ok(())
}

/// Plans each node's rewrite without touching the model, so a refusal leaves it as it was.
struct Planner<'r> {
    /// The rules of each step, `rules[0]` for `from + 1`.
    rules: Vec<HashMap<&'static str, Rule>>,
    from: i64,
    ctx: Ctx,
    /// Replacement node lists, by node id (the order in which graphs and nodes are visited).
    plans: HashMap<usize, Vec<NodeProto>>,
    next_id: usize,
    refused: Vec<RefusedNode>,
    report: &'r mut OpsetUpgrade,
}

impl Planner<'_> {
    /// Visits the nodes of `g`, each node's subgraphs before the node, as [`commit_graph`] does.
    fn plan_graph(&mut self, g: &GraphProto) {
        for node in &g.node {
            for a in &node.attribute {
                for sub in a.g.iter().chain(&a.graphs) {
                    self.plan_graph(sub);
                }
            }
            let id = self.next_id;
            self.next_id += 1;
            self.plan_node(id, node);
        }
    }

    fn may_adapt(&self, op: &str) -> bool {
        self.rules
            .iter()
            .any(|r| matches!(r.get(op), Some(Adapt(_))))
    }

    /// Runs `node` through every version step; records the result if anything changed.
    fn plan_node(&mut self, id: usize, node: &NodeProto) {
        if !is_default_domain(node) || !self.may_adapt(node.op_type()) {
            return;
        }
        let mut nodes = vec![node.clone()];
        let mut counts = Vec::new();
        for (i, rules) in self.rules.iter().enumerate() {
            let version = self.from + 1 + i as i64;
            let mut next = Vec::with_capacity(nodes.len() + 2);
            for mut n in nodes {
                let adapter = match rules.get(n.op_type()) {
                    Some(Adapt(f)) if is_default_domain(&n) => *f,
                    _ => {
                        next.push(n);
                        continue;
                    }
                };
                let op = n.op_type().to_string();
                match adapter(&mut self.ctx, &mut n) {
                    Ok(edit) => {
                        if edit.changed {
                            counts.push(op);
                        }
                        next.extend(edit.before);
                        next.push(n);
                        next.extend(edit.after);
                    }
                    Err(reason) => {
                        self.refused.push(RefusedNode {
                            node: display_name(node),
                            op_type: op,
                            opset: version,
                            reason,
                        });
                        return;
                    }
                }
            }
            nodes = next;
        }
        if counts.is_empty() {
            return;
        }
        for op in counts {
            *self.report.rewritten.entry(op).or_default() += 1;
        }
        self.report.nodes_added += nodes.len() - 1;
        self.plans.insert(id, nodes);
    }
}

/// Splices the planned replacements in, visiting nodes in the order [`Planner::plan_graph`] did.
fn commit_graph(
    g: &mut GraphProto,
    next_id: &mut usize,
    plans: &mut HashMap<usize, Vec<NodeProto>>,
) {
    let old = std::mem::take(&mut g.node);
    let mut nodes = Vec::with_capacity(old.len());
    for mut node in old {
        for a in &mut node.attribute {
            for sub in a.g.iter_mut().chain(a.graphs.iter_mut()) {
                commit_graph(sub, next_id, plans);
            }
        }
        let id = *next_id;
        *next_id += 1;
        match plans.remove(&id) {
            Some(replacement) => nodes.extend(replacement),
            None => nodes.push(node),
        }
    }
    g.node = nodes;
}

fn display_name(node: &NodeProto) -> String {
    if !node.name().is_empty() {
        return node.name().to_string();
    }
    match node.output.first() {
        Some(o) => format!("(output '{o}')"),
        None => "(unnamed)".into(),
    }
}

/// A graph input entry for an initializer: its name, element type and shape.
fn value_info_of(t: &TensorProto) -> ValueInfoProto {
    let dims = t.dims.iter().map(|&d| Dimension {
        value: Some(dimension::Value::DimValue(d)),
        ..Default::default()
    });
    ValueInfoProto {
        name: t.name.clone(),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(Tensor {
                elem_type: t.data_type,
                shape: Some(TensorShapeProto {
                    dim: dims.collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{attr_i, attr_ints, attr_str, node, tensor_f32, WithAttr};
    use crate::proto::{AttributeProto, FunctionProto, OperatorSetIdProto};

    fn model(ir: i64, opset: i64, nodes: Vec<NodeProto>) -> ModelProto {
        ModelProto {
            ir_version: Some(ir),
            opset_import: vec![
                OperatorSetIdProto {
                    domain: Some("ai.onnx".into()),
                    version: Some(opset),
                },
                OperatorSetIdProto {
                    domain: Some("com.microsoft".into()),
                    version: Some(1),
                },
            ],
            graph: Some(GraphProto {
                node: nodes,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn graph(m: &ModelProto) -> &GraphProto {
        m.graph.as_ref().unwrap()
    }

    fn with_branch(iff: NodeProto, name: &str, body: GraphProto) -> NodeProto {
        iff.with_attr(AttributeProto {
            name: Some(name.into()),
            g: Some(body),
            ..Default::default()
        })
    }

    #[test]
    fn rewrites_main_graph_and_subgraphs_and_sets_the_opset() {
        let body = GraphProto {
            node: vec![
                node("Unsqueeze", &["x"], &["u"], "inner").with_attr(attr_ints("axes", &[0]))
            ],
            ..Default::default()
        };
        let iff = with_branch(node("If", &["c"], &["z"], "if"), "then_branch", body);
        let mut contrib =
            node("Squeeze", &["x"], &["q"], "contrib").with_attr(attr_ints("axes", &[0]));
        contrib.domain = Some("com.microsoft".into());
        let mut m = model(
            8,
            11,
            vec![
                node("Squeeze", &["x"], &["s"], "sq").with_attr(attr_ints("axes", &[1])),
                iff,
                contrib,
                node("Relu", &["s"], &["r"], "relu"),
            ],
        );
        let report = upgrade_opset(&mut m, 13).unwrap();
        assert_eq!((report.from, report.to), (11, 13));
        assert_eq!(report.rewritten.get("Squeeze"), Some(&1));
        assert_eq!(report.rewritten.get("Unsqueeze"), Some(&1));
        assert_eq!((report.nodes_added, report.initializers_added), (0, 2));
        let g = graph(&m);
        assert_eq!(g.node[0].input, ["x", "sq_axes"]);
        let inner = &g.node[1].attribute[0].g.as_ref().unwrap().node[0];
        assert_eq!(
            inner.input,
            ["x", "inner_axes"],
            "subgraph nodes are upgraded too"
        );
        assert!(inner.attribute.is_empty());
        assert_eq!(g.node[2].input, ["x"], "other domains are left alone");
        let names: Vec<&str> = g.initializer.iter().map(|t| t.name()).collect();
        assert_eq!(
            names,
            ["sq_axes", "inner_axes"],
            "constants live in the main graph"
        );
        assert!(g.input.is_empty(), "IR 8 needs no input entries");
        assert_eq!(opset(&m, ""), Some(13));
        assert_eq!(opset(&m, "com.microsoft"), Some(1));
    }

    #[test]
    fn old_ir_lists_new_initializers_as_typed_inputs() {
        let mut m = model(
            3,
            12,
            vec![node("Squeeze", &["x"], &["s"], "sq").with_attr(attr_ints("axes", &[1]))],
        );
        upgrade_opset(&mut m, 13).unwrap();
        let g = graph(&m);
        assert_eq!(g.input.len(), 1);
        assert_eq!(g.input[0], value_info_of(&g.initializer[0]));
        let Some(TypeValue::TensorType(t)) =
            g.input[0].r#type.as_ref().and_then(|t| t.value.clone())
        else {
            panic!("no tensor type");
        };
        assert_eq!(t.elem_type, Some(7));
        assert_eq!(t.shape.unwrap().dim.len(), 1);
    }

    #[test]
    fn steps_chain_from_10_to_18() {
        // Clip(10->11), Dropout(11->12), Split sizes (12->13), ReduceMean (17->18), Split without
        // sizes (17->18); the Softmax rewrite at 13 adds a Reshape that gets allowzero.
        let mut m = model(
            7,
            10,
            vec![
                node("Clip", &["x"], &["c"], "clip")
                    .with_attr(crate::build::attr_float("max", 6.0)),
                node("Dropout", &["c"], &["d"], "drop")
                    .with_attr(crate::build::attr_float("ratio", 0.1)),
                node("Split", &["d"], &["a", "b"], "split").with_attr(attr_ints("split", &[1, 2])),
                node("Split", &["d"], &["e", "f"], "even"),
                node("ReduceMean", &["a"], &["m"], "mean").with_attr(attr_ints("axes", &[-1])),
                node("Softmax", &["m"], &["y"], "sm"),
            ],
        );
        let report = upgrade_opset(&mut m, 18).unwrap();
        let counts: Vec<(&str, usize)> = report
            .rewritten
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            counts,
            [
                ("Clip", 1),
                ("Dropout", 1),
                ("ReduceMean", 1),
                ("Softmax", 1),
                ("Split", 2)
            ]
        );
        let g = graph(&m);
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type()).collect();
        assert_eq!(
            ops,
            [
                "Clip",
                "Dropout",
                "Split",
                "Split",
                "ReduceMean",
                "Shape",
                "Flatten",
                "Softmax",
                "Reshape"
            ]
        );
        assert_eq!(g.node[0].input, ["x", "", "clip_max"]);
        assert_eq!(g.node[1].input, ["c", "drop_ratio"]);
        assert_eq!(g.node[2].input, ["d", "split_split"]);
        assert_eq!(
            attr_i(&g.node[2], "num_outputs", 0),
            0,
            "sizes given: no num_outputs"
        );
        assert_eq!(attr_i(&g.node[3], "num_outputs", 0), 2);
        assert_eq!(g.node[4].input, ["a", "mean_axes"]);
        assert_eq!(attr_i(&g.node[8], "allowzero", 0), 1);
        assert_eq!(report.nodes_added, 3);
        assert_eq!(opset(&m, "ai.onnx"), Some(18));
    }

    #[test]
    fn upsample_from_10_becomes_resize_and_survives_step_13() {
        let mut m = model(7, 10, vec![node("Upsample", &["x", "s"], &["y"], "up")]);
        m.graph
            .as_mut()
            .unwrap()
            .initializer
            .push(tensor_f32("s", &[4], &[1.0, 1.0, 2.0, 2.0]));
        let report = upgrade_opset(&mut m, 13).unwrap();
        assert_eq!(report.rewritten.get("Upsample"), Some(&1));
        let n = &graph(&m).node[0];
        assert_eq!((n.op_type(), n.input.len()), ("Resize", 3));
        assert_eq!(
            attr_str(n, "coordinate_transformation_mode"),
            Some("asymmetric")
        );
    }

    #[test]
    fn refusals_name_every_node_and_leave_the_model_untouched() {
        let mut m = model(
            7,
            10,
            vec![
                node("Squeeze", &["x"], &["s"], "fine").with_attr(attr_ints("axes", &[0])),
                node("Resize", &["x", "computed"], &["r"], "up"),
                node("ConvTranspose", &["x", "w"], &["t"], "")
                    .with_attr(crate::build::attr_string("auto_pad", "SAME_UPPER")),
            ],
        );
        let before = m.clone();
        let err = upgrade_opset(&mut m, 13).unwrap_err();
        assert_eq!(m, before, "nothing changed");
        let Error::OpsetRefused { from, to, nodes } = &err else {
            panic!("{err}");
        };
        assert_eq!((*from, *to), (10, 13));
        let who: Vec<(&str, &str, i64)> = nodes
            .iter()
            .map(|n| (n.op_type.as_str(), n.node.as_str(), n.opset))
            .collect();
        assert_eq!(
            who,
            [("Resize", "up", 11), ("ConvTranspose", "(output 't')", 11)]
        );
        let msg = err.to_string();
        assert!(msg.contains("Resize 'up' (opset 11)"), "{msg}");
        assert!(msg.contains("ConvTranspose"), "{msg}");
    }

    #[test]
    fn unsupported_ranges_and_parts() {
        let sq = || node("Squeeze", &["x"], &["s"], "sq").with_attr(attr_ints("axes", &[0]));
        let mut m = model(7, 8, vec![sq()]);
        assert!(matches!(
            upgrade_opset(&mut m, 13),
            Err(Error::OpsetUnsupported { .. })
        ));
        let mut m = model(7, 13, vec![sq()]);
        let msg = upgrade_opset(&mut m, 12).unwrap_err().to_string();
        assert!(msg.contains("downgrading"), "{msg}");
        let msg = upgrade_opset(&mut m, 22).unwrap_err().to_string();
        assert!(msg.contains("above 21"), "{msg}");
        let same = upgrade_opset(&mut m, 13).unwrap();
        assert!(same.rewritten.is_empty());

        let mut m = model(7, 12, vec![sq()]);
        m.opset_import.retain(|o| o.domain() != "ai.onnx");
        assert!(upgrade_opset(&mut m, 13)
            .unwrap_err()
            .to_string()
            .contains("imports no ai.onnx"));

        let mut m = model(7, 12, vec![sq()]);
        m.functions.push(FunctionProto {
            name: Some("f".into()),
            node: vec![node("Relu", &["a"], &["b"], "r")],
            ..Default::default()
        });
        let before = m.clone();
        let msg = upgrade_opset(&mut m, 13).unwrap_err().to_string();
        assert!(msg.contains("function 'f'"), "{msg}");
        assert_eq!(m, before);
    }

    #[test]
    fn table_is_sorted_and_unique() {
        for (i, (v, ops)) in CHANGES.iter().enumerate() {
            assert_eq!(
                *v,
                MIN_SOURCE_OPSET + 1 + i as i64,
                "one entry per step, in order"
            );
            let names: Vec<&str> = ops.iter().map(|(op, _)| *op).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(names, sorted, "opset {v}: sorted, no duplicates");
        }
        assert_eq!(CHANGES.last().map(|(v, _)| *v), Some(MAX_TARGET_OPSET));
        assert_eq!(
            changed_ops(13)
                .iter()
                .filter(|(_, h)| *h == Handling::Adapted)
                .count(),
            9
        );
        assert!(changed_ops(22).is_empty());
        assert!(
            changed_ops(MIN_SOURCE_OPSET).is_empty(),
            "no step into the lowest source"
        );
    }

    #[test]
    fn constant_names_avoid_existing_names() {
        let mut m = model(
            8,
            12,
            vec![
                node("Identity", &["x"], &["sq_axes"], "id"),
                node("Squeeze", &["sq_axes"], &["s"], "sq").with_attr(attr_ints("axes", &[0])),
            ],
        );
        upgrade_opset(&mut m, 13).unwrap();
        assert_eq!(graph(&m).node[1].input, ["sq_axes", "sq_axes_1"]);
    }
}
