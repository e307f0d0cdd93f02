//! Gradual magnitude pruning for training code: a sparsity schedule, and masks applied to candle
//! weights while they train.
//!
//! Pruning all at once after training loses accuracy that pruning a little at a time, while the
//! network trains around the holes, keeps (Zhu & Gupta, "To prune, or not to prune", 2017). The
//! schedule raises the sparsity from `s_i` at step `t0` to `s_f` at step `t1`, fast at first and
//! slowly near the end:
//!
//! `s(t) = s_f + (s_i − s_f) · (1 − (t − t0) / (t1 − t0))³`
//!
//! updated every `frequency` steps and held in between (`s_i` before `t0`, `s_f` after `t1`).
//! At each update [`GradualPruner`] recomputes the masks by magnitude ([`crate::magnitude`]:
//! one threshold over all weights, or one per weight) and zeroes the weights outside them; at
//! every step it applies the masks again, since the optimizer moves pruned weights off zero.
//! The weights then export with their zeros; for a physically smaller model, prune channels
//! ([`crate::channel`]) instead.
//!
//! ```
//! # #[cfg(feature = "candle")] {
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::{linear, Module, Optimizer, VarBuilder, VarMap, SGD};
//! use optimize_prune::schedule::{GradualPruner, SparsitySchedule};
//! use optimize_prune::Scope;
//!
//! let dev = Device::Cpu;
//! let vars = VarMap::new();
//! let layer = linear(8, 4, VarBuilder::from_varmap(&vars, DType::F32, &dev))?;
//! let mut opt = SGD::new(vars.all_vars(), 0.01)?;
//! // Reach 75% sparsity of every weight matrix by step 40, updating every 10 steps.
//! let schedule = SparsitySchedule::new(0.75, 0, 40)?.with_frequency(10);
//! let mut pruner = GradualPruner::from_varmap(&vars, schedule, Scope::PerLayer);
//! let x = Tensor::ones((16, 8), DType::F32, &dev)?;
//! for step in 0..=50 {
//!     let loss = layer.forward(&x)?.sqr()?.mean_all()?;
//!     opt.backward_step(&loss)?;
//!     pruner.step(step)?;
//! }
//! assert!((pruner.sparsity()? - 0.75).abs() < 1e-9);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::{Error, Result};

/// The sparsity to prune to at each training step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SparsitySchedule {
    /// Sparsity at `begin` (`s_i`).
    pub initial: f64,
    /// Sparsity from `end` on (`s_f`).
    pub target: f64,
    /// First step that prunes (`t0`).
    pub begin: usize,
    /// Step from which the target holds (`t1`).
    pub end: usize,
    /// Steps between updates (`Δt`).
    pub frequency: usize,
}

impl SparsitySchedule {
    /// From 0 at step `begin` to `target` at step `end`, updated every step.
    pub fn new(target: f64, begin: usize, end: usize) -> Result<Self> {
        let s = SparsitySchedule {
            initial: 0.0,
            target,
            begin,
            end,
            frequency: 1,
        };
        s.validate()?;
        Ok(s)
    }

    /// The same schedule updated every `frequency` steps (at least 1).
    pub fn with_frequency(mut self, frequency: usize) -> Self {
        self.frequency = frequency.max(1);
        self
    }

    /// The same schedule starting from sparsity `initial` (clamped to `[0, target]`).
    pub fn with_initial(mut self, initial: f64) -> Self {
        self.initial = initial.clamp(0.0, self.target);
        self
    }

    /// Checks the settings: sparsities in `[0, 1)`, `initial ≤ target`, `begin ≤ end`.
    pub fn validate(&self) -> Result<()> {
        crate::magnitude::check_sparsity(self.target)?;
        crate::magnitude::check_sparsity(self.initial)?;
        if self.initial > self.target || self.begin > self.end {
            return Err(Error::InvalidSchedule {
                detail: format!(
                    "sparsity {} -> {} over steps {} -> {}: the sparsity and the step must not go down",
                    self.initial, self.target, self.begin, self.end
                ),
            });
        }
        Ok(())
    }

    /// True when the masks are recomputed at `step`: `begin`, every `frequency` steps after it,
    /// and `end`.
    pub fn is_update(&self, step: usize) -> bool {
        step >= self.begin
            && step <= self.end
            && ((step - self.begin).is_multiple_of(self.frequency) || step == self.end)
    }

    /// The sparsity in force at `step`: the formula at the last update step at or before it.
    pub fn at(&self, step: usize) -> f64 {
        if step < self.begin {
            return self.initial;
        }
        if step >= self.end || self.end == self.begin {
            return self.target;
        }
        let last = self.begin + (step - self.begin) / self.frequency * self.frequency;
        let progress = (last - self.begin) as f64 / (self.end - self.begin) as f64;
        self.target + (self.initial - self.target) * (1.0 - progress).powi(3)
    }
}

#[cfg(feature = "candle")]
pub use candle_pruner::GradualPruner;

#[cfg(feature = "candle")]
mod candle_pruner {
    use super::SparsitySchedule;
    use crate::magnitude::{count_to_zero, Scope};
    use crate::Result;
    use candle_core::{DType, Tensor, Var};
    use candle_nn::VarMap;

    /// Magnitude masks over candle weights that follow a [`SparsitySchedule`]; see the
    /// [module doc](super).
    pub struct GradualPruner {
        schedule: SparsitySchedule,
        scope: Scope,
        vars: Vec<(String, Var)>,
        masks: Vec<Option<Tensor>>,
        current: f64,
    }

