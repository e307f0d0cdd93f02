//! placeholder
pub use optimize_onnx as onnx;
pub use optimize_runtime as runtime;
