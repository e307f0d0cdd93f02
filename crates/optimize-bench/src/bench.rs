//! Measuring one model on one back end: the [`Bench`] builder and its [`BenchResult`].
//!
//! [`Bench::run`] does, in order:
//! 1. for [`Target::Edge`], pins the calling thread (and so every thread the back end starts
//!    later) to one CPU and runs with one thread;
//! 2. loads the model on the [`Engine`] asked for, with no fallback to another back end (a
//!    model the back end cannot run is an error naming the operator);
//! 3. builds the inputs: seeded random tensors (`optimize_data::random_tensor`, uniform in
//!    [-1, 1) for floats, [0, 10) for integers) of the model's declared shapes, with a
//!    symbolic first axis set to the batch size and any other symbolic axis set by
//!    [`Bench::shape`]; or the first `batch` samples of [`Bench::eval`] data;
//! 4. times the model on those inputs ([`latency`](crate::latency)), then reads the peak RSS
//!    ([`memory`](crate::memory)): the peak covers loading, the inputs and the timed runs;
//! 5. only then, so that they do not count in the peak: top-1 accuracy over every sample of
//!    the evaluation data when it has a `label` array ([`accuracy`](crate::accuracy)), and
//!    fidelity against [`Bench::reference`] ([`fidelity`](crate::fidelity)) on up to 64
//!    evaluation samples or 8 seeded batches, the reference run on the same back end.
//!
//! The result is data, never printed, serialisable as JSON with the schema string
//! [`SCHEMA`] (`optimize.bench/1`); the fields are documented on [`BenchResult`].
//!
//! ```no_run
//! use std::time::Duration;
//! use optimize_bench::{Bench, Engine};
//!
//! let result = Bench::new("models/digits-mlp.onnx")
//!     .backend(Engine::Ort)
//!     .threads(1)
//!     .batch(4)
//!     .warmup(10)
//!     .iterations(200)
//!     .min_duration(Duration::from_secs(2))
//!     .run()?;
//! println!("p50 {:.3} ms, CV {:.1}%", result.latency.p50_ms, result.latency.cv * 100.0);
//! println!("{}", serde_json::to_string_pretty(&result).unwrap());
//! # Ok::<(), optimize_bench::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use optimize_data::{random_tensor, CalibrationSet, DType, InputSpec, RandomRange, Tensor};
use optimize_runtime::{Backend, Device, Dim, Model, ModelSource, SessionOptions, TensorInfo};
use serde::{Deserialize, Serialize};

use crate::accuracy::{classifier_output, Accuracy, AccuracyAccumulator};
use crate::fidelity::{CompareError, FidelityAccumulator, OutputFidelity};
use crate::latency::{measure_latency, LatencyConfig, LatencyStats};
use crate::machine::{allowed_cpus, pin_to_core, tract_version};
use crate::memory::{current_rss_bytes, MemoryStats};
use crate::{Error, Result};

/// The schema string of [`BenchResult`]; bumped when a field changes meaning or goes away.
pub const SCHEMA: &str = "optimize.bench/1";

/// Evaluation samples the reference comparison uses at most.
const FIDELITY_EVAL_SAMPLES: usize = 64;
/// Seeded batches the reference comparison uses without evaluation data.
const FIDELITY_RANDOM_BATCHES: usize = 8;

/// A back end, on a device, to measure on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// tract, pure Rust, on the CPU.
    Tract,
    /// ONNX Runtime on the CPU.
    Ort,
    /// ONNX Runtime with its CUDA execution provider (needs the `cuda` feature and a GPU
    /// build of ONNX Runtime).
    OrtCuda,
}

impl Engine {
    /// Every engine, in the order of the `--backend` help.
    pub const ALL: [Engine; 3] = [Engine::Tract, Engine::Ort, Engine::OrtCuda];

    /// The name used on the command line and in JSON: `tract`, `ort`, `ort-cuda`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Tract => "tract",
            Engine::Ort => "ort",
            Engine::OrtCuda => "ort-cuda",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Engine::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "unknown back end `{s}`: expected one of tract, ort, ort-cuda"
                ))
            })
    }
}

/// What kind of machine the measurement stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// This machine's CPU, as many threads as asked.
    #[default]
    Cpu,
    /// A simulated single-core edge device: one thread pinned to one CPU of this machine,
    /// usually with a memory budget. A simulation, not a measurement on such a device.
    Edge,
    /// An NVIDIA GPU through ONNX Runtime's CUDA execution provider.
    Cuda,
}

