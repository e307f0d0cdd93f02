//! Integration tests of `optimize-pipeline` on the shipped digits models.

// Whole pipelines on digits-cnn: rows, verdicts, selection, the cache, resumption.
mod digits;
