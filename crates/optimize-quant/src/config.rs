//! What to quantize and how: [`QuantConfig`] and the node filter every pass shares.

use crate::observer::CalibrationMethod;
use crate::scale::QuantType;
use crate::weights::WeightType;
use std::collections::BTreeSet;

pub use optimize_onnx::filter::{Excluded, NodeFilter};

/// Settings for int8 quantization, dynamic or static.
#[derive(Debug, Clone)]
pub struct QuantConfig {
    /// One scale per output channel for weights of Conv, MatMul and Gemm (needs opset 13 for QDQ).
    pub per_channel: bool,
    /// How activation ranges are chosen from calibration data (static only).
    pub method: CalibrationMethod,
    /// Symmetric activations (int8, zero point 0) instead of asymmetric uint8.
    pub symmetric_activations: bool,
    /// Which nodes to quantize.
    pub filter: NodeFilter,
    /// Histogram bins of the percentile, entropy and mse observers.
    pub bins: usize,
    /// Dynamic mode: quantize Conv activations at run time with `ConvInteger` instead of
    /// storing int8 weights dequantized before a float Conv. Off by default: ONNX Runtime's CPU
    /// `ConvInteger` is several times slower than a float Conv.
    pub conv_integer: bool,
    /// Dynamic mode: MatMul/Gemm as `MatMulInteger` (activations quantized at run time). Off:
    /// their weights are stored in int8 and expanded at load as Conv weights are, float32's
    /// compute. The quantize job turns it off when `MatMulInteger` measures slower than float32.
    pub matmul_integer: bool,
    /// Static mode: correct Conv/Gemm biases for the mean error int8 weights introduce,
    /// `b' = b − (W_q − W)·E[x]`, with `E[x]` the per-channel means of the input seen in
    /// calibration (bias correction, Nagel et al. 2019).
    pub bias_correction: bool,
    /// Static mode: nodes (by name, else first output) left with float activations but given
    /// int8 weights behind a `DequantizeLinear`: weight-only quantization for nodes kept float
    /// for accuracy or speed, so they stop holding most of the model's bytes.
    pub weight_only: BTreeSet<String>,
    /// Static mode: nodes (by name, else first output) left float whose weight is stored in
    /// float16 behind a `Cast` to float32. Runtimes fold the Cast of a constant once at load,
    /// so this halves the bytes of float nodes at no cost per call. `weight_only` wins where a
    /// node is in both.
    pub fp16_weights: BTreeSet<String>,
    /// Static mode: nodes (by name, else first output) left float whose weight is stored in
    /// int8 (symmetric, one scale per output channel) and expanded by a `Cast` and a `Mul` of
    /// constants, which runtimes fold once at load: a quarter of the bytes on disk, float
    /// compute, no cost per call (unlike `weight_only`, whose `DequantizeLinear` runs on every
    /// call). Takes precedence over `fp16_weights`; `weight_only` over it.
    pub int8_storage: BTreeSet<String>,
    /// Weights whose int8 form loses more than this share of their norm stay float
    /// ([`crate::weights::MAX_RELATIVE_ERROR`] by default).
    pub max_weight_error: f64,
    /// Activations whose int8 rounding noise passes this share of their RMS stay float
    /// ([`crate::MAX_ACTIVATION_NOISE`] by default).
    pub max_activation_noise: f64,
    /// How int8 weights are stored (dynamic and static QDQ; not the int8 storage of float
    /// nodes). Int8 by default; the quantize job picks [`WeightType::for_this_cpu`] unless told.
    pub weight_type: WeightType,
}

impl Default for QuantConfig {
    fn default() -> Self {
        QuantConfig {
            per_channel: false,
            method: CalibrationMethod::MinMax,
            symmetric_activations: false,
            filter: NodeFilter::default(),
            bins: 2048,
            conv_integer: false,
            matmul_integer: true,
            bias_correction: false,
            weight_only: BTreeSet::new(),
            fp16_weights: BTreeSet::new(),
            int8_storage: BTreeSet::new(),
            max_weight_error: crate::weights::MAX_RELATIVE_ERROR,
            max_activation_noise: crate::MAX_ACTIVATION_NOISE,
            weight_type: WeightType::Int8,
        }
    }
}

impl QuantConfig {
    /// The integer type of activations: uint8 asymmetric (ONNX Runtime's default), or int8 when
    /// symmetric.
    pub fn activation_type(&self) -> QuantType {
        if self.symmetric_activations {
            QuantType::I8
        } else {
            QuantType::U8
        }
    }
}
