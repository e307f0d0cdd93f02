//! Running a target for a time budget: every execution inside `catch_unwind`, panics recorded
//! with their seed and message, and the input that caused one saved for reproduction.
//!
//! Seeds run in order from [`Budget::first_seed`], so a run is deterministic up to where its
//! time ran out, and `optimize-fuzz one <target> <seed>` reproduces any execution. A panicking
//! input is written to `crashes/<target>-<seed>.onnx` (a model) or `crashes/<target>-<seed>/`
//! (data, or a model and its data); once the bug is fixed, move it to `regressions/`, which
//! the tests replay.
//!
//! Failures the process cannot catch (an abort on a failed allocation, a stack overflow) leave
//! `crashes/<target>.inflight` behind, holding the seed that was running. A hang (an execution
//! past [`Budget::hang`]) is reported by a watchdog thread, which names the seed and exits.

use crate::corpus::{crate_dir, Corpus};
use crate::data::DataCase;
use crate::target::{Input, Outcome, Target};
use optimize_data::{DType, InputSpec};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// How long a target runs.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Stop starting executions after this long.
    pub time: Duration,
    /// The first seed; later executions take the next ones.
    pub first_seed: u64,
    /// Run at least this many executions, whatever the time.
    pub min_execs: u64,
    /// Run at most this many executions.
    pub max_execs: Option<u64>,
    /// An execution running longer than this is a hang: the process prints its seed and exits
    /// with status 3 (a stuck thread cannot be stopped).
    pub hang: Duration,
}

impl Budget {
    /// `seconds` from seed 0, at least 10 executions.
    pub fn seconds(seconds: f64) -> Budget {
        Budget {
            time: Duration::from_secs_f64(seconds.max(0.0)),
            first_seed: 0,
            min_execs: 10,
            max_execs: None,
            hang: Duration::from_secs(60),
        }
    }
}

/// One failing execution.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The seed that produced the input.
    pub seed: u64,
    /// The panic message (or what was wrong with the output), with its location.
    pub message: String,
    /// Where the input was saved, if it was.
    pub saved: Option<PathBuf>,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Stats {
    /// The target.
    pub target: Target,
    /// Executions.
    pub execs: u64,
    /// Executions the loader refused.
    pub rejected: u64,
    /// Executions that loaded and that the pass refused.
    pub declined: u64,
    /// Executions that ran to the end.
    pub done: u64,
    /// Panics.
    pub panics: Vec<Failure>,
    /// Outputs that did not load again.
    pub bad_outputs: Vec<Failure>,
    /// Wall time.
    pub elapsed: Duration,
    /// The slowest execution: its seed and time.
    pub slowest: (u64, Duration),
    /// The most frequent errors, by their first words, with counts (the coverage in words).
    pub errors: Vec<(String, u64)>,
}

impl Stats {
    /// Panics and bad outputs, in seed order.
    pub fn failures(&self) -> Vec<&Failure> {
        let mut all: Vec<&Failure> = self.panics.iter().chain(&self.bad_outputs).collect();
        all.sort_by_key(|f| f.seed);
        all
    }

    /// One line: target, time, executions, outcomes, panics.
    pub fn line(&self) -> String {
        format!(
            "{:<17} {:>7.1}s {:>8} execs {:>8.1}/s  done {:>7}  declined {:>7}  rejected {:>7}  bad outputs {:>3}  panics {:>3}  slowest seed {} ({:.0} ms)",
            self.target.name(),
            self.elapsed.as_secs_f64(),
            self.execs,
            self.execs as f64 / self.elapsed.as_secs_f64().max(1e-9),
            self.done,
            self.declined,
            self.rejected,
            self.bad_outputs.len(),
            self.panics.len(),
            self.slowest.0,
            self.slowest.1.as_secs_f64() * 1e3,
        )
    }
}

thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Installs (once per process) a panic hook that, while a target runs on this thread, records
/// the message, location and our frames of the backtrace instead of printing them; other
/// panics (a test's own asserts) print as usual.
fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !CATCHING.with(Cell::get) {
                return previous(info);
            }
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(non-string panic payload)".into());
            let at = info
                .location()
                .map_or_else(String::new, |l| format!(" at {}:{}", l.file(), l.line()));
            let trace = std::backtrace::Backtrace::force_capture().to_string();
            let ours: Vec<&str> = trace
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("at ") && l.contains("crates/optimize-"))
                .filter(|l| !l.contains("crates/optimize-fuzz/src/run.rs"))
                .take(6)
                .collect();
            let frames = if ours.is_empty() {
                String::new()
            } else {
                format!("\n      {}", ours.join("\n      "))
            };
            CAUGHT.with(|c| *c.borrow_mut() = Some(format!("{msg}{at}{frames}")));
        }));
    });
}

