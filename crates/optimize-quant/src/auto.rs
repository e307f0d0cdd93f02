//! `quantize --auto`: mixed precision that meets an accuracy goal and is never slower than the
//! float32 model, found by measuring, not assuming.
//!
//! The search, on the target runtime (ONNX Runtime or tract, 2 threads, batch 1):
//! 1. **Baseline**: the float32 model's metric and latency.
//! 2. **Full int8**: static QDQ of every quantizable node (per-channel weights where the opset
//!    allows, after an upgrade if needed), activations calibrated once and reused by every
//!    later trial. When it misses the criterion, other calibrations are tried at once (the
//!    99.999th and 99.99th percentiles, full-range weights, bias correction, entropy, mse,
//!    per-tensor weights; the first that meets it ends this), and the best becomes the base of
//!    the stages below: calibration is the cheapest repair, and often the whole one.
//! 3. **Latency**: quantizable nodes are grouped by op type and shape class (depthwise, 1×1,
//!    k×k convolutions; small and large matrix products). A group that makes the model faster
//!    when left in float is left in float ("for speed"): faster means the median of the
//!    per-round time ratios plus their spread (half their interquartile range) is below
//!    [`AutoConfig::clearly_faster`], so a gain inside the noise decides nothing.
//!    Per-tensor weights are tried beside per-channel ones: ONNX Runtime's integer MatMul is
//!    faster with one weight scale.
//! 4. **Accuracy**: if the criterion still fails, the sensitivity of each node (how much the output cosine
//!    recovers when only that node stays float) is measured and the most sensitive nodes move
//!    back to float, doubling their number until the criterion holds, then bisecting to the
//!    fewest ("for accuracy"). When that leaves most nodes float, the damage comes from how
//!    nodes combine, so each node is also quantized alone (the rest float) to rank its harm, and
//!    the largest set of the least harmful that still meets the criterion stays int8.
//!    This runs from the latency stage's answer and, when that left groups float for speed,
//!    from full int8 as well, so a smaller model that is about as fast is among the candidates.
//! 5. **Weights alone** (measured between stages 3 and 4): every node float with its weight
//!    stored in int8 (symmetric, per channel) behind a `Cast` and a `Mul` of constants, which
//!    runtimes fold once at load: float32's compute at a quarter of the bytes. When that meets
//!    the criterion, the accuracy search (stage 4) runs with the nodes it leaves float stored
//!    this way, so it counts what their int8 weights cost; otherwise the float nodes of each
//!    answer store their weights in int8 if the criterion still holds, else in float16 (a
//!    `Cast`, also folded at load).
//! 6. **Answer**: among the trials that meet the criterion and are faster than float32 by more
//!    than 3% plus the spread of their ratio (timed again, longer, side by side; a spread above
//!    ±0.10 decides nothing), the smallest
//!    ([`Prefer::Size`], the default), or the smallest of those within 10% of the fastest
//!    ([`Prefer::Speed`]: closer than that is within this kind of machine's noise); ties go by
//!    size, then fewer float nodes, never by a timing inside the noise, so the same command
//!    writes the same bytes (every timing decision is listed in the report); if no int8
//!    activation beats float32, the smallest model with weights alone in int8 (stage 5), else
//!    the float32 model itself (nothing gained, nothing lost); if none meets the criterion, the
//!    closest one, flagged. The search stops when the job's progress says it is cancelled
//!    (Ctrl-C), or before a trial that would end past the budget, and answers with what it has.
//!    The budget bounds the whole command ([`AutoConfig::started`]): the search keeps back time
//!    for the final timing (a tenth of the budget), verification and saving.
//!
//! The judge ([`AutoReport::judge`]): the user's task metric when given
//! ([`AutoConfig::task`]: detections as F1 against float32's, or the user's metric command);
//! else top-1 accuracy when the evaluation data has labels and the goal is a drop; else the
//! per-channel cosine similarity of the outputs with float32's (each channel scaled by
//! float32's root mean square of it, [`optimize_bench::CosineOf::PerChannel`]; the smallest
//! over outputs, over all samples).

use crate::calibrate::{calibrate, Calibration, Loader};
use crate::config::QuantConfig;
use crate::observer::CalibrationMethod;
use crate::qdq::{self, StaticPlan};
use crate::report::QuantReport;
use crate::{Error, Result};
use optimize_bench::task::{DetectionAccumulator, TaskMetric};
use optimize_bench::CosineOf;
use optimize_bench::{AccuracyAccumulator, FidelityAccumulator};
use optimize_data::Tensor;
use optimize_onnx::build::attr_i;
use optimize_onnx::{GraphView, Model};
use optimize_runtime::{Model as RuntimeModel, OrtSession, SessionOptions, TractSession};
use prost::Message;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Schema of [`AutoReport`] as JSON.
pub const SCHEMA: &str = "optimize.auto/1";

/// Samples to judge accuracy on, with labels when the data has them.
#[derive(Debug, Clone, Default)]
pub struct EvalSet {
    /// One entry per sample: the model's inputs by name.
    pub samples: Vec<Vec<(String, Tensor)>>,
    /// One class index per sample, for top-1 accuracy.
    pub labels: Option<Vec<i64>>,
    /// Where the samples came from, for the report.
    pub source: String,
}

/// What "accurate enough" means. In TOML: `criterion = { max_drop = 0.01 }` or
/// `criterion = { min_cosine = 0.999 }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// The metric may fall at most this much below float32's (top-1 points as a fraction; a
    /// task metric in its own units; with neither, cosine similarity may fall this far below 1).
    MaxDrop(f64),
    /// Every output's per-channel cosine similarity with float32 stays at or above this (the
    /// judge then, even with labels; not with a task metric).
    MinCosine(f64),
}

/// The runtime the search measures on (`"ort"` or `"tract"` in a config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoTarget {
    /// ONNX Runtime, CPU provider.
    Ort,
    /// tract.
    Tract,
}

/// What decides between answers that all meet the goal and are not slower than float32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Prefer {
    /// The smallest file (ties: the fastest).
    Size,
    /// The smallest of those within [`AutoConfig::near_fastest`] of the fastest (closer than
    /// that is within this kind of machine's noise).
    Speed,
}

impl std::str::FromStr for AutoTarget {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ort" => Ok(AutoTarget::Ort),
            "tract" => Ok(AutoTarget::Tract),
            _ => Err(Error::Config(format!(
                "unknown target {s:?}: expected ort or tract"
            ))),
        }
    }
}

impl std::str::FromStr for Prefer {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "size" => Ok(Prefer::Size),
            "speed" => Ok(Prefer::Speed),
            _ => Err(Error::Config(format!(
                "unknown preference {s:?}: expected size or speed"
            ))),
        }
    }
}

/// What a trial of the search was for; only [`TrialKind::SensitivityProbe`] trials are never
/// answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrialKind {
    /// Every quantizable node in int8.
    FullInt8,
    /// An op group left in float, for speed.
    LatencyGroup,
    /// Weights in int8 (stored, expanded at load), activations in float.
    WeightsAlone,
    /// Another calibration method, per-tensor weights or bias correction.
    Calibration,
    /// One node floated (or quantized) alone to rank its effect: a measurement, never an
    /// answer.
    SensitivityProbe,
    /// A set of nodes kept float for accuracy.
    Accuracy,
}

