//! `optimize quantize`: int8 (dynamic, or static QDQ with calibration) or fp16, then verify.

use crate::cli::QuantizeArgs;
use crate::commands::args::same_file;
use crate::commands::{print, verification};
use crate::exit::UsageError;
use crate::table::{bytes, Table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use optimize_bench::verify::{input_specs, seeded_samples, verify, Inputs, VerifyData};
use optimize_data::CalibrationSet;
use optimize_onnx::{save, ExternalData, Model, SaveOptions, Summary};
use optimize_quant::report::{CalibrationSummary, FileSize, RunReport};
use optimize_quant::{
    fp16, quantize_dynamic, quantize_static_with, CalibrationMethod, Error as QuantError,
    QuantConfig,
};
use optimize_runtime::{load_model, Backend};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

const MAX_HOLDOUT: usize = 64;
const RANDOM_SAMPLES: usize = 8;

pub fn run(args: &QuantizeArgs) -> anyhow::Result<()> {
    let mut timings: Vec<(String, f64)> = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, timings: &mut Vec<(String, f64)>| {
        timings.push((name.to_string(), clock.elapsed().as_secs_f64() * 1000.0));
        clock = Instant::now();
    };

    let config = config(args)?;
    let output = output_path(args);
    let model = Model::load(&args.model)?;
    if model.source_files().iter().any(|f| same_file(f, &output)) {
        return Err(UsageError(format!(
            "{}: refusing to overwrite the input model; choose another output path",
            output.display()
        ))
        .into());
    }
    let input_bytes = model_bytes(&args.model, &model);
    let precision = Summary::of(&model, None).precision;
    let already = if args.fp16 {
        !precision.formats.is_empty()
    } else {
        precision.formats.iter().any(|f| *f != "fp16")
    };
    if already && !args.force {
        return Err(QuantError::AlreadyQuantized {
            summary: precision.summary,
        }
        .into());
    }
    lap("load", &mut timings);

    let specs = input_specs(&model);
    let mut verify_samples: Vec<Inputs> = Vec::new();
    let mut verify_source = String::new();
    let mut calibration = None;
    let mut overflow = None;
    let mut overflow_skipped = None;
    let mut auto: Option<optimize_quant::auto::AutoReport> = None;
    let (mut out, quant_report, fp16_report) = if args.fp16 {
        // Run the float32 model on data (calibration data, verification data, or seeded inputs)
        // and keep in float32 the nodes whose activations would overflow float16.
        let (samples, source): (Vec<Inputs>, String) =
            match args.calibrate.as_ref().or(args.verify_data.as_ref()) {
                Some(data) => {
                    let set = open_data(data, &specs)?;
                    let s = set
                        .iter_range(0..MAX_HOLDOUT)
                        .map(|s| s.map(|s| s.inputs))
                        .collect::<Result<_, _>>()
                        .map_err(QuantError::from)?;
                    (s, format!("samples of {}", data.display()))
                }
                None => seeded(&specs)?,
            };
        let mut keep = std::collections::BTreeSet::new();
        match optimize_quant::fp16_overflow(
            &model,
            samples.iter().cloned().map(Ok),
            &overflow_loader,
        ) {
            Ok(o) => {
                keep.extend(o.overflowing.iter().map(|(n, _)| n.clone()));
                overflow = Some(o);
            }
            Err(e) => {
                overflow_skipped = Some(format!("the float32 model does not run on {source}: {e}"))
            }
        }
        verify_samples = samples;
        verify_source = source;
        let cfg = fp16::Fp16Config {
            keep_io_types: !args.no_keep_io_types,
            block_ops: fp16::default_block_ops()
                .into_iter()
                .chain(args.fp16_block_ops.iter().cloned())
                .collect(),
            keep_fp32_nodes: keep,
        };
        let (proto, report) = fp16::convert_to_fp16(&model.proto, &cfg)
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.model.display()))?;
        (Model::from_proto(proto), None, Some(report))
    } else if args.auto {
        let data = args
            .calibrate
            .as_ref()
            .expect("clap requires --calibrate with --auto");
        let (out, report, summary) = run_auto(args, &model, data, &specs, &config)?;
        calibration = Some(summary.0);
        verify_samples = summary.1;
        verify_source = summary.2;
        auto = Some(summary.3);
        lap("search", &mut timings);
        (out, Some(report), None)
    } else if let Some(data) = &args.calibrate {
        let set = open_data(data, &specs)?;
        let holdout = args
            .holdout
            .unwrap_or_else(|| (set.len() / 10).clamp(usize::from(set.len() > 1), MAX_HOLDOUT));
        let (cal_range, held) = set.split(holdout);
        if cal_range.is_empty() {
            return Err(UsageError(format!(
                "{}: --holdout {holdout} leaves no sample to calibrate on ({} in all)",
                data.display(),
                set.len()
            ))
            .into());
        }
        let bar = progress_bar(cal_range.len() as u64, args.json);
        let samples = set
            .iter_range(cal_range.clone())
            .map(|s| s.map(|s| s.inputs).map_err(QuantError::from));

        let (out, report, cal) =
            quantize_static_with(&model, samples, &config, &runtime_loader, &mut |n| {
                bar.set_position(n as u64)
            })?;
        bar.finish_and_clear();
        calibration = Some(CalibrationSummary {
            data: data.display().to_string(),
            method: config.method.to_string(),
            samples: cal.samples,
            held_out: held.len(),
            backend: cal.backend.clone(),
            tensors: cal.ranges.len() + cal.empty.len(),
            empty: cal.empty.clone(),
        });
        let (range, source) = if held.is_empty() {
            (
                0..set.len().min(MAX_HOLDOUT),
                "calibration samples (no sample was held out)".to_string(),
            )
        } else {
            (
                held.clone(),
                format!("{} held-out samples of {}", held.len(), data.display()),
            )
        };
        verify_samples = set
            .iter_range(range)
            .map(|s| s.map(|s| s.inputs))
            .collect::<Result<_, _>>()
            .map_err(QuantError::from)?;
        verify_source = source;
        lap("calibrate + quantize", &mut timings);
        (out, Some(report), None)
    } else {
        let (out, report) = quantize_dynamic(&model, &config)?;
        (out, Some(report), None)
    };
    if !timings.iter().any(|(p, _)| p.starts_with("calibrate")) {
        lap("quantize", &mut timings);
    }

    let changed = match (&quant_report, &fp16_report) {
        (Some(r), _) => r.nodes_quantized() > 0,
        (_, Some(r)) => r.initializers_converted + r.nodes_fp16 > 0,
        _ => false,
    };
    if !changed && !args.force && auto.is_none() {
        let ops: Vec<String> = Summary::of(&model, None)
            .op_types
            .iter()
            .take(8)
            .map(|o| format!("{} {}", o.op_type, o.count))
            .collect();
        let skipped: Vec<String> = quant_report
            .iter()
            .flat_map(|r| &r.skipped)
            .map(|k| format!("{} {}x {}", k.op_type, k.count, k.reason))
            .collect();
        let detail = if skipped.is_empty() {
            format!(
                "{}: no supported node (its ops: {})",
                args.model.display(),
                ops.join(", ")
            )
        } else {
            format!(
                "{}: every candidate was skipped: {}",
                args.model.display(),
                skipped.join("; ")
            )
        };
        return Err(QuantError::NothingToQuantize { detail }.into());
    }
    let description = describe(args, &config);
    out.stamp(env!("CARGO_PKG_VERSION"), "quantize", &description);
    let options = SaveOptions {
        external_data: if args.external_data {
            ExternalData::Always
        } else {
            ExternalData::Auto
        },
        ..Default::default()
    };
    let saved = save(&out, &output, &options)?;
    let output_bytes = saved.bytes + saved.external_data.as_ref().map_or(0, |e| e.bytes);
    lap("save", &mut timings);

    let verification = if args.no_verify {
        None
    } else {
        if verify_samples.is_empty() {
            if let Some(data) = &args.verify_data {
                let set = open_data(data, &specs)?;
                verify_samples = set
                    .iter_range(0..MAX_HOLDOUT)
                    .map(|s| s.map(|s| s.inputs))
                    .collect::<Result<_, _>>()
                    .map_err(QuantError::from)?;
                verify_source = format!("{} samples of {}", verify_samples.len(), data.display());
            } else {
                (verify_samples, verify_source) = seeded(&specs)?;
            }
        }
        let data = VerifyData {
            samples: verify_samples,
            labels: None,
            source: verify_source,
        };
        match verify(&args.model, &output, &data, "--verify-data or --calibrate") {
            Ok(v) => Some(v),
            Err(e) => {
                remove_output(
                    &saved.path,
                    saved.external_data.as_ref().map(|e| e.path.as_path()),
                );
                return Err(
                    anyhow::Error::from(e).context(format!("{} was not kept", output.display()))
                );
            }
        }
    };
    if verification.is_some() {
        lap("verify", &mut timings);
    }

    let report = RunReport {
        schema: "optimize.quantize/1",
        input: FileSize {
            path: args.model.display().to_string(),
            bytes: input_bytes,
        },
        output: FileSize {
            path: output.display().to_string(),
            bytes: output_bytes,
        },
        size_ratio: output_bytes as f64 / input_bytes.max(1) as f64,
        quantization: quant_report,
        fp16: fp16_report,
        fp16_overflow: overflow,
        fp16_overflow_skipped: overflow_skipped,
        calibration,
        verification,
        timings_ms: timings,
        auto,
    };
    if args.json {
        print(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        print(&render(&report))?;
    }
    match &report.auto {
        Some(a) if !a.met => Err(anyhow::anyhow!(
            "--auto: no configuration met the goal ({} >= {:.4}); the closest was written to {}",
            a.metric,
            a.required,
            output.display()
        )),
        _ => Ok(()),
    }
}

