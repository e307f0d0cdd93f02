//! Distillation losses (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural
//! Network"; hints from Romero et al. 2015, "FitNets").
//!
//! With student logits `s`, teacher logits `t`, temperature `T`, labels `y` and batch size `n`:
//!
//! - soft term: `T² · KL(softmax(t/T) ‖ softmax(s/T))`, summed over classes and averaged over
//!   the batch (PyTorch's `KLDivLoss(reduction="batchmean")` on `log_softmax(s/T)` and
//!   `softmax(t/T)`, times `T²`). The `T²` keeps the gradient's size independent of `T`.
//! - hard term: cross-entropy `-log softmax(s)[y]`, averaged over the samples that have a
//!   label (a mask marks them; unlabelled samples only feed the soft term).
//! - total: `(1 - alpha) · soft + alpha · hard + hint_weight · hint`, where the hint is the
//!   mean squared error between a projection of a student activation and a teacher one.
//!
//! Every function keeps the gradient with respect to the student (softmax is
//! `candle_nn::ops::log_softmax`, built from differentiable ops; candle's fused
//! `softmax_last_dim` has no backward pass). The teacher side is detached.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use optimize_distill::loss::soft_loss;
//!
//! let dev = Device::Cpu;
//! let student = Tensor::new(&[[0f32, 0.]], &dev)?;
//! let teacher = Tensor::new(&[[2.0 * 3f32.ln(), 0.]], &dev)?; // softmax(t/2) = [0.75, 0.25]
//! let kd = soft_loss(&student, &teacher, 2.0)?.to_scalar::<f32>()?;
//! // 4 · (0.75 ln 1.5 + 0.25 ln 0.5)
//! assert!((kd - 0.523248).abs() < 1e-5);
//! # Ok::<(), candle_core::Error>(())
//! ```

use candle_core::{DType, Result, Tensor, D};
use candle_nn::ops::{log_softmax, softmax};

/// `T² · KL(softmax(teacher/T) ‖ softmax(student/T))`, averaged over the batch.
/// Both inputs are `[n, classes]`.
pub fn soft_loss(student: &Tensor, teacher: &Tensor, temperature: f64) -> Result<Tensor> {
    kl_div(student, teacher, temperature)? * (temperature * temperature)
}

/// `KL(softmax(teacher/T) ‖ softmax(student/T))` summed over classes and averaged over the
/// batch, without the `T²` factor.
pub fn kl_div(student: &Tensor, teacher: &Tensor, temperature: f64) -> Result<Tensor> {
    let n = student.dim(0)?;
    let log_p_s = log_softmax(&(student / temperature)?, D::Minus1)?;
    let teacher = teacher.detach();
    let log_p_t = log_softmax(&(&teacher / temperature)?, D::Minus1)?;
    let p_t = softmax(&(&teacher / temperature)?, D::Minus1)?;
    let kl = (p_t * (log_p_t - log_p_s)?)?.sum_all()?;
    kl / n.max(1) as f64
}

/// Cross-entropy `-log softmax(logits)[label]`, averaged over the samples whose `mask` is 1.
/// `labels` are `u32` class indices `[n]` (any value where the mask is 0); `mask` is `f32`
/// `[n]` of 0 and 1, or `None` for all labelled. Zero when no sample has a label.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let log_p = log_softmax(logits, D::Minus1)?;
    let labels = labels.to_dtype(DType::U32)?.unsqueeze(1)?;
    let nll = log_p.gather(&labels, 1)?.squeeze(1)?.neg()?;
    match mask {
        None => nll.mean_all(),
        Some(mask) => {
            let count = mask.sum_all()?.to_dtype(DType::F32)?.to_scalar::<f32>()?;
            if count == 0.0 {
                return Tensor::new(0f32, logits.device())?.to_dtype(logits.dtype());
            }
            (nll * mask)?.sum_all()? / count as f64
        }
    }
}

/// Mean squared error between two tensors of the same shape (the teacher side detached).
pub fn hint_mse(student: &Tensor, teacher: &Tensor) -> Result<Tensor> {
    (student - teacher.detach())?.sqr()?.mean_all()
}

/// The weights of the combined loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossWeights {
    /// Temperature `T`.
    pub temperature: f64,
    /// Weight of the hard-label term; the soft term gets `1 - alpha`.
    pub alpha: f64,
    /// Weight of the hint term.
    pub hint: f64,
}

