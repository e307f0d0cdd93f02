//! The pipeline recipe: one TOML file naming the model, its data, the metric that judges it,
//! the target it is measured on, the service-level agreement, and the configurations to try.
//! The schema, with examples, is in `recipes/README.md`.
//!
//! ```toml
//! [model]
//! path = "../models/digits-cnn.onnx"
//! [data]
//! calibrate = "../models/data/digits-train-cnn.npz"
//! eval = "../models/data/digits-test-cnn.npz"
//! [sla]
//! latency_p50_ms = 0.05
//! metric_max_drop = 0.01
//! select = "latency"
//! [[configs]]
//! name = "int8"
//! steps = [{ quantize = { mode = "static", per_channel = [false, true] } }]
//! ```
//!
//! Every table rejects keys it does not know, and every error names the line and the key path.
//! A step's table is the config of that job ([`optimize_quant::job::QuantizeConfig`],
//! [`optimize_prune::job::PruneConfig`], or a distillation recipe): a list where the job takes
//! one value expands into a grid over its values (`ratio = [0.25, 0.5]`: two configurations);
//! a job setting that is itself a list is written as a list of one list (`[["Conv"]]`).
//! Relative paths are relative to the recipe's folder.

use crate::{Error, Result};
use optimize_bench::task::MetricCommand;
use optimize_bench::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The recipe as written, checked against the schema.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipeFile {
    name: Option<String>,
    model: ModelSpec,
    #[serde(default)]
    data: DataSpec,
    #[serde(default)]
    metric: MetricSpec,
    #[serde(default)]
    target: TargetSpec,
    #[serde(default)]
    sla: Sla,
    #[serde(default)]
    search: SearchSpec,
    #[serde(default)]
    configs: Vec<ConfigFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelSpec {
    path: PathBuf,
}

/// `[data]`: what every step and the measurement read unless a step names its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Calibration data (static int8 and `--auto` steps).
    pub calibrate: Option<PathBuf>,
    /// Evaluation data: what the metric and the latency are measured on; with a `label` array,
    /// top-1 accuracy.
    pub eval: Option<PathBuf>,
    /// Whole shapes of inputs with symbolic axes, for seeded inputs when there is no data.
    #[serde(default)]
    pub shapes: BTreeMap<String, Vec<usize>>,
}

/// `[metric]`: what "quality" means for this model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    /// `top1` (needs labels), `cosine` or `max_abs` (against the original's outputs), or
    /// `command`; unset: `command` when one is given, else `top1` with labelled evaluation
    /// data, else `cosine`.
    pub kind: Option<MetricKind>,
    /// The user's evaluation program and its arguments; `{model}` is replaced by the model's
    /// path. It prints one number as the last word of its output. Arguments starting with `./`
    /// or `../` are paths relative to the recipe's folder; others are passed as written (a bare
    /// program name is looked up in `PATH`).
    pub command: Option<Vec<String>>,
    /// Whether larger numbers of the command are better (default true).
    pub higher_is_better: Option<bool>,
    /// Longest one run of the command may take (default 10 minutes).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
}

/// The built-in and external metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Top-1 accuracy on labelled evaluation data.
    Top1,
    /// The smallest per-channel cosine similarity of any output with the original's.
    Cosine,
    /// The largest absolute difference of any output value from the original's.
    MaxAbs,
    /// The user's command.
    Command,
}

/// The judge once resolved: which metric, and which way is better.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Metric {
    /// Top-1 accuracy (0–1) on the evaluation data's labels.
    Top1,
    /// Per-channel cosine with the original's outputs (smallest over outputs).
    Cosine,
    /// Largest absolute output difference from the original's.
    MaxAbs,
    /// The user's command.
    Command(MetricCommand),
}

impl Metric {
    /// Whether larger is better.
    pub fn higher_is_better(&self) -> bool {
        match self {
            Metric::Top1 | Metric::Cosine => true,
            Metric::MaxAbs => false,
            Metric::Command(c) => c.higher_is_better,
        }
    }

