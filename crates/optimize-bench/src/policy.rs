//! [`VerifyPolicy`]: when a rewritten model is accepted, as a verdict that can fail.
//!
//! A [`Verification`] holds the numbers; a policy turns them into a [`Verdict`]. The rules, in
//! order:
//!
//! 1. The candidate must load and run in ONNX Runtime on every sample (else verification itself
//!    fails, before any policy).
//! 2. No output may be NaN or infinite where the original's is finite, and no output may be
//!    all zeros on one side only or on both (an all-zero output says nothing about closeness):
//!    these never count as a match, whatever the thresholds.
//! 3. With a task metric ([`crate::task::TaskMetric`]: detections as F1 against the original's,
//!    or the user's metric command) and [`VerifyPolicy::max_accuracy_drop`]: the metric may fall
//!    at most that much; it is then the only judge beyond rule 2.
//! 4. Else, with labelled data and [`VerifyPolicy::max_accuracy_drop`]: top-1 accuracy in ONNX
//!    Runtime may fall at most that much below the original's.
//! 5. Otherwise (and also with labels when set): every output's cosine similarity with the
//!    original's is at least [`VerifyPolicy::min_cosine`], and its largest absolute difference at
//!    most [`VerifyPolicy::max_abs`]. The cosine is the per-channel-normalized one by default
//!    ([`CosineOf::PerChannel`]; see [`crate::fidelity`]): raw cosine lets the channels with the
//!    largest values decide (a detector's box coordinates hide its class scores), so it passes
//!    models whose task broke.
//!
//! Each pass states its own defaults (int8 and fp16 in `optimize_quant::job`, pruning in
//! `optimize_prune::job`), because what "close" means depends on what the pass does.
//!
//! ```
//! use optimize_bench::policy::VerifyPolicy;
//! let policy = VerifyPolicy { min_cosine: Some(0.99), ..VerifyPolicy::none() };
//! assert!(policy.judges_without_labels());
//! ```

use crate::verify::Verification;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// When a rewritten model is accepted; see the module docs for the rules.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyPolicy {
    /// The largest accepted drop of the task metric: top-1 accuracy with labels, as a fraction
    /// (0.01 = one point); detection F1 against float32 (from 1); or a metric command's number,
    /// in its own units. See [`crate::task`].
    #[serde(default)]
    pub max_accuracy_drop: Option<f64>,
    /// The smallest accepted cosine similarity of any output with the original's. Applies
    /// without labels, and with labels too when `max_accuracy_drop` is unset.
    #[serde(default)]
    pub min_cosine: Option<f64>,
    /// The largest accepted absolute difference of any output value, with the same scope as
    /// `min_cosine`.
    #[serde(default)]
    pub max_abs: Option<f64>,
    /// Which cosine `min_cosine` bounds (default: per channel).
    #[serde(default)]
    pub cosine: CosineOf,
}

/// Which cosine similarity a policy judges outputs by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CosineOf {
    /// Every channel scaled by the original's root mean square of it first, so every channel
    /// weighs the same whatever its units. Raw cosine when the original's output is all zeros.
    #[default]
    PerChannel,
    /// The flattened values as they are.
    Raw,
}

impl CosineOf {
    /// The cosine of `o` this judge reads.
    pub fn of(self, o: &crate::OutputFidelity) -> Option<f64> {
        match self {
            CosineOf::PerChannel => o.normalized_cosine.or(o.cosine),
            CosineOf::Raw => o.cosine,
        }
    }

    fn words(self) -> &'static str {
        match self {
            CosineOf::PerChannel => "per-channel cosine",
            CosineOf::Raw => "cosine",
        }
    }
}

/// Whether a candidate met its policy, and the measured numbers behind each failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// True when every rule held.
    pub passed: bool,
    /// The judge used: `top-1 accuracy on N labelled samples` or `output cosine / max abs on N
    /// samples`.
    pub judge: String,
    /// The policy applied.
    pub policy: VerifyPolicy,
    /// One line per rule that failed, with the measured value and the bound.
    pub failures: Vec<String>,
}

