//! Argument types (clap derive). Parsing only: nothing here reads files.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

const ABOUT: &str = "Make trained models smaller and faster, and prove it with measurements.";

const EXAMPLES: &str = "\
Examples (each line runs as it is from the repository root; --help of each command has more):
  optimize inspect models/digits-cnn.onnx
  optimize quantize --int8 --per-channel --calibrate models/data/digits-train-cnn.npz --eval models/data/digits-test-cnn.npz models/digits-cnn.onnx -o digits-cnn.int8.onnx
  optimize prune models/digits-cnn.onnx --method channels --ratio 0.5 --eval models/data/digits-test-cnn.npz -o digits-cnn.pruned.onnx
  optimize bench --baseline models/digits-cnn.onnx digits-cnn.int8.onnx digits-cnn.pruned.onnx --eval models/data/digits-test-cnn.npz --threads 1";

/// The `optimize` command line.
#[derive(Debug, Parser)]
#[command(name = "optimize", version, about = ABOUT, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Summarize a model: versions, inputs/outputs, operators, parameters, precision.
    #[command(after_help = "\
Examples:
  optimize inspect models/digits-cnn.onnx
  optimize inspect --json models/digits-mlp.onnx

The JSON schema (optimize.inspect/1) is documented in the optimize-onnx crate, module `inspect`.")]
    Inspect(InspectArgs),
    /// Re-save a model, inlining its weights or moving them to an external data file, optionally
    /// upgrading its ai.onnx opset.
    #[command(after_help = "\
Examples:
  optimize convert models/digits-cnn.onnx -o digits-cnn-ext.onnx --external-data
      writes digits-cnn-ext.onnx and digits-cnn-ext.onnx.data; weights ≥ 1 KiB go to the .data
      file
  optimize convert models/digits-mlp.onnx -o digits-mlp-21.onnx --opset 21
      opset 17 -> 21, rewriting the nodes whose meaning changed (for opset 12 -> 13: Squeeze
      axes become inputs, Softmax keeps its opset-12 meaning)

Models over protobuf's 2 GiB limit get external data automatically. --opset refuses, naming the
nodes, when a node's meaning would change and no rewrite keeps it.")]
    Convert(ConvertArgs),
    /// Quantize a model to int8 (dynamic, or static QDQ with --calibrate) or fp16, then verify it.
    #[command(after_help = QUANTIZE_EXAMPLES)]
    Quantize(QuantizeArgs),
    /// Prune a model: magnitude or N:M sparsity, structured channel removal, or low-rank
    /// factorization; then verify it and measure what it bought.
    #[command(after_help = PRUNE_EXAMPLES)]
    Prune(PruneArgs),
    /// Distill a teacher into a smaller student as a TOML recipe says; export the student to ONNX
    /// and compare it with the teacher and with the same student trained alone.
    #[command(after_help = DISTILL_EXAMPLES)]
    Distill(DistillArgs),
    /// Try many configurations (chains of distill, prune and quantize steps), measure each on
    /// the target, judge them against an SLA, and keep the best one.
    #[command(after_help = PIPELINE_EXAMPLES)]
    Pipeline(PipelineArgs),
    /// Measure latency, peak memory, size and accuracy of models, each run in a process of its own.
    #[command(after_help = BENCH_EXAMPLES)]
    Bench(BenchArgs),
    /// Re-render report.md and the charts from saved bench JSON (report.json or --json output).
    #[command(after_help = REPORT_EXAMPLES)]
    Report(ReportArgs),
    /// Measures one (model, back end) pair for `bench` and prints its result as JSON.
    #[command(name = "bench-worker", hide = true)]
    BenchWorker(BenchWorkerArgs),
}

