//! The pod every kind runs: the container (image, user, args, env, GPU limit, requests), its
//! volumes (the workspace, /dev/shm, the mode's files from a ConfigMap and a Secret) and the
//! pod's security context and scheduling. The kinds wrap it (`kinds.rs`).

use base64::Engine as _;
use serde_yaml::Value;

use super::{Workspace, GPU_RESOURCE};
use crate::export::{mode_files, split_env, strings, FileKind, Input, Map};
use crate::profile::{Mode, PullPolicy};
use crate::project::slug;

/// What differs between the kinds' pods.
pub struct PodInput<'a> {
    /// The container's args, already as the kubelet must read them (see [`literal`]).
    pub args: Vec<String>,
    /// `nvidia.com/gpu` of the pod.
    pub gpus: u32,
    /// The container's name (the training operator looks for `pytorch`).
    pub container: String,
    pub restart: &'static str,
    /// Ports beyond the profile's, e.g. the rendezvous port.
    pub extra_ports: Vec<(String, u16)>,
    pub workspace: &'a Workspace,
    /// The ConfigMap and the Secret the mode's files come from.
    pub files_name: &'a str,
    pub secrets_name: &'a str,
}

/// The pod spec, and the data of the ConfigMap and the Secret it mounts.
pub struct Pod {
    pub spec: Map,
    pub config_data: Map,
    pub secret_data: Map,
    pub warnings: Vec<String>,
    pub next: Vec<String>,
}

