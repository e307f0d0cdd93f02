//! Top-1 accuracy of a classifier on labelled evaluation data.
//!
//! A prediction is the argmax of one row of a classifier output `[batch, classes]`
//! (classes ≥ 2; ties go to the first index, NaN never wins, as in
//! [`fidelity::argmax`](crate::fidelity::argmax)); it is correct when it equals the row's
//! integer label. `top1 = correct / samples`. Labels come from the evaluation set's `label`
//! (or `labels`) array, one per sample ([`CalibrationSet::labels`](optimize_data::CalibrationSet::labels)).
//!
//! How close a model stays to a *reference model* (rather than to labels) is
//! [`fidelity`](crate::fidelity).
//!
//! ```
//! use optimize_bench::accuracy::AccuracyAccumulator;
//! use optimize_data::Tensor;
//!
//! let mut acc = AccuracyAccumulator::new("logits");
//! let logits = Tensor::from_f32(vec![2, 3], vec![0.1, 0.7, 0.2, 0.9, 0.0, 0.1])?;
//! acc.add(&logits, &[1, 2])?; // row 0 predicts 1 (right), row 1 predicts 0 (wrong)
//! let a = acc.finish("eval.npz");
//! assert_eq!((a.correct, a.samples, a.top1), (1, 2, 0.5));
//! # Ok::<(), optimize_bench::Error>(())
//! ```

use optimize_data::Tensor;
use serde::{Deserialize, Serialize};

use crate::fidelity::argmax;
use crate::{Error, Result};

/// Top-1 accuracy on an evaluation set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// Share of samples predicted right, 0–1.
    pub top1: f64,
    /// Samples predicted right.
    pub correct: u64,
    /// Samples scored.
    pub samples: u64,
    /// The model output read as class scores.
    pub output: String,
    /// The evaluation data.
    pub data: String,
}

/// Counts right predictions one batch at a time.
#[derive(Debug, Clone)]
pub struct AccuracyAccumulator {
    output: String,
    correct: u64,
    samples: u64,
}

impl AccuracyAccumulator {
    /// An accumulator for scores read from output `output`.
    pub fn new(output: impl Into<String>) -> Self {
        Self {
            output: output.into(),
            correct: 0,
            samples: 0,
        }
    }

    /// Scores one batch: `scores` is `[batch, classes]` (or `[classes]` for one sample),
    /// `labels` holds one label per row.
    pub fn add(&mut self, scores: &Tensor, labels: &[i64]) -> Result<()> {
        let shape = scores.shape();
        let (rows, classes) = match *shape {
            [classes] => (1, classes),
            [rows, classes] => (rows, classes),
            _ => (0, 0),
        };
        if classes < 2 {
            return Err(Error::NotAClassifier {
                output: self.output.clone(),
                shape: shape.to_vec(),
            });
        }
        if rows != labels.len() {
            return Err(Error::Eval(format!(
                "output `{}` has {rows} rows but {} labels were given",
                self.output,
                labels.len()
            )));
        }
        let values = scores.to_f64_lossy();
        for (row, &label) in values.chunks(classes).zip(labels) {
            self.samples += 1;
            self.correct += u64::from(i64::try_from(argmax(row)).is_ok_and(|p| p == label));
        }
        Ok(())
    }

    /// The accuracy so far; `data` names the evaluation set in the result.
    pub fn finish(&self, data: impl Into<String>) -> Accuracy {
        Accuracy {
            top1: if self.samples > 0 {
                self.correct as f64 / self.samples as f64
            } else {
                0.0
            },
            correct: self.correct,
            samples: self.samples,
            output: self.output.clone(),
            data: data.into(),
        }
    }
}

/// The index of the first output that looks like class scores: `[batch, classes ≥ 2]`.
pub fn classifier_output(outputs: &[(String, Tensor)]) -> Option<usize> {
    outputs
        .iter()
        .position(|(_, t)| t.dtype().is_float() && t.shape().len() == 2 && t.shape()[1] >= 2)
}

/// The `label` array of `set` as one integer per sample; `None` when it has none. `path` names
/// the data in the error when the count does not match.
pub fn labels_of(
    set: &optimize_data::CalibrationSet,
    path: &std::path::Path,
) -> Result<Option<Vec<i64>>> {
    // No label array means unlabelled data; a label array that cannot be read is an error.
    if !set.extra_names().any(|n| n == "label" || n == "labels") {
        return Ok(None);
    }
    let labels = set.labels()?;
    let labels: Vec<i64> = labels.to_f64_lossy().iter().map(|&v| v as i64).collect();
    if labels.len() != set.len() {
        return Err(Error::Eval(format!(
            "{}: {} labels for {} samples (labels must be one integer per sample)",
            path.display(),
            labels.len(),
            set.len()
        )));
    }
    Ok(Some(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_hand() {
        let mut acc = AccuracyAccumulator::new("y");
        let s = Tensor::from_f32(vec![3, 2], vec![1.0, 0.0, 0.0, 1.0, 0.5, 0.5]).unwrap();
        // predictions 0, 1, 0 (tie → first)
        acc.add(&s, &[0, 1, 1]).unwrap();
        let one = Tensor::from_f32(vec![2], vec![0.0, 3.0]).unwrap();
        acc.add(&one, &[1]).unwrap();
        let a = acc.finish("d");
        assert_eq!((a.correct, a.samples), (3, 4));
        assert!((a.top1 - 0.75).abs() < 1e-12);
    }

    #[test]
    fn rejects_non_classifiers_and_label_count() {
        let mut acc = AccuracyAccumulator::new("y");
        let s = Tensor::from_f32(vec![2, 1], vec![1.0, 0.0]).unwrap();
        let err = acc.add(&s, &[0, 1]).unwrap_err().to_string();
        assert!(err.contains("`y`") && err.contains("[2, 1]"), "{err}");
        let s = Tensor::from_f32(vec![2, 2], vec![1.0, 0.0, 0.0, 1.0]).unwrap();
        assert!(acc.add(&s, &[0]).is_err());
        let outs = vec![
            (
                "a".to_string(),
                Tensor::from_f32(vec![1], vec![1.0]).unwrap(),
            ),
            ("b".to_string(), s),
        ];
        assert_eq!(classifier_output(&outs), Some(1));
    }
}
