//! Optimizers and learning-rate schedules for the recipe trainer.
//!
//! - [`Optimizer`]: AdamW (Loshchilov & Hutter 2019: Adam with decoupled weight decay,
//!   `θ ← θ(1 - lr·λ) - lr·m̂/(√v̂ + ε)`, the update `candle_nn::AdamW` makes) or SGD with
//!   momentum (PyTorch's form: `b ← μb + g + λθ`, `θ ← θ - lr·b`). Unlike candle's, their
//!   state is readable and writable ([`Optimizer::state`], [`Optimizer::load_state`]), so a
//!   checkpoint resumes exactly where it stopped.
//! - [`learning_rate`]: warm-up, then constant, cosine or step decay, per optimizer step.
//!
//! In your own loop, candle's `candle_nn::AdamW` works just as well with
//! [`Distiller`](crate::Distiller); these exist for checkpoints.
//!
//! ```
//! use optimize_distill::optim::learning_rate;
//! use optimize_distill::recipe::{ScheduleKind, ScheduleSpec};
//! let cosine = ScheduleSpec { kind: ScheduleKind::Cosine, ..Default::default() };
//! assert_eq!(learning_rate(&cosine, 0.1, 0, 10, 100), 0.1);
//! assert!((learning_rate(&cosine, 0.1, 50, 10, 100) - 0.05).abs() < 1e-12);
//! ```

use std::collections::BTreeMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::recipe::{OptimizerKind, OptimizerSpec, ScheduleKind, ScheduleSpec};
use crate::Result;

/// AdamW or SGD with momentum over named variables; see the [module doc](self).
#[derive(Debug)]
pub struct Optimizer {
    spec: OptimizerSpec,
    vars: Vec<(String, Var)>,
    /// AdamW: first moments; SGD: momentum buffers.
    first: Vec<Tensor>,
    /// AdamW: second moments.
    second: Vec<Tensor>,
    steps: usize,
}

impl Optimizer {
    /// An optimizer for `vars` as `spec` says (its `lr` is the peak; [`Optimizer::step`] takes
    /// the rate of each step).
    pub fn new(vars: Vec<(String, Var)>, spec: &OptimizerSpec) -> Result<Self> {
        let zeros = |v: &Var| v.as_tensor().zeros_like();
        let first = vars
            .iter()
            .map(|(_, v)| zeros(v))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let second = match spec.kind {
            OptimizerKind::Adamw => vars
                .iter()
                .map(|(_, v)| zeros(v))
                .collect::<candle_core::Result<Vec<_>>>()?,
            OptimizerKind::Sgd => Vec::new(),
        };
        Ok(Optimizer {
            spec: spec.clone(),
            vars,
            first,
            second,
            steps: 0,
        })
    }

    /// Steps taken.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// One update with learning rate `lr`. Variables without a gradient are left alone.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.steps += 1;
        let wd = self.spec.weight_decay;
        match self.spec.kind {
            OptimizerKind::Adamw => {
                let [b1, b2] = self.spec.betas;
                let c1 = 1.0 / (1.0 - b1.powi(self.steps as i32));
                let c2 = 1.0 / (1.0 - b2.powi(self.steps as i32));
                for (i, (_, var)) in self.vars.iter().enumerate() {
                    let Some(g) = grads.get(var) else { continue };
                    let m = ((&self.first[i] * b1)? + (g * (1.0 - b1))?)?;
                    let v = ((&self.second[i] * b2)? + (g.sqr()? * (1.0 - b2))?)?;
                    let update = ((&m * c1)? / ((&v * c2)?.sqrt()? + 1e-8)?)?;
                    let theta = ((var.as_tensor() * (1.0 - lr * wd))? - (update * lr)?)?;
                    var.set(&theta)?;
                    self.first[i] = m;
                    self.second[i] = v;
                }
            }
            OptimizerKind::Sgd => {
                let mu = self.spec.momentum;
                for (i, (_, var)) in self.vars.iter().enumerate() {
                    let Some(g) = grads.get(var) else { continue };
                    let g = if wd > 0.0 {
                        (g + (var.as_tensor() * wd)?)?
                    } else {
                        g.clone()
                    };
                    let b = if self.steps == 1 {
                        g
                    } else {
                        ((&self.first[i] * mu)? + g)?
                    };
                    var.set(&(var.as_tensor() - (&b * lr)?)?)?;
                    self.first[i] = b;
                }
            }
        }
        Ok(())
    }

    /// The state as named tensors (`first.<var>`, `second.<var>`) and the step count.
    pub fn state(&self) -> (BTreeMap<String, Tensor>, usize) {
        let mut out = BTreeMap::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            out.insert(format!("first.{name}"), self.first[i].clone());
            if let Some(s) = self.second.get(i) {
                out.insert(format!("second.{name}"), s.clone());
            }
        }
        (out, self.steps)
    }

    /// Restores [`Optimizer::state`]; returns the name of a missing tensor, if any.
    pub fn load_state(
        &mut self,
        state: &BTreeMap<String, Tensor>,
        steps: usize,
    ) -> std::result::Result<(), String> {
        for (i, (name, _)) in self.vars.iter().enumerate() {
            let key = format!("first.{name}");
            self.first[i] = state.get(&key).cloned().ok_or(key)?;
            if i < self.second.len() {
                let key = format!("second.{name}");
                self.second[i] = state.get(&key).cloned().ok_or(key)?;
            }
        }
        self.steps = steps;
        Ok(())
    }
}

