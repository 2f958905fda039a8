//! Kubernetes manifests for the container `ptenv up` creates, as a Kubernetes engineer writes
//! them by hand: a ConfigMap with the mode's scripts (sshd's), a Service for its ports, the workload
//! (Pod, Job or Deployment) and, in a file of its own, a Secret with the token or the keys.
//!
//! The mapping of `docker run`'s flags: `--gpus` → the `nvidia.com/gpu` limit of the NVIDIA
//! device plugin; `--shm-size` → an `emptyDir` with `medium: Memory` and a `sizeLimit` on
//! /dev/shm (the kubelet gives pods Docker's 64 MiB otherwise); `--ipc host` → `hostIPC`;
//! `-v project:/workspace` → a PersistentVolumeClaim (or a hostPath); `--user` →
//! `securityContext`; files copied in → ConfigMap and Secret items mounted with `subPath`
//! (the entry script and the environment file it writes are in the derived image);
//! `-p` → a ClusterIP Service (`kubectl port-forward` binds 127.0.0.1, as `ptenv up` does).
//! Ulimits have no Kubernetes field: the node's container runtime decides them.

use base64::Engine as _;
use serde_yaml::Value;

use crate::modes::entry_command;

use super::{
    bundle_dir, comment_lines, document, mode_files, secrets_gitignore, split_env, strings,
    FileKind, Input, Map, OutFile, Rendered,
};
use crate::error::{Error, Result};
use crate::plan::GpuRequest;
use crate::profile::{Mode, PullPolicy};
use crate::project::slug;

/// The Kubernetes object that runs the environment (`ptenv export k8s --kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum K8sKind {
    Pod,
    Job,
    Deployment,
}

/// The extended resource of NVIDIA's device plugin.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// Where the workspace comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workspace {
    /// A PersistentVolumeClaim of this name (the default: works on every cluster).
    Claim(String),
    /// The project folder of this machine (single-node clusters only).
    HostPath,
}

/// What the user chose on the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--kind`; `None`: a Job when the profile trains with torchrun, else a Pod.
    pub kind: Option<K8sKind>,
    /// `--gpu-count`.
    pub gpu_count: Option<u32>,
    pub workspace: Workspace,
    /// The name of the file the Secret is written to, in the `secrets/` folder of the
    /// profile's bundle beside the manifests (whose `.gitignore` keeps it out of git); `None`
    /// when the manifests are printed (the Secret is then left out and described).
    pub secret_file: Option<String>,
}

/// The objects' common name: `ptenv-<project>-<profile>`, cut to fit Kubernetes' 63-character
/// labels with room for `-files` and `-secrets`.
pub fn base_name(input: &Input) -> String {
    let full = format!("ptenv-{}-{}", input.project.id, slug(&input.profile.name));
    let cut: String = full.chars().take(54).collect();
    cut.trim_end_matches('-').to_string()
}

/// The default claim name: `<project>-workspace`.
pub fn default_claim(input: &Input) -> String {
    let cut: String = input.project.id.chars().take(50).collect();
    format!("{}-workspace", cut.trim_end_matches('-'))
}

