//! Small constructors and readers for the protobuf types, for passes that rewrite graphs.
//!
//! Passes build nodes and tensors with these instead of filling prost structs field by field,
//! so every node they add reads like the ONNX it stands for:
//!
//! ```
//! use optimize_onnx::build::{attr_int, node, tensor_f32, WithAttr};
//! let q = node("QuantizeLinear", &["x", "x_scale", "x_zp"], &["x_q"], "x_QuantizeLinear")
//!     .with_attr(attr_int("axis", 1));
//! let scale = tensor_f32("x_scale", &[], &[0.02]);
//! assert_eq!(q.op_type(), "QuantizeLinear");
//! assert_eq!(scale.raw_data.as_ref().map(|r| r.len()), Some(4));
//! ```

use crate::dtype::ElemType;
use crate::proto::attribute_proto::AttributeType;
use crate::proto::tensor_proto::DataType;
use crate::proto::tensor_shape_proto::{dimension, Dimension};
use crate::proto::{
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

/// A model holding `graph` that imports the default (`ai.onnx`) domain at `opset`, IR version 8:
/// the frame hand-built test graphs and small generated models need.
pub fn model(graph: GraphProto, opset: i64) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        graph: Some(graph),
        ..Default::default()
    }
}

/// A graph input or output of a float32 tensor; `None` dimensions are the symbolic `batch`.
pub fn value_info_f32(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    value_info(name, DataType::Float as i32, dims)
}

/// A graph input or output of a tensor of `elem_type` (a `DataType` value); `None` dimensions
/// are the symbolic `batch`.
pub fn value_info(name: &str, elem_type: i32, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(v) => dimension::Value::DimValue(*v),
                None => dimension::Value::DimParam("batch".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem_type),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A node of the default domain.
pub fn node(op_type: &str, inputs: &[&str], outputs: &[&str], name: &str) -> NodeProto {
    NodeProto {
        op_type: Some(op_type.to_string()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: Some(name.to_string()),
        ..Default::default()
    }
}

/// Adds attributes fluently.
pub trait WithAttr {
    /// Returns the node with `attr` appended.
    fn with_attr(self, attr: AttributeProto) -> Self;
}

impl WithAttr for NodeProto {
    fn with_attr(mut self, attr: AttributeProto) -> Self {
        self.attribute.push(attr);
        self
    }
}

/// An integer attribute.
pub fn attr_int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    }
}

/// An integer-list attribute.
pub fn attr_ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values.to_vec(),
        ..Default::default()
    }
}

/// A string attribute.
pub fn attr_string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(AttributeType::String as i32),
        s: Some(value.as_bytes().to_vec()),
        ..Default::default()
    }
}

/// A float attribute.
pub fn attr_float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(value),
        ..Default::default()
    }
}

/// A graph attribute (an If branch, a Loop or Scan body).
pub fn attr_graph(name: &str, g: GraphProto) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(AttributeType::Graph as i32),
        g: Some(g),
        ..Default::default()
    }
}

/// A tensor attribute (a Constant's `value`).
pub fn attr_tensor(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(AttributeType::Tensor as i32),
        t: Some(t),
        ..Default::default()
    }
}

/// A tensor of any element type from little-endian raw bytes.
pub fn tensor_raw(name: &str, dtype: DataType, dims: &[i64], raw: Vec<u8>) -> TensorProto {
    TensorProto {
        name: Some(name.to_string()),
        data_type: Some(dtype as i32),
        dims: dims.to_vec(),
        raw_data: Some(raw.into()),
        ..Default::default()
    }
}

/// A float32 tensor.
pub fn tensor_f32(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor_raw(name, DataType::Float, dims, raw)
}

/// An int32 tensor.
pub fn tensor_i32(name: &str, dims: &[i64], values: &[i32]) -> TensorProto {
    let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor_raw(name, DataType::Int32, dims, raw)
}

/// An int64 tensor.
pub fn tensor_i64(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor_raw(name, DataType::Int64, dims, raw)
}

