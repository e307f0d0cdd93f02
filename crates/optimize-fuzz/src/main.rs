//! `optimize-fuzz`: runs the fuzz targets for longer than the tests do, replays saved inputs,
//! rewrites the committed corpus.
//!
//! ```text
//! optimize-fuzz run [--seconds N] [--targets load,fp16] [--first-seed S] [--hang-seconds H]
//! optimize-fuzz one TARGET SEED          run one seed without catching its panic
//! optimize-fuzz replay PATH...           replay saved inputs (files or folders of them)
//! optimize-fuzz write-corpus             rewrite crates/optimize-fuzz/corpus/*.onnx
//! ```

use optimize_fuzz::corpus::{corpus_dir, write_hand_built, Corpus};
use optimize_fuzz::run::{crash_dir, fuzz, limit_memory, read_input, run_one, Budget};
use optimize_fuzz::{Outcome, Target};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage:
  optimize-fuzz run [--seconds N] [--targets load,data,...] [--first-seed S] [--hang-seconds H]
  optimize-fuzz one TARGET SEED
  optimize-fuzz replay PATH...
  optimize-fuzz write-corpus
targets: load, data, quantize-dynamic, quantize-static, fp16, prune";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("optimize-fuzz: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let Some((command, rest)) = args.split_first() else {
        return Err("no command".into());
    };
    match command.as_str() {
        "run" => fuzz_targets(rest),
        "one" => one(rest),
        "replay" => replay(rest),
        "write-corpus" => {
            for p in write_hand_built(&corpus_dir()).map_err(|e| e.to_string())? {
                println!("wrote {}", p.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command '{other}'")),
    }
}

fn parse_targets(list: &str) -> Result<Vec<Target>, String> {
    list.split(',')
        .map(|t| Target::from_name(t.trim()).ok_or_else(|| format!("unknown target '{t}'")))
        .collect()
}

fn fuzz_targets(args: &[String]) -> Result<ExitCode, String> {
    let mut seconds = 600.0;
    let mut targets = Target::ALL.to_vec();
    let mut first_seed = None;
    let mut hang = 30.0;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--seconds" => seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--targets" => targets = parse_targets(value()?)?,
            "--hang-seconds" => {
                hang = value()?
                    .parse()
                    .map_err(|e| format!("--hang-seconds: {e}"))?
            }
            "--first-seed" => {
                first_seed = Some(value()?.parse().map_err(|e| format!("--first-seed: {e}"))?)
            }
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    // A fresh region of the seed space for each run unless told; the seed is printed so the
    // run can be repeated.
    let first_seed = first_seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() << 20)
    });
    limit_memory(8 << 30);
    let corpus = Corpus::load()?;
    println!(
        "corpus: {} models; {} s per target; first seed {first_seed}",
        corpus.seeds.len(),
        seconds
    );
    let budget = Budget {
        time: Duration::from_secs_f64(seconds),
        first_seed,
        min_execs: 1,
        max_execs: None,
        hang: Duration::from_secs_f64(hang),
    };
    let crashes = crash_dir();
    let mut total_failures = 0;
    let mut lines = Vec::new();
    for target in targets {
        let stats = fuzz(target, &corpus, &budget, Some(&crashes), &mut |s| {
            eprintln!("  … {}", s.line());
        });
        println!("{}", stats.line());
        for (e, n) in stats.errors.iter().take(6) {
            println!("    {n:>8}  {e}");
        }
        for f in stats.failures() {
            println!(
                "  FAIL seed {}: {}\n    saved: {}",
                f.seed,
                f.message,
                f.saved
                    .as_ref()
                    .map_or("(not saved)".into(), |p| p.display().to_string())
            );
        }
        total_failures += stats.failures().len();
        lines.push(stats.line());
    }
    println!("\nsummary (first seed {first_seed}):");
    for l in &lines {
        println!("{l}");
    }
    Ok(if total_failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn one(args: &[String]) -> Result<ExitCode, String> {
    let [target, seed] = args else {
        return Err("one needs TARGET SEED".into());
    };
    let target = Target::from_name(target).ok_or_else(|| format!("unknown target '{target}'"))?;
    let seed: u64 = seed.parse().map_err(|e| format!("seed: {e}"))?;
    let corpus = Corpus::load()?;
    let input = target.generate(seed, &corpus);
    let saved = optimize_fuzz::run::save_input(&input, target, seed, &crash_dir())
        .map_err(|e| e.to_string())?;
    println!("input saved to {}", saved.display());
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    // Not caught: the panic prints with its backtrace (RUST_BACKTRACE=1).
    let outcome = target.execute(seed, &input, scratch.path());
    println!("{outcome:?}");
    Ok(ExitCode::SUCCESS)
}

fn replay(args: &[String]) -> Result<ExitCode, String> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for a in args {
        let p = Path::new(a);
        if p.is_dir() && !p.join("case.json").exists() {
            let mut inner: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{a}: {e}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "onnx"))
                .collect();
            inner.sort();
            paths.extend(inner);
        } else {
            paths.push(p.to_path_buf());
        }
    }
    let mut failed = 0;
    for p in &paths {
        let (named, input) = read_input(p)?;
        let runs: Vec<(Target, u64)> = match named {
            Some(n) => vec![n],
            None => Target::ALL.iter().map(|&t| (t, 0)).collect(),
        };
        for (target, seed) in runs {
            let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
            match run_one(target, seed, &input, scratch.path()) {
                Ok(Outcome::BadOutput(e)) | Err(e) => {
                    failed += 1;
                    println!("FAIL {} ({}): {e}", p.display(), target.name());
                }
                Ok(o) => println!("ok   {} ({}): {o:?}", p.display(), target.name()),
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
