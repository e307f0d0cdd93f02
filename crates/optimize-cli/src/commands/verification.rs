//! The "verification" block that `quantize` and `prune` print after writing a model.

use crate::table::Table;
use optimize_bench::verify::Verification;

/// The first line of a (possibly multi-line) error message.
pub fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Output error per runtime and output, accuracy before and after when the data had labels;
/// empty when there was no verification.
pub fn render(v: Option<&Verification>) -> String {
    let Some(v) = v else {
        return String::new();
    };
    if let Some(why) = &v.not_compared {
        return format!(
            "\nverification: the output loads in ONNX Runtime, but was not compared: {why}\n"
        );
    }
    let mut out = format!("\nverification on {}:\n", v.source);
    let mut t = Table::new(&[
        "runtime",
        "output",
        ">max abs",
        ">mean abs",
        ">cosine",
        ">top-1 agree",
    ]);
    for rt in &v.runtimes {
        if !rt.ok {
            let why: String = first_line(rt.error.as_deref().unwrap_or(""))
                .chars()
                .take(70)
                .collect();
            let mut row = vec![rt.runtime.clone()];
            row.extend(["-", "-", "-", "-"].map(String::from));
            row.push(format!("not run: {why}"));
            t.row(row);
            continue;
        }
        for o in &rt.outputs {
            t.row(vec![
                rt.runtime.clone(),
                o.name.clone(),
                format!("{:.3e}", o.max_abs),
                format!("{:.3e}", o.mean_abs),
                o.cosine.map_or("-".into(), |c| format!("{c:.6}")),
                o.top1_agreement
                    .map_or("-".into(), |a| format!("{:.1}%", a * 100.0)),
            ]);
        }
    }
    out += &t.render(2);
    if let Some(a) = &v.accuracy {
        out += &format!(
            "  accuracy (top-1, ONNX Runtime, {} samples): {:.2}% -> {:.2}% ({:+.2} points)\n",
            a.after.samples,
            a.before.top1 * 100.0,
            a.after.top1 * 100.0,
            (a.after.top1 - a.before.top1) * 100.0
        );
    }
    out
}