/// The values of a float32 tensor, from `raw_data` or `float_data`; `None` for other types.
/// The tensor must hold its data inline (see [`crate::Model::load`]).
pub fn read_f32(t: &TensorProto) -> Option<Vec<f32>> {
    if t.data_type.and_then(ElemType::from_code) != Some(ElemType::F32) {
        return None;
    }
    match &t.raw_data {
        Some(raw) if raw.len() % 4 == 0 => Some(
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Some(_) => None,
        None => Some(t.float_data.clone()),
    }
}

/// The values of an int64 tensor, from `raw_data` or `int64_data`; `None` for other types.
pub fn read_i64(t: &TensorProto) -> Option<Vec<i64>> {
    if t.data_type != Some(DataType::Int64 as i32) {
        return None;
    }
    match &t.raw_data {
        Some(raw) if raw.len() % 8 == 0 => Some(
            raw.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
        ),
        Some(_) => None,
        None => Some(t.int64_data.clone()),
    }
}

/// The attribute called `name`, if the node has it.
pub fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name() == name)
}

/// An integer attribute's value, or `default`.
pub fn attr_i(node: &NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).and_then(|a| a.i).unwrap_or(default)
}

/// A float attribute's value, or `default`.
pub fn attr_f(node: &NodeProto, name: &str, default: f32) -> f32 {
    attr(node, name).and_then(|a| a.f).unwrap_or(default)
}

/// A string attribute's value, if the node has it and it is UTF-8.
pub fn attr_str<'a>(node: &'a NodeProto, name: &str) -> Option<&'a str> {
    attr(node, name)
        .and_then(|a| a.s.as_deref())
        .and_then(|s| std::str::from_utf8(s).ok())
}

/// The version of `domain` (`""` is the default ONNX domain, also spelled `ai.onnx`) the model imports.
pub fn opset(model: &ModelProto, domain: &str) -> Option<i64> {
    let norm = |d: &str| {
        if d == "ai.onnx" {
            String::new()
        } else {
            d.to_string()
        }
    };
    model
        .opset_import
        .iter()
        .find(|o| norm(o.domain()) == norm(domain))
        .and_then(|o| o.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_round_trip_through_readers() {
        let t = tensor_f32("w", &[2], &[1.5, -2.0]);
        assert_eq!(read_f32(&t), Some(vec![1.5, -2.0]));
        let t = tensor_i64("s", &[2], &[3, -1]);
        assert_eq!(read_i64(&t), Some(vec![3, -1]));
        assert_eq!(read_f32(&t), None);
        let typed = TensorProto {
            data_type: Some(1),
            dims: vec![1],
            float_data: vec![7.0],
            ..Default::default()
        };
        assert_eq!(read_f32(&typed), Some(vec![7.0]));
    }

    #[test]
    fn attributes_and_opsets() {
        let n = node("Gemm", &["a", "b"], &["y"], "g")
            .with_attr(attr_int("transB", 1))
            .with_attr(attr_float("alpha", 0.5));
        assert_eq!(attr_i(&n, "transB", 0), 1);
        assert_eq!(attr_i(&n, "transA", 0), 0);
        assert_eq!(attr_f(&n, "alpha", 1.0), 0.5);
        let n = n
            .with_attr(attr_string("mode", "nearest"))
            .with_attr(attr_ints("axes", &[0, -1]));
        assert_eq!(attr_str(&n, "mode"), Some("nearest"));
        assert_eq!(attr_str(&n, "absent"), None);
        assert_eq!(attr(&n, "axes").map(|a| a.ints.clone()), Some(vec![0, -1]));
        let m = ModelProto {
            opset_import: vec![crate::proto::OperatorSetIdProto {
                domain: Some("ai.onnx".into()),
                version: Some(13),
            }],
            ..Default::default()
        };
        assert_eq!(opset(&m, ""), Some(13));
        assert_eq!(opset(&m, "com.microsoft"), None);
    }
}
