//! The `optimize` command-line tool: parses arguments into the library jobs' configs, runs the
//! job, prints its report. The workflows themselves live in the library crates.
//!
//! Exit codes: 0 success, 1 failure while working, 2 bad usage or bad input.

mod cli;
mod commands;
mod exit;
mod progress;
mod table;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => exit::report(&err),
    }
}
