//! The singular value decomposition low-rank factorization needs, in f64, from `nalgebra`.
//!
//! `nalgebra`'s SVD works on the matrix itself (Householder bidiagonalization, then implicit-shift
//! QR on the bidiagonal), so a singular value `σ` comes out with an absolute error near
//! `ε·σ_max`. Going through the Gram matrix `WᵀW` instead squares the condition number: its
//! eigenvalues are `σ²`, and every `σ` below about `√ε·σ_max ≈ 1e-8·σ_max` drowns in rounding.
//! By Eckart–Young, `U_r·diag(σ_r)·V_rᵀ` (the first `r` singular triplets) is the best rank-`r`
//! approximation of `W`.
//!
//! ```
//! use optimize_prune::svd::svd;
//! // [[3, 0], [0, -2]] has singular values 3 and 2.
//! let d = svd(&[3.0, 0.0, 0.0, -2.0], 2, 2).unwrap();
//! assert!((d.s[0] - 3.0).abs() < 1e-12 && (d.s[1] - 2.0).abs() < 1e-12);
//! ```

use nalgebra::{DMatrix, SVD};

/// The thin SVD `W = U·diag(s)·Vᵀ` of a `k × n` matrix, with `m = min(k, n)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Svd {
    /// `U`, `k × m` row-major: the left singular vectors as columns.
    pub u: Vec<f64>,
    /// The `m` singular values, largest first.
    pub s: Vec<f64>,
    /// `Vᵀ`, `m × n` row-major: the right singular vectors as rows.
    pub vt: Vec<f64>,
}

/// The thin SVD of the row-major `k × n` matrix `w`. `None` when `w` is empty, holds a
/// non-finite value, or the QR iteration does not converge within LAPACK's bound of `6·m²`
/// sweeps (finite matrices converge in far fewer).
pub fn svd(w: &[f64], k: usize, n: usize) -> Option<Svd> {
    assert_eq!(w.len(), k * n, "svd: {k}x{n} matrix expected");
    let m = k.min(n);
    if m == 0 || !w.iter().all(|x| x.is_finite()) {
        return None;
    }
    let matrix = DMatrix::from_row_slice(k, n, w);
    let d = SVD::try_new(matrix, true, true, f64::EPSILON, (6 * m * m).max(100))?;
    let (u, vt) = (d.u?, d.v_t?);
    let u = (0..k * m).map(|ij| u[(ij / m, ij % m)]).collect();
    let vt = (0..m * n).map(|ij| vt[(ij / n, ij % n)]).collect();
    Some(Svd {
        u,
        s: d.singular_values.iter().copied().collect(),
        vt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Householder reflection `I − 2·v·vᵀ/(vᵀv)`: symmetric and orthogonal.
    fn householder(v: &[f64]) -> Vec<f64> {
        let n = v.len();
        let vv: f64 = v.iter().map(|x| x * x).sum();
        (0..n * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                f64::from(u8::from(i == j)) - 2.0 * v[i] * v[j] / vv
            })
            .collect()
    }

    fn mul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
        (0..n * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                (0..n).map(|t| a[i * n + t] * b[t * n + j]).sum()
            })
            .collect()
    }

    /// `W = U[:, :5]·diag(s)·Vᵀ` (7 × 5) with `U`, `V` products of two reflections each, so
    /// the singular values are `s` exactly, up to the rounding of building `W` (about 1e-16).
    fn ill_conditioned() -> (Vec<f64>, usize, usize, Vec<f64>) {
        let (k, n) = (7, 5);
        let u = mul(
            &householder(&[1., 2., -1., 3., 0., 1., 2.]),
            &householder(&[2., -1., 1., 0., 1., -3., 1.]),
            k,
        );
        let v = mul(
            &householder(&[1., -2., 2., 1., 3.]),
            &householder(&[3., 1., -1., 2., -1.]),
            n,
        );
        let s = vec![1.0, 1e-3, 1e-5, 1e-7, 1e-10];
        let w = (0..k * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                (0..n).map(|t| u[i * k + t] * s[t] * v[j * n + t]).sum()
            })
            .collect();
        (w, k, n, s)
    }

    #[test]
    fn keeps_small_singular_values_of_an_ill_conditioned_matrix() {
        // Eigenvalues of WᵀW by Jacobi (the method this replaced) gave 2.9e-9 for the 1e-10 and
        // a relative error of 1.5e-3 for the 1e-7.
        let (w, k, n, s) = ill_conditioned();
        let wt: Vec<f64> = (0..n * k).map(|ji| w[(ji % k) * n + ji / k]).collect();
        for (w, k, n) in [(&w, k, n), (&wt, n, k)] {
            let d = svd(w, k, n).unwrap();
            for (got, want) in d.s.iter().zip(&s) {
                // Absolute error ≲ a few ε·σ_max; relative 1e-5 at σ = 1e-10.
                assert!(
                    (got - want).abs() <= 1e-5 * want,
                    "{k}x{n}: {got:e} vs {want:e}"
                );
            }
            // U·diag(s)·Vᵀ rebuilds W.
            let m = k.min(n);
            for i in 0..k {
                for j in 0..n {
                    let rebuilt: f64 = (0..m)
                        .map(|t| d.u[i * m + t] * d.s[t] * d.vt[t * n + j])
                        .sum();
                    assert!((rebuilt - w[i * n + j]).abs() < 1e-14, "({i}, {j})");
                }
            }
        }
    }

    #[test]
    fn empty_and_non_finite_are_refused() {
        assert_eq!(svd(&[], 0, 3), None);
        assert_eq!(svd(&[1.0, f64::NAN], 1, 2), None);
        let d = svd(&[0.0; 6], 2, 3).unwrap();
        assert_eq!(d.s, vec![0.0; 2]);
    }
}
