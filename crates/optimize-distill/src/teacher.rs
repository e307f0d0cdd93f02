//! Teachers: the model whose outputs the student learns.
//!
//! A [`Teacher`] turns a batch of inputs into logits, and, for a hint loss, also returns one
//! named intermediate activation. Three kinds:
//! - [`OnnxTeacher`]: an ONNX model run by tract or ONNX Runtime through `optimize-runtime`.
//!   A hint names any value in the graph; it is added as an extra graph output.
//! - [`crate::student::Student`]: a candle model from a layer spec with safetensors
//!   weights; a hint names one of its layers.
//! - [`ModuleTeacher`]: any candle [`Module`] (no hints).
//!
//! The trainer runs the teacher once over the transfer set and keeps its logits
//! ([`teacher_logits`]) unless augmentations change the inputs every epoch.
//!
//! ```no_run
//! use candle_core::{Device, Tensor};
//! use optimize_distill::teacher::{OnnxTeacher, Teacher};
//! use optimize_runtime::Backend;
//!
//! let teacher = OnnxTeacher::load("models/digits-mlp.onnx".as_ref(), Backend::Tract, None, None)?;
//! let x = Tensor::zeros((4, 64), candle_core::DType::F32, &Device::Cpu)?;
//! let (logits, _) = teacher.forward_teacher(&x, None)?;
//! assert_eq!(logits.dims(), [4, 10]);
//! # Ok::<(), optimize_distill::Error>(())
//! ```

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use candle_nn::Module;
use optimize_onnx::proto::{type_proto, TypeProto, ValueInfoProto};
use optimize_runtime::{load_model_with, Backend, ModelSource, SessionOptions};
use prost::Message;

use crate::student::Student;
use crate::{Error, Result};

/// A model to learn from.
pub trait Teacher {
    /// Logits `[n, classes]` for inputs `x` `[n, ...]`, and the activation called `hint` if
    /// asked for (an error if the teacher has no such activation).
    fn forward_teacher(&self, x: &Tensor, hint: Option<&str>) -> Result<(Tensor, Option<Tensor>)>;
}

impl<T: Teacher + ?Sized> Teacher for Box<T> {
    fn forward_teacher(&self, x: &Tensor, hint: Option<&str>) -> Result<(Tensor, Option<Tensor>)> {
        (**self).forward_teacher(x, hint)
    }
}

impl<T: Teacher + ?Sized> Teacher for &T {
    fn forward_teacher(&self, x: &Tensor, hint: Option<&str>) -> Result<(Tensor, Option<Tensor>)> {
        (**self).forward_teacher(x, hint)
    }
}

/// Any candle module as a teacher (in evaluation mode; no hints).
#[derive(Debug)]
pub struct ModuleTeacher<M>(pub M);

impl<M: Module> Teacher for ModuleTeacher<M> {
    fn forward_teacher(&self, x: &Tensor, hint: Option<&str>) -> Result<(Tensor, Option<Tensor>)> {
        if let Some(h) = hint {
            return Err(Error::Mismatch(format!(
                "a plain candle module cannot give the hint `{h}`; use a Student teacher"
            )));
        }
        Ok((self.0.forward(&x.detach())?.detach(), None))
    }
}

impl Teacher for Student {
    fn forward_teacher(&self, x: &Tensor, hint: Option<&str>) -> Result<(Tensor, Option<Tensor>)> {
        if let Some(h) = hint {
            if self.layer_shape(h).is_none() {
                return Err(Error::Mismatch(format!(
                    "the teacher has no layer `{h}` for the hint (it has: {})",
                    self.layer_names().join(", ")
                )));
            }
        }
        let (y, h) = self.forward_capture(&x.detach(), false, hint)?;
        Ok((y.detach(), h.map(|h| h.detach())))
    }
}

/// An ONNX teacher run by tract or ONNX Runtime.
pub struct OnnxTeacher {
    model: Box<dyn optimize_runtime::Model>,
    input: String,
    output: String,
    hint: Option<String>,
    path: PathBuf,
    backend: Backend,
}

impl std::fmt::Debug for OnnxTeacher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxTeacher")
            .field("path", &self.path)
            .field("input", &self.input)
            .field("output", &self.output)
            .field("hint", &self.hint)
            .field("backend", &self.backend)
            .finish()
    }
}

/// Largest batch handed to the runtime at once.
const CHUNK: usize = 512;

