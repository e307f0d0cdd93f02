//! Many measurements against a baseline: [`Report`], written as `report.json` (schema
//! [`REPORT_SCHEMA`], `optimize.bench-report/1`), `report.md` and charts.
//!
//! A report holds the [`BenchResult`]s of a baseline model and its variants, the machine and
//! library versions they ran with, and the exact command that produced them. Each run is
//! compared with the baseline model's run on the same back end ([`Comparison`]): latency and
//! size as ratios (`0.5×` = half the baseline's), accuracy and fidelity as differences.
//!
//! [`Report::write`] writes into a folder, each file written to a temporary name and renamed,
//! so a reader never sees half a file:
//! - `report.json`: the whole report, machine-readable; [`Report::read`] loads it back (or a
//!   single `optimize.bench/1` result) so the Markdown and charts can be re-rendered;
//! - `latency.svg/.png`, `size.svg/.png`, `accuracy-latency.svg/.png`: see [`crate::chart`];
//! - `report.md`: the table of ratios, the charts, the machine, the versions, how it was
//!   measured and the command to reproduce it.
//!
//! ```no_run
//! use optimize_bench::report::Report;
//!
//! let report = Report::read("results/digits-cnn/report.json".as_ref())?;
//! report.write("results/digits-cnn".as_ref())?; // re-render Markdown and charts
//! # Ok::<(), optimize_bench::Error>(())
//! ```

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::bench::{BenchResult, Target, SCHEMA};
use crate::chart::{self, ChartFiles};
use crate::machine::{Machine, Versions};
use crate::{Error, Result};

/// The schema string of [`Report`].
pub const REPORT_SCHEMA: &str = "optimize.bench-report/1";

/// A baseline and its variants, measured on one machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// [`REPORT_SCHEMA`].
    pub schema: String,
    /// When the report was made, UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created: String,
    /// The command that produced the measurements, to run again.
    pub command: String,
    /// The machine the runs were measured on.
    pub machine: Machine,
    /// What did the measuring.
    pub versions: Versions,
    /// Index into `runs` of the baseline model's first run.
    pub baseline: usize,
    /// Every measurement, baseline first.
    pub runs: Vec<BenchResult>,
    /// Each run against the baseline on the same back end, in the order of `runs`.
    pub comparisons: Vec<Comparison>,
}

/// One run against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The run, as [`BenchResult::label`].
    pub label: String,
    /// The baseline run it is compared with.
    pub baseline: String,
    /// Median latency over the baseline's (below 1 = faster).
    pub p50_ratio: f64,
    /// p99 latency over the baseline's.
    pub p99_ratio: f64,
    /// Size on disk over the baseline's.
    pub size_ratio: f64,
    /// Peak RSS over the baseline's, where both are known.
    pub peak_rss_ratio: Option<f64>,
    /// Top-1 accuracy minus the baseline's, where both were measured.
    pub accuracy_delta: Option<f64>,
}

impl Report {
    /// A report of `runs` against `runs[baseline]`, made now on this machine by `command`.
    /// An out-of-range `baseline` is taken as 0.
    pub fn new(runs: Vec<BenchResult>, baseline: usize, command: String) -> Self {
        let baseline = if baseline < runs.len() { baseline } else { 0 };
        let mut report = Self {
            schema: REPORT_SCHEMA.to_string(),
            created: utc_now(),
            command,
            machine: Machine::detect(),
            versions: Versions::detect(),
            baseline,
            runs,
            comparisons: Vec::new(),
        };
        report.compare();
        report
    }

