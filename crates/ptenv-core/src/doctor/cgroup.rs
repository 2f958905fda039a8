//! Link 6 of the chain (a warning at most), the cgroup setup: whether running containers keep
//! the GPU when systemd re-applies device rules. The device nodes and their `/dev/char` links
//! are read by `doctor::docker_host`.

use std::collections::BTreeMap;

use super::gpu_path::{EngineInfo, GpuPath};
use super::{id, Check};

/// A character device node of the NVIDIA driver.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DevNode {
    /// "/dev/nvidia0"
    pub path: String,
    pub major: u32,
    pub minor: u32,
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
}
