//! Visiting every graph and every stored tensor of a model, subgraphs included.
//!
//! Real exported models keep weights in many places: graph initializers, `Constant` nodes'
//! `value` attributes, sparse initializers, the bodies of `If`/`Loop`/`Scan`, function bodies and
//! training-info graphs. Passes that touch tensor data (external data, validation, statistics)
//! visit them all through these two functions so none is forgotten.

use crate::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, SparseTensorProto, TensorProto,
};

/// Where a visited tensor lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorSite {
    /// A graph initializer (a weight).
    Initializer,
    /// The values of a sparse initializer.
    SparseValues,
    /// The indices of a sparse initializer.
    SparseIndices,
    /// A tensor held in a node attribute, such as a `Constant` node's `value`.
    Attribute,
}

macro_rules! visitors {
    ($tensor_fn:ident, $($mut_:tt)?) => {
        /// Calls `f` on every tensor stored anywhere in the model, with where it lives.
        pub fn $tensor_fn(model: & $($mut_)? ModelProto, f: &mut dyn FnMut(& $($mut_)? TensorProto, TensorSite)) {
            fn in_attr(attr: & $($mut_)? AttributeProto, f: &mut dyn FnMut(& $($mut_)? TensorProto, TensorSite)) {
                if let Some(t) = & $($mut_)? attr.t {
                    f(t, TensorSite::Attribute);
                }
                for t in & $($mut_)? attr.tensors {
                    f(t, TensorSite::Attribute);
                }
                if let Some(s) = & $($mut_)? attr.sparse_tensor {
                    in_sparse(s, f);
                }
                for s in & $($mut_)? attr.sparse_tensors {
                    in_sparse(s, f);
                }
            }
            fn in_sparse(s: & $($mut_)? SparseTensorProto, f: &mut dyn FnMut(& $($mut_)? TensorProto, TensorSite)) {
                if let Some(v) = & $($mut_)? s.values {
                    f(v, TensorSite::SparseValues);
                }
                if let Some(i) = & $($mut_)? s.indices {
                    f(i, TensorSite::SparseIndices);
                }
            }
            fn in_nodes(nodes: & $($mut_)? [NodeProto], f: &mut dyn FnMut(& $($mut_)? TensorProto, TensorSite)) {
                for node in nodes {
                    for attr in & $($mut_)? node.attribute {
                        in_attr(attr, f);
                    }
                }
            }
            fn in_graph(graph: & $($mut_)? GraphProto, f: &mut dyn FnMut(& $($mut_)? TensorProto, TensorSite)) {
                for t in & $($mut_)? graph.initializer {
                    f(t, TensorSite::Initializer);
                }
                for s in & $($mut_)? graph.sparse_initializer {
                    in_sparse(s, f);
                }
                // Node attributes, recursing into subgraphs held by If/Loop/Scan.
                for node in & $($mut_)? graph.node {
                    for attr in & $($mut_)? node.attribute {
                        in_attr(attr, f);
                        if let Some(g) = & $($mut_)? attr.g {
                            in_graph(g, f);
                        }
                        for g in & $($mut_)? attr.graphs {
                            in_graph(g, f);
                        }
                    }
                }
            }
            if let Some(g) = & $($mut_)? model.graph {
                in_graph(g, f);
            }
            for func in & $($mut_)? model.functions {
                in_nodes(& $($mut_)? func.node, f);
            }
            for ti in & $($mut_)? model.training_info {
                if let Some(g) = & $($mut_)? ti.initialization {
                    in_graph(g, f);
                }
                if let Some(g) = & $($mut_)? ti.algorithm {
                    in_graph(g, f);
                }
            }
        }
    };
}

visitors!(for_each_tensor,);
visitors!(for_each_tensor_mut, mut);

/// Calls `f` on `graph` and then on every subgraph nested in its nodes' attributes, depth first,
/// with the nesting depth (0 for `graph` itself).
pub fn for_each_graph<'a>(graph: &'a GraphProto, f: &mut dyn FnMut(&'a GraphProto, usize)) {
    fn go<'a>(graph: &'a GraphProto, depth: usize, f: &mut dyn FnMut(&'a GraphProto, usize)) {
        f(graph, depth);
        for attr in graph.node.iter().flat_map(|n| &n.attribute) {
            for g in attr.g.iter().chain(&attr.graphs) {
                go(g, depth + 1, f);
            }
        }
    }
    go(graph, 0, f)
}

/// One step from a graph into a subgraph it holds: the node (by index in the graph's node list),
/// the attribute (`then_branch`, `else_branch`, `body`), and the position in the attribute's
/// `graphs` list (0 for a single-graph attribute).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubgraphStep {
    /// Index of the node that holds the subgraph.
    pub node: usize,
    /// Name of the attribute that holds it.
    pub attr: String,
    /// Position in the attribute's `graphs` (0 for `g`).
    pub index: usize,
}

/// Where a graph sits in a model: the steps from the main graph (empty for the main graph).
pub type GraphPath = Vec<SubgraphStep>;

/// The subgraphs held by one node, with the step that reaches each.
pub fn subgraphs_of(node_index: usize, node: &NodeProto) -> Vec<(SubgraphStep, &GraphProto)> {
    let mut out = Vec::new();
    for attr in &node.attribute {
        let step = |index| SubgraphStep {
            node: node_index,
            attr: attr.name().to_string(),
            index,
        };
        if let Some(g) = &attr.g {
            out.push((step(0), g));
        }
        out.extend(attr.graphs.iter().enumerate().map(|(i, g)| (step(i), g)));
    }
    out
}

/// Calls `f` on `graph` and every subgraph nested in it, depth first, with each one's path.
pub fn for_each_graph_path<'a>(
    graph: &'a GraphProto,
    f: &mut dyn FnMut(&'a GraphProto, &GraphPath),
) {
    fn go<'a>(
        graph: &'a GraphProto,
        path: &mut GraphPath,
        f: &mut dyn FnMut(&'a GraphProto, &GraphPath),
    ) {
        f(graph, path);
        for (i, n) in graph.node.iter().enumerate() {
            for (step, sub) in subgraphs_of(i, n) {
                path.push(step);
                go(sub, path, f);
                path.pop();
            }
        }
    }
    go(graph, &mut Vec::new(), f)
}

/// The node that holds the subgraph reached by `step` from `graph`.
pub fn step_node<'a>(graph: &'a GraphProto, step: &SubgraphStep) -> Option<&'a NodeProto> {
    graph.node.get(step.node)
}

/// The subgraph at `path` under `graph`.
pub fn graph_at<'a>(graph: &'a GraphProto, path: &[SubgraphStep]) -> Option<&'a GraphProto> {
    let mut g = graph;
    for step in path {
        let attr = g
            .node
            .get(step.node)?
            .attribute
            .iter()
            .find(|a| a.name() == step.attr)?;
        g = match (&attr.g, step.index) {
            (Some(sub), 0) => sub,
            _ => attr.graphs.get(step.index)?,
        };
    }
    Some(g)
}

/// The subgraph at `path` under `graph`, mutably.
pub fn graph_at_mut<'a>(
    graph: &'a mut GraphProto,
    path: &[SubgraphStep],
) -> Option<&'a mut GraphProto> {
    let mut g = graph;
    for step in path {
        let attr = g
            .node
            .get_mut(step.node)?
            .attribute
            .iter_mut()
            .find(|a| a.name() == step.attr)?;
        g = match attr.g {
            Some(ref mut sub) if step.index == 0 => sub,
            _ => attr.graphs.get_mut(step.index)?,
        };
    }
    Some(g)
}
