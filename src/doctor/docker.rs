//! The Docker links: the daemon answers (and the user may use its socket), a GPU path into
//! containers exists (NVIDIA runtime or CDI), and the cgroup setup keeps the GPU in running
//! containers. The engine's answers arrive as plain structs ([`EngineInfo`]); the files
//! (socket, CDI specs, /dev) are read under a root folder like the host links.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{id, Check};

/// What ptenv learnt from the daemon, or why it could not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Daemon {
    Up {
        endpoint: String,
        /// "20.10.24+dfsg1"
        version: String,
        /// The negotiated API version, "1.41".
        api_version: String,
    },
    Down {
        endpoint: String,
        /// The error as the engine adapter worded it (first line).
        error: String,
    },
}

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

/// The user's access to a unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketFacts {
    pub path: PathBuf,
    pub exists: bool,
    /// Permission bits, e.g. 0o660.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// The group's name from /etc/group ("docker").
    pub group: Option<String>,
    /// access(2) says this process may read and write it.
    pub accessible: bool,
    pub euid: u32,
    /// The process is a member of the socket's group.
    pub in_group: bool,
}

/// The unix socket of an endpoint (`unix:///var/run/docker.sock`); `None` for tcp/ssh hosts.
pub fn socket_path(endpoint: &str) -> Option<PathBuf> {
    endpoint.strip_prefix("unix://").map(PathBuf::from)
}

/// Stat the socket and ask the kernel whether this process may use it.
pub fn read_socket(path: &Path, root: &Path) -> SocketFacts {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok();
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok();
    // SAFETY: access(2) only reads the NUL-terminated path.
    let accessible = c_path
        .as_ref()
        .is_some_and(|p| unsafe { libc::access(p.as_ptr(), libc::R_OK | libc::W_OK) } == 0);
    let gid = meta.as_ref().map_or(0, |m| m.gid());
    SocketFacts {
        path: path.to_path_buf(),
        exists: meta.is_some(),
        mode: meta.as_ref().map_or(0, |m| m.mode() & 0o7777),
        uid: meta.as_ref().map_or(0, |m| m.uid()),
        gid,
        group: std::fs::read_to_string(root.join("etc/group"))
            .ok()
            .and_then(|t| group_name(&t, gid)),
        accessible,
        // SAFETY: geteuid cannot fail.
        euid: unsafe { libc::geteuid() },
        in_group: process_groups().contains(&gid),
    }
}

/// The process's supplementary groups and its effective group.
fn process_groups() -> Vec<u32> {
    // SAFETY: getgroups(0, NULL) returns the count; the second call fills a buffer that big.
    unsafe {
        let n = libc::getgroups(0, std::ptr::null_mut());
        let mut groups = vec![0 as libc::gid_t; n.max(0) as usize];
        let n = libc::getgroups(n, groups.as_mut_ptr());
        groups.truncate(n.max(0) as usize);
        groups.push(libc::getegid());
        groups
    }
}

/// `/etc/group` lines: `docker:x:999:ana,bo`.
fn group_name(text: &str, gid: u32) -> Option<String> {
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        (f.next()?.parse::<u32>().ok()? == gid).then(|| name.to_string())
    })
}

/// "20.10.24+dfsg1" → (20, 10); "28.2.2" → (28, 2).
pub fn engine_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The Engine API version `DeviceRequests` (`--gpus`) appeared in: 1.40, Docker 19.03
/// (docs/compatibility.md §7, marked unverified there; it matches moby's API changelog).
const GPUS_API: (u32, u32) = (1, 40);

