//! Structured channel pruning: remove whole output channels (neurons) and everything that
//! depends on them, so the model is physically smaller and does less work on every runtime.
//!
//! How, in the dependency-graph style of torch-pruning's DepGraph (Fang et al., CVPR 2023):
//!
//! 1. [`deps`] walks the graph once, in topological order, and groups the tensors that must
//!    lose the same channels: a layer's weight (along its output axis) and bias, the
//!    BatchNorm/InstanceNorm parameters after it, per-channel constants of elementwise ops,
//!    depthwise convolutions (weight, bias, `group`), and the next layers' weights along their
//!    input axis (blocks of `h·w` rows of a Gemm/MatMul after a `Flatten`). Residual `Add`s and
//!    channel-wise `Mul`s tie the layers they join into one group; a `Concat` along the channels
//!    keeps the spaces it joins apart. Anything it cannot follow (a graph output, a `Shape`, a
//!    reshape that is not a flatten, a reduction or softmax over the channels, a grouped
//!    convolution, an unknown op) leaves the group alone, with the reason.
//! 2. Each prunable group scores its channels ([`Criterion`]): the L1 or L2 norm of the
//!    producing layers' filters, summed over the layers of the group, or the `|γ|` of the
//!    BatchNorms in it (network slimming, Liu et al. 2017; groups without a BatchNorm fall back
//!    to L1). The `floor(ratio · C)` lowest-scoring channels go (ties: the lower index), never
//!    all of them.
//! 3. [`ChannelPlan::apply`] cuts every member tensor and updates `group` attributes; tensors
//!    shared with other nodes are copied first. Stale `value_info` of the changed tensors is
//!    dropped.
//!
//! Accepted input: any float32 model; `Constant` weights and `Reshape`s of stored tensors by
//! stored shapes (how PaddlePaddle exports biases) are folded into initializers first. The
//! contract, tested on every model: if the channels to be removed are first zeroed
//! ([`ChannelPlan::zeroed`]), removing them changes no output.
//!
//! ```
//! use optimize_prune::channel::Criterion;
//! let c: Criterion = "bn-scale".parse()?;
//! assert_eq!(c.to_string(), "bn-scale");
//! # Ok::<(), optimize_prune::Error>(())
//! ```

pub mod deps;

use crate::layers::rule;
use crate::report::{GroupReport, LayerChange, ParamStats, PruneReport};
use crate::weights::{self, keep_along, norms_along, zero_along};
use crate::{Error, Result};
use deps::{analyze, Deps, Kind, SpaceId, View};
use optimize_onnx::build::attr_int;
use optimize_onnx::filter::NodeFilter;
use optimize_onnx::names::Names;
use optimize_onnx::proto::{GraphProto, TensorProto, ValueInfoProto};
use optimize_onnx::{GraphView, Model};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

/// How channel importance is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Criterion {
    /// Sum of `|w|` of each output channel's filter.
    #[default]
    L1,
    /// Euclidean norm of each output channel's filter.
    L2,
    /// `|γ|` of the BatchNormalization that follows (L1 where there is none).
    BnScale,
}

impl FromStr for Criterion {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "l1" => Ok(Criterion::L1),
            "l2" => Ok(Criterion::L2),
            "bn-scale" => Ok(Criterion::BnScale),
            _ => Err(Error::UnknownCriterion {
                given: s.to_string(),
            }),
        }
    }
}

// In a config, the same text as on the command line: "l1", "l2", "bn-scale".
impl serde::Serialize for Criterion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Criterion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Criterion::L1 => "l1",
            Criterion::L2 => "l2",
            Criterion::BnScale => "bn-scale",
        })
    }
}