impl Target {
    /// The name used on the command line and in JSON: `cpu`, `edge`, `cuda`.
    pub fn name(self) -> &'static str {
        match self {
            Target::Cpu => "cpu",
            Target::Edge => "edge",
            Target::Cuda => "cuda",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Target {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        [Target::Cpu, Target::Edge, Target::Cuda]
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "unknown target `{s}`: expected one of cpu, edge, cuda"
                ))
            })
    }
}

/// Everything a [`Bench`] needs; serialisable so that a parent process can hand it to a
/// child that measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchConfig {
    /// The model file.
    pub model: PathBuf,
    /// Back end and device.
    pub engine: Engine,
    /// What the run stands for.
    pub target: Target,
    /// Threads inside an operator (ONNX Runtime's intra-op threads); `None` lets the back end
    /// choose. tract runs on the calling thread.
    pub threads: Option<usize>,
    /// Size of the first axis of inputs whose first axis is symbolic.
    pub batch: usize,
    /// Warm-up, iterations, duration.
    pub latency: LatencyConfig,
    /// Whole shapes for inputs, by input name (for symbolic axes other than the batch).
    pub shapes: BTreeMap<String, Vec<usize>>,
    /// Evaluation data (`.npz`, `.npy`, `.safetensors` or a folder): timed on, and scored
    /// when it holds labels.
    pub eval: Option<PathBuf>,
    /// A model to compare outputs with.
    pub reference: Option<PathBuf>,
    /// Seed for random inputs.
    pub seed: u64,
    /// The CPU an edge run is pinned to; the first allowed one by default.
    pub pin_core: Option<usize>,
    /// Peak RSS above this is flagged in the result.
    pub mem_budget_bytes: Option<u64>,
    /// Score accuracy and fidelity (default true); off, the run only times the model (a repeat
    /// round of an interleaved measurement).
    #[serde(default = "yes")]
    pub score: bool,
}

fn yes() -> bool {
    true
}

/// Measures one model on one back end; see the [module doc](self).
#[derive(Debug, Clone, PartialEq)]
pub struct Bench {
    config: BenchConfig,
}

impl Bench {
    /// A bench of the model at `model` with the defaults: ONNX Runtime on the CPU, its own
    /// thread count, batch 1, 10 warm-up calls, at least 100 calls and 1 s, random inputs
    /// with seed 0.
    pub fn new(model: impl Into<PathBuf>) -> Self {
        Self {
            config: BenchConfig {
                model: model.into(),
                engine: Engine::Ort,
                target: Target::Cpu,
                threads: None,
                batch: 1,
                latency: LatencyConfig::default(),
                shapes: BTreeMap::new(),
                eval: None,
                reference: None,
                seed: 0,
                pin_core: None,
                mem_budget_bytes: None,
                score: true,
            },
        }
    }

    /// A bench from a whole config.
    pub fn from_config(config: BenchConfig) -> Self {
        Self { config }
    }

    /// The config as built so far.
    pub fn config(&self) -> &BenchConfig {
        &self.config
    }

    /// The back end (and device) to run on.
    pub fn backend(mut self, engine: Engine) -> Self {
        self.config.engine = engine;
        self
    }

    /// What the run stands for; [`Target::Edge`] pins to one CPU and one thread.
    pub fn target(mut self, target: Target) -> Self {
        self.config.target = target;
        self
    }

    /// Threads inside an operator.
    pub fn threads(mut self, threads: usize) -> Self {
        self.config.threads = Some(threads);
        self
    }

    /// Batch size: the first axis of inputs whose first axis is symbolic.
    pub fn batch(mut self, batch: usize) -> Self {
        self.config.batch = batch;
        self
    }

    /// Untimed calls before measuring.
    pub fn warmup(mut self, warmup: usize) -> Self {
        self.config.latency.warmup = warmup;
        self
    }

    /// Fewest timed calls (at least 1).
    pub fn iterations(mut self, iterations: usize) -> Self {
        self.config.latency.min_iterations = iterations;
        self
    }

    /// Least total time of timed calls.
    pub fn min_duration(mut self, duration: Duration) -> Self {
        self.config.latency.min_duration = duration;
        self
    }

    /// The whole shape of input `input`.
    pub fn shape(mut self, input: impl Into<String>, shape: impl Into<Vec<usize>>) -> Self {
        self.config.shapes.insert(input.into(), shape.into());
        self
    }

