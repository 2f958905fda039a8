//! The container ptenv creates, decided from the resolved profile, the image choice, the
//! project, the container user, the mode's setup and the host's RAM: a [`Spec`] in ptenv's own
//! types, and the Engine API body `POST /containers/create` receives ([`Spec::create_body`]).
//!
//! Pure: no engine, no environment. Each field is mapped the way docker's CLI maps the flag an
//! expert would type (`--gpus`, `--shm-size`, `--ipc`, `--ulimit`, `--mount`, `-p`, `-e`, `--init`,
//! `-w`, `--user`); `tests/parity.rs` checks that against `docker create` on the real engine.
//! Reference: `docs/compatibility.md` §7.

mod body;
mod ports_label;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::identity::User;
use crate::modes::{ContainerFile, Setup};
use crate::profile::{Gpus, Ipc, Profile, ShmSize};
use crate::project::{
    hex, Project, LABEL_BASE_IMAGE, LABEL_CONFIG, LABEL_MODE, LABEL_PORTS, LABEL_PROFILE,
    LABEL_PROJECT,
};

pub use ports_label::*;

/// Which GPUs the container asked for (`all`, `0,1`, `none`), for `ptenv ls`.
pub const LABEL_GPUS: &str = "dev.ptenv.gpus";
/// Set when the engine refused `memlock=-1` and ptenv started the container at the engine's
/// own limit instead; its value is the limit that applies. `ptenv doctor` explains it.
pub const LABEL_MEMLOCK: &str = "dev.ptenv.memlock-capped";

/// A container with nothing of its own to run stays up for `exec`, `shell` and `ssh`.
/// `--init` makes tini PID 1, so it reaps the processes those leave behind.
pub const KEEP_ALIVE: [&str; 2] = ["sleep", "infinity"];

/// Everything the plan is made from.
pub struct Input<'a> {
    pub profile: &'a Profile,
    pub project: &'a Project,
    /// The image the container runs (the derived image).
    pub image: &'a str,
    /// The image it was derived from, for the label and `ptenv ls`.
    pub base_image: &'a str,
    /// The GPUs the choice decided to request (`None`: none, also on a host without a
    /// driver); a count is already devices when `up` allocated it (docs/gpus.md §5).
    pub gpus: Option<GpuRequest>,
    /// The engine's default runtime is `nvidia`: a container without a GPU request would still
    /// get every GPU from the image's `NVIDIA_VISIBLE_DEVICES=all` (docs/gpus.md §2).
    pub nvidia_default_runtime: bool,
    /// The host's RAM in bytes, for `shm_size: auto`.
    pub host_ram: u64,
    pub user: &'a User,
    pub setup: &'a Setup,
    /// The host user's home, for mounts written `~/data:/data`.
    pub home: &'a Path,
    /// What is mounted at the workdir.
    pub workspace: Workspace<'a>,
}

/// What the container gets as its workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workspace<'a> {
    /// The project folder itself (the engine runs on this machine).
    Project,
    /// The named volume that holds the project's files on an engine that cannot see the
    /// project folder (a server).
    Volume(&'a str),
    /// A folder that already exists on the server (`workspace: {host_path: …}`).
    ServerFolder(&'a str),
}

/// `--gpus all`, `--gpus N` or `--gpus device=0,1` (docs/gpus.md §1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuRequest {
    All,
    /// N GPUs, the machine to pick them: only in exports for another machine (`up` turns a
    /// count into the devices it allocated).
    Count(u32),
    Devices(Vec<String>),
}

/// As the profile spells the request (`all`, `2`, `device=0,1`), for messages about it.
impl std::fmt::Display for GpuRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GpuRequest::All => f.write_str("all"),
            GpuRequest::Count(n) => write!(f, "{n}"),
            GpuRequest::Devices(d) => write!(f, "device={}", d.join(",")),
        }
    }
}

impl GpuRequest {
    /// What the profile's `gpus:` asks of Docker, when the choice uses GPUs at all.
    pub fn from_profile(gpus: &Gpus, use_gpus: bool) -> Option<GpuRequest> {
        match (gpus, use_gpus) {
            (_, false) | (Gpus::None, _) => None,
            (Gpus::All, true) => Some(GpuRequest::All),
            (Gpus::Count(n), true) => Some(GpuRequest::Count(*n)),
            (Gpus::Devices(d), true) => Some(GpuRequest::Devices(d.clone())),
        }
    }

    /// The value of the devices label: `all`, `0,1`, or `count:N` (an export's count).
    pub fn label(request: Option<&GpuRequest>) -> String {
        match request {
            None => "none".to_string(),
            Some(GpuRequest::All) => "all".to_string(),
            Some(GpuRequest::Count(n)) => format!("count:{n}"),
            Some(GpuRequest::Devices(d)) => d.join(","),
        }
    }
}

