//! A student started from an ONNX model: a plain chain of the layers [`LayerSpec`] knows
//! becomes a layer list and the weights to load into it.
//!
//! This is how a pruned or otherwise shrunk model is fine-tuned with its original as the
//! teacher (`optimize prune --recover`, or `[student] onnx = "pruned.onnx"` in a recipe).
//! Which ops can become a student layer is the operator registry's "distill import" column
//! ([`optimize_onnx::ops`]); this module checks, node by node along one path from the graph
//! input to the output, that each node's attributes fit that layer: `Conv` (2-D, square
//! kernel, equal padding on every side, one group, no dilation), `Gemm`, `MatMul` with a
//! constant weight (and an `Add` of a constant bias after it), `BatchNormalization`, `Relu`,
//! `Gelu`, `MaxPool`/`AveragePool` with stride equal to the window and no padding, `Flatten`
//! (axis 1) or a `Reshape` to `[batch, -1]`; `Dropout` and `Identity` are dropped. Anything else
//! is refused with the node named: the student could not reproduce it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use optimize_onnx::build::{attr, attr_f, attr_i, read_f32, read_i64};
use optimize_onnx::ops::{self, Import};
use optimize_onnx::proto::{NodeProto, TensorProto};
use optimize_onnx::Model;

use crate::student::LayerSpec;
use crate::{Error, Result};

/// A student read from an ONNX model.
#[derive(Debug)]
pub struct OnnxStudent {
    /// Its layers, named `<type><index>` as a recipe's unnamed layers are.
    pub layers: Vec<LayerSpec>,
    /// Its weights, by the names [`crate::student::Student`] gives them.
    pub tensors: BTreeMap<String, Tensor>,
    /// The shape of one sample (the graph input without its batch dimension).
    pub input_shape: Vec<usize>,
}

