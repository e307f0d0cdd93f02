//! Quantization passes (in progress).
#![deny(missing_docs)]

pub mod observer;
