//! The pipeline's output folder:
//!
//! | file | what |
//! |---|---|
//! | `results.json` | [`PipelineReport`] (schema [`SCHEMA`]): every row, its steps, numbers and SLA checks; the winner and why, or the closest and its misses |
//! | `report.md` | the same as tables, with the charts |
//! | `accuracy-latency.{svg,png}`, `latency.{svg,png}`, `size.{svg,png}` | metric against median latency with the Pareto front; latency; size |
//! | `best.onnx` | the winner (its external data beside it), verified against the original |
//! | `steps.log` | one line per step run and model measured, across runs |
//! | `cache/` | see [`crate::cache`] |

use crate::cache::write_json;
use crate::measure::Measurement;
use crate::recipe::{Metric, Select};
use crate::run::Plan;
use crate::sla::{fmt, Check, Numbers};
use crate::{Error, Result};
use optimize_bench::BenchResult;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Schema of `results.json`.
pub const SCHEMA: &str = "optimize.pipeline/1";

/// How a row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    /// Every step ran and the model was measured.
    Measured,
    /// A step, or measuring, failed; the reason says which and why.
    Failed,
    /// Stopped early: a finished prefix missed a bound that later steps cannot repair.
    Stopped,
}

/// Where a row's step output came from in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOrigin {
    /// Run in this run.
    Ran,
    /// Run in this run for another configuration with the same prefix (a cache hit).
    Shared,
    /// Found in the cache from an earlier run (a cache hit).
    Cached,
}

/// One step of a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowStep {
    /// `quantize`, `prune` or `distill`.
    pub kind: String,
    /// Its settings.
    pub settings: String,
    /// Its cache key.
    pub key: String,
    /// Ran, shared or cached.
    pub origin: StepOrigin,
    /// Wall time when it ran (in whichever run ran it).
    pub seconds: f64,
    /// Why it failed.
    pub error: Option<String>,
    /// The job's report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
}

/// One configuration's result (the original is row 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The configuration's name (`original` for the input model).
    pub name: String,
    /// Whether this is the original model.
    pub original: bool,
    /// Its steps.
    pub steps: Vec<RowStep>,
    /// How it ended.
    pub status: RowStatus,
    /// Why it failed or stopped.
    pub reason: Option<String>,
    /// Its model in the cache.
    pub model: PathBuf,
    /// The measured numbers.
    pub numbers: Option<Numbers>,
    /// The metric's change from the original's (candidate − original).
    pub metric_change: Option<f64>,
    /// Why the metric could not be measured (the command's error and stderr).
    pub metric_error: Option<String>,
    /// Samples the metric was measured on, for built-in metrics.
    pub metric_samples: Option<usize>,
    /// Each SLA bound, judged.
    pub sla: Vec<Check>,
    /// Whether every bound holds.
    pub sla_met: bool,
    /// Latency statistics and the rest of the bench run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench: Option<BenchResult>,
}

/// Wall time of the run's parts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// The whole run.
    pub total_seconds: f64,
    /// Running steps (and early-exit probes).
    pub steps_seconds: f64,
    /// Measuring final models.
    pub measure_seconds: f64,
    /// Steps run in this run (not cached).
    pub steps_run: usize,
}

/// Cache use of this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheUse {
    /// Steps of rows that ran here.
    pub ran: usize,
    /// Steps of rows taken from a shared prefix run here for another row.
    pub shared: usize,
    /// Steps of rows found in the cache from an earlier run.
    pub cached: usize,
    /// `shared + cached`.
    pub hits: usize,
}

/// The winner's file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// `best.onnx` in the output folder.
    pub path: PathBuf,
    /// The configuration.
    pub name: String,
    /// Its verification against the original in ONNX Runtime (and tract): samples compared,
    /// whether it loaded and ran, the lowest output cosine.
    pub verification: String,
    /// Whether that verification found the file sound (loads, runs, outputs finite where the
    /// original's are).
    pub verified: bool,
}

