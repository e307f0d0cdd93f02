//! Exporting a [`Student`] to ONNX (opset 17), built with `optimize-onnx`'s protobuf types.
//!
//! Each layer becomes the ONNX node that computes the same thing in evaluation mode:
//!
//! | layer | ONNX |
//! |---|---|
//! | linear | `Gemm` (`transB = 1`) |
//! | conv2d | `Conv` (`pads`, `strides`) |
//! | batch_norm | `BatchNormalization` (running statistics) |
//! | relu | `Relu` |
//! | gelu | `x · 0.5 · (1 + Erf(x / √2))` (`Gelu` itself is opset 20) |
//! | max_pool2d / avg_pool2d | `MaxPool` / `AveragePool`, `strides = kernel_shape` |
//! | dropout | nothing (the identity at inference) |
//! | flatten | `Flatten` (`axis = 1`) |
//!
//! The graph takes `input: float32 [batch, ...sample shape]` and gives `logits: float32
//! [batch, classes]`; the model is stamped with our producer name and a `metadata_props` entry
//! describing the distillation. [`verify_export`] runs the file in tract and ONNX Runtime and
//! compares it with candle.
//!
//! ```no_run
//! use candle_core::Device;
//! use optimize_distill::export::export_onnx;
//! use optimize_distill::student::{LayerSpec, Student};
//!
//! let s = Student::new(&[LayerSpec::linear(10)], &[64], 0, &Device::Cpu)?;
//! export_onnx(&s, "student.onnx".as_ref(), &[("optimize.distill", "example")])?;
//! # Ok::<(), optimize_distill::Error>(())
//! ```

use std::path::Path;

use candle_core::{Device, Tensor};
use optimize_onnx::build::{attr_float, attr_int, attr_ints, node, tensor_f32, WithAttr};
use optimize_onnx::proto::{
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    ValueInfoProto,
};
use optimize_runtime::{Backend, SessionOptions};

use crate::student::{LayerSpec, Student};
use crate::{Error, Result};

/// The opset of exported students.
pub const OPSET: i64 = 17;
/// The IR version of exported students (ONNX 1.12+, read by every current runtime).
pub const IR_VERSION: i64 = 8;

fn value_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    let dims: Vec<Option<i64>> = dims.iter().map(|d| d.map(|v| v as i64)).collect();
    optimize_onnx::build::value_info_f32(name, &dims)
}

fn initializer(name: &str, t: &Tensor) -> Result<TensorProto> {
    let dims: Vec<i64> = t.dims().iter().map(|&d| d as i64).collect();
    let values = t.flatten_all()?.to_vec1::<f32>()?;
    Ok(tensor_f32(name, &dims, &values))
}

