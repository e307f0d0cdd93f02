//! Verification after writing: the output loads and runs on its runtimes, and its outputs stay
//! close to the original's on held-out samples.
//!
//! ONNX Runtime (CPU) is the target: a quantized model it cannot load or run is an error. tract
//! runs the output too where it supports its operators; when it cannot, that is recorded, not an
//! error. Both are compared against the original model run in ONNX Runtime.

use crate::{Error, Result};
use optimize_bench::{FidelityAccumulator, OutputFidelity};
use optimize_data::{random_tensor, InputSpec, RandomRange, Tensor};
use optimize_runtime::{OrtSession, SessionOptions, TractSession};
use serde::Serialize;
use std::path::Path;

/// The result of verifying one output model.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Samples compared.
    pub samples: usize,
    /// Where they came from: held-out calibration samples, a data file, or seeded random inputs.
    pub source: String,
    /// One entry per runtime tried.
    pub runtimes: Vec<RuntimeCheck>,
    /// Set when outputs could not be compared (the original model does not run on the inputs);
    /// the output was still loaded in ONNX Runtime.
    pub not_compared: Option<String>,
}

/// How the output fared on one runtime.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeCheck {
    /// `onnxruntime-cpu` or `tract`.
    pub runtime: String,
    /// Loaded and ran on every sample.
    pub ok: bool,
    /// Why not, when not.
    pub error: Option<String>,
    /// Output fidelity against the original model (in ONNX Runtime).
    pub outputs: Vec<OutputFidelity>,
}

/// Time after which tract stops taking more samples (it has run at least one).
pub const TRACT_BUDGET: std::time::Duration = std::time::Duration::from_secs(3);
/// Time after which tract verification is given up on, finished or not.
pub const TRACT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// One sample: a tensor per graph input.
pub type Inputs = Vec<(String, Tensor)>;

/// Seeded random inputs for `specs`: symbolic dimensions become 1, floats are uniform in
/// [-1, 1), integers in [0, 10), booleans 0/1. Deterministic in `seed`.
pub fn seeded_samples(specs: &[InputSpec], count: usize, seed: u64) -> Result<Vec<Inputs>> {
    (0..count)
        .map(|s| {
            specs
                .iter()
                .enumerate()
                .map(|(i, spec)| {
                    let shape: Vec<usize> = spec.shape.iter().map(|d| d.unwrap_or(1)).collect();
                    let t = random_tensor(
                        spec.dtype,
                        &shape,
                        seed + (s * 1000 + i) as u64,
                        RandomRange::default_for(spec.dtype),
                    )
                    .map_err(|e| Error::Verification {
                        detail: format!("input '{}': {e}", spec.name),
                    })?;
                    Ok((spec.name.clone(), t))
                })
                .collect()
        })
        .collect()
}

/// Runs `reference` and `candidate` on `samples` and compares, in ONNX Runtime and in tract.
/// Fails only when ONNX Runtime cannot load or run the candidate (or the reference).
pub fn verify(
    reference: &Path,
    candidate: &Path,
    samples: &[Inputs],
    source: &str,
) -> Result<Verification> {
    let opts = SessionOptions::default();
    let fail = |what: &str, e: &dyn std::fmt::Display| Error::Verification {
        detail: format!("{what}: {e}"),
    };
    let original = OrtSession::from_file(reference, &opts)
        .map_err(|e| fail("the original model does not load in ONNX Runtime", &e))?;
    let ort = OrtSession::from_file(candidate, &opts).map_err(|e| {
        fail(
            &format!("{} does not load in ONNX Runtime", candidate.display()),
            &e,
        )
    })?;
    let mut expected = Vec::with_capacity(samples.len());
    for s in samples {
        match original.run(s) {
            Ok(out) => expected.push(out),
            Err(e) => {
                let why = format!(
                    "the original model does not run on {source} ({e}); give inputs it accepts with --verify-data or --calibrate"
                );
                return Ok(Verification {
                    samples: 0,
                    source: source.to_string(),
                    runtimes: vec![RuntimeCheck {
                        runtime: "onnxruntime-cpu".into(),
                        ok: true,
                        error: None,
                        outputs: Vec::new(),
                    }],
                    not_compared: Some(why),
                });
            }
        }
    }

    let mut acc = FidelityAccumulator::default();
    for (s, exp) in samples.iter().zip(&expected) {
        let got = ort.run(s).map_err(|e| {
            fail(
                &format!("{} does not run in ONNX Runtime", candidate.display()),
                &e,
            )
        })?;
        compare(&mut acc, &got, exp)?;
    }
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
    let (path, samples_owned) = (candidate.to_path_buf(), samples.to_vec());
    let expected_owned = expected.clone();
    std::thread::spawn(move || {
        let result = (|| -> std::result::Result<Vec<OutputFidelity>, String> {
            let session = TractSession::from_file(&path, &SessionOptions::default())
                .map_err(|e| e.to_string())?;
            let mut acc = FidelityAccumulator::default();
            let start = std::time::Instant::now();
            for (s, exp) in samples_owned.iter().zip(&expected_owned) {
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
        samples: samples.len(),
        source: source.to_string(),
        runtimes,
        not_compared: None,
    })
}

fn compare(
    acc: &mut FidelityAccumulator,
    got: &[(String, Tensor)],
    expected: &[(String, Tensor)],
) -> Result<()> {
    for (name, reference) in expected {
        let Some((_, candidate)) = got.iter().find(|(n, _)| n == name) else {
            return Err(Error::Verification {
                detail: format!("output '{name}' is missing from the quantized model"),
            });
        };
        acc.add(name, candidate, reference)
            .map_err(|e| Error::Verification {
                detail: e.to_string(),
            })?;
    }
    Ok(())
}
