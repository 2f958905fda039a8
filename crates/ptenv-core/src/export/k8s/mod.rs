//! Kubernetes manifests for the container `ptenv up` creates, as a Kubernetes engineer writes
//! them by hand: a ConfigMap with the mode's scripts (sshd's), a Service for its ports, the workload
//! and, in a file of its own, a Secret with the token or the keys. The workload is a Pod, Job or
//! Deployment on one node, or a training job across nodes: Kubeflow's PyTorchJob or a JobSet.
//!
//! The mapping of `docker run`'s flags: `--gpus` → the `nvidia.com/gpu` limit of the NVIDIA
//! device plugin; `--shm-size` → an `emptyDir` with `medium: Memory` and a `sizeLimit` on
//! /dev/shm (the kubelet gives pods Docker's 64 MiB otherwise); `--ipc host` → `hostIPC`;
//! `-v project:/workspace` → a PersistentVolumeClaim (or a hostPath); `--user` →
//! `securityContext`; files copied in → ConfigMap and Secret items mounted with `subPath`
//! (the entry script and the environment file it writes are in the derived image);
//! `-p` → a ClusterIP Service (`kubectl port-forward` binds 127.0.0.1, as `ptenv up` does).
//! Ulimits have no Kubernetes field: the node's container runtime decides them.
//!
//! By concept: [`shape`] decides the kind, nodes, processes and GPUs; [`pod`] is the pod every
//! kind runs; [`kinds`] wraps it and writes the torchrun line; [`documents`] the header, the
//! ConfigMap, the Service and the Secret.

mod documents;
mod kinds;
mod pod;
pub mod shape;

pub use pod::quantity;

use super::{comment_lines, document, Input, Map, Rendered};
use crate::error::Result;
use crate::project::slug;

/// The extended resource of NVIDIA's device plugin.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// The Kubernetes object that runs the environment (`ptenv export k8s --kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum K8sKind {
    Pod,
    Job,
    Deployment,
    /// Kubeflow's training operator: a Master and Workers, one pod per node.
    PyTorchJob,
    /// JobSet: an indexed Job whose pods find each other by name.
    JobSet,
}

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
    /// `--kind`; `None`: a PyTorchJob when nodes are given, a Job when the profile trains
    /// with torchrun, else a Pod.
    pub kind: Option<K8sKind>,
    /// `--gpu-count` or `--gpus-per-node`: GPUs of each pod.
    pub gpu_count: Option<u32>,
    /// `--nodes`.
    pub nodes: Option<u32>,
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
    let shape = shape::decide(input.profile, input.spec, opts)?;
    let base = base_name(input);
    let name = kinds::object_name(shape.kind, &base);
    let labels = Map::new()
        .set("app.kubernetes.io/name", slug(&input.profile.name))
        .set("app.kubernetes.io/instance", name.as_str())
        .set("app.kubernetes.io/managed-by", "ptenv");
    let metadata = |object: &str| Map::new().set("name", object).set("labels", labels.clone());
    let files_name = format!("{base}-files");
    let secrets_name = format!("{base}-secrets");

    let (container, extra_ports) = kinds::container(shape.kind, &input.profile.name);
    let pod = pod::pod(
        input,
        &pod::PodInput {
            args: kinds::args(input, &shape, &name),
            gpus: shape.gpus,
            container,
            restart: kinds::restart_policy(shape.kind),
            extra_ports,
            workspace: &opts.workspace,
            files_name: &files_name,
            secrets_name: &secrets_name,
        },
    );
    let mut warnings = shape.warnings.clone();
    warnings.extend(pod.warnings);
    let mut next = shape.next.clone();
    next.extend(pod.next);
    next.extend(documents::next_steps(input, opts, &shape));

    let has_secrets = !pod.secret_data.is_empty();
    let header = documents::header(
        input,
        opts,
        &shape,
        has_secrets.then_some(secrets_name.as_str()),
    );
    let mut docs = Vec::new();
    if !pod.config_data.is_empty() {
        docs.push(documents::config_map(
            metadata(&files_name),
            pod.config_data,
        ));
    }
    // The pods of a multi-node job are batch workers: their ports are for each other (the
    // engine's own Service or hostnames), not for port-forward.
    if !input.spec.ports.is_empty() && !shape.kind.multi_node() {
        let (service, forward) = documents::service(input, &name, metadata(&name));
        docs.push(service);
        next.push(forward);
    }
    docs.push(document(
        &[],
        kinds::workload(&shape, &name, &labels, pod.spec),
    ));
    // The header sits on top of the first document: a document of comments alone would be
    // an empty object to some tools.
    let text = format!("{}{}", comment_lines(&header), docs.join("---\n"));

    let files = match documents::secret_path(input, opts) {
        Some(path) if has_secrets => {
            documents::secret_files(input, &path, metadata(&secrets_name), pod.secret_data)
        }
        _ => Vec::new(),
    };
    Ok(Rendered {
        text,
        files,
        warnings,
        next,
    })
}

#[cfg(test)]
mod tests;
