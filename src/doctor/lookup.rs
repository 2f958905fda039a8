//! The host's files some findings' context reads (`explain::Lookup`), read on this machine
//! only when a pattern that needs them matched.

use std::path::{Path, PathBuf};

use super::explain::Lookup;

/// This machine, with its files under `PTENV_SYSROOT` as the host links read them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThisHost;

impl Lookup for ThisHost {
    fn nvidia_module(&self) -> (bool, Vec<String>) {
        let root = super::host::sysroot();
        let loaded = super::host::read_kernel(&root).nvidia_loaded;
        let vfio = super::host::read_pci(&root)
            .unwrap_or_default()
            .into_iter()
            .filter(|d| d.is_nvidia_gpu() && d.driver.as_deref() == Some("vfio-pci"))
            .map(|d| d.address)
            .collect();
        (loaded, vfio)
    }

    fn toolkit(&self) -> (Option<PathBuf>, Vec<PathBuf>) {
        let hook = super::docker_host::which("nvidia-container-runtime-hook");
        let specs = super::docker_host::read_cdi_specs(Path::new("/"))
            .into_iter()
            .map(|s| s.path)
            .collect();
        (hook, specs)
    }
}
