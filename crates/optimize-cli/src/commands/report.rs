//! `optimize report`: re-render report.md and the charts from saved bench JSON.

use std::path::{Path, PathBuf};

use optimize_bench::Report;

use crate::cli::ReportArgs;
use crate::commands::print;

pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let mut files = args.results.iter();
    let Some(first) = files.next() else {
        return Ok(());
    };
    let mut report = Report::read(first)?;
    for path in files {
        report.merge(Report::read(path)?);
    }
    let dir: PathBuf = match &args.out_dir {
        Some(dir) => dir.clone(),
        None => first
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
    };
    let written = report.write(&dir)?;
    let mut out = String::new();
    for path in written {
        out += &format!("{}\n", path.display());
    }
    print(&out)
}
