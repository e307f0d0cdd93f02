//! Verification of a rewritten model (quantized, pruned, ...): it loads and runs on its
//! runtimes, its outputs stay close to the original's, and, with labelled data, how its
//! accuracy compares.
//!
//! ONNX Runtime (CPU) is the target: an output it cannot load or run is an error. tract runs the
//! output too; when it cannot, that is recorded, not an error. Both are compared against the
//! original model run in ONNX Runtime, on evaluation data when given, else on seeded random
//! inputs. With labels (an array `label` in the data), top-1 accuracy of the original and of
//! the output is measured in ONNX Runtime on every sample.

use crate::accuracy::classifier_output;
use crate::task::{DetectionAccumulator, TaskChange, TaskMetric};
use crate::{Accuracy, AccuracyAccumulator, Error, FidelityAccumulator, OutputFidelity, Result};
use optimize_data::{random_tensor, CalibrationSet, DType, InputSpec, RandomRange, Tensor};
use optimize_onnx::inspect::Dim;
use optimize_onnx::Model;
use optimize_runtime::{OrtSession, SessionOptions, TractSession};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// One sample: a tensor per graph input.
pub type Inputs = Vec<(String, Tensor)>;

/// The result of verifying one output model.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Samples compared.
    pub samples: usize,
    /// Where they came from: held-out calibration samples, a data file, or seeded random inputs.
    pub source: String,
    /// One entry per runtime tried.
    pub runtimes: Vec<RuntimeCheck>,
    /// Set when outputs could not be compared (the original does not run on the inputs); the
    /// output was still loaded in ONNX Runtime.
    pub not_compared: Option<String>,
    /// Top-1 accuracy before and after, in ONNX Runtime, when the data holds labels.
    pub accuracy: Option<AccuracyChange>,
    /// The user's task metric before and after, when one was given.
    pub task: Option<TaskChange>,
}

/// How the output fared on one runtime.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeCheck {
    /// `onnxruntime-cpu` or `tract`.
    pub runtime: String,
    /// Loaded and ran on every sample it was given.
    pub ok: bool,
    /// Why not, when not.
    pub error: Option<String>,
    /// Output fidelity against the original model (in ONNX Runtime).
    pub outputs: Vec<OutputFidelity>,
}

/// Top-1 accuracy of the original and the output on the same labelled data.
#[derive(Debug, Clone, Serialize)]
pub struct AccuracyChange {
    /// The original model.
    pub before: Accuracy,
    /// The output model.
    pub after: Accuracy,
}

/// Samples to verify on, and their labels when the data has them.
#[derive(Debug, Clone, Default)]
pub struct VerifyData {
    /// The samples, one tensor per graph input each.
    pub samples: Vec<Inputs>,
    /// One label per sample, from the data's `label` array.
    pub labels: Option<Vec<i64>>,
    /// Where the samples came from, in words.
    pub source: String,
}

/// Time after which tract stops taking more samples (it has run at least one).
pub const TRACT_BUDGET: Duration = Duration::from_secs(3);
/// Time after which tract verification is given up on, finished or not.
pub const TRACT_DEADLINE: Duration = Duration::from_secs(10);

/// The graph inputs of `model` (initializers listed as inputs in old IR versions excluded),
/// with symbolic dimensions as `None`.
pub fn input_specs(model: &Model) -> Vec<InputSpec> {
    optimize_onnx::Summary::of(model, None)
        .inputs
        .iter()
        .filter_map(|v| {
            let dtype: DType = v.dtype.parse().ok()?;
            let shape = v
                .shape
                .as_ref()?
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) if *n >= 0 => Some(*n as usize),
                    _ => None,
                })
                .collect::<Vec<_>>();
            Some(InputSpec::new(v.name.clone(), dtype, shape))
        })
        .collect()
}

/// `count` seeded random samples for `specs`: an input named in `shapes` gets that whole shape,
/// other symbolic dimensions become 1; floats are uniform in [-1, 1), integers in [0, 10).
/// Deterministic in `seed`.
pub fn seeded_samples(
    specs: &[InputSpec],
    shapes: &BTreeMap<String, Vec<usize>>,
    count: usize,
    seed: u64,
) -> Result<VerifyData> {
    let samples = (0..count)
        .map(|s| {
            specs
                .iter()
                .enumerate()
                .map(|(i, spec)| {
                    let shape: Vec<usize> = match shapes.get(&spec.name) {
                        Some(shape) => shape.clone(),
                        None => spec.shape.iter().map(|d| d.unwrap_or(1)).collect(),
                    };
                    let t = random_tensor(
                        spec.dtype,
                        &shape,
                        seed + (s * 1000 + i) as u64,
                        RandomRange::default_for(spec.dtype),
                    )
                    .map_err(|e| Error::Verify(format!("input '{}': {e}", spec.name)))?;
                    Ok((spec.name.clone(), t))
                })
                .collect::<Result<Inputs>>()
        })
        .collect::<Result<Vec<_>>>()?;
    let shapes: Vec<String> = samples
        .first()
        .map(|s| {
            s.iter()
                .map(|(n, t)| format!("{n} {:?}", t.shape()))
                .collect()
        })
        .unwrap_or_default();
    Ok(VerifyData {
        samples,
        labels: None,
        source: format!(
            "{count} seeded random inputs (seed {seed}; {})",
            shapes.join(", ")
        ),
    })
}

