//! Models built from a small layer spec: linear, conv2d, batch-norm, relu/gelu, max/average
//! pooling, dropout, flatten — enough for the MLPs and CNNs students usually are.
//!
//! A [`Student`] is a candle [`ModuleT`]: `forward_t(x, train)` runs dropout and batch
//! statistics only when `train` is true. Its weights live in a [`VarMap`] under the layer
//! names (`fc1.weight`, `conv1.bias`, `bn1.running_mean`), so they save as safetensors and load
//! back with [`Student::load_weights`].
//!
//! Two things differ from calling candle's layers directly, both on purpose:
//! - Initial weights are drawn from our seeded generator (PyTorch's default, uniform in
//!   `±1/sqrt(fan_in)`), because candle's CPU random numbers cannot be seeded; the same seed
//!   gives the same bytes on every run. Dropout masks come from the same kind of generator,
//!   reseeded per batch ([`Student::reseed`]).
//! - Pooling is a reshape and a max (or mean) over the window axes: candle 0.11's
//!   `max_pool2d` backward pass multiplies the gradient by the share of maxima in the window
//!   instead of dividing by it (a quarter of the true gradient for a 2x2 window). Pooling
//!   windows therefore do not overlap (`stride = kernel`); rows and columns that do not fill a
//!   window are dropped, as ONNX's `MaxPool` does with `ceil_mode = 0`.
//!
//! ```
//! use candle_core::{Device, Tensor, ModuleT};
//! use optimize_distill::student::{LayerSpec, Student};
//!
//! let layers: Vec<LayerSpec> = vec![
//!     LayerSpec::linear(16), LayerSpec::relu(), LayerSpec::linear(10),
//! ];
//! let student = Student::new(&layers, &[64], 0, &Device::Cpu)?;
//! assert_eq!(student.output_shape(), [10]);
//! let x = Tensor::zeros((2, 64), candle_core::DType::F32, &Device::Cpu)?;
//! assert_eq!(student.forward_t(&x, false)?.dims(), [2, 10]);
//! # Ok::<(), optimize_distill::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use candle_core::{DType, Device, ModuleT, Tensor, Var};
use candle_nn::{Module, VarBuilder, VarMap};
use optimize_data::SplitMix64;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One layer of a spec, as a recipe writes it: `{ type = "conv2d", out = 8, kernel = 3,
/// padding = 1 }`. `name` is optional; layers are named `<type><index>` by default
/// (`linear0`, `relu1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    /// Fully connected: `y = x Wᵀ + b`, input `[n, in]`.
    Linear {
        /// Output features.
        out: usize,
        /// Whether there is a bias.
        #[serde(default = "yes")]
        bias: bool,
        /// The layer's name.
        #[serde(default)]
        name: Option<String>,
    },
    /// 2-D convolution, input `[n, c, h, w]`.
    Conv2d {
        /// Output channels.
        out: usize,
        /// Square kernel size.
        kernel: usize,
        /// Stride.
        #[serde(default = "one")]
        stride: usize,
        /// Zero padding on every side.
        #[serde(default)]
        padding: usize,
        /// Whether there is a bias.
        #[serde(default = "yes")]
        bias: bool,
        /// The layer's name.
        #[serde(default)]
        name: Option<String>,
    },
    /// Batch normalisation over axis 1 (features or channels).
    BatchNorm {
        /// Added to the variance.
        #[serde(default = "default_eps")]
        eps: f64,
        /// Weight of the current batch in the running statistics.
        #[serde(default = "default_momentum")]
        momentum: f64,
        /// The layer's name.
        #[serde(default)]
        name: Option<String>,
    },
    /// `max(x, 0)`.
    Relu {
        /// The layer's name.
        #[serde(default)]
        name: Option<String>,
    },
    /// GELU, the exact form `x/2 (1 + erf(x/√2))`.
    Gelu {
        /// The layer's name.
        #[serde(default)]
        name: Option<String>,
    },
    /// Max pooling over non-overlapping square windows.
    MaxPool2d {
        /// Window size (and stride).
        kernel: usize,
        /// The layer's name.
        #[serde(default)]
        name: Option<String>,
    },
    /// Average pooling over non-overlapping square windows.
    AvgPool2d {
        /// Window size (and stride).
        kernel: usize,
        /// The layer's name.
        #[serde(default)]
        name: Option<String>,
    },
    /// Zeroes each value with probability `p` while training (scaling the rest by
    /// `1/(1-p)`); the identity otherwise.
    Dropout {
        /// Drop probability, in `[0, 1)`.
        p: f32,
        /// The layer's name.
        #[serde(default)]
        name: Option<String>,
    },
    /// `[n, d1, d2, ...] -> [n, d1*d2*...]`.
    Flatten {
        /// The layer's name.
        #[serde(default)]
        name: Option<String>,
    },
}

