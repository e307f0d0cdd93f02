//! `optimize bench`: flags → [`BenchJob`] (each pair measured in a child process:
//! `optimize bench-worker --config JSON`, the same executable) → table or JSON, and with
//! --baseline (or --out-dir) a report folder.

use std::path::Path;

use anyhow::Context;
use optimize_bench::job::{default_out_dir, BenchJob, Isolation};
use optimize_bench::report::{human_bytes, Report};
use optimize_bench::{Bench, BenchConfig, Engine, Target};

use crate::cli::{BenchArgs, BenchWorkerArgs};
use crate::commands::args::parse_shape;
use crate::commands::print;
use crate::exit::UsageError;
use crate::progress::Bars;
use crate::table::Table;

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let job = job(args)?;
    let mut bars = Bars::new(args.json);
    let report = job.run(&mut bars);
    bars.finish();
    let report = report?;
    if args.json {
        print(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        print(&render(&report))?;
        if let Some(dir) = &job.out_dir {
            print(&format!("\nreport: {}\n", dir.join("report.md").display()))?;
        }
    }
    Ok(())
}

/// The hidden child: measure one config, print its result as one line of JSON.
pub fn worker(args: &BenchWorkerArgs) -> anyhow::Result<()> {
    let config: BenchConfig = serde_json::from_str(&args.config)
        .map_err(|e| UsageError(format!("bench-worker: bad --config: {e}")))?;
    let result = Bench::from_config(config).run()?;
    print(&(serde_json::to_string(&result)? + "\n"))
}

/// The flags as the library's job; the job validates them into one config per pair.
fn job(args: &BenchArgs) -> anyhow::Result<BenchJob> {
    let target: Target = args.target.parse()?;
    let mut engines = Vec::new();
    for name in &args.backend {
        engines.push(name.trim().parse::<Engine>()?);
    }
    let mut shapes = std::collections::BTreeMap::new();
    for s in &args.shape {
        let (name, dims) = parse_shape(s)?;
        shapes.insert(name, dims);
    }
    let exe = std::env::current_exe().context("cannot find the optimize executable to re-run")?;
    let job = BenchJob {
        baseline: args.baseline.clone(),
        models: args.models.clone(),
        engines,
        target,
        threads: args.threads,
        batch: args.batch,
        warmup: args.warmup,
        iterations: args.iterations,
        min_duration: args.min_duration,
        shapes,
        eval: args.eval.clone(),
        reference: args.reference.clone(),
        mem_budget: args.mem_budget.as_deref().map(parse_bytes).transpose()?,
        seed: args.seed,
        out_dir: args
            .out_dir
            .clone()
            .or_else(|| args.baseline.as_deref().map(default_out_dir)),
        score: true,
        command: command_line(),
        isolation: Isolation::Subprocess {
            program: exe,
            args: vec!["bench-worker".into()],
        },
    };
    if job.baseline.is_none() && job.models.is_empty() {
        return Err(UsageError("no model to measure: give MODELS or --baseline".into()).into());
    }
    Ok(job)
}

/// The command as typed, quoted for a POSIX shell.
pub(super) fn command_line() -> String {
    let args: Vec<String> = std::env::args().collect();
    let quoted: Vec<String> = args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let a = if i == 0 {
                Path::new(a)
                    .file_name()
                    .filter(|_| !a.contains('/'))
                    .map_or(a.clone(), |f| f.to_string_lossy().into_owned())
            } else {
                a.clone()
            };
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect();
    quoted.join(" ")
}

fn render(report: &Report) -> String {
    let mut t = Table::new(&[
        "model",
        "back end",
        ">size",
        ">p50 ms",
        ">p90 ms",
        ">p99 ms",
        ">CV",
        ">p50 ×",
        ">peak RSS",
        ">top-1",
        ">fidelity",
    ]);
    for (run, cmp) in report.runs.iter().zip(&report.comparisons) {
        let l = &run.latency;
        t.row(vec![
            run.model.name.clone(),
            run.engine.to_string(),
            human_bytes(run.model.bytes),
            format!("{:.4}", l.p50_ms),
            format!("{:.4}", l.p90_ms),
            format!("{:.4}", l.p99_ms),
            format!("{:.1}%", l.cv * 100.0),
            format!("{:.2}", cmp.p50_ratio),
            run.memory.peak_rss_bytes.map_or("-".into(), human_bytes),
            run.accuracy
                .as_ref()
                .map_or("-".into(), |a| format!("{:.2}%", a.top1 * 100.0)),
            run.fidelity
                .as_ref()
                .and_then(|f| f.headline())
                .map_or("-".into(), |(v, what)| {
                    if what == "top-1 agreement" {
                        format!("{:.1}% agree", v * 100.0)
                    } else {
                        format!("cos {v:.5}")
                    }
                }),
        ]);
    }
    let mut out = t.render(0);
    if let Some(first) = report.runs.first() {
        out += &format!(
            "\n{} timed calls or more per run after {} warm-up, batch {}, inputs: {}; harness overhead {:.0} ns per call\n",
            first.latency.iterations.min(
                report.runs.iter().map(|r| r.latency.iterations).min().unwrap_or(0)
            ),
            first.latency.warmup,
            first.batch,
            first.input_source,
            first.latency.overhead_ns
        );
    }
    for note in report.notes() {
        out += &format!("warning: {note}\n");
    }
    out
}

/// `256MiB`, `1GiB`, `500MB`, `1000000` (bytes); at least one byte.
fn parse_bytes(s: &str) -> Result<u64, UsageError> {
    match s.trim().parse::<bytesize::ByteSize>() {
        Ok(size) if size.as_u64() >= 1 => Ok(size.as_u64()),
        _ => Err(UsageError(format!(
            "--mem-budget `{s}`: expected a size such as 256MiB, 1GiB or 500MB"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("500MB").unwrap(), 500_000_000);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert_eq!(parse_bytes("1.5KiB").unwrap(), 1536);
        assert_eq!(parse_bytes("64k").unwrap(), 64_000);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("12XB").is_err());
    }

    #[test]
    fn shapes() {
        assert_eq!(
            parse_shape("x=1x3x224x224").unwrap(),
            ("x".to_string(), vec![1, 3, 224, 224])
        );
        assert_eq!(parse_shape("sr=").unwrap(), ("sr".to_string(), vec![]));
        assert_eq!(
            parse_shape("a=b=2,3").unwrap(),
            ("a=b".to_string(), vec![2, 3])
        );
        assert!(parse_shape("x").is_err());
        assert!(parse_shape("x=1xa").is_err());
        assert!(parse_shape("=1").is_err());
    }
}
