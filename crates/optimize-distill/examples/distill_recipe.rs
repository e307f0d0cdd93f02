//! Runs a distillation recipe through the library, as `optimize distill` does, printing one
//! line per epoch and the comparison at the end.
//!
//! ```sh
//! cargo run --release -p optimize-distill --example distill_recipe -- recipes/digits-mlp.toml out/digits-mlp
//! ```

use optimize_distill::pipeline::{distill, DistillOptions, Outcome};
use optimize_distill::run::Progress;
use optimize_distill::Recipe;

/// Prints every epoch's summary.
struct Print;

impl Progress for Print {
    fn note(&mut self, line: &str) {
        println!("{line}");
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let recipe = args
        .next()
        .unwrap_or_else(|| "recipes/digits-mlp.toml".into());
    let out = args.next().unwrap_or_else(|| "out/distill".into());
    let sweep = args.next().as_deref() == Some("--sweep");
    let options = DistillOptions {
        out_dir: out.into(),
        resume: None,
        sweep,
    };
    match distill(Recipe::load(&recipe)?, &options, &mut Print)? {
        Outcome::Done(report) => {
            for m in &report.models {
                println!(
                    "{:>10}: test accuracy {:.2}%",
                    m.role,
                    m.test_accuracy * 100.0
                );
            }
        }
        Outcome::Interrupted { checkpoint } => {
            println!("stopped; resume from {}", checkpoint.display())
        }
    }
    Ok(())
}