    /// Evaluation data to time on and to score.
    pub fn eval(mut self, data: impl Into<PathBuf>) -> Self {
        self.config.eval = Some(data.into());
        self
    }

    /// A model to compare outputs with (typically the model before optimisation).
    pub fn reference(mut self, model: impl Into<PathBuf>) -> Self {
        self.config.reference = Some(model.into());
        self
    }

    /// Seed for random inputs.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// The CPU an edge run is pinned to.
    pub fn pin_core(mut self, core: usize) -> Self {
        self.config.pin_core = Some(core);
        self
    }

    /// A memory budget for the peak RSS, in bytes.
    pub fn mem_budget(mut self, bytes: u64) -> Self {
        self.config.mem_budget_bytes = Some(bytes);
        self
    }

    /// Whether to score accuracy and fidelity besides timing (default true).
    pub fn score(mut self, score: bool) -> Self {
        self.config.score = score;
        self
    }

    /// Checks the settings without touching the model: iterations and batch at least 1,
    /// threads at least 1, the target and back end compatible.
    pub fn validate(&self) -> Result<()> {
        let c = &self.config;
        c.latency.validate()?;
        if c.batch == 0 {
            return Err(Error::InvalidConfig(
                "batch must be at least 1 (got 0)".into(),
            ));
        }
        if c.threads == Some(0) {
            return Err(Error::InvalidConfig(
                "threads must be at least 1 (got 0)".into(),
            ));
        }
        match (c.target, c.engine) {
            (Target::Cuda, Engine::OrtCuda)
            | (Target::Cpu | Target::Edge, Engine::Tract | Engine::Ort) => {}
            (Target::Cuda, e) => {
                return Err(Error::InvalidConfig(format!(
                    "target cuda runs on back end ort-cuda, not {e}"
                )))
            }
            (t, Engine::OrtCuda) => {
                return Err(Error::InvalidConfig(format!(
                    "back end ort-cuda runs on target cuda, not {t}"
                )))
            }
        }
        if c.target == Target::Edge && c.threads.is_some_and(|t| t > 1) {
            return Err(Error::InvalidConfig(format!(
                "target edge runs one thread pinned to one CPU; got {} threads",
                c.threads.unwrap_or(1)
            )));
        }
        if c.eval.is_some() && !c.shapes.is_empty() {
            return Err(Error::InvalidConfig(
                "input shapes come from the evaluation data; drop the shapes or the evaluation data"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Measures the model; see the [module doc](self) for the steps.
    pub fn run(&self) -> Result<BenchResult> {
        self.validate()?;
        let c = &self.config;
        let mut pinned_core = None;
        let mut threads = c.threads;
        if c.target == Target::Edge {
            let core = match c.pin_core {
                Some(core) => core,
                None => allowed_cpus().first().copied().unwrap_or(0),
            };
            pin_to_core(core)?;
            pinned_core = Some(core);
            threads = Some(1);
        }
        let options = SessionOptions {
            threads,
            device: match c.engine {
                Engine::OrtCuda => Device::Cuda(0),
                _ => Device::Cpu,
            },
            ..SessionOptions::default()
        };
        let (backend, runtime) = match c.engine {
            Engine::Tract => (Backend::Tract, format!("tract {}", tract_version())),
            Engine::Ort | Engine::OrtCuda => {
                options.device.check()?;
                let lib = optimize_runtime::init()?;
                (Backend::Ort, format!("onnxruntime {}", lib.version))
            }
        };

        let before_load = current_rss_bytes();
        let model = backend.load(ModelSource::File(&c.model), &options)?;
        let eval = match &c.eval {
            Some(path) => Some(CalibrationSet::open(path, &input_specs(model.inputs()))?),
            None => None,
        };
        let (inputs, input_source) = match (&eval, &c.eval) {
            (Some(set), Some(path)) => (
                eval_batch(set, c.batch)?,
                format!(
                    "the first {} sample(s) of {}",
                    c.batch.min(set.len()),
                    path.display()
                ),
            ),
            _ => (
                random_inputs(&resolve_shapes(model.inputs(), &c.shapes, c.batch)?, c.seed)?,
                format!("seeded random tensors (seed {})", c.seed),
            ),
        };
        let latency = measure_latency(&c.latency, || model.run(&inputs).map(drop))?;
        let memory = MemoryStats::read(before_load, c.mem_budget_bytes);

        let accuracy = match (&eval, &c.eval) {
            (Some(set), Some(path)) if c.score => score(model.as_ref(), set, path)?,
            _ => None,
        };
        let fidelity = match &c.reference {
            Some(reference) if c.score => Some(compare(
                model.as_ref(),
                reference,
                backend,
                &options,
                eval.as_ref(),
                &inputs,
                c.seed,
            )?),
            _ => None,
        };

        Ok(BenchResult {
            schema: SCHEMA.to_string(),
            model: ModelInfo::of(&c.model)?,
            engine: c.engine,
            runtime,
            target: c.target,
            simulated: (c.target == Target::Edge).then(|| {
                format!(
                    "edge device simulated on this machine: 1 thread pinned to CPU {}{}",
                    pinned_core.unwrap_or(0),
                    c.mem_budget_bytes
                        .map(|b| format!(", memory budget {b} bytes"))
                        .unwrap_or_default()
                )
            }),
            threads,
            pinned_core,
            batch: c.batch,
            inputs: inputs
                .iter()
                .map(|(name, t)| InputInfo {
                    name: name.clone(),
                    dtype: t.dtype().to_string(),
                    shape: t.shape().to_vec(),
                })
                .collect(),
            input_source,
            latency,
            memory,
            accuracy,
            fidelity,
        })
    }
}

/// One measurement: what ran, where, on what, and the numbers. Serialised as
/// `optimize.bench/1`:
///
/// ```json
/// {
///   "schema": "optimize.bench/1",
///   "model": {"path": "models/digits-mlp.onnx", "name": "digits-mlp", "bytes": 69989},
///   "engine": "ort", "runtime": "onnxruntime 1.31.1", "target": "cpu", "simulated": null,
///   "threads": 1, "pinned_core": null, "batch": 1,
///   "inputs": [{"name": "input", "dtype": "f32", "shape": [1, 64]}],
///   "input_source": "seeded random tensors (seed 0)",
///   "latency": {"iterations": 100, "warmup": 10, "total_s": 0.0021, "min_ms": 0.019,
///               "p25_ms": 0.02, "p50_ms": 0.021, "p75_ms": 0.021, "p90_ms": 0.022,
///               "p99_ms": 0.03, "max_ms": 0.05, "mean_ms": 0.021, "std_ms": 0.003,
///               "cv": 0.14, "overhead_ns": 25.0},
///   "memory": {"peak_rss_bytes": 31457280, "before_load_bytes": 8388608, "source": "VmHWM",
///              "budget_bytes": null, "over_budget": false},
///   "accuracy": {"top1": 0.97, "correct": 349, "samples": 360, "output": "logits",
///                "data": "models/data/digits-test.npz"},
///   "fidelity": {"reference": "models/digits-mlp.onnx", "samples": 8, "outputs": [
///       {"name": "logits", "max_abs": 0.01, "mean_abs": 0.002, "cosine": 0.9999,
///        "top1_agreement": 1.0, "values": 80, "non_finite_mismatches": 0}]}
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchResult {
    /// [`SCHEMA`].
    pub schema: String,
    /// The model measured.
    pub model: ModelInfo,
    /// Back end and device.
    pub engine: Engine,
    /// The back end's name and version, e.g. `onnxruntime 1.31.1`.
    pub runtime: String,
    /// What the run stands for.
    pub target: Target,
    /// For a simulated target, what was simulated and how.
    pub simulated: Option<String>,
    /// Intra-op threads asked for; `None` = the back end's choice.
    pub threads: Option<usize>,
    /// The CPU the run was pinned to, if any.
    pub pinned_core: Option<usize>,
    /// Batch size.
    pub batch: usize,
    /// The inputs timed on.
    pub inputs: Vec<InputInfo>,
    /// Where the inputs came from.
    pub input_source: String,
    /// Latency of one call on the inputs.
    pub latency: LatencyStats,
    /// Peak memory up to the end of the timed calls.
    pub memory: MemoryStats,
    /// Top-1 accuracy, with labelled evaluation data.
    pub accuracy: Option<Accuracy>,
    /// Output fidelity against the reference model, if one was given.
    pub fidelity: Option<Fidelity>,
}

impl BenchResult {
    /// A short label for tables and charts: `digits-mlp.int8 (ort)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.model.name, self.engine)
    }
}

/// The model file measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Its path as given.
    pub path: String,
    /// Its file name without `.onnx`.
    pub name: String,
    /// Size on disk, external data files included.
    pub bytes: u64,
}

impl ModelInfo {
    /// Describes the model at `path`, summing the sizes of its external data files.
    pub fn of(path: &Path) -> Result<Self> {
        let model = optimize_onnx::Model::load(path)?;
        let bytes = model
            .source_files()
            .iter()
            .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
            .sum();
        let file = path.file_name().map_or_else(
            || path.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        );
        Ok(Self {
            path: path.display().to_string(),
            name: file.strip_suffix(".onnx").unwrap_or(&file).to_string(),
            bytes,
        })
    }
}

/// One input as timed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputInfo {
    /// Input name.
    pub name: String,
    /// Element type, e.g. `f32`.
    pub dtype: String,
    /// Shape.
    pub shape: Vec<usize>,
}

/// How close the model's outputs stay to the reference model's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fidelity {
    /// The reference model.
    pub reference: String,
    /// Runs compared (evaluation samples, or seeded batches).
    pub samples: usize,
    /// Per output present in both models.
    pub outputs: Vec<OutputFidelity>,
}