fn yes() -> bool {
    true
}
fn one() -> usize {
    1
}
fn default_eps() -> f64 {
    1e-5
}
fn default_momentum() -> f64 {
    0.1
}

impl LayerSpec {
    /// A linear layer with bias.
    pub fn linear(out: usize) -> Self {
        LayerSpec::Linear {
            out,
            bias: true,
            name: None,
        }
    }

    /// A convolution with bias and stride 1.
    pub fn conv2d(out: usize, kernel: usize, padding: usize) -> Self {
        LayerSpec::Conv2d {
            out,
            kernel,
            stride: 1,
            padding,
            bias: true,
            name: None,
        }
    }

    /// A ReLU.
    pub fn relu() -> Self {
        LayerSpec::Relu { name: None }
    }

    /// A max pool.
    pub fn max_pool2d(kernel: usize) -> Self {
        LayerSpec::MaxPool2d { kernel, name: None }
    }

    /// A flatten.
    pub fn flatten() -> Self {
        LayerSpec::Flatten { name: None }
    }

    /// The recipe's type name (`conv2d`).
    pub fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Linear { .. } => "linear",
            LayerSpec::Conv2d { .. } => "conv2d",
            LayerSpec::BatchNorm { .. } => "batch_norm",
            LayerSpec::Relu { .. } => "relu",
            LayerSpec::Gelu { .. } => "gelu",
            LayerSpec::MaxPool2d { .. } => "max_pool2d",
            LayerSpec::AvgPool2d { .. } => "avg_pool2d",
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::Flatten { .. } => "flatten",
        }
    }

    fn given_name(&self) -> Option<&str> {
        match self {
            LayerSpec::Linear { name, .. }
            | LayerSpec::Conv2d { name, .. }
            | LayerSpec::BatchNorm { name, .. }
            | LayerSpec::Relu { name }
            | LayerSpec::Gelu { name }
            | LayerSpec::MaxPool2d { name, .. }
            | LayerSpec::AvgPool2d { name, .. }
            | LayerSpec::Dropout { name, .. }
            | LayerSpec::Flatten { name } => name.as_deref(),
        }
    }

    /// The layer's name: its `name`, or `<type><index>`.
    pub fn name_at(&self, index: usize) -> String {
        self.given_name()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}{index}", self.kind()))
    }
}

/// A built layer.
#[derive(Debug)]
pub(crate) enum Layer {
    Linear(candle_nn::Linear),
    Conv2d(candle_nn::Conv2d),
    BatchNorm(candle_nn::BatchNorm),
    Relu,
    Gelu,
    MaxPool(usize),
    AvgPool(usize),
    Dropout(f32),
    Flatten,
}

/// A model built from a layer spec; see the [module doc](self).
pub struct Student {
    pub(crate) layers: Vec<Layer>,
    pub(crate) names: Vec<String>,
    pub(crate) specs: Vec<LayerSpec>,
    /// Output shape of each layer, per sample.
    pub(crate) shapes: Vec<Vec<usize>>,
    input_shape: Vec<usize>,
    varmap: VarMap,
    /// Names of the trainable parameters (running statistics excluded), sorted.
    trainable: Vec<String>,
    dropout_rng: Mutex<SplitMix64>,
}

impl std::fmt::Debug for Student {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Student")
            .field("layers", &self.names)
            .field("input_shape", &self.input_shape)
            .field("output_shape", &self.output_shape())
            .finish()
    }
}