const QUANTIZE_EXAMPLES: &str = "\
Examples:
  optimize quantize --int8 models/digits-mlp.onnx -o digits-mlp.int8.onnx
      dynamic int8: weights int8, activations quantized at run time (no data needed)
  optimize quantize --int8 --per-channel --calibrate models/data/digits-train-cnn.npz --eval models/data/digits-test-cnn.npz models/digits-cnn.onnx -o digits-cnn.int8.onnx
      static int8 in QDQ form, activation ranges calibrated on the training split (arrays named
      after the model's inputs, the first axis indexes samples), verified on the test split
  optimize quantize --int8 --auto --budget 2m --calibrate models/data/digits-train.npz --eval models/data/digits-test.npz models/digits-mlp.onnx -o digits-mlp.auto.onnx
      mixed precision measured on ONNX Runtime: int8 where it pays, never slower than float32
  optimize quantize --fp16 models/digits-cnn.onnx -o digits-cnn.fp16.onnx

Every output is loaded and run in ONNX Runtime (and tract where it can) and compared with the
original before it is written: with labels, top-1 may drop at most --max-drop; without, every
output's cosine must reach --min-cosine. A rejected output is not written (exit 1). The report
gives nodes quantized and skipped (with why), output error, size/accuracy/latency before and
after, and time per phase; --json prints it (schema optimize.quantize/1, documented in
optimize_quant::report).";

const BENCH_EXAMPLES: &str = "\
Examples:
  optimize bench models/digits-mlp.onnx --backend tract,ort --threads 1
  optimize bench --baseline models/digits-cnn.onnx digits-cnn.int8.onnx digits-cnn.fp16.onnx --eval models/data/digits-test-cnn.npz --threads 1 -o bench-digits-cnn
      measures the three models (written by `optimize quantize --help`'s examples), compares
      each with the baseline, and writes bench-digits-cnn/{report.json,report.md} with latency,
      size and accuracy charts
  optimize bench models/digits-cnn.onnx --target edge --mem-budget 256MiB --json

Each (model, back end) pair runs in a fresh child process, so peak memory is per run. Latency:
--warmup untimed calls, then at least --iterations calls and at least --min-duration. The JSON
schemas (optimize.bench/1 per run, optimize.bench-report/1 for the report) are documented in the
optimize-bench crate, modules `bench` and `report`. With --baseline the report folder defaults to
bench-<baseline name> in the current folder.";

const REPORT_EXAMPLES: &str = "\
Examples:
  optimize report bench-digits-cnn/report.json -o bench-digits-cnn-again
      re-renders report.md and the charts from the saved runs (give several files to merge
      them; the first file's baseline stays the baseline)";

/// `optimize bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Models to measure (.onnx); with --baseline, the variants compared with it.
    pub models: Vec<PathBuf>,
    /// The model the others are compared with; measured first. Writes a report folder
    /// (see --out-dir).
    #[arg(long, value_name = "MODEL")]
    pub baseline: Option<PathBuf>,
    /// Back ends, comma-separated: tract, ort, ort-cuda [default: ort; tract for --target edge;
    /// ort-cuda for --target cuda].
    #[arg(long, value_delimiter = ',', value_name = "BACKEND")]
    pub backend: Vec<String>,
    /// Intra-op threads [default: the back end's choice; 1 for --target edge].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Batch size: the first axis of inputs whose first axis is symbolic.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Untimed calls before timing.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Fewest timed calls.
    #[arg(long, default_value_t = 100)]
    pub iterations: usize,
    /// Least total time of timed calls: 2s, 500ms, 0.
    #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = duration)]
    pub min_duration: std::time::Duration,
    /// Whole shape of an input, for symbolic axes: --shape x=1x3x224x224 (repeatable).
    #[arg(long, value_name = "NAME=DIMS")]
    pub shape: Vec<String>,
    /// Evaluation data (.npz/.npy/.safetensors or a folder; arrays named after the inputs, first
    /// axis = samples): timed on, and scored for top-1 accuracy when it holds a `label` array.
    #[arg(long, value_name = "DATA")]
    pub eval: Option<PathBuf>,
    /// A model to compare outputs with [default with --baseline: the baseline].
    #[arg(long, value_name = "MODEL")]
    pub reference: Option<PathBuf>,
    /// cpu, edge (simulated: 1 thread pinned to one core, tract) or cuda.
    #[arg(long, default_value = "cpu")]
    pub target: String,
    /// Flag runs whose peak RSS goes over this: 256MiB, 1GiB (binary units) or 500MB (decimal).
    #[arg(long, value_name = "SIZE")]
    pub mem_budget: Option<String>,
    /// Seed for random inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write report.json, report.md and charts here [default with --baseline:
    /// results/<baseline name>].
    #[arg(short = 'o', long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Print the report as JSON (schema optimize.bench-report/1) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `optimize report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Saved results: report.json files or `optimize bench --json` output.
    #[arg(required = true)]
    pub results: Vec<PathBuf>,
    /// Where to write report.md and the charts [default: the first file's folder].
    #[arg(short = 'o', long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// `optimize bench-worker` (internal).
#[derive(Debug, Args)]
pub struct BenchWorkerArgs {
    /// The bench config as JSON.
    #[arg(long)]
    pub config: String,
}

const PRUNE_EXAMPLES: &str = "\
Examples:
  optimize prune models/digits-cnn.onnx --method channels --ratio 0.5 --eval models/data/digits-test-cnn.npz -o digits-cnn.channels.onnx
      removes half the output channels of every conv and hidden layer it can prune safely; the
      output is physically smaller and faster
  optimize prune models/digits-mlp.onnx --method magnitude --sparsity 0.8 --exclude-first --exclude-last -o digits-mlp.sparse.onnx
  optimize prune models/digits-cnn.onnx --method nm --pattern 2:4 -o digits-cnn.2-4.onnx
  optimize prune models/digits-mlp.onnx --method lowrank --energy 0.9 --json -o digits-mlp.lowrank.onnx

What each method buys: magnitude and nm only write zeros into dense weights, so ONNX Runtime and
tract run them no faster and the file is no smaller (the report gives the gzip size, where the
zeros show); nm 2:4 is what GPUs with sparse tensor cores accelerate. channels and lowrank change
the shapes of the weights, so the model really is smaller and does less work. Every output is
loaded and run in ONNX Runtime and tract and compared with the original (accuracy too with
labelled --eval data) before it is written: outputs must stay finite and not all zeros, and
with --max-drop / --min-cosine (defaults with --recover: 1 point, cosine 0.99) close to the
original; a rejected output is not written (exit 1). Latency before and after is measured
unless --no-bench.";

/// The pruning method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PruneMethod {
    /// Unstructured: zero the smallest weights (--sparsity).
    Magnitude,
    /// N:M semi-structured sparsity along the input dimension (--pattern).
    Nm,
    /// Structured: remove whole output channels and everything that depends on them (--ratio).
    Channels,
    /// Replace MatMul/Gemm weights by two low-rank factors (--rank or --energy).
    Lowrank,
}

/// Which nodes a pass may change (`optimize quantize`, `optimize prune`).
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Only change nodes of these op types (comma-separated), e.g. Conv,MatMul.
    #[arg(long, value_delimiter = ',')]
    pub op_types: Vec<String>,
    /// Never change these nodes (names, or first output names for unnamed nodes).
    #[arg(long, value_delimiter = ',')]
    pub exclude_nodes: Vec<String>,
    /// Never change nodes of these op types.
    #[arg(long, value_delimiter = ',')]
    pub exclude_op_types: Vec<String>,
}

impl NodeArgs {
    /// The flags as the libraries' node filter.
    pub fn filter(&self) -> optimize_onnx::filter::NodeFilter {
        optimize_onnx::filter::NodeFilter {
            op_types: (!self.op_types.is_empty()).then(|| self.op_types.iter().cloned().collect()),
            exclude_nodes: self.exclude_nodes.iter().cloned().collect(),
            exclude_op_types: self.exclude_op_types.iter().cloned().collect(),
        }
    }
}

/// The user's measure of quality, judging the output in place of the output cosine
/// (`optimize quantize`, `optimize prune`).
#[derive(Debug, Args)]
pub struct TaskArgs {
    /// Judge the output by your own evaluation script: a command run on the original and on
    /// the output (the model's path replaces {model}, or is appended), whose last line of output
    /// ends with one number, e.g. --metric-command "python eval.py --split val {model}". The
    /// output is accepted when the number drops by at most --max-drop (in its own units); with
    /// --auto every trial is judged by it.
    #[arg(long, value_name = "CMD", conflicts_with = "output_layout")]
    pub metric_command: Option<String>,
    /// Whether larger numbers from --metric-command are better (false for error rates).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          requires = "metric_command")]
    pub higher_is_better: bool,
    /// Judge a detector by its detections: where its output keeps boxes and class scores, e.g.
    /// boxes:0..4,scores:4.. for a YOLOv8 [1, 84, N] head (also axis:K, format:xyxy,
    /// threshold:0.25, iou:0.5, output:NAME). Detections above the threshold are matched to the
    /// original's by IoU and scored as F1; --max-drop bounds its fall from 1.
    #[arg(long, value_name = "LAYOUT")]
    pub output_layout: Option<String>,
}

impl TaskArgs {
    /// The flags as the library's task metric.
    pub fn task(&self) -> Result<Option<optimize_bench::TaskMetric>, crate::exit::UsageError> {
        use crate::exit::UsageError;
        use optimize_bench::task::{MetricCommand, TaskMetric};
        if let Some(line) = &self.metric_command {
            let c = MetricCommand::parse(line, self.higher_is_better)
                .map_err(|e| UsageError(format!("--metric-command: {e}")))?;
            return Ok(Some(TaskMetric::Command(c)));
        }
        match &self.output_layout {
            Some(l) => {
                Ok(Some(TaskMetric::Detection(l.parse().map_err(|e| {
                    UsageError(format!("--output-layout {l:?}: {e}"))
                })?)))
            }
            None => Ok(None),
        }
    }
}

/// `optimize prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The .onnx file to prune (never modified).
    pub model: PathBuf,
    /// How to prune.
    #[arg(long, value_enum)]
    pub method: PruneMethod,
    /// Where to write the result [default: MODEL with .<method>.onnx].
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// magnitude: share of weights to set to zero, in [0, 1).
    #[arg(long, allow_negative_numbers = true)]
    pub sparsity: Option<f64>,
    /// magnitude: prune every layer to the sparsity, instead of one threshold for the model.
    #[arg(long)]
    pub per_layer: bool,
    /// magnitude: keep the first weighted layer dense.
    #[arg(long)]
    pub exclude_first: bool,
    /// magnitude: keep the last weighted layer dense.
    #[arg(long)]
    pub exclude_last: bool,
    /// nm: keep N of every M weights along the input dimension [default: 2:4].
    #[arg(long, value_name = "N:M")]
    pub pattern: Option<String>,
    /// channels: share of output channels to remove from each prunable group, in [0, 1).
    #[arg(long, allow_negative_numbers = true)]
    pub ratio: Option<f64>,
    /// channels: how channel importance is scored: l1, l2 (norms of the filters) or bn-scale
    /// (|gamma| of the BatchNorm that follows) [default: l1].
    #[arg(long)]
    pub criterion: Option<String>,
    /// channels: keep a multiple of N channels in every pruned group (8 or 16 suit ONNX
    /// Runtime's blocked CPU convolutions; groups under N stay whole) [default: 1].
    #[arg(long, value_name = "N")]
    pub round_to: Option<usize>,
    /// lowrank: the rank of the factors.
    #[arg(long, conflicts_with = "energy")]
    pub rank: Option<usize>,
    /// lowrank: the smallest rank keeping this share of the squared singular values, in (0, 1].
    #[arg(long, allow_negative_numbers = true)]
    pub energy: Option<f64>,
    #[command(flatten)]
    pub nodes: NodeArgs,
    #[command(flatten)]
    pub task: TaskArgs,
    /// Evaluation data (.npz/.npy/.safetensors or a folder; arrays named after the inputs, first
    /// axis = samples) to verify on; with a `label` array, accuracy before and after is reported.
    #[arg(long, value_name = "DATA")]
    pub eval: Option<PathBuf>,
    /// Whole shape of an input for seeded verification inputs and latency, for symbolic axes:
    /// --shape x=1x3x48x192 (repeatable).
    #[arg(long, value_name = "NAME=DIMS")]
    pub shape: Vec<String>,
    /// Skip loading and comparing the output.
    #[arg(long)]
    pub no_verify: bool,
    /// Skip measuring latency before and after.
    #[arg(long)]
    pub no_bench: bool,
    /// Intra-op threads of the runtimes that time the models [default: the runtime's choice].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Accept the output only if top-1 (with labelled --eval) drops at most this, as a fraction
    /// (0.01 = 1 point) [default: no bound without --recover; 0.01 with it].
    #[arg(long, value_name = "DROP")]
    pub max_drop: Option<f64>,
    /// Accept the output only if every output's cosine with the original's is at least this
    /// (data without labels) [default: no bound without --recover; 0.99 with it].
    #[arg(long, value_name = "COSINE")]
    pub min_cosine: Option<f64>,
    /// Accept the output only if no output value moves by more than this.
    #[arg(long, value_name = "ABS")]
    pub max_abs: Option<f64>,
    /// When verification rejects the output, keep it as <OUTPUT stem>.rejected.onnx.
    #[arg(long)]
    pub keep_rejected: bool,
    /// lowrank: factor every candidate even when the factors hold more parameters than the
    /// weight.
    #[arg(long)]
    pub force: bool,
    /// Fine-tune the pruned model with the original as teacher (distillation), then write the
    /// recovered model. The recipe (TOML, see recipes/README.md) gives data, loss, optimizer and
    /// epochs, and leaves out [teacher] and [student]. The model must be a plain chain of layers
    /// (Conv, Gemm/MatMul, BatchNormalization, Relu, pooling, Flatten).
    #[arg(long, value_name = "RECIPE")]
    pub recover: Option<PathBuf>,
    /// Where the recovery's report, curves and checkpoints go [default: OUTPUT with
    /// .recover/].
    #[arg(long, value_name = "DIR", requires = "recover")]
    pub recover_dir: Option<PathBuf>,
    /// Store weights in <OUTPUT>.data (automatic past 2 GiB).
    #[arg(long)]
    pub external_data: bool,
    /// Print the report as JSON (schema optimize.prune/1).
    #[arg(long)]
    pub json: bool,
}

