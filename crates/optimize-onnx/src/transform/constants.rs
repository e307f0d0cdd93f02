//! Constant nodes to initializers.
//!
//! Several exporters (PaddlePaddle's, spox, older PyTorch) store weights as `Constant` nodes
//! instead of initializers. Passes look for weights among initializers, so this rewrite moves the
//! tensor of every `Constant` node into an initializer of the same graph, named after the node's
//! output, and removes the node. Subgraphs get their own initializers (ONNX allows initializers in
//! If/Loop bodies).
//!
//! Left alone: `Constant` nodes whose output is also a graph output (an initializer may not be
//! one in every runtime), and those holding a sparse tensor or a string. `value_float(s)` and
//! `value_int(s)` forms are converted to tensors as the spec defines them.

use crate::build::{tensor_f32, tensor_i64};
use crate::proto::{GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto};
use std::collections::HashSet;

/// Moves `Constant` node values into initializers, in the main graph and every subgraph, then
/// folds the constant subgraphs that compute weights from them
/// ([`fold_constant_subgraphs`](super::fold_constant_subgraphs): `ConstantOfShape`,
/// `Transpose`, `Reshape`, `Cast`, ... of constants). Returns how many nodes became
/// initializers.
pub fn constants_to_initializers(model: &mut ModelProto) -> usize {
    // IR < 4 requires every initializer to be listed among the graph inputs too.
    let list_as_inputs = model.ir_version.unwrap_or(0) < 4;
    let moved = model
        .graph
        .as_mut()
        .map_or(0, |g| fold_graph(g, list_as_inputs));
    let folded = super::fold_constant_subgraphs(model);
    if list_as_inputs {
        super::list_initializers_as_inputs(model);
    }
    moved + folded
}

fn constant_value(node: &NodeProto) -> Option<TensorProto> {
    let out = node.output.first()?;
    let attr = node.attribute.first()?;
    if node.attribute.len() != 1 {
        return None;
    }
    let mut t = match attr.name() {
        "value" => attr.t.clone()?,
        "value_float" => tensor_f32(out, &[], &[attr.f?]),
        "value_floats" => tensor_f32(out, &[attr.floats.len() as i64], &attr.floats),
        "value_int" => tensor_i64(out, &[], &[attr.i?]),
        "value_ints" => tensor_i64(out, &[attr.ints.len() as i64], &attr.ints),
        _ => return None,
    };
    if t.data_type == Some(crate::proto::tensor_proto::DataType::String as i32) {
        return None;
    }
    t.name = Some(out.clone());
    Some(t)
}

fn fold_graph(g: &mut GraphProto, list_as_inputs: bool) -> usize {
    let outputs: HashSet<String> = g.output.iter().map(|o| o.name().to_string()).collect();
    let mut folded = 0;
    let mut kept = Vec::with_capacity(g.node.len());
    for mut node in std::mem::take(&mut g.node) {
        let is_constant = node.op_type() == "Constant" && node.domain().is_empty();
        if is_constant && node.output.len() == 1 && !outputs.contains(&node.output[0]) {
            if let Some(t) = constant_value(&node) {
                if list_as_inputs {
                    g.input.push(ValueInfoProto {
                        name: t.name.clone(),
                        ..Default::default()
                    });
                }
                g.initializer.push(t);
                folded += 1;
                continue;
            }
        }
        for attr in &mut node.attribute {
            for sub in attr.g.iter_mut().chain(attr.graphs.iter_mut()) {
                folded += fold_graph(sub, list_as_inputs);
            }
        }
        kept.push(node);
    }
    g.node = kept;
    folded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{attr_int, node, WithAttr};
    use crate::proto::AttributeProto;

    fn constant(out: &str, t: TensorProto) -> NodeProto {
        let mut n = node("Constant", &[], &[out], out);
        n.attribute.push(AttributeProto {
            name: Some("value".into()),
            t: Some(t),
            ..Default::default()
        });
        n
    }

    #[test]
    fn folds_in_graph_and_subgraph_but_not_graph_outputs() {
        let mut then_g = GraphProto {
            node: vec![constant("k", tensor_f32("", &[1], &[2.0]))],
            ..Default::default()
        };
        then_g.output.push(ValueInfoProto {
            name: Some("k".into()),
            ..Default::default()
        });
        let mut inner = GraphProto {
            node: vec![
                constant("j", tensor_f32("", &[1], &[3.0])),
                node("Neg", &["j"], &["o"], "neg"),
            ],
            ..Default::default()
        };
        inner.output.push(ValueInfoProto {
            name: Some("o".into()),
            ..Default::default()
        });
        let mut iff = node("If", &["c"], &["z"], "if");
        iff.attribute.push(AttributeProto {
            name: Some("then_branch".into()),
            g: Some(then_g),
            ..Default::default()
        });
        iff.attribute.push(AttributeProto {
            name: Some("else_branch".into()),
            g: Some(inner),
            ..Default::default()
        });
        let mut ints = node("Constant", &[], &["shape"], "shape");
        ints.attribute.push(AttributeProto {
            name: Some("value_ints".into()),
            ints: vec![1, -1],
            ..Default::default()
        });
        let g = GraphProto {
            node: vec![
                constant("w", tensor_f32("", &[2], &[1.0, 2.0])),
                ints,
                node("MatMul", &["x", "w"], &["y"], "mm").with_attr(attr_int("unused", 0)),
                iff,
            ],
            ..Default::default()
        };
        let mut m = ModelProto {
            ir_version: Some(8),
            graph: Some(g),
            ..Default::default()
        };
        assert_eq!(constants_to_initializers(&mut m), 3);
        let g = m.graph.unwrap();
        let names: Vec<&str> = g.initializer.iter().map(|t| t.name()).collect();
        assert_eq!(names, ["w", "shape"]);
        assert_eq!(crate::build::read_i64(&g.initializer[1]), Some(vec![1, -1]));
        assert!(g.input.is_empty(), "IR 8 needs no input entries");
        let iff = &g.node[1];
        let then_g = iff.attribute[0].g.as_ref().unwrap();
        assert_eq!(then_g.node.len(), 1, "branch output 'k' stays a Constant");
        let else_g = iff.attribute[1].g.as_ref().unwrap();
        assert_eq!(else_g.initializer[0].name(), "j");
    }
}
