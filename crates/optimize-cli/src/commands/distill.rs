//! `optimize distill`: train a student from a teacher as a TOML recipe says, then export it
//! and compare it with the teacher and with the same student trained alone.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use optimize_distill::pipeline::{distill, DistillOptions, Outcome};
use optimize_distill::report::DistillReport;
use optimize_distill::run::{EpochRecord, Observer};
use optimize_distill::Recipe;

use crate::cli::DistillArgs;
use crate::commands::print;
use crate::exit::Interrupted;
use crate::table::{bytes, Table};

pub fn run(args: &DistillArgs) -> anyhow::Result<()> {
    let recipe = Recipe::load(&args.recipe)?;
    let out_dir = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("distill-{}", recipe.name())));
    let options = DistillOptions {
        out_dir: out_dir.clone(),
        resume: args.resume.clone(),
        sweep: args.sweep,
    };
    match run_with_progress(recipe, &options, args.json)? {
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

/// Runs `recipe` with a progress bar (hidden with `json` or off a terminal); Ctrl-C stops the
/// loop after its current batch and writes a checkpoint (`optimize distill`, `prune --recover`).
pub(crate) fn run_with_progress(
    recipe: Recipe,
    options: &DistillOptions,
    json: bool,
) -> anyhow::Result<Outcome> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C while the checkpoint is written is ignored; the first one has
        // already asked the loop to stop after its current batch.
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))?;
    }
    let mut progress = Progress::new(json, stop);
    let outcome = distill(recipe, options, &mut progress);
    progress.bar.finish_and_clear();
    Ok(outcome?)
}

fn table(report: &DistillReport, out_dir: &std::path::Path) -> String {
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
    text.push_str(&format!(
        "wrote {}/ (report.md, student.onnx, student.safetensors, log.jsonl, curves.png)\n",
        out_dir.display()
    ));
    text
}

/// Progress per epoch on a terminal; one line per epoch on stderr otherwise (not with --json).
struct Progress {
    bar: ProgressBar,
    terminal: bool,
    json: bool,
    stop: Arc<AtomicBool>,
    run: String,
    epoch: (usize, usize),
}

impl Progress {
    fn new(json: bool, stop: Arc<AtomicBool>) -> Self {
        let terminal =
            !json && std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let bar = ProgressBar::with_draw_target(
            Some(0),
            if terminal {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        if let Ok(style) =
            ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} batches  {msg}")
        {
            bar.set_style(style);
        }
        Progress {
            bar,
            terminal,
            json,
            stop,
            run: String::new(),
            epoch: (0, 0),
        }
    }
}

impl Observer for Progress {
    fn epoch_start(&mut self, run: &str, epoch: usize, epochs: usize, batches: usize) {
        self.run = run.to_string();
        self.epoch = (epoch, epochs);
        self.bar.reset();
        self.bar.set_length(batches as u64);
        self.bar.set_prefix(format!("{run} epoch {epoch}/{epochs}"));
    }

    fn batch_done(&mut self, loss: f64, accuracy: f64, samples: usize, seconds: f64) {
        self.bar.inc(1);
        self.bar.set_message(format!(
            "loss {loss:.4}  accuracy {:.1}%  {:.0} samples/s",
            accuracy * 100.0,
            samples as f64 / seconds.max(1e-9)
        ));
    }

    fn epoch_done(&mut self, e: &EpochRecord) {
        let line = format!(
            "{} epoch {}/{}: loss {:.4}, train accuracy {:.1}%, val accuracy {:.2}%, {:.0} samples/s",
            e.run,
            e.epoch,
            self.epoch.1,
            e.train_loss,
            e.train_accuracy * 100.0,
            e.val_accuracy * 100.0,
            e.samples_per_s
        );
        if self.terminal {
            self.bar.println(line);
        } else if !self.json {
            eprintln!("{line}");
        }
    }

    fn should_stop(&mut self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}
