//! The whole `optimize quantize` workflow as one library call: [`QuantizeJob::run`] loads the
//! model, quantizes it as its [`QuantizeConfig`] says (int8 dynamic, int8 static QDQ with
//! calibration, fp16, or the `--auto` mixed-precision search), saves it to a staging folder,
//! verifies it against the original under a [`VerifyPolicy`] and moves it into place only when
//! it passes, and returns the [`RunReport`] that the CLI prints and serializes.
//!
//! Every rule the workflow follows is a documented field here with its default: how many
//! calibration samples are held back, how many samples verification runs on, the search's
//! threads and margins, and the verification policy of each mode ([`default_policy`]).
//!
//! The config deserializes from TOML or JSON, so a pipeline step can hold one:
//!
//! ```
//! use optimize_quant::job::{Mode, QuantizeConfig};
//! let config: QuantizeConfig = toml::from_str(r#"
//!     mode = "static"
//!     calibrate = "models/data/digits-train-cnn.npz"
//!     per_channel = true
//!     method = "percentile=99.99"
//! "#).unwrap();
//! assert_eq!(config.mode, Mode::Static);
//! assert!(config.validate().is_ok());
//! ```
//!
//! And a training script runs it in a few lines:
//!
//! ```no_run
//! use optimize_quant::job::{Mode, QuantizeConfig, QuantizeJob};
//! let config = QuantizeConfig { mode: Mode::Dynamic, ..QuantizeConfig::default() };
//! let job = QuantizeJob::new("models/digits-mlp.onnx", "digits-mlp.int8.onnx", config);
//! let report = job.run(&mut optimize_job::Quiet)?;
//! assert!(report.accepted(), "{:?}", report.outcome.verdict);
//! println!("{:.2}x the size", report.outcome.size_ratio);
//! # Ok::<(), optimize_quant::Error>(())
//! ```

use crate::auto::{quantize_auto, AutoConfig, AutoReport, AutoTarget, Criterion, EvalSet, Prefer};
use crate::report::{CalibrationSummary, RunReport};
use crate::weights::WeightType;
use crate::{fp16, quantize_dynamic, quantize_static_each, CalibrationMethod, Error, QuantConfig};
use crate::{NodeFilter, QuantReport, Result};
use optimize_bench::compare::{for_job, LatencyChange, LatencyOptions};
use optimize_bench::policy::{settle, VerifyOptions, VerifyPolicy};
use optimize_bench::verify::{input_specs, seeded_samples, verify, Inputs, VerifyData};
use optimize_bench::Outcome;
use optimize_data::{CalibrationSet, InputSpec};
use optimize_job::{Phases, Progress};
use optimize_onnx::{stage, ExternalData, Model, SaveOptions, Summary};
use optimize_runtime::{load_model, Backend};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Schema of [`RunReport`] as JSON.
pub const SCHEMA: &str = "optimize.quantize/1";

/// What kind of quantization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// int8 weights, activations quantized at run time; no data needed.
    #[default]
    Dynamic,
    /// int8 QDQ with activation ranges calibrated on [`QuantizeConfig::calibrate`].
    Static,
    /// float16 weights and compute.
    Fp16,
    /// Mixed precision searched on the target ([`crate::auto`]); needs calibration data.
    Auto,
}

impl Mode {
    /// The file-name suffix of the default output: `int8` or `fp16`.
    pub fn suffix(self) -> &'static str {
        match self {
            Mode::Fp16 => "fp16",
            _ => "int8",
        }
    }
}

/// How `optimize quantize` quantizes, as data. Every field has a default; see each for why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuantizeConfig {
    /// Which quantization.
    pub mode: Mode,
    /// Calibration data (.npz/.npy/.safetensors or a folder of them; arrays named after the
    /// model inputs, first axis = samples). Needed by `static` and `auto`; for `fp16` it is what
    /// the float16 overflow check runs on.
    pub calibrate: Option<PathBuf>,
    /// Evaluation data, with a `label` array for top-1 accuracy: what verification runs on and,
    /// for `auto`, what the search judges by. Without it: held-out calibration samples, else
    /// seeded random inputs.
    pub eval: Option<PathBuf>,
    /// Calibration method (`minmax`, `percentile=99.999`, `entropy`, `mse`).
    pub method: CalibrationMethod,
    /// One weight scale per output channel.
    pub per_channel: bool,
    /// Symmetric int8 activations instead of asymmetric uint8.
    pub symmetric: bool,
    /// Dynamic int8: Conv as ConvInteger instead of int8 weights before a float Conv.
    pub conv_integer: bool,
    /// Static int8: correct biases for the mean error of their int8 weights.
    pub bias_correction: bool,
    /// Which nodes may change.
    pub nodes: NodeFilter,
    /// How many calibration samples are held back to verify (and, for `auto`, to judge) on.
    pub holdout: Holdout,
    /// fp16 settings.
    pub fp16: Fp16Options,
    /// `auto` settings.
    pub auto: AutoOptions,
    /// How int8 weights are stored; absent: the form whose integer kernels are exact on this
    /// machine ([`WeightType::for_this_cpu`]: int7 on x86 with AVX2 and no VNNI, else int8;
    /// there static quantization with verification also writes full-range int8 weights from
    /// the same calibration and keeps the closer of the two),
    /// since the output is verified and timed here. Set it to the target's when the model will
    /// run on another kind of CPU.
    pub weight_type: Option<WeightType>,
    /// Whole shapes of inputs with symbolic axes, for seeded inputs (verification without data,
    /// the fp16 overflow check, latency): `{ x = [1, 3, 48, 192] }`. Unnamed symbolic axes are 1.
    pub shapes: BTreeMap<String, Vec<usize>>,
    /// How the output is verified and when it is accepted.
    pub verify: VerifyOptions,
    /// How latency before and after is measured (not for `auto`, which measures its own).
    pub latency: LatencyOptions,
    /// Quantize an already quantized model, and write the model even when nothing changed.
    pub force: bool,
    /// Store weights in `<output>.data` (automatic past protobuf's 2 GiB).
    pub external_data: bool,
    /// Weight error guard: a weight whose int8 form has an RMS error above this share of its
    /// RMS keeps float (default 0.08, [`crate::weights::MAX_RELATIVE_ERROR`]).
    pub max_weight_error: f64,
    /// Activation error guard: an activation whose int8 rounding noise passes this share of its
    /// RMS keeps float (default 0.08, [`crate::MAX_ACTIVATION_NOISE`]).
    pub max_activation_noise: f64,
}

