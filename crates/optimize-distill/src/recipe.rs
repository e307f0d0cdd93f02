//! Distillation recipes: one TOML file says which teacher, which student, which data, which
//! loss and how to train. The schema, key by key, is in `recipes/README.md`.
//!
//! Every table rejects keys it does not know, and every error names the line and the key
//! (`recipe.toml:12: optimizer.lr: invalid type: string "fast", expected f64`). Paths in a
//! recipe are relative to the recipe's folder. [`Recipe::load`] parses and then validates:
//! split fractions in `[0, 1]` summing to at most 1, a positive temperature, `alpha` in
//! `[0, 1]`, files that exist.
//!
//! ```
//! use optimize_distill::recipe::Recipe;
//!
//! let text = r#"
//! seed = 0
//! epochs = 3
//! [teacher]
//! onnx = "teacher.onnx"
//! [student]
//! layers = [{ type = "linear", out = 32 }, { type = "relu" }, { type = "linear", out = 10 }]
//! [data]
//! path = "digits.csv.gz"
//! scale = 0.0625
//! "#;
//! let recipe = Recipe::parse(text, "recipe.toml".as_ref())?;
//! assert_eq!(recipe.loss.temperature, 4.0);
//! assert!(Recipe::parse("epochs = \"ten\"", "r.toml".as_ref()).unwrap_err().to_string()
//!     .starts_with("r.toml:1: epochs: invalid type"));
//! # Ok::<(), optimize_distill::Error>(())
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::student::LayerSpec;
use crate::{Error, Result};

/// A whole recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// A name for outputs and reports; the recipe's file stem by default.
    #[serde(default)]
    pub name: Option<String>,
    /// Seed of everything random: splits, initial weights, shuffling, dropout, augmentation.
    #[serde(default)]
    pub seed: u64,
    /// Passes over the transfer set.
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Samples per optimizer step.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// The model to learn from (required, except where a command supplies it, as
    /// `optimize prune --recover` does).
    #[serde(default)]
    pub teacher: TeacherSpec,
    /// The model to train (required, except where a command supplies it).
    #[serde(default)]
    pub student: StudentSpec,
    /// Where samples come from and how they are split.
    pub data: DataSpec,
    /// Which inputs the student learns the teacher's outputs on.
    #[serde(default)]
    pub transfer: TransferSpec,
    /// The distillation loss.
    #[serde(default)]
    pub loss: LossSpec,
    /// The optimizer.
    #[serde(default)]
    pub optimizer: OptimizerSpec,
    /// The learning-rate schedule.
    #[serde(default)]
    pub schedule: ScheduleSpec,
    /// Stopping early when the validation metric stops improving.
    #[serde(default)]
    pub early_stopping: Option<EarlyStoppingSpec>,
    /// Checkpoints during training.
    #[serde(default)]
    pub checkpoint: CheckpointSpec,
    /// The grid `--sweep` searches.
    #[serde(default)]
    pub sweep: SweepSpec,
    /// What the report measures.
    #[serde(default)]
    pub report: ReportSpec,
    /// The folder the recipe lives in; relative paths are resolved against it.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The recipe file, for messages.
    #[serde(skip)]
    pub path: PathBuf,
}

fn default_epochs() -> usize {
    20
}
fn default_batch_size() -> usize {
    32
}

/// The teacher: an ONNX model, or a candle model (a layer spec) with safetensors weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeacherSpec {
    /// An ONNX model file.
    #[serde(default)]
    pub onnx: Option<PathBuf>,
    /// Which back end runs the ONNX teacher: `tract` (default) or `onnxruntime`.
    #[serde(default = "default_backend")]
    pub backend: String,
    /// The ONNX output holding the class scores; the first output by default.
    #[serde(default)]
    pub output: Option<String>,
    /// A candle teacher: its layers (the same spec as the student's).
    #[serde(default)]
    pub layers: Option<Vec<LayerSpec>>,
    /// A candle teacher: its weights (safetensors, names as the layers give them).
    #[serde(default)]
    pub weights: Option<PathBuf>,
}

