//! Applying a [`Plan`] to a copy of the model: converting stored tensors, retyping `Cast` and
//! `Constant` nodes, inserting casts where a reader wants another type than the value holds, and
//! updating declared types.
//!
//! Casts are made once per value, target type and graph, and always read the original value, so
//! the pass never builds a chain of casts. A main-graph output whose producer now makes another
//! type is renamed (`<name>_fp16`, made unique) and a cast restores the original name, so the
//! model's interface keeps its names.

use super::ops::{FLOAT, FLOAT16};
use super::plan::{Plan, Want};
use super::scope::{Def, GraphId, NodeId, Use, ValueId};
use super::tensor::{self, Conversion};
use super::{Fp16Error, Fp16Report};
use optimize_onnx::proto::attribute_proto::AttributeType;
use optimize_onnx::proto::tensor_proto::DataType;
use optimize_onnx::proto::type_proto;
use optimize_onnx::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto,
};
use std::collections::{HashMap, HashSet};

/// Unique names for the values and nodes the pass adds.
struct Names {
    used: HashSet<String>,
}

impl Names {
    fn of(model: &ModelProto) -> Names {
        let mut used = HashSet::new();
        fn add(g: &GraphProto, used: &mut HashSet<String>) {
            for v in g.input.iter().chain(&g.output).chain(&g.value_info) {
                used.insert(v.name().to_string());
            }
            for t in &g.initializer {
                used.insert(t.name().to_string());
            }
            for n in &g.node {
                used.insert(n.name().to_string());
                used.extend(n.input.iter().chain(&n.output).cloned());
                for a in &n.attribute {
                    for sub in a.g.iter().chain(&a.graphs) {
                        add(sub, used);
                    }
                }
            }
        }
        if let Some(g) = &model.graph {
            add(g, &mut used);
        }
        Names { used }
    }

    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut i = 1;
        while self.used.contains(&name) {
            name = format!("{base}_{i}");
            i += 1;
        }
        self.used.insert(name.clone());
        name
    }
}

pub(crate) struct Rewriter<'p, 's, 'a> {
    plan: &'p Plan<'s, 'a>,
    names: Names,
    /// Main-graph values renamed because a cast must restore their name at the output.
    renamed: HashMap<ValueId, String>,
    /// Casts that restore a renamed output: (value, to float16) → the restored (original) name.
    restored: HashMap<(ValueId, bool), String>,
    pub report: Fp16Report,
    conversion: Conversion,
}

impl<'p, 's, 'a> Rewriter<'p, 's, 'a> {
    pub(crate) fn new(plan: &'p Plan<'s, 'a>, model: &ModelProto) -> Self {
        let mut rw = Rewriter {
            plan,
            names: Names::of(model),
            renamed: HashMap::new(),
            restored: HashMap::new(),
            report: Fp16Report::default(),
            conversion: Conversion::default(),
        };
        let main = plan.scope.graphs[0].graph;
        for (i, out) in main.output.iter().enumerate() {
            let Some(v) = plan.scope.resolve(0, out.name()) else {
                continue;
            };
            let have = plan.is_f16(&v);
            let to16 = match plan.want(Use::GraphOutput(0, i)) {
                Want::F16 if !have => true,
                Want::Orig if have => false,
                _ => continue,
            };
            if matches!(plan.scope.def(&v), Some(Def::Input(_)) | None) {
                continue; // an input passed straight through follows the same rule as the output
            }
            if !rw.renamed.contains_key(&v) {
                let suffix = if have { "fp16" } else { "fp32" };
                let new = rw.names.fresh(&format!("{}_{suffix}", v.name));
                rw.renamed.insert(v.clone(), new);
            }
            rw.restored.insert((v.clone(), to16), v.name.clone());
        }
        rw
    }

    pub(crate) fn finish(mut self) -> Fp16Report {
        self.report.values_clamped = self.conversion.clamped;
        self.report.tiny_values_flushed = self.conversion.flushed;
        self.report.nodes_fp16 = self.plan.fp16_node_count();
        self.report.nodes_kept_fp32 = self.plan.kept.clone();
        self.report
    }

    /// The name a value has in the output model.
    fn emitted(&self, v: &ValueId) -> String {
        self.renamed
            .get(v)
            .cloned()
            .unwrap_or_else(|| v.name.clone())
    }