/// Settings for [`prune_channels`].
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    /// Share of the channels of each prunable group to remove, in `[0, 1)`.
    pub ratio: f64,
    /// How channels are scored.
    pub criterion: Criterion,
    /// Keep a multiple of this many channels in every pruned group (1: any count). CPU kernels
    /// work in blocks of channels (ONNX Runtime's NCHWc convolutions: 8 with AVX2, 16 with
    /// AVX-512), and a count off the block can be slower than the larger original; groups
    /// smaller than this are left whole.
    pub round_to: usize,
    /// Which layers may lose output channels (their input side follows whatever feeds them).
    pub filter: NodeFilter,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            ratio: 0.5,
            criterion: Criterion::L1,
            round_to: 1,
            filter: NodeFilter::default(),
        }
    }
}

/// How many of `len` channels to remove at `ratio`, keeping a multiple of `round_to` (the
/// nearest, at least `round_to`) and at least one channel.
pub fn channels_to_remove(len: usize, ratio: f64, round_to: usize) -> usize {
    let remove = ((ratio * len as f64 + 1e-9).floor() as usize).min(len.saturating_sub(1));
    let step = round_to.max(1);
    if step == 1 {
        return remove;
    }
    if len < step {
        return 0;
    }
    let kept = len - remove;
    let rounded = ((kept + step / 2) / step * step).clamp(step, len / step * step);
    len - rounded
}

impl ChannelConfig {
    /// Checks the settings: the ratio must be in `[0, 1)`.
    pub fn validate(&self) -> Result<()> {
        if self.ratio.is_finite() && (0.0..1.0).contains(&self.ratio) {
            Ok(())
        } else {
            Err(Error::InvalidRatio { given: self.ratio })
        }
    }
}

/// One group of channels that are removed together.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelGroup {
    /// The layers whose output channels form the group, by node name, in graph order.
    pub producers: Vec<String>,
    /// Channels.
    pub channels: usize,
    /// Which channels stay.
    pub keep: Vec<bool>,
    /// The score of each channel (empty when the group is left alone).
    pub importance: Vec<f64>,
    /// Tensors cut with the group besides the producers' weights and biases.
    pub dependents: usize,
    /// Why the group is left alone, if it is.
    pub skipped: Option<String>,
}

impl ChannelGroup {
    /// Channels kept.
    pub fn kept(&self) -> usize {
        self.keep.iter().filter(|k| **k).count()
    }
}

/// The channels to remove from one model, and everything that depends on them.
#[derive(Debug, Clone)]
pub struct ChannelPlan {
    model: Model,
    deps: Deps,
    groups: Vec<ChannelGroup>,
    group_of_root: HashMap<SpaceId, usize>,
    config: ChannelConfig,
    constants_folded: usize,
    fallback_to_l1: usize,
}

