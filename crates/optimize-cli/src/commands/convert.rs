//! `optimize convert`: load and save again, choosing where the weights live, optionally upgrading
//! the ai.onnx opset.

use crate::cli::ConvertArgs;
use crate::commands::print;
use crate::table::bytes;
use anyhow::Context;
use optimize_onnx::transform::{upgrade_opset, OpsetUpgrade};
use optimize_onnx::{save, ExternalData, Model, SaveOptions};

pub fn run(args: &ConvertArgs) -> anyhow::Result<()> {
    let mut model = Model::load(&args.model)?;
    let upgrade = match args.opset {
        Some(target) => {
            let report = upgrade_opset(&mut model.proto, target)
                .with_context(|| args.model.display().to_string())?;
            let what = format!("ai.onnx opset {} -> {}", report.from, report.to);
            model.stamp(env!("CARGO_PKG_VERSION"), "opset", &what);
            Some(report)
        }
        None => None,
    };
    let options = SaveOptions {
        external_data: if args.external_data {
            ExternalData::Always
        } else {
            ExternalData::Auto
        },
        ..SaveOptions::default()
    };
    let report = save(&model, &args.output, &options)?;
    if args.json {
        // The save report, plus what the opset upgrade did under "opset_upgrade" when asked.
        let mut json = serde_json::to_value(&report)?;
        if let (Some(up), Some(obj)) = (&upgrade, json.as_object_mut()) {
            obj.insert("opset_upgrade".into(), serde_json::to_value(up)?);
        }
        return print(&(serde_json::to_string_pretty(&json)? + "\n"));
    }
    let before = std::fs::metadata(&args.model).map(|m| m.len()).unwrap_or(0);
    let before_ext: u64 = model.external_files().iter().map(|f| f.bytes).sum();
    let mut text = format!(
        "{} ({}) -> {} ({})\n",
        args.model.display(),
        bytes(before + before_ext),
        report.path.display(),
        bytes(report.bytes + report.external_data.as_ref().map_or(0, |e| e.bytes)),
    );
    if let Some(ext) = &report.external_data {
        text += &format!(
            "  external data: {} ({} tensors, {})\n",
            ext.path.display(),
            ext.tensors,
            bytes(ext.bytes)
        );
    }
    if let Some(up) = &upgrade {
        text += &upgrade_lines(up);
    }
    print(&text)
}

/// "  opset 12 -> 13: rewrote Softmax 3, Squeeze 7 (+9 nodes, +7 initializers)".
fn upgrade_lines(up: &OpsetUpgrade) -> String {
    let mut line = format!("  opset {} -> {}: ", up.from, up.to);
    if up.rewritten.is_empty() {
        line += "no node needed rewriting";
    } else {
        let ops: Vec<String> = up
            .rewritten
            .iter()
            .map(|(op, n)| format!("{op} {n}"))
            .collect();
        line += &format!(
            "rewrote {} (+{} nodes, +{} initializers)",
            ops.join(", "),
            up.nodes_added,
            up.initializers_added
        );
    }
    line + "\n"
}
