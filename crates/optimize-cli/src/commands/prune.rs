//! `optimize prune`: magnitude, N:M, channel or low-rank pruning, then verify and measure.

use crate::cli::{PruneArgs, PruneMethod};
use crate::commands::args::{parse_shape, same_file};
use crate::commands::distill::run_with_progress;
use crate::commands::{print, verification};
use crate::exit::Interrupted;
use crate::exit::UsageError;
use crate::table::{bytes, Table};
use optimize_bench::verify::{data_samples, input_specs, seeded_samples, verify};
use optimize_bench::{Bench, Engine};
use optimize_distill::pipeline::{DistillOptions, Outcome};
use optimize_distill::Recipe;
use optimize_onnx::{save, ExternalData, Model, SaveOptions};
use optimize_prune::report::Recovery;
use optimize_prune::report::{
    gzip_len, CompressedSize, FileSize, LatencyChange, PruneReport, RunReport,
};
use optimize_prune::{
    ChannelConfig, Criterion, LowRankConfig, MagnitudeConfig, NmConfig, NmPattern, RankRule, Scope,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Seeded samples verified on without --eval.
const RANDOM_SAMPLES: usize = 8;
/// Evaluation samples used at most.
const MAX_EVAL: usize = 4096;

/// One pass with its settings, validated from the flags.
enum Pass {
    Magnitude(MagnitudeConfig),
    Nm(NmConfig),
    Channels(ChannelConfig),
    LowRank(LowRankConfig),
}

pub fn run(args: &PruneArgs) -> anyhow::Result<()> {
    let mut timings: Vec<(String, f64)> = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, timings: &mut Vec<(String, f64)>| {
        timings.push((name.to_string(), clock.elapsed().as_secs_f64() * 1000.0));
        clock = Instant::now();
    };

    let pass = pass(args)?;
    let shapes = args
        .shape
        .iter()
        .map(|s| parse_shape(s))
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    let output = output_path(args);
    let model = Model::load(&args.model)?;
    if model.source_files().iter().any(|f| same_file(f, &output)) {
        return Err(UsageError(format!(
            "{}: refusing to overwrite the input model; choose another output path",
            output.display()
        ))
        .into());
    }
    lap("load", &mut timings);

    let (mut out, report) = match &pass {
        Pass::Magnitude(c) => optimize_prune::prune_magnitude(&model, c)?,
        Pass::Nm(c) => optimize_prune::prune_n_m(&model, c)?,
        Pass::Channels(c) => optimize_prune::prune_channels(&model, c)?,
        Pass::LowRank(c) => optimize_prune::factorize(&model, c)?,
    };
    lap("prune", &mut timings);

    out.stamp(
        env!("CARGO_PKG_VERSION"),
        "prune",
        &format!("{}, {}", report.method, report.settings),
    );
    let options = SaveOptions {
        external_data: if args.external_data {
            ExternalData::Always
        } else {
            ExternalData::Auto
        },
        ..Default::default()
    };
    let mut saved = save(&out, &output, &options)?;
    lap("save", &mut timings);

    let recovery = match &args.recover {
        Some(recipe) => {
            let done = recover(args, recipe, &output, &out, &report, &options);
            match done {
                Ok((r, s)) => {
                    saved = s;
                    lap("recover", &mut timings);
                    Some(r)
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&saved.path);
                    if let Some(d) = &saved.external_data {
                        let _ = std::fs::remove_file(&d.path);
                    }
                    return Err(e.context(format!("{} was not kept", output.display())));
                }
            }
        }
        None => None,
    };
    let data_path = saved.external_data.as_ref().map(|e| e.path.clone());

    let input_files = model.source_files();
    let output_files: Vec<PathBuf> = std::iter::once(saved.path.clone())
        .chain(data_path.clone())
        .collect();
    let (input_bytes, gz_in) = file_sizes(&input_files);
    let (output_bytes, gz_out) = file_sizes(&output_files);
    let compressed = match (gz_in, gz_out) {
        (Some(input), Some(output)) => Some(CompressedSize {
            format: "gzip",
            input,
            output,
        }),
        _ => None,
    };
    lap("compress", &mut timings);

    let verification = if args.no_verify {
        None
    } else {
        let specs = input_specs(&model);
        let data = match &args.eval {
            Some(path) => data_samples(path, &specs, MAX_EVAL)?,
            None => seeded_samples(&specs, &shapes, RANDOM_SAMPLES, 0)?,
        };
        match verify(&args.model, &output, &data, "--eval or --shape") {
            Ok(v) => Some(v),
            Err(e) => {
                for f in &output_files {
                    let _ = std::fs::remove_file(f);
                }
                return Err(
                    anyhow::Error::from(e).context(format!("{} was not kept", output.display()))
                );
            }
        }
    };
    if verification.is_some() {
        lap("verify", &mut timings);
    }

    let (latency, latency_skipped) = if args.no_bench {
        (Vec::new(), Some("--no-bench".to_string()))
    } else {
        let r = measure(&args.model, &output, args.eval.as_deref(), &shapes);
        lap("latency", &mut timings);
        r
    };

    let report = RunReport {
        schema: "optimize.prune/1",
        input: FileSize {
            path: args.model.display().to_string(),
            bytes: input_bytes,
        },
        output: FileSize {
            path: output.display().to_string(),
            bytes: output_bytes,
        },
        size_ratio: output_bytes as f64 / input_bytes.max(1) as f64,
        compressed,
        pruning: report,
        verification,
        latency,
        latency_skipped,
        recovery,
        timings_ms: timings,
    };
    if args.json {
        print(&(serde_json::to_string_pretty(&report)? + "\n"))
    } else {
        print(&render(&report))
    }
}

