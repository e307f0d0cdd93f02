//! Embedding tables: `Gather` from a float32 initializer becomes `Gather` from int8 followed by
//! `DequantizeLinear`, so only the gathered rows are turned back into float.
//!
//! ```text
//! Gather(E, ids) -> Gather(E_int8, ids) -> DequantizeLinear(·, E_scale, E_zp) -> Y
//! ```
//!
//! Word embeddings are most of a small transformer's bytes (47 MB of MiniLM-L3's 69 MB), and
//! ONNX Runtime's tool quantizes them the same way. One scale per table (a per-row scale would
//! need a second Gather); tables that int8 would wreck stay float, as for other weights.

use crate::config::{NodeFilter, QuantConfig};
use crate::dynamic::remove_unused_initializers;
use crate::report::QuantReport;
use crate::weights::{float_values, quantize_weight, WeightType};
use optimize_onnx::build::node;
use optimize_onnx::names::Names;
use optimize_onnx::proto::GraphProto;
use optimize_onnx::GraphView;
use std::collections::{HashMap, HashSet};

/// Tables smaller than this are left alone: the saving would not pay for the extra node.
pub const MIN_TABLE_BYTES: usize = 64 * 1024;

/// Quantizes the float32 `Gather` tables of `g` (not its subgraphs). Returns nodes rewritten.
pub fn quantize_gathers(
    g: &mut GraphProto,
    names: &mut Names,
    config: &QuantConfig,
    report: &mut QuantReport,
) -> usize {
    let mut plans: HashMap<usize, String> = HashMap::new(); // node index -> table name
    {
        let view = GraphView::new(g);
        for (i, n) in g.node.iter().enumerate() {
            if n.op_type() != "Gather" || !n.domain().is_empty() {
                continue;
            }
            let Some(t) = n.input.first().and_then(|d| view.initializer(d)) else {
                continue;
            };
            if t.data_type != Some(1)
                || optimize_onnx::tensor::data_bytes(t) < MIN_TABLE_BYTES as u64
            {
                continue;
            }
            if let Err(why) = config.filter.check(n) {
                report.skip("Gather", format!("excluded ({})", why.describe()));
                continue;
            }
            plans.insert(i, t.name().to_string());
        }
    }
    if plans.is_empty() {
        return 0;
    }
    let mut tables: HashMap<String, Option<[String; 3]>> = HashMap::new();
    let mut new_inits = Vec::new();
    let mut candidates = HashSet::new();
    let mut nodes = Vec::with_capacity(g.node.len() + plans.len());
    let originals = g.initializer.clone();
    for (i, n) in std::mem::take(&mut g.node).into_iter().enumerate() {
        let Some(table) = plans.get(&i) else {
            nodes.push(n);
            continue;
        };
        let q = tables.entry(table.clone()).or_insert_with(|| {
            let t = originals.iter().find(|t| t.name() == table)?;
            let (values, shape) = float_values(t).ok()?;
            let qn = [
                names.fresh(&format!("{table}_quantized")),
                names.fresh(&format!("{table}_scale")),
                names.fresh(&format!("{table}_zero_point")),
            ];
            let w = quantize_weight(
                &values,
                &shape,
                None,
                // Dequantized to float before the Gather: no integer kernel involved.
                WeightType::Int8,
                [&qn[0], &qn[1], &qn[2]],
            )
            .ok()?;
            if w.relative_error > config.max_weight_error {
                return None;
            }
            report.weights.tensors += 1;
            report.weights.bytes_before += values.len() as u64 * 4;
            report.weights.bytes_after += values.len() as u64 + 5;
            new_inits.extend([w.data, w.scale, w.zero_point]);
            Some(qn)
        });
        let Some(q) = q.clone() else {
            report.skip("Gather", "table would lose too much in int8");
            nodes.push(n);
            continue;
        };
        candidates.insert(table.clone());
        let y = n.output[0].clone();
        let id = NodeFilter::node_id(&n).to_string();
        let gathered = names.fresh(&format!("{y}_quantized"));
        let mut gather = n.clone();
        gather.input[0] = q[0].clone();
        gather.output[0] = gathered.clone();
        nodes.push(gather);
        nodes.push(node(
            "DequantizeLinear",
            &[&gathered, &q[1], &q[2]],
            &[&y],
            &names.fresh(&format!("{id}_DequantizeLinear")),
        ));
        report.quantized("Gather");
    }
    g.node = nodes;
    g.initializer.extend(new_inits);
    remove_unused_initializers(g, &candidates);
    plans.len()
}
