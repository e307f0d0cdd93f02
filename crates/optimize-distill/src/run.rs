//! Running a recipe end to end: data, teacher, the training runs, checkpoints, resume.
//!
//! [`Session::prepare`] reads the data and the teacher and checks that they fit the student;
//! [`Session::train`] trains, in order: the sweep trials (with `sweep`), the distilled student
//! (the best trial when sweeping), and the same student trained alone on the labelled part
//! with hard labels and the same number of optimizer steps (when `report.baseline` is on).
//!
//! Each run keeps the weights of its best epoch on the validation split (accuracy, or the
//! early-stopping metric). Everything random is drawn from the recipe's seed, the run and the
//! epoch and batch numbers, so a run interrupted and resumed from a checkpoint ends with the
//! same bytes as one that was not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use optimize_data::SplitMix64;
use optimize_runtime::Backend;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{add_prefixed, read_metadata, read_tensors, with_prefix, write_tensors};
use crate::data::{self, augment, labelled_subset, Dataset, Splits};
use crate::loss::{distillation_loss, LossWeights};
use crate::optim::{learning_rate, Optimizer};
use crate::recipe::{Metric, OptimizerSpec, Recipe};
use crate::student::Student;
use crate::teacher::{candle_teacher, OnnxTeacher, Teacher};
use crate::trainer::{Batch, DistillConfig, Distiller, HintConfig};
use crate::{Error, Result};

/// The samples of one recipe, split.
#[derive(Debug, Clone)]
pub struct Splitted {
    /// The transfer set: training inputs (labels `-1` outside the labelled part) and extra
    /// unlabelled inputs.
    pub transfer: Dataset,
    /// Positions in `transfer` of the labelled samples.
    pub labelled: Vec<usize>,
    /// Validation samples (labelled).
    pub val: Dataset,
    /// Test samples (labelled).
    pub test: Dataset,
}

/// Reads and splits the recipe's data.
pub fn load_data(recipe: &Recipe) -> Result<Splitted> {
    let spec = &recipe.data;
    let main = data::load(&recipe.resolve(&spec.path), spec, true)?;
    let s = &spec.split;
    let splits = Splits::by_fraction(main.len(), s.train, s.val, s.test, recipe.split_seed());
    let mut train = main.select(&splits.train);
    let val = main.select(&splits.val);
    let test = match &spec.test {
        Some(p) => data::load(&recipe.resolve(p), spec, true)?,
        None => main.select(&splits.test),
    };
    if train.is_empty() || val.is_empty() || test.is_empty() {
        return Err(Error::InvalidRecipe {
            path: recipe.path.clone(),
            key: "data.split".into(),
            message: format!(
                "{} samples split into {} train, {} val, {} test; every part needs at least one",
                main.len(),
                train.len(),
                val.len(),
                test.len()
            ),
        });
    }
    if test.sample_shape != train.sample_shape {
        return Err(Error::Shape(format!(
            "test samples are {:?}, training samples {:?}",
            test.sample_shape, train.sample_shape
        )));
    }
    let labelled = labelled_subset(
        &train.y,
        recipe.transfer.labelled_fraction,
        recipe.split_seed(),
    );
    let mut keep = vec![false; train.len()];
    for &i in &labelled {
        keep[i] = true;
    }
    for (i, y) in train.y.iter_mut().enumerate() {
        if !keep[i] {
            *y = -1;
        }
    }
    let mut transfer = if recipe.transfer.use_unlabelled {
        train
    } else {
        train.select(&labelled)
    };
    let labelled: Vec<usize> = (0..transfer.len())
        .filter(|&i| transfer.y[i] >= 0)
        .collect();
    for p in &recipe.transfer.unlabelled {
        let mut extra = data::load(&recipe.resolve(p), spec, false)?;
        // The same values per sample in another layout ([1, 8, 8] beside [64]) are the same
        // samples; anything else is an error naming both shapes.
        if extra.sample_size() == transfer.sample_size() {
            extra.sample_shape = transfer.sample_shape.clone();
        }
        transfer.extend(&extra)?;
    }
    Ok(Splitted {
        transfer,
        labelled,
        val,
        test,
    })
}

/// A tensor `[n, ...shape]` of the samples of `d` at `idx`.
pub fn inputs(d: &Dataset, idx: &[usize]) -> Result<Tensor> {
    let sel = d.select(idx);
    let mut shape = vec![idx.len()];
    shape.extend(&d.sample_shape);
    Ok(Tensor::from_vec(sel.x, shape, &Device::Cpu)?)
}

/// A tensor of every sample of `d`.
pub fn all_inputs(d: &Dataset) -> Result<Tensor> {
    let mut shape = vec![d.len()];
    shape.extend(&d.sample_shape);
    Ok(Tensor::from_vec(d.x.clone(), shape, &Device::Cpu)?)
}

