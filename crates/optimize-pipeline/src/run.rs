//! Running a pipeline: [`PipelineJob::plan`] expands the recipe into configurations and keys
//! every step; [`PipelineJob::run`] runs the steps that are not cached (level by level, so a
//! prefix shared by several chains runs once, `jobs` at a time), stops chains whose finished
//! prefix already misses a bound no later step can repair, measures every final model alone,
//! judges the SLA, picks the winner and writes the output folder ([`crate::report`]).

use crate::cache::{sha256_hex, Cache, Hasher, StepRecord};
use crate::measure::{Measurement, Meter};
use crate::recipe::{Configuration, Metric, PlannedStep, Recipe, Step, Strategy};
use crate::report::{self, PipelineReport, RowStatus, RowStep, StepOrigin};
use crate::sla::{self, Candidate, Numbers};
use crate::{Error, Result};
use optimize_bench::job::Isolation;
use optimize_job::{Cancel, Progress};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One pipeline to run, as data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineJob {
    /// The recipe (TOML; schema in recipes/README.md).
    pub recipe: PathBuf,
    /// The output folder [default: `pipeline-<recipe name>` in the current folder].
    #[serde(default)]
    pub out_dir: Option<PathBuf>,
    /// Steps run at once (default 1). Latency is always measured with nothing else running.
    #[serde(default = "one")]
    pub jobs: usize,
    /// Run steps that failed in an earlier run again instead of reporting their cached error.
    #[serde(default)]
    pub retry_failed: bool,
    /// The command line to record in the report.
    #[serde(default)]
    pub command: String,
    /// How each measurement runs (the CLI measures each model in a child process of its own).
    #[serde(skip)]
    pub isolation: Isolation,
}

fn one() -> usize {
    1
}

/// The expanded plan: every configuration with the cache key of each step.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The recipe.
    pub recipe: Recipe,
    /// The output folder.
    pub out_dir: PathBuf,
    /// The judge.
    pub metric: Metric,
    /// The original model's key (SHA-256 of its bytes).
    pub original_key: String,
    /// The configurations to run (after a `random` draw), in recipe order.
    pub rows: Vec<PlanRow>,
    /// Configurations the grids expanded to before a `random` draw.
    pub expanded: usize,
}

/// One configuration of the plan.
#[derive(Debug, Clone)]
pub struct PlanRow {
    /// The configuration.
    pub config: Configuration,
    /// The cache key of each step's output.
    pub keys: Vec<String>,
}

impl Plan {
    /// The plan in words, one line per configuration: its steps, and which the cache will skip.
    pub fn describe(&self, cache_root: &Path) -> Vec<String> {
        let mut lines = vec![format!(
            "{} configuration{} ({} expanded{}) + the original; judge: {}",
            self.rows.len(),
            if self.rows.len() == 1 { "" } else { "s" },
            self.expanded,
            if self.recipe.search.strategy == Strategy::Random {
                format!(
                    ", {} drawn with seed {}",
                    self.rows.len(),
                    self.recipe.search.seed
                )
            } else {
                String::new()
            },
            self.metric.describe()
        )];
        let mut seen = BTreeSet::new();
        for row in &self.rows {
            let steps: Vec<String> = row
                .config
                .steps
                .iter()
                .zip(&row.keys)
                .map(|(s, k)| {
                    let state = if cache_root.join("steps").join(k).is_dir() {
                        "cached"
                    } else if !seen.insert(k.clone()) {
                        "shared"
                    } else {
                        "to run"
                    };
                    format!("{} {{{}}} ({state})", s.step.kind(), s.settings)
                })
                .collect();
            for k in &row.keys {
                seen.insert(k.clone());
            }
            lines.push(format!("{}: {}", row.config.name, steps.join(" → ")));
        }
        lines
    }
}

/// What a step's worker sends back.
struct Done {
    key: String,
    record: StepRecord,
    model: Option<PathBuf>,
}

impl PipelineJob {
    /// A job for the recipe at `recipe`, one step at a time, default output folder.
    pub fn new(recipe: impl Into<PathBuf>) -> Self {
        PipelineJob {
            recipe: recipe.into(),
            out_dir: None,
            jobs: 1,
            retry_failed: false,
            command: String::new(),
            isolation: Isolation::InProcess,
        }
    }