impl VerifyPolicy {
    /// No thresholds: only rule 2 (finite, not all-zero outputs) applies.
    pub const fn none() -> Self {
        VerifyPolicy {
            max_accuracy_drop: None,
            min_cosine: None,
            max_abs: None,
            cosine: CosineOf::PerChannel,
        }
    }

    /// True when the policy has a bound that applies without labels.
    pub fn judges_without_labels(&self) -> bool {
        self.min_cosine.is_some() || self.max_abs.is_some()
    }

    /// Checks the bounds themselves: each in range.
    pub fn validate(&self) -> Result<(), String> {
        let unit = |name: &str, v: Option<f64>| match v {
            Some(v) if !(0.0..=1.0).contains(&v) => {
                Err(format!("{name} must be between 0 and 1, got {v}"))
            }
            _ => Ok(()),
        };
        unit("max_accuracy_drop", self.max_accuracy_drop)?;
        match self.min_cosine {
            Some(c) if !(-1.0..=1.0).contains(&c) => {
                return Err(format!("min_cosine must be between -1 and 1, got {c}"))
            }
            _ => {}
        }
        match self.max_abs {
            Some(a) if a.is_nan() || a < 0.0 => {
                return Err(format!("max_abs must be 0 or more, got {a}"))
            }
            _ => {}
        }
        Ok(())
    }

    /// The number this policy judges `v` by, higher better, to choose between candidates that
    /// both pass: the task metric's change (its drop negated), else top-1 accuracy after (with
    /// labels and an accuracy bound), else the worst output's cosine in ONNX Runtime. `None`
    /// when nothing was compared.
    pub fn score(&self, v: &Verification) -> Option<f64> {
        if let Some(t) = &v.task {
            return (!t.after.is_nan()).then(|| -t.drop());
        }
        if let (Some(a), Some(_)) = (&v.accuracy, self.max_accuracy_drop) {
            return Some(a.after.top1);
        }
        let ort = v.runtimes.iter().find(|r| r.runtime == "onnxruntime-cpu")?;
        ort.outputs
            .iter()
            .map(|o| self.cosine.of(o))
            .try_fold(f64::INFINITY, |worst, c| Some(worst.min(c?)))
            .filter(|w| w.is_finite())
    }

