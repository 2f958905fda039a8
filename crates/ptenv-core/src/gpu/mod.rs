//! Facts about the host's NVIDIA driver and GPUs: the types, and the order in which the
//! sources are believed ([`fallback_chain`]). Reading the sources (NVML, the kernel module's
//! files, `nvidia-smi`) is the binary's `gpu` module.
//!
//! The sources, in order: NVML (through nvml-wrapper, loading `libnvidia-ml.so.1` by the
//! system loader's search, so `LD_LIBRARY_PATH` is honoured, or the file in `PTENV_NVML_LIB`);
//! when NVML is missing or fails, the kernel module's version in `/sys/module/nvidia/version`,
//! then `/proc/driver/nvidia/version`, then `nvidia-smi`; else no driver. The answer records
//! which source gave it and why the earlier ones did not. `--driver`/`--gpu` overrides build
//! the facts of another machine instead ([`from_overrides`]).

pub mod parse;
pub mod probe;
mod problem;
pub mod usage;

pub use problem::Problem;

use serde::{Deserialize, Serialize};

use crate::catalog::{self, Cc, DriverVersion};
use crate::error::{Error, Result};

/// Which source answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Nvml,
    Sysfs,
    Procfs,
    NvidiaSmi,
    Override,
    /// A short container with every GPU on the engine's machine, running the NVIDIA
    /// toolkit's `nvidia-smi` (that machine is reached only through its Docker API).
    ProbeContainer,
    /// The engine's machine is reached only through its Docker API (a TLS engine, no ssh):
    /// no source of that machine could be asked. The problem says so.
    Unreachable,
    #[default]
    None,
}

impl Source {
    /// For people: "NVML (libnvidia-ml.so.1)".
    pub fn describe(self) -> &'static str {
        match self {
            Source::Nvml => "NVML (libnvidia-ml.so.1)",
            Source::Sysfs => "the kernel module (/sys/module/nvidia/version)",
            Source::Procfs => "the kernel module (/proc/driver/nvidia/version)",
            Source::NvidiaSmi => "nvidia-smi",
            Source::Override => "the command line (--driver/--gpu or PTENV_CUDA_DRIVER_VERSION)",
            Source::ProbeContainer => {
                "nvidia-smi in a container with every GPU, through the engine"
            }
            Source::Unreachable => {
                "nothing: the engine's machine is reached only through its Docker API"
            }
            Source::None => "nothing: no source answered",
        }
    }

    /// As in `--json`: "nvml", "sysfs", "procfs", "nvidia-smi", "override", "none".
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Nvml => "nvml",
            Source::Sysfs => "sysfs",
            Source::Procfs => "procfs",
            Source::NvidiaSmi => "nvidia-smi",
            Source::Override => "override",
            Source::ProbeContainer => "probe-container",
            Source::Unreachable => "unreachable",
            Source::None => "none",
        }
    }
}

/// One GPU as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gpu {
    pub index: u32,
    /// "NVIDIA GeForce RTX 3090"
    pub name: String,
    /// "GPU-5d2e5e6a-…"; empty when planning with `--gpu`.
    pub uuid: String,
    /// Compute capability, (8, 6) for 8.6.
    pub cc: Cc,
    pub memory_bytes: u64,
    /// NVML's architecture name ("Ampere"), when NVML reports one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
}

impl Gpu {
    /// "8.6"
    pub fn cc_str(&self) -> String {
        format!("{}.{}", self.cc.0, self.cc.1)
    }

    /// The architecture's name: NVML's, else the one of its compute capability.
    pub fn arch_name(&self) -> String {
        self.arch
            .clone()
            .unwrap_or_else(|| catalog::arch_name(self.cc).to_string())
    }

    /// "RTX 3090" out of "NVIDIA GeForce RTX 3090", for sentences.
    pub fn short_name(&self) -> &str {
        let n = self.name.trim();
        let n = n.strip_prefix("NVIDIA ").unwrap_or(n);
        n.strip_prefix("GeForce ").unwrap_or(n)
    }
}

