//! What the manifests run: the workload kind, and for training how many nodes, processes and
//! GPUs per pod. Decided once from the command line and the profile's `kubernetes:` settings;
//! the requests that cannot work are refused here, with what to do instead.

use super::{K8sKind, Options, GPU_RESOURCE};
use crate::error::{Error, Result};
use crate::plan::{GpuRequest, Spec};
use crate::profile::Profile;

/// The decided workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub kind: K8sKind,
    /// Pods that train together (PyTorchJob, JobSet); `None` for one pod.
    pub nodes: Option<u32>,
    /// Processes torchrun starts in each pod; `None`: the command runs as it is.
    pub nproc: Option<u32>,
    /// `nvidia.com/gpu` of each pod.
    pub gpus: u32,
    pub warnings: Vec<String>,
    pub next: Vec<String>,
}

impl K8sKind {
    pub fn name(self) -> &'static str {
        match self {
            K8sKind::Pod => "Pod",
            K8sKind::Job => "Job",
            K8sKind::Deployment => "Deployment",
            K8sKind::PyTorchJob => "PyTorchJob",
            K8sKind::JobSet => "JobSet",
        }
    }

    /// Whether its pods are the nodes of one torchrun job.
    pub fn multi_node(self) -> bool {
        matches!(self, K8sKind::PyTorchJob | K8sKind::JobSet)
    }
}

pub fn decide(profile: &Profile, spec: &Spec, opts: &Options) -> Result<Shape> {
    let k = &profile.kubernetes;
    if opts.nodes == Some(0) {
        return Err(
            Error::usage("`--nodes 0`: a training job needs at least one node")
                .hint("--nodes 2 runs the profile's command on two pods that rendezvous"),
        );
    }
    let mut warnings = Vec::new();
    let mut next = Vec::new();
    let kind = opts.kind.unwrap_or(if opts.nodes.or(k.nodes).is_some() {
        K8sKind::PyTorchJob
    } else if k.nproc_per_node.is_some() {
        K8sKind::Job
    } else {
        K8sKind::Pod
    });
    let nodes = if kind.multi_node() {
        match opts.nodes.or(k.nodes) {
            Some(n) => Some(n),
            None => {
                return Err(Error::usage(format!(
                    "a {} needs the number of nodes it trains on",
                    kind.name()
                ))
                .hint("pass --nodes N, or set `kubernetes: {nodes: N}` in the profile"))
            }
        }
    } else {
        if let Some(n) = opts.nodes {
            return Err(Error::usage(format!(
                "`--nodes {n}` makes a multi-node training job, and a {} is one pod",
                kind.name()
            ))
            .hint("use --kind pytorchjob (Kubeflow's training operator) or --kind jobset (JobSet)")
            .hint("or leave out --nodes for a single pod"));
        }
        if let Some(n) = k.nodes {
            warnings.push(format!(
                "`kubernetes.nodes: {n}` is for --kind pytorchjob or jobset: the {} runs on one node",
                kind.name()
            ));
        }
        None
    };

    // A job runs to completion: only the profile's own command does (the modes' servers never
    // end), and torchrun needs a program to start.
    let nproc_set = k.nproc_per_node.is_some();
    let needs_command = matches!(kind, K8sKind::Job) || kind.multi_node() || nproc_set;
    if needs_command && profile.command.is_none() {
        let why = if kind.multi_node() {
            format!(
                "a {} runs the profile's `command` under torchrun on every node",
                kind.name()
            )
        } else if nproc_set {
            "`kubernetes.nproc_per_node` runs the profile's `command` under torchrun".into()
        } else {
            "a Job runs the profile's `command` to completion".into()
        };
        return Err(crate::export::command_required(
            profile,
            &why,
            "or export the interactive environment with `--kind pod` or `--kind deployment`",
        ));
    }

    let from_profile = match &spec.gpus {
        None => 0,
        Some(GpuRequest::All) => 1,
        Some(GpuRequest::Count(n)) => *n,
        Some(GpuRequest::Devices(d)) => d.len() as u32,
    };
    let asked = opts.gpu_count.or(k.gpus_per_node);
    let gpus = asked.or(k.nproc_per_node).unwrap_or(from_profile);
    let nproc = match (nodes, k.nproc_per_node) {
        (_, Some(n)) => Some(n),
        // One process per GPU, as torchrun's `--nproc_per_node=gpu` counts them; on the CPU one.
        (Some(_), None) => Some(gpus.max(1)),
        (None, None) => None,
    };
    if let (Some(n), Some(count)) = (k.nproc_per_node, asked) {
        if count < n {
            warnings.push(format!(
                "torchrun starts {n} processes (`kubernetes.nproc_per_node`) on {count} GPU(s) per pod: processes will share GPUs"
            ));
        }
    }
    let defaulted = asked.is_none() && k.nproc_per_node.is_none();
    if defaulted && matches!(spec.gpus, Some(GpuRequest::All)) {
        next.push(format!(
            "`gpus: all` became 1 GPU per pod (`{GPU_RESOURCE}: 1`); ask for more with {}",
            if kind.multi_node() {
                "--gpus-per-node N"
            } else {
                "--gpu-count N"
            }
        ));
    }
    if let (Some(GpuRequest::Devices(ids)), true) = (&spec.gpus, defaulted) {
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
    Ok(Shape {
        kind,
        nodes,
        nproc,
        gpus,
        warnings,
        next,
    })
}
