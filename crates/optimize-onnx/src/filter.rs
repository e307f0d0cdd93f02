//! Which nodes a pass may touch: the one node filter every pass shares.
//!
//! Users say "only these op types", "never these nodes", "never these op types" with the same
//! three flags whatever the pass (`--op-types`, `--exclude-nodes`, `--exclude-op-types`, the
//! words ONNX Runtime's tools use). A node is identified by its name, or by its first output's
//! name when it has none (ONNX node names are optional; output names are unique).
//!
//! ```
//! use optimize_onnx::build::node;
//! use optimize_onnx::filter::{Excluded, NodeFilter};
//!
//! let filter = NodeFilter {
//!     op_types: Some(["Conv".to_string()].into()),
//!     ..NodeFilter::default()
//! };
//! assert_eq!(filter.check(&node("Conv", &["x", "w"], &["y"], "conv1")), Ok(()));
//! assert_eq!(filter.check(&node("Gemm", &["x", "w"], &["z"], "fc")), Err(Excluded::NotSelected));
//! ```

use crate::proto::NodeProto;
use std::collections::BTreeSet;

/// Which nodes a pass may touch. In a config: `op_types = ["Conv"]`, `exclude_nodes = [...]`,
/// `exclude_op_types = [...]`, each optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
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

impl Excluded {
    /// The reason in words, for reports: `its op type was not selected`, `by name`, `by op type` (the same words whether the filter came from flags or a config).
    pub fn describe(self) -> &'static str {
        match self {
            Excluded::NotSelected => "its op type was not selected",
            Excluded::ByName => "by name",
            Excluded::ByOpType => "by op type",
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::node;

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
