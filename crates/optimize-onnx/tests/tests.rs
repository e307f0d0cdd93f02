//! Integration tests of optimize-onnx on real files.

// Shared helpers: workspace paths, the project's Python, temp folders.
mod util;
// Load -> save keeps every field, checked by the official onnx package.
mod lossless;
// External data: reading, writing, the 2 GiB switch, path and range checks.
mod external_data;
// Cut and corrupted files: every outcome is Ok or a named error, never a panic.
mod corrupt;
// Opset upgrade: each rule and the PaddleOCR models, checked by onnx.checker and ONNX Runtime.
mod opset;
