//! The `optimize` command-line tool: parses arguments, calls the library crates, prints results.
//!
//! Exit codes: 0 success, 1 failure while working, 2 bad usage or bad input.

mod cli;
mod commands;
mod exit;
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