/// `count` seeded samples shaped like `data`'s first sample, each float input uniform between
/// the smallest and largest value that input takes anywhere in `data` (so every element can sit
/// at the extremes that real samples only reach here and there); other inputs are taken from
/// `data` in turn. Deterministic in `seed`; `None` when `data` is empty.
pub fn spread_like(data: &VerifyData, count: usize, seed: u64) -> Result<Option<VerifyData>> {
    let Some(first) = data.samples.first() else {
        return Ok(None);
    };
    let mut ranges = Vec::with_capacity(first.len());
    for (i, (name, t)) in first.iter().enumerate() {
        if !t.dtype().is_float() {
            ranges.push(None);
            continue;
        }
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for s in &data.samples {
            for v in s[i].1.to_f64_lossy() {
                if v.is_finite() {
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
        }
        if lo > hi {
            return Err(Error::Verify(format!(
                "input '{name}' holds no finite value"
            )));
        }
        ranges.push(Some((lo, hi)));
    }
    let mut samples = Vec::with_capacity(count);
    for k in 0..count {
        let mut sample = Vec::with_capacity(first.len());
        for (i, (name, t)) in first.iter().enumerate() {
            let tensor = match ranges[i] {
                Some((lo, hi)) => random_tensor(
                    t.dtype(),
                    t.shape(),
                    seed + (k * 1000 + i) as u64,
                    RandomRange::Float {
                        low: lo,
                        high: if hi > lo {
                            hi
                        } else {
                            lo + f64::EPSILON.max(lo.abs() * 1e-6)
                        },
                    },
                )
                .map_err(|e| Error::Verify(format!("input '{name}': {e}")))?,
                None => data.samples[k % data.samples.len()][i].1.clone(),
            };
            sample.push((name.clone(), tensor));
        }
        samples.push(sample);
    }
    let words: Vec<String> = first
        .iter()
        .zip(&ranges)
        .filter_map(|((n, _), r)| r.map(|(lo, hi)| format!("{n} in [{lo:.4}, {hi:.4}]")))
        .collect();
    Ok(Some(VerifyData {
        samples,
        labels: None,
        source: format!(
            "{count} seeded inputs spread like {} (seed {seed}; {})",
            data.source,
            words.join(", ")
        ),
    }))
}

/// Up to `max` samples of the data at `path` (arrays named after the inputs, first axis =
/// samples), with its labels when it has a `label` array.
pub fn data_samples(path: &Path, specs: &[InputSpec], max: usize) -> Result<VerifyData> {
    let set = CalibrationSet::open(path, specs)?;
    let n = set.len().min(max);
    let samples = set
        .iter_range(0..n)
        .map(|s| s.map(|s| s.inputs))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let labels = crate::accuracy::labels_of(&set, path)?.map(|all| all[..n].to_vec());
    Ok(VerifyData {
        source: format!("{n} samples of {}", path.display()),
        samples,
        labels,
    })
}

/// Runs `reference` and `candidate` on `data` and compares, in ONNX Runtime and in tract; with
/// labels, scores both; with a `task` metric, measures it on both. Fails only when ONNX Runtime
/// cannot load or run the candidate, or the task metric cannot be measured; whether the numbers
/// are good enough is a [`crate::policy::VerifyPolicy`]'s call. When the original does not run
/// on the data, nothing is compared and the reason says so. Errors call the candidate "the
/// rewritten model": it may be a staged file whose name means nothing to a user.
pub fn verify(
    reference: &Path,
    candidate: &Path,
    data: &VerifyData,
    task: Option<&TaskMetric>,
) -> Result<Verification> {
    let opts = SessionOptions::default();
    let fail = |what: String, e: &dyn std::fmt::Display| Error::Verify(format!("{what}: {e}"));
    let original = OrtSession::from_file(reference, &opts).map_err(|e| {
        fail(
            "the original model does not load in ONNX Runtime".into(),
            &e,
        )
    })?;
    let ort = OrtSession::from_file(candidate, &opts).map_err(|e| {
        fail(
            "the rewritten model does not load in ONNX Runtime".to_string(),
            &e,
        )
    })?;
    let mut expected = Vec::with_capacity(data.samples.len());
    for s in &data.samples {
        match original.run(s) {
            Ok(out) => expected.push(out),
            Err(e) => {
                return Ok(Verification {
                    samples: 0,
                    source: data.source.clone(),
                    runtimes: vec![RuntimeCheck {
                        runtime: "onnxruntime-cpu".into(),
                        ok: true,
                        error: None,
                        outputs: Vec::new(),
                    }],
                    not_compared: Some(format!(
                        "the original model does not run on {} ({e}); give inputs it accepts",
                        data.source
                    )),
                    accuracy: None,
                    task: None,
                })
            }
        }
    }

    let mut acc = FidelityAccumulator::default();
    let mut got_all = Vec::with_capacity(data.samples.len());
    for (s, exp) in data.samples.iter().zip(&expected) {
        let got = ort.run(s).map_err(|e| {
            fail(
                "the rewritten model does not run in ONNX Runtime".to_string(),
                &e,
            )
        })?;
        compare(&mut acc, &got, exp)?;
        got_all.push(got);
    }
    let accuracy = match &data.labels {
        Some(labels) => Some(AccuracyChange {
            before: score(&expected, labels, &data.source)?,
            after: score(&got_all, labels, &data.source)?,
        }),
        None => None,
    };
    let task = match task {
        None => None,
        Some(metric @ TaskMetric::Detection(layout)) => {
            let mut acc = DetectionAccumulator::new(layout.clone());
            for (exp, got) in expected.iter().zip(&got_all) {
                acc.add(exp, got)?;
            }
            Some(TaskChange {
                judge: metric.describe(),
                before: 1.0,
                after: acc.counts().f1().unwrap_or(f64::NAN),
                higher_is_better: true,
                samples: Some(acc.samples()),
                detections: Some(acc.counts()),
            })
        }
        Some(metric @ TaskMetric::Command(c)) => Some(TaskChange {
            judge: metric.describe(),
            before: c.measure(reference)?,
            after: c.measure(candidate)?,
            higher_is_better: c.higher_is_better,
            samples: None,
            detections: None,
        }),
    };
    let mut runtimes = vec![RuntimeCheck {
        runtime: "onnxruntime-cpu".into(),
        ok: true,
        error: None,
        outputs: acc.finish(),
    }];

    // tract is the second opinion, not the target: it runs on its own thread and is given up
    // on after TRACT_DEADLINE (fp16 convolutions have no fast kernels there and can take
    // minutes); once it has run one sample it stops taking more after TRACT_BUDGET.
    let (tx, rx) = std::sync::mpsc::channel();
    let (path, samples) = (candidate.to_path_buf(), data.samples.clone());
    let expected_owned = expected.clone();
    std::thread::spawn(move || {
        let result = (|| -> std::result::Result<Vec<OutputFidelity>, String> {
            let session = TractSession::from_file(&path, &SessionOptions::default())
                .map_err(|e| e.to_string())?;
            let mut acc = FidelityAccumulator::default();
            let start = Instant::now();
            for (s, exp) in samples.iter().zip(&expected_owned) {
                let got = session.run(s).map_err(|e| e.to_string())?;
                compare(&mut acc, &got, exp).map_err(|e| e.to_string())?;
                if start.elapsed() > TRACT_BUDGET {
                    break;
                }
            }
            Ok(acc.finish())
        })();
        let _ = tx.send(result);
    });
    let tract = rx.recv_timeout(TRACT_DEADLINE).unwrap_or_else(|_| {
        Err(format!(
            "gave up after {} s without a result (tract lacks fast kernels for some op of this model)",
            TRACT_DEADLINE.as_secs()
        ))
    });
    runtimes.push(match tract {
        Ok(outputs) => RuntimeCheck {
            runtime: "tract".into(),
            ok: true,
            error: None,
            outputs,
        },
        Err(e) => RuntimeCheck {
            runtime: "tract".into(),
            ok: false,
            error: Some(e),
            outputs: Vec::new(),
        },
    });
    Ok(Verification {
        samples: data.samples.len(),
        source: data.source.clone(),
        runtimes,
        not_compared: None,
        accuracy,
        task,
    })
}

fn score(outputs: &[Inputs], labels: &[i64], source: &str) -> Result<Accuracy> {
    let mut acc: Option<AccuracyAccumulator> = None;
    for (out, label) in outputs.iter().zip(labels) {
        let Some(ix) = classifier_output(out) else {
            return Err(Error::Eval(format!(
                "the data has labels, but no output of the model is class scores [batch, classes]: {}",
                out.iter()
                    .map(|(n, t)| format!("{n} {:?}", t.shape()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let (name, scores) = &out[ix];
        let acc = acc.get_or_insert_with(|| AccuracyAccumulator::new(name.clone()));
        let rows = scores.shape().first().copied().unwrap_or(1);
        acc.add(scores, &vec![*label; rows])?;
    }
    Ok(acc.map_or_else(
        || AccuracyAccumulator::new("").finish(source),
        |a| a.finish(source),
    ))
}

fn compare(
    acc: &mut FidelityAccumulator,
    got: &[(String, Tensor)],
    expected: &Inputs,
) -> Result<()> {
    for (name, reference) in expected {
        let Some((_, candidate)) = got.iter().find(|(n, _)| n == name) else {
            return Err(Error::Verify(format!(
                "output '{name}' is missing from the rewritten model"
            )));
        };
        acc.add(name, candidate, reference)
            .map_err(|e| Error::Verify(e.to_string()))?;
    }
    Ok(())
}