/// What ptenv knows about the host's NVIDIA driver and GPUs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HostFacts {
    /// The driver version, "550.54.15", parsed where it was read; `None` when no driver was
    /// found.
    pub driver: Option<DriverVersion>,
    /// The CUDA version the driver supports (nvidia-smi's "CUDA Version"), (12, 4). From NVML
    /// when it answers, else derived from the driver branch (docs/compatibility.md §5).
    pub cuda_driver: Option<(u32, u32)>,
    pub gpus: Vec<Gpu>,
    pub source: Source,
    /// Why the earlier sources failed or what was skipped, e.g. "NVML: the NVIDIA driver is
    /// not loaded (NVML_ERROR_DRIVER_NOT_LOADED)".
    #[serde(deserialize_with = "problem::typed_or_text")]
    pub problems: Vec<Problem>,
    /// The host's CPU architecture (`x86_64`, `aarch64`): the official arm64 images are
    /// CPU-only (docs/compatibility.md §1.4).
    pub machine: String,
}

impl HostFacts {
    /// The CUDA version the driver supports: NVML's answer, else derived from the driver.
    pub fn driver_cuda(&self) -> Option<(u32, u32)> {
        self.cuda_driver
            .or_else(|| self.driver.as_ref().and_then(catalog::cuda_for_driver))
    }

    pub fn empty() -> HostFacts {
        HostFacts {
            machine: std::env::consts::ARCH.to_string(),
            ..HostFacts::default()
        }
    }
}

/// The kernel module's version file.
pub const SYSFS_VERSION: &str = "/sys/module/nvidia/version";
/// The driver's own version file.
pub const PROCFS_VERSION: &str = "/proc/driver/nvidia/version";

/// The facts of a server where ptenv's agent could not run (`why`), from its `nvidia-smi`
/// output read over ssh: the same rules as a local detection, with NVML and the driver files
/// out of reach.
pub fn from_remote_smi(smi: std::result::Result<String, String>, why: &str) -> HostFacts {
    fallback_chain(
        || {
            Err(Problem::NvmlUnavailable {
                detail: format!("not read, since ptenv's agent could not run there ({why})"),
            })
        },
        || Err(format!("{SYSFS_VERSION}: not read over ssh")),
        || Err(format!("{PROCFS_VERSION}: not read over ssh")),
        || smi,
    )
}

/// What one probe that lists GPUs found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub driver: Option<DriverVersion>,
    pub cuda_driver: Option<(u32, u32)>,
    pub gpus: Vec<Gpu>,
    /// Things that went wrong without spoiling the answer (one GPU that did not answer).
    pub problems: Vec<Problem>,
}