/// Seeded random inputs to verify on (symbolic dimensions 1), and where they came from.
fn seeded(specs: &[optimize_data::InputSpec]) -> anyhow::Result<(Vec<Inputs>, String)> {
    let d = seeded_samples(specs, &std::collections::BTreeMap::new(), RANDOM_SAMPLES, 0)?;
    Ok((d.samples, d.source))
}

/// What `--auto` hands back besides the model: the calibration summary, the samples and
/// source to verify on, and the search report.
type AutoOutcome = (
    CalibrationSummary,
    Vec<Inputs>,
    String,
    optimize_quant::auto::AutoReport,
);

fn run_auto(
    args: &QuantizeArgs,
    model: &Model,
    data: &Path,
    specs: &[optimize_data::InputSpec],
    config: &QuantConfig,
) -> anyhow::Result<(Model, optimize_quant::QuantReport, AutoOutcome)> {
    use optimize_quant::auto::{quantize_auto, AutoConfig, AutoTarget, Criterion, EvalSet, Prefer};
    let set = open_data(data, specs)?;
    let (eval, cal_range) = match &args.eval {
        Some(path) => {
            let eset = open_data(path, specs)?;
            let n = eset.len().min(1000);
            let samples = eset
                .iter_range(0..n)
                .map(|s| s.map(|s| s.inputs))
                .collect::<Result<Vec<_>, _>>()
                .map_err(QuantError::from)?;
            let labels = match eset.labels() {
                Ok(t) => Some(
                    t.to_f64_lossy()
                        .into_iter()
                        .take(n)
                        .map(|v| v as i64)
                        .collect(),
                ),
                Err(_) => None,
            };
            let source = format!("{n} samples of {}", path.display());
            (
                EvalSet {
                    samples,
                    labels,
                    source,
                },
                0..set.len(),
            )
        }
        None => {
            let holdout = args
                .holdout
                .unwrap_or_else(|| (set.len() / 4).clamp(usize::from(set.len() > 1), MAX_HOLDOUT));
            let (cal, held) = set.split(holdout);
            if held.is_empty() || cal.is_empty() {
                return Err(UsageError(format!(
                    "{}: --auto needs samples to calibrate on and held-out samples to judge \
                     accuracy on ({} in all); give more samples or --eval DATA",
                    data.display(),
                    set.len()
                ))
                .into());
            }
            let samples = set
                .iter_range(held.clone())
                .map(|s| s.map(|s| s.inputs))
                .collect::<Result<Vec<_>, _>>()
                .map_err(QuantError::from)?;
            let source = format!("{} held-out samples of {}", held.len(), data.display());
            (
                EvalSet {
                    samples,
                    labels: None,
                    source,
                },
                cal,
            )
        }
    };
    let criterion = match (args.max_drop, args.min_cosine) {
        (_, Some(c)) if (0.0..=1.0).contains(&c) => Criterion::MinCosine(c),
        (Some(d), None) if (0.0..=1.0).contains(&d) => Criterion::MaxDrop(d),
        (None, None) => Criterion::MaxDrop(0.01),
        _ => {
            return Err(UsageError(
                "--max-drop and --min-cosine take a number between 0 and 1".into(),
            )
            .into())
        }
    };
    let budget = parse_duration(&args.budget).ok_or_else(|| {
        UsageError(format!(
            "--budget {:?}: expected a duration such as 90s, 10m or 1h",
            args.budget
        ))
    })?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C (or a handler already set) falls back to the default behaviour.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, std::sync::atomic::Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }
    let auto_config = AutoConfig {
        base: config.clone(),
        criterion,
        target: if args.target == "tract" {
            AutoTarget::Tract
        } else {
            AutoTarget::Ort
        },
        threads: 2,
        budget,
        latency_stage: !args.accuracy_only,
        prefer: if args.prefer == "speed" {
            Prefer::Speed
        } else {
            Prefer::Size
        },
        stop: Some(stop),
    };
    let bar = spinner(args.json);
    let source = || -> Box<dyn Iterator<Item = optimize_quant::Result<Inputs>> + '_> {
        Box::new(
            set.iter_range(cal_range.clone())
                .map(|s| s.map(|s| s.inputs).map_err(QuantError::from)),
        )
    };
    let (out, report, auto) = quantize_auto(
        model,
        &source,
        &eval,
        &auto_config,
        &runtime_loader,
        &mut |step| bar.set_message(step.to_string()),
    )?;
    bar.finish_and_clear();
    let summary = CalibrationSummary {
        data: data.display().to_string(),
        method: auto.chosen.map_or("none (float32 kept)".into(), |t| {
            auto.trials[t].method.clone()
        }),
        samples: cal_range.len(),
        held_out: if args.eval.is_some() {
            0
        } else {
            eval.samples.len()
        },
        backend: auto.calibration_backend.clone(),
        tensors: auto.calibrated_tensors,
        empty: Vec::new(),
    };
    let (verify_samples, verify_source) = (eval.samples.clone(), eval.source.clone());
    Ok((out, report, (summary, verify_samples, verify_source, auto)))
}

