//! Every target for a bounded time, from seed 0 (so CI replays the same seeds every run, as
//! far as its time reaches): no panics, no output that fails to load again.
//!
//! `OPTIMIZE_FUZZ_SECONDS` sets the time per target (default 8); `scripts/fuzz.sh` runs the
//! targets for longer in release mode.

use optimize_fuzz::corpus::Corpus;
use optimize_fuzz::run::{crash_dir, fuzz, limit_memory, Budget};
use optimize_fuzz::Target;

fn seconds() -> f64 {
    match std::env::var("OPTIMIZE_FUZZ_SECONDS") {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|e| panic!("OPTIMIZE_FUZZ_SECONDS={s}: {e}")),
        Err(_) => 8.0,
    }
}

fn check(target: Target) {
    limit_memory(8 << 30);
    let corpus = Corpus::load().unwrap();
    let stats = fuzz(
        target,
        &corpus,
        &Budget::seconds(seconds()),
        Some(&crash_dir()),
        &mut |_| {},
    );
    eprintln!("{}", stats.line());
    for (e, n) in &stats.errors {
        eprintln!("    {n:>6}  {e}");
    }
    let failures: Vec<String> = stats
        .failures()
        .iter()
        .map(|f| {
            format!(
                "seed {}: {}\n  input: {}\n  reproduce: cargo run -p optimize-fuzz -- one {} {}",
                f.seed,
                f.message,
                f.saved
                    .as_ref()
                    .map_or("(not saved)".into(), |p| p.display().to_string()),
                target.name(),
                f.seed
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} executions of {} failed:\n{}",
        failures.len(),
        stats.execs,
        target.name(),
        failures.join("\n")
    );
    // The mutators must get some inputs all the way through, or the target tests nothing.
    assert!(
        stats.done > 0,
        "no execution of {} ran to the end: {}",
        target.name(),
        stats.line()
    );
}

#[test]
fn load() {
    check(Target::Load);
}

#[test]
fn data() {
    check(Target::Data);
}

#[test]
fn quantize_dynamic() {
    check(Target::QuantizeDynamic);
}

#[test]
fn quantize_static() {
    check(Target::QuantizeStatic);
}

#[test]
fn fp16() {
    check(Target::Fp16);
}

#[test]
fn prune() {
    check(Target::Prune);
}