/// Reads the model at `path` as a student; see the module docs for what it accepts.
pub fn student_from_onnx(path: &Path) -> Result<OnnxStudent> {
    let model = Model::load(path)?;
    let fail = |message: String| Error::Import {
        path: path.to_path_buf(),
        message,
    };
    let no_layer = |n: &NodeProto, op: &str| {
        fail(format!(
            "node '{}' ({op}) has no student layer (see `optimize_distill::import` for the ops a student can start from)",
            n.name()
        ))
    };
    let g = model
        .proto
        .graph
        .as_ref()
        .ok_or_else(|| fail("no graph".into()))?;
    let consts: BTreeMap<&str, &TensorProto> =
        g.initializer.iter().map(|t| (t.name(), t)).collect();
    let inputs: Vec<_> = g
        .input
        .iter()
        .filter(|i| !consts.contains_key(i.name()))
        .collect();
    let [input] = inputs.as_slice() else {
        return Err(fail(format!(
            "the student takes one input; this model takes {}",
            inputs.len()
        )));
    };
    let input_shape = sample_shape(input).map_err(&fail)?;
    let mut chain = Chain {
        path: path.to_path_buf(),
        layers: Vec::new(),
        tensors: BTreeMap::new(),
    };
    let mut current = input.name().to_string();
    let mut pending_linear: Option<usize> = None; // a MatMul layer whose bias Add may follow
    for n in &g.node {
        let data = n.input.first().map(String::as_str).unwrap_or_default();
        let on_chain = data == current
            || (n.op_type() == "Add" && n.input.get(1).map(String::as_str) == Some(&current));
        if !on_chain {
            return Err(fail(format!(
                "node '{}' ({}) does not read the previous layer's output: only a plain chain of layers can become a student",
                n.name(),
                n.op_type()
            )));
        }
        let weight = |k: usize| -> Result<(&TensorProto, Vec<f32>)> {
            let t = n
                .input
                .get(k)
                .and_then(|w| consts.get(w.as_str()).copied())
                .ok_or_else(|| {
                    fail(format!(
                        "node '{}' ({}): input {k} is not a constant",
                        n.name(),
                        n.op_type()
                    ))
                })?;
            let v = read_f32(t)
                .ok_or_else(|| fail(format!("'{}' is not a float32 tensor", t.name())))?;
            Ok((t, v))
        };
        let after_matmul = pending_linear.take();
        let import = ops::of(n).map_or(Import::No, |o| o.import);
        match (import, n.op_type()) {
            (Import::No, op) => return Err(no_layer(n, op)),
            (Import::Layer(_), "Conv") => {
                let (w, wv) = weight(1)?;
                let d = dims(w);
                let square = d.len() == 4 && d[2] == d[3];
                let pads = ints(n, "pads");
                let strides = ints(n, "strides");
                let dil = ints(n, "dilations");
                let same = |v: &[i64]| v.windows(2).all(|p| p[0] == p[1]);
                if !square
                    || attr_i(n, "group", 1) != 1
                    || !same(&pads)
                    || !same(&strides)
                    || dil.iter().any(|&x| x != 1)
                    || attr(n, "auto_pad").is_some_and(|a| a.s() != b"NOTSET")
                {
                    return Err(fail(format!(
                        "Conv '{}' is not a square, one-group 2-D convolution with equal padding and stride",
                        n.name()
                    )));
                }
                let bias = n.input.len() > 2 && !n.input[2].is_empty();
                let name = chain.push(LayerSpec::Conv2d {
                    out: d[0],
                    kernel: d[2],
                    stride: strides.first().copied().unwrap_or(1) as usize,
                    padding: pads.first().copied().unwrap_or(0) as usize,
                    bias,
                    name: None,
                });
                chain.put(&format!("{name}.weight"), wv, &d)?;
                if bias {
                    let (_, bv) = weight(2)?;
                    chain.put(&format!("{name}.bias"), bv, &[d[0]])?;
                }
            }
            (Import::Layer(_), "Gemm") => {
                let (w, wv) = weight(1)?;
                let d = dims(w);
                if attr_i(n, "transA", 0) != 0
                    || attr_f(n, "alpha", 1.0) != 1.0
                    || attr_f(n, "beta", 1.0) != 1.0
                    || d.len() != 2
                {
                    return Err(fail(format!(
                        "Gemm '{}' has transA, alpha or beta the student cannot express",
                        n.name()
                    )));
                }
                // Linear stores [out, in]: transB = 1 is that layout already.
                let (out, wv) = if attr_i(n, "transB", 0) == 1 {
                    (d[0], wv)
                } else {
                    (d[1], transpose(&wv, d[0], d[1]))
                };
                let bias = n.input.len() > 2 && !n.input[2].is_empty();
                let name = chain.push(LayerSpec::Linear {
                    out,
                    bias,
                    name: None,
                });
                let ind = wv.len() / out;
                chain.put(&format!("{name}.weight"), wv, &[out, ind])?;
                if bias {
                    let (_, bv) = weight(2)?;
                    if bv.len() != out {
                        return Err(fail(format!(
                            "Gemm '{}': its bias is broadcast, not one value per output",
                            n.name()
                        )));
                    }
                    chain.put(&format!("{name}.bias"), bv, &[out])?;
                }
            }
            (Import::Layer(_), "MatMul") => {
                let (w, wv) = weight(1)?;
                let d = dims(w);
                if d.len() != 2 {
                    return Err(fail(format!(
                        "MatMul '{}': its weight is not 2-D",
                        n.name()
                    )));
                }
                let name = chain.push(LayerSpec::Linear {
                    out: d[1],
                    bias: false,
                    name: None,
                });
                chain.put(
                    &format!("{name}.weight"),
                    transpose(&wv, d[0], d[1]),
                    &[d[1], d[0]],
                )?;
                pending_linear = Some(chain.layers.len() - 1);
            }
            (Import::Bias, _) if after_matmul.is_some() => {
                let k = if data == current { 1 } else { 0 };
                let (_, bv) = weight(k)?;
                let li = after_matmul.expect("checked");
                let LayerSpec::Linear { out, bias, .. } = &mut chain.layers[li] else {
                    unreachable!("pending_linear points at a Linear")
                };
                if bv.len() != *out {
                    return Err(fail(format!(
                        "Add '{}' after a MatMul is not a per-output bias",
                        n.name()
                    )));
                }
                *bias = true;
                let (out, name) = (*out, chain.layers[li].name_at(li));
                chain.put(&format!("{name}.bias"), bv, &[out])?;
            }
            (Import::Layer(_), "BatchNormalization") => {
                let mut parts = Vec::new();
                for k in 1..5 {
                    parts.push(weight(k)?.1);
                }
                let c = parts[0].len();
                // ONNX's momentum weighs the old running value; candle's the new batch.
                let name = chain.push(LayerSpec::BatchNorm {
                    eps: f64::from(attr_f(n, "epsilon", 1e-5)),
                    momentum: 1.0 - f64::from(attr_f(n, "momentum", 0.9)),
                    name: None,
                });
                for (suffix, v) in ["weight", "bias", "running_mean", "running_var"]
                    .into_iter()
                    .zip(parts)
                {
                    chain.put(&format!("{name}.{suffix}"), v, &[c])?;
                }
            }
            (Import::Layer(_), "Relu") => {
                chain.push(LayerSpec::Relu { name: None });
            }
            (Import::Layer(_), "Gelu")
                if attr(n, "approximate").is_none_or(|a| a.s() == b"none") =>
            {
                chain.push(LayerSpec::Gelu { name: None });
            }
            (Import::Layer(_), "MaxPool" | "AveragePool") => {
                let k = ints(n, "kernel_shape");
                let strides = ints(n, "strides");
                let plain = k.len() == 2
                    && k[0] == k[1]
                    && (strides.is_empty() || strides == k)
                    && ints(n, "pads").iter().all(|&p| p == 0)
                    && attr_i(n, "ceil_mode", 0) == 0
                    && ints(n, "dilations").iter().all(|&d| d == 1);
                if !plain {
                    return Err(fail(format!(
                        "{} '{}' is not a square window with stride equal to the window and no padding",
                        n.op_type(),
                        n.name()
                    )));
                }
                let kernel = k[0] as usize;
                chain.push(if n.op_type() == "MaxPool" {
                    LayerSpec::MaxPool2d { kernel, name: None }
                } else {
                    LayerSpec::AvgPool2d { kernel, name: None }
                });
            }
            (Import::Layer(_), "Flatten") if attr_i(n, "axis", 1) == 1 => {
                chain.push(LayerSpec::Flatten { name: None });
            }
            (Import::Layer(_), "Reshape") if is_flatten(n, &consts) => {
                chain.push(LayerSpec::Flatten { name: None });
            }
            (Import::Dropped, _) => {}
            (_, op) => return Err(no_layer(n, op)),
        }
        current = n.output.first().cloned().unwrap_or_default();
    }
    let outputs: Vec<&str> = g.output.iter().map(|o| o.name()).collect();
    if outputs != [current.as_str()] {
        return Err(fail(format!(
            "the chain ends in '{current}', but the model's outputs are {outputs:?}"
        )));
    }
    if chain.layers.is_empty() {
        return Err(fail("the model has no layers".into()));
    }
    Ok(OnnxStudent {
        layers: chain.layers,
        tensors: chain.tensors,
        input_shape,
    })
}

