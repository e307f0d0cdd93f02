//! A model-wide index of graphs and values, subgraphs included, with each value's original
//! element type.
//!
//! Graphs are numbered depth first (the main graph is 0, then each node's graph attributes in
//! node order, attribute order, `g` before `graphs`), the same order [`visit_graphs_mut`] walks,
//! so an id found while reading names the same graph while rewriting. A value is identified by
//! the graph that defines it and its name ([`ValueId`]); a name used in a subgraph but defined
//! outside resolves to the enclosing graph's value, as ONNX scoping says.
//!
//! Element types come, in order of trust, from: graph inputs and initializers as declared,
//! operator semantics ([`super::ops::output_types`], and the bodies for If/Loop/Scan), then the
//! model's `value_info` and graph outputs for anything still unknown. Stale `value_info` never
//! overrides what the operators say.

use super::ops::{self, FLOAT};
use optimize_onnx::proto::tensor_proto::DataType;
use optimize_onnx::proto::type_proto;
use optimize_onnx::proto::{GraphProto, NodeProto, ValueInfoProto};
use std::collections::HashMap;

/// Index of a graph in depth-first order; 0 is the main graph.
pub(crate) type GraphId = usize;

/// A node: its graph and position in that graph's node list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct NodeId {
    pub graph: GraphId,
    pub index: usize,
}

/// A value: the graph that defines it and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ValueId {
    pub graph: GraphId,
    pub name: String,
}

/// Where a value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Def {
    /// A graph input (position).
    Input(usize),
    /// An initializer (position).
    Initializer(usize),
    /// Output `slot` of a node.
    Node(usize, usize),
}

/// Something that reads a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// Input `slot` of a node.
    Node(NodeId, usize),
    /// Output `index` of a graph.
    GraphOutput(GraphId, usize),
}

/// A subgraph's place: the node holding it and the attribute name.
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    pub node: NodeId,
    pub attr: String,
}

/// One graph of the model.
pub(crate) struct GraphInfo<'a> {
    pub graph: &'a GraphProto,
    pub owner: Option<Owner>,
    pub defs: HashMap<&'a str, Def>,
    /// Subgraphs held by each node, by node index.
    pub children: HashMap<usize, Vec<GraphId>>,
}

/// Every graph and value of a model, with original element types and uses.
pub(crate) struct Scope<'a> {
    pub graphs: Vec<GraphInfo<'a>>,
    pub types: HashMap<ValueId, i32>,
    pub uses: HashMap<ValueId, Vec<Use>>,
}

impl<'a> Scope<'a> {
    /// Indexes `main` and every graph nested in it, then types every value it can.
    pub(crate) fn new(main: &'a GraphProto) -> Scope<'a> {
        let mut scope = Scope {
            graphs: Vec::new(),
            types: HashMap::new(),
            uses: HashMap::new(),
        };
        scope.collect(main, None);
        scope.index_uses();
        // Two sweeps: the second types values a node reads before the node defining them
        // (out-of-order graphs, outer values read by subgraphs of earlier nodes).
        for _ in 0..2 {
            scope.infer_graph(0);
        }
        scope.fill_from_declared();
        scope
    }

    fn collect(&mut self, graph: &'a GraphProto, owner: Option<Owner>) -> GraphId {
        let id = self.graphs.len();
        let mut defs = HashMap::new();
        for (i, v) in graph.input.iter().enumerate() {
            defs.insert(v.name(), Def::Input(i));
        }
        for (i, t) in graph.initializer.iter().enumerate() {
            // An initializer with the same name as an input is that input's default value.
            defs.entry(t.name()).or_insert(Def::Initializer(i));
        }
        for (n, node) in graph.node.iter().enumerate() {
            for (s, out) in node.output.iter().enumerate() {
                if !out.is_empty() {
                    defs.insert(out.as_str(), Def::Node(n, s));
                }
            }
        }
        self.graphs.push(GraphInfo {
            graph,
            owner,
            defs,
            children: HashMap::new(),
        });
        for (n, node) in graph.node.iter().enumerate() {
            for attr in &node.attribute {
                for sub in attr.g.iter().chain(&attr.graphs) {
                    let owner = Owner {
                        node: NodeId {
                            graph: id,
                            index: n,
                        },
                        attr: attr.name().to_string(),
                    };
                    let child = self.collect(sub, Some(owner));
                    self.graphs[id].children.entry(n).or_default().push(child);
                }
            }
        }
        id
    }

    /// The value `name` refers to when read in graph `g`, looking outwards through the scopes.
    pub(crate) fn resolve(&self, mut g: GraphId, name: &str) -> Option<ValueId> {
        if name.is_empty() {
            return None;
        }
        loop {
            let info = &self.graphs[g];
            if info.defs.contains_key(name) {
                return Some(ValueId {
                    graph: g,
                    name: name.to_string(),
                });
            }
            g = info.owner.as_ref()?.node.graph;
        }
    }

    /// Where `v` is defined.
    pub(crate) fn def(&self, v: &ValueId) -> Option<Def> {
        self.graphs[v.graph].defs.get(v.name.as_str()).copied()
    }

    /// The node with this id.
    pub(crate) fn node(&self, id: NodeId) -> &'a NodeProto {
        &self.graphs[id.graph].graph.node[id.index]
    }

    /// The original element type of `v`, if known.
    pub(crate) fn ty(&self, v: &ValueId) -> Option<i32> {
        self.types.get(v).copied()
    }

    /// The original element type of what `name` means in graph `g`.
    pub(crate) fn ty_of(&self, g: GraphId, name: &str) -> Option<i32> {
        self.resolve(g, name).and_then(|v| self.ty(&v))
    }