fn default_backend() -> String {
    "tract".into()
}

impl Default for TeacherSpec {
    fn default() -> Self {
        TeacherSpec {
            onnx: None,
            backend: default_backend(),
            output: None,
            layers: None,
            weights: None,
        }
    }
}

/// The student: layers, optionally initialised from safetensors; or an ONNX model to start
/// from (layers and weights read from it, see [`crate::import`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudentSpec {
    /// The layers, in order.
    #[serde(default)]
    pub layers: Vec<LayerSpec>,
    /// An ONNX model (a plain chain of layers) whose layers and weights the student starts
    /// from: a pruned model to fine-tune, for example. Excludes `layers` and `weights`.
    #[serde(default)]
    pub onnx: Option<PathBuf>,
    /// Initial weights (safetensors); seeded random initialisation otherwise.
    #[serde(default)]
    pub weights: Option<PathBuf>,
}

/// Where samples come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// `.npz`, `.safetensors`, `.csv` or `.csv.gz`.
    pub path: PathBuf,
    /// The array of inputs in `.npz`/safetensors (first axis = samples).
    #[serde(default = "default_inputs")]
    pub inputs: String,
    /// The array of integer labels in `.npz`/safetensors.
    #[serde(default = "default_labels")]
    pub labels: String,
    /// CSV: the column holding the label (negative counts from the end).
    #[serde(default = "default_label_column")]
    pub label_column: i64,
    /// CSV: whether the first line is a header.
    #[serde(default)]
    pub header: bool,
    /// Every input value is multiplied by this (digits pixels are 0..16: `scale = 0.0625`).
    #[serde(default = "one")]
    pub scale: f32,
    /// The shape of one sample as the models take it (`[1, 8, 8]` for a CNN on digits);
    /// the data's own per-sample shape by default.
    #[serde(default)]
    pub shape: Option<Vec<usize>>,
    /// Fractions of the samples for training, validation and test.
    #[serde(default)]
    pub split: SplitSpec,
    /// A separate test file (same arrays or columns); then `split.test` must be 0.
    #[serde(default)]
    pub test: Option<PathBuf>,
    /// Seed of the split; the recipe's seed by default.
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_inputs() -> String {
    "input".into()
}
fn default_labels() -> String {
    "label".into()
}
fn default_label_column() -> i64 {
    -1
}
fn one() -> f32 {
    1.0
}

/// Split fractions; each in `[0, 1]`, summing to at most 1 (what is left over is unused).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    /// Training fraction (the transfer set and the labelled part come from it).
    pub train: f64,
    /// Validation fraction (early stopping, sweeps).
    #[serde(alias = "validation")]
    pub val: f64,
    /// Test fraction (the report's accuracies).
    #[serde(default)]
    pub test: f64,
}

impl Default for SplitSpec {
    fn default() -> Self {
        SplitSpec {
            train: 0.7,
            val: 0.1,
            test: 0.2,
        }
    }
}

/// The transfer set: the inputs on which the student learns the teacher's outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferSpec {
    /// Fraction of the training split whose labels are used (stratified by class, seeded).
    /// The rest of the training inputs join the transfer set without labels.
    #[serde(default = "one_f64")]
    pub labelled_fraction: f64,
    /// Whether the training inputs without labels are part of the transfer set (they are by
    /// default; `false` distills on the labelled part alone).
    #[serde(default = "yes")]
    pub use_unlabelled: bool,
    /// Extra files of unlabelled inputs from the same domain (the `data.inputs` array, or
    /// every CSV column); the teacher provides their targets.
    #[serde(default)]
    pub unlabelled: Vec<PathBuf>,
    /// Augmentations applied to transfer inputs each epoch (the teacher sees the same
    /// augmented input as the student).
    #[serde(default)]
    pub augment: AugmentSpec,
}

impl Default for TransferSpec {
    fn default() -> Self {
        TransferSpec {
            labelled_fraction: 1.0,
            use_unlabelled: true,
            unlabelled: Vec::new(),
            augment: AugmentSpec::default(),
        }
    }
}