impl Default for QuantizeConfig {
    fn default() -> Self {
        QuantizeConfig {
            mode: Mode::Dynamic,
            calibrate: None,
            eval: None,
            method: CalibrationMethod::MinMax,
            per_channel: false,
            symmetric: false,
            conv_integer: false,
            bias_correction: false,
            nodes: NodeFilter::default(),
            holdout: Holdout::default(),
            fp16: Fp16Options::default(),
            auto: AutoOptions::default(),
            verify: VerifyOptions::default(),
            latency: LatencyOptions::default(),
            weight_type: None,
            shapes: BTreeMap::new(),
            force: false,
            external_data: false,
            max_weight_error: crate::weights::MAX_RELATIVE_ERROR,
            max_activation_noise: crate::MAX_ACTIVATION_NOISE,
        }
    }
}

/// Calibration samples held back from calibration, to verify and judge on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Holdout {
    /// Exactly this many (the last samples of the data); unset, a share of the data. Nothing is
    /// held back when evaluation data is given: that is what the output is judged on.
    pub count: Option<usize>,
    /// Static int8: the share held back (default 0.2). Calibration ranges settle within a few
    /// hundred samples, so a fifth costs the ranges little and gives verification unseen data.
    pub share: f64,
    /// `auto` without `eval`: the share held back (default 0.25). The search decides on these
    /// samples, so it needs more of them than a single check does.
    pub auto_share: f64,
    /// At least this many samples are held back when the data allows it (default 16): a
    /// judgement on 1 or 4 samples says little (a ResNet-50 measured cosine 1.00000 on 4 held-out
    /// samples and 0.901 on 8 others). Never more than half the data, so calibration keeps the
    /// rest; fewer than this is said in the report.
    pub min: usize,
    /// At most this many samples are held back (default 64): verification runs every held-out
    /// sample in two runtimes, and 64 keep that to seconds on real models.
    pub max: usize,
}

impl Default for Holdout {
    fn default() -> Self {
        Holdout {
            count: None,
            share: 0.2,
            auto_share: 0.25,
            min: 16,
            max: 64,
        }
    }
}

impl Holdout {
    /// Samples held back from `len` at `share`: the larger of the share and [`Holdout::min`],
    /// at most [`Holdout::max`] and never more than half of `len` (one of two, none of one).
    pub fn of(&self, len: usize, share: f64) -> usize {
        self.count.unwrap_or_else(|| {
            let want = ((len as f64 * share).ceil() as usize).max(self.min);
            want.min(self.max.max(1)).min(len / 2)
        })
    }

    /// What the report says when `held` samples are fewer than [`Holdout::min`].
    pub fn warning(&self, held: usize, of: &Path) -> Option<String> {
        (held < self.min).then(|| {
            format!(
                "judged on {held} held-out samples of {}, fewer than {}: a judgement on so few \
                 says little; give evaluation data or more calibration samples",
                of.display(),
                self.min
            )
        })
    }
}

/// fp16 settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fp16Options {
    /// Keep float32 graph inputs and outputs, with casts at the boundary (default true).
    pub keep_io_types: bool,
    /// More op types to keep in float32, beyond [`fp16::default_block_ops`].
    pub block_ops: Vec<String>,
    /// Samples of the calibration (or eval) data the overflow check runs the float32 model on
    /// (default 64): the largest activations show within a few dozen samples.
    pub overflow_samples: usize,
}

impl Default for Fp16Options {
    fn default() -> Self {
        Fp16Options {
            keep_io_types: true,
            block_ops: Vec::new(),
            overflow_samples: 64,
        }
    }
}

/// `auto` settings; see [`crate::auto`] for the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoOptions {
    /// The accuracy goal (default: top-1 may drop at most one point, or without labels cosine
    /// at least 0.99).
    pub criterion: Criterion,
    /// Where latency and accuracy are measured.
    pub target: AutoTarget,
    /// Threads of the target runtime (default 2: the cores of the smallest servers we target;
    /// more threads hide per-kernel costs that int8 is meant to cut).
    pub threads: usize,
    /// Wall-time budget of the whole command (default 10 minutes), e.g. `"90s"`, `"10m"`: the
    /// search keeps back time for the final timing, verification and saving.
    #[serde(with = "humantime_serde")]
    pub budget: Duration,
    /// Run the latency stage (default true); off, only accuracy decides what stays float.
    pub latency_stage: bool,
    /// Which of the answers that meet the goal is written.
    pub prefer: Prefer,
    /// Evaluation samples used at most (default 1000): top-1 on 1000 samples resolves a
    /// 0.1-point drop, and the search runs every trial on all of them.
    pub max_eval_samples: usize,
    /// See [`AutoConfig::clearly_faster`] (default 0.97).
    pub clearly_faster: f64,
    /// See [`AutoConfig::near_fastest`] (default 1.10).
    pub near_fastest: f64,
}