/// Runs one execution inside `catch_unwind`: its outcome, or the panic's message.
pub fn run_one(
    target: Target,
    seed: u64,
    input: &Input,
    scratch: &Path,
) -> Result<Outcome, String> {
    install_hook();
    CATCHING.with(|c| c.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| target.execute(seed, input, scratch)));
    CATCHING.with(|c| c.set(false));
    result.map_err(|_| {
        CAUGHT
            .with(|c| c.borrow_mut().take())
            .unwrap_or_else(|| "panic".into())
    })
}

/// Where crashing inputs are saved.
pub fn crash_dir() -> PathBuf {
    crate_dir().join("crashes")
}

/// Where fixed crashes are kept and replayed by the tests.
pub fn regression_dir() -> PathBuf {
    crate_dir().join("regressions")
}

/// Empties (or makes) `dir`.
fn fresh(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)
}

/// Runs `target` on seeds from `budget.first_seed` until the budget is spent; saves every
/// failing input under `crashes` (when given). `progress` is called every few seconds.
pub fn fuzz(
    target: Target,
    corpus: &Corpus,
    budget: &Budget,
    crashes: Option<&Path>,
    progress: &mut dyn FnMut(&Stats),
) -> Stats {
    install_hook();
    let scratch_root = tempfile::tempdir().expect("a temporary folder for scratch files");
    let scratch = scratch_root.path().join("x");
    let inflight = crashes.map(|d| d.join(format!("{}.inflight", target.name())));
    if let Some(d) = crashes {
        let _ = std::fs::create_dir_all(d);
    }
    let start = Instant::now();
    let mut last_report = Instant::now();
    let mut stats = Stats {
        target,
        execs: 0,
        rejected: 0,
        declined: 0,
        done: 0,
        panics: Vec::new(),
        bad_outputs: Vec::new(),
        elapsed: Duration::ZERO,
        slowest: (budget.first_seed, Duration::ZERO),
        errors: Vec::new(),
    };
    let mut errors: std::collections::HashMap<String, u64> = Default::default();
    let running = Arc::new(Mutex::new(None::<(u64, Instant)>));
    let finished = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (running, finished, hang) = (Arc::clone(&running), Arc::clone(&finished), budget.hang);
        std::thread::spawn(move || {
            while !finished.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let current = *running.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((seed, t0)) = current.filter(|(_, t0)| t0.elapsed() > hang) {
                    eprintln!(
                        "optimize-fuzz: {} seed {seed} has run for {:.1} s: a hang; reproduce with: cargo run -p optimize-fuzz -- one {} {seed}",
                        target.name(),
                        t0.elapsed().as_secs_f64(),
                        target.name()
                    );
                    std::process::exit(3);
                }
            }
        })
    };
    let mut seed = budget.first_seed;
    loop {
        let elapsed = start.elapsed();
        if (elapsed >= budget.time && stats.execs >= budget.min_execs)
            || budget.max_execs.is_some_and(|m| stats.execs >= m)
        {
            break;
        }
        if let Some(p) = &inflight {
            let _ = std::fs::write(p, seed.to_string());
        }
        // A panic in the generator is a bug of this crate, reported with its seed all the same.
        CATCHING.with(|c| c.set(true));
        let generated = panic::catch_unwind(AssertUnwindSafe(|| target.generate(seed, corpus)));
        CATCHING.with(|c| c.set(false));
        let input = match generated {
            Ok(input) => input,
            Err(_) => {
                let msg = CAUGHT.with(|c| c.borrow_mut().take()).unwrap_or_default();
                stats.execs += 1;
                stats.panics.push(Failure {
                    seed,
                    message: format!("the generator panicked (a bug in optimize-fuzz): {msg}"),
                    saved: None,
                });
                seed = seed.wrapping_add(1);
                continue;
            }
        };
        let _ = fresh(&scratch);
        let t0 = Instant::now();
        *running.lock().unwrap_or_else(|e| e.into_inner()) = Some((seed, t0));
        let result = run_one(target, seed, &input, &scratch);
        *running.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let took = t0.elapsed();
        if took > stats.slowest.1 {
            stats.slowest = (seed, took);
        }
        stats.execs += 1;
        let fail = |message: String| Failure {
            seed,
            message,
            saved: crashes.and_then(|d| save_input(&input, target, seed, d).ok()),
        };
        match result {
            Ok(Outcome::Done) => stats.done += 1,
            Ok(Outcome::Declined(e)) => {
                stats.declined += 1;
                *errors.entry(gist(&e, &scratch)).or_default() += 1;
            }
            Ok(Outcome::Rejected(e)) => {
                stats.rejected += 1;
                *errors.entry(gist(&e, &scratch)).or_default() += 1;
            }
            Ok(Outcome::BadOutput(e)) => stats.bad_outputs.push(fail(e)),
            Err(panic) => stats.panics.push(fail(panic)),
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            stats.elapsed = start.elapsed();
            progress(&stats);
            last_report = Instant::now();
        }
        seed = seed.wrapping_add(1);
    }
    finished.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    if let Some(p) = &inflight {
        let _ = std::fs::remove_file(p);
    }
    stats.elapsed = start.elapsed();
    let mut errors: Vec<(String, u64)> = errors.into_iter().collect();
    errors.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    errors.truncate(12);
    stats.errors = errors;
    stats
}