    /// True if `v` held float32 in the original model.
    pub(crate) fn is_f32(&self, v: &ValueId) -> bool {
        self.ty(v) == Some(FLOAT)
    }

    fn index_uses(&mut self) {
        let mut uses: HashMap<ValueId, Vec<Use>> = HashMap::new();
        for g in 0..self.graphs.len() {
            let graph = self.graphs[g].graph;
            for (n, node) in graph.node.iter().enumerate() {
                for (s, name) in node.input.iter().enumerate() {
                    if let Some(v) = self.resolve(g, name) {
                        let id = NodeId { graph: g, index: n };
                        uses.entry(v).or_default().push(Use::Node(id, s));
                    }
                }
            }
            for (i, out) in graph.output.iter().enumerate() {
                if let Some(v) = self.resolve(g, out.name()) {
                    uses.entry(v).or_default().push(Use::GraphOutput(g, i));
                }
            }
        }
        self.uses = uses;
    }

    fn set(&mut self, v: ValueId, ty: Option<i32>) {
        if let Some(t) = ty.filter(|&t| t != 0) {
            self.types.entry(v).or_insert(t);
        }
    }

    fn infer_graph(&mut self, g: GraphId) {
        let graph = self.graphs[g].graph;
        for v in &graph.input {
            let id = ValueId {
                graph: g,
                name: v.name().to_string(),
            };
            self.set(id, declared_type(v));
        }
        if g != 0 {
            self.type_body_inputs(g);
        }
        for t in &graph.initializer {
            let id = ValueId {
                graph: g,
                name: t.name().to_string(),
            };
            self.set(id, t.data_type);
        }
        for (n, node) in graph.node.iter().enumerate() {
            let children = self.graphs[g].children.get(&n).cloned().unwrap_or_default();
            for &c in &children {
                self.infer_graph(c);
            }
            let inputs: Vec<Option<i32>> = node.input.iter().map(|i| self.ty_of(g, i)).collect();
            let outputs = match (node.op_type(), ops::is_default_domain(node)) {
                ("If", true) => self.if_types(node, &children),
                ("Loop", true) => self.loop_types(node, &inputs, &children),
                ("Scan", true) => self.body_output_types(children.first().copied(), 0),
                _ => ops::output_types(node, &inputs),
            };
            for (out, ty) in node.output.iter().zip(outputs) {
                if !out.is_empty() {
                    let id = ValueId {
                        graph: g,
                        name: out.clone(),
                    };
                    self.set(id, ty);
                }
            }
        }
    }

    /// Loop bodies receive (iteration number, condition, carried values...); type them from the
    /// Loop's inputs when the body does not declare them.
    fn type_body_inputs(&mut self, g: GraphId) {
        let Some(owner) = self.graphs[g].owner.clone() else {
            return;
        };
        let node = self.node(owner.node);
        if node.op_type() != "Loop" || owner.attr != "body" {
            return;
        }
        let graph = self.graphs[g].graph;
        for (i, v) in graph.input.iter().enumerate() {
            let ty = match i {
                0 => Some(DataType::Int64 as i32),
                1 => Some(DataType::Bool as i32),
                _ => node
                    .input
                    .get(i)
                    .and_then(|name| self.ty_of(owner.node.graph, name)),
            };
            let id = ValueId {
                graph: g,
                name: v.name().to_string(),
            };
            self.set(id, ty);
        }
    }

    fn body_output_types(&self, body: Option<GraphId>, skip: usize) -> Vec<Option<i32>> {
        let Some(b) = body else { return Vec::new() };
        self.graphs[b]
            .graph
            .output
            .iter()
            .skip(skip)
            .map(|o| self.ty_of(b, o.name()).or(declared_type(o)))
            .collect()
    }

    fn if_types(&self, node: &NodeProto, children: &[GraphId]) -> Vec<Option<i32>> {
        let branches: Vec<Vec<Option<i32>>> = children
            .iter()
            .map(|&c| self.body_output_types(Some(c), 0))
            .collect();
        (0..node.output.len())
            .map(|i| branches.iter().find_map(|b| b.get(i).copied().flatten()))
            .collect()
    }

    fn loop_types(
        &self,
        node: &NodeProto,
        inputs: &[Option<i32>],
        children: &[GraphId],
    ) -> Vec<Option<i32>> {
        // Outputs: final carried values (typed like the Loop's inputs 2..), then scan outputs
        // (typed like the body's outputs after the condition and the carried values).
        let carried = inputs.len().saturating_sub(2);
        let scans = self.body_output_types(children.first().copied(), 1 + carried);
        (0..node.output.len())
            .map(|i| {
                if i < carried {
                    inputs.get(2 + i).copied().flatten()
                } else {
                    scans.get(i - carried).copied().flatten()
                }
            })
            .collect()
    }

    /// Types still unknown after inference come from `value_info` and graph outputs.
    fn fill_from_declared(&mut self) {
        for g in 0..self.graphs.len() {
            let graph = self.graphs[g].graph;
            for v in graph.value_info.iter().chain(&graph.output) {
                if let Some(id) = self.resolve(g, v.name()) {
                    self.set(id, declared_type(v));
                }
            }
        }
    }
}

/// The element type a `ValueInfoProto` declares for a tensor, if any.
pub(crate) fn declared_type(v: &ValueInfoProto) -> Option<i32> {
    match v.r#type.as_ref()?.value.as_ref()? {
        type_proto::Value::TensorType(t) => t.elem_type.filter(|&e| e != 0),
        _ => None,
    }
}