/// Settings of the search.
#[derive(Debug, Clone)]
pub struct AutoConfig {
    /// Node filters and activation type; `method` and `per_channel` are searched.
    pub base: QuantConfig,
    /// The accuracy goal.
    pub criterion: Criterion,
    /// Where latency and accuracy are measured.
    pub target: AutoTarget,
    /// Threads of the target runtime.
    pub threads: usize,
    /// Wall-time budget of the whole command, from [`AutoConfig::started`].
    pub budget: Duration,
    /// Run the latency stage (op groups left float where that is faster). Off, only accuracy
    /// decides what stays float, which favours size; the answer is still never slower than
    /// float32.
    pub latency_stage: bool,
    /// Which of the answers that meet the goal and are not slower than float32 is written.
    pub prefer: Prefer,
    /// An answer with int8 activations must take at most this fraction of float32's time
    /// (default 0.97): side-by-side medians on this kind of machine wander by 1-2%, so a closer
    /// result is noise, and a model that is not clearly faster is not worth its int8 error.
    pub clearly_faster: f64,
    /// With [`Prefer::Speed`], trials within this factor of the fastest count as fast as it and
    /// the smallest of them wins (default 1.10: repeated runs of one model moved this much).
    pub near_fastest: f64,
    /// The user's task metric: judges every trial in place of top-1 or the cosine. A metric
    /// command runs on every trial except the one-node sensitivity probes, which are ranked by
    /// the per-channel cosine (a command per node would cost minutes).
    pub task: Option<TaskMetric>,
    /// When the command began: the budget bounds the whole command from then on (the search
    /// keeps back time for the final timing, verification and saving). `None`: from the start
    /// of the search.
    pub started: Option<Instant>,
}

impl Default for AutoConfig {
    fn default() -> Self {
        Self {
            base: QuantConfig::default(),
            criterion: Criterion::MaxDrop(0.01),
            target: AutoTarget::Ort,
            threads: 2,
            budget: Duration::from_secs(600),
            latency_stage: true,
            prefer: Prefer::Size,
            clearly_faster: 0.97,
            near_fastest: 1.10,
            task: None,
            started: None,
        }
    }
}

/// One configuration the search measured.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// What was tried.
    pub name: String,
    /// What the trial was for.
    pub kind: TrialKind,
    /// Calibration method.
    pub method: String,
    /// Per-channel weights.
    pub per_channel: bool,
    /// Bias correction applied.
    pub bias_correction: bool,
    /// Quantizable nodes left in float.
    pub float_nodes: usize,
    /// Of those, the nodes that keep int8 weights behind a `DequantizeLinear` (weight-only).
    pub weight_only_nodes: usize,
    /// Of those, the nodes whose weights are stored in int8 (expanded to float32 at load).
    pub int8_storage_nodes: usize,
    /// Of those, the nodes whose weights are stored in float16.
    pub fp16_weight_nodes: usize,
    /// Every Conv/MatMul/Gemm keeps float activations (weights stored compactly at most): a
    /// fallback answer for when no int8 activation beats float32, never a rival of those.
    pub weights_alone: bool,
    /// Weights alone, and nothing else quantized (no int8 table either): once the runtime
    /// folds the weight expansions at load, the model computes exactly what float32 computes,
    /// so it is not slower by construction.
    pub float32_compute: bool,
    /// Nodes quantized.
    pub quantized_nodes: usize,
    /// The judge's value: the task metric when given, else top-1 accuracy with labels, else the
    /// per-channel cosine with float32. `None` for sensitivity probes under a metric command
    /// (they are ranked by cosine).
    pub metric: Option<f64>,
    /// Smallest output cosine similarity with float32.
    pub cosine: f64,
    /// Median latency on the target (ms), measured beside float32 and the others.
    pub latency_ms: Option<f64>,
    /// Median over rounds of this trial's time over float32's in the same round.
    pub latency_ratio: Option<f64>,
    /// Half the interquartile range of those per-round ratios: a gain smaller than this is
    /// within the measurement's noise and decides nothing.
    pub latency_spread: Option<f64>,
    /// Serialized size in bytes.
    pub size_bytes: u64,
    /// Whether the criterion holds.
    pub meets: bool,
}

/// How much a node's quantization costs: the output cosine gained by leaving it alone in float.
#[derive(Debug, Clone, Serialize)]
pub struct Sensitivity {
    /// Node name (or first output).
    pub node: String,
    /// Op type.
    pub op_type: String,
    /// Cosine with float32 when only this node stays float, minus full int8's.
    pub cosine_gain: f64,
    /// The same for the metric.
    pub metric_gain: f64,
}

/// Everything the search did, as data (schema [`SCHEMA`]).
#[derive(Debug, Clone, Serialize)]
pub struct AutoReport {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// What `metric` measures: `top1`, `per-channel cosine`, `detection F1` or `metric command`.
    pub metric: String,
    /// The judge in words, with the samples it ran on.
    pub judge: String,
    /// Whether larger values of the metric are better.
    pub higher_is_better: bool,
    /// The goal.
    pub criterion: Criterion,
    /// The lowest metric that meets it (the highest, when lower is better).
    pub required: f64,
    /// The target runtime.
    pub target: AutoTarget,
    /// How the answer was chosen among those meeting the goal.
    pub prefer: Prefer,
    /// Evaluation data.
    pub eval: String,
    /// Float32's metric.
    pub fp32_metric: f64,
    /// Float32's median latency (ms).
    pub fp32_latency_ms: f64,
    /// Float32's size in bytes.
    pub fp32_size_bytes: u64,
    /// Every configuration measured, in order.
    pub trials: Vec<Trial>,
    /// Nodes ranked by sensitivity, most sensitive first (when measured).
    pub sensitivity: Vec<Sensitivity>,
    /// Nodes left in float because int8 ran slower: node, op type, group.
    pub float_for_speed: Vec<(String, String, String)>,
    /// Nodes left in float for accuracy.
    pub float_for_accuracy: Vec<String>,
    /// The trial written (index into `trials`), or `None` when the float32 model was.
    pub chosen: Option<usize>,
    /// Whether the answer meets the criterion.
    pub met: bool,
    /// Whether the answer is at least as fast as float32 (float32 itself counts).
    pub not_slower: bool,
    /// Why the search stopped early, if it did.
    pub stopped: Option<String>,
    /// Each decision that rested on timing: what was compared, the measured ratio and its
    /// spread, and what was decided.
    pub timing_decisions: Vec<String>,
    /// Time kept back from the search for the final timing, verification and saving (s).
    pub reserved_s: f64,
    /// The runtime calibration ran on (and why, when it fell back).
    pub calibration_backend: String,
    /// Activations given a range by calibration.
    pub calibrated_tensors: usize,
    /// Wall time of the search.
    pub elapsed_s: f64,
}

/// One candidate: how to quantize.
#[derive(Debug, Clone, PartialEq)]
struct Choice {
    method: CalibrationMethod,
    per_channel: bool,
    bias_correction: bool,
    /// Full-range int8 weights where the configured type is 7-bit (CPUs whose int8 kernels
    /// saturate full-range weights: measured, the saturation may cost less than the lost bit).
    full_range: bool,
    float: BTreeSet<String>,
    /// How the weights of the `float` nodes are stored.
    float_weights: FloatWeights,
}

/// How a node left in float stores its weight. Both compact forms are expanded by constant
/// ops that runtimes fold once at load, so the node runs at float32 speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FloatWeights {
    Float32,
    /// Behind a `Cast` ([`QuantConfig::fp16_weights`]).
    Float16,
    /// Symmetric per-channel int8 behind a `Cast` and a `Mul` ([`QuantConfig::int8_storage`]).
    Int8,
}