    /// How reports name it.
    pub fn describe(&self) -> String {
        match self {
            Metric::Top1 => "top-1 accuracy".into(),
            Metric::Cosine => "per-channel cosine with the original".into(),
            Metric::MaxAbs => "max abs difference from the original".into(),
            Metric::Command(c) => c.describe(),
        }
    }

    /// Short column name.
    pub fn short(&self) -> &'static str {
        match self {
            Metric::Top1 => "top-1",
            Metric::Cosine => "cosine",
            Metric::MaxAbs => "max abs",
            Metric::Command(_) => "metric",
        }
    }
}

/// `[target]`: where latency, throughput and memory are measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetSpec {
    /// `ort` (ONNX Runtime, default) or `tract`.
    pub engine: Engine,
    /// Intra-op threads (default 1).
    pub threads: usize,
    /// Batch size for inputs whose first axis is symbolic (default 1).
    pub batch: usize,
    /// Untimed calls first (default 10).
    pub warmup: usize,
    /// Fewest timed calls (default 100).
    pub iterations: usize,
    /// Least total time of the timed calls (default 1 s).
    #[serde(with = "humantime_serde")]
    pub min_duration: Duration,
    /// Rounds the calls and time are split into, every model timed in turn in each round, so
    /// a drift in machine load hits all alike (default 5); the statistics are medians over
    /// rounds.
    pub rounds: usize,
}

impl Default for TargetSpec {
    fn default() -> Self {
        TargetSpec {
            engine: Engine::Ort,
            threads: 1,
            batch: 1,
            warmup: 10,
            iterations: 100,
            min_duration: Duration::from_secs(1),
            rounds: 5,
        }
    }
}

/// `[sla]`: the service-level agreement every configuration is judged against. Every bound is
/// optional; a configuration meets the SLA when it meets every bound given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sla {
    /// Median latency per call at most this many milliseconds.
    pub latency_p50_ms: Option<f64>,
    /// 90th percentile latency at most this.
    pub latency_p90_ms: Option<f64>,
    /// 99th percentile latency at most this.
    pub latency_p99_ms: Option<f64>,
    /// Median latency at most this fraction of the original's, both timed in the same
    /// interleaved rounds (0.8: at least 20% faster). Unlike a bound in ms, it holds its
    /// meaning on a machine whose speed drifts.
    pub latency_p50_ratio: Option<f64>,
    /// At least this many samples per second (batch ÷ median latency).
    pub throughput_min: Option<f64>,
    /// The metric may fall at most this far from the original's (in its own units: 0.01 is one
    /// point of top-1 accuracy).
    pub metric_max_drop: Option<f64>,
    /// The metric at least this (for a metric where higher is better).
    pub metric_min: Option<f64>,
    /// The metric at most this (for a metric where lower is better).
    pub metric_max: Option<f64>,
    /// File size at most this (`"100 KiB"`, `"2MB"` or bytes), external data included.
    pub size_max: Option<bytesize::ByteSize>,
    /// Peak resident memory of the measuring process at most this.
    pub peak_rss_max: Option<bytesize::ByteSize>,
    /// Which SLA-meeting configuration wins (default `latency`).
    pub select: Select,
}

/// What decides between configurations that all meet the SLA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Select {
    /// The lowest median latency.
    #[default]
    Latency,
    /// The smallest file.
    Size,
    /// The best metric.
    Metric,
}

/// `[search]`: how the configurations are chosen from their grids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchSpec {
    /// `grid` (every combination, default) or `random` (`count` of them, drawn with `seed`).
    pub strategy: Strategy,
    /// How many configurations `random` draws (the original is always a row besides).
    pub count: Option<usize>,
    /// Seed of `random`.
    pub seed: u64,
}

impl Default for SearchSpec {
    fn default() -> Self {
        SearchSpec {
            strategy: Strategy::Grid,
            count: None,
            seed: 0,
        }
    }
}

/// How grids are searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Every combination.
    #[default]
    Grid,
    /// A seeded sample of the combinations.
    Random,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    name: Option<String>,
    steps: Vec<toml::Spanned<toml::Table>>,
}

