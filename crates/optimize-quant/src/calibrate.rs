//! Calibration: stream samples through the model and observe every activation the pass needs.
//!
//! The tensors to observe are added to a copy of the model as extra graph outputs (declared
//! float32, shape left open), so any runtime returns them with the real outputs. Samples are
//! consumed one at a time and only the observers' fixed-size state is kept, so memory is bounded
//! by the model and the histogram size, never by the number of samples.

use crate::config::QuantConfig;
use crate::observer::{observer, Observer, Range};
use crate::{Error, Result};
use optimize_data::Tensor;
use optimize_onnx::proto::tensor_proto::DataType;
use optimize_onnx::proto::type_proto::{Tensor as TensorType, Value as TypeValue};
use optimize_onnx::proto::{ModelProto, TypeProto, ValueInfoProto};
use optimize_runtime::Model as RuntimeModel;
use prost::Message;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// The outcome of calibration: a range for every observed tensor.
#[derive(Debug, Clone, Default)]
pub struct Calibration {
    /// Range of each tensor that saw at least one finite value.
    pub ranges: BTreeMap<String, Range>,
    /// Tensors whose samples held NaN or infinite values, with the count (skipped by observers).
    pub non_finite: BTreeMap<String, u64>,
    /// Tensors that never held a finite value (left unquantized).
    pub empty: Vec<String>,
    /// Samples seen.
    pub samples: usize,
    /// The runtime that ran the model, and why it was chosen.
    pub backend: String,
}

/// Builds a runtime for a model given as serialized bytes, returning it and a description of the
/// back end used (and why, when it fell back).
pub type Loader<'a> = &'a dyn Fn(&[u8]) -> Result<(Box<dyn RuntimeModel>, String)>;

/// A copy of `model` whose graph also outputs `tensors` (those it does not already output).
pub fn with_extra_outputs(model: &ModelProto, tensors: &BTreeSet<String>) -> ModelProto {
    let mut m = model.clone();
    if let Some(g) = m.graph.as_mut() {
        let existing: HashSet<String> = g
            .output
            .iter()
            .chain(&g.input)
            .map(|o| o.name().to_string())
            .collect();
        for t in tensors.iter().filter(|t| !existing.contains(*t)) {
            g.output.push(ValueInfoProto {
                name: Some(t.clone()),
                r#type: Some(TypeProto {
                    value: Some(TypeValue::TensorType(TensorType {
                        elem_type: Some(DataType::Float as i32),
                        shape: None,
                    })),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
    }
    m
}

/// Streams `samples` through `model` (via a runtime that `load` builds from the capture model's
/// bytes), feeding each of `tensors` to an observer chosen by `config.method`. `progress` is
/// called after each sample with the count so far.
pub fn calibrate<I>(
    model: &ModelProto,
    tensors: &BTreeSet<String>,
    samples: I,
    config: &QuantConfig,
    load: Loader<'_>,
    progress: &mut dyn FnMut(usize),
) -> Result<Calibration>
where
    I: Iterator<Item = Result<Vec<(String, Tensor)>>>,
{
    let capture = with_extra_outputs(model, tensors);
    let (runner, backend) = load(&capture.encode_to_vec())?;
    let mut observers: BTreeMap<String, Box<dyn Observer>> = tensors
        .iter()
        .map(|t| {
            (
                t.clone(),
                observer(&config.method, config.symmetric_activations),
            )
        })
        .collect();
    let mut seen = 0;
    for sample in samples {
        let inputs = sample?;
        // Graph inputs are observed straight from the data.
        for (name, t) in &inputs {
            if let Some(o) = observers.get_mut(name) {
                if let Ok(v) = t.to_f32_vec() {
                    o.observe(&v);
                }
            }
        }
        let outputs = runner.run(&inputs).map_err(|e| Error::Calibration {
            detail: format!("sample {seen}: {e}"),
        })?;
        for (name, t) in &outputs {
            if let Some(o) = observers.get_mut(name) {
                let v = t.to_f32_vec().map_err(|e| Error::Calibration {
                    detail: format!("tensor '{name}': {e}"),
                })?;
                o.observe(&v);
            }
        }
        seen += 1;
        progress(seen);
    }
    if seen == 0 {
        return Err(Error::Calibration {
            detail: "the calibration data holds no samples".into(),
        });
    }
    let mut cal = Calibration {
        samples: seen,
        backend,
        ..Default::default()
    };
    for (name, o) in observers {
        if o.non_finite() > 0 {
            cal.non_finite.insert(name.clone(), o.non_finite());
        }
        match o.range() {
            Some(r) => {
                cal.ranges.insert(name, r);
            }
            None => cal.empty.push(name),
        }
    }
    Ok(cal)
}