    impl GradualPruner {
        /// A pruner of `vars` (name and variable, pruned in this order).
        pub fn new(vars: Vec<(String, Var)>, schedule: SparsitySchedule, scope: Scope) -> Self {
            let masks = vec![None; vars.len()];
            GradualPruner {
                schedule,
                scope,
                vars,
                masks,
                current: 0.0,
            }
        }

        /// A pruner of every variable of `map` with two or more dimensions (weight matrices and
        /// convolution kernels; biases and norms are left dense), in name order.
        pub fn from_varmap(map: &VarMap, schedule: SparsitySchedule, scope: Scope) -> Self {
            let mut vars: Vec<(String, Var)> = match map.data().lock() {
                Ok(data) => data
                    .iter()
                    .filter(|(_, v)| v.rank() >= 2)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                Err(poisoned) => poisoned
                    .into_inner()
                    .iter()
                    .filter(|(_, v)| v.rank() >= 2)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            };
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            Self::new(vars, schedule, scope)
        }

        /// Call after each optimizer step: at update steps recomputes the masks for the
        /// scheduled sparsity; at every step zeroes the weights outside the masks. Returns the
        /// sparsity in force.
        pub fn step(&mut self, step: usize) -> Result<f64> {
            if self.schedule.is_update(step) {
                self.current = self.schedule.at(step);
                self.update_masks()?;
            }
            for ((_, var), mask) in self.vars.iter().zip(&self.masks) {
                if let Some(mask) = mask {
                    var.set(&var.as_tensor().mul(mask)?)?;
                }
            }
            Ok(self.current)
        }

        /// The names of the pruned variables, in order.
        pub fn names(&self) -> impl Iterator<Item = &str> {
            self.vars.iter().map(|(n, _)| n.as_str())
        }

        /// The mask of each variable (1 kept, 0 pruned; same shape and dtype), once computed.
        pub fn masks(&self) -> &[Option<Tensor>] {
            &self.masks
        }

        /// The share of exactly-zero entries over the pruned variables now.
        pub fn sparsity(&self) -> Result<f64> {
            let (mut zeros, mut total) = (0usize, 0usize);
            for (_, v) in &self.vars {
                let values = v
                    .as_tensor()
                    .flatten_all()?
                    .to_dtype(DType::F32)?
                    .to_vec1::<f32>()?;
                zeros += values.iter().filter(|x| **x == 0.0).count();
                total += values.len();
            }
            Ok(zeros as f64 / total.max(1) as f64)
        }

        fn update_masks(&mut self) -> Result<()> {
            let values: Vec<Vec<f32>> = self
                .vars
                .iter()
                .map(|(_, v)| {
                    v.as_tensor()
                        .flatten_all()?
                        .to_dtype(DType::F32)?
                        .to_vec1::<f32>()
                })
                .collect::<candle_core::Result<_>>()?;
            let keeps: Vec<Vec<bool>> = match self.scope {
                Scope::PerLayer => values
                    .iter()
                    .map(|v| crate::magnitude::magnitude_mask(v, self.current))
                    .collect(),
                Scope::Global => {
                    // One threshold over all: zero the k smallest of the concatenation.
                    let mut flat: Vec<f32> = values.concat();
                    let k = count_to_zero(flat.len(), self.current);
                    let marked = crate::magnitude::magnitude_mask(&flat, self.current);
                    debug_assert_eq!(marked.iter().filter(|m| !**m).count(), k);
                    flat.clear();
                    let mut out = Vec::with_capacity(values.len());
                    let mut at = 0;
                    for v in &values {
                        out.push(marked[at..at + v.len()].to_vec());
                        at += v.len();
                    }
                    out
                }
            };
            for (i, keep) in keeps.iter().enumerate() {
                let var = &self.vars[i].1;
                let mask: Vec<f32> = keep.iter().map(|&k| if k { 1.0 } else { 0.0 }).collect();
                let mask =
                    Tensor::from_vec(mask, var.shape(), var.device())?.to_dtype(var.dtype())?;
                var.set(&var.as_tensor().mul(&mask)?)?;
                self.masks[i] = Some(mask);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_schedule_by_hand() {
        let s = SparsitySchedule::new(0.5, 0, 100)
            .unwrap()
            .with_frequency(10);
        assert_eq!(s.at(0), 0.0);
        // (1 - 0.5)^3 = 0.125 of the way still to go: 0.5 - 0.5 * 0.125.
        assert!((s.at(50) - 0.4375).abs() < 1e-12);
        assert_eq!(s.at(55), s.at(50), "held between updates");
        assert_eq!(s.at(100), 0.5);
        assert_eq!(s.at(1000), 0.5);
        assert!(s.is_update(0) && s.is_update(50) && s.is_update(100));
        assert!(!s.is_update(55) && !s.is_update(110));
        let late = SparsitySchedule::new(0.8, 10, 20)
            .unwrap()
            .with_initial(0.2);
        assert_eq!(late.at(5), 0.2);
        assert!((late.at(15) - (0.8 - 0.6 * 0.125)).abs() < 1e-12);
    }

    #[test]
    fn bad_schedules_are_refused() {
        assert!(matches!(
            SparsitySchedule::new(1.0, 0, 10),
            Err(Error::InvalidSparsity { .. })
        ));
        assert!(matches!(
            SparsitySchedule::new(0.5, 10, 0),
            Err(Error::InvalidSchedule { .. })
        ));
    }
}