    /// Recomputes [`Report::comparisons`] from the runs.
    pub fn compare(&mut self) {
        let Some(base_model) = self.runs.get(self.baseline).map(|r| r.model.path.clone()) else {
            self.comparisons.clear();
            return;
        };
        self.comparisons = self
            .runs
            .iter()
            .map(|run| {
                let base = self
                    .runs
                    .iter()
                    .find(|b| b.model.path == base_model && b.engine == run.engine)
                    .unwrap_or(&self.runs[self.baseline]);
                let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
                Comparison {
                    label: run.label(),
                    baseline: base.label(),
                    p50_ratio: ratio(run.latency.p50_ms, base.latency.p50_ms),
                    p99_ratio: ratio(run.latency.p99_ms, base.latency.p99_ms),
                    size_ratio: ratio(run.model.bytes as f64, base.model.bytes as f64),
                    peak_rss_ratio: match (run.memory.peak_rss_bytes, base.memory.peak_rss_bytes) {
                        (Some(a), Some(b)) => Some(ratio(a as f64, b as f64)),
                        _ => None,
                    },
                    accuracy_delta: match (&run.accuracy, &base.accuracy) {
                        (Some(a), Some(b)) => Some(a.top1 - b.top1),
                        _ => None,
                    },
                }
            })
            .collect();
    }

