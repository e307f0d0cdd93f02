//! Fresh names for the tensors and nodes a rewrite adds.
//!
//! ONNX requires every value name to be unique across a graph and the subgraphs nested in it, and
//! a rewrite that reuses a name silently rewires the model. [`Names`] collects every name used
//! anywhere in a model once, then hands out new ones that collide with none of them:
//!
//! ```
//! use optimize_onnx::build::node;
//! use optimize_onnx::names::Names;
//! use optimize_onnx::proto::{GraphProto, ModelProto};
//!
//! let graph = GraphProto { node: vec![node("Relu", &["x"], &["y"], "relu")], ..Default::default() };
//! let model = ModelProto { graph: Some(graph), ..Default::default() };
//! let mut names = Names::of(&model);
//! assert_eq!(names.fresh("y"), "y_1");
//! assert_eq!(names.fresh("y"), "y_2");
//! assert_eq!(names.fresh("z"), "z");
//! ```

use crate::proto::{GraphProto, ModelProto, NodeProto};
use std::collections::{HashMap, HashSet};

/// Every name in use in a model, and a way to make new ones.
///
/// Tensor and node names share one set: ONNX keeps them in separate namespaces, but a new name
/// that is unique in both is never wrong and reads less confusingly.
#[derive(Debug, Default)]
pub struct Names {
    taken: HashSet<String>,
    /// Next suffix to try per base, so asking for the same base many times stays linear.
    next: HashMap<String, usize>,
}

impl Names {
    /// Collects the names used anywhere in `model`: graph inputs, outputs, value_info,
    /// initializers, node inputs, outputs and names, in every subgraph, function and training
    /// graph.
    pub fn of(model: &ModelProto) -> Names {
        let mut names = Names::default();
        if let Some(g) = &model.graph {
            names.add_graph(g);
        }
        for f in &model.functions {
            names.taken.extend(f.input.iter().chain(&f.output).cloned());
            names.add_nodes(&f.node);
        }
        for ti in &model.training_info {
            for g in ti.initialization.iter().chain(&ti.algorithm) {
                names.add_graph(g);
            }
        }
        names
    }

    fn add_graph(&mut self, g: &GraphProto) {
        let values = g.input.iter().chain(&g.output).chain(&g.value_info);
        self.taken.extend(values.map(|v| v.name().to_string()));
        self.taken
            .extend(g.initializer.iter().map(|t| t.name().to_string()));
        for s in &g.sparse_initializer {
            self.taken
                .extend(s.values.iter().map(|t| t.name().to_string()));
        }
        self.add_nodes(&g.node);
    }

    fn add_nodes(&mut self, nodes: &[NodeProto]) {
        for n in nodes {
            self.taken.extend(n.input.iter().chain(&n.output).cloned());
            self.taken.insert(n.name().to_string());
            for a in &n.attribute {
                for sub in a.g.iter().chain(&a.graphs) {
                    self.add_graph(sub);
                }
            }
        }
    }

    /// True if `name` is used in the model or was handed out.
    pub fn contains(&self, name: &str) -> bool {
        self.taken.contains(name)
    }

    /// `base` if it is free, else `base_1`, `base_2`, ...; the result is reserved.
    pub fn fresh(&mut self, base: &str) -> String {
        if self.taken.insert(base.to_string()) {
            return base.to_string();
        }
        let next = self.next.entry(base.to_string()).or_insert(1);
        loop {
            let candidate = format!("{base}_{next}");
            *next += 1;
            if self.taken.insert(candidate.clone()) {
                return candidate;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{node, tensor_f32};
    use crate::proto::{AttributeProto, ValueInfoProto};

    #[test]
    fn fresh_names_avoid_every_scope() {
        let body = GraphProto {
            node: vec![node("Neg", &["outer"], &["inner"], "neg")],
            ..Default::default()
        };
        let mut iff = node("If", &["c"], &["z"], "if");
        iff.attribute.push(AttributeProto {
            name: Some("then_branch".into()),
            g: Some(body),
            ..Default::default()
        });
        let g = GraphProto {
            node: vec![iff],
            initializer: vec![tensor_f32("w", &[], &[1.0])],
            output: vec![ValueInfoProto {
                name: Some("z".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut names = Names::of(&ModelProto {
            graph: Some(g),
            ..Default::default()
        });
        for taken in ["inner", "outer", "neg", "if", "w", "z", "c"] {
            assert!(names.contains(taken), "{taken}");
            assert_ne!(names.fresh(taken), taken);
        }
        assert_eq!(names.fresh("w"), "w_2", "w_1 was handed out above");
        assert_eq!(names.fresh("new"), "new");
        assert_eq!(names.fresh("new"), "new_1");
    }

    #[test]
    fn suffixes_skip_names_already_in_the_model() {
        let g = GraphProto {
            node: vec![node("Relu", &["a"], &["a_1"], "")],
            ..Default::default()
        };
        let mut names = Names::of(&ModelProto {
            graph: Some(g),
            ..Default::default()
        });
        assert_eq!(names.fresh("a"), "a_2");
        assert_eq!(names.fresh("a"), "a_3");
    }
}
