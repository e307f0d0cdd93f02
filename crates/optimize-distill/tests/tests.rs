//! Integration tests of optimize-distill: recipes, export, whole runs on digits.

// Helpers: paths, recipes written into temp folders.
mod util;
// Recipe errors: unknown keys and wrong types by line and key, missing files, bad splits.
mod recipe;
// ONNX models read as students: same outputs in candle, unsupported graphs refused by node.
mod import;
// Students exported to ONNX give candle's outputs in tract and ONNX Runtime (within 1e-4).
mod export;
// Short seeded runs on digits: the loss falls, the same seed gives the same bytes, a run
// stopped and resumed ends where an uninterrupted one does.
mod end_to_end;
// Bad input: mismatched teacher and student, data that does not fit, a NaN loss.
mod bad_input;
