//! Link 5 of the chain, a GPU path into containers: the NVIDIA runtime (`--gpus`) or a CDI
//! spec the engine uses (`--device nvidia.com/gpu=all`). The facts arrive as plain values: the
//! parts of the engine's `GET /info` ([`EngineInfo`]), the CDI specs and the toolkit's hook
//! (read by `doctor::docker_host`).

use std::path::PathBuf;

use super::daemon::engine_version;
use super::{id, Check};

/// The parts of `GET /info` the GPU links need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineInfo {
    /// Registered OCI runtimes: "runc", "nvidia", ...
    pub runtimes: Vec<String>,
    pub default_runtime: Option<String>,
    /// "cgroupfs" or "systemd".
    pub cgroup_driver: Option<String>,
    /// "1" or "2".
    pub cgroup_version: Option<String>,
    /// Reported by engines with CDI enabled (25+ with the feature on, 28.2+ by default).
    pub cdi_spec_dirs: Option<Vec<String>>,
    /// `DiscoveredDevices` (28.2+), as "cdi nvidia.com/gpu=0".
    pub discovered_devices: Option<Vec<String>>,
}

/// A CDI spec file and the device kind it declares.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CdiSpec {
    pub path: PathBuf,
    pub kind: String,
}

/// The CDI spec folders (the CDI defaults; engines that report `CDISpecDirs` use these too).
pub const CDI_DIRS: [&str; 2] = ["etc/cdi", "var/run/cdi"];

/// The `kind` of a CDI spec, YAML (`kind: nvidia.com/gpu`) or JSON (`"kind": "nvidia.com/gpu"`),
/// as `nvidia-ctk cdi generate` writes them.
pub fn cdi_kind(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.trim().trim_start_matches('{').trim();
        let rest = l
            .strip_prefix("kind:")
            .or_else(|| l.strip_prefix("\"kind\":"))?;
        let v = rest
            .trim()
            .trim_end_matches(',')
            .trim()
            .trim_matches('"')
            .trim_matches('\'');
        (!v.is_empty()).then(|| v.to_string())
    })
}

/// How containers can get the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuPath {
    /// `--gpus`: the NVIDIA runtime/hook is registered.
    Runtime,
    /// `--device nvidia.com/gpu=all`: a CDI spec the engine uses.
    Cdi,
    None,
}

/// The engine's own answer to a GPU request: a throwaway container with `--gpus all` (device
/// request `[[gpu]]`, no driver named), started and removed. Docker serves it through the
/// nvidia device driver it registered at start if the hook was on dockerd's PATH then
/// (docs/gpu-testbed.md), which no file on the client shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuRequestTrial {
    /// Not tried, and why (`--no-container`, no image on the engine, …).
    NotTried(String),
    /// Refused: `could not select device driver "" with capabilities: [[gpu]]`.
    NoDriver(String),
    /// The driver took it, on a container of `image`; `error`: how the start failed after that
    /// (the hook, the runtime), `None` when it started.
    Served {
        image: String,
        error: Option<String>,
    },
}

impl Default for GpuRequestTrial {
    fn default() -> Self {
        GpuRequestTrial::NotTried("not asked".into())
    }
}

/// Everything the GPU-path link looks at.
#[derive(Debug, Clone, Default)]
pub struct GpuPathFacts {
    pub engine_version: String,
    pub info: EngineInfo,
    pub cdi_specs: Vec<CdiSpec>,
    /// `nvidia-container-runtime-hook` on the PATH of the ptenv process that read the host
    /// (here, or ptenv's agent on a server): the toolkit is installed there. dockerd's own PATH
    /// may differ; [`GpuPathFacts::trial`] is the engine's answer.
    pub hook: Option<PathBuf>,
    pub trial: GpuRequestTrial,
}

/// `docker run --gpus` (device requests served by dockerd's nvidia driver) arrived in 19.03.
const GPUS_FLAG: (u32, u32) = (19, 3);
/// CDI became a default of Docker Engine in 28.2.0 (moby#49963) and an opt-in feature in 25.
const CDI_DEFAULT: (u32, u32) = (28, 2);
const CDI_OPT_IN: (u32, u32) = (25, 0);

const TOOLKIT_FIX: &str = "install the NVIDIA Container Toolkit (https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html), then `sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker`; on Docker ≥ 28.2 CDI works too: `sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`";

