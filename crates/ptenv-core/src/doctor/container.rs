//! The container links: shared memory (and memlock) of the project's running container, and
//! torch's own view from inside the selected image, with the diagnosis that view implies.

use serde::Deserialize;

use super::explain::{self, Lookup};
use super::{id, Check};
use crate::catalog::{self, Coverage};
use crate::gpu::HostFacts;
use crate::identity::User;

/// Below this, DataLoader workers run out of /dev/shm ("Unexpected bus error encountered in
/// worker"); the NGC banner's older advice was `--shm-size=1g` (docs/compatibility.md §9).
pub const SHM_MINIMUM: i64 = 1 << 30;

/// What /workspace is on the engine's machine, for the workspace link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workspace<'a> {
    /// A folder mounted at /workspace: the project folder on this machine, or
    /// `workspace.host_path` on a server (`server` names it). `access` is the folder's owner
    /// and mode bits, when they could be read.
    Folder {
        path: &'a str,
        server: Option<&'a str>,
        access: Option<(u32, u32, u32)>,
    },
    /// The project's volume on a server, which ptenv fills and gives to the container user:
    /// there is no folder whose owner could be wrong.
    Volume { server: &'a str },
}

/// /workspace as the container user (the one `up` would create) finds it: can it write there?
/// If not, Jupyter cannot save a notebook and training cannot write a checkpoint.
pub fn check_workspace(user: &User, workspace: &Workspace) -> Check {
    let (path, server, access) = match *workspace {
        Workspace::Volume { server } => {
            return Check::skip(
                id::WORKSPACE,
                format!(
                    "/workspace is the project's volume on {server}, not a folder: ptenv copies the project there and gives it to the container user `{}` ({}:{})",
                    user.name, user.uid, user.gid
                ),
            )
        }
        Workspace::Folder {
            path,
            server,
            access,
        } => (path, server, access),
    };
    let shown = match server {
        Some(server) => format!("{path} on {server}"),
        None => path.to_string(),
    };
    let Some((uid, gid, mode)) = access else {
        return Check::skip(id::WORKSPACE, format!("cannot read the owner of {shown}"));
    };
    let evidence = format!(
        "{shown}: owner {uid}:{gid}, mode {:o}; container user `{}` {}:{}",
        mode & 0o7777,
        user.name,
        user.uid,
        user.gid
    );
    if user.can_write((uid, gid), mode) {
        return Check::pass(
            id::WORKSPACE,
            format!("the container user `{}` can write /workspace", user.name),
        )
        .evidence(evidence);
    }
    let chown = format!("`sudo chown -R {}:{} {path}`", user.uid, user.gid);
    Check::warn(
        id::WORKSPACE,
        format!(
            "the container user `{}` (uid {}) cannot write /workspace: Jupyter cannot save, nothing can be written there",
            user.name, user.uid
        ),
    )
    .evidence(evidence)
    .fix(match server {
        // There the container runs as the user ptenv logs in as.
        Some(server) => format!(
            "log in to {server} as the folder's owner (uid {uid}), or give the folder to the container user there: {chown}"
        ),
        None => format!(
            "run ptenv as the folder's owner (uid {uid}), or give the folder to the container user: {chown}"
        ),
    })
}

/// What the engine says about one running container of the project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerShm {
    pub name: String,
    /// `HostConfig.ShmSize` in bytes; `None` or 0 means the engine's default of 64 MB.
    pub shm_size: Option<i64>,
    /// `HostConfig.IpcMode`: "private", "shareable", "host", "container:<id>".
    pub ipc_mode: Option<String>,
    /// The value of ptenv's memlock label: the cap the engine allowed when it refused
    /// `memlock=-1` and ptenv started the container without it.
    pub memlock_capped: Option<String>,
}

/// Docker's ShmSize when the field is omitted (Engine API, docs/compatibility.md §7).
pub(super) const DOCKER_DEFAULT_SHM: i64 = 64 * 1024 * 1024;