pub fn pod(input: &Input, p: &PodInput) -> Pod {
    let spec = input.spec;
    let profile = input.profile;
    let mut warnings = Vec::new();
    let mut next = Vec::new();

    // --- files of the mode ---------------------------------------------------------------
    let mut config_data = Map::new();
    let mut config_items = Vec::new();
    let mut secret_data = Map::new();
    let mut secret_items = Vec::new();
    let mut file_mounts = Vec::new();
    let run_as_user = spec.user.is_some();
    for m in mode_files(input.setup) {
        let f = m.file;
        match m.kind {
            FileKind::Config => {
                config_data =
                    config_data.set(&m.key, String::from_utf8_lossy(&f.contents).into_owned());
                config_items.push(item(&m.key, f.mode));
                file_mounts.push(sub_path_mount("files", &f.path, &m.key));
            }
            FileKind::Secret => {
                secret_data = secret_data.set(
                    &m.key,
                    base64::engine::general_purpose::STANDARD.encode(&f.contents),
                );
                // Secret files belong to root and the pod's fsGroup: a file the user must read
                // (the token, 0600 for the user under `ptenv up`) becomes group-readable.
                let mode = if f.uid != 0 && run_as_user && f.mode & 0o077 == 0 {
                    0o440
                } else {
                    f.mode
                };
                secret_items.push(item(&m.key, mode));
                file_mounts.push(sub_path_mount("secrets", &f.path, &m.key));
            }
        }
    }

    // --- the container ---------------------------------------------------------------------
    let mut env: Vec<Value> = spec
        .env
        .iter()
        .map(|e| {
            let (k, v) = split_env(e);
            env_var(k, &literal(v))
        })
        .collect();
    env.extend(
        profile
            .kubernetes
            .nccl_env()
            .iter()
            .map(|(k, v)| env_var(k, &literal(v))),
    );
    if p.gpus == 0
        && !spec
            .env
            .iter()
            .any(|e| e.starts_with("NVIDIA_VISIBLE_DEVICES="))
    {
        // The CUDA images set NVIDIA_VISIBLE_DEVICES=all: on a node whose default runtime is
        // NVIDIA's, a pod that asked for no GPU would see all of them (and share them with the
        // pods that did). `void` hands it none.
        env.push(env_var("NVIDIA_VISIBLE_DEVICES", "void"));
    }
    let mut ports: Vec<Value> = spec
        .ports
        .iter()
        .map(|p| container_port(&port_name(profile.mode, p.container), p.container))
        .collect();
    ports.extend(
        p.extra_ports
            .iter()
            .map(|(n, port)| container_port(n, *port)),
    );
    let cpu = profile
        .kubernetes
        .cpu
        .as_ref()
        .map(|c| c.0.clone())
        .unwrap_or_else(|| "1".into());
    let memory = match &profile.kubernetes.memory {
        Some(m) => Some(quantity(
            crate::size::parse_size(&m.0).expect("checked when the profile was resolved"),
        )),
        // /dev/shm is a tmpfs whose pages the pod's memory pays for: request at least that.
        None => spec.shm_size.map(quantity),
    };
    let requests = Map::new().set("cpu", cpu).opt("memory", memory);
    let mut resources = Map::new().set("requests", requests);
    if p.gpus > 0 {
        resources = resources.set("limits", Map::new().set(GPU_RESOURCE, u64::from(p.gpus)));
    }
    let mut mounts = vec![Value::from(
        Map::new()
            .set("name", "workspace")
            .set("mountPath", spec.workdir.as_str()),
    )];
    if spec.shm_size.is_some() {
        mounts.push(
            Map::new()
                .set("name", "dshm")
                .set("mountPath", "/dev/shm")
                .into(),
        );
    }
    mounts.extend(file_mounts);
    let container_security = if run_as_user {
        Some(Map::new().set("allowPrivilegeEscalation", false).set(
            "capabilities",
            Map::new().set("drop", strings(&["ALL".to_string()])),
        ))
    } else {
        None
    };
    // The Service sends traffic once the mode's server listens (Jupyter's first start builds
    // its caches for a while); the profile's own command may listen on nothing.
    let readiness = match (profile.command.is_some(), spec.ports.first()) {
        (false, Some(p)) => Some(
            Map::new()
                .set(
                    "tcpSocket",
                    Map::new().set("port", port_name(profile.mode, p.container)),
                )
                .set("periodSeconds", 5u64),
        ),
        _ => None,
    };
    let container = Map::new()
        .set("name", p.container.as_str())
        .set("image", spec.image.as_str())
        .set("imagePullPolicy", pull_policy(profile.pull))
        .set("args", strings(&p.args))
        .set("workingDir", spec.workdir.as_str())
        .list("env", env)
        .list("ports", ports)
        .opt("readinessProbe", readiness)
        .set("resources", resources)
        .opt("securityContext", container_security)
        .set("volumeMounts", Value::Sequence(mounts));

    // --- volumes ---------------------------------------------------------------------------
    let workspace = match p.workspace {
        Workspace::Claim(claim) => Map::new().set("name", "workspace").set(
            "persistentVolumeClaim",
            Map::new().set("claimName", claim.as_str()),
        ),
        Workspace::HostPath => {
            warnings.push(format!(
                "the workspace is the hostPath {}: it exists only on this machine, so the pod runs only on a single-node cluster here (kind, minikube, k3s); use a PersistentVolumeClaim (--pvc NAME) elsewhere",
                input.project.path.display()
            ));
            Map::new().set("name", "workspace").set(
                "hostPath",
                Map::new()
                    .set("path", input.project.path.display().to_string())
                    .set("type", "Directory"),
            )
        }
    };
    let mut volumes = vec![Value::from(workspace)];
    if let Some(bytes) = spec.shm_size {
        volumes.push(
            Map::new()
                .set("name", "dshm")
                .set(
                    "emptyDir",
                    Map::new()
                        .set("medium", "Memory")
                        .set("sizeLimit", quantity(bytes)),
                )
                .into(),
        );
    }
    if !config_items.is_empty() {
        volumes.push(
            Map::new()
                .set("name", "files")
                .set(
                    "configMap",
                    Map::new()
                        .set("name", p.files_name)
                        .set("items", Value::Sequence(config_items)),
                )
                .into(),
        );
    }
    if !secret_items.is_empty() {
        volumes.push(
            Map::new()
                .set("name", "secrets")
                .set(
                    "secret",
                    Map::new()
                        .set("secretName", p.secrets_name)
                        .set("items", Value::Sequence(secret_items)),
                )
                .into(),
        );
    }
    let extra_mounts: Vec<String> = spec.mounts.iter().skip(1).map(|m| m.to_string()).collect();
    if !extra_mounts.is_empty() {
        warnings.push(format!(
            "the profile's extra mounts ({}) are folders of this machine and are left out: add volumes for them to the manifest",
            extra_mounts.join(", ")
        ));
    }

    // --- the pod ---------------------------------------------------------------------------
    let pod_security = spec.user.as_deref().and_then(parse_ids).map(|(uid, gid)| {
        Map::new()
            .set("runAsUser", u64::from(uid))
            .set("runAsGroup", u64::from(gid))
            // A root container user (ptenv run as root in root's folder) is said as such.
            .set("runAsNonRoot", uid != 0)
            .set("fsGroup", u64::from(gid))
            // Without it the kubelet chowns the whole workspace at every start: minutes on a
            // claim full of data sets.
            .set("fsGroupChangePolicy", "OnRootMismatch")
    });
    if !run_as_user {
        warnings.push(format!(
            "the {} mode starts as root (sshd drops to the user for each session): clusters that enforce the `restricted` Pod Security Standard refuse it",
            profile.mode
        ));
    }
    if spec.ipc_host {
        warnings.push("`ipc: host` becomes `hostIPC: true`, which the `baseline` Pod Security Standard forbids: prefer `shm_size` for clusters".into());
    }
    if spec.ulimits.iter().any(|u| u.name == "memlock") {
        next.push("ulimits (memlock, stack) have no Kubernetes field: the nodes' container runtime sets them".into());
    }
    let node_selector = profile
        .kubernetes
        .node_selector
        .iter()
        .fold(Map::new(), |m, (k, v)| m.set(k, v.0.as_str()));
    let tolerations: Vec<Value> = profile
        .kubernetes
        .tolerations
        .iter()
        .map(|t| serde_yaml::to_value(t).expect("a toleration serializes"))
        .collect();
    let mut pod_spec = Map::new()
        .set("restartPolicy", p.restart)
        .opt("securityContext", pod_security);
    if !node_selector.is_empty() {
        pod_spec = pod_spec.set("nodeSelector", node_selector);
    }
    let pod_spec = pod_spec
        .list("tolerations", tolerations)
        .opt("hostIPC", spec.ipc_host.then_some(true))
        .set("containers", Value::Sequence(vec![container.into()]))
        .set("volumes", Value::Sequence(volumes));
    Pod {
        spec: pod_spec,
        config_data,
        secret_data,
        warnings,
        next,
    }
}

