//! What every `optimize` job shares, and nothing else: how a job reports progress and is
//! cancelled ([`Progress`]), how it times its phases ([`Phases`]), and the hook through which a
//! pass hands a model to a fine-tuning step it does not depend on ([`Finetune`]).
//!
//! Each pass crate owns its job (`optimize_quant::job`, `optimize_prune::job`,
//! `optimize_distill::job`, `optimize_bench::job`): a serde-deserializable config and a `run`
//! that takes a `&mut dyn Progress`. The CLI implements [`Progress`] with progress bars and
//! Ctrl-C; a pipeline logs it; a library user passes [`Quiet`] or their own.
//!
//! ```
//! use optimize_job::{Phases, Progress, Quiet};
//!
//! /// A job step that reports each unit of work and stops early when asked to.
//! fn work(progress: &mut dyn Progress) -> usize {
//!     let mut phases = Phases::start();
//!     progress.phase("calibrate", Some(3));
//!     let mut done = 0;
//!     for i in 0..3 {
//!         if progress.cancelled() {
//!             break;
//!         }
//!         done += 1;
//!         progress.advance(i + 1, "");
//!     }
//!     phases.lap("calibrate");
//!     assert_eq!(phases.laps()[0].0, "calibrate");
//!     done
//! }
//! assert_eq!(work(&mut Quiet), 3);
//! ```
#![deny(missing_docs)]

mod finetune;
mod phases;
mod progress;

pub use finetune::{Finetune, FinetuneError, FinetuneRequest, Finetuned};
pub use phases::Phases;
pub use progress::{Cancel, Progress, Quiet};
