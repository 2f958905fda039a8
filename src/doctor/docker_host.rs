//! What the Docker links read on this machine, under a root folder (`PTENV_SYSROOT` for the
//! files, like the host links): the socket's owner and the process's access to it, the CDI
//! specs, the toolkit's hook on PATH, the NVIDIA device nodes and their `/dev/char` links.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::cgroup::DevNode;
use super::daemon::{group_name, SocketFacts};
use super::gpu_path::{cdi_kind, CdiSpec, CDI_DIRS};

/// Stat the socket and ask the kernel whether this process may use it.
pub fn read_socket(path: &Path, root: &Path) -> SocketFacts {
    use rustix::fs::Access;
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok();
    let accessible = rustix::fs::access(path, Access::READ_OK | Access::WRITE_OK).is_ok();
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
        euid: rustix::process::geteuid().as_raw(),
        in_group: process_groups().contains(&gid),
    }
}

/// The process's supplementary groups and its effective group.
fn process_groups() -> Vec<u32> {
    let mut groups: Vec<u32> = rustix::process::getgroups()
        .unwrap_or_default()
        .into_iter()
        .map(|g| g.as_raw())
        .collect();
    groups.push(rustix::process::getegid().as_raw());
    groups
}

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
                major: rustix::fs::major(rdev),
                minor: rustix::fs::minor(rdev),
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

#[cfg(test)]
mod tests {
    use super::super::daemon::socket_path;
    use super::*;

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