impl Default for LossWeights {
    fn default() -> Self {
        LossWeights {
            temperature: 4.0,
            alpha: 0.5,
            hint: 0.0,
        }
    }
}

/// One step's loss: the tensor to back-propagate and its parts as numbers.
#[derive(Debug, Clone)]
pub struct Loss {
    /// The weighted total, a scalar with gradients to the student (and the hint projection).
    pub total: Tensor,
    /// The soft term, `T² · KL` (before weighting).
    pub soft: f32,
    /// The hard term, cross-entropy on the labelled samples (before weighting).
    pub hard: f32,
    /// The hint term (before weighting); 0 without a hint.
    pub hint: f32,
}

impl Loss {
    /// The total as a number.
    pub fn value(&self) -> Result<f32> {
        self.total.to_dtype(DType::F32)?.to_scalar::<f32>()
    }
}

/// The combined loss of the [module doc](self). `teacher` is `None` for training without a
/// teacher (hard labels only, as the "student alone" baseline); `hint` is the pair
/// `(projected student activation, teacher activation)`.
pub fn distillation_loss(
    student: &Tensor,
    teacher: Option<&Tensor>,
    labels: Option<(&Tensor, Option<&Tensor>)>,
    hint: Option<(&Tensor, &Tensor)>,
    w: &LossWeights,
) -> Result<Loss> {
    let zero = || Tensor::new(0f32, student.device())?.to_dtype(student.dtype());
    let (soft_w, hard_w) = match teacher {
        Some(_) => (1.0 - w.alpha, w.alpha),
        None => (0.0, 1.0),
    };
    let soft = match teacher {
        Some(t) if soft_w > 0.0 => soft_loss(student, t, w.temperature)?,
        _ => zero()?,
    };
    let hard = match labels {
        Some((y, mask)) if hard_w > 0.0 => cross_entropy(student, y, mask)?,
        _ => zero()?,
    };
    let hint_t = match hint {
        Some((s, t)) if w.hint > 0.0 => hint_mse(s, t)?,
        _ => zero()?,
    };
    let total = ((&soft * soft_w)? + (&hard * hard_w)?)?;
    let total = (total + (&hint_t * w.hint)?)?;
    Ok(Loss {
        total,
        soft: scalar(&soft)?,
        hard: scalar(&hard)?,
        hint: scalar(&hint_t)?,
    })
}