    fn convert(&mut self, t: &mut TensorProto) -> Result<(), Fp16Error> {
        let c = tensor::convert(t)?;
        self.conversion.add(c);
        self.report.initializers_converted += 1;
        Ok(())
    }

    /// Rewrites graph `g` (already a copy) in place.
    pub(crate) fn graph(&mut self, graph: &mut GraphProto, g: GraphId) -> Result<(), Fp16Error> {
        let scope = self.plan.scope;
        let mut casts: HashMap<(ValueId, bool), String> = HashMap::new();
        let mut nodes = Vec::with_capacity(graph.node.len());

        for t in &mut graph.initializer {
            let v = ValueId {
                graph: g,
                name: t.name().to_string(),
            };
            if self.plan.is_f16(&v) {
                self.convert(t)?;
            }
            if let Some(new) = self.renamed.get(&v) {
                t.name = Some(new.clone());
            }
        }
        // Renamed initializers get their restoring casts first.
        let restore_inits: Vec<ValueId> = self
            .renamed
            .keys()
            .filter(|v| v.graph == g && matches!(scope.def(v), Some(Def::Initializer(_))))
            .cloned()
            .collect();
        for v in restore_inits {
            self.push_restores(&v, &mut nodes);
        }

        let children = scope.graphs[g].children.clone();
        for (n, mut node) in std::mem::take(&mut graph.node).into_iter().enumerate() {
            let id = NodeId { graph: g, index: n };
            for s in 0..node.input.len() {
                let Some(v) = scope.resolve(g, &node.input[s]) else {
                    continue;
                };
                node.input[s] =
                    self.read_as(&v, self.plan.want(Use::Node(id, s)), &mut casts, &mut nodes);
            }
            self.retype_node(&mut node, g)?;
            let subs = children.get(&n).cloned().unwrap_or_default();
            let mut subs = subs.into_iter();
            for attr in &mut node.attribute {
                for sub in attr.g.iter_mut().chain(attr.graphs.iter_mut()) {
                    if let Some(c) = subs.next() {
                        self.graph(sub, c)?;
                    }
                }
            }
            let mut restores = Vec::new();
            for out in &mut node.output {
                let v = ValueId {
                    graph: g,
                    name: out.clone(),
                };
                if let Some(new) = self.renamed.get(&v) {
                    *out = new.clone();
                    restores.push(v);
                }
            }
            nodes.push(node);
            for v in restores {
                self.push_restores(&v, &mut nodes);
            }
        }

        // Graph outputs.
        for i in 0..graph.output.len() {
            let Some(v) = scope.resolve(g, graph.output[i].name()) else {
                continue;
            };
            let want = self.plan.want(Use::GraphOutput(g, i));
            if g != 0 {
                let name = self.read_as(&v, want, &mut casts, &mut nodes);
                graph.output[i].name = Some(name);
            }
            if scope.is_f32(&v) {
                let ty = if want == Want::F16 { FLOAT16 } else { FLOAT };
                set_elem_type(&mut graph.output[i], ty);
            }
        }
        if g == 0 {
            for input in &mut graph.input {
                let v = ValueId {
                    graph: 0,
                    name: input.name().to_string(),
                };
                if self.plan.is_f16(&v) {
                    set_elem_type(input, FLOAT16);
                }
            }
        }
        graph.node = nodes;

        // value_info: our types replace stale ones; renamed values lose their entry.
        let mut value_info = std::mem::take(&mut graph.value_info);
        value_info.retain_mut(|vi| {
            let Some(v) = scope.resolve(g, vi.name()) else {
                return true;
            };
            if self.renamed.contains_key(&v) {
                return false;
            }
            match scope.ty(&v) {
                Some(orig) => {
                    let ty = if self.plan.is_f16(&v) { FLOAT16 } else { orig };
                    set_elem_type(vi, ty);
                    true
                }
                None => true,
            }
        });
        graph.value_info = value_info;
        Ok(())
    }

