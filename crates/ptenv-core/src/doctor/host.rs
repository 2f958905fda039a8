//! Links 1 to 3 of the chain, the host links: an NVIDIA GPU on the PCI bus, the kernel driver
//! bound to it, and NVML; and what doctor reads on the machine that runs the engine
//! ([`HostReport`]). The files are read by the binary's `doctor::host` (on a server, by
//! ptenv's agent there); here the facts become checks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::cgroup::DevNode;
use super::gpu_path::CdiSpec;
use super::{id, Check};
use crate::gpu::{HostFacts, Problem, Source};

/// What doctor reads on the machine that runs the engine: its GPU facts, the host links'
/// checks, and the files the Docker links judge. On a server ptenv's agent reads it there
/// (`ptenv agent doctor`) and sends it as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostReport {
    pub facts: HostFacts,
    /// The PCI, kernel-driver and NVML links, in chain order.
    pub checks: Vec<Check>,
    pub cdi_specs: Vec<CdiSpec>,
    /// The toolkit's hook on that machine's PATH.
    pub hook: Option<PathBuf>,
    pub nvidia_nodes: Vec<DevNode>,
    pub char_links: BTreeMap<String, String>,
    /// What could not be read there, one line each (the agent could not run).
    #[serde(default)]
    pub unread: Vec<String>,
}

/// The report for `place` where ptenv's agent does not run (for `why`): the NVML link is
/// judged from `facts` (`nvidia-smi` over ssh, or none); the PCI bus, the kernel module and
/// the Docker links' files could not be read.
pub fn without_agent(facts: HostFacts, place: &str, why: &str) -> HostReport {
    let not_read = |check: &'static str, what: &str| {
        Check::skip(
            check,
            format!("not checked on {place}: {what} is read by ptenv's agent, which does not run there"),
        )
        .evidence(why.to_string())
        .fix("reach the server over ssh (`--host ssh://USER@HOST`) with a home that allows programs and the same OS and CPU as this machine, so ptenv's agent runs there; or run `ptenv doctor` on the server itself")
    };
    HostReport {
        checks: vec![
            not_read(id::PCI, "the PCI bus"),
            not_read(id::KERNEL, "the kernel module"),
            check_nvml(&facts),
        ],
        facts,
        cdi_specs: Vec::new(),
        hook: None,
        nvidia_nodes: Vec::new(),
        char_links: BTreeMap::new(),
        unread: vec![
            "pci: the PCI bus".into(),
            "kernel-driver: the NVIDIA kernel module".into(),
            "gpu-path: the CDI specs and the toolkit's hook".into(),
            "cgroup: the /dev/nvidia* nodes and their /dev/char links".into(),
        ],
    }
}

/// PCI vendor id of NVIDIA.
pub const NVIDIA_VENDOR: u16 = 0x10de;

/// One device of `/sys/bus/pci/devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PciDevice {
    /// "0000:01:00.0"
    pub address: String,
    pub vendor: u16,
    pub device: u16,
    /// 24-bit class code: base class, subclass, programming interface (0x030000 = VGA).
    pub class: u32,
    /// The kernel driver bound to it ("nvidia", "nouveau", "vfio-pci"), if any.
    pub driver: Option<String>,
}

impl PciDevice {
    /// An NVIDIA display controller (base class 0x03: VGA 0x0300, 3D 0x0302). NVIDIA's HDMI
    /// audio (0x0403) and USB-C (0x0c03) functions on the same card are not GPUs.
    pub fn is_nvidia_gpu(&self) -> bool {
        self.vendor == NVIDIA_VENDOR && self.class >> 16 == 0x03
    }

    pub fn describe(&self) -> String {
        format!(
            "{}: vendor {:#06x} device {:#06x} class {:#08x}, driver {}",
            self.address,
            self.vendor,
            self.device,
            self.class,
            self.driver.as_deref().unwrap_or("(none bound)")
        )
    }
}

