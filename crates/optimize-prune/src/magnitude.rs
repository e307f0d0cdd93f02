//! Unstructured magnitude pruning: set the weights of smallest magnitude to zero.
//!
//! With sparsity `s`, the `round(s · n)` entries of smallest `|w|` are set to zero, where `n` is
//! the size of one weight ([`Scope::PerLayer`]: every layer ends at sparsity `s`) or of all
//! candidate weights together ([`Scope::Global`]: one threshold for the whole model, so layers
//! with many small weights lose more). Ties at the threshold are broken by position (earlier
//! first), so the result is deterministic; entries already zero count toward `s`. Weights of
//! Conv, ConvTranspose, Gemm and MatMul ([`crate::layers`]) are candidates; biases and every
//! other tensor are left alone. The first and last layers, in graph order, may be left out: they
//! are the usual sensitive ones.
//!
//! What it buys: nothing on dense runtimes. ONNX Runtime and tract store and multiply every
//! zero, so the model is neither smaller on disk nor faster; it only compresses better (the
//! report gives the gzip size), and it is the starting point for sparse kernels and for
//! fine-tuning with a mask.
//!
//! ```
//! use optimize_prune::magnitude::magnitude_mask;
//! // Keep the two largest of four: |−3| and |4|.
//! assert_eq!(magnitude_mask(&[0.5, -3.0, 0.1, 4.0], 0.5), vec![false, true, false, true]);
//! ```

use crate::layers::{find_layers, Layer};
use crate::report::{LayerChange, PruneReport, Skipped};
use crate::{prepare, weights, Error, Result};
use optimize_onnx::filter::NodeFilter;
use optimize_onnx::Model;
use std::collections::HashSet;

/// Over which weights one threshold applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// One threshold over all candidate weights together.
    #[default]
    Global,
    /// Every weight pruned to the sparsity on its own.
    PerLayer,
}

/// Settings for [`prune_magnitude`].
#[derive(Debug, Clone, Default)]
pub struct MagnitudeConfig {
    /// Share of weights to zero, in `[0, 1)`.
    pub sparsity: f64,
    /// Global or per-layer threshold.
    pub scope: Scope,
    /// Leave the first layer (in graph order) dense.
    pub exclude_first: bool,
    /// Leave the last layer (in graph order) dense.
    pub exclude_last: bool,
    /// Which nodes may be pruned.
    pub filter: NodeFilter,
}

impl MagnitudeConfig {
    /// A global-threshold config with sparsity `sparsity`, every layer a candidate.
    pub fn new(sparsity: f64) -> Self {
        MagnitudeConfig {
            sparsity,
            ..Default::default()
        }
    }

    /// Checks the settings: the sparsity must be in `[0, 1)`.
    pub fn validate(&self) -> Result<()> {
        check_sparsity(self.sparsity)
    }

    fn describe(&self) -> String {
        let mut s = format!(
            "sparsity {}, {}",
            self.sparsity,
            match self.scope {
                Scope::Global => "global threshold",
                Scope::PerLayer => "per layer",
            }
        );
        match (self.exclude_first, self.exclude_last) {
            (true, true) => s += ", first and last layers kept dense",
            (true, false) => s += ", first layer kept dense",
            (false, true) => s += ", last layer kept dense",
            (false, false) => {}
        }
        s
    }
}

/// Errors unless `sparsity` is a number in `[0, 1)`.
pub fn check_sparsity(sparsity: f64) -> Result<()> {
    if sparsity.is_finite() && (0.0..1.0).contains(&sparsity) {
        Ok(())
    } else {
        Err(Error::InvalidSparsity { given: sparsity })
    }
}

/// Which entries of `values` magnitude pruning to `sparsity` keeps (`true`) and zeroes
/// (`false`): the `round(sparsity · n)` smallest `|w|`, ties by position. `sparsity` is clamped
/// to `[0, 1]`.
pub fn magnitude_mask(values: &[f32], sparsity: f64) -> Vec<bool> {
    let k = count_to_zero(values.len(), sparsity);
    let mut keep = vec![true; values.len()];
    let mut scratch: Vec<(usize, f32)> = values.iter().copied().enumerate().collect();
    if k > 0 {
        scratch.select_nth_unstable_by(k - 1, |a, b| {
            a.1.abs().total_cmp(&b.1.abs()).then(a.0.cmp(&b.0))
        });
        for &(i, _) in &scratch[..k] {
            keep[i] = false;
        }
    }
    keep
}

/// How many of `n` entries sparsity `s` zeroes.
pub fn count_to_zero(n: usize, sparsity: f64) -> usize {
    ((sparsity.clamp(0.0, 1.0) * n as f64).round() as usize).min(n)
}

/// Zeroes the `k` entries of smallest magnitude across all `weights` together, ties broken by
/// position (earlier weight, then earlier entry). Linear time: one selection for the threshold,
/// one pass to zero.
pub fn zero_smallest(weights: &mut [&mut [f32]], k: usize) {
    if k == 0 {
        return;
    }
    let mut abs: Vec<f32> = weights
        .iter()
        .flat_map(|w| w.iter().map(|v| v.abs()))
        .collect();
    if k >= abs.len() {
        weights.iter_mut().for_each(|w| w.fill(0.0));
        return;
    }
    let (_, &mut threshold, _) = abs.select_nth_unstable_by(k - 1, |a, b| a.total_cmp(b));
    let below = abs
        .iter()
        .filter(|a| a.total_cmp(&threshold).is_lt())
        .count();
    let mut ties = k - below;
    for w in weights.iter_mut() {
        for v in w.iter_mut() {
            match v.abs().total_cmp(&threshold) {
                std::cmp::Ordering::Less => *v = 0.0,
                std::cmp::Ordering::Equal if ties > 0 => {
                    *v = 0.0;
                    ties -= 1;
                }
                _ => {}
            }
        }
    }
}

