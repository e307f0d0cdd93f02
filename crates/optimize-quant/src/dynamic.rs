//! Dynamic int8 quantization: int8 weights, activations quantized at run time.
//!
//! Each quantized node becomes the integer form ONNX Runtime's CPU provider executes (and fuses
//! into `DynamicQuantizeMatMul` / `MatMulIntegerToFloat` when it optimizes the graph):
//!
//! ```text
//! MatMul(A, W)  ->  DynamicQuantizeLinear(A) -> A_q, A_scale, A_zp      (uint8, once per A)
//!                   MatMulInteger(A_q, W_q, A_zp, W_zp) -> Y_i32          (W_q int8, W_zp = 0)
//!                   Cast(Y_i32, FLOAT) * (A_scale * W_scale)  -> Y
//! Gemm(A, B, C) ->  the same with W = alpha * (transB ? B^T : B), then + beta * C
//! Conv(X, W, B) ->  Conv(X, Cast(W_q, FLOAT) * W_scale[O,1,1,1], B)     (stored in int8, default)
//!               or  ConvInteger(X_q, W_q, X_zp, W_zp) * (X_scale * W_scale[O,1,1]) + B[O,1,1]
//!                   with `conv_integer`
//! ```
//!
//! Conv weights are stored in int8 by default and expanded to float32 by a `Cast` and a `Mul` of
//! constants, which runtimes fold once at load: a quarter of the bytes at float32's speed.
//! MatMul/Gemm weights are stored so too without `matmul_integer` (the quantize job's choice
//! where `MatMulInteger` measures slower than float32: small models, where per-call cost
//! dominates).
//! ONNX Runtime's CPU `ConvInteger` runs 4-6x slower than a float Conv on the convolutional
//! models in models/ (results/quantize-vs-onnxruntime.md), and a weight behind a
//! `DequantizeLinear` is dequantized on every call (ONNX Runtime keeps it for QDQ fusion), which
//! made conv nets 1.4-1.9x slower than float32. Static QDQ (`--calibrate`) or `--auto` is the
//! form that computes convolutions in int8.
//!
//! Weights are symmetric int8, per tensor or (MatMul/Gemm, with `per_channel`) per column, with
//! `W_scale` and `W_zp` then holding one entry per column. Stored Conv weights are per output
//! channel (in any opset); `ConvInteger` weights stay per tensor, as ONNX Runtime's
//! `ConvInteger` rejects a per-channel weight zero point at run time. Nodes inside
//! subgraphs are quantized too. Declines (and says why in the report): a weight that is not a
//! float32 initializer of the same graph, `Gemm` with `transA`, a non-constant `Gemm` bias with
//! `beta != 1`, weights of rank below 2. Needs opset 11 (`DynamicQuantizeLinear`).

use crate::config::{NodeFilter, QuantConfig};
use crate::ops;
use crate::report::QuantReport;
use crate::weights::{float_values, quantize_weight, transpose, QuantizedWeight};
use crate::{Error, Result};
use optimize_onnx::build::{attr_f, attr_i, attr_int, node, opset, tensor_f32, WithAttr};
use optimize_onnx::names::Names;
use optimize_onnx::ops::{IntegerForm, QuantRole};
use optimize_onnx::proto::tensor_proto::DataType;
use optimize_onnx::proto::{GraphProto, NodeProto, TensorProto};
use optimize_onnx::transform::constants_to_initializers;
use optimize_onnx::{GraphView, Model};
use std::collections::HashMap;

/// The opset `DynamicQuantizeLinear` first appears in.
pub const MIN_OPSET: i64 = 11;

