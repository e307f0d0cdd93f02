//! The weighted ops the pruner changes, as the operator registry ([`optimize_onnx::ops`]) lists
//! them: Conv, ConvTranspose, Gemm and MatMul, with the weight's input, its output- and
//! input-channel axes, its bias and the ranks a layer's weight has (the registry's module doc
//! has the table).
//!
//! A *layer* is a node of one of these ops whose weight is a float32 initializer of the graph
//! (weights held in `Constant` nodes are moved into initializers first). Weights computed at run
//! time, stored in another type, or of another rank are left alone and listed with the reason.
//! Only the main graph is searched: weights inside `If`/`Loop` bodies are not pruned.

use crate::report::Skipped;
use optimize_onnx::build::attr_i;
use optimize_onnx::filter::NodeFilter;
use optimize_onnx::ops::{self, OpInfo, Weight};
use optimize_onnx::proto::{GraphProto, NodeProto, TensorProto};
use optimize_onnx::ElemType;
use std::collections::HashMap;

/// The input of every weighted op that holds the weight (the registry's `Weight::input` for
/// every op the pruner handles; a unit test checks they agree).
pub const WEIGHT_INPUT: usize = 1;

/// The registry entry for `node` and its weight, if the pruner may shrink its channels.
pub fn rule(node: &NodeProto) -> Option<(&'static OpInfo, &'static Weight)> {
    let info = ops::of(node).filter(|o| o.prune)?;
    Some((info, info.weight.as_ref()?))
}

/// Op types the pruner handles, for help texts and reports.
pub fn supported() -> impl Iterator<Item = &'static str> {
    ops::all().filter(|o| o.prune).map(|o| o.op_type)
}

/// One weighted node whose weight the pruner may change.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Index of the node in the graph's node list.
    pub node: usize,
    /// The node's name (its first output's name when it has none).
    pub name: String,
    /// Its op type.
    pub op_type: String,
    /// The weight initializer's name.
    pub weight: String,
    /// The weight's shape.
    pub dims: Vec<usize>,
    /// Axis of the weight indexing output channels.
    pub out_axis: usize,
    /// Axis of the weight indexing input channels (the reduction axis).
    pub in_axis: usize,
    /// The bias initializer, if the node has one.
    pub bias: Option<String>,
    /// The `group` attribute of convolutions (1 for other ops).
    pub group: usize,
}

impl Layer {
    /// Elements of the weight.
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }
}