/// Link 8: /dev/shm of the project's running containers, and the memlock fallback.
pub fn check_shm(containers: &[ContainerShm]) -> Check {
    if containers.is_empty() {
        return Check::skip(
            id::SHM,
            "no running container of this project (`ptenv up` starts one; the image check above covers what it would run)",
        );
    }
    let mut evidence = Vec::new();
    let mut small = Vec::new();
    let mut capped = Vec::new();
    for c in containers {
        let ipc = c.ipc_mode.as_deref().unwrap_or("private");
        if ipc == "host" {
            evidence.push(format!(
                "{}: ipc host, /dev/shm is the host's (a shm size setting has no effect)",
                c.name
            ));
        } else if ipc.starts_with("container:") {
            evidence.push(format!(
                "{}: ipc {ipc}, /dev/shm is that container's",
                c.name
            ));
        } else {
            let size = c.shm_size.filter(|s| *s > 0).unwrap_or(DOCKER_DEFAULT_SHM);
            evidence.push(format!(
                "{}: ipc {ipc}, /dev/shm {}{}",
                c.name,
                crate::size::human(size as u64),
                if c.shm_size.filter(|s| *s > 0).is_none() {
                    " (Docker's default)"
                } else {
                    ""
                }
            ));
            if size < SHM_MINIMUM {
                small.push(c.name.clone());
            }
        }
        if let Some(cap) = &c.memlock_capped {
            evidence.push(format!(
                "{}: the engine refused memlock=-1; started with its limit ({cap})",
                c.name
            ));
            capped.push(c.name.clone());
        }
    }
    if !small.is_empty() {
        return Check::warn(
            id::SHM,
            format!(
                "{} {} less than 1 GiB of /dev/shm: DataLoader workers crash with \"Unexpected bus error encountered in worker\"",
                small.join(", "),
                if small.len() == 1 { "has" } else { "have" }
            ),
        )
        .evidence_all(evidence)
        .fix("set `shm_size: auto` (or e.g. `8g`) or `ipc: host` in ptenv.yaml and run `ptenv up` again, which recreates the container; or use `num_workers=0`");
    }
    if !capped.is_empty() {
        return Check::warn(
            id::SHM,
            format!(
                "{}: memlock is capped by the engine, so pinned host memory (pin_memory=True, NCCL) is limited",
                capped.join(", ")
            ),
        )
        .evidence_all(evidence)
        .fix("allow unlimited memlock for the daemon (`LimitMEMLOCK=infinity` in docker.service, or `\"default-ulimits\": {\"memlock\": {\"Name\": \"memlock\", \"Soft\": -1, \"Hard\": -1}}` in daemon.json), restart it, then `ptenv up` again");
    }
    Check::pass(
        id::SHM,
        "shared memory is large enough for DataLoader workers",
    )
    .evidence_all(evidence)
}