impl Default for AutoOptions {
    fn default() -> Self {
        let search = AutoConfig::default();
        AutoOptions {
            criterion: search.criterion,
            target: search.target,
            threads: search.threads,
            budget: search.budget,
            latency_stage: search.latency_stage,
            prefer: search.prefer,
            max_eval_samples: 1000,
            clearly_faster: search.clearly_faster,
            near_fastest: search.near_fastest,
        }
    }
}

/// The verification policy of each mode, when the config sets none.
///
/// | mode | with labels | without labels |
/// |---|---|---|
/// | dynamic, static, auto | top-1 drop ≤ 1 point | every output's cosine ≥ 0.99 |
/// | fp16 | top-1 drop ≤ 0.5 point | every output's cosine ≥ 0.999 |
///
/// One point of top-1 is what users of ONNX Runtime's and Intel Neural Compressor's tools
/// accept from int8 by default (INC's `tolerable_loss` is 1% relative); cosine 0.99 is where
/// our digits and OCR models' int8 outputs sit when their task metric holds. fp16 keeps 10
/// mantissa bits, so it is held to ten times closer.
pub fn default_policy(mode: Mode) -> VerifyPolicy {
    match mode {
        Mode::Fp16 => VerifyPolicy {
            max_accuracy_drop: Some(0.005),
            min_cosine: Some(0.999),
            ..VerifyPolicy::none()
        },
        _ => VerifyPolicy {
            max_accuracy_drop: Some(0.01),
            min_cosine: Some(0.99),
            ..VerifyPolicy::none()
        },
    }
}

impl QuantizeConfig {
    /// Checks that the settings fit together and are in range, before any work.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.to_string()));
        match self.mode {
            Mode::Static | Mode::Auto if self.calibrate.is_none() => {
                return bad("static and auto quantization need calibration data")
            }
            Mode::Fp16 if self.per_channel || self.symmetric => {
                return bad("per-channel and symmetric apply to int8, not fp16")
            }
            _ => {}
        }
        if self.bias_correction && self.mode != Mode::Static && self.mode != Mode::Auto {
            return bad("bias correction needs calibration data (static int8)");
        }
        if !(0.0..1.0).contains(&self.holdout.share)
            || !(0.0..1.0).contains(&self.holdout.auto_share)
        {
            return bad("the held-out share must be in [0, 1)");
        }
        match self.auto.criterion {
            Criterion::MaxDrop(v) | Criterion::MinCosine(v) if !(0.0..=1.0).contains(&v) => {
                return bad("the accuracy goal takes a number between 0 and 1")
            }
            _ => {}
        }
        if self.mode == Mode::Auto
            && self.verify.task.is_some()
            && matches!(self.auto.criterion, Criterion::MinCosine(_))
        {
            return bad("with a task metric the goal is the metric's largest drop, not a cosine");
        }
        if self.auto.threads == 0 {
            return bad("the search needs at least one thread");
        }
        if let Some(p) = &self.verify.policy {
            p.validate().map_err(Error::Config)?;
        }
        Ok(())
    }

    /// The verification policy in force: the config's, else the mode's default.
    pub fn policy(&self) -> VerifyPolicy {
        self.verify
            .policy
            .unwrap_or_else(|| default_policy(self.mode))
    }

    fn quant_config(&self) -> QuantConfig {
        QuantConfig {
            per_channel: self.per_channel,
            conv_integer: self.conv_integer,
            bias_correction: self.bias_correction,
            method: self.method,
            symmetric_activations: self.symmetric,
            filter: self.nodes.clone(),
            weight_type: self.weight_type(),
            ..Default::default()
        }
    }

    /// The weight type this config asks for, or the one whose kernels are exact on this CPU.
    pub fn weight_type(&self) -> WeightType {
        self.weight_type.unwrap_or_else(WeightType::for_this_cpu)
    }

    /// What the model's metadata says was done.
    pub fn describe(&self) -> String {
        let weights = if self.per_channel {
            "per-channel"
        } else {
            "per-tensor"
        };
        match self.mode {
            Mode::Fp16 => format!("fp16, keep_io_types={}", self.fp16.keep_io_types),
            Mode::Auto => format!(
                "int8 auto mixed precision (target {:?}, criterion {:?})",
                self.auto.target, self.auto.criterion
            ),
            Mode::Static => format!(
                "int8 static QDQ, method={}, {} activations, {weights} weights",
                self.method,
                if self.symmetric {
                    "symmetric int8"
                } else {
                    "asymmetric uint8"
                }
            ),
            Mode::Dynamic => format!("int8 dynamic, {weights} weights"),
        }
    }
}

/// One quantization to run: input, output, settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantizeJob {
    /// The model to quantize (never modified).
    pub input: PathBuf,
    /// Where the accepted output goes.
    pub output: PathBuf,
    /// How.
    #[serde(default)]
    pub config: QuantizeConfig,
}

/// The default output path: `<stem>.int8.onnx` or `<stem>.fp16.onnx` beside the input.
pub fn default_output(input: &Path, mode: Mode) -> PathBuf {
    let stem = input
        .file_stem()
        .map_or("model".into(), |s| s.to_string_lossy().into_owned());
    input.with_file_name(format!("{stem}.{}.onnx", mode.suffix()))
}