/// Link 1: is there an NVIDIA GPU at all?
pub fn check_pci(pci: &Result<Vec<PciDevice>, String>, wsl: bool) -> Check {
    if wsl {
        return Check::pass(
            id::PCI,
            "WSL 2: the GPU is paravirtualised through /dev/dxg (no PCI device in Linux)",
        )
        .evidence("/dev/dxg exists");
    }
    let devices = match pci {
        Ok(d) => d,
        Err(e) => {
            return Check::warn(
                id::PCI,
                "cannot list PCI devices; assuming a GPU may be there",
            )
            .evidence(e.clone())
            .fix(
                "run `ptenv doctor` on the host itself, not inside a container or VM without /sys",
            );
        }
    };
    let gpus: Vec<&PciDevice> = devices.iter().filter(|d| d.is_nvidia_gpu()).collect();
    if gpus.is_empty() {
        let vendors: Vec<String> = {
            let mut v: Vec<String> = devices
                .iter()
                .map(|d| format!("{:#06x}", d.vendor))
                .collect();
            v.sort();
            v.dedup();
            v
        };
        return Check::fail(id::PCI, "no NVIDIA GPU on the PCI bus, so no NVIDIA driver can run")
            .evidence(format!(
                "{} PCI devices, none with vendor 0x10de (NVIDIA) and a display class (0x03xxxx); vendors seen: {}",
                devices.len(),
                if vendors.is_empty() { "none".to_string() } else { vendors.join(", ") }
            ))
            .fix("run ptenv on a machine with an NVIDIA GPU (on a cloud VM: a GPU instance type; in a VM: pass the GPU through); without one, torch runs on the CPU only");
    }
    let n = gpus.len();
    Check::pass(
        id::PCI,
        format!(
            "{n} NVIDIA GPU{} on the PCI bus",
            if n == 1 { "" } else { "s" }
        ),
    )
    .evidence_all(gpus.iter().map(|g| g.describe()))
}

/// What the kernel says about the NVIDIA and nouveau modules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelFacts {
    /// `/sys/module/nvidia` exists.
    pub nvidia_loaded: bool,
    /// The module's version, from `/sys/module/nvidia/version` or `/proc/driver/nvidia/version`.
    pub nvidia_version: Option<String>,
    /// Where the version was read.
    pub version_source: Option<PathBuf>,
    /// `/sys/module/nouveau` exists.
    pub nouveau_loaded: bool,
}

/// Why a kernel module is often missing although the driver was installed
/// (docs/compatibility.md §8, the nvidia-smi row).
const MODULE_FIX: &str = "install the NVIDIA driver (e.g. `sudo ubuntu-drivers install`, or your distribution's nvidia-driver package) and reboot; if it is installed, `sudo modprobe nvidia` and read `sudo dmesg | grep -i nvidia`: after a kernel update rebuild the module (`sudo dkms autoinstall`), and with Secure Boot on, enrol the module's signing key or turn Secure Boot off";

/// A GPU bound to vfio-pci, and how to give it back to the host.
const VFIO_FIX: &str = "the GPU is reserved for passing through to virtual machines: if this host should use it, remove its id from the `vfio-pci.ids=` kernel option (/etc/default/grub, then `sudo update-grub`) and from /etc/modprobe.d, install the NVIDIA driver if it is not, and reboot so the nvidia module takes it";

