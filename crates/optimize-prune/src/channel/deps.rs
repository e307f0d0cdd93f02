//! The dependency graph of channels: which tensors must lose the same channels together.
//!
//! Every layer ([`crate::layers`]) whose output channels could be removed starts a *space*: the
//! channel axis of its output. The walk follows each space forward, in topological order,
//! through the ops that keep channels apart, and records every tensor that would have to be cut
//! with it ([`Member`]): the layer's weight and bias, BatchNorm parameters, per-channel
//! constants of `Add`/`Mul`/..., depthwise convolutions (weight, bias and `group`), and the
//! input side of the next layers (their weight along the input axis; after a `Flatten` of a
//! known spatial size, blocks of `hw` rows of a Gemm/MatMul weight). Ops that combine two tensors
//! channel by channel (a residual `Add`, the `Mul` of a squeeze-excitation block) *tie* their
//! spaces together: they become one group and lose the same channels. A `Concat` along the
//! channel axis makes a tensor whose channels come from several spaces, each kept apart.
//!
//! A space is *blocked* (left alone, with the reason) when anything reads it in a way the walk
//! does not model: an op it does not know, a graph output, a `Shape`, a `Reshape` other than a
//! flatten, a softmax or reduction over the channel axis, a grouped convolution, a subgraph.
//! This is the contract: a group is only pruned when every tensor depending on it is rewritten.

use crate::layers::{rule, WEIGHT_INPUT};
use optimize_onnx::build::{attr, attr_i, read_i64};
use optimize_onnx::filter::NodeFilter;
use optimize_onnx::proto::{GraphProto, NodeProto, TensorProto};
use optimize_onnx::{ElemType, GraphView};
use std::collections::HashMap;

/// Index of a space.
pub type SpaceId = usize;

/// One channel space: the output channels of one layer.
#[derive(Debug, Clone)]
pub struct Space {
    /// Channels.
    pub len: usize,
    /// The layer whose output channels these are.
    pub producer: Producer,
    /// Why this space may not be pruned, if anything says so.
    pub blocked: Vec<String>,
}

/// The layer that produces a space.
#[derive(Debug, Clone)]
pub struct Producer {
    /// Node index.
    pub node: usize,
    /// Node name.
    pub name: String,
    /// Weight initializer.
    pub weight: String,
    /// Output axis of the weight.
    pub axis: usize,
}

/// How a tensor's channel axis is made of spaces.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// Spaces along the axis, in order, with their lengths.
    pub segments: Vec<(SpaceId, usize)>,
    /// The channel axis counted from the end (1 = last axis).
    pub from_end: usize,
    /// The tensor's rank, when known.
    pub rank: Option<usize>,
    /// Entries per channel along the axis: 1, except after a `Flatten` (`h·w`), where it is
    /// unknown (`None`) until a layer reading the tensor tells it.
    pub block: Option<usize>,
}

impl View {
    fn single(space: SpaceId, len: usize, from_end: usize, rank: Option<usize>) -> View {
        View {
            segments: vec![(space, len)],
            from_end,
            rank,
            block: Some(1),
        }
    }

    /// Channels along the axis.
    pub fn channels(&self) -> usize {
        self.segments.iter().map(|s| s.1).sum()
    }

    /// The channel axis counted from the front, when the rank is known.
    fn axis(&self) -> Option<usize> {
        self.rank.and_then(|r| r.checked_sub(self.from_end))
    }
}

/// What a member tensor is to the group, for importance and for zeroing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The weight of a producing layer, along its output axis.
    ProducerWeight,
    /// The bias of a producing layer.
    ProducerBias,
    /// The weight of a layer reading the channels, along its input axis.
    ConsumerWeight,
    /// The scale (gamma) of a BatchNormalization.
    BnScale,
    /// Any other per-channel tensor: BatchNorm statistics and shift, per-channel constants,
    /// depthwise weights and biases.
    Param,
}

/// One tensor cut with a group: input `input` of node `node`, along `axis`, indexed by `view`.
#[derive(Debug, Clone)]
pub struct Member {
    /// Node index.
    pub node: usize,
    /// Which input of the node holds the tensor (an initializer).
    pub input: usize,
    /// The axis of the tensor that indexes channels.
    pub axis: usize,
    /// How that axis is made of spaces.
    pub view: View,
    /// What the tensor is.
    pub kind: Kind,
}