/// The ONNX model of `student` (evaluation mode), with `metadata` as `metadata_props`.
pub fn student_to_onnx(student: &Student, metadata: &[(&str, &str)]) -> Result<ModelProto> {
    let tensors = student.tensors()?;
    let get = |name: &str| -> Result<&Tensor> {
        tensors
            .get(name)
            .ok_or_else(|| Error::Export(format!("the student has no tensor `{name}`")))
    };
    let mut nodes: Vec<NodeProto> = Vec::new();
    let mut inits: Vec<TensorProto> = Vec::new();
    let mut cur = "input".to_string();
    let n_layers = student.specs().len();
    for (i, spec) in student.specs().iter().enumerate() {
        let name = &student.layer_names()[i];
        let out = if i + 1 == n_layers {
            "logits".to_string()
        } else {
            name.clone()
        };
        let param = |p: &str| format!("{name}.{p}");
        match spec {
            LayerSpec::Linear { bias, .. } => {
                inits.push(initializer(&param("weight"), get(&param("weight"))?)?);
                let mut ins = vec![cur.clone(), param("weight")];
                if *bias {
                    inits.push(initializer(&param("bias"), get(&param("bias"))?)?);
                    ins.push(param("bias"));
                }
                let ins: Vec<&str> = ins.iter().map(String::as_str).collect();
                nodes.push(node("Gemm", &ins, &[&out], name).with_attr(attr_int("transB", 1)));
            }
            LayerSpec::Conv2d {
                kernel,
                stride,
                padding,
                bias,
                ..
            } => {
                inits.push(initializer(&param("weight"), get(&param("weight"))?)?);
                let mut ins = vec![cur.clone(), param("weight")];
                if *bias {
                    inits.push(initializer(&param("bias"), get(&param("bias"))?)?);
                    ins.push(param("bias"));
                }
                let ins: Vec<&str> = ins.iter().map(String::as_str).collect();
                let (k, s, p) = (*kernel as i64, *stride as i64, *padding as i64);
                nodes.push(
                    node("Conv", &ins, &[&out], name)
                        .with_attr(attr_ints("kernel_shape", &[k, k]))
                        .with_attr(attr_ints("strides", &[s, s]))
                        .with_attr(attr_ints("pads", &[p, p, p, p])),
                );
            }
            LayerSpec::BatchNorm { eps, .. } => {
                for p in ["weight", "bias", "running_mean", "running_var"] {
                    inits.push(initializer(&param(p), get(&param(p))?)?);
                }
                nodes.push(
                    node(
                        "BatchNormalization",
                        &[
                            &cur,
                            &param("weight"),
                            &param("bias"),
                            &param("running_mean"),
                            &param("running_var"),
                        ],
                        &[&out],
                        name,
                    )
                    .with_attr(attr_float("epsilon", *eps as f32)),
                );
            }
            LayerSpec::Relu { .. } => nodes.push(node("Relu", &[&cur], &[&out], name)),
            LayerSpec::Gelu { .. } => {
                // x · 0.5 · (1 + erf(x / √2)), exactly candle's `gelu_erf`.
                let c = |s: &str| format!("{name}/{s}");
                inits.push(tensor_f32(&c("sqrt2"), &[], &[std::f32::consts::SQRT_2]));
                inits.push(tensor_f32(&c("one"), &[], &[1.0]));
                inits.push(tensor_f32(&c("half"), &[], &[0.5]));
                nodes.push(node(
                    "Div",
                    &[&cur, &c("sqrt2")],
                    &[&c("scaled")],
                    &c("div"),
                ));
                nodes.push(node("Erf", &[&c("scaled")], &[&c("erf")], &c("erf")));
                nodes.push(node(
                    "Add",
                    &[&c("erf"), &c("one")],
                    &[&c("plus1")],
                    &c("add"),
                ));
                nodes.push(node("Mul", &[&cur, &c("plus1")], &[&c("prod")], &c("mul")));
                nodes.push(node(
                    "Mul",
                    &[&c("prod"), &c("half")],
                    &[&out],
                    &c("half_mul"),
                ));
            }
            LayerSpec::MaxPool2d { kernel, .. } | LayerSpec::AvgPool2d { kernel, .. } => {
                let op = if matches!(spec, LayerSpec::MaxPool2d { .. }) {
                    "MaxPool"
                } else {
                    "AveragePool"
                };
                let k = *kernel as i64;
                nodes.push(
                    node(op, &[&cur], &[&out], name)
                        .with_attr(attr_ints("kernel_shape", &[k, k]))
                        .with_attr(attr_ints("strides", &[k, k])),
                );
            }
            LayerSpec::Dropout { .. } => {
                if i + 1 == n_layers {
                    nodes.push(node("Identity", &[&cur], &[&out], name));
                } else {
                    continue;
                }
            }
            LayerSpec::Flatten { .. } => {
                nodes.push(node("Flatten", &[&cur], &[&out], name).with_attr(attr_int("axis", 1)))
            }
        }
        cur = out;
    }
    let mut in_dims = vec![None];
    in_dims.extend(student.input_shape().iter().map(|&d| Some(d)));
    let mut out_dims = vec![None];
    out_dims.extend(student.output_shape().iter().map(|&d| Some(d)));
    let graph = GraphProto {
        name: Some("student".into()),
        node: nodes,
        initializer: inits,
        input: vec![value_info("input", &in_dims)],
        output: vec![value_info("logits", &out_dims)],
        ..Default::default()
    };
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("optimize".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(graph),
        metadata_props: metadata
            .iter()
            .map(|(k, v)| StringStringEntryProto {
                key: Some(k.to_string()),
                value: Some(v.to_string()),
            })
            .collect(),
        ..Default::default()
    })
}

