//! `optimize quantize`: flags → [`QuantizeConfig`] → [`QuantizeJob::run`] → table or JSON.

use crate::cli::QuantizeArgs;
use crate::commands::args::{output_path, parse_shape, policy};
use crate::commands::{print_report, verification};
use crate::exit::{Rejected, UsageError};
use crate::progress::Bars;
use crate::table::{bytes, Table};
use optimize_quant::auto::{AutoReport, Criterion, Prefer};
use optimize_quant::job::{self, Mode, QuantizeConfig, QuantizeJob};
use optimize_quant::report::RunReport;
use optimize_quant::weights::WeightType;

pub fn run(args: &QuantizeArgs) -> anyhow::Result<()> {
    let config = config(args)?;
    config.validate().map_err(|e| UsageError(e.to_string()))?;
    let output = output_path(
        args.output.as_deref(),
        job::default_output(&args.model, config.mode),
    )?;
    let job = QuantizeJob::new(&args.model, &output, config);
    let mut bars = Bars::new(args.json);
    let report = job.run(&mut bars);
    bars.finish();
    let report = report?;
    print_report(args.json, &report, render)?;
    if !report.accepted() {
        let o = &report.outcome;
        return Err(Rejected::of(&o.output.path, o.verdict.as_ref(), o.rejected.as_deref()).into());
    }
    match &report.auto {
        Some(a) if !a.met => Err(anyhow::anyhow!(
            "--auto: no configuration met the goal ({} {} {:.4}); the closest was written to {}",
            a.metric,
            if a.higher_is_better { ">=" } else { "<=" },
            a.required,
            output.display()
        )),
        _ => Ok(()),
    }
}

/// The flags as the library's config.
fn config(args: &QuantizeArgs) -> anyhow::Result<QuantizeConfig> {
    let method = args
        .method
        .parse()
        .map_err(|e: optimize_quant::Error| UsageError(e.to_string()))?;
    let mode = match (args.fp16, args.auto, &args.calibrate) {
        (true, _, _) => Mode::Fp16,
        (_, true, _) => Mode::Auto,
        (_, _, Some(_)) => Mode::Static,
        _ => Mode::Dynamic,
    };
    let mut c = QuantizeConfig {
        mode,
        calibrate: args.calibrate.clone(),
        eval: args.eval.clone(),
        method,
        per_channel: args.per_channel,
        symmetric: args.symmetric,
        conv_integer: args.conv_integer,
        bias_correction: args.bias_correction,
        nodes: args.nodes.filter(),
        force: args.force,
        external_data: args.external_data,
        ..QuantizeConfig::default()
    };
    c.holdout.count = args.holdout;
    c.fp16.keep_io_types = !args.no_keep_io_types;
    c.fp16.block_ops = args.fp16_block_ops.clone();
    c.verify.enabled = !args.no_verify;
    c.verify.keep_rejected = args.keep_rejected;
    c.verify.task = args.task.task()?;
    for s in &args.shape {
        let (name, dims) = parse_shape(s)?;
        c.shapes.insert(name, dims);
    }
    c.weight_type = args.weight_type.as_deref().map(|t| match t {
        "uint8" => WeightType::Uint8,
        "int7" => WeightType::Int7,
        _ => WeightType::Int8,
    });
    c.latency.enabled = !args.no_bench;
    if let Some(t) = args.threads {
        c.auto.threads = t;
        c.latency.threads = Some(t);
    }
    c.auto.target = args.target;
    c.auto.prefer = if args.prefer == "speed" {
        Prefer::Speed
    } else {
        Prefer::Size
    };
    c.auto.budget = args.budget;
    c.auto.latency_stage = !args.accuracy_only;
    if mode == Mode::Auto {
        c.auto.criterion = match (args.max_drop, args.min_cosine) {
            (_, Some(v)) => Criterion::MinCosine(v),
            (Some(v), None) => Criterion::MaxDrop(v),
            (None, None) => c.auto.criterion,
        };
    }
    if args.max_drop.is_some() || args.min_cosine.is_some() || args.max_abs.is_some() {
        c.verify.policy = Some(policy(
            job::default_policy(mode),
            args.max_drop,
            args.min_cosine,
            args.max_abs,
        ));
    }
    Ok(c)
}

