//! The documents around the workload: the header that says what to do before applying, the
//! ConfigMap with the mode's scripts, the Service for its ports, and the Secret, which goes to a
//! file of its own.

use serde_yaml::Value;

use super::pod::port_name;
use super::shape::Shape;
use super::{Options, Workspace};
use crate::export::{document, secrets_gitignore, Input, Map, OutFile};
use crate::profile::Mode;

/// The comment lines on top of the manifests, and the steps to print after them.
pub fn header(input: &Input, opts: &Options, shape: &Shape, secrets: Option<&str>) -> Vec<String> {
    let spec = input.spec;
    let profile = input.profile;
    let mut header = vec![
        format!(
            "Written by `ptenv export k8s` from the profile `{}` of {}:",
            profile.name,
            input.project.path.display()
        ),
        match (shape.nodes, shape.nproc) {
            (Some(nodes), Some(nproc)) => format!(
                "the container `ptenv up {}` creates, as a {} of {nodes} node(s) with {nproc} process(es) each.",
                profile.name,
                shape.kind.name()
            ),
            _ => format!(
                "the container `ptenv up {}` creates, as a {}.",
                profile.name,
                shape.kind.name()
            ),
        },
    ];
    match shape.kind {
        super::K8sKind::PyTorchJob => header
            .push("It needs Kubeflow's training operator (kubeflow.org/v1) on the cluster.".into()),
        super::K8sKind::JobSet => header.push(
            "It needs the JobSet controller (jobset.x-k8s.io/v1alpha2) on the cluster.".into(),
        ),
        _ => {}
    }
    header.extend([String::new(), format!("image: {}", spec.image)]);
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
    }
    if let Workspace::Claim(claim) = &opts.workspace {
        header.extend([
            String::new(),
            format!(
                "workspace: the PersistentVolumeClaim `{claim}` at {}:",
                spec.workdir
            ),
        ]);
        if shape.nodes.is_some_and(|n| n > 1) {
            header.extend([
                "create it (ReadWriteMany: the nodes' pods mount it at once) and copy the project"
                    .into(),
                "into it before applying this file.".into(),
            ]);
        } else {
            header.push(
                "create it (ReadWriteOnce) and copy the project into it before applying this file."
                    .into(),
            );
        }
    }
    if let Some((file, name)) = secrets.map(|n| (secret_path(input, opts), n)) {
        header.push(String::new());
        match file {
            Some(file) => header.extend([
                format!("secrets: the Secret `{name}` is in {file} (0600, not in this file):"),
                format!("  kubectl apply -f {file} -f <this file>"),
            ]),
            None => header.extend([
                format!(
                    "secrets: the Secret `{name}` ({}) is not printed:",
                    secret_what(profile.mode)
                ),
                "`ptenv export k8s -o FILE` writes it to a 0600 file beside FILE. Until it exists"
                    .into(),
                "the pod waits in ContainerCreating.".into(),
            ]),
        }
    }
    header
}

/// The steps after writing, beside the ones the pod and the shape gave.
pub fn next_steps(input: &Input, opts: &Options, shape: &Shape) -> Vec<String> {
    let mut next = Vec::new();
    if input.spec.image.starts_with("ptenv/") {
        next.push(format!(
            "the image {} exists only on this machine: push it to a registry the cluster can pull from and change `image:`",
            input.spec.image
        ));
    }
    if let Workspace::Claim(claim) = &opts.workspace {
        next.push(format!(
            "the workspace is the PersistentVolumeClaim `{claim}`: create it{} and copy the project into it",
            if shape.nodes.is_some_and(|n| n > 1) {
                " (ReadWriteMany, as every node mounts it)"
            } else {
                ""
            }
        ));
    }
    next
}

/// Where the Secret is written: in the bundle's `secrets/` folder beside the manifests.
pub fn secret_path(input: &Input, opts: &Options) -> Option<String> {
    let bundle = crate::export::bundle_dir(&input.profile.name);
    opts.secret_file
        .as_ref()
        .map(|f| format!("{bundle}/secrets/{f}"))
}

pub fn config_map(metadata: Map, data: Map) -> String {
    document(
        &[],
        Map::new()
            .set("apiVersion", "v1")
            .set("kind", "ConfigMap")
            .set("metadata", metadata)
            .set("data", data)
            .into(),
    )
}

/// A ClusterIP Service for the profile's ports, and how to reach them.
pub fn service(input: &Input, name: &str, metadata: Map) -> (String, String) {
    let spec = input.spec;
    let ports: Vec<Value> = spec
        .ports
        .iter()
        .map(|p| {
            let n = port_name(input.profile.mode, p.container);
            Map::new()
                .set("name", n.as_str())
                .set("port", u64::from(p.container))
                .set("targetPort", n.as_str())
                .set("protocol", "TCP")
                .into()
        })
        .collect();
    let text = document(
        &[],
        Map::new()
            .set("apiVersion", "v1")
            .set("kind", "Service")
            .set("metadata", metadata)
            .set(
                "spec",
                Map::new()
                    .set("type", "ClusterIP")
                    .set(
                        "selector",
                        Map::new().set("app.kubernetes.io/instance", name),
                    )
                    .set("ports", Value::Sequence(ports)),
            )
            .into(),
    );
    let forwards: Vec<String> = spec
        .ports
        .iter()
        .map(|p| format!("{}:{}", p.host, p.container))
        .collect();
    (
        text,
        format!(
            "reach it on 127.0.0.1: kubectl port-forward service/{name} {}",
            forwards.join(" ")
        ),
    )
}

/// The Secret's file (0600) and the `.gitignore` of its folder.
pub fn secret_files(input: &Input, path: &str, metadata: Map, data: Map) -> Vec<OutFile> {
    let profile = input.profile;
    let secret = Map::new()
        .set("apiVersion", "v1")
        .set("kind", "Secret")
        .set("metadata", metadata)
        .set("type", "Opaque")
        .set("data", data);
    vec![
        OutFile {
            path: path.into(),
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
        },
        secrets_gitignore(&crate::export::bundle_dir(&profile.name)),
    ]
}

fn secret_what(mode: Mode) -> &'static str {
    match mode {
        Mode::Jupyter => "Jupyter token",
        Mode::Ssh => "sshd host key and the authorized key",
        Mode::Shell => "secrets",
    }
}