/// Samples to verify on, and where they came from.
struct Check {
    data: VerifyData,
}

impl QuantizeJob {
    /// A job quantizing `input` into `output` as `config` says.
    pub fn new(
        input: impl Into<PathBuf>,
        output: impl Into<PathBuf>,
        config: QuantizeConfig,
    ) -> Self {
        QuantizeJob {
            input: input.into(),
            output: output.into(),
            config,
        }
    }

    /// Runs the workflow; see the module docs. A verification that fails its policy is not an
    /// error: the report says so ([`RunReport::accepted`] is false) and nothing is left at the
    /// output path. Errors are for work that could not be done.
    pub fn run(&self, progress: &mut dyn Progress) -> Result<RunReport> {
        let c = &self.config;
        c.validate()?;
        let started = std::time::Instant::now();
        let mut phases = Phases::start();
        progress.phase("load", None);
        let model = Model::load(&self.input)?;
        optimize_onnx::refuse_overwrite(&model, &self.output)?;
        let input_bytes = model_bytes(&self.input, &model);
        check_not_quantized(&model, c)?;
        phases.lap("load");

        let specs = input_specs(&model);
        let qc = QuantConfig {
            max_activation_noise: c.max_activation_noise,
            max_weight_error: c.max_weight_error,
            ..c.quant_config()
        };
        let mut calibration = None;
        let mut overflow = None;
        let mut overflow_skipped = None;
        let mut overflow_data = None;
        let mut auto: Option<AutoReport> = None;
        let mut check: Option<Check> = None;
        let mut small_holdout = None;
        // Full-range int8 weights, measured beside the 7-bit default where they saturate.
        let mut full_range: Option<(Model, QuantReport)> = None;
        let (mut out, mut quant_report, fp16_report) = match c.mode {
            Mode::Fp16 => {
                progress.phase("fp16 overflow check", None);
                // The data's own samples, and seeded inputs spread over the data's whole range
                // (every element at extremes real samples reach only here and there); without
                // data, seeded inputs, which cannot show what larger real inputs would do.
                let (data, spread) = match c.calibrate.as_ref().or(c.eval.as_ref()) {
                    Some(path) => {
                        let data = data_samples(path, &specs, c.fp16.overflow_samples)?;
                        let spread = optimize_bench::verify::spread_like(
                            &data,
                            c.verify.random_samples,
                            c.verify.seed,
                        )?;
                        (data, spread)
                    }
                    None => (random(&specs, &c.shapes, &c.verify)?, None),
                };
                overflow_data = Some(match &spread {
                    Some(s) => format!("{} and {}", data.source, s.source),
                    None => format!(
                        "{} only (no data given: real inputs larger than these may overflow where \
                         this check saw nothing; give --calibrate)",
                        data.source
                    ),
                });
                let mut keep = std::collections::BTreeSet::new();
                let checked = data
                    .samples
                    .iter()
                    .chain(spread.iter().flat_map(|s| &s.samples))
                    .cloned()
                    .map(Ok);
                match crate::fp16_overflow(&model, checked, &prefer_ort) {
                    Ok(o) => {
                        keep.extend(o.overflowing.iter().map(|(n, _)| n.clone()));
                        overflow = Some(o);
                    }
                    Err(e) => {
                        overflow_skipped = Some(format!(
                            "the float32 model does not run on {}: {e}",
                            data.source
                        ))
                    }
                }
                if c.eval.is_none() && c.calibrate.is_some() {
                    check = Some(Check { data });
                }
                let cfg = fp16::Fp16Config {
                    keep_io_types: c.fp16.keep_io_types,
                    block_ops: fp16::default_block_ops()
                        .into_iter()
                        .chain(c.fp16.block_ops.iter().cloned())
                        .collect(),
                    keep_fp32_nodes: keep,
                };
                progress.phase("convert", None);
                let (proto, report) =
                    fp16::convert_to_fp16(&model.proto, &cfg).map_err(|e| Error::Unsupported {
                        what: format!("{}: {e}", self.input.display()),
                    })?;
                phases.lap("fp16");
                (Model::from_proto(proto), None, Some(report))
            }
            Mode::Auto => {
                let (out, report, summary, eval, a) = self
                    .auto(&model, &specs, &qc, started, progress)
                    .map_err(|e| match e {
                        // The search says why; the file is named here, as the other modes do.
                        Error::NothingToQuantize { detail } => Error::NothingToQuantize {
                            detail: format!("{}: {detail}", self.input.display()),
                        },
                        e => e,
                    })?;
                calibration = Some(summary);
                check = Some(Check { data: eval });
                auto = Some(a);
                phases.lap("search");
                (out, Some(report), None)
            }
            Mode::Static => {
                let path = c.calibrate.as_ref().expect("validated: static has data");
                let set = open_data(path, &specs)?;
                // With evaluation data the output is judged on it: hold nothing back.
                let holdout = match (&c.eval, c.holdout.count) {
                    (Some(_), None) => 0,
                    _ => c.holdout.of(set.len(), c.holdout.share),
                };
                let (cal_range, held) = set.split(holdout);
                if c.eval.is_none() && !held.is_empty() {
                    small_holdout = c.holdout.warning(held.len(), path);
                }
                if cal_range.is_empty() {
                    return Err(Error::BadData {
                        path: path.clone(),
                        detail: format!(
                            "holding out {holdout} samples leaves none to calibrate on ({} in all)",
                            set.len()
                        ),
                    });
                }
                progress.phase("calibrate", Some(cal_range.len() as u64));
                let samples = set
                    .iter_range(cal_range.clone())
                    .map(|s| s.map(|s| s.inputs).map_err(Error::from));
                // Where full-range int8 weights saturate (7 bits are the default), both are
                // written from one calibration and verification keeps the closer one.
                let measure_both = c.weight_type.is_none()
                    && qc.weight_type == WeightType::Int7
                    && c.verify.enabled;
                let types: &[WeightType] = if measure_both {
                    &[WeightType::Int7, WeightType::Int8]
                } else {
                    std::slice::from_ref(&qc.weight_type)
                };
                let (mut outs, cal) = quantize_static_each(
                    &model,
                    samples,
                    &qc,
                    &prefer_tract,
                    &mut |n| progress.advance(n as u64, ""),
                    types,
                )?;
                if measure_both {
                    full_range = outs.pop();
                }
                let (out, report) = outs.remove(0);
                calibration = Some(CalibrationSummary {
                    data: path.display().to_string(),
                    method: qc.method.to_string(),
                    samples: cal.samples,
                    held_out: held.len(),
                    backend: cal.backend.clone(),
                    tensors: cal.ranges.len() + cal.empty.len(),
                    empty: cal.empty.clone(),
                });
                if c.eval.is_none() {
                    let (range, source) = if held.is_empty() {
                        let n = set.len().min(c.holdout.max);
                        (
                            0..n,
                            "calibration samples (no sample was held out)".to_string(),
                        )
                    } else {
                        let source =
                            format!("{} held-out samples of {}", held.len(), path.display());
                        (held.clone(), source)
                    };
                    check = Some(Check {
                        data: range_samples(&set, path, range, source)?,
                    });
                }
                phases.lap("calibrate + quantize");
                (out, Some(report), None)
            }
            Mode::Dynamic => {
                progress.phase("quantize", None);
                let (out, report) = quantize_dynamic(&model, &qc)?;
                phases.lap("quantize");
                (out, Some(report), None)
            }
        };

        let job_notes: Vec<String> = small_holdout.into_iter().collect();
        if auto.is_none() && !c.force {
            check_changed(
                &self.input,
                &model,
                quant_report.as_ref(),
                fp16_report.as_ref(),
            )?;
        }
        // Every candidate written (the output, and the rivals measured beside it) is finished
        // the same way, and its report carries the job's notes: whichever is kept says so.
        let finish = |m: &mut Model, r: Option<&mut QuantReport>| {
            let listed = optimize_onnx::transform::list_initializers_as_inputs(&mut m.proto);
            if let Some(r) = r {
                r.notes.extend(job_notes.iter().cloned());
                if listed > 0 {
                    r.notes.push(optimize_onnx::transform::listed_note(listed));
                }
            }
            m.stamp(env!("CARGO_PKG_VERSION"), "quantize", &c.describe());
        };
        finish(&mut out, quant_report.as_mut());
        if let Some((m, r)) = full_range.as_mut() {
            finish(m, Some(r));
        }
        progress.phase("save", None);
        let options = SaveOptions {
            external_data: if c.external_data {
                ExternalData::Always
            } else {
                ExternalData::Auto
            },
            ..Default::default()
        };
        let mut staged = stage(&out, &self.output, &options)?;
        let full_range = match full_range {
            Some((m, r)) => {
                let st = stage(&m, &self.output, &options)?;
                Some((m, r, st))
            }
            None => None,
        };
        phases.lap("save");

        let data = if c.verify.enabled {
            progress.phase("verify", None);
            Some(match (&c.eval, check) {
                (Some(path), _) => data_samples(path, &specs, c.verify.max_samples)?,
                (None, Some(check)) => check.data,
                (None, None) => random(&specs, &c.shapes, &c.verify)?,
            })
        } else {
            None
        };
        let (mut verification, mut verdict) = if let Some(data) = &data {
            let mut v = verify(&self.input, staged.path(), data, c.verify.task.as_ref())?;
            let policy = c.policy();
            let mut verdict = policy.judge(&v);
            let mut weight_type = qc.weight_type;
            if let Some((m, r, st)) = full_range {
                let v8 = verify(&self.input, st.path(), data, c.verify.task.as_ref())?;
                let verdict8 = policy.judge(&v8);
                let (s7, s8) = (policy.score(&v), policy.score(&v8));
                let int8_wins = match (verdict.passed, verdict8.passed) {
                    (false, true) => true,
                    (true, false) => false,
                    _ => s8.zip(s7).is_some_and(|(b, a)| b > a),
                };
                let show = |s: Option<f64>| s.map_or("–".to_string(), |s| format!("{s:.5}"));
                let note = format!(
                    "weights: 7-bit and full-range int8 both measured in ONNX Runtime on this \
                     CPU, whose int8 kernels saturate full-range weights ({}): {} with 7 bits, {} \
                     with int8; kept {}",
                    verdict.judge,
                    show(s7),
                    show(s8),
                    if int8_wins { "int8" } else { "7 bits" }
                );
                if int8_wins {
                    out = m;
                    quant_report = Some(r);
                    staged = st;
                    v = v8;
                    verdict = verdict8;
                    weight_type = WeightType::Int8;
                }
                if let Some(r) = quant_report.as_mut() {
                    r.notes.push(note);
                }
            }
            if let Some(r) = quant_report.as_mut() {
                r.notes
                    .extend(weight_note(weight_type, c.weight_type.is_none(), r));
            }
            phases.lap("verify");
            (Some(v), Some(verdict))
        } else {
            if let Some(r) = quant_report.as_mut() {
                r.notes
                    .extend(weight_note(qc.weight_type, c.weight_type.is_none(), r));
            }
            (None, None)
        };
        let accepted = verdict.as_ref().is_none_or(|v| v.passed);
        let (mut latency, latency_skipped) = if c.mode == Mode::Auto && c.latency.enabled {
            let why = "the search measured it (see auto)".to_string();
            (Vec::new(), Some(why))
        } else {
            for_job(
                (&self.input, staged.path()),
                &c.latency,
                accepted,
                c.eval.as_deref(),
                &c.shapes,
                progress,
                &mut phases,
            )
        };
        // Dynamic MatMulInteger pays on large matrices and costs on small models, where the
        // run-time quantization of activations outweighs int8's savings: measured slower than
        // float32, the MatMul/Gemm weights are stored in int8 behind Cast+Mul instead (float32's
        // graph after load), and the faster of the two is written.
        let ort_speed =
            |l: &[LatencyChange]| l.iter().find(|l| l.runtime == "ort").map(|l| l.speedup);
        let integer_matmuls = quant_report.as_ref().is_some_and(|r| {
            r.quantized.contains_key("MatMul") || r.quantized.contains_key("Gemm")
        });
        if let (Mode::Dynamic, true, true, Some(speed)) = (
            c.mode,
            accepted && integer_matmuls,
            qc.matmul_integer,
            ort_speed(&latency),
        ) {
            if speed < 1.0 / 1.03 {
                let stored_config = QuantConfig {
                    matmul_integer: false,
                    ..qc.clone()
                };
                let (mut alt, mut alt_report) = quantize_dynamic(&model, &stored_config)?;
                finish(&mut alt, Some(&mut alt_report));
                let alt_staged = stage(&alt, &self.output, &options)?;
                let alt_check = match &data {
                    Some(d) => {
                        let v = verify(&self.input, alt_staged.path(), d, c.verify.task.as_ref())?;
                        let verdict = c.policy().judge(&v);
                        Some((v, verdict))
                    }
                    None => None,
                };
                let passes = alt_check.as_ref().is_none_or(|(_, v)| v.passed);
                let (alt_latency, _) = for_job(
                    (&self.input, alt_staged.path()),
                    &c.latency,
                    passes,
                    c.eval.as_deref(),
                    &c.shapes,
                    progress,
                    &mut phases,
                );
                let alt_speed = ort_speed(&alt_latency);
                let faster = alt_speed.is_some_and(|a| a > speed);
                let note = format!(
                    "MatMulInteger ran at {speed:.2}x float32's speed in ONNX Runtime here (run-time \
                     quantization of activations costs more than int8 saves on this model); \
                     weights stored in int8 and expanded at load measured {}: {}",
                    alt_speed.map_or("–".to_string(), |a| format!("{a:.2}x")),
                    if faster && passes {
                        "wrote that form"
                    } else {
                        "kept MatMulInteger"
                    }
                );
                if faster && passes {
                    out = alt;
                    quant_report = Some(alt_report);
                    staged = alt_staged;
                    latency = alt_latency;
                    if let Some((v, verdict_alt)) = alt_check {
                        verification = Some(v);
                        verdict = Some(verdict_alt);
                    }
                }
                if let Some(r) = quant_report.as_mut() {
                    r.notes.push(note);
                }
            }
        }
        // What ONNX Runtime makes of an int8 output: which Q/DQ it fused into integer kernels.
        let ort_runs = match (&quant_report, c.verify.enabled) {
            (Some(r), true) if r.nodes_quantized() > 0 => {
                let read = std::fs::read(staged.path()).map_err(|e| e.to_string());
                match read.and_then(|b| {
                    optimize_bench::ort_graph::OrtGraph::of(&b, 1).map_err(|e| e.to_string())
                }) {
                    Ok(g) => Some(g),
                    Err(e) => {
                        if let Some(r) = quant_report.as_mut() {
                            r.notes
                                .push(format!("ONNX Runtime's optimized graph was not read: {e}"));
                        }
                        None
                    }
                }
            }
            _ => None,
        };

        let output_bytes = staged.bytes();
        let settled = settle(staged, &out, accepted, &c.verify, &options)?;

        Ok(RunReport {
            schema: SCHEMA,
            outcome: Outcome::new(
                (&self.input, &self.output),
                (input_bytes, output_bytes),
                (verification, verdict),
                settled,
                (latency, latency_skipped),
            )
            .with_stored(&out),
            quantization: quant_report,
            fp16: fp16_report,
            fp16_overflow: overflow,
            fp16_overflow_skipped: overflow_skipped,
            fp16_overflow_data: overflow_data,
            ort_runs,
            calibration,
            timings_ms: phases.into_laps(),
            auto,
        })
    }