/// Link 2: the NVIDIA kernel module is loaded and drives the GPUs (nouveau does not).
pub fn check_kernel(k: &KernelFacts, pci: &[PciDevice], wsl: bool) -> Check {
    if wsl {
        return Check::pass(
            id::KERNEL,
            "WSL 2: the Windows NVIDIA driver serves the GPU",
        )
        .fix("keep the Windows NVIDIA driver current; do not install a Linux driver inside WSL");
    }
    let gpus: Vec<&PciDevice> = pci.iter().filter(|d| d.is_nvidia_gpu()).collect();
    let bound = |name: &str| -> Vec<&PciDevice> {
        gpus.iter()
            .copied()
            .filter(|g| g.driver.as_deref() == Some(name))
            .collect()
    };
    // The PCI link lists the devices; here only who drives each one matters.
    let mut evidence: Vec<String> = gpus
        .iter()
        .map(|g| {
            format!(
                "{}: driven by {}{}",
                g.address,
                g.driver.as_deref().unwrap_or("no driver"),
                if g.driver.as_deref() == Some("vfio-pci") {
                    " (reserved for virtual machines)"
                } else {
                    ""
                }
            )
        })
        .collect();
    evidence.push(format!(
        "/sys/module/nvidia: {}",
        if k.nvidia_loaded {
            "present (module loaded)"
        } else {
            "absent"
        }
    ));
    if let (Some(v), Some(src)) = (&k.nvidia_version, &k.version_source) {
        evidence.push(format!("module version {v} (from {})", src.display()));
    }
    if k.nouveau_loaded {
        evidence
            .push("/sys/module/nouveau: present (the open-source nouveau driver is loaded)".into());
    }
    let nouveau = bound("nouveau");
    if !nouveau.is_empty() {
        let addrs: Vec<&str> = nouveau.iter().map(|g| g.address.as_str()).collect();
        return Check::fail(
            id::KERNEL,
            format!("the nouveau driver, not NVIDIA's, drives {}", addrs.join(", ")),
        )
        .evidence_all(evidence)
        .fix("CUDA needs NVIDIA's driver: install it, blacklist nouveau (`echo 'blacklist nouveau' | sudo tee /etc/modprobe.d/blacklist-nouveau.conf && sudo update-initramfs -u`) and reboot");
    }
    // GPUs handed to vfio-pci are kept from every host driver on purpose: loading the nvidia
    // module (the usual fix when it is absent) would not give them to it.
    let vfio = bound("vfio-pci");
    if !gpus.is_empty() && vfio.len() == gpus.len() {
        return Check::fail(
            id::KERNEL,
            "every NVIDIA GPU is bound to vfio-pci (reserved for virtual machines)",
        )
        .evidence_all(evidence)
        .fix(VFIO_FIX);
    }
    if !k.nvidia_loaded {
        return Check::fail(id::KERNEL, "the NVIDIA kernel module is not loaded")
            .evidence_all(evidence)
            .fix(MODULE_FIX);
    }
    let unbound: Vec<&PciDevice> = gpus
        .iter()
        .copied()
        .filter(|g| g.driver.is_none())
        .collect();
    let version = k
        .nvidia_version
        .as_deref()
        .map(|v| format!(" ({v})"))
        .unwrap_or_default();
    if !vfio.is_empty() || !unbound.is_empty() {
        let names: Vec<&str> = vfio
            .iter()
            .chain(unbound.iter())
            .map(|g| g.address.as_str())
            .collect();
        return Check::warn(
            id::KERNEL,
            format!(
                "the NVIDIA module{version} is loaded, but {} not driven by it",
                names.join(", ")
            ),
        )
        .evidence_all(evidence)
        .fix("containers only get the GPUs the nvidia module drives; read `sudo dmesg | grep -i nvidia` for why the others were not taken");
    }
    Check::pass(
        id::KERNEL,
        format!("the NVIDIA kernel module{version} is loaded"),
    )
    .evidence_all(evidence)
}

