//! How close a model's outputs stay to a reference model's: the numbers every pass reports.
//!
//! For each output, over all samples: max |a − b|, mean |a − b|, cosine similarity of the
//! flattened outputs, the same cosine with every channel normalized by the reference's own
//! spread, and for classifier-shaped outputs (`[batch, classes]`, classes ≥ 2) the share of rows
//! whose argmax agrees. Accumulated one sample at a time, so memory does not grow with the
//! number of samples.
//!
//! Raw cosine is dominated by the channels with the largest values: on a detector's
//! `[1, 84, N]` output the 4 box coordinates (hundreds of pixels) drown the 80 class scores in
//! `[0, 1]` that decide the detections. The *per-channel* cosine first divides each channel
//! (axis 1 of outputs of rank ≥ 3: feature maps, detection heads `[B, C, N]`) by the reference's
//! root mean square of that channel over every sample and position, `z = v / rms_c`, then takes
//! the cosine of the `z` values: every channel weighs the same, whatever its units. Outputs of
//! rank ≤ 2 (`[batch, classes]` logits, `[batch, dim]` embeddings) are one channel, so their
//! per-channel cosine is the raw one: their consumers compare whole vectors (argmax, cosine
//! retrieval), and scaling each embedding dimension alone turned int8 noise in near-zero
//! dimensions into a 0.93 for a MiniLM encoder whose raw cosine was 0.996. It does not subtract the
//! channel's mean: centred, a confident classifier's near-constant probabilities (or any output
//! that barely varies over a few samples) would turn rounding noise into disagreement. It is
//! computed from per-channel sums (Σab, Σa², Σb², n), so it streams like the rest.
//!
//! ```
//! use optimize_bench::fidelity::FidelityAccumulator;
//! use optimize_data::Tensor;
//! let mut acc = FidelityAccumulator::default();
//! let a = Tensor::from_f32(vec![1, 3], vec![0.1, 0.7, 0.2]).unwrap();
//! let b = Tensor::from_f32(vec![1, 3], vec![0.1, 0.6, 0.3]).unwrap();
//! acc.add("probs", &a, &b).unwrap();
//! let f = &acc.finish()[0];
//! assert!((f.max_abs - 0.1).abs() < 1e-6);
//! assert_eq!(f.top1_agreement, Some(1.0));
//! ```

use optimize_data::Tensor;
use serde::{Deserialize, Serialize};

/// Fidelity of one output against the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputFidelity {
    /// Output name.
    pub name: String,
    /// Largest absolute difference.
    pub max_abs: f64,
    /// Mean absolute difference.
    pub mean_abs: f64,
    /// Cosine similarity of all values (1 = same direction); `None` if either side is all zeros.
    pub cosine: Option<f64>,
    /// Cosine similarity after scaling each channel by the reference's root mean square (see the
    /// module docs); `None` when the reference is all zeros.
    #[serde(default)]
    pub normalized_cosine: Option<f64>,
    /// Share of rows whose argmax matches, for `[batch, classes]` outputs.
    pub top1_agreement: Option<f64>,
    /// Values compared.
    pub values: u64,
    /// Positions where exactly one side is NaN/Inf, or the two differ in non-finiteness.
    pub non_finite_mismatches: u64,
}

#[derive(Debug, Clone, Default)]
struct Acc {
    name: String,
    max_abs: f64,
    sum_abs: f64,
    dot: f64,
    na: f64,
    nb: f64,
    n: u64,
    rows: u64,
    rows_agree: u64,
    classifier: bool,
    bad: u64,
    /// Per channel: Σab, Σa², Σb², n (a candidate, b reference).
    channels: Vec<[f64; 4]>,
}

/// Channels tracked at most per output; a larger axis 1 is treated as one channel.
const MAX_CHANNELS: usize = 1 << 16;

/// Accumulates [`OutputFidelity`] over samples.
#[derive(Debug, Clone, Default)]
pub struct FidelityAccumulator {
    outputs: Vec<Acc>,
}

/// Why two outputs cannot be compared.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("output '{name}': {detail}")]
pub struct CompareError {
    /// Output name.
    pub name: String,
    /// What differs.
    pub detail: String,
}

