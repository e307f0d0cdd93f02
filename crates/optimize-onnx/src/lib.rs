//! placeholder
pub mod proto { include!("proto/onnx.rs"); }