/// The learning rate at optimizer step `step` (0-based) of `total`, with `per_epoch` steps per
/// epoch and peak `lr`: linear warm-up over `warmup_epochs`, then the schedule.
pub fn learning_rate(
    s: &ScheduleSpec,
    lr: f64,
    step: usize,
    per_epoch: usize,
    total: usize,
) -> f64 {
    let warmup = s.warmup_epochs * per_epoch;
    if step < warmup {
        return lr * (step + 1) as f64 / warmup as f64;
    }
    match s.kind {
        ScheduleKind::Constant => lr,
        ScheduleKind::Cosine => {
            let span = total.saturating_sub(warmup).max(1) as f64;
            let p = ((step - warmup) as f64 / span).min(1.0);
            s.min_lr + (lr - s.min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
        }
        ScheduleKind::Step => {
            let epoch = step / per_epoch.max(1);
            lr * s.gamma.powi((epoch / s.step_epochs.max(1)) as i32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn schedules() {
        let warm = ScheduleSpec {
            kind: ScheduleKind::Constant,
            warmup_epochs: 1,
            ..Default::default()
        };
        assert_eq!(learning_rate(&warm, 1.0, 0, 4, 40), 0.25);
        assert_eq!(learning_rate(&warm, 1.0, 3, 4, 40), 1.0);
        assert_eq!(learning_rate(&warm, 1.0, 30, 4, 40), 1.0);
        let step = ScheduleSpec {
            kind: ScheduleKind::Step,
            step_epochs: 2,
            gamma: 0.5,
            ..Default::default()
        };
        assert_eq!(learning_rate(&step, 1.0, 7, 4, 40), 1.0);
        assert_eq!(learning_rate(&step, 1.0, 8, 4, 40), 0.5);
        assert_eq!(learning_rate(&step, 1.0, 16, 4, 40), 0.25);
    }

    /// Minimising (x - 3)² with each optimizer reaches 3.
    #[test]
    fn optimizers_minimise_a_quadratic() {
        for kind in [OptimizerKind::Adamw, OptimizerKind::Sgd] {
            let x = Var::new(&[0f64], &Device::Cpu).unwrap();
            let spec = OptimizerSpec {
                kind,
                ..Default::default()
            };
            let mut opt = Optimizer::new(vec![("x".into(), x.clone())], &spec).unwrap();
            let lr = if kind == OptimizerKind::Sgd {
                0.05
            } else {
                0.1
            };
            for _ in 0..500 {
                let loss = (x.as_tensor() - 3.0)
                    .unwrap()
                    .sqr()
                    .unwrap()
                    .sum_all()
                    .unwrap();
                opt.step(&loss.backward().unwrap(), lr).unwrap();
            }
            let v = x.as_tensor().to_vec1::<f64>().unwrap()[0];
            assert!((v - 3.0).abs() < 1e-2, "{kind:?}: {v}");
        }
    }

    /// One AdamW step by hand: m̂ = g, v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g),
    /// after decay θ(1 - lr·λ).
    #[test]
    fn adamw_first_step_by_hand() {
        let x = Var::new(&[2f64], &Device::Cpu).unwrap();
        let spec = OptimizerSpec {
            weight_decay: 0.1,
            ..Default::default()
        };
        let mut opt = Optimizer::new(vec![("x".into(), x.clone())], &spec).unwrap();
        let loss = (x.as_tensor() * 5.0).unwrap().sum_all().unwrap(); // g = 5
        opt.step(&loss.backward().unwrap(), 0.01).unwrap();
        let v = x.as_tensor().to_vec1::<f64>().unwrap()[0];
        let expected = 2.0 * (1.0 - 0.01 * 0.1) - 0.01 * 5.0 / (5.0 + 1e-8);
        assert!((v - expected).abs() < 1e-12, "{v} vs {expected}");
    }
}
