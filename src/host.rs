//! The machine the environment runs on, as the commands see it: its NVIDIA driver and GPUs,
//! its RAM (for `shm_size: auto`), the home of the user ptenv acts for there (for mounts
//! written `~/data`), and the container user for a project folder there. Commands ask a
//! [`Machine`] instead of reading this computer directly, so that a machine reached over the
//! network is one more implementation, not a branch in every command. [`Local`] is this one.

use std::path::{Path, PathBuf};

use crate::gpu::HostFacts;
use crate::identity::User;

/// The machine that runs the engine, the GPUs and the project's containers.
pub trait Machine {
    /// Its NVIDIA driver and GPUs, or why they could not be read.
    fn gpu_facts(&self) -> HostFacts;
    /// Its RAM in bytes; 0 when unknown.
    fn ram(&self) -> u64;
    /// The home of the user ptenv acts for there.
    fn home(&self) -> PathBuf;
    /// The container user for the project folder `project` there: the user's own IDs, or for
    /// root the folder owner's (see [`User::choose`]).
    fn container_user(&self, project: &Path) -> User;
    /// The folder's owner and permission bits there, when it can be read.
    fn folder_access(&self, folder: &Path) -> Option<((u32, u32), u32)>;
    /// Where that is, for messages: "this machine", "ssh://me@gpu-box".
    fn describe(&self) -> String {
        "this machine".to_string()
    }
    /// Whether it is another machine than the one ptenv runs on.
    fn is_remote(&self) -> bool {
        false
    }
    /// What `ptenv doctor` reads there (files under `root` on this machine), with its GPU facts.
    fn doctor_host(&self, root: &Path) -> crate::doctor::host::HostReport {
        crate::doctor::host::gather(root, self.gpu_facts())
    }
    /// The ssh connection it is reached through, for ports forwarded from there to here.
    fn connection(&self) -> Option<std::sync::Arc<crate::transport::SshConnection>> {
        None
    }
}

/// This computer: the machine ptenv itself runs on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Local;

impl Machine for Local {
    fn gpu_facts(&self) -> HostFacts {
        crate::gpu::detect()
    }
    fn ram(&self) -> u64 {
        ram()
    }
    fn home(&self) -> PathBuf {
        home()
    }
    fn container_user(&self, project: &Path) -> User {
        use std::os::unix::fs::MetadataExt;
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        let owner = std::fs::metadata(project).ok().map(|m| (m.uid(), m.gid()));
        User::choose((uid, gid), owner)
    }
    fn folder_access(&self, folder: &Path) -> Option<((u32, u32), u32)> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(folder).ok()?;
        Some(((meta.uid(), meta.gid()), meta.mode()))
    }
}

/// A machine ptenv reaches only through its engine's API (a `tcp://` engine over TLS, with
/// no ssh): its files and its users are out of reach. Its GPUs are read by a short container
/// with every GPU running the NVIDIA toolkit's `nvidia-smi`, and unknown when that cannot run
/// (the user names them then); its RAM is the engine's `MemTotal`; containers run as root, as
/// `docker run` does there.
pub struct ApiOnly {
    /// The engine as users know it: `tcp://gpu-box:2376 (TLS)`.
    pub shown: String,
    ram: std::sync::OnceLock<u64>,
    facts: std::sync::OnceLock<HostFacts>,
}

impl ApiOnly {
    pub fn new(shown: String) -> ApiOnly {
        ApiOnly {
            shown,
            ram: std::sync::OnceLock::new(),
            facts: std::sync::OnceLock::new(),
        }
    }
}

impl Machine for ApiOnly {
    fn doctor_host(&self, _root: &Path) -> crate::doctor::host::HostReport {
        let why = "ptenv reaches that engine only through its Docker API, not its machine";
        let mut report = crate::doctor::host::without_agent(self.gpu_facts(), &self.shown, why);
        for c in &mut report.checks {
            c.place = Some(format!("{}, through its Docker API only", self.shown));
        }
        report
    }
    fn gpu_facts(&self) -> HostFacts {
        // A short container with every GPU, once per command (docs/gpus.md §7).
        self.facts
            .get_or_init(|| {
                crate::engine::block_on_anywhere(async {
                    match crate::engine::Engine::connect().await {
                        Ok(engine) => crate::gpu::probe_engine(&engine, &self.shown).await,
                        Err(e) => crate::gpu::probe::facts(
                            &self.shown,
                            None,
                            &crate::gpu::probe::Outcome::NotStarted(e.message),
                        ),
                    }
                })
            })
            .clone()
    }
    fn ram(&self) -> u64 {
        *self.ram.get_or_init(|| {
            crate::engine::block_on_anywhere(async {
                crate::engine::Engine::connect().await?.mem_total().await
            })
            .unwrap_or(0)
        })
    }
    fn home(&self) -> PathBuf {
        PathBuf::from("/root")
    }
    fn container_user(&self, _project: &Path) -> User {
        User::for_ids(0, 0)
    }
    fn folder_access(&self, _folder: &Path) -> Option<((u32, u32), u32)> {
        None
    }
    fn describe(&self) -> String {
        self.shown.clone()
    }
    fn is_remote(&self) -> bool {
        true
    }
}

/// The host user's home; `/` when `HOME` is unset.
pub fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// The host's RAM from /proc/meminfo (`MemTotal:       24576000 kB`); 0 when unknown, which
/// makes `shm_size: auto` Docker's 64 MiB floor.
pub fn ram() -> u64 {
    meminfo_total(Path::new("/proc/meminfo")).unwrap_or(0)
}

fn meminfo_total(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_meminfo(&text)
}

pub fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_gives_bytes() {
        assert_eq!(
            parse_meminfo("MemTotal:       24576000 kB\nMemFree:  1 kB\n"),
            Some(24576000 * 1024)
        );
        assert_eq!(parse_meminfo("nothing"), None);
    }
}
