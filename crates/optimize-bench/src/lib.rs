//! Measuring models (in progress).
#![deny(missing_docs)]