/// Fine-tunes the pruned model at `output` with the original as teacher, through the recipe at
/// `recipe`, and writes the distilled student over `output` with the pruned model's input and
/// output names.
fn recover(
    args: &PruneArgs,
    recipe: &Path,
    output: &Path,
    pruned: &Model,
    report: &PruneReport,
    options: &SaveOptions,
) -> anyhow::Result<(Recovery, optimize_onnx::SaveReport)> {
    let recipe_file = recipe;
    let recipe = Recipe::load_with_models(recipe, &args.model, output)?;
    let dir = args.recover_dir.clone().unwrap_or_else(|| {
        let mut d = output.as_os_str().to_owned();
        d.push(".recover");
        PathBuf::from(d)
    });
    let options_distill = DistillOptions {
        out_dir: dir.clone(),
        resume: None,
        sweep: false,
    };
    let d = match run_with_progress(recipe, &options_distill, args.json)? {
        Outcome::Done(d) => d,
        Outcome::Interrupted { checkpoint } => {
            return Err(Interrupted(format!(
                "recovery interrupted (checkpoint {}); run the prune again to start over",
                checkpoint.display()
            ))
            .into())
        }
    };
    let accuracy = |role: &str| {
        d.models
            .iter()
            .find(|m| m.role == role)
            .map(|m| m.test_accuracy)
    };
    let missing = |role: &str| anyhow::anyhow!("the distillation report has no {role} model");
    let recovery = Recovery {
        recipe: recipe_file.display().to_string(),
        dir: dir.display().to_string(),
        before_pruning: accuracy("teacher").ok_or_else(|| missing("teacher"))?,
        after_pruning: accuracy("initial").ok_or_else(|| missing("initial"))?,
        after_recovery: accuracy("distilled").ok_or_else(|| missing("distilled"))?,
        fine_tuned_alone: accuracy("alone"),
        best_epoch: d.distilled.best_epoch,
        epochs: d.distilled.epochs,
    };
    // The distilled student, under the pruned model's input and output names.
    let mut student = Model::load(dir.join("student.onnx"))?;
    if let (Some(g), Some(pg)) = (student.proto.graph.as_mut(), pruned.proto.graph.as_ref()) {
        let pairs: Vec<(String, String)> = g
            .input
            .iter()
            .zip(
                pg.input
                    .iter()
                    .filter(|i| !pg.initializer.iter().any(|t| t.name() == i.name())),
            )
            .chain(g.output.iter().zip(&pg.output))
            .map(|(a, b)| (a.name().to_string(), b.name().to_string()))
            .collect();
        for (from, to) in pairs {
            optimize_onnx::transform::rename_value(g, &from, &to);
        }
    }
    student.stamp(
        env!("CARGO_PKG_VERSION"),
        "prune",
        &format!(
            "{}, {}; recovered by distillation from the original ({})",
            report.method,
            report.settings,
            recipe_file.display()
        ),
    );
    let saved = save(&student, output, options)?;
    Ok((recovery, saved))
}