/// `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineReport {
    /// [`SCHEMA`].
    pub schema: String,
    /// The recipe.
    pub recipe: PathBuf,
    /// Its name.
    pub name: String,
    /// The command line.
    pub command: String,
    /// The model optimized.
    pub model: PathBuf,
    /// The judge, in words, and the samples it used on the original.
    pub judge: String,
    /// Where latency was measured, in words.
    pub target: String,
    /// Configurations the grids expanded to (before a random draw).
    pub expanded: usize,
    /// Every row, the original first.
    pub rows: Vec<Row>,
    /// The SLA-meeting row chosen, by index into `rows`.
    pub winner: Option<usize>,
    /// Why it won.
    pub why: String,
    /// When none met the SLA: the row closest to it, by index.
    pub closest: Option<usize>,
    /// The rows on the Pareto front of metric against median latency.
    pub pareto: Vec<usize>,
    /// Cache use.
    pub cache: CacheUse,
    /// Wall times.
    pub timing: Timing,
    /// Steps run at once.
    pub jobs: usize,
    /// The winner's file.
    pub best: Option<Best>,
    /// Things the reader should know (parallel steps, missing measurements).
    pub notes: Vec<String>,
}

impl PipelineReport {
    /// The winner's row.
    pub fn winner_row(&self) -> Option<&Row> {
        self.winner.map(|i| &self.rows[i])
    }
}

/// Builds one row from what the run knows about it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn row(
    name: &str,
    original: bool,
    steps: Vec<RowStep>,
    status: Option<(RowStatus, String)>,
    measurement: Option<&Measurement>,
    model: &Path,
    plan: &Plan,
    baseline_metric: Option<f64>,
    original_p50_ms: Option<f64>,
) -> Row {
    let (status, reason) = match status {
        Some((s, r)) => (s, Some(r)),
        None => (RowStatus::Measured, None),
    };
    let numbers = match (status, measurement) {
        (RowStatus::Measured, Some(m)) => m.bench.as_ref().map(|b| {
            let batch = b.batch.max(1) as f64;
            Numbers {
                p50_ms: b.latency.p50_ms,
                p90_ms: b.latency.p90_ms,
                p99_ms: b.latency.p99_ms,
                spread_ms: spread(&m.round_p50_ms)
                    .unwrap_or((b.latency.p75_ms - b.latency.p25_ms) / 2.0),
                throughput: batch * 1000.0 / b.latency.p50_ms.max(1e-9),
                size_bytes: m.size_bytes,
                peak_rss_bytes: b.memory.peak_rss_bytes,
                metric: m.metric,
            }
        }),
        _ => None,
    };
    let checks = numbers
        .as_ref()
        .map(|n| {
            crate::sla::judge(
                &plan.recipe.sla,
                &plan.metric,
                n,
                baseline_metric,
                original_p50_ms,
            )
        })
        .unwrap_or_default();
    let sla_met = numbers.is_some() && checks.iter().all(|c| c.met);
    Row {
        name: name.into(),
        original,
        steps,
        status,
        reason,
        model: model.to_path_buf(),
        metric_change: numbers
            .as_ref()
            .and_then(|n| n.metric)
            .zip(baseline_metric)
            .map(|(m, b)| m - b),
        numbers,
        metric_error: measurement.and_then(|m| m.metric_error.clone()),
        metric_samples: measurement.and_then(|m| m.metric_samples),
        sla: checks,
        sla_met,
        bench: measurement.and_then(|m| m.bench.clone()),
    }
}

