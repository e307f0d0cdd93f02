//! What to quantize and how: [`QuantConfig`] and the node filter every pass shares.

use crate::observer::CalibrationMethod;
use crate::scale::QuantType;
use optimize_onnx::proto::NodeProto;
use std::collections::BTreeSet;

/// Which nodes a pass may touch: "only these op types", "never these nodes", "never these op types".
///
/// A node is identified by its name, or by its first output's name when it has none (ONNX node
/// names are optional; output names are unique).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFilter {
    /// When set, only nodes of these op types are candidates.
    pub op_types: Option<BTreeSet<String>>,
    /// Node names (or first-output names) never touched.
    pub exclude_nodes: BTreeSet<String>,
    /// Op types never touched.
    pub exclude_op_types: BTreeSet<String>,
}

/// Why a filter turned a node away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Excluded {
    /// Its op type is not in `op_types`.
    NotSelected,
    /// Its name is in `exclude_nodes`.
    ByName,
    /// Its op type is in `exclude_op_types`.
    ByOpType,
}

impl NodeFilter {
    /// The name a filter matches a node by.
    pub fn node_id(node: &NodeProto) -> &str {
        match node.name() {
            "" => node.output.first().map_or("", |s| s.as_str()),
            name => name,
        }
    }

    /// `Ok` if the node may be touched, else why not.
    pub fn check(&self, node: &NodeProto) -> Result<(), Excluded> {
        if self.exclude_nodes.contains(Self::node_id(node)) {
            return Err(Excluded::ByName);
        }
        if self.exclude_op_types.contains(node.op_type()) {
            return Err(Excluded::ByOpType);
        }
        match &self.op_types {
            Some(ops) if !ops.contains(node.op_type()) => Err(Excluded::NotSelected),
            _ => Ok(()),
        }
    }
}

/// Settings for int8 quantization, dynamic or static.
#[derive(Debug, Clone)]
pub struct QuantConfig {
    /// One scale per output channel for weights of Conv, MatMul and Gemm (needs opset 13 for QDQ).
    pub per_channel: bool,
    /// How activation ranges are chosen from calibration data (static only).
    pub method: CalibrationMethod,
    /// Symmetric activations (int8, zero point 0) instead of asymmetric uint8.
    pub symmetric_activations: bool,
    /// Which nodes to quantize.
    pub filter: NodeFilter,
    /// Histogram bins of the percentile, entropy and mse observers.
    pub bins: usize,
    /// Dynamic mode: quantize Conv activations at run time with `ConvInteger` instead of
    /// storing int8 weights dequantized before a float Conv. Off by default: ONNX Runtime's CPU
    /// `ConvInteger` is several times slower than a float Conv.
    pub conv_integer: bool,
    /// Static mode: correct Conv/Gemm biases for the mean error int8 weights introduce,
    /// `b' = b − (W_q − W)·E[x]`, with `E[x]` the per-channel means of the input seen in
    /// calibration (bias correction, Nagel et al. 2019).
    pub bias_correction: bool,
}

impl Default for QuantConfig {
    fn default() -> Self {
        QuantConfig {
            per_channel: false,
            method: CalibrationMethod::MinMax,
            symmetric_activations: false,
            filter: NodeFilter::default(),
            bins: 2048,
            conv_integer: false,
            bias_correction: false,
        }
    }
}

impl QuantConfig {
    /// The integer type of activations: uint8 asymmetric (ONNX Runtime's default), or int8 when
    /// symmetric.
    pub fn activation_type(&self) -> QuantType {
        if self.symmetric_activations {
            QuantType::I8
        } else {
            QuantType::U8
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use optimize_onnx::build::node;

    #[test]
    fn filter_by_type_name_and_output() {
        let conv = node("Conv", &["x", "w"], &["y"], "conv1");
        let unnamed = node("MatMul", &["a", "b"], &["mm_out"], "");
        let mut f = NodeFilter::default();
        assert_eq!(f.check(&conv), Ok(()));
        f.op_types = Some(["MatMul".to_string()].into());
        assert_eq!(f.check(&conv), Err(Excluded::NotSelected));
        assert_eq!(f.check(&unnamed), Ok(()));
        f.exclude_nodes.insert("mm_out".into());
        assert_eq!(f.check(&unnamed), Err(Excluded::ByName));
        f.op_types = None;
        f.exclude_op_types.insert("Conv".into());
        assert_eq!(f.check(&conv), Err(Excluded::ByOpType));
    }
}
