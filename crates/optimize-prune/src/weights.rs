//! Reading, writing and cutting float32 weights: the tensor arithmetic every pass shares.
//!
//! Weights are row-major. Cutting along an axis keeps the listed indices of that axis, where one
//! index may stand for a *block* of consecutive entries (after `Flatten`, input channel `c` of a
//! `Gemm` is the block of rows `c·hw .. (c+1)·hw`).

use crate::{Error, Result};
use optimize_onnx::build::read_f32;
use optimize_onnx::proto::{TensorProto, ValueInfoProto};

/// The values of a float32 initializer.
pub fn read(t: &TensorProto) -> Result<Vec<f32>> {
    let values = read_f32(t).ok_or_else(|| Error::BadWeight {
        tensor: t.name().to_string(),
        detail: "not a float32 tensor with inline data".into(),
    })?;
    let expected: i64 = t.dims.iter().product();
    if values.len() as i64 != expected {
        return Err(Error::BadWeight {
            tensor: t.name().to_string(),
            detail: format!(
                "holds {} values, its shape {:?} needs {expected}",
                values.len(),
                t.dims
            ),
        });
    }
    Ok(values)
}

/// The shape of an initializer as sizes.
pub fn dims(t: &TensorProto) -> Vec<usize> {
    t.dims.iter().map(|&d| d.max(0) as usize).collect()
}

/// Replaces the data and shape of a float32 initializer, keeping its name and other fields.
pub fn write(t: &mut TensorProto, dims: &[usize], values: &[f32]) {
    t.dims = dims.iter().map(|&d| d as i64).collect();
    t.float_data.clear();
    t.raw_data = Some(values.iter().flat_map(|v| v.to_le_bytes()).collect());
}

/// A graph input declaring `t` with its type and shape (IR < 4 lists initializers as inputs).
pub fn as_input(t: &TensorProto) -> ValueInfoProto {
    let dims: Vec<Option<i64>> = t.dims.iter().map(|&d| Some(d)).collect();
    optimize_onnx::build::value_info(t.name(), t.data_type(), &dims)
}

/// Counts the entries that are exactly zero.
pub fn zeros(values: &[f32]) -> usize {
    values.iter().filter(|v| **v == 0.0).count()
}

/// Sizes of the axes before `axis`, of `axis`, and after it.
pub fn split_at_axis(dims: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = dims[..axis].iter().product();
    let inner = dims[axis + 1..].iter().product();
    (outer, dims[axis], inner)
}

/// Keeps the entries of `values` (shape `dims`) whose index along `axis`, divided by `block`,
/// is marked in `keep`. `dims[axis]` must be `keep.len() * block`. Returns the new values and
/// shape.
pub fn keep_along(
    values: &[f32],
    dims: &[usize],
    axis: usize,
    keep: &[bool],
    block: usize,
) -> (Vec<f32>, Vec<usize>) {
    let (outer, len, inner) = split_at_axis(dims, axis);
    debug_assert_eq!(len, keep.len() * block);
    let kept = keep.iter().filter(|k| **k).count();
    let mut out = Vec::with_capacity(outer * kept * block * inner);
    for o in 0..outer {
        for (c, _) in keep.iter().enumerate().filter(|(_, k)| **k) {
            let start = (o * len + c * block) * inner;
            out.extend_from_slice(&values[start..start + block * inner]);
        }
    }
    let mut new_dims = dims.to_vec();
    new_dims[axis] = kept * block;
    (out, new_dims)
}

/// Sets to zero the entries whose index along `axis`, divided by `block`, is not marked in `keep`.
pub fn zero_along(values: &mut [f32], dims: &[usize], axis: usize, keep: &[bool], block: usize) {
    let (outer, len, inner) = split_at_axis(dims, axis);
    for o in 0..outer {
        for (c, _) in keep.iter().enumerate().filter(|(_, k)| !**k) {
            let start = (o * len + c * block) * inner;
            values[start..start + block * inner].fill(0.0);
        }
    }
}

/// The L1 (`p = 1`) or L2 (`p = 2`) norm of each slice along `axis`: one value per output
/// channel when `axis` is the output axis.
pub fn norms_along(values: &[f32], dims: &[usize], axis: usize, p: u32) -> Vec<f64> {
    let (outer, len, inner) = split_at_axis(dims, axis);
    let mut acc = vec![0f64; len];
    for o in 0..outer {
        for (c, a) in acc.iter_mut().enumerate() {
            let start = (o * len + c) * inner;
            for v in &values[start..start + inner] {
                let v = f64::from(v.abs());
                *a += if p == 1 { v } else { v * v };
            }
        }
    }
    if p == 2 {
        acc.iter_mut().for_each(|a| *a = a.sqrt());
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_and_zeroes_slices_along_an_axis() {
        // [2, 3]: keep columns 0 and 2.
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let (v, d) = keep_along(&w, &[2, 3], 1, &[true, false, true], 1);
        assert_eq!((v, d), (vec![1.0, 3.0, 4.0, 6.0], vec![2, 2]));
        // Rows in blocks of 2: [4, 1] with keep [false, true] keeps rows 2 and 3.
        let (v, d) = keep_along(&[1.0, 2.0, 3.0, 4.0], &[4, 1], 0, &[false, true], 2);
        assert_eq!((v, d), (vec![3.0, 4.0], vec![2, 1]));
        let mut z = w;
        zero_along(&mut z, &[2, 3], 0, &[true, false], 1);
        assert_eq!(z, [1.0, 2.0, 3.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn norms_per_output_channel() {
        // Conv [2, 1, 1, 2]: channel 0 = (3, -4), channel 1 = (1, 0).
        let w = [3.0, -4.0, 1.0, 0.0];
        assert_eq!(norms_along(&w, &[2, 1, 1, 2], 0, 1), vec![7.0, 1.0]);
        assert_eq!(norms_along(&w, &[2, 1, 1, 2], 0, 2), vec![5.0, 1.0]);
    }
}