    #[allow(clippy::type_complexity)]
    fn auto(
        &self,
        model: &Model,
        specs: &[InputSpec],
        qc: &QuantConfig,
        started: std::time::Instant,
        progress: &mut dyn Progress,
    ) -> Result<(
        Model,
        QuantReport,
        CalibrationSummary,
        VerifyData,
        AutoReport,
    )> {
        let c = &self.config;
        let path = c.calibrate.as_ref().expect("validated: auto has data");
        let set = open_data(path, specs)?;
        let mut notes = Vec::new();
        let (eval, cal_range, held_out) = match &c.eval {
            Some(eval_path) => {
                let data = data_samples(eval_path, specs, c.auto.max_eval_samples)?;
                (data, 0..set.len(), 0)
            }
            None => {
                let holdout = c.holdout.of(set.len(), c.holdout.auto_share);
                let (cal, held) = set.split(holdout);
                if held.is_empty() || cal.is_empty() {
                    return Err(Error::BadData {
                        path: path.clone(),
                        detail: format!(
                            "the search needs samples to calibrate on and held-out samples to \
                             judge accuracy on ({} in all); give more samples or evaluation data",
                            set.len()
                        ),
                    });
                }
                let source = format!("{} held-out samples of {}", held.len(), path.display());
                let n = held.len();
                if let Some(w) = c.holdout.warning(n, path) {
                    notes.push(w);
                }
                (range_samples(&set, path, held, source)?, cal, n)
            }
        };
        let search = AutoConfig {
            base: qc.clone(),
            criterion: c.auto.criterion,
            target: c.auto.target,
            threads: c.auto.threads,
            budget: c.auto.budget,
            latency_stage: c.auto.latency_stage,
            prefer: c.auto.prefer,
            clearly_faster: c.auto.clearly_faster,
            near_fastest: c.auto.near_fastest,
            task: c.verify.task.clone(),
            started: Some(started),
        };
        let set_eval = EvalSet {
            samples: eval.samples.clone(),
            labels: eval.labels.clone(),
            source: eval.source.clone(),
        };
        let source = || -> Box<dyn Iterator<Item = Result<Inputs>> + '_> {
            Box::new(
                set.iter_range(cal_range.clone())
                    .map(|s| s.map(|s| s.inputs).map_err(Error::from)),
            )
        };
        let (out, mut report, auto) =
            quantize_auto(model, &source, &set_eval, &search, &prefer_tract, progress)?;
        report.notes.extend(notes);
        let summary = CalibrationSummary {
            data: path.display().to_string(),
            method: auto.chosen.map_or("none (float32 kept)".into(), |t| {
                auto.trials[t].method.clone()
            }),
            samples: cal_range.len(),
            held_out,
            backend: auto.calibration_backend.clone(),
            tensors: auto.calibrated_tensors,
            empty: Vec::new(),
        };
        Ok((out, report, summary, eval, auto))
    }
}