/// Quantizes `model` dynamically. The input is not modified.
pub fn quantize_dynamic(model: &Model, config: &QuantConfig) -> Result<(Model, QuantReport)> {
    // Per-column MatMul weights (MatMulInteger) and stored Conv weights (Cast, Mul) need no
    // opset past DynamicQuantizeLinear's, per channel or not.
    let mut model = model.clone();
    let form = "dynamic int8 (DynamicQuantizeLinear)";
    let per_tensor = QuantConfig {
        per_channel: false,
        ..config.clone()
    };
    let upgrade = crate::upgrade_for(&mut model, &per_tensor, MIN_OPSET, form)?;
    let mut proto = model.proto;
    let have = opset(&proto, "").unwrap_or(0);
    if have < MIN_OPSET {
        return Err(Error::OpsetTooOld {
            have,
            need: MIN_OPSET,
            form: "dynamic int8 (DynamicQuantizeLinear)".into(),
        });
    }
    let mut report = QuantReport {
        mode: "int8-dynamic".into(),
        weight_type: Some(config.weight_type),
        ..Default::default()
    };
    report.constants_folded = constants_to_initializers(&mut proto);
    report.opset_upgrade = upgrade;
    let mut pass = Pass {
        config,
        names: Names::of(&proto),
        report,
        stored: HashMap::new(),
    };
    if let Some(g) = proto.graph.as_mut() {
        pass.graph(g)?;
        crate::gather::quantize_gathers(g, &mut pass.names, config, &mut pass.report);
    }
    if let Some(&convs) = pass.report.int8_storage.get("Conv") {
        pass.report.notes.push(format!(
            "{convs} Conv nodes compute in float32 with their weights stored in int8, expanded once at load (a quarter of the bytes, float32's speed); static quantization (calibration data) or --auto computes them in int8"
        ));
    }
    Ok((Model::from_proto(proto), pass.report))
}

struct Pass<'a> {
    config: &'a QuantConfig,
    names: Names,
    report: QuantReport,
    /// Conv weights stored in int8 so far: weight name -> its expanded float32 name.
    stored: HashMap<String, String>,
}

/// The dynamically quantized form of one activation: `DynamicQuantizeLinear` outputs.
#[derive(Clone)]
struct DynAct {
    q: String,
    scale: String,
    zp: String,
}

/// What one node turns into.
struct Rewrite {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    /// The node stays float with its weight stored in int8 (expanded at load).
    stored: bool,
}