/// The per-sample output shape of `spec` on `input`, or why the layer does not fit.
fn layer_output(spec: &LayerSpec, input: &[usize]) -> std::result::Result<Vec<usize>, String> {
    Ok(match spec {
        LayerSpec::Linear { out, .. } => {
            if input.len() != 1 {
                return Err(format!(
                    "takes [features] per sample, gets {input:?}; add a flatten before it"
                ));
            }
            vec![*out]
        }
        LayerSpec::Conv2d {
            out,
            kernel,
            stride,
            padding,
            ..
        } => {
            let [_, h, w] = input else {
                return Err(format!(
                    "takes [channels, height, width] per sample, gets {input:?}; set data.shape"
                ));
            };
            if *kernel == 0 || *stride == 0 || *out == 0 {
                return Err("kernel, stride and out must be at least 1".into());
            }
            let dim = |d: usize| {
                (d + 2 * padding)
                    .checked_sub(*kernel)
                    .map(|v| v / stride + 1)
            };
            match (dim(*h), dim(*w)) {
                (Some(oh), Some(ow)) => vec![*out, oh, ow],
                _ => {
                    return Err(format!(
                        "kernel {kernel} is larger than the padded input {input:?}"
                    ))
                }
            }
        }
        LayerSpec::BatchNorm { eps, momentum, .. } => {
            if input.is_empty() {
                return Err("needs a feature or channel axis".into());
            }
            if eps.is_nan() || *eps <= 0.0 || !(0.0..=1.0).contains(momentum) {
                return Err("eps must be above 0 and momentum in [0, 1]".into());
            }
            input.to_vec()
        }
        LayerSpec::MaxPool2d { kernel, .. } | LayerSpec::AvgPool2d { kernel, .. } => {
            let [c, h, w] = input else {
                return Err(format!(
                    "takes [channels, height, width] per sample, gets {input:?}"
                ));
            };
            if *kernel == 0 || h / kernel == 0 || w / kernel == 0 {
                return Err(format!("window {kernel} does not fit the input {input:?}"));
            }
            vec![*c, h / kernel, w / kernel]
        }
        LayerSpec::Dropout { p, .. } => {
            if !(0.0..1.0).contains(p) {
                return Err(format!("p = {p} is not in [0, 1)"));
            }
            input.to_vec()
        }
        LayerSpec::Flatten { .. } => vec![input.iter().product()],
        LayerSpec::Relu { .. } | LayerSpec::Gelu { .. } => input.to_vec(),
    })
}

/// The per-layer output shapes of a spec on `input` (per sample), checking every layer fits.
pub fn infer_shapes(layers: &[LayerSpec], input: &[usize]) -> Result<Vec<Vec<usize>>> {
    let mut shapes = Vec::with_capacity(layers.len());
    let mut cur = input.to_vec();
    let mut seen = std::collections::BTreeSet::new();
    for (i, spec) in layers.iter().enumerate() {
        let name = spec.name_at(i);
        if !seen.insert(name.clone()) {
            return Err(Error::Shape(format!(
                "layer {i}: the name `{name}` is used twice"
            )));
        }
        cur = layer_output(spec, &cur)
            .map_err(|m| Error::Shape(format!("layer {i} ({name}, {}): {m}", spec.kind())))?;
        shapes.push(cur.clone());
    }
    Ok(shapes)
}

/// A parameter's initial values: PyTorch's default, uniform in `±1/sqrt(fan_in)`.
fn uniform(rng: &mut SplitMix64, n: usize, fan_in: usize) -> Vec<f32> {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    (0..n)
        .map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32)
        .collect()
}

