//! Aligned text tables (comfy-table, borderless) and human-readable numbers for terminal output.

use comfy_table::{presets::NOTHING, CellAlignment};

pub use optimize_bench::report::human_bytes as bytes;

/// A borderless table with a header row; columns are padded to their widest cell and set two
/// spaces apart.
pub struct Table(comfy_table::Table);

impl Table {
    /// A table with these column headers. Columns whose header starts with `>` are right-aligned.
    pub fn new(headers: &[&str]) -> Table {
        let mut t = comfy_table::Table::new();
        t.load_style(NOTHING);
        t.set_header(headers.iter().map(|h| h.trim_start_matches('>')));
        for (column, header) in t.column_iter_mut().zip(headers) {
            column.set_padding((0, 2));
            if header.starts_with('>') {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        Table(t)
    }

    /// Adds a row; it must have one cell per column.
    pub fn row(&mut self, cells: Vec<String>) {
        self.0.add_row(cells);
    }

    /// Renders with `indent` spaces before each line.
    pub fn render(&self, indent: usize) -> String {
        let pad = " ".repeat(indent);
        self.0
            .lines()
            .map(|line| format!("{pad}{}\n", line.trim_end()))
            .collect()
    }
}

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_sizes_and_counts() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(100), "100");
    }

    #[test]
    fn aligns_columns() {
        let mut t = Table::new(&["name", ">n"]);
        t.row(vec!["a".into(), "100".into()]);
        t.row(vec!["long".into(), "2".into()]);
        assert_eq!(t.render(0), "name    n\na     100\nlong    2\n");
        assert_eq!(t.render(2).lines().next(), Some("  name    n"));
    }

    #[test]
    fn measures_wide_characters_by_display_width() {
        let mut t = Table::new(&["k", "v"]);
        t.row(vec!["×fp32".into(), "1".into()]);
        t.row(vec!["ab".into(), "2".into()]);
        assert_eq!(t.render(0), "k      v\n×fp32  1\nab     2\n");
    }
}