/// Plans channel pruning of `model`: finds the groups, scores their channels, picks what goes.
pub fn plan_channels(model: &Model, config: &ChannelConfig) -> Result<ChannelPlan> {
    config.validate()?;
    let (mut prepared, constants_folded) = crate::prepare(model);
    let opset = optimize_onnx::build::opset(&prepared.proto, "").unwrap_or(1);
    // Constant subgraphs (PaddlePaddle's biases as `Reshape(b, [1, C, 1, 1])`) were folded by
    // `prepare`, so per-channel constants are the initializers they are.
    let graph = prepared.proto.graph.get_or_insert_with(Default::default);
    let deps = analyze(graph, &config.filter, opset);

    let index = crate::initializer_index(graph);
    let mut roots: BTreeMap<SpaceId, Vec<SpaceId>> = BTreeMap::new();
    for s in 0..deps.spaces.len() {
        roots.entry(deps.root(s)).or_default().push(s);
    }
    // Members and group attributes by the groups they touch: one pass, not one per group.
    let mut members_of: HashMap<SpaceId, Vec<usize>> = HashMap::new();
    for (i, m) in deps.members.iter().enumerate() {
        let mut touched: Vec<SpaceId> =
            m.view.segments.iter().map(|(s, _)| deps.root(*s)).collect();
        touched.sort_unstable();
        touched.dedup();
        for r in touched {
            members_of.entry(r).or_default().push(i);
        }
    }
    let mut attrs_of: HashMap<SpaceId, usize> = HashMap::new();
    for (_, v) in &deps.group_attrs {
        let mut touched: Vec<SpaceId> = v.segments.iter().map(|(s, _)| deps.root(*s)).collect();
        touched.sort_unstable();
        touched.dedup();
        for r in touched {
            *attrs_of.entry(r).or_default() += 1;
        }
    }
    let mut groups = Vec::new();
    let mut group_of_root = HashMap::new();
    let mut fallback_to_l1 = 0;
    for (root, spaces) in &roots {
        let len = deps.spaces[*root].len;
        let producers: Vec<String> = spaces
            .iter()
            .map(|&s| deps.spaces[s].producer.name.clone())
            .collect();
        let members = members_of.get(root).map_or(&[][..], |v| v.as_slice());
        let dependents = members
            .iter()
            .filter(|&&i| {
                !matches!(
                    deps.members[i].kind,
                    Kind::ProducerWeight | Kind::ProducerBias
                )
            })
            .count()
            + attrs_of.get(root).copied().unwrap_or(0);
        let reasons: Vec<String> = spaces
            .iter()
            .flat_map(|&s| deps.spaces[s].blocked.iter().cloned())
            .collect();
        let mut group = ChannelGroup {
            producers,
            channels: len,
            keep: vec![true; len],
            importance: Vec::new(),
            dependents,
            skipped: None,
        };
        if !reasons.is_empty() {
            let mut unique: Vec<String> = Vec::new();
            for r in reasons {
                if !unique.contains(&r) {
                    unique.push(r);
                }
            }
            group.skipped = Some(unique.join("; "));
        } else {
            let (scores, fell_back) = importance(
                graph,
                &index,
                &deps,
                (*root, spaces, members),
                len,
                config.criterion,
            )?;
            fallback_to_l1 += usize::from(fell_back);
            let remove = channels_to_remove(len, config.ratio, config.round_to);
            let mut order: Vec<usize> = (0..len).collect();
            order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
            for &c in &order[..remove] {
                group.keep[c] = false;
            }
            group.importance = scores;
        }
        group_of_root.insert(*root, groups.len());
        groups.push(group);
    }
    Ok(ChannelPlan {
        model: prepared,
        deps,
        groups,
        group_of_root,
        config: config.clone(),
        constants_folded,
        fallback_to_l1,
    })
}

/// Scores the channels of the group rooted at `root` (its spaces, and the indices of the
/// members touching it). Returns the scores and whether bn-scale fell back to L1 for want of a
/// BatchNorm.
fn importance(
    graph: &GraphProto,
    index: &HashMap<String, usize>,
    deps: &Deps,
    (root, spaces, members): (SpaceId, &[SpaceId], &[usize]),
    len: usize,
    criterion: Criterion,
) -> Result<(Vec<f64>, bool)> {
    let mut scores = vec![0f64; len];
    if criterion == Criterion::BnScale {
        let mut found = false;
        let bns = members.iter().map(|&i| &deps.members[i]);
        for m in bns.filter(|m| m.kind == Kind::BnScale) {
            let mut offset = 0;
            for &(s, n) in &m.view.segments {
                if deps.root(s) == root {
                    let name = &graph.node[m.node].input[m.input];
                    let gamma = weights::read(&graph.initializer[index[name]])?;
                    for (sc, g) in scores.iter_mut().zip(&gamma[offset..offset + n]) {
                        *sc += f64::from(g.abs());
                    }
                    found = true;
                }
                offset += n;
            }
        }
        if found {
            return Ok((scores, false));
        }
    }
    let p = if criterion == Criterion::L2 { 2 } else { 1 };
    for &s in spaces {
        let producer = &deps.spaces[s].producer;
        let t = &graph.initializer[index[&producer.weight]];
        let norms = norms_along(&weights::read(t)?, &weights::dims(t), producer.axis, p);
        for (sc, n) in scores.iter_mut().zip(norms) {
            *sc += n;
        }
    }
    Ok((scores, criterion == Criterion::BnScale))
}

