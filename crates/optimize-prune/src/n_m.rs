//! N:M semi-structured sparsity: in every group of `M` consecutive weights along the input
//! (reduction) dimension, at most `N` are non-zero.
//!
//! Groups run along the axis a layer sums over ([`crate::layers`]): `K` of a MatMul weight
//! `[K, N]` or a Gemm weight (`[N, K]` with `transB`), the input channels of a Conv weight
//! `[O, I/group, kh, kw]` at each kernel position. In each group the `N` entries of largest
//! `|w|` are kept (ties: the earlier one) and the rest set to zero. 2:4 is the pattern NVIDIA
//! sparse tensor cores (Ampere and later) run at up to twice the dense speed; a layer whose input
//! dimension is not a multiple of `M` is left alone, as those kernels require. After pruning,
//! [`check_n_m`] confirms every group of every pruned weight holds the pattern.
//!
//! What it buys: on ONNX Runtime and tract on the CPU, nothing (the weights stay dense); on a
//! GPU runtime with sparse kernels (TensorRT with sparsity enabled), up to 2× in those layers.
//!
//! ```
//! use optimize_prune::n_m::{apply_n_m, check_n_m, NmPattern};
//! let p: NmPattern = "2:4".parse()?;
//! // MatMul weight [K=4, N=1]: one group down the column.
//! let mut w = [0.1, -0.9, 0.5, 0.2];
//! apply_n_m(&mut w, &[4, 1], 0, p);
//! assert_eq!(w, [0.0, -0.9, 0.5, 0.0]);
//! assert_eq!(check_n_m(&w, &[4, 1], 0, p), Ok(1));
//! # Ok::<(), optimize_prune::Error>(())
//! ```

use crate::layers::find_layers;
use crate::magnitude::distinct_weights;
use crate::report::{LayerChange, ParamStats, PatternCheck, PruneReport, Skipped};
use crate::weights::{self, split_at_axis};
use crate::{prepare, Error, Result};
use optimize_onnx::filter::NodeFilter;
use optimize_onnx::Model;
use std::fmt;
use std::str::FromStr;

/// Largest group size accepted.
pub const MAX_M: usize = 64;

/// An N:M pattern: at most `n` non-zeros in every `m` consecutive weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NmPattern {
    /// Non-zeros kept per group.
    pub n: usize,
    /// Group size.
    pub m: usize,
}

impl FromStr for NmPattern {
    type Err = Error;

    /// Parses `N:M` with `0 < N < M <= 64`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::UnknownPattern {
            given: s.to_string(),
        };
        let (n, m) = s.trim().split_once(':').ok_or_else(bad)?;
        let n: usize = n.trim().parse().map_err(|_| bad())?;
        let m: usize = m.trim().parse().map_err(|_| bad())?;
        if n == 0 || n >= m || m > MAX_M {
            return Err(bad());
        }
        Ok(NmPattern { n, m })
    }
}

// In a config, the same text as on the command line: "2:4".
impl serde::Serialize for NmPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for NmPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for NmPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.n, self.m)
    }
}

/// Settings for [`prune_n_m`].
#[derive(Debug, Clone)]
pub struct NmConfig {
    /// The pattern.
    pub pattern: NmPattern,
    /// Which nodes may be pruned.
    pub filter: NodeFilter,
}

/// Calls `f` with the flat indices of each group of `m` along `axis`, in order.
fn for_each_group(dims: &[usize], axis: usize, m: usize, mut f: impl FnMut(&[usize])) {
    let (outer, len, inner) = split_at_axis(dims, axis);
    let mut idx = vec![0usize; m];
    for o in 0..outer {
        for g in 0..len / m {
            for s in 0..inner {
                for (j, slot) in idx.iter_mut().enumerate() {
                    *slot = (o * len + g * m + j) * inner + s;
                }
                f(&idx);
            }
        }
    }
}

/// Keeps the `n` largest-magnitude entries of every group of `m` along `axis` and zeroes the
/// rest. `dims[axis]` must be a multiple of `m` (entries past the last whole group are left).
pub fn apply_n_m(values: &mut [f32], dims: &[usize], axis: usize, pattern: NmPattern) {
    let mut order: Vec<usize> = Vec::with_capacity(pattern.m);
    for_each_group(dims, axis, pattern.m, |idx| {
        order.clear();
        order.extend(0..idx.len());
        // Largest first; ties keep the earlier entry.
        order.sort_by(|&a, &b| {
            values[idx[b]]
                .abs()
                .total_cmp(&values[idx[a]].abs())
                .then(a.cmp(&b))
        });
        for &j in &order[pattern.n..] {
            values[idx[j]] = 0.0;
        }
    });
}

/// Checks that every group of `m` along `axis` holds at most `n` non-zeros. Returns the number
/// of groups checked, or the first bad group's index and its non-zero count.
pub fn check_n_m(
    values: &[f32],
    dims: &[usize],
    axis: usize,
    pattern: NmPattern,
) -> std::result::Result<usize, (usize, usize)> {
    let mut groups = 0;
    let mut bad = None;
    for_each_group(dims, axis, pattern.m, |idx| {
        let nonzeros = idx.iter().filter(|&&i| values[i] != 0.0).count();
        if nonzeros > pattern.n && bad.is_none() {
            bad = Some((groups, nonzeros));
        }
        groups += 1;
    });
    bad.map_or(Ok(groups), Err)
}

