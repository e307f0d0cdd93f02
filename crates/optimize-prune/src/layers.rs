//! What the pruner knows about each weighted op, as one table.
//!
//! | op            | weight input | weight layout                    | output axis | input axis | bias            |
//! |---------------|--------------|----------------------------------|-------------|------------|-----------------|
//! | Conv          | 1            | `[O, I/group, k...]`             | 0           | 1          | 2 (`[O]`)       |
//! | ConvTranspose | 1            | `[I, O/group, k...]`             | 1           | 0          | 2 (`[O]`)       |
//! | Gemm          | 1            | `[N, K]` if `transB`, else `[K, N]` | 0 / 1    | 1 / 0      | 2 (`C`, broadcast to `[M, N]`) |
//! | MatMul        | 1            | `[K, N]` (2-D weights only)      | 1           | 0          | –               |
//!
//! A *layer* is a node of one of these ops whose weight is a float32 initializer of the graph
//! (weights held in `Constant` nodes are moved into initializers first). Weights computed at run
//! time, stored in another type, or of another rank are left alone and listed with the reason.
//! Only the main graph is searched: weights inside `If`/`Loop` bodies are not pruned.

use crate::report::Skipped;
use optimize_onnx::build::attr_i;
use optimize_onnx::filter::NodeFilter;
use optimize_onnx::proto::{GraphProto, NodeProto, TensorProto};
use optimize_onnx::ElemType;
use std::collections::HashMap;

/// The pruner's rule for one weighted op.
#[derive(Debug, Clone, Copy)]
pub struct LayerRule {
    /// ONNX op type (default domain).
    pub op_type: &'static str,
    /// The input that holds the bias, if the op has one.
    pub bias_input: Option<usize>,
    /// Axis of the weight that indexes output channels (neurons).
    pub out_axis: fn(&NodeProto) -> usize,
    /// Axis of the weight that indexes input channels (features): the reduction axis.
    pub in_axis: fn(&NodeProto) -> usize,
    /// The weight ranks the op accepts.
    pub ranks: (usize, usize),
}

/// The input of every weighted op that holds the weight.
pub const WEIGHT_INPUT: usize = 1;

fn zero(_: &NodeProto) -> usize {
    0
}

fn one(_: &NodeProto) -> usize {
    1
}

fn gemm_out(node: &NodeProto) -> usize {
    usize::from(attr_i(node, "transB", 0) == 0)
}

fn gemm_in(node: &NodeProto) -> usize {
    usize::from(attr_i(node, "transB", 0) != 0)
}

const RULES: &[LayerRule] = &[
    LayerRule {
        op_type: "Conv",
        bias_input: Some(2),
        out_axis: zero,
        in_axis: one,
        ranks: (3, 5),
    },
    LayerRule {
        op_type: "ConvTranspose",
        bias_input: Some(2),
        out_axis: one,
        in_axis: zero,
        ranks: (3, 5),
    },
    LayerRule {
        op_type: "Gemm",
        bias_input: Some(2),
        out_axis: gemm_out,
        in_axis: gemm_in,
        ranks: (2, 2),
    },
    LayerRule {
        op_type: "MatMul",
        bias_input: None,
        out_axis: one,
        in_axis: zero,
        ranks: (2, 2),
    },
];

/// The rule for `node`, if the pruner handles its op type.
pub fn rule(node: &NodeProto) -> Option<&'static LayerRule> {
    if !node.domain().is_empty() && node.domain() != "ai.onnx" {
        return None;
    }
    RULES.iter().find(|r| r.op_type == node.op_type())
}

/// Op types with a rule, for help texts and reports.
pub fn supported() -> impl Iterator<Item = &'static str> {
    RULES.iter().map(|r| r.op_type)
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
        let Some(rule) = rule(node) else { continue };
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
        let Some(weight) = node.input.get(WEIGHT_INPUT).filter(|w| !w.is_empty()) else {
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
        if dims.len() < rule.ranks.0 || dims.len() > rule.ranks.1 {
            skip(format!(
                "weight '{weight}' has shape {dims:?}; {} weights of rank {}..={} are pruned",
                rule.op_type, rule.ranks.0, rule.ranks.1
            ));
            continue;
        }
        let bias = rule
            .bias_input
            .and_then(|i| node.input.get(i))
            .filter(|b| !b.is_empty())
            .cloned();
        layers.push(Layer {
            node: index,
            name,
            op_type: node.op_type().to_string(),
            weight: weight.clone(),
            dims,
            out_axis: (rule.out_axis)(node),
            in_axis: (rule.in_axis)(node),
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
        assert_eq!(skipped[0].reason, "excluded (in --exclude-nodes)");
    }
}
