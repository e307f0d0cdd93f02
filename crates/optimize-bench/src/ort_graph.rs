//! What ONNX Runtime really runs: the graph its CPU provider keeps after optimizing a model,
//! counted by op type. A QDQ model is fast only where ONNX Runtime fuses the
//! QuantizeLinear/DequantizeLinear around an op into an integer kernel (`QLinearConv`,
//! `QLinearAdd`, `QLinearConcat`...); a pair it leaves standing runs as float conversions on
//! every call. The file's own op counts cannot tell the two apart; this can.
//!
//! ```no_run
//! use optimize_bench::ort_graph::OrtGraph;
//! let bytes = std::fs::read("models/digits-cnn.int8.onnx")?;
//! let graph = OrtGraph::of(&bytes, 1)?;
//! println!("{}", graph.line()); // ORT runs: 2 QLinearConv, 1 QLinearMatMul, ...
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::Result;
use optimize_onnx::proto::{GraphProto, ModelProto};
use optimize_runtime::{ort_optimized_model, SessionOptions};
use serde::Serialize;
use std::collections::BTreeMap;

/// Nodes of ONNX Runtime's optimized graph (main graph and subgraphs), by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrtGraph {
    /// Every op type with its count, domain-qualified outside the default domain
    /// (`com.microsoft.QLinearAdd`), most frequent first.
    pub ops: Vec<(String, usize)>,
    /// Integer kernels: `QLinear*`, `*Integer`, `DynamicQuantize*`, `MatMulIntegerToFloat`.
    pub integer: usize,
    /// QuantizeLinear/DequantizeLinear left standing (conversions on every call).
    pub qdq: usize,
    /// Convolutions and matrix products computed in float (`Conv`, `FusedConv`, NCHWc `Conv`,
    /// `MatMul`, `Gemm`, `FusedMatMul`, `FusedGemm`).
    pub float_compute: usize,
}

fn is_integer(op: &str) -> bool {
    op.starts_with("QLinear")
        || op.ends_with("Integer")
        || op.starts_with("DynamicQuantize")
        || matches!(op, "MatMulIntegerToFloat" | "QGemm" | "QAttention")
}

fn is_float_compute(op: &str) -> bool {
    matches!(
        op,
        "Conv" | "FusedConv" | "MatMul" | "Gemm" | "FusedMatMul" | "FusedGemm" | "ConvTranspose"
    )
}

impl OrtGraph {
    /// Loads `model` (serialized) in ONNX Runtime on the CPU with `threads` intra-op threads and
    /// all optimizations, and counts the graph it keeps.
    pub fn of(model: &[u8], threads: usize) -> Result<OrtGraph> {
        let options = SessionOptions::default().with_threads(threads);
        let bytes = ort_optimized_model(model, &options)?;
        let model = optimize_onnx::Model::decode(
            &bytes,
            std::path::Path::new("<ONNX Runtime's optimized graph>"),
            None,
        )?;
        Ok(Self::count(&model.proto))
    }

    /// Counts the nodes of `model`.
    pub fn count(model: &ModelProto) -> OrtGraph {
        fn walk(g: &GraphProto, ops: &mut BTreeMap<String, usize>) {
            for n in &g.node {
                let name = match n.domain() {
                    "" | "ai.onnx" => n.op_type().to_string(),
                    d => format!("{d}.{}", n.op_type()),
                };
                *ops.entry(name).or_default() += 1;
                for a in &n.attribute {
                    for sub in a.g.iter().chain(&a.graphs) {
                        walk(sub, ops);
                    }
                }
            }
        }
        let mut ops = BTreeMap::new();
        if let Some(g) = &model.graph {
            walk(g, &mut ops);
        }
        let mut out = OrtGraph::default();
        for (name, &n) in &ops {
            let op = name.rsplit('.').next().unwrap_or(name);
            if is_integer(op) {
                out.integer += n;
            } else if matches!(op, "QuantizeLinear" | "DequantizeLinear") {
                out.qdq += n;
            } else if is_float_compute(op) {
                out.float_compute += n;
            }
        }
        out.ops = ops.into_iter().collect();
        out.ops
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// Count of one op type (domain-qualified as in [`OrtGraph::ops`]).
    pub fn count_of(&self, op: &str) -> usize {
        self.ops
            .iter()
            .find(|(o, _)| o == op)
            .map_or(0, |(_, n)| *n)
    }

    /// One line for reports: the integer kernels, the Q/DQ left standing and the float
    /// convolutions and matrix products: `ORT runs: 53 QLinearConv, 17 QLinearAdd;
    /// 4 QuantizeLinear/DequantizeLinear; 0 float Conv/MatMul/Gemm`.
    pub fn line(&self) -> String {
        let integer: Vec<String> = self
            .ops
            .iter()
            .filter(|(o, _)| is_integer(o.rsplit('.').next().unwrap_or(o)))
            .map(|(o, n)| format!("{n} {}", o.rsplit('.').next().unwrap_or(o)))
            .collect();
        format!(
            "ORT runs: {}; {} QuantizeLinear/DequantizeLinear; {} float Conv/MatMul/Gemm",
            if integer.is_empty() {
                "no integer kernel".to_string()
            } else {
                integer.join(", ")
            },
            self.qdq,
            self.float_compute
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use optimize_onnx::build::{model, node, tensor_f32, value_info_f32};

    fn conv_model() -> Vec<u8> {
        let w: Vec<f32> = (0..4 * 2 * 9).map(|i| (i % 5) as f32 * 0.1 - 0.2).collect();
        let g = GraphProto {
            name: Some("conv".into()),
            node: vec![node("Conv", &["x", "w"], &["y"], "c")],
            input: vec![value_info_f32("x", &[Some(1), Some(2), Some(6), Some(6)])],
            output: vec![value_info_f32("y", &[Some(1), Some(4), Some(4), Some(4)])],
            initializer: vec![tensor_f32("w", &[4, 2, 3, 3], &w)],
            ..Default::default()
        };
        prost::Message::encode_to_vec(&model(g, 13))
    }

    #[test]
    fn a_float_conv_runs_as_float() {
        let g = OrtGraph::of(&conv_model(), 1).unwrap();
        assert_eq!((g.integer, g.qdq), (0, 0), "{g:?}");
        assert_eq!(g.float_compute, 1, "{g:?}");
        assert!(g.line().contains("no integer kernel"), "{}", g.line());
    }
}
