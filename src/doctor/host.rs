//! The host links' files, read on this machine: the PCI bus, the kernel module, and with the
//! Docker links' files the whole [`HostReport`] (what `ptenv agent doctor` sends from a
//! server). The checks are the core's (`ptenv_core::doctor::host`).
//!
//! Files are read under a root folder (`/` on a real host; a fixture tree in tests, through
//! `PTENV_SYSROOT`), so the same code reads the real sysfs and a test's copy of it.

use std::path::{Path, PathBuf};

pub use ptenv_core::doctor::host::*;

use super::{docker_host, id, Report};
use crate::gpu::HostFacts;

/// Reads the host links and the Docker links' files on this machine, under `root`.
pub fn gather(root: &Path, facts: HostFacts) -> HostReport {
    let mut r = Report::default();
    let pci = read_pci(root);
    let wsl = is_wsl(root);
    r.push(check_pci(&pci, wsl));
    let kernel = read_kernel(root);
    let check = r
        .blocked(id::KERNEL, &[id::PCI])
        .unwrap_or_else(|| check_kernel(&kernel, pci.as_deref().unwrap_or_default(), wsl));
    r.push(check);
    let check = r
        .blocked(id::NVML, &[id::KERNEL])
        .unwrap_or_else(|| check_nvml(&facts));
    r.push(check);
    HostReport {
        facts,
        checks: r.checks,
        cdi_specs: docker_host::read_cdi_specs(root),
        hook: docker_host::which("nvidia-container-runtime-hook"),
        nvidia_nodes: docker_host::read_nvidia_nodes(root),
        char_links: docker_host::read_char_links(root),
        unread: Vec::new(),
    }
}

/// `PTENV_SYSROOT`, else `/`.
pub fn sysroot() -> PathBuf {
    std::env::var_os("PTENV_SYSROOT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Hex as sysfs writes it: `0x10de` and a newline.
fn hex(text: &str) -> Option<u32> {
    u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// Every PCI device under `<root>/sys/bus/pci/devices`; `Err` when the folder cannot be read
/// (a container without /sys, or not Linux).
pub fn read_pci(root: &Path) -> Result<Vec<PciDevice>, String> {
    let dir = root.join("sys/bus/pci/devices");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let read = |f: &str| std::fs::read_to_string(path.join(f)).ok();
        let (Some(vendor), Some(device), Some(class)) = (
            read("vendor").as_deref().and_then(hex),
            read("device").as_deref().and_then(hex),
            read("class").as_deref().and_then(hex),
        ) else {
            continue;
        };
        // `driver` is a symlink to …/bus/pci/drivers/<name>; only its last part matters.
        let driver = std::fs::read_link(path.join("driver"))
            .ok()
            .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()));
        out.push(PciDevice {
            address: entry.file_name().to_string_lossy().into_owned(),
            vendor: vendor as u16,
            device: device as u16,
            class,
            driver,
        });
    }
    out.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(out)
}

/// WSL 2 hands the GPU to Linux through `/dev/dxg`, with no PCI device and no kernel module:
/// the Windows driver serves it.
pub fn is_wsl(root: &Path) -> bool {
    root.join("dev/dxg").exists()
}

pub fn read_kernel(root: &Path) -> KernelFacts {
    let sys_version = root.join("sys/module/nvidia/version");
    let proc_version = root.join("proc/driver/nvidia/version");
    let from_sys = std::fs::read_to_string(&sys_version)
        .ok()
        .and_then(|t| crate::gpu::parse::sysfs_version(&t));
    let (nvidia_version, version_source) = match from_sys {
        Some(v) => (Some(v.to_string()), Some(sys_version)),
        None => match std::fs::read_to_string(&proc_version)
            .ok()
            .and_then(|t| crate::gpu::parse::procfs_version(&t))
        {
            Some(v) => (Some(v.to_string()), Some(proc_version)),
            None => (None, None),
        },
    };
    KernelFacts {
        nvidia_loaded: root.join("sys/module/nvidia").is_dir(),
        nvidia_version,
        version_source,
        nouveau_loaded: root.join("sys/module/nouveau").is_dir(),
    }
}

#[cfg(test)]
mod tests;