/// One step of a chain, with its job's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Distillation: the step's input model is the teacher; the recipe gives the student, data,
    /// loss and schedule (its `[teacher]` is replaced).
    Distill(DistillStep),
    /// A pruning job's config.
    Prune(Box<optimize_prune::job::PruneConfig>),
    /// A quantization job's config.
    Quantize(Box<optimize_quant::job::QuantizeConfig>),
}

/// A distillation step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistillStep {
    /// The distillation recipe (schema in recipes/README.md).
    pub recipe: PathBuf,
}

impl Step {
    /// `quantize`, `prune` or `distill`.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Distill(_) => "distill",
            Step::Prune(_) => "prune",
            Step::Quantize(_) => "quantize",
        }
    }

    /// Whether the step trains, so it can raise the metric again after an earlier step lowered
    /// it.
    pub fn trains(&self) -> bool {
        match self {
            Step::Distill(_) => true,
            Step::Prune(c) => c.recover.is_some(),
            Step::Quantize(_) => false,
        }
    }
}

/// One configuration: a name and its chain of steps, each with the settings it was expanded to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Configuration {
    /// Unique within the plan (`int8`, `pruned[ratio=0.25]`).
    pub name: String,
    /// The steps, in order.
    pub steps: Vec<PlannedStep>,
}

/// A step as planned: the job config, and the grid values that chose it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedStep {
    /// The step.
    pub step: Step,
    /// The settings the grid chose for it (`ratio=0.25`), empty without a grid.
    pub chosen: Vec<(String, String)>,
    /// The settings as written in the recipe, after expansion, for reports.
    pub settings: String,
}

/// A parsed, validated recipe.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// The recipe file.
    pub path: PathBuf,
    /// Its name (`name = ...`, else the file stem).
    pub name: String,
    /// The model to optimize.
    pub model: PathBuf,
    /// The shared data.
    pub data: DataSpec,
    /// The metric as written.
    pub metric: MetricSpec,
    /// Where models are measured.
    pub target: TargetSpec,
    /// The agreement.
    pub sla: Sla,
    /// How configurations are drawn.
    pub search: SearchSpec,
    /// Every configuration the grids expand to, before `random` draws from them.
    pub configurations: Vec<Configuration>,
}

/// Most configurations one recipe may expand to: a typo such as a list of 1000 ratios should
/// fail fast, not run for a week.
pub const MAX_CONFIGURATIONS: usize = 10_000;