/// `-p bind:host:container`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedPort {
    pub container: u16,
    /// The host port asked for; `ptenv up` moves it to the next free one when it is taken.
    pub host: u16,
    pub bind: String,
}

/// `--mount type=bind,source=…,target=…[,readonly]`: the Engine API's `Mounts` field, which
/// takes the paths as they are (`-v`'s `source:target` string cannot hold a path with `:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BindMount {
    pub source: String,
    pub target: String,
    pub readonly: bool,
    /// `type=volume`: `source` names a volume of the engine, not a path.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub volume: bool,
}

impl std::fmt::Display for BindMount {
    /// `source:target[:ro]`, as ptenv.yaml writes a mount.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ro = if self.readonly { ":ro" } else { "" };
        write!(f, "{}:{}{ro}", self.source, self.target)
    }
}

impl BindMount {
    /// The value of `--mount`, which docker reads as one CSV record: a field holding a `,`
    /// or a `"` is put in double quotes.
    pub fn mount_flag(&self) -> String {
        let csv = csv_field;
        let kind = if self.volume { "volume" } else { "bind" };
        let mut fields = vec![
            format!("type={kind}"),
            csv(format!("source={}", self.source)),
            csv(format!("target={}", self.target)),
        ];
        if self.readonly {
            fields.push("readonly".into());
        }
        fields.join(",")
    }
}

/// `--mount type=volume,source=…,target=…,volume-label=…`: a named volume the engine keeps (the
/// project's home, see `home`). A new, empty volume is filled with what the image has at the
/// target. The labels go with the mount, so a volume the engine makes from it (a pasted
/// `docker run` line) is labelled as the one `up` makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedVolume {
    pub name: String,
    pub target: String,
    pub labels: BTreeMap<String, String>,
}

impl NamedVolume {
    /// The value of `--mount`, one CSV record as docker reads it.
    pub fn mount_flag(&self) -> String {
        let mut fields = vec![
            "type=volume".to_string(),
            csv_field(format!("source={}", self.name)),
            csv_field(format!("target={}", self.target)),
        ];
        for (k, v) in &self.labels {
            fields.push(csv_field(format!("volume-label={k}={v}")));
        }
        fields.join(",")
    }
}

/// A field of docker's `--mount` CSV: in double quotes when it holds a `,` or a `"`.
fn csv_field(field: String) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field
    }
}

/// `--ulimit name=soft:hard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ulimit {
    pub name: &'static str,
    pub soft: i64,
    pub hard: i64,
}

/// The container, in ptenv's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Spec {
    pub name: String,
    pub image: String,
    pub cmd: Vec<String>,
    /// `uid:gid`, or `None` to run as the image's user (root) when the mode needs it (sshd).
    pub user: Option<String>,
    /// `KEY=VALUE`, sorted by key.
    pub env: Vec<String>,
    pub workdir: String,
    pub labels: BTreeMap<String, String>,
    /// The project folder first, then the profile's mounts.
    pub mounts: Vec<BindMount>,
    /// Named volumes: the project's home.
    pub volumes: Vec<NamedVolume>,
    pub ports: Vec<PublishedPort>,
    pub gpus: Option<GpuRequest>,
    /// Bytes of /dev/shm; `None` with `ipc_host` (the host's /dev/shm is used, a size would be
    /// ignored by the engine).
    pub shm_size: Option<u64>,
    pub ipc_host: bool,
    pub ulimits: Vec<Ulimit>,
    pub init: bool,
}

