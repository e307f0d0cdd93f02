//! How much memory a run took: the peak resident set size (RSS) of this process.
//!
//! On Linux the kernel keeps the high-water mark of a process's RSS in `/proc/self/status`
//! (`VmHWM`, in KiB) next to the current RSS (`VmRSS`); elsewhere `getrusage(RUSAGE_SELF)`'s
//! `ru_maxrss` (KiB on Linux and the BSDs, bytes on macOS) gives the peak. The peak covers the
//! whole process since it started, so to get one model's peak, measure it in a process of its
//! own (the `optimize bench` command runs each model in a child process for that reason), and
//! read [`MemoryStats::before_load_bytes`] to see what the process held before the model.
//!
//! ```
//! use optimize_bench::memory::{current_rss_bytes, peak_rss_bytes};
//!
//! // The high-water mark never drops, so it is at least what was resident a moment before.
//! let now = current_rss_bytes();
//! let peak = peak_rss_bytes();
//! if let (Some(peak), Some(now)) = (peak, now) {
//!     assert!(peak >= now);
//! }
//! ```

use serde::{Deserialize, Serialize};

/// Memory use of a measured run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Peak RSS of the process, read right after the timed iterations; `None` where the
    /// platform does not say.
    pub peak_rss_bytes: Option<u64>,
    /// RSS before the model was loaded (the program, its libraries, the input data).
    pub before_load_bytes: Option<u64>,
    /// Where the numbers come from: `VmHWM` (Linux `/proc/self/status`) or `ru_maxrss`.
    pub source: String,
    /// The memory budget the run was checked against, if any.
    pub budget_bytes: Option<u64>,
    /// True when a budget was given and the peak went over it.
    pub over_budget: bool,
}

impl MemoryStats {
    /// Reads the peak now; `before_load_bytes` is what [`current_rss_bytes`] said before the
    /// model was loaded.
    pub fn read(before_load_bytes: Option<u64>, budget_bytes: Option<u64>) -> Self {
        let (peak_rss_bytes, source) = match proc_status("VmHWM:") {
            Some(peak) => (Some(peak), "VmHWM"),
            None => (rusage_max_rss(), "ru_maxrss"),
        };
        let over_budget = matches!((peak_rss_bytes, budget_bytes), (Some(p), Some(b)) if p > b);
        Self {
            peak_rss_bytes,
            before_load_bytes,
            source: source.into(),
            budget_bytes,
            over_budget,
        }
    }
}

/// Peak RSS of this process so far, in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status("VmHWM:").or_else(rusage_max_rss)
}

/// Current RSS of this process, in bytes (Linux only).
pub fn current_rss_bytes() -> Option<u64> {
    proc_status("VmRSS:")
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn proc_status(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status_field(&text, field)
}

fn parse_status_field(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(field))?;
    let mut parts = line[field.len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => value.checked_mul(1024),
        _ => None,
    }
}

#[cfg(unix)]
fn rusage_max_rss() -> Option<u64> {
    // SAFETY: getrusage writes into the zeroed struct we own and touches nothing else.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return None;
        }
        usage
    };
    let max = u64::try_from(usage.ru_maxrss).ok()?;
    // ru_maxrss is in bytes on macOS, in KiB on Linux and the BSDs.
    if cfg!(target_os = "macos") {
        Some(max)
    } else {
        max.checked_mul(1024)
    }
}

#[cfg(not(unix))]
fn rusage_max_rss() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_fields() {
        let text = "Name:\toptimize\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(parse_status_field(text, "VmHWM:"), Some(20480 * 1024));
        assert_eq!(parse_status_field(text, "VmRSS:"), Some(10240 * 1024));
        assert_eq!(parse_status_field(text, "VmSwap:"), None);
        assert_eq!(parse_status_field("VmHWM: 12 pages\n", "VmHWM:"), None);
    }

    #[test]
    fn budget() {
        let m = MemoryStats::read(None, Some(1));
        if m.peak_rss_bytes.is_some() {
            assert!(m.over_budget);
        }
        let m = MemoryStats::read(None, Some(u64::MAX));
        assert!(!m.over_budget);
        assert!(peak_rss_bytes().is_some() || !cfg!(unix));
    }
}
