//! The linear algebra low-rank factorization needs: eigenvectors of a symmetric matrix by the
//! cyclic Jacobi method, in f64.
//!
//! The truncated SVD of a weight `W` (`K × N`) is taken through the Gram matrix of its smaller
//! side: for `N ≤ K`, the eigenvectors `V` of `WᵀW` are `W`'s right singular vectors and its
//! eigenvalues the squared singular values, so `W·V_r·V_rᵀ` is the best rank-`r` approximation
//! (Eckart–Young) and `A = W·V_r`, `B = V_rᵀ` are its factors. With every vector kept, `V·Vᵀ = I`
//! to rounding, so full rank reproduces `W`. Jacobi rotations keep `V` orthogonal to machine
//! precision; each sweep costs `O(n³)` for an `n × n` Gram matrix and a handful of sweeps
//! converge.
//!
//! ```
//! use optimize_prune::svd::symmetric_eigen;
//! // [[2, 1], [1, 2]] has eigenvalues 3 and 1.
//! let (values, _vectors) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
//! assert!((values[0] - 3.0).abs() < 1e-12 && (values[1] - 1.0).abs() < 1e-12);
//! ```

/// Sweeps after which Jacobi stops even if not converged (it converges quadratically; real
/// weights need fewer than 15).
const MAX_SWEEPS: usize = 60;

/// Eigenvalues (largest first) and eigenvectors of the symmetric `n × n` row-major matrix `a`.
/// The vectors are the columns of the returned row-major `n × n` matrix, in the order of the
/// values.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(a.len(), n * n, "symmetric_eigen: {n}x{n} matrix expected");
    let mut a = a.to_vec();
    let mut v = vec![0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let total: f64 = a.iter().map(|x| x * x).sum();
    for _ in 0..MAX_SWEEPS {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        if off <= total * 1e-30 || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < f64::MIN_POSITIVE {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A ← JᵀAJ with J the rotation in the (p, q) plane; V ← VJ.
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[j * n + j].total_cmp(&a[i * n + i]).then(i.cmp(&j)));
    let values = order.iter().map(|&i| a[i * n + i]).collect();
    let mut vectors = vec![0f64; n * n];
    for (col, &i) in order.iter().enumerate() {
        for k in 0..n {
            vectors[k * n + col] = v[k * n + i];
        }
    }
    (values, vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decomposes_and_reconstructs() {
        // A symmetric 4x4 with a repeated eigenvalue.
        let a = [
            4.0, 1.0, 0.0, 2.0, //
            1.0, 3.0, 0.0, 0.0, //
            0.0, 0.0, 3.0, 0.0, //
            2.0, 0.0, 0.0, 5.0,
        ];
        let n = 4;
        let (values, v) = symmetric_eigen(&a, n);
        assert!(values.windows(2).all(|w| w[0] >= w[1]), "{values:?}");
        // V diag(λ) Vᵀ = A and VᵀV = I.
        for i in 0..n {
            for j in 0..n {
                let rebuilt: f64 = (0..n)
                    .map(|k| v[i * n + k] * values[k] * v[j * n + k])
                    .sum();
                assert!((rebuilt - a[i * n + j]).abs() < 1e-10, "({i}, {j})");
                let dot: f64 = (0..n).map(|k| v[k * n + i] * v[k * n + j]).sum();
                assert!((dot - f64::from(u8::from(i == j))).abs() < 1e-12);
            }
        }
        let trace: f64 = values.iter().sum();
        assert!((trace - 15.0).abs() < 1e-10);
    }

    #[test]
    fn zero_matrix_is_fine() {
        let (values, v) = symmetric_eigen(&[0.0; 9], 3);
        assert_eq!(values, vec![0.0; 3]);
        assert_eq!(v[0] + v[4] + v[8], 3.0);
    }
}