/// Zeroes the smallest weights of `model` as `config` says. Returns the pruned model and what
/// was done; errors if the sparsity is outside `[0, 1)` or no layer can be pruned.
pub fn prune_magnitude(model: &Model, config: &MagnitudeConfig) -> Result<(Model, PruneReport)> {
    config.validate()?;
    let (mut out, constants) = prepare(model);
    let graph = out.proto.graph.get_or_insert_with(Default::default);
    let (mut layers, mut skipped) = find_layers(graph, &config.filter);
    exclude_ends(
        &mut layers,
        &mut skipped,
        config.exclude_first,
        config.exclude_last,
    );
    let layers = distinct_weights(layers);
    if layers.is_empty() {
        return Err(crate::nothing_to_prune(model, &skipped));
    }
    let before = crate::parameter_stats(graph);
    let index = crate::initializer_index(graph);
    let mut values = Vec::with_capacity(layers.len());
    for l in &layers {
        values.push(weights::read(&graph.initializer[index[&l.weight]])?);
    }
    let zeros_before: Vec<usize> = values.iter().map(|v| weights::zeros(v)).collect();
    match config.scope {
        Scope::Global => {
            let total = values.iter().map(Vec::len).sum();
            let k = count_to_zero(total, config.sparsity);
            let mut slices: Vec<&mut [f32]> = values.iter_mut().map(|v| v.as_mut_slice()).collect();
            zero_smallest(&mut slices, k);
        }
        Scope::PerLayer => {
            for v in &mut values {
                let k = count_to_zero(v.len(), config.sparsity);
                zero_smallest(&mut [v.as_mut_slice()], k);
            }
        }
    }
    let mut changes = Vec::with_capacity(layers.len());
    for ((l, v), z) in layers.iter().zip(&values).zip(zeros_before) {
        weights::write(&mut graph.initializer[index[&l.weight]], &l.dims, v);
        changes.push(LayerChange {
            node: l.name.clone(),
            op_type: l.op_type.clone(),
            weight: l.weight.clone(),
            shape_before: l.dims.clone(),
            shape_after: l.dims.clone(),
            zeros_before: z,
            zeros_after: weights::zeros(v),
            params_before: v.len(),
            params_after: v.len(),
            rank: None,
            energy: None,
        });
    }
    let after = crate::parameter_stats(graph);
    let report = PruneReport {
        method: "magnitude".into(),
        settings: config.describe(),
        constants_folded: constants,
        layers: changes,
        skipped,
        groups: Vec::new(),
        parameters: crate::report::ParamStats {
            before: before.0,
            after: after.0,
            zeros_before: before.1,
            zeros_after: after.1,
        },
        pattern_check: None,
        notes: vec![DENSE_NOTE.into()],
    };
    Ok((out, report))
}

/// What unstructured sparsity buys on the runtimes we target.
pub const DENSE_NOTE: &str = "unstructured sparsity: ONNX Runtime and tract store and multiply every zero, so the model is no faster and no smaller on disk; only its compressed size shrinks";

/// Moves the first and/or last layer (graph order) from `layers` to `skipped`.
pub(crate) fn exclude_ends(
    layers: &mut Vec<Layer>,
    skipped: &mut Vec<Skipped>,
    first: bool,
    last: bool,
) {
    let mut take = |l: Layer, which: &str| {
        skipped.push(Skipped {
            node: l.name,
            op_type: l.op_type,
            reason: format!("{which} layer, kept dense as asked"),
        })
    };
    if last && !layers.is_empty() {
        let l = layers.remove(layers.len() - 1);
        take(l, "last");
    }
    if first && !layers.is_empty() {
        let l = layers.remove(0);
        take(l, "first");
    }
}

/// Keeps the first layer of each weight: a weight shared by several nodes is pruned once.
pub(crate) fn distinct_weights(layers: Vec<Layer>) -> Vec<Layer> {
    let mut seen = HashSet::new();
    layers
        .into_iter()
        .filter(|l| seen.insert(l.weight.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroes_exactly_k_smallest_with_ties_by_position() {
        let mut a = [1.0, -1.0, 0.5, 1.0, 2.0];
        zero_smallest(&mut [&mut a], 3);
        // 0.5, then the first two of the three tied 1.0s.
        assert_eq!(a, [0.0, 0.0, 0.0, 1.0, 2.0]);
    }

    #[test]
    fn global_threshold_spans_weights() {
        let mut a = [0.1, 0.2, 5.0];
        let mut b = [3.0, 4.0, 0.3];
        zero_smallest(&mut [&mut a, &mut b], 3);
        assert_eq!((a, b), ([0.0, 0.0, 5.0], [3.0, 4.0, 0.0]));
    }

    #[test]
    fn masks_count_existing_zeros() {
        assert_eq!(
            magnitude_mask(&[0.0, 0.0, 1.0, 2.0], 0.5),
            [false, false, true, true]
        );
        assert_eq!(magnitude_mask(&[1.0, 2.0], 0.0), [true, true]);
        assert_eq!(count_to_zero(7, 0.5), 4);
    }

    #[test]
    fn sparsity_must_be_in_zero_one() {
        for bad in [1.0, -0.1, f64::NAN, 2.0] {
            assert!(matches!(
                check_sparsity(bad),
                Err(Error::InvalidSparsity { .. })
            ));
        }
        check_sparsity(0.0).unwrap();
        check_sparsity(0.99).unwrap();
    }
}
