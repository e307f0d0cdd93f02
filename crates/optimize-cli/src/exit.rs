//! The one place errors become exit codes and messages.

use std::process::ExitCode;

/// Exit code for a failure while working (I/O error on output, runtime failure).
pub const FAILURE: u8 = 1;
/// Exit code for bad usage or bad input (missing file, malformed model, bad flag value).
pub const BAD_INPUT: u8 = 2;

/// An error the command line itself detected in its arguments.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Exit code after Ctrl-C (128 + SIGINT), once the work in progress has been saved.
pub const INTERRUPTED: u8 = 130;

/// The user interrupted a long job, which saved its state first; the message says how to resume.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

/// A job's output failed its verification policy: nothing was written at the output path
/// (exit 1, a failure of the work, not of the input).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Rejected(pub String);

impl Rejected {
    /// The message for an output at `output` rejected by `verdict`, kept at `kept` if asked.
    pub fn of(output: &str, verdict: Option<&optimize_bench::Verdict>, kept: Option<&str>) -> Self {
        let why = verdict.map_or("verification failed".to_string(), |v| v.failures.join("; "));
        let kept = match kept {
            Some(k) => format!("; the rejected model is at {k}"),
            None => "; pass --keep-rejected to keep it beside the output".to_string(),
        };
        Rejected(format!(
            "{output} was not written: it failed verification ({why}); loosen the bound with --max-drop / --min-cosine / --max-abs if this is acceptable{kept}"
        ))
    }
}

/// The flag that fixes a library error, for the errors a flag fixes: libraries describe the
/// problem in their own terms, the command line adds how to act on it here.
fn hint(err: &anyhow::Error) -> Option<&'static str> {
    for e in err.chain() {
        match e.downcast_ref::<optimize_quant::Error>() {
            Some(optimize_quant::Error::AlreadyQuantized { .. }) => {
                return Some("use --force to quantize anyway")
            }
            Some(optimize_quant::Error::NothingToQuantize { .. }) => {
                return Some("use --force to write the model anyway")
            }
            Some(
                optimize_quant::Error::OpsetTooOld { .. }
                | optimize_quant::Error::OpsetUpgradeFailed { .. },
            ) => {
                return Some(
                    "`optimize convert MODEL --opset N` upgrades a model and names each node it \
                     cannot carry over",
                )
            }
            _ => {}
        }
    }
    None
}

/// Prints the error chain on one line and picks the exit code from the error's kind.
pub fn report(err: &anyhow::Error) -> ExitCode {
    // A closed pipe (`optimize inspect m.onnx | head`) is the reader's choice, not our failure.
    if err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    }) {
        return ExitCode::SUCCESS;
    }
    let chain: Vec<String> = err.chain().map(|e| e.to_string()).collect();
    // Library errors already name the file; drop context lines that repeat their message.
    let mut line = String::new();
    for part in &chain {
        if line.contains(part.as_str()) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(part);
    }
    if let Some(h) = hint(err) {
        line.push_str(&format!(" ({h})"));
    }
    eprintln!("error: {line}");
    ExitCode::from(code(err))
}

fn code(err: &anyhow::Error) -> u8 {
    for e in err.chain() {
        if e.downcast_ref::<UsageError>().is_some() {
            return BAD_INPUT;
        }
        if e.downcast_ref::<Interrupted>().is_some() {
            return INTERRUPTED;
        }
        if e.downcast_ref::<Rejected>().is_some() {
            return FAILURE;
        }
        if let Some(optimize_prune::Error::Interrupted { .. }) = e.downcast_ref() {
            return INTERRUPTED;
        }
        if let Some(e) = e.downcast_ref::<optimize_pipeline::Error>() {
            return match e {
                optimize_pipeline::Error::Cancelled { .. } => INTERRUPTED,
                e if e.is_input() => BAD_INPUT,
                _ => FAILURE,
            };
        }
        if let Some(e) = e.downcast_ref::<optimize_distill::Error>() {
            return if e.is_input_error() {
                BAD_INPUT
            } else {
                FAILURE
            };
        }
        if let Some(e) = e.downcast_ref::<optimize_onnx::Error>() {
            return if e.is_input_error() {
                BAD_INPUT
            } else {
                FAILURE
            };
        }
        if let Some(e) = e.downcast_ref::<optimize_quant::Error>() {
            return if e.is_input_error() {
                BAD_INPUT
            } else {
                FAILURE
            };
        }
        if let Some(e) = e.downcast_ref::<optimize_prune::Error>() {
            return if e.is_input_error() {
                BAD_INPUT
            } else {
                FAILURE
            };
        }
        if let Some(e) = e.downcast_ref::<optimize_bench::Error>() {
            return if e.is_input_error() {
                BAD_INPUT
            } else {
                FAILURE
            };
        }
        if e.downcast_ref::<optimize_data::Error>().is_some() {
            return BAD_INPUT;
        }
    }
    FAILURE
}
