//! What a model says about its inputs and outputs.

use std::fmt;

use optimize_data::{DType, Tensor};

use crate::{Error, Result};

/// One dimension of a declared input or output shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A size chosen at run time, with the name the model gives it (such as `batch`).
    Symbolic(String),
    /// A size chosen at run time, unnamed.
    Unknown,
}

impl Dim {
    /// The size if fixed.
    pub fn fixed(&self) -> Option<usize> {
        match self {
            Dim::Fixed(n) => Some(*n),
            _ => None,
        }
    }

    /// True if `size` fits this dimension (any size fits a symbolic or unknown one).
    pub fn accepts(&self, size: usize) -> bool {
        self.fixed().is_none_or(|n| n == size)
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbolic(name) => f.write_str(name),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

/// A model input or output: name, element type and shape as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The graph input or output name.
    pub name: String,
    /// The element type, or `None` if the value is not a tensor of a [`DType`] (a string
    /// tensor, a sequence, a map); [`TensorInfo::onnx_type`] then says what it is.
    pub dtype: Option<DType>,
    /// The declared shape, outermost dimension first (empty for scalars and non-tensors).
    pub shape: Vec<Dim>,
    /// The type as the runtime describes it, e.g. `Tensor<f32>(batch, 64)`.
    pub onnx_type: String,
}

impl TensorInfo {
    /// `f32 [batch, 64]`: dtype and shape, as used in error messages.
    pub fn describe(&self) -> String {
        match self.dtype {
            Some(dtype) => format!("{dtype} {}", format_dims(&self.shape)),
            None => self.onnx_type.clone(),
        }
    }
}

pub(crate) fn format_dims<D: fmt::Display>(dims: &[D]) -> String {
    let parts: Vec<String> = dims.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// Checks named inputs against the declared ones: every declared input given exactly once,
/// with the declared dtype, rank and fixed dimensions. `rank_known(i)` is false for a declared
/// input whose rank the model leaves open; its shape is then not checked.
pub(crate) fn check_inputs(
    declared: &[TensorInfo],
    given: &[(String, Tensor)],
    rank_known: impl Fn(usize) -> bool,
) -> Result<()> {
    for (i, (name, tensor)) in given.iter().enumerate() {
        let Some((ix, info)) = declared
            .iter()
            .enumerate()
            .find(|(_, info)| &info.name == name)
        else {
            return Err(Error::UnknownInput {
                name: name.clone(),
                expected: declared.iter().map(|info| info.name.clone()).collect(),
            });
        };
        if given[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(Error::DuplicateInput { name: name.clone() });
        }
        let shape_fits = !rank_known(ix)
            || (info.shape.len() == tensor.shape().len()
                && info
                    .shape
                    .iter()
                    .zip(tensor.shape())
                    .all(|(dim, &n)| dim.accepts(n)));
        if info.dtype != Some(tensor.dtype()) || !shape_fits {
            return Err(Error::InputMismatch {
                name: name.clone(),
                expected: info.describe(),
                found: format!("{} {}", tensor.dtype(), format_dims(tensor.shape())),
            });
        }
    }
    if let Some(missing) = declared
        .iter()
        .find(|info| !given.iter().any(|(n, _)| n == &info.name))
    {
        return Err(Error::MissingInput {
            name: missing.name.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe() {
        let info = TensorInfo {
            name: "input".into(),
            dtype: Some(DType::F32),
            shape: vec![Dim::Symbolic("batch".into()), Dim::Fixed(64), Dim::Unknown],
            onnx_type: String::new(),
        };
        assert_eq!(info.describe(), "f32 [batch, 64, ?]");
        assert!(
            info.shape[0].accepts(7) && info.shape[1].accepts(64) && !info.shape[1].accepts(63)
        );
    }
}