pub fn render(input: &Input, opts: &Options) -> Result<Rendered> {
    let spec = input.spec;
    let profile = input.profile;
    let bundle = bundle_dir(&profile.name);
    let secret_path = opts
        .secret_file
        .as_ref()
        .map(|f| format!("{bundle}/secrets/{f}"));
    let name = base_name(input);
    let nproc = profile.kubernetes.nproc_per_node;
    let kind = opts.kind.unwrap_or(if nproc.is_some() {
        K8sKind::Job
    } else {
        K8sKind::Pod
    });
    let mut warnings = Vec::new();
    let mut next = Vec::new();

    // A Job runs to completion: only the profile's own command does (the modes' servers never
    // end), and torchrun needs a program to start.
    let own_command = profile.command.is_some();
    if (kind == K8sKind::Job || nproc.is_some()) && !own_command {
        let why = if nproc.is_some() {
            "`kubernetes.nproc_per_node` runs the profile's `command` under torchrun"
        } else {
            "a Job runs the profile's `command` to completion"
        };
        return Err(Error::usage(format!(
            "{why}, and the profile `{}` has none (its mode's {} would never finish)",
            profile.name, profile.mode
        ))
        .hint("add e.g. `command: [python, train.py]` to the profile in ptenv.yaml")
        .hint("or export the interactive environment with `--kind pod` or `--kind deployment`"));
    }
    let args = match nproc {
        // torchrun starts the profile's own command (every mode's container command wraps
        // it: the entry script, or sshd's start script beside it).
        Some(n) => entry_command(torchrun(
            n,
            profile.command.as_deref().expect("checked above"),
        )),
        None => spec.cmd.clone(),
    };

    let gpus = opts.gpu_count.or(nproc).unwrap_or(match &spec.gpus {
        None => 0,
        Some(GpuRequest::All) => 1,
        Some(GpuRequest::Devices(d)) => d.len() as u32,
    });
    if let (Some(n), Some(count)) = (nproc, opts.gpu_count) {
        if count < n {
            warnings.push(format!(
                "torchrun starts {n} processes (`kubernetes.nproc_per_node`) on {count} GPU(s) (`--gpu-count`): processes will share GPUs"
            ));
        }
    }
    if matches!(spec.gpus, Some(GpuRequest::All)) && opts.gpu_count.is_none() && nproc.is_none() {
        next.push(format!(
            "`gpus: all` became 1 GPU per pod (`{GPU_RESOURCE}: 1`); ask for more with --gpu-count N"
        ));
    }
    if let (Some(GpuRequest::Devices(ids)), None, None) = (&spec.gpus, opts.gpu_count, nproc) {
        // Kubernetes counts GPUs; the device plugin picks which. ptenv's `--gpus 2` names the
        // GPU with index 2, i.e. one GPU, where `docker run --gpus 2` would ask for two.
        if let [one] = ids.as_slice() {
            if one.parse::<u32>().is_ok_and(|n| n > 1) {
                warnings.push(format!(
                    "`gpus: [{one}]` names GPU {one}, so the pod asks for 1 GPU; for {one} GPUs use --gpu-count {one}"
                ));
            }
        }
        next.push(format!(
            "`gpus: {}` became {} GPU(s) per pod: Kubernetes counts GPUs and its device plugin picks which",
            ids.join(","),
            ids.len()
        ));
    }

    let labels = Map::new()
        .set("app.kubernetes.io/name", slug(&profile.name))
        .set("app.kubernetes.io/instance", name.as_str())
        .set("app.kubernetes.io/managed-by", "ptenv");
    let metadata = |object: &str| Map::new().set("name", object).set("labels", labels.clone());

    // --- files of the mode ---------------------------------------------------------------
    let files_name = format!("{name}-files");
    let secrets_name = format!("{name}-secrets");
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
            Map::new().set("name", k).set("value", literal(v)).into()
        })
        .collect();
    if gpus == 0
        && !spec
            .env
            .iter()
            .any(|e| e.starts_with("NVIDIA_VISIBLE_DEVICES="))
    {
        // The CUDA images set NVIDIA_VISIBLE_DEVICES=all: on a node whose default runtime is
        // NVIDIA's, a pod that asked for no GPU would see all of them (and share them with the
        // pods that did). `void` hands it none.
        env.push(
            Map::new()
                .set("name", "NVIDIA_VISIBLE_DEVICES")
                .set("value", "void")
                .into(),
        );
    }
    let ports: Vec<Value> = spec
        .ports
        .iter()
        .map(|p| {
            Map::new()
                .set("name", port_name(profile.mode, p.container))
                .set("containerPort", u64::from(p.container))
                .set("protocol", "TCP")
                .into()
        })
        .collect();
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
    if gpus > 0 {
        resources = resources.set("limits", Map::new().set(GPU_RESOURCE, u64::from(gpus)));
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
        .set("name", slug(&profile.name))
        .set("image", spec.image.as_str())
        .set("imagePullPolicy", pull_policy(profile.pull))
        .set(
            "args",
            strings(&args.iter().map(|a| literal(a)).collect::<Vec<_>>()),
        )
        .set("workingDir", spec.workdir.as_str())
        .list("env", env)
        .list("ports", ports)
        .opt("readinessProbe", readiness)
        .set("resources", resources)
        .opt("securityContext", container_security)
        .set("volumeMounts", Value::Sequence(mounts));

    // --- volumes ---------------------------------------------------------------------------
    let workspace = match &opts.workspace {
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
    let has_secrets = !secret_items.is_empty();
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
                        .set("name", files_name.as_str())
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
                        .set("secretName", secrets_name.as_str())
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
    let restart = match kind {
        K8sKind::Job => "Never",
        K8sKind::Pod | K8sKind::Deployment => "Always",
    };
    let mut pod_spec = Map::new()
        .set("restartPolicy", restart)
        .opt("securityContext", pod_security);
    if !node_selector.is_empty() {
        pod_spec = pod_spec.set("nodeSelector", node_selector);
    }
    let pod_spec = pod_spec
        .list("tolerations", tolerations)
        .opt("hostIPC", spec.ipc_host.then_some(true))
        .set("containers", Value::Sequence(vec![container.into()]))
        .set("volumes", Value::Sequence(volumes));

    let workload: Value = match kind {
        K8sKind::Pod => Map::new()
            .set("apiVersion", "v1")
            .set("kind", "Pod")
            .set("metadata", metadata(&name))
            .set("spec", pod_spec)
            .into(),
        K8sKind::Job => Map::new()
            .set("apiVersion", "batch/v1")
            .set("kind", "Job")
            .set("metadata", metadata(&name))
            .set(
                "spec",
                Map::new()
                    // A failed training run is looked at, not blindly restarted.
                    .set("backoffLimit", 0u64)
                    .set(
                        "template",
                        Map::new()
                            .set("metadata", Map::new().set("labels", labels.clone()))
                            .set("spec", pod_spec),
                    ),
            )
            .into(),
        K8sKind::Deployment => Map::new()
            .set("apiVersion", "apps/v1")
            .set("kind", "Deployment")
            .set("metadata", metadata(&name))
            .set(
                "spec",
                Map::new()
                    .set("replicas", 1u64)
                    // One pod at a time: the GPUs and a ReadWriteOnce workspace cannot be
                    // shared by the old and the new pod during a rolling update.
                    .set("strategy", Map::new().set("type", "Recreate"))
                    .set(
                        "selector",
                        Map::new().set(
                            "matchLabels",
                            Map::new().set("app.kubernetes.io/instance", name.as_str()),
                        ),
                    )
                    .set(
                        "template",
                        Map::new()
                            .set("metadata", Map::new().set("labels", labels.clone()))
                            .set("spec", pod_spec),
                    ),
            )
            .into(),
    };

    // --- the documents -----------------------------------------------------------------------
    let mut docs = Vec::new();
    let mut header = vec![
        format!(
            "Written by `ptenv export k8s` from the profile `{}` of {}:",
            profile.name,
            input.project.path.display()
        ),
        format!(
            "the container `ptenv up {}` creates, as a {}.",
            profile.name,
            kind_name(kind)
        ),
        String::new(),
        format!("image: {}", spec.image),
    ];
    if spec.image.starts_with("ptenv/") {
        header.extend([
            "is ptenv's derived image (the base plus the mode's tools and the user), built on"
                .to_string(),
            "this machine: push it where the cluster pulls from, e.g.".into(),
            "  docker tag IMAGE registry.example.com/IMAGE".into(),
            "  docker push registry.example.com/IMAGE".into(),
            "and change `image:` below (or build there the Dockerfile `export compose` writes)."
                .into(),
        ]);
        next.push(format!(
            "the image {} exists only on this machine: push it to a registry the cluster can pull from and change `image:`",
            spec.image
        ));
    }
    if let Workspace::Claim(claim) = &opts.workspace {
        header.extend([
            String::new(),
            format!(
                "workspace: the PersistentVolumeClaim `{claim}` at {}:",
                spec.workdir
            ),
            "create it (ReadWriteOnce) and copy the project into it before applying this file."
                .into(),
        ]);
        next.push(format!(
            "the workspace is the PersistentVolumeClaim `{claim}`: create it and copy the project into it"
        ));
    }
    if has_secrets {
        header.push(String::new());
        match &secret_path {
            Some(file) => header.extend([
                format!(
                    "secrets: the Secret `{secrets_name}` is in {file} (0600, not in this file):"
                ),
                format!("  kubectl apply -f {file} -f <this file>"),
            ]),
            None => header.extend([
                format!(
                    "secrets: the Secret `{secrets_name}` ({}) is not printed:",
                    secret_what(profile.mode)
                ),
                "`ptenv export k8s -o FILE` writes it to a 0600 file beside FILE. Until it exists"
                    .into(),
                "the pod waits in ContainerCreating.".into(),
            ]),
        }
    }
    if !config_data.is_empty() {
        docs.push(document(
            &[],
            Map::new()
                .set("apiVersion", "v1")
                .set("kind", "ConfigMap")
                .set("metadata", metadata(&files_name))
                .set("data", config_data)
                .into(),
        ));
    }
    if !spec.ports.is_empty() {
        let service_ports: Vec<Value> = spec
            .ports
            .iter()
            .map(|p| {
                let n = port_name(profile.mode, p.container);
                Map::new()
                    .set("name", n.as_str())
                    .set("port", u64::from(p.container))
                    .set("targetPort", n.as_str())
                    .set("protocol", "TCP")
                    .into()
            })
            .collect();
        docs.push(document(
            &[],
            Map::new()
                .set("apiVersion", "v1")
                .set("kind", "Service")
                .set("metadata", metadata(&name))
                .set(
                    "spec",
                    Map::new()
                        .set("type", "ClusterIP")
                        .set(
                            "selector",
                            Map::new().set("app.kubernetes.io/instance", name.as_str()),
                        )
                        .set("ports", Value::Sequence(service_ports)),
                )
                .into(),
        ));
        let forwards: Vec<String> = spec
            .ports
            .iter()
            .map(|p| format!("{}:{}", p.host, p.container))
            .collect();
        next.push(format!(
            "reach it on 127.0.0.1: kubectl port-forward service/{name} {}",
            forwards.join(" ")
        ));
    }
    docs.push(document(&[], workload));
    // The header sits on top of the first document: a document of comments alone would be
    // an empty object to some tools.
    let text = format!("{}{}", comment_lines(&header), docs.join("---\n"));

    let mut files = Vec::new();
    if let Some(file) = &secret_path {
        if !secret_data.is_empty() {
            let secret = Map::new()
                .set("apiVersion", "v1")
                .set("kind", "Secret")
                .set("metadata", metadata(&secrets_name))
                .set("type", "Opaque")
                .set("data", secret_data);
            files.push(OutFile {
                path: file.into(),
                contents: document(
                    &[format!(
                        "Written by `ptenv export k8s`: the {} of the profile `{}`. Keep it private (0600).",
                        secret_what(profile.mode),
                        profile.name
                    )],
                    secret.into(),
                )
                .into_bytes(),
                mode: 0o600,
                secret: true,
                owner: None,
            });
            files.push(secrets_gitignore(&bundle));
        }
    }
    Ok(Rendered {
        text,
        files,
        warnings,
        next,
    })
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

/// `torchrun --standalone --nproc_per_node=N` in front of the profile's command: `python
/// train.py` becomes `torchrun … train.py`; anything else runs with `--no-python`, which
/// starts the command itself N times (each with its RANK and LOCAL_RANK).
pub fn torchrun(n: u32, cmd: &[String]) -> Vec<String> {
    let mut out = vec![
        "torchrun".to_string(),
        "--standalone".into(),
        format!("--nproc_per_node={n}"),
    ];
    match cmd.split_first() {
        Some((first, rest))
            if matches!(first.as_str(), "python" | "python3") && !rest.is_empty() =>
        {
            out.extend(rest.iter().cloned())
        }
        _ => {
            out.push("--no-python".into());
            out.extend(cmd.iter().cloned());
        }
    }
    out
}

fn pull_policy(p: PullPolicy) -> &'static str {
    match p {
        PullPolicy::Missing => "IfNotPresent",
        PullPolicy::Always => "Always",
        PullPolicy::Never => "Never",
    }
}

/// A port's name (at most 15 characters, as Services refer to it).
fn port_name(mode: Mode, port: u16) -> String {
    match (mode, port) {
        (Mode::Jupyter, crate::modes::jupyter::PORT) => "jupyter".into(),
        (Mode::Ssh, crate::modes::ssh::PORT) => "ssh".into(),
        _ => format!("tcp-{port}"),
    }
}

fn kind_name(kind: K8sKind) -> &'static str {
    match kind {
        K8sKind::Pod => "Pod",
        K8sKind::Job => "Job",
        K8sKind::Deployment => "Deployment",
    }
}

