//! The CLI's [`Progress`]: an indicatif bar per phase on a terminal (hidden with `--json`, in
//! pipes and with `NO_COLOR`), notes as lines on stderr, and Ctrl-C as cancellation.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use optimize_job::{Cancel, Progress};
use std::io::IsTerminal;

/// Progress bars on stderr and Ctrl-C for one job.
pub struct Bars {
    bar: ProgressBar,
    terminal: bool,
    json: bool,
    cancel: Cancel,
}

impl Bars {
    /// Bars for a command; `json` hides them (stdout is for the report). The first Ctrl-C
    /// asks the job to stop at its next safe point (it saves what it has); a second one ends
    /// the process at once.
    pub fn new(json: bool) -> Self {
        let terminal =
            !json && std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let cancel = Cancel::new();
        {
            let cancel = cancel.clone();
            // A handler set earlier in this process (a job run twice) keeps working.
            let _ = ctrlc::set_handler(move || {
                if cancel.raise() {
                    std::process::exit(i32::from(crate::exit::INTERRUPTED));
                }
            });
        }
        let target = if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Bars {
            bar: ProgressBar::with_draw_target(None, target),
            terminal,
            json,
            cancel,
        }
    }

    /// Clears the bar; call before printing the report.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bars {
    fn phase(&mut self, name: &str, total: Option<u64>) {
        self.bar.reset();
        let template = match total {
            Some(_) => "{prefix} {bar:30} {pos}/{len} [{elapsed}, ETA {eta}] {msg}",
            None => "{spinner} {prefix} [{elapsed}] {msg}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.bar.set_style(style);
        }
        self.bar.set_length(total.unwrap_or(0));
        self.bar.set_prefix(name.to_string());
        self.bar.set_message("");
        if total.is_none() && self.terminal {
            self.bar
                .enable_steady_tick(std::time::Duration::from_millis(120));
        }
    }

    fn advance(&mut self, done: u64, message: &str) {
        self.bar.set_position(done);
        self.bar.set_message(message.to_string());
    }

    fn note(&mut self, line: &str) {
        if self.terminal {
            self.bar.println(line);
        } else if !self.json {
            eprintln!("{line}");
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel.is_raised()
    }
}
