//! Training: the [`Distiller`] your own candle loop calls, and the loop recipes run.
//!
//! [`Distiller::new`] takes a [`Teacher`] and a [`DistillConfig`]; [`Distiller::step`] takes
//! the student's logits for a [`Batch`] and returns the [`Loss`] to back-propagate. It runs the
//! teacher on the batch's inputs unless the batch already carries the teacher's logits
//! (precomputed once for a fixed transfer set). With a hint, [`Distiller::step_with_hint`]
//! also takes the student's intermediate activation; the learned projection that maps it to the
//! teacher's width is in [`Distiller::vars`] — give those to your optimizer too.
//!
//! ```
//! use candle_core::{DType, Device, Module, Tensor};
//! use candle_nn::{linear, AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
//! use optimize_distill::{Batch, DistillConfig, Distiller, LossWeights, ModuleTeacher};
//!
//! let dev = Device::Cpu;
//! // A fixed "teacher" and a student to train, both plain candle modules.
//! let teacher_map = VarMap::new();
//! let teacher = linear(4, 3, VarBuilder::from_varmap(&teacher_map, DType::F32, &dev).pp("t"))?;
//! let student_map = VarMap::new();
//! let student = linear(4, 3, VarBuilder::from_varmap(&student_map, DType::F32, &dev).pp("s"))?;
//! let mut opt = AdamW::new(student_map.all_vars(), ParamsAdamW { lr: 0.05, ..Default::default() })?;
//!
//! let distiller = Distiller::new(ModuleTeacher(teacher), DistillConfig::new(LossWeights {
//!     temperature: 2.0, alpha: 0.0, hint: 0.0,
//! }))?;
//! let x = Tensor::randn(0f32, 1., (16, 4), &dev)?;
//! let batch = Batch::new(x.clone());
//! let first = distiller.step(&student.forward(&x)?, &batch)?.value()?;
//! for _ in 0..50 {
//!     let loss = distiller.step(&student.forward(&x)?, &batch)?;
//!     opt.backward_step(&loss.total)?;
//! }
//! let last = distiller.step(&student.forward(&x)?, &batch)?.value()?;
//! assert!(last < first);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{Module, VarBuilder, VarMap};
use optimize_data::SplitMix64;

use crate::loss::{distillation_loss, Loss, LossWeights};
use crate::teacher::Teacher;
use crate::{Error, Result};

/// How a [`Distiller`] weighs its loss, and the hint it computes.
#[derive(Debug, Clone, PartialEq)]
pub struct DistillConfig {
    /// Temperature and weights of the soft, hard and hint terms.
    pub weights: LossWeights,
    /// The teacher activation for the hint loss, with the student's and the teacher's widths
    /// (features per sample; activations are flattened). A projection is learned when they
    /// differ.
    pub hint: Option<HintConfig>,
    /// Seed of the hint projection's initial weights.
    pub seed: u64,
}

/// The hint of a [`DistillConfig`].
#[derive(Debug, Clone, PartialEq)]
pub struct HintConfig {
    /// The teacher's activation name (an ONNX value, a layer of a candle teacher).
    pub teacher: String,
    /// Features per sample of the student's activation.
    pub student_width: usize,
    /// Features per sample of the teacher's activation.
    pub teacher_width: usize,
}

impl DistillConfig {
    /// A configuration with these loss weights, no hint, seed 0.
    pub fn new(weights: LossWeights) -> Self {
        DistillConfig {
            weights,
            hint: None,
            seed: 0,
        }
    }
}

/// One batch: inputs, optional labels, optional precomputed teacher outputs.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Inputs `[n, ...]`, as the teacher takes them.
    pub inputs: Tensor,
    /// Class indices `[n]` (`u32`), for the hard-label term.
    pub labels: Option<Tensor>,
    /// `f32` `[n]`: 1 where the sample has a label, 0 where it has none.
    pub label_mask: Option<Tensor>,
    /// The teacher's logits for these inputs, if already known.
    pub teacher_logits: Option<Tensor>,
    /// The teacher's hint activation for these inputs, if already known.
    pub teacher_hint: Option<Tensor>,
}

impl Batch {
    /// A batch of unlabelled inputs.
    pub fn new(inputs: Tensor) -> Self {
        Batch {
            inputs,
            labels: None,
            label_mask: None,
            teacher_logits: None,
            teacher_hint: None,
        }
    }

    /// With labels for every sample.
    pub fn with_labels(mut self, labels: Tensor) -> Self {
        self.labels = Some(labels);
        self
    }

    /// With a mask of which samples have labels.
    pub fn with_label_mask(mut self, mask: Tensor) -> Self {
        self.label_mask = Some(mask);
        self
    }

    /// With the teacher's logits (and hint), so the teacher does not run.
    pub fn with_teacher(mut self, logits: Tensor, hint: Option<Tensor>) -> Self {
        self.teacher_logits = Some(logits);
        self.teacher_hint = hint;
        self
    }
}

