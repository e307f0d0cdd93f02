//! One file per subcommand; each turns parsed arguments into library calls and prints the result.

mod args;
mod bench;
mod convert;
mod distill;
mod inspect;
mod pipeline;
mod prune;
mod quantize;
mod report;
mod verification;

use crate::cli::{Cli, Command};

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Convert(args) => convert::run(&args),
        Command::Quantize(args) => quantize::run(&args),
        Command::Prune(args) => prune::run(&args),
        Command::Distill(args) => distill::run(&args),
        Command::Pipeline(args) => pipeline::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Report(args) => report::run(&args),
        Command::BenchWorker(args) => bench::worker(&args),
    }
}

/// Prints a job's report: pretty JSON with `json`, else `render`'s text.
pub fn print_report<T: serde::Serialize>(
    json: bool,
    report: &T,
    render: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        print(&(serde_json::to_string_pretty(report)? + "\n"))
    } else {
        print(&render(report))
    }
}

/// Writes `text` to stdout, returning an error (rather than panicking, as `print!` does) when the
/// reader has gone away.
pub fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