/// Checks that the flags fit the method and builds its config.
fn pass(args: &PruneArgs) -> anyhow::Result<Pass> {
    let method = match args.method {
        PruneMethod::Magnitude => "magnitude",
        PruneMethod::Nm => "nm",
        PruneMethod::Channels => "channels",
        PruneMethod::Lowrank => "lowrank",
    };
    let given: [(&str, bool, &str); 10] = [
        ("--sparsity", args.sparsity.is_some(), "magnitude"),
        ("--per-layer", args.per_layer, "magnitude"),
        ("--exclude-first", args.exclude_first, "magnitude"),
        ("--exclude-last", args.exclude_last, "magnitude"),
        ("--pattern", args.pattern.is_some(), "nm"),
        ("--ratio", args.ratio.is_some(), "channels"),
        ("--criterion", args.criterion.is_some(), "channels"),
        ("--round-to", args.round_to.is_some(), "channels"),
        ("--rank", args.rank.is_some(), "lowrank"),
        ("--energy", args.energy.is_some(), "lowrank"),
    ];
    if let Some((flag, _, owner)) = given.iter().find(|(_, set, m)| *set && *m != method) {
        return Err(UsageError(format!(
            "{flag} applies to --method {owner}, not --method {method}"
        ))
        .into());
    }
    if args.force && args.method != PruneMethod::Lowrank {
        return Err(UsageError(format!(
            "--force applies to --method lowrank, not --method {method}"
        ))
        .into());
    }
    let filter = args.nodes.filter();
    Ok(match args.method {
        PruneMethod::Magnitude => {
            let sparsity = args.sparsity.ok_or_else(|| {
                UsageError(
                    "--method magnitude needs --sparsity S, the share of weights to zero (e.g. 0.5)"
                        .into(),
                )
            })?;
            let config = MagnitudeConfig {
                sparsity,
                scope: if args.per_layer {
                    Scope::PerLayer
                } else {
                    Scope::Global
                },
                exclude_first: args.exclude_first,
                exclude_last: args.exclude_last,
                filter,
            };
            config.validate()?;
            Pass::Magnitude(config)
        }
        PruneMethod::Nm => {
            let pattern: NmPattern = args.pattern.as_deref().unwrap_or("2:4").parse()?;
            Pass::Nm(NmConfig { pattern, filter })
        }
        PruneMethod::Channels => {
            let ratio = args.ratio.ok_or_else(|| {
                UsageError(
                    "--method channels needs --ratio R, the share of channels to remove (e.g. 0.5)"
                        .into(),
                )
            })?;
            let criterion: Criterion = args.criterion.as_deref().unwrap_or("l1").parse()?;
            let round_to = args.round_to.unwrap_or(1);
            if round_to == 0 {
                return Err(UsageError("--round-to 0: give 1 (any count) or more".into()).into());
            }
            let config = ChannelConfig {
                ratio,
                criterion,
                round_to,
                filter,
            };
            config.validate()?;
            Pass::Channels(config)
        }
        PruneMethod::Lowrank => {
            let rule = match (args.rank, args.energy) {
                (Some(r), _) => RankRule::Rank(r),
                (None, Some(e)) => RankRule::Energy(e),
                (None, None) => {
                    return Err(UsageError(
                        "--method lowrank needs --rank R or --energy E (share of the squared singular values to keep, e.g. 0.9)".into(),
                    )
                    .into())
                }
            };
            let config = LowRankConfig {
                rule,
                force: args.force,
                filter,
            };
            config.validate()?;
            Pass::LowRank(config)
        }
    })
}