fn one_f64() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}

/// Augmentations; all off by default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentSpec {
    /// Shift images by up to this many pixels in each direction (zero fill).
    #[serde(default)]
    pub shift: usize,
    /// Add Gaussian noise with this standard deviation.
    #[serde(default)]
    pub noise: f32,
    /// The image shape `[height, width]` for `shift` when samples are flat vectors (digits
    /// MLP: `[8, 8]`); the last two axes of the sample shape otherwise.
    #[serde(default)]
    pub image: Option<[usize; 2]>,
}

impl AugmentSpec {
    /// Whether any augmentation is on.
    pub fn is_active(&self) -> bool {
        self.shift > 0 || self.noise > 0.0
    }
}

/// The loss: `(1 - alpha) * T² * KL(teacher_T || student_T) + alpha * CE(labels, student)
/// + hint.weight * MSE(projection(student hint), teacher hint)`; see [`crate::loss`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossSpec {
    /// Temperature `T` that softens both distributions.
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// Weight of the hard-label cross-entropy; the soft term gets `1 - alpha`.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Optional hint loss between intermediate outputs.
    #[serde(default)]
    pub hint: Option<HintSpec>,
}

impl Default for LossSpec {
    fn default() -> Self {
        LossSpec {
            temperature: default_temperature(),
            alpha: default_alpha(),
            hint: None,
        }
    }
}

fn default_temperature() -> f64 {
    4.0
}
fn default_alpha() -> f64 {
    0.5
}

/// A hint: MSE between a student layer's output and a teacher tensor, through a learned
/// linear projection when their widths differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HintSpec {
    /// The student layer (its `name`).
    pub student: String,
    /// The teacher tensor: an ONNX value name, or a candle teacher's layer name.
    pub teacher: String,
    /// Weight of the hint term.
    #[serde(default = "one_f64")]
    pub weight: f64,
}

/// The optimizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerSpec {
    /// `adamw` or `sgd` (with momentum).
    #[serde(default = "default_optimizer")]
    pub kind: OptimizerKind,
    /// Peak learning rate.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Decoupled weight decay (AdamW) or L2 penalty added to the gradient (SGD).
    #[serde(default)]
    pub weight_decay: f64,
    /// SGD momentum.
    #[serde(default = "default_momentum")]
    pub momentum: f64,
    /// AdamW `[beta1, beta2]`.
    #[serde(default = "default_betas")]
    pub betas: [f64; 2],
}

impl Default for OptimizerSpec {
    fn default() -> Self {
        OptimizerSpec {
            kind: default_optimizer(),
            lr: default_lr(),
            weight_decay: 0.0,
            momentum: default_momentum(),
            betas: default_betas(),
        }
    }
}

fn default_optimizer() -> OptimizerKind {
    OptimizerKind::Adamw
}
fn default_lr() -> f64 {
    1e-3
}
fn default_momentum() -> f64 {
    0.9
}
fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}

/// Which optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam with decoupled weight decay.
    Adamw,
    /// Stochastic gradient descent with momentum.
    Sgd,
}

/// The learning-rate schedule, per optimizer step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// `constant`, `cosine` (to `min_lr` at the last step) or `step` (times `gamma` every
    /// `step_epochs`).
    #[serde(default = "default_schedule")]
    pub kind: ScheduleKind,
    /// Linear warm-up from 0 over this many epochs.
    #[serde(default)]
    pub warmup_epochs: usize,
    /// `step`: epochs between decays.
    #[serde(default = "default_step_epochs")]
    pub step_epochs: usize,
    /// `step`: the factor of each decay.
    #[serde(default = "default_gamma")]
    pub gamma: f64,
    /// `cosine`: the final learning rate.
    #[serde(default)]
    pub min_lr: f64,
}

impl Default for ScheduleSpec {
    fn default() -> Self {
        ScheduleSpec {
            kind: default_schedule(),
            warmup_epochs: 0,
            step_epochs: default_step_epochs(),
            gamma: default_gamma(),
            min_lr: 0.0,
        }
    }
}

