//! The container ptenv creates, decided from the resolved profile, the image choice, the
//! project, the container user, the mode's setup and the host's RAM: a [`Spec`] in ptenv's own
//! types, and the Engine API body `POST /containers/create` receives ([`Spec::create_body`]).
//!
//! Pure: no engine, no environment. Each field is mapped the way docker's CLI maps the flag an
//! expert would type (`--gpus`, `--shm-size`, `--ipc`, `--ulimit`, `--mount`, `-p`, `-e`, `--init`,
//! `-w`, `--user`); `tests/parity.rs` checks that against `docker create` on the real engine.
//! Reference: `docs/compatibility.md` §7.

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
        let csv = |field: String| {
            if field.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", field.replace('"', "\"\""))
            } else {
                field
            }
        };
        let mut fields = vec![
            "type=bind".to_string(),
            csv(format!("source={}", self.source)),
            csv(format!("target={}", self.target)),
        ];
        if self.readonly {
            fields.push("readonly".into());
        }
        fields.join(",")
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
    let mut env: BTreeMap<String, String> = p.env.clone();
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
    let mut mounts = vec![BindMount {
        source: input.project.path.display().to_string(),
        target: p.workdir.clone(),
        readonly: false,
    }];
    for m in &p.mounts {
        mounts.push(BindMount {
            source: mount_source(&m.source, &input.project.path, input.home)
                .display()
                .to_string(),
            target: m.target.clone(),
            readonly: m.readonly,
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
    let mut spec = Spec {
        name: input.project.container_name(&p.name),
        image: input.image.to_string(),
        cmd,
        user: (!input.setup.run_as_root).then(|| format!("{}:{}", input.user.uid, input.user.gid)),
        env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        workdir: p.workdir.clone(),
        labels,
        mounts,
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

impl Spec {
    /// Replace the host ports (after `up` found free ones) and the label that records them.
    pub fn set_host_ports(&mut self, hosts: &[u16]) {
        for (port, host) in self.ports.iter_mut().zip(hosts) {
            port.host = *host;
        }
        self.set_ports_label();
    }

    fn set_ports_label(&mut self) {
        self.labels
            .insert(LABEL_PORTS.to_string(), ports_label(&self.ports));
    }

    /// The same container without the memlock limit the engine refused, recording the cap in a
    /// label. The config hash stays, so the next `up` reuses this container.
    pub fn without_memlock(&self, engine_limit: &str) -> Spec {
        let mut spec = self.clone();
        spec.ulimits.retain(|u| u.name != "memlock");
        spec.labels
            .insert(LABEL_MEMLOCK.to_string(), engine_limit.to_string());
        spec
    }

    /// The config hash recorded in the labels.
    pub fn config_hash(&self) -> &str {
        self.labels
            .get(LABEL_CONFIG)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The `POST /containers/create` body, Engine API field names and value types (ports are
    /// strings, sizes are bytes), exactly what the engine receives.
    pub fn create_body(&self) -> Value {
        let mut config = serde_json::Map::new();
        config.insert("Image".into(), json!(self.image));
        config.insert("Cmd".into(), json!(self.cmd));
        if let Some(user) = &self.user {
            config.insert("User".into(), json!(user));
        }
        config.insert("Env".into(), json!(self.env));
        config.insert("WorkingDir".into(), json!(self.workdir));
        config.insert("Labels".into(), json!(self.labels));
        let mut host = serde_json::Map::new();
        // As docker's CLI sends `--mount`: `ReadOnly` only when set.
        let mounts: Vec<Value> = self
            .mounts
            .iter()
            .map(|m| {
                let mut v = json!({ "Type": "bind", "Source": m.source, "Target": m.target });
                if m.readonly {
                    v["ReadOnly"] = json!(true);
                }
                v
            })
            .collect();
        host.insert("Mounts".into(), json!(mounts));
        // docker's CLI always sends PortBindings, `{}` without `-p` (found by tests/parity).
        let mut bindings = serde_json::Map::new();
        if !self.ports.is_empty() {
            let mut exposed = serde_json::Map::new();
            for p in &self.ports {
                let key = format!("{}/tcp", p.container);
                exposed.insert(key.clone(), json!({}));
                bindings.insert(
                    key,
                    json!([{ "HostIp": p.bind, "HostPort": p.host.to_string() }]),
                );
            }
            config.insert("ExposedPorts".into(), Value::Object(exposed));
        }
        host.insert("PortBindings".into(), Value::Object(bindings));
        // docker/cli opts/gpus.go: `all` is Count -1; devices fill DeviceIDs with Count 0; the
        // capabilities default to [["gpu"]] and Options to an empty map.
        match &self.gpus {
            None => {}
            Some(GpuRequest::All) => {
                host.insert(
                    "DeviceRequests".into(),
                    json!([{ "Driver": "", "Count": -1, "Capabilities": [["gpu"]], "Options": {} }]),
                );
            }
            Some(GpuRequest::Count(n)) => {
                host.insert(
                    "DeviceRequests".into(),
                    json!([{ "Driver": "", "Count": n, "Capabilities": [["gpu"]], "Options": {} }]),
                );
            }
            Some(GpuRequest::Devices(ids)) => {
                host.insert(
                    "DeviceRequests".into(),
                    json!([{ "Driver": "", "Count": 0, "DeviceIDs": ids, "Capabilities": [["gpu"]], "Options": {} }]),
                );
            }
        }
        if let Some(bytes) = self.shm_size {
            host.insert("ShmSize".into(), json!(bytes));
        }
        if self.ipc_host {
            host.insert("IpcMode".into(), json!("host"));
        }
        if !self.ulimits.is_empty() {
            host.insert(
                "Ulimits".into(),
                json!(self
                    .ulimits
                    .iter()
                    .map(|u| json!({ "Name": u.name, "Soft": u.soft, "Hard": u.hard }))
                    .collect::<Vec<_>>()),
            );
        }
        host.insert("Init".into(), json!(self.init));
        config.insert("HostConfig".into(), Value::Object(host));
        Value::Object(config)
    }

    /// The `docker run` line an expert would type for this container (shown with `-v`),
    /// quoted so that pasting it into a shell runs exactly this container.
    pub fn docker_run_line(&self) -> String {
        crate::shell::join(&self.docker_run_args())
    }

    /// The words of [`Spec::docker_run_line`].
    fn docker_run_args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec!["docker", "run", "-d", "--name"]
            .into_iter()
            .map(String::from)
            .collect();
        args.push(self.name.clone());
        let mut flag = |name: &str, value: String| {
            args.push(name.to_string());
            args.push(value);
        };
        match &self.gpus {
            Some(GpuRequest::All) => flag("--gpus", "all".into()),
            Some(GpuRequest::Count(n)) => flag("--gpus", n.to_string()),
            // docker reads `--gpus` as CSV: the quotes keep the list's commas in one field.
            Some(GpuRequest::Devices(d)) => flag("--gpus", format!("\"device={}\"", d.join(","))),
            None => {}
        }
        if self.ipc_host {
            flag("--ipc", "host".into());
        }
        if let Some(b) = self.shm_size {
            flag("--shm-size", b.to_string());
        }
        for u in &self.ulimits {
            flag("--ulimit", format!("{}={}:{}", u.name, u.soft, u.hard));
        }
        for p in &self.ports {
            flag(
                "-p",
                format!(
                    "{}:{}:{}",
                    crate::address::port_spec_host(&p.bind),
                    p.host,
                    p.container
                ),
            );
        }
        for m in &self.mounts {
            flag("--mount", m.mount_flag());
        }
        for e in &self.env {
            flag("-e", e.clone());
        }
        if let Some(u) = &self.user {
            flag("--user", u.clone());
        }
        args.push("--init".into());
        args.extend(["-w".to_string(), self.workdir.clone(), self.image.clone()]);
        args.extend(self.cmd.iter().cloned());
        args
    }
}

/// `127.0.0.1:8889->8888/tcp,…`, as `docker ps` shows ports.
pub fn ports_label(ports: &[PublishedPort]) -> String {
    ports
        .iter()
        .map(|p| format!("{}:{}->{}/tcp", p.bind, p.host, p.container))
        .collect::<Vec<_>>()
        .join(",")
}

/// The host ports recorded in a ports label, by container port.
pub fn parse_ports_label(text: &str) -> Vec<PublishedPort> {
    text.split(',')
        .filter_map(|item| {
            // "127.0.0.1:8889->8888/tcp"
            let (host_side, container) = item.split_once("->")?;
            let container = container.trim_end_matches("/tcp").parse().ok()?;
            let (bind, host) = host_side.rsplit_once(':')?;
            Some(PublishedPort {
                container,
                host: host.parse().ok()?,
                bind: bind.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Layer, Sources};

    fn profile(mode: &str, yaml: &str) -> Profile {
        let layer = crate::profile::parse(yaml, Path::new("ptenv.yaml")).unwrap();
        let sources = Sources {
            files: vec![crate::profile::Source {
                origin: crate::profile::Origin::Project(PathBuf::from("ptenv.yaml")),
                layer,
            }],
        };
        sources.resolve(mode, &Layer::default()).unwrap()
    }

    fn spec_for(p: &Profile, gpu: bool, setup: &Setup) -> Spec {
        spec_on(p, gpu, false, setup)
    }

    fn spec_on(p: &Profile, gpu: bool, nvidia_default_runtime: bool, setup: &Setup) -> Spec {
        let project = Project::new(Path::new("/home/ana/proj"));
        let user = User::for_ids(1234, 1300);
        plan(&Input {
            profile: p,
            project: &project,
            image: "ptenv/x:1",
            base_image: "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime",
            gpus: GpuRequest::from_profile(&p.gpus, gpu),
            nvidia_default_runtime,
            host_ram: 24 << 30,
            user: &user,
            setup,
            home: Path::new("/home/ana"),
        })
    }

    #[test]
    fn the_reference_docker_run_line_maps_field_for_field() {
        // docker run --gpus all --ipc host --ulimit memlock=-1 --ulimit stack=67108864
        //   -p 127.0.0.1:8888:8888 -v $PWD:/workspace IMAGE   (docs/compatibility.md §7)
        let p = profile("jupyter", "ipc: host\n");
        let spec = spec_for(&p, true, &Setup::default());
        let body = spec.create_body();
        let host = &body["HostConfig"];
        assert_eq!(
            host["DeviceRequests"],
            json!([{"Driver": "", "Count": -1, "Capabilities": [["gpu"]], "Options": {}}])
        );
        assert_eq!(host["IpcMode"], "host");
        assert!(
            host.get("ShmSize").is_none(),
            "never both ShmSize and host IPC"
        );
        assert_eq!(
            host["Ulimits"],
            json!([{"Name": "memlock", "Soft": -1, "Hard": -1},
                   {"Name": "stack", "Soft": 67108864, "Hard": 67108864}])
        );
        assert_eq!(
            host["PortBindings"],
            json!({"8888/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8888"}]})
        );
        assert_eq!(body["ExposedPorts"], json!({"8888/tcp": {}}));
        assert_eq!(
            host["Mounts"],
            json!([{"Type": "bind", "Source": "/home/ana/proj", "Target": "/workspace"}])
        );
        assert!(host.get("Binds").is_none());
        assert_eq!(host["Init"], true);
        assert_eq!(body["WorkingDir"], "/workspace");
        assert_eq!(body["User"], "1234:1300");
        assert_eq!(body["Image"], "ptenv/x:1");
    }

    #[test]
    fn shm_auto_is_half_the_ram_and_sizes_are_bytes() {
        let spec = spec_for(&profile("shell", ""), false, &Setup::default());
        assert_eq!(spec.shm_size, Some(12 << 30));
        assert!(!spec.ipc_host);
        assert_eq!(spec.create_body()["HostConfig"]["PortBindings"], json!({}));
        assert!(spec.create_body().get("ExposedPorts").is_none());
        let spec = spec_for(
            &profile("shell", "shm_size: 8g\n"),
            false,
            &Setup::default(),
        );
        assert_eq!(
            spec.create_body()["HostConfig"]["ShmSize"],
            json!(8589934592u64)
        );
        assert!(spec.create_body()["HostConfig"].get("IpcMode").is_none());
        assert_eq!(auto_shm(100 << 20), 64 << 20);
    }

    #[test]
    fn gpus_follow_the_profile_and_the_selection() {
        let p = profile("shell", "gpus: [0, 1]\n");
        let body = spec_for(&p, true, &Setup::default()).create_body();
        assert_eq!(
            body["HostConfig"]["DeviceRequests"],
            json!([{"Driver": "", "Count": 0, "DeviceIDs": ["0", "1"], "Capabilities": [["gpu"]], "Options": {}}])
        );
        assert_eq!(body["Labels"][LABEL_GPUS], "0,1");
        // The selection found no usable GPU: no request, whatever the profile says.
        let spec = spec_for(&p, false, &Setup::default());
        assert!(spec.create_body()["HostConfig"]
            .get("DeviceRequests")
            .is_none());
        assert_eq!(spec.labels[LABEL_GPUS], "none");
        let spec = spec_for(&profile("shell", "gpus: none\n"), true, &Setup::default());
        assert_eq!(spec.gpus, None);
        assert!(!spec
            .env
            .iter()
            .any(|e| e.starts_with("NVIDIA_VISIBLE_DEVICES")));
    }

    #[test]
    fn no_gpus_is_void_where_the_default_runtime_is_nvidia() {
        let none = profile("shell", "gpus: none\n");
        let spec = spec_on(&none, true, true, &Setup::default());
        assert!(spec
            .env
            .contains(&"NVIDIA_VISIBLE_DEVICES=void".to_string()));
        // With a GPU request the toolkit sets the devices; nothing is added.
        let spec = spec_on(
            &profile("shell", "gpus: all\n"),
            true,
            true,
            &Setup::default(),
        );
        assert!(!spec
            .env
            .iter()
            .any(|e| e.starts_with("NVIDIA_VISIBLE_DEVICES")));
        // A value the profile sets stays.
        let own = profile("shell", "gpus: none\nenv: {NVIDIA_VISIBLE_DEVICES: none}\n");
        let spec = spec_on(&own, true, true, &Setup::default());
        assert!(spec
            .env
            .contains(&"NVIDIA_VISIBLE_DEVICES=none".to_string()));
    }

    #[test]
    fn a_count_reaches_docker_as_a_count() {
        let spec = Spec {
            gpus: Some(GpuRequest::Count(2)),
            ..spec_for(&profile("shell", ""), true, &Setup::default())
        };
        assert_eq!(
            spec.create_body()["HostConfig"]["DeviceRequests"],
            json!([{"Driver": "", "Count": 2, "Capabilities": [["gpu"]], "Options": {}}])
        );
        assert!(
            spec.docker_run_line().contains("--gpus 2"),
            "{}",
            spec.docker_run_line()
        );
        assert_eq!(GpuRequest::label(spec.gpus.as_ref()), "count:2");
    }

    #[test]
    fn mounts_env_ports_and_command() {
        let p = profile(
            "jupyter",
            "mounts: ['~/data:/data:ro', './cache/../out:/out']\nenv: {A: '1'}\nports: ['0.0.0.0:6006:6006']\n",
        );
        let setup = Setup {
            env: vec![(
                "JUPYTER_TOKEN_FILE".into(),
                "/etc/ptenv/jupyter/token".into(),
            )],
            command: Some(vec!["jupyter".into(), "lab".into()]),
            ..Setup::default()
        };
        let spec = spec_for(&p, false, &setup);
        let mounts: Vec<String> = spec.mounts.iter().map(|m| m.to_string()).collect();
        assert_eq!(
            mounts,
            vec![
                "/home/ana/proj:/workspace",
                "/home/ana/data:/data:ro",
                "/home/ana/proj/out:/out"
            ]
        );
        assert_eq!(
            spec.create_body()["HostConfig"]["Mounts"][1],
            json!({"Type": "bind", "Source": "/home/ana/data", "Target": "/data", "ReadOnly": true})
        );
        assert_eq!(
            spec.env,
            vec!["A=1", "JUPYTER_TOKEN_FILE=/etc/ptenv/jupyter/token"]
        );
        assert_eq!(spec.cmd, vec!["jupyter", "lab"]);
        assert_eq!(
            spec.labels[LABEL_PORTS],
            "127.0.0.1:8888->8888/tcp,0.0.0.0:6006->6006/tcp"
        );
        let body = spec.create_body();
        assert_eq!(
            body["HostConfig"]["PortBindings"]["6006/tcp"],
            json!([{"HostIp": "0.0.0.0", "HostPort": "6006"}])
        );
    }

    #[test]
    fn a_mode_without_a_command_keeps_the_container_alive_and_root_modes_have_no_user() {
        let setup = Setup {
            run_as_root: true,
            ..Setup::default()
        };
        let spec = spec_for(&profile("shell", ""), false, &setup);
        assert_eq!(spec.cmd, KEEP_ALIVE.to_vec());
        assert_eq!(spec.user, None);
        assert!(spec.create_body().get("User").is_none());
        let spec = spec_for(&profile("shell", "command: make train\n"), false, &setup);
        assert_eq!(
            spec.cmd,
            vec![
                "/bin/sh",
                crate::modes::ENTRY_SCRIPT,
                "/bin/sh",
                "-c",
                "make train"
            ]
        );
        // A mode that runs the profile's command itself (ssh) keeps its own command.
        let runs_it = Setup {
            command: Some(vec!["/bin/sh".into(), "start.sh".into(), "make".into()]),
            runs_profile_command: true,
            ..setup
        };
        let spec = spec_for(&profile("ssh", "command: make\n"), false, &runs_it);
        assert_eq!(spec.cmd, vec!["/bin/sh", "start.sh", "make"]);
    }

    #[test]
    fn the_config_hash_ignores_moved_ports_and_memlock_caps_but_sees_changes() {
        let p = profile("jupyter", "");
        let spec = spec_for(&p, false, &Setup::default());
        let mut moved = spec.clone();
        moved.set_host_ports(&[8890]);
        assert_eq!(moved.config_hash(), spec.config_hash());
        assert_eq!(moved.labels[LABEL_PORTS], "127.0.0.1:8890->8888/tcp");
        assert_eq!(
            moved.create_body()["HostConfig"]["PortBindings"]["8888/tcp"][0]["HostPort"],
            "8890"
        );
        let capped = spec.without_memlock("8388608");
        assert_eq!(capped.config_hash(), spec.config_hash());
        assert!(capped.ulimits.iter().all(|u| u.name != "memlock"));
        assert_eq!(capped.labels[LABEL_MEMLOCK], "8388608");

        let other = spec_for(
            &profile("jupyter", "shm_size: 2g\n"),
            false,
            &Setup::default(),
        );
        assert_ne!(other.config_hash(), spec.config_hash());
        let with_file = spec_for(
            &p,
            false,
            &Setup {
                files: vec![ContainerFile {
                    path: "/etc/ptenv/jupyter/token".into(),
                    contents: b"new".to_vec(),
                    mode: 0o600,
                    uid: 1,
                    gid: 1,
                }],
                ..Setup::default()
            },
        );
        assert_ne!(with_file.config_hash(), spec.config_hash());
        assert_eq!(spec.config_hash().len(), 16);
    }

    #[test]
    fn ports_label_round_trips() {
        let ports = vec![
            PublishedPort {
                container: 8888,
                host: 8890,
                bind: "127.0.0.1".into(),
            },
            PublishedPort {
                container: 22,
                host: 2222,
                bind: "::1".into(),
            },
        ];
        assert_eq!(parse_ports_label(&ports_label(&ports)), ports);
        assert!(parse_ports_label("").is_empty());
    }

    /// The words a POSIX shell makes of `line` when `docker run` is replaced by a program
    /// that prints its arguments.
    fn shell_argv(line: &str) -> Vec<String> {
        let rest = line.strip_prefix("docker run ").expect(line);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\0' {rest}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{line}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        text.split_terminator('\0').map(String::from).collect()
    }

    #[test]
    fn the_docker_run_line_pastes_into_a_shell_as_the_spec() {
        let odd = "it's \"a b\" $HOME `id` \\ x\ny";
        let yaml = format!(
            "profiles:\n  t:\n    mode: shell\n    env: {{ODD: {odd:?}}}\n    command: [echo, {odd:?}, '']\n    mounts: [{{source: '/data/a b,\"c\"', target: /in, readonly: true}}]\n"
        );
        let p = profile("t", &yaml);
        let spec = spec_for(&p, false, &Setup::default());
        let argv = shell_argv(&spec.docker_run_line());
        let after = |flag: &str| -> Vec<&str> {
            argv.windows(2)
                .filter(|w| w[0] == flag)
                .map(|w| w[1].as_str())
                .collect()
        };
        assert_eq!(after("-e"), vec![format!("ODD={odd}")], "{argv:?}");
        assert_eq!(after("--name"), vec![spec.name.as_str()]);
        // docker reads `--mount` as CSV: the field with `,` and `"` is quoted for it.
        assert_eq!(
            after("--mount"),
            vec![
                "type=bind,source=/home/ana/proj,target=/workspace",
                "type=bind,\"source=/data/a b,\"\"c\"\"\",target=/in,readonly"
            ]
        );
        let tail: Vec<String> = std::iter::once(spec.image.clone())
            .chain(spec.cmd.iter().cloned())
            .collect();
        assert_eq!(argv[argv.len() - tail.len()..], tail[..], "{argv:?}");

        // An IPv6 bind is bracketed, as `docker run -p` needs it.
        let p = profile(
            "t",
            "profiles:\n  t:\n    mode: shell\n    bind: '::1'\n    ports: [8080]\n",
        );
        let argv = shell_argv(&spec_for(&p, false, &Setup::default()).docker_run_line());
        assert!(argv.iter().any(|a| a == "[::1]:8080:8080"), "{argv:?}");
    }

    #[test]
    fn names_and_labels() {
        let spec = spec_for(&profile("shell", ""), false, &Setup::default());
        let project = Project::new(Path::new("/home/ana/proj"));
        assert_eq!(spec.name, project.container_name("shell"));
        assert_eq!(spec.labels[LABEL_PROJECT], "/home/ana/proj");
        assert_eq!(spec.labels[LABEL_MODE], "shell");
        assert_eq!(spec.labels[LABEL_PROFILE], "shell");
        assert_eq!(
            spec.labels[LABEL_BASE_IMAGE],
            "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"
        );
        assert!(spec.docker_run_line().contains("--ulimit memlock=-1:-1"));
    }
}