/// Top-1 accuracy of `logits` `[n, classes]` against `labels`.
pub fn accuracy(logits: &Tensor, labels: &[i64]) -> Result<f64> {
    let pred = logits.argmax(1)?.to_vec1::<u32>()?;
    let right = pred
        .iter()
        .zip(labels)
        .filter(|(p, y)| **p as i64 == **y)
        .count();
    Ok(right as f64 / labels.len().max(1) as f64)
}

/// One epoch of one run, as the training log writes it (one JSON line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The run: `distilled`, `alone`, or `sweep-<i>`.
    pub run: String,
    /// 1-based epoch.
    pub epoch: usize,
    /// Learning rate at the epoch's last step.
    pub lr: f64,
    /// Mean training loss (the weighted total).
    pub train_loss: f64,
    /// Mean soft term `T²·KL` (0 for the student alone).
    pub soft_loss: f64,
    /// Mean hard term, cross-entropy on labelled samples.
    pub hard_loss: f64,
    /// Mean hint term.
    pub hint_loss: f64,
    /// Share of training samples whose prediction matches their label (labelled samples) or
    /// the teacher's top class (unlabelled ones).
    pub train_accuracy: f64,
    /// Cross-entropy on the validation split.
    pub val_loss: f64,
    /// Top-1 accuracy on the validation split.
    pub val_accuracy: f64,
    /// Samples trained on.
    pub samples: usize,
    /// Wall time of the epoch's training steps, in seconds (not deterministic).
    pub seconds: f64,
    /// Training throughput (not deterministic).
    pub samples_per_s: f64,
}

/// One training run, finished.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// The run's name.
    pub name: String,
    /// Temperature, alpha and peak learning rate it used.
    pub temperature: f64,
    /// Alpha it used.
    pub alpha: f64,
    /// Peak learning rate it used.
    pub lr: f64,
    /// Every epoch trained.
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights were kept (1-based).
    pub best_epoch: usize,
    /// Validation accuracy of the kept weights.
    pub best_val_accuracy: f64,
    /// Validation loss of the kept weights.
    pub best_val_loss: f64,
    /// Whether early stopping ended it.
    pub stopped_early: bool,
    /// The kept weights.
    #[serde(skip)]
    pub weights: BTreeMap<String, Tensor>,
}

/// Sums over the batches of an epoch so far, each loss weighted by its batch's samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochSums {
    /// Total loss.
    pub loss: f64,
    /// Soft (teacher) loss.
    pub soft: f64,
    /// Hard (label) loss.
    pub hard: f64,
    /// Hint (feature) loss.
    pub hint: f64,
    /// Samples predicted right (against the label, or the teacher's top-1 when unlabelled).
    pub correct: f64,
    /// Samples seen.
    pub samples: f64,
}

impl EpochSums {
    /// Mean of a sum over the samples seen.
    fn mean(&self, sum: f64) -> f64 {
        sum / self.samples.max(1.0)
    }
}

/// The best epoch of a run so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BestEpoch {
    /// 1-based epoch; 0 before the first epoch ends.
    pub epoch: usize,
    /// The early-stopping metric at that epoch (higher is better).
    pub score: f64,
    /// Validation accuracy at that epoch.
    pub val_accuracy: f64,
    /// Validation loss at that epoch.
    pub val_loss: f64,
}

impl BestEpoch {
    /// No epoch yet: any epoch beats it.
    pub const NONE: BestEpoch = BestEpoch {
        epoch: 0,
        score: f64::MIN,
        val_accuracy: 0.0,
        val_loss: f64::MAX,
    };
}

/// Where a run stands between two batches: everything needed to go on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    /// The run's name.
    pub name: String,
    /// 0-based epoch in progress.
    pub epoch: usize,
    /// Next batch of that epoch.
    pub batch: usize,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Sums over the epoch so far.
    pub sums: EpochSums,
    /// Epoch seconds so far.
    pub seconds: f64,
    /// Finished epochs.
    pub history: Vec<EpochRecord>,
    /// Best epoch so far.
    pub best: BestEpoch,
    /// Epochs since the best.
    pub stale: usize,
    /// Student weights now.
    #[serde(skip)]
    pub student: BTreeMap<String, Tensor>,
    /// Optimizer state.
    #[serde(skip)]
    pub optim: BTreeMap<String, Tensor>,
    /// Hint projection weights.
    #[serde(skip)]
    pub projection: BTreeMap<String, Tensor>,
    /// Best weights so far.
    #[serde(skip)]
    pub best_weights: BTreeMap<String, Tensor>,
}

