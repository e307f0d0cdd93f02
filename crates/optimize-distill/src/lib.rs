//! Teacher–student distillation for `optimize`, on the CPU with candle.
//!
//! A big model (the *teacher*) labels inputs with its full output distribution; a small model
//! (the *student*) learns to reproduce it, on labelled data and, more usefully, on inputs
//! nobody labelled. This crate is for training such students and shipping them as ONNX; it is
//! not a general training framework (candle is), and it does not change ONNX graphs (the
//! quantize and prune passes do).
//!
//! Two ways in:
//! - **A recipe** ([`recipe`], schema in `recipes/README.md`): [`pipeline::distill`] reads the
//!   data ([`data`]), runs the teacher ([`teacher`]: ONNX through tract or ONNX Runtime, or a
//!   candle model), trains the student built from a layer spec ([`student`]) with
//!   [`optim`]'s AdamW or SGD, keeps the best epoch, checkpoints and resumes ([`run`]),
//!   exports to ONNX and checks the export in tract and ONNX Runtime ([`export`]), and writes a
//!   report comparing teacher, distilled student and the same student trained alone
//!   ([`report`]). [`job::DistillJob`] is this as `optimize distill` runs it, reporting
//!   through [`optimize_job::Progress`] (cancelled: a checkpoint, then
//!   [`pipeline::Outcome::Interrupted`]); [`job::Recover`] is the same training used as the
//!   fine-tuning step of another pass (`prune --recover`).
//! - **Your own candle loop**: [`Distiller::new`] with a [`Teacher`] and a [`DistillConfig`];
//!   [`Distiller::step`] turns your student's logits for a [`Batch`] into a [`Loss`] to
//!   back-propagate. The losses themselves are in [`loss`].
//!
//! Everything random (initial weights, splits, shuffles, dropout, augmentation) comes from
//! seeded generators, so the same recipe and seed give the same student bytes.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::{linear, AdamW, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap};
//! use optimize_distill::student::{LayerSpec, Student};
//! use optimize_distill::{Batch, DistillConfig, Distiller, LossWeights};
//!
//! let dev = Device::Cpu;
//! // A teacher built from a layer spec (in practice: trained weights, or an OnnxTeacher).
//! let teacher = Student::new(&[LayerSpec::linear(8), LayerSpec::relu(), LayerSpec::linear(3)], &[4], 1, &dev)?;
//! let distiller = Distiller::new(teacher, DistillConfig::new(LossWeights::default()))?;
//!
//! // Your student and optimizer, plain candle.
//! let vars = VarMap::new();
//! let student = linear(4, 3, VarBuilder::from_varmap(&vars, DType::F32, &dev))?;
//! let mut opt = AdamW::new(vars.all_vars(), ParamsAdamW { lr: 0.05, ..Default::default() })?;
//!
//! let x = Tensor::arange(0f32, 32., &dev)?.reshape((8, 4))?.affine(0.1, -1.0)?;
//! let labels = Tensor::new(&[0u32, 1, 2, 0, 1, 2, 0, 1], &dev)?;
//! let batch = Batch::new(x.clone()).with_labels(labels);
//! let before = distiller.step(&student.forward(&x)?, &batch)?.value()?;
//! for _ in 0..30 {
//!     let loss = distiller.step(&student.forward(&x)?, &batch)?;
//!     opt.backward_step(&loss.total)?;
//! }
//! assert!(distiller.step(&student.forward(&x)?, &batch)?.value()? < before);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A full example on digits is `examples/own_loop.rs`; `examples/distill_recipe.rs` runs a
//! recipe.
#![deny(missing_docs)]

pub mod checkpoint;
pub mod data;
mod error;
pub mod export;
pub mod import;
pub mod job;
pub mod loss;
pub mod optim;
pub mod pipeline;
pub mod recipe;
pub mod report;
pub mod run;
pub mod student;
pub mod teacher;
pub mod trainer;

pub use error::{Error, Result};
pub use loss::{Loss, LossWeights};
pub use recipe::Recipe;
pub use student::{LayerSpec, Student};
pub use teacher::{ModuleTeacher, OnnxTeacher, Teacher};
pub use trainer::{Batch, DistillConfig, Distiller, HintConfig};