/// Restartable calibration samples.
pub type SampleSource<'a> =
    &'a dyn Fn() -> Box<dyn Iterator<Item = Result<Vec<(String, Tensor)>>> + 'a>;

struct Search<'a, 's> {
    model: Model,
    /// The model before the opset upgrade, when there was one: weights-alone trials are built
    /// from it (they need no opset 13), so the float32_compute answer is float32's graph
    /// exactly. `None` when `model` was not upgraded (it is that model then).
    plain: Option<Model>,
    config: &'a AutoConfig,
    eval: &'a EvalSet,
    samples: SampleSource<'s>,
    load: Loader<'a>,
    calibrations: BTreeMap<String, Calibration>,
    activations: BTreeSet<String>,
    reference: Vec<Vec<(String, Tensor)>>,
    required: f64,
    started: Instant,
    /// Whether top-1 accuracy is the judge.
    by_top1: bool,
    /// The search stops when its next step would end past this.
    deadline: Instant,
    /// The longest step so far (a trial, or a trial and its timing): no step starts unless that
    /// much time is left.
    longest_trial: Duration,
    /// Whether the calibration alternatives already ran (right after full int8 missed).
    alternatives_tried: bool,
    /// What the final side-by-side timing may take.
    final_timing: Duration,
    report: AutoReport,
    /// Each trial's choice, model (kept only for candidate answers, not for the one-node
    /// sensitivity probes, so memory stays a few models) and report.
    models: Vec<(Choice, Option<Model>, QuantReport)>,
    /// Node → (op type, group) of every quantizable main-graph node.
    group_of: BTreeMap<String, (String, String)>,
    progress: &'a mut dyn optimize_job::Progress,
}

/// Runs the search on `model`; returns the model to write, the quantization report of that
/// model (the float32 model's when nothing beat it), and the search report.
pub fn quantize_auto(
    model: &Model,
    samples: SampleSource<'_>,
    eval: &EvalSet,
    config: &AutoConfig,
    load: Loader<'_>,
    progress: &mut dyn optimize_job::Progress,
) -> Result<(Model, QuantReport, AutoReport)> {
    if eval.samples.is_empty() {
        return Err(Error::Calibration {
            detail: "the search needs evaluation samples to judge accuracy on".into(),
        });
    }
    let started = config.started.unwrap_or_else(Instant::now);
    let mut prepared = model.clone();
    let pc = QuantConfig {
        per_channel: true,
        ..config.base.clone()
    };
    let upgraded =
        crate::upgrade_for(&mut prepared, &pc, qdq::MIN_OPSET, "per-channel QDQ").is_ok();
    if !upgraded {
        prepared = model.clone();
    }
    optimize_onnx::transform::constants_to_initializers(&mut prepared.proto);
    optimize_onnx::transform::fold_batch_norms(&mut prepared.proto);
    // A graph with no node static int8 can quantize has nothing to search over: said before
    // any calibration, as the other modes say it (issue 14: it answered with a "full int8"
    // trial that quantized nothing).
    let plan = qdq::plan(&prepared.proto, &config.base);
    if plan.node_count() == 0 {
        return Err(Error::NothingToQuantize {
            detail: crate::job::nothing_quantized(model, Some(&plan.report)),
        });
    }
    let plain = upgraded.then(|| {
        let mut plain = model.clone();
        optimize_onnx::transform::constants_to_initializers(&mut plain.proto);
        plain
    });

    // The float32 reference: outputs on every eval sample, and the metric.
    progress.phase("search", None);
    progress.advance(0, "float32 baseline");
    let fp32 = runtime(config, &model.proto.encode_to_vec())?;
    let reference_started = Instant::now();
    let reference = eval
        .samples
        .iter()
        .map(|s| fp32.run(s).map_err(Error::from))
        .collect::<Result<Vec<_>>>()?;
    // Top-1 judges with labels, unless the goal is a cosine (or a task metric is given).
    let by_top1 = config.task.is_none()
        && eval.labels.is_some()
        && !matches!(config.criterion, Criterion::MinCosine(_));
    let (metric, judge) = match (&config.task, by_top1) {
        (Some(t), _) => (t.short().to_string(), t.describe()),
        (None, true) => ("top1".to_string(), "top-1 accuracy".to_string()),
        (None, false) => (
            "per-channel cosine".to_string(),
            "per-channel cosine with float32".to_string(),
        ),
    };
    let judge = match &config.task {
        Some(TaskMetric::Command(_)) => format!("{judge}, on its own data"),
        _ => format!("{judge} on {}", eval.source),
    };
    let reference_time = reference_started.elapsed();
    let command_started = Instant::now();
    let fp32_metric = match (&config.task, &eval.labels) {
        (Some(TaskMetric::Command(c)), _) => c.measure_bytes(&model.proto.encode_to_vec())?,
        (Some(TaskMetric::Detection(_)), _) => 1.0,
        (None, Some(labels)) if by_top1 => top1(&reference, labels)?,
        (None, _) => 1.0,
    };
    let command_time = match config.task {
        Some(TaskMetric::Command(_)) => command_started.elapsed(),
        _ => Duration::ZERO,
    };
    // Kept back for what follows the search: the final timing (a tenth of the budget, 0.5 to
    // 15 s), verification (the original and the answer in ONNX Runtime; tract, a few times
    // slower, for at most its few seconds; the metric command twice), loading and saving;
    // never more than half the budget.
    let final_timing =
        (config.budget / 10).clamp(Duration::from_millis(500), Duration::from_secs(15));
    let verification = reference_time * 2
        + (reference_time * 4).min(optimize_bench::verify::TRACT_BUDGET)
        // The command runs twice more; a busy machine has made a call half again as slow.
        + command_time * 3
        + Duration::from_millis(250);
    let reserve = (final_timing + verification).min(config.budget / 2);
    let final_timing = final_timing.min(reserve);
    let higher_is_better = config.task.as_ref().is_none_or(|t| t.higher_is_better());
    let required = match config.criterion {
        Criterion::MaxDrop(d) if higher_is_better => fp32_metric - d,
        Criterion::MaxDrop(d) => fp32_metric + d,
        Criterion::MinCosine(_) if config.task.is_some() => {
            return Err(Error::Config(
                "a cosine goal does not apply when a task metric judges: give the largest \
                 accepted drop of the metric instead"
                    .into(),
            ))
        }
        Criterion::MinCosine(c) => c,
    };
    let mut activations = BTreeSet::new();
    for per_channel in [true, false] {
        let cfg = QuantConfig {
            per_channel: per_channel && upgraded,
            ..config.base.clone()
        };
        activations.extend(qdq::plan(&prepared.proto, &cfg).activations);
    }
    let mut search = Search {
        model: prepared,
        plain,
        config,
        eval,
        samples,
        load,
        calibrations: BTreeMap::new(),
        activations,
        reference,
        required,
        started,
        by_top1,
        deadline: started + config.budget.saturating_sub(reserve),
        longest_trial: Duration::ZERO,
        alternatives_tried: false,
        final_timing,
        report: AutoReport {
            schema: SCHEMA,
            metric,
            judge,
            higher_is_better,
            criterion: config.criterion,
            required,
            target: config.target,
            prefer: config.prefer,
            eval: eval.source.clone(),
            fp32_metric,
            fp32_latency_ms: 0.0,
            fp32_size_bytes: model.proto.encoded_len() as u64,
            trials: Vec::new(),
            sensitivity: Vec::new(),
            float_for_speed: Vec::new(),
            float_for_accuracy: Vec::new(),
            chosen: None,
            met: false,
            not_slower: true,
            stopped: None,
            timing_decisions: Vec::new(),
            reserved_s: reserve.as_secs_f64(),
            calibration_backend: String::new(),
            calibrated_tensors: 0,
            elapsed_s: 0.0,
        },
        models: Vec::new(),
        group_of: BTreeMap::new(),
        progress,
    };
    search.run(fp32.as_ref(), upgraded)?;
    search.answer(model)
}

