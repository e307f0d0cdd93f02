//! Deciding, for the whole model at once, which nodes compute in float16 and which values hold
//! float16.
//!
//! The rules, in the order they are applied:
//!
//! 1. A node computes in float16 when the operator registry gives its operator float16 facts
//!    ([`optimize_onnx::ops::Float16`]) for the model's opset, it is not in the block list, none
//!    of its outputs is in `keep_fp32_nodes`, and every one of its `T` slots is known to hold
//!    float32. Anything else (unknown operators, other
//!    domains, unknown types) stays as it is.
//! 2. A float16 node's `T` outputs hold float16. Graph inputs hold float16 only in the main graph
//!    with `keep_io_types = false`; subgraph inputs (Loop/Scan bodies) keep their type.
//! 3. A value no computation forces (an initializer, a `Constant`, a `ConstantOfShape`, an
//!    existing `Cast` to float32) becomes float16 when every reader wants float16 (or does not
//!    care), so a weight shared with a float32 node keeps its full precision.
//! 4. An `If` output becomes float16 when any reader wants float16; both branches are then made
//!    to produce float16 (casting inside a branch where needed), so the branches agree with each
//!    other and with the `If` node.
//! 5. Loop and Scan bodies (and any other subgraph) keep the original types at their boundary:
//!    carried state, scan inputs and outputs are untouched; the body's insides are converted with
//!    casts at its inputs and outputs.
//!
//! Readers want: float16 for a float16 node's `T` inputs, anything for `Cast`, `Shape` and
//! `Size` (which accept every type), and the original type everywhere else, including graph
//! outputs (the main graph's follow `keep_io_types`, an If branch's follow the `If` output).

use super::ops::{self, fp16_op, Slots, FLOAT};
use super::scope::{Def, GraphId, NodeId, Scope, Use, ValueId};
use super::Fp16Config;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The element type a reader asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    F16,
    Orig,
    Any,
}

/// The decisions for one model.
pub(crate) struct Plan<'s, 'a> {
    pub scope: &'s Scope<'a>,
    keep_io_types: bool,
    fp16_nodes: HashSet<NodeId>,
    f16_values: HashMap<ValueId, bool>,
    /// Nodes that touch float32 but stay in float32, by op type.
    pub kept: BTreeMap<String, usize>,
}

/// Ops that move or inspect values without computing on them: never reported as kept in fp32.
const STRUCTURAL: &[&str] = &[
    "Cast",
    "Constant",
    "ConstantOfShape",
    "Shape",
    "Size",
    "If",
    "Loop",
    "Scan",
];

impl<'s, 'a> Plan<'s, 'a> {
    pub(crate) fn new(scope: &'s Scope<'a>, config: &Fp16Config, opset: i64) -> Self {
        let mut plan = Plan {
            scope,
            keep_io_types: config.keep_io_types,
            fp16_nodes: HashSet::new(),
            f16_values: HashMap::new(),
            kept: BTreeMap::new(),
        };
        for (g, info) in scope.graphs.iter().enumerate() {
            for (n, node) in info.graph.node.iter().enumerate() {
                let id = NodeId { graph: g, index: n };
                if plan.eligible(id, config, opset) {
                    plan.fp16_nodes.insert(id);
                } else if !STRUCTURAL.contains(&node.op_type()) && plan.touches_f32(id) {
                    let key = if ops::is_default_domain(node) {
                        node.op_type().to_string()
                    } else {
                        format!("{}.{}", node.domain(), node.op_type())
                    };
                    *plan.kept.entry(key).or_default() += 1;
                }
            }
        }
        let values: Vec<ValueId> = scope
            .graphs
            .iter()
            .enumerate()
            .flat_map(|(g, info)| {
                info.defs.keys().map(move |name| ValueId {
                    graph: g,
                    name: name.to_string(),
                })
            })
            .collect();
        let mut visiting = HashSet::new();
        for v in values {
            plan.decide(&v, &mut visiting);
        }
        plan
    }

    /// Number of nodes that compute in float16.
    pub(crate) fn fp16_node_count(&self) -> usize {
        self.fp16_nodes.len()
    }

    /// True if `v` holds float16 in the converted model.
    pub(crate) fn is_f16(&self, v: &ValueId) -> bool {
        self.f16_values.get(v).copied().unwrap_or(false)
    }