/// Training reports through the one job [`Progress`] trait: each epoch is a phase named
/// `<run> epoch E/N` with its batches as steps, each batch's running loss, accuracy and speed
/// the step message, each finished epoch a note (the same line as in `log.jsonl`, in words);
/// [`Progress::cancelled`] is checked after every batch, and a checkpoint is written first.
pub use optimize_job::{Progress, Quiet};

/// The one-line summary of an epoch that training notes to its [`Progress`].
pub fn epoch_line(e: &EpochRecord, epochs: usize) -> String {
    format!(
        "{} epoch {}/{}: loss {:.4}, train accuracy {:.1}%, val accuracy {:.2}%, {:.0} samples/s",
        e.run,
        e.epoch,
        epochs,
        e.train_loss,
        e.train_accuracy * 100.0,
        e.val_accuracy * 100.0,
        e.samples_per_s
    )
}

/// A prepared recipe: data loaded, teacher loaded and checked against the student.
pub struct Session {
    /// The recipe.
    pub recipe: Recipe,
    /// The data.
    pub data: Splitted,
    teacher: Box<dyn Teacher>,
    /// Teacher logits on the transfer set (when inputs are not augmented).
    transfer_logits: Option<Tensor>,
    transfer_hints: Option<Tensor>,
    /// Teacher logits on the validation and test splits.
    pub teacher_val: Tensor,
    /// Teacher logits on the test split.
    pub teacher_test: Tensor,
    /// Number of classes.
    pub classes: usize,
    hint: Option<HintConfig>,
    hint_student: Option<String>,
    /// The teacher's kind for the report (`onnx (tract)`, `candle`).
    pub teacher_kind: String,
    /// The student's starting weights when they come from an ONNX model (`student.onnx`).
    initial: Option<BTreeMap<String, Tensor>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("recipe", &self.recipe.name())
            .finish()
    }
}

/// The whole outcome of [`Session::train`].
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // made once per job
pub enum Trained {
    /// Every run finished.
    Done {
        /// Sweep trials (empty without a sweep).
        trials: Vec<RunResult>,
        /// The distilled student's run.
        distilled: RunResult,
        /// The student trained alone, if the baseline was asked for.
        alone: Option<RunResult>,
    },
    /// The observer asked to stop; the checkpoint was written here.
    Interrupted {
        /// The checkpoint file.
        checkpoint: PathBuf,
    },
}

/// What is written into a checkpoint's metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointMeta {
    recipe: String,
    fingerprint: String,
    sweep: bool,
    finished: Vec<RunResult>,
    current: RunState,
}

