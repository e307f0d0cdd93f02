//! Integration tests of the pruning passes on hand-made graphs and the models in models/.

// Small models built in code, and running them in ONNX Runtime.
mod graphs;
// Magnitude and N:M: which weights are zeroed, patterns, bad settings, nothing to prune.
mod sparsity;
// Structured channel pruning: groups, shapes, reasons, zeroed-then-removed gives the same outputs.
mod channel;
// Every model in models/: zeroed-then-removed channels give the same outputs in ONNX Runtime.
mod models;
// Low-rank factorization: full rank reproduces outputs; layers it would grow are left alone.
mod low_rank;
// Gradual magnitude pruning of candle weights while training (feature `candle`).
#[cfg(feature = "candle")]
mod schedule;
