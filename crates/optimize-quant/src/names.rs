//! Fresh, readable names for the tensors and nodes a pass adds.

use optimize_onnx::proto::{GraphProto, ModelProto};
use std::collections::HashSet;

/// Every name in use in a model (tensors, nodes, in all graphs), and a way to make new ones.
pub struct Names {
    taken: HashSet<String>,
}

impl Names {
    /// Collects the names used anywhere in `model`.
    pub fn of(model: &ModelProto) -> Names {
        fn collect(g: &GraphProto, taken: &mut HashSet<String>) {
            taken.extend(
                g.input
                    .iter()
                    .chain(&g.output)
                    .chain(&g.value_info)
                    .map(|v| v.name().to_string()),
            );
            taken.extend(g.initializer.iter().map(|t| t.name().to_string()));
            for n in &g.node {
                taken.extend(n.output.iter().cloned());
                taken.insert(n.name().to_string());
                for a in &n.attribute {
                    for sub in a.g.iter().chain(&a.graphs) {
                        collect(sub, taken);
                    }
                }
            }
        }
        let mut taken = HashSet::new();
        if let Some(g) = &model.graph {
            collect(g, &mut taken);
        }
        Names { taken }
    }

    /// `base`, or `base_1`, `base_2`, ... if taken; the result is reserved.
    pub fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut i = 1;
        while self.taken.contains(&name) {
            name = format!("{base}_{i}");
            i += 1;
        }
        self.taken.insert(name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_names_never_collide() {
        let g = GraphProto {
            initializer: vec![optimize_onnx::build::tensor_f32("w_scale", &[], &[1.0])],
            ..Default::default()
        };
        let mut n = Names::of(&ModelProto {
            graph: Some(g),
            ..Default::default()
        });
        assert_eq!(n.fresh("w_scale"), "w_scale_1");
        assert_eq!(n.fresh("w_scale"), "w_scale_2");
        assert_eq!(n.fresh("x_q"), "x_q");
    }
}