/// The order of the sources, apart from how each is read: the first that names a driver
/// gives it; GPUs come from NVML, else from `nvidia-smi`, which only runs when NVML failed.
pub fn fallback_chain(
    nvml: impl FnOnce() -> std::result::Result<Found, Problem>,
    sysfs: impl FnOnce() -> std::result::Result<String, String>,
    procfs: impl FnOnce() -> std::result::Result<String, String>,
    smi: impl FnOnce() -> std::result::Result<String, String>,
) -> HostFacts {
    let mut facts = HostFacts::empty();
    match nvml() {
        Ok(found) => {
            facts.driver = found.driver;
            facts.cuda_driver = found.cuda_driver;
            facts.gpus = found.gpus;
            facts.problems = found.problems;
            facts.source = Source::Nvml;
            return facts;
        }
        Err(problem) => facts.problems.push(problem),
    }
    let mut driver: Option<(DriverVersion, Source)> = None;
    match sysfs().map(|t| parse::sysfs_version(&t)) {
        Ok(Some(d)) => driver = Some((d, Source::Sysfs)),
        Ok(None) => facts
            .problems
            .push(format!("{SYSFS_VERSION}: no driver version in it").into()),
        Err(e) => facts.problems.push(parse::source_problem(e)),
    }
    if driver.is_none() {
        match procfs().map(|t| parse::procfs_version(&t)) {
            Ok(Some(d)) => driver = Some((d, Source::Procfs)),
            Ok(None) => facts
                .problems
                .push(format!("{PROCFS_VERSION}: no driver version in it").into()),
            Err(e) => facts.problems.push(parse::source_problem(e)),
        }
    }
    match smi().and_then(|t| parse::smi_csv(&t).map_err(|e| format!("nvidia-smi: {e}"))) {
        Ok((smi_driver, gpus)) if !gpus.is_empty() => {
            facts.gpus = gpus;
            facts.source = Source::NvidiaSmi;
            if driver.is_none() {
                driver = smi_driver.map(|d| (d, Source::NvidiaSmi));
            }
        }
        Ok(_) => facts.problems.push("nvidia-smi: lists no GPU".into()),
        Err(e) => facts.problems.push(parse::source_problem(e)),
    }
    if let Some((d, source)) = driver {
        facts.cuda_driver = catalog::cuda_for_driver(&d);
        facts.driver = Some(d);
        if facts.source == Source::None {
            facts.source = source;
        }
    }
    facts
}