/// What [`ChannelPlan`] does to each member tensor.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Edit {
    /// Remove the channels.
    Cut,
    /// Keep the shapes, set the removed channels of producers and consumers to zero.
    Zero,
}

impl ChannelPlan {
    /// The groups found, pruned or left alone, in graph order of their first layer.
    pub fn groups(&self) -> &[ChannelGroup] {
        &self.groups
    }

    /// Which entries of a tensor axis indexed by `view` stay (one per channel, before blocks).
    fn keep_of(&self, view: &View) -> Vec<bool> {
        let mut keep = Vec::with_capacity(view.channels());
        for &(s, n) in &view.segments {
            let g = &self.groups[self.group_of_root[&self.deps.root(s)]];
            debug_assert_eq!(g.keep.len(), n);
            keep.extend_from_slice(&g.keep);
        }
        keep
    }

    fn changes(&self, view: &View) -> bool {
        view.segments.iter().any(|&(s, _)| {
            let g = &self.groups[self.group_of_root[&self.deps.root(s)]];
            g.keep.iter().any(|k| !k)
        })
    }

    /// The prepared model with the channels to be removed set to zero instead: the producing
    /// layers' filters and biases, and the next layers' input weights. Its outputs equal those
    /// of [`ChannelPlan::apply`]'s model (up to float summation order): the test of the rewrite.
    pub fn zeroed(&self) -> Result<Model> {
        Ok(self.rewrite(Edit::Zero)?.0)
    }

    /// Removes the planned channels. Returns the smaller model and the report; errors when no
    /// group could be pruned.
    pub fn apply(&self) -> Result<(Model, PruneReport)> {
        if self.groups.iter().all(|g| g.skipped.is_some()) {
            return Err(self.nothing_to_prune());
        }
        let (model, layers) = self.rewrite(Edit::Cut)?;
        let graph = model
            .proto
            .graph
            .as_ref()
            .expect("prepared model has a graph");
        let before = crate::parameter_stats(self.model.proto.graph.as_ref().expect("graph"));
        let after = crate::parameter_stats(graph);
        let mut notes = vec![
            "structured pruning: whole channels are removed, so the model is smaller and does less work on every runtime (dense kernels included); accuracy drops until it is fine-tuned".to_string(),
        ];
        if self.fallback_to_l1 > 0 {
            notes.push(format!(
                "{} groups have no BatchNorm; their channels were scored by L1 norm",
                self.fallback_to_l1
            ));
        }
        let report = PruneReport {
            method: "channels".into(),
            settings: if self.config.round_to > 1 {
                format!(
                    "ratio {}, criterion {}, channels kept in multiples of {}",
                    self.config.ratio, self.config.criterion, self.config.round_to
                )
            } else {
                format!(
                    "ratio {}, criterion {}",
                    self.config.ratio, self.config.criterion
                )
            },
            constants_folded: self.constants_folded,
            layers,
            skipped: Vec::new(),
            groups: self
                .groups
                .iter()
                .map(|g| GroupReport {
                    producers: g.producers.clone(),
                    channels_before: g.channels,
                    channels_after: g.kept(),
                    dependents: g.dependents,
                    skipped: g.skipped.clone(),
                })
                .collect(),
            parameters: ParamStats {
                before: before.0,
                after: after.0,
                zeros_before: before.1,
                zeros_after: after.1,
            },
            pattern_check: None,
            notes,
        };
        Ok((model, report))
    }

    fn nothing_to_prune(&self) -> Error {
        if self.groups.is_empty() {
            return crate::nothing_to_prune(&self.model, &[]);
        }
        let reasons: Vec<String> = self
            .groups
            .iter()
            .take(4)
            .map(|g| {
                format!(
                    "{}: {}",
                    g.producers.join("+"),
                    g.skipped.as_deref().unwrap_or("")
                )
            })
            .collect();
        let more = self.groups.len().saturating_sub(reasons.len());
        Error::NothingToPrune {
            detail: format!(
                "every channel group was left alone: {}{}",
                reasons.join("; "),
                if more > 0 {
                    format!("; and {more} more")
                } else {
                    String::new()
                }
            ),
        }
    }