impl Student {
    /// Builds the layers for samples of shape `input` (no batch axis), with weights drawn from
    /// `seed`.
    pub fn new(layers: &[LayerSpec], input: &[usize], seed: u64, device: &Device) -> Result<Self> {
        let shapes = infer_shapes(layers, input)?;
        let varmap = VarMap::new();
        let mut rng = SplitMix64::new(seed);
        let mut trainable = Vec::new();
        // Draw every parameter in layer order so the bytes depend on the seed alone.
        {
            let mut data = varmap
                .data()
                .lock()
                .map_err(|_| Error::Shape("weights lock poisoned".into()))?;
            let mut put =
                |name: String, shape: Vec<usize>, values: Vec<f32>, train: bool| -> Result<()> {
                    let t = Tensor::from_vec(values, shape, device)?;
                    if train {
                        trainable.push(name.clone());
                    }
                    data.insert(name, Var::from_tensor(&t)?);
                    Ok(())
                };
            let mut cur = input.to_vec();
            for (i, spec) in layers.iter().enumerate() {
                let name = spec.name_at(i);
                match spec {
                    LayerSpec::Linear { out, bias, .. } => {
                        let fan_in = cur[0];
                        put(
                            format!("{name}.weight"),
                            vec![*out, fan_in],
                            uniform(&mut rng, out * fan_in, fan_in),
                            true,
                        )?;
                        if *bias {
                            put(
                                format!("{name}.bias"),
                                vec![*out],
                                uniform(&mut rng, *out, fan_in),
                                true,
                            )?;
                        }
                    }
                    LayerSpec::Conv2d {
                        out, kernel, bias, ..
                    } => {
                        let cin = cur[0];
                        let fan_in = cin * kernel * kernel;
                        put(
                            format!("{name}.weight"),
                            vec![*out, cin, *kernel, *kernel],
                            uniform(&mut rng, out * fan_in, fan_in),
                            true,
                        )?;
                        if *bias {
                            put(
                                format!("{name}.bias"),
                                vec![*out],
                                uniform(&mut rng, *out, fan_in),
                                true,
                            )?;
                        }
                    }
                    LayerSpec::BatchNorm { .. } => {
                        let c = cur[0];
                        put(format!("{name}.weight"), vec![c], vec![1.0; c], true)?;
                        put(format!("{name}.bias"), vec![c], vec![0.0; c], true)?;
                        put(format!("{name}.running_mean"), vec![c], vec![0.0; c], false)?;
                        put(format!("{name}.running_var"), vec![c], vec![1.0; c], false)?;
                    }
                    _ => {}
                }
                cur = shapes[i].clone();
            }
        }
        trainable.sort();
        let mut student = Student {
            layers: Vec::new(),
            names: layers
                .iter()
                .enumerate()
                .map(|(i, l)| l.name_at(i))
                .collect(),
            specs: layers.to_vec(),
            shapes,
            input_shape: input.to_vec(),
            varmap,
            trainable,
            dropout_rng: Mutex::new(SplitMix64::new(!seed)),
        };
        student.build(device)?;
        Ok(student)
    }

    /// Builds the candle layers over the variables in the var map.
    fn build(&mut self, device: &Device) -> Result<()> {
        let vb = VarBuilder::from_varmap(&self.varmap, DType::F32, device);
        let mut cur = self.input_shape.clone();
        let mut layers = Vec::with_capacity(self.specs.len());
        for (i, spec) in self.specs.iter().enumerate() {
            let vb = vb.pp(&self.names[i]);
            layers.push(match spec {
                LayerSpec::Linear { out, bias, .. } => {
                    Layer::Linear(candle_nn::linear_b(cur[0], *out, *bias, vb)?)
                }
                LayerSpec::Conv2d {
                    out,
                    kernel,
                    stride,
                    padding,
                    bias,
                    ..
                } => {
                    let cfg = candle_nn::Conv2dConfig {
                        padding: *padding,
                        stride: *stride,
                        ..Default::default()
                    };
                    let conv = if *bias {
                        candle_nn::conv2d(cur[0], *out, *kernel, cfg, vb)?
                    } else {
                        candle_nn::conv2d_no_bias(cur[0], *out, *kernel, cfg, vb)?
                    };
                    Layer::Conv2d(conv)
                }
                LayerSpec::BatchNorm { eps, momentum, .. } => {
                    let cfg = candle_nn::BatchNormConfig {
                        eps: *eps,
                        remove_mean: true,
                        affine: true,
                        momentum: *momentum,
                    };
                    Layer::BatchNorm(candle_nn::batch_norm(cur[0], cfg, vb)?)
                }
                LayerSpec::Relu { .. } => Layer::Relu,
                LayerSpec::Gelu { .. } => Layer::Gelu,
                LayerSpec::MaxPool2d { kernel, .. } => Layer::MaxPool(*kernel),
                LayerSpec::AvgPool2d { kernel, .. } => Layer::AvgPool(*kernel),
                LayerSpec::Dropout { p, .. } => Layer::Dropout(*p),
                LayerSpec::Flatten { .. } => Layer::Flatten,
            });
            cur = self.shapes[i].clone();
        }
        self.layers = layers;
        Ok(())
    }

    /// The per-sample input shape.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// The per-sample output shape (`[classes]` for a classifier).
    pub fn output_shape(&self) -> &[usize] {
        self.shapes.last().map_or(&[], |s| s.as_slice())
    }

    /// The layer names, in order.
    pub fn layer_names(&self) -> &[String] {
        &self.names
    }

    /// The per-sample output shape of the layer called `name`.
    pub fn layer_shape(&self, name: &str) -> Option<&[usize]> {
        let i = self.names.iter().position(|n| n == name)?;
        Some(&self.shapes[i])
    }

    /// The layer spec.
    pub fn specs(&self) -> &[LayerSpec] {
        &self.specs
    }

