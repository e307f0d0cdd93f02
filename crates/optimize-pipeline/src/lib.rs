//! `optimize pipeline`: many optimization configurations, chained, measured against an SLA,
//! the best one kept.
//!
//! A [`Recipe`] (TOML, schema in `recipes/README.md`) names a model, its data, the metric that
//! judges it, the target latency is measured on, the SLA, and configurations: chains of steps
//! (distill, prune, quantize), each step's table being that job's own config, with list values
//! expanding into a grid. [`PipelineJob::run`] runs every chain through the library jobs
//! (`optimize_quant::job`, `optimize_prune::job`, `optimize_distill`), reusing each step's
//! output by content ([`cache`]: a prefix shared by several chains runs once, and a re-run
//! after a crash or Ctrl-C skips what finished), measures every final model alone on the target
//! ([`measure`]), judges each against the SLA ([`sla`]), and writes the output folder
//! ([`report`]): `results.json`, `report.md`, charts, and `best.onnx`.
//!
//! Not here: the jobs themselves (each pass crate owns its own), the command line, and
//! orchestrators beyond one machine.
//!
//! ```no_run
//! use optimize_pipeline::PipelineJob;
//! let mut job = PipelineJob::new("recipes/pipeline-digits-cnn.toml");
//! job.out_dir = Some("pipeline-digits-cnn".into());
//! let report = job.run(&mut optimize_job::Quiet)?;
//! match report.winner_row() {
//!     Some(best) => println!("{}: {}", best.name, report.why),
//!     None => println!("no configuration meets the SLA: {}", report.why),
//! }
//! # Ok::<(), optimize_pipeline::Error>(())
//! ```
#![deny(missing_docs)]

pub mod cache;
mod error;
pub mod measure;
pub mod recipe;
pub mod report;
pub mod run;
pub mod sla;

pub use error::{Error, Result};
pub use recipe::{Configuration, Metric, Recipe, Sla, Step};
pub use report::{PipelineReport, Row, RowStatus};
pub use run::{PipelineJob, Plan};