fn render(r: &RunReport) -> String {
    let mut out = verification::head(&r.outcome) + "\n";
    if let Some(a) = &r.auto {
        // What the written file holds, counted by the pass that wrote it.
        let (quantized, stored) = r.quantization.as_ref().map_or((0, 0), |q| {
            (q.nodes_quantized(), q.int8_storage.values().sum::<usize>())
        });
        out += &render_auto(a, quantized, stored);
    }
    if let Some(q) = &r.quantization {
        out += &format!(
            "\n{}: {} nodes quantized, {} weights ({} -> {})",
            q.mode,
            q.nodes_quantized(),
            q.weights.tensors,
            bytes(q.weights.bytes_before),
            bytes(q.weights.bytes_after)
        );
        if let Some(u) = &q.opset_upgrade {
            let rewritten: usize = u.rewritten.values().sum();
            out += &format!(
                ", opset upgraded {} -> {} ({} nodes rewritten)",
                u.from, u.to, rewritten
            );
        }
        if q.bias_corrected > 0 {
            out += &format!(", {} biases corrected", q.bias_corrected);
        }
        if q.folded_into_convs > 0 {
            out += &format!(
                ", {} BatchNormalization/Add/Mul folded into their Convs",
                q.folded_into_convs
            );
        }
        if q.constants_folded > 0 {
            out += &format!(
                ", {} constant nodes folded into initializers",
                q.constants_folded
            );
        }
        out += "\n";
        for n in &q.notes {
            out += &format!("  note: {n}\n");
        }
        let mut t = Table::new(&["op", ">nodes", "status"]);
        let rows = [
            (&q.quantized, "quantized"),
            (&q.weight_only, "int8 weights, float activations"),
            (&q.fp16_weights, "float, weights stored in float16"),
            (
                &q.int8_storage,
                "float, weights stored in int8 (expanded at load)",
            ),
        ];
        for (ops, status) in rows {
            for (op, n) in ops {
                t.row(vec![op.clone(), n.to_string(), status.into()]);
            }
        }
        for s in &q.skipped {
            t.row(vec![
                s.op_type.clone(),
                s.count.to_string(),
                format!("skipped: {}", s.reason),
            ]);
        }
        out += &t.render(2);
        if let Some(g) = &r.ort_runs {
            out += &format!("  {}\n", g.line());
        }
        for (name, n) in q.non_finite_weights.iter().chain(&q.non_finite_activations) {
            out +=
                &format!("  warning: '{name}' held {n} NaN/Inf values (excluded from its range)\n");
        }
    }
    if let Some(f) = &r.fp16 {
        out += &format!(
            "\nfp16: {} tensors converted, {} nodes in fp16, {} casts inserted, {} values clamped to ±65504, {} tiny values flushed to 0\n",
            f.initializers_converted, f.nodes_fp16, f.casts_inserted, f.values_clamped, f.tiny_values_flushed
        );
        if let Some(o) = &r.fp16_overflow {
            let list = o
                .overflowing
                .iter()
                .map(|(n, m)| format!("{n} (|x| up to {m:.3e})"))
                .collect::<Vec<_>>()
                .join(", ");
            out += &format!(
                "  overflow check: {} float32 activations on {} samples ({}); {} pass ±65504 and stay float32{}\n",
                o.tensors_checked,
                o.samples,
                r.fp16_overflow_data.as_deref().unwrap_or("-"),
                o.overflowing.len(),
                if list.is_empty() { String::new() } else { format!(": {list}") }
            );
        }
        if let Some(why) = &r.fp16_overflow_skipped {
            out += &format!("  overflow check skipped: {why}\n");
        }
        for (op, n) in &f.nodes_kept_fp32 {
            out += &format!("  kept in fp32: {op} x{n}\n");
        }
    }
    if let Some(c) = r.calibration.as_ref().filter(|c| c.samples > 0) {
        out += &format!(
            "\ncalibration: {} on {} samples of {} ({} held out), {} tensors, run by {}\n",
            c.method, c.samples, c.data, c.held_out, c.tensors, c.backend
        );
        if !c.empty.is_empty() {
            out += &format!(
                "  no finite value seen (left unquantized): {}\n",
                c.empty.join(", ")
            );
        }
    }
    out += &verification::tail(&r.outcome, &r.timings_ms);
    out
}