    /// The verdict on `v`.
    pub fn judge(&self, v: &Verification) -> Verdict {
        let mut failures = Vec::new();
        if let Some(why) = &v.not_compared {
            failures.push(format!("outputs were not compared: {why}"));
        }
        let ort = v.runtimes.iter().find(|r| r.runtime == "onnxruntime-cpu");
        let outputs = ort.map_or(&[][..], |r| &r.outputs[..]);
        if v.not_compared.is_none() && outputs.is_empty() {
            failures.push("no output was compared".into());
        }
        for o in outputs {
            if o.non_finite_mismatches > 0 {
                failures.push(format!(
                    "output '{}': {} values are NaN or infinite where the original's are finite (or the reverse)",
                    o.name, o.non_finite_mismatches
                ));
            }
            if o.values == 0 {
                failures.push(format!("output '{}': no finite value to compare", o.name));
            } else if o.cosine.is_none() {
                failures.push(format!(
                    "output '{}' is all zeros in the original or the candidate on {}: nothing to judge closeness by",
                    o.name, v.source
                ));
            }
        }
        // The user's task metric, when given, is the judge: it says what the model is for.
        let by_task = match &v.task {
            Some(t) if t.after.is_nan() => {
                failures.push(format!(
                    "{}: neither model detected anything on {}: nothing to judge detections by; \
                     give data with objects in it",
                    t.judge, v.source
                ));
                true
            }
            Some(t) => {
                if let Some(max) = self.max_accuracy_drop {
                    if t.drop() > max + 1e-9 {
                        failures.push(format!(
                            "{}: {} -> {}, a drop of {:.4}, more than the {max} allowed",
                            t.judge,
                            t.before,
                            t.after,
                            t.drop()
                        ));
                    }
                }
                true
            }
            None => false,
        };
        let by_accuracy = !by_task
            && match (&v.accuracy, self.max_accuracy_drop) {
                (Some(a), Some(max)) => {
                    let drop = a.before.top1 - a.after.top1;
                    // Accuracy is a count over samples; a bound at exactly one sample's worth must
                    // not fail on float rounding.
                    if drop > max + 1e-9 {
                        failures.push(format!(
                        "top-1 accuracy fell {:.2} points ({:.2}% -> {:.2}%), more than the {:.2} allowed",
                        drop * 100.0,
                        a.before.top1 * 100.0,
                        a.after.top1 * 100.0,
                        max * 100.0
                    ));
                    }
                    true
                }
                _ => false,
            };
        if !by_accuracy && !by_task {
            for o in outputs {
                if let (Some(min), Some(c)) = (self.min_cosine, self.cosine.of(o)) {
                    if c < min {
                        failures.push(format!(
                            "output '{}': {} {c:.6} with the original, below the {min} required",
                            o.name,
                            self.cosine.words()
                        ));
                    }
                }
                if let Some(max) = self.max_abs {
                    if o.max_abs > max {
                        failures.push(format!(
                            "output '{}': max abs difference {:.3e}, above the {max:.3e} allowed",
                            o.name, o.max_abs
                        ));
                    }
                }
            }
        }
        let judge = if let Some(t) = v.task.as_ref() {
            match t.samples {
                Some(n) => format!("{} on {n} samples", t.judge),
                None => format!("{}, on its own data", t.judge),
            }
        } else if by_accuracy {
            format!(
                "top-1 accuracy on {} labelled samples",
                v.accuracy.as_ref().map_or(0, |a| a.after.samples)
            )
        } else if self.judges_without_labels() {
            format!(
                "output {} / max abs on {} samples",
                self.cosine.words(),
                v.samples
            )
        } else {
            format!("finite, non-zero outputs on {} samples", v.samples)
        };
        Verdict {
            passed: failures.is_empty(),
            judge,
            policy: *self,
            failures,
        }
    }
}

/// How a pass's job verifies its output; every pass's config holds one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyOptions {
    /// Verify at all (default true). Off, the output is written unchecked and the report says
    /// so.
    pub enabled: bool,
    /// When the output is accepted; unset, the pass's default for its mode.
    pub policy: Option<VerifyPolicy>,
    /// Samples of evaluation data verified on at most (default 1000): top-1 on 1000 samples
    /// resolves a change of a few tenths of a point, and real models run that many in seconds
    /// to a minute. Held-out calibration samples are capped by the pass's own hold-out rule.
    pub max_samples: usize,
    /// Seeded random inputs verified on when there is no data (default 8: random inputs only
    /// show that the model runs and stays close, more of them show nothing new).
    pub random_samples: usize,
    /// Seed of the random inputs (default 0).
    pub seed: u64,
    /// Keep a rejected output beside the output path as `<stem>.rejected.onnx` (default false:
    /// a rejected model is never left where the accepted one would be).
    pub keep_rejected: bool,
    /// The user's task metric, judging in place of the output cosine (and, for `--auto`, the
    /// search's trials); see [`crate::task`].
    pub task: Option<crate::task::TaskMetric>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            enabled: true,
            policy: None,
            max_samples: 1000,
            random_samples: 8,
            seed: 0,
            keep_rejected: false,
            task: None,
        }
    }
}

/// Where a rejected output is kept with [`VerifyOptions::keep_rejected`]:
/// `<stem>.rejected.onnx` beside the output path.
pub fn rejected_path(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map_or("model".into(), |s| s.to_string_lossy().into_owned());
    output.with_file_name(format!("{stem}.rejected.onnx"))
}

