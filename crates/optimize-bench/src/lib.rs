//! Measuring models for `optimize`: how close, how accurate, how fast, how big.
//!
//! Measurement returns data and never prints, so the CLI, reports and sweeps all share it.
//! Today: [`fidelity`] (a model's outputs against a reference model's). Latency, memory and
//! reports follow.
#![deny(missing_docs)]

pub mod fidelity;

pub use fidelity::{FidelityAccumulator, OutputFidelity};
