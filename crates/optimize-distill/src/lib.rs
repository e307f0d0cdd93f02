//! Teacher–student distillation for `optimize`, on the CPU with candle.
//!
//! Placeholder; the full crate doc comes with the pipeline.
#![deny(missing_docs)]

pub mod checkpoint;
pub mod data;
mod error;
pub mod export;
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
