//! `optimize inspect`: the model summary as tables, or as JSON with `--json`.

use crate::cli::InspectArgs;
use crate::commands::print;
use crate::table::{bytes, count, Table};
use optimize_onnx::inspect::{Dim, ValueSummary};
use optimize_onnx::{Model, Summary};

pub fn run(args: &InspectArgs) -> anyhow::Result<()> {
    let model = Model::load(&args.model)?;
    let file_bytes = std::fs::metadata(&args.model).map(|m| m.len()).ok();
    let summary = Summary::of(&model, file_bytes);
    if args.json {
        print(&(serde_json::to_string_pretty(&summary)? + "\n"))
    } else {
        print(&render(&summary))
    }
}

fn shape(s: &Option<Vec<Dim>>) -> String {
    match s {
        None => "(unknown rank)".into(),
        Some(dims) => {
            let parts: Vec<String> = dims
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) => n.to_string(),
                    Dim::Symbolic(s) => s.clone(),
                    Dim::Unknown => "?".into(),
                })
                .collect();
            format!("[{}]", parts.join(", "))
        }
    }
}

fn values(title: &str, vs: &[ValueSummary]) -> String {
    let mut t = Table::new(&["name", "dtype", "shape"]);
    for v in vs {
        t.row(vec![v.name.clone(), v.dtype.clone(), shape(&v.shape)]);
    }
    format!("\n{title}\n{}", t.render(2))
}

/// The human form of a summary: a header block, then one table per section.
fn render(s: &Summary) -> String {
    let mut out = String::new();
    let path = s.path.as_deref().unwrap_or("<memory>");
    out += &format!("{path}  ({})\n", s.file_bytes.map_or("?".into(), bytes));
    let opsets: Vec<String> = s
        .opsets
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                if o.domain.is_empty() {
                    "ai.onnx"
                } else {
                    &o.domain
                },
                o.version
            )
        })
        .collect();
    let producer = format!(
        "{} {}",
        s.producer.name.as_deref().unwrap_or("(none)"),
        s.producer.version.as_deref().unwrap_or("")
    );
    let mut head = Table::new(&["", ""]);
    head.row(vec!["IR version".into(), s.ir_version.to_string()]);
    head.row(vec!["opsets".into(), opsets.join(", ")]);
    head.row(vec!["producer".into(), producer.trim().to_string()]);
    head.row(vec!["precision".into(), s.precision.summary.clone()]);
    if let Some(v) = s.model_version {
        head.row(vec!["model version".into(), v.to_string()]);
    }
    for m in &s.metadata {
        head.row(vec![
            format!("meta {}", m.key),
            // Long values (licences, JSON) are shortened, and say so; --json has them whole.
            if m.value.chars().count() > 60 {
                m.value.chars().take(59).chain(['…']).collect()
            } else {
                m.value.clone()
            },
        ]);
    }
    // Skip the blank header row of this key/value block.
    out += head
        .render(2)
        .lines()
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .as_str();

    out += &values("Inputs", &s.inputs);
    out += &values("Outputs", &s.outputs);

    let g = &s.graph;
    out += &format!(
        "\nOperators  {} nodes in the main graph, {} subgraphs, {} nodes in all, {} functions, {} initializers\n",
        g.nodes, g.subgraphs, g.nodes_with_subgraphs, g.functions, g.initializers
    );
    let mut ops = Table::new(&["op", "domain", ">count"]);
    for o in &s.op_types {
        ops.row(vec![
            o.op_type.clone(),
            o.domain.clone(),
            o.count.to_string(),
        ]);
    }
    out += &ops.render(2);

    let p = &s.parameters;
    out += &format!("\nParameters  {} ({})\n", count(p.count), bytes(p.bytes));
    let mut by = Table::new(&["dtype", ">tensors", ">count", ">bytes"]);
    for d in &p.by_dtype {
        by.row(vec![
            d.dtype.clone(),
            d.tensors.to_string(),
            count(d.count),
            bytes(d.bytes),
        ]);
    }
    out += &by.render(2);

    out += &format!(
        "\nLargest tensors (top {})\n",
        optimize_onnx::inspect::LARGEST
    );
    let mut big = Table::new(&["name", "dtype", "shape", ">size", "source"]);
    for t in &s.largest_tensors {
        let dims: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        big.row(vec![
            t.name.clone(),
            t.dtype.clone(),
            format!("[{}]", dims.join(", ")),
            bytes(t.bytes),
            t.source.into(),
        ]);
    }
    out += &big.render(2);

    if s.external_data.is_empty() {
        out += "\nExternal data  none\n";
    } else {
        out += "\nExternal data\n";
        let mut ext = Table::new(&["file", ">tensors", ">bytes"]);
        for f in &s.external_data {
            ext.row(vec![
                f.location.clone(),
                f.tensors.to_string(),
                bytes(f.bytes),
            ]);
        }
        out += &ext.render(2);
    }
    let pr = &s.precision;
    out += &format!(
        "\nPrecision  {}  (QDQ nodes {}, QOperator nodes {}, MatMulNBits nodes {}, fp16 weights {} of {} float)\n",
        pr.summary,
        pr.qdq_nodes,
        pr.qoperator_nodes,
        pr.matmul_nbits_nodes,
        bytes(pr.fp16_parameter_bytes),
        bytes(pr.float_parameter_bytes)
    );
    out
}