/// The layers of `graph` that `filter` lets through, in graph order, and the weighted nodes left
/// alone with why. `initializers` maps initializer names to their index in `graph.initializer`.
pub fn find_layers(graph: &GraphProto, filter: &NodeFilter) -> (Vec<Layer>, Vec<Skipped>) {
    let initializers: HashMap<&str, &TensorProto> =
        graph.initializer.iter().map(|t| (t.name(), t)).collect();
    let mut layers = Vec::new();
    let mut skipped = Vec::new();
    for (index, node) in graph.node.iter().enumerate() {
        let Some((info, rule)) = rule(node) else {
            continue;
        };
        let name = NodeFilter::node_id(node).to_string();
        let mut skip = |reason: String| {
            skipped.push(Skipped {
                node: name.clone(),
                op_type: node.op_type().to_string(),
                reason,
            })
        };
        if let Err(why) = filter.check(node) {
            skip(format!("excluded ({})", why.describe()));
            continue;
        }
        if node.output.is_empty() {
            skip("has no output".into());
            continue;
        }
        let Some(weight) = node.input.get(rule.input).filter(|w| !w.is_empty()) else {
            skip("has no weight input".into());
            continue;
        };
        let Some(t) = initializers.get(weight.as_str()) else {
            skip(format!(
                "weight '{weight}' is computed at run time, not stored in the model"
            ));
            continue;
        };
        let dtype = t.data_type.and_then(ElemType::from_code);
        if dtype != Some(ElemType::F32) {
            skip(format!(
                "weight '{weight}' is {}, not float32",
                dtype.map_or("of an unknown type", |d| d.name())
            ));
            continue;
        }
        let dims: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
        if !rule.ranks.contains(&dims.len()) {
            skip(format!(
                "weight '{weight}' has shape {dims:?}; {} weights of rank {}..={} are pruned",
                info.op_type,
                rule.ranks.start(),
                rule.ranks.end()
            ));
            continue;
        }
        let rank = dims.len();
        let bias = rule
            .bias
            .and_then(|i| node.input.get(i))
            .filter(|b| !b.is_empty())
            .cloned();
        layers.push(Layer {
            node: index,
            name,
            op_type: node.op_type().to_string(),
            weight: weight.clone(),
            dims,
            out_axis: rule.out_axis.of(node, rank),
            in_axis: rule.in_axis.of(node, rank),
            bias,
            group: attr_i(node, "group", 1).max(1) as usize,
        });
    }
    (layers, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use optimize_onnx::build::{attr_int, node, tensor_f32, tensor_i64, WithAttr};

    #[test]
    fn finds_weighted_nodes_and_says_why_others_are_left() {
        let g = GraphProto {
            node: vec![
                node("Conv", &["x", "cw", "cb"], &["c"], "conv"),
                node("Gemm", &["c", "gw"], &["g"], "gemm").with_attr(attr_int("transB", 1)),
                node("MatMul", &["g", "dyn"], &["m"], "mm"),
                node("MatMul", &["m", "iw"], &["n"], "int_mm"),
                node("MatMul", &["n", "w3"], &["o"], "batched"),
                node("Relu", &["o"], &["y"], "relu"),
            ],
            initializer: vec![
                tensor_f32("cw", &[4, 3, 1, 1], &[0.0; 12]),
                tensor_f32("cb", &[4], &[0.0; 4]),
                tensor_f32("gw", &[5, 4], &[0.0; 20]),
                tensor_i64("iw", &[2, 2], &[0; 4]),
                tensor_f32("w3", &[1, 2, 2], &[0.0; 4]),
            ],
            ..Default::default()
        };
        let (layers, skipped) = find_layers(&g, &NodeFilter::default());
        let found: Vec<_> = layers
            .iter()
            .map(|l| (l.name.as_str(), l.out_axis, l.in_axis, l.bias.as_deref()))
            .collect();
        assert_eq!(
            found,
            [("conv", 0, 1, Some("cb")), ("gemm", 0, 1, None)],
            "Gemm with transB=1 stores [N, K]"
        );
        let reasons: Vec<_> = skipped
            .iter()
            .map(|s| (s.node.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].1.contains("computed at run time"), "{reasons:?}");
        assert!(reasons[1].1.contains("int64, not float32"), "{reasons:?}");
        assert!(reasons[2].1.contains("[1, 2, 2]"), "{reasons:?}");
    }

    #[test]
    fn every_prunable_op_has_its_weight_at_weight_input() {
        let ops: Vec<_> = ops::all().filter(|o| o.prune).collect();
        assert!(ops.len() >= 4, "Conv, ConvTranspose, Gemm, MatMul");
        for op in ops {
            let w = op.weight.as_ref().expect("a prunable op has a weight");
            assert_eq!(w.input, WEIGHT_INPUT, "{}", op.op_type);
        }
    }

    #[test]
    fn filter_excludes_by_name() {
        let g = GraphProto {
            node: vec![node("MatMul", &["x", "w"], &["y"], "")],
            initializer: vec![tensor_f32("w", &[2, 2], &[0.0; 4])],
            ..Default::default()
        };
        let filter = NodeFilter {
            exclude_nodes: ["y".to_string()].into(),
            ..Default::default()
        };
        let (layers, skipped) = find_layers(&g, &filter);
        assert!(layers.is_empty());
        assert_eq!(skipped[0].reason, "excluded (by name)");
    }
}
