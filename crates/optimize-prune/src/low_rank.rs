//! Low-rank factorization: a MatMul or Gemm weight `W` (`K × N`) replaced by two factors
//! `A` (`K × r`) and `B` (`r × N`) from a truncated SVD, when that saves parameters.
//!
//! The rank is given ([`RankRule::Rank`]) or chosen as the smallest that keeps a share `e` of
//! the energy, the sum of squared singular values ([`RankRule::Energy`]). The factors are the
//! best rank-`r` approximation of `W` (see [`crate::svd`]); the layer is rewritten only when
//! `r·(K + N) < K·N`, otherwise it is left alone with the numbers (unless forced). `MatMul(x, W)`
//! becomes `MatMul(MatMul(x, A), B)`; `Gemm(x, W, C)` becomes `Gemm(MatMul(x, A), B, C)` with
//! its `alpha`, `beta` and `transB` kept (factors stored transposed when `transB` is set).
//! Convolutions are left alone. Gemm nodes with `transA` are left alone.
//!
//! What it buys: fewer parameters and fewer multiply-adds in the factored layers on every
//! runtime (`r·(K + N)` instead of `K·N` per row), at the price of one more node each.
//!
//! ```
//! use optimize_prune::low_rank::{low_rank_factors, RankRule};
//! // A rank-1 matrix [[1, 2], [2, 4], [3, 6]] is kept whole by rank 1.
//! let w = [1.0, 2.0, 2.0, 4.0, 3.0, 6.0];
//! let f = low_rank_factors(&w, 3, 2, RankRule::Energy(0.999)).unwrap();
//! assert_eq!(f.rank, 1);
//! let rebuilt: Vec<f32> = (0..3)
//!     .flat_map(|i| (0..2).map(move |j| (i, j)))
//!     .map(|(i, j)| f.a[i] * f.b[j])
//!     .collect();
//! assert!(rebuilt.iter().zip(&w).all(|(x, y)| (x - y).abs() < 1e-5));
//! ```

use crate::layers::{find_layers, Layer};
use crate::report::{LayerChange, ParamStats, PruneReport, Skipped};
use crate::svd::svd;
use crate::{weights, Error, Result};
use optimize_onnx::build::{attr_i, node, tensor_f32};
use optimize_onnx::filter::NodeFilter;
use optimize_onnx::names::Names;
use optimize_onnx::proto::NodeProto;
use optimize_onnx::{GraphView, Model};
use std::collections::{HashMap, HashSet};

/// How the rank of the factors is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RankRule {
    /// This rank (capped at `min(K, N)`).
    Rank(usize),
    /// The smallest rank keeping this share, in `(0, 1]`, of the squared singular values.
    Energy(f64),
}

/// Settings for [`factorize`].
#[derive(Debug, Clone)]
pub struct LowRankConfig {
    /// How the rank is chosen.
    pub rule: RankRule,
    /// Factor a layer even when the factors hold as many parameters as the weight or more (for
    /// tests and experiments).
    pub force: bool,
    /// Which nodes may be factored.
    pub filter: NodeFilter,
}

impl LowRankConfig {
    /// Checks the settings: a rank of at least 1, an energy in `(0, 1]`.
    pub fn validate(&self) -> Result<()> {
        match self.rule {
            RankRule::Rank(0) => Err(Error::InvalidRank {
                detail: "rank 0: the rank must be at least 1".into(),
            }),
            RankRule::Energy(e) if !(e > 0.0 && e <= 1.0) => Err(Error::InvalidRank {
                detail: format!("energy {e} is outside (0, 1]: give the share of the squared singular values to keep, e.g. 0.9"),
            }),
            _ => Ok(()),
        }
    }
}

/// Two factors of a `K × N` weight: `a` is `K × r`, `b` is `r × N`, both row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Factors {
    /// `K × r`.
    pub a: Vec<f32>,
    /// `r × N`.
    pub b: Vec<f32>,
    /// The rank `r`.
    pub rank: usize,
    /// Share of the squared singular values kept.
    pub energy: f64,
}

/// Factors the row-major `k × n` matrix `w` at the rank `rule` gives. `None` when `w` holds a
/// non-finite value (or its SVD does not converge, see [`crate::svd::svd`]).
pub fn low_rank_factors(w: &[f32], k: usize, n: usize, rule: RankRule) -> Option<Factors> {
    let wd: Vec<f64> = w.iter().map(|&x| f64::from(x)).collect();
    let d = svd(&wd, k, n)?;
    let m = d.s.len();
    let values: Vec<f64> = d.s.iter().map(|s| s * s).collect();
    let total: f64 = values.iter().sum();
    let rank = match rule {
        RankRule::Rank(r) => r.clamp(1, m),
        RankRule::Energy(e) => {
            let mut acc = 0.0;
            let mut r = m;
            for (i, v) in values.iter().enumerate() {
                acc += v;
                if total == 0.0 || acc >= e * total * (1.0 - 1e-12) {
                    r = i + 1;
                    break;
                }
            }
            r
        }
    };
    let kept: f64 = values[..rank].iter().sum();
    let energy = if total > 0.0 { kept / total } else { 1.0 };
    // The singular values go with the factor on the larger side, as `W·V_r` (k ≥ n) or
    // `U_rᵀ·W` (k < n) would put them.
    let scale_a = n <= k;
    let mut a = vec![0f32; k * rank];
    for i in 0..k {
        for c in 0..rank {
            let s = if scale_a { d.s[c] } else { 1.0 };
            a[i * rank + c] = (d.u[i * m + c] * s) as f32;
        }
    }
    let mut b = vec![0f32; rank * n];
    for c in 0..rank {
        let s = if scale_a { 1.0 } else { d.s[c] };
        for j in 0..n {
            b[c * n + j] = (d.vt[c * n + j] * s) as f32;
        }
    }
    Some(Factors { a, b, rank, energy })
}

