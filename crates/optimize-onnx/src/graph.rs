//! A read-only index over one graph: who produces and who consumes each tensor.
//!
//! Built once in O(nodes + edges); lookups are hash-map hits, so passes never scan the node list
//! per tensor (which would be quadratic on large graphs).

use crate::proto::{GraphProto, NodeProto, TensorProto};
use std::collections::{HashMap, HashSet};

/// Producer/consumer index of a [`GraphProto`] (not of its subgraphs).
///
/// Names used inside subgraphs but produced in this graph (outer-scope references) count as
/// consumed by the node that owns the subgraph, so a pass never removes or rewrites a tensor a
/// branch body still reads.
pub struct GraphView<'a> {
    graph: &'a GraphProto,
    producer: HashMap<&'a str, usize>,
    consumers: HashMap<&'a str, Vec<usize>>,
    initializer: HashMap<&'a str, usize>,
    outputs: HashSet<&'a str>,
}

impl<'a> GraphView<'a> {
    /// Indexes `graph`.
    pub fn new(graph: &'a GraphProto) -> GraphView<'a> {
        let mut producer = HashMap::new();
        let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, node) in graph.node.iter().enumerate() {
            for o in node.output.iter().filter(|o| !o.is_empty()) {
                producer.insert(o.as_str(), i);
            }
            for input in node.input.iter().filter(|s| !s.is_empty()) {
                consumers.entry(input.as_str()).or_default().push(i);
            }
            let mut captured = HashSet::new();
            for attr in &node.attribute {
                for g in attr.g.iter().chain(&attr.graphs) {
                    outer_references(g, &mut captured);
                }
            }
            for name in captured {
                let entry = consumers.entry(name).or_default();
                if entry.last() != Some(&i) {
                    entry.push(i);
                }
            }
        }
        GraphView {
            graph,
            producer,
            consumers,
            initializer: graph
                .initializer
                .iter()
                .enumerate()
                .map(|(i, t)| (t.name(), i))
                .collect(),
            outputs: graph.output.iter().map(|o| o.name()).collect(),
        }
    }

    /// The graph indexed.
    pub fn graph(&self) -> &'a GraphProto {
        self.graph
    }

    /// Index of the node that produces `name`.
    pub fn producer(&self, name: &str) -> Option<usize> {
        self.producer.get(name).copied()
    }

    /// Indices of the nodes that read `name` (a node reading it twice appears twice).
    pub fn consumers(&self, name: &str) -> &[usize] {
        self.consumers.get(name).map_or(&[], |v| v.as_slice())
    }

    /// The initializer called `name`.
    pub fn initializer(&self, name: &str) -> Option<&'a TensorProto> {
        self.initializer
            .get(name)
            .map(|&i| &self.graph.initializer[i])
    }

    /// True if `name` is a graph output.
    pub fn is_output(&self, name: &str) -> bool {
        self.outputs.contains(name)
    }

    /// The node at `index`.
    pub fn node(&self, index: usize) -> &'a NodeProto {
        &self.graph.node[index]
    }
}

/// Collects names a subgraph reads from enclosing scopes: inputs of its nodes (and of nested
/// subgraphs) that nothing inside produces.
fn outer_references<'a>(g: &'a GraphProto, out: &mut HashSet<&'a str>) {
    let mut local: HashSet<&str> = g.input.iter().map(|v| v.name()).collect();
    local.extend(g.initializer.iter().map(|t| t.name()));
    for n in &g.node {
        local.extend(n.output.iter().map(|s| s.as_str()));
    }
    for n in &g.node {
        for i in n.input.iter().filter(|s| !s.is_empty()) {
            if !local.contains(i.as_str()) {
                out.insert(i.as_str());
            }
        }
        let mut nested = HashSet::new();
        for attr in &n.attribute {
            for sub in attr.g.iter().chain(&attr.graphs) {
                outer_references(sub, &mut nested);
            }
        }
        out.extend(nested.into_iter().filter(|s| !local.contains(s)));
    }
    for o in &g.output {
        if !local.contains(o.name()) {
            out.insert(o.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::node;
    use crate::proto::AttributeProto;

    #[test]
    fn producers_consumers_and_outer_scope_reads() {
        let then_g = GraphProto {
            node: vec![node("Identity", &["w"], &["t"], "id")],
            ..Default::default()
        };
        let mut iff = node("If", &["c"], &["z"], "if");
        iff.attribute.push(AttributeProto {
            name: Some("then_branch".into()),
            g: Some(then_g),
            ..Default::default()
        });
        let g = GraphProto {
            node: vec![
                node("MatMul", &["x", "w"], &["w2"], "mm"),
                iff,
                node("Add", &["w2", "w2"], &["y"], "add"),
            ],
            ..Default::default()
        };
        let v = GraphView::new(&g);
        assert_eq!(v.producer("w2"), Some(0));
        assert_eq!(v.consumers("w2"), &[2, 2]);
        // `w` is read by MatMul and, from inside the branch, by the If.
        assert_eq!(v.consumers("w"), &[0, 1]);
        assert_eq!(v.producer("x"), None);
    }
}
