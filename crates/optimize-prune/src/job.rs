//! The whole `optimize prune` workflow as one library call: [`PruneJob::run`] loads the model,
//! runs one pass ([`Method`]) as its [`PruneConfig`] says, optionally fine-tunes the result
//! against the original through a [`Finetune`] it is handed (distillation lives in
//! `optimize-distill`; passes never depend on each other), saves it to a staging folder,
//! verifies it under a [`VerifyPolicy`], moves it into place only when it passes, measures
//! latency before and after, and returns the [`RunReport`] the CLI prints.
//!
//! The config is flat, as the command line is, so a pipeline step reads naturally:
//!
//! ```
//! use optimize_prune::job::{Method, PruneConfig};
//! let config: PruneConfig = toml::from_str(r#"
//!     method = "channels"
//!     ratio = 0.5
//!     round_to = 8
//! "#).unwrap();
//! assert_eq!(config.method, Method::Channels);
//! assert!(config.validate().is_ok());
//! ```
//!
//! ```no_run
//! use optimize_prune::job::{Method, PruneConfig, PruneJob};
//! let config = PruneConfig { method: Method::Channels, ratio: Some(0.5), ..PruneConfig::default() };
//! let report = PruneJob::new("models/digits-cnn.onnx", "digits-cnn.channels.onnx", config)
//!     .run(&mut optimize_job::Quiet, None)?;
//! println!("{} -> {} parameters", report.pruning.parameters.before, report.pruning.parameters.after);
//! # Ok::<(), optimize_prune::Error>(())
//! ```

use crate::report::{gzip_len, CompressedSize, Recovery, RunReport};
use crate::{
    ChannelConfig, Criterion, Error, LowRankConfig, MagnitudeConfig, NmConfig, NmPattern, RankRule,
    Result, Scope,
};
use optimize_bench::compare::{for_job, LatencyOptions};
use optimize_bench::policy::{settle, VerifyOptions, VerifyPolicy};
use optimize_bench::verify::{data_samples, input_specs, seeded_samples, verify};
use optimize_bench::Outcome;
use optimize_job::{Finetune, FinetuneError, FinetuneRequest, Phases, Progress};
use optimize_onnx::filter::NodeFilter;
use optimize_onnx::{stage, ExternalData, Model, SaveOptions};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Schema of [`RunReport`] as JSON.
pub const SCHEMA: &str = "optimize.prune/1";

/// The pruning method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Unstructured: zero the smallest weights (`sparsity`).
    #[default]
    Magnitude,
    /// N:M semi-structured sparsity along the input dimension (`pattern`).
    Nm,
    /// Structured: remove whole output channels and what depends on them (`ratio`).
    Channels,
    /// MatMul/Gemm weights as two low-rank factors (`rank` or `energy`).
    Lowrank,
}

impl Method {
    /// The name in configs, file names and reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::Magnitude => "magnitude",
            Method::Nm => "nm",
            Method::Channels => "channels",
            Method::Lowrank => "lowrank",
        }
    }
}

/// How `optimize prune` prunes, as data. Method parameters are flat, as on the command line;
/// a parameter of another method is an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PruneConfig {
    /// Which pass.
    pub method: Method,
    /// magnitude: share of weights to zero, in `[0, 1)`.
    pub sparsity: Option<f64>,
    /// magnitude: one threshold for the model (`global`, default) or one per layer.
    pub scope: Scope,
    /// magnitude: keep the first weighted layer dense.
    pub exclude_first: bool,
    /// magnitude: keep the last weighted layer dense.
    pub exclude_last: bool,
    /// nm: keep N of every M weights (default 2:4, what sparse tensor cores run).
    pub pattern: Option<NmPattern>,
    /// channels: share of each prunable group's output channels to remove, in `[0, 1)`.
    pub ratio: Option<f64>,
    /// channels: how channels are scored (default l1).
    pub criterion: Option<Criterion>,
    /// channels: keep a multiple of this many channels per pruned group (default 1).
    pub round_to: Option<usize>,
    /// lowrank: the rank of the factors.
    pub rank: Option<usize>,
    /// lowrank: the smallest rank keeping this share of the squared singular values.
    pub energy: Option<f64>,
    /// lowrank: factor even where the factors hold more parameters than the weight.
    pub force: bool,
    /// Which nodes may change.
    pub nodes: NodeFilter,
    /// Evaluation data to verify and time on; with a `label` array, accuracy before and after.
    pub eval: Option<PathBuf>,
    /// Whole shapes of inputs with symbolic axes, for seeded inputs: `{ x = [1, 3, 48, 192] }`.
    pub shapes: BTreeMap<String, Vec<usize>>,
    /// How the output is verified; the policy defaults to [`default_policy`].
    pub verify: VerifyOptions,
    /// How latency before and after is measured.
    pub latency: LatencyOptions,
    /// Fine-tune the pruned model with the original as teacher, with this recipe.
    pub recover: Option<PathBuf>,
    /// Where the fine-tuning writes its report and checkpoints [default: `<output>.recover/`].
    pub recover_dir: Option<PathBuf>,
    /// Store weights in `<output>.data` (automatic past protobuf's 2 GiB).
    pub external_data: bool,
}

