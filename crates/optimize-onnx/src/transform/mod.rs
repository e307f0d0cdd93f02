//! Graph rewrites that every pass may want first. Each one is a function with a contract in its
//! doc comment: what it changes, what it leaves alone.

mod constants;

pub use constants::constants_to_initializers;