    /// The variables: trainable parameters and batch-norm running statistics.
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// The trainable parameters, sorted by name (hand these to an optimizer).
    pub fn trainable_vars(&self) -> Result<Vec<(String, Var)>> {
        let data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| Error::Shape("weights lock poisoned".into()))?;
        Ok(self
            .trainable
            .iter()
            .filter_map(|n| data.get(n).map(|v| (n.clone(), v.clone())))
            .collect())
    }

    /// Every variable (running statistics included) by name, sorted: copies, so later
    /// training steps leave them alone (a candle `Tensor` clone shares the variable's storage,
    /// which the optimizer overwrites in place: the kept "best epoch" weights used to follow
    /// training to its last epoch).
    pub fn tensors(&self) -> Result<BTreeMap<String, Tensor>> {
        let data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| Error::Shape("weights lock poisoned".into()))?;
        data.iter()
            .map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?)))
            .collect()
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> Result<usize> {
        Ok(self
            .trainable_vars()?
            .iter()
            .map(|(_, v)| v.elem_count())
            .sum())
    }

    /// Sets every variable from `tensors` (names as [`Student::tensors`] gives them); each must
    /// be present with the right shape.
    pub fn set_tensors(&self, tensors: &BTreeMap<String, Tensor>, source: &Path) -> Result<()> {
        let data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| Error::Shape("weights lock poisoned".into()))?;
        for (name, var) in data.iter() {
            let t = tensors.get(name).ok_or_else(|| Error::Checkpoint {
                path: source.to_path_buf(),
                message: format!(
                    "has no tensor `{name}` (the layers name their weights `<layer>.weight`)"
                ),
            })?;
            if t.dims() != var.dims() {
                return Err(Error::Checkpoint {
                    path: source.to_path_buf(),
                    message: format!(
                        "tensor `{name}` has shape {:?}, the layer needs {:?}",
                        t.dims(),
                        var.dims()
                    ),
                });
            }
            var.set(&t.to_dtype(DType::F32)?)?;
        }
        Ok(())
    }

    /// Loads weights from a safetensors file.
    pub fn load_weights(&self, path: &Path) -> Result<()> {
        let tensors = crate::checkpoint::read_tensors(path)?;
        self.set_tensors(&tensors, path)
    }

    /// Reseeds the dropout masks (the trainer does this per batch, for resumable determinism).
    pub fn reseed(&self, seed: u64) {
        if let Ok(mut rng) = self.dropout_rng.lock() {
            *rng = SplitMix64::new(seed);
        }
    }

    fn dropout_mask(&self, shape: &[usize], p: f32, device: &Device) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let scale = 1.0 / (1.0 - p);
        let mut rng = self
            .dropout_rng
            .lock()
            .map_err(|_| Error::Shape("dropout generator lock poisoned".into()))?;
        let mask: Vec<f32> = (0..n)
            .map(|_| {
                if (rng.next_f64() as f32) < p {
                    0.0
                } else {
                    scale
                }
            })
            .collect();
        Ok(Tensor::from_vec(mask, shape, device)?)
    }

    /// Runs the layers, also returning the output of the layer called `capture` (for hints).
    pub fn forward_capture(
        &self,
        x: &Tensor,
        train: bool,
        capture: Option<&str>,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let mut x = x.clone();
        let mut captured = None;
        for (i, layer) in self.layers.iter().enumerate() {
            x = match layer {
                Layer::Linear(l) => l.forward(&x)?,
                Layer::Conv2d(c) => c.forward(&x)?,
                Layer::BatchNorm(bn) => bn.forward_t(&x, train)?,
                Layer::Relu => x.relu()?,
                Layer::Gelu => x.gelu_erf()?,
                Layer::MaxPool(k) => pool(&x, *k, true)?,
                Layer::AvgPool(k) => pool(&x, *k, false)?,
                Layer::Dropout(p) => {
                    if train && *p > 0.0 {
                        let mask = self.dropout_mask(x.dims(), *p, x.device())?;
                        (x * mask)?
                    } else {
                        x
                    }
                }
                Layer::Flatten => x.flatten_from(1)?,
            };
            if capture == Some(self.names[i].as_str()) {
                captured = Some(x.clone());
            }
        }
        Ok((x, captured))
    }
}