/// Finishes the report: cache counts, the Pareto front, `best.onnx` and its verification, and
/// the files of the output folder.
pub(crate) fn finish(
    plan: &Plan,
    rows: Vec<Row>,
    winner: Option<usize>,
    closest: Option<usize>,
    timing: Timing,
    jobs: usize,
    command: &str,
) -> Result<PipelineReport> {
    let out = &plan.out_dir;
    let mut cache = CacheUse {
        ran: 0,
        shared: 0,
        cached: 0,
        hits: 0,
    };
    for s in rows.iter().flat_map(|r| &r.steps) {
        match s.origin {
            StepOrigin::Ran => cache.ran += 1,
            StepOrigin::Shared => cache.shared += 1,
            StepOrigin::Cached => cache.cached += 1,
        }
    }
    cache.hits = cache.shared + cache.cached;
    let higher = plan.metric.higher_is_better();
    let points: Vec<(usize, (f64, f64))> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let n = r.numbers.as_ref()?;
            let m = n.metric?;
            Some((i, (n.p50_ms, if higher { m } else { -m })))
        })
        .collect();
    let front =
        optimize_bench::chart::pareto_front(&points.iter().map(|(_, p)| *p).collect::<Vec<_>>());
    let pareto: Vec<usize> = front.into_iter().map(|i| points[i].0).collect();
    let original_samples = rows[0].metric_samples;
    let judge = match original_samples {
        Some(n) => format!("{} on {n} samples", plan.metric.describe()),
        None => plan.metric.describe(),
    };
    let t = &plan.recipe.target;
    let target = format!(
        "{}, {} thread{}, batch {}, {} warm-up calls, at least {} calls and {:?}",
        t.engine.name(),
        t.threads,
        if t.threads == 1 { "" } else { "s" },
        t.batch,
        t.warmup,
        t.iterations,
        t.min_duration
    );
    let why = match (winner, closest) {
        (Some(w), _) => why_won(&rows, w, plan.recipe.sla.select, &plan.metric),
        (None, Some(c)) => format!(
            "no configuration meets the SLA; the closest is {}: {}",
            rows[c].name,
            misses(&rows[c])
        ),
        (None, None) => "no configuration could be measured".into(),
    };
    let mut notes = Vec::new();
    if jobs > 1 {
        notes.push(format!(
            "steps ran {jobs} at a time (`--auto` steps, which time models themselves, alone); every latency was measured afterwards, one model at a time, with nothing else running"
        ));
    }
    if cache.hits > 0 {
        notes.push(format!(
            "{} step results were reused: {} from prefixes shared within this run, {} from earlier runs (cache/)",
            cache.hits, cache.shared, cache.cached
        ));
    }
    let best = match winner {
        Some(w) => Some(write_best(plan, &rows[w])?),
        None => {
            // A stale best.onnx from an earlier run must not pass for this run's answer.
            let _ = std::fs::remove_file(out.join("best.onnx"));
            None
        }
    };
    let report = PipelineReport {
        schema: SCHEMA.into(),
        recipe: plan.recipe.path.clone(),
        name: plan.recipe.name.clone(),
        command: command.into(),
        model: plan.recipe.model.clone(),
        judge,
        target,
        expanded: plan.expanded,
        rows,
        winner,
        why,
        closest,
        pareto,
        cache,
        timing,
        jobs,
        best,
        notes,
    };
    let charts = charts(&report, &plan.metric, out)?;
    write_json(&out.join("results.json"), &report)?;
    optimize_data::atomic::write(
        out.join("report.md"),
        markdown(&report, plan, &charts).as_bytes(),
    )
    .map_err(|source| Error::Io {
        path: out.join("report.md"),
        source,
    })?;
    Ok(report)
}

fn why_won(rows: &[Row], w: usize, select: Select, metric: &Metric) -> String {
    let met: Vec<&Row> = rows.iter().filter(|r| r.sla_met).collect();
    let n = rows[w].numbers.unwrap_or_default();
    let by = match select {
        Select::Latency => {
            let fastest = met
                .iter()
                .filter_map(|r| r.numbers.map(|x| (r, x)))
                .min_by(|a, b| a.1.p50_ms.total_cmp(&b.1.p50_ms));
            match fastest {
                Some((f, fx)) if f.name != rows[w].name => format!(
                    "a median latency of {} ms ± {}, within the spreads of the fastest ({}, {} ms ± {}): a tie, which the smallest file among the tied wins",
                    fmt(n.p50_ms),
                    fmt(n.spread_ms),
                    f.name,
                    fmt(fx.p50_ms),
                    fmt(fx.spread_ms)
                ),
                _ => format!(
                    "the lowest median latency ({} ms ± {}; medians within the spreads of the fastest would count as ties, won by the smaller file)",
                    fmt(n.p50_ms),
                    fmt(n.spread_ms)
                ),
            }
        }
        Select::Size => format!("the smallest file ({})", human_bytes(n.size_bytes)),
        Select::Metric => format!(
            "the best {} ({})",
            metric.short(),
            n.metric.map_or("-".into(), fmt)
        ),
    };
    let among = if met.len() == 1 {
        "it is the only configuration that does (the original counted), so it wins".to_string()
    } else {
        format!(
            "of the {} configurations that do (the original counted), it has {by}",
            met.len()
        )
    };
    format!(
        "{} meets every bound of the SLA; {among} (select = \"{}\")",
        rows[w].name,
        match select {
            Select::Latency => "latency",
            Select::Size => "size",
            Select::Metric => "metric",
        }
    )
}