/// Replaces MatMul/Gemm weights by low-rank factors where that saves parameters. Errors if the
/// settings are invalid or no layer is factored.
pub fn factorize(model: &Model, config: &LowRankConfig) -> Result<(Model, PruneReport)> {
    config.validate()?;
    let (mut out, constants) = crate::prepare(model);
    let mut names = Names::of(&out.proto);
    let list_as_inputs = out.proto.ir_version.unwrap_or(0) < 4;
    let graph = out.proto.graph.get_or_insert_with(Default::default);
    let (found, mut skipped) = find_layers(graph, &config.filter);
    let before = crate::parameter_stats(graph);
    let index = crate::initializer_index(graph);
    let mut skip = |l: &Layer, reason: String| {
        skipped.push(Skipped {
            node: l.name.clone(),
            op_type: l.op_type.clone(),
            reason,
        })
    };
    // Node index → the two nodes replacing it.
    let mut replacements: HashMap<usize, [NodeProto; 2]> = HashMap::new();
    let mut changes = Vec::new();
    // By weight and orientation: a weight shared by a Gemm with transB and one without is
    // factored once per orientation.
    let mut factors_of: HashMap<(String, bool), Factors> = HashMap::new();
    let mut new_tensors = Vec::new();
    for l in found {
        let n = &graph.node[l.node];
        match l.op_type.as_str() {
            "MatMul" => {}
            "Gemm" if attr_i(n, "transA", 0) != 0 => {
                skip(&l, "Gemm with transA is not factored".into());
                continue;
            }
            "Gemm" => {}
            other => {
                skip(
                    &l,
                    format!("{other} weights are not factored (MatMul and Gemm only)"),
                );
                continue;
            }
        }
        let trans_b = l.op_type == "Gemm" && attr_i(n, "transB", 0) != 0;
        let (k, nn) = if trans_b {
            (l.dims[1], l.dims[0])
        } else {
            (l.dims[0], l.dims[1])
        };
        let f = match factors_of.get(&(l.weight.clone(), trans_b)) {
            Some(f) => f.clone(),
            None => {
                let stored = weights::read(&graph.initializer[index[&l.weight]])?;
                let w = if trans_b {
                    transpose(&stored, nn, k)
                } else {
                    stored
                };
                let Some(f) = low_rank_factors(&w, k, nn, config.rule) else {
                    skip(&l, "the weight holds non-finite values".into());
                    continue;
                };
                factors_of.insert((l.weight.clone(), trans_b), f.clone());
                f
            }
        };
        let r = f.rank;
        if r * (k + nn) >= k * nn && !config.force {
            skip(
                &l,
                format!(
                    "rank {r} keeps {} parameters in two factors, not fewer than the {} of [{k}, {nn}]",
                    r * (k + nn),
                    k * nn
                ),
            );
            continue;
        }
        let a_name = names.fresh(&format!("{}_lowrank_a", l.weight));
        let b_name = names.fresh(&format!("{}_lowrank_b", l.weight));
        let mid = names.fresh(&format!("{}_lowrank", n.output[0]));
        let first = node(
            "MatMul",
            &[&n.input[0], &a_name],
            &[&mid],
            &names.fresh(&format!("{}_lowrank_a", l.name)),
        );
        let mut second = n.clone();
        second.input[0] = mid.clone();
        second.input[1] = b_name.clone();
        let (a_dims, b_dims) = ([k, r], [r, nn]);
        if trans_b {
            // Gemm keeps transB = 1: B is stored [N, r]; A stays [K, r] for the MatMul.
            new_tensors.push(tensor_f32(&a_name, &[k as i64, r as i64], &f.a));
            new_tensors.push(tensor_f32(
                &b_name,
                &[nn as i64, r as i64],
                &transpose(&f.b, r, nn),
            ));
        } else {
            new_tensors.push(tensor_f32(&a_name, &[k as i64, r as i64], &f.a));
            new_tensors.push(tensor_f32(&b_name, &[r as i64, nn as i64], &f.b));
        }
        replacements.insert(l.node, [first, second]);
        changes.push(LayerChange {
            node: l.name.clone(),
            op_type: l.op_type.clone(),
            weight: l.weight.clone(),
            shape_before: l.dims.clone(),
            shape_after: a_dims.iter().chain(&b_dims).copied().collect(),
            zeros_before: 0,
            zeros_after: 0,
            params_before: k * nn,
            params_after: r * (k + nn),
            rank: Some(r),
            energy: Some(f.energy),
        });
    }
    if changes.is_empty() {
        return Err(crate::nothing_to_prune(model, &skipped));
    }
    let old = std::mem::take(&mut graph.node);
    for (i, n) in old.into_iter().enumerate() {
        match replacements.remove(&i) {
            Some(pair) => graph.node.extend(pair),
            None => graph.node.push(n),
        }
    }
    if list_as_inputs {
        // IR < 4: every initializer is also a graph input.
        graph
            .input
            .extend(new_tensors.iter().map(crate::weights::as_input));
    }
    graph.initializer.extend(new_tensors);
    // Weights no node reads any more go.
    let gv = GraphView::new(graph);
    let unused: HashSet<String> = changes
        .iter()
        .map(|c| c.weight.clone())
        .filter(|w| gv.consumers(w).is_empty() && !gv.is_output(w))
        .collect();
    drop(gv);
    graph.initializer.retain(|t| !unused.contains(t.name()));
    graph.input.retain(|i| !unused.contains(i.name()));
    let after = crate::parameter_stats(graph);
    let settings = match config.rule {
        RankRule::Rank(r) => format!("rank {r}"),
        RankRule::Energy(e) => format!("energy {e}"),
    };
    let report = PruneReport {
        method: "low-rank".into(),
        settings: if config.force {
            format!("{settings}, forced")
        } else {
            settings
        },
        constants_folded: constants,
        layers: changes,
        skipped,
        groups: Vec::new(),
        parameters: ParamStats {
            before: before.0,
            after: after.0,
            zeros_before: before.1,
            zeros_after: after.1,
        },
        pattern_check: None,
        notes: vec![
            "low-rank factors: fewer parameters and multiply-adds in the factored layers on every runtime, one more node each; accuracy drops with the energy left out until fine-tuned".into(),
        ],
    };
    Ok((out, report))
}