impl Pass<'_> {
    fn graph(&mut self, g: &mut GraphProto) -> Result<()> {
        let mut rewrites: HashMap<usize, Rewrite> = HashMap::new();
        let mut acts: HashMap<String, DynAct> = HashMap::new();
        let mut weights: HashMap<(String, Option<usize>), (String, QuantizedWeight)> =
            HashMap::new();
        {
            let view = GraphView::new(g);
            for (i, n) in g.node.iter().enumerate() {
                let Some(rule) = ops::rule(n) else { continue };
                if let Err(why) = self.config.filter.check(n) {
                    self.report
                        .skip(n.op_type(), format!("excluded ({})", why.describe()));
                    continue;
                }
                let result = match rule.quant {
                    QuantRole::Weighted(IntegerForm::MatMulInteger)
                        if !self.config.matmul_integer =>
                    {
                        self.stored_matmul(&view, n, rule)
                    }
                    QuantRole::Weighted(IntegerForm::MatMulInteger) => {
                        self.matmul(&view, n, &mut acts, &mut weights)
                    }
                    QuantRole::Weighted(IntegerForm::ConvInteger) => {
                        self.conv(&view, n, &mut acts, &mut weights)
                    }
                    _ => Err("no dynamic form".to_string()),
                };
                match result {
                    Ok(rw) => {
                        if rw.stored {
                            *self
                                .report
                                .int8_storage
                                .entry(n.op_type().to_string())
                                .or_default() += 1;
                        } else {
                            self.report.quantized(n.op_type());
                        }
                        rewrites.insert(i, rw);
                    }
                    Err(reason) => self.report.skip(n.op_type(), reason),
                }
            }
        }
        // Apply: each rewritten node is replaced in place, keeping topological order. What the
        // old nodes read and what the rewrite adds may end up unused (a replaced weight or bias,
        // a scale ConvInteger does not take): those are dropped at the end if nothing reads them.
        let mut candidates: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut nodes = Vec::with_capacity(g.node.len() + rewrites.len() * 4);
        for (i, mut n) in std::mem::take(&mut g.node).into_iter().enumerate() {
            match rewrites.remove(&i) {
                Some(rw) => {
                    candidates.extend(n.input.iter().cloned());
                    candidates.extend(rw.initializers.iter().map(|t| t.name().to_string()));
                    nodes.extend(rw.nodes);
                    g.initializer.extend(rw.initializers);
                }
                None => {
                    for attr in &mut n.attribute {
                        for sub in attr.g.iter_mut().chain(attr.graphs.iter_mut()) {
                            self.graph(sub)?;
                        }
                    }
                    nodes.push(n);
                }
            }
        }
        g.node = nodes;
        for (_, (_, w)) in weights {
            candidates
                .extend([w.data.name(), w.scale.name(), w.zero_point.name()].map(String::from));
            self.report.weights.tensors += 1;
            self.report.weights.bytes_before +=
                w.data.raw_data.as_ref().map_or(0, |r| r.len() as u64) * 4;
            self.report.weights.bytes_after +=
                (w.data.raw_data.as_ref().map_or(0, |r| r.len()) + w.params.len() * 5) as u64;
            if w.non_finite > 0 {
                self.report
                    .non_finite_weights
                    .push((w.data.name().to_string(), w.non_finite));
            }
            g.initializer.extend([w.data, w.scale, w.zero_point]);
        }
        remove_unused_initializers(g, &candidates);
        Ok(())
    }

    /// `Cast(y_int, FLOAT) * (act_scale * w_scale) [+ bias] -> y`: back to float after an
    /// integer MatMul or Conv.
    fn rescale(
        &mut self,
        id: &str,
        y: &str,
        y_int: &str,
        act_scale: &str,
        w_scale: &str,
        bias: Option<String>,
    ) -> Vec<NodeProto> {
        let y_f = self.names.fresh(&format!("{y}_float"));
        let s = self.names.fresh(&format!("{y}_scale"));
        let mut nodes = vec![
            node(
                "Cast",
                &[y_int],
                &[&y_f],
                &self.names.fresh(&format!("{id}_Cast")),
            )
            .with_attr(attr_int("to", DataType::Float as i64)),
            node(
                "Mul",
                &[act_scale, w_scale],
                &[&s],
                &self.names.fresh(&format!("{id}_scale_Mul")),
            ),
        ];
        let mul_name = self.names.fresh(&format!("{id}_Mul"));
        match bias {
            None => nodes.push(node("Mul", &[&y_f, &s], &[y], &mul_name)),
            Some(b) => {
                let unbiased = self.names.fresh(&format!("{y}_unbiased"));
                nodes.push(node("Mul", &[&y_f, &s], &[&unbiased], &mul_name));
                nodes.push(node(
                    "Add",
                    &[&unbiased, &b],
                    &[y],
                    &self.names.fresh(&format!("{id}_bias_Add")),
                ));
            }
        }
        nodes
    }

    fn dyn_act(
        &mut self,
        a: &str,
        nodes: &mut Vec<NodeProto>,
        acts: &mut HashMap<String, DynAct>,
    ) -> DynAct {
        if let Some(d) = acts.get(a) {
            return d.clone();
        }
        let d = DynAct {
            q: self.names.fresh(&format!("{a}_quantized")),
            scale: self.names.fresh(&format!("{a}_scale")),
            zp: self.names.fresh(&format!("{a}_zero_point")),
        };
        let name = self.names.fresh(&format!("{a}_DynamicQuantizeLinear"));
        nodes.push(node(
            "DynamicQuantizeLinear",
            &[a],
            &[&d.q, &d.scale, &d.zp],
            &name,
        ));
        acts.insert(a.to_string(), d.clone());
        d
    }

    fn weight(
        &mut self,
        source: &str,
        key: (String, Option<usize>),
        values: &[f32],
        shape: &[usize],
        weights: &mut HashMap<(String, Option<usize>), (String, QuantizedWeight)>,
    ) -> std::result::Result<QuantizedWeight, String> {
        if let Some((_, w)) = weights.get(&key) {
            return Ok(w.clone());
        }
        let base = &key.0;
        let names = [
            self.names.fresh(&format!("{base}_quantized")),
            self.names.fresh(&format!("{base}_scale")),
            self.names.fresh(&format!("{base}_zero_point")),
        ];
        let names = [names[0].as_str(), names[1].as_str(), names[2].as_str()];
        let w = quantize_weight(values, shape, key.1, self.config.weight_type, names)
            .map_err(|e| e.to_string())?;
        if w.relative_error > self.config.max_weight_error {
            return Err(format!(
                "weight would lose over {:.0}% of its norm in int8 (outliers stretch its {} scale){}",
                self.config.max_weight_error * 100.0,
                if key.1.is_some() { "per-channel" } else { "per-tensor" },
                if key.1.is_none() { "; per-channel weights or static QDQ may keep it" } else { "" }
            ));
        }
        weights.insert(key, (source.to_string(), w.clone()));
        Ok(w)
    }

    fn matmul(
        &mut self,
        view: &GraphView,
        n: &NodeProto,
        acts: &mut HashMap<String, DynAct>,
        weights: &mut HashMap<(String, Option<usize>), (String, QuantizedWeight)>,
    ) -> std::result::Result<Rewrite, String> {
        let gemm = n.op_type() == "Gemm";
        let (a, b) = match n.input.as_slice() {
            [a, b, ..] => (a.as_str(), b.as_str()),
            _ => return Err("fewer than two inputs".into()),
        };
        if view.initializer(a).is_some() {
            return Err("first input is a constant, not an activation".into());
        }
        let w = view
            .initializer(b)
            .ok_or("second input is not a constant weight of this graph")?;
        let (mut values, mut shape) =
            float_values(w).map_err(|_| "weight is not float32".to_string())?;
        if shape.len() < 2 || (gemm && shape.len() != 2) {
            return Err(format!("weight of rank {} (need 2)", shape.len()));
        }
        let mut key = b.to_string();
        let mut bias: Option<String> = None;
        let mut initializers = Vec::new();
        if gemm {
            if attr_i(n, "transA", 0) != 0 {
                return Err("transA=1".into());
            }
            let (alpha, beta) = (attr_f(n, "alpha", 1.0), attr_f(n, "beta", 1.0));
            if attr_i(n, "transB", 0) != 0 {
                values = transpose(&values, shape[0], shape[1]);
                shape.swap(0, 1);
                key.push_str("_transposed");
            }
            if alpha != 1.0 {
                values.iter_mut().for_each(|v| *v *= alpha);
                key.push_str(&format!("_alpha{alpha}"));
            }
            if let Some(c) = n.input.get(2).filter(|c| !c.is_empty()) {
                if beta == 1.0 {
                    bias = Some(c.clone());
                } else {
                    let ct = view
                        .initializer(c)
                        .ok_or("bias with beta != 1 is not a constant")?;
                    let (cv, _) = float_values(ct).map_err(|e| e.to_string())?;
                    let name = self.names.fresh(&format!("{c}_beta"));
                    initializers.push(tensor_f32(
                        &name,
                        &ct.dims,
                        &cv.iter().map(|v| v * beta).collect::<Vec<_>>(),
                    ));
                    bias = Some(name);
                }
            }
        }
        let axis = self.config.per_channel.then(|| shape.len() - 1);
        if self.config.per_channel && shape.len() != 2 {
            return Err("per-channel needs a 2-D weight".into());
        }
        let qw = self.weight(b, (key, axis), &values, &shape, weights)?;
        let y = n.output.first().ok_or("no output")?.clone();
        let id = NodeFilter::node_id(n).to_string();
        let mut nodes = Vec::new();
        let act = self.dyn_act(a, &mut nodes, acts);
        let y_int = self.names.fresh(&format!("{y}_int32"));
        let mm_name = self.names.fresh(&format!("{id}_MatMulInteger"));
        nodes.push(node(
            "MatMulInteger",
            &[&act.q, qw.data.name(), &act.zp, qw.zero_point.name()],
            &[&y_int],
            &mm_name,
        ));
        nodes.extend(self.rescale(&id, &y, &y_int, &act.scale, qw.scale.name(), bias));
        Ok(Rewrite {
            nodes,
            initializers,
            stored: false,
        })
    }

    /// Conv with its weight stored in int8, one scale per output channel, expanded to float32 by
    /// a `Cast` and a `Mul` of constants (folded at load). A weight shared by several Convs is
    /// stored once.
    /// A MatMul or Gemm whose weight is stored in int8 per output column, float compute.
    fn stored_matmul(
        &mut self,
        view: &GraphView,
        n: &NodeProto,
        rule: &optimize_onnx::ops::OpInfo,
    ) -> std::result::Result<Rewrite, String> {
        let wname = n.input.get(1).ok_or("fewer than two inputs")?;
        let w = view
            .initializer(wname)
            .ok_or("second input is not a constant weight of this graph")?;
        let (values, shape) = float_values(w).map_err(|_| "weight is not float32".to_string())?;
        if shape.len() < 2 {
            return Err(format!("weight of rank {} (need 2)", shape.len()));
        }
        let axis = ops::channel_axis(rule, n, shape.len());
        let wname = wname.clone();
        self.store_int8(n, &wname, &values, &shape, axis)
    }

    /// `n` reading its weight (input 1) stored in int8 with one scale per slice along `axis`,
    /// expanded by a Cast and a Mul of constants that runtimes fold at load.
    fn store_int8(
        &mut self,
        n: &NodeProto,
        wname: &str,
        values: &[f32],
        shape: &[usize],
        axis: usize,
    ) -> std::result::Result<Rewrite, String> {
        let mut conv = n.clone();
        if let Some(expanded) = self.stored.get(wname) {
            conv.input[1] = expanded.clone();
            return Ok(Rewrite {
                nodes: vec![conv],
                initializers: Vec::new(),
                stored: true,
            });
        }
        let q_name = self.names.fresh(&format!("{wname}_int8"));
        let s_name = self.names.fresh(&format!("{wname}_scale"));
        let (qw, scale) = crate::weights::int8_stored(values, shape, axis, &q_name, &s_name)
            .map_err(|e| e.to_string())?;
        if qw.relative_error > self.config.max_weight_error {
            return Err(format!(
                "weight would lose over {:.0}% of its norm in int8",
                self.config.max_weight_error * 100.0
            ));
        }
        if qw.non_finite > 0 {
            self.report
                .non_finite_weights
                .push((wname.to_string(), qw.non_finite));
        }
        self.report
            .count_stored_weight(values.len(), qw.params.len());
        let cast = self.names.fresh(&format!("{wname}_cast"));
        let expanded = self.names.fresh(&format!("{wname}_expanded"));
        let nodes = vec![
            node(
                "Cast",
                &[&q_name],
                &[&cast],
                &self.names.fresh(&format!("{wname}_Cast")),
            )
            .with_attr(attr_int("to", DataType::Float as i64)),
            node(
                "Mul",
                &[&cast, &s_name],
                &[&expanded],
                &self.names.fresh(&format!("{wname}_Mul")),
            ),
            {
                conv.input[1] = expanded.clone();
                conv
            },
        ];
        self.stored.insert(wname.to_string(), expanded);
        Ok(Rewrite {
            nodes,
            initializers: vec![qw.data, scale],
            stored: true,
        })
    }

    fn conv(
        &mut self,
        view: &GraphView,
        n: &NodeProto,
        acts: &mut HashMap<String, DynAct>,
        weights: &mut HashMap<(String, Option<usize>), (String, QuantizedWeight)>,
    ) -> std::result::Result<Rewrite, String> {
        let (x, wname) = match n.input.as_slice() {
            [x, w, ..] => (x.as_str(), w.as_str()),
            _ => return Err("fewer than two inputs".into()),
        };
        let w = view
            .initializer(wname)
            .ok_or("weight is not a constant of this graph")?;
        let (values, shape) = float_values(w).map_err(|_| "weight is not float32".to_string())?;
        if shape.len() < 3 {
            return Err(format!("weight of rank {}", shape.len()));
        }
        if !self.config.conv_integer {
            return self.store_int8(n, wname, &values, &shape, 0);
        }
        let channels = shape[0];
        // Shape that broadcasts a per-output-channel vector over [N, O, spatial...].
        let bdims: Vec<i64> = std::iter::once(channels as i64)
            .chain(std::iter::repeat_n(1, shape.len() - 2))
            .collect();
        let mut initializers = Vec::new();
        let bias = match n.input.get(2).filter(|b| !b.is_empty()) {
            None => None,
            Some(b) => {
                let bt = view
                    .initializer(b)
                    .ok_or("bias is not a constant of this graph")?;
                let (bv, _) = float_values(bt).map_err(|e| e.to_string())?;
                if bv.len() != channels {
                    return Err(format!(
                        "bias '{b}' holds {} values for {channels} output channels",
                        bv.len()
                    ));
                }
                let name = self.names.fresh(&format!("{b}_reshaped"));
                initializers.push(tensor_f32(&name, &bdims, &bv));
                Some(name)
            }
        };
        // ONNX Runtime's ConvInteger accepts only a scalar weight zero point ("Non per-tensor
        // quantization is not supported now"), so Conv weights stay per tensor here; use static
        // QDQ for per-channel Conv.
        let axis = None;
        let qw = self.weight(wname, (wname.to_string(), axis), &values, &shape, weights)?;
        let scales: Vec<f32> = qw.params.iter().map(|p| p.scale).collect();
        let wscale = self.names.fresh(&format!("{wname}_scale_reshaped"));
        let sdims: Vec<i64> = if axis.is_some() {
            bdims.clone()
        } else {
            vec![]
        };
        initializers.push(tensor_f32(&wscale, &sdims, &scales));

        let y = n.output.first().ok_or("no output")?.clone();
        let id = NodeFilter::node_id(n).to_string();
        let mut nodes = Vec::new();
        let act = self.dyn_act(x, &mut nodes, acts);
        let y_int = self.names.fresh(&format!("{y}_int32"));
        let mut conv = node(
            "ConvInteger",
            &[&act.q, qw.data.name(), &act.zp, qw.zero_point.name()],
            &[&y_int],
            &self.names.fresh(&format!("{id}_ConvInteger")),
        );
        conv.attribute = n.attribute.clone();
        nodes.push(conv);
        nodes.extend(self.rescale(&id, &y, &y_int, &act.scale, &wscale, bias));
        Ok(Rewrite {
            nodes,
            initializers,
            stored: false,
        })
    }
}

