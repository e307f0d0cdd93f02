//! Naming the operator behind a tract failure.
//!
//! tract loads a node whose op type it lacks as a placeholder and only fails when it analyses
//! the model, with an error about the placeholder, not the op. So before tract sees the model,
//! [`missing_ops`] lists the nodes whose op type tract has no builder for, in subgraphs too.
//! For errors tract raises itself, [`classify`] looks for the node in tract's error chain,
//! which names it in one of three ways:
//!
//! - `Building node NAME (OP)`: the op exists but rejected this node's attributes;
//! - `Failed analyse for node #12 "NAME" OP`: shape or type inference failed at the node;
//! - `Translating node #12 "NAME" OP ...`: the node could not become a typed (runnable) op.
//!
//! tract names a node after the ONNX node name, or its first output when it has none, and
//! later passes may add a suffix (`NAME.matmul`), so the ONNX op type is found by the longest
//! ONNX node name that starts tract's name.

use std::collections::BTreeMap;

use tract_onnx::pb::{GraphProto, ModelProto, NodeProto};
use tract_onnx::prelude::TractError;
use tract_onnx::Onnx;

use crate::Error;

/// A node of the ONNX graph, as tract names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OnnxNode {
    /// tract's name for it: the node name, or its first output.
    pub name: String,
    /// `op_type`, with the domain in front when it is not the default one.
    pub op: String,
}

/// Every node of the model, subgraphs included, in graph order.
pub(crate) fn nodes(model: &ModelProto) -> Vec<OnnxNode> {
    let mut out = Vec::new();
    if let Some(graph) = &model.graph {
        collect(graph, &mut out);
    }
    out
}

fn collect(graph: &GraphProto, out: &mut Vec<OnnxNode>) {
    for node in &graph.node {
        out.push(OnnxNode {
            name: tract_name(node),
            op: op_name(node),
        });
        for attribute in &node.attribute {
            for sub in attribute.g.iter().chain(&attribute.graphs) {
                collect(sub, out);
            }
        }
    }
}

fn tract_name(node: &NodeProto) -> String {
    if !node.name.is_empty() {
        node.name.clone()
    } else {
        node.output.first().cloned().unwrap_or_default()
    }
}

fn op_name(node: &NodeProto) -> String {
    match node.domain.as_str() {
        "" | "ai.onnx" => node.op_type.clone(),
        domain => format!("{domain}.{}", node.op_type),
    }
}

/// [`Error::UnsupportedOperator`] for the first node whose op type tract has no builder for,
/// listing the other missing op types in the message; `None` if tract knows them all.
///
/// tract's register is keyed by op type alone, so an op from another domain counts as known
/// when tract has a standard op of the same name (tract then fails later, at the node).
pub(crate) fn missing_ops(onnx: &Onnx, model: &str, nodes: &[OnnxNode]) -> Option<Error> {
    let known = |node: &&OnnxNode| {
        let op_type = node.op.rsplit('.').next().unwrap_or(&node.op);
        onnx.op_register.0.contains_key(op_type)
    };
    let missing: Vec<&OnnxNode> = nodes.iter().filter(|n| !known(n)).collect();
    let first = missing.first()?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for node in &missing {
        *counts.entry(node.op.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = counts
        .into_iter()
        .map(|(op, n)| format!("{op} ({n} node{})", if n == 1 { "" } else { "s" }))
        .collect();
    Some(Error::UnsupportedOperator {
        model: model.into(),
        op: first.op.clone(),
        node: first.name.clone(),
        message: format!(
            "tract has no implementation of this op type; ops tract lacks in this model: {}",
            counts.join(", ")
        ),
    })
}

/// Turns a tract error into [`Error::UnsupportedOperator`] when its chain names a node, else
/// into `fallback` with the whole chain on one line.
pub(crate) fn classify(
    error: &TractError,
    model: &str,
    nodes: &[OnnxNode],
    fallback: impl FnOnce(String) -> Error,
) -> Error {
    let message = format!("{error:#}");
    for cause in error.chain() {
        if let Some((node, op)) = node_in(&cause.to_string()) {
            let op = onnx_op(nodes, &node).unwrap_or(op);
            return Error::UnsupportedOperator {
                model: model.into(),
                op,
                node,
                message,
            };
        }
    }
    fallback(message)
}

/// The node name and tract op name in one message of tract's error chain.
fn node_in(message: &str) -> Option<(String, String)> {
    if let Some(rest) = message.strip_prefix("Building node ") {
        // `Building node NAME (OP)`; NAME may itself hold spaces or parentheses.
        let open = rest.rfind(" (")?;
        let op = rest[open + 2..].strip_suffix(')')?;
        return Some((rest[..open].to_string(), op.to_string()));
    }
    let rest = message
        .strip_prefix("Failed analyse for node #")
        .or_else(|| message.strip_prefix("Translating node #"))?;
    // `12 "NAME" OP ...`
    let start = rest.find('"')? + 1;
    let len = rest[start..].find("\" ")?;
    let name = &rest[start..start + len];
    let op = rest[start + len + 2..]
        .split_whitespace()
        .next()
        .unwrap_or("?");
    Some((name.to_string(), op.to_string()))
}

/// The ONNX op type of the node tract calls `name`.
fn onnx_op(nodes: &[OnnxNode], name: &str) -> Option<String> {
    nodes
        .iter()
        .filter(|n| !n.name.is_empty() && name.starts_with(n.name.as_str()))
        .max_by_key(|n| n.name.len())
        .map(|n| n.op.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_node_in_each_message_form() {
        assert_eq!(
            node_in("Building node /conv (1) (Conv)"),
            Some(("/conv (1)".into(), "Conv".into()))
        );
        assert_eq!(
            node_in("Failed analyse for node #12 \"If_3\" If"),
            Some(("If_3".into(), "If".into()))
        );
        assert_eq!(
            node_in("Translating node #7 \"stft\" Unimplemented(STFT) ToTypedTranslator"),
            Some(("stft".into(), "Unimplemented(STFT)".into()))
        );
        assert_eq!(node_in("Operator can not be made a TypedOp."), None);
    }

    #[test]
    fn maps_tract_names_back_to_onnx_op_types() {
        let nodes = [
            OnnxNode {
                name: "/fc".into(),
                op: "Gemm".into(),
            },
            OnnxNode {
                name: "/fc2".into(),
                op: "MatMul".into(),
            },
        ];
        assert_eq!(onnx_op(&nodes, "/fc2.matmul").as_deref(), Some("MatMul"));
        assert_eq!(onnx_op(&nodes, "/fc").as_deref(), Some("Gemm"));
        assert_eq!(onnx_op(&nodes, "other"), None);
    }
}
