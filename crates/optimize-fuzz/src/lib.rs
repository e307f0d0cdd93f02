//! Fuzzing for `optimize` on the stable toolchain: seeded, structure-aware mutators of ONNX
//! models and calibration data, and one target per entry point a file reaches.
//!
//! What it is for: finding inputs that make the loader, the calibration-data readers or a pass
//! panic instead of returning an error (a panic is a bug: see STYLE.md, "Errors"). It is not a
//! coverage-guided fuzzer; cargo-fuzz needs nightly and CI has stable only. Instead every input
//! is drawn from a `u64` seed, so any execution replays from its seed alone, and the mutators
//! know the formats well enough to get past the parsers into the passes.
//!
//! - [`rng`]: the seeded stream every mutator draws from.
//! - [`model`]: structure-aware mutations of a `ModelProto` (dims, data, dtypes, nodes,
//!   wiring, op types, attributes, versions, names, subgraphs, constants, external data).
//! - [`bytes`]: byte-level mutations of an encoded file (bit flips, truncation, splices).
//! - [`data`]: calibration data cases (`.npy`, `.npz`, safetensors, folders) with damage at
//!   every level.
//! - [`corpus`]: the seed models (`models/digits-*.onnx` and the hand-built graphs committed
//!   under `corpus/`).
//! - [`runtime`]: a synthetic runtime that stands in for tract and ONNX Runtime during
//!   calibration.
//! - [`target`]: the six targets ([`Target`]): `load`, `data`, `quantize-dynamic`,
//!   `quantize-static`, `fp16`, `prune`.
//! - [`run`]: running a target for a time budget inside `catch_unwind`, saving crashing inputs
//!   to `crashes/` for reproduction; fixed ones move to `regressions/`, which the tests replay.
//!
//! The tests (`tests/`) run every target for `OPTIMIZE_FUZZ_SECONDS` (8 by default) and replay
//! the corpus and the regressions; `scripts/fuzz.sh [SECONDS]` runs the `optimize-fuzz` binary
//! in release mode for longer (600 seconds per target by default).
//!
//! ```
//! use optimize_fuzz::corpus::Corpus;
//! use optimize_fuzz::run::{fuzz, Budget};
//! use optimize_fuzz::Target;
//!
//! let corpus = Corpus::load()?;
//! let budget = Budget { max_execs: Some(5), ..Budget::seconds(0.0) };
//! let stats = fuzz(Target::Load, &corpus, &budget, None, &mut |_| {});
//! assert_eq!(stats.execs, 5);
//! assert!(stats.panics.is_empty(), "{:?}", stats.panics);
//! # Ok::<(), String>(())
//! ```
#![deny(missing_docs)]

pub mod bytes;
pub mod corpus;
pub mod data;
pub mod model;
pub mod rng;
pub mod run;
pub mod runtime;
pub mod target;

pub use target::{Input, Outcome, Target};
