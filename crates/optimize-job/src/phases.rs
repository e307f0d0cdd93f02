//! [`Phases`]: wall time of each phase of a job, in order, for its report.

use std::time::Instant;

/// Wall time of each phase of a job, in the order they ran.
#[derive(Debug, Clone)]
pub struct Phases {
    clock: Instant,
    laps: Vec<(String, f64)>,
}

impl Phases {
    /// Starts the clock for the first phase.
    pub fn start() -> Self {
        Phases {
            clock: Instant::now(),
            laps: Vec::new(),
        }
    }

    /// Ends the current phase as `name` and starts the next.
    pub fn lap(&mut self, name: &str) {
        self.laps.push((
            name.to_string(),
            self.clock.elapsed().as_secs_f64() * 1000.0,
        ));
        self.clock = Instant::now();
    }

    /// The phases so far: name and milliseconds.
    pub fn laps(&self) -> &[(String, f64)] {
        &self.laps
    }

    /// The phases, for a report.
    pub fn into_laps(self) -> Vec<(String, f64)> {
        self.laps
    }
}
