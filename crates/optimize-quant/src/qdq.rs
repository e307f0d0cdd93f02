//! Static int8 quantization in QDQ form: `QuantizeLinear`/`DequantizeLinear` around weights and
//! activations, with activation ranges from calibration.
//!
//! ```text
//! X ─ Q(X_scale, X_zp) ─ DQ ─┐
//! W_int8 ────────────── DQ ──┼─ Conv ─ Y ─ Q(Y_scale, Y_zp) ─ DQ ─ (consumers of Y)
//! B_int32 ───────────── DQ ──┘
//! ```
//!
//! This is the form ONNX Runtime, TensorRT and tract read: ONNX Runtime fuses each
//! `DQ → Conv/MatMul/Gemm → Q` group into `QLinearConv`/`QLinearMatMul` and runs it in int8.
//! Rules:
//! - activations: uint8 asymmetric (or int8 symmetric), one scale per tensor, from its
//!   calibrated range; every consumer of a quantized tensor reads its dequantized value (as ONNX
//!   Runtime's tool does), graph outputs keep the float value;
//! - weights: int8 symmetric, per tensor or per output channel (`axis` needs opset 13);
//! - biases of Conv/Gemm: int32 with `scale = X_scale · W_scale[c]` and zero point 0, so the
//!   runtime's integer kernels can add them exactly.
//!
//! - between the weighted ops, int8 is carried through the ops the registry gives a role
//!   ([`optimize_onnx::ops`], with why): residual and HardSwish Adds and Muls (a scalar constant
//!   operand is quantized too), pooling, Concat, Sigmoid, data movement and Resize with their
//!   input's scale; a Relu or Relu6 is folded into the quantization before it, a Mul or Div by
//!   a positive scalar into the scale of the dequantization before it (exact, so HardSwish's
//!   `/ 6` costs nothing), and any other Div by a constant becomes a Mul by its reciprocal. Ops
//!   without an integer kernel that sit on small tensors (HardSigmoid in squeeze-excitation)
//!   run in float between a DQ and a Q so the ops around them stay int8.
//!
//! Nodes inside If branches and Loop bodies are quantized like main-graph nodes: calibration
//! captures their activations through extra If/Loop outputs. Scan bodies and other holders are
//! left in float and reported.

use crate::config::QuantConfig;
use crate::dynamic::remove_unused_initializers;
use crate::observer::Range;
use crate::ops;
use crate::report::QuantReport;
use crate::scale::{params_for_range, QuantParams, QuantType};
use crate::weights::{float_values, quantize_weight, WeightType};
use crate::{Error, Result};
use optimize_onnx::build::{attr_int, node, opset, tensor_f32, tensor_i32, tensor_raw, WithAttr};
use optimize_onnx::names::Names;
use optimize_onnx::ops::{OpInfo, QuantRole};
use optimize_onnx::proto::tensor_proto::DataType;
use optimize_onnx::proto::type_proto::Value as TypeValue;
use optimize_onnx::proto::{GraphProto, ModelProto, NodeProto, TensorProto};
use optimize_onnx::walk::{self, GraphPath, SubgraphStep};
use optimize_onnx::{GraphView, Model};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Opset of `QuantizeLinear`/`DequantizeLinear`.
pub const MIN_OPSET: i64 = 10;
/// Opset that adds the `axis` attribute (per-channel) to `DequantizeLinear`.
pub const PER_CHANNEL_OPSET: i64 = 13;

/// What a static pass will do in one graph (the main graph or an If/Loop body).
#[derive(Debug, Clone, Default)]
pub struct GraphPlan {
    /// Indices of this graph's nodes to quantize.
    pub nodes: Vec<usize>,
    /// Activation tensors read or written by those nodes that get a Q/DQ pair in this graph.
    pub activations: BTreeSet<String>,
    /// Relu nodes (and Clips with a constant minimum of 0: Relu6) folded into the quantization
    /// of the node before them: producer output → (Relu node index, Relu output). Quantizing to uint8 with zero point 0 clamps negatives
    /// exactly as Relu does, so `Conv → Relu` becomes `Conv → Q → DQ`, which ONNX Runtime fuses
    /// into one integer kernel (with a Q/DQ between them it cannot).
    pub fused_relus: HashMap<String, (usize, String)>,
    /// Ops without weights that carry int8 through (see [`ops::activation_op`]), by index.
    pub activation_nodes: Vec<usize>,
    /// Scalar float constants those ops read, quantized as they are (node index, input index):
    /// HardSwish's `+ 3`; a Div's divisor, whose reciprocal the Mul that replaces it reads.
    pub constant_inputs: Vec<(usize, usize)>,
    /// Outputs of pass-through ops → the input whose scale and zero point they reuse (no
    /// calibration needed).
    pub pass_through: HashMap<String, String>,
    /// Multiplications and divisions by a positive scalar constant folded into the
    /// dequantization of their input, which they alone read: input → (node index, output,
    /// factor). `x · c` of `s · (q − z)` is `(s · c) · (q − z)`, exactly: the node goes, and its
    /// output is the input's DequantizeLinear with the scale times `c` (HardSwish's `/ 6`, a
    /// learnable scale after it).
    pub scaled: HashMap<String, (usize, String, f32)>,
    /// Nodes that keep float activations but get int8 weights ([`QuantConfig::weight_only`]).
    pub weight_only: Vec<usize>,
    /// Float nodes whose weights are stored in float16 ([`QuantConfig::fp16_weights`]).
    pub fp16_weights: Vec<usize>,
    /// Float nodes whose weights are stored in int8 ([`QuantConfig::int8_storage`]).
    pub int8_storage: Vec<usize>,
}

/// Which nodes a static pass will quantize, in which graphs, and which activations it needs
/// ranges for.
#[derive(Debug, Clone, Default)]
pub struct StaticPlan {
    /// The plan of each graph that has something to quantize, by its path from the main graph.
    pub graphs: BTreeMap<GraphPath, GraphPlan>,
    /// Every activation that needs a calibrated range (the union over all graphs).
    pub activations: BTreeSet<String>,
    /// Activations to leave in float after all, with why (filled after calibration, e.g. by
    /// the outlier guard); nodes that read one stay float.
    pub float_activations: BTreeMap<String, String>,
    /// Per-channel means of activations (from calibration), for bias correction when the
    /// config asks for it.
    pub input_means: BTreeMap<String, Vec<f64>>,
    /// What was skipped and why, to carry into the report.
    pub report: QuantReport,
}

impl StaticPlan {
    /// Number of nodes planned for quantization, over all graphs.
    pub fn node_count(&self) -> usize {
        self.graphs.values().map(|g| g.nodes.len()).sum()
    }
}

fn is_float_value(g: &GraphProto, name: &str) -> Option<bool> {
    g.input
        .iter()
        .chain(&g.value_info)
        .find(|v| v.name() == name)
        .and_then(|v| match v.r#type.as_ref()?.value.as_ref()? {
            TypeValue::TensorType(t) => Some(t.elem_type == Some(DataType::Float as i32)),
            _ => Some(false),
        })
}

/// The initializer `name` as seen from the innermost of `scopes` (a graph and the graphs that
/// enclose it, outermost first): a subgraph may read its ancestors' initializers.
fn initializer_in<'a>(scopes: &[GraphView<'a>], name: &str) -> Option<&'a TensorProto> {
    scopes.iter().rev().find_map(|v| v.initializer(name))
}