    fn rewrite(&self, edit: Edit) -> Result<(Model, Vec<LayerChange>)> {
        let mut model = self.model.clone();
        let mut names = Names::of(&model.proto);
        let list_as_inputs = model.proto.ir_version.unwrap_or(0) < 4;
        let graph = model.proto.graph.get_or_insert_with(Default::default);
        let index = crate::initializer_index(graph);
        // Each (node, input) slot gets its tensor edited once, by every member on it in turn.
        let mut edited: BTreeMap<(usize, usize), (Vec<f32>, Vec<usize>)> = BTreeMap::new();
        for m in &self.deps.members {
            if !self.changes(&m.view) {
                continue;
            }
            if edit == Edit::Zero
                && m.kind != Kind::ProducerWeight
                && m.kind != Kind::ProducerBias
                && m.kind != Kind::ConsumerWeight
            {
                continue;
            }
            let name = &graph.node[m.node].input[m.input];
            let entry = match edited.entry((m.node, m.input)) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    let t = &graph.initializer[index[name]];
                    v.insert((weights::read(t)?, weights::dims(t)))
                }
            };
            let keep = self.keep_of(&m.view);
            let block = m.view.block.unwrap_or(1);
            let (values, dims) = entry;
            if dims.get(m.axis) != Some(&(keep.len() * block)) {
                return Err(Error::BadWeight {
                    tensor: name.clone(),
                    detail: format!(
                        "axis {} of shape {dims:?} should hold {} channels of {block}",
                        m.axis,
                        keep.len()
                    ),
                });
            }
            match edit {
                Edit::Cut => {
                    let (v, d) = keep_along(values, dims, m.axis, &keep, block);
                    *values = v;
                    *dims = d;
                }
                Edit::Zero => zero_along(values, dims, m.axis, &keep, block),
            }
        }

        let gv = GraphView::new(graph);
        let uses: HashMap<String, usize> = edited
            .keys()
            .map(|&(n, i)| graph.node[n].input[i].clone())
            .map(|name| {
                let n = gv.consumers(&name).len() + usize::from(gv.is_output(&name));
                (name, n)
            })
            .collect();
        drop(gv);
        let mut layers = Vec::new();
        let mut new_tensors: Vec<TensorProto> = Vec::new();
        let mut replaced: HashSet<String> = HashSet::new();
        for ((node, input), (values, dims)) in &edited {
            let name = graph.node[*node].input[*input].clone();
            let original = &graph.initializer[index[&name]];
            if *input == crate::layers::WEIGHT_INPUT && rule(&graph.node[*node]).is_some() {
                let before = weights::dims(original);
                let zeros_before = weights::zeros(&weights::read(original)?);
                layers.push(LayerChange {
                    node: NodeFilter::node_id(&graph.node[*node]).to_string(),
                    op_type: graph.node[*node].op_type().to_string(),
                    weight: name.clone(),
                    params_before: before.iter().product(),
                    params_after: dims.iter().product(),
                    shape_before: before,
                    shape_after: dims.clone(),
                    zeros_before,
                    zeros_after: weights::zeros(values),
                    rank: None,
                    energy: None,
                });
            }
            if uses[&name] == 1 {
                weights::write(&mut graph.initializer[index[&name]], dims, values);
            } else {
                // Shared with another node: this node gets its own cut copy.
                let mut t = original.clone();
                let fresh = names.fresh(&format!("{name}_pruned"));
                t.name = Some(fresh.clone());
                weights::write(&mut t, dims, values);
                new_tensors.push(t);
                graph.node[*node].input[*input] = fresh;
                replaced.insert(name);
            }
        }
        if list_as_inputs {
            // IR < 4: every initializer is also a graph input.
            graph
                .input
                .extend(new_tensors.iter().map(crate::weights::as_input));
        }
        graph.initializer.extend(new_tensors);
        if !replaced.is_empty() {
            let gv = GraphView::new(graph);
            let unused: HashSet<String> = replaced
                .into_iter()
                .filter(|n| gv.consumers(n).is_empty() && !gv.is_output(n))
                .collect();
            drop(gv);
            graph.initializer.retain(|t| !unused.contains(t.name()));
            graph.input.retain(|i| !unused.contains(i.name()));
        }
        if edit == Edit::Cut {
            for (node, view) in &self.deps.group_attrs {
                if self.changes(view) {
                    let kept = self.keep_of(view).iter().filter(|k| **k).count();
                    let n = &mut graph.node[*node];
                    n.attribute.retain(|a| a.name() != "group");
                    n.attribute.push(attr_int("group", kept as i64));
                }
            }
            let stale: HashSet<&str> = self
                .deps
                .views
                .iter()
                .filter(|(_, v)| self.changes(v))
                .map(|(name, _)| name.as_str())
                .collect();
            graph.value_info.retain(|v| !stale.contains(v.name()));
            // Initializers listed as graph inputs (IR < 4) carry shapes too.
            let changed: HashMap<String, Vec<i64>> = graph
                .initializer
                .iter()
                .map(|t| (t.name().to_string(), t.dims.clone()))
                .collect();
            for input in graph.input.iter_mut() {
                if let Some(dims) = changed.get(input.name()) {
                    set_shape(input, dims);
                }
            }
        }
        Ok((model, layers))
    }
}

