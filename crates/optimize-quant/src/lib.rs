//! Quantization passes for `optimize`: int8 dynamic, int8 static (QDQ) with calibration,
//! per-channel weights, and fp16.
//!
//! What this crate is for: turning a float32 ONNX [`Model`] into a smaller
//! one that ONNX Runtime (and tract) run, and saying exactly what it did. It is not for running
//! models (`optimize-runtime`) or measuring them (`optimize-bench`), which it uses.
//!
//! - [`job`]: the whole `optimize quantize` workflow as one call ([`job::QuantizeJob`]): load,
//!   quantize in any mode, save to a staging folder, verify under a policy
//!   ([`job::default_policy`]), move into place only when accepted, report. Start here.
//! - [`quantize_dynamic`]: int8 weights, activations quantized at run time
//!   (`DynamicQuantizeLinear` + `MatMulInteger`/`ConvInteger`); no data needed.
//! - [`quantize_static_with`]: calibrate activation ranges on sample data ([`calibrate()`], with
//!   the [`observer`]s `minmax`, `percentile`, `entropy`, `mse`), then insert
//!   QuantizeLinear/DequantizeLinear pairs ([`qdq`]).
//! - [`fp16`]: float16 weights and compute, with float32 kept where it must be.
//! - [`auto`]: mixed precision searched on the target runtime (`quantize --auto`). Nodes it keeps
//!   float may store their weights compactly ([`QuantConfig::int8_storage`],
//!   [`QuantConfig::fp16_weights`]): constants expanded by a `Cast` (and a `Mul` by per-channel
//!   scales) that runtimes fold once at load, so the file shrinks and the compute stays float32's.
//! - Outputs are verified with [`optimize_bench::verify`]: loaded in ONNX Runtime and tract and
//!   compared with the original; [`optimize_bench::policy`] decides pass or fail.
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

pub mod auto;
pub mod calibrate;
pub mod config;
pub mod dynamic;
mod error;
pub mod fp16;
pub mod gather;
pub mod job;
pub mod observer;
pub mod ops;
pub mod qdq;
pub mod report;
pub mod scale;
pub mod weights;

pub use calibrate::{calibrate, Calibration};
pub use config::{NodeFilter, QuantConfig};
pub use dynamic::quantize_dynamic;
pub use error::{Error, Result};
pub use observer::CalibrationMethod;
pub use report::QuantReport;

use optimize_data::Tensor;
use optimize_onnx::Model;

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
    let (mut outs, cal) = quantize_static_each(
        model,
        samples,
        config,
        load,
        progress,
        &[config.weight_type],
    )?;
    let (out, report) = outs.remove(0);
    Ok((out, report, cal))
}

/// [`quantize_static_with`] writing one model per weight type from one calibration (the
/// calibration is the expensive step): the quantize job measures 7-bit and full-range int8
/// weights on CPUs where the full range saturates, and keeps the closer one.
pub fn quantize_static_each<I>(
    model: &Model,
    samples: I,
    config: &QuantConfig,
    load: calibrate::Loader<'_>,
    progress: &mut dyn FnMut(usize),
    weight_types: &[weights::WeightType],
) -> Result<(Vec<(Model, QuantReport)>, Calibration)>
where
    I: Iterator<Item = Result<Vec<(String, Tensor)>>>,
{
    let mut folded = model.clone();
    let form = if config.per_channel {
        "per-channel QDQ (DequantizeLinear with axis)"
    } else {
        "QDQ (QuantizeLinear/DequantizeLinear)"
    };
    let upgrade = upgrade_for(&mut folded, config, qdq::MIN_OPSET, form)?;
    let constants = optimize_onnx::transform::constants_to_initializers(&mut folded.proto);
    // A Q/DQ pair on a Conv's output would keep its BatchNormalization in float.
    let batch_norms = optimize_onnx::transform::fold_batch_norms(&mut folded.proto);
    let plan = qdq::plan(&folded.proto, config);
    if plan.node_count() == 0 {
        let mut report = plan.report;
        report.constants_folded = constants;
        report.folded_into_convs = batch_norms;
        report.opset_upgrade = upgrade;
        let outs = weight_types
            .iter()
            .map(|_| (folded.clone(), report.clone()))
            .collect();
        return Ok((outs, Calibration::default()));
    }
    let cal = calibrate(
        &folded.proto,
        &plan.activations,
        samples,
        config,
        load,
        progress,
    )?;
    let mut plan = plan;
    plan.float_activations = noisy_activations(&cal, config);
    if config.bias_correction {
        plan.input_means = cal.channel_means.clone();
    }
    let mut outs = Vec::with_capacity(weight_types.len());
    for &weight_type in weight_types {
        let config = QuantConfig {
            weight_type,
            ..config.clone()
        };
        let (out, mut report) = qdq::quantize_static(&folded, &plan, &cal.ranges, &config)?;
        report.constants_folded = constants;
        report.folded_into_convs = batch_norms;
        report.opset_upgrade = upgrade.clone();
        report.non_finite_activations = cal
            .non_finite
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        outs.push((out, report));
    }
    Ok((outs, cal))
}