/// The facts of a machine described on the command line: `--driver 535.104.05 --gpu 9.0
/// --gpu 8.6` (or `PTENV_CUDA_DRIVER_VERSION`). The driver's CUDA version comes from its
/// branch (docs/compatibility.md §5). A driver without `--gpu` plans for GPUs of unknown kind.
pub fn from_overrides(driver: Option<&str>, ccs: &[String]) -> Result<HostFacts> {
    let Some(driver) = driver.map(str::trim).filter(|d| !d.is_empty()) else {
        return Err(
            Error::new("`--gpu` needs the driver version of that machine too")
                .hint("add `--driver 550.54.15` (the version `nvidia-smi` shows on that machine)"),
        );
    };
    let d = DriverVersion::parse(driver).ok_or_else(|| {
        Error::new(format!("`{driver}` is not an NVIDIA driver version"))
            .hint("write it as `nvidia-smi` shows it, e.g. --driver 535.104.05")
    })?;
    let mut gpus = Vec::new();
    for (i, text) in ccs.iter().enumerate() {
        let cc = parse::cc(text).ok_or_else(|| {
            Error::new(format!("`{text}` is not a compute capability"))
                .hint("write it as major.minor, e.g. --gpu 8.6 (RTX 3090) or --gpu 12.0 (RTX 5090); `nvidia-smi --query-gpu=compute_cap --format=csv` shows it")
        })?;
        gpus.push(Gpu {
            index: i as u32,
            name: format!("{} GPU", catalog::arch_name(cc)),
            uuid: String::new(),
            cc,
            memory_bytes: 0,
            arch: None,
        });
    }
    Ok(HostFacts {
        cuda_driver: catalog::cuda_for_driver(&d),
        driver: Some(d),
        gpus,
        source: Source::Override,
        ..HostFacts::empty()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(index: u32, cc: Cc) -> Gpu {
        Gpu {
            index,
            name: "NVIDIA GeForce RTX 3090".into(),
            uuid: format!("GPU-{index}"),
            cc,
            memory_bytes: 24 << 30,
            arch: Some("Ampere".into()),
        }
    }

    fn missing(path: &'static str) -> impl FnOnce() -> std::result::Result<String, String> {
        move || Err(format!("{path}: not found"))
    }

    #[test]
    fn nvml_answers_alone() {
        let facts = fallback_chain(
            || {
                Ok(Found {
                    driver: Some(catalog::driver("550.54.15")),
                    cuda_driver: Some((12, 4)),
                    gpus: vec![gpu(0, (8, 6))],
                    problems: vec![],
                })
            },
            || panic!("sysfs must not be read when NVML answers"),
            || panic!("procfs must not be read when NVML answers"),
            || panic!("nvidia-smi must not run when NVML answers"),
        );
        assert_eq!(facts.source, Source::Nvml);
        assert_eq!(facts.driver.as_ref().map(|d| d.as_str()), Some("550.54.15"));
        assert_eq!(facts.gpus.len(), 1);
        assert!(facts.problems.is_empty());
    }

    #[test]
    fn the_kernel_module_gives_the_driver_when_nvml_fails() {
        let facts = fallback_chain(
            || Err("NVML: the NVIDIA driver library and kernel module differ".into()),
            || Ok("550.54.15\n".into()),
            || panic!("procfs is not needed once sysfs answered"),
            missing("nvidia-smi"),
        );
        assert_eq!(facts.source, Source::Sysfs);
        assert_eq!(facts.driver.as_ref().map(|d| d.as_str()), Some("550.54.15"));
        assert_eq!(facts.cuda_driver, Some((12, 4)));
        assert!(facts.gpus.is_empty());
        assert_eq!(facts.problems.len(), 2, "{:?}", facts.problems);
    }

    #[test]
    fn procfs_then_nvidia_smi() {
        let facts = fallback_chain(
            || Err("NVML: not installed".into()),
            missing(SYSFS_VERSION),
            || {
                Ok("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n".into())
            },
            || Ok("0, NVIDIA A100-SXM4-80GB, GPU-1, 8.0, 81920, 535.104.05\n".into()),
        );
        assert_eq!(facts.source, Source::NvidiaSmi);
        assert_eq!(
            facts.driver.as_ref().map(|d| d.as_str()),
            Some("535.104.05")
        );
        assert_eq!(facts.cuda_driver, Some((12, 2)));
        assert_eq!(facts.gpus[0].cc, (8, 0));
        assert_eq!(facts.problems.len(), 2);
    }

    #[test]
    fn nothing_answers_means_no_driver() {
        let facts = fallback_chain(
            || Err("NVML: libnvidia-ml.so.1 is not installed".into()),
            missing(SYSFS_VERSION),
            missing(PROCFS_VERSION),
            missing("nvidia-smi"),
        );
        assert_eq!(facts.source, Source::None);
        assert_eq!(facts.driver, None);
        assert_eq!(facts.cuda_driver, None);
        assert_eq!(facts.problems.len(), 4);
        assert!(facts.problems[0].to_string().starts_with("NVML"));
    }

    #[test]
    fn overrides_describe_another_machine() {
        let f = from_overrides(Some("535.104.05"), &["9.0".into(), "sm_86".into()]).unwrap();
        assert_eq!(f.source, Source::Override);
        assert_eq!(f.cuda_driver, Some((12, 2)));
        assert_eq!(f.gpus.len(), 2);
        assert_eq!(f.gpus[1].cc, (8, 6));
        assert_eq!(f.gpus[0].name, "Hopper GPU");
        let f = from_overrides(Some("570.124.06"), &[]).unwrap();
        assert!(f.gpus.is_empty());
        assert_eq!(f.driver_cuda(), Some((12, 8)));
        let e = from_overrides(None, &["8.6".into()]).unwrap_err();
        assert!(e.hints[0].contains("--driver"));
        let e = from_overrides(Some("latest"), &[]).unwrap_err();
        assert!(e.message.contains("latest"), "{e}");
        let e = from_overrides(Some("550.54.15"), &["ampere".into()]).unwrap_err();
        assert!(e.message.contains("compute capability"), "{e}");
    }

    #[test]
    fn gpu_names_shorten_for_sentences() {
        assert_eq!(gpu(0, (8, 6)).short_name(), "RTX 3090");
        let mut g = gpu(0, (9, 0));
        g.name = "NVIDIA H100 80GB HBM3".into();
        assert_eq!(g.short_name(), "H100 80GB HBM3");
    }
}
