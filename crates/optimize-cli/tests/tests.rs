//! Integration tests: the real `optimize` binary, run in fresh temp folders.

// Running the binary and showing expected against actual output.
mod util;
// `optimize inspect` on real models, tables and JSON.
mod inspect;
// Bad input: one clear line, exit code 2, no panic, no output file.
mod bad_input;
// Every model in models/: convert -> onnx.checker accepts, same fields, bit-identical ORT outputs.
mod roundtrip;
// `optimize quantize` on every model in every mode, checked in onnx.checker and ONNX Runtime.
mod quantize;
// `optimize quantize` on bad input: data that does not fit, NaN/Inf, old opsets, overwrites.
mod quantize_bad_input;
// `optimize quantize --auto`: meets the goal or says so, always writes a model, reports its search.
mod quantize_auto;
// Outputs judged by detections (--output-layout) and the user's script (--metric-command).
mod task_metric;
// `optimize bench` and `optimize report`: bad input, report files (SVG, PNG, JSON schema), targets.
mod bench;
// `optimize prune`: every method on the digits and real models, checked by onnx.checker and ONNX Runtime.
mod prune;
// `optimize prune` on bad input: sparsity, pattern, nothing to prune, flags of another method.
mod prune_bad_input;
// `optimize pipeline` on digits: bad recipes, an SLA nobody meets, SIGKILL and resume.
mod pipeline;
// `optimize distill` on digits: outputs, bad recipes, Ctrl-C and resume.
mod distill;
// Every example command of every --help runs as printed, in order.
mod help_examples;