impl FidelityAccumulator {
    /// Adds one sample's output `name`: `candidate` against `reference`. Both must have the same
    /// shape and dtype (any numeric dtype; compared as f64).
    pub fn add(
        &mut self,
        name: &str,
        candidate: &Tensor,
        reference: &Tensor,
    ) -> Result<(), CompareError> {
        let err = |detail: String| CompareError {
            name: name.to_string(),
            detail,
        };
        if candidate.shape() != reference.shape() {
            return Err(err(format!(
                "shape {:?} vs reference {:?}",
                candidate.shape(),
                reference.shape()
            )));
        }
        if candidate.dtype() != reference.dtype() {
            return Err(err(format!(
                "dtype {} vs reference {}",
                candidate.dtype(),
                reference.dtype()
            )));
        }
        let a = candidate.to_f64_lossy();
        let b = reference.to_f64_lossy();
        let idx = match self.outputs.iter().position(|o| o.name == name) {
            Some(i) => i,
            None => {
                let shape = reference.shape();
                self.outputs.push(Acc {
                    name: name.to_string(),
                    classifier: shape.len() == 2 && shape[1] >= 2,
                    ..Default::default()
                });
                self.outputs.len() - 1
            }
        };
        let acc = &mut self.outputs[idx];
        let shape = reference.shape();
        let (channels, inner) = match shape {
            [_, c, rest @ ..] if !rest.is_empty() && *c <= MAX_CHANNELS => {
                (*c, rest.iter().product::<usize>())
            }
            _ => (1, a.len()),
        };
        if acc.channels.len() != channels {
            acc.channels = vec![[0.0; 4]; channels];
        }
        for (i, (&x, &y)) in a.iter().zip(&b).enumerate() {
            if !x.is_finite() || !y.is_finite() {
                if x.is_finite() != y.is_finite() || (x.is_nan() != y.is_nan()) {
                    acc.bad += 1;
                }
                continue;
            }
            let (xy, xx, yy) = (x * y, x * x, y * y);
            let d = (x - y).abs();
            acc.max_abs = acc.max_abs.max(d);
            acc.sum_abs += d;
            acc.dot += xy;
            acc.na += xx;
            acc.nb += yy;
            acc.n += 1;
            let c = &mut acc.channels[(i / inner.max(1)) % channels];
            c[0] += xy;
            c[1] += xx;
            c[2] += yy;
            c[3] += 1.0;
        }
        if acc.classifier {
            let classes = reference.shape()[1];
            for (ra, rb) in a.chunks(classes).zip(b.chunks(classes)) {
                acc.rows += 1;
                acc.rows_agree += u64::from(argmax(ra) == argmax(rb));
            }
        }
        Ok(())
    }

    /// The fidelity of each output, in the order first seen.
    pub fn finish(&self) -> Vec<OutputFidelity> {
        self.outputs
            .iter()
            .map(|a| OutputFidelity {
                name: a.name.clone(),
                max_abs: a.max_abs,
                mean_abs: if a.n > 0 { a.sum_abs / a.n as f64 } else { 0.0 },
                cosine: (a.na > 0.0 && a.nb > 0.0).then(|| a.dot / (a.na.sqrt() * a.nb.sqrt())),
                normalized_cosine: normalized_cosine(&a.channels),
                top1_agreement: (a.classifier && a.rows > 0)
                    .then(|| a.rows_agree as f64 / a.rows as f64),
                values: a.n,
                non_finite_mismatches: a.bad,
            })
            .collect()
    }
}

/// The cosine of the values scaled per channel by the reference's root mean square, from
/// per-channel sums (see the module docs). Channels where the reference is all zeros are left
/// out: there is no scale to measure against (the all-zero rule of verification covers them).
fn normalized_cosine(channels: &[[f64; 4]]) -> Option<f64> {
    let (mut dot, mut na, mut nb) = (0.0, 0.0, 0.0);
    for &[sab, saa, sbb, n] in channels {
        if n == 0.0 || sbb <= 0.0 {
            continue;
        }
        let ms = sbb / n;
        dot += sab / ms;
        na += saa / ms;
        nb += sbb / ms;
    }
    (na > 0.0 && nb > 0.0).then(|| (dot / (na.sqrt() * nb.sqrt())).clamp(-1.0, 1.0))
}