/// Writes `student` to `path` as ONNX (atomically); returns the file size.
pub fn export_onnx(student: &Student, path: &Path, metadata: &[(&str, &str)]) -> Result<u64> {
    let proto = student_to_onnx(student, metadata)?;
    let report = optimize_onnx::save(
        &optimize_onnx::Model::from_proto(proto),
        path,
        &optimize_onnx::SaveOptions::default(),
    )?;
    Ok(report.bytes)
}

/// How far one back end's outputs are from candle's.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Parity {
    /// `tract` or `onnxruntime`.
    pub backend: String,
    /// Largest absolute difference over every logit; `None` when the back end is unavailable.
    pub max_abs_diff: Option<f32>,
    /// Why the back end did not run, if it did not.
    pub skipped: Option<String>,
}

/// The largest difference allowed between the exported model and candle.
pub const PARITY_TOLERANCE: f32 = 1e-4;

/// Runs the ONNX file at `path` on `x` in tract and in ONNX Runtime (when it can be found)
/// and compares with `student` in candle. A back end that runs and differs by more than
/// [`PARITY_TOLERANCE`] is an error; ONNX Runtime missing is reported, not an error.
pub fn verify_export(path: &Path, student: &Student, x: &Tensor) -> Result<Vec<Parity>> {
    let expected = student
        .forward_capture(x, false, None)?
        .0
        .flatten_all()?
        .to_vec1::<f32>()?;
    let input =
        optimize_data::Tensor::from_f32(x.dims().to_vec(), x.flatten_all()?.to_vec1::<f32>()?)?;
    let mut out = Vec::new();
    for backend in [Backend::Tract, Backend::Ort] {
        let model = match backend.load(path.into(), &SessionOptions::default()) {
            Ok(m) => m,
            Err(e) if backend == Backend::Ort => {
                out.push(Parity {
                    backend: backend.name().into(),
                    max_abs_diff: None,
                    skipped: Some(e.to_string()),
                });
                continue;
            }
            Err(e) => {
                return Err(Error::Export(format!(
                    "{} does not load in {backend}: {e}",
                    path.display()
                )))
            }
        };
        let outputs = model
            .run(&[("input".to_string(), input.clone())])
            .map_err(|e| {
                Error::Export(format!("{} does not run in {backend}: {e}", path.display()))
            })?;
        let got = outputs
            .first()
            .map(|(_, t)| t.to_f32_vec())
            .transpose()?
            .unwrap_or_default();
        if got.len() != expected.len() {
            return Err(Error::Export(format!(
                "{backend} gives {} logits, candle {}",
                got.len(),
                expected.len()
            )));
        }
        let diff = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            // f32::max drops NaN; a NaN anywhere must fail the check, not vanish from it.
            .fold(0f32, |m, d| {
                if d.is_nan() || m.is_nan() {
                    f32::NAN
                } else {
                    m.max(d)
                }
            });
        if diff.is_nan() || diff > PARITY_TOLERANCE {
            return Err(Error::Export(format!(
                "{} in {backend} differs from candle by {diff:e} (more than {PARITY_TOLERANCE:e})",
                path.display()
            )));
        }
        out.push(Parity {
            backend: backend.name().into(),
            max_abs_diff: Some(diff),
            skipped: None,
        });
    }
    Ok(out)
}

/// A zero tensor for a student's input with batch `n` (for smoke tests).
pub fn zeros_input(student: &Student, n: usize) -> Result<Tensor> {
    let mut shape = vec![n];
    shape.extend(student.input_shape());
    Ok(Tensor::zeros(shape, candle_core::DType::F32, &Device::Cpu)?)
}
