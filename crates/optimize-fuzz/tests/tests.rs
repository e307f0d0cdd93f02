//! The fuzz crate's one integration-test binary.

// Each target for OPTIMIZE_FUZZ_SECONDS (default 8) from seed 0: no panics, no bad outputs.
mod targets;
// The corpus and every saved crash under regressions/, through every target that takes them.
mod regressions;