/// The bounds a row misses, with by how much.
pub fn misses(row: &Row) -> String {
    let m: Vec<String> = row
        .sla
        .iter()
        .filter(|c| !c.met)
        .map(|c| {
            format!(
                "{} is {} ({:+.0}%)",
                c.bound,
                c.shown.trim(),
                c.miss * 100.0
            )
        })
        .collect();
    if m.is_empty() {
        "meets every bound".into()
    } else {
        format!("misses {}", m.join("; "))
    }
}

/// Copies the winner to `best.onnx` (with its external data) and verifies the copy against the
/// original on the evaluation data.
fn write_best(plan: &Plan, row: &Row) -> Result<Best> {
    let out = &plan.out_dir;
    let dest = out.join("best.onnx");
    let model = optimize_onnx::Model::load(&row.model)
        .map_err(|e| Error::Report(format!("{}: {e}", row.model.display())))?;
    // The cache entry is kept as it is; the copy is saved through the model writer (atomic,
    // external data beside it when it has any).
    let options = optimize_onnx::SaveOptions {
        external_data: if model.external_files().is_empty() {
            optimize_onnx::ExternalData::Auto
        } else {
            optimize_onnx::ExternalData::Always
        },
        ..optimize_onnx::SaveOptions::default()
    };
    optimize_onnx::save(&model, &dest, &options)
        .map_err(|e| Error::Report(format!("{}: {e}", dest.display())))?;
    let specs = optimize_bench::verify::input_specs(&model);
    // The evaluation data, else the calibration data (real inputs), else seeded ones.
    let data = match plan
        .recipe
        .data
        .eval
        .as_ref()
        .or(plan.recipe.data.calibrate.as_ref())
    {
        Some(d) => optimize_bench::verify::data_samples(d, &specs, 256),
        None => optimize_bench::verify::seeded_samples(&specs, &plan.recipe.data.shapes, 8, 0),
    };
    let (verification, verified) = match data
        .and_then(|d| optimize_bench::verify::verify(&plan.recipe.model, &dest, &d, None))
    {
        Ok(v) => {
            let ok = v.runtimes.first().is_some_and(|r| r.ok);
            let finite = v
                .runtimes
                .iter()
                .flat_map(|r| &r.outputs)
                .all(|o| o.non_finite_mismatches == 0);
            let cos = v.runtimes.first().and_then(|r| {
                r.outputs
                    .iter()
                    .filter_map(|o| o.normalized_cosine.or(o.cosine))
                    .min_by(f64::total_cmp)
            });
            let runtimes: Vec<String> = v
                .runtimes
                .iter()
                .map(|r| match &r.error {
                    None => format!("{}: ran", r.runtime),
                    Some(e) => format!("{}: {e}", r.runtime),
                })
                .collect();
            (
                format!(
                    "{}; {}; lowest per-channel cosine with the original {}; {}",
                    v.source,
                    runtimes.join(", "),
                    cos.map_or("-".into(), |c| format!("{c:.5}")),
                    if finite {
                        "outputs finite wherever the original's are"
                    } else {
                        "NON-FINITE outputs where the original's are finite"
                    }
                ),
                ok && finite,
            )
        }
        Err(e) => (format!("not verified: {e}"), false),
    };
    Ok(Best {
        path: dest,
        name: row.name.clone(),
        verification,
        verified,
    })
}

