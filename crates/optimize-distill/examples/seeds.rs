//! Runs a recipe with several seeds and prints test accuracy (mean ± standard deviation, min,
//! max) of the teacher, the distilled student and the same student trained alone: the numbers
//! of `results/distill-digits.md`.
//!
//! ```sh
//! cargo run --release -p optimize-distill --example seeds -- recipes/digits-cnn.toml 5
//! ```
//!
//! Each seed changes the split into training and validation, the labelled 10%, the initial
//! weights, the shuffles and the augmentations; the test file stays the same.

use optimize_distill::pipeline::{distill, DistillOptions, Outcome};
use optimize_distill::run::Quiet;
use optimize_distill::Recipe;

fn stats(v: &[f64]) -> String {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "{:.2}% ± {:.2} (min {:.2}, max {:.2})",
        mean * 100.0,
        sd * 100.0,
        min * 100.0,
        max * 100.0
    )
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "recipes/digits-cnn.toml".into());
    let seeds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let mut acc: [Vec<f64>; 3] = Default::default();
    let mut speed = Vec::new();
    for seed in 0..seeds {
        let mut recipe = Recipe::load(&path)?;
        recipe.seed = seed;
        recipe.report.latency = false;
        let out =
            std::env::temp_dir().join(format!("optimize-distill-seeds-{}-{seed}", recipe.name()));
        let options = DistillOptions {
            out_dir: out.clone(),
            ..Default::default()
        };
        let Outcome::Done(report) = distill(recipe, &options, &mut Quiet)? else {
            anyhow::bail!("interrupted");
        };
        let row: Vec<f64> = ["teacher", "distilled", "alone"]
            .iter()
            .map(|role| {
                report
                    .models
                    .iter()
                    .find(|m| m.role == *role)
                    .map_or(f64::NAN, |m| m.test_accuracy)
            })
            .collect();
        println!(
            "seed {seed}: teacher {:.2}%, distilled {:.2}%, alone {:.2}%, {:.0} samples/s",
            row[0] * 100.0,
            row[1] * 100.0,
            row[2] * 100.0,
            report.distilled.samples_per_s
        );
        for (a, v) in acc.iter_mut().zip(row) {
            a.push(v);
        }
        speed.push(report.distilled.samples_per_s);
        let _ = std::fs::remove_dir_all(out);
    }
    println!("teacher:   {}", stats(&acc[0]));
    println!("distilled: {}", stats(&acc[1]));
    println!("alone:     {}", stats(&acc[2]));
    let gain: Vec<f64> = acc[1].iter().zip(&acc[2]).map(|(d, a)| d - a).collect();
    println!("distilled - alone, per seed: {}", stats(&gain));
    println!(
        "distillation throughput: {:.0} samples/s (mean over seeds)",
        speed.iter().sum::<f64>() / speed.len() as f64
    );
    Ok(())
}