    /// Loads the recipe and expands it into a plan with every step's cache key. Reads (hashes)
    /// the model and the data files; runs nothing.
    pub fn plan(&self) -> Result<Plan> {
        let recipe = Recipe::load(&self.recipe)?;
        let out_dir = self
            .out_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("pipeline-{}", recipe.name)));
        let labels = match &recipe.data.eval {
            Some(eval) => has_labels(eval),
            None => false,
        };
        let metric = recipe.resolve_metric(labels)?;
        let mut hasher = Hasher::default();
        let missing = |what: &str, path: &Path, e: Error| Error::MissingFile {
            recipe: recipe.path.clone(),
            what: what.into(),
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let original_key = hasher
            .model(&recipe.model)
            .map_err(|e| missing("model", &recipe.model, e))?;
        let mut configs = recipe.configurations.clone();
        let expanded = configs.len();
        if recipe.search.strategy == Strategy::Random {
            let count = recipe.search.count.unwrap_or(expanded).min(expanded);
            configs = draw(configs, count, recipe.search.seed);
        }
        let mut rows = Vec::with_capacity(configs.len());
        for config in configs {
            let mut parent = original_key.clone();
            let mut keys = Vec::with_capacity(config.steps.len());
            for s in &config.steps {
                let key = step_key(&parent, s, &mut hasher)
                    .map_err(|(p, e)| missing("a file of a step", &p, e))?;
                keys.push(key.clone());
                parent = key;
            }
            rows.push(PlanRow { config, keys });
        }
        Ok(Plan {
            recipe,
            out_dir,
            metric,
            original_key,
            rows,
            expanded,
        })
    }

    /// Runs the pipeline and writes its output folder. The report says whether a configuration
    /// met the SLA ([`PipelineReport::winner`]); errors are for work that could not be done at
    /// all (a bad recipe, the original not measurable, a folder not writable, Ctrl-C).
    pub fn run(&self, progress: &mut dyn Progress) -> Result<PipelineReport> {
        let started = Instant::now();
        let plan = self.plan()?;
        let recipe = &plan.recipe;
        std::fs::create_dir_all(&plan.out_dir).map_err(|source| Error::Io {
            path: plan.out_dir.clone(),
            source,
        })?;
        let cache = Cache::open(&plan.out_dir)?;
        let log = StepLog::open(&plan.out_dir.join("steps.log"))?;
        let meter = Meter {
            original: &recipe.model,
            target: &recipe.target,
            data: &recipe.data,
            metric: &plan.metric,
            isolation: &self.isolation,
        };
        let measure_key = measure_key(&plan)?;

        // The original's metric first: early exits and every verdict need it.
        progress.phase("measure the original", None);
        let original_probe = {
            let key = format!(
                "probe-{}",
                sha256_hex(format!("{}{measure_key}", plan.original_key).as_bytes())
            );
            match cache.measurement::<Measurement>(&key) {
                Some(m) => m,
                None => {
                    let m =
                        meter
                            .probe_metric(&recipe.model)
                            .map_err(|message| Error::Baseline {
                                path: recipe.model.clone(),
                                message,
                            })?;
                    cache.store_measurement(&key, &m)?;
                    m
                }
            }
        };
        let original_metric = match original_probe.metric {
            Some(m) => m,
            None => {
                return Err(Error::Baseline {
                    path: recipe.model.clone(),
                    message: original_probe
                        .metric_error
                        .clone()
                        .unwrap_or_else(|| "the metric could not be measured".into()),
                })
            }
        };

        let mut rows: Vec<RowRun> = plan
            .rows
            .iter()
            .map(|_| RowRun {
                model: recipe.model.clone(),
                steps: Vec::new(),
                status: None,
            })
            .collect();
        let steps_started = Instant::now();
        let to_run = plan
            .rows
            .iter()
            .flat_map(|r| r.keys.iter())
            .filter(|k| cache.model(k).is_none())
            .collect::<BTreeSet<_>>()
            .len();
        progress.phase("steps", Some(to_run as u64));
        let mut ran = 0u64;
        let mut ran_here: BTreeSet<String> = BTreeSet::new();
        let depth = plan.rows.iter().map(|r| r.keys.len()).max().unwrap_or(0);
        for level in 0..depth {
            // The distinct steps of this level that no earlier run finished.
            let mut tasks: BTreeMap<String, (PathBuf, PlannedStep)> = BTreeMap::new();
            for (row, run) in plan.rows.iter().zip(&rows) {
                if run.status.is_some() || level >= row.keys.len() {
                    continue;
                }
                let key = &row.keys[level];
                if cache.model(key).is_some() {
                    continue;
                }
                if self.retry_failed {
                    cache.forget_failure(key);
                } else if cache.record(key).is_some_and(|r| r.error.is_some()) {
                    continue;
                }
                tasks
                    .entry(key.clone())
                    .or_insert_with(|| (run.model.clone(), row.config.steps[level].clone()));
            }
            let names: BTreeMap<&String, &str> = plan
                .rows
                .iter()
                .filter(|r| level < r.keys.len())
                .map(|r| (&r.keys[level], r.config.name.as_str()))
                .collect();
            let done = self.run_tasks(&cache, tasks, progress, &mut ran, &|d: &Done| {
                // Logged as each step ends, so a killed run's log holds what finished.
                log.line(&format!(
                    "{} {} {} {}{}",
                    if d.model.is_some() { "ran" } else { "failed" },
                    d.key,
                    names.get(&d.key).copied().unwrap_or(""),
                    d.record.kind,
                    d.record
                        .error
                        .as_ref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ))
            })?;
            for d in &done {
                ran_here.insert(d.key.clone());
            }
            // Each chain takes its step's output, or stops with the step's error.
            let mut first_use: BTreeSet<String> = BTreeSet::new();
            for (row, run) in plan.rows.iter().zip(rows.iter_mut()) {
                if run.status.is_some() || level >= row.keys.len() {
                    continue;
                }
                let key = &row.keys[level];
                let step = &row.config.steps[level];
                let record = cache.record(key);
                let origin = if ran_here.contains(key) && first_use.insert(key.clone()) {
                    StepOrigin::Ran
                } else if ran_here.contains(key) {
                    StepOrigin::Shared
                } else {
                    StepOrigin::Cached
                };
                run.steps.push(RowStep {
                    kind: step.step.kind().into(),
                    settings: step.settings.clone(),
                    key: key.clone(),
                    origin,
                    seconds: record.as_ref().map_or(0.0, |r| r.seconds),
                    error: record.as_ref().and_then(|r| r.error.clone()),
                    report: record.as_ref().and_then(|r| r.report.clone()),
                });
                match cache.model(key) {
                    Some(m) => run.model = m,
                    None => {
                        let error = record
                            .and_then(|r| r.error)
                            .unwrap_or_else(|| "the step left no model".into());
                        run.status = Some((
                            RowStatus::Failed,
                            format!("step {} ({}) failed: {error}", level + 1, step.step.kind()),
                        ));
                    }
                }
            }
            let finished = plan
                .rows
                .iter()
                .zip(&rows)
                .filter(|(row, run)| run.status.is_some() || row.keys.len() <= level + 1)
                .count();
            progress.advance(
                ran,
                &format!(
                    "{finished} of {} configurations through their steps",
                    rows.len()
                ),
            );
            // Early exits: a finished prefix that misses a metric bound no later step can
            // repair (later steps do not train) stops its chain.
            if has_metric_bound(recipe) {
                for (row, run) in plan.rows.iter().zip(rows.iter_mut()) {
                    if run.status.is_some() || level + 1 >= row.keys.len() {
                        continue;
                    }
                    if row.config.steps[level + 1..]
                        .iter()
                        .any(|s| s.step.trains())
                    {
                        continue;
                    }
                    let key = &row.keys[level];
                    let probe_key = format!(
                        "probe-{}",
                        sha256_hex(format!("{key}{measure_key}").as_bytes())
                    );
                    let probe = match cache.measurement::<Measurement>(&probe_key) {
                        Some(m) => m,
                        None => {
                            let m = match meter.probe_metric(&run.model) {
                                Ok(m) => m,
                                Err(e) => {
                                    run.status = Some((
                                        RowStatus::Failed,
                                        format!(
                                            "measuring the metric after step {}: {e}",
                                            level + 1
                                        ),
                                    ));
                                    continue;
                                }
                            };
                            cache.store_measurement(&probe_key, &m)?;
                            m
                        }
                    };
                    let numbers = Numbers {
                        metric: probe.metric,
                        ..Numbers::default()
                    };
                    let metric_only = crate::recipe::Sla {
                        metric_max_drop: recipe.sla.metric_max_drop,
                        metric_min: recipe.sla.metric_min,
                        metric_max: recipe.sla.metric_max,
                        ..crate::recipe::Sla::default()
                    };
                    let checks = sla::judge(
                        &metric_only,
                        &plan.metric,
                        &numbers,
                        Some(original_metric),
                        None,
                    );
                    if let Some(miss) = checks.iter().find(|c| !c.met && c.value.is_some()) {
                        let later: Vec<&str> = row.config.steps[level + 1..]
                            .iter()
                            .map(|s| s.step.kind())
                            .collect();
                        run.status = Some((
                            RowStatus::Stopped,
                            format!(
                                "stopped after step {}: {} misses {}, and the steps left ({}) cannot raise it",
                                level + 1,
                                miss.shown,
                                miss.bound,
                                later.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        let steps_seconds = steps_started.elapsed().as_secs_f64();

        // Measure the original and every final model alone, in interleaved rounds.
        let measure_started = Instant::now();
        let mut targets: Vec<(Option<usize>, String, PathBuf)> =
            vec![(None, plan.original_key.clone(), recipe.model.clone())];
        for (i, run) in rows.iter().enumerate() {
            if run.status.is_none() {
                let key = plan.rows[i].keys.last().cloned().unwrap_or_default();
                targets.push((Some(i), key, run.model.clone()));
            }
        }
        let mkey = |model_key: &str| sha256_hex(format!("{model_key}{measure_key}").as_bytes());
        let mut measurements: Vec<Option<Measurement>> = vec![None; rows.len()];
        let mut original: Option<Measurement> = None;
        let mut to_measure = Vec::new();
        for (t, (row, key, _)) in targets.iter().enumerate() {
            match cache.measurement::<Measurement>(&mkey(key)) {
                Some(m) => match row {
                    Some(i) => measurements[*i] = Some(m),
                    None => original = Some(m),
                },
                None => to_measure.push(t),
            }
        }
        let rounds = recipe.target.rounds;
        progress.phase("measure", Some((to_measure.len() * rounds) as u64));
        let paths: Vec<&Path> = to_measure.iter().map(|&t| targets[t].2.as_path()).collect();
        let mut done = 0u64;
        let cancel = Cancel::new();
        let results = {
            let progress = &mut *progress;
            let names: Vec<String> = to_measure
                .iter()
                .map(|&t| match targets[t].0 {
                    Some(i) => plan.rows[i].config.name.clone(),
                    None => "original".into(),
                })
                .collect();
            let cancel = &cancel;
            let mut each = |i: usize| {
                done += 1;
                progress.advance(done, &names[i]);
                if progress.cancelled() {
                    cancel.raise();
                }
            };
            meter.measure_rounds(&paths, rounds, &|| cancel.is_raised(), &mut each)
        };
        if cancel.is_raised() {
            return Err(Error::Cancelled {
                cache: cache.root().to_path_buf(),
            });
        }
        for (&t, result) in to_measure.iter().zip(results) {
            let (row, key, _) = &targets[t];
            match result {
                Ok(m) => {
                    cache.store_measurement(&mkey(key), &m)?;
                    let name = row.map_or("original", |i| plan.rows[i].config.name.as_str());
                    log.line(&format!("measured {} {name}", mkey(key)));
                    match row {
                        Some(i) => measurements[*i] = Some(m),
                        None => original = Some(m),
                    }
                }
                Err(e) => match row {
                    Some(i) => {
                        rows[*i].status = Some((RowStatus::Failed, format!("measuring: {e}")))
                    }
                    None => {
                        return Err(Error::Baseline {
                            path: recipe.model.clone(),
                            message: e,
                        })
                    }
                },
            }
        }
        let Some(mut original) = original else {
            return Err(Error::Baseline {
                path: recipe.model.clone(),
                message: "not measured".into(),
            });
        };
        // The metric is the one every verdict was made against.
        original.metric = Some(original_metric);
        let measure_seconds = measure_started.elapsed().as_secs_f64();

        // Rows: the original first, then the configurations.
        let original_p50 = original.bench.as_ref().map(|b| b.latency.p50_ms);
        let mut out_rows = vec![report::row(
            "original",
            true,
            Vec::new(),
            None,
            Some(&original),
            &recipe.model,
            &plan,
            Some(original_metric),
            original_p50,
        )];
        for ((row, run), m) in plan.rows.iter().zip(rows).zip(&measurements) {
            out_rows.push(report::row(
                &row.config.name,
                false,
                run.steps,
                run.status,
                m.as_ref(),
                &run.model,
                &plan,
                Some(original_metric),
                original_p50,
            ));
        }
        let candidates: Vec<Option<Candidate>> = out_rows
            .iter()
            .map(|r| {
                r.numbers.as_ref().map(|n| Candidate {
                    numbers: n,
                    checks: &r.sla,
                })
            })
            .collect();
        let winner = sla::winner(
            &candidates,
            recipe.sla.select,
            plan.metric.higher_is_better(),
        );
        let closest = match winner {
            Some(_) => None,
            None => sla::closest(&candidates),
        };
        let report = report::finish(
            &plan,
            out_rows,
            winner,
            closest,
            report::Timing {
                total_seconds: started.elapsed().as_secs_f64(),
                steps_seconds,
                measure_seconds,
                steps_run: ran as usize,
            },
            self.jobs.max(1),
            &self.command,
        )?;
        Ok(report)
    }

    /// Runs `tasks` (key → input model and step), `jobs` at a time; `--auto` steps, which time
    /// models themselves, run alone after the others.
    fn run_tasks(
        &self,
        cache: &Cache,
        tasks: BTreeMap<String, (PathBuf, PlannedStep)>,
        progress: &mut dyn Progress,
        ran: &mut u64,
        finished: &dyn Fn(&Done),
    ) -> Result<Vec<Done>> {
        let (alone, shared): (Vec<_>, Vec<_>) = tasks
            .into_iter()
            .partition(|(_, (_, s))| times_itself(&s.step));
        let mut done = Vec::new();
        for (batch, workers) in [(shared, self.jobs.max(1)), (alone, 1)] {
            if batch.is_empty() {
                continue;
            }
            let cancel = Cancel::new();
            let queue = Mutex::new(batch.into_iter().collect::<Vec<_>>());
            let (tx, rx) = mpsc::channel::<Done>();
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    let tx = tx.clone();
                    let cancel = cancel.clone();
                    let queue = &queue;
                    scope.spawn(move || loop {
                        let task = queue.lock().map(|mut q| q.pop()).ok().flatten();
                        let Some((key, (input, step))) = task else {
                            break;
                        };
                        if cancel.is_raised() {
                            break;
                        }
                        let d = run_step(cache, &key, &input, &step, &cancel);
                        if tx.send(d).is_err() {
                            break;
                        }
                    });
                }
                drop(tx);
                loop {
                    match rx.recv_timeout(Duration::from_millis(200)) {
                        Ok(d) => {
                            finished(&d);
                            *ran += 1;
                            progress.advance(*ran, &d.record.kind);
                            done.push(d);
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            if progress.cancelled() {
                                cancel.raise();
                            }
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
            });
            if cancel.is_raised() || progress.cancelled() {
                return Err(Error::Cancelled {
                    cache: cache.root().to_path_buf(),
                });
            }
        }
        done.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(done)
    }
}

/// A chain while it runs: its current model, its steps so far, and why it ended early.
struct RowRun {
    model: PathBuf,
    steps: Vec<RowStep>,
    status: Option<(RowStatus, String)>,
}

/// Whether a step measures latency itself (and so must run with nothing beside it).
fn times_itself(step: &Step) -> bool {
    match step {
        Step::Quantize(q) => q.mode == optimize_quant::job::Mode::Auto || q.latency.enabled,
        Step::Prune(p) => p.latency.enabled,
        Step::Distill(_) => false,
    }
}

fn has_metric_bound(recipe: &Recipe) -> bool {
    recipe.sla.metric_max_drop.is_some()
        || recipe.sla.metric_min.is_some()
        || recipe.sla.metric_max.is_some()
}

/// Runs one step into a work folder and commits it to the cache (or records its failure).
fn run_step(cache: &Cache, key: &str, input: &Path, step: &PlannedStep, cancel: &Cancel) -> Done {
    let started = Instant::now();
    let mut record = StepRecord {
        key: key.into(),
        kind: step.step.kind().into(),
        settings: step.settings.clone(),
        seconds: 0.0,
        error: None,
        report: None,
    };
    let result = cache
        .work_dir(key)
        .map_err(|e| e.to_string())
        .and_then(|work| {
            execute(&step.step, input, &work, &mut cancel.clone()).map(|report| (work, report))
        });
    record.seconds = started.elapsed().as_secs_f64();
    match result {
        Ok((work, report)) => {
            record.report = Some(report);
            match cache.commit(&work, &record) {
                Ok(model) => Done {
                    key: key.into(),
                    record,
                    model: Some(model),
                },
                Err(e) => {
                    record.error = Some(e.to_string());
                    Done {
                        key: key.into(),
                        record,
                        model: None,
                    }
                }
            }
        }
        Err(e) => {
            record.error = Some(e);
            // A step cut short by Ctrl-C is not a failure: it runs again next time.
            if !cancel.is_raised() {
                let _ = cache.fail(&record);
            }
            Done {
                key: key.into(),
                record,
                model: None,
            }
        }
    }
}

/// Runs one job: `input` → `work/model.onnx`; returns the job's report as JSON.
fn execute(
    step: &Step,
    input: &Path,
    work: &Path,
    progress: &mut dyn Progress,
) -> std::result::Result<serde_json::Value, String> {
    let output = work.join("model.onnx");
    let json = |v: &dyn erased::Json| v.to_json();
    match step {
        Step::Quantize(c) => {
            let job = optimize_quant::job::QuantizeJob::new(input, &output, (**c).clone());
            let report = job.run(progress).map_err(|e| e.to_string())?;
            if !report.accepted() {
                return Err(rejected(report.outcome.verdict.as_ref()));
            }
            Ok(json(&report))
        }
        Step::Prune(c) => {
            let job = optimize_prune::job::PruneJob::new(input, &output, (**c).clone());
            let recover = optimize_distill::job::Recover;
            let finetune: Option<&dyn optimize_job::Finetune> = c
                .recover
                .as_ref()
                .map(|_| &recover as &dyn optimize_job::Finetune);
            let report = job.run(progress, finetune).map_err(|e| e.to_string())?;
            if !report.accepted() {
                return Err(rejected(report.outcome.verdict.as_ref()));
            }
            Ok(json(&report))
        }
        Step::Distill(d) => {
            let mut recipe =
                optimize_distill::Recipe::load(&d.recipe).map_err(|e| e.to_string())?;
            recipe.teacher = optimize_distill::recipe::TeacherSpec {
                onnx: Some(std::path::absolute(input).unwrap_or_else(|_| input.to_path_buf())),
                ..optimize_distill::recipe::TeacherSpec::default()
            };
            // The pipeline measures the student itself; the distillation report's own
            // comparisons (a student trained alone, latency in tract) would only cost time.
            recipe.report.baseline = false;
            recipe.report.latency = false;
            let options = optimize_distill::pipeline::DistillOptions {
                out_dir: work.join("distill"),
                resume: None,
                sweep: false,
            };
            match optimize_distill::pipeline::distill(recipe, &options, progress)
                .map_err(|e| e.to_string())?
            {
                optimize_distill::job::Outcome::Done(report) => {
                    let student = options.out_dir.join("student.onnx");
                    std::fs::copy(&student, &output)
                        .map_err(|e| format!("{}: {e}", student.display()))?;
                    Ok(json(report.as_ref()))
                }
                optimize_distill::job::Outcome::Interrupted { .. } => Err("interrupted".into()),
            }
        }
    }
}

fn rejected(verdict: Option<&optimize_bench::Verdict>) -> String {
    match verdict {
        Some(v) => format!(
            "the step's verification rejected its output ({}): {}",
            v.judge,
            v.failures.join("; ")
        ),
        None => "the step wrote no output".into(),
    }
}

/// Serializing the jobs' reports through one function.
mod erased {
    pub trait Json {
        fn to_json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}

/// The key of a step's output: its input's key, the step as JSON, and the contents of every
/// file the step reads.
fn step_key(
    parent: &str,
    step: &PlannedStep,
    hasher: &mut Hasher,
) -> std::result::Result<String, (PathBuf, Error)> {
    let mut files: Vec<PathBuf> = Vec::new();
    match &step.step {
        Step::Quantize(q) => files.extend(q.calibrate.iter().chain(&q.eval).cloned()),
        Step::Prune(p) => files.extend(p.eval.iter().chain(&p.recover).cloned()),
        Step::Distill(d) => {
            files.push(d.recipe.clone());
            // The data the distillation recipe reads is part of what it produces.
            if let Ok(r) = optimize_distill::Recipe::load(&d.recipe) {
                files.push(r.resolve(&r.data.path));
                files.extend(r.data.test.as_deref().map(|t| r.resolve(t)));
            }
        }
    }
    let mut text = format!(
        "{parent}\n{}\n",
        serde_json::to_string(&step.step).unwrap_or_default()
    );
    for f in files {
        let h = hasher.file(&f).map_err(|e| (f.clone(), e))?;
        text.push_str(&h);
        text.push('\n');
    }
    Ok(sha256_hex(text.as_bytes()))
}

/// The key of how models are measured: target, data, metric and the original.
fn measure_key(plan: &Plan) -> Result<String> {
    let mut hasher = Hasher::default();
    let eval = match &plan.recipe.data.eval {
        Some(e) => hasher.file(e)?,
        None => String::new(),
    };
    let text = serde_json::json!({
        "target": plan.recipe.target,
        "shapes": plan.recipe.data.shapes,
        "eval": eval,
        "metric": plan.metric,
        "original": plan.original_key,
    });
    Ok(sha256_hex(text.to_string().as_bytes()))
}

/// Whether the evaluation data (a file, or the first file of a folder) has a `label` array.
fn has_labels(eval: &Path) -> bool {
    let file = if eval.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(eval)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        match files.into_iter().find(|f| f.is_file()) {
            Some(f) => f,
            None => return false,
        }
    } else {
        eval.to_path_buf()
    };
    optimize_data::read_array_infos(&file)
        .map(|infos| infos.iter().any(|i| i.name == "label"))
        .unwrap_or(false)
}

/// `count` of `configs`, drawn without replacement with `seed`, kept in recipe order.
fn draw(configs: Vec<Configuration>, count: usize, seed: u64) -> Vec<Configuration> {
    let mut rng = optimize_data::SplitMix64::new(seed);
    let mut idx: Vec<usize> = (0..configs.len()).collect();
    for i in (1..idx.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        idx.swap(i, j);
    }
    let mut chosen: Vec<usize> = idx.into_iter().take(count).collect();
    chosen.sort_unstable();
    let mut configs: Vec<Option<Configuration>> = configs.into_iter().map(Some).collect();
    chosen
        .into_iter()
        .filter_map(|i| configs[i].take())
        .collect()
}

/// `steps.log`: one line per step run and model measured, appended, so a test (or a user) can
/// see that nothing ran twice across interrupted runs.
struct StepLog {
    file: Mutex<std::fs::File>,
}

impl StepLog {
    fn open(path: &Path) -> Result<StepLog> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(StepLog {
            file: Mutex::new(file),
        })
    }

    fn line(&self, line: &str) {
        if let Ok(mut f) = self.file.lock() {
            let _ = writeln!(f, "{line}");
            let _ = f.sync_data();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_draw_is_seeded_and_ordered() {
        let configs: Vec<Configuration> = (0..10)
            .map(|i| Configuration {
                name: format!("c{i}"),
                steps: Vec::new(),
            })
            .collect();
        let a: Vec<String> = draw(configs.clone(), 4, 7)
            .into_iter()
            .map(|c| c.name)
            .collect();
        let b: Vec<String> = draw(configs.clone(), 4, 7)
            .into_iter()
            .map(|c| c.name)
            .collect();
        let c: Vec<String> = draw(configs, 4, 8).into_iter().map(|c| c.name).collect();
        assert_eq!(a, b);
        assert_eq!(a.len(), 4);
        assert_ne!(a, c);
        let mut sorted = a.clone();
        sorted.sort_by_key(|n| n[1..].parse::<usize>().unwrap());
        assert_eq!(a, sorted);
    }
}