    /// The name under which `v` is read by a reader wanting `want` in graph `g`, adding a cast
    /// (once per graph) when the value holds another type.
    fn read_as(
        &mut self,
        v: &ValueId,
        want: Want,
        casts: &mut HashMap<(ValueId, bool), String>,
        nodes: &mut Vec<NodeProto>,
    ) -> String {
        let have = self.plan.is_f16(v);
        let to16 = match want {
            Want::F16 if !have => true,
            Want::Orig if have => false,
            _ => return self.emitted(v),
        };
        let key = (v.clone(), to16);
        if let Some(name) = self.restored.get(&key).or_else(|| casts.get(&key)) {
            return name.clone();
        }
        let suffix = if to16 { "fp16" } else { "fp32" };
        let out = self.names.fresh(&format!("{}_{suffix}", v.name));
        let to = if to16 { FLOAT16 } else { FLOAT };
        nodes.push(self.cast_node(self.emitted(v), out.clone(), to));
        casts.insert(key, out.clone());
        out
    }

    fn push_restores(&mut self, v: &ValueId, nodes: &mut Vec<NodeProto>) {
        for to16 in [false, true] {
            if let Some(orig) = self.restored.get(&(v.clone(), to16)).cloned() {
                let to = if to16 { FLOAT16 } else { FLOAT };
                nodes.push(self.cast_node(self.emitted(v), orig, to));
            }
        }
    }

    fn cast_node(&mut self, input: String, output: String, to: i32) -> NodeProto {
        self.report.casts_inserted += 1;
        let name = self.names.fresh(&format!("{output}_cast"));
        NodeProto {
            input: vec![input],
            output: vec![output],
            name: Some(name),
            op_type: Some("Cast".into()),
            attribute: vec![AttributeProto {
                name: Some("to".into()),
                r#type: Some(AttributeType::Int as i32),
                i: Some(to.into()),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// Retypes value-producing nodes whose float32 output became float16.
    fn retype_node(&mut self, node: &mut NodeProto, g: GraphId) -> Result<(), Fp16Error> {
        let Some(out) = node.output.first() else {
            return Ok(());
        };
        let v = ValueId {
            graph: g,
            name: out.clone(),
        };
        if !self.plan.is_f16(&v) || !super::ops::is_default_domain(node) {
            return Ok(());
        }
        match node.op_type() {
            "Cast" => {
                for a in &mut node.attribute {
                    if a.name() == "to" {
                        a.i = Some(FLOAT16.into());
                    }
                }
            }
            "Constant" => {
                for a in &mut node.attribute {
                    match a.name() {
                        "value" => {
                            if let Some(t) = &mut a.t {
                                self.convert(t)?;
                            }
                        }
                        "value_float" | "value_floats" => {
                            let (dims, values) = if a.name() == "value_float" {
                                (vec![], vec![a.f.unwrap_or(0.0)])
                            } else {
                                (vec![a.floats.len() as i64], a.floats.clone())
                            };
                            let mut t = TensorProto {
                                dims,
                                data_type: Some(DataType::Float as i32),
                                float_data: values,
                                ..Default::default()
                            };
                            self.convert(&mut t)?;
                            *a = AttributeProto {
                                name: Some("value".into()),
                                r#type: Some(AttributeType::Tensor as i32),
                                t: Some(t),
                                ..Default::default()
                            };
                        }
                        _ => {}
                    }
                }
            }
            "ConstantOfShape" => {
                match node.attribute.iter_mut().find(|a| a.name() == "value") {
                    Some(a) => {
                        if let Some(t) = &mut a.t {
                            self.convert(t)?;
                        }
                    }
                    None => {
                        // The default value is float32 zero; state it as float16 zero.
                        node.attribute.push(AttributeProto {
                            name: Some("value".into()),
                            r#type: Some(AttributeType::Tensor as i32),
                            t: Some(TensorProto {
                                dims: vec![1],
                                data_type: Some(FLOAT16),
                                raw_data: Some(vec![0u8, 0].into()),
                                ..Default::default()
                            }),
                            ..Default::default()
                        });
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Sets the element type of a tensor-typed value info; leaves other kinds alone.
fn set_elem_type(vi: &mut ValueInfoProto, ty: i32) {
    if let Some(type_proto::Value::TensorType(t)) =
        vi.r#type.as_mut().and_then(|t| t.value.as_mut())
    {
        t.elem_type = Some(ty);
    }
}