/// Refuses a model that is already in the target precision, unless forced.
fn check_not_quantized(model: &Model, c: &QuantizeConfig) -> Result<()> {
    let precision = Summary::of(model, None).precision;
    let already = match c.mode {
        Mode::Fp16 => !precision.formats.is_empty(),
        _ => precision.formats.iter().any(|f| *f != "fp16"),
    };
    if already && !c.force {
        return Err(Error::AlreadyQuantized {
            summary: precision.summary,
        });
    }
    Ok(())
}

/// Fails when the pass changed nothing: no node quantized, no tensor converted.
fn check_changed(
    input: &Path,
    model: &Model,
    quant: Option<&QuantReport>,
    fp16: Option<&fp16::Fp16Report>,
) -> Result<()> {
    let changed = match (quant, fp16) {
        (Some(r), _) => r.nodes_quantized() > 0 || !r.int8_storage.is_empty(),
        (_, Some(r)) => r.initializers_converted + r.nodes_fp16 > 0,
        _ => false,
    };
    if changed {
        return Ok(());
    }
    Err(Error::NothingToQuantize {
        detail: format!("{}: {}", input.display(), nothing_quantized(model, quant)),
    })
}

/// Why a pass quantized nothing: every candidate's skip reason, else the model's ops.
pub(crate) fn nothing_quantized(model: &Model, quant: Option<&QuantReport>) -> String {
    let skipped: Vec<String> = quant
        .iter()
        .flat_map(|r| &r.skipped)
        .map(|k| format!("{} {}x {}", k.op_type, k.count, k.reason))
        .collect();
    if skipped.is_empty() {
        let ops: Vec<String> = Summary::of(model, None)
            .op_types
            .iter()
            .take(8)
            .map(|o| format!("{} {}", o.op_type, o.count))
            .collect();
        format!("no supported node (its ops: {})", ops.join(", "))
    } else {
        format!("every candidate was skipped: {}", skipped.join("; "))
    }
}

