//! The blocks `quantize` and `prune` print after a job: verification and its verdict, the
//! before/after table, and the time per phase.

use crate::table::{bytes, Table};
use optimize_bench::compare::LatencyChange;
use optimize_bench::policy::Verdict;
use optimize_bench::verify::Verification;
use optimize_bench::Outcome;

/// Output error per runtime and output, accuracy before and after when the data had labels,
/// and the verdict; empty when there was no verification.
pub fn render(v: Option<&Verification>, verdict: Option<&Verdict>) -> String {
    let Some(v) = v else {
        return "\nverification: skipped (the output was not checked)\n".into();
    };
    let mut out = String::new();
    if let Some(why) = &v.not_compared {
        out += &format!(
            "\nverification: the output loads in ONNX Runtime, but was not compared: {why} (--eval, or --shape for seeded inputs)\n"
        );
    } else {
        out += &format!("\nverification on {}:\n", v.source);
        let mut t = Table::new(&[
            "runtime",
            "output",
            ">max abs",
            ">mean abs",
            ">cosine",
            ">per-channel cos",
            ">top-1 agree",
        ]);
        let mut reasons = Vec::new();
        for rt in &v.runtimes {
            if !rt.ok {
                let mut row = vec![rt.runtime.clone()];
                row.extend(["-", "-", "-", "-", "-", "not run (below)"].map(String::from));
                t.row(row);
                reasons.push(format!(
                    "  {} did not run the output: {}\n",
                    rt.runtime,
                    rt.error.as_deref().unwrap_or("no reason given").trim()
                ));
                continue;
            }
            for o in &rt.outputs {
                t.row(vec![
                    rt.runtime.clone(),
                    o.name.clone(),
                    format!("{:.3e}", o.max_abs),
                    format!("{:.3e}", o.mean_abs),
                    o.cosine.map_or("-".into(), |c| format!("{c:.6}")),
                    o.normalized_cosine
                        .map_or("-".into(), |c| format!("{c:.6}")),
                    o.top1_agreement
                        .map_or("-".into(), |a| format!("{:.1}%", a * 100.0)),
                ]);
            }
        }
        out += &t.render(2);
        out += &reasons.concat();
        if let Some(task) = &v.task {
            out += &format!(
                "  {}: {} -> {}{}\n",
                task.judge,
                short(task.before),
                short(task.after),
                task.detections.map_or(String::new(), |d| format!(
                    " ({} of the original's {} detections matched; the output has {})",
                    d.matched, d.reference, d.candidate
                ))
            );
        }
    }
    if let Some(verdict) = verdict {
        if verdict.passed {
            out += &format!("  verdict: passed ({})\n", verdict.judge);
        } else {
            out += &format!("  verdict: REJECTED ({})\n", verdict.judge);
            for f in &verdict.failures {
                out += &format!("    - {f}\n");
            }
        }
    }
    out
}

/// The tail every pass's report ends with: verification and verdict, the before/after table,
/// the time per phase.
pub fn tail(o: &Outcome, phases: &[(String, f64)]) -> String {
    let v = o.verification.as_ref();
    render(v, o.verdict.as_ref())
        + &before_after(
            o.input.bytes,
            o.output.bytes,
            v,
            &o.latency,
            o.latency_skipped.as_deref(),
        )
        + &timings(phases)
}

/// The lines every pass's report starts with: input and output, their sizes and ratio, and what
/// the output stores.
pub fn head(o: &Outcome) -> String {
    let mut out = format!(
        "{} ({}) -> {} ({}), {:.2}x the size{}",
        o.input.path,
        bytes(o.input.bytes),
        o.output.path,
        bytes(o.output.bytes),
        o.size_ratio,
        if o.accepted() { "" } else { " (NOT written)" }
    );
    if let Some(s) = &o.stored {
        let tensors: Vec<String> = s
            .tensors
            .iter()
            .map(|(dtype, n, b)| format!("{n} {dtype} ({})", bytes(*b)))
            .collect();
        out += &format!(
            "\n  stores: {}; tensors: {}; {} quantization nodes",
            s.precision,
            tensors.join(", "),
            s.quantization_nodes
        );
    }
    out
}

/// Size, accuracy and latency of the original and the output, side by side.
pub fn before_after(
    bytes_before: u64,
    bytes_after: u64,
    v: Option<&Verification>,
    latency: &[LatencyChange],
    latency_skipped: Option<&str>,
) -> String {
    let mut t = Table::new(&["", ">before", ">after", ">change"]);
    t.row(vec![
        "size".into(),
        bytes(bytes_before),
        bytes(bytes_after),
        format!("{:.2}x", bytes_after as f64 / bytes_before.max(1) as f64),
    ]);
    if let Some(a) = v.and_then(|v| v.accuracy.as_ref()) {
        t.row(vec![
            format!("top-1 ({} samples, ONNX Runtime)", a.after.samples),
            format!("{:.2}%", a.before.top1 * 100.0),
            format!("{:.2}%", a.after.top1 * 100.0),
            format!("{:+.2} points", (a.after.top1 - a.before.top1) * 100.0),
        ]);
    }
    for l in latency {
        t.row(vec![
            format!("latency p50, {}", l.runtime),
            format!("{:.3} ms", l.before_ms),
            format!("{:.3} ms", l.after_ms),
            format!("{:.2}x speed-up", l.speedup),
        ]);
    }
    let mut out = format!("\nbefore / after:\n{}", t.render(2));
    if let Some(why) = latency_skipped {
        out += &format!("  latency not measured: {why}\n");
    }
    out
}

/// `time: load 3 ms, quantize 40 ms, ...`
pub fn timings(phases: &[(String, f64)]) -> String {
    let times: Vec<String> = phases
        .iter()
        .map(|(p, ms)| format!("{p} {ms:.0} ms"))
        .collect();
    format!("\ntime: {}\n", times.join(", "))
}

/// A metric value with at most 6 decimals and no trailing zeros: `0.972145`, `12`.
fn short(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}