fn default_schedule() -> ScheduleKind {
    ScheduleKind::Cosine
}
fn default_step_epochs() -> usize {
    10
}
fn default_gamma() -> f64 {
    0.1
}

/// Which schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// The same rate throughout.
    Constant,
    /// Half a cosine from the peak to `min_lr`.
    Cosine,
    /// Multiplied by `gamma` every `step_epochs` epochs.
    Step,
}

/// Early stopping on a validation metric; the best epoch's weights are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStoppingSpec {
    /// `val_accuracy` (higher is better) or `val_loss` (lower is better).
    #[serde(default = "default_metric")]
    pub metric: Metric,
    /// Epochs without improvement before stopping.
    #[serde(default = "default_patience")]
    pub patience: usize,
    /// Smallest change that counts as an improvement.
    #[serde(default)]
    pub min_delta: f64,
}

fn default_metric() -> Metric {
    Metric::ValAccuracy
}
fn default_patience() -> usize {
    10
}

/// A validation metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Top-1 accuracy on the validation split.
    ValAccuracy,
    /// Cross-entropy on the validation split.
    ValLoss,
}

/// Checkpoints.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSpec {
    /// Write `checkpoint.safetensors` every this many epochs (0: only on Ctrl-C).
    #[serde(default)]
    pub every: usize,
}

/// The `--sweep` grid; empty lists keep the recipe's value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Temperatures to try.
    #[serde(default)]
    pub temperature: Vec<f64>,
    /// Alphas to try.
    #[serde(default)]
    pub alpha: Vec<f64>,
    /// Learning rates to try.
    #[serde(default)]
    pub lr: Vec<f64>,
}

/// What the report measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// Train the same student alone (hard labels only, same steps) for comparison.
    #[serde(default = "yes")]
    pub baseline: bool,
    /// Measure latency of the teacher and the students with optimize-bench (tract).
    #[serde(default = "yes")]
    pub latency: bool,
}

impl Default for ReportSpec {
    fn default() -> Self {
        ReportSpec {
            baseline: true,
            latency: true,
        }
    }
}

impl Recipe {
    /// Reads, parses and validates the recipe at `path`. Files it names must exist.
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