fn runtime(config: &AutoConfig, bytes: &[u8]) -> Result<Box<dyn RuntimeModel>> {
    let options = SessionOptions::default().with_threads(config.threads);
    Ok(match config.target {
        AutoTarget::Ort => Box::new(OrtSession::from_bytes(bytes, &options)?),
        AutoTarget::Tract => Box::new(TractSession::from_bytes(bytes, &options)?),
    })
}

fn top1(outputs: &[Vec<(String, Tensor)>], labels: &[i64]) -> Result<f64> {
    let Some(k) = outputs
        .first()
        .and_then(|o| optimize_bench::accuracy::classifier_output(o))
    else {
        return Err(Error::Calibration {
            detail: "the evaluation data has labels but the model has no [batch, classes] output"
                .into(),
        });
    };
    let mut acc = AccuracyAccumulator::new(outputs[0][k].0.clone());
    for (out, label) in outputs.iter().zip(labels) {
        acc.add(&out[k].1, &[*label])
            .map_err(|e| Error::Calibration {
                detail: e.to_string(),
            })?;
    }
    Ok(acc.finish("eval").top1)
}

impl Search<'_, '_> {
    fn out_of_time(&mut self) -> bool {
        self.out_of_time_for(Duration::ZERO)
    }

    /// Whether the next trial, plus `extra` work after it (a timing), would end past the
    /// search's deadline; then the search stops.
    fn out_of_time_for(&mut self, extra: Duration) -> bool {
        if self.report.stopped.is_some() {
            return true;
        }
        if self.progress.cancelled() {
            self.report.stopped = Some("interrupted".into());
        } else if Instant::now() + self.longest_trial + extra >= self.deadline {
            self.report.stopped = Some(format!(
                "time budget of {:.0} s reached ({:.1} s of it kept for timing, verifying and \
                 saving the answer)",
                self.config.budget.as_secs_f64(),
                self.report.reserved_s
            ));
        }
        self.report.stopped.is_some()
    }

    fn calibration(&mut self, method: &CalibrationMethod) -> Result<Calibration> {
        let key = method.to_string();
        if let Some(c) = self.calibrations.get(&key) {
            return Ok(c.clone());
        }
        self.progress.advance(
            self.report.trials.len() as u64,
            &format!("calibrating ({key})"),
        );
        let cfg = QuantConfig {
            method: *method,
            ..self.config.base.clone()
        };
        let cal = calibrate(
            &self.model.proto,
            &self.activations,
            (self.samples)(),
            &cfg,
            self.load,
            &mut |_| {},
        )?;
        self.report.calibration_backend = cal.backend.clone();
        self.report.calibrated_tensors = self.report.calibrated_tensors.max(cal.ranges.len());
        self.calibrations.insert(key, cal.clone());
        Ok(cal)
    }

    fn quant_config(&self, choice: &Choice) -> QuantConfig {
        let mut cfg = QuantConfig {
            per_channel: choice.per_channel,
            method: choice.method,
            bias_correction: choice.bias_correction,
            ..self.config.base.clone()
        };
        if choice.full_range {
            cfg.weight_type = crate::weights::WeightType::Int8;
        }
        match choice.float_weights {
            FloatWeights::Float32 => {}
            FloatWeights::Float16 => cfg.fp16_weights = choice.float.clone(),
            FloatWeights::Int8 => cfg.int8_storage = choice.float.clone(),
        }
        cfg.filter
            .exclude_nodes
            .extend(choice.float.iter().cloned());
        cfg
    }

    fn plan(&self, choice: &Choice) -> StaticPlan {
        qdq::plan(&self.model.proto, &self.quant_config(choice))
    }

    /// Whether `choice` leaves every Conv/MatMul/Gemm with float activations (weights stored
    /// compactly at most): it gives up the speed of int8, so it is a fallback, not a rival.
    fn weights_alone(&self, choice: &Choice) -> bool {
        !self.group_of.is_empty() && self.group_of.keys().all(|n| choice.float.contains(n))
    }

    /// The model `choice` describes, from the shared calibration.
    fn build(&mut self, choice: &Choice) -> Result<(Model, QuantReport)> {
        let cal = self.calibration(&choice.method)?;
        let cfg = self.quant_config(choice);
        let build = |source: &Model, cfg: &QuantConfig| {
            let mut plan = qdq::plan(&source.proto, cfg);
            plan.float_activations = crate::noisy_activations(&cal, cfg);
            if choice.bias_correction {
                plan.input_means = cal.channel_means.clone();
            }
            qdq::quantize_static(source, &plan, &cal.ranges, cfg)
        };
        if self.weights_alone(choice) {
            // Stored weights are per channel whatever the opset; what else is quantized (a
            // table) is per tensor so the model before the upgrade takes it.
            let plain_cfg = QuantConfig {
                per_channel: false,
                ..cfg.clone()
            };
            if let Ok(built) = build(self.plain.as_ref().unwrap_or(&self.model), &plain_cfg) {
                return Ok(built);
            }
        }
        build(&self.model, &cfg)
    }

    /// Trial `t`'s model, rebuilt if it was not kept.
    fn model_of(&mut self, t: usize) -> Result<(Model, QuantReport)> {
        match &self.models[t].1 {
            Some(m) => Ok((m.clone(), self.models[t].2.clone())),
            None => {
                let choice = self.models[t].0.clone();
                self.build(&choice)
            }
        }
    }