    fn eligible(&self, id: NodeId, config: &Fp16Config, opset: i64) -> bool {
        let node = self.scope.node(id);
        let Some(entry) = fp16_op(node.op_type()) else {
            return false;
        };
        if !ops::is_default_domain(node)
            || entry.since > opset
            || config.block_ops.contains(node.op_type())
            || node
                .output
                .iter()
                .any(|o| config.keep_fp32_nodes.contains(o))
        {
            return false;
        }
        let mut has_f32 = false;
        for (i, name) in node.input.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            let ty = self.scope.ty_of(id.graph, name);
            let is_t = match entry.inputs {
                // Every input must be typed to tell `T` slots from integer ones.
                Slots::Float => match ty {
                    None => return false,
                    Some(t) => ops::is_float(t),
                },
                other => other.has(i, ty),
            };
            if is_t {
                if ty != Some(FLOAT) {
                    return false;
                }
                has_f32 = true;
            }
        }
        for (i, name) in node.output.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            let ty = self.scope.ty_of(id.graph, name);
            let is_t = match entry.outputs {
                Slots::Float => true,
                other => other.has(i, ty),
            };
            if is_t && ty != Some(FLOAT) {
                return false;
            }
        }
        has_f32
    }

    fn touches_f32(&self, id: NodeId) -> bool {
        let node = self.scope.node(id);
        node.input
            .iter()
            .chain(&node.output)
            .any(|n| self.scope.ty_of(id.graph, n) == Some(FLOAT))
    }

    /// True if input `slot` of a float16 node is one of its `T` inputs.
    pub(crate) fn is_t_input(&self, id: NodeId, slot: usize) -> bool {
        if !self.fp16_nodes.contains(&id) {
            return false;
        }
        let node = self.scope.node(id);
        let ty = node
            .input
            .get(slot)
            .and_then(|n| self.scope.ty_of(id.graph, n));
        fp16_op(node.op_type()).is_some_and(|e| e.inputs.has(slot, ty))
    }

    /// True if output `slot` of a float16 node is one of its `T` outputs.
    fn is_t_output(&self, id: NodeId, slot: usize) -> bool {
        if !self.fp16_nodes.contains(&id) {
            return false;
        }
        let node = self.scope.node(id);
        let ty = node
            .output
            .get(slot)
            .and_then(|n| self.scope.ty_of(id.graph, n));
        fp16_op(node.op_type()).is_some_and(|e| e.outputs.has(slot, ty))
    }

    /// What a reader asks for. Only valid once every value is decided (after [`Plan::new`]).
    pub(crate) fn want(&self, u: Use) -> Want {
        self.want_with(u, &mut |v| self.is_f16(v))
    }

    fn want_with(&self, u: Use, decide: &mut dyn FnMut(&ValueId) -> bool) -> Want {
        match u {
            Use::Node(id, slot) => {
                let node = self.scope.node(id);
                if self.is_t_input(id, slot) {
                    Want::F16
                } else if slot == 0
                    && ops::is_default_domain(node)
                    && matches!(node.op_type(), "Cast" | "Shape" | "Size")
                {
                    Want::Any
                } else {
                    Want::Orig
                }
            }
            Use::GraphOutput(0, i) => {
                let out = &self.scope.graphs[0].graph.output[i];
                let f32_ = self.scope.ty_of(0, out.name()) == Some(FLOAT);
                if !self.keep_io_types && f32_ {
                    Want::F16
                } else {
                    Want::Orig
                }
            }
            Use::GraphOutput(g, i) => match self.if_output(g, i) {
                Some(v) if decide(&v) => Want::F16,
                _ => Want::Orig,
            },
        }
    }

    /// For output `i` of graph `g` when `g` is a branch of an If node: that If's output value.
    pub(crate) fn if_output(&self, g: GraphId, i: usize) -> Option<ValueId> {
        let owner = self.scope.graphs[g].owner.as_ref()?;
        let node = self.scope.node(owner.node);
        if node.op_type() != "If" || !ops::is_default_domain(node) {
            return None;
        }
        let name = node.output.get(i).filter(|n| !n.is_empty())?;
        Some(ValueId {
            graph: owner.node.graph,
            name: name.clone(),
        })
    }

    fn decide(&mut self, v: &ValueId, visiting: &mut HashSet<ValueId>) -> bool {
        if let Some(&d) = self.f16_values.get(v) {
            return d;
        }
        if !visiting.insert(v.clone()) {
            return false; // a cycle (invalid graph): stay float32
        }
        let d = self.decide_fresh(v, visiting);
        visiting.remove(v);
        self.f16_values.insert(v.clone(), d);
        d
    }

    fn decide_fresh(&mut self, v: &ValueId, visiting: &mut HashSet<ValueId>) -> bool {
        if !self.scope.is_f32(v) {
            return false;
        }
        let main_input = |name: &str| {
            self.scope.graphs[0]
                .graph
                .input
                .iter()
                .any(|i| i.name() == name)
        };
        match self.scope.def(v) {
            None => false,
            Some(Def::Input(_)) => v.graph == 0 && !self.keep_io_types,
            Some(Def::Initializer(_)) if v.graph == 0 && main_input(&v.name) => !self.keep_io_types,
            Some(Def::Initializer(_)) => self.readers_agree(v, visiting),
            Some(Def::Node(n, slot)) => {
                let id = NodeId {
                    graph: v.graph,
                    index: n,
                };
                let node = self.scope.node(id);
                if self.fp16_nodes.contains(&id) {
                    return self.is_t_output(id, slot);
                }
                if !ops::is_default_domain(node) {
                    return false;
                }
                match node.op_type() {
                    "Constant" | "ConstantOfShape" | "Cast" => self.readers_agree(v, visiting),
                    "If" => self.some_reader_wants(v, visiting),
                    _ => false,
                }
            }
        }
    }

    fn wants(&mut self, v: &ValueId, visiting: &mut HashSet<ValueId>) -> Vec<Want> {
        let uses = self.scope.uses.get(v).cloned().unwrap_or_default();
        uses.into_iter()
            .map(|u| {
                // Reading a branch output needs the enclosing If's decision first.
                let decided = match u {
                    Use::GraphOutput(g, i) if g != 0 => {
                        self.if_output(g, i).map(|o| self.decide(&o, visiting))
                    }
                    _ => None,
                };
                self.want_with(u, &mut |_| decided.unwrap_or(false))
            })
            .collect()
    }

    fn readers_agree(&mut self, v: &ValueId, visiting: &mut HashSet<ValueId>) -> bool {
        let wants = self.wants(v, visiting);
        wants.contains(&Want::F16) && wants.iter().all(|w| *w != Want::Orig)
    }

    fn some_reader_wants(&mut self, v: &ValueId, visiting: &mut HashSet<ValueId>) -> bool {
        self.wants(v, visiting).contains(&Want::F16)
    }
}