/// Link 5: a way for the GPU into containers. Without one, `--gpus` fails with `could not
/// select device driver "" with capabilities: [[gpu]]` (moby `daemon/devices.go`,
/// docs/compatibility.md §7).
pub fn check_gpu_path(f: &GpuPathFacts) -> (Check, GpuPath) {
    let runtimes = if f.info.runtimes.is_empty() {
        "none reported".to_string()
    } else {
        f.info.runtimes.join(", ")
    };
    let mut evidence = vec![format!(
        "runtimes: {runtimes} (default {})",
        f.info.default_runtime.as_deref().unwrap_or("unknown")
    )];
    let nvidia_specs: Vec<&CdiSpec> = f
        .cdi_specs
        .iter()
        .filter(|s| s.kind == "nvidia.com/gpu")
        .collect();
    for s in &f.cdi_specs {
        evidence.push(format!("CDI spec {}: kind {}", s.path.display(), s.kind));
    }
    if f.cdi_specs.is_empty() {
        evidence.push(format!(
            "CDI specs: none in /{} or /{}",
            CDI_DIRS[0], CDI_DIRS[1]
        ));
    }
    if let Some(d) = &f.info.discovered_devices {
        evidence.push(format!(
            "engine's discovered devices: {}",
            if d.is_empty() {
                "none".to_string()
            } else {
                d.join(", ")
            }
        ));
    }
    match &f.hook {
        Some(h) => evidence.push(format!(
            "nvidia-container-runtime-hook on ptenv's PATH (not necessarily dockerd's): {}",
            h.display()
        )),
        None => evidence.push(
            "nvidia-container-runtime-hook: not on ptenv's PATH (dockerd's may differ)".into(),
        ),
    }
    evidence.push(match &f.trial {
        GpuRequestTrial::NotTried(why) => format!("a GPU request was not tried on the engine: {why}"),
        GpuRequestTrial::NoDriver(e) => {
            format!("the engine refused a test container with `--gpus all`: {e}")
        }
        GpuRequestTrial::Served { image, error: None } => format!(
            "the engine's nvidia device driver took a test container with `--gpus all` ({image})"
        ),
        GpuRequestTrial::Served {
            image,
            error: Some(e),
        } => format!(
            "the engine's nvidia device driver took a test container with `--gpus all` ({image}), whose start then failed: {e}"
        ),
    });
    if f.info.runtimes.iter().any(|r| r == "nvidia") {
        return (
            Check::pass(
                id::GPU_PATH,
                "the NVIDIA runtime is registered with Docker (`--gpus` works)",
            )
            .evidence_all(evidence),
            GpuPath::Runtime,
        );
    }
    let discovered = f
        .info
        .discovered_devices
        .as_ref()
        .is_some_and(|d| d.iter().any(|x| x.contains("nvidia.com/gpu")));
    if discovered {
        return (
            Check::pass(
                id::GPU_PATH,
                "the engine discovered NVIDIA GPUs through CDI (nvidia.com/gpu)",
            )
            .evidence_all(evidence),
            GpuPath::Cdi,
        );
    }
    let version = engine_version(&f.engine_version);
    // Since 19.03 dockerd serves `--gpus` itself, through the hook, when the hook was on its
    // PATH at start: no runtime needs registering (docs/compatibility.md §7). The engine's
    // answer to a GPU request says whether it did; without it, the hook on ptenv's PATH is
    // the best evidence there is.
    match &f.trial {
        GpuRequestTrial::Served { error: None, .. } => {
            return (
                Check::pass(
                    id::GPU_PATH,
                    "Docker's nvidia device driver serves `--gpus`: the engine took a test GPU request",
                )
                .evidence_all(evidence),
                GpuPath::Runtime,
            );
        }
        GpuRequestTrial::Served { error: Some(e), .. } => {
            return (
                Check::warn(
                    id::GPU_PATH,
                    "Docker's nvidia device driver took a test GPU request, but the container did not start",
                )
                .evidence_all(evidence)
                .fix(format!("the engine's error names the failing part: {e}")),
                GpuPath::Runtime,
            );
        }
        GpuRequestTrial::NotTried(why) => {
            if let Some(h) = f
                .hook
                .as_ref()
                .filter(|_| version.is_some_and(|v| v >= GPUS_FLAG))
            {
                return (
                    Check::pass(
                        id::GPU_PATH,
                        format!(
                            "the NVIDIA container hook is installed ({}): Docker's built-in nvidia device driver serves `--gpus` through it if dockerd found it too",
                            h.display()
                        ),
                    )
                    .evidence_all(evidence)
                    .evidence(format!("dockerd looks for the hook on its own PATH once, when it starts, and the engine was not asked ({why}): if `--gpus` fails with `could not select device driver`, restart dockerd")),
                    GpuPath::Runtime,
                );
            }
        }
        GpuRequestTrial::NoDriver(_) => {}
    }
    if !nvidia_specs.is_empty() {
        let cdi_on = version.is_some_and(|v| v >= CDI_DEFAULT)
            || f.info.cdi_spec_dirs.as_ref().is_some_and(|d| !d.is_empty());
        if cdi_on {
            return (
                Check::pass(
                    id::GPU_PATH,
                    "a CDI spec for nvidia.com/gpu is in place and the engine reads CDI specs",
                )
                .evidence_all(evidence),
                GpuPath::Cdi,
            );
        }
        if version.is_some_and(|v| v >= CDI_OPT_IN) {
            return (
                Check::warn(
                    id::GPU_PATH,
                    format!("a CDI spec for nvidia.com/gpu exists, but CDI is off in Docker Engine {}", f.engine_version),
                )
                .evidence_all(evidence)
                .fix("turn CDI on: add `\"features\": {\"cdi\": true}` to /etc/docker/daemon.json and `sudo systemctl restart docker` (Docker ≥ 28.2 has it on by default)"),
                GpuPath::Cdi,
            );
        }
        return (
            Check::fail(
                id::GPU_PATH,
                format!("a CDI spec for nvidia.com/gpu exists, but Docker Engine {} predates CDI (25) and has no NVIDIA runtime", f.engine_version),
            )
            .evidence_all(evidence)
            .fix("upgrade Docker Engine to 28.2 or newer, or register the runtime: `sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker`"),
            GpuPath::None,
        );
    }
    let refused = matches!(f.trial, GpuRequestTrial::NoDriver(_));
    let summary = match (&f.hook, refused) {
        (Some(h), true) => format!(
            "no GPU path into containers: the engine refused a GPU request (no nvidia device driver), though the NVIDIA container hook is on ptenv's PATH ({}): dockerd did not find it on its own PATH when it started",
            h.display()
        ),
        _ => "no GPU path into containers: Docker has no NVIDIA runtime and there is no CDI spec for nvidia.com/gpu (the NVIDIA Container Toolkit is missing)".to_string(),
    };
    let c = Check::fail(id::GPU_PATH, summary).evidence_all(evidence);
    let c = match &f.hook {
        Some(h) => c.fix(format!(
            "the toolkit is installed ({}) but dockerd has not registered it: `sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker`",
            h.display()
        )),
        None => c.fix(TOOLKIT_FIX),
    };
    (c, GpuPath::None)
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    fn facts(version: &str, runtimes: &[&str]) -> GpuPathFacts {
        GpuPathFacts {
            engine_version: version.into(),
            info: EngineInfo {
                runtimes: runtimes.iter().map(|r| r.to_string()).collect(),
                default_runtime: Some("runc".into()),
                ..EngineInfo::default()
            },
            ..GpuPathFacts::default()
        }
    }

    #[test]
    fn the_nvidia_runtime_is_a_gpu_path_and_its_absence_names_the_toolkit() {
        let (c, p) = check_gpu_path(&facts("20.10.24+dfsg1", &["io.containerd.runc.v2", "runc"]));
        assert_eq!((c.status, p), (Status::Fail, GpuPath::None));
        assert!(c.summary.contains("Container Toolkit"), "{c:?}");
        assert!(c
            .fix
            .as_deref()
            .unwrap()
            .contains("nvidia-ctk runtime configure"));
        assert!(c.evidence[0].contains("runtimes: io.containerd.runc.v2, runc"));
        // The hook alone serves `--gpus` from 19.03 on; before, the runtime had to be registered.
        let mut f = facts("20.10.24", &["runc"]);
        f.hook = Some("/usr/bin/nvidia-container-runtime-hook".into());
        let (c, p) = check_gpu_path(&f);
        assert_eq!((c.status, p), (Status::Pass, GpuPath::Runtime));
        assert!(c.summary.contains("/usr/bin/nvidia-container-runtime-hook"));
        let mut f = facts("18.09.9", &["runc"]);
        f.hook = Some("/usr/bin/nvidia-container-runtime-hook".into());
        let (c, p) = check_gpu_path(&f);
        assert_eq!((c.status, p), (Status::Fail, GpuPath::None));
        assert!(c.fix.unwrap().contains("has not registered it"));
        let (c, p) = check_gpu_path(&facts("24.0.7", &["nvidia", "runc"]));
        assert_eq!((c.status, p), (Status::Pass, GpuPath::Runtime));
    }

    #[test]
    fn the_engine_s_answer_to_a_gpu_request_outweighs_the_hook_on_ptenv_s_path() {
        let hook = Some(PathBuf::from("/usr/bin/nvidia-container-runtime-hook"));
        let served = GpuRequestTrial::Served {
            image: "ptenv-fixture/pytorch:2.6.0-cuda12.4-cudnn9-runtime".into(),
            error: None,
        };
        // The engine took it: a pass, whatever ptenv's PATH holds (the test bed's GPU engine).
        let mut f = facts("20.10.24", &["runc"]);
        f.trial = served.clone();
        let (c, p) = check_gpu_path(&f);
        assert_eq!((c.status, p), (Status::Pass, GpuPath::Runtime));
        assert!(
            c.summary.contains("the engine took a test GPU request"),
            "{c:?}"
        );
        let all = c.evidence.join("\n");
        assert!(
            all.contains("not on ptenv's PATH (dockerd's may differ)"),
            "{all}"
        );
        assert!(
            all.contains("took a test container with `--gpus all` (ptenv-fixture/"),
            "{all}"
        );

        // Taken, then the start failed: the driver is there, something after it is not.
        f.trial = GpuRequestTrial::Served {
            image: "x".into(),
            error: Some("nvidia-container-cli: initialization error".into()),
        };
        let (c, p) = check_gpu_path(&f);
        assert_eq!((c.status, p), (Status::Warn, GpuPath::Runtime));
        assert!(c.fix.unwrap().contains("initialization error"));

        // Refused, with the hook on ptenv's PATH: dockerd did not see it.
        let refusal = "could not select device driver \"\" with capabilities: [[gpu]]";
        let mut f = facts("20.10.24", &["runc"]);
        f.hook = hook.clone();
        f.trial = GpuRequestTrial::NoDriver(refusal.into());
        let (c, p) = check_gpu_path(&f);
        assert_eq!((c.status, p), (Status::Fail, GpuPath::None));
        assert!(
            c.summary
                .contains("dockerd did not find it on its own PATH"),
            "{c:?}"
        );
        assert!(c.evidence.join("\n").contains(refusal));
        assert!(c.fix.unwrap().contains("restart docker"));

        // Refused, no hook anywhere: the toolkit is missing, as before.
        f.hook = None;
        let (c, _) = check_gpu_path(&f);
        assert!(
            c.summary.contains("NVIDIA Container Toolkit is missing"),
            "{c:?}"
        );

        // Not tried: the hook on ptenv's PATH, said as such.
        let mut f = facts("20.10.24", &["runc"]);
        f.hook = hook;
        f.trial = GpuRequestTrial::NotTried("skipped: --no-container".into());
        let (c, p) = check_gpu_path(&f);
        assert_eq!((c.status, p), (Status::Pass, GpuPath::Runtime));
        assert!(c.summary.contains("if dockerd found it too"), "{c:?}");
        assert!(c.evidence.join("\n").contains("skipped: --no-container"));
    }

    #[test]
    fn cdi_counts_when_the_engine_reads_it() {
        let spec = CdiSpec {
            path: "/etc/cdi/nvidia.yaml".into(),
            kind: "nvidia.com/gpu".into(),
        };
        let mut f = facts("28.2.2", &["runc"]);
        f.cdi_specs = vec![spec.clone()];
        assert_eq!(check_gpu_path(&f).1, GpuPath::Cdi);
        assert_eq!(check_gpu_path(&f).0.status, Status::Pass);
        let mut f = facts("26.1.0", &["runc"]);
        f.cdi_specs = vec![spec.clone()];
        assert_eq!(check_gpu_path(&f).0.status, Status::Warn);
        f.info.cdi_spec_dirs = Some(vec!["/etc/cdi".into()]);
        assert_eq!(check_gpu_path(&f).0.status, Status::Pass);
        let mut f = facts("20.10.24", &["runc"]);
        f.cdi_specs = vec![spec];
        assert_eq!(check_gpu_path(&f).0.status, Status::Fail);
        let mut f = facts("29.0.0", &["runc"]);
        f.info.discovered_devices = Some(vec!["cdi nvidia.com/gpu=0".into()]);
        assert_eq!(check_gpu_path(&f).1, GpuPath::Cdi);
    }
}