fn scalar(t: &Tensor) -> Result<f32> {
    t.to_dtype(DType::F32)?.to_scalar::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn t2(v: &[[f32; 3]; 1]) -> Tensor {
        Tensor::new(v, &Device::Cpu).unwrap()
    }

    fn close(a: f32, b: f64, tol: f64) {
        assert!((a as f64 - b).abs() <= tol, "{a} vs {b}");
    }

    /// By hand: teacher softmax(t/T) = [0.75, 0.25], student uniform; KL = 0.75 ln 1.5 +
    /// 0.25 ln 0.5 = 0.130812; PyTorch gives the same with
    /// `F.kl_div(F.log_softmax(s/T, 1), F.softmax(t/T, 1), reduction="batchmean") * T*T`.
    #[test]
    fn kl_with_temperature_by_hand() {
        let dev = Device::Cpu;
        let s = Tensor::new(&[[0f32, 0.], [0., 0.]], &dev).unwrap();
        let ln3 = 3f32.ln();
        for temp in [1.0f64, 2.0, 4.0] {
            let t = Tensor::new(&[[temp as f32 * ln3, 0.], [temp as f32 * ln3, 0.]], &dev).unwrap();
            let kl = kl_div(&s, &t, temp).unwrap().to_scalar::<f32>().unwrap();
            close(kl, 0.130812, 1e-5);
            let soft = soft_loss(&s, &t, temp).unwrap().to_scalar::<f32>().unwrap();
            close(soft, 0.130812 * temp * temp, 1e-4);
        }
        // Identical distributions: zero.
        let x = t2(&[[1.0, -2.0, 0.5]]);
        close(
            soft_loss(&x, &x, 3.0).unwrap().to_scalar::<f32>().unwrap(),
            0.0,
            1e-6,
        );
    }

    /// By hand: softmax([0, ln 3]) = [0.25, 0.75]; CE for label 1 is -ln 0.75 = 0.287682,
    /// for label 0 it is ln 4 = 1.386294.
    #[test]
    fn cross_entropy_by_hand() {
        let dev = Device::Cpu;
        let l = Tensor::new(&[[0f32, 3f32.ln()], [0., 3f32.ln()]], &dev).unwrap();
        let y = Tensor::new(&[1u32, 0], &dev).unwrap();
        let ce = cross_entropy(&l, &y, None)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        close(ce, (0.287682 + 1.386294) / 2.0, 1e-5);
        let mask = Tensor::new(&[1f32, 0.], &dev).unwrap();
        let ce = cross_entropy(&l, &y, Some(&mask))
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        close(ce, 0.287682, 1e-5);
        let none = Tensor::new(&[0f32, 0.], &dev).unwrap();
        close(
            cross_entropy(&l, &y, Some(&none))
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
            0.0,
            0.0,
        );
    }

    /// By hand: ((1-0)² + (2-4)² + (3-3)²) / 3 = 5/3.
    #[test]
    fn hint_mse_by_hand() {
        let s = t2(&[[1.0, 2.0, 3.0]]);
        let t = t2(&[[0.0, 4.0, 3.0]]);
        close(
            hint_mse(&s, &t).unwrap().to_scalar::<f32>().unwrap(),
            5.0 / 3.0,
            1e-6,
        );
    }

    #[test]
    fn combined_weights() {
        let dev = Device::Cpu;
        let s = Tensor::new(&[[0f32, 0.]], &dev).unwrap();
        let t = Tensor::new(&[[2.0 * 3f32.ln(), 0.]], &dev).unwrap();
        let y = Tensor::new(&[0u32], &dev).unwrap();
        let w = LossWeights {
            temperature: 2.0,
            alpha: 0.25,
            hint: 0.0,
        };
        let l = distillation_loss(&s, Some(&t), Some((&y, None)), None, &w).unwrap();
        close(l.soft, 0.523248, 1e-5);
        close(l.hard, 2f64.ln(), 1e-6);
        close(l.value().unwrap(), 0.75 * 0.523248 + 0.25 * 2f64.ln(), 1e-5);
        // Without a teacher only the hard term counts, at full weight.
        let l = distillation_loss(&s, None, Some((&y, None)), None, &w).unwrap();
        close(l.value().unwrap(), 2f64.ln(), 1e-6);
    }

    /// Gradients of every term against central finite differences (in f64).
    #[test]
    fn gradients_match_finite_differences() {
        let dev = Device::Cpu;
        let s0 = [[0.3f64, -1.2, 0.8], [1.5, 0.1, -0.4]];
        let t = Tensor::new(&[[1.0f64, 0.2, -0.5], [-0.3, 2.0, 0.4]], &dev).unwrap();
        let y = Tensor::new(&[2u32, 1], &dev).unwrap();
        let mask = Tensor::new(&[1f64, 0.], &dev).unwrap();
        let hint_t = Tensor::new(&[[0.5f64, 0.5, -1.0], [0.0, 1.0, 2.0]], &dev).unwrap();
        let f = |s: &Tensor| -> Tensor {
            let soft = soft_loss(s, &t, 3.0).unwrap();
            let hard = cross_entropy(s, &y, Some(&mask)).unwrap();
            let hint = hint_mse(s, &hint_t).unwrap();
            ((soft * 0.6).unwrap() + (hard * 0.4).unwrap() + (hint * 0.7).unwrap()).unwrap()
        };
        let var = Var::new(&s0, &dev).unwrap();
        let grads = f(var.as_tensor()).backward().unwrap();
        let g = grads.get(&var).unwrap().to_vec2::<f64>().unwrap();
        let eps = 1e-6;
        for i in 0..2 {
            for j in 0..3 {
                let mut plus = s0;
                plus[i][j] += eps;
                let mut minus = s0;
                minus[i][j] -= eps;
                let fp = f(&Tensor::new(&plus, &dev).unwrap())
                    .to_scalar::<f64>()
                    .unwrap();
                let fm = f(&Tensor::new(&minus, &dev).unwrap())
                    .to_scalar::<f64>()
                    .unwrap();
                let fd = (fp - fm) / (2.0 * eps);
                assert!(
                    (g[i][j] - fd).abs() < 1e-6,
                    "[{i}][{j}] {} vs {fd}",
                    g[i][j]
                );
            }
        }
    }
}