impl Session {
    /// Loads the data and the teacher, runs the teacher on the splits, and checks that teacher,
    /// student and data fit together.
    pub fn prepare(mut recipe: Recipe) -> Result<Session> {
        // An ONNX student brings its layers, weights and (when the data does not say) its
        // input shape.
        let initial = match recipe.student.onnx.clone() {
            Some(p) => {
                let s = crate::import::student_from_onnx(&recipe.resolve(&p))?;
                recipe.student.layers = s.layers;
                if recipe.data.shape.is_none() && s.input_shape.len() > 1 {
                    recipe.data.shape = Some(s.input_shape);
                }
                Some(s.tensors)
            }
            None => None,
        };
        let data = load_data(&recipe)?;
        let shape = data.transfer.sample_shape.clone();
        let shapes = crate::student::infer_shapes(&recipe.student.layers, &shape).map_err(|e| {
            Error::Shape(format!(
                "the student does not fit samples of shape {shape:?} (data.shape): {e}"
            ))
        })?;
        let out = shapes.last().cloned().unwrap_or_default();
        let [classes] = out.as_slice() else {
            return Err(Error::Shape(format!(
                "the student's output per sample is {out:?}; a classifier outputs [classes]"
            )));
        };
        let classes = *classes;
        let hint_spec = recipe.loss.hint.clone();
        let (teacher, teacher_kind): (Box<dyn Teacher>, String) = match (
            &recipe.teacher.onnx,
            &recipe.teacher.layers,
            &recipe.teacher.weights,
        ) {
            (Some(p), _, _) => {
                let backend = match recipe.teacher.backend.as_str() {
                    "onnxruntime" | "ort" => Backend::Ort,
                    _ => Backend::Tract,
                };
                let t = OnnxTeacher::load(
                    &recipe.resolve(p),
                    backend,
                    recipe.teacher.output.as_deref(),
                    hint_spec.as_ref().map(|h| h.teacher.as_str()),
                )?;
                (Box::new(t), format!("onnx ({backend})"))
            }
            (None, Some(layers), Some(w)) => (
                Box::new(candle_teacher(layers, &shape, &recipe.resolve(w))?),
                "candle".into(),
            ),
            _ => {
                return Err(Error::InvalidRecipe {
                    path: recipe.path.clone(),
                    key: "teacher".into(),
                    message: "give `onnx`, or `layers` and `weights`".into(),
                })
            }
        };
        let hint_name = hint_spec.as_ref().map(|h| h.teacher.as_str());
        let run_teacher = |d: &Dataset, what: &str| -> Result<(Tensor, Option<Tensor>)> {
            teacher.forward_teacher(&all_inputs(d)?, hint_name).map_err(|e| match e {
                Error::Runtime(r) => Error::Shape(format!(
                    "the teacher cannot run on the {what} samples of shape {:?} (set data.shape to the shape the teacher takes): {r}",
                    d.sample_shape
                )),
                other => other,
            })
        };
        let (teacher_val, val_hint) = run_teacher(&data.val, "validation")?;
        if teacher_val.dims() != [data.val.len(), classes] {
            return Err(Error::Mismatch(format!(
                "the teacher outputs {:?} per sample, the student {:?}",
                &teacher_val.dims()[1..],
                [classes]
            )));
        }
        let (teacher_test, _) = run_teacher(&data.test, "test")?;
        for (what, d) in [
            ("training", &data.transfer),
            ("validation", &data.val),
            ("test", &data.test),
        ] {
            if let Some(y) = d.y.iter().find(|y| **y >= classes as i64) {
                return Err(Error::Shape(format!(
                    "a {what} label is {y}, but the models have {classes} classes"
                )));
            }
        }
        let (hint, hint_student) = match (&hint_spec, val_hint) {
            (Some(h), Some(th)) => {
                let Some(s_shape) = shapes
                    .iter()
                    .zip(recipe.student.layers.iter().enumerate())
                    .find(|(_, (i, l))| l.name_at(*i) == h.student)
                    .map(|(s, _)| s.clone())
                else {
                    return Err(Error::Mismatch(format!(
                        "the student has no layer `{}` for the hint (layers: {})",
                        h.student,
                        recipe
                            .student
                            .layers
                            .iter()
                            .enumerate()
                            .map(|(i, l)| l.name_at(i))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                };
                let tw: usize = th.dims()[1..].iter().product();
                (
                    Some(HintConfig {
                        teacher: h.teacher.clone(),
                        student_width: s_shape.iter().product(),
                        teacher_width: tw,
                    }),
                    Some(h.student.clone()),
                )
            }
            _ => (None, None),
        };
        let (transfer_logits, transfer_hints) = if recipe.transfer.augment.is_active() {
            (None, None)
        } else {
            let (l, h) = run_teacher(&data.transfer, "training")?;
            (Some(l), h)
        };
        Ok(Session {
            recipe,
            data,
            teacher,
            transfer_logits,
            transfer_hints,
            teacher_val,
            teacher_test,
            classes,
            hint,
            hint_student,
            teacher_kind,
            initial,
        })
    }

    /// The teacher's accuracy on the test split.
    pub fn teacher_test_accuracy(&self) -> Result<f64> {
        accuracy(&self.teacher_test, &self.data.test.y)
    }

    /// The teacher.
    pub fn teacher(&self) -> &dyn Teacher {
        self.teacher.as_ref()
    }

    /// A fingerprint of what determines the training (the recipe without paths), so a
    /// checkpoint is not resumed under another recipe.
    fn fingerprint(&self) -> String {
        let mut r = self.recipe.clone();
        r.name = None;
        serde_json::to_string(&r).unwrap_or_default()
    }

    /// The runs to do, in order: `(name, temperature, alpha, lr, with teacher)`.
    fn plan(&self, sweep: bool) -> Vec<(String, f64, f64, f64, bool)> {
        let r = &self.recipe;
        let mut runs = Vec::new();
        if sweep {
            for (i, (t, a, lr)) in r.sweep_grid().into_iter().enumerate() {
                runs.push((format!("sweep-{i}"), t, a, lr, true));
            }
        } else {
            runs.push((
                "distilled".into(),
                r.loss.temperature,
                r.loss.alpha,
                r.optimizer.lr,
                true,
            ));
        }
        if r.report.baseline {
            runs.push((
                "alone".into(),
                r.loss.temperature,
                1.0,
                r.optimizer.lr,
                false,
            ));
        }
        runs
    }

    /// Trains every run (see the module doc). `checkpoint` is where checkpoints go; `resume`
    /// a checkpoint to go on from.
    pub fn train(
        &self,
        sweep: bool,
        checkpoint: &Path,
        resume: Option<&Path>,
        observer: &mut dyn Progress,
    ) -> Result<Trained> {
        let mut finished: Vec<RunResult> = Vec::new();
        let mut resume_state: Option<RunState> = None;
        if let Some(path) = resume {
            let (meta, state) = self.read_checkpoint(path, sweep)?;
            finished = meta.0;
            resume_state = Some(state);
        }
        let plan = self.plan(sweep);
        let mut last_checkpoint: Option<PathBuf> = resume.map(Path::to_path_buf);
        for (name, t, a, lr, with_teacher) in plan {
            if finished.iter().any(|f| f.name == name) {
                continue;
            }
            let state = resume_state.take().filter(|s| s.name == name);
            let run = RunSpec {
                name: name.clone(),
                sweep,
                weights: LossWeights {
                    temperature: t,
                    alpha: a,
                    hint: self.recipe.loss.hint.as_ref().map_or(0.0, |h| h.weight),
                },
                lr,
                with_teacher,
            };
            match self.train_run(
                &run,
                state,
                observer,
                &finished,
                checkpoint,
                &mut last_checkpoint,
            )? {
                RunEnd::Finished(r) => finished.push(r),
                RunEnd::Interrupted => {
                    return Ok(Trained::Interrupted {
                        checkpoint: checkpoint.to_path_buf(),
                    })
                }
            }
        }
        let alone = finished
            .iter()
            .position(|r| r.name == "alone")
            .map(|i| finished.remove(i));
        let (distilled, trials) = if sweep {
            // The best trial by validation accuracy, then loss; the first of equals.
            let best = finished
                .iter()
                .enumerate()
                .max_by(|(i, a), (j, b)| {
                    a.best_val_accuracy
                        .total_cmp(&b.best_val_accuracy)
                        .then(b.best_val_loss.total_cmp(&a.best_val_loss))
                        .then(j.cmp(i))
                })
                .map(|(i, _)| i)
                .unwrap_or(0);
            let mut d = finished[best].clone();
            d.name = "distilled".into();
            (d, finished)
        } else {
            let d = finished
                .pop()
                .ok_or_else(|| Error::Export("no distilled run".into()))?;
            (d, Vec::new())
        };
        Ok(Trained::Done {
            trials,
            distilled,
            alone,
        })
    }

    /// Reads a checkpoint written by [`Session::train`] for this recipe.
    fn read_checkpoint(&self, path: &Path, sweep: bool) -> Result<((Vec<RunResult>,), RunState)> {
        let bad = |m: String| Error::Checkpoint {
            path: path.to_path_buf(),
            message: m,
        };
        let meta = read_metadata(path)?
            .ok_or_else(|| bad("is not an optimize distill checkpoint (no metadata)".into()))?;
        let meta: CheckpointMeta =
            serde_json::from_str(&meta).map_err(|e| bad(format!("unreadable metadata: {e}")))?;
        if meta.fingerprint != self.fingerprint() {
            return Err(bad(format!(
                "was written for a different recipe (or one since changed: `{}`); resume with the recipe it was made from",
                meta.recipe
            )));
        }
        if meta.sweep != sweep {
            return Err(bad(format!(
                "was written {} --sweep; resume {} it",
                if meta.sweep { "with" } else { "without" },
                if meta.sweep { "with" } else { "without" }
            )));
        }
        let tensors = read_tensors(path)?;
        let mut finished = meta.finished;
        for f in &mut finished {
            f.weights = with_prefix(&tensors, &format!("done.{}", f.name));
        }
        let mut state = meta.current;
        state.student = with_prefix(&tensors, "run.student");
        state.optim = with_prefix(&tensors, "run.optim");
        state.projection = with_prefix(&tensors, "run.projection");
        state.best_weights = with_prefix(&tensors, "run.best");
        Ok(((finished,), state))
    }

    fn write_checkpoint(
        &self,
        path: &Path,
        sweep: bool,
        finished: &[RunResult],
        state: &RunState,
    ) -> Result<()> {
        let mut tensors = BTreeMap::new();
        for f in finished {
            add_prefixed(&mut tensors, &format!("done.{}", f.name), &f.weights);
        }
        add_prefixed(&mut tensors, "run.student", &state.student);
        add_prefixed(&mut tensors, "run.optim", &state.optim);
        add_prefixed(&mut tensors, "run.projection", &state.projection);
        add_prefixed(&mut tensors, "run.best", &state.best_weights);
        let meta = CheckpointMeta {
            recipe: self.recipe.path.display().to_string(),
            fingerprint: self.fingerprint(),
            sweep,
            finished: finished.to_vec(),
            current: state.clone(),
        };
        let meta = serde_json::to_string(&meta).map_err(|e| Error::Export(e.to_string()))?;
        write_tensors(path, &tensors, Some(&meta))
    }

    /// The batches of epoch `epoch` of a run: the distilled run shuffles the transfer set
    /// once; the student alone draws from the labelled part, reshuffled as often as needed
    /// for the same number of steps.
    fn epoch_batches(&self, run: &RunSpec, epoch: usize) -> Vec<Vec<usize>> {
        let n = self.data.transfer.len();
        let bs = self.recipe.batch_size;
        let steps = n.div_ceil(bs);
        let pool: Vec<usize> = if run.with_teacher {
            (0..n).collect()
        } else {
            self.data.labelled.clone()
        };
        let mut rng = SplitMix64::new(mix(&[self.recipe.seed, run_id(&run.name), epoch as u64, 1]));
        let mut order = Vec::with_capacity(steps * bs);
        if run.with_teacher {
            order.extend(
                data::permutation(pool.len(), &mut rng)
                    .into_iter()
                    .map(|i| pool[i]),
            );
        } else {
            while order.len() < n && !pool.is_empty() {
                order.extend(
                    data::permutation(pool.len(), &mut rng)
                        .into_iter()
                        .map(|i| pool[i]),
                );
            }
            order.truncate(n);
        }
        let has_bn = self
            .recipe
            .student
            .layers
            .iter()
            .any(|l| matches!(l, crate::student::LayerSpec::BatchNorm { .. }));
        order
            .chunks(bs)
            .filter(|c| !(has_bn && c.len() < 2))
            .map(|c| c.to_vec())
            .collect()
    }

    fn evaluate(&self, student: &Student, d: &Dataset) -> Result<(f64, f64)> {
        let mut logits = Vec::new();
        let all: Vec<usize> = (0..d.len()).collect();
        for chunk in all.chunks(512) {
            let x = inputs(d, chunk)?;
            logits.push(student.forward_capture(&x, false, None)?.0);
        }
        let logits = Tensor::cat(&logits, 0)?;
        let labels: Vec<u32> = d.y.iter().map(|&y| y.max(0) as u32).collect();
        let y = Tensor::from_vec(labels, d.len(), &Device::Cpu)?;
        let loss = crate::loss::cross_entropy(&logits, &y, None)?.to_scalar::<f32>()? as f64;
        Ok((accuracy(&logits, &d.y)?, loss))
    }

    #[allow(clippy::too_many_arguments)]
    fn train_run(
        &self,
        run: &RunSpec,
        resume: Option<RunState>,
        observer: &mut dyn Progress,
        finished: &[RunResult],
        checkpoint: &Path,
        last_checkpoint: &mut Option<PathBuf>,
    ) -> Result<RunEnd> {
        let r = &self.recipe;
        let rid = run_id(&run.name);
        let shape = self.data.transfer.sample_shape.clone();
        let student = Student::new(&r.student.layers, &shape, mix(&[r.seed, 7]), &Device::Cpu)?;
        if let Some(t) = &self.initial {
            student.set_tensors(t, Path::new("<student.onnx>"))?;
        } else if let Some(w) = &r.student.weights {
            student.load_weights(&r.resolve(w))?;
        }
        let distiller = Distiller::new(
            self.teacher.as_ref(),
            DistillConfig {
                weights: run.weights,
                hint: if run.with_teacher {
                    self.hint.clone()
                } else {
                    None
                },
                seed: mix(&[r.seed, 11]),
            },
        )?;
        let mut vars = student.trainable_vars()?;
        vars.extend(distiller.vars());
        let spec = OptimizerSpec {
            lr: run.lr,
            ..r.optimizer.clone()
        };
        let mut opt = Optimizer::new(vars, &spec)?;
        let per_epoch = self.epoch_batches(run, 0).len().max(1);
        let total = per_epoch * r.epochs;
        let mut st = match resume {
            Some(s) => {
                student.set_tensors(&s.student, checkpoint)?;
                let proj: BTreeMap<String, Tensor> = s.projection.clone();
                for (name, var) in distiller.vars() {
                    if let Some(t) = proj.get(&name) {
                        var.set(t)?;
                    }
                }
                opt.load_state(&s.optim, s.steps)
                    .map_err(|k| Error::Checkpoint {
                        path: checkpoint.to_path_buf(),
                        message: format!("has no optimizer tensor `{k}`"),
                    })?;
                s
            }
            None => RunState {
                name: run.name.clone(),
                epoch: 0,
                batch: 0,
                steps: 0,
                sums: EpochSums::default(),
                seconds: 0.0,
                history: Vec::new(),
                best: BestEpoch::NONE,
                stale: 0,
                student: BTreeMap::new(),
                optim: BTreeMap::new(),
                projection: BTreeMap::new(),
                best_weights: BTreeMap::new(),
            },
        };
        let capture = if run.with_teacher {
            self.hint_student.as_deref()
        } else {
            None
        };
        let metric = r
            .early_stopping
            .as_ref()
            .map_or(Metric::ValAccuracy, |e| e.metric);
        let snapshot = |st: &mut RunState, opt: &Optimizer| -> Result<()> {
            st.student = student.tensors()?;
            let (o, steps) = opt.state();
            st.optim = o;
            st.steps = steps;
            st.projection = distiller
                .vars()
                .into_iter()
                .map(|(k, v)| (k, v.as_tensor().clone()))
                .collect();
            Ok(())
        };
        while st.epoch < r.epochs {
            let epoch = st.epoch;
            let batches = self.epoch_batches(run, epoch);
            observer.phase(
                &format!("{} epoch {}/{}", run.name, epoch + 1, r.epochs),
                Some(batches.len() as u64),
            );
            let mut lr = 0.0;
            while st.batch < batches.len() {
                let b = st.batch;
                let idx = &batches[b];
                let started = Instant::now();
                lr = learning_rate(&r.schedule, run.lr, st.steps, per_epoch, total);
                let mut x = self.data.transfer.select(idx);
                let augmented = r.transfer.augment.is_active();
                if augmented {
                    let mut rng = SplitMix64::new(mix(&[r.seed, rid, epoch as u64, b as u64, 2]));
                    augment(&mut x.x, &shape, &r.transfer.augment, &mut rng)?;
                }
                let mut xshape = vec![idx.len()];
                xshape.extend(&shape);
                let xt = Tensor::from_vec(x.x.clone(), xshape, &Device::Cpu)?;
                let labels: Vec<u32> = x.y.iter().map(|&y| y.max(0) as u32).collect();
                let mask: Vec<f32> =
                    x.y.iter()
                        .map(|&y| if y >= 0 { 1.0 } else { 0.0 })
                        .collect();
                let yt = Tensor::from_vec(labels.clone(), idx.len(), &Device::Cpu)?;
                let mt = Tensor::from_vec(mask.clone(), idx.len(), &Device::Cpu)?;
                student.reseed(mix(&[r.seed, rid, epoch as u64, b as u64, 3]));
                let (logits, s_hint) = student.forward_capture(&xt, true, capture)?;
                let (loss, teacher_top) = if run.with_teacher {
                    let mut batch = Batch::new(xt.clone())
                        .with_labels(yt.clone())
                        .with_label_mask(mt.clone());
                    if let (false, Some(all)) = (augmented, &self.transfer_logits) {
                        let it = Tensor::from_vec(
                            idx.iter().map(|&i| i as u32).collect::<Vec<_>>(),
                            idx.len(),
                            &Device::Cpu,
                        )?;
                        let h = match &self.transfer_hints {
                            Some(hs) => Some(hs.index_select(&it, 0)?),
                            None => None,
                        };
                        batch = batch.with_teacher(all.index_select(&it, 0)?, h);
                    } else {
                        let (l, h) = distiller.teacher_outputs(&batch)?;
                        batch = batch.with_teacher(l, h);
                    }
                    let top = batch
                        .teacher_logits
                        .as_ref()
                        .map(|t| t.argmax(1).and_then(|a| a.to_vec1::<u32>()))
                        .transpose()?;
                    (
                        distiller.step_with_hint(&logits, s_hint.as_ref(), &batch)?,
                        top,
                    )
                } else {
                    (
                        distillation_loss(
                            &logits,
                            None,
                            Some((&yt, Some(&mt))),
                            None,
                            &run.weights,
                        )?,
                        None,
                    )
                };
                let value = loss.value()?;
                if !value.is_finite() {
                    return Err(Error::NonFiniteLoss {
                        run: run.name.clone(),
                        epoch: epoch + 1,
                        batch: b,
                        value,
                        lr,
                        last_checkpoint: last_checkpoint.clone(),
                    });
                }
                let grads = loss.total.backward()?;
                opt.step(&grads, lr)?;
                st.steps += 1;
                let pred = logits.argmax(1)?.to_vec1::<u32>()?;
                let correct = pred
                    .iter()
                    .enumerate()
                    .filter(|(i, p)| {
                        if mask[*i] > 0.0 {
                            **p == labels[*i]
                        } else {
                            teacher_top.as_ref().is_some_and(|t| t[*i] == **p)
                        }
                    })
                    .count();
                let n = idx.len() as f64;
                let sums = &mut st.sums;
                sums.loss += value as f64 * n;
                sums.soft += loss.soft as f64 * n;
                sums.hard += loss.hard as f64 * n;
                sums.hint += loss.hint as f64 * n;
                sums.correct += correct as f64;
                sums.samples += n;
                st.seconds += started.elapsed().as_secs_f64();
                st.batch += 1;
                observer.advance(
                    st.batch as u64,
                    &format!(
                        "loss {:.4}  accuracy {:.1}%  {:.0} samples/s",
                        st.sums.mean(st.sums.loss),
                        st.sums.mean(st.sums.correct) * 100.0,
                        st.sums.samples / st.seconds.max(1e-9)
                    ),
                );
                if observer.cancelled() {
                    snapshot(&mut st, &opt)?;
                    self.write_checkpoint(checkpoint, run.sweep, finished, &st)?;
                    return Ok(RunEnd::Interrupted);
                }
            }
            let (val_accuracy, val_loss) = self.evaluate(&student, &self.data.val)?;
            let record = EpochRecord {
                run: run.name.clone(),
                epoch: epoch + 1,
                lr,
                train_loss: st.sums.mean(st.sums.loss),
                soft_loss: st.sums.mean(st.sums.soft),
                hard_loss: st.sums.mean(st.sums.hard),
                hint_loss: st.sums.mean(st.sums.hint),
                train_accuracy: st.sums.mean(st.sums.correct),
                val_loss,
                val_accuracy,
                samples: st.sums.samples as usize,
                seconds: st.seconds,
                samples_per_s: st.sums.samples / st.seconds.max(1e-9),
            };
            observer.note(&epoch_line(&record, r.epochs));
            st.history.push(record);
            let score = match metric {
                Metric::ValAccuracy => val_accuracy,
                Metric::ValLoss => -val_loss,
            };
            let min_delta = r.early_stopping.as_ref().map_or(0.0, |e| e.min_delta);
            if st.best.epoch == 0 || score > st.best.score + min_delta {
                st.best = BestEpoch {
                    epoch: epoch + 1,
                    score,
                    val_accuracy,
                    val_loss,
                };
                st.best_weights = student.tensors()?;
                st.stale = 0;
            } else {
                st.stale += 1;
            }
            st.epoch += 1;
            st.batch = 0;
            st.sums = EpochSums::default();
            st.seconds = 0.0;
            let stop_early = r
                .early_stopping
                .as_ref()
                .is_some_and(|e| st.stale >= e.patience);
            if r.checkpoint.every > 0
                && st.epoch % r.checkpoint.every == 0
                && st.epoch < r.epochs
                && !stop_early
            {
                snapshot(&mut st, &opt)?;
                self.write_checkpoint(checkpoint, run.sweep, finished, &st)?;
                *last_checkpoint = Some(checkpoint.to_path_buf());
            }
            if stop_early {
                return Ok(RunEnd::Finished(self.finish(run, st, true)));
            }
        }
        Ok(RunEnd::Finished(self.finish(run, st, false)))
    }

    fn finish(&self, run: &RunSpec, st: RunState, stopped_early: bool) -> RunResult {
        RunResult {
            name: run.name.clone(),
            temperature: run.weights.temperature,
            alpha: run.weights.alpha,
            lr: run.lr,
            history: st.history,
            best_epoch: st.best.epoch,
            best_val_accuracy: st.best.val_accuracy,
            best_val_loss: st.best.val_loss,
            stopped_early,
            weights: st.best_weights,
        }
    }

    /// A student with the given weights, for evaluation and export.
    pub fn student_with(&self, weights: &BTreeMap<String, Tensor>) -> Result<Student> {
        let s = Student::new(
            &self.recipe.student.layers,
            &self.data.transfer.sample_shape,
            0,
            &Device::Cpu,
        )?;
        s.set_tensors(weights, Path::new("<trained weights>"))?;
        Ok(s)
    }

    /// The student as given before training, when the recipe gives its weights (`onnx` or
    /// `weights`): a pruned model before recovery, for example.
    pub fn initial_student(&self) -> Result<Option<Student>> {
        let r = &self.recipe;
        let s = Student::new(
            &r.student.layers,
            &self.data.transfer.sample_shape,
            0,
            &Device::Cpu,
        )?;
        match (&self.initial, &r.student.weights) {
            (Some(t), _) => s.set_tensors(t, Path::new("<student.onnx>"))?,
            (None, Some(w)) => s.load_weights(&r.resolve(w))?,
            (None, None) => return Ok(None),
        }
        Ok(Some(s))
    }

    /// A student's logits on the test split.
    pub fn test_logits(&self, student: &Student) -> Result<Tensor> {
        let x = all_inputs(&self.data.test)?;
        Ok(student.forward_capture(&x, false, None)?.0)
    }
}

struct RunSpec {
    name: String,
    sweep: bool,
    weights: LossWeights,
    lr: f64,
    with_teacher: bool,
}

enum RunEnd {
    Finished(RunResult),
    Interrupted,
}

/// A stable number for a run name.
fn run_id(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Mixes numbers into one seed.
fn mix(parts: &[u64]) -> u64 {
    let mut rng = SplitMix64::new(0x243f_6a88_85a3_08d3);
    let mut h = 0u64;
    for &p in parts {
        h = SplitMix64::new(h ^ p ^ rng.next_u64()).next_u64();
    }
    h
}

/// The dtype every tensor here uses.
pub const DTYPE: DType = DType::F32;