/// The result of the walk.
#[derive(Debug, Clone, Default)]
pub struct Deps {
    /// Every space, by id.
    pub spaces: Vec<Space>,
    /// Every tensor to cut.
    pub members: Vec<Member>,
    /// Nodes whose `group` attribute must follow a view (depthwise convolutions).
    pub group_attrs: Vec<(usize, View)>,
    /// Union-find parent of each space.
    parent: Vec<SpaceId>,
    /// The root of each space, once the walk is done.
    roots: Vec<SpaceId>,
    /// The view of each tensor that has one.
    pub views: HashMap<String, View>,
}

impl Deps {
    /// The group (root space) of `s`.
    pub fn root(&self, mut s: SpaceId) -> SpaceId {
        if let Some(&r) = self.roots.get(s) {
            return r;
        }
        while self.parent[s] != s {
            s = self.parent[s];
        }
        s
    }

    /// The root of `s`, halving the path on the way (near-constant time over a walk).
    fn find(&mut self, mut s: SpaceId) -> SpaceId {
        while self.parent[s] != s {
            self.parent[s] = self.parent[self.parent[s]];
            s = self.parent[s];
        }
        s
    }

    /// Fixes every space's root once the walk is done.
    fn finish(&mut self) {
        self.roots = (0..self.parent.len()).map(|s| self.find(s)).collect();
    }

    fn union(&mut self, a: SpaceId, b: SpaceId, why: &str) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        if self.spaces[a].len != self.spaces[b].len {
            let reason = format!(
                "{why} combines it with {} channels of another layer, not {}",
                self.spaces[b].len, self.spaces[a].len
            );
            self.block_space(a, &reason);
            self.block_space(b, &reason);
        }
        // Smaller index stays root: deterministic.
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[hi] = lo;
    }

    fn block_space(&mut self, s: SpaceId, reason: &str) {
        if !self.spaces[s].blocked.iter().any(|r| r == reason) {
            self.spaces[s].blocked.push(reason.to_string());
        }
    }

    fn block(&mut self, view: &View, reason: &str) {
        for &(s, _) in &view.segments {
            self.block_space(s, reason);
        }
    }

    fn new_space(&mut self, len: usize, producer: Producer) -> SpaceId {
        let id = self.spaces.len();
        self.spaces.push(Space {
            len,
            producer,
            blocked: Vec::new(),
        });
        self.parent.push(id);
        id
    }
}

fn describe(node: &NodeProto) -> String {
    format!("{} '{}'", node.op_type(), NodeFilter::node_id(node))
}