/// Median latency of the original and the output on ONNX Runtime and tract, on the same inputs.
fn measure(
    original: &Path,
    pruned: &Path,
    eval: Option<&Path>,
    shapes: &BTreeMap<String, Vec<usize>>,
) -> (Vec<LatencyChange>, Option<String>) {
    let mut changes = Vec::new();
    let mut problems = Vec::new();
    for engine in [Engine::Ort, Engine::Tract] {
        let bench = |model: &Path| {
            let mut b = Bench::new(model)
                .backend(engine)
                .warmup(5)
                .iterations(50)
                .min_duration(Duration::from_millis(300));
            match eval {
                Some(data) => b = b.eval(data),
                None => {
                    for (name, shape) in shapes {
                        b = b.shape(name.clone(), shape.clone());
                    }
                }
            }
            b.run()
        };
        match (bench(original), bench(pruned)) {
            (Ok(a), Ok(b)) => changes.push(LatencyChange {
                runtime: engine.name().to_string(),
                before_ms: a.latency.p50_ms,
                after_ms: b.latency.p50_ms,
                speedup: a.latency.p50_ms / b.latency.p50_ms.max(1e-9),
                inputs: b.input_source.clone(),
            }),
            (Err(e), _) | (_, Err(e)) => problems.push(format!("{}: {}", engine.name(), e)),
        }
    }
    let skipped = (!problems.is_empty()).then(|| problems.join("; "));
    (changes, skipped)
}

/// Total bytes of `files` and their gzip size (all files compressed as one stream's worth).
fn file_sizes(files: &[PathBuf]) -> (u64, Option<u64>) {
    let mut total = 0;
    let mut gz = Some(0);
    for f in files {
        total += std::fs::metadata(f).map_or(0, |m| m.len());
        gz = match (gz, std::fs::read(f)) {
            (Some(g), Ok(data)) => Some(g + gzip_len(&data)),
            _ => None,
        };
    }
    (total, gz)
}

fn output_path(args: &PruneArgs) -> PathBuf {
    if let Some(o) = &args.output {
        return o.clone();
    }
    let stem = args
        .model
        .file_stem()
        .map_or("model".into(), |s| s.to_string_lossy().into_owned());
    let suffix = match args.method {
        PruneMethod::Magnitude => "magnitude",
        PruneMethod::Nm => "nm",
        PruneMethod::Channels => "channels",
        PruneMethod::Lowrank => "lowrank",
    };
    args.model.with_file_name(format!("{stem}.{suffix}.onnx"))
}

fn percent(part: u64, whole: u64) -> String {
    format!("{:.1}%", part as f64 * 100.0 / whole.max(1) as f64)
}

fn render(r: &RunReport) -> String {
    let mut out = format!(
        "{} ({}) -> {} ({}), {:.2}x the size",
        r.input.path,
        bytes(r.input.bytes),
        r.output.path,
        bytes(r.output.bytes),
        r.size_ratio
    );
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
    out += &verification::render(r.verification.as_ref());
    if !r.latency.is_empty() {
        out += "\nlatency (median):\n";
        let mut t = Table::new(&["runtime", ">before", ">after", ">speed-up"]);
        for l in &r.latency {
            t.row(vec![
                l.runtime.clone(),
                format!("{:.3} ms", l.before_ms),
                format!("{:.3} ms", l.after_ms),
                format!("{:.2}x", l.speedup),
            ]);
        }
        out += &t.render(2);
    }
    if let Some(why) = r.latency_skipped.as_deref().filter(|w| *w != "--no-bench") {
        out += &format!("  latency not measured: {why}\n");
    }
    let times: Vec<String> = r
        .timings_ms
        .iter()
        .map(|(p, ms)| format!("{p} {ms:.0} ms"))
        .collect();
    out += &format!("\ntime: {}\n", times.join(", "));
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
            ", {} Constant weights folded into initializers",
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