struct Chain {
    path: PathBuf,
    layers: Vec<LayerSpec>,
    tensors: BTreeMap<String, Tensor>,
}

impl Chain {
    /// Appends `layer`; returns its name.
    fn push(&mut self, layer: LayerSpec) -> String {
        let name = layer.name_at(self.layers.len());
        self.layers.push(layer);
        name
    }

    fn put(&mut self, name: &str, values: Vec<f32>, shape: &[usize]) -> Result<()> {
        let t = Tensor::from_vec(values, shape, &Device::Cpu).map_err(|e| Error::Import {
            path: self.path.clone(),
            message: format!("{name}: {e}"),
        })?;
        self.tensors.insert(name.to_string(), t);
        Ok(())
    }
}

fn dims(t: &TensorProto) -> Vec<usize> {
    t.dims.iter().map(|&d| d.max(0) as usize).collect()
}

fn ints(n: &NodeProto, name: &str) -> Vec<i64> {
    attr(n, name).map(|a| a.ints.clone()).unwrap_or_default()
}

fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}

/// A `Reshape` to `[batch, -1]` (`[0, -1]`, `[-1, k]` or `[n, -1]` with a constant shape).
fn is_flatten(n: &NodeProto, consts: &BTreeMap<&str, &TensorProto>) -> bool {
    let shape = n
        .input
        .get(1)
        .and_then(|s| consts.get(s.as_str()))
        .and_then(|t| read_i64(t));
    matches!(shape.as_deref(), Some([_, -1]) | Some([-1, _]))
}

/// The input's dims without the batch dimension; all must be known.
fn sample_shape(
    input: &optimize_onnx::proto::ValueInfoProto,
) -> std::result::Result<Vec<usize>, String> {
    use optimize_onnx::proto::tensor_shape_proto::dimension::Value as Dim;
    use optimize_onnx::proto::type_proto::Value as TypeValue;
    let Some(TypeValue::TensorType(t)) = input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(format!("input '{}' is not a tensor", input.name()));
    };
    let dims = t
        .shape
        .as_ref()
        .map(|s| s.dim.as_slice())
        .unwrap_or_default();
    dims.iter()
        .skip(1)
        .map(|d| match &d.value {
            Some(Dim::DimValue(v)) if *v > 0 => Ok(*v as usize),
            _ => Err(format!(
                "input '{}' has a dimension after the batch that is not a fixed size",
                input.name()
            )),
        })
        .collect()
}