impl Recipe {
    /// Reads and validates the recipe at `path`, and checks that the files it names exist.
    pub fn load(path: impl AsRef<Path>) -> Result<Recipe> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadRecipe {
            path: path.to_path_buf(),
            source,
        })?;
        let recipe = Recipe::parse(&text, path)?;
        recipe.check_files()?;
        Ok(recipe)
    }

    /// Parses and validates recipe text; `path` names it in messages and anchors relative
    /// paths. Does not look at the files it names.
    pub fn parse(text: &str, path: &Path) -> Result<Recipe> {
        let de = toml::Deserializer::parse(text).map_err(|e| toml_error(text, path, "-", &e))?;
        let file: RecipeFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = match e.path().to_string() {
                p if p == "." => "-".to_string(),
                p => p,
            };
            toml_error(text, path, &key, e.inner())
        })?;
        let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let resolve = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                clean(p)
            } else {
                clean(&base.join(p))
            }
        };
        let invalid = |key: &str, message: String| Error::Recipe {
            path: path.to_path_buf(),
            line: line_of_key(text, 0..text.len(), key.rsplit('.').next().unwrap_or(key)),
            key: key.into(),
            message,
        };
        let data = DataSpec {
            calibrate: file.data.calibrate.as_deref().map(resolve),
            eval: file.data.eval.as_deref().map(resolve),
            shapes: file.data.shapes.clone(),
        };
        check_sla(&file.sla, &invalid)?;
        check_metric(&file.metric, &invalid)?;
        if file.target.threads == 0
            || file.target.batch == 0
            || file.target.iterations == 0
            || file.target.rounds == 0
        {
            return Err(invalid(
                "target",
                "threads, batch, iterations and rounds must be at least 1".into(),
            ));
        }
        if file.search.strategy == Strategy::Random && file.search.count.unwrap_or(0) == 0 {
            return Err(invalid(
                "search.count",
                "`random` needs `count`, the number of configurations to draw (at least 1)".into(),
            ));
        }
        if file.configs.is_empty() {
            return Err(invalid(
                "configs",
                "no configuration: add at least one [[configs]] with its steps".into(),
            ));
        }
        let mut configurations = Vec::new();
        let mut names = BTreeMap::new();
        for (ci, config) in file.configs.iter().enumerate() {
            let base_name = config
                .name
                .clone()
                .unwrap_or_else(|| format!("config{}", ci + 1));
            if let Some(first) = names.insert(base_name.clone(), ci) {
                return Err(invalid(
                    &format!("configs[{ci}].name"),
                    format!("`{base_name}` is also the name of configs[{first}]"),
                ));
            }
            if config.steps.is_empty() {
                return Err(invalid(
                    &format!("configs[{ci}].steps"),
                    "a configuration needs at least one step".into(),
                ));
            }
            let mut per_step: Vec<Vec<PlannedStep>> = Vec::new();
            for (si, spanned) in config.steps.iter().enumerate() {
                let at = StepAt {
                    text,
                    path,
                    span: spanned.span(),
                    key: format!("configs[{ci}].steps[{si}]"),
                };
                per_step.push(expand_step(spanned.get_ref(), &at, &resolve, &data)?);
            }
            let combos: usize = per_step.iter().map(Vec::len).product();
            if configurations.len() + combos > MAX_CONFIGURATIONS {
                return Err(invalid(
                    &format!("configs[{ci}]"),
                    format!("the grids expand to more than {MAX_CONFIGURATIONS} configurations"),
                ));
            }
            for steps in cartesian(&per_step) {
                let chosen: Vec<String> = steps
                    .iter()
                    .flat_map(|s| s.chosen.iter().map(|(k, v)| format!("{k}={v}")))
                    .collect();
                let name = if chosen.is_empty() {
                    base_name.clone()
                } else {
                    format!("{base_name}[{}]", chosen.join(","))
                };
                configurations.push(Configuration { name, steps });
            }
        }
        let name = file.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map_or("pipeline".into(), |s| s.to_string_lossy().into_owned())
        });
        Ok(Recipe {
            path: path.to_path_buf(),
            name,
            model: resolve(&file.model.path),
            data,
            metric: file.metric.clone(),
            target: file.target.clone(),
            sla: file.sla.clone(),
            search: file.search,
            configurations,
        })
    }

    /// Checks that every file the recipe names exists.
    pub fn check_files(&self) -> Result<()> {
        let mut files: Vec<(String, PathBuf)> = vec![("model".into(), self.model.clone())];
        files.extend(
            self.data
                .calibrate
                .clone()
                .map(|p| ("data.calibrate".into(), p)),
        );
        files.extend(self.data.eval.clone().map(|p| ("data.eval".into(), p)));
        for c in &self.configurations {
            for s in &c.steps {
                match &s.step {
                    Step::Distill(d) => files.push(("distill recipe".into(), d.recipe.clone())),
                    Step::Prune(p) => {
                        files.extend(p.eval.clone().map(|e| ("prune eval".into(), e)));
                        files.extend(p.recover.clone().map(|e| ("prune recover".into(), e)));
                    }
                    Step::Quantize(q) => {
                        files.extend(
                            q.calibrate
                                .clone()
                                .map(|e| ("quantize calibrate".into(), e)),
                        );
                        files.extend(q.eval.clone().map(|e| ("quantize eval".into(), e)));
                    }
                }
            }
        }
        files.sort();
        files.dedup();
        for (what, file) in files {
            if !file.exists() {
                return Err(Error::MissingFile {
                    recipe: self.path.clone(),
                    what,
                    path: file,
                    message: "no such file or folder".into(),
                });
            }
        }
        Ok(())
    }

    /// The metric that judges, resolved: `labels` says whether the evaluation data has labels.
    pub fn resolve_metric(&self, labels: bool) -> Result<Metric> {
        let kind = self
            .metric
            .kind
            .unwrap_or(if self.metric.command.is_some() {
                MetricKind::Command
            } else if labels {
                MetricKind::Top1
            } else {
                MetricKind::Cosine
            });
        let recipe_error = |message: &str| Error::Recipe {
            path: self.path.clone(),
            line: 1,
            key: "metric".into(),
            message: message.into(),
        };
        Ok(match kind {
            MetricKind::Top1 if !labels => {
                return Err(recipe_error(
                    "`top1` needs evaluation data with a `label` array ([data] eval)",
                ))
            }
            MetricKind::Top1 => Metric::Top1,
            MetricKind::Cosine => Metric::Cosine,
            MetricKind::MaxAbs => Metric::MaxAbs,
            MetricKind::Command => {
                let argv = self
                    .metric
                    .command
                    .clone()
                    .ok_or_else(|| recipe_error("`command` kind needs `command = [...]`"))?;
                // `./x` and `../x` are the recipe's neighbours, wherever the command runs from.
                let base = self.path.parent().unwrap_or(Path::new(""));
                let argv = argv
                    .into_iter()
                    .map(|a| {
                        if a.starts_with("./") || a.starts_with("../") {
                            clean(&base.join(&a)).display().to_string()
                        } else {
                            a
                        }
                    })
                    .collect();
                let mut c = MetricCommand {
                    argv,
                    higher_is_better: self.metric.higher_is_better.unwrap_or(true),
                    timeout: Duration::from_secs(600),
                };
                if let Some(t) = self.metric.timeout {
                    c.timeout = t;
                }
                Metric::Command(c)
            }
        })
    }
}

