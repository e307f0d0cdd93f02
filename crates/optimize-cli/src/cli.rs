//! Argument types (clap derive). Parsing only: nothing here reads files.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

const ABOUT: &str = "Make trained models smaller and faster, and prove it with measurements.";

const EXAMPLES: &str = "\
Examples:
  optimize inspect models/digits-cnn.onnx
  optimize inspect --json models/digits-mlp.onnx | jq .parameters
  optimize convert big.onnx -o big-ext.onnx --external-data";

/// The `optimize` command line.
#[derive(Debug, Parser)]
#[command(name = "optimize", version, about = ABOUT, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Summarize a model: versions, inputs/outputs, operators, parameters, precision.
    #[command(after_help = "\
Example:
  optimize inspect models/digits-cnn.onnx
  optimize inspect --json models/digits-cnn.onnx > summary.json

The JSON schema (optimize.inspect/1) is documented in the optimize-onnx crate, module `inspect`.")]
    Inspect(InspectArgs),
    /// Re-save a model, inlining its weights or moving them to an external data file.
    #[command(after_help = "\
Example:
  optimize convert model.onnx -o model-ext.onnx --external-data
  (writes model-ext.onnx and model-ext.onnx.data; weights ≥ 1 KiB go to the .data file)

Models over protobuf's 2 GiB limit get external data automatically.")]
    Convert(ConvertArgs),
}

/// `optimize inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The .onnx file to summarize.
    pub model: PathBuf,
    /// Print JSON (schema optimize.inspect/1) instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// `optimize convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The .onnx file to read (never modified).
    pub model: PathBuf,
    /// Where to write the result.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Store tensors of 1 KiB or more in <OUTPUT>.data beside the model.
    #[arg(long)]
    pub external_data: bool,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parses the process arguments. On `--help`/`--version` prints and returns exit code 0; on a
/// usage error prints clap's message and returns exit code 2.
pub fn parse() -> Result<Cli, ExitCode> {
    Cli::try_parse().map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(crate::exit::BAD_INPUT)
        } else {
            ExitCode::SUCCESS
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn convert_requires_output() {
        assert!(Cli::try_parse_from(["optimize", "convert", "m.onnx"]).is_err());
        let cli = Cli::try_parse_from([
            "optimize",
            "convert",
            "m.onnx",
            "-o",
            "x.onnx",
            "--external-data",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Convert(ConvertArgs {
                external_data: true,
                ..
            })
        ));
    }
}