/// Transposes a row-major `[r, c]` matrix.
fn transpose(values: &[f32], r: usize, c: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for i in 0..r {
        for j in 0..c {
            out[j * r + i] = values[i * c + j];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(f: &Factors, k: usize, n: usize) -> Vec<f32> {
        let r = f.rank;
        (0..k * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                (0..r).map(|c| f.a[i * r + c] * f.b[c * n + j]).sum()
            })
            .collect()
    }

    #[test]
    fn full_rank_reproduces_either_orientation() {
        let w: Vec<f32> = (0..12).map(|i| ((i * 7 % 5) as f32) - 2.0).collect();
        for (k, n) in [(3, 4), (4, 3)] {
            let f = low_rank_factors(&w, k, n, RankRule::Rank(99)).unwrap();
            assert_eq!(f.rank, 3);
            let p = product(&f, k, n);
            for (x, y) in p.iter().zip(&w) {
                assert!((x - y).abs() < 1e-5, "{k}x{n}: {x} vs {y}");
            }
            assert!((f.energy - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn energy_picks_the_smallest_rank() {
        // Rank 2: u1 v1ᵀ * 10 + u2 v2ᵀ (orthogonal u's): energies 100·|u1|²|v1|² vs 1·...
        let (k, n) = (4, 3);
        let mut w = vec![0f32; k * n];
        let u1 = [1.0, 1.0, 0.0, 0.0];
        let v1 = [1.0, 0.0, 0.0];
        let u2 = [0.0, 0.0, 1.0, -1.0];
        let v2 = [0.0, 1.0, 1.0];
        for i in 0..k {
            for j in 0..n {
                w[i * n + j] = 10.0 * u1[i] * v1[j] + u2[i] * v2[j];
            }
        }
        // Squared singular values: 200 and 4: 98% of the energy in the first.
        assert_eq!(
            low_rank_factors(&w, k, n, RankRule::Energy(0.95))
                .unwrap()
                .rank,
            1
        );
        let f = low_rank_factors(&w, k, n, RankRule::Energy(0.99)).unwrap();
        assert_eq!(f.rank, 2);
        let p = product(&f, k, n);
        assert!(p.iter().zip(&w).all(|(x, y)| (x - y).abs() < 1e-5));
    }

    #[test]
    fn non_finite_weights_are_not_factored() {
        assert_eq!(
            low_rank_factors(&[1.0, f32::NAN], 1, 2, RankRule::Rank(1)),
            None
        );
    }

    #[test]
    fn settings_are_checked() {
        let bad = |rule| LowRankConfig {
            rule,
            force: false,
            filter: NodeFilter::default(),
        };
        assert!(bad(RankRule::Rank(0)).validate().is_err());
        assert!(bad(RankRule::Energy(0.0)).validate().is_err());
        assert!(bad(RankRule::Energy(1.5)).validate().is_err());
        assert!(bad(RankRule::Energy(f64::NAN)).validate().is_err());
        bad(RankRule::Energy(1.0)).validate().unwrap();
    }
}
