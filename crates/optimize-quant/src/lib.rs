//! Quantization passes for `optimize`: int8 dynamic, int8 static (QDQ) with calibration,
//! per-channel weights, and fp16.
//!
//! What this crate is for: turning a float32 ONNX [`Model`](optimize_onnx::Model) into a smaller
//! one that ONNX Runtime (and tract) run, and saying exactly what it did. It is not for running
//! models (`optimize-runtime`) or measuring them (`optimize-bench`), which it uses.
//!
//! - [`quantize_dynamic`]: int8 weights, activations quantized at run time
//!   (`DynamicQuantizeLinear` + `MatMulInteger`/`ConvInteger`); no data needed.
//! - [`quantize_static_with`]: calibrate activation ranges on sample data ([`calibrate`], with
//!   the [`observer`]s `minmax`, `percentile`, `entropy`, `mse`), then insert
//!   QuantizeLinear/DequantizeLinear pairs ([`qdq`]).
//! - [`fp16`]: float16 weights and compute, with float32 kept where it must be.
//! - [`verify`]: load the output in ONNX Runtime and tract and compare it with the original.
//! - [`QuantConfig`] holds the options, [`NodeFilter`] the `--op-types` / `--exclude-*` rules,
//!   [`QuantReport`] what was quantized or skipped and why. Which ops are handled, and how, is
//!   one table in [`ops`].
//!
//! Every pass first moves weights held in `Constant` nodes into initializers, leaves inputs that
//! are not float (token ids, sample rates, flags) alone, and does not depend on shape inference,
//! so stale `value_info` in real exported models does not get in the way.
//!
//! ```no_run
//! use optimize_onnx::{save, Model, SaveOptions};
//! use optimize_quant::{quantize_dynamic, QuantConfig};
//!
//! let model = Model::load("models/digits-mlp.onnx")?;
//! let config = QuantConfig { per_channel: true, ..QuantConfig::default() };
//! let (quantized, report) = quantize_dynamic(&model, &config)?;
//! println!("{} nodes quantized, weights {} -> {} bytes",
//!          report.nodes_quantized(), report.weights.bytes_before, report.weights.bytes_after);
//! save(&quantized, "digits-mlp.int8.onnx", &SaveOptions::default())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod calibrate;
pub mod config;
pub mod dynamic;
mod error;
pub mod fp16;
pub mod gather;
mod names;
pub mod observer;
pub mod ops;
pub mod qdq;
pub mod report;
pub mod scale;
pub mod verify;
pub mod weights;

pub use calibrate::{calibrate, Calibration};
pub use config::{NodeFilter, QuantConfig};
pub use dynamic::quantize_dynamic;
pub use error::{Error, Result};
pub use observer::CalibrationMethod;
pub use report::QuantReport;

use optimize_data::{DType, InputSpec, Tensor};
use optimize_onnx::inspect::Dim;
use optimize_onnx::Model;

/// The graph inputs of `model` as calibration data must provide them (initializers listed as
/// inputs in old IR versions excluded; non-tensor inputs skipped).
pub fn input_specs(model: &Model) -> Vec<InputSpec> {
    let summary = optimize_onnx::Summary::of(model, None);
    summary
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

/// Static int8 quantization end to end: move `Constant` weights into initializers, plan which
/// nodes to quantize, calibrate their activations on `samples`, insert QDQ.
///
/// `load` builds a runtime for the calibration model from its bytes (tract first, ONNX Runtime
/// as fallback, in the CLI); `progress` is called after each sample.
pub fn quantize_static_with<I>(
    model: &Model,
    samples: I,
    config: &QuantConfig,
    load: calibrate::Loader<'_>,
    progress: &mut dyn FnMut(usize),
) -> Result<(Model, QuantReport, Calibration)>
where
    I: Iterator<Item = Result<Vec<(String, Tensor)>>>,
{
    let mut folded = model.clone();
    let constants = optimize_onnx::transform::constants_to_initializers(&mut folded.proto);
    let plan = qdq::plan(&folded.proto, config);
    if plan.nodes.is_empty() {
        let mut report = plan.report;
        report.constants_folded = constants;
        return Ok((folded, report, Calibration::default()));
    }
    let cal = calibrate(
        &folded.proto,
        &plan.activations,
        samples,
        config,
        load,
        progress,
    )?;
    let (out, mut report) = qdq::quantize_static(&folded, &plan, &cal.ranges, config)?;
    report.constants_folded = constants;
    report.non_finite_activations = cal
        .non_finite
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    Ok((out, report, cal))
}

/// Activations that overflow float16: what [`fp16_overflow`] found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Fp16Overflow {
    /// Samples the float32 model ran on.
    pub samples: usize,
    /// Float32 activations checked.
    pub tensors_checked: usize,
    /// Activations whose magnitude passed the float16 range, with the largest seen; their
    /// producers stay float32.
    pub overflowing: Vec<(String, f32)>,
}

/// Largest finite float16 value.
pub const FP16_MAX: f32 = 65504.0;

/// Runs the float32 model on `samples` and lists the main-graph activations whose magnitude
/// passes the float16 range (they would become Inf); pass their names as
/// [`fp16::Fp16Config::keep_fp32_nodes`] so their producers stay float32.
pub fn fp16_overflow<I>(
    model: &Model,
    samples: I,
    load: calibrate::Loader<'_>,
) -> Result<Fp16Overflow>
where
    I: Iterator<Item = Result<Vec<(String, Tensor)>>>,
{
    let tensors = fp16::float32_activations(&model.proto);
    let config = QuantConfig {
        method: CalibrationMethod::MinMax,
        ..Default::default()
    };
    let cal = calibrate(&model.proto, &tensors, samples, &config, load, &mut |_| {})?;
    let overflowing = cal
        .ranges
        .iter()
        .map(|(name, r)| (name.clone(), r.min.abs().max(r.max.abs())))
        .filter(|(_, m)| *m > FP16_MAX)
        .collect();
    Ok(Fp16Overflow {
        samples: cal.samples,
        tensors_checked: tensors.len(),
        overflowing,
    })
}
