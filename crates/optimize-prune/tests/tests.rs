//! Integration tests of the pruning passes on hand-made graphs and the models in models/.

// Small models built in code, and running them in ONNX Runtime.
mod graphs;
// Magnitude and N:M: which weights are zeroed, patterns, bad settings, nothing to prune.
mod sparsity;