impl Default for PruneConfig {
    fn default() -> Self {
        PruneConfig {
            method: Method::Magnitude,
            sparsity: None,
            scope: Scope::Global,
            exclude_first: false,
            exclude_last: false,
            pattern: None,
            ratio: None,
            criterion: None,
            round_to: None,
            rank: None,
            energy: None,
            force: false,
            nodes: NodeFilter::default(),
            eval: None,
            shapes: BTreeMap::new(),
            verify: VerifyOptions::default(),
            latency: LatencyOptions::default(),
            recover: None,
            recover_dir: None,
            external_data: false,
        }
    }
}

/// One pass with its settings, validated.
#[derive(Debug, Clone)]
pub enum Pass {
    /// [`crate::prune_magnitude`].
    Magnitude(MagnitudeConfig),
    /// [`crate::prune_n_m`].
    Nm(NmConfig),
    /// [`crate::prune_channels`].
    Channels(ChannelConfig),
    /// [`crate::factorize`].
    LowRank(LowRankConfig),
}

/// The verification policy when the config sets none.
///
/// | | with labels | without labels |
/// |---|---|---|
/// | fine-tuned (`recover`) | top-1 drop ≤ 1 point | every output's cosine ≥ 0.99 |
/// | not fine-tuned | no bound | no bound |
///
/// Pruning without fine-tuning is expected to lose accuracy (half the channels of the digits
/// CNN cost 23 points before recovery, results/prune.md) and is usually a step before
/// fine-tuning, so it is held only to the rules every output meets: finite where the original
/// is, not all zeros. The report gives the drop; set a policy to enforce one. After recovery
/// the model is the answer, held to int8's bound.
pub fn default_policy(recovered: bool) -> VerifyPolicy {
    if recovered {
        VerifyPolicy {
            max_accuracy_drop: Some(0.01),
            min_cosine: Some(0.99),
            ..VerifyPolicy::none()
        }
    } else {
        VerifyPolicy::none()
    }
}

impl PruneConfig {
    /// Checks the settings and builds the pass they describe.
    pub fn pass(&self) -> Result<Pass> {
        let method = self.method.name();
        let given: [(&str, bool, Method); 10] = [
            ("sparsity", self.sparsity.is_some(), Method::Magnitude),
            ("scope", self.scope != Scope::Global, Method::Magnitude),
            ("exclude_first", self.exclude_first, Method::Magnitude),
            ("exclude_last", self.exclude_last, Method::Magnitude),
            ("pattern", self.pattern.is_some(), Method::Nm),
            ("ratio", self.ratio.is_some(), Method::Channels),
            ("criterion", self.criterion.is_some(), Method::Channels),
            ("round_to", self.round_to.is_some(), Method::Channels),
            ("rank", self.rank.is_some(), Method::Lowrank),
            ("energy", self.energy.is_some(), Method::Lowrank),
        ];
        let config = |detail: String| Error::Config { detail };
        if let Some((key, _, owner)) = given.iter().find(|(_, set, m)| *set && *m != self.method) {
            return Err(config(format!(
                "{key} applies to method {}, not {method}",
                owner.name()
            )));
        }
        if self.force && self.method != Method::Lowrank {
            return Err(config(format!(
                "force applies to method lowrank, not {method}"
            )));
        }
        if let Some(p) = &self.verify.policy {
            p.validate().map_err(config)?;
        }
        let filter = self.nodes.clone();
        Ok(match self.method {
            Method::Magnitude => {
                let sparsity = self.sparsity.ok_or_else(|| {
                    config(
                        "magnitude needs a sparsity, the share of weights to zero (e.g. 0.5)"
                            .into(),
                    )
                })?;
                let c = MagnitudeConfig {
                    sparsity,
                    scope: self.scope,
                    exclude_first: self.exclude_first,
                    exclude_last: self.exclude_last,
                    filter,
                };
                c.validate()?;
                Pass::Magnitude(c)
            }
            Method::Nm => Pass::Nm(NmConfig {
                pattern: self.pattern.unwrap_or(NmPattern { n: 2, m: 4 }),
                filter,
            }),
            Method::Channels => {
                let ratio = self.ratio.ok_or_else(|| {
                    config(
                        "channels needs a ratio, the share of channels to remove (e.g. 0.5)".into(),
                    )
                })?;
                let round_to = self.round_to.unwrap_or(1);
                if round_to == 0 {
                    return Err(config("round_to 0: give 1 (any count) or more".into()));
                }
                let c = ChannelConfig {
                    ratio,
                    criterion: self.criterion.unwrap_or_default(),
                    round_to,
                    filter,
                };
                c.validate()?;
                Pass::Channels(c)
            }
            Method::Lowrank => {
                let rule = match (self.rank, self.energy) {
                    (Some(_), Some(_)) => {
                        return Err(config("give rank or energy, not both".into()))
                    }
                    (Some(r), None) => RankRule::Rank(r),
                    (None, Some(e)) => RankRule::Energy(e),
                    (None, None) => return Err(config(
                        "lowrank needs a rank or an energy (share of the squared singular values to keep, e.g. 0.9)".into(),
                    )),
                };
                let c = LowRankConfig {
                    rule,
                    force: self.force,
                    filter,
                };
                c.validate()?;
                Pass::LowRank(c)
            }
        })
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        self.pass().map(|_| ())
    }

