//! A synthetic runtime for calibration: it "runs" any model by returning, for every graph
//! output, a tensor drawn from the seed.
//!
//! Static quantization calibrates by running the model; fuzzing that through tract or ONNX
//! Runtime would mostly fuzz them (and take milliseconds per sample). This stands in for them
//! so the fuzzer reaches our own code behind the runtime: the capture model, the observers,
//! the range and bias-correction statistics, and the QDQ rewrite. Its outputs are what a real
//! runtime may return: the declared shape or another one from sample to sample, empty and
//! scalar tensors, NaN and infinities, now and then an integer tensor, and now and then an
//! error from loading or running.

use crate::rng::Rng;
use optimize_data::{DType, Tensor};
use optimize_onnx::proto::ModelProto;
use optimize_runtime::{Model as RuntimeModel, TensorInfo};
use prost::Message;
use std::sync::atomic::{AtomicU64, Ordering};

/// Builds [`SyntheticModel`]s; one per fuzz input, seeded by it.
#[derive(Debug, Clone)]
pub struct Synthetic {
    seed: u64,
}

/// A model "loaded" by [`Synthetic`]: its declared inputs and outputs, and a run counter so
/// every call draws fresh values.
#[derive(Debug)]
pub struct SyntheticModel {
    seed: u64,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    runs: AtomicU64,
}

fn info(name: &str) -> TensorInfo {
    TensorInfo {
        name: name.to_string(),
        dtype: Some(DType::F32),
        shape: Vec::new(),
        onnx_type: "tensor(float)".into(),
    }
}

impl Synthetic {
    /// A runtime whose outputs are drawn from `seed`.
    pub fn new(seed: u64) -> Synthetic {
        Synthetic { seed }
    }

    /// Loads a model from its bytes, as [`optimize_quant::calibrate::Loader`] wants; fails
    /// now and then, as a real runtime does on a model it cannot handle.
    pub fn load(&self, bytes: &[u8]) -> optimize_quant::Result<(Box<dyn RuntimeModel>, String)> {
        let mut rng = Rng::for_purpose(self.seed, "runtime-load");
        if rng.chance(0.05) {
            return Err(optimize_quant::Error::Runtime(
                optimize_runtime::Error::Run {
                    message: "synthetic load failure".into(),
                },
            ));
        }
        let proto = ModelProto::decode(bytes).map_err(|e| optimize_quant::Error::Calibration {
            detail: format!("the capture model does not decode: {e}"),
        })?;
        let g = proto.graph.unwrap_or_default();
        let model = SyntheticModel {
            seed: self.seed,
            inputs: g.input.iter().map(|v| info(v.name())).collect(),
            outputs: g.output.iter().map(|v| info(v.name())).collect(),
            runs: AtomicU64::new(0),
        };
        Ok((Box::new(model), "synthetic".into()))
    }
}

impl SyntheticModel {
    fn tensor(&self, output: usize, run: u64) -> optimize_runtime::Result<Tensor> {
        // The shape is fixed per output most of the time, as a real model's is.
        let mut fixed = Rng::for_purpose(self.seed ^ output as u64, "runtime-shape");
        let mut rng = Rng::for_purpose(self.seed ^ (run << 20) ^ output as u64, "runtime-run");
        let stable = |r: &mut Rng| -> Vec<usize> {
            match r.below(6) {
                0 => vec![1, 1 + r.below(8)],
                1 => vec![1, 1 + r.below(4), 1 + r.below(3), 1 + r.below(3)],
                2 => vec![1 + r.below(3), 1 + r.below(5), 1 + r.below(4)],
                3 => vec![1, 1 + r.below(6)],
                4 => vec![1 + r.below(4)],
                _ => vec![1, 4],
            }
        };
        let shape = match rng.below(20) {
            0 => vec![],
            1 => vec![0],
            2 => vec![1, 0, 3],
            3 => stable(&mut rng),
            _ => stable(&mut fixed),
        };
        let count: usize = shape.iter().product();
        let nasty = rng.chance(0.1);
        // A runtime returning another type than declared is rare; once per few hundred runs.
        let dtype = match rng.below(400) {
            0 => DType::I64,
            1 => DType::F16,
            _ => DType::F32,
        };
        let bytes = crate::data::values(dtype, count, &mut rng, nasty);
        Ok(Tensor::from_bytes(dtype, shape, bytes)?)
    }
}

impl RuntimeModel for SyntheticModel {
    fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    fn run(&self, _inputs: &[(String, Tensor)]) -> optimize_runtime::Result<Vec<(String, Tensor)>> {
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        if Rng::for_purpose(self.seed ^ run, "runtime-fail").chance(0.02) {
            return Err(optimize_runtime::Error::Run {
                message: "synthetic run failure".into(),
            });
        }
        self.outputs
            .iter()
            .enumerate()
            .map(|(i, o)| Ok((o.name.clone(), self.tensor(i, run)?)))
            .collect()
    }
}
