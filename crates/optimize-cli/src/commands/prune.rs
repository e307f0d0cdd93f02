//! `optimize prune`: flags → [`PruneConfig`] → [`PruneJob::run`] (with distillation as its
//! fine-tuning step for `--recover`) → table or JSON.

use crate::cli::{PruneArgs, PruneMethod};
use crate::commands::args::{output_path, parse_shape, policy};
use crate::commands::{print_report, verification};
use crate::exit::{Rejected, UsageError};
use crate::progress::Bars;
use crate::table::{bytes, Table};
use optimize_prune::job::{self, Method, PruneConfig, PruneJob};
use optimize_prune::report::{PruneReport, RunReport};

pub fn run(args: &PruneArgs) -> anyhow::Result<()> {
    let config = config(args)?;
    config
        .validate()
        .map_err(|e| UsageError(flag_names(&e.to_string())))?;
    let output = output_path(
        args.output.as_deref(),
        job::default_output(&args.model, config.method),
    )?;
    let job = PruneJob::new(&args.model, &output, config);
    let mut bars = Bars::new(args.json);
    let recover = optimize_distill::job::Recover;
    let report = job.run(&mut bars, Some(&recover));
    bars.finish();
    let report = report?;
    print_report(args.json, &report, render)?;
    if !report.accepted() {
        let o = &report.outcome;
        return Err(Rejected::of(&o.output.path, o.verdict.as_ref(), o.rejected.as_deref()).into());
    }
    Ok(())
}

/// The flags as the library's config.
fn config(args: &PruneArgs) -> anyhow::Result<PruneConfig> {
    let method = match args.method {
        PruneMethod::Magnitude => Method::Magnitude,
        PruneMethod::Nm => Method::Nm,
        PruneMethod::Channels => Method::Channels,
        PruneMethod::Lowrank => Method::Lowrank,
    };
    let mut c = PruneConfig {
        method,
        sparsity: args.sparsity,
        scope: if args.per_layer {
            optimize_prune::Scope::PerLayer
        } else {
            optimize_prune::Scope::Global
        },
        exclude_first: args.exclude_first,
        exclude_last: args.exclude_last,
        pattern: args.pattern.as_deref().map(str::parse).transpose()?,
        ratio: args.ratio,
        criterion: args.criterion.as_deref().map(str::parse).transpose()?,
        round_to: args.round_to,
        rank: args.rank,
        energy: args.energy,
        force: args.force,
        nodes: args.nodes.filter(),
        eval: args.eval.clone(),
        recover: args.recover.clone(),
        recover_dir: args.recover_dir.clone(),
        external_data: args.external_data,
        ..PruneConfig::default()
    };
    for s in &args.shape {
        let (name, dims) = parse_shape(s)?;
        c.shapes.insert(name, dims);
    }
    c.verify.enabled = !args.no_verify;
    c.verify.keep_rejected = args.keep_rejected;
    c.verify.task = args.task.task()?;
    c.latency.enabled = !args.no_bench;
    c.latency.threads = args.threads;
    if args.max_drop.is_some() || args.min_cosine.is_some() || args.max_abs.is_some() {
        c.verify.policy = Some(policy(
            job::default_policy(args.recover.is_some()),
            args.max_drop,
            args.min_cosine,
            args.max_abs,
        ));
    }
    Ok(c)
}

/// The config's key names as the flags that set them (`round_to` → `--round-to`).
fn flag_names(message: &str) -> String {
    let mut out = message.to_string();
    out = out.replace("needs a rank or an energy", "needs --rank R or --energy E");
    for key in [
        "sparsity",
        "scope",
        "exclude_first",
        "exclude_last",
        "pattern",
        "ratio",
        "criterion",
        "round_to",
        "rank",
        "energy",
        "force",
    ] {
        let flag = if key == "scope" {
            "--per-layer".to_string()
        } else {
            format!("--{}", key.replace('_', "-"))
        };
        out = out.replace(&format!("{key} applies"), &format!("{flag} applies"));
        out = out.replace(&format!("needs a {key}"), &format!("needs {flag}"));
        out = out.replace(&format!("{key} 0:"), &format!("{flag} 0:"));
        out = out.replace(&format!("setting: {key} "), &format!("setting: {flag} "));
    }
    for (m, flag) in [
        ("method magnitude", "--method magnitude"),
        ("method nm", "--method nm"),
        ("method channels", "--method channels"),
        ("method lowrank", "--method lowrank"),
    ] {
        out = out.replace(&format!("to {m}"), &format!("to {flag}"));
    }
    out
}