fn model_bytes(path: &Path, model: &Model) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
        + model.external_files().iter().map(|f| f.bytes).sum::<u64>()
}

/// Opens data for the model; errors name the file.
fn open_data(path: &Path, specs: &[InputSpec]) -> Result<CalibrationSet> {
    CalibrationSet::open(path, specs).map_err(|e| {
        let text = e.to_string();
        if text.contains(&path.display().to_string()) {
            Error::from(e)
        } else {
            Error::BadData {
                path: path.to_path_buf(),
                detail: text,
            }
        }
    })
}

/// Up to `max` samples of the data at `path`, with its labels when it has them.
fn data_samples(path: &Path, specs: &[InputSpec], max: usize) -> Result<VerifyData> {
    let set = open_data(path, specs)?;
    let n = set.len().min(max);
    range_samples(
        &set,
        path,
        0..n,
        format!("{n} samples of {}", path.display()),
    )
}

fn range_samples(
    set: &CalibrationSet,
    path: &Path,
    range: std::ops::Range<usize>,
    source: String,
) -> Result<VerifyData> {
    let labels =
        optimize_bench::accuracy::labels_of(set, path)?.map(|all| all[range.clone()].to_vec());
    let samples = set
        .iter_range(range)
        .map(|s| s.map(|s| s.inputs))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(VerifyData {
        samples,
        labels,
        source,
    })
}