/// Nodes in an order where every node comes after the producers of its inputs (Kahn's
/// algorithm; ties in graph order). Nodes on a cycle, which a valid graph does not have, come
/// last in graph order.
pub fn topological_order(graph: &GraphProto, view: &GraphView) -> Vec<usize> {
    let n = graph.node.len();
    let mut indegree = vec![0usize; n];
    for (i, node) in graph.node.iter().enumerate() {
        for input in node.input.iter().filter(|s| !s.is_empty()) {
            if view.producer(input).is_some_and(|p| p != i) {
                indegree[i] += 1;
            }
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
        .filter(|&i| indegree[i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(n);
    let mut placed = vec![false; n];
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(i);
        placed[i] = true;
        for out in graph.node[i].output.iter().filter(|s| !s.is_empty()) {
            let mut consumers = view.consumers(out).to_vec();
            consumers.dedup();
            for c in consumers {
                // Counted in `indegree` once per input slot that reads `out`.
                if c != i && graph.node[c].input.iter().any(|x| x == out) {
                    let reads = graph.node[c].input.iter().filter(|x| *x == out).count();
                    indegree[c] = indegree[c].saturating_sub(reads);
                    if indegree[c] == 0 && !placed[c] {
                        placed[c] = true;
                        ready.push(std::cmp::Reverse(c));
                    }
                }
            }
        }
    }
    // `placed` was set on push; nodes never pushed are on a cycle.
    let pushed: std::collections::HashSet<usize> = order.iter().copied().collect();
    order.extend((0..n).filter(|i| !pushed.contains(i)));
    order
}

const UNARY: &[&str] = &[
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Tanh",
    "Elu",
    "Selu",
    "Celu",
    "Softplus",
    "Softsign",
    "Gelu",
    "Erf",
    "Mish",
    "Identity",
    "Abs",
    "Neg",
    "Sqrt",
    "Exp",
    "Log",
    "Reciprocal",
    "Floor",
    "Ceil",
    "Round",
    "Sign",
    "Sin",
    "Cos",
    "ThresholdedRelu",
    "Cast",
    "Clip",
    "Dropout",
];

const SPATIAL: &[&str] = &[
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "LpPool",
    "GlobalLpPool",
    "Upsample",
    "Resize",
];

const ELEMENTWISE: &[&str] = &[
    "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "PRelu", "Pow",
];

const REDUCE: &[&str] = &[
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
    "ReduceSum",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceSumSquare",
    "ReduceLogSum",
    "ReduceLogSumExp",
];

/// Walks `graph` and builds the channel dependency graph. `filter` says which layers may lose
/// output channels; `opset` is the model's default-domain opset.
pub fn analyze(graph: &GraphProto, filter: &NodeFilter, opset: i64) -> Deps {
    let gv = GraphView::new(graph);
    let inits: HashMap<&str, &TensorProto> =
        graph.initializer.iter().map(|t| (t.name(), t)).collect();
    let mut d = Deps::default();
    for i in topological_order(graph, &gv) {
        let node = &graph.node[i];
        let mut w = Walk {
            d: &mut d,
            inits: &inits,
            node,
            index: i,
            opset,
            filter,
        };
        w.step();
    }
    // Graph outputs keep their shapes; subgraphs that read a tensor are not followed.
    for o in &graph.output {
        if let Some(v) = d.views.get(o.name()).cloned() {
            d.block(&v, &format!("'{}' is a graph output", o.name()));
        }
    }
    let names: Vec<String> = d.views.keys().cloned().collect();
    let mut captured = Vec::new();
    for name in names {
        for &c in gv.consumers(&name) {
            let n = &graph.node[c];
            let has_sub = n
                .attribute
                .iter()
                .any(|a| a.g.is_some() || !a.graphs.is_empty());
            if has_sub && !n.input.contains(&name) {
                captured.push((name.clone(), describe(n)));
            }
        }
    }
    captured.sort();
    for (name, by) in captured {
        if let Some(v) = d.views.get(&name).cloned() {
            d.block(&v, &format!("'{name}' is read inside a subgraph of {by}"));
        }
    }
    d.finish();
    d
}

struct Walk<'a, 'g> {
    d: &'a mut Deps,
    inits: &'a HashMap<&'g str, &'g TensorProto>,
    node: &'g NodeProto,
    index: usize,
    opset: i64,
    filter: &'a NodeFilter,
}

impl Walk<'_, '_> {
    fn input(&self, k: usize) -> Option<&str> {
        self.node
            .input
            .get(k)
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
    }

    fn view_of(&self, k: usize) -> Option<View> {
        self.input(k).and_then(|n| self.d.views.get(n)).cloned()
    }

    fn init(&self, k: usize) -> Option<&TensorProto> {
        self.input(k).and_then(|n| self.inits.get(n).copied())
    }

    fn init_dims(&self, k: usize) -> Option<Vec<usize>> {
        self.init(k)
            .map(|t| t.dims.iter().map(|&d| d.max(0) as usize).collect())
    }

    fn is_f32_init(&self, k: usize) -> bool {
        self.init(k)
            .is_some_and(|t| t.data_type.and_then(ElemType::from_code) == Some(ElemType::F32))
    }

    fn ints(&self, k: usize) -> Option<Vec<i64>> {
        self.init(k).and_then(read_i64)
    }

    fn out(&mut self, k: usize, view: View) {
        if let Some(o) = self.node.output.get(k).filter(|s| !s.is_empty()) {
            self.d.views.insert(o.clone(), view);
        }
    }

    /// Blocks every input view: this node reads them in a way the walk does not model.
    fn block_inputs(&mut self, why: &str) {
        let reason = format!("{} {why}", describe(self.node));
        for k in 0..self.node.input.len() {
            if let Some(v) = self.view_of(k) {
                self.d.block(&v, &reason);
            }
        }
    }

    /// Blocks views when a node's extra outputs (Dropout mask, MaxPool indices, BatchNorm
    /// training statistics) are present: their shapes would change unmodelled.
    fn extra_outputs_used(&self) -> bool {
        self.node.output.iter().skip(1).any(|o| !o.is_empty())
    }

    fn member(&mut self, input: usize, axis: usize, view: View, kind: Kind) {
        self.d.members.push(Member {
            node: self.index,
            input,
            axis,
            view,
            kind,
        });
    }

    fn step(&mut self) {
        let op = self.node.op_type();
        let foreign = !self.node.domain().is_empty() && self.node.domain() != "ai.onnx";
        let any_view = (0..self.node.input.len()).any(|k| self.view_of(k).is_some());
        if foreign {
            if any_view {
                self.block_inputs("(custom domain) reads it");
            }
            return;
        }
        if rule(self.node).is_some() {
            return self.layer();
        }
        if !any_view {
            return;
        }
        match op {
            _ if UNARY.contains(&op) => self.passthrough(),
            _ if SPATIAL.contains(&op) => self.spatial(),
            "BatchNormalization" | "InstanceNormalization" => self.norm(),
            _ if ELEMENTWISE.contains(&op) => self.elementwise(),
            "Concat" => self.concat(),
            "Flatten" => self.flatten(),
            "Reshape" => self.reshape(),
            "Squeeze" | "Unsqueeze" => self.squeeze(op == "Squeeze"),
            "Transpose" => self.transpose(),
            "Softmax" | "LogSoftmax" | "Hardmax" => self.softmax(),
            _ if REDUCE.contains(&op) => self.reduce(),
            "Pad" => self.pad(),
            "Shape" => self.block_inputs("reads its shape"),
            _ => self.block_inputs("reads it (not followed by channel pruning)"),
        }
    }

    fn passthrough(&mut self) {
        let Some(v) = self.view_of(0) else {
            return self.block_inputs("reads it in an input other than the first");
        };
        if self.extra_outputs_used() {
            return self.block_inputs("has a second output in use");
        }
        // Clip's bounds and Dropout's ratio are scalars; other inputs must not carry channels.
        for k in 1..self.node.input.len() {
            if self.view_of(k).is_some() {
                return self.block_inputs("reads channels in a bound or ratio input");
            }
        }
        self.out(0, v);
    }

    fn spatial(&mut self) {
        let Some(v) = self.view_of(0) else {
            return self.block_inputs("reads it in an input other than the first");
        };
        if self.extra_outputs_used() {
            return self.block_inputs("has a second output in use");
        }
        if v.axis() != Some(1) || v.block != Some(1) {
            return self.block_inputs("needs the channel axis at position 1");
        }
        if self.node.op_type() == "Resize" && self.input(3).is_some() {
            return self.block_inputs("has explicit output sizes");
        }
        for k in 1..self.node.input.len() {
            if self.view_of(k).is_some() {
                return self.block_inputs("reads channels in a scale input");
            }
        }
        self.out(0, v);
    }

    fn norm(&mut self) {
        let Some(v) = self.view_of(0) else {
            return self.block_inputs("reads it as a parameter");
        };
        if self.extra_outputs_used() {
            return self.block_inputs("has training outputs in use");
        }
        let channel_axis_ok = v.axis() == Some(1) || (v.from_end == 1 && v.rank == Some(2));
        if !channel_axis_ok || v.block != Some(1) {
            return self.block_inputs("normalizes along an axis other than the channels");
        }
        let params = if self.node.op_type() == "BatchNormalization" {
            1..5
        } else {
            1..3
        };
        for k in params.clone() {
            if self.init_dims(k) != Some(vec![v.channels()]) || !self.is_f32_init(k) {
                return self.block_inputs(&format!(
                    "has parameter '{}' that is not a stored float32 [{}] tensor",
                    self.input(k).unwrap_or(""),
                    v.channels()
                ));
            }
        }
        for k in params {
            let kind = if k == 1 && self.node.op_type() == "BatchNormalization" {
                Kind::BnScale
            } else {
                Kind::Param
            };
            self.member(k, 0, v.clone(), kind);
        }
        self.out(0, v);
    }

    fn elementwise(&mut self) {
        let mut views: Vec<(usize, View)> = Vec::new();
        let mut constants: Vec<(usize, Vec<usize>)> = Vec::new();
        for k in 0..self.node.input.len() {
            let Some(name) = self.input(k) else { continue };
            if let Some(v) = self.d.views.get(name) {
                views.push((k, v.clone()));
            } else if let Some(dims) = self.init_dims(k) {
                if !self.is_f32_init(k) {
                    return self.block_inputs(&format!(
                        "combines it with '{name}', a constant that is not float32"
                    ));
                }
                constants.push((k, dims));
            } else {
                return self.block_inputs(&format!(
                    "combines it with '{name}', whose channels are unknown"
                ));
            }
        }
        let first = views[0].1.clone();
        for (_, v) in &views[1..] {
            let same_layout = v.from_end == first.from_end
                && v.block == first.block
                && v.segments.len() == first.segments.len()
                && v.segments
                    .iter()
                    .zip(&first.segments)
                    .all(|(a, b)| a.1 == b.1);
            if !same_layout {
                return self.block_inputs("combines tensors whose channels do not line up");
            }
        }
        let why = describe(self.node);
        for (_, v) in &views[1..] {
            for (a, b) in first.segments.iter().zip(&v.segments) {
                self.d.union(a.0, b.0, &why);
            }
        }
        let mut rank = views
            .iter()
            .map(|(_, v)| v.rank)
            .try_fold(0, |acc, r| r.map(|r| acc.max(r)));
        for (k, dims) in constants {
            let a = first.from_end;
            rank = rank.map(|r| r.max(dims.len()));
            if dims.len() < a || dims[dims.len() - a] == 1 {
                continue; // broadcast over the channels
            }
            let total = first.channels();
            match first.block {
                Some(b) if dims[dims.len() - a] == total * b => {
                    self.member(k, dims.len() - a, first.clone(), Kind::Param)
                }
                _ => {
                    return self.block_inputs(&format!(
                        "combines it with constant '{}' of shape {dims:?}",
                        self.input(k).unwrap_or("")
                    ))
                }
            }
        }
        self.out(0, View { rank, ..first });
    }

    fn concat(&mut self) {
        let mut views = Vec::new();
        for k in 0..self.node.input.len() {
            match self.view_of(k) {
                Some(v) => views.push(v),
                None => {
                    return self.block_inputs(&format!(
                        "joins it with '{}', whose channels are unknown",
                        self.input(k).unwrap_or("")
                    ))
                }
            }
        }
        let axis = attr_i(self.node, "axis", 1);
        let first = views[0].clone();
        let axis_from_end = if axis < 0 {
            Some((-axis) as usize)
        } else {
            first.rank.and_then(|r| r.checked_sub(axis as usize))
        };
        if views
            .iter()
            .any(|v| v.from_end != first.from_end || v.block != Some(1) || v.rank != first.rank)
        {
            return self.block_inputs("joins tensors whose channels do not line up");
        }
        if axis_from_end == Some(first.from_end) {
            let segments = views.iter().flat_map(|v| v.segments.clone()).collect();
            return self.out(0, View { segments, ..first });
        }
        if axis_from_end.is_none() {
            return self.block_inputs("joins along an axis of unknown position");
        }
        // Along another axis: channels line up one to one, as in an elementwise op.
        let why = describe(self.node);
        for v in &views[1..] {
            if v.segments.len() != first.segments.len()
                || v.segments
                    .iter()
                    .zip(&first.segments)
                    .any(|(a, b)| a.1 != b.1)
            {
                return self.block_inputs("joins tensors whose channels do not line up");
            }
            for (a, b) in first.segments.iter().zip(&v.segments) {
                self.d.union(a.0, b.0, &why);
            }
        }
        self.out(0, first);
    }

    fn flatten(&mut self) {
        let Some(v) = self.view_of(0) else { return };
        let axis = attr_i(self.node, "axis", 1);
        match (v.axis(), v.rank) {
            // Flatten's axis may be negative, counted from the rank (not rank + 1).
            (Some(c), Some(r))
                if (if axis < 0 { axis + r as i64 } else { axis }) == c as i64
                    && v.block == Some(1) =>
            {
                let block = if c + 1 == r { Some(1) } else { None };
                self.out(
                    0,
                    View {
                        from_end: 1,
                        rank: Some(2),
                        block,
                        ..v
                    },
                );
            }
            _ => self.block_inputs("flattens the channels together with another axis"),
        }
    }

    fn reshape(&mut self) {
        let Some(v) = self.view_of(0) else {
            return self.block_inputs("reads it as a shape");
        };
        let Some(shape) = self.ints(1) else {
            return self.block_inputs("reshapes it to a shape computed at run time");
        };
        // Only a flatten after the batch axis: [0, -1] or [n, -1].
        let flatten_like = shape.len() == 2 && shape[1] == -1 && shape[0] >= 0;
        if flatten_like && v.axis() == Some(1) && v.block == Some(1) {
            let block = if v.rank == Some(2) { Some(1) } else { None };
            return self.out(
                0,
                View {
                    from_end: 1,
                    rank: Some(2),
                    block,
                    ..v
                },
            );
        }
        self.block_inputs(&format!("reshapes it to {shape:?}"))
    }

    fn axes(&self) -> Option<Vec<i64>> {
        if self.opset >= 13 || self.node.input.len() > 1 {
            if let Some(a) = self.ints(1) {
                return Some(a);
            }
        }
        attr(self.node, "axes").map(|a| a.ints.clone())
    }

    fn squeeze(&mut self, squeeze: bool) {
        let Some(v) = self.view_of(0) else { return };
        let (Some(r), Some(c), Some(axes)) = (v.rank, v.axis(), self.axes()) else {
            return self.block_inputs("changes the rank along axes unknown here");
        };
        if squeeze {
            let axes: Option<Vec<usize>> = axes.iter().map(|&a| norm_axis(a, r)).collect();
            let Some(axes) = axes.filter(|a| !a.is_empty() && !a.contains(&c)) else {
                return self.block_inputs("squeezes the channel axis or unknown axes");
            };
            let after = axes.iter().filter(|&&a| a > c).count();
            self.out(
                0,
                View {
                    from_end: v.from_end - after,
                    rank: Some(r - axes.len()),
                    ..v
                },
            );
        } else {
            let out_rank = r + axes.len();
            let axes: Option<Vec<usize>> = axes.iter().map(|&a| norm_axis(a, out_rank)).collect();
            let Some(axes) = axes else {
                return self.block_inputs("inserts axes out of range");
            };
            // The c-th position of the output not taken by an inserted axis.
            let Some(new_c) = (0..out_rank).filter(|p| !axes.contains(p)).nth(c) else {
                return self.block_inputs("inserts axes out of range");
            };
            self.out(
                0,
                View {
                    from_end: out_rank - new_c,
                    rank: Some(out_rank),
                    ..v
                },
            );
        }
    }

    fn transpose(&mut self) {
        let Some(v) = self.view_of(0) else { return };
        let (Some(r), Some(c)) = (v.rank, v.axis()) else {
            return self.block_inputs("transposes a tensor of unknown rank");
        };
        let perm: Vec<i64> = match attr(self.node, "perm") {
            Some(a) => a.ints.clone(),
            None => (0..r as i64).rev().collect(),
        };
        let Some(new_c) = perm.iter().position(|&p| p == c as i64) else {
            return self.block_inputs("has a permutation that does not fit");
        };
        if perm.len() != r || v.block != Some(1) {
            return self.block_inputs("has a permutation that does not fit");
        }
        self.out(
            0,
            View {
                from_end: r - new_c,
                ..v
            },
        );
    }

    fn softmax(&mut self) {
        let Some(v) = self.view_of(0) else { return };
        let default = if self.opset >= 13 { -1 } else { 1 };
        let axis = attr_i(self.node, "axis", default);
        let axis_from_end = if axis < 0 {
            Some((-axis) as usize)
        } else {
            v.rank.and_then(|r| r.checked_sub(axis as usize))
        };
        let Some(a) = axis_from_end else {
            return self.block_inputs("normalizes along an axis of unknown position");
        };
        // Before opset 13 the input is coerced to 2-D at `axis`: every axis from there on is
        // normalized together.
        let mixes = if self.opset >= 13 {
            a == v.from_end
        } else {
            v.from_end <= a
        };
        if mixes {
            return self.block_inputs("normalizes over the channels");
        }
        self.out(0, v);
    }

    fn reduce(&mut self) {
        let Some(v) = self.view_of(0) else { return };
        let keep = attr_i(self.node, "keepdims", 1) != 0;
        let axes = if self.opset >= 18 || self.node.op_type() == "ReduceSum" && self.opset >= 13 {
            self.ints(1)
        } else {
            attr(self.node, "axes").map(|a| a.ints.clone())
        };
        let (Some(r), Some(c), Some(axes)) = (v.rank, v.axis(), axes) else {
            return self.block_inputs("reduces over axes unknown here");
        };
        let axes: Option<Vec<usize>> = axes.iter().map(|&a| norm_axis(a, r)).collect();
        let Some(axes) = axes.filter(|a| !a.is_empty() && !a.contains(&c)) else {
            return self.block_inputs("reduces over the channels");
        };
        if keep {
            return self.out(0, v);
        }
        let after = axes.iter().filter(|&&a| a > c).count();
        self.out(
            0,
            View {
                from_end: v.from_end - after,
                rank: Some(r - axes.len()),
                ..v
            },
        );
    }

    fn pad(&mut self) {
        let Some(v) = self.view_of(0) else { return };
        let pads = if self.opset >= 11 {
            self.ints(1)
        } else {
            attr(self.node, "pads").map(|a| a.ints.clone())
        };
        let (Some(r), Some(c), Some(pads)) = (v.rank, v.axis(), pads) else {
            return self.block_inputs("pads by amounts unknown here");
        };
        if self.input(3).is_some() || pads.len() != 2 * r || pads[c] != 0 || pads[c + r] != 0 {
            return self.block_inputs("pads the channel axis");
        }
        self.out(0, v);
    }

    /// A Conv, ConvTranspose, Gemm or MatMul node.
    fn layer(&mut self) {
        let op = self.node.op_type();
        let Some((_, w)) = rule(self.node) else {
            return;
        };
        let x = self.view_of(0);
        // A weight computed at run time, or channels reaching the weight side: not followed.
        if !self.is_f32_init(WEIGHT_INPUT) {
            return self.block_inputs("has a weight that is not a stored float32 tensor");
        }
        if self.view_of(WEIGHT_INPUT).is_some() {
            return self.block_inputs("reads it as a weight");
        }
        let Some(dims) = self.init_dims(WEIGHT_INPUT) else {
            return;
        };
        let r = dims.len();
        match op {
            "Conv" | "ConvTranspose" => {
                if r < 3 {
                    return self.block_inputs("has a weight of unexpected rank");
                }
                let group = attr_i(self.node, "group", 1).max(1) as usize;
                let transpose = op == "ConvTranspose";
                let (in_axis, out_axis) = (w.in_axis.of(self.node, r), w.out_axis.of(self.node, r));
                let in_channels = if transpose { dims[0] } else { dims[1] * group };
                let out_channels = if transpose { dims[1] * group } else { dims[0] };
                if let Some(v) = &x {
                    if v.axis() != Some(1) || v.rank != Some(r) && v.rank.is_some() {
                        return self.block_inputs("reads channels that are not on axis 1");
                    }
                }
                if group > 1 {
                    let depthwise =
                        !transpose && group == in_channels && group == out_channels && dims[1] == 1;
                    match (&x, depthwise) {
                        (Some(v), true) if v.channels() == group && v.block == Some(1) => {
                            let v = v.clone();
                            self.member(WEIGHT_INPUT, 0, v.clone(), Kind::Param);
                            if self.bias_ok(2, v.channels()) {
                                if self.input(2).is_some() {
                                    self.member(2, 0, v.clone(), Kind::Param);
                                }
                            } else {
                                return self.block_inputs("has a bias that is not a stored [C]");
                            }
                            self.d.group_attrs.push((self.index, v.clone()));
                            return self.out(0, View { rank: Some(r), ..v });
                        }
                        (Some(_), _) => self.block_inputs(&format!(
                            "is a grouped convolution (group {group}) that ties channels in groups"
                        )),
                        (None, _) => {}
                    }
                    // Its output channels are tied to its input groups: a space of its own,
                    // listed and left alone.
                    let s = self.produce(out_axis, out_channels, 1, Some(r), 2);
                    let reason = format!(
                        "{} is a grouped convolution (group {group}) whose channels are tied to its inputs'",
                        describe(self.node)
                    );
                    self.d.block_space(s, &reason);
                    return;
                }
                if let Some(v) = x {
                    if v.channels() != in_channels || v.block != Some(1) {
                        return self.block_inputs(&format!(
                            "expects {in_channels} input channels, the walk counted {}",
                            v.channels()
                        ));
                    }
                    self.member(WEIGHT_INPUT, in_axis, v, Kind::ConsumerWeight);
                }
                self.produce(out_axis, out_channels, 1, Some(r), 2);
            }
            "Gemm" => {
                if r != 2 {
                    return self.block_inputs("has a weight that is not 2-D");
                }
                let (in_axis, out_axis) = (w.in_axis.of(self.node, r), w.out_axis.of(self.node, r));
                if let Some(v) = x {
                    if attr_i(self.node, "transA", 0) != 0 {
                        return self.block_inputs("reads it transposed (transA)");
                    }
                    if !self.consume(v, in_axis, dims[in_axis]) {
                        return;
                    }
                }
                self.produce(out_axis, dims[out_axis], 1, Some(2), 2);
            }
            _ => {
                // MatMul with a 2-D weight [K, N].
                if r != 2 {
                    return self.block_inputs("has a weight that is not 2-D");
                }
                let rank = x.as_ref().and_then(|v| v.rank);
                let (in_axis, out_axis) = (w.in_axis.of(self.node, r), w.out_axis.of(self.node, r));
                if let Some(v) = x {
                    if !self.consume(v, in_axis, dims[in_axis]) {
                        return;
                    }
                }
                self.produce(out_axis, dims[out_axis], 1, rank, usize::MAX);
            }
        }
    }

    /// Records the weight of a Gemm/MatMul reading `v` along `axis`, whose size is `k`: the
    /// channels must be on the last axis and account for all `k` rows (in blocks after a
    /// flatten). Returns false, having blocked `v`, when they do not.
    fn consume(&mut self, v: View, axis: usize, k: usize) -> bool {
        if v.from_end != 1 {
            self.block_inputs("reads channels that are not on the last axis");
            return false;
        }
        let total = v.channels();
        let block = match v.block {
            Some(b) if total * b == k => b,
            None if total > 0 && k.is_multiple_of(total) => k / total,
            _ => {
                self.block_inputs(&format!(
                    "expects {k} input features, the walk counted {total} channels"
                ));
                return false;
            }
        };
        self.member(
            WEIGHT_INPUT,
            axis,
            View {
                block: Some(block),
                ..v
            },
            Kind::ConsumerWeight,
        );
        true
    }

    fn bias_ok(&self, k: usize, len: usize) -> bool {
        match self.input(k) {
            None => true,
            Some(_) => self.is_f32_init(k) && self.init_dims(k) == Some(vec![len]),
        }
    }

    /// Starts a space for this layer's output: `len` channels along `out_axis` of the weight;
    /// the output tensor has them `from_end` from its end (`usize::MAX`: the last axis, rank
    /// unknown). `bias_input` is the node's bias input.
    fn produce(
        &mut self,
        out_axis: usize,
        len: usize,
        from_end: usize,
        rank: Option<usize>,
        bias_input: usize,
    ) -> SpaceId {
        let from_end = match (self.node.op_type(), rank) {
            ("Conv" | "ConvTranspose", Some(r)) => r - 1,
            _ => from_end,
        };
        let producer = Producer {
            node: self.index,
            name: NodeFilter::node_id(self.node).to_string(),
            weight: self.input(WEIGHT_INPUT).unwrap_or("").to_string(),
            axis: out_axis,
        };
        let s = self.d.new_space(len, producer);
        let view = View::single(s, len, from_end, rank);
        if let Err(why) = self.filter.check(self.node) {
            self.d.block_space(
                s,
                &format!("{} is excluded ({})", describe(self.node), why.describe()),
            );
        }
        self.member(WEIGHT_INPUT, out_axis, view.clone(), Kind::ProducerWeight);
        if bias_input != usize::MAX && self.input(bias_input).is_some() {
            match self
                .init_dims(bias_input)
                .filter(|_| self.is_f32_init(bias_input))
            {
                Some(b) if b.last() == Some(&len) => {
                    let axis = b.len() - 1;
                    self.member(bias_input, axis, view.clone(), Kind::ProducerBias);
                }
                Some(b) if b.iter().all(|&d| d == 1) => {}
                _ => self.d.block_space(
                    s,
                    &format!(
                        "{} has a bias '{}' that is not a stored float32 tensor over its outputs",
                        describe(self.node),
                        self.input(bias_input).unwrap_or("")
                    ),
                ),
            }
        }
        self.out(0, view);
        s
    }
}

/// `axis` made non-negative for a tensor of rank `rank`; `None` when out of range.
fn norm_axis(axis: i64, rank: usize) -> Option<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    (0..rank as i64).contains(&a).then_some(a as usize)
}