/// Non-overlapping pooling as a reshape and a reduction (see the module doc for why).
pub(crate) fn pool(x: &Tensor, k: usize, max: bool) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (oh, ow) = (h / k, w / k);
    let x = if oh * k != h || ow * k != w {
        x.narrow(2, 0, oh * k)?.narrow(3, 0, ow * k)?
    } else {
        x.clone()
    };
    let x = x.reshape((n, c, oh, k, ow, k))?;
    if max {
        x.max(5)?.max(3)
    } else {
        x.mean(5)?.mean(3)
    }
}

impl ModuleT for Student {
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.forward_capture(xs, train, None)
            .map(|(y, _)| y)
            .map_err(candle_core::Error::wrap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_weights() {
        let spec = vec![
            LayerSpec::linear(4),
            LayerSpec::relu(),
            LayerSpec::linear(3),
        ];
        let a = Student::new(&spec, &[5], 7, &Device::Cpu).unwrap();
        let b = Student::new(&spec, &[5], 7, &Device::Cpu).unwrap();
        let c = Student::new(&spec, &[5], 8, &Device::Cpu).unwrap();
        let w = |s: &Student| {
            s.tensors().unwrap()["linear0.weight"]
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        assert_eq!(w(&a), w(&b));
        assert_ne!(w(&a), w(&c));
        assert_eq!(a.parameter_count().unwrap(), 5 * 4 + 4 + 4 * 3 + 3);
    }

    /// A snapshot of the weights stays as it was when a variable is set afterwards, as an
    /// optimizer step does (it followed the variable: the best epoch's weights were the last's).
    #[test]
    fn a_snapshot_does_not_follow_training() {
        let spec = vec![LayerSpec::linear(2)];
        let s = Student::new(&spec, &[3], 1, &Device::Cpu).unwrap();
        let before = s.tensors().unwrap()["linear0.weight"]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let snapshot = s.tensors().unwrap();
        {
            let data = s.varmap.data().lock().unwrap();
            let var = &data["linear0.weight"];
            var.set(&var.as_tensor().zeros_like().unwrap()).unwrap();
        }
        let kept = snapshot["linear0.weight"]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(kept, before);
        let now = s.tensors().unwrap()["linear0.weight"]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(now.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn shapes_are_checked() {
        let e = infer_shapes(&[LayerSpec::linear(4)], &[1, 8, 8]).unwrap_err();
        assert!(e.to_string().contains("add a flatten"), "{e}");
        let cnn = [
            LayerSpec::conv2d(4, 3, 1),
            LayerSpec::relu(),
            LayerSpec::max_pool2d(2),
            LayerSpec::flatten(),
            LayerSpec::linear(10),
        ];
        let shapes = infer_shapes(&cnn, &[1, 8, 8]).unwrap();
        assert_eq!(shapes[2], [4, 4, 4]);
        assert_eq!(shapes[3], [64]);
    }

    /// candle 0.11's max_pool2d backward pass gives a quarter of the gradient for a 2x2
    /// window; ours routes the whole gradient to the maximum.
    #[test]
    fn max_pool_gradient_goes_to_the_maximum() {
        let x = Var::from_tensor(&Tensor::new(&[[[[1f32, 2.], [3., 4.]]]], &Device::Cpu).unwrap())
            .unwrap();
        let y = pool(x.as_tensor(), 2, true).unwrap();
        assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), [4.0]);
        let g = y.sum_all().unwrap().backward().unwrap();
        let gx = g
            .get(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(gx, [0.0, 0.0, 0.0, 1.0]);
        // candle's own op, for the record: it scales by the share of maxima (1/4).
        let y = x.as_tensor().max_pool2d(2).unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        let gx = g
            .get(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(gx, [0.0, 0.0, 0.0, 0.25]);
    }

    #[test]
    fn dropout_is_seeded_and_off_in_eval() {
        let spec = vec![LayerSpec::Dropout { p: 0.5, name: None }];
        let s = Student::new(&spec, &[100], 0, &Device::Cpu).unwrap();
        let x = Tensor::ones((1, 100), DType::F32, &Device::Cpu).unwrap();
        s.reseed(3);
        let a = s.forward_t(&x, true).unwrap().to_vec2::<f32>().unwrap();
        s.reseed(3);
        let b = s.forward_t(&x, true).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(a, b);
        assert!(a[0].iter().all(|v| *v == 0.0 || *v == 2.0));
        assert_eq!(
            s.forward_t(&x, false).unwrap().to_vec2::<f32>().unwrap(),
            x.to_vec2::<f32>().unwrap()
        );
    }
}