    /// Reads the recipe at `path` for fine-tuning `student` (an ONNX model, see
    /// [`crate::import`]) with `teacher` (an ONNX model): the recipe gives data, loss, optimizer
    /// and schedule, and must leave `[teacher]` and `[student]` out.
    pub fn load_with_models(
        path: impl AsRef<Path>,
        teacher: &Path,
        student: &Path,
    ) -> Result<Recipe> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadRecipe {
            path: path.to_path_buf(),
            source,
        })?;
        let mut recipe = Recipe::parse_unchecked(&text, path)?;
        for (key, given) in [
            ("teacher", recipe.teacher != TeacherSpec::default()),
            ("student", recipe.student != StudentSpec::default()),
        ] {
            if given {
                return Err(recipe.invalid(
                    key,
                    format!("leave [{key}] out: the original and the pruned model take its place"),
                ));
            }
        }
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        recipe.teacher = TeacherSpec {
            onnx: Some(absolute(teacher)),
            ..TeacherSpec::default()
        };
        recipe.student = StudentSpec {
            onnx: Some(absolute(student)),
            ..StudentSpec::default()
        };
        recipe.validate()?;
        recipe.check_files()?;
        Ok(recipe)
    }

    /// Parses and validates recipe text; `path` is used for messages and to resolve relative
    /// paths. Does not look at the files the recipe names (see [`Recipe::load`]).
    pub fn parse(text: &str, path: &Path) -> Result<Recipe> {
        let recipe = Recipe::parse_unchecked(text, path)?;
        recipe.validate()?;
        Ok(recipe)
    }

    fn parse_unchecked(text: &str, path: &Path) -> Result<Recipe> {
        let de = toml::Deserializer::parse(text).map_err(|e| toml_error(text, path, "-", &e))?;
        let mut recipe: Recipe = serde_path_to_error::deserialize(de).map_err(|e| {
            // The path of the struct for a missing field (its message names the field).
            let key = match e.path().to_string() {
                p if p == "." => "-".to_string(),
                p => p,
            };
            toml_error(text, path, &key, e.inner())
        })?;
        recipe.path = path.to_path_buf();
        recipe.base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        if recipe.name.is_none() {
            recipe.name = path
                .file_stem()
                .map(|s| s.to_string_lossy().trim_end_matches(".toml").to_string());
        }
        Ok(recipe)
    }

    /// The recipe's name.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("distill")
    }

    /// `p` resolved against the recipe's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The seed of the data split.
    pub fn split_seed(&self) -> u64 {
        self.data.seed.unwrap_or(self.seed)
    }

    fn invalid(&self, key: &str, message: impl Into<String>) -> Error {
        Error::InvalidRecipe {
            path: self.path.clone(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(self.invalid("epochs", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(self.invalid("batch_size", "must be at least 1"));
        }
        let t = &self.teacher;
        match (&t.onnx, &t.layers, &t.weights) {
            (Some(_), None, None) => {}
            (None, Some(_), Some(_)) => {}
            (Some(_), _, _) => {
                return Err(self.invalid(
                    "teacher",
                    "give either `onnx` or `layers` with `weights`, not both",
                ))
            }
            _ => {
                return Err(self.invalid(
                    "teacher",
                    "give `onnx = \"model.onnx\"`, or `layers` and `weights` for a candle teacher",
                ))
            }
        }
        if !matches!(t.backend.as_str(), "tract" | "onnxruntime" | "ort") {
            return Err(self.invalid(
                "teacher.backend",
                format!(
                    "`{}` is not a back end; use tract or onnxruntime",
                    t.backend
                ),
            ));
        }
        match (&self.student.onnx, self.student.layers.is_empty()) {
            (Some(_), false) => {
                return Err(self.invalid(
                    "student",
                    "give either `onnx` or `layers`, not both (the ONNX model brings its layers)",
                ))
            }
            (Some(_), true) if self.student.weights.is_some() => {
                return Err(self.invalid(
                    "student.weights",
                    "an ONNX student brings its own weights; drop `weights`",
                ))
            }
            (None, true) => {
                return Err(self.invalid(
                    "student",
                    "give `layers = [...]` (at least one layer), or `onnx = \"model.onnx\"` to start from a model",
                ))
            }
            _ => {}
        }
        let s = &self.data.split;
        for (key, v) in [("train", s.train), ("val", s.val), ("test", s.test)] {
            if !(0.0..=1.0).contains(&v) || !v.is_finite() {
                return Err(self.invalid(
                    &format!("data.split.{key}"),
                    format!("{v} is not a fraction in [0, 1]"),
                ));
            }
        }
        if s.train + s.val + s.test > 1.0 + 1e-9 {
            return Err(self.invalid(
                "data.split",
                format!(
                    "fractions sum to {} (train {} + val {} + test {}); they must sum to at most 1",
                    s.train + s.val + s.test,
                    s.train,
                    s.val,
                    s.test
                ),
            ));
        }
        if s.train == 0.0 {
            return Err(self.invalid("data.split.train", "the training fraction must be above 0"));
        }
        if self.data.test.is_some() && s.test > 0.0 {
            return Err(self.invalid(
                "data.split.test",
                "a separate `data.test` file is given; set split.test = 0",
            ));
        }
        if self.data.test.is_none() && s.test == 0.0 {
            return Err(self.invalid(
                "data.split.test",
                "no test samples: set split.test above 0 or give a `data.test` file",
            ));
        }
        if !(self.data.scale.is_finite()) {
            return Err(self.invalid("data.scale", "must be a finite number"));
        }
        let tr = &self.transfer;
        if !(tr.labelled_fraction > 0.0 && tr.labelled_fraction <= 1.0) {
            return Err(self.invalid(
                "transfer.labelled_fraction",
                format!("{} is not a fraction in (0, 1]", tr.labelled_fraction),
            ));
        }
        if !(tr.augment.noise >= 0.0 && tr.augment.noise.is_finite()) {
            return Err(self.invalid("transfer.augment.noise", "must be 0 or more"));
        }
        check_temperature(self, "loss.temperature", self.loss.temperature)?;
        check_alpha(self, "loss.alpha", self.loss.alpha)?;
        if let Some(h) = &self.loss.hint {
            if !(h.weight >= 0.0 && h.weight.is_finite()) {
                return Err(self.invalid("loss.hint.weight", "must be 0 or more"));
            }
        }
        check_lr(self, "optimizer.lr", self.optimizer.lr)?;
        let o = &self.optimizer;
        if !(o.weight_decay >= 0.0 && o.weight_decay.is_finite()) {
            return Err(self.invalid("optimizer.weight_decay", "must be 0 or more"));
        }
        if !(0.0..1.0).contains(&o.momentum) {
            return Err(self.invalid("optimizer.momentum", "must be in [0, 1)"));
        }
        if o.betas.iter().any(|b| !(0.0..1.0).contains(b)) {
            return Err(self.invalid("optimizer.betas", "each must be in [0, 1)"));
        }
        let sc = &self.schedule;
        if sc.kind == ScheduleKind::Step && sc.step_epochs == 0 {
            return Err(self.invalid("schedule.step_epochs", "must be at least 1"));
        }
        if !(sc.gamma > 0.0 && sc.gamma.is_finite()) {
            return Err(self.invalid("schedule.gamma", "must be above 0"));
        }
        if sc.warmup_epochs > 0 && sc.warmup_epochs >= self.epochs {
            return Err(self.invalid(
                "schedule.warmup_epochs",
                format!(
                    "{} warm-up epochs leave none of the {} to train",
                    sc.warmup_epochs, self.epochs
                ),
            ));
        }
        for t in &self.sweep.temperature {
            check_temperature(self, "sweep.temperature", *t)?;
        }
        for a in &self.sweep.alpha {
            check_alpha(self, "sweep.alpha", *a)?;
        }
        for lr in &self.sweep.lr {
            check_lr(self, "sweep.lr", *lr)?;
        }
        Ok(())
    }

    /// Checks that every file the recipe names can be opened.
    pub fn check_files(&self) -> Result<()> {
        let mut files: Vec<(String, &PathBuf)> = Vec::new();
        if let Some(p) = &self.teacher.onnx {
            files.push(("teacher.onnx".into(), p));
        }
        if let Some(p) = &self.teacher.weights {
            files.push(("teacher.weights".into(), p));
        }
        if let Some(p) = &self.student.weights {
            files.push(("student.weights".into(), p));
        }
        if let Some(p) = &self.student.onnx {
            files.push(("student.onnx".into(), p));
        }
        files.push(("data.path".into(), &self.data.path));
        if let Some(p) = &self.data.test {
            files.push(("data.test".into(), p));
        }
        for p in &self.transfer.unlabelled {
            files.push(("transfer.unlabelled".into(), p));
        }
        for (key, p) in files {
            let path = self.resolve(p);
            if let Err(source) = std::fs::File::open(&path) {
                return Err(Error::MissingFile { key, path, source });
            }
        }
        Ok(())
    }

    /// The grid of `(temperature, alpha, lr)` a sweep tries, in a fixed order; the recipe's
    /// own values stand in for empty lists.
    pub fn sweep_grid(&self) -> Vec<(f64, f64, f64)> {
        let or = |v: &Vec<f64>, d: f64| if v.is_empty() { vec![d] } else { v.clone() };
        let ts = or(&self.sweep.temperature, self.loss.temperature);
        let alphas = or(&self.sweep.alpha, self.loss.alpha);
        let lrs = or(&self.sweep.lr, self.optimizer.lr);
        let mut grid = Vec::new();
        for &t in &ts {
            for &a in &alphas {
                for &lr in &lrs {
                    grid.push((t, a, lr));
                }
            }
        }
        grid
    }
}

fn check_temperature(r: &Recipe, key: &str, t: f64) -> Result<()> {
    if t > 0.0 && t.is_finite() {
        Ok(())
    } else {
        Err(r.invalid(key, format!("{t} must be above 0")))
    }
}

fn check_alpha(r: &Recipe, key: &str, a: f64) -> Result<()> {
    if (0.0..=1.0).contains(&a) {
        Ok(())
    } else {
        Err(r.invalid(key, format!("{a} is not in [0, 1]")))
    }
}

fn check_lr(r: &Recipe, key: &str, lr: f64) -> Result<()> {
    if lr > 0.0 && lr.is_finite() {
        Ok(())
    } else {
        Err(r.invalid(key, format!("{lr} must be above 0")))
    }
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

    const BASE: &str = r#"seed = 1
epochs = 2
[teacher]
onnx = "t.onnx"
[student]
layers = [{ type = "linear", out = 10 }]
[data]
path = "d.npz"
test = "t.npz"
split = { train = 0.9, val = 0.1 }
[optimizer]
lr = 0.01
"#;

    fn err(text: &str) -> String {
        Recipe::parse(text, Path::new("r.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn base_parses_with_defaults() {
        let r = Recipe::parse(BASE, Path::new("dir/r.toml")).unwrap();
        assert_eq!(r.name(), "r");
        assert_eq!(r.batch_size, 32);
        assert_eq!(r.optimizer.kind, OptimizerKind::Adamw);
        assert_eq!(r.resolve(Path::new("d.npz")), Path::new("dir/d.npz"));
        assert_eq!(r.sweep_grid(), vec![(4.0, 0.5, 0.01)]);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let text = BASE.replace("lr = 0.01", "lr = 0.01\nlearning_rate = 3");
        let e = err(&text);
        assert!(
            e.starts_with("r.toml:13: optimizer.learning_rate: unknown field"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let text = BASE.replace("lr = 0.01", "lr = \"fast\"");
        let e = err(&text);
        assert!(
            e.starts_with("r.toml:12: optimizer.lr: invalid type: string"),
            "{e}"
        );
        let e = err(&BASE.replace("epochs = 2", "epochs = -2"));
        assert!(e.starts_with("r.toml:2: epochs: "), "{e}");
    }

    #[test]
    fn unknown_key_in_a_layer() {
        let text = BASE.replace("out = 10", "out = 10, outs = 3");
        let e = err(&text);
        assert!(e.starts_with("r.toml:6: "), "{e}");
        assert!(e.contains("outs"), "{e}");
    }

    #[test]
    fn bad_split_fractions() {
        let e = err(&BASE.replace("train = 0.9, val = 0.1", "train = 0.9, val = 0.2"));
        assert!(e.contains("data.split: fractions sum to"), "{e}");
        let e = err(&BASE.replace("train = 0.9", "train = -0.1"));
        assert!(
            e.contains("data.split.train: -0.1 is not a fraction"),
            "{e}"
        );
        let e = err(&BASE.replace("test = \"t.npz\"\n", ""));
        assert!(e.contains("no test samples"), "{e}");
    }

    #[test]
    fn missing_table_is_named() {
        let e = err("seed = 1\n[teacher]\nonnx = \"t.onnx\"\n");
        assert!(e.contains("missing field `data`"), "{e}");
        // [teacher] and [student] may be left out only where a command supplies them.
        let e = err(&BASE.replace(
            "[student]\nlayers = [{ type = \"linear\", out = 10 }]\n",
            "",
        ));
        assert!(e.contains("r.toml: student: give `layers = [...]`"), "{e}");
        let e = err(&BASE.replace("[teacher]\nonnx = \"t.onnx\"\n", ""));
        assert!(e.contains("r.toml: teacher: give `onnx = "), "{e}");
    }

    #[test]
    fn missing_file_is_named() {
        let dir = std::env::temp_dir().join("optimize-distill-recipe-missing");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.toml");
        std::fs::write(&path, BASE).unwrap();
        let e = Recipe::load(&path).unwrap_err();
        assert!(
            matches!(e, Error::MissingFile { ref key, .. } if key == "teacher.onnx"),
            "{e}"
        );
        assert!(e.is_input_error());
    }
}