impl OnnxTeacher {
    /// Loads `path` with `backend`. `output` names the logits (the first output by default);
    /// `hint` names an intermediate value to expose as an extra output.
    pub fn load(
        path: &Path,
        backend: Backend,
        output: Option<&str>,
        hint: Option<&str>,
    ) -> Result<Self> {
        let mut model = optimize_onnx::Model::load(path)?;
        let graph = model.proto.graph.as_mut().ok_or_else(|| {
            Error::Mismatch(format!("{}: the model has no graph", path.display()))
        })?;
        let inits: std::collections::HashSet<&str> =
            graph.initializer.iter().map(|t| t.name()).collect();
        let inputs: Vec<String> = graph
            .input
            .iter()
            .map(|i| i.name().to_string())
            .filter(|n| !inits.contains(n.as_str()))
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(Error::Mismatch(format!(
                "{}: a teacher takes one input; this model takes {} ({})",
                path.display(),
                inputs.len(),
                inputs.join(", ")
            )));
        };
        let outputs: Vec<String> = graph.output.iter().map(|o| o.name().to_string()).collect();
        let output = match output {
            Some(o) if outputs.iter().any(|n| n == o) => o.to_string(),
            Some(o) => {
                return Err(Error::Mismatch(format!(
                    "{}: no output `{o}` (outputs: {})",
                    path.display(),
                    outputs.join(", ")
                )))
            }
            None => outputs.first().cloned().ok_or_else(|| {
                Error::Mismatch(format!("{}: the model has no outputs", path.display()))
            })?,
        };
        if let Some(h) = hint {
            let produced = graph.node.iter().any(|n| n.output.iter().any(|o| o == h));
            if !produced {
                return Err(Error::Mismatch(format!(
                    "{}: no value `{h}` for the hint; node outputs: {}",
                    path.display(),
                    graph
                        .node
                        .iter()
                        .flat_map(|n| n.output.iter().cloned())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if !outputs.iter().any(|o| o == h) {
                graph.output.push(ValueInfoProto {
                    name: Some(h.to_string()),
                    r#type: Some(TypeProto {
                        value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                            elem_type: Some(1),
                            shape: None,
                        })),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
            }
        }
        let bytes = model.proto.encode_to_vec();
        let options = SessionOptions::default();
        let (runtime, _, _) =
            load_model_with(ModelSource::Bytes(&bytes), backend, false, &options)?;
        Ok(OnnxTeacher {
            model: runtime,
            input: input.clone(),
            output,
            hint: hint.map(str::to_string),
            path: path.to_path_buf(),
            backend,
        })
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The back end running it.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn run_chunk(&self, x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let dims = x.dims().to_vec();
        let values = x.flatten_all()?.to_vec1::<f32>()?;
        let input = optimize_data::Tensor::from_f32(dims, values)?;
        let outputs = self.model.run(&[(self.input.clone(), input)])?;
        let get = |name: &str| -> Result<Tensor> {
            let (_, t) = outputs.iter().find(|(n, _)| n == name).ok_or_else(|| {
                Error::Mismatch(format!(
                    "{}: output `{name}` missing from the run",
                    self.path.display()
                ))
            })?;
            let v = t.to_f32_vec().map_err(|_| {
                Error::Mismatch(format!(
                    "{}: output `{name}` is {}, not float32",
                    self.path.display(),
                    t.dtype()
                ))
            })?;
            Ok(Tensor::from_vec(v, t.shape(), &Device::Cpu)?)
        };
        let logits = get(&self.output)?;
        let hint = match &self.hint {
            Some(h) => Some(get(h)?),
            None => None,
        };
        Ok((logits, hint))
    }
}

impl Teacher for OnnxTeacher {
    fn forward_teacher(&self, x: &Tensor, hint: Option<&str>) -> Result<(Tensor, Option<Tensor>)> {
        if hint.is_some() && hint != self.hint.as_deref() {
            return Err(Error::Mismatch(format!(
                "{}: loaded for the hint {:?}, asked for {:?}",
                self.path.display(),
                self.hint,
                hint
            )));
        }
        let n = x.dim(0)?;
        let mut logits = Vec::new();
        let mut hints = Vec::new();
        let mut start = 0;
        while start < n {
            let len = CHUNK.min(n - start);
            let (l, h) = self.run_chunk(&x.narrow(0, start, len)?)?;
            logits.push(l);
            hints.extend(h);
            start += len;
        }
        let logits = Tensor::cat(&logits, 0)?;
        let hint = if hint.is_some() {
            Some(Tensor::cat(&hints, 0)?)
        } else {
            None
        };
        Ok((logits, hint))
    }
}

/// A teacher's logits (and hint) for every sample of `x` (`[n, ...]`), in batches.
pub fn teacher_logits(
    teacher: &dyn Teacher,
    x: &Tensor,
    hint: Option<&str>,
) -> Result<(Tensor, Option<Tensor>)> {
    teacher.forward_teacher(x, hint)
}

/// A candle teacher: the layers of `layers` for samples of shape `input`, with the weights in
/// the safetensors file `weights`.
pub fn candle_teacher(
    layers: &[crate::student::LayerSpec],
    input: &[usize],
    weights: &Path,
) -> Result<Student> {
    let s = Student::new(layers, input, 0, &Device::Cpu)?;
    s.load_weights(weights)?;
    Ok(s)
}
