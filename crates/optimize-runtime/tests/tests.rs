//! Integration tests for optimize-runtime, against a real ONNX Runtime (no mocks).
//!
//! They need the library: run `scripts/setup-venv.sh` once, or set `ORT_DYLIB_PATH`.

// Helpers: paths to golden cases and models, tensor shorthands.
mod util;

// OrtSession on the golden cases in tests/cases: metadata, arithmetic, dtypes, input errors.
mod session;

// The committed digits-mlp model, checked against values from Python onnxruntime.
mod digits;

// The Runtime/Model trait objects.
mod runtime;

// TractSession: the digits models against ONNX Runtime, symbolic batch and its plan cache,
// intermediate outputs, errors naming the input or the operator.
mod tract;

// The "test" tier of models/manifest.json: tract against ONNX Runtime, or the fallback.
mod zoo;

// load_model: tract first, ONNX Runtime when tract lacks an operator, errors when both fail.
mod backend;