/// `90s`, `10m`, `1h`, or plain seconds.
fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let v: f64 = num.trim().parse().ok()?;
    let secs = match unit {
        "s" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs > 0.0).then(|| std::time::Duration::from_secs_f64(secs))
}

fn spinner(json: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, draw_target(json));
    bar.set_style(
        ProgressStyle::with_template("{spinner} --auto [{elapsed}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Calibration runs the model in tract (pure Rust), falling back to ONNX Runtime.
fn runtime_loader(
    bytes: &[u8],
) -> optimize_quant::Result<(Box<dyn optimize_runtime::Model>, String)> {
    loader_preferring(bytes, Backend::Tract)
}

/// The fp16 overflow check is a safety check on the float32 model, not calibration: it takes
/// the fast path, ONNX Runtime where it is installed, and tract otherwise.
fn overflow_loader(
    bytes: &[u8],
) -> optimize_quant::Result<(Box<dyn optimize_runtime::Model>, String)> {
    loader_preferring(bytes, Backend::Ort)
}

fn loader_preferring(
    bytes: &[u8],
    preferred: Backend,
) -> optimize_quant::Result<(Box<dyn optimize_runtime::Model>, String)> {
    let (m, backend, why) = load_model(bytes, preferred, true)?;
    let name = match why {
        None => backend.name().to_string(),
        Some(w) => format!(
            "{} ({} could not run it: {})",
            backend.name(),
            preferred.name(),
            verification::first_line(&w)
        ),
    };
    Ok((m, name))
}

/// Opens calibration or verification data; errors name the file.
fn open_data(path: &Path, specs: &[optimize_data::InputSpec]) -> anyhow::Result<CalibrationSet> {
    CalibrationSet::open(path, specs).map_err(|e| {
        let named = e.to_string().contains(&path.display().to_string());
        let err = anyhow::Error::from(QuantError::from(e));
        if named {
            err
        } else {
            err.context(path.display().to_string())
        }
    })
}

fn config(args: &QuantizeArgs) -> anyhow::Result<QuantConfig> {
    let method: CalibrationMethod = args
        .method
        .parse()
        .map_err(|e: QuantError| UsageError(e.to_string()))?;
    if args.fp16 && (args.per_channel || args.symmetric) {
        return Err(
            UsageError("--per-channel and --symmetric apply to --int8, not --fp16".into()).into(),
        );
    }
    Ok(QuantConfig {
        per_channel: args.per_channel,
        conv_integer: args.conv_integer,
        bias_correction: args.bias_correction,
        method,
        symmetric_activations: args.symmetric,
        filter: args.nodes.filter(),
        ..Default::default()
    })
}

fn output_path(args: &QuantizeArgs) -> PathBuf {
    if let Some(o) = &args.output {
        return o.clone();
    }
    let stem = args
        .model
        .file_stem()
        .map_or("model".into(), |s| s.to_string_lossy().into_owned());
    let suffix = if args.fp16 { "fp16" } else { "int8" };
    args.model.with_file_name(format!("{stem}.{suffix}.onnx"))
}

fn model_bytes(path: &Path, model: &Model) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
        + model.external_files().iter().map(|f| f.bytes).sum::<u64>()
}

fn describe(args: &QuantizeArgs, config: &QuantConfig) -> String {
    if args.fp16 {
        return format!("fp16, keep_io_types={}", !args.no_keep_io_types);
    }
    if args.auto {
        return format!(
            "int8 --auto mixed precision (target {}, max_drop {:?}, min_cosine {:?})",
            args.target, args.max_drop, args.min_cosine
        );
    }
    match &args.calibrate {
        Some(_) => format!(
            "int8 static QDQ, method={}, {} activations, {} weights",
            config.method,
            if config.symmetric_activations {
                "symmetric int8"
            } else {
                "asymmetric uint8"
            },
            if config.per_channel {
                "per-channel"
            } else {
                "per-tensor"
            }
        ),
        None => format!(
            "int8 dynamic, {} weights",
            if config.per_channel {
                "per-channel"
            } else {
                "per-tensor"
            }
        ),
    }
}

fn progress_bar(len: u64, json: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), draw_target(json));
    if let Ok(style) =
        ProgressStyle::with_template("calibrating {bar:30} {pos}/{len} samples {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}

fn remove_output(model: &Path, data: Option<&Path>) {
    let _ = std::fs::remove_file(model);
    if let Some(d) = data {
        let _ = std::fs::remove_file(d);
    }
}

fn render(r: &RunReport) -> String {
    let mut out = format!(
        "{} ({}) -> {} ({}), {:.2}x the size\n",
        r.input.path,
        bytes(r.input.bytes),
        r.output.path,
        bytes(r.output.bytes),
        r.size_ratio
    );
    if let Some(a) = &r.auto {
        out += &render_auto(a);
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
        if q.constants_folded > 0 {
            out += &format!(
                ", {} Constant weights folded into initializers",
                q.constants_folded
            );
        }
        out += "\n";
        for n in &q.notes {
            out += &format!("  note: {n}\n");
        }
        let mut t = Table::new(&["op", ">nodes", "status"]);
        for (op, n) in &q.quantized {
            t.row(vec![op.clone(), n.to_string(), "quantized".into()]);
        }
        for (op, n) in &q.weight_only {
            t.row(vec![
                op.clone(),
                n.to_string(),
                "int8 weights, float activations".into(),
            ]);
        }
        for (op, n) in &q.fp16_weights {
            t.row(vec![
                op.clone(),
                n.to_string(),
                "float, weights stored in float16".into(),
            ]);
        }
        for (op, n) in &q.int8_storage {
            t.row(vec![
                op.clone(),
                n.to_string(),
                "float, weights stored in int8 (expanded at load)".into(),
            ]);
        }
        for s in &q.skipped {
            t.row(vec![
                s.op_type.clone(),
                s.count.to_string(),
                format!("skipped: {}", s.reason),
            ]);
        }
        out += &t.render(2);
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
            out += &format!(
                "  overflow check: {} float32 activations on {} samples; {} pass ±65504 and stay float32{}\n",
                o.tensors_checked,
                o.samples,
                o.overflowing.len(),
                if o.overflowing.is_empty() { String::new() } else {
                    format!(": {}", o.overflowing.iter().map(|(n, m)| format!("{n} (|x| up to {m:.3e})")).collect::<Vec<_>>().join(", "))
                }
            );
        }
        if let Some(why) = &r.fp16_overflow_skipped {
            out += &format!("  overflow check skipped: {why}\n");
        }
        for (op, n) in &f.nodes_kept_fp32 {
            out += &format!("  kept in fp32: {op} x{n}\n");
        }
    }
    if let Some(c) = &r.calibration {
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
    out += &verification::render(r.verification.as_ref());
    let times: Vec<String> = r
        .timings_ms
        .iter()
        .map(|(p, ms)| format!("{p} {ms:.0} ms"))
        .collect();
    out += &format!("\ntime: {}\n", times.join(", "));
    out
}

fn render_auto(a: &optimize_quant::auto::AutoReport) -> String {
    let pct = a.metric == "top1";
    let m = |v: f64| {
        if pct {
            format!("{:.2}%", v * 100.0)
        } else {
            format!("{v:.5}")
        }
    };
    let mut out = format!(
        "\n--auto on {:?}: {} must be >= {} (float32 {}, {:.3} ms, 2 threads, batch 1); {} trials in {:.1} s{}\n",
        a.target,
        a.metric,
        m(a.required),
        m(a.fp32_metric),
        a.fp32_latency_ms,
        a.trials.len(),
        a.elapsed_s,
        a.stopped
            .as_ref()
            .map_or(String::new(), |s| format!(" (stopped: {s})"))
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
            m(tr.metric),
            format!("{:.5}", tr.cosine),
            tr.latency_ms.map_or("-".into(), |v| format!("{v:.3}")),
            tr.latency_ms.map_or("-".into(), |v| {
                format!("{:.2}x", v / a.fp32_latency_ms.max(1e-12))
            }),
            bytes(tr.size_bytes),
            if tr.meets { "yes".into() } else { "no".into() },
        ]);
    }
    out += &t.render(2);
    match a.chosen {
        Some(i) if a.met && a.trials[i].float32_compute => out +=
            "  * written: weights in int8, activations in float (no int8 activation beat float32 here; the runtime expands the weights at load and computes as float32 does)\n",
        Some(i) if a.met && a.trials[i].weights_alone => out +=
            "  * written: weights in int8, activations in float (no int8 activation beat float32 here), measured not slower than float32\n",
        Some(_) if a.met => out +=
            match a.prefer {
                optimize_quant::auto::Prefer::Size => "  * written: the smallest trial that meets the goal and is at least 3% faster than float32 (--prefer size)\n",
                optimize_quant::auto::Prefer::Speed => "  * written: the smallest trial within 10% of the fastest that meets the goal and is at least 3% faster than float32 (--prefer speed)\n",
            },
        Some(_) => out += "  * written: the closest trial; NONE met the goal\n",
        None => out +=
            "  written: the float32 model unchanged (no int8 variant was faster on this target)\n",
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

/// Progress goes to stderr on a terminal, and nowhere with --json, in pipes or with NO_COLOR.
fn draw_target(json: bool) -> ProgressDrawTarget {
    if !json && std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}
