//! `optimize distill`: flags → [`DistillJob`] → run with progress bars and Ctrl-C → table or
//! JSON.

use std::path::Path;

use optimize_distill::job::{DistillJob, Outcome};
use optimize_distill::report::DistillReport;
use optimize_distill::Recipe;

use crate::cli::DistillArgs;
use crate::commands::print;
use crate::exit::Interrupted;
use crate::progress::Bars;
use crate::table::{bytes, Table};

pub fn run(args: &DistillArgs) -> anyhow::Result<()> {
    let recipe = Recipe::load(&args.recipe)?;
    let job = DistillJob {
        recipe: args.recipe.clone(),
        out_dir: args.output.clone(),
        resume: args.resume.clone(),
        sweep: args.sweep,
    };
    let out_dir = job.out_dir_for(&recipe);
    let mut bars = Bars::new(args.json);
    let outcome = job.run(&mut bars);
    bars.finish();
    match outcome? {
        Outcome::Done(report) => {
            if args.json {
                print(&format!("{}\n", serde_json::to_string_pretty(&report)?))
            } else {
                print(&table(&report, &out_dir))
            }
        }
        Outcome::Interrupted { checkpoint } => {
            let resume = format!(
                "optimize distill {} --resume {}{} -o {}",
                args.recipe.display(),
                checkpoint.display(),
                if args.sweep { " --sweep" } else { "" },
                out_dir.display()
            );
            if args.json {
                let v = serde_json::json!({
                    "interrupted": true,
                    "checkpoint": checkpoint.display().to_string(),
                    "resume": resume,
                });
                print(&format!("{}\n", serde_json::to_string_pretty(&v)?))?;
            }
            Err(Interrupted(format!(
                "interrupted; checkpoint written to {}; resume with: {resume}",
                checkpoint.display()
            ))
            .into())
        }
    }
}

fn table(report: &DistillReport, out_dir: &Path) -> String {
    let mut t = Table::new(&[
        "model",
        "test accuracy",
        "parameters",
        "ONNX size",
        "latency p50",
    ]);
    for m in &report.models {
        t.row(vec![
            m.role.clone(),
            format!("{:.2}%", m.test_accuracy * 100.0),
            m.parameters.map_or("-".into(), |p| p.to_string()),
            m.bytes.map_or("-".into(), bytes),
            m.latency_p50_ms
                .map_or("-".into(), |l| format!("{l:.4} ms")),
        ]);
    }
    let d = &report.data;
    let r = &report.distilled;
    let mut text = format!(
        "{}: transfer set {} samples ({} labelled, {} unlabelled), validation {}, test {}\n\n{}\n",
        report.name,
        d.transfer,
        d.labelled,
        d.unlabelled,
        d.val,
        d.test,
        t.render(0)
    );
    text.push_str(&format!(
        "distilled: T {}, alpha {}, lr {:e}; best epoch {} of {} (validation {:.2}%), {:.0} samples/s\n",
        r.temperature,
        r.alpha,
        r.lr,
        r.best_epoch,
        r.epochs,
        r.best_val_accuracy * 100.0,
        r.samples_per_s
    ));
    if !report.sweep.is_empty() {
        text.push_str(&format!(
            "sweep: {} trials; kept the best on validation\n",
            report.sweep.len()
        ));
    }
    for p in &report.parity {
        match (p.max_abs_diff, &p.skipped) {
            (Some(diff), _) => text.push_str(&format!(
                "student.onnx in {}: max |diff| to candle {diff:.1e}\n",
                p.backend
            )),
            (None, Some(why)) => {
                text.push_str(&format!("student.onnx in {}: not run ({why})\n", p.backend))
            }
            _ => {}
        }
    }
    let names: Vec<String> = report
        .files
        .iter()
        .map(|f| {
            let p = Path::new(f);
            p.strip_prefix(out_dir).unwrap_or(p).display().to_string()
        })
        .collect();
    text.push_str(&format!(
        "wrote {}/: {}\n",
        out_dir.display(),
        names.join(", ")
    ));
    text
}