/// Prunes every candidate weight of `model` to the N:M pattern along its input dimension, then
/// checks the pattern. Errors if no layer can be pruned.
pub fn prune_n_m(model: &Model, config: &NmConfig) -> Result<(Model, PruneReport)> {
    let p = config.pattern;
    let (mut out, constants) = prepare(model);
    let graph = out.proto.graph.get_or_insert_with(Default::default);
    let (found, mut skipped) = find_layers(graph, &config.filter);
    let mut layers = Vec::new();
    for l in distinct_weights(found) {
        let k = l.dims[l.in_axis];
        if !k.is_multiple_of(p.m) {
            skipped.push(Skipped {
                node: l.name,
                op_type: l.op_type,
                reason: format!(
                    "input dimension {k} of weight {:?} is not a multiple of {}",
                    l.dims, p.m
                ),
            });
        } else {
            layers.push(l);
        }
    }
    if layers.is_empty() {
        return Err(crate::nothing_to_prune(model, &skipped));
    }
    let before = crate::parameter_stats(graph);
    let index = crate::initializer_index(graph);
    let mut changes = Vec::with_capacity(layers.len());
    let mut groups = 0;
    for l in &layers {
        let t = &mut graph.initializer[index[&l.weight]];
        let mut v = weights::read(t)?;
        let zeros_before = weights::zeros(&v);
        apply_n_m(&mut v, &l.dims, l.in_axis, p);
        groups += check_n_m(&v, &l.dims, l.in_axis, p).map_err(|(group, nonzeros)| {
            Error::PatternViolated {
                tensor: l.weight.clone(),
                group,
                nonzeros,
                n: p.n,
                m: p.m,
            }
        })?;
        weights::write(t, &l.dims, &v);
        changes.push(LayerChange {
            node: l.name.clone(),
            op_type: l.op_type.clone(),
            weight: l.weight.clone(),
            shape_before: l.dims.clone(),
            shape_after: l.dims.clone(),
            zeros_before,
            zeros_after: weights::zeros(&v),
            params_before: v.len(),
            params_after: v.len(),
            rank: None,
            energy: None,
        });
    }
    let after = crate::parameter_stats(graph);
    let report = PruneReport {
        method: "n:m".into(),
        settings: format!("pattern {p} along the input dimension"),
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
        pattern_check: Some(PatternCheck {
            n: p.n,
            m: p.m,
            weights: layers.len(),
            groups,
        }),
        notes: vec![format!(
            "{p} sparsity runs as dense on ONNX Runtime and tract (CPU): no faster, no smaller on disk; GPUs with sparse tensor cores (Ampere and later, e.g. TensorRT with sparsity enabled) run 2:4 layers up to 2x faster"
        )],
    };
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(s: &str) -> NmPattern {
        s.parse().unwrap()
    }

    #[test]
    fn parses_patterns() {
        assert_eq!(pattern("2:4"), NmPattern { n: 2, m: 4 });
        assert_eq!(pattern(" 1 : 8 "), NmPattern { n: 1, m: 8 });
        for bad in ["4:2", "0:4", "2:2", "2-4", "2:", "a:b", "1:128", ""] {
            assert!(
                matches!(bad.parse::<NmPattern>(), Err(Error::UnknownPattern { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn gemm_weight_groups_run_along_k() {
        // Gemm transB=1 weight [N=2, K=4]: each row is one group.
        let mut w = [4.0, 3.0, 2.0, 1.0, -1.0, 0.5, -2.0, 0.25];
        apply_n_m(&mut w, &[2, 4], 1, pattern("2:4"));
        assert_eq!(w, [4.0, 3.0, 0.0, 0.0, -1.0, 0.0, -2.0, 0.0]);
        assert_eq!(check_n_m(&w, &[2, 4], 1, pattern("2:4")), Ok(2));
    }

    #[test]
    fn conv_groups_run_along_input_channels_per_kernel_position() {
        // Conv [O=1, I=4, 1, 2]: position 0 holds 1,2,3,4; position 1 holds 8,7,6,5.
        let mut w = [1.0, 8.0, 2.0, 7.0, 3.0, 6.0, 4.0, 5.0];
        apply_n_m(&mut w, &[1, 4, 1, 2], 1, pattern("1:4"));
        assert_eq!(w, [0.0, 8.0, 0.0, 0.0, 0.0, 0.0, 4.0, 0.0]);
        assert_eq!(check_n_m(&w, &[1, 4, 1, 2], 1, pattern("1:4")), Ok(2));
    }

    #[test]
    fn check_finds_the_bad_group() {
        let w = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0];
        assert_eq!(check_n_m(&w, &[8, 1], 0, pattern("2:4")), Err((1, 3)));
    }

    #[test]
    fn ties_keep_the_earlier_entry() {
        let mut w = [1.0, 1.0, 1.0, 1.0];
        apply_n_m(&mut w, &[4], 0, pattern("2:4"));
        assert_eq!(w, [1.0, 1.0, 0.0, 0.0]);
    }
}