/// Sets the static shape of a value, when it has a tensor type.
fn set_shape(v: &mut ValueInfoProto, dims: &[i64]) {
    use optimize_onnx::proto::tensor_shape_proto::{dimension, Dimension};
    use optimize_onnx::proto::type_proto;
    if let Some(type_proto::Value::TensorType(t)) = v.r#type.as_mut().and_then(|t| t.value.as_mut())
    {
        if let Some(shape) = t.shape.as_mut() {
            shape.dim = dims
                .iter()
                .map(|&d| Dimension {
                    value: Some(dimension::Value::DimValue(d)),
                    ..Default::default()
                })
                .collect();
        }
    }
}

/// Removes the planned channels from `model`: [`plan_channels`] then [`ChannelPlan::apply`].
pub fn prune_channels(model: &Model, config: &ChannelConfig) -> Result<(Model, PruneReport)> {
    plan_channels(model, config)?.apply()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_counts_round_to_blocks() {
        assert_eq!(channels_to_remove(16, 0.5, 1), 8);
        assert_eq!(
            channels_to_remove(10, 0.99, 1),
            9,
            "one channel always stays"
        );
        // 88 at 25%: 66 kept, nearest multiple of 8 is 64.
        assert_eq!(channels_to_remove(88, 0.25, 8), 24);
        // 24 at 25%: 18 kept -> 16; 12 at 75%: 3 kept -> at least 8.
        assert_eq!(channels_to_remove(24, 0.25, 8), 8);
        assert_eq!(channels_to_remove(12, 0.75, 8), 4);
        // Smaller than a block: whole.
        assert_eq!(channels_to_remove(6, 0.5, 8), 0);
        // Not a multiple itself: at most the largest multiple below stays.
        assert_eq!(channels_to_remove(20, 0.1, 8), 4);
    }

    #[test]
    fn criteria_parse() {
        assert_eq!("l2".parse::<Criterion>().unwrap(), Criterion::L2);
        assert!(matches!(
            "L3".parse::<Criterion>(),
            Err(Error::UnknownCriterion { .. })
        ));
    }

    #[test]
    fn ratio_must_be_in_zero_one() {
        for bad in [1.0, -0.1, f64::INFINITY] {
            let c = ChannelConfig {
                ratio: bad,
                ..Default::default()
            };
            assert!(matches!(c.validate(), Err(Error::InvalidRatio { .. })));
        }
    }
}
