//! Latency before and after a pass: the original and its rewrite timed with the same settings
//! on the same inputs, per back end ([`before_after`]). Passes put the result in their reports.

use crate::{Bench, Engine};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// How a pass's job times the original and its output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LatencyOptions {
    /// Measure at all (default true): before/after is measured, never assumed.
    pub enabled: bool,
    /// Back ends, in order (default ONNX Runtime, then tract).
    pub engines: Vec<Engine>,
    /// Intra-op threads; unset, each back end's own choice.
    pub threads: Option<usize>,
    /// Untimed calls first (default 5: enough for ONNX Runtime's first-call allocations).
    pub warmup: usize,
    /// Fewest timed calls (default 50).
    pub iterations: usize,
    /// Least total time of the timed calls (default 300 ms: a median over that steadies to a
    /// few percent on models of microseconds to milliseconds, and keeps a pass's report quick).
    #[serde(with = "humantime_serde")]
    pub min_duration: Duration,
}

impl Default for LatencyOptions {
    fn default() -> Self {
        LatencyOptions {
            enabled: true,
            engines: vec![Engine::Ort, Engine::Tract],
            threads: None,
            warmup: 5,
            iterations: 50,
            min_duration: Duration::from_millis(300),
        }
    }
}

/// Median latency of the original and the output on one back end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyChange {
    /// `ort` or `tract`.
    pub runtime: String,
    /// Median latency of the original, ms.
    pub before_ms: f64,
    /// Median latency of the output, ms.
    pub after_ms: f64,
    /// `before / after`: above 1 is faster.
    pub speedup: f64,
    /// The inputs timed on.
    pub inputs: String,
}

/// A pass job's before/after timing of (original, candidate): measured (as the phase `latency`) only when `options` ask
/// for it and the candidate was `accepted` (a rejected model is not worth timing); otherwise
/// nothing, and why not.
pub fn for_job(
    (original, candidate): (&Path, &Path),
    options: &LatencyOptions,
    accepted: bool,
    eval: Option<&Path>,
    shapes: &BTreeMap<String, Vec<usize>>,
    progress: &mut dyn optimize_job::Progress,
    phases: &mut optimize_job::Phases,
) -> (Vec<LatencyChange>, Option<String>) {
    if !options.enabled {
        return (Vec::new(), Some("not asked for".to_string()));
    }
    if !accepted {
        return (Vec::new(), Some("the output was rejected".to_string()));
    }
    progress.phase("latency", None);
    let r = before_after(original, candidate, options, eval, shapes);
    phases.lap("latency");
    r
}

/// Times `original` and `candidate` on each back end of `options`, on `eval` data when given,
/// else on seeded inputs with `shapes` for symbolic axes. Returns the changes measured and, when
/// a back end could not time one of them, why (the others are still measured).
pub fn before_after(
    original: &Path,
    candidate: &Path,
    options: &LatencyOptions,
    eval: Option<&Path>,
    shapes: &BTreeMap<String, Vec<usize>>,
) -> (Vec<LatencyChange>, Option<String>) {
    let mut changes = Vec::new();
    let mut problems = Vec::new();
    for &engine in &options.engines {
        let bench = |model: &Path| {
            let mut b = Bench::new(model)
                .backend(engine)
                .warmup(options.warmup)
                .iterations(options.iterations)
                .min_duration(options.min_duration);
            if let Some(t) = options.threads {
                b = b.threads(t);
            }
            match eval {
                Some(data) => b = b.eval(data),
                None => {
                    for (name, shape) in shapes {
                        b = b.shape(name.clone(), shape.clone());
                    }
                }
            }
            b.run()
        };
        match (bench(original), bench(candidate)) {
            (Ok(a), Ok(b)) => changes.push(LatencyChange {
                runtime: engine.name().to_string(),
                before_ms: a.latency.p50_ms,
                after_ms: b.latency.p50_ms,
                speedup: a.latency.p50_ms / b.latency.p50_ms.max(1e-9),
                inputs: b.input_source.clone(),
            }),
            (Err(e), _) | (_, Err(e)) => problems.push(format!("{}: {}", engine.name(), e)),
        }
    }
    let skipped = (!problems.is_empty()).then(|| problems.join("; "));
    (changes, skipped)
}