    /// Quantizes per `choice`, measures its metric, records the trial; returns its index.
    fn trial(&mut self, kind: TrialKind, name: &str, choice: Choice) -> Result<usize> {
        if let Some(i) = self.models.iter().position(|(c, _, _)| *c == choice) {
            return Ok(i);
        }
        self.progress.advance(self.report.trials.len() as u64, name);
        let trial_started = Instant::now();
        let (q, qreport) = self.build(&choice)?;
        let bytes = q.proto.encode_to_vec();
        let session = runtime(self.config, &bytes)?;
        let mut fid = FidelityAccumulator::default();
        let mut outputs = Vec::with_capacity(self.eval.samples.len());
        for (s, r) in self.eval.samples.iter().zip(&self.reference) {
            let out = session.run(s)?;
            for ((name, a), (_, b)) in out.iter().zip(r) {
                if a.dtype().is_float() {
                    let _ = fid.add(name, a, b);
                }
            }
            outputs.push(out);
        }
        let cosine = fid
            .finish()
            .iter()
            // The per-channel cosine, as verification judges (raw cosine lets the largest
            // channels hide the ones that decide the task).
            .map(|o| {
                CosineOf::PerChannel
                    .of(o)
                    .unwrap_or(if o.max_abs == 0.0 { 1.0 } else { 0.0 })
            })
            .fold(1.0f64, f64::min);
        let metric = match (&self.config.task, &self.eval.labels) {
            (Some(TaskMetric::Command(_)), _) if kind == TrialKind::SensitivityProbe => None,
            (Some(TaskMetric::Command(c)), _) => Some(c.measure_bytes(&bytes)?),
            (Some(TaskMetric::Detection(layout)), _) => {
                let mut acc = DetectionAccumulator::new(layout.clone());
                for (r, o) in self.reference.iter().zip(&outputs) {
                    acc.add(r, o)?;
                }
                // Neither model detecting anything says nothing: not a match.
                Some(acc.counts().f1().unwrap_or(0.0))
            }
            (None, Some(labels)) if self.by_top1 => Some(top1(&outputs, labels)?),
            (None, _) => Some(cosine),
        };
        let meets =
            metric.is_some_and(|m| self.oriented(m) >= self.oriented(self.required) - 1e-12);
        let alone = self.weights_alone(&choice);
        self.report.trials.push(Trial {
            name: name.to_string(),
            kind,
            method: choice.method.to_string(),
            per_channel: choice.per_channel,
            bias_correction: choice.bias_correction,
            float_nodes: choice.float.len(),
            weight_only_nodes: qreport.weight_only.values().sum(),
            int8_storage_nodes: qreport.int8_storage.values().sum(),
            fp16_weight_nodes: qreport.fp16_weights.values().sum(),
            weights_alone: alone,
            float32_compute: alone
                && qreport.nodes_quantized() == 0
                && qreport.weight_only.is_empty(),
            quantized_nodes: qreport.nodes_quantized(),
            metric,
            cosine,
            latency_ms: None,
            latency_ratio: None,
            latency_spread: None,
            size_bytes: bytes.len() as u64,
            meets,
        });
        let keep = kind != TrialKind::SensitivityProbe;
        self.models.push((choice, keep.then_some(q), qreport));
        self.longest_trial = self.longest_trial.max(trial_started.elapsed());
        Ok(self.models.len() - 1)
    }