/// The charts: latency, size, and metric against latency with the Pareto front.
fn charts(
    report: &PipelineReport,
    metric: &Metric,
    out: &Path,
) -> Result<Vec<optimize_bench::chart::ChartFiles>> {
    let mut runs = Vec::new();
    let mut values = Vec::new();
    for r in &report.rows {
        if let (Some(b), Some(n)) = (&r.bench, &r.numbers) {
            let mut b = b.clone();
            b.model.name = r.name.clone();
            b.model.path = r.name.clone();
            runs.push(b);
            values.push(n.metric.unwrap_or(f64::NAN));
        }
    }
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let bench = optimize_bench::Report::new(runs, 0, report.command.clone());
    let chart_metric = optimize_bench::chart::ChartMetric {
        name: metric.describe(),
        values,
        percent: matches!(metric, Metric::Top1),
        higher_is_better: metric.higher_is_better(),
    };
    optimize_bench::chart::render_with(&bench, out, Some(chart_metric))
        .map_err(|e| Error::Report(e.to_string()))
}

fn markdown(
    r: &PipelineReport,
    plan: &Plan,
    charts: &[optimize_bench::chart::ChartFiles],
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Pipeline `{}`\n", r.name);
    let _ = writeln!(
        s,
        "Recipe `{}`; model `{}`; {} configurations ({} expanded) and the original. Judge: {}. Latency: {}.\n",
        r.recipe.display(),
        r.model.display(),
        r.rows.len() - 1,
        r.expanded,
        r.judge,
        r.target
    );
    if !r.command.is_empty() {
        let _ = writeln!(s, "Command: `{}`\n", r.command);
    }
    let _ = writeln!(s, "## Result\n");
    match (r.winner_row(), r.closest) {
        (Some(w), _) => {
            let _ = writeln!(s, "**Chosen: {}.** {}.\n", w.name, r.why);
            if let Some(b) = &r.best {
                let _ = writeln!(
                    s,
                    "Written: `best.onnx` ({}). Verification: {}.\n",
                    if b.verified {
                        "verified"
                    } else {
                        "NOT verified"
                    },
                    b.verification
                );
            }
        }
        (None, _) => {
            let _ = writeln!(s, "**No configuration meets the SLA.** {}.\n", r.why);
        }
    }
    let sla_cols: Vec<String> = r
        .rows
        .iter()
        .flat_map(|row| row.sla.iter().map(|c| c.bound.clone()))
        .fold(Vec::new(), |mut acc, b| {
            if !acc.contains(&b) {
                acc.push(b);
            }
            acc
        });
    let metric = plan.metric.short();
    let _ = write!(
        s,
        "| configuration | steps | size | p50 ms | p90 ms | p99 ms | samples/s | peak RSS | {metric} | change |"
    );
    for c in &sla_cols {
        let _ = write!(s, " {c} |");
    }
    let _ = writeln!(s, " SLA |");
    let _ = write!(s, "|---|---|---|---|---|---|---|---|---|---|");
    for _ in &sla_cols {
        let _ = write!(s, "---|");
    }
    let _ = writeln!(s, "---|");
    for (i, row) in r.rows.iter().enumerate() {
        let steps = if row.original {
            "—".to_string()
        } else {
            row.steps
                .iter()
                .map(|st| {
                    let tag = match st.origin {
                        StepOrigin::Ran => "",
                        StepOrigin::Shared => " (shared)",
                        StepOrigin::Cached => " (cached)",
                    };
                    format!("{} {}{tag}", st.kind, st.settings)
                })
                .collect::<Vec<_>>()
                .join(" → ")
        };
        let mark = if Some(i) == r.winner {
            " **(chosen)**"
        } else if Some(i) == r.closest {
            " (closest)"
        } else {
            ""
        };
        let _ = write!(s, "| {}{mark} | {} |", row.name, steps.replace('|', "\\|"));
        match &row.numbers {
            Some(n) => {
                let _ = write!(
                    s,
                    " {} | {} | {} | {} | {:.1} | {} | {} | {} |",
                    human_bytes(n.size_bytes),
                    fmt(n.p50_ms),
                    fmt(n.p90_ms),
                    fmt(n.p99_ms),
                    n.throughput,
                    n.peak_rss_bytes.map_or("-".into(), human_bytes),
                    n.metric.map_or_else(
                        || format!(
                            "error: {}",
                            row.metric_error
                                .as_deref()
                                .unwrap_or("-")
                                .lines()
                                .next()
                                .unwrap_or("")
                        ),
                        fmt
                    ),
                    row.metric_change.map_or("-".into(), |c| format!("{c:+.4}")),
                );
                for col in &sla_cols {
                    match row.sla.iter().find(|c| &c.bound == col) {
                        Some(c) => {
                            let _ = write!(
                                s,
                                " {} {} |",
                                if c.met { "✓" } else { "✗" },
                                c.shown.trim()
                            );
                        }
                        None => {
                            let _ = write!(s, " |");
                        }
                    }
                }
                let _ = writeln!(s, " {} |", if row.sla_met { "✓ met" } else { "✗" });
            }
            None => {
                let reason = row.reason.as_deref().unwrap_or("not measured");
                let _ = write!(s, " — | — | — | — | — | — | — | — |");
                for _ in &sla_cols {
                    let _ = write!(s, " |");
                }
                let _ = writeln!(
                    s,
                    " {}: {} |",
                    match row.status {
                        RowStatus::Stopped => "stopped",
                        _ => "failed",
                    },
                    reason.replace('|', "\\|").replace('\n', " ")
                );
            }
        }
    }
    let _ = writeln!(s);
    if !r.pareto.is_empty() {
        let names: Vec<&str> = r.pareto.iter().map(|&i| r.rows[i].name.as_str()).collect();
        let _ = writeln!(
            s,
            "Pareto front of {metric} against median latency (no other row is both faster and better): {}.\n",
            names.join(", ")
        );
    }
    for c in charts {
        let name = |p: &Path| {
            p.file_name()
                .map_or(String::new(), |f| f.to_string_lossy().into_owned())
        };
        let _ = writeln!(
            s,
            "![{}]({})\n\n{} ([SVG]({}))\n",
            c.title,
            name(&c.png),
            c.caption,
            name(&c.svg)
        );
    }
    let _ = writeln!(s, "## Time\n");
    let _ = writeln!(
        s,
        "Total {:.1} s: steps {:.1} s ({} run here), measuring {:.1} s. Cache: {} steps ran, {} shared within this run, {} from earlier runs.\n",
        r.timing.total_seconds,
        r.timing.steps_seconds,
        r.timing.steps_run,
        r.timing.measure_seconds,
        r.cache.ran,
        r.cache.shared,
        r.cache.cached
    );
    let _ = writeln!(s, "| configuration | step | seconds | origin |");
    let _ = writeln!(s, "|---|---|---|---|");
    for row in r.rows.iter().filter(|r| !r.original) {
        for st in &row.steps {
            let _ = writeln!(
                s,
                "| {} | {} {} | {:.2} | {} |",
                row.name,
                st.kind,
                st.settings,
                st.seconds,
                match st.origin {
                    StepOrigin::Ran => "ran",
                    StepOrigin::Shared => "shared",
                    StepOrigin::Cached => "cached",
                }
            );
        }
    }
    let _ = writeln!(s);
    let failures: Vec<&Row> = r.rows.iter().filter(|r| r.metric_error.is_some()).collect();
    if !failures.is_empty() {
        let _ = writeln!(s, "## Metric errors\n");
        for row in failures {
            let _ = writeln!(
                s,
                "- **{}**: {}",
                row.name,
                row.metric_error
                    .as_deref()
                    .unwrap_or("")
                    .replace('\n', "\n  ")
            );
        }
        let _ = writeln!(s);
    }
    if !r.notes.is_empty() {
        let _ = writeln!(s, "## Notes\n");
        for n in &r.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}

/// `1.5 MiB`.
pub fn human_bytes(b: u64) -> String {
    bytesize::ByteSize::b(b).display().iec().to_string()
}

/// Half the interquartile range of the rounds' medians: how far apart two medians must be
/// before one model counts as faster (`None` with fewer than two rounds).
fn spread(rounds: &[f64]) -> Option<f64> {
    if rounds.len() < 2 {
        return None;
    }
    let mut r = rounds.to_vec();
    r.sort_by(f64::total_cmp);
    let q = |p: f64| r[((r.len() - 1) as f64 * p).round() as usize];
    Some((q(0.75) - q(0.25)) / 2.0)
}
