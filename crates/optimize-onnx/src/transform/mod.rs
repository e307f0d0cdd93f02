//! Graph rewrites that every pass may want first. Each one is a function with a contract in its
//! doc comment: what it changes, what it leaves alone.

mod batchnorm;
mod constants;
mod fold;
mod ir;
mod opset;
mod rename;

pub use batchnorm::fold_batch_norms;
pub use constants::constants_to_initializers;
pub use fold::{fold_constant_subgraphs, MAX_FOLDED_BYTES};
pub use ir::{list_initializers_as_inputs, listed_note};
pub use opset::{
    changed_ops, upgrade_opset, Handling, OpsetUpgrade, RefusedNode, MAX_TARGET_OPSET,
    MIN_SOURCE_OPSET,
};
pub use rename::rename_value;
