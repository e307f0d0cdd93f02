//! IR version rules that rewrites must keep.
//!
//! Models of IR version < 4 (written by old exporters) must list every initializer of the main
//! graph among the graph inputs as well: `onnx.checker` rejects one that is not ("w in
//! initializer but not in graph input"). Passes add initializers (quantized weights, scales)
//! without knowing that rule; [`list_initializers_as_inputs`] restores it on their output.

use crate::build::value_info;
use crate::proto::{ModelProto, ValueInfoProto};
use std::collections::HashSet;

/// For IR version < 4, lists every main-graph initializer that is not a graph input as one,
/// typed and shaped from the tensor. Returns how many were added; models of IR ≥ 4 are left
/// alone (0).
pub fn list_initializers_as_inputs(model: &mut ModelProto) -> usize {
    if model.ir_version.unwrap_or(0) >= 4 {
        return 0;
    }
    let Some(g) = model.graph.as_mut() else {
        return 0;
    };
    let listed: HashSet<String> = g.input.iter().map(|v| v.name().to_string()).collect();
    let missing: Vec<ValueInfoProto> = g
        .initializer
        .iter()
        .filter(|t| !listed.contains(t.name()))
        .map(|t| {
            let dims: Vec<Option<i64>> = t.dims.iter().map(|&d| Some(d)).collect();
            value_info(t.name(), t.data_type(), &dims)
        })
        .collect();
    let added = missing.len();
    g.input.extend(missing);
    added
}

/// What a pass's report says after [`list_initializers_as_inputs`] listed `n` initializers.
pub fn listed_note(n: usize) -> String {
    format!(
        "the model is IR version 3, which lists every initializer as a graph input too: the {n} \
         new initializers are listed as well"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{model, node, tensor_f32, value_info_f32};
    use crate::proto::{type_proto, GraphProto};

    fn graph() -> GraphProto {
        GraphProto {
            node: vec![node("MatMul", &["x", "w"], &["y"], "mm")],
            input: vec![
                value_info_f32("x", &[Some(1), Some(2)]),
                value_info_f32("w", &[Some(2), Some(2)]),
            ],
            output: vec![value_info_f32("y", &[Some(1), Some(2)])],
            initializer: vec![
                tensor_f32("w", &[2, 2], &[1.0; 4]),
                tensor_f32("w_scale", &[2], &[0.5; 2]),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn ir3_lists_new_initializers_as_typed_inputs() {
        let mut m = model(graph(), 8);
        m.ir_version = Some(3);
        assert_eq!(list_initializers_as_inputs(&mut m), 1);
        let g = m.graph.as_ref().unwrap();
        let names: Vec<&str> = g.input.iter().map(|v| v.name()).collect();
        assert_eq!(names, ["x", "w", "w_scale"]);
        let added = &g.input[2];
        let Some(type_proto::Value::TensorType(t)) = added.r#type.as_ref().unwrap().value.as_ref()
        else {
            panic!("not a tensor type")
        };
        assert_eq!(t.elem_type, Some(1));
        assert_eq!(t.shape.as_ref().unwrap().dim.len(), 1);
        assert_eq!(list_initializers_as_inputs(&mut m), 0, "idempotent");
    }

    #[test]
    fn ir4_and_later_are_left_alone() {
        let mut m = model(graph(), 13);
        let before = m.clone();
        assert_eq!(list_initializers_as_inputs(&mut m), 0);
        assert_eq!(m, before);
    }
}