/// Link 3: NVML answers with the driver, its CUDA version and the GPUs. The NVIDIA container
/// toolkit itself uses NVML, so a driver that only the kernel module vouches for is not enough.
pub fn check_nvml(facts: &HostFacts) -> Check {
    let driver = facts.driver.as_ref().map_or("unknown", |d| d.as_str());
    let cuda = facts
        .driver_cuda()
        .map(|(a, b)| format!("CUDA {a}.{b}"))
        .unwrap_or_else(|| "CUDA unknown".into());
    let problems = facts.problems.iter().map(|p| format!("problem: {p}"));
    match facts.source {
        Source::Nvml if facts.gpus.is_empty() => {
            Check::fail(id::NVML, format!("NVML loads (driver {driver}) but lists no GPU"))
                .evidence_all(problems)
                .fix("read `nvidia-smi` and `sudo dmesg | grep -i nvidia`: the GPU may have fallen off the bus (Xid 79) and need a reboot")
        }
        // The probe container's nvidia-smi is NVML's answer, read on that machine.
        Source::Nvml | Source::Override | Source::ProbeContainer => {
            let n = facts.gpus.len();
            let c = Check::pass(
                id::NVML,
                format!(
                    "driver {driver} ({cuda}), {n} GPU{}",
                    if n == 1 { "" } else { "s" }
                ),
            )
            .evidence_all(facts.gpus.iter().map(|g| {
                format!(
                    "GPU {}: {}, compute capability {} ({}), {} memory",
                    g.index,
                    g.name,
                    g.cc_str(),
                    g.arch_name(),
                    crate::size::human(g.memory_bytes)
                )
            }))
            .evidence(format!("source: {}", facts.source.describe()))
            .evidence_all(problems);
            nvml_problems(c, &facts.problems)
        }
        Source::Unreachable => Check::fail(id::NVML, "the engine's machine is reached only through its Docker API: its NVIDIA driver cannot be read from here")
            .evidence_all(problems)
            .fix("run `ptenv doctor` on that machine itself, or reach it over ssh (--host ssh://USER@HOST)"),
        Source::None => Check::fail(id::NVML, "no NVIDIA driver answers (NVML, sysfs, /proc, nvidia-smi)")
            .evidence_all(problems)
            .fix("install the NVIDIA driver with its user-space libraries (libnvidia-ml.so.1 comes with it) and reboot"),
        Source::Sysfs | Source::Procfs | Source::NvidiaSmi => {
            let mismatch = facts
                .problems
                .iter()
                .any(|p| matches!(p, Problem::VersionMismatch { .. }));
            let fix = if mismatch {
                "the driver's libraries and the loaded kernel module differ (usually after a driver upgrade): reboot, or reload the module (`sudo rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia && sudo modprobe nvidia`)"
            } else {
                "install the driver's user-space libraries that match the kernel module (libnvidia-ml.so.1: package nvidia-utils-<branch> / libnvidia-compute-<branch>), or reinstall the driver"
            };
            Check::fail(
                id::NVML,
                format!("NVML does not load, although the kernel module reports driver {driver}"),
            )
            .evidence_all(problems)
            .evidence(format!("driver version from {}", facts.source.describe()))
            .fix(fix)
        }
    }
}

/// NVML answered but not about everything: a GPU that does not answer is lost to every
/// container, and without libcuda on the host the toolkit has no libcuda to inject.
fn nvml_problems(c: Check, problems: &[Problem]) -> Check {
    let Some(first) = problems.first() else {
        return c;
    };
    let fix = if problems
        .iter()
        .any(|p| matches!(p, Problem::GpuNotAnswering { .. }))
    {
        "a GPU that does not answer has usually fallen off the bus (Xid 79) or overheated: read `sudo dmesg | grep -i xid`; it comes back after a reboot"
    } else if problems
        .iter()
        .any(|p| matches!(p, Problem::CudaVersionUnread { .. }))
    {
        "libcuda.so.1 is missing on the host, and containers get theirs from the host: install the driver's CUDA library (libnvidia-compute-<branch>, or reinstall the driver)"
    } else {
        "read `nvidia-smi -q` and `sudo dmesg | grep -i nvidia`"
    };
    // The check is NVML's own, so the sentence goes without its "NVML: " source.
    let first = first.to_string();
    Check {
        status: super::Status::Warn,
        summary: format!(
            "{}; but {}",
            c.summary,
            first.strip_prefix("NVML: ").unwrap_or(&first)
        ),
        ..c
    }
    .fix(fix)
}

#[cfg(test)]
mod tests;