impl Fidelity {
    /// One number for charts: the top-1 agreement of the first classifier-shaped output, or
    /// else the lowest cosine similarity over the outputs.
    pub fn headline(&self) -> Option<(f64, &'static str)> {
        if let Some(a) = self.outputs.iter().find_map(|o| o.top1_agreement) {
            return Some((a, "top-1 agreement"));
        }
        self.outputs
            .iter()
            .filter_map(|o| o.cosine)
            .min_by(f64::total_cmp)
            .map(|c| (c, "cosine similarity"))
    }
}

/// The model inputs as data specs: symbolic dimensions are `None`.
fn input_specs(inputs: &[TensorInfo]) -> Vec<InputSpec> {
    inputs
        .iter()
        .filter_map(|i| {
            Some(InputSpec::new(
                i.name.clone(),
                i.dtype?,
                i.shape.iter().map(Dim::fixed).collect::<Vec<_>>(),
            ))
        })
        .collect()
}

/// Settles every input's shape: given whole by `shapes`, or from the declaration with a
/// symbolic first axis set to `batch`.
pub fn resolve_shapes(
    inputs: &[TensorInfo],
    shapes: &BTreeMap<String, Vec<usize>>,
    batch: usize,
) -> Result<Vec<(String, DType, Vec<usize>)>> {
    let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    if let Some(unknown) = shapes.keys().find(|k| !names.contains(&k.as_str())) {
        return Err(Error::Shape {
            input: unknown.clone(),
            message: format!(
                "the model has no such input; its inputs are {}",
                names.join(", ")
            ),
        });
    }
    let mut batched = false;
    let resolved = inputs
        .iter()
        .map(|info| {
            let err = |message: String| Error::Shape {
                input: info.name.clone(),
                message,
            };
            let dtype = info.dtype.ok_or_else(|| {
                err(format!(
                    "type {} cannot be filled with random data",
                    info.onnx_type
                ))
            })?;
            let declared = info.describe();
            if let Some(shape) = shapes.get(&info.name) {
                let fits = shape.len() == info.shape.len()
                    && info.shape.iter().zip(shape).all(|(d, &n)| d.accepts(n));
                if !fits {
                    return Err(err(format!(
                        "shape {shape:?} does not fit the declared {declared}"
                    )));
                }
                batched |= shape.first() == Some(&batch);
                return Ok((info.name.clone(), dtype, shape.clone()));
            }
            let mut shape = Vec::with_capacity(info.shape.len());
            for (axis, dim) in info.shape.iter().enumerate() {
                shape.push(match (axis, dim) {
                    (_, Dim::Fixed(n)) => *n,
                    (0, _) => {
                        batched = true;
                        batch
                    }
                    (_, dim) => {
                        let what = match dim {
                            Dim::Symbolic(name) if !name.is_empty() && name != "?" => {
                                format!("axis {axis} (`{name}`) is symbolic")
                            }
                            _ => format!("axis {axis} has no declared size"),
                        };
                        return Err(err(format!(
                            "{what} in {declared}; give the whole shape, e.g. --shape {}={}",
                            info.name,
                            example_shape(&info.shape, batch)
                        )));
                    }
                });
            }
            Ok((info.name.clone(), dtype, shape))
        })
        .collect::<Result<Vec<_>>>()?;
    if batch > 1 && !batched {
        if let Some(first) = inputs.first() {
            return Err(Error::Shape {
                input: first.name.clone(),
                message: format!(
                    "batch {batch} does not fit: no input has a symbolic first axis ({}); set the shapes with --shape",
                    first.describe()
                ),
            });
        }
    }
    Ok(resolved)
}

