//! `optimize convert`: load and save again, choosing where the weights live.

use crate::cli::ConvertArgs;
use crate::commands::print;
use crate::table::bytes;
use optimize_onnx::{save, ExternalData, Model, SaveOptions};

pub fn run(args: &ConvertArgs) -> anyhow::Result<()> {
    let model = Model::load(&args.model)?;
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
        return print(&(serde_json::to_string_pretty(&report)? + "\n"));
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
    print(&text)
}