/// Decide the container. The config-hash label covers everything the user can change (profile,
/// image, setup files) but not the host ports `up` picks later, so a moved port does not make the
/// next `up` recreate the container.
pub fn plan(input: &Input) -> Spec {
    let p = input.profile;
    // What makes run-time installs work and last (see `home`); the profile may change it.
    let mut env: BTreeMap<String, String> = crate::home::ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.extend(p.env.clone());
    // The mode's variables are what makes the mode work (e.g. where Jupyter's token file is):
    // they win over the profile's.
    for (k, v) in &input.setup.env {
        env.insert(k.clone(), v.clone());
    }
    // The profile's own command goes through ptenv's entry script as the modes' commands do:
    // it saves the environment for login shells (`ptenv shell`, ssh sessions, Jupyter's
    // terminals), which would otherwise lose e.g. /opt/conda/bin from PATH.
    let cmd = p
        .command
        .clone()
        .filter(|_| !input.setup.runs_profile_command)
        .map(crate::modes::entry_command)
        .or_else(|| input.setup.command.clone())
        .unwrap_or_else(|| KEEP_ALIVE.map(String::from).to_vec());
    // The idle watcher runs beside whatever became the command (its file is the mode's).
    let cmd = match p.idle_stop {
        Some(limit) => crate::idle::watched(cmd, limit),
        None => cmd,
    };
    let (source, volume) = match input.workspace {
        Workspace::Volume(name) => (name.to_string(), true),
        Workspace::ServerFolder(path) => (path.to_string(), false),
        Workspace::Project => (input.project.path.display().to_string(), false),
    };
    let mut mounts = vec![BindMount {
        source,
        target: p.workdir.clone(),
        readonly: false,
        volume,
    }];
    for m in &p.mounts {
        mounts.push(BindMount {
            source: mount_source(&m.source, &input.project.path, input.home)
                .display()
                .to_string(),
            target: m.target.clone(),
            readonly: m.readonly,
            volume: false,
        });
    }
    let ports = p
        .ports
        .iter()
        .map(|port| PublishedPort {
            container: port.container,
            host: port.host.unwrap_or(port.container),
            bind: port.bind.clone().unwrap_or_else(|| p.bind.clone()),
        })
        .collect();
    let gpus = input.gpus.clone();
    if gpus.is_none() && input.nvidia_default_runtime {
        // `void`: no GPU and nothing of the driver, as runc (docs/gpus.md §2).
        // A value the profile sets on purpose stays.
        env.entry("NVIDIA_VISIBLE_DEVICES".into())
            .or_insert_with(|| "void".into());
    }
    let (shm_size, ipc_host) = match (p.ipc, p.shm_size) {
        (Ipc::Host, _) => (None, true),
        (Ipc::Private, Some(ShmSize::Bytes(b))) => (Some(b), false),
        (Ipc::Private, Some(ShmSize::Auto) | None) => (Some(auto_shm(input.host_ram)), false),
    };
    let ulimits = p
        .ulimits
        .iter()
        .filter_map(|(name, u)| {
            let name = crate::profile::ULIMIT_NAMES
                .iter()
                .find(|n| **n == name.as_str())?;
            Some(Ulimit {
                name,
                soft: u.soft,
                hard: u.hard,
            })
        })
        .collect();
    let mut labels = BTreeMap::new();
    labels.insert(
        LABEL_PROJECT.to_string(),
        input.project.path.display().to_string(),
    );
    labels.insert(LABEL_MODE.to_string(), p.mode.to_string());
    labels.insert(LABEL_PROFILE.to_string(), p.name.clone());
    labels.insert(LABEL_BASE_IMAGE.to_string(), input.base_image.to_string());
    labels.insert(LABEL_GPUS.to_string(), GpuRequest::label(gpus.as_ref()));
    if let Some(limit) = p.idle_stop {
        // `ptenv ls` reads the output of a stopped container only when it had a watcher.
        labels.insert(crate::idle::LABEL.to_string(), limit.to_string());
    }
    let mut spec = Spec {
        name: input.project.container_name(&p.name),
        image: input.image.to_string(),
        cmd,
        user: (!input.setup.run_as_root).then(|| format!("{}:{}", input.user.uid, input.user.gid)),
        env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        workdir: p.workdir.clone(),
        labels,
        mounts,
        volumes: vec![crate::home::volume(input.project, input.user)],
        ports,
        gpus,
        shm_size,
        ipc_host,
        ulimits,
        init: true,
    };
    spec.set_ports_label();
    let hash = config_hash(&spec.create_body(), &input.setup.files);
    spec.labels.insert(LABEL_CONFIG.to_string(), hash);
    spec
}

/// `shm_size: auto`: half of the host's RAM, as the NGC images suggest for DataLoader workers;
/// /dev/shm is a tmpfs, so only what is written uses memory. At least Docker's 64 MiB.
pub fn auto_shm(host_ram: u64) -> u64 {
    (host_ram / 2).max(64 << 20)
}

/// A mount's host path: `~` is the user's home, a relative path is relative to the project.
/// The Engine API needs absolute paths (docker's CLI resolves `./` the same way).
pub fn mount_source(source: &str, project: &Path, home: &Path) -> PathBuf {
    let joined = if source == "~" {
        home.to_path_buf()
    } else if let Some(rest) = source.strip_prefix("~/") {
        home.join(rest)
    } else {
        project.join(source)
    };
    // Lexically drop `.` and resolve `..`, without touching the file system.
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// sha256 of the create body and the files copied in (their contents hashed, not stored).
fn config_hash(body: &Value, files: &[ContainerFile]) -> String {
    let mut h = Sha256::new();
    h.update(body.to_string().as_bytes());
    for f in files {
        h.update(
            format!(
                "\n{} {:o} {}:{} {}",
                f.path,
                f.mode,
                f.uid,
                f.gid,
                hex(&Sha256::digest(&f.contents))
            )
            .as_bytes(),
        );
    }
    hex(&h.finalize())[..16].to_string()
}