/// Upgrades `model` to the opset the quantized form needs, before any expensive step: `min`
/// (the form's own: 10 for QDQ, 11 for dynamic int8), or 13 when `config` asks for per-channel
/// weights. Real exports at opsets 7-12 (the ONNX model zoo's classifiers, PaddlePaddle's, older
/// PyTorch) are quantized instead of refused, every mode the same way. Nothing changes when the
/// model is new enough.
pub fn upgrade_for(
    model: &mut Model,
    config: &QuantConfig,
    min: i64,
    form: &str,
) -> Result<Option<optimize_onnx::transform::OpsetUpgrade>> {
    let need = if config.per_channel {
        min.max(qdq::PER_CHANNEL_OPSET)
    } else {
        min
    };
    let have = optimize_onnx::build::opset(&model.proto, "").unwrap_or(0);
    if have >= need {
        return Ok(None);
    }
    let mut upgraded = model.proto.clone();
    match optimize_onnx::transform::upgrade_opset(&mut upgraded, need) {
        Ok(report) => {
            *model = Model::from_proto(upgraded);
            Ok(Some(report))
        }
        Err(e) => Err(Error::OpsetUpgradeFailed {
            have,
            need,
            form: form.to_string(),
            detail: e.to_string(),
        }),
    }
}

/// Activations whose int8 rounding noise passes this share of their RMS stay float: their
/// calibrated range is stretched by outliers far beyond where the values usually are. The
/// default of [`QuantConfig::max_activation_noise`].
pub const MAX_ACTIVATION_NOISE: f64 = 0.08;

/// The calibrated activations whose int8 form would be too coarse (see
/// [`calibrate::rounding_noise`]), with why.
pub fn noisy_activations(
    cal: &Calibration,
    config: &QuantConfig,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for (t, r) in &cal.ranges {
        let Some(&rms) = cal.rms.get(t) else { continue };
        let p = scale::params_for_range(
            r.min,
            r.max,
            config.activation_type(),
            config.symmetric_activations,
        );
        let noise = calibrate::rounding_noise(p.scale, rms);
        if noise > config.max_activation_noise {
            out.insert(
                t.clone(),
                format!(
                    "its range [{:.3}, {:.3}] is {:.0}x its RMS ({:.2e}); int8 rounding would add {:.0}% noise",
                    r.min,
                    r.max,
                    f64::from(r.max - r.min) / rms,
                    rms,
                    noise * 100.0
                ),
            );
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observer::Range;

    #[test]
    fn outlier_stretched_activations_stay_float() {
        let mut cal = Calibration::default();
        // Most values near ±1 (RMS 1) but one outlier at 2000: uint8 steps of 2001/255 ≈ 7.8,
        // rounding noise 7.85/√12 ≈ 2.27 — over twice the signal.
        cal.ranges.insert(
            "spiky".into(),
            Range {
                min: -1.0,
                max: 2000.0,
            },
        );
        cal.rms.insert("spiky".into(), 1.0);
        // A well-behaved one: range ±4 RMS, noise 8/255/√12 ≈ 0.9% of the RMS.
        cal.ranges.insert(
            "calm".into(),
            Range {
                min: -4.0,
                max: 4.0,
            },
        );
        cal.rms.insert("calm".into(), 1.0);
        let noisy = noisy_activations(&cal, &QuantConfig::default());
        assert_eq!(noisy.keys().collect::<Vec<_>>(), ["spiky"]);
        assert!(noisy["spiky"].contains("227%"), "{}", noisy["spiky"]);
    }
}