/// `optimize inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The .onnx file to summarize.
    pub model: PathBuf,
    /// Print JSON (schema optimize.inspect/1) instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// `optimize convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The .onnx file to read (never modified).
    pub model: PathBuf,
    /// Where to write the result.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Store tensors of 1 KiB or more in <OUTPUT>.data beside the model.
    #[arg(long)]
    pub external_data: bool,
    /// Upgrade the ai.onnx opset to VERSION (from 9 or later, up to 21), rewriting the nodes
    /// whose meaning changed so the model computes the same.
    #[arg(long, value_name = "VERSION")]
    pub opset: Option<i64>,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `optimize quantize`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("precision").required(true).args(["int8", "fp16"])))]
pub struct QuantizeArgs {
    /// The .onnx file to quantize (never modified).
    pub model: PathBuf,
    /// Where to write the result [default: MODEL with .int8.onnx or .fp16.onnx].
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// int8 quantization: dynamic, or static QDQ with --calibrate.
    #[arg(long)]
    pub int8: bool,
    /// float16 weights and compute.
    #[arg(long)]
    pub fp16: bool,
    /// Calibration data: .npz, .npy, .safetensors, or a folder of them. With --int8 it selects
    /// static QDQ; with --fp16 it is what the float16 overflow check runs on.
    #[arg(long, value_name = "DATA")]
    pub calibrate: Option<PathBuf>,
    /// Calibration method: minmax, percentile[=99.999], entropy, mse.
    #[arg(long, default_value = "minmax")]
    pub method: String,
    /// Symmetric int8 activations (zero point 0) instead of asymmetric uint8.
    #[arg(long)]
    pub symmetric: bool,
    /// One weight scale per output channel (Conv, MatMul, Gemm).
    #[arg(long)]
    pub per_channel: bool,
    /// Dynamic int8: run Conv as ConvInteger (activations quantized at run time) instead of
    /// a float Conv whose int8-stored weights are expanded at load. ONNX Runtime's CPU ConvInteger is
    /// several times slower.
    #[arg(long)]
    pub conv_integer: bool,
    /// Static int8: correct Conv/Gemm biases for the mean error their int8 weights add
    /// (b' = b - (W_q - W)·E[x], E[x] from calibration); helps nets whose weights round unevenly.
    #[arg(long, requires = "calibrate")]
    pub bias_correction: bool,
    #[command(flatten)]
    pub nodes: NodeArgs,
    #[command(flatten)]
    pub task: TaskArgs,
    /// Calibration samples held back for verification [default: 10% of the data, at most 64].
    #[arg(long)]
    pub holdout: Option<usize>,
    /// fp16: make graph inputs and outputs float16 too.
    #[arg(long)]
    pub no_keep_io_types: bool,
    /// fp16: more op types to keep in float32 (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub fp16_block_ops: Vec<String>,
    /// Skip loading and comparing the output.
    #[arg(long)]
    pub no_verify: bool,
    /// When verification rejects the output, keep it as <OUTPUT stem>.rejected.onnx (it is
    /// never left at the output path).
    #[arg(long)]
    pub keep_rejected: bool,
    /// Accept the output only if no output value differs from the original's by more than
    /// this (checked when the data has no labels, or with --max-drop unset).
    #[arg(long, value_name = "ABS")]
    pub max_abs: Option<f64>,
    /// Skip timing the original and the output (the before/after table then shows size and
    /// accuracy only). Dynamic int8 then keeps MatMul/Gemm as MatMulInteger; timed, it writes
    /// their weights stored in int8 (float32's compute) instead where MatMulInteger measures
    /// slower than float32.
    #[arg(long)]
    pub no_bench: bool,
    /// Quantize even an already-quantized model, and write the model even if nothing changed.
    #[arg(long)]
    pub force: bool,
    /// Store weights in <OUTPUT>.data (automatic past 2 GiB).
    #[arg(long)]
    pub external_data: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Accuracy- and latency-aware mixed precision (needs --calibrate): measure, per op group
    /// and per node, what int8 costs in accuracy and gains in speed on the target, keep the rest
    /// in float (their weights stored in int8 or float16 and expanded once at load when the goal
    /// allows), and write the model that meets --max-drop / --min-cosine and is never slower
    /// than float32 (--prefer). When no int8 activation beats float32, the weights alone in int8
    /// (float32's compute, a quarter of the bytes). Exit code 1 when no configuration met the
    /// goal (the closest is written).
    #[arg(long, requires = "calibrate", conflicts_with_all = ["fp16", "per_channel", "method"])]
    pub auto: bool,
    /// Evaluation data (.npz/.npy/.safetensors or a folder; with a `label` array, top-1
    /// accuracy): what the output is verified on and, with --auto, what the search judges by.
    /// Without it: held-out calibration samples, else seeded random inputs.
    #[arg(long, value_name = "DATA", alias = "verify-data")]
    pub eval: Option<PathBuf>,
    /// How int8 weights are stored: int8; int7 (int8 holding [-63, 63], ONNX Runtime's
    /// reduce_range), which its fast kernels compute exactly on x86 CPUs with AVX2 and no VNNI,
    /// where full-range int8 saturates; or uint8 (the int8 values + 128), exact there too but
    /// up to 2x slower [default: int8, except on such CPUs: static writes int7 and int8 and
    /// keeps the one verification finds closer, dynamic uses int7].
    #[arg(long, value_name = "TYPE", value_parser = ["int8", "int7", "uint8"])]
    pub weight_type: Option<String>,
    /// Whole shape of an input for seeded inputs (verification without data, the fp16 overflow
    /// check, latency), for symbolic axes: --shape x=1x3x48x192 (repeatable; others are 1).
    #[arg(long, value_name = "NAME=DIMS")]
    pub shape: Vec<String>,
    /// The largest accepted drop of top-1 accuracy, as a fraction (0.01 = 1 point): the
    /// verification bound with labelled data [default: 0.01; fp16 0.005]; with --auto also the
    /// search's goal (without labels: how far cosine may fall below 1).
    #[arg(long, value_name = "DROP")]
    pub max_drop: Option<f64>,
    /// The smallest accepted cosine similarity of every output with the original's, without
    /// labels [default: 0.99; fp16 0.999]; with --auto the search's goal (over --max-drop).
    #[arg(long, value_name = "COSINE")]
    pub min_cosine: Option<f64>,
    /// Threads of the runtimes that time the models: the before/after latency, and the
    /// --auto search's target [default: the runtime's choice; 2 for --auto].
    #[arg(long)]
    pub threads: Option<usize>,
    /// --auto: the runtime to measure latency and accuracy on: ort or tract.
    #[arg(long, default_value = "ort", requires = "auto",
          value_parser = clap::builder::TypedValueParser::try_map(
              clap::builder::PossibleValuesParser::new(["ort", "tract"]),
              |s| s.parse::<optimize_quant::auto::AutoTarget>()))]
    pub target: optimize_quant::auto::AutoTarget,
    /// --auto: time budget of the whole command, e.g. 90s, 10m (the search keeps back time for
    /// the final timing, verification and saving); the best model found is written when it runs
    /// out (or on Ctrl-C).
    #[arg(long, default_value = "10m", requires = "auto", value_parser = duration)]
    pub budget: std::time::Duration,
    /// --auto: skip the latency stage (op groups left in float because they run faster that
    /// way), so only accuracy decides what stays float: smaller models, and the answer is still
    /// never slower than float32.
    #[arg(long, requires = "auto")]
    pub accuracy_only: bool,
    /// --auto: of the answers that meet the goal and are not slower than float32, write the
    /// smallest (size) or the smallest of those within 10% of the fastest (speed).
    #[arg(long, value_parser = ["size", "speed"], default_value = "size", requires = "auto")]
    pub prefer: String,
}