/// The first words of an error, without file names, quoted names and numbers, to group
/// errors by kind.
fn gist(e: &str, scratch: &Path) -> String {
    let e = e.replace(&format!("{}/", scratch.display()), "");
    let e = e.strip_prefix("fuzz.onnx: ").unwrap_or(&e);
    let mut out = String::new();
    let mut quoted = false;
    for c in e.chars() {
        if c == '\'' {
            quoted = !quoted;
            continue;
        }
        if !quoted && !c.is_ascii_digit() {
            out.push(c);
        }
    }
    out.split_whitespace().take(7).collect::<Vec<_>>().join(" ")
}

/// The description of a data case beside its files: the specs it is opened for, and which
/// path to open.
#[derive(Debug, Serialize, Deserialize)]
struct CaseFile {
    open: String,
    specs: Vec<SpecFile>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SpecFile {
    name: String,
    dtype: String,
    shape: Vec<Option<usize>>,
}

const CASE_FILE: &str = "case.json";
const MODEL_FILE: &str = "model.onnx";

/// Saves `input` for `target` and `seed` under `dir`: `<target>-<seed>.onnx` for a model,
/// a folder `<target>-<seed>/` for data (with `case.json`) or a model and its data.
pub fn save_input(
    input: &Input,
    target: Target,
    seed: u64,
    dir: &Path,
) -> std::io::Result<PathBuf> {
    let stem = format!("{}-{seed}", target.name());
    match input {
        Input::Model(bytes) => {
            std::fs::create_dir_all(dir)?;
            let path = dir.join(format!("{stem}.onnx"));
            std::fs::write(&path, bytes)?;
            Ok(path)
        }
        Input::Data(case) | Input::ModelData(_, case) => {
            let folder = dir.join(stem);
            fresh(&folder)?;
            case.write(&folder)?;
            let desc = CaseFile {
                open: case.open.clone(),
                specs: case
                    .specs
                    .iter()
                    .map(|s| SpecFile {
                        name: s.name.clone(),
                        dtype: s.dtype.name().to_string(),
                        shape: s.shape.clone(),
                    })
                    .collect(),
            };
            let json = serde_json::to_string_pretty(&desc).map_err(std::io::Error::other)?;
            std::fs::write(folder.join(CASE_FILE), json)?;
            if let Input::ModelData(bytes, _) = input {
                std::fs::write(folder.join(MODEL_FILE), bytes)?;
            }
            Ok(folder)
        }
    }
}

/// Reads an input saved by [`save_input`] (or any `.onnx` file); with the target and seed its
/// name gives, when it follows the `<target>-<seed>` pattern.
pub fn read_input(path: &Path) -> Result<(Option<(Target, u64)>, Input), String> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let named = Target::ALL.into_iter().find_map(|t| {
        let seed = stem
            .strip_prefix(t.name())?
            .strip_prefix('-')?
            .parse()
            .ok()?;
        Some((t, seed))
    });
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    if path.is_file() {
        return Ok((named, Input::Model(std::fs::read(path).map_err(err)?)));
    }
    let desc: CaseFile = serde_json::from_slice(&std::fs::read(path.join(CASE_FILE)).map_err(err)?)
        .map_err(|e| format!("{}: {e}", path.join(CASE_FILE).display()))?;
    let specs = desc
        .specs
        .into_iter()
        .map(|s| {
            let dtype: DType = s.dtype.parse().map_err(|e| format!("{e}"))?;
            Ok(InputSpec::new(s.name, dtype, s.shape))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut files = Vec::new();
    collect_files(path, path, &mut files).map_err(err)?;
    files.retain(|(rel, _)| rel != CASE_FILE && rel != MODEL_FILE);
    let case = DataCase {
        specs,
        files,
        open: desc.open,
    };
    let model = path.join(MODEL_FILE);
    Ok(if model.exists() {
        (
            named,
            Input::ModelData(std::fs::read(&model).map_err(err)?, case),
        )
    } else {
        (named, Input::Data(case))
    })
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_files(root, &p, out)?;
        } else {
            let rel = p
                .strip_prefix(root)
                .map_err(std::io::Error::other)?
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, std::fs::read(&p)?));
        }
    }
    Ok(())
}

/// Caps this process's address space at `bytes` (Linux), so an allocation a huge dimension
/// asks for fails at once instead of swapping the machine to a halt.
pub fn limit_memory(bytes: u64) {
    #[cfg(target_os = "linux")]
    // SAFETY: getrlimit/setrlimit read and write a plain struct we own.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_AS, &mut lim) == 0 {
            let cap = bytes.min(lim.rlim_max);
            if lim.rlim_cur == libc::RLIM_INFINITY || lim.rlim_cur > cap {
                lim.rlim_cur = cap;
                libc::setrlimit(libc::RLIMIT_AS, &lim);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = bytes;
}