/// `1x3x224x224`-style example for a declared shape, with 1 for unknown axes.
fn example_shape(dims: &[Dim], batch: usize) -> String {
    let parts: Vec<String> = dims
        .iter()
        .enumerate()
        .map(|(axis, d)| match d.fixed() {
            Some(n) => n.to_string(),
            None if axis == 0 => batch.to_string(),
            None => "1".to_string(),
        })
        .collect();
    parts.join("x")
}

/// Seeded random tensors for the inputs: input `i` uses seed `seed + i`.
fn random_inputs(
    shapes: &[(String, DType, Vec<usize>)],
    seed: u64,
) -> Result<Vec<(String, Tensor)>> {
    shapes
        .iter()
        .enumerate()
        .map(|(i, (name, dtype, shape))| {
            let t = random_tensor(
                *dtype,
                shape,
                seed.wrapping_add(i as u64),
                RandomRange::default_for(*dtype),
            )?;
            Ok((name.clone(), t))
        })
        .collect()
}

/// The first `batch` samples of `set`, stacked on the first axis where a sample has a first
/// axis of 1; other inputs take the first sample's tensor.
fn eval_batch(set: &CalibrationSet, batch: usize) -> Result<Vec<(String, Tensor)>> {
    let samples: Vec<_> = set
        .iter_range(0..batch)
        .collect::<std::result::Result<_, _>>()?;
    let Some(first) = samples.first() else {
        return Err(Error::Eval("the evaluation data holds no sample".into()));
    };
    first
        .inputs
        .iter()
        .enumerate()
        .map(|(k, (name, t))| {
            if samples.len() == 1 || t.shape().first() != Some(&1) {
                return Ok((name.clone(), t.clone()));
            }
            let mut shape = t.shape().to_vec();
            shape[0] = samples.len();
            let bytes: Vec<u8> = samples
                .iter()
                .flat_map(|s| s.inputs[k].1.as_bytes().iter().copied())
                .collect();
            Ok((name.clone(), Tensor::from_bytes(t.dtype(), shape, bytes)?))
        })
        .collect()
}