    /// Reads a saved report, or a single saved [`BenchResult`] (made into a report of one run
    /// on this machine).
    pub fn read(path: &Path) -> Result<Self> {
        let bad = |message: String| Error::Read {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
        match value.get("schema").and_then(|s| s.as_str()) {
            Some(REPORT_SCHEMA) => {
                let mut report: Report = serde_json::from_value(value)
                    .map_err(|e| bad(format!("not a valid {REPORT_SCHEMA} report: {e}")))?;
                if report.baseline >= report.runs.len() {
                    report.baseline = 0;
                }
                report.compare();
                Ok(report)
            }
            Some(SCHEMA) => {
                let run: BenchResult = serde_json::from_value(value)
                    .map_err(|e| bad(format!("not a valid {SCHEMA} result: {e}")))?;
                Ok(Report::new(vec![run], 0, String::new()))
            }
            Some(other) => Err(bad(format!(
                "schema `{other}` is neither {REPORT_SCHEMA} nor {SCHEMA}"
            ))),
            None => Err(bad(format!(
                "no `schema` field: not an optimize bench result ({REPORT_SCHEMA} or {SCHEMA})"
            ))),
        }
    }

    /// Adds the runs of `other` after this report's (its baseline and machine are dropped).
    pub fn merge(&mut self, other: Report) {
        self.runs.extend(other.runs);
        self.compare();
    }

    /// The baseline run, if there is any run.
    pub fn baseline_run(&self) -> Option<&BenchResult> {
        self.runs.get(self.baseline)
    }

    /// Writes `report.json`, the charts and `report.md` into `dir` (created if missing);
    /// returns the files written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut written = Vec::new();
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::Write {
            path: dir.join("report.json"),
            source: std::io::Error::other(e),
        })?;
        written.push(write_atomic(
            &dir.join("report.json"),
            (json + "\n").as_bytes(),
        )?);
        let charts = chart::render(self, dir)?;
        for c in &charts {
            written.push(c.svg.clone());
            written.push(c.png.clone());
        }
        written.push(write_atomic(
            &dir.join("report.md"),
            self.markdown(&charts).as_bytes(),
        )?);
        Ok(written)
    }

    /// The Markdown page: title, simulation note, table, charts, machine, versions, method,
    /// command. `charts` are linked by file name (relative to the page).
    pub fn markdown(&self, charts: &[ChartFiles]) -> String {
        let mut md = String::new();
        let base = self.baseline_run();
        let title = base.map_or("no runs".to_string(), |b| b.model.name.clone());
        md += &format!("# Benchmark: {title}\n\n");
        md += &format!(
            "{} run(s) measured on {} ({}), {}. Ratios are against the baseline **{}** on the same back end; below 1× is smaller or faster.\n\n",
            self.runs.len(),
            self.machine.cpu,
            self.machine.os,
            self.created,
            base.map_or("-".into(), |b| b.model.name.clone()),
        );
        for note in self.notes() {
            md += &format!("> **Note:** {note}\n\n");
        }

        md += "## Results\n\n";
        md += "| model | back end | size | size × | p50 ms | p90 ms | p99 ms | p50 × | CV | peak RSS | top-1 accuracy | fidelity to reference |\n";
        md += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
        for (run, cmp) in self.runs.iter().zip(&self.comparisons) {
            let l = &run.latency;
            md +=
                &format!(
                "| {}{} | {} | {} | {:.2}× | {} | {} | {} | {:.2}× | {:.1}%{} | {} | {} | {} |\n",
                run.model.name,
                if Some(run) == base { " (baseline)" } else { "" },
                run.engine,
                human_bytes(run.model.bytes),
                cmp.size_ratio,
                ms(l.p50_ms),
                ms(l.p90_ms),
                ms(l.p99_ms),
                cmp.p50_ratio,
                l.cv * 100.0,
                if l.is_noisy() { " ⚠" } else { "" },
                run.memory.peak_rss_bytes.map_or("-".into(), |b| {
                    format!(
                        "{}{}",
                        human_bytes(b),
                        if run.memory.over_budget { " ⚠ over budget" } else { "" }
                    )
                }),
                run.accuracy.as_ref().map_or("-".into(), |a| {
                    let delta = cmp
                        .accuracy_delta
                        .filter(|_| Some(run) != base)
                        .map_or(String::new(), |d| format!(" ({:+.2} pt)", d * 100.0));
                    format!("{:.2}%{delta}", a.top1 * 100.0)
                }),
                run.fidelity
                    .as_ref()
                    .and_then(|f| f.headline())
                    .map_or("-".into(), |(v, what)| match what {
                        "top-1 agreement" => format!("{:.2}% top-1 agree", v * 100.0),
                        _ => format!("cosine {v:.5}"),
                    }),
            );
        }
        md += "\n⚠ after a CV: coefficient of variation above 10%, the run was noisy; treat its ratios with care.\n\n";

        if !charts.is_empty() {
            md += "## Charts\n\n";
            for c in charts {
                let png = c
                    .png
                    .file_name()
                    .map_or(String::new(), |f| f.to_string_lossy().into_owned());
                let svg = c
                    .svg
                    .file_name()
                    .map_or(String::new(), |f| f.to_string_lossy().into_owned());
                md += &format!("![{}]({png})\n\n{} ([SVG]({svg}))\n\n", c.title, c.caption);
            }
        }

        md += "## Machine\n\n";
        let m = &self.machine;
        md += &format!(
            "- CPU: {} ({} physical cores, {} logical CPUs available, {})\n- Memory: {}\n- OS: {}, kernel {}\n\n",
            m.cpu,
            m.physical_cores.map_or("?".into(), |c| c.to_string()),
            m.logical_cpus,
            m.arch,
            m.memory_bytes.map_or("unknown".into(), human_bytes),
            m.os,
            m.kernel
        );
        md += "## Versions\n\n";
        md += &format!(
            "- optimize {}\n- tract {}\n- ONNX Runtime {}\n",
            self.versions.optimize, self.versions.tract, self.versions.onnxruntime
        );
        let mut runtimes: Vec<&str> = self.runs.iter().map(|r| r.runtime.as_str()).collect();
        runtimes.sort_unstable();
        runtimes.dedup();
        md += &format!(
            "- back ends as the runs report them: {}\n\n",
            runtimes.join(", ")
        );

        md += "## How it was measured\n\n";
        md += "Each (model, back end) pair ran in a fresh process of its own, so runs do not share caches, allocator state or thread pools, and the peak RSS is that run's alone (Linux `VmHWM`, read right after the timed calls; it includes the program and its libraries, listed as \"before load\" below).\n\n";
        md += "| run | inputs | threads | warm-up | timed calls | timed s | mean ms | std ms | harness overhead | RSS before load |\n";
        md += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
        for run in &self.runs {
            let l = &run.latency;
            let inputs: Vec<String> = run
                .inputs
                .iter()
                .map(|i| {
                    let dims: Vec<String> = i.shape.iter().map(|d| d.to_string()).collect();
                    format!("{} {} [{}]", i.name, i.dtype, dims.join("×"))
                })
                .collect();
            md += &format!(
                "| {} | {}; {} | {} | {} | {} | {:.2} | {} | {} | {:.0} ns | {} |\n",
                run.label(),
                inputs.join(", "),
                run.input_source,
                run.threads.map_or("default".into(), |t| t.to_string()),
                l.warmup,
                l.iterations,
                l.total_s,
                ms(l.mean_ms),
                ms(l.std_ms),
                l.overhead_ns,
                run.memory.before_load_bytes.map_or("-".into(), human_bytes),
            );
        }
        md += "\nLatency is the wall time of one call, inputs in and outputs out, timed on a monotonic clock; percentiles interpolate linearly between ranks (NumPy's default). Each run lasted at least its number of timed calls *and* its minimum duration (MLPerf SingleStream style).\n\n";

        if !self.command.is_empty() {
            md += "## Reproduce\n\n```sh\n";
            md += &self.command;
            md += "\n```\n";
        }
        md
    }

    /// Caveats a reader must see: simulations, budgets exceeded, noisy runs, fallbacks.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(sim) = self.runs.iter().find_map(|r| r.simulated.as_ref()) {
            notes.push(format!(
                "target edge is a simulation, not a measurement on an edge device: {sim}."
            ));
        }
        if self.runs.iter().any(|r| r.target == Target::Cuda) {
            notes.push(
                "runs on CUDA time inputs copied to and outputs copied from the GPU on every call."
                    .into(),
            );
        }
        for run in self.runs.iter().filter(|r| r.memory.over_budget) {
            notes.push(format!(
                "{} went over its memory budget: peak RSS {} > {}.",
                run.label(),
                run.memory.peak_rss_bytes.map_or("?".into(), human_bytes),
                run.memory.budget_bytes.map_or("?".into(), human_bytes)
            ));
        }
        let noisy: Vec<String> = self
            .runs
            .iter()
            .filter(|r| r.latency.is_noisy())
            .map(|r| format!("{} ({:.0}%)", r.label(), r.latency.cv * 100.0))
            .collect();
        if !noisy.is_empty() {
            notes.push(format!(
                "coefficient of variation above 10% for {}: the machine was busy or the calls are too short to time steadily.",
                noisy.join(", ")
            ));
        }
        notes
    }
}

