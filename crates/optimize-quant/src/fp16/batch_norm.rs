//! Folding BatchNormalization statistics that float16 cannot hold.
//!
//! Exported conv nets sometimes carry running variances far beyond ±65504 (PP-OCRv4's detector
//! has variances around 1e7). Clamping them would change the normalization by orders of
//! magnitude, so before conversion such a node's parameters are rewritten to the equivalent
//!
//! ```text
//! scale' = scale / sqrt(var + eps)    B' = B - mean * scale'    mean' = 0    var' = 1 - eps
//! ```
//!
//! which computes the same `scale * (x - mean) / sqrt(var + eps) + B` with values of ordinary
//! size. Only inference-mode nodes whose four parameters are stored float32 tensors (initializers
//! or `Constant` values) read by no other node are rewritten; others are left to clamping.

use super::ops::{self, FLOAT};
use super::scope::{Def, GraphId, Scope, ValueId};
use super::tensor::{read_f32, write_f32};
use super::Fp16Error;
use half::f16;
use optimize_onnx::proto::{GraphProto, ModelProto, TensorProto};
use std::collections::HashMap;

/// Rewrites the BatchNormalization nodes whose parameters overflow float16; returns how many.
pub(crate) fn fold_out_of_range(model: &mut ModelProto) -> Result<usize, Fp16Error> {
    let Some(graph) = model.graph.as_ref() else {
        return Ok(0);
    };
    let edits = plan_edits(&Scope::new(graph))?;
    if edits.is_empty() {
        return Ok(0);
    }
    let nodes = edits.len() / 4;
    let mut by_graph: HashMap<GraphId, HashMap<String, Vec<f32>>> = HashMap::new();
    for (v, values) in edits {
        by_graph.entry(v.graph).or_default().insert(v.name, values);
    }
    let mut next = 0;
    if let Some(g) = model.graph.as_mut() {
        apply(g, &mut next, &by_graph);
    }
    Ok(nodes)
}

fn plan_edits(scope: &Scope<'_>) -> Result<Vec<(ValueId, Vec<f32>)>, Fp16Error> {
    let mut edits = Vec::new();
    for (g, info) in scope.graphs.iter().enumerate() {
        for node in &info.graph.node {
            if node.op_type() != "BatchNormalization"
                || !ops::is_default_domain(node)
                || node.input.len() != 5
                || ops::attr_i(node, "training_mode").unwrap_or(0) != 0
            {
                continue;
            }
            let mut params = Vec::with_capacity(4);
            for name in &node.input[1..] {
                let Some(v) = scope.resolve(g, name) else {
                    break;
                };
                let single_reader = scope.uses.get(&v).is_some_and(|u| u.len() == 1);
                let Some(t) = stored_tensor(scope, &v).filter(|_| single_reader) else {
                    break;
                };
                params.push((v, read_f32(t)?));
            }
            if params.len() != 4 {
                continue;
            }
            let overflows = params
                .iter()
                .flat_map(|(_, p)| p)
                .any(|x| x.is_finite() && x.abs() > f16::MAX.to_f32());
            let c = params[0].1.len();
            if !overflows || params.iter().any(|(_, p)| p.len() != c) {
                continue;
            }
            let eps = node
                .attribute
                .iter()
                .find(|a| a.name() == "epsilon")
                .and_then(|a| a.f)
                .unwrap_or(1e-5);
            let [(_, scale), (_, bias), (_, mean), (_, var)] = [0, 1, 2, 3].map(|i| &params[i]);
            let new_scale: Vec<f32> = (0..c)
                .map(|i| (f64::from(scale[i]) / (f64::from(var[i]) + f64::from(eps)).sqrt()) as f32)
                .collect();
            let new_bias: Vec<f32> = (0..c)
                .map(|i| (f64::from(bias[i]) - f64::from(mean[i]) * f64::from(new_scale[i])) as f32)
                .collect();
            let new = [new_scale, new_bias, vec![0.0; c], vec![1.0 - eps; c]];
            for ((v, _), values) in params.into_iter().zip(new) {
                edits.push((v, values));
            }
        }
    }
    Ok(edits)
}

/// The float32 tensor behind `v` if it is an initializer or a `Constant`'s `value`.
fn stored_tensor<'a>(scope: &Scope<'a>, v: &ValueId) -> Option<&'a TensorProto> {
    let graph = scope.graphs[v.graph].graph;
    let t = match scope.def(v)? {
        Def::Initializer(i) => &graph.initializer[i],
        Def::Node(n, 0) => {
            let node = &graph.node[n];
            if node.op_type() != "Constant" || !ops::is_default_domain(node) {
                return None;
            }
            node.attribute
                .iter()
                .find(|a| a.name() == "value")?
                .t
                .as_ref()?
        }
        _ => return None,
    };
    (t.data_type == Some(FLOAT)).then_some(t)
}

/// Writes the new values, walking graphs in the same depth-first order as [`Scope`] numbers them.
fn apply(
    graph: &mut GraphProto,
    next: &mut GraphId,
    edits: &HashMap<GraphId, HashMap<String, Vec<f32>>>,
) {
    let id = *next;
    *next += 1;
    if let Some(mine) = edits.get(&id) {
        for t in &mut graph.initializer {
            if let Some(values) = mine.get(t.name()) {
                write_f32(t, values);
            }
        }
        for node in &mut graph.node {
            let Some(values) = node.output.first().and_then(|o| mine.get(o)) else {
                continue;
            };
            if node.op_type() == "Constant" {
                for a in &mut node.attribute {
                    if let (Some(t), "value") = (a.t.as_mut(), a.name.as_deref().unwrap_or("")) {
                        write_f32(t, values);
                    }
                }
            }
        }
    }
    for node in &mut graph.node {
        for attr in &mut node.attribute {
            for sub in attr.g.iter_mut().chain(attr.graphs.iter_mut()) {
                apply(sub, next, edits);
            }
        }
    }
}