fn secret_what(mode: Mode) -> &'static str {
    match mode {
        Mode::Jupyter => "Jupyter token",
        Mode::Ssh => "sshd host key and the authorized key",
        Mode::Shell => "secrets",
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
/// `$` keeps `$(id)` or `costs $5` from a profile literal. ptenv's own values use no expansion.
fn literal(value: &str) -> String {
    value.replace('$', "$$")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::fixture::{assert_snapshot, build};

    fn opts(kind: Option<K8sKind>) -> Options {
        Options {
            kind,
            gpu_count: None,
            workspace: Workspace::Claim("proj-data".into()),
            secret_file: Some("k8s.secret.yaml".into()),
        }
    }

    fn docs(text: &str) -> Vec<serde_yaml::Value> {
        serde_yaml::Deserializer::from_str(text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect()
    }

    fn find<'a>(docs: &'a [serde_yaml::Value], kind: &str) -> &'a serde_yaml::Value {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    }

    #[test]
    fn dollars_in_args_and_env_reach_the_process_as_written() {
        let f = build(
            "profiles:\n  odd:\n    mode: shell\n    env: {A: 'costs $5 and $(HOME)'}\n    command: [sh, -c, 'echo $(id) $HOME']\n",
            "odd",
        );
        let r = render(&f.input(), &opts(Some(K8sKind::Pod))).unwrap();
        let pod = find(&docs(&r.text), "Pod").clone();
        let c = &pod["spec"]["containers"][0];
        let args: Vec<&str> = c["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(args.contains(&"echo $$(id) $$HOME"), "{args:?}");
        let a = c["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "A")
            .unwrap();
        assert_eq!(a["value"], "costs $$5 and $$(HOME)");
    }

    #[test]
    fn a_root_container_user_is_not_declared_non_root() {
        // ptenv run as root in root's folder: the container user is root.
        let mut f = build("", "jupyter");
        f.spec.user = Some("0:0".into());
        let r = render(&f.input(), &opts(None)).unwrap();
        let d = docs(&r.text);
        let security = &find(&d, "Pod")["spec"]["securityContext"];
        assert_eq!(security["runAsUser"], 0);
        assert_eq!(
            security["runAsNonRoot"], false,
            "a pod the kubelet would refuse"
        );
        let f = build("", "jupyter");
        let r = render(&f.input(), &opts(None)).unwrap();
        assert_eq!(
            find(&docs(&r.text), "Pod")["spec"]["securityContext"]["runAsNonRoot"],
            true
        );
    }

    #[test]
    fn jupyter_pod_with_service_configmap_and_secret() {
        let f = build("", "jupyter");
        let r = render(&f.input(), &opts(None)).unwrap();
        assert_snapshot("k8s-jupyter-pod.yaml", &r.text);
        assert_eq!(r.files.len(), 2);
        let secret = r.files.iter().find(|f| f.secret).unwrap();
        assert_eq!(
            secret.path,
            std::path::Path::new("ptenv-jupyter/secrets/k8s.secret.yaml")
        );
        let secret_text = String::from_utf8(secret.contents.clone()).unwrap();
        assert_snapshot("k8s-jupyter-pod.secret.yaml", &secret_text);
        assert_eq!(secret.mode, 0o600);
        // The Secret may sit in a repository: its folder keeps it out, as compose's does.
        let ignore = r.files.iter().find(|f| !f.secret).unwrap();
        assert_eq!(
            ignore.path,
            std::path::Path::new("ptenv-jupyter/.gitignore")
        );
        assert!(String::from_utf8_lossy(&ignore.contents).ends_with("\n/secrets/\n"));
        assert!(r
            .text
            .contains("kubectl apply -f ptenv-jupyter/secrets/k8s.secret.yaml"));
        assert!(!r.text.contains("Kind: Secret") && !r.text.contains("kind: Secret"));

        let d = docs(&r.text);
        let pod = find(&d, "Pod");
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["resources"]["limits"][GPU_RESOURCE], 1);
        assert_eq!(c["resources"]["requests"]["memory"], "12Gi");
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(pod["spec"]["securityContext"]["runAsUser"], 1234);
        assert_eq!(pod["spec"]["securityContext"]["fsGroup"], 1300);
        let vols = pod["spec"]["volumes"].as_sequence().unwrap();
        let dshm = vols.iter().find(|v| v["name"] == "dshm").unwrap();
        assert_eq!(dshm["emptyDir"]["medium"], "Memory");
        assert_eq!(dshm["emptyDir"]["sizeLimit"], "12Gi");
        let ws = vols.iter().find(|v| v["name"] == "workspace").unwrap();
        assert_eq!(ws["persistentVolumeClaim"]["claimName"], "proj-data");
        let secret = vols.iter().find(|v| v["name"] == "secrets").unwrap();
        assert_eq!(
            secret["secret"]["items"][0]["mode"], 0o440,
            "the user reads the token through the fsGroup"
        );
        let svc = find(&d, "Service");
        assert_eq!(svc["spec"]["ports"][0]["port"], 8888);
        assert_eq!(svc["spec"]["type"], "ClusterIP");
        assert!(r.next.iter().any(|n| n.contains("kubectl port-forward")));
    }

    #[test]
    fn ssh_deployment_runs_as_root_with_its_keys_in_the_secret() {
        let f = build("", "ssh");
        let r = render(&f.input(), &opts(Some(K8sKind::Deployment))).unwrap();
        assert_snapshot("k8s-ssh-deployment.yaml", &r.text);
        let d = docs(&r.text);
        let dep = find(&d, "Deployment");
        assert_eq!(dep["spec"]["strategy"]["type"], "Recreate");
        assert!(dep["spec"]["template"]["spec"]
            .get("securityContext")
            .is_none());
        assert!(r.warnings.iter().any(|w| w.contains("starts as root")));
        let secret = String::from_utf8(r.files[0].contents.clone()).unwrap();
        assert!(secret.contains("ssh-authorized-keys:"), "{secret}");
        assert!(secret.contains("ssh-ssh-host-ed25519-key:"));
        // The public host key is no secret (the ConfigMap has it); the private one and the
        // authorized key are.
        assert!(!r
            .text
            .contains("fixture contents of /etc/ptenv/ssh/ssh_host_ed25519_key\n"));
        assert!(!r.text.contains("of /etc/ptenv/ssh/authorized_keys"));
        assert!(r
            .text
            .contains("fixture contents of /etc/ptenv/ssh/ssh_host_ed25519_key.pub"));
    }

    #[test]
    fn multi_gpu_training_is_a_job_running_torchrun() {
        let f = build(
            "profiles:\n  train:\n    mode: shell\n    gpus: [0, 1, 2, 3]\n    shm_size: 16g\n    command: [python, train.py, --epochs, '3']\n    kubernetes:\n      nproc_per_node: 4\n      cpu: 16\n      memory: 64g\n      node_selector: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}\n      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]\n",
            "train",
        );
        let r = render(&f.input(), &opts(None)).unwrap();
        assert_snapshot("k8s-train-job.yaml", &r.text);
        let d = docs(&r.text);
        let job = find(&d, "Job");
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(
            pod["nodeSelector"]["nvidia.com/gpu.product"],
            "NVIDIA-A100-SXM4-80GB"
        );
        assert_eq!(pod["tolerations"][0]["operator"], "Exists");
        let c = &pod["containers"][0];
        assert_eq!(
            c["args"],
            serde_yaml::to_value([
                "/bin/sh",
                crate::modes::ENTRY_SCRIPT,
                "torchrun",
                "--standalone",
                "--nproc_per_node=4",
                "train.py",
                "--epochs",
                "3"
            ])
            .unwrap()
        );
        assert_eq!(c["resources"]["limits"][GPU_RESOURCE], 4);
        assert_eq!(c["resources"]["requests"]["cpu"], "16");
        assert_eq!(c["resources"]["requests"]["memory"], "64Gi");
        assert!(
            d.iter().all(|x| x["kind"] != "Service"),
            "no port, no Service"
        );
        assert!(r.files.is_empty(), "the shell mode has no secret");
    }

    #[test]
    fn torchrun_runs_the_profile_s_command_in_every_mode() {
        for mode in ["shell", "ssh"] {
            let f = build(
                &format!("profiles:\n  train:\n    mode: {mode}\n    command: [python, train.py]\n    kubernetes: {{nproc_per_node: 2}}\n"),
                "train",
            );
            let r = render(&f.input(), &opts(None)).unwrap();
            let job = find(&docs(&r.text), "Job").clone();
            let args: Vec<String> = job["spec"]["template"]["spec"]["containers"][0]["args"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect();
            let torchrun = args.iter().position(|a| a == "torchrun");
            assert!(torchrun.is_some(), "{mode}: {args:?}");
            assert_eq!(
                args.last().map(String::as_str),
                Some("train.py"),
                "{mode}: {args:?}"
            );
            assert!(
                !args.iter().any(|a| a.contains("start.sh")),
                "{mode}: {args:?}"
            );
        }
    }

    #[test]
    fn a_job_needs_the_profiles_own_command() {
        let f = build("", "jupyter");
        let e = render(&f.input(), &opts(Some(K8sKind::Job))).unwrap_err();
        assert!(
            e.message.contains("a Job runs the profile's `command`"),
            "{e}"
        );
        assert!(e.hints[0].contains("command: [python, train.py]"));
        let f = build("kubernetes: {nproc_per_node: 2}\n", "shell");
        let e = render(&f.input(), &opts(None)).unwrap_err();
        assert!(e.message.contains("torchrun"), "{e}");
    }

    #[test]
    fn cpu_pods_see_no_gpu_and_host_paths_warn() {
        let f = build("gpus: none\n", "shell");
        let r = render(
            &f.input(),
            &Options {
                workspace: Workspace::HostPath,
                secret_file: None,
                ..opts(Some(K8sKind::Pod))
            },
        )
        .unwrap();
        let d = docs(&r.text);
        let c = &find(&d, "Pod")["spec"]["containers"][0];
        assert!(c["resources"].get("limits").is_none());
        let env = serde_yaml::to_string(&c["env"]).unwrap();
        assert!(env.contains("NVIDIA_VISIBLE_DEVICES"), "{env}");
        assert!(env.contains("void"));
        let ws = &find(&d, "Pod")["spec"]["volumes"][0];
        assert_eq!(ws["hostPath"]["path"], "/home/ana/proj");
        assert!(r.warnings.iter().any(|w| w.contains("hostPath")));
        // --gpu-count overrides the profile.
        let f = build("", "shell");
        let r = render(
            &f.input(),
            &Options {
                gpu_count: Some(2),
                ..opts(None)
            },
        )
        .unwrap();
        assert!(r.text.contains("nvidia.com/gpu: 2"));
        // `--gpus 2` means GPU index 2 to Docker: one GPU, and a warning.
        let f = build("gpus: [2]\n", "shell");
        let r = render(&f.input(), &opts(None)).unwrap();
        assert!(r.text.contains("nvidia.com/gpu: 1"));
        assert!(r.warnings[0].contains("--gpu-count 2"), "{:?}", r.warnings);
    }

    #[test]
    fn helpers() {
        assert_eq!(
            torchrun(2, &["/bin/sh".into(), "-c".into(), "make train".into()]),
            vec![
                "torchrun",
                "--standalone",
                "--nproc_per_node=2",
                "--no-python",
                "/bin/sh",
                "-c",
                "make train"
            ]
        );
        assert_eq!(quantity(12 << 30), "12Gi");
        assert_eq!(quantity((12 << 30) + 1), "12289Mi");
        assert_eq!(quantity(64 << 20), "64Mi");
        assert_eq!(port_name(Mode::Jupyter, 8888), "jupyter");
        assert_eq!(port_name(Mode::Shell, 6006), "tcp-6006");
        let f = build("", "jupyter");
        assert!(base_name(&f.input()).len() <= 54);
        assert!(crate::profile::is_dns_subdomain(&default_claim(&f.input())));
    }
}
