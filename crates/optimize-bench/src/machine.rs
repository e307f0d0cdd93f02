//! The machine a measurement ran on, the library versions it used, and pinning to one core.
//!
//! [`Machine::detect`] reads the CPU model and core counts from `/proc/cpuinfo`, the OS from
//! `/etc/os-release` and the kernel from `/proc/sys/kernel/osrelease` (Linux; elsewhere the
//! fields say `unknown`). [`Versions::detect`] names this build of optimize, its tract, and the
//! ONNX Runtime library it finds. [`pin_to_core`] is what the edge target uses to simulate a
//! single-core device.
//!
//! ```
//! use optimize_bench::machine::Machine;
//!
//! let m = Machine::detect();
//! assert!(m.logical_cpus >= 1);
//! println!("{} ({} cores, {})", m.cpu, m.physical_cores.unwrap_or(m.logical_cpus), m.os);
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What a measurement ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model name, e.g. `AMD EPYC 7B13`.
    pub cpu: String,
    /// Physical cores (distinct core ids), where known.
    pub physical_cores: Option<usize>,
    /// CPUs this process may run on.
    pub logical_cpus: usize,
    /// Total memory, in bytes, where known.
    pub memory_bytes: Option<u64>,
    /// Operating system, e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub os: String,
    /// Kernel release, e.g. `6.1.0-18-amd64`.
    pub kernel: String,
    /// CPU architecture, e.g. `x86_64`.
    pub arch: String,
}

impl Machine {
    /// Reads the machine's description; never fails (unknown fields say `unknown`).
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            cpu: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".into()),
            physical_cores: physical_cores(&cpuinfo),
            logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_bytes: meminfo
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().strip_suffix("kB"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .and_then(|kib| kib.checked_mul(1024)),
            os: os_release
                .lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
                .unwrap_or_else(|| std::env::consts::OS.to_string()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            arch: std::env::consts::ARCH.to_string(),
        }
    }
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Model", "Hardware", "cpu model"]
        .iter()
        .find_map(|key| {
            cpuinfo.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == *key && !v.trim().is_empty()).then(|| v.trim().to_string())
            })
        })
}

fn physical_cores(cpuinfo: &str) -> Option<usize> {
    let mut cores = BTreeSet::new();
    let mut package = "0";
    for line in cpuinfo.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        match k.trim() {
            "physical id" => package = v.trim(),
            "core id" => {
                cores.insert((package.to_string(), v.trim().to_string()));
            }
            _ => {}
        }
    }
    (!cores.is_empty()).then_some(cores.len())
}

/// The versions of what did the measuring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    /// This build of optimize.
    pub optimize: String,
    /// tract, compiled in.
    pub tract: String,
    /// The ONNX Runtime library found at run time, or why none was.
    pub onnxruntime: String,
}

impl Versions {
    /// Detects the versions; loads ONNX Runtime (once per process) to ask its version.
    pub fn detect() -> Self {
        Self {
            optimize: env!("CARGO_PKG_VERSION").to_string(),
            tract: tract_version().to_string(),
            onnxruntime: match optimize_runtime::init() {
                Ok(lib) => lib.version.clone(),
                Err(e) => format!("not found ({e})"),
            },
        }
    }
}

/// The version of tract this build links.
pub fn tract_version() -> &'static str {
    env!("OPTIMIZE_TRACT_VERSION")
}

/// Pins the calling thread, and every thread it starts afterwards, to CPU `core`
/// (Linux `sched_setaffinity`). Call it before loading the model, so that the back end's
/// worker threads inherit the mask. Elsewhere returns [`Error::InvalidConfig`].
pub fn pin_to_core(core: usize) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        if core >= libc::CPU_SETSIZE as usize {
            return Err(Error::InvalidConfig(format!(
                "cannot pin to CPU {core}: CPU numbers go up to {}",
                libc::CPU_SETSIZE - 1
            )));
        }
        // SAFETY: cpu_set_t is a plain bit mask; CPU_ZERO/CPU_SET write inside it (core is
        // checked against CPU_SETSIZE above) and sched_setaffinity only reads it.
        let rc = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_ZERO(&mut set);
            libc::CPU_SET(core, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
        };
        if rc != 0 {
            return Err(Error::InvalidConfig(format!(
                "cannot pin to CPU {core}: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(Error::InvalidConfig(format!(
            "cannot pin to CPU {core}: pinning is implemented on Linux only"
        )))
    }
}

/// The CPUs the calling thread may run on (Linux), lowest first.
pub fn allowed_cpus() -> Vec<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sched_getaffinity fills the zeroed mask we own; CPU_ISSET reads inside it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return Vec::new();
            }
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect()
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpuinfo() {
        let info = "processor\t: 0\nmodel name\t: Test CPU @ 2.0GHz\nphysical id\t: 0\ncore id\t: 0\n\n\
                    processor\t: 1\nmodel name\t: Test CPU @ 2.0GHz\nphysical id\t: 0\ncore id\t: 0\n\n\
                    processor\t: 2\nmodel name\t: Test CPU @ 2.0GHz\nphysical id\t: 0\ncore id\t: 1\n";
        assert_eq!(cpu_model(info).as_deref(), Some("Test CPU @ 2.0GHz"));
        assert_eq!(physical_cores(info), Some(2));
        assert_eq!(physical_cores(""), None);
    }

    #[test]
    fn pinning_in_a_thread_of_its_own() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let first = allowed_cpus()[0];
        let cpus = std::thread::spawn(move || {
            pin_to_core(first).unwrap();
            allowed_cpus()
        })
        .join()
        .unwrap();
        assert_eq!(cpus, [first]);
        assert!(pin_to_core(usize::MAX).is_err());
    }
}