/// Decides what to quantize in `model`'s main graph and in the bodies of its If and Loop nodes,
/// however deeply nested (their activations are captured for calibration through added If/Loop
/// outputs, see [`crate::calibrate::capture_model`]). Weights in `Constant` nodes should already
/// be initializers (see [`optimize_onnx::transform::constants_to_initializers`]).
pub fn plan(model: &ModelProto, config: &QuantConfig) -> StaticPlan {
    let mut plan = StaticPlan {
        report: QuantReport {
            mode: "int8-static-qdq".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    if let Some(g) = model.graph.as_ref() {
        plan_graph(
            g,
            &mut Vec::new(),
            &mut Vec::new(),
            Ok(()),
            config,
            &mut plan,
        );
    }
    plan
}

fn plan_graph<'a>(
    g: &'a GraphProto,
    path: &mut GraphPath,
    scopes: &mut Vec<GraphView<'a>>,
    capturable: std::result::Result<(), String>,
    config: &QuantConfig,
    plan: &mut StaticPlan,
) {
    scopes.push(GraphView::new(g));
    let mut gp = GraphPlan::default();
    for (i, n) in g.node.iter().enumerate() {
        for (step, sub) in walk::subgraphs_of(i, n) {
            // If branches and Loop bodies can hand an inner tensor out as an extra output;
            // other holders (Scan, custom ops) cannot.
            let inner = match (n.domain(), n.op_type()) {
                ("", "If" | "Loop") => capturable.clone(),
                (_, op) => Err(format!(
                    "inside a {op} body (its activations cannot be captured for calibration)"
                )),
            };
            path.push(step);
            plan_graph(sub, path, scopes, inner, config, plan);
            path.pop();
        }
        let view = scopes.last().expect("pushed above");
        let Some(rule) = ops::rule(n) else {
            if let Some(kind) = ops::activation_op(n) {
                let listed = ops::quantized_inputs(n, kind);
                let mut constants: Vec<usize> = Vec::new();
                let mut ready = capturable.is_ok()
                    && config.filter.check(n).is_ok()
                    && listed.iter().any(|a| gp.activations.contains(a));
                for (k, a) in listed.iter().enumerate() {
                    if gp.activations.contains(a) {
                        continue;
                    }
                    match (kind, scalar_value(scopes, a)) {
                        (QuantRole::Calibrated { .. }, Some(_)) => constants.push(k),
                        _ => ready = false,
                    }
                }
                if kind == QuantRole::DivideByConstant {
                    // x / c = x · (1/c) only for a finite, nonzero c whose reciprocal is finite.
                    let divisor = n
                        .input
                        .get(1)
                        .and_then(|d| scalar_value(scopes, d))
                        .and_then(reciprocal);
                    ready &= divisor.is_some();
                    constants.push(1);
                }
                if let (Some(y), Some((x, factor))) = (n.output.first(), scaling(n, scopes)) {
                    let alone = matches!(view.consumers(x), [_]) && !view.is_output(x);
                    let folds = alone
                        && gp.activations.contains(x)
                        && !gp.pass_through.contains_key(x)
                        && !gp.fused_relus.values().any(|(_, out)| out == x)
                        && capturable.is_ok()
                        && config.filter.check(n).is_ok();
                    if folds {
                        gp.scaled.insert(x.clone(), (i, y.clone(), factor));
                        gp.activations.insert(y.clone());
                        continue;
                    }
                }
                if let (true, Some(y)) = (ready, n.output.first()) {
                    gp.activation_nodes.push(i);
                    gp.constant_inputs
                        .extend(constants.into_iter().map(|k| (i, k)));
                    if kind == QuantRole::PassThrough {
                        gp.activations.insert(y.clone());
                        gp.pass_through.insert(y.clone(), n.input[0].clone());
                    } else {
                        quantize_output(&mut gp, view, scopes, config, y);
                    }
                }
            }
            continue;
        };
        let weight = rule
            .weight_input()
            .and_then(|w| n.input.get(w))
            .and_then(|w| initializer_in(scopes, w));
        // Weight-only needs no calibration, so it also reaches bodies that cannot be captured.
        if config.weight_only.contains(crate::NodeFilter::node_id(n)) {
            match weight.map(|w| weight_fits_int8(n, rule, w, config)) {
                Some(Ok(())) => gp.weight_only.push(i),
                Some(Err(why)) => plan.report.skip(n.op_type(), why),
                None => plan.report.skip(n.op_type(), "weight is not a constant"),
            }
            continue;
        }
        let id = crate::NodeFilter::node_id(n);
        if config.int8_storage.contains(id) || config.fp16_weights.contains(id) {
            let int8 = config.int8_storage.contains(id);
            match weight {
                Some(w) if w.data_type == Some(DataType::Float as i32) => {
                    if int8 {
                        gp.int8_storage.push(i)
                    } else {
                        gp.fp16_weights.push(i)
                    }
                }
                _ => plan.report.skip(
                    n.op_type(),
                    if int8 {
                        "weight is not a float32 constant (int8 storage)"
                    } else {
                        "weight is not a float32 constant (fp16 storage)"
                    },
                ),
            }
            continue;
        }
        if let Err(why) = &capturable {
            plan.report.skip(n.op_type(), why.clone());
            continue;
        }
        if let Err(why) = config.filter.check(n) {
            plan.report
                .skip(n.op_type(), format!("excluded ({})", why.describe()));
            continue;
        }
        let mut acts: Vec<&str> = Vec::new();
        match (rule.op_type, weight) {
            ("MatMul", None) => acts.extend(n.input.iter().take(2).map(|s| s.as_str())),
            (_, None) => {
                plan.report.skip(n.op_type(), "weight is not a constant");
                continue;
            }
            (_, Some(w)) => {
                if let Err(why) = weight_fits_int8(n, rule, w, config) {
                    plan.report.skip(n.op_type(), why);
                    continue;
                }
                acts.push(n.input[0].as_str())
            }
        }
        if acts
            .iter()
            .any(|a| initializer_in(scopes, a).is_some() || is_float_value(g, a) == Some(false))
        {
            plan.report.skip(
                n.op_type(),
                "an activation input is a constant or not float32",
            );
            continue;
        }
        gp.nodes.push(i);
        gp.activations.extend(acts.iter().map(|s| s.to_string()));
        if let Some(y) = n.output.first().filter(|y| !y.is_empty()) {
            quantize_output(&mut gp, view, scopes, config, y);
        }
    }
    scopes.pop();
    if !gp.nodes.is_empty()
        || !gp.weight_only.is_empty()
        || !gp.fp16_weights.is_empty()
        || !gp.int8_storage.is_empty()
    {
        // Pass-through outputs reuse their input's range: nothing to calibrate.
        plan.activations.extend(
            gp.activations
                .iter()
                .filter(|t| !gp.pass_through.contains_key(*t))
                .filter(|t| !gp.scaled.values().any(|(_, y, _)| y == *t))
                .cloned(),
        );
        plan.graphs.insert(path.clone(), gp);
    }
}

/// Plans the quantization of output `y` of a quantized node: a Relu (or Relu6) that alone
/// reads it is folded into it (the Q takes the Relu's calibrated range), else `y` gets its own.
fn quantize_output(
    gp: &mut GraphPlan,
    view: &GraphView<'_>,
    scopes: &[GraphView<'_>],
    config: &QuantConfig,
    y: &str,
) {
    let relu = match view.consumers(y) {
        [r] if !config.symmetric_activations && !view.is_output(y) => {
            let rn = view.node(*r);
            (clamps_below_at_zero(rn, scopes) && rn.output.len() == 1)
                .then(|| (*r, rn.output[0].clone()))
        }
        _ => None,
    };
    match relu {
        Some((r, out)) => {
            gp.activations.insert(out.clone());
            gp.fused_relus.insert(y.to_string(), (r, out));
        }
        None => {
            gp.activations.insert(y.to_string());
        }
    }
}

/// `n` as `x · factor` when it is a Mul or Div of activation `x` by a positive, finite scalar
/// constant (a Mul's constant may come first).
fn scaling<'n>(n: &'n NodeProto, scopes: &[GraphView<'_>]) -> Option<(&'n String, f32)> {
    if !n.domain().is_empty() || n.input.len() != 2 {
        return None;
    }
    let value = |c: &str| scalar_value(scopes, c);
    let (x, c) = match n.op_type() {
        "Mul" => match (value(&n.input[0]), value(&n.input[1])) {
            (None, Some(c)) => (&n.input[0], c),
            (Some(c), None) => (&n.input[1], c),
            _ => return None,
        },
        "Div" => (&n.input[0], 1.0 / value(&n.input[1])?),
        _ => return None,
    };
    (c.is_finite() && c > 0.0 && c.is_normal()).then_some((x, c))
}

/// The value of `name` when it is a float32 constant holding one value (a scalar, or any shape
/// of one element), as seen from the innermost of `scopes`.
fn scalar_value(scopes: &[GraphView<'_>], name: &str) -> Option<f32> {
    let t = initializer_in(scopes, name)
        .filter(|t| t.data_type == Some(DataType::Float as i32))
        .filter(|t| t.dims.iter().product::<i64>() == 1)?;
    optimize_onnx::build::read_f32(t)?.first().copied()
}

/// `1 / c`, when both are finite and nonzero.
fn reciprocal(c: f32) -> Option<f32> {
    let r = 1.0 / c;
    (c.is_finite() && c != 0.0 && r.is_finite() && r != 0.0).then_some(r)
}

/// Whether `n` is a Relu, or a Clip whose minimum is a constant 0 (Relu6 and kin, as MobileNet
/// exports write it): an op a uint8 quantization of its input folds away, since a range from 0
/// up to the op's calibrated output clamps exactly as it does.
fn clamps_below_at_zero(n: &NodeProto, scopes: &[GraphView<'_>]) -> bool {
    if ops::activation_role(n) != Some(QuantRole::Folded) {
        return false;
    }
    match n.op_type() {
        "Relu" => true,
        "Clip" => {
            // Opset 11+: min is input 1; before that, the `min` attribute.
            let min = match n.input.get(1).filter(|m| !m.is_empty()) {
                Some(m) => initializer_in(scopes, m)
                    .and_then(optimize_onnx::build::read_f32)
                    .filter(|v| v.len() == 1)
                    .map(|v| v[0]),
                None => n
                    .attribute
                    .iter()
                    .find(|a| a.name() == "min")
                    .and_then(|a| a.f),
            };
            min == Some(0.0)
        }
        _ => false,
    }
}

/// Whether `w`, the weight of `n`, can be stored in int8: float32, and not stretched by outliers
/// so far that int8 would wreck it (then it stays float, with the reason).
fn weight_fits_int8(
    n: &NodeProto,
    rule: &OpInfo,
    w: &TensorProto,
    config: &QuantConfig,
) -> std::result::Result<(), String> {
    if w.data_type != Some(DataType::Float as i32) {
        return Err("weight is not float32".into());
    }
    let Ok((values, shape)) = float_values(w) else {
        return Ok(());
    };
    let axis = config
        .per_channel
        .then(|| ops::channel_axis(rule, n, shape.len()));
    match quantize_weight(&values, &shape, axis, config.weight_type, ["", "", ""]) {
        Ok(q) if q.relative_error > config.max_weight_error => Err(format!(
            "weight would lose over {:.0}% of its norm in int8 (outliers stretch its scale){}",
            config.max_weight_error * 100.0,
            if axis.is_none() {
                "; per-channel weights may keep it"
            } else {
                ""
            }
        )),
        _ => Ok(()),
    }
}

/// Inserts QDQ for the planned nodes, using `ranges` for activations. `model` must be the one
/// `plan` was made on.
pub fn quantize_static(
    model: &Model,
    plan: &StaticPlan,
    ranges: &BTreeMap<String, Range>,
    config: &QuantConfig,
) -> Result<(Model, QuantReport)> {
    let mut proto = model.proto.clone();
    let have = opset(&proto, "").unwrap_or(0);
    if have < MIN_OPSET {
        return Err(Error::OpsetTooOld {
            have,
            need: MIN_OPSET,
            form: "QDQ (QuantizeLinear/DequantizeLinear)".into(),
        });
    }
    if config.per_channel && have < PER_CHANNEL_OPSET {
        return Err(Error::OpsetTooOld {
            have,
            need: PER_CHANNEL_OPSET,
            form: "per-channel QDQ (DequantizeLinear with axis)".into(),
        });
    }
    let mut rw = Rewriter {
        plan,
        ranges,
        config,
        names: Names::of(&proto),
        report: QuantReport {
            weight_type: Some(config.weight_type),
            ..plan.report.clone()
        },
        replaced: HashSet::new(),
    };
    if let Some(g) = proto.graph.as_mut() {
        rw.graph(g, &mut Vec::new(), &[])?;
        crate::gather::quantize_gathers(g, &mut rw.names, config, &mut rw.report);
    }
    Ok((Model::from_proto(proto), rw.report))
}

/// The state of one QDQ rewrite over all graphs of a model.
struct Rewriter<'p> {
    plan: &'p StaticPlan,
    ranges: &'p BTreeMap<String, Range>,
    config: &'p QuantConfig,
    names: Names,
    report: QuantReport,
    /// Float weights and biases replaced by int8/int32 ones (removed where nothing reads them).
    replaced: HashSet<String>,
}

type Scope<'s> = HashMap<&'s str, &'s TensorProto>;

/// (weight, per-channel axis) → the dequantized tensor's name and the quantization parameters:
/// a weight read by several nodes is stored once.
type WeightCache = HashMap<(String, Option<usize>), (String, Vec<QuantParams>)>;

impl Rewriter<'_> {
    /// Rewrites `g` (at `path`): its subgraphs first, while its node indices still match the
    /// plan, then its own planned nodes. `outer` holds the initializers of enclosing graphs.
    fn graph(
        &mut self,
        g: &mut GraphProto,
        path: &mut GraphPath,
        outer: &[&Scope<'_>],
    ) -> Result<()> {
        {
            let GraphProto {
                node, initializer, ..
            } = &mut *g;
            let mine: Scope<'_> = initializer.iter().map(|t| (t.name(), t)).collect();
            let mut scopes: Vec<&Scope<'_>> = outer.to_vec();
            scopes.push(&mine);
            for (i, n) in node.iter_mut().enumerate() {
                for attr in n.attribute.iter_mut() {
                    let name = attr.name().to_string();
                    let subs = attr.g.iter_mut().chain(attr.graphs.iter_mut());
                    for (k, sub) in subs.enumerate() {
                        path.push(SubgraphStep {
                            node: i,
                            attr: name.clone(),
                            index: k,
                        });
                        self.graph(sub, path, &scopes)?;
                        path.pop();
                    }
                }
            }
        }
        if let Some(gp) = self.plan.graphs.get(path.as_slice()) {
            self.own_nodes(g, gp, outer)?;
        }
        remove_unused_initializers(g, &self.replaced);
        Ok(())
    }

    /// Inserts Q/DQ for the planned nodes of one graph.
    fn own_nodes(
        &mut self,
        g: &mut GraphProto,
        gp: &GraphPlan,
        outer: &[&Scope<'_>],
    ) -> Result<()> {
        let config = self.config;
        let (names, report) = (&mut self.names, &mut self.report);
        let lookup = |view: &GraphView<'_>, name: &str| -> Option<TensorProto> {
            view.initializer(name)
                .or_else(|| outer.iter().rev().find_map(|s| s.get(name).copied()))
                .cloned()
        };
        let act_type = config.activation_type();
        // Activation quantization parameters, and the Q/DQ pair of each activation.
        let mut act_params: HashMap<String, QuantParams> = HashMap::new();
        let mut act_dq: HashMap<String, String> = HashMap::new();
        let mut after: HashMap<String, Vec<NodeProto>> = HashMap::new(); // producer output -> Q/DQ nodes
        let mut head: Vec<NodeProto> = Vec::new(); // DQs of weights, QDQ of graph inputs
        let mut inits = Vec::new();
        let produced: HashSet<String> = g
            .node
            .iter()
            .flat_map(|n| n.output.iter().cloned())
            .collect();
        // A folded Relu disappears: its producer keeps its own output name (read only by the
        // Relu), the Q reads that, and the DQ takes over the Relu's output name, so every reader
        // of it (in this graph, in subgraphs, a graph output) gets the clamped value.
        let relu_inputs: HashMap<&str, &str> = gp
            .fused_relus
            .iter()
            .map(|(y, (_, out))| (out.as_str(), y.as_str()))
            .collect();
        let mut folded: HashSet<usize> = HashSet::new(); // Relu nodes whose Q/DQ replaces them
                                                         // Tensors some node reads (here or in a subgraph). One that only a graph output reads
                                                         // gets no Q/DQ pair: nothing would read its dequantized value, and the dangling
                                                         // QuantizeLinear would stop ONNX Runtime from fusing the op that produces it.
        let mut read_by_nodes: HashSet<String> = HashSet::new();
        fn reads(g: &GraphProto, into: &mut HashSet<String>) {
            for n in &g.node {
                into.extend(n.input.iter().cloned());
                for a in &n.attribute {
                    for sub in a.g.iter().chain(&a.graphs) {
                        reads(sub, into);
                    }
                }
            }
        }
        reads(g, &mut read_by_nodes);
        let mut output_only: HashSet<String> = HashSet::new();
        let scaled_outputs: HashSet<&str> =
            gp.scaled.values().map(|(_, y, _)| y.as_str()).collect();
        for t in &gp.activations {
            if scaled_outputs.contains(t.as_str()) {
                continue; // named by the DequantizeLinear of the chain's first input
            }
            // A pass-through output takes the range of the tensor it passes through.
            // At most one step per pass-through: a malformed graph may chain them in a cycle
            // (a Reshape that reads its own output), which must not loop forever.
            let mut root = t;
            for _ in 0..gp.pass_through.len() {
                match gp.pass_through.get(root) {
                    Some(input) => root = input,
                    None => break,
                }
            }
            if self.plan.float_activations.contains_key(root) {
                continue;
            }
            let Some(r) = self.ranges.get(root) else {
                continue;
            };
            if !read_by_nodes.contains(t.as_str()) && !relu_inputs.contains_key(t.as_str()) {
                output_only.insert(t.clone());
                continue;
            }
            let p = params_for_range(r.min, r.max, act_type, config.symmetric_activations);
            let (s, zp) = (
                names.fresh(&format!("{t}_scale")),
                names.fresh(&format!("{t}_zero_point")),
            );
            inits.push(tensor_f32(&s, &[], &[p.scale]));
            inits.push(zero_point_tensor(&zp, act_type, p.zero_point));
            let before_relu = relu_inputs.get(t.as_str()).copied();
            // Scalings that alone read `t` (and then each other) fold into its dequantization:
            // its DequantizeLinear takes the last one's output name and the product of factors.
            let mut dq_scale = (s.clone(), p);
            let mut last = None;
            let mut link = t;
            // At most one step per scaling: a malformed graph may chain them in a cycle.
            for (k, y, factor) in std::iter::from_fn(|| {
                let step = gp.scaled.get(link.as_str())?;
                link = &step.1;
                Some(step)
            })
            .take(gp.scaled.len())
            {
                folded.insert(*k);
                report.scalings_folded += 1;
                let scaled = QuantParams {
                    scale: dq_scale.1.scale * factor,
                    zero_point: p.zero_point,
                };
                act_params.insert(y.clone(), scaled);
                dq_scale.1 = scaled;
                last = Some(y.clone());
            }
            if last.is_some() {
                dq_scale.0 = names.fresh(&format!("{link}_scale"));
                inits.push(tensor_f32(&dq_scale.0, &[], &[dq_scale.1.scale]));
            }
            let q = names.fresh(&format!("{t}_quantized"));
            let dq = match (before_relu, &last) {
                (_, Some(y)) => y.clone(),
                (Some(_), None) => t.clone(),
                (None, None) => names.fresh(&format!("{t}_dequantized")),
            };
            let pair = vec![
                node(
                    "QuantizeLinear",
                    &[before_relu.unwrap_or(t), &s, &zp],
                    &[&q],
                    &names.fresh(&format!("{t}_QuantizeLinear")),
                ),
                node(
                    "DequantizeLinear",
                    &[&q, &dq_scale.0, &zp],
                    &[&dq],
                    &names.fresh(&format!("{t}_DequantizeLinear")),
                ),
            ];
            if let Some(y) = before_relu {
                folded.insert(gp.fused_relus[y].0);
                after.entry(y.to_string()).or_default().extend(pair);
            } else if produced.contains(t) {
                after.entry(t.clone()).or_default().extend(pair);
            } else {
                head.extend(pair);
            }
            act_params.insert(t.clone(), p);
            if before_relu.is_none() && last.is_none() {
                act_dq.insert(t.clone(), dq);
            }
            report.activations_quantized += 1;
        }

        // Weights and biases of the planned nodes.
        let mut rewired: HashMap<usize, Vec<(usize, String)>> = HashMap::new(); // node -> (input index, new name)
        let mut weight_cache = WeightCache::new();
        {
            let view = GraphView::new(g);
            for &i in &gp.nodes {
                let n = &g.node[i];
                let Some(rule) = ops::rule(n) else { continue };
                let weight_is_const = rule
                    .weight_input()
                    .and_then(|w| n.input.get(w))
                    .is_some_and(|w| lookup(&view, w).is_some());
                let act_inputs = if weight_is_const { 1 } else { 2 };
                let acts_ok = n
                    .input
                    .iter()
                    .take(act_inputs)
                    .all(|a| act_params.contains_key(a));
                let float_act = n
                    .input
                    .iter()
                    .take(act_inputs)
                    .find_map(|a| self.plan.float_activations.get(a).map(|why| (a, why)));
                if let Some((a, why)) = float_act {
                    self.report.skip(
                        n.op_type(),
                        format!("input activation '{a}' stays float: {why}"),
                    );
                    continue;
                }
                if !acts_ok {
                    self.report.skip(
                        n.op_type(),
                        "an activation has no calibrated range (never computed on the calibration data, e.g. an If branch not taken)",
                    );
                    continue;
                }
                let mut changes = Vec::new();
                let mut w_params = None;
                if let Some(wi) = rule.weight_input() {
                    if let Some(w) = n.input.get(wi).and_then(|w| lookup(&view, w)) {
                        let axis = config
                            .per_channel
                            .then(|| ops::channel_axis(rule, n, w.dims.len()));
                        let (dq, params) =
                            self.int8_weight(&w, axis, &mut weight_cache, &mut head, &mut inits)?;
                        changes.push((wi, dq));
                        w_params = Some(params);
                    }
                }
                // Bias: int32 with scale X_scale * W_scale[c], so integer kernels add it exactly.
                if let (Some(bi), Some(wp)) = (rule.bias_input(), &w_params) {
                    if let Some(b) = n.input.get(bi).and_then(|b| lookup(&view, b)) {
                        let x_scale = act_params[&n.input[0]].scale;
                        if let Ok((mut bv, bshape)) = float_values(&b) {
                            if config.bias_correction {
                                if let Some(means) = self.plan.input_means.get(&n.input[0]) {
                                    if let Some(w) = rule
                                        .weight_input()
                                        .and_then(|wi| n.input.get(wi))
                                        .and_then(|w| lookup(&view, w))
                                    {
                                        let axis = config
                                            .per_channel
                                            .then(|| ops::channel_axis(rule, n, w.dims.len()));
                                        if let Some(shift) =
                                            bias_shift(n, &w, axis, config.weight_type, means)
                                        {
                                            if shift.len() == bv.len() {
                                                for (b, d) in bv.iter_mut().zip(shift) {
                                                    *b -= d as f32;
                                                }
                                                self.report.bias_corrected += 1;
                                            }
                                        }
                                    }
                                }
                            }
                            let per_channel = wp.len() > 1;
                            if bshape.len() == 1 && (!per_channel || bshape[0] == wp.len()) {
                                let scales: Vec<f32> = (0..if per_channel { wp.len() } else { 1 })
                                    .map(|c| (x_scale * wp[c].scale).max(f32::MIN_POSITIVE))
                                    .collect();
                                let q: Vec<i32> = bv
                                    .iter()
                                    .enumerate()
                                    .map(|(k, v)| {
                                        let s = scales[if per_channel { k } else { 0 }];
                                        let r = (f64::from(*v) / f64::from(s)).round_ties_even();
                                        if r.is_nan() {
                                            0
                                        } else {
                                            r.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
                                        }
                                    })
                                    .collect();
                                let base = b.name();
                                let (qn, sn, zn, dq) = (
                                    self.names.fresh(&format!("{base}_quantized")),
                                    self.names.fresh(&format!("{base}_scale")),
                                    self.names.fresh(&format!("{base}_zero_point")),
                                    self.names.fresh(&format!("{base}_dequantized")),
                                );
                                let sdims: Vec<i64> = if per_channel {
                                    vec![scales.len() as i64]
                                } else {
                                    vec![]
                                };
                                inits.push(tensor_i32(&qn, &b.dims, &q));
                                inits.push(tensor_f32(&sn, &sdims, &scales));
                                inits.push(tensor_i32(&zn, &sdims, &vec![0; scales.len()]));
                                let mut dqn = node(
                                    "DequantizeLinear",
                                    &[&qn, &sn, &zn],
                                    &[&dq],
                                    &self.names.fresh(&format!("{base}_DequantizeLinear")),
                                );
                                if per_channel {
                                    dqn = dqn.with_attr(attr_int("axis", 0));
                                }
                                head.push(dqn);
                                self.replaced.insert(base.to_string());
                                changes.push((bi, dq));
                            }
                        }
                    }
                }
                self.report.quantized(n.op_type());
                rewired.insert(i, changes);
            }
            // A weight-only or fp16-weight node, its rule, its weight's input index and value.
            let weight_of = |i: usize| {
                let n = &g.node[i];
                let rule = ops::rule(n)?;
                let wi = rule.weight_input()?;
                let w = n.input.get(wi).and_then(|w| lookup(&view, w))?;
                Some((n, rule, wi, w))
            };
            for &i in &gp.weight_only {
                let Some((n, rule, wi, w)) = weight_of(i) else {
                    continue;
                };
                let axis = config
                    .per_channel
                    .then(|| ops::channel_axis(rule, n, w.dims.len()));
                let (dq, _) =
                    self.int8_weight(&w, axis, &mut weight_cache, &mut head, &mut inits)?;
                *self
                    .report
                    .weight_only
                    .entry(n.op_type().to_string())
                    .or_default() += 1;
                rewired.insert(i, vec![(wi, dq)]);
            }
            // Float nodes whose weight is stored compactly (float16, or int8 with per-channel
            // scales) and expanded by constant ops the runtime folds at load.
            let mut expanded: HashMap<(String, bool), String> = HashMap::new();
            for (nodes, int8) in [(&gp.fp16_weights, false), (&gp.int8_storage, true)] {
                for &i in nodes {
                    let Some((n, rule, wi, w)) = weight_of(i) else {
                        continue;
                    };
                    let key = (w.name().to_string(), int8);
                    let out = match expanded.get(&key) {
                        Some(o) => o.clone(),
                        None => {
                            let made = if int8 {
                                let axis = ops::channel_axis(rule, n, w.dims.len());
                                Some(self.int8_stored_weight(&w, axis, &mut head, &mut inits)?)
                            } else {
                                self.fp16_stored_weight(&w, &mut head, &mut inits)?
                            };
                            let Some(o) = made else {
                                // Values past ±65504 would change: keep this weight in float32.
                                self.report
                                    .skip(n.op_type(), "weight exceeds the float16 range");
                                continue;
                            };
                            expanded.insert(key, o.clone());
                            o
                        }
                    };
                    let counts = if int8 {
                        &mut self.report.int8_storage
                    } else {
                        &mut self.report.fp16_weights
                    };
                    *counts.entry(n.op_type().to_string()).or_default() += 1;
                    rewired.insert(i, vec![(wi, out)]);
                }
            }
        }

        let mut constants: HashMap<usize, Vec<usize>> = HashMap::new();
        for &(i, k) in &gp.constant_inputs {
            constants.entry(i).or_default().push(k);
        }
        let mut divisions: HashSet<usize> = HashSet::new(); // Divs written as Muls
        let mut constant_dq: HashMap<(String, bool), String> = HashMap::new();
        let view = GraphView::new(g);
        for &i in &gp.activation_nodes {
            let n = &g.node[i];
            let Some(kind) = ops::activation_op(n) else {
                continue;
            };
            let mine = constants.get(&i).map_or(&[][..], |v| v.as_slice());
            // A folded Relu's output carries the range of this node's.
            let output = n
                .output
                .first()
                .map(|y| gp.fused_relus.get(y).map_or(y, |(_, out)| out));
            let ready = ops::quantized_inputs(n, kind)
                .iter()
                .enumerate()
                .filter(|(k, _)| !mine.contains(k))
                .map(|(_, t)| t)
                .chain(output)
                .all(|t| act_params.contains_key(t));
            if ready {
                let division = kind == QuantRole::DivideByConstant;
                for &k in mine {
                    let Some(c) = n.input.get(k).and_then(|c| lookup(&view, c)) else {
                        continue;
                    };
                    let key = (c.name().to_string(), division);
                    let dq = match constant_dq.get(&key) {
                        Some(dq) => dq.clone(),
                        None => {
                            let dq =
                                self.quantized_constant(&c, division, &mut head, &mut inits)?;
                            constant_dq.insert(key, dq.clone());
                            dq
                        }
                    };
                    rewired.entry(i).or_default().push((k, dq));
                }
                if division {
                    divisions.insert(i);
                }
                self.report.quantized(n.op_type());
            } else if n.output.first().is_some_and(|o| output_only.contains(o)) {
                self.report.skip(
                    n.op_type(),
                    "its output is only a graph output, which stays float",
                );
            } else {
                self.report.skip(
                    n.op_type(),
                    "an input or the output has no calibrated range",
                );
            }
        }

        // Rebuild the node list: head first, then each node (inputs rewired) followed by the Q/DQ of
        // its outputs.
        let mut nodes = head;
        for (i, mut n) in std::mem::take(&mut g.node).into_iter().enumerate() {
            if folded.contains(&i) {
                continue;
            }
            if divisions.contains(&i) {
                n.op_type = Some("Mul".into());
            }
            for (k, input) in n.input.iter_mut().enumerate() {
                if let Some(new) = rewired
                    .get(&i)
                    .and_then(|c| c.iter().find(|(idx, _)| *idx == k))
                {
                    *input = new.1.clone();
                } else if let Some(dq) = act_dq.get(input.as_str()) {
                    *input = dq.clone();
                }
            }
            let outs = n.output.clone();
            nodes.push(n);
            for o in outs {
                if let Some(pair) = after.remove(&o) {
                    nodes.extend(pair);
                }
            }
        }
        g.node = nodes;
        g.initializer.extend(inits);
        Ok(())
    }

    /// `w` in int8 (per channel along `axis`) behind a `DequantizeLinear`, once per weight and
    /// axis in a graph: returns the dequantized tensor's name and the quantization parameters.
    /// Stores weight `w` in float16 behind a `Cast` to float32 (runtimes fold it at load);
    /// returns the name of the float32 weight, or `None` when a value lies past float16's range.
    fn fp16_stored_weight(
        &mut self,
        w: &TensorProto,
        head: &mut Vec<NodeProto>,
        inits: &mut Vec<TensorProto>,
    ) -> Result<Option<String>> {
        let base = w.name();
        let mut h = w.clone();
        h.name = Some(self.names.fresh(&format!("{base}_fp16")));
        let conv = crate::fp16::tensor::convert(&mut h).map_err(|e| Error::Calibration {
            detail: format!("float16 weight '{base}': {e}"),
        })?;
        if conv.clamped > 0 {
            return Ok(None);
        }
        let out = self.cast_to_float(h.name(), base, "_float", head);
        inits.push(h);
        self.replaced.insert(base.to_string());
        Ok(Some(out))
    }

    /// A `Cast` of `input` to float32 at the head of the graph; returns its output
    /// (`{base}{suffix}`).
    fn cast_to_float(
        &mut self,
        input: &str,
        base: &str,
        suffix: &str,
        head: &mut Vec<NodeProto>,
    ) -> String {
        let out = self.names.fresh(&format!("{base}{suffix}"));
        head.push(
            node(
                "Cast",
                &[input],
                &[&out],
                &self.names.fresh(&format!("{base}_Cast")),
            )
            .with_attr(attr_int("to", DataType::Float as i64)),
        );
        out
    }

    /// Stores weight `w` in int8 with one scale per slice along `axis`, expanded back to
    /// float32 by `Cast` and `Mul` (constants only, so runtimes fold them at load); returns the
    /// name of the float32 weight.
    fn int8_stored_weight(
        &mut self,
        w: &TensorProto,
        axis: usize,
        head: &mut Vec<NodeProto>,
        inits: &mut Vec<TensorProto>,
    ) -> Result<String> {
        let (values, shape) = float_values(w)?;
        let base = w.name();
        let q_name = self.names.fresh(&format!("{base}_int8"));
        let s_name = self.names.fresh(&format!("{base}_scale"));
        let (qw, scale) = crate::weights::int8_stored(&values, &shape, axis, &q_name, &s_name)?;
        if qw.non_finite > 0 {
            self.report
                .non_finite_weights
                .push((base.to_string(), qw.non_finite));
        }
        self.report
            .count_stored_weight(values.len(), qw.params.len());
        let cast = self.cast_to_float(&q_name, base, "_cast", head);
        let out = self.names.fresh(&format!("{base}_expanded"));
        head.push(node(
            "Mul",
            &[&cast, &s_name],
            &[&out],
            &self.names.fresh(&format!("{base}_Mul")),
        ));
        inits.extend([qw.data, scale]);
        self.replaced.insert(base.to_string());
        Ok(out)
    }

    /// A scalar float constant an op without weights reads, quantized as activations are
    /// (the reciprocal of its value for a Div written as a Mul) behind a `DequantizeLinear`;
    /// returns the dequantized tensor's name.
    fn quantized_constant(
        &mut self,
        c: &TensorProto,
        reciprocal_of: bool,
        head: &mut Vec<NodeProto>,
        inits: &mut Vec<TensorProto>,
    ) -> Result<String> {
        let (mut values, _) = float_values(c)?;
        if reciprocal_of {
            values = values.iter().map(|v| 1.0 / v).collect();
        }
        let act_type = self.config.activation_type();
        let q =
            crate::scale::quantize_per_tensor(&values, act_type, self.config.symmetric_activations);
        let base = c.name();
        let suffix = if reciprocal_of { "_reciprocal" } else { "" };
        let (qn, sn, zn, dq) = (
            self.names.fresh(&format!("{base}{suffix}_quantized")),
            self.names.fresh(&format!("{base}{suffix}_scale")),
            self.names.fresh(&format!("{base}{suffix}_zero_point")),
            self.names.fresh(&format!("{base}{suffix}_dequantized")),
        );
        let stored = match act_type {
            QuantType::U8 => DataType::Uint8,
            QuantType::I8 | QuantType::I7 => DataType::Int8,
        };
        inits.push(tensor_raw(&qn, stored, &[], q.data));
        inits.push(tensor_f32(&sn, &[], &[q.params.scale]));
        inits.push(zero_point_tensor(&zn, act_type, q.params.zero_point));
        head.push(node(
            "DequantizeLinear",
            &[&qn, &sn, &zn],
            &[&dq],
            &self
                .names
                .fresh(&format!("{base}{suffix}_DequantizeLinear")),
        ));
        self.replaced.insert(base.to_string());
        Ok(dq)
    }

    fn int8_weight(
        &mut self,
        w: &TensorProto,
        axis: Option<usize>,
        cache: &mut WeightCache,
        head: &mut Vec<NodeProto>,
        inits: &mut Vec<TensorProto>,
    ) -> Result<(String, Vec<QuantParams>)> {
        let key = (w.name().to_string(), axis);
        if let Some(c) = cache.get(&key) {
            return Ok(c.clone());
        }
        let (values, shape) = float_values(w)?;
        let base = w.name();
        let qn = [
            self.names.fresh(&format!("{base}_quantized")),
            self.names.fresh(&format!("{base}_scale")),
            self.names.fresh(&format!("{base}_zero_point")),
        ];
        let wtype = self.config.weight_type;
        let qw = quantize_weight(&values, &shape, axis, wtype, [&qn[0], &qn[1], &qn[2]])?;
        let report = &mut self.report;
        report.weights.tensors += 1;
        report.weights.bytes_before += values.len() as u64 * 4;
        report.weights.bytes_after += values.len() as u64 + qw.params.len() as u64 * 5;
        if qw.non_finite > 0 {
            report
                .non_finite_weights
                .push((base.to_string(), qw.non_finite));
        }
        let dq = self.names.fresh(&format!("{base}_dequantized"));
        let mut dqn = node(
            "DequantizeLinear",
            &[&qn[0], &qn[1], &qn[2]],
            &[&dq],
            &self.names.fresh(&format!("{base}_DequantizeLinear")),
        );
        if let Some(a) = axis {
            dqn = dqn.with_attr(attr_int("axis", a as i64));
        }
        head.push(dqn);
        inits.extend([qw.data, qw.scale, qw.zero_point]);
        self.replaced.insert(base.to_string());
        cache.insert(key, (dq.clone(), qw.params.clone()));
        Ok((dq, qw.params))
    }
}

/// The mean output error of each output channel that int8 weights introduce,
/// `Σ (W_q − W)[o, i, …] · E[x_i]`, for a Conv (`W: [O, C/g, k…]`) or a Gemm without `transA`
/// (`W: [K, N]`, or `[N, K]` with `transB`). `None` when the shapes do not fit.
fn bias_shift(
    n: &NodeProto,
    w: &TensorProto,
    axis: Option<usize>,
    wtype: WeightType,
    means: &[f64],
) -> Option<Vec<f64>> {
    let (values, shape) = float_values(w).ok()?;
    let q = quantize_weight(&values, &shape, axis, wtype, ["", "", ""]).ok()?;
    let deq = q.dequantized(&shape);
    let delta = |i: usize| f64::from(deq[i]) - f64::from(values[i]);
    match n.op_type() {
        "Conv" => {
            let (o, cg) = (*shape.first()?, *shape.get(1)?);
            let k: usize = shape[2..].iter().product();
            let group = usize::try_from(optimize_onnx::build::attr_i(n, "group", 1)).ok()?;
            if group == 0 || o % group != 0 || means.len() != cg * group {
                return None;
            }
            let per_group = o / group;
            Some(
                (0..o)
                    .map(|oc| {
                        let first = (oc / per_group) * cg;
                        (0..cg)
                            .map(|c| {
                                let base = (oc * cg + c) * k;
                                (0..k).map(|j| delta(base + j)).sum::<f64>() * means[first + c]
                            })
                            .sum()
                    })
                    .collect(),
            )
        }
        "Gemm" if optimize_onnx::build::attr_i(n, "transA", 0) == 0 && shape.len() == 2 => {
            let trans_b = optimize_onnx::build::attr_i(n, "transB", 0) != 0;
            let (kk, nn) = if trans_b {
                (shape[1], shape[0])
            } else {
                (shape[0], shape[1])
            };
            if means.len() != kk {
                return None;
            }
            Some(
                (0..nn)
                    .map(|j| {
                        (0..kk)
                            .map(|i| {
                                let idx = if trans_b { j * kk + i } else { i * nn + j };
                                delta(idx) * means[i]
                            })
                            .sum()
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}

fn zero_point_tensor(name: &str, t: QuantType, zp: i32) -> optimize_onnx::proto::TensorProto {
    match t {
        QuantType::U8 => tensor_raw(name, DataType::Uint8, &[], vec![zp as u8]),
        QuantType::I8 | QuantType::I7 => {
            tensor_raw(name, DataType::Int8, &[], vec![zp as i8 as u8])
        }
    }
}

#[cfg(test)]
mod tests {
    //! Golden case: a one-MatMul graph whose scales and zero points are worked out by hand.
    use super::*;
    use crate::observer::Range;
    use optimize_onnx::build::{read_f32, tensor_f32};
    use optimize_onnx::proto::GraphProto;

    fn graph() -> Model {
        let g = GraphProto {
            node: vec![node("MatMul", &["x", "w"], &["y"], "mm")],
            initializer: vec![tensor_f32("w", &[2, 2], &[1.0, -2.0, 0.5, 4.0])],
            ..Default::default()
        };
        Model::from_proto(optimize_onnx::build::model(g, 13))
    }

    fn init<'a>(m: &'a Model, name: &str) -> &'a optimize_onnx::proto::TensorProto {
        m.proto
            .graph
            .as_ref()
            .unwrap()
            .initializer
            .iter()
            .find(|t| t.name() == name)
            .unwrap_or_else(|| panic!("no {name}"))
    }

    fn int8_values(t: &optimize_onnx::proto::TensorProto) -> Vec<i8> {
        t.raw_data
            .as_ref()
            .unwrap()
            .iter()
            .map(|&b| b as i8)
            .collect()
    }

    #[test]
    fn scales_and_zero_points_by_hand() {
        let model = graph();
        let config = QuantConfig::default();
        let plan = plan(&model.proto, &config);
        assert_eq!(plan.graphs[&Vec::new()].nodes, vec![0]);
        assert_eq!(
            plan.activations
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["x", "y"]
        );
        let ranges = BTreeMap::from([
            (
                "x".to_string(),
                Range {
                    min: -1.0,
                    max: 3.0,
                },
            ),
            (
                "y".to_string(),
                Range {
                    min: 0.5,
                    max: 10.0,
                },
            ),
        ]);
        let (q, report) = quantize_static(&model, &plan, &ranges, &config).unwrap();
        assert_eq!(report.nodes_quantized(), 1);
        // x: uint8 asymmetric over [-1, 3]: scale 4/255, zero point round(1 / (4/255)) = 64.
        assert_eq!(read_f32(init(&q, "x_scale")).unwrap(), vec![4.0 / 255.0]);
        assert_eq!(
            init(&q, "x_zero_point").raw_data.as_deref(),
            Some(&[64u8][..])
        );
        // y is only the graph output: it stays float, with no Q/DQ pair left dangling (a
        // QuantizeLinear nothing reads stopped ONNX Runtime from fusing the op producing it).
        let g = q.proto.graph.as_ref().unwrap();
        assert!(g.initializer.iter().all(|t| t.name() != "y_scale"));
        assert!(g
            .node
            .iter()
            .all(|n| n.op_type() != "QuantizeLinear" || n.input[0] != "y"));
        // w: int8 symmetric, absmax 4 -> scale 4/127; 1, -2, 0.5, 4 -> 31.75, -63.5, 15.875, 127
        // -> 32, -64 (half to even), 16, 127.
        assert_eq!(read_f32(init(&q, "w_scale")).unwrap(), vec![4.0 / 127.0]);
        assert_eq!(int8_values(init(&q, "w_quantized")), vec![32, -64, 16, 127]);
        // The float weight is gone; MatMul reads the dequantized activations and weight.
        let g = q.proto.graph.as_ref().unwrap();
        assert!(g.initializer.iter().all(|t| t.name() != "w"));
        let mm = g.node.iter().find(|n| n.op_type() == "MatMul").unwrap();
        assert_eq!(mm.input, vec!["x_dequantized", "w_dequantized"]);
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type()).collect();
        assert_eq!(
            ops,
            [
                "QuantizeLinear",
                "DequantizeLinear",
                "DequantizeLinear",
                "MatMul"
            ]
        );
    }

    /// A weight-only node keeps float activations (no calibration needed, no Q on its input or
    /// output) but reads its weight through a DequantizeLinear of the same int8 values a full
    /// quantization would store.
    #[test]
    fn weight_only_nodes_keep_float_activations() {
        let model = graph();
        let config = QuantConfig {
            weight_only: BTreeSet::from(["mm".to_string()]),
            ..QuantConfig::default()
        };
        let plan = plan(&model.proto, &config);
        let gp = &plan.graphs[&Vec::new()];
        assert!(gp.nodes.is_empty());
        assert_eq!(gp.weight_only, vec![0]);
        assert!(plan.activations.is_empty(), "{:?}", plan.activations);
        let (q, report) = quantize_static(&model, &plan, &BTreeMap::new(), &config).unwrap();
        assert_eq!(report.nodes_quantized(), 0);
        assert_eq!(report.weight_only.get("MatMul"), Some(&1));
        assert_eq!(report.weights.tensors, 1);
        assert_eq!(int8_values(init(&q, "w_quantized")), vec![32, -64, 16, 127]);
        let g = q.proto.graph.as_ref().unwrap();
        assert!(g.initializer.iter().all(|t| t.name() != "w"));
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type()).collect();
        assert_eq!(ops, ["DequantizeLinear", "MatMul"]);
        assert_eq!(g.node[1].input, vec!["x", "w_dequantized"]);
        assert_eq!(g.node[1].output, vec!["y"]);
    }

    /// A node left float with its weight stored in float16: a Cast to float32 in front (folded
    /// by runtimes at load), the float32 weight gone, half the bytes.
    #[test]
    fn fp16_weight_nodes_read_their_weight_through_a_cast() {
        let model = graph();
        let config = QuantConfig {
            fp16_weights: BTreeSet::from(["mm".to_string()]),
            ..QuantConfig::default()
        };
        let plan = plan(&model.proto, &config);
        assert_eq!(plan.graphs[&Vec::new()].fp16_weights, vec![0]);
        let (q, report) = quantize_static(&model, &plan, &BTreeMap::new(), &config).unwrap();
        assert_eq!(report.fp16_weights.get("MatMul"), Some(&1));
        let g = q.proto.graph.as_ref().unwrap();
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type()).collect();
        assert_eq!(ops, ["Cast", "MatMul"]);
        assert_eq!(g.node[1].input, vec!["x", "w_float"]);
        let w = init(&q, "w_fp16");
        assert_eq!(w.data_type, Some(DataType::Float16 as i32));
        // 1, -2, 0.5, 4 are exact in float16.
        let halves: Vec<f32> = w
            .raw_data
            .as_ref()
            .unwrap()
            .chunks(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect();
        assert_eq!(halves, vec![1.0, -2.0, 0.5, 4.0]);
        assert!(g.initializer.iter().all(|t| t.name() != "w"));
    }

    /// A node left float with its weight stored in int8: `Cast` and `Mul` by one scale per
    /// output column (shaped to broadcast), both on constants so runtimes fold them at load;
    /// the float32 weight is gone and the expansion is within half a step of it.
    #[test]
    fn int8_storage_nodes_expand_their_weight_by_cast_and_mul() {
        let model = graph();
        let config = QuantConfig {
            int8_storage: BTreeSet::from(["mm".to_string()]),
            fp16_weights: BTreeSet::from(["mm".to_string()]),
            ..QuantConfig::default()
        };
        let plan = plan(&model.proto, &config);
        assert_eq!(plan.graphs[&Vec::new()].int8_storage, vec![0]);
        assert!(plan.graphs[&Vec::new()].fp16_weights.is_empty());
        let (q, report) = quantize_static(&model, &plan, &BTreeMap::new(), &config).unwrap();
        assert_eq!(report.int8_storage.get("MatMul"), Some(&1));
        let g = q.proto.graph.as_ref().unwrap();
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type()).collect();
        assert_eq!(ops, ["Cast", "Mul", "MatMul"]);
        assert_eq!(g.node[0].input, vec!["w_int8"]);
        assert_eq!(
            g.node[1].input,
            vec![g.node[0].output[0].clone(), "w_scale".into()]
        );
        assert_eq!(
            g.node[2].input,
            vec!["x".to_string(), g.node[1].output[0].clone()]
        );
        let w = init(&q, "w_int8");
        assert_eq!(w.data_type, Some(DataType::Int8 as i32));
        assert_eq!(w.dims, vec![2, 2]);
        let scale = init(&q, "w_scale");
        assert_eq!(scale.dims, vec![1, 2]);
        let s = read_f32(scale).unwrap();
        assert_eq!(s, vec![1.0 / 127.0, 4.0 / 127.0]);
        let qv = crate::weights::int8_values(w);
        assert_eq!(qv, vec![127, -64, 64, 127]);
        let original = [1.0f32, -2.0, 0.5, 4.0];
        for (k, (&q, &o)) in qv.iter().zip(&original).enumerate() {
            let step = s[k % 2];
            assert!((f32::from(q) * step - o).abs() <= step / 2.0 + 1e-7);
        }
        assert!(g.initializer.iter().all(|t| t.name() != "w"));
    }

    /// `Add(Conv(x), Conv(x)) → MaxPool → Flatten → Gemm`: the Add gets its own calibrated
    /// range, MaxPool and Flatten reuse the Add's scale and zero point, so ONNX Runtime can run
    /// the whole chain in int8.
    #[test]
    fn int8_is_carried_through_ops_without_weights() {
        use optimize_onnx::build::attr_ints;
        let w = |name: &str, dims: &[i64]| {
            let n: i64 = dims.iter().product();
            tensor_f32(
                name,
                dims,
                &(0..n).map(|i| (i % 7) as f32 - 3.0).collect::<Vec<_>>(),
            )
        };
        let g = GraphProto {
            node: vec![
                node("Conv", &["x", "w1"], &["a"], "conv1"),
                node("Conv", &["x", "w2"], &["b"], "conv2"),
                node("Add", &["a", "b"], &["c"], "add"),
                node("MaxPool", &["c"], &["d"], "pool")
                    .with_attr(attr_ints("kernel_shape", &[2, 2])),
                node("Flatten", &["d"], &["e"], "flatten"),
                node("Gemm", &["e", "w3"], &["y"], "gemm"),
            ],
            initializer: vec![
                w("w1", &[2, 1, 1, 1]),
                w("w2", &[2, 1, 1, 1]),
                w("w3", &[2, 3]),
            ],
            ..Default::default()
        };
        let mut model = graph();
        model.proto.graph = Some(g);
        let config = QuantConfig::default();
        let plan = plan(&model.proto, &config);
        // MaxPool and Flatten reuse the Add's range: they are not calibrated.
        let calibrated: Vec<&str> = plan.activations.iter().map(String::as_str).collect();
        assert_eq!(calibrated, ["a", "b", "c", "x", "y"]);
        let r = |min, max| Range { min, max };
        let ranges = BTreeMap::from([
            ("x".to_string(), r(-1.0, 1.0)),
            ("a".to_string(), r(-3.0, 3.0)),
            ("b".to_string(), r(-3.0, 3.0)),
            ("c".to_string(), r(-6.0, 5.0)),
            ("y".to_string(), r(-20.0, 20.0)),
        ]);
        let (q, report) = quantize_static(&model, &plan, &ranges, &config).unwrap();
        for op in ["Conv", "Add", "MaxPool", "Flatten", "Gemm"] {
            assert!(report.quantized.contains_key(op), "{op}: {report:?}");
        }
        let g = q.proto.graph.as_ref().unwrap();
        let scale_of = |t: &str| {
            let qn = g
                .node
                .iter()
                .find(|n| n.op_type() == "QuantizeLinear" && n.input[0] == t)
                .unwrap_or_else(|| panic!("no Q of {t}"));
            read_f32(init(&q, &qn.input[1])).unwrap()
        };
        assert_eq!(scale_of("c"), vec![11.0 / 255.0]);
        assert_eq!(scale_of("d"), scale_of("c"));
        assert_eq!(scale_of("e"), scale_of("c"));
        // Each op reads the dequantized form of its input.
        let reads = |op: &str| g.node.iter().find(|n| n.op_type() == op).unwrap().input[0].clone();
        assert_eq!(reads("MaxPool"), "c_dequantized");
        assert_eq!(reads("Flatten"), "d_dequantized");
    }

    #[test]
    fn per_channel_needs_opset_13() {
        let mut model = graph();
        model.proto.opset_import[0].version = Some(12);
        let config = QuantConfig {
            per_channel: true,
            ..Default::default()
        };
        let plan = plan(&model.proto, &config);
        let err = quantize_static(&model, &plan, &BTreeMap::new(), &config).unwrap_err();
        assert!(
            err.to_string().contains("opset 12") && err.to_string().contains("13"),
            "{err}"
        );
    }
}