    /// Times float32 and the given trials in interleaved rounds, so drifts in machine load hit
    /// all alike; records each trial's median, and its per-round ratio to float32 with that
    /// ratio's spread. Returns the per-round times, float32's first.
    fn latencies_over(
        &mut self,
        fp32: &dyn RuntimeModel,
        trials: &[usize],
        rounds: usize,
        per_round: Duration,
    ) -> Result<Vec<Vec<f64>>> {
        let input = &self.eval.samples[0];
        let mut sessions = Vec::new();
        for &t in trials {
            sessions.push(runtime(
                self.config,
                &self.model_of(t)?.0.proto.encode_to_vec(),
            )?);
        }
        let mut all: Vec<&dyn RuntimeModel> = vec![fp32];
        all.extend(sessions.iter().map(|s| s.as_ref()));
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); all.len()];
        for m in &all {
            for _ in 0..3 {
                m.run(input)?;
            }
        }
        // Each round times every model with the bench crate's protocol (a short one), so a
        // change in machine load between rounds hits all models alike.
        let round = optimize_bench::LatencyConfig {
            warmup: 0,
            min_iterations: 3,
            min_duration: per_round,
        };
        for _ in 0..rounds {
            for (k, m) in all.iter().enumerate() {
                let stats = optimize_bench::measure_latency(&round, || m.run(input).map(|_| ()))
                    .map_err(|e| Error::Calibration {
                        detail: format!("timing a trial: {e}"),
                    })?;
                samples[k].push(stats.p50_ms);
            }
        }
        self.report.fp32_latency_ms = median(&samples[0]);
        for (k, &t) in trials.iter().enumerate() {
            let (ratio, spread) = paired(&samples[k + 1], &samples[0]);
            let tr = &mut self.report.trials[t];
            tr.latency_ms = Some(median(&samples[k + 1]));
            tr.latency_ratio = Some(ratio);
            tr.latency_spread = Some(spread);
        }
        Ok(samples)
    }

    fn run(&mut self, fp32: &dyn RuntimeModel, per_channel: bool) -> Result<()> {
        let mut base = Choice {
            method: CalibrationMethod::MinMax,
            per_channel,
            bias_correction: false,
            full_range: false,
            float: BTreeSet::new(),
            float_weights: FloatWeights::Float32,
        };
        let step = Instant::now();
        let mut full = self.trial(TrialKind::FullInt8, "full int8", base.clone())?;
        // Its calibration and build are what a calibration trial costs: no such trial starts
        // that would end past the budget.
        self.longest_trial = self.longest_trial.max(step.elapsed());
        // When full int8 misses the goal, calibration is the cheapest repair and often the
        // whole one (PP-OCRv4's recogniser: min-max ranges cost 2.3 points of character
        // accuracy, the 99.999th percentile 0.4): try it before timing groups of nodes, so the
        // latency stage starts from a model that meets the goal.
        if !self.report.trials[full].meets && !self.out_of_time() {
            let better = self.calibration_alternatives(&base, full, per_channel, true)?;
            self.alternatives_tried = true;
            if better != full {
                base = self.models[better].0.clone();
                full = better;
            }
        }

        // Latency: leave in float the groups that run faster that way.
        let groups = self.groups(&base);
        for (group, nodes) in &groups {
            for (n, op) in nodes {
                self.group_of.insert(n.clone(), (op.clone(), group.clone()));
            }
        }
        let mut speed = base.clone();
        let mut current = full;
        // Each group's step is a trial and its timing: 7 rounds of 60 ms for two models.
        let group_timing = Duration::from_millis(60) * 7 * 2;
        for (group, nodes) in &groups {
            if !self.config.latency_stage || self.out_of_time_for(group_timing) {
                break;
            }
            let step = Instant::now();
            let mut without = speed.clone();
            without.float.extend(nodes.iter().map(|(n, _)| n.clone()));
            let t = self.trial(
                TrialKind::LatencyGroup,
                &format!("{group} in float"),
                without.clone(),
            )?;
            // A group stays float only if that is faster by more than the spread of the per-round
            // ratios (one measurement on a busy machine can mislead).
            let times = self.latencies_over(fp32, &[current, t], 7, Duration::from_millis(60))?;
            let (ratio, spread) = paired(&times[2], &times[1]);
            let faster = ratio + spread < self.config.clearly_faster;
            self.report.timing_decisions.push(format!(
                "{group} in float: {ratio:.3}x the time of {} (spread ±{spread:.3}): {}",
                self.report.trials[current].name,
                if faster {
                    "faster beyond the spread, kept float"
                } else {
                    "not faster beyond the spread, stays int8"
                }
            ));
            // A group's step is a trial and its timing: no step starts that would end past the
            // budget.
            self.longest_trial = self.longest_trial.max(step.elapsed());
            if faster {
                for (n, op) in nodes {
                    self.report
                        .float_for_speed
                        .push((n.clone(), op.clone(), group.clone()));
                }
                speed = without;
                current = t;
            }
        }

        // Weights alone: every node float, every weight stored in int8. When that meets the
        // goal, nodes left float from here on store their weights that way: a quarter of the
        // bytes at float32's speed, and the accuracy search counts what that costs.
        if !self.out_of_time() && !self.group_of.is_empty() {
            let stored = self.trial(
                TrialKind::WeightsAlone,
                "int8 weights stored, float activations",
                Choice {
                    float: self.group_of.keys().cloned().collect(),
                    float_weights: FloatWeights::Int8,
                    ..base.clone()
                },
            )?;
            if self.report.trials[stored].meets {
                base.float_weights = FloatWeights::Int8;
                speed.float_weights = FloatWeights::Int8;
                if !speed.float.is_empty() {
                    current = self.trial(
                        TrialKind::LatencyGroup,
                        "float-for-speed nodes with int8 weights",
                        speed.clone(),
                    )?;
                }
            }
        }

        // Speed: per-tensor weights beside per-channel ones. ONNX Runtime's integer MatMul runs
        // faster with one weight scale (a MiniLM encoder: 0.45x float32 per tensor, not faster
        // than float32 per channel), so when that meets the goal it is a rival answer too.
        if per_channel && !self.out_of_time() {
            self.trial(
                TrialKind::Calibration,
                "per-tensor weights",
                Choice {
                    per_channel: false,
                    ..speed.clone()
                },
            )?;
        }

        // Accuracy: other calibration choices, then sensitivity-ranked fallback to float; from
        // the latency stage's answer, and, when that left groups float for speed, from full
        // int8 too: a smaller model that the answer rule prefers when it is about as fast.
        let (mut best, accuracy) = self.accuracy_search(&speed, current, per_channel)?;
        self.report.float_for_accuracy = accuracy;
        let mut finalists = vec![best];
        if !speed.float.is_empty() && !self.out_of_time() {
            let (t, accuracy) = self.accuracy_search(&base, full, per_channel)?;
            for n in accuracy {
                if !self.report.float_for_accuracy.contains(&n) {
                    self.report.float_for_accuracy.push(n);
                }
            }
            if self.report.trials[t].meets && !self.report.trials[best].meets {
                best = t;
            }
            finalists.push(t);
        }
        // Size: the float nodes' weights in int8, else in float16, for each candidate answer
        // whose float nodes still hold float32 weights.
        for f in finalists {
            if !self.report.trials[f].meets || self.out_of_time() {
                continue;
            }
            let chosen = self.models[f].0.clone();
            if chosen.float.is_empty() || chosen.float_weights != FloatWeights::Float32 {
                continue;
            }
            for (name, float_weights) in [
                ("float nodes with int8 weights", FloatWeights::Int8),
                ("float nodes with fp16 weights", FloatWeights::Float16),
            ] {
                let t = self.trial(
                    TrialKind::Accuracy,
                    name,
                    Choice {
                        float_weights,
                        ..chosen.clone()
                    },
                )?;
                if self.report.trials[t].meets || self.out_of_time() {
                    break;
                }
            }
        }
        // The ranking is part of the report even when full int8 met the goal, when there is
        // time for it: it is a report, not a step towards the answer, so it takes at most the
        // first half of the budget.
        let half = self.started + self.config.budget / 2;
        if self.report.sensitivity.is_empty() && !self.out_of_time() && Instant::now() < half {
            let chosen = self.models[best].0.clone();
            self.sensitivity(&chosen, best)?;
        }
        // Latency of every trial that meets the criterion, beside float32.
        // (Sensitivity probes float one node each: they are for the ranking, not answers.)
        let mut meeting: Vec<usize> = (0..self.report.trials.len())
            .filter(|&t| {
                let tr = &self.report.trials[t];
                tr.meets && tr.kind != TrialKind::SensitivityProbe
            })
            .collect();
        if meeting.is_empty() {
            meeting.push(best);
        }
        // The answer hangs on these: longer rounds than the screening above, within the time
        // kept back for them.
        let rounds = 11;
        let per_round = (self.final_timing / (rounds * (meeting.len() as u32 + 1)))
            .clamp(Duration::from_millis(5), Duration::from_millis(150));
        self.latencies_over(fp32, &meeting, rounds as usize, per_round)?;
        Ok(())
    }

    /// From trial `start` (made with `from`): when it misses the criterion, other calibration
    /// methods, bias correction and per-tensor weights; then the sensitivity-ranked fallback to
    /// float (and the harm ranking when that leaves most nodes float). Returns the best trial
    /// and the nodes it keeps float for accuracy.
    fn accuracy_search(
        &mut self,
        from: &Choice,
        start: usize,
        per_channel: bool,
    ) -> Result<(usize, Vec<String>)> {
        let mut best = start;
        let mut accuracy: Vec<String> = Vec::new();
        if !self.report.trials[best].meets && !self.alternatives_tried {
            best = self.calibration_alternatives(from, best, per_channel, false)?;
        }
        if !self.report.trials[best].meets && !self.out_of_time() {
            let chosen = self.models[best].0.clone();
            let ranked = self.sensitivity(&chosen, best)?;
            let mut k = 1usize;
            let mut hit = None;
            let mut last_miss = 0;
            while k <= ranked.len() && !self.out_of_time() {
                let t = self.with_float(&chosen, &ranked[..k], k)?;
                if self.report.trials[t].meets {
                    hit = Some((k, t));
                    break;
                }
                if self.better(t, best) {
                    best = t;
                }
                last_miss = k;
                k = if k * 2 > ranked.len() && k < ranked.len() {
                    ranked.len()
                } else {
                    k * 2
                };
            }
            if let Some((mut hi, mut t_hi)) = hit {
                let mut lo = last_miss;
                while hi - lo > 1 && !self.out_of_time() {
                    let mid = (lo + hi) / 2;
                    let t = self.with_float(&chosen, &ranked[..mid], mid)?;
                    if self.report.trials[t].meets {
                        hi = mid;
                        t_hi = t;
                    } else {
                        lo = mid;
                    }
                }
                accuracy = ranked[..hi].to_vec();
                best = t_hi;
            }
            // When most nodes had to go back to float, the damage is in how nodes combine, which
            // one-node-float probes miss: rank by the harm of each node quantized alone instead,
            // and keep in int8 the largest set of the least harmful that still meets the goal.
            let float_needed = match hit {
                Some(_) => accuracy.len(),
                None => ranked.len(),
            };
            if float_needed * 2 > ranked.len() && !self.out_of_time() {
                if let Some((t, float)) = self.least_harmful(&chosen, &ranked)? {
                    if !self.report.trials[best].meets || float.len() < float_needed {
                        accuracy = float;
                        best = t;
                    }
                }
            }
        }
        Ok((best, accuracy))
    }

    /// Other calibration choices than `from`'s (trial `start`): wider percentiles first, then
    /// full-range int8 weights (where the base is 7-bit), bias correction, entropy, mse and
    /// per-tensor weights. Returns the best trial; with `first_hit`, stops at the first that
    /// meets the criterion.
    fn calibration_alternatives(
        &mut self,
        from: &Choice,
        start: usize,
        per_channel: bool,
        first_hit: bool,
    ) -> Result<usize> {
        let mut best = start;
        let mut alternatives = Vec::new();
        for m in ["percentile=99.999", "percentile=99.99"] {
            alternatives.push(Choice {
                method: m.parse().expect("known method"),
                ..from.clone()
            });
        }
        if self.config.base.weight_type == crate::weights::WeightType::Int7 {
            alternatives.push(Choice {
                full_range: true,
                ..from.clone()
            });
        }
        alternatives.push(Choice {
            bias_correction: true,
            ..from.clone()
        });
        for m in ["entropy", "mse"] {
            alternatives.push(Choice {
                method: m.parse().expect("known method"),
                ..from.clone()
            });
        }
        if per_channel {
            alternatives.push(Choice {
                per_channel: false,
                ..from.clone()
            });
        }
        for c in alternatives {
            if self.out_of_time()
                || c.method == from.method
                    && !c.full_range
                    && !c.bias_correction
                    && c.per_channel == from.per_channel
            {
                continue;
            }
            // A method not calibrated yet costs a calibration pass besides the build (a
            // percentile's histograms take a few times min-max's): no such trial starts that
            // would end past the budget by that estimate.
            let calibrated = self.calibrations.contains_key(&c.method.to_string());
            if !calibrated && Instant::now() + self.longest_trial * 3 >= self.deadline {
                continue;
            }
            let name = if c.full_range {
                "full-range int8 weights".to_string()
            } else if c.bias_correction {
                "bias correction".to_string()
            } else if !c.per_channel && per_channel {
                "per-tensor weights".to_string()
            } else {
                format!("calibration {}", c.method)
            };
            let step = Instant::now();
            let t = self.trial(TrialKind::Calibration, &name, c)?;
            self.longest_trial = self.longest_trial.max(step.elapsed());
            if self.better(t, best) {
                best = t;
            }
            if first_hit && self.report.trials[best].meets {
                break;
            }
        }
        Ok(best)
    }

    /// Quantizes each of `nodes` alone (the rest float) to measure its harm, then finds the
    /// largest set of the least harmful whose int8 model meets the criterion (bisecting on
    /// its size). Returns that trial and the nodes it leaves float.
    fn least_harmful(
        &mut self,
        chosen: &Choice,
        nodes: &[String],
    ) -> Result<Option<(usize, Vec<String>)>> {
        let mut harm = Vec::new();
        for (k, node) in nodes.iter().enumerate() {
            if self.out_of_time() {
                return Ok(None);
            }
            let mut c = chosen.clone();
            c.float.extend(nodes.iter().filter(|n| *n != node).cloned());
            let t = self.trial(
                TrialKind::SensitivityProbe,
                &format!("sensitivity (alone) {}/{}: {node}", k + 1, nodes.len()),
                c,
            )?;
            let (metric, cosine) = self.rank(t);
            harm.push((node.clone(), metric, cosine));
        }
        harm.sort_by(|a, b| {
            (b.1, b.2)
                .partial_cmp(&(a.1, a.2))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let order: Vec<String> = harm.into_iter().map(|h| h.0).collect();
        // m = how many of the least harmful are quantized; all float (m = 0) meets by definition.
        let (mut lo, mut hi) = (0usize, order.len() + 1);
        let mut found = None;
        while hi - lo > 1 && !self.out_of_time() {
            let mid = (lo + hi) / 2;
            let mut c = chosen.clone();
            c.float.extend(order[mid..].iter().cloned());
            let t = self.trial(
                TrialKind::Accuracy,
                &format!("{mid} least harmful in int8"),
                c,
            )?;
            if self.report.trials[t].meets {
                lo = mid;
                found = Some((t, order[mid..].to_vec()));
            } else {
                hi = mid;
            }
        }
        Ok(found)
    }

    fn with_float(&mut self, chosen: &Choice, nodes: &[String], k: usize) -> Result<usize> {
        let mut c = chosen.clone();
        c.float.extend(nodes.iter().cloned());
        self.trial(
            TrialKind::Accuracy,
            &format!("{k} most sensitive in float"),
            c,
        )
    }

    /// `v` with larger meaning better, whatever the judge's direction.
    fn oriented(&self, v: f64) -> f64 {
        if self.report.higher_is_better {
            v
        } else {
            -v
        }
    }

    /// How good trial `t` is, for ranking: its oriented metric (unmeasured ranks last), then its
    /// cosine.
    fn rank(&self, t: usize) -> (f64, f64) {
        let tr = &self.report.trials[t];
        (
            tr.metric.map_or(f64::NEG_INFINITY, |m| self.oriented(m)),
            tr.cosine,
        )
    }

    /// The better metric wins; on a tie, higher cosine.
    fn better(&self, a: usize, b: usize) -> bool {
        self.rank(a) > self.rank(b)
    }

    /// Ranks the nodes quantized under `choice` by the cosine gained when each alone stays float.
    fn sensitivity(&mut self, choice: &Choice, base: usize) -> Result<Vec<String>> {
        let plan = self.plan(choice);
        let g = self.model.proto.graph.clone().unwrap_or_default();
        let nodes: Vec<(String, String)> = plan
            .graphs
            .get(&Vec::new())
            .map(|gp| {
                gp.nodes
                    .iter()
                    .map(|&i| {
                        let n = &g.node[i];
                        (
                            crate::NodeFilter::node_id(n).to_string(),
                            n.op_type().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (base_metric, base_cos) = self.rank(base);
        let mut ranked = Vec::new();
        for (k, (node, op)) in nodes.iter().enumerate() {
            if self.out_of_time() {
                break;
            }
            let mut c = choice.clone();
            c.float.insert(node.clone());
            let t = self.trial(
                TrialKind::SensitivityProbe,
                &format!("sensitivity {}/{}: {node}", k + 1, nodes.len()),
                c,
            )?;
            let (metric, cosine) = self.rank(t);
            ranked.push(Sensitivity {
                node: node.clone(),
                op_type: op.clone(),
                cosine_gain: cosine - base_cos,
                // Unmeasured (a probe under a metric command): the cosine alone ranks.
                metric_gain: if metric.is_finite() && base_metric.is_finite() {
                    metric - base_metric
                } else {
                    0.0
                },
            });
        }
        ranked.sort_by(|a, b| {
            (b.metric_gain, b.cosine_gain)
                .partial_cmp(&(a.metric_gain, a.cosine_gain))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        self.report.sensitivity = ranked.clone();
        Ok(ranked.into_iter().map(|s| s.node).collect())
    }

    /// Quantized main-graph nodes grouped by op type and shape class.
    fn groups(&self, choice: &Choice) -> BTreeMap<String, Vec<(String, String)>> {
        let plan = self.plan(choice);
        let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        let Some(g) = self.model.proto.graph.as_ref() else {
            return out;
        };
        let Some(gp) = plan.graphs.get(&Vec::new()) else {
            return out;
        };
        let view = GraphView::new(g);
        for &i in &gp.nodes {
            let n = &g.node[i];
            let dims = n
                .input
                .get(1)
                .and_then(|w| view.initializer(w))
                .map(|w| w.dims.clone())
                .unwrap_or_default();
            let params: i64 = dims.iter().product();
            let class = match n.op_type() {
                "Conv" => {
                    let group = attr_i(n, "group", 1);
                    let kernel: i64 = dims.iter().skip(2).product();
                    if group > 1 && dims.first() == Some(&group) {
                        "depthwise"
                    } else if kernel == 1 {
                        "1x1"
                    } else {
                        "kxk"
                    }
                }
                _ if params == 0 => "activation x activation",
                _ if params < 65536 => "small",
                _ => "large",
            };
            out.entry(format!("{} {class}", n.op_type()))
                .or_default()
                .push((
                    crate::NodeFilter::node_id(n).to_string(),
                    n.op_type().to_string(),
                ));
        }
        out
    }

    /// Says why each node of trial `t` stayed float: for accuracy when the sensitivity search
    /// put it there, else for speed (with its group).
    fn explain(&mut self, t: usize) {
        let accuracy: BTreeSet<String> = self.report.float_for_accuracy.iter().cloned().collect();
        let float = &self.models[t].0.float;
        self.report.float_for_accuracy = float.intersection(&accuracy).cloned().collect();
        self.report.float_for_speed = float
            .iter()
            .filter(|n| !accuracy.contains(*n))
            .map(|n| {
                let (op, group) = self.group_of.get(n).cloned().unwrap_or_default();
                (n.clone(), op, group)
            })
            .collect();
    }

    /// Each trial's time ratio to float32 and its spread, for the answer rule. A trial whose
    /// float nodes store their weights in int8 or float16 runs the same graph, once the runtime
    /// has folded the expansions at load, as its twin with float32 weights: both measurements
    /// are of one graph, so their mean ratio (and the larger spread) stands for both.
    fn pooled_timing(&self) -> Vec<Option<(f64, f64)>> {
        let n = self.report.trials.len();
        let own = |t: usize| {
            let tr = &self.report.trials[t];
            Some((tr.latency_ratio?, tr.latency_spread?))
        };
        (0..n)
            .map(|t| {
                let (ratio, spread) = own(t)?;
                let twin_choice = Choice {
                    float_weights: FloatWeights::Float32,
                    ..self.models[t].0.clone()
                };
                let twin = (0..n)
                    .filter(|&u| u != t && self.models[u].0 == twin_choice)
                    .find_map(own);
                Some(twin.map_or((ratio, spread), |(r, s)| ((ratio + r) / 2.0, spread.max(s))))
            })
            .collect()
    }

    /// Answers with trial `t`, which meets the goal and is not slower than float32.
    fn answer_with(mut self, t: usize) -> Result<(Model, QuantReport, AutoReport)> {
        self.explain(t);
        self.report.chosen = Some(t);
        self.report.met = true;
        self.report.not_slower = true;
        let (model, qreport) = self.model_of(t)?;
        Ok((model, qreport, self.report))
    }

    fn answer(mut self, original: &Model) -> Result<(Model, QuantReport, AutoReport)> {
        let timing = self.pooled_timing();
        // Not slower: float32's time lies within the spread of the ratio, or above it.
        let fast = |t: usize| timing[t].is_some_and(|(r, s)| r - s <= 1.0);
        // Models without int8 activations are the fallback below, not rivals: they would win
        // on size alone while giving up every speed-up. A rival must be faster than float32 by
        // more than its measured spread and the noise margin: one within noise gains nothing
        // and may measure slower tomorrow, while the fallback is float32's speed by
        // construction.
        let clearly_fast = |t: usize| {
            timing[t]
                .is_some_and(|(r, s)| r + s < self.config.clearly_faster && s <= DECISIVE_SPREAD)
        };
        let candidates: Vec<usize> = (0..self.report.trials.len())
            .filter(|&t| {
                let tr = &self.report.trials[t];
                tr.meets && !tr.weights_alone && clearly_fast(t)
            })
            .collect();
        let fastest = candidates
            .iter()
            .filter_map(|&t| timing[t].map(|(r, _)| r))
            .fold(f64::INFINITY, f64::min);
        // Ties within noise go by a fixed rule: the smaller file, then fewer float nodes, then
        // the earlier trial; never by a timing inside the noise.
        let pick = candidates
            .into_iter()
            .filter(|&t| {
                self.config.prefer == Prefer::Size
                    || timing[t].is_some_and(|(r, _)| r <= fastest * self.config.near_fastest)
            })
            .min_by_key(|&t| {
                let tr = &self.report.trials[t];
                (tr.size_bytes, tr.float_nodes, t)
            });
        for (t, tr) in self.report.trials.iter().enumerate() {
            if let (true, Some((r, s))) = (
                tr.meets && tr.kind != TrialKind::SensitivityProbe,
                timing[t],
            ) {
                let verdict = if tr.float32_compute {
                    "float32's compute once the weights are expanded at load: not slower by construction"
                } else if tr.weights_alone {
                    if fast(t) {
                        "not slower (weights alone)"
                    } else {
                        "slower beyond the spread"
                    }
                } else if clearly_fast(t) {
                    "faster beyond the spread and the noise margin"
                } else if s > DECISIVE_SPREAD {
                    "timed too noisily to decide (spread above ±0.10): not a rival"
                } else {
                    "not faster beyond the spread: not a rival"
                };
                self.report.timing_decisions.push(format!(
                    "{}: {r:.3}x float32's time (spread ±{s:.3}): {verdict}",
                    tr.name
                ));
            }
        }
        self.report.elapsed_s = self.started.elapsed().as_secs_f64();
        if let Some(t) = pick {
            return self.answer_with(t);
        }
        // No int8 activation beat float32 here: the weights alone in int8 (float32's compute
        // once the runtime expands them at load, else measured not slower), the smallest such
        // model that meets the goal.
        let stored = (0..self.report.trials.len())
            .filter(|&t| {
                let tr = &self.report.trials[t];
                tr.meets && tr.weights_alone && (tr.float32_compute || fast(t))
            })
            .min_by_key(|&t| self.report.trials[t].size_bytes);
        if let Some(t) = stored {
            if self.report.trials[t].size_bytes < self.report.fp32_size_bytes {
                return self.answer_with(t);
            }
        }
        let any_meets = self.report.trials.iter().any(|t| t.meets);
        if any_meets {
            // Accurate enough, but int8 never beat float32 here: float32 is the answer.
            self.report.met = true;
            self.report.not_slower = true;
            let qreport = QuantReport {
                mode: "int8-auto (float32 kept: no int8 variant was faster)".into(),
                ..Default::default()
            };
            return Ok((original.clone(), qreport, self.report));
        }
        // Nothing met the criterion: the closest, flagged.
        let best = (0..self.report.trials.len())
            .filter(|&t| self.report.trials[t].kind != TrialKind::SensitivityProbe)
            .max_by(|&a, &b| {
                self.rank(a)
                    .partial_cmp(&self.rank(b))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .ok_or_else(|| Error::Calibration {
                detail: "the search stopped before any trial".into(),
            })?;
        self.explain(best);
        self.report.chosen = Some(best);
        self.report.met = false;
        self.report.not_slower = fast(best);
        let (model, qreport) = self.model_of(best)?;
        Ok((model, qreport, self.report))
    }
}

/// The largest spread of a ratio to float32 that can make an answer "faster": a wider one
/// means the machine's speed moved while timing (PP-OCR cls measured 0.68× ± 0.21 in the
/// search, then 1.10-1.21× in the bench), and such a timing decides nothing.
const DECISIVE_SPREAD: f64 = 0.10;

/// The median of `v` (the upper middle value when the count is even).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The median of the per-round ratios `a[i] / b[i]` and their spread, half the interquartile
/// range: a difference smaller than the spread is within the measurement's noise.
fn paired(a: &[f64], b: &[f64]) -> (f64, f64) {
    let mut r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y.max(1e-12)).collect();
    r.sort_by(f64::total_cmp);
    let n = r.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let q = |p: f64| r[((n - 1) as f64 * p).round() as usize];
    (median(&r), (q(0.75) - q(0.25)) / 2.0)
}

#[cfg(test)]
mod timing_tests {
    use super::*;

    #[test]
    fn paired_ratios_and_their_spread() {
        let b = [10.0; 7];
        let a = [8.0, 8.2, 7.9, 8.1, 8.0, 9.5, 8.0];
        let (r, s) = paired(&a, &b);
        assert!((r - 0.8).abs() < 1e-12, "{r}");
        // Quartiles 0.80 and 0.82: one slow round (0.95) does not widen the spread.
        assert!((s - 0.01).abs() < 1e-12, "{s}");
        let (r, s) = paired(&[9.9, 10.4, 9.6, 10.2, 9.8, 10.1, 9.7], &b);
        assert!((r - 0.99).abs() < 1e-12 && s > 0.01, "{r} {s}");
    }
}