/// Link 4: the daemon answers, and the user may talk to it.
pub fn check_docker(daemon: &Daemon, socket: Option<&SocketFacts>) -> Check {
    match daemon {
        Daemon::Up {
            endpoint,
            version,
            api_version,
        } => {
            let c = Check::pass(
                id::DOCKER,
                format!("Docker Engine {version} answers at {endpoint} (API {api_version})"),
            );
            let c = match socket {
                Some(s) => c.evidence(describe_socket(s)),
                None => c,
            };
            if engine_version(api_version).is_some_and(|v| v < GPUS_API) {
                return Check {
                    status: super::Status::Fail,
                    summary: format!("Docker Engine {version} (API {api_version}) is too old for `--gpus` (API 1.40, Docker 19.03)"),
                    ..c
                }
                .fix("upgrade Docker Engine (https://docs.docker.com/engine/install/)");
            }
            c
        }
        Daemon::Down { endpoint, error } => {
            let c = Check::fail(
                id::DOCKER,
                format!("the Docker daemon does not answer at {endpoint}"),
            )
            .evidence(format!("error: {error}"));
            let Some(s) = socket else {
                return c.fix("check DOCKER_HOST and that the remote engine is up; unset DOCKER_HOST to use the local socket");
            };
            let c = c.evidence(describe_socket(s));
            if !s.exists {
                return c.fix(format!(
                    "start the daemon (`sudo systemctl start docker`) or install Docker Engine; if it runs elsewhere, point DOCKER_HOST at it (now {endpoint})"
                ));
            }
            if !s.accessible {
                let group = s.group.clone().unwrap_or_else(|| format!("gid {}", s.gid));
                let c = Check {
                    summary: format!(
                        "permission denied on the Docker socket {}",
                        s.path.display()
                    ),
                    ..c
                };
                return if s.in_group {
                    c.fix(format!("you are in group `{group}` but this shell started before you joined it: log out and in again (or `newgrp {group}`)"))
                } else {
                    c.fix(format!("join the socket's group: `sudo usermod -aG {group} $USER`, then log out and in again (or use rootless Docker)"))
                };
            }
            c.fix("the socket exists but nothing answers: restart the daemon (`sudo systemctl restart docker`) and read `journalctl -u docker`")
        }
    }
}

fn describe_socket(s: &SocketFacts) -> String {
    if !s.exists {
        return format!("socket {}: does not exist", s.path.display());
    }
    format!(
        "socket {}: mode {:o}, owner uid {}, group {}; this process (euid {}) {} it{}",
        s.path.display(),
        s.mode,
        s.uid,
        s.group.clone().unwrap_or_else(|| format!("gid {}", s.gid)),
        s.euid,
        if s.accessible {
            "may use"
        } else {
            "may not use"
        },
        if s.in_group {
            ", and is in its group"
        } else {
            ""
        }
    )
}

/// A CDI spec file and the device kind it declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdiSpec {
    pub path: PathBuf,
    pub kind: String,
}

/// The CDI spec folders (the CDI defaults; engines that report `CDISpecDirs` use these too).
pub const CDI_DIRS: [&str; 2] = ["etc/cdi", "var/run/cdi"];

/// Every `*.yaml`, `*.yml` and `*.json` spec under the CDI folders with its `kind`.
pub fn read_cdi_specs(root: &Path) -> Vec<CdiSpec> {
    let mut out = Vec::new();
    for dir in CDI_DIRS {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let ext = path.extension().and_then(|x| x.to_str()).unwrap_or("");
            if !matches!(ext, "yaml" | "yml" | "json") {
                continue;
            }
            if let Some(kind) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| cdi_kind(&t))
            {
                out.push(CdiSpec { path, kind });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

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

/// Everything the GPU-path link looks at.
#[derive(Debug, Clone, Default)]
pub struct GpuPathFacts {
    pub engine_version: String,
    pub info: EngineInfo,
    pub cdi_specs: Vec<CdiSpec>,
    /// `nvidia-container-runtime-hook` on this process's PATH: the toolkit is installed.
    pub hook: Option<PathBuf>,
}

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
        Some(h) => evidence.push(format!("nvidia-container-runtime-hook: {}", h.display())),
        None => evidence.push("nvidia-container-runtime-hook: not on PATH".into()),
    }
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
    let c = Check::fail(
        id::GPU_PATH,
        "no GPU path into containers: Docker has no NVIDIA runtime and there is no CDI spec for nvidia.com/gpu (the NVIDIA Container Toolkit is missing)",
    )
    .evidence_all(evidence);
    let c = match &f.hook {
        Some(h) => c.fix(format!(
            "the toolkit is installed ({}) but dockerd has not registered it: `sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker`",
            h.display()
        )),
        None => c.fix(TOOLKIT_FIX),
    };
    (c, GpuPath::None)
}