/// A duration flag: `2s`, `500ms`, `10m`, `1h 30m` (humantime's forms), or plain seconds
/// (`1.5`, `0`).
fn duration(s: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("`{s}`: expected a duration such as 90s, 500ms, 10m or 1.5 (seconds)");
    match s.trim().parse::<f64>() {
        Ok(secs) => std::time::Duration::try_from_secs_f64(secs).map_err(|_| bad()),
        Err(_) => humantime::parse_duration(s.trim()).map_err(|_| bad()),
    }
}

/// Parses the process arguments. On `--help`/`--version` prints and returns exit code 0; on a
/// usage error prints clap's message and returns exit code 2.
pub fn parse() -> Result<Cli, ExitCode> {
    Cli::try_parse().map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(crate::exit::BAD_INPUT)
        } else {
            ExitCode::SUCCESS
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn durations() {
        use std::time::Duration;
        assert_eq!(duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(duration("0").unwrap(), Duration::ZERO);
        assert_eq!(duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert!(duration("fast").is_err());
        assert!(duration("-1s").is_err());
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn convert_requires_output() {
        assert!(Cli::try_parse_from(["optimize", "convert", "m.onnx"]).is_err());
        let cli = Cli::try_parse_from([
            "optimize",
            "convert",
            "m.onnx",
            "-o",
            "x.onnx",
            "--external-data",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Convert(ConvertArgs {
                external_data: true,
                opset: None,
                ..
            })
        ));
    }

    #[test]
    fn convert_takes_an_opset() {
        let cli = Cli::try_parse_from([
            "optimize", "convert", "m.onnx", "-o", "x.onnx", "--opset", "13",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Convert(ConvertArgs {
                opset: Some(13),
                ..
            })
        ));
        let bad = [
            "optimize", "convert", "m.onnx", "-o", "x.onnx", "--opset", "thirteen",
        ];
        assert!(Cli::try_parse_from(bad).is_err());
    }
}

const DISTILL_EXAMPLES: &str = "\
Examples:
  optimize distill recipes/digits-mlp.toml -o distill-digits-mlp
      digits MLP teacher -> MLP student a twelfth its size, with 10% of the labels; writes
      student.onnx, student.safetensors, report.md, log.jsonl and curves.png to the folder

  --sweep tries every temperature/alpha/lr of the recipe's [sweep] and keeps the best on
  validation; --resume CHECKPOINT goes on from a run stopped with Ctrl-C.

The recipe schema is in recipes/README.md. Ctrl-C stops after the current batch and writes a
checkpoint to resume from (exit code 130).";

/// `optimize distill`.
#[derive(Debug, Args)]
pub struct DistillArgs {
    /// The recipe (TOML; schema in recipes/README.md).
    pub recipe: PathBuf,
    /// Go on from a checkpoint written by an earlier run of the same recipe.
    #[arg(long, value_name = "CHECKPOINT")]
    pub resume: Option<PathBuf>,
    /// Search the recipe's [sweep] grid (temperature x alpha x lr), keeping the best student on
    /// the validation split.
    #[arg(long)]
    pub sweep: bool,
    /// Print the report as JSON (schema optimize.distill-report/1) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The output folder [default: distill-<recipe name>].
    #[arg(short, long, value_name = "OUTDIR")]
    pub output: Option<PathBuf>,
}

const PIPELINE_EXAMPLES: &str = "\
Examples:
  optimize pipeline recipes/pipeline-digits-cnn.toml -o pipeline-digits-cnn
      prune 0/25/50% x float32/fp16/int8 static/--auto on the digits CNN; each configuration
      measured in ONNX Runtime and judged against the recipe's SLA (latency and accuracy drop);
      writes results.json, report.md, charts and best.onnx to the folder
  optimize pipeline recipes/pipeline-digits-cnn.toml --dry-run
      the expanded configurations, and which steps the cache already holds
  optimize pipeline recipe.toml --jobs 2 --json
      two steps at a time (latency is still measured alone); the report as JSON

Every finished step is kept in OUTDIR/cache/ under a key of its input, settings and data, so a
run stopped by Ctrl-C or a crash goes on where it stopped when run again, and chains that share
a prefix run it once. Exit codes: 0 a configuration meets the SLA (best.onnx written), 1 none
does (the report names the closest and what it misses), 2 a bad recipe (line and key named),
130 interrupted. The recipe schema is in recipes/README.md.";

/// `optimize pipeline`.
#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// The recipe (TOML; schema in recipes/README.md).
    pub recipe: PathBuf,
    /// The output folder [default: pipeline-<recipe name>].
    #[arg(short, long, value_name = "OUTDIR")]
    pub output: Option<PathBuf>,
    /// Steps run at once; latency is always measured with nothing else running.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub jobs: usize,
    /// Print the expanded plan and the steps the cache will skip; run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run steps that failed in an earlier run again (by default their cached error is
    /// reported).
    #[arg(long)]
    pub retry_failed: bool,
    /// Print the report as JSON (schema optimize.pipeline/1) instead of a table.
    #[arg(long)]
    pub json: bool,
}
