//! Renaming a value everywhere a graph mentions it.

use crate::proto::GraphProto;

/// Renames the value `from` to `to` in `graph`: node inputs and outputs, graph inputs,
/// outputs and value_info, initializers, and the bodies of If/Loop/Scan nodes that read it
/// from the enclosing scope (unless a body defines its own `from`). Used to give a rebuilt
/// model the input and output names of the one it replaces.
pub fn rename_value(graph: &mut GraphProto, from: &str, to: &str) {
    if from == to {
        return;
    }
    let swap = |s: &mut String| {
        if s == from {
            *s = to.to_string();
        }
    };
    for v in graph
        .input
        .iter_mut()
        .chain(graph.output.iter_mut())
        .chain(graph.value_info.iter_mut())
    {
        if let Some(n) = v.name.as_mut() {
            swap(n);
        }
    }
    for t in &mut graph.initializer {
        if let Some(n) = t.name.as_mut() {
            swap(n);
        }
    }
    for node in &mut graph.node {
        node.input
            .iter_mut()
            .chain(node.output.iter_mut())
            .for_each(swap);
        for a in &mut node.attribute {
            for sub in a.g.iter_mut().chain(a.graphs.iter_mut()) {
                let shadowed = sub.input.iter().any(|i| i.name() == from)
                    || sub.node.iter().any(|n| n.output.iter().any(|o| o == from));
                if !shadowed {
                    rename_value(sub, from, to);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::node;
    use crate::proto::ValueInfoProto;

    #[test]
    fn renames_every_mention_and_nothing_else() {
        let vi = |n: &str| ValueInfoProto {
            name: Some(n.into()),
            ..Default::default()
        };
        let mut g = GraphProto {
            input: vec![vi("input")],
            output: vec![vi("logits")],
            node: vec![
                node("Relu", &["input"], &["h"], "a"),
                node("Relu", &["h"], &["logits"], "b"),
            ],
            ..Default::default()
        };
        rename_value(&mut g, "input", "x");
        rename_value(&mut g, "logits", "y");
        assert_eq!(g.input[0].name(), "x");
        assert_eq!(g.output[0].name(), "y");
        assert_eq!(g.node[0].input, ["x"]);
        assert_eq!(g.node[0].output, ["h"]);
        assert_eq!(g.node[1].output, ["y"]);
    }
}