/// Removes the `candidates` (float weights that were replaced) that nothing reads any more;
/// returns their bytes. Other unused initializers of the input are left as they were.
pub fn remove_unused_initializers(
    g: &mut GraphProto,
    candidates: &std::collections::HashSet<String>,
) -> u64 {
    let unused: std::collections::HashSet<String> = {
        let view = GraphView::new(g);
        g.initializer
            .iter()
            .filter(|t| candidates.contains(t.name()))
            .filter(|t| view.consumers(t.name()).is_empty() && !view.is_output(t.name()))
            .map(|t| t.name().to_string())
            .collect()
    };
    let mut bytes = 0;
    g.initializer.retain(|t| {
        let keep = !unused.contains(t.name());
        if !keep {
            bytes += optimize_onnx::tensor::data_bytes(t);
        }
        keep
    });
    // IR < 4 lists initializers among the inputs; drop the entries of removed ones.
    g.input.retain(|v| !unused.contains(v.name()));
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use optimize_onnx::build::{model, value_info_f32};

    /// Issue 15: dynamic Conv weights behind a DequantizeLinear were dequantized on every call.
    /// They are stored in int8 with one scale per output channel and expanded by a Cast and a
    /// Mul of constants (folded at load), in any opset; a weight two Convs share is stored once.
    #[test]
    fn conv_weights_are_stored_in_int8_and_expanded_by_constants() {
        let w: Vec<f32> = (0..4 * 2 * 3 * 3)
            .map(|i| (i % 7) as f32 * 0.1 - 0.3)
            .collect();
        let g = GraphProto {
            name: Some("convs".into()),
            node: vec![
                node("Conv", &["x", "w"], &["a"], "c1")
                    .with_attr(optimize_onnx::build::attr_ints("pads", &[1, 1, 1, 1])),
                node("Conv", &["x", "w"], &["b"], "c2")
                    .with_attr(optimize_onnx::build::attr_ints("pads", &[1, 1, 1, 1])),
            ],
            input: vec![value_info_f32("x", &[Some(1), Some(2), Some(5), Some(5)])],
            output: vec![
                value_info_f32("a", &[Some(1), Some(4), Some(5), Some(5)]),
                value_info_f32("b", &[Some(1), Some(4), Some(5), Some(5)]),
            ],
            initializer: vec![tensor_f32("w", &[4, 2, 3, 3], &w)],
            ..Default::default()
        };
        let m = Model::from_proto(model(g, 11));
        let config = QuantConfig {
            per_channel: true,
            ..QuantConfig::default()
        };
        let (q, report) = quantize_dynamic(&m, &config).unwrap();
        assert_eq!(report.int8_storage.get("Conv"), Some(&2), "{report:?}");
        assert!(report.quantized.is_empty(), "{report:?}");
        assert!(report.opset_upgrade.is_none(), "opset 11 is enough");
        let g = q.proto.graph.as_ref().unwrap();
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type()).collect();
        assert_eq!(ops, ["Cast", "Mul", "Conv", "Conv"]);
        let scale = g
            .initializer
            .iter()
            .find(|t| t.name() == "w_scale")
            .unwrap();
        assert_eq!(scale.dims, [4, 1, 1, 1]);
        let int8 = g.initializer.iter().find(|t| t.name() == "w_int8").unwrap();
        assert_eq!(int8.data_type, Some(DataType::Int8 as i32));
        assert!(
            g.initializer.iter().all(|t| t.name() != "w"),
            "float weight left behind"
        );
    }

    /// Issue 15: where MatMulInteger measures slower than float32 the quantize job asks for
    /// MatMul/Gemm weights stored like Conv weights: int8 with one scale per output column
    /// (`[1, N]` for a MatMul's `[K, N]`, `[N, 1]` for a `transB` Gemm's `[N, K]`), float compute.
    #[test]
    fn matmul_weights_can_be_stored_in_int8_instead_of_matmul_integer() {
        use optimize_onnx::build::attr_int;
        let w: Vec<f32> = (0..8 * 3).map(|i| (i % 5) as f32 * 0.2 - 0.4).collect();
        let g = GraphProto {
            name: Some("mlp".into()),
            node: vec![
                node("MatMul", &["x", "w"], &["h"], "fc1"),
                node("Gemm", &["h", "v"], &["y"], "fc2").with_attr(attr_int("transB", 1)),
            ],
            input: vec![value_info_f32("x", &[Some(1), Some(8)])],
            output: vec![value_info_f32("y", &[Some(1), Some(2)])],
            initializer: vec![
                tensor_f32("w", &[8, 3], &w),
                tensor_f32("v", &[2, 3], &w[..6]),
            ],
            ..Default::default()
        };
        let m = Model::from_proto(model(g, 13));
        let config = QuantConfig {
            matmul_integer: false,
            ..QuantConfig::default()
        };
        let (q, report) = quantize_dynamic(&m, &config).unwrap();
        assert_eq!(report.int8_storage.get("MatMul"), Some(&1), "{report:?}");
        assert_eq!(report.int8_storage.get("Gemm"), Some(&1), "{report:?}");
        assert!(report.quantized.is_empty(), "{report:?}");
        let g = q.proto.graph.as_ref().unwrap();
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type()).collect();
        assert_eq!(ops, ["Cast", "Mul", "MatMul", "Cast", "Mul", "Gemm"]);
        let dims = |n: &str| &g.initializer.iter().find(|t| t.name() == n).unwrap().dims;
        assert_eq!(dims("w_scale"), &[1, 3]);
        assert_eq!(dims("v_scale"), &[2, 1]);
    }
}
