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