/// Top-1 accuracy over every sample of `set`, if it has labels.
fn score(model: &dyn Model, set: &CalibrationSet, path: &Path) -> Result<Option<Accuracy>> {
    let Some(labels) = crate::accuracy::labels_of(set, path)? else {
        return Ok(None);
    };
    let mut acc: Option<AccuracyAccumulator> = None;
    for sample in set.iter() {
        let sample = sample?;
        let outputs = model.run(&sample.inputs)?;
        let Some(ix) = classifier_output(&outputs) else {
            let (name, t) = outputs
                .first()
                .ok_or_else(|| Error::Eval("the model has no output".into()))?;
            return Err(Error::NotAClassifier {
                output: name.clone(),
                shape: t.shape().to_vec(),
            });
        };
        let (name, scores) = &outputs[ix];
        let acc = acc.get_or_insert_with(|| AccuracyAccumulator::new(name.clone()));
        let rows = scores.shape().first().copied().unwrap_or(1);
        let end = (sample.index + rows).min(labels.len());
        acc.add(scores, &labels[sample.index..end])?;
    }
    Ok(acc.map(|a| a.finish(path.display().to_string())))
}

/// Output fidelity against `reference`, run on the same back end and options.
fn compare(
    model: &dyn Model,
    reference: &Path,
    backend: Backend,
    options: &SessionOptions,
    eval: Option<&CalibrationSet>,
    inputs: &[(String, Tensor)],
    seed: u64,
) -> Result<Fidelity> {
    let reference_model = backend.load(ModelSource::File(reference), options)?;
    let samples: Vec<Vec<(String, Tensor)>> = match eval {
        Some(set) => set
            .iter_range(0..FIDELITY_EVAL_SAMPLES)
            .map(|s| s.map(|s| s.inputs))
            .collect::<std::result::Result<_, _>>()?,
        None => {
            let shapes: Vec<(String, DType, Vec<usize>)> = inputs
                .iter()
                .map(|(n, t)| (n.clone(), t.dtype(), t.shape().to_vec()))
                .collect();
            (0..FIDELITY_RANDOM_BATCHES as u64)
                .map(|k| random_inputs(&shapes, seed.wrapping_add(1000 + 100 * k)))
                .collect::<Result<_>>()?
        }
    };
    let reference_name = reference.display().to_string();
    let compare_error = |source: CompareError| Error::Compare {
        reference: reference_name.clone(),
        source,
    };
    let mut acc = FidelityAccumulator::default();
    for sample in &samples {
        let ours = model.run(sample)?;
        let theirs = reference_model.run(sample).map_err(|e| {
            compare_error(CompareError {
                name: "(inputs)".into(),
                detail: format!("the reference does not run on the same inputs: {e}"),
            })
        })?;
        let mut common = 0;
        for (name, t) in &ours {
            if let Some((_, r)) = theirs.iter().find(|(n, _)| n == name) {
                acc.add(name, t, r).map_err(compare_error)?;
                common += 1;
            }
        }
        if common == 0 {
            return Err(compare_error(CompareError {
                name: ours.first().map(|(n, _)| n.clone()).unwrap_or_default(),
                detail: "no output of the model has the same name as an output of the reference"
                    .into(),
            }));
        }
    }
    Ok(Fidelity {
        reference: reference_name,
        samples: samples.len(),
        outputs: acc.finish(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, dims: Vec<Dim>) -> TensorInfo {
        TensorInfo {
            name: name.into(),
            dtype: Some(DType::F32),
            shape: dims,
            onnx_type: String::new(),
        }
    }

    #[test]
    fn shapes_from_batch_and_flags() {
        let inputs = [
            info("x", vec![Dim::Symbolic("batch".into()), Dim::Fixed(64)]),
            info("s", vec![Dim::Fixed(2), Dim::Unknown, Dim::Fixed(128)]),
        ];
        let mut shapes = BTreeMap::new();
        let err = resolve_shapes(&inputs, &shapes, 4).unwrap_err().to_string();
        assert!(
            err.contains("input `s`") && err.contains("--shape s=2x1x128"),
            "{err}"
        );
        shapes.insert("s".to_string(), vec![2, 1, 128]);
        let r = resolve_shapes(&inputs, &shapes, 4).unwrap();
        assert_eq!(r[0].2, [4, 64]);
        assert_eq!(r[1].2, [2, 1, 128]);
        shapes.insert("s".to_string(), vec![3, 1, 128]);
        let err = resolve_shapes(&inputs, &shapes, 1).unwrap_err().to_string();
        assert!(err.contains("does not fit"), "{err}");
        shapes.clear();
        shapes.insert("nope".to_string(), vec![1]);
        let err = resolve_shapes(&inputs, &shapes, 1).unwrap_err().to_string();
        assert!(
            err.contains("input `nope`") && err.contains("x, s"),
            "{err}"
        );
        let fixed = [info("x", vec![Dim::Fixed(1), Dim::Fixed(3)])];
        assert!(resolve_shapes(&fixed, &BTreeMap::new(), 2).is_err());
        assert_eq!(
            resolve_shapes(&fixed, &BTreeMap::new(), 1).unwrap()[0].2,
            [1, 3]
        );
    }

    #[test]
    fn config_checks() {
        let b = Bench::new("m.onnx");
        assert!(b.clone().validate().is_ok());
        let err = b.clone().iterations(0).validate().unwrap_err().to_string();
        assert!(err.contains("iterations"), "{err}");
        assert!(b.clone().batch(0).validate().is_err());
        assert!(b.clone().target(Target::Cuda).validate().is_err());
        assert!(b.clone().backend(Engine::OrtCuda).validate().is_err());
        assert!(b
            .clone()
            .target(Target::Edge)
            .threads(4)
            .validate()
            .is_err());
        assert!(b.clone().eval("e.npz").shape("x", [1]).validate().is_err());
        assert_eq!("ort-cuda".parse::<Engine>().unwrap(), Engine::OrtCuda);
        let err = "onnx".parse::<Engine>().unwrap_err().to_string();
        assert!(err.contains("unknown back end `onnx`"), "{err}");
        assert!("gpu".parse::<Target>().is_err());
        // A config survives the trip to a child process.
        let config = b.shape("x", [1, 2]).config().clone();
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<BenchConfig>(&json).unwrap(), config);
    }
}