/// Where a step is in the recipe, for messages.
struct StepAt<'a> {
    text: &'a str,
    path: &'a Path,
    span: std::ops::Range<usize>,
    key: String,
}

impl StepAt<'_> {
    fn error(&self, key: &str, message: impl Into<String>) -> Error {
        let leaf = key.rsplit('.').next().unwrap_or(key);
        let leaf = leaf.split('[').next().unwrap_or(leaf);
        Error::Recipe {
            path: self.path.to_path_buf(),
            // A `[[configs.steps]]` table's span is its header; its keys follow it.
            line: line_of_key(self.text, self.span.start..self.text.len(), leaf),
            key: format!("{}.{key}", self.key),
            message: message.into(),
        }
    }
}

/// `a/b/../c` → `a/c`, lexically (reports show paths as a reader would write them).
fn clean(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                let last = out.components().next_back();
                if matches!(last, Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// One step table (`{ prune = { ... } }`) expanded into every combination of its grid values,
/// each deserialized into its job's config and validated.
fn expand_step(
    table: &toml::Table,
    at: &StepAt,
    resolve: &dyn Fn(&Path) -> PathBuf,
    data: &DataSpec,
) -> Result<Vec<PlannedStep>> {
    let mut entries = table.iter();
    let (kind, body) = match (entries.next(), entries.next()) {
        (Some((k, v)), None) => (k.as_str(), v),
        _ => {
            return Err(at.error(
                "-",
                "a step is one table: `{ quantize = {...} }`, `{ prune = {...} }` or `{ distill = {...} }`",
            ))
        }
    };
    if !matches!(kind, "quantize" | "prune" | "distill") {
        return Err(at.error(
            kind,
            format!("unknown step `{kind}`: expected quantize, prune or distill"),
        ));
    }
    let toml::Value::Table(body) = body else {
        return Err(at.error(kind, "expected a table of the job's settings"));
    };
    // Axes of the grid: every list value at the top of the job's table. A list of one list is
    // one list-valued setting.
    let mut axes: Vec<(String, Vec<toml::Value>)> = Vec::new();
    let mut fixed = toml::Table::new();
    for (key, value) in body {
        match value {
            toml::Value::Array(items) if items.len() == 1 && items[0].is_array() => {
                fixed.insert(key.clone(), items[0].clone());
            }
            toml::Value::Array(items) => {
                if items.is_empty() {
                    return Err(at.error(
                        &format!("{kind}.{key}"),
                        "an empty list expands to no configuration",
                    ));
                }
                axes.push((key.clone(), items.clone()));
            }
            _ => {
                fixed.insert(key.clone(), value.clone());
            }
        }
    }
    let axis_values: Vec<Vec<(String, toml::Value)>> = axes
        .iter()
        .map(|(k, vs)| vs.iter().map(|v| (k.clone(), v.clone())).collect())
        .collect();
    let mut out = Vec::new();
    for combo in cartesian(&axis_values) {
        let mut t = fixed.clone();
        let mut chosen = Vec::new();
        for (k, v) in combo {
            chosen.push((k.clone(), short_value(&v)));
            t.insert(k, v);
        }
        let settings = short_table(&t);
        let step = deserialize_step(kind, t, at, resolve, data)?;
        out.push(PlannedStep {
            step,
            chosen,
            settings,
        });
    }
    Ok(out)
}

fn deserialize_step(
    kind: &str,
    table: toml::Table,
    at: &StepAt,
    resolve: &dyn Fn(&Path) -> PathBuf,
    data: &DataSpec,
) -> Result<Step> {
    fn typed<T: serde::de::DeserializeOwned>(
        kind: &str,
        table: toml::Table,
        at: &StepAt,
    ) -> Result<T> {
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let inner = e.inner().to_string();
            let path = e.path().to_string();
            // serde names an unknown field in its message; the path may or may not end with it.
            let path = match unknown_field(&inner) {
                Some(f) if path == "." => f.to_string(),
                Some(f) if !path.ends_with(f) => format!("{path}.{f}"),
                _ => path,
            };
            let key = if path == "." {
                kind.to_string()
            } else {
                format!("{kind}.{path}")
            };
            at.error(&key, inner.trim().replace('\n', "; "))
        })
    }
    Ok(match kind {
        "quantize" => {
            let own_timing = table.contains_key("latency");
            let mut c: optimize_quant::job::QuantizeConfig = typed(kind, table, at)?;
            // The pipeline measures every model on its target, alone; a step's own before/after
            // timing would only cost time (and run beside other steps with `--jobs`).
            c.latency.enabled &= own_timing;
            c.calibrate = c
                .calibrate
                .as_deref()
                .map(resolve)
                .or(data.calibrate.clone());
            c.eval = c.eval.as_deref().map(resolve).or(data.eval.clone());
            for (k, v) in &data.shapes {
                c.shapes.entry(k.clone()).or_insert_with(|| v.clone());
            }
            // The pipeline's metric and SLA judge the result; each step is held to the rules
            // every output meets (finite, not all zeros) unless its table sets a policy.
            if c.verify.policy.is_none() && c.mode != optimize_quant::job::Mode::Auto {
                c.verify.policy = Some(optimize_bench::VerifyPolicy::none());
            }
            c.validate().map_err(|e| at.error(kind, e.to_string()))?;
            Step::Quantize(Box::new(c))
        }
        "prune" => {
            let own_timing = table.contains_key("latency");
            let mut c: optimize_prune::job::PruneConfig = typed(kind, table, at)?;
            c.latency.enabled &= own_timing;
            c.eval = c.eval.as_deref().map(resolve).or(data.eval.clone());
            c.recover = c.recover.as_deref().map(resolve);
            for (k, v) in &data.shapes {
                c.shapes.entry(k.clone()).or_insert_with(|| v.clone());
            }
            c.validate().map_err(|e| at.error(kind, e.to_string()))?;
            Step::Prune(Box::new(c))
        }
        _ => {
            let mut d: DistillStep = typed(kind, table, at)?;
            d.recipe = resolve(&d.recipe);
            Step::Distill(d)
        }
    })
}