/// The container's name for the profile (the kinds that need another name say so).
pub fn container_name(profile_name: &str) -> String {
    slug(profile_name)
}

fn env_var(name: &str, value: &str) -> Value {
    Map::new().set("name", name).set("value", value).into()
}

fn container_port(name: &str, port: u16) -> Value {
    Map::new()
        .set("name", name)
        .set("containerPort", u64::from(port))
        .set("protocol", "TCP")
        .into()
}

fn item(key: &str, mode: u32) -> Value {
    Map::new()
        .set("key", key)
        .set("path", key)
        .set("mode", u64::from(mode))
        .into()
}

fn sub_path_mount(volume: &str, path: &str, key: &str) -> Value {
    Map::new()
        .set("name", volume)
        .set("mountPath", path)
        .set("subPath", key)
        .set("readOnly", true)
        .into()
}

fn pull_policy(p: PullPolicy) -> &'static str {
    match p {
        PullPolicy::Missing => "IfNotPresent",
        PullPolicy::Always => "Always",
        PullPolicy::Never => "Never",
    }
}

/// A port's name (at most 15 characters, as Services refer to it).
pub fn port_name(mode: Mode, port: u16) -> String {
    match (mode, port) {
        (Mode::Jupyter, crate::modes::jupyter::PORT) => "jupyter".into(),
        (Mode::Ssh, crate::modes::ssh::PORT) => "ssh".into(),
        _ => format!("tcp-{port}"),
    }
}

/// `1000:1000` → (1000, 1000).
fn parse_ids(user: &str) -> Option<(u32, u32)> {
    let (u, g) = user.split_once(':')?;
    Some((u.parse().ok()?, g.parse().ok()?))
}

/// Bytes as a Kubernetes quantity: `12Gi`, else whole MiB rounded up (`12053Mi`), so a
/// request or a limit is never below what the container gets from `ptenv up`.
pub fn quantity(bytes: u64) -> String {
    const GI: u64 = 1 << 30;
    const MI: u64 = 1 << 20;
    if bytes % GI == 0 {
        format!("{}Gi", bytes / GI)
    } else {
        format!("{}Mi", bytes.div_ceil(MI))
    }
}

/// A value the kubelet passes on as written. It expands `$(VAR)` in a container's args and
/// env values, and reads `$$` as one `$` (Kubernetes API reference, Container: "Double $$ are
/// reduced to a single $, which allows for escaping the $(VAR_NAME) syntax"): doubling every
/// `$` keeps `$(id)` or `costs $5` from a profile literal. ptenv's own values use expansion
/// only where they mean it (the training operator's `$(PET_MASTER_ADDR)`).
pub fn literal(value: &str) -> String {
    value.replace('$', "$$")
}
