//! The workload kinds around the pod: Pod, Job and Deployment for one node; Kubeflow's
//! PyTorchJob and JobSet for a torchrun job across nodes, each pod one node that meets the
//! others through the c10d rendezvous, at an address the engine provides. Facts and sources:
//! docs/multinode.md.

use serde_yaml::Value;

use super::pod::literal;
use super::shape::Shape;
use super::K8sKind;
use crate::export::torchrun::{self, Rendezvous, RDZV_PORT};
use crate::export::{Input, Map};
use crate::modes::entry_command;

/// The PyTorchJob's container: the training operator looks for this name, and for the port of
/// this name on it, to set the master's address and port.
pub const PYTORCHJOB_CONTAINER: &str = "pytorch";
pub const PYTORCHJOB_PORT_NAME: &str = "pytorchjob-port";
/// The operator's default for that port (what its defaulting webhook would add).
pub const PYTORCHJOB_PORT: u16 = 23456;
/// The JobSet's one replicated job: its pods are `<jobset>-node-0-<index>`.
pub const JOBSET_REPLICATED_JOB: &str = "node";

/// A JobSet's name: its pods are named `<name>-node-0-<index>-<5 characters>`, which must fit
/// 63 characters (JobSet's webhook checks it), with room for a three-digit index.
pub fn jobset_name(base: &str) -> String {
    let cut: String = base.chars().take(40).collect();
    cut.trim_end_matches('-').to_string()
}

/// The name of the workload object.
pub fn object_name(kind: K8sKind, base: &str) -> String {
    match kind {
        K8sKind::JobSet => jobset_name(base),
        _ => base.to_string(),
    }
}

/// The container's args: the mode's command, or torchrun in front of the profile's command.
/// The profile's words are escaped for the kubelet; the rendezvous address is not, where it is
/// the engine's variables for the kubelet to expand.
pub fn args(input: &Input, shape: &Shape, name: &str) -> Vec<String> {
    let Some(nproc) = shape.nproc else {
        return input.spec.cmd.iter().map(|a| literal(a)).collect();
    };
    let own: Vec<String> = input
        .profile
        .command
        .as_deref()
        .expect("the shape requires the profile's command for torchrun")
        .iter()
        .map(|a| literal(a))
        .collect();
    // torchrun starts the profile's own command (every mode's container command wraps it:
    // the entry script, or sshd's start script beside it).
    entry_command(match (shape.kind, shape.nodes) {
        (K8sKind::PyTorchJob, Some(nodes)) => torchrun::multi_node(
            nproc,
            &Rendezvous {
                nodes,
                endpoint: "$(PET_MASTER_ADDR):$(PET_MASTER_PORT)".into(),
                id: name.into(),
            },
            &own,
        ),
        (K8sKind::JobSet, Some(nodes)) => torchrun::multi_node(
            nproc,
            &Rendezvous {
                nodes,
                // The first pod's stable name under the JobSet's headless Service.
                endpoint: format!("{name}-{JOBSET_REPLICATED_JOB}-0-0.{name}:{RDZV_PORT}"),
                id: name.into(),
            },
            &own,
        ),
        _ => torchrun::standalone(nproc, &own),
    })
}

/// The container's name and the ports the kind adds.
pub fn container(kind: K8sKind, profile_name: &str) -> (String, Vec<(String, u16)>) {
    match kind {
        K8sKind::PyTorchJob => (
            PYTORCHJOB_CONTAINER.into(),
            vec![(PYTORCHJOB_PORT_NAME.into(), PYTORCHJOB_PORT)],
        ),
        K8sKind::JobSet => (
            super::pod::container_name(profile_name),
            vec![("c10d".into(), RDZV_PORT)],
        ),
        _ => (super::pod::container_name(profile_name), Vec::new()),
    }
}

pub fn restart_policy(kind: K8sKind) -> &'static str {
    match kind {
        // A failed training run is looked at, not blindly restarted.
        K8sKind::Job | K8sKind::PyTorchJob | K8sKind::JobSet => "Never",
        K8sKind::Pod | K8sKind::Deployment => "Always",
    }
}

/// The workload object around the pod spec.
pub fn workload(shape: &Shape, name: &str, labels: &Map, pod_spec: Map) -> Value {
    let metadata = Map::new().set("name", name).set("labels", labels.clone());
    let template = Map::new()
        .set("metadata", Map::new().set("labels", labels.clone()))
        .set("spec", pod_spec.clone());
    let object = |api: &str, kind: &str, spec: Value| -> Value {
        Map::new()
            .set("apiVersion", api)
            .set("kind", kind)
            .set("metadata", metadata.clone())
            .set("spec", spec)
            .into()
    };
    match shape.kind {
        K8sKind::Pod => object("v1", "Pod", pod_spec.into()),
        K8sKind::Job => object(
            "batch/v1",
            "Job",
            Map::new()
                .set("backoffLimit", 0u64)
                .set("template", template)
                .into(),
        ),
        K8sKind::Deployment => object(
            "apps/v1",
            "Deployment",
            Map::new()
                .set("replicas", 1u64)
                // One pod at a time: the GPUs and a ReadWriteOnce workspace cannot be
                // shared by the old and the new pod during a rolling update.
                .set("strategy", Map::new().set("type", "Recreate"))
                .set(
                    "selector",
                    Map::new().set(
                        "matchLabels",
                        Map::new().set("app.kubernetes.io/instance", name),
                    ),
                )
                .set("template", template)
                .into(),
        ),
        K8sKind::PyTorchJob => {
            let nodes = shape.nodes.expect("a PyTorchJob has nodes");
            let replica = |n: u32| {
                Map::new()
                    .set("replicas", u64::from(n))
                    .set("restartPolicy", "Never")
                    .set("template", template.clone())
            };
            let mut replicas = Map::new().set("Master", replica(1));
            if nodes > 1 {
                replicas = replicas.set("Worker", replica(nodes - 1));
            }
            object(
                "kubeflow.org/v1",
                "PyTorchJob",
                Map::new()
                    // No elasticPolicy: a fixed number of nodes, as torchrun's --nnodes says.
                    .set(
                        "nprocPerNode",
                        shape.nproc.expect("training has processes").to_string(),
                    )
                    .set("pytorchReplicaSpecs", replicas)
                    .into(),
            )
        }
        K8sKind::JobSet => {
            let nodes = u64::from(shape.nodes.expect("a JobSet has nodes"));
            object(
                "jobset.x-k8s.io/v1alpha2",
                "JobSet",
                Map::new()
                    // The headless Service JobSet makes for its pods' hostnames (named after
                    // the JobSet), listed before the pods are ready so they can meet.
                    .set(
                        "network",
                        Map::new()
                            .set("enableDNSHostnames", true)
                            .set("publishNotReadyAddresses", true),
                    )
                    .set("failurePolicy", Map::new().set("maxRestarts", 0u64))
                    .set(
                        "replicatedJobs",
                        Value::Sequence(vec![Map::new()
                            .set("name", JOBSET_REPLICATED_JOB)
                            .set("replicas", 1u64)
                            .set(
                                "template",
                                Map::new().set(
                                    "spec",
                                    Map::new()
                                        .set("completionMode", "Indexed")
                                        .set("completions", nodes)
                                        .set("parallelism", nodes)
                                        .set("backoffLimit", 0u64)
                                        .set("template", template),
                                ),
                            )
                            .into()]),
                    )
                    .into(),
            )
        }
    }
}