fn random(
    specs: &[InputSpec],
    shapes: &BTreeMap<String, Vec<usize>>,
    v: &VerifyOptions,
) -> Result<VerifyData> {
    Ok(seeded_samples(specs, shapes, v.random_samples, v.seed)?)
}

/// Calibration runs the model in tract (pure Rust), falling back to ONNX Runtime.
fn prefer_tract(bytes: &[u8]) -> Result<(Box<dyn optimize_runtime::Model>, String)> {
    loader_preferring(bytes, Backend::Tract)
}

/// The fp16 overflow check is a safety check on the float32 model, not calibration: it takes
/// the fast path, ONNX Runtime where it is installed, and tract otherwise.
fn prefer_ort(bytes: &[u8]) -> Result<(Box<dyn optimize_runtime::Model>, String)> {
    loader_preferring(bytes, Backend::Ort)
}

fn loader_preferring(
    bytes: &[u8],
    preferred: Backend,
) -> Result<(Box<dyn optimize_runtime::Model>, String)> {
    let (m, backend, why) = load_model(bytes, preferred, true)?;
    let name = match why {
        None => backend.name().to_string(),
        Some(w) => format!(
            "{} ({} could not run it: {})",
            backend.name(),
            preferred.name(),
            w.lines().next().unwrap_or("")
        ),
    };
    Ok((m, name))
}

impl RunReport {
    /// True when the output passed verification (or was not verified) and was written.
    pub fn accepted(&self) -> bool {
        self.outcome.accepted()
    }
}

/// What the report says of how the weights were stored, if anything needs saying.
fn weight_note(wtype: WeightType, default: bool, r: &QuantReport) -> Option<String> {
    // The pass says what it wrote (--auto may have chosen full-range weights).
    let why = match r.weight_type.unwrap_or(wtype) {
        WeightType::Int8 => return None,
        WeightType::Int7 => {
            "weights in 7 bits ([-63, 63] stored as int8){}: ONNX Runtime's fast uint8 x int8 \
             kernels saturate full-range int8 weights on x86 CPUs with AVX2 and no VNNI, and \
             compute these exactly"
        }
        WeightType::Uint8 => {
            "weights stored as uint8 (int8 values + 128){}: ONNX Runtime's uint8 x int8 kernels \
             saturate on x86 CPUs with AVX2 and no VNNI, its slower uint8 x uint8 ones are exact"
        }
    };
    let default = if default {
        ", as this CPU needs; ask for int8 weights when the model runs on VNNI, ARM or GPU"
    } else {
        ""
    };
    // Only weights that integer kernels read; stored weights are full int8, expanded to float.
    let integer = r
        .quantized
        .keys()
        .any(|op| matches!(op.as_str(), "Conv" | "MatMul" | "Gemm"));
    integer.then(|| why.replace("{}", default))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holdout_rules() {
        let h = Holdout::default();
        assert_eq!(h.of(1, 0.2), 0, "one sample: nothing to hold out");
        assert_eq!(h.of(2, 0.2), 1, "one of two");
        assert_eq!(h.of(16, 0.2), 8, "never more than half");
        assert_eq!(h.of(40, 0.2), 16, "at least the minimum");
        assert_eq!(h.of(100, 0.2), 20, "the share when it is larger");
        assert_eq!(h.of(10_000, 0.2), 64, "capped");
        assert!(h
            .warning(8, Path::new("c.npz"))
            .unwrap()
            .contains("8 held-out"));
        assert!(h.warning(16, Path::new("c.npz")).is_none());
        let fixed = Holdout {
            count: Some(5),
            ..Holdout::default()
        };
        assert_eq!(fixed.of(100, 0.1), 5);
    }

    #[test]
    fn config_from_toml_rejects_unknown_keys() {
        let err = toml::from_str::<QuantizeConfig>("mode = \"static\"\nper_chanel = true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("per_chanel"), "{err}");
        let c: QuantizeConfig = toml::from_str(
            "mode = \"auto\"\ncalibrate = \"c.npz\"\n[auto]\nbudget = \"90s\"\ncriterion = { min_cosine = 0.999 }\n",
        )
        .unwrap();
        assert_eq!(c.auto.budget, Duration::from_secs(90));
        assert_eq!(c.auto.criterion, Criterion::MinCosine(0.999));
    }

    #[test]
    fn validation_names_the_problem() {
        let c = QuantizeConfig {
            mode: Mode::Static,
            ..QuantizeConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("calibration data"));
        let c = QuantizeConfig {
            mode: Mode::Fp16,
            per_channel: true,
            ..QuantizeConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("fp16"));
    }

    #[test]
    fn default_policies_differ_by_mode() {
        assert_eq!(default_policy(Mode::Dynamic).min_cosine, Some(0.99));
        assert_eq!(default_policy(Mode::Fp16).min_cosine, Some(0.999));
        let c = QuantizeConfig {
            verify: VerifyOptions {
                policy: Some(VerifyPolicy::none()),
                ..VerifyOptions::default()
            },
            ..QuantizeConfig::default()
        };
        assert_eq!(c.policy(), VerifyPolicy::none());
    }

    #[test]
    fn default_output_beside_the_input() {
        assert_eq!(
            default_output(Path::new("models/m.onnx"), Mode::Fp16),
            Path::new("models/m.fp16.onnx")
        );
        assert_eq!(
            optimize_bench::policy::rejected_path(Path::new("out/m.int8.onnx")),
            Path::new("out/m.int8.rejected.onnx")
        );
    }
}
