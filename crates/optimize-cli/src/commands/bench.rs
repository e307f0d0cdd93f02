//! `optimize bench`: measure each (model, back end) pair in a child process, print a table or
//! JSON, and with --baseline (or --out-dir) write a report folder.
//!
//! The parent validates the flags into `optimize_bench::BenchConfig`s, then runs
//! `optimize bench-worker --config JSON` once per pair (the same executable); the child measures
//! with `Bench::run` and prints the result as one line of JSON. A fresh process per pair keeps
//! runs from sharing caches, allocator state and thread pools, and makes the peak RSS that run's
//! own. A child's error comes back as its one-line message and its exit code.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use optimize_bench::report::{human_bytes, Report};
use optimize_bench::{Bench, BenchConfig, BenchResult, Engine, Target};

use crate::cli::{BenchArgs, BenchWorkerArgs};
use crate::commands::args::parse_shape;
use crate::commands::print;
use crate::exit::{UsageError, BAD_INPUT};
use crate::table::Table;

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let plan = plan(args)?;
    if let Some(dir) = &plan.out_dir {
        check_writable(dir)?;
    }
    let show_progress = !args.json && std::io::stderr().is_terminal();
    let mut runs = Vec::with_capacity(plan.configs.len());
    for config in &plan.configs {
        if show_progress {
            eprintln!(
                "measuring {} on {} ...",
                config.model.display(),
                config.engine
            );
        }
        runs.push(measure(config)?);
    }
    let report = Report::new(runs, 0, command_line());
    let written = match &plan.out_dir {
        Some(dir) => Some(report.write(dir)?),
        None => None,
    };
    if args.json {
        print(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        print(&render(&report))?;
        if let (Some(dir), Some(_)) = (&plan.out_dir, &written) {
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

/// What to measure, in order, and where the report goes.
struct Plan {
    configs: Vec<BenchConfig>,
    out_dir: Option<PathBuf>,
}

/// Validates the flags into one config per (model, back end), the baseline's first.
fn plan(args: &BenchArgs) -> anyhow::Result<Plan> {
    let target: Target = args.target.parse()?;
    let engines: Vec<Engine> = if args.backend.is_empty() {
        vec![match target {
            Target::Cpu => Engine::Ort,
            Target::Edge => Engine::Tract,
            Target::Cuda => Engine::OrtCuda,
        }]
    } else {
        let mut engines = Vec::new();
        for name in &args.backend {
            let engine: Engine = name.trim().parse()?;
            if !engines.contains(&engine) {
                engines.push(engine);
            }
        }
        engines
    };
    let models: Vec<PathBuf> = args.baseline.iter().chain(&args.models).cloned().collect();
    if models.is_empty() {
        return Err(UsageError("no model to measure: give MODELS or --baseline".into()).into());
    }
    let min_duration = parse_duration(&args.min_duration)?;
    let mem_budget = args.mem_budget.as_deref().map(parse_bytes).transpose()?;
    let mut shapes = BTreeMap::new();
    for s in &args.shape {
        let (name, dims) = parse_shape(s)?;
        shapes.insert(name, dims);
    }
    let reference = args.reference.clone().or_else(|| args.baseline.clone());
    let mut configs = Vec::new();
    for model in &models {
        for &engine in &engines {
            let mut bench = Bench::new(model)
                .backend(engine)
                .target(target)
                .batch(args.batch)
                .warmup(args.warmup)
                .iterations(args.iterations)
                .min_duration(min_duration)
                .seed(args.seed);
            if let Some(t) = args.threads {
                bench = bench.threads(t);
            }
            for (name, dims) in &shapes {
                bench = bench.shape(name.clone(), dims.clone());
            }
            if let Some(eval) = &args.eval {
                bench = bench.eval(eval);
            }
            if let Some(r) = &reference {
                bench = bench.reference(r);
            }
            if let Some(b) = mem_budget {
                bench = bench.mem_budget(b);
            }
            bench.validate()?;
            configs.push(bench.config().clone());
        }
    }
    let out_dir = args.out_dir.clone().or_else(|| {
        args.baseline.as_ref().map(|b| {
            let file = b
                .file_name()
                .map_or("baseline".into(), |f| f.to_string_lossy().into_owned());
            Path::new("results").join(file.strip_suffix(".onnx").unwrap_or(&file))
        })
    });
    Ok(Plan { configs, out_dir })
}

/// Fails early, before any measuring, if the report folder cannot be made or written.
fn check_writable(dir: &Path) -> anyhow::Result<()> {
    let fail = |e: std::io::Error| optimize_bench::Error::Write {
        path: dir.to_path_buf(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(format!(".optimize-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(fail)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Runs one config in a child process and reads back its result.
fn measure(config: &BenchConfig) -> anyhow::Result<BenchResult> {
    let exe = std::env::current_exe().context("cannot find the optimize executable to re-run")?;
    let json = serde_json::to_string(config)?;
    let out = Command::new(&exe)
        .arg("bench-worker")
        .arg("--config")
        .arg(&json)
        .output()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let message = stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("error: "))
            .map(str::to_string)
            .unwrap_or_else(|| {
                let last = stderr.lines().last().unwrap_or("").trim().to_string();
                match out.status.code() {
                    Some(code) => format!("exited with code {code}: {last}"),
                    None => format!("was killed by a signal: {last}"),
                }
            });
        let message = format!(
            "measuring {} on {}: {message}",
            config.model.display(),
            config.engine
        );
        return Err(if out.status.code() == Some(i32::from(BAD_INPUT)) {
            UsageError(message).into()
        } else {
            anyhow::anyhow!(message)
        });
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).with_context(|| {
        format!(
            "measuring {} on {}: the worker's output is not a bench result",
            config.model.display(),
            config.engine
        )
    })
}

/// The command as typed, quoted for a POSIX shell.
fn command_line() -> String {
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

/// `2s`, `500ms`, `1.5` (seconds), `1m`.
fn parse_duration(s: &str) -> Result<Duration, UsageError> {
    let bad = || {
        UsageError(format!(
            "--min-duration `{s}`: expected a duration such as 2s, 500ms or 0"
        ))
    };
    let t = s.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    Duration::try_from_secs_f64(v * scale).map_err(|_| bad())
}

/// `256MiB`, `1GiB`, `500MB`, `64k`, `1000000` (bytes).
fn parse_bytes(s: &str) -> Result<u64, UsageError> {
    let bad = || {
        UsageError(format!(
            "--mem-budget `{s}`: expected a size such as 256MiB, 1GiB or 500MB"
        ))
    };
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "kb" => 1e3,
        "m" | "mib" => 1024.0 * 1024.0,
        "mb" => 1e6,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "gb" => 1e9,
        _ => return Err(bad()),
    };
    let v: f64 = num.parse().map_err(|_| bad())?;
    let bytes = v * scale;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("500MB").unwrap(), 500_000_000);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("12PB").is_err());
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