/// `unknown field `ratoi`, expected ...` → `ratoi`.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// Every combination of one item from each list, the first list varying slowest.
fn cartesian<T: Clone>(lists: &[Vec<T>]) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = vec![Vec::new()];
    for list in lists {
        let mut next = Vec::with_capacity(out.len() * list.len());
        for prefix in &out {
            for item in list {
                let mut p = prefix.clone();
                p.push(item.clone());
                next.push(p);
            }
        }
        out = next;
    }
    out
}

fn short_value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn short_table(t: &toml::Table) -> String {
    t.iter()
        .map(|(k, v)| format!("{k}={}", short_value(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn check_sla(sla: &Sla, invalid: &dyn Fn(&str, String) -> Error) -> Result<()> {
    for (key, v) in [
        ("sla.latency_p50_ms", sla.latency_p50_ms),
        ("sla.latency_p90_ms", sla.latency_p90_ms),
        ("sla.latency_p99_ms", sla.latency_p99_ms),
        ("sla.latency_p50_ratio", sla.latency_p50_ratio),
        ("sla.throughput_min", sla.throughput_min),
    ] {
        if let Some(v) = v {
            if !(v.is_finite() && v > 0.0) {
                return Err(invalid(key, format!("{v} must be above 0")));
            }
        }
    }
    if let Some(d) = sla.metric_max_drop {
        if !(d.is_finite() && d >= 0.0) {
            return Err(invalid(
                "sla.metric_max_drop",
                format!("{d} must be 0 or more"),
            ));
        }
    }
    Ok(())
}

fn check_metric(m: &MetricSpec, invalid: &dyn Fn(&str, String) -> Error) -> Result<()> {
    if let Some(c) = &m.command {
        if c.is_empty() {
            return Err(invalid("metric.command", "the command is empty".into()));
        }
        if m.kind.is_some_and(|k| k != MetricKind::Command) {
            return Err(invalid(
                "metric.command",
                "a command is given but `kind` names a built-in metric; drop one of them".into(),
            ));
        }
    }
    Ok(())
}

/// The 1-based line of the first `key =` (or `[key`) within `span` of `text`, else of the
/// span's start.
fn line_of_key(text: &str, span: std::ops::Range<usize>, key: &str) -> usize {
    let start = span.start.min(text.len());
    let end = span.end.min(text.len()).max(start);
    let region = &text[start..end];
    let mut found = None;
    if !key.is_empty() && key != "-" {
        let mut from = 0;
        while let Some(i) = region[from..].find(key) {
            let at = from + i;
            let before = region[..at].chars().next_back();
            let after = region[at + key.len()..].trim_start().chars().next();
            let bounded = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            if bounded && matches!(after, Some('=') | Some(']') | Some('.')) {
                found = Some(start + at);
                break;
            }
            from = at + key.len();
        }
    }
    let offset = found.unwrap_or(start);
    text[..offset].matches('\n').count() + 1
}

/// Turns toml's error into ours: the 1-based line of its span, the key path serde was at.
fn toml_error(text: &str, path: &Path, key: &str, e: &toml::de::Error) -> Error {
    let line = e.span().map_or(1, |span| {
        let start = span.start.min(text.len());
        text[..start].matches('\n').count() + 1
    });
    Error::Recipe {
        path: path.to_path_buf(),
        line,
        key: key.into(),
        message: e.message().trim().replace('\n', "; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[model]\npath = \"m.onnx\"\n";

    fn parse(body: &str) -> Result<Recipe> {
        Recipe::parse(&format!("{BASE}{body}"), Path::new("r/recipe.toml"))
    }

    fn recipe_error(r: Result<Recipe>) -> (usize, String, String) {
        match r {
            Err(Error::Recipe {
                line, key, message, ..
            }) => (line, key, message),
            other => panic!("expected a recipe error, got {other:?}"),
        }
    }

    #[test]
    fn grid_values_expand_in_order() {
        let r = parse(
            "[data]\ncalibrate = \"c.npz\"\n[[configs]]\nname = \"p\"\n[[configs.steps]]\nprune = { method = \"channels\", ratio = [0.25, 0.5] }\n[[configs.steps]]\nquantize = { mode = [\"static\", \"fp16\"] }\n",
        )
        .unwrap();
        let names: Vec<&str> = r.configurations.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "p[ratio=0.25,mode=static]",
                "p[ratio=0.25,mode=fp16]",
                "p[ratio=0.5,mode=static]",
                "p[ratio=0.5,mode=fp16]"
            ]
        );
        let Step::Prune(p) = &r.configurations[2].steps[0].step else {
            panic!("prune first")
        };
        assert_eq!(p.ratio, Some(0.5));
        assert_eq!(r.model, Path::new("r/m.onnx"));
    }

    #[test]
    fn list_of_one_list_is_one_setting() {
        let r = parse(
            "[[configs]]\nsteps = [{ quantize = { mode = \"dynamic\", nodes = { op_types = [\"MatMul\"] } } }]\n",
        )
        .unwrap();
        assert_eq!(r.configurations.len(), 1);
        assert_eq!(r.configurations[0].name, "config1");
    }

    #[test]
    fn unknown_step_key_names_line_and_key() {
        let (line, key, message) = recipe_error(parse(
            "[[configs]]\nname = \"a\"\n[[configs.steps]]\nprune = { method = \"channels\",\n  ratoi = 0.5 }\n",
        ));
        assert_eq!((line, key.as_str()), (7, "configs[0].steps[0].prune.ratoi"));
        assert!(message.contains("unknown field"), "{message}");
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let (line, key, _) = recipe_error(parse("[sla]\nlatency_p50_ms = \"fast\"\n"));
        assert_eq!((line, key.as_str()), (4, "sla.latency_p50_ms"));
        let (line, key, _) = recipe_error(parse("[target]\nthreds = 2\n"));
        assert_eq!(line, 4);
        assert_eq!(key, "target.threds");
    }

    #[test]
    fn bad_values_are_named() {
        let (_, key, _) = recipe_error(parse(
            "[sla]\nlatency_p50_ms = -1\n[[configs]]\nsteps = [{ quantize = {} }]\n",
        ));
        assert_eq!(key, "sla.latency_p50_ms");
        let (_, key, message) = recipe_error(parse("[[configs]]\nsteps = [{ squash = {} }]\n"));
        assert_eq!(key, "configs[0].steps[0].squash");
        assert!(message.contains("unknown step"), "{message}");
        let (_, key, _) = recipe_error(parse("[[configs]]\nsteps = []\n"));
        assert_eq!(key, "configs[0].steps");
        let (_, key, _) = recipe_error(parse(""));
        assert_eq!(key, "configs");
        let (_, key, _) = recipe_error(parse(
            "[search]\nstrategy = \"random\"\n[[configs]]\nsteps = [{ quantize = {} }]\n",
        ));
        assert_eq!(key, "search.count");
    }

    #[test]
    fn data_fills_steps_and_paths_resolve() {
        let r = parse(
            "[data]\ncalibrate = \"cal.npz\"\n[[configs]]\nsteps = [{ quantize = { mode = \"static\" } }]\n",
        )
        .unwrap();
        let Step::Quantize(q) = &r.configurations[0].steps[0].step else {
            panic!()
        };
        assert_eq!(q.calibrate.as_deref(), Some(Path::new("r/cal.npz")));
    }

    #[test]
    fn metric_resolves_by_what_is_given() {
        let r = parse("[[configs]]\nsteps = [{ quantize = {} }]\n").unwrap();
        assert_eq!(r.resolve_metric(true).unwrap(), Metric::Top1);
        assert_eq!(r.resolve_metric(false).unwrap(), Metric::Cosine);
        let r = parse(
            "[metric]\ncommand = [\"python\", \"eval.py\", \"{model}\"]\nhigher_is_better = false\n[[configs]]\nsteps = [{ quantize = {} }]\n",
        )
        .unwrap();
        assert!(!r.resolve_metric(true).unwrap().higher_is_better());
        let r =
            parse("[metric]\nkind = \"top1\"\n[[configs]]\nsteps = [{ quantize = {} }]\n").unwrap();
        assert!(r.resolve_metric(false).is_err());
    }

    #[test]
    fn line_of_key_skips_longer_names() {
        let text = "a_ratio = 1\nratio = 2\n";
        assert_eq!(line_of_key(text, 0..text.len(), "ratio"), 2);
    }
}