    /// The verification policy in force: the config's, else [`default_policy`].
    pub fn policy(&self) -> VerifyPolicy {
        self.verify
            .policy
            .unwrap_or_else(|| default_policy(self.recover.is_some()))
    }
}

/// The default output path: `<stem>.<method>.onnx` beside the input.
pub fn default_output(input: &Path, method: Method) -> PathBuf {
    let stem = input
        .file_stem()
        .map_or("model".into(), |s| s.to_string_lossy().into_owned());
    input.with_file_name(format!("{stem}.{}.onnx", method.name()))
}

/// One pruning to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneJob {
    /// The model to prune (never modified).
    pub input: PathBuf,
    /// Where the accepted output goes.
    pub output: PathBuf,
    /// How.
    #[serde(default)]
    pub config: PruneConfig,
}

impl PruneJob {
    /// A job pruning `input` into `output` as `config` says.
    pub fn new(input: impl Into<PathBuf>, output: impl Into<PathBuf>, config: PruneConfig) -> Self {
        PruneJob {
            input: input.into(),
            output: output.into(),
            config,
        }
    }

    /// Runs the workflow; see the module docs. `finetune` is required when the config asks to
    /// `recover`. A verification that fails its policy is not an error: the report says so
    /// ([`RunReport::accepted`] is false) and nothing is left at the output path.
    pub fn run(
        &self,
        progress: &mut dyn Progress,
        finetune: Option<&dyn Finetune>,
    ) -> Result<RunReport> {
        let c = &self.config;
        let pass = c.pass()?;
        if c.recover.is_some() && finetune.is_none() {
            return Err(Error::Config {
                detail: "recovery needs a fine-tuning step (optimize-distill's Recover)".into(),
            });
        }
        let mut phases = Phases::start();
        progress.phase("load", None);
        let model = Model::load(&self.input)?;
        optimize_onnx::refuse_overwrite(&model, &self.output)?;
        phases.lap("load");

        progress.phase("prune", None);
        let (mut out, mut report) = match &pass {
            Pass::Magnitude(p) => crate::prune_magnitude(&model, p)?,
            Pass::Nm(p) => crate::prune_n_m(&model, p)?,
            Pass::Channels(p) => crate::prune_channels(&model, p)?,
            Pass::LowRank(p) => crate::factorize(&model, p)?,
        };
        phases.lap("prune");
        let listed = optimize_onnx::transform::list_initializers_as_inputs(&mut out.proto);
        if listed > 0 {
            report
                .notes
                .push(optimize_onnx::transform::listed_note(listed));
        }
        let description = format!("{}, {}", report.method, report.settings);
        out.stamp(env!("CARGO_PKG_VERSION"), "prune", &description);
        let options = SaveOptions {
            external_data: if c.external_data {
                ExternalData::Always
            } else {
                ExternalData::Auto
            },
            ..Default::default()
        };
        progress.phase("save", None);
        let mut staged = stage(&out, &self.output, &options)?;
        phases.lap("save");

        let mut recovery = None;
        if let (Some(recipe), Some(finetune)) = (&c.recover, finetune) {
            let work_dir = c.recover_dir.clone().unwrap_or_else(|| {
                let mut d = self.output.as_os_str().to_owned();
                d.push(".recover");
                PathBuf::from(d)
            });
            let request = FinetuneRequest {
                original: self.input.clone(),
                candidate: staged.path().to_path_buf(),
                recipe: recipe.clone(),
                work_dir: work_dir.clone(),
            };
            let done = finetune.finetune(&request, progress).map_err(|e| match e {
                FinetuneError::Interrupted { checkpoint } => Error::Interrupted { checkpoint },
                FinetuneError::Input(e) => Error::Config {
                    detail: format!("{}: {e}", recipe.display()),
                },
                FinetuneError::Failed(e) => Error::Finetune {
                    detail: e.to_string(),
                },
            })?;
            let mut student = Model::load(&done.model)?;
            student.stamp(
                env!("CARGO_PKG_VERSION"),
                "prune",
                &format!(
                    "{description}; recovered by distillation from the original ({})",
                    recipe.display()
                ),
            );
            out = student;
            staged = stage(&out, &self.output, &options)?;
            recovery = Some(Recovery {
                recipe: recipe.display().to_string(),
                dir: work_dir.display().to_string(),
                before_pruning: done.original_accuracy,
                after_pruning: done.candidate_accuracy,
                after_recovery: done.finetuned_accuracy,
                fine_tuned_alone: done.alone_accuracy,
                best_epoch: done.best_epoch,
                epochs: done.epochs,
            });
            phases.lap("recover");
        }

        let input_files = model.source_files();
        let (input_bytes, gz_in) = file_sizes(&input_files);
        let staged_files: Vec<PathBuf> = std::iter::once(staged.path().to_path_buf())
            .chain(
                staged
                    .path()
                    .parent()
                    .map(|d| d.join(format!("{}.data", file_name(&self.output))))
                    .filter(|p| p.exists()),
            )
            .collect();
        let (output_bytes, gz_out) = file_sizes(&staged_files);
        let compressed = match (gz_in, gz_out) {
            (Some(input), Some(output)) => Some(CompressedSize {
                format: "gzip",
                input,
                output,
            }),
            _ => None,
        };
        phases.lap("compress");

        let (verification, verdict) = if c.verify.enabled {
            progress.phase("verify", None);
            let specs = input_specs(&model);
            let data = match &c.eval {
                Some(path) => data_samples(path, &specs, c.verify.max_samples)?,
                None => seeded_samples(&specs, &c.shapes, c.verify.random_samples, c.verify.seed)?,
            };
            let v = verify(&self.input, staged.path(), &data, c.verify.task.as_ref())?;
            let verdict = c.policy().judge(&v);
            phases.lap("verify");
            (Some(v), Some(verdict))
        } else {
            (None, None)
        };
        let accepted = verdict.as_ref().is_none_or(|v| v.passed);

        let (latency, latency_skipped) = for_job(
            (&self.input, staged.path()),
            &c.latency,
            accepted,
            c.eval.as_deref(),
            &c.shapes,
            progress,
            &mut phases,
        );

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
            compressed,
            pruning: report,
            recovery,
            timings_ms: phases.into_laps(),
        })
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or(String::new(), |f| f.to_string_lossy().into_owned())
}

