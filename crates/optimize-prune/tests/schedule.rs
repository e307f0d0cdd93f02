//! Gradual magnitude pruning of candle weights during training: the sparsity follows the
//! schedule at update steps, pruned weights stay zero while the optimizer keeps moving the
//! others, and the network still learns.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{linear, Optimizer, VarBuilder, VarMap, SGD};
use optimize_prune::schedule::{GradualPruner, SparsitySchedule};
use optimize_prune::Scope;

fn zeros(t: &Tensor) -> usize {
    t.flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .filter(|x| **x == 0.0)
        .count()
}

#[test]
fn sparsity_follows_the_schedule_and_pruned_weights_stay_zero() {
    let dev = Device::Cpu;
    let vars = VarMap::new();
    let vb = VarBuilder::from_varmap(&vars, DType::F32, &dev);
    let l1 = linear(6, 16, vb.pp("l1")).unwrap();
    let l2 = linear(16, 2, vb.pp("l2")).unwrap();
    let mut opt = SGD::new(vars.all_vars(), 0.05).unwrap();
    // Learn y = (sum of x, x0 - x1) on a fixed batch.
    let x = Tensor::arange(0f32, 48., &dev)
        .unwrap()
        .reshape((8, 6))
        .unwrap()
        .affine(0.05, -1.0)
        .unwrap();
    let y = Tensor::cat(
        &[
            x.sum_keepdim(1).unwrap(),
            (x.narrow(1, 0, 1).unwrap() - x.narrow(1, 1, 1).unwrap()).unwrap(),
        ],
        1,
    )
    .unwrap();
    let schedule = SparsitySchedule::new(0.8, 10, 60)
        .unwrap()
        .with_frequency(10);
    let mut pruner = GradualPruner::from_varmap(&vars, schedule, Scope::Global);
    assert_eq!(
        pruner.names().collect::<Vec<_>>(),
        ["l1.weight", "l2.weight"]
    );
    let loss = |l1: &candle_nn::Linear, l2: &candle_nn::Linear| {
        let h = l1.forward(&x).unwrap().relu().unwrap();
        (l2.forward(&h).unwrap() - &y)
            .unwrap()
            .sqr()
            .unwrap()
            .mean_all()
            .unwrap()
    };
    let first = loss(&l1, &l2).to_scalar::<f32>().unwrap();
    let total = 6 * 16 + 16 * 2;
    for step in 0..=120 {
        opt.backward_step(&loss(&l1, &l2)).unwrap();
        let s = pruner.step(step).unwrap();
        assert_eq!(s, schedule.at(step));
        if schedule.is_update(step) || step > 60 {
            // Exactly the scheduled share of all weights (one global threshold).
            let z = zeros(l1.weight()) + zeros(l2.weight());
            let want = (s * total as f64).round() as usize;
            assert!(z >= want, "step {step}: {z} zeros, want {want}");
        }
    }
    assert!((pruner.sparsity().unwrap() - 0.8).abs() < 0.01);
    // The masks hold: every masked entry is zero.
    for ((_, mask), w) in pruner
        .masks()
        .iter()
        .map(|m| ((), m.as_ref().unwrap()))
        .zip([l1.weight(), l2.weight()])
    {
        let m = mask.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let v = w.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(m.iter().zip(&v).all(|(m, v)| *m == 1.0 || *v == 0.0));
    }
    // Biases are left dense, and the network still learned.
    assert_eq!(zeros(l1.bias().unwrap()), 0);
    let last = loss(&l1, &l2).to_scalar::<f32>().unwrap();
    assert!(last < first * 0.5, "loss {first} -> {last}");
}