fn percent(part: u64, whole: u64) -> String {
    format!("{:.1}%", part as f64 * 100.0 / whole.max(1) as f64)
}

fn render(r: &RunReport) -> String {
    let mut out = verification::head(&r.outcome);
    if let Some(c) = &r.compressed {
        out += &format!(
            "; {}: {} -> {} ({:.2}x)",
            c.format,
            bytes(c.input),
            bytes(c.output),
            c.output as f64 / c.input.max(1) as f64
        );
    }
    out += "\n";
    out += &render_pass(&r.pruning);
    if let Some(rc) = &r.recovery {
        out += &format!(
            "\nrecovery by distillation from the original ({}; best epoch {} of {}; report in {}/):\n  test accuracy: original {:.2}%, pruned {:.2}%, recovered {:.2}%{}\n",
            rc.recipe,
            rc.best_epoch,
            rc.epochs,
            rc.dir,
            rc.before_pruning * 100.0,
            rc.after_pruning * 100.0,
            rc.after_recovery * 100.0,
            rc.fine_tuned_alone.map_or(String::new(), |a| format!(
                " (fine-tuned on the labels alone: {:.2}%)",
                a * 100.0
            ))
        );
    }
    out += &verification::tail(&r.outcome, &r.timings_ms);
    out
}

fn render_pass(p: &PruneReport) -> String {
    let s = &p.parameters;
    let mut out = format!(
        "\n{}: {}; parameters {} -> {}, zeros {} -> {} ({})",
        p.method,
        p.settings,
        s.before,
        s.after,
        s.zeros_before,
        s.zeros_after,
        percent(s.zeros_after, s.after)
    );
    if p.constants_folded > 0 {
        out += &format!(
            ", {} constant nodes folded into initializers",
            p.constants_folded
        );
    }
    out += "\n";
    for n in &p.notes {
        out += &format!("  note: {n}\n");
    }
    if let Some(c) = &p.pattern_check {
        out += &format!(
            "  check: all {} groups of {} in {} weights hold {}:{}\n",
            c.groups, c.m, c.weights, c.n, c.m
        );
    }
    if !p.layers.is_empty() {
        // Sparsity methods change values, shrinking methods change shapes.
        let shrinks = p.layers.iter().any(|l| l.params_after != l.params_before);
        let mut t = if shrinks {
            Table::new(&["layer", "op", "weight", "shape", ">params", ">rank"])
        } else {
            Table::new(&["layer", "op", "weight", "shape", ">zeros before", ">after"])
        };
        for l in &p.layers {
            let shape = if l.shape_before == l.shape_after {
                format!("{:?}", l.shape_before)
            } else if let (Some(_), [k, r, r2, n]) = (l.rank, l.shape_after.as_slice()) {
                format!("{:?} -> [{k}, {r}] x [{r2}, {n}]", l.shape_before)
            } else {
                format!("{:?} -> {:?}", l.shape_before, l.shape_after)
            };
            let (a, b) = if shrinks {
                (
                    format!("{} -> {}", l.params_before, l.params_after),
                    l.rank.map_or("-".into(), |r| r.to_string()),
                )
            } else {
                (
                    percent(l.zeros_before as u64, l.params_before as u64),
                    percent(l.zeros_after as u64, l.params_after as u64),
                )
            };
            t.row(vec![
                l.node.clone(),
                l.op_type.clone(),
                l.weight.clone(),
                shape,
                a,
                b,
            ]);
        }
        out += &t.render(2);
    }
    for s in &p.skipped {
        out += &format!("  left alone: {} ({}): {}\n", s.node, s.op_type, s.reason);
    }
    if !p.groups.is_empty() {
        let pruned = p.groups.iter().filter(|g| g.skipped.is_none()).count();
        out += &format!("  channel groups: {pruned} of {} pruned\n", p.groups.len());
        let mut t = Table::new(&[
            "group (producing layers)",
            ">channels",
            ">dependents",
            "status",
        ]);
        for g in &p.groups {
            t.row(vec![
                short_list(&g.producers),
                format!("{} -> {}", g.channels_before, g.channels_after),
                g.dependents.to_string(),
                match &g.skipped {
                    None => "pruned".into(),
                    Some(why) => format!("left alone: {why}"),
                },
            ]);
        }
        out += &t.render(2);
    }
    out
}

/// `a, b, c` or `a, b, c and 4 more`.
fn short_list(items: &[String]) -> String {
    const SHOWN: usize = 3;
    let head = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        format!("{head} and {} more", items.len() - SHOWN)
    } else {
        head
    }
}