fn render_auto(a: &AutoReport, quantized: usize, stored: usize) -> String {
    let pct = a.metric == "top1";
    let m = |v: f64| {
        if pct {
            format!("{:.2}%", v * 100.0)
        } else {
            format!("{v:.5}")
        }
    };
    let mut out = format!(
        "\n--auto on {:?}: {} must be {} {} (float32 {}, {:.3} ms, batch 1); {} trials in {:.1} s{}\n  judged by {}\n",
        a.target,
        a.metric,
        if a.higher_is_better { ">=" } else { "<=" },
        m(a.required),
        m(a.fp32_metric),
        a.fp32_latency_ms,
        a.trials.len(),
        a.elapsed_s,
        a.stopped
            .as_ref()
            .map_or(String::new(), |s| format!(" (stopped: {s})")),
        a.judge
    );
    let mut t = Table::new(&[
        "", "trial", "method", ">float", ">metric", ">cosine", ">ms", ">vs fp32", ">size", "meets",
    ]);
    for (i, tr) in a.trials.iter().enumerate() {
        t.row(vec![
            if a.chosen == Some(i) {
                "*".into()
            } else {
                String::new()
            },
            tr.name.clone(),
            format!(
                "{}{}{}",
                tr.method,
                if tr.per_channel { ", per-channel" } else { "" },
                if tr.bias_correction {
                    ", bias corr."
                } else {
                    ""
                }
            ),
            match (tr.int8_storage_nodes, tr.fp16_weight_nodes) {
                (0, 0) => tr.float_nodes.to_string(),
                (w, 0) => format!("{} ({w} int8 w)", tr.float_nodes),
                (_, h) => format!("{} ({h} fp16 w)", tr.float_nodes),
            },
            tr.metric.map_or("-".into(), m),
            format!("{:.5}", tr.cosine),
            tr.latency_ms.map_or("-".into(), |v| format!("{v:.3}")),
            match (tr.latency_ratio, tr.latency_spread) {
                (Some(r), Some(s)) => format!("{r:.2}x ±{s:.2}"),
                _ => "-".into(),
            },
            bytes(tr.size_bytes),
            if tr.meets { "yes".into() } else { "no".into() },
        ]);
    }
    out += &t.render(2);
    match a.chosen {
        Some(_) if quantized == 0 && stored == 0 => out += &format!(
            "  * written: a float32 copy: no node quantized and no weight stored in int8 ({})\n",
            if a.met { "nothing here gained from int8" } else { "NONE met the goal" }
        ),
        Some(i) if a.met && a.trials[i].float32_compute => out +=
            "  * written: weights in int8, activations in float (no int8 activation beat float32 here; the runtime expands the weights at load and computes as float32 does)\n",
        Some(i) if a.met && a.trials[i].weights_alone => out +=
            "  * written: weights in int8, activations in float (no int8 activation beat float32 here), measured not slower than float32\n",
        Some(_) if a.met => out +=
            match a.prefer {
                Prefer::Size => "  * written: the smallest trial that meets the goal and is clearly faster than float32 (--prefer size)\n",
                Prefer::Speed => "  * written: the smallest trial near the fastest that meets the goal and is clearly faster than float32 (--prefer speed)\n",
            },
        Some(_) => out += "  * written: the closest trial; NONE met the goal\n",
        None => out +=
            "  written: the float32 model unchanged (no int8 variant was faster on this target)\n",
    }
    for d in &a.timing_decisions {
        out += &format!("  timing: {d}\n");
    }
    if !a.float_for_speed.is_empty() {
        out += &format!(
            "  kept float for speed: {}\n",
            a.float_for_speed
                .iter()
                .map(|(n, _, g)| format!("{n} ({g})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !a.float_for_accuracy.is_empty() {
        out += &format!(
            "  kept float for accuracy: {}\n",
            a.float_for_accuracy.join(", ")
        );
    }
    if let Some(tr) = a.chosen.map(|i| &a.trials[i]) {
        if tr.int8_storage_nodes > 0 {
            out += &format!(
                "  of the float nodes, {} store their weights in int8 (expanded to float32 once, at load; a quarter of the bytes, no cost per call)\n",
                tr.int8_storage_nodes
            );
        }
        if tr.fp16_weight_nodes > 0 {
            out += &format!(
                "  of the float nodes, {} store their weights in float16 (cast to float32 once, at load)\n",
                tr.fp16_weight_nodes
            );
        }
    }
    out
}