/// Total bytes of `files` and their gzip size.
fn file_sizes(files: &[PathBuf]) -> (u64, Option<u64>) {
    let mut total = 0;
    let mut gz = Some(0);
    for f in files {
        total += std::fs::metadata(f).map_or(0, |m| m.len());
        gz = match (gz, std::fs::read(f)) {
            (Some(g), Ok(data)) => Some(g + gzip_len(&data)),
            _ => None,
        };
    }
    (total, gz)
}

impl RunReport {
    /// True when the output passed verification (or was not verified) and was written.
    pub fn accepted(&self) -> bool {
        self.outcome.accepted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_of_another_method_are_refused() {
        let c = PruneConfig {
            method: Method::Channels,
            ratio: Some(0.5),
            sparsity: Some(0.5),
            ..PruneConfig::default()
        };
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("sparsity applies to method magnitude"),
            "{err}"
        );
        let c = PruneConfig {
            method: Method::Channels,
            ..PruneConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("needs a ratio"));
    }

    #[test]
    fn toml_values_parse_into_the_pass_types() {
        let c: PruneConfig = toml::from_str(
            "method = \"nm\"\npattern = \"1:4\"\n[verify.policy]\nmin_cosine = 0.9\n",
        )
        .unwrap();
        match c.pass().unwrap() {
            Pass::Nm(p) => assert_eq!((p.pattern.n, p.pattern.m), (1, 4)),
            other => panic!("{other:?}"),
        }
        assert_eq!(c.policy().min_cosine, Some(0.9));
        let c: PruneConfig =
            toml::from_str("method = \"channels\"\nratio = 0.25\ncriterion = \"bn-scale\"\n")
                .unwrap();
        assert!(
            matches!(c.pass().unwrap(), Pass::Channels(p) if p.criterion == Criterion::BnScale)
        );
        assert!(toml::from_str::<PruneConfig>("method = \"channel\"\n").is_err());
    }

    #[test]
    fn policy_depends_on_recovery() {
        assert_eq!(default_policy(false), VerifyPolicy::none());
        assert_eq!(default_policy(true).max_accuracy_drop, Some(0.01));
    }
}