/// The probe, run with `python -c` in the image. It never raises: every question is asked in a
/// try block, and CUDA is forced to initialise, because `is_available()` returns False silently
/// when libcuda is missing (docs/compatibility.md §8) and only `torch.cuda.init()` says why.
/// The arch list comes from `_cuda_getArchFlags()` too, since `get_arch_list()` is empty
/// without a GPU.
pub const PROBE_SCRIPT: &str = r#"
import json, os, glob, sys, warnings, ctypes
r = {"dev_nvidia": sorted(glob.glob("/dev/nvidia*")),
     "env": {k: os.environ.get(k) for k in ("NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "CUDA_VISIBLE_DEVICES")}}
try:
    ctypes.CDLL("libcuda.so.1")
    r["libcuda"] = None
except OSError as e:
    r["libcuda"] = str(e)
try:
    import torch
except Exception as e:
    r["import_error"] = "%s: %s" % (type(e).__name__, e)
    print("PTENV-PROBE " + json.dumps(r)); sys.exit(0)
r["version"] = torch.__version__
r["cuda"] = torch.version.cuda
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    r["available"] = bool(torch.cuda.is_available())
    r["count"] = int(torch.cuda.device_count())
    r["arch_list"] = list(torch.cuda.get_arch_list())
    try:
        r["arch_flags"] = torch._C._cuda_getArchFlags()
    except Exception:
        r["arch_flags"] = None
    try:
        torch.cuda.init()
        r["devices"] = [{"name": torch.cuda.get_device_name(i), "cc": list(torch.cuda.get_device_capability(i))} for i in range(torch.cuda.device_count())]
        try:
            (torch.ones(1, device="cuda") + 1).item()
        except Exception as e:
            r["kernel_error"] = "%s: %s" % (type(e).__name__, e)
    except Exception as e:
        r["init_error"] = "%s: %s" % (type(e).__name__, e)
    r["warnings"] = [str(x.message) for x in w if "NumPy" not in str(x.message)]
print("PTENV-PROBE " + json.dumps(r))
"#;

/// The marker of the probe's one result line.
pub const PROBE_MARKER: &str = "PTENV-PROBE ";

/// What the probe printed.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct TorchView {
    pub version: Option<String>,
    pub cuda: Option<String>,
    pub available: bool,
    pub count: i64,
    pub arch_list: Vec<String>,
    pub arch_flags: Option<String>,
    pub devices: Vec<DeviceView>,
    pub init_error: Option<String>,
    pub kernel_error: Option<String>,
    pub warnings: Vec<String>,
    pub dev_nvidia: Vec<String>,
    /// `None`: libcuda.so.1 loads; else the loader's error.
    pub libcuda: Option<String>,
    pub import_error: Option<String>,
    pub env: std::collections::BTreeMap<String, Option<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct DeviceView {
    pub name: String,
    pub cc: Vec<u32>,
}

impl TorchView {
    /// The probe's result line out of the container's output (torch prints warnings around it).
    pub fn parse(output: &str) -> Option<TorchView> {
        output
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix(PROBE_MARKER))
            .and_then(|j| serde_json::from_str(j).ok())
    }

    /// `get_arch_list()`, else the compile flags it is read from.
    fn arch(&self) -> String {
        if self.arch_list.is_empty() {
            self.arch_flags.clone().unwrap_or_default()
        } else {
            self.arch_list.join(" ")
        }
    }
}

/// How the probe container was run and what came back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeRun {
    pub image: String,
    /// The GPU request, as a `docker run` flag ("--gpus all", "--device nvidia.com/gpu=all");
    /// `None` when started without GPUs.
    pub gpu_request: Option<String>,
    /// Why no GPU was requested, and the fix for that (the earlier link that broke).
    pub no_gpu_reason: Option<(String, Option<String>)>,
    /// The engine refused to create or start it.
    pub start_error: Option<String>,
    pub exit_code: Option<i64>,
    /// stdout and stderr together.
    pub output: String,
}

/// The first known error of docs/compatibility.md §8 in `text`, as "cause" and "fix".
fn diagnose(text: &str, host: &HostFacts, lookup: &dyn Lookup) -> Option<(String, String)> {
    explain::scan(text, &explain::Facts::host(host, lookup))
        .into_iter()
        .next()
        .map(|f| (format!("{}: {}", f.pattern.title, f.pattern.cause), f.fix))
}

/// Link 9: torch inside the image.
pub fn check_torch(run: &ProbeRun, host: &HostFacts, lookup: &dyn Lookup) -> Check {
    let started = match &run.gpu_request {
        Some(flag) => format!("started {} with {flag}", run.image),
        None => format!(
            "started {} without GPUs{}",
            run.image,
            run.no_gpu_reason
                .as_ref()
                .map(|(why, _)| format!(" ({why})"))
                .unwrap_or_default()
        ),
    };
    if let Some(err) = &run.start_error {
        let c = Check::fail(
            id::TORCH,
            format!("the probe container did not start: {err}"),
        )
        .evidence(format!("tried: {started}"));
        return match diagnose(err, host, lookup) {
            Some((cause, fix)) => c.evidence(cause).fix(fix),
            None => c.fix("read the engine's message above; `docker run --rm IMAGE python -c 'import torch'` reproduces it"),
        };
    }
    let Some(view) = TorchView::parse(&run.output) else {
        let tail: Vec<&str> = run.output.lines().rev().take(5).collect();
        return Check::fail(
            id::TORCH,
            format!(
                "the probe in {} printed no result (exit code {})",
                run.image,
                run.exit_code.map_or("unknown".into(), |c| c.to_string())
            ),
        )
        .evidence(started)
        .evidence_all(tail.into_iter().rev().map(|l| format!("output: {l}")))
        .fix("the image may have no `python` on PATH; pin an image with PyTorch installed");
    };
    let mut ev = vec![started];
    if let Some(e) = &view.import_error {
        return Check::fail(id::TORCH, format!("torch does not import in {}", run.image))
            .evidence_all(ev)
            .evidence(e.clone())
            .fix("use a pytorch/pytorch image, or install torch in the image");
    }
    ev.push(format!(
        "torch {}, built for CUDA {}",
        view.version.as_deref().unwrap_or("?"),
        view.cuda.as_deref().unwrap_or("none (a CPU-only build)")
    ));
    ev.push(format!(
        "torch.cuda.is_available(): {}, device_count(): {}",
        if view.available { "True" } else { "False" },
        view.count
    ));
    let arch = view.arch();
    ev.push(format!(
        "compiled for: {}",
        if arch.is_empty() {
            "nothing (no CUDA)"
        } else {
            &arch
        }
    ));
    for (i, d) in view.devices.iter().enumerate() {
        ev.push(format!(
            "device {i}: {} (compute capability {})",
            d.name,
            cc_text(&d.cc)
        ));
    }
    ev.push(match &view.init_error {
        Some(e) => format!("torch.cuda.init(): {e}"),
        None => "torch.cuda.init(): ok".into(),
    });
    if let Some(e) = &view.kernel_error {
        ev.push(format!("first kernel: {e}"));
    }
    for w in &view.warnings {
        ev.push(format!("warning: {}", w.lines().next().unwrap_or("")));
    }
    ev.push(if view.dev_nvidia.is_empty() {
        "/dev/nvidia*: none in the container".into()
    } else {
        format!("/dev/nvidia*: {}", view.dev_nvidia.join(" "))
    });
    ev.push(match &view.libcuda {
        None => "libcuda.so.1: loads".into(),
        Some(e) => format!("libcuda.so.1: does not load ({e})"),
    });
    for (k, v) in &view.env {
        if let Some(v) = v {
            ev.push(format!("{k}={v}"));
        }
    }
    let title = format!("torch {}", view.version.as_deref().unwrap_or(""));

    if view.cuda.is_none() {
        return Check::fail(id::TORCH, format!("{title} in {} is a CPU-only build", run.image))
            .evidence_all(ev)
            .fix("use a CUDA image (pytorch/pytorch:<version>-cuda<x.y>-cudnn9-runtime); on arm64 the official images are CPU-only");
    }
    if view.available {
        let (sass, ptx) = catalog::parse_arch_list(&arch);
        let uncovered: Vec<String> = view
            .devices
            .iter()
            .filter(|d| d.cc.len() == 2)
            .filter(|d| catalog::coverage(&sass, &ptx, (d.cc[0], d.cc[1])) == Coverage::None)
            .map(|d| format!("{} (sm_{}{})", d.name, d.cc[0], d.cc[1]))
            .collect();
        let problem = view.kernel_error.clone().or_else(|| {
            view.warnings
                .iter()
                .find(|w| diagnose(w, host, lookup).is_some())
                .cloned()
        });
        if !uncovered.is_empty() || problem.is_some() {
            let summary = if uncovered.is_empty() {
                format!("{title} sees the GPU but fails on it")
            } else {
                format!(
                    "architecture mismatch: {title} has no GPU code for {} (compiled for {arch})",
                    uncovered.join(", ")
                )
            };
            let c = Check::fail(id::TORCH, summary).evidence_all(ev);
            let text = problem.unwrap_or_else(|| {
                "no kernel image is available for execution on the device".into()
            });
            return match diagnose(&text, host, lookup) {
                Some((cause, fix)) => c.evidence(cause).fix(fix),
                None => c,
            };
        }
        return Check::pass(
            id::TORCH,
            format!(
                "{title} (CUDA {}) sees {} GPU{} and runs a kernel on it",
                view.cuda.as_deref().unwrap_or("?"),
                view.count,
                if view.count == 1 { "" } else { "s" }
            ),
        )
        .evidence_all(ev);
    }

    // is_available() is False: say why from what the container shows.
    let no_nodes = view.dev_nvidia.is_empty();
    let no_libcuda = view.libcuda.is_some();
    let missing = match (no_nodes, no_libcuda) {
        (true, true) => "no /dev/nvidia* and no libcuda.so.1 in the container",
        (true, false) => "no /dev/nvidia* in the container",
        (false, true) => "no libcuda.so.1 in the container",
        (false, false) => "the driver's devices and libcuda.so.1 are there",
    };
    if run.gpu_request.is_none() {
        let (why, fix) = run
            .no_gpu_reason
            .clone()
            .unwrap_or_else(|| ("no GPU was requested".into(), None));
        let c = Check::fail(
            id::TORCH,
            format!("{title} sees no GPU: the container was started without GPUs ({why}), so it has {missing}"),
        )
        .evidence_all(ev);
        return match fix {
            Some(f) => c.fix(f),
            None => c.fix("fix the first broken link above, then run `ptenv doctor` again"),
        };
    }
    let c = Check::fail(
        id::TORCH,
        format!("{title} sees no GPU although GPUs were requested: {missing}"),
    )
    .evidence_all(ev);
    if no_nodes {
        return c.fix("the NVIDIA runtime did not inject the devices: check NVIDIA_VISIBLE_DEVICES in the image (not `void`/`none`), `nvidia-ctk runtime configure --runtime=docker`, and `sudo systemctl restart docker`");
    }
    if no_libcuda {
        return c.fix("the driver libraries were not injected: NVIDIA_DRIVER_CAPABILITIES must include `compute` (the pytorch images set compute,utility); reinstall the NVIDIA Container Toolkit if it does");
    }
    match view.init_error.as_deref().and_then(|e| diagnose(e, host, lookup)) {
        Some((cause, fix)) => c.evidence(cause).fix(fix),
        None => c.fix("read the torch.cuda.init() error above; `ptenv doctor --explain` knows the common ones"),
    }
}

fn cc_text(cc: &[u32]) -> String {
    cc.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests;