/// Find a program on PATH, as dockerd's `exec.LookPath` would.
pub fn which(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// A character device node of the NVIDIA driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevNode {
    /// "/dev/nvidia0"
    pub path: String,
    pub major: u32,
    pub minor: u32,
}

/// The `/dev/nvidia*` character devices (nvidia0, nvidiactl, nvidia-uvm, ...).
pub fn read_nvidia_nodes(root: &Path) -> Vec<DevNode> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(entries) = std::fs::read_dir(root.join("dev")) else {
        return Vec::new();
    };
    let mut out: Vec<DevNode> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("nvidia"))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            if !m.file_type().is_char_device() {
                return None;
            }
            let rdev = m.rdev();
            Some(DevNode {
                path: format!("/dev/{}", e.file_name().to_string_lossy()),
                major: libc::major(rdev),
                minor: libc::minor(rdev),
            })
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// `/dev/char/<major>:<minor>` symlinks and their targets.
pub fn read_char_links(root: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(root.join("dev/char")) else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let target = std::fs::read_link(e.path()).ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                target.to_string_lossy().into_owned(),
            ))
        })
        .collect()
}

/// Link 6 (a warning at most): with the systemd cgroup driver, `systemctl daemon-reload`
/// makes runc re-apply device rules from `/dev/char`; NVIDIA nodes without a symlink there are
/// dropped and running containers fail with `Failed to initialize NVML: Unknown Error`
/// (docs/compatibility.md §8).
pub fn check_cgroup(
    info: &EngineInfo,
    path: GpuPath,
    nodes: &[DevNode],
    links: &BTreeMap<String, String>,
) -> Check {
    let driver = info.cgroup_driver.as_deref().unwrap_or("unknown");
    let version = info.cgroup_version.as_deref().unwrap_or("?");
    let header = format!("cgroup driver {driver}, cgroup v{version}");
    if driver != "systemd" {
        return Check::pass(
            id::CGROUP,
            format!("cgroup driver {driver}: GPU access of running containers survives `systemctl daemon-reload`"),
        )
        .evidence(header);
    }
    if path == GpuPath::Cdi {
        return Check::pass(
            id::CGROUP,
            "systemd cgroup driver with CDI: device rules come from the CDI spec, not /dev/char",
        )
        .evidence(header);
    }
    if nodes.is_empty() {
        return Check::skip(
            id::CGROUP,
            "systemd cgroup driver, but no /dev/nvidia* device nodes to check",
        )
        .evidence(header);
    }
    let missing: Vec<&DevNode> = nodes
        .iter()
        .filter(|n| {
            let key = format!("{}:{}", n.major, n.minor);
            !links.get(&key).is_some_and(|t| {
                t.trim_start_matches("../").trim_start_matches("/dev/")
                    == n.path.trim_start_matches("/dev/")
            })
        })
        .collect();
    let evidence = nodes.iter().map(|n| {
        let key = format!("{}:{}", n.major, n.minor);
        format!(
            "{} ({key}): /dev/char/{key} {}",
            n.path,
            links
                .get(&key)
                .map_or("missing".to_string(), |t| format!("→ {t}"))
        )
    });
    if missing.is_empty() {
        return Check::pass(
            id::CGROUP,
            "systemd cgroup driver, and every NVIDIA device node has its /dev/char symlink",
        )
        .evidence(header)
        .evidence_all(evidence);
    }
    let names: Vec<&str> = missing.iter().map(|n| n.path.as_str()).collect();
    Check::warn(
        id::CGROUP,
        format!(
            "systemd cgroup driver without /dev/char symlinks for {}: running containers lose the GPU after `systemctl daemon-reload` (\"Failed to initialize NVML: Unknown Error\")",
            names.join(", ")
        ),
    )
    .evidence(header)
    .evidence_all(evidence)
    .fix("`sudo nvidia-ctk system create-dev-char-symlinks --create-all` plus NVIDIA's udev rule to keep them, or `\"exec-opts\": [\"native.cgroupdriver=cgroupfs\"]` in /etc/docker/daemon.json, or use CDI")
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    fn socket(exists: bool, accessible: bool, in_group: bool) -> SocketFacts {
        SocketFacts {
            path: "/var/run/docker.sock".into(),
            exists,
            mode: 0o660,
            uid: 0,
            gid: 999,
            group: Some("docker".into()),
            accessible,
            euid: 1000,
            in_group,
        }
    }

    fn down(error: &str) -> Daemon {
        Daemon::Down {
            endpoint: "unix:///var/run/docker.sock".into(),
            error: error.into(),
        }
    }

    #[test]
    fn an_answering_daemon_passes_with_its_version() {
        let up = Daemon::Up {
            endpoint: "unix:///var/run/docker.sock".into(),
            version: "20.10.24+dfsg1".into(),
            api_version: "1.41".into(),
        };
        let c = check_docker(&up, Some(&socket(true, true, true)));
        assert_eq!(c.status, Status::Pass);
        assert!(c.summary.contains("20.10.24+dfsg1") && c.summary.contains("1.41"));
        assert!(c.evidence[0].contains("mode 660"), "{c:?}");
        let old = Daemon::Up {
            endpoint: "tcp://h:2375".into(),
            version: "18.09.1".into(),
            api_version: "1.39".into(),
        };
        let c = check_docker(&old, None);
        assert_eq!(c.status, Status::Fail);
        assert!(c.summary.contains("--gpus"));
    }

    #[test]
    fn a_silent_daemon_is_told_apart_from_a_forbidden_socket() {
        let c = check_docker(
            &down("the socket does not exist"),
            Some(&socket(false, false, false)),
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.unwrap().contains("systemctl start docker"));
        let c = check_docker(
            &down("permission denied"),
            Some(&socket(true, false, false)),
        );
        assert!(c.summary.contains("permission denied"), "{c:?}");
        assert!(c.fix.unwrap().contains("usermod -aG docker"));
        let c = check_docker(&down("permission denied"), Some(&socket(true, false, true)));
        assert!(c.fix.unwrap().contains("log out and in"));
        let c = check_docker(&down("connection refused"), Some(&socket(true, true, true)));
        assert!(c.fix.unwrap().contains("restart"));
        let c = check_docker(&down("timeout"), None);
        assert!(c.fix.unwrap().contains("DOCKER_HOST"));
    }

    #[test]
    fn socket_facts_come_from_the_file_and_etc_group() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\ndocker:x:999:ana\n",
        )
        .unwrap();
        assert_eq!(
            group_name("root:x:0:\ndocker:x:999:ana\n", 999).as_deref(),
            Some("docker")
        );
        let s = read_socket(&dir.path().join("missing.sock"), dir.path());
        assert!(!s.exists && !s.accessible);
        let f = dir.path().join("plain");
        std::fs::write(&f, "").unwrap();
        let s = read_socket(&f, dir.path());
        assert!(s.exists && s.accessible);
        assert_eq!(
            socket_path("unix:///run/docker.sock"),
            Some(PathBuf::from("/run/docker.sock"))
        );
        assert_eq!(socket_path("tcp://1.2.3.4:2375"), None);
    }

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
        let mut f = facts("20.10.24", &["runc"]);
        f.hook = Some("/usr/bin/nvidia-container-runtime-hook".into());
        let (c, _) = check_gpu_path(&f);
        assert!(c.fix.unwrap().contains("has not registered it"));
        let (c, p) = check_gpu_path(&facts("24.0.7", &["nvidia", "runc"]));
        assert_eq!((c.status, p), (Status::Pass, GpuPath::Runtime));
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

    #[test]
    fn cdi_specs_are_read_from_their_folders() {
        assert_eq!(
            cdi_kind("---\ncdiVersion: 0.5.0\nkind: nvidia.com/gpu\n").as_deref(),
            Some("nvidia.com/gpu")
        );
        assert_eq!(
            cdi_kind("{\"cdiVersion\":\"0.6.0\",\n  \"kind\": \"nvidia.com/gpu\",\n}").as_deref(),
            Some("nvidia.com/gpu")
        );
        assert_eq!(cdi_kind("devices: []"), None);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/run/cdi")).unwrap();
        std::fs::write(
            dir.path().join("var/run/cdi/nvidia.yaml"),
            "kind: nvidia.com/gpu\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("var/run/cdi/notes.txt"), "kind: x\n").unwrap();
        let specs = read_cdi_specs(dir.path());
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].kind, "nvidia.com/gpu");
    }

    #[test]
    fn engine_versions_parse() {
        assert_eq!(engine_version("20.10.24+dfsg1"), Some((20, 10)));
        assert_eq!(engine_version("28.2.2"), Some((28, 2)));
        assert_eq!(engine_version("1.41"), Some((1, 41)));
        assert_eq!(engine_version("dev"), None);
    }

    fn info(driver: &str) -> EngineInfo {
        EngineInfo {
            cgroup_driver: Some(driver.into()),
            cgroup_version: Some("2".into()),
            ..EngineInfo::default()
        }
    }

    #[test]
    fn systemd_without_dev_char_symlinks_warns() {
        let nodes = vec![
            DevNode {
                path: "/dev/nvidia0".into(),
                major: 195,
                minor: 0,
            },
            DevNode {
                path: "/dev/nvidiactl".into(),
                major: 195,
                minor: 255,
            },
        ];
        let mut links = BTreeMap::new();
        links.insert("195:0".to_string(), "../nvidia0".to_string());
        let c = check_cgroup(&info("systemd"), GpuPath::Runtime, &nodes, &links);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(
            c.summary.contains("/dev/nvidiactl") && !c.summary.contains("nvidia0,"),
            "{c:?}"
        );
        assert!(c.fix.unwrap().contains("create-dev-char-symlinks"));
        links.insert("195:255".to_string(), "../nvidiactl".to_string());
        assert_eq!(
            check_cgroup(&info("systemd"), GpuPath::Runtime, &nodes, &links).status,
            Status::Pass
        );
        assert_eq!(
            check_cgroup(
                &info("cgroupfs"),
                GpuPath::Runtime,
                &nodes,
                &BTreeMap::new()
            )
            .status,
            Status::Pass
        );
        assert_eq!(
            check_cgroup(&info("systemd"), GpuPath::Cdi, &nodes, &BTreeMap::new()).status,
            Status::Pass
        );
        assert_eq!(
            check_cgroup(&info("systemd"), GpuPath::Runtime, &[], &links).status,
            Status::Skip
        );
    }

    #[test]
    fn dev_char_links_and_nodes_are_read_from_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dev/char")).unwrap();
        std::os::unix::fs::symlink("../nvidia0", dir.path().join("dev/char/195:0")).unwrap();
        // A regular file named like a device node is not one.
        std::fs::write(dir.path().join("dev/nvidia0"), "").unwrap();
        assert!(read_nvidia_nodes(dir.path()).is_empty());
        assert_eq!(
            read_char_links(dir.path()).get("195:0").map(String::as_str),
            Some("../nvidia0")
        );
        // /dev/null is a real character device (1:3) on every Linux host.
        let nodes = read_nvidia_nodes(Path::new("/"));
        assert!(nodes.iter().all(|n| n.path.starts_with("/dev/nvidia")));
    }
}