/// `0.0213` → `0.0213`, `12.345` → `12.35`: three significant figures at least.
fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// `1536` → `1.5 KiB` (IEC units, one decimal).
pub fn human_bytes(n: u64) -> String {
    bytesize::ByteSize::b(n).display().iec().to_string()
}

/// Writes `bytes` to `path` atomically ([`optimize_data::atomic`]); returns `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    optimize_data::atomic::write(path, bytes).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(path.to_path_buf())
}

/// Now, UTC, as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

/// Seconds since 1970 as a UTC timestamp (Howard Hinnant's `civil_from_days`).
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        // date -u -d @1700000000 +%FT%TZ
        assert_eq!(utc(1_700_000_000), "2023-11-14T22:13:20Z");
        // 2024-02-29 (leap day) 12:00:00
        assert_eq!(utc(1_709_208_000), "2024-02-29T12:00:00Z");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(ms(12.345), "12.35");
        assert_eq!(ms(0.02134), "0.0213");
    }

    #[test]
    fn reading_bad_files_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        std::fs::write(&p, "{\"schema\": \"other/1\"}").unwrap();
        let err = Report::read(&p).unwrap_err();
        assert!(err.is_input_error());
        assert!(err.to_string().contains("r.json") && err.to_string().contains("other/1"));
        std::fs::write(&p, "not json").unwrap();
        assert!(Report::read(&p)
            .unwrap_err()
            .to_string()
            .contains("not JSON"));
        let missing = dir.path().join("missing.json");
        assert!(Report::read(&missing)
            .unwrap_err()
            .to_string()
            .contains("missing.json"));
    }
}
