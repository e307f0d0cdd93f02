//! `optimize pipeline`: flags → [`PipelineJob`] → run with progress bars and Ctrl-C → summary
//! table or JSON; exit 1 when no configuration meets the SLA.

use anyhow::Context;
use optimize_bench::job::Isolation;
use optimize_pipeline::report::{misses, PipelineReport, RowStatus};
use optimize_pipeline::PipelineJob;

use crate::cli::PipelineArgs;
use crate::commands::{bench::command_line, print};
use crate::exit::Rejected;
use crate::progress::Bars;
use crate::table::{bytes, Table};

pub fn run(args: &PipelineArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the optimize executable to re-run")?;
    let job = PipelineJob {
        recipe: args.recipe.clone(),
        out_dir: args.output.clone(),
        jobs: args.jobs.max(1),
        retry_failed: args.retry_failed,
        command: command_line(),
        isolation: Isolation::Subprocess {
            program: exe,
            args: vec!["bench-worker".into()],
        },
    };
    if args.dry_run {
        let plan = job.plan()?;
        let lines = plan.describe(&plan.out_dir.join("cache"));
        if args.json {
            let rows: Vec<serde_json::Value> = plan
                .rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "name": r.config.name,
                        "steps": r.config.steps.iter().zip(&r.keys).map(|(s, k)| serde_json::json!({
                            "kind": s.step.kind(),
                            "settings": s.settings,
                            "key": k,
                            "cached": plan.out_dir.join("cache/steps").join(k).is_dir(),
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let v = serde_json::json!({
                "recipe": plan.recipe.path,
                "out_dir": plan.out_dir,
                "judge": plan.metric.describe(),
                "expanded": plan.expanded,
                "configurations": rows,
            });
            return print(&(serde_json::to_string_pretty(&v)? + "\n"));
        }
        return print(&(lines.join("\n") + "\n"));
    }
    let mut bars = Bars::new(args.json);
    let result = job.run(&mut bars);
    bars.finish();
    let report = result?;
    if args.json {
        print(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        print(&summary(&report))?;
    }
    match report.winner {
        Some(_) => Ok(()),
        None => Err(Rejected(format!("no configuration meets the SLA: {}", report.why)).into()),
    }
}

fn summary(r: &PipelineReport) -> String {
    let mut t = Table::new(&[
        "configuration",
        ">size",
        ">p50 ms",
        ">p99 ms",
        ">metric",
        ">change",
        "SLA",
    ]);
    for (i, row) in r.rows.iter().enumerate() {
        let mark = if Some(i) == r.winner { " *" } else { "" };
        match &row.numbers {
            Some(n) => t.row(vec![
                format!("{}{mark}", row.name),
                bytes(n.size_bytes),
                format!("{:.3}", n.p50_ms),
                format!("{:.3}", n.p99_ms),
                n.metric.map_or("error".into(), |m| format!("{m:.4}")),
                row.metric_change.map_or("-".into(), |c| format!("{c:+.4}")),
                if row.sla_met {
                    "met".into()
                } else {
                    misses(row)
                },
            ]),
            None => t.row(vec![
                row.name.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                format!(
                    "{}: {}",
                    if row.status == RowStatus::Stopped {
                        "stopped"
                    } else {
                        "failed"
                    },
                    row.reason.as_deref().unwrap_or("")
                ),
            ]),
        }
    }
    let out = r
        .best
        .as_ref()
        .and_then(|b| b.path.parent())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut text = format!(
        "{}: {} configuration{} and the original; judge: {}; latency: {}\n\n{}\n{}.\n",
        r.name,
        r.rows.len() - 1,
        if r.rows.len() == 2 { "" } else { "s" },
        r.judge,
        r.target,
        t.render(0),
        r.why
    );
    if let Some(b) = &r.best {
        text.push_str(&format!(
            "wrote {} ({}); results.json, report.md and charts beside it{}\n",
            b.path.display(),
            if b.verified {
                "verified"
            } else {
                "NOT verified"
            },
            if out.is_empty() {
                String::new()
            } else {
                format!(" in {out}/")
            }
        ));
    }
    text.push_str(&format!(
        "{:.1} s; steps: {} ran, {} shared, {} cached\n",
        r.timing.total_seconds, r.cache.ran, r.cache.shared, r.cache.cached
    ));
    text
}