/// Where a verified candidate ended up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    /// The output path, when the candidate was accepted and moved there.
    pub written: Option<PathBuf>,
    /// Where a rejected candidate was kept, when asked to keep it.
    pub rejected: Option<PathBuf>,
}

/// The last step of every pass's job: an accepted candidate moves from its staging folder to
/// the output path; a rejected one is deleted with its staging folder, or, with
/// [`VerifyOptions::keep_rejected`], saved as [`rejected_path`] (never at the output path).
pub fn settle(
    staged: optimize_onnx::Staged,
    model: &optimize_onnx::Model,
    accepted: bool,
    options: &VerifyOptions,
    save: &optimize_onnx::SaveOptions,
) -> optimize_onnx::Result<Settled> {
    if accepted {
        return Ok(Settled {
            written: Some(staged.commit()?.path),
            rejected: None,
        });
    }
    let rejected = if options.keep_rejected {
        let path = rejected_path(staged.target());
        drop(staged);
        optimize_onnx::save(model, &path, save)?;
        Some(path)
    } else {
        None
    };
    Ok(Settled {
        written: None,
        rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{AccuracyChange, RuntimeCheck};
    use crate::{Accuracy, OutputFidelity};

    fn output(cosine: Option<f64>, max_abs: f64, bad: u64) -> OutputFidelity {
        OutputFidelity {
            name: "y".into(),
            max_abs,
            mean_abs: max_abs / 2.0,
            cosine,
            normalized_cosine: cosine,
            top1_agreement: None,
            values: 100,
            non_finite_mismatches: bad,
        }
    }

    fn verification(o: OutputFidelity, accuracy: Option<(f64, f64)>) -> Verification {
        let acc = |top1: f64| Accuracy {
            top1,
            correct: (top1 * 200.0).round() as u64,
            samples: 200,
            output: "y".into(),
            data: "test".into(),
        };
        Verification {
            samples: 8,
            source: "8 samples".into(),
            runtimes: vec![RuntimeCheck {
                runtime: "onnxruntime-cpu".into(),
                ok: true,
                error: None,
                outputs: vec![o],
            }],
            not_compared: None,
            accuracy: accuracy.map(|(b, a)| AccuracyChange {
                before: acc(b),
                after: acc(a),
            }),
            task: None,
        }
    }

    /// Issue 14: with a task metric it alone judges: a detector whose raw outputs stay close
    /// but whose detections fall to F1 0.77 is rejected, and a metric command's drop is
    /// bounded in its own units and direction.
    #[test]
    fn a_task_metric_is_the_judge() {
        use crate::task::TaskChange;
        let change = |before, after, higher_is_better, samples| TaskChange {
            judge: "judge".into(),
            before,
            after,
            higher_is_better,
            samples,
            detections: None,
        };
        let mut v = verification(output(Some(0.9999), 1e-3, 0), Some((0.9, 0.9)));
        v.task = Some(change(1.0, 0.77, true, Some(8)));
        let verdict = COSINE.judge(&v);
        assert!(!verdict.passed);
        assert!(verdict.failures[0].contains("1 -> 0.77"), "{verdict:?}");
        assert_eq!(verdict.judge, "judge on 8 samples");
        // Close outputs do not matter when the task metric holds.
        let mut v = verification(output(Some(0.5), 1e-3, 0), None);
        v.task = Some(change(12.0, 12.004, false, None));
        let verdict = COSINE.judge(&v);
        assert!(verdict.passed, "{verdict:?}");
        assert!(verdict.judge.ends_with(", on its own data"));
        v.task = Some(change(12.0, 12.5, false, None));
        assert!(
            !COSINE.judge(&v).passed,
            "lower is better: 12 -> 12.5 is a drop"
        );
        // No detection in either model: nothing to judge by, said so.
        v.task = Some(change(1.0, f64::NAN, true, Some(8)));
        let verdict = COSINE.judge(&v);
        assert!(
            verdict.failures[0].contains("nothing to judge"),
            "{verdict:?}"
        );
        // NaN outputs fail whatever the task metric says.
        let mut v = verification(output(Some(1.0), 1e-3, 5), None);
        v.task = Some(change(1.0, 1.0, true, Some(8)));
        assert!(!COSINE.judge(&v).passed);
    }

    const COSINE: VerifyPolicy = VerifyPolicy {
        max_accuracy_drop: Some(0.01),
        min_cosine: Some(0.99),
        max_abs: None,
        cosine: CosineOf::PerChannel,
    };

    /// Issue 14: raw cosine 0.9999 with the per-channel one at 0.5 (a detector whose scores
    /// broke) fails the default judge and passes the raw one.
    #[test]
    fn the_default_judge_is_the_per_channel_cosine() {
        let mut o = output(Some(0.9999), 1e-3, 0);
        o.normalized_cosine = Some(0.5);
        let v = verification(o, None);
        let verdict = COSINE.judge(&v);
        assert!(!verdict.passed);
        assert!(
            verdict.failures[0].contains("per-channel cosine 0.5"),
            "{verdict:?}"
        );
        assert!(verdict.judge.contains("per-channel cosine"), "{verdict:?}");
        let raw = VerifyPolicy {
            cosine: CosineOf::Raw,
            ..COSINE
        };
        assert!(raw.judge(&v).passed);
    }

    #[test]
    fn cosine_bound_without_labels() {
        assert!(
            COSINE
                .judge(&verification(output(Some(0.995), 0.1, 0), None))
                .passed
        );
        let v = COSINE.judge(&verification(output(Some(0.98), 0.1, 0), None));
        assert!(!v.passed);
        assert!(v.failures[0].contains("0.980000"), "{:?}", v.failures);
        assert!(v.judge.starts_with("output per-channel cosine"));
    }

    #[test]
    fn accuracy_decides_with_labels() {
        // Cosine 0.5 would fail, but with labels the accuracy drop is the judge: 0.5 points.
        let v = COSINE.judge(&verification(
            output(Some(0.5), 3.0, 0),
            Some((0.97, 0.965)),
        ));
        assert!(v.passed, "{:?}", v.failures);
        assert!(v.judge.starts_with("top-1 accuracy on 200"));
        // Exactly one point, as a count over 200 samples rounds it, still passes.
        let v = COSINE.judge(&verification(output(Some(0.5), 3.0, 0), Some((0.97, 0.96))));
        assert!(v.passed, "{:?}", v.failures);
        let v = COSINE.judge(&verification(
            output(Some(1.0), 0.0, 0),
            Some((0.97, 0.955)),
        ));
        assert!(!v.passed);
        assert!(v.failures[0].contains("1.50 points"), "{:?}", v.failures);
    }

    #[test]
    fn non_finite_and_all_zero_never_match() {
        let none = VerifyPolicy::none();
        let v = none.judge(&verification(output(Some(1.0), 0.0, 3000), None));
        assert!(!v.passed);
        assert!(
            v.failures[0].contains("3000 values are NaN"),
            "{:?}",
            v.failures
        );
        let v = none.judge(&verification(output(None, 0.0, 0), None));
        assert!(!v.passed);
        assert!(v.failures[0].contains("all zeros"), "{:?}", v.failures);
    }

    #[test]
    fn max_abs_bound() {
        let p = VerifyPolicy {
            max_abs: Some(1e-3),
            ..VerifyPolicy::none()
        };
        assert!(
            p.judge(&verification(output(Some(1.0), 1e-4, 0), None))
                .passed
        );
        assert!(
            !p.judge(&verification(output(Some(1.0), 1e-2, 0), None))
                .passed
        );
    }

    #[test]
    fn bounds_are_checked() {
        assert!(COSINE.validate().is_ok());
        let bad = VerifyPolicy {
            max_accuracy_drop: Some(2.0),
            ..VerifyPolicy::none()
        };
        assert!(bad.validate().unwrap_err().contains("max_accuracy_drop"));
    }
}
