//! [`Progress`]: the one small trait through which a job tells its caller what it is doing, and
//! learns that it should stop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Receives a job's phases and progress, and tells it whether to stop.
///
/// Every method has a default that does nothing, so an implementation overrides only what it
/// shows. Jobs call [`Progress::cancelled`] at points where stopping keeps their work: between
/// calibration samples, between search trials, after a training batch (which then checkpoints).
pub trait Progress {
    /// A new phase began (`load`, `calibrate`, `search`, `verify`, `teacher epoch 3/10`, ...),
    /// with the number of steps it has when known.
    fn phase(&mut self, _name: &str, _total: Option<u64>) {}
    /// `done` steps of the current phase are finished; `message` is a short status (may be
    /// empty).
    fn advance(&mut self, _done: u64, _message: &str) {}
    /// A line worth keeping in a log: an epoch's summary, a trial's result.
    fn note(&mut self, _line: &str) {}
    /// True once the job should stop at its next safe point.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Shows nothing and never cancels.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {}

/// A cancellation flag shared between a job's [`Progress`] and whoever may stop it (a Ctrl-C
/// handler, a server's request, a pipeline's deadline).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag that is not raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the flag; returns whether it was already raised.
    pub fn raise(&self) -> bool {
        self.0.swap(true, Ordering::SeqCst)
    }

    /// Whether the flag is raised.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Progress for Cancel {
    fn cancelled(&self) -> bool {
        self.is_raised()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_is_shared_between_clones() {
        let flag = Cancel::new();
        let seen_by_job = flag.clone();
        assert!(!seen_by_job.cancelled());
        assert!(!flag.raise());
        assert!(seen_by_job.cancelled());
        assert!(flag.raise(), "a second raise reports the first");
    }
}