/// Computes distillation losses for a student against a teacher; see the [module doc](self).
pub struct Distiller<T> {
    teacher: T,
    config: DistillConfig,
    projection: Option<candle_nn::Linear>,
    projection_vars: VarMap,
}

impl<T> std::fmt::Debug for Distiller<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distiller")
            .field("config", &self.config)
            .field("projection", &self.projection.is_some())
            .finish()
    }
}

impl<T: Teacher> Distiller<T> {
    /// A distiller for `teacher`. With a hint whose widths differ, a linear projection
    /// (student width → teacher width) is created, seeded by `config.seed`.
    pub fn new(teacher: T, config: DistillConfig) -> Result<Self> {
        let projection_vars = VarMap::new();
        let projection = match &config.hint {
            Some(h) if h.student_width != h.teacher_width => {
                let (i, o) = (h.student_width, h.teacher_width);
                let mut rng = SplitMix64::new(config.seed ^ 0x9e0_1ec7);
                let bound = 1.0 / (i as f64).sqrt();
                let mut draw = |n: usize| -> Vec<f32> {
                    (0..n)
                        .map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32)
                        .collect()
                };
                {
                    let mut data = projection_vars
                        .data()
                        .lock()
                        .map_err(|_| Error::Shape("projection lock poisoned".into()))?;
                    let w = Tensor::from_vec(draw(o * i), (o, i), &Device::Cpu)?;
                    let b = Tensor::from_vec(draw(o), o, &Device::Cpu)?;
                    data.insert("projection.weight".into(), Var::from_tensor(&w)?);
                    data.insert("projection.bias".into(), Var::from_tensor(&b)?);
                }
                let vb = VarBuilder::from_varmap(&projection_vars, DType::F32, &Device::Cpu);
                Some(candle_nn::linear(i, o, vb.pp("projection"))?)
            }
            _ => None,
        };
        Ok(Distiller {
            teacher,
            config,
            projection,
            projection_vars,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DistillConfig {
        &self.config
    }

    /// Changes the loss weights (a sweep reuses one distiller).
    pub fn set_weights(&mut self, weights: LossWeights) {
        self.config.weights = weights;
    }

    /// The teacher.
    pub fn teacher(&self) -> &T {
        &self.teacher
    }

    /// The hint projection's variables, sorted by name (empty without one).
    pub fn vars(&self) -> Vec<(String, Var)> {
        let Ok(data) = self.projection_vars.data().lock() else {
            return Vec::new();
        };
        let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The teacher's logits and hint for `batch`: the batch's own if present, else the
    /// teacher's on its inputs.
    pub fn teacher_outputs(&self, batch: &Batch) -> Result<(Tensor, Option<Tensor>)> {
        let want_hint = self.config.hint.as_ref().map(|h| h.teacher.as_str());
        match (&batch.teacher_logits, &batch.teacher_hint, want_hint) {
            (Some(l), _, None) => Ok((l.clone(), None)),
            (Some(l), Some(h), Some(_)) => Ok((l.clone(), Some(h.clone()))),
            _ => self.teacher.forward_teacher(&batch.inputs, want_hint),
        }
    }

    /// The loss for the student's logits on `batch` (no hint term).
    pub fn step(&self, student_logits: &Tensor, batch: &Batch) -> Result<Loss> {
        self.step_with_hint(student_logits, None, batch)
    }

    /// The loss with the hint term: `student_hint` is the student's activation for the hint.
    pub fn step_with_hint(
        &self,
        student_logits: &Tensor,
        student_hint: Option<&Tensor>,
        batch: &Batch,
    ) -> Result<Loss> {
        let (teacher_logits, teacher_hint) = self.teacher_outputs(batch)?;
        if teacher_logits.dims() != student_logits.dims() {
            return Err(Error::Mismatch(format!(
                "the teacher's outputs are {:?}, the student's {:?} for the same batch",
                teacher_logits.dims(),
                student_logits.dims()
            )));
        }
        let hint = match (student_hint, teacher_hint) {
            (Some(s), Some(t)) => {
                let s = s.flatten_from(1)?;
                let t = t.flatten_from(1)?;
                let s = match &self.projection {
                    Some(p) => p.forward(&s)?,
                    None => s,
                };
                if s.dims() != t.dims() {
                    return Err(Error::Mismatch(format!(
                        "hint widths: student {:?} (after projection), teacher {:?}",
                        s.dims(),
                        t.dims()
                    )));
                }
                Some((s, t))
            }
            _ => None,
        };
        let labels = batch
            .labels
            .as_ref()
            .map(|l| (l, batch.label_mask.as_ref()));
        Ok(distillation_loss(
            student_logits,
            Some(&teacher_logits),
            labels,
            hint.as_ref().map(|(s, t)| (s, t)),
            &self.config.weights,
        )?)
    }
}
