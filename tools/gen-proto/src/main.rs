//! Regenerates the committed ONNX protobuf types so that building `optimize` needs no `protoc`.
//!
//! Run from the workspace root: `cargo run -p gen-proto`.
//! Input: `crates/optimize-onnx/proto/onnx-ml.proto` (copied verbatim from the `onnx` PyPI wheel).
//! Output: `crates/optimize-onnx/src/proto/onnx.rs`.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/optimize-onnx");
    let proto_dir = root.join("proto");
    let out_dir = root.join("src/proto");
    let fds = protox::compile([proto_dir.join("onnx-ml.proto")], [&proto_dir])?;
    let mut config = prost_build::Config::new();
    config.out_dir(&out_dir);
    // `bytes::Bytes` lets large raw_data buffers be sliced without copying.
    config.bytes([".onnx.TensorProto.raw_data"]);
    config.compile_fds(fds)?;
    println!("wrote {}", out_dir.join("onnx.rs").display());
    Ok(())
}
