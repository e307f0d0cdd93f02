//! Distillation inside your own candle training loop: the digits MLP (ONNX, run by tract) as
//! the teacher, a small candle MLP as the student, candle's own AdamW, and
//! [`Distiller::step`] for the loss. No recipe, no labels.
//!
//! ```sh
//! cargo run --release -p optimize-distill --example own_loop
//! ```
//!
//! Expected output (the digits vary a little: candle's own initialisation is not seeded):
//!
//! ```text
//! epoch 1: loss 20.0587, test accuracy 52.1%
//! ...
//! epoch 10: loss 0.9861, test accuracy 93.6%
//! ```

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{linear, AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use optimize_data::read_npz;
use optimize_distill::{Batch, DistillConfig, Distiller, LossWeights, OnnxTeacher};
use optimize_runtime::Backend;

/// A `[n, 64]` input tensor and the labels of a digits `.npz`.
fn load(path: &str) -> anyhow::Result<(Tensor, Vec<i64>)> {
    let arrays = read_npz(path)?;
    let get = |n: &str| arrays.iter().find(|(k, _)| k == n).map(|(_, t)| t.clone());
    let x = get("input").ok_or_else(|| anyhow::anyhow!("{path}: no `input`"))?;
    let y = get("label").ok_or_else(|| anyhow::anyhow!("{path}: no `label`"))?;
    let xs = Tensor::from_vec(x.to_f32_vec()?, x.shape(), &Device::Cpu)?;
    Ok((xs, y.to_i64_vec()?))
}

fn main() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let (train_x, _) = load("models/data/digits-train.npz")?; // the labels stay unused
    let (test_x, test_y) = load("models/data/digits-test.npz")?;

    // The teacher: an ONNX model run by tract.
    let teacher = OnnxTeacher::load(
        "models/digits-mlp.onnx".as_ref(),
        Backend::Tract,
        None,
        None,
    )?;
    let distiller = Distiller::new(
        teacher,
        DistillConfig::new(LossWeights {
            temperature: 4.0,
            alpha: 0.0, // no labels: the soft term alone
            hint: 0.0,
        }),
    )?;

    // The student: plain candle.
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let fc1 = linear(64, 24, vb.pp("fc1"))?;
    let fc2 = linear(24, 10, vb.pp("fc2"))?;
    let student =
        |x: &Tensor| -> candle_core::Result<Tensor> { fc2.forward(&fc1.forward(x)?.relu()?) };
    let mut opt = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr: 3e-3,
            ..Default::default()
        },
    )?;

    // The teacher's logits once for the whole (fixed) transfer set.
    let (teacher_logits, _) = distiller.teacher_outputs(&Batch::new(train_x.clone()))?;
    let n = train_x.dim(0)?;
    for epoch in 1..=10 {
        let mut total = 0.0;
        for start in (0..n).step_by(32) {
            let len = 32.min(n - start);
            let x = train_x.narrow(0, start, len)?;
            let batch =
                Batch::new(x.clone()).with_teacher(teacher_logits.narrow(0, start, len)?, None);
            let loss = distiller.step(&student(&x)?, &batch)?;
            opt.backward_step(&loss.total)?;
            total += loss.value()? as f64 * len as f64;
        }
        let pred = student(&test_x)?.argmax(1)?.to_vec1::<u32>()?;
        let right = pred
            .iter()
            .zip(&test_y)
            .filter(|(p, y)| **p as i64 == **y)
            .count();
        println!(
            "epoch {epoch}: loss {:.4}, test accuracy {:.1}%",
            total / n as f64,
            100.0 * right as f64 / test_y.len() as f64
        );
    }
    Ok(())
}
