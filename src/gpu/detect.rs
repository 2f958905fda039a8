//! Reading the host's NVIDIA driver and GPUs: NVML first, then the kernel module's version
//! files, then `nvidia-smi`. The order and what each answer means are the core's
//! ([`fallback_chain`]); this file only reads.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{
    fallback_chain, from_overrides, nvml, parse, HostFacts, PROCFS_VERSION, SYSFS_VERSION,
};
use crate::error::Result;

/// The NVML library `PTENV_NVML_LIB` names, if any.
fn nvml_lib() -> Option<PathBuf> {
    std::env::var_os("PTENV_NVML_LIB")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// What the GPUs are doing now, through NVML only: the kernel module's files and
/// `nvidia-smi`'s GPU list do not carry the processes (docs/gpus.md §3).
pub fn usage() -> std::result::Result<(Vec<super::usage::Usage>, Vec<String>), String> {
    nvml::usage(nvml_lib().as_deref())
}

/// Real detection: NVML from `PTENV_NVML_LIB` or the loader's search path, then the fallbacks.
pub fn detect() -> HostFacts {
    detect_with(nvml_lib().as_deref())
}

/// Detection with the NVML library given (`None`: `libnvidia-ml.so.1` by the loader's search).
pub fn detect_with(nvml_lib: Option<&Path>) -> HostFacts {
    fallback_chain(
        || nvml::probe(nvml_lib),
        || read_text(SYSFS_VERSION),
        || read_text(PROCFS_VERSION),
        run_nvidia_smi,
    )
}

/// Read a small text file; a missing file is the usual "no driver" case.
fn read_text(path: &str) -> std::result::Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("{path}: not found (no NVIDIA kernel module loaded)")
        }
        _ => format!("{path}: {e}"),
    })
}

/// `nvidia-smi --query-gpu=… --format=csv,noheader,nounits`; its first line on failure.
fn run_nvidia_smi() -> std::result::Result<String, String> {
    // Most machines without a driver have no nvidia-smi either: looking on PATH first saves
    // the fork that would only report so (a few ms on every command that reads the GPUs).
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("nvidia-smi").is_file())
    });
    if !found {
        return Err("nvidia-smi: not installed (not on PATH)".to_string());
    }
    let out = Command::new("nvidia-smi")
        .arg(format!("--query-gpu={}", parse::SMI_QUERY))
        .arg("--format=csv,noheader,nounits")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "nvidia-smi: not installed (not on PATH)".to_string(),
            _ => format!("nvidia-smi: {e}"),
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stdout
            .lines()
            .chain(stderr.lines())
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no output")
            .to_string();
        Err(format!("nvidia-smi: failed ({}): {first}", out.status))
    }
}

/// The facts a command plans for: the machine described by `--driver`/`--gpu` when either is
/// given (`ptenv select`, `ptenv lock`), else this host's, detected.
pub fn facts_for(driver: Option<&str>, gpus: &[String]) -> Result<HostFacts> {
    if driver.is_some() || !gpus.is_empty() {
        from_overrides(driver, gpus)
    } else {
        Ok(detect())
    }
}
