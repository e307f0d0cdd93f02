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
//! Only the main graph is quantized: activations inside If/Loop bodies cannot be captured for
//! calibration, so their nodes are reported as skipped.

use crate::config::QuantConfig;
use crate::dynamic::remove_unused_initializers;
use crate::names::Names;
use crate::observer::Range;
use crate::ops;
use crate::report::QuantReport;
use crate::scale::{params_for_range, QuantParams, QuantType};
use crate::weights::{float_values, quantize_weight};
use crate::{Error, Result};
use optimize_onnx::build::{attr_int, node, opset, tensor_f32, tensor_i32, tensor_raw, WithAttr};
use optimize_onnx::proto::tensor_proto::DataType;
use optimize_onnx::proto::type_proto::Value as TypeValue;
use optimize_onnx::proto::{GraphProto, ModelProto, NodeProto};
use optimize_onnx::{GraphView, Model};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Opset of `QuantizeLinear`/`DequantizeLinear`.
pub const MIN_OPSET: i64 = 10;
/// Opset that adds the `axis` attribute (per-channel) to `DequantizeLinear`.
pub const PER_CHANNEL_OPSET: i64 = 13;

/// Which nodes a static pass will quantize and which activations it needs ranges for.
#[derive(Debug, Clone, Default)]
pub struct StaticPlan {
    /// Indices of main-graph nodes to quantize.
    pub nodes: Vec<usize>,
    /// Activation tensors (inputs and outputs of those nodes) that need a calibrated range.
    pub activations: BTreeSet<String>,
    /// What was skipped and why, to carry into the report.
    pub report: QuantReport,
    /// Relu nodes folded into the quantization of the node before them: producer output →
    /// (Relu node index, Relu output). Quantizing to uint8 with zero point 0 clamps negatives
    /// exactly as Relu does, so `Conv → Relu` becomes `Conv → Q → DQ`, which ONNX Runtime fuses
    /// into one integer kernel (with a Q/DQ between them it cannot).
    pub fused_relus: HashMap<String, (usize, String)>,
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

/// Decides what to quantize in `model`'s main graph (whose `Constant` weights should already be
/// initializers, see [`optimize_onnx::transform::constants_to_initializers`]).
pub fn plan(model: &ModelProto, config: &QuantConfig) -> StaticPlan {
    let mut plan = StaticPlan {
        report: QuantReport {
            mode: "int8-static-qdq".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let Some(g) = model.graph.as_ref() else {
        return plan;
    };
    let view = GraphView::new(g);
    for (i, n) in g.node.iter().enumerate() {
        for attr in &n.attribute {
            for sub in attr.g.iter().chain(&attr.graphs) {
                optimize_onnx::walk::for_each_graph(sub, &mut |sg, _| {
                    for sn in &sg.node {
                        if ops::rule(sn).is_some() {
                            plan.report.skip(
                                sn.op_type(),
                                "inside a subgraph (activations there cannot be calibrated)",
                            );
                        }
                    }
                });
            }
        }
        let Some(rule) = ops::rule(n) else { continue };
        if let Err(why) = config.filter.check(n) {
            plan.report.skip(n.op_type(), format!("excluded ({why:?})"));
            continue;
        }
        let weight = rule
            .weight_input
            .and_then(|w| n.input.get(w))
            .and_then(|w| view.initializer(w));
        let mut acts: Vec<&str> = Vec::new();
        match (rule.op_type, weight) {
            (_, Some(w)) if w.data_type != Some(DataType::Float as i32) => {
                plan.report.skip(n.op_type(), "weight is not float32");
                continue;
            }
            ("MatMul", None) => acts.extend(n.input.iter().take(2).map(|s| s.as_str())),
            (_, None) => {
                plan.report.skip(n.op_type(), "weight is not a constant");
                continue;
            }
            (_, Some(w)) => {
                // Leave weights in float that int8 would wreck (outliers stretching the scale).
                if let Ok((values, shape)) = float_values(w) {
                    let axis = config
                        .per_channel
                        .then(|| (rule.channel_axis)(n, shape.len()));
                    if let Ok(q) = quantize_weight(&values, &shape, axis, ["", "", ""]) {
                        if q.relative_error > crate::weights::MAX_RELATIVE_ERROR {
                            plan.report.skip(
                                n.op_type(),
                                format!(
                                    "weight would lose over {:.0}% of its norm in int8 (outliers stretch its scale){}",
                                    crate::weights::MAX_RELATIVE_ERROR * 100.0,
                                    if axis.is_none() { "; try --per-channel" } else { "" }
                                ),
                            );
                            continue;
                        }
                    }
                }
                acts.push(n.input[0].as_str())
            }
        }
        if acts
            .iter()
            .any(|a| view.initializer(a).is_some() || is_float_value(g, a) == Some(false))
        {
            plan.report.skip(
                n.op_type(),
                "an activation input is a constant or not float32",
            );
            continue;
        }
        plan.nodes.push(i);
        plan.activations.extend(acts.iter().map(|s| s.to_string()));
        if let Some(y) = n.output.first().filter(|y| !y.is_empty()) {
            let relu = match view.consumers(y) {
                [r] if !config.symmetric_activations && !view.is_output(y) => {
                    let rn = view.node(*r);
                    (rn.op_type() == "Relu" && rn.domain().is_empty() && rn.output.len() == 1)
                        .then(|| (*r, rn.output[0].clone()))
                }
                _ => None,
            };
            match relu {
                Some((r, out)) => {
                    plan.activations.insert(out.clone());
                    plan.fused_relus.insert(y.clone(), (r, out));
                }
                None => {
                    plan.activations.insert(y.clone());
                }
            }
        }
    }
    plan
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
    let mut report = plan.report.clone();
    let mut names = Names::of(&proto);
    let act_type = config.activation_type();
    let Some(g) = proto.graph.as_mut() else {
        return Ok((Model::from_proto(proto), report));
    };

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
    for t in &plan.activations {
        let Some(r) = ranges.get(t) else { continue };
        let p = params_for_range(r.min, r.max, act_type, config.symmetric_activations);
        let (s, zp) = (
            names.fresh(&format!("{t}_scale")),
            names.fresh(&format!("{t}_zero_point")),
        );
        inits.push(tensor_f32(&s, &[], &[p.scale]));
        inits.push(zero_point_tensor(&zp, act_type, p.zero_point));
        let (q, dq) = (
            names.fresh(&format!("{t}_quantized")),
            names.fresh(&format!("{t}_dequantized")),
        );
        let pair = vec![
            node(
                "QuantizeLinear",
                &[t, &s, &zp],
                &[&q],
                &names.fresh(&format!("{t}_QuantizeLinear")),
            ),
            node(
                "DequantizeLinear",
                &[&q, &s, &zp],
                &[&dq],
                &names.fresh(&format!("{t}_DequantizeLinear")),
            ),
        ];
        if produced.contains(t) {
            after.entry(t.clone()).or_default().extend(pair);
        } else {
            head.extend(pair);
        }
        act_params.insert(t.clone(), p);
        act_dq.insert(t.clone(), dq);
        report.activations_quantized += 1;
    }

    // Weights and biases of the planned nodes.
    let mut rewired: HashMap<usize, Vec<(usize, String)>> = HashMap::new(); // node -> (input index, new name)
    let mut weight_cache: HashMap<(String, Option<usize>), (String, Vec<QuantParams>)> =
        HashMap::new();
    let mut replaced = HashSet::new();
    {
        let view = GraphView::new(g);
        for &i in &plan.nodes {
            let n = &g.node[i];
            let Some(rule) = ops::rule(n) else { continue };
            let weight_is_const = rule
                .weight_input
                .and_then(|w| n.input.get(w))
                .is_some_and(|w| view.initializer(w).is_some());
            let act_inputs = if weight_is_const { 1 } else { 2 };
            let acts_ok = n
                .input
                .iter()
                .take(act_inputs)
                .all(|a| act_params.contains_key(a));
            if !acts_ok {
                report.skip(n.op_type(), "an activation has no calibrated range");
                continue;
            }
            let mut changes = Vec::new();
            let mut w_params = None;
            if let Some(wi) = rule.weight_input {
                if let Some(w) = n.input.get(wi).and_then(|w| view.initializer(w)) {
                    let (values, shape) = float_values(w)?;
                    let axis = config
                        .per_channel
                        .then(|| (rule.channel_axis)(n, shape.len()));
                    let key = (w.name().to_string(), axis);
                    let (dq, params) = match weight_cache.get(&key) {
                        Some(c) => c.clone(),
                        None => {
                            let base = w.name();
                            let qn = [
                                names.fresh(&format!("{base}_quantized")),
                                names.fresh(&format!("{base}_scale")),
                                names.fresh(&format!("{base}_zero_point")),
                            ];
                            let qw =
                                quantize_weight(&values, &shape, axis, [&qn[0], &qn[1], &qn[2]])?;
                            report.weights.tensors += 1;
                            report.weights.bytes_before += values.len() as u64 * 4;
                            report.weights.bytes_after +=
                                values.len() as u64 + qw.params.len() as u64 * 5;
                            if qw.non_finite > 0 {
                                report
                                    .non_finite_weights
                                    .push((base.to_string(), qw.non_finite));
                            }
                            let dq = names.fresh(&format!("{base}_dequantized"));
                            let mut dqn = node(
                                "DequantizeLinear",
                                &[&qn[0], &qn[1], &qn[2]],
                                &[&dq],
                                &names.fresh(&format!("{base}_DequantizeLinear")),
                            );
                            if let Some(a) = axis {
                                dqn = dqn.with_attr(attr_int("axis", a as i64));
                            }
                            head.push(dqn);
                            inits.extend([qw.data, qw.scale, qw.zero_point]);
                            replaced.insert(base.to_string());
                            weight_cache.insert(key, (dq.clone(), qw.params.clone()));
                            (dq, qw.params)
                        }
                    };
                    changes.push((wi, dq));
                    w_params = Some(params);
                }
            }
            // Bias: int32 with scale X_scale * W_scale[c], so integer kernels add it exactly.
            if let (Some(bi), Some(wp)) = (rule.bias_input, &w_params) {
                if let Some(b) = n.input.get(bi).and_then(|b| view.initializer(b)) {
                    let x_scale = act_params[&n.input[0]].scale;
                    if let Ok((bv, bshape)) = float_values(b) {
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
                                names.fresh(&format!("{base}_quantized")),
                                names.fresh(&format!("{base}_scale")),
                                names.fresh(&format!("{base}_zero_point")),
                                names.fresh(&format!("{base}_dequantized")),
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
                                &names.fresh(&format!("{base}_DequantizeLinear")),
                            );
                            if per_channel {
                                dqn = dqn.with_attr(attr_int("axis", 0));
                            }
                            head.push(dqn);
                            replaced.insert(base.to_string());
                            changes.push((bi, dq));
                        }
                    }
                }
            }
            report.quantized(n.op_type());
            rewired.insert(i, changes);
        }
    }

    // Rebuild the node list: head first, then each node (inputs rewired) followed by the Q/DQ of
    // its outputs.
    let mut nodes = head;
    let fused: HashSet<usize> = plan.fused_relus.values().map(|(r, _)| *r).collect();
    for (i, mut n) in std::mem::take(&mut g.node).into_iter().enumerate() {
        if fused.contains(&i) {
            continue;
        }
        for o in n.output.iter_mut() {
            if let Some((_, relu_out)) = plan.fused_relus.get(o.as_str()) {
                *o = relu_out.clone();
            }
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
    remove_unused_initializers(g, &replaced);
    crate::gather::quantize_gathers(g, &mut names, config, &mut report);
    Ok((Model::from_proto(proto), report))
}

fn zero_point_tensor(name: &str, t: QuantType, zp: i32) -> optimize_onnx::proto::TensorProto {
    match t {
        QuantType::U8 => tensor_raw(name, DataType::Uint8, &[], vec![zp as u8]),
        QuantType::I8 => tensor_raw(name, DataType::Int8, &[], vec![zp as i8 as u8]),
    }
}

#[cfg(test)]
mod tests {
    //! Golden case: a one-MatMul graph whose scales and zero points are worked out by hand.
    use super::*;
    use crate::observer::Range;
    use optimize_onnx::build::{read_f32, tensor_f32};
    use optimize_onnx::proto::{GraphProto, OperatorSetIdProto};

    fn graph() -> Model {
        let g = GraphProto {
            node: vec![node("MatMul", &["x", "w"], &["y"], "mm")],
            initializer: vec![tensor_f32("w", &[2, 2], &[1.0, -2.0, 0.5, 4.0])],
            ..Default::default()
        };
        Model::from_proto(ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(13),
            }],
            graph: Some(g),
            ..Default::default()
        })
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

    #[test]
    fn scales_and_zero_points_by_hand() {
        let model = graph();
        let config = QuantConfig::default();
        let plan = plan(&model.proto, &config);
        assert_eq!(plan.nodes, vec![0]);
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
        // y: the range is widened to include 0: [0, 10] -> scale 10/255, zero point 0.
        assert_eq!(read_f32(init(&q, "y_scale")).unwrap(), vec![10.0 / 255.0]);
        assert_eq!(
            init(&q, "y_zero_point").raw_data.as_deref(),
            Some(&[0u8][..])
        );
        // w: int8 symmetric, absmax 4 -> scale 4/127; 1, -2, 0.5, 4 -> 31.75, -63.5, 15.875, 127
        // -> 32, -64 (half to even), 16, 127.
        assert_eq!(read_f32(init(&q, "w_scale")).unwrap(), vec![4.0 / 127.0]);
        let wq: Vec<i8> = init(&q, "w_quantized")
            .raw_data
            .as_ref()
            .unwrap()
            .iter()
            .map(|&b| b as i8)
            .collect();
        assert_eq!(wq, vec![32, -64, 16, 127]);
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
                "MatMul",
                "QuantizeLinear",
                "DequantizeLinear"
            ]
        );
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