/// Index of the largest value (first one on ties; NaN never wins).
pub fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || values[best].is_nan() && !v.is_nan() {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_by_hand() {
        let mut acc = FidelityAccumulator::default();
        let r = Tensor::from_f32(vec![2, 2], vec![1.0, 0.0, 0.0, 1.0]).unwrap();
        let c = Tensor::from_f32(vec![2, 2], vec![1.0, 0.5, 0.6, 0.5]).unwrap();
        acc.add("y", &c, &r).unwrap();
        let f = &acc.finish()[0];
        assert!((f.max_abs - 0.6).abs() < 1e-6);
        assert!((f.mean_abs - (0.0 + 0.5 + 0.6 + 0.5) / 4.0).abs() < 1e-6);
        // cos = (1 + 0.5) / (sqrt(2) * sqrt(1 + 0.25 + 0.36 + 0.25))
        let cos = 1.5 / (2f64.sqrt() * 1.86f64.sqrt());
        assert!((f.cosine.unwrap() - cos).abs() < 1e-6);
        // Row 0 agrees (0 vs 0); row 1: candidate argmax 0, reference 1.
        assert_eq!(f.top1_agreement, Some(0.5));
    }

    /// Issue 14: a detector-style output, 4 box channels in pixels and 2 score channels in
    /// [0, 1]. Scrambling the scores leaves the raw cosine near 1 (the boxes dominate it) and
    /// takes the normalized one far below.
    #[test]
    fn normalized_cosine_weighs_every_channel_by_its_spread() {
        let n = 50;
        let mut reference = Vec::new();
        let mut candidate = Vec::new();
        for ch in 0..6 {
            for i in 0..n {
                let v = if ch < 4 {
                    300.0 + 100.0 * ((i * (ch + 3)) % 17) as f32
                } else {
                    ((i * (ch + 5)) % 11) as f32 / 10.0
                };
                reference.push(v);
                // Scores reversed in the candidate; boxes kept.
                candidate.push(if ch < 4 { v } else { 1.0 - v });
            }
        }
        let r = Tensor::from_f32(vec![1, 6, n], reference).unwrap();
        let c = Tensor::from_f32(vec![1, 6, n], candidate).unwrap();
        let mut acc = FidelityAccumulator::default();
        acc.add("det", &c, &r).unwrap();
        let f = &acc.finish()[0];
        assert!(f.cosine.unwrap() > 0.999, "{f:?}");
        // Each score channel alone is at about 0.5: (4 · 1 + 2 · 0.5) / 6 in the limit.
        let norm = f.normalized_cosine.unwrap();
        assert!(norm < 0.85, "{f:?}");
        // Identical outputs: exactly 1 either way.
        let mut acc = FidelityAccumulator::default();
        acc.add("det", &r, &r).unwrap();
        let f = &acc.finish()[0];
        assert!((f.normalized_cosine.unwrap() - 1.0).abs() < 1e-12, "{f:?}");
    }

    /// The per-channel cosine by hand: two channels, reference [1, 3] and [10, 30] (mean squares
    /// 5 and 500), candidate [1, 3] and [30, 10]: Σab/ms = 10/5 + 600/500 = 3.2, Σa²/ms = Σb²/ms
    /// = 2 + 2 = 4: cosine 0.8, where the raw cosine is 610/1010 (the larger channel decides).
    #[test]
    fn normalized_cosine_by_hand() {
        let r = Tensor::from_f32(vec![1, 2, 2], vec![1.0, 3.0, 10.0, 30.0]).unwrap();
        let c = Tensor::from_f32(vec![1, 2, 2], vec![1.0, 3.0, 30.0, 10.0]).unwrap();
        let mut acc = FidelityAccumulator::default();
        acc.add("y", &c, &r).unwrap();
        let f = &acc.finish()[0];
        assert!((f.normalized_cosine.unwrap() - 0.8).abs() < 1e-12, "{f:?}");
        // Raw cosine: (1 + 9 + 300 + 300) / (sqrt(1010) sqrt(1010)) = 610 / 1010.
        assert!((f.cosine.unwrap() - 610.0 / 1010.0).abs() < 1e-9);
    }

    /// Rank-2 outputs (logits, embeddings) are compared as whole vectors: the per-channel
    /// cosine is the raw one.
    #[test]
    fn vectors_per_sample_are_one_channel() {
        let r = Tensor::from_f32(vec![2, 3], vec![10.0, 0.01, -3.0, 9.0, 0.02, -2.0]).unwrap();
        let c = Tensor::from_f32(vec![2, 3], vec![10.1, -0.01, -3.0, 9.0, 0.03, -2.1]).unwrap();
        let mut acc = FidelityAccumulator::default();
        acc.add("emb", &c, &r).unwrap();
        let f = &acc.finish()[0];
        assert!(
            (f.normalized_cosine.unwrap() - f.cosine.unwrap()).abs() < 1e-12,
            "{f:?}"
        );
    }

    #[test]
    fn shape_mismatch_and_non_finite() {
        let mut acc = FidelityAccumulator::default();
        let r = Tensor::from_f32(vec![3], vec![1.0, 2.0, 3.0]).unwrap();
        let c = Tensor::from_f32(vec![1, 3], vec![1.0, 2.0, 3.0]).unwrap();
        assert!(acc.add("y", &c, &r).is_err());
        let c = Tensor::from_f32(vec![3], vec![f32::INFINITY, 2.0, 3.0]).unwrap();
        acc.add("y", &c, &r).unwrap();
        let f = &acc.finish()[0];
        assert_eq!(f.non_finite_mismatches, 1);
        assert_eq!(f.top1_agreement, None);
        assert_eq!(argmax(&[f64::NAN, 1.0, 3.0, 3.0]), 2);
    }
}
