//! The Compose file: one service that is the container `ptenv up` creates, field for field
//! (the Compose spec's names for `docker run`'s flags), plus a folder beside it with the
//! derived image's Dockerfile, the mode's files and its secrets.
//!
//! Checked against Debian's docker-compose 1.29 (the Compose spec of 2021), so that both it
//! and Compose v2 accept the file: `deploy.resources.reservations.devices` with
//! `capabilities: [gpu]` (1.28+), `secrets:` with `file:` and an absolute `target:` (bind
//! mounts outside swarm; `mode`/`uid`/`gid` are not supported there, so the files carry their
//! own), `${VAR:-default}` in `ulimits` (converted to a number after interpolation).
//!
//! With `--nodes N` the profile's command trains on N services of the one network Compose
//! makes for the file, `<profile>-0` … `<profile>-N-1`, each a node of one torchrun job that
//! meets the others through the c10d rendezvous on node 0 (the multi-node wiring of the
//! Kubernetes exports, tried on one machine).

use serde_yaml::Value;

use super::torchrun::{self, Rendezvous, RDZV_PORT};
use super::{
    bundle_dir, document, mode_files, secrets_gitignore, strings, FileKind, Input, Map, OutFile,
    Rendered,
};
use crate::error::{Error, Result};
use crate::plan::GpuRequest;
use crate::profile::Mode;
use crate::project::slug;
use crate::recipe::{CA_ARG, CA_FLAG, PIP_ARGS, PROXY_ARGS};

/// The variable that overrides memlock at `docker compose up` time.
pub const MEMLOCK_VAR: &str = "PTENV_MEMLOCK";

/// Where the files beside the compose file go.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The folder beside the compose file for the Dockerfile, the mode's files and secrets,
    /// e.g. `ptenv-jupyter`.
    pub bundle: String,
    /// Whether the compose file lies in the project folder: the project is then mounted as
    /// `.`, so the file works wherever the repository is checked out.
    pub in_project: bool,
}

impl Layout {
    /// `ptenv-<profile>`.
    pub fn for_profile(profile: &str, in_project: bool) -> Layout {
        Layout {
            bundle: bundle_dir(profile),
            in_project,
        }
    }
}

/// The nodes of a multi-node job: how many, and the torchrun line each service runs.
struct Nodes {
    count: u32,
    command: Vec<String>,
}

/// `--nodes N`: refused without the profile's own command (the modes' servers never end and
/// torchrun needs a program).
fn nodes(input: &Input, service: &str, count: Option<u32>) -> Result<Option<Nodes>> {
    let Some(count) = count else {
        return Ok(None);
    };
    if count == 0 {
        return Err(
            Error::usage("`--nodes 0`: a training job needs at least one node")
                .hint("--nodes 2 runs the profile's command on two services that rendezvous"),
        );
    }
    let profile = input.profile;
    let Some(cmd) = profile.command.as_deref() else {
        return Err(super::command_required(
            profile,
            "`--nodes` runs the profile's `command` under torchrun on every node",
            "or export the interactive environment without --nodes",
        ));
    };
    let k = &profile.kubernetes;
    let nproc = k
        .nproc_per_node
        .or(k.gpus_per_node)
        .unwrap_or(match &input.spec.gpus {
            Some(GpuRequest::Devices(ids)) => ids.len() as u32,
            Some(GpuRequest::Count(n)) => *n,
            _ => 1,
        });
    let rdzv = Rendezvous {
        nodes: count,
        endpoint: format!("{}:{RDZV_PORT}", node_name(service, 0)),
        id: service.to_string(),
    };
    Ok(Some(Nodes {
        count,
        command: crate::modes::entry_command(torchrun::multi_node(nproc, &rdzv, cmd)),
    }))
}

/// The service (and hostname) of node `i`.
fn node_name(service: &str, i: u32) -> String {
    format!("{service}-{i}")
}

/// The compose file's name for the project's home volume.
const HOME_VOLUME: &str = "home";

pub fn render(input: &Input, layout: &Layout, node_count: Option<u32>) -> Result<Rendered> {
    let spec = input.spec;
    let b = &layout.bundle;
    let service_name = slug(&input.profile.name);
    let multi = nodes(input, &service_name, node_count)?;
    let mut files = vec![
        OutFile {
            path: format!("{b}/Dockerfile").into(),
            contents: input.dockerfile.as_bytes().to_vec(),
            mode: 0o644,
            secret: false,
            owner: None,
        },
        OutFile {
            // The folder is the build context: the Dockerfile needs nothing else, and the
            // secrets must not travel to the builder.
            path: format!("{b}/.dockerignore").into(),
            contents:
                b"# Written by ptenv export: the Dockerfile copies nothing in.\n*\n!Dockerfile\n"
                    .to_vec(),
            mode: 0o644,
            secret: false,
            owner: None,
        },
        secrets_gitignore(b),
    ];

    let project = input.project.path.display().to_string();
    let mut volumes: Vec<Value> = spec
        .mounts
        .iter()
        .map(|m| {
            let source = match m.source.strip_prefix(&project) {
                Some(rest) if layout.in_project && (rest.is_empty() || rest.starts_with('/')) => {
                    format!(".{rest}")
                }
                _ => m.source.clone(),
            };
            bind_volume(&source, &m.target, m.readonly)
        })
        .collect();
    // The home a named volume, as under `ptenv up`: `docker compose down` keeps it, `down -v`
    // removes it. Compose names it after the compose project, so it is not `up`'s volume.
    let mut volumes_top = Map::new();
    for v in &spec.volumes {
        volumes.push(
            Map::new()
                .set("type", "volume")
                .set("source", HOME_VOLUME)
                .set("target", v.target.as_str())
                .into(),
        );
        volumes_top = volumes_top.set(HOME_VOLUME, Map::new());
    }
    let mut secrets_used = Vec::new();
    let mut secrets_top = Map::new();
    for m in mode_files(input.setup) {
        let f = m.file;
        match m.kind {
            FileKind::Secret => {
                let rel = format!("{b}/secrets/{}", m.key);
                secrets_used.push(Value::from(
                    Map::new()
                        .set("source", m.key.as_str())
                        .set("target", f.path.as_str()),
                ));
                secrets_top = secrets_top.set(&m.key, Map::new().set("file", format!("./{rel}")));
                files.push(OutFile {
                    path: rel.into(),
                    contents: f.contents.clone(),
                    // Outside swarm a secret is a bind mount: the file's own mode and owner
                    // apply, as `ptenv up` sets them (sshd reads authorized_keys, 0644, as the
                    // user; the token and the host key are 0600).
                    mode: f.mode,
                    secret: true,
                    owner: Some((f.uid, f.gid)),
                });
            }
            FileKind::Config => {
                let rel = format!("{b}/files{}", f.path);
                volumes.push(bind_volume(&format!("./{rel}"), &f.path, true));
                files.push(OutFile {
                    path: rel.into(),
                    contents: f.contents.clone(),
                    mode: f.mode,
                    secret: false,
                    owner: Some((f.uid, f.gid)),
                });
            }
        }
    }

    // `KEY=VALUE` strings: in the map form, PyYAML (docker-compose 1.x) reads a value such as
    // `10:30` as a base-60 number and Compose passes `630`.
    let mut environment: Vec<Value> = spec.env.iter().map(|e| Value::String(e.clone())).collect();
    if multi.is_some() {
        environment.extend(
            input
                .profile
                .kubernetes
                .nccl_env()
                .into_iter()
                .map(|(k, v)| Value::String(format!("{k}={v}"))),
        );
    }
    let ports: Vec<Value> = spec
        .ports
        .iter()
        .map(|p| {
            Value::String(format!(
                "{}:{}:{}",
                crate::address::port_spec_host(&p.bind),
                p.host,
                p.container
            ))
        })
        .collect();
    let ulimits = spec.ulimits.iter().fold(Map::new(), |m, u| {
        if u.name == "memlock" {
            // An engine that may not raise memlock refuses to start the container
            // ("error setting rlimit type 8"); `ptenv up` then retries without it. Compose
            // cannot retry, so the value can be overridden when starting (see the header).
            let v = |n: i64| Value::String(format!("${{{MEMLOCK_VAR}:-{n}}}"));
            if u.soft == u.hard {
                m.set(u.name, v(u.soft))
            } else {
                m.set(
                    u.name,
                    Map::new().set("soft", v(u.soft)).set("hard", v(u.hard)),
                )
            }
        } else if u.soft == u.hard {
            m.set(u.name, u.soft)
        } else {
            m.set(u.name, Map::new().set("soft", u.soft).set("hard", u.hard))
        }
    });
    let deploy = spec.gpus.as_ref().map(|g| {
        let device = Map::new().set("driver", "nvidia");
        let device = match g {
            GpuRequest::All => device.set("count", "all"),
            // Compose's `count` takes a number as docker's `--gpus N` does; which GPUs is the
            // engine's choice there (docs/gpus.md §1).
            GpuRequest::Count(n) => device.set("count", *n as u64),
            GpuRequest::Devices(ids) => device.set("device_ids", strings(ids)),
        }
        .set("capabilities", strings(&["gpu".to_string()]));
        Map::new().set(
            "resources",
            Map::new().set(
                "reservations",
                Map::new().set("devices", Value::Sequence(vec![device.into()])),
            ),
        )
    });

    let service = Map::new()
        .set("image", spec.image.as_str())
        .set(
            "build",
            Map::new()
                .set("context", format!("./{b}"))
                .list("args", build_arg_names()),
        )
        .opt("user", spec.user.as_deref())
        .set("working_dir", spec.workdir.as_str())
        .set("command", strings(&spec.cmd))
        .set("init", spec.init);
    let service = service
        .list("environment", environment)
        .list("ports", ports)
        .list("volumes", volumes)
        .list("secrets", secrets_used)
        .opt("shm_size", spec.shm_size.map(compose_size))
        .opt("ipc", spec.ipc_host.then_some("host"));
    let service = if ulimits.is_empty() {
        service
    } else {
        service.set("ulimits", ulimits.clone())
    };
    let service = service.opt("deploy", deploy);
    let services = match &multi {
        None => Map::new().set(&service_name, service),
        Some(n) => (0..n.count).fold(Map::new(), |all, i| {
            let node = service
                .clone()
                .set("hostname", node_name(&service_name, i))
                .set("command", strings(&n.command));
            // One machine: the profile's host ports can be published once, by node 0.
            let node = if i == 0 { node } else { node.without("ports") };
            all.set(&node_name(&service_name, i), node)
        }),
    };
    let names: Vec<String> = match &multi {
        None => vec![service_name.clone()],
        Some(n) => (0..n.count).map(|i| node_name(&service_name, i)).collect(),
    };
    let mut top = Map::new().set("services", services);
    if !volumes_top.is_empty() {
        top = top.set("volumes", volumes_top);
    }
    if !secrets_top.is_empty() {
        top = top.set("secrets", secrets_top);
    }
    // Compose interpolates `$` in every value: what comes from the profile (env, command,
    // paths) must reach the container as written. The ulimits are put back afterwards: they
    // hold ptenv's own `${PTENV_MEMLOCK:-…}` and nothing of the user's.
    let mut doc: Value = top.into();
    escape_interpolation(&mut doc);
    if !ulimits.is_empty() {
        for name in &names {
            doc["services"][name.as_str()]["ulimits"] = ulimits.clone().into();
        }
    }

    let mut header = vec![format!(
        "Written by `ptenv export compose` from the profile `{}` of {}:",
        input.profile.name, project
    )];
    match &multi {
        None => header.extend([
            format!(
                "the container `ptenv up {}` creates. Start it with `docker compose up -d`",
                input.profile.name
            ),
            "(or docker-compose 1.28+); stop it with `docker compose down`.".into(),
        ]),
        Some(n) => header.extend([
            format!(
                "the container `ptenv up {}` creates, as {} nodes of one torchrun job: the services",
                input.profile.name, n.count
            ),
            format!(
                "{} … {} on this file's network, node 0 the rendezvous host (c10d, port {RDZV_PORT}).",
                node_name(&service_name, 0),
                node_name(&service_name, n.count - 1)
            ),
            "Train with `docker compose up` (or docker-compose 1.28+; it returns when every node".into(),
            "has finished), then `docker compose down`.".into(),
        ]),
    }
    header.extend([
        String::new(),
        format!("image: built from ./{b}/Dockerfile when it is not on the machine yet"),
        format!("(FROM {}", input.base_image),
        "plus the mode's tools and the user); `docker compose build` rebuilds it.".into(),
        "The build takes proxies, PIP_INDEX_URL and a CA from the environment, as `ptenv up`"
            .into(),
        "does: behind a TLS-inspecting proxy, the certificates the base image lacks go in".into(),
        format!("{CA_FLAG}=1 {CA_ARG}=\"$(cat corp-root.pem)\" docker compose build."),
    ]);
    if let Some(v) = spec.volumes.first() {
        header.extend([
            String::new(),
            format!(
                "home: the volume `{HOME_VOLUME}` at {}, as `ptenv up` keeps one per project:",
                v.target
            ),
            "`pip install` there lasts, with caches and shell history; `docker compose down`"
                .into(),
            "keeps it, `docker compose down -v` removes it.".into(),
        ]);
    }
    if spec.ulimits.iter().any(|u| u.name == "memlock") {
        header.extend([
            String::new(),
            "memlock: -1 (unlimited), as NVIDIA recommends for pinned memory. An engine that may".into(),
            "not raise it fails with \"error setting rlimit type 8: operation not permitted\":".into(),
            format!("start with {MEMLOCK_VAR}=<the daemon's limit in bytes> (`grep 'locked memory'"),
            "/proc/$(pidof dockerd)/limits`), or allow it: LimitMEMLOCK=infinity for docker.service.".into(),
        ]);
    }
    if !spec.ports.is_empty() {
        header.extend([
            String::new(),
            "ports: published on the profile's address (127.0.0.1 unless it says otherwise), as"
                .into(),
            "`ptenv up` does. A host port that is taken makes Compose fail: change it here.".into(),
        ]);
    }
    if spec.gpus.is_some() {
        header.extend([
            String::new(),
            "GPUs: reserved through the NVIDIA Container Toolkit (nvidia-ctk runtime configure)."
                .into(),
        ]);
    }
    let mut text = document(&header, doc);
    if let Some(user) = &spec.user {
        // serde_yaml leaves `1000:50` unquoted, which YAML 1.1 (PyYAML, docker-compose 1.x)
        // reads as the base-60 number 60050.
        text = text.replace(
            &format!("\n    user: {user}\n"),
            &format!("\n    user: '{user}'\n"),
        );
    }

    let mut warnings = Vec::new();
    if spec.mounts.len() > 1 && !layout.in_project {
        warnings.push("the extra mounts are absolute paths of this machine; change them in the compose file for another machine".into());
    }
    let mut next = Vec::new();
    if spec.ulimits.iter().any(|u| u.name == "memlock") {
        next.push(format!(
            "an engine that may not raise memlock refuses to start it (\"error setting rlimit type 8\"): {MEMLOCK_VAR}=<its limit in bytes> docker compose up -d (see the file's header)"
        ));
    }
    if let Some(n) = &multi {
        if let (Some(request), true) = (&spec.gpus, n.count > 1) {
            warnings.push(format!(
                "the {} nodes run on this one machine and each reserves the profile's GPUs (`gpus: {request}`): they share them",
                n.count
            ));
        }
        next.push("train: docker compose up (every node's output, prefixed by its service); then docker compose down".into());
        return Ok(Rendered {
            text,
            files,
            warnings,
            next,
        });
    }
    match input.profile.mode {
        Mode::Jupyter => {
            if let (Some(p), Some(token)) = (
                spec.ports
                    .iter()
                    .find(|p| p.container == crate::modes::jupyter::PORT),
                files.iter().find(|f| f.secret),
            ) {
                next.push(format!(
                    "Jupyter: http://{}/lab?token=$(cat {})",
                    crate::address::connect_to(&p.bind, p.host),
                    token.path.display()
                ));
            }
        }
        Mode::Ssh => {
            if let Some(p) = spec
                .ports
                .iter()
                .find(|p| p.container == crate::modes::ssh::PORT)
            {
                next.push(format!(
                    "ssh: with the key `ptenv ssh` uses, ssh -i <ptenv's client key> -p {} dev@{}",
                    p.host,
                    crate::address::connect_ip(&p.bind)
                ));
            }
        }
        Mode::Shell => next.push(format!(
            "a shell: docker compose exec {service_name} bash -l"
        )),
    }
    Ok(Rendered {
        text,
        files,
        warnings,
        next,
    })
}

/// The build args `docker compose build` takes from its own environment (names without
/// values; unset ones stay unset): the ones `ptenv up` passes to its build, so the same
/// Dockerfile builds behind the same proxy, package index and CA.
fn build_arg_names() -> Vec<Value> {
    PROXY_ARGS
        .iter()
        .chain(PIP_ARGS.iter())
        .chain([CA_FLAG, CA_ARG].iter())
        .map(|name| Value::from(*name))
        .collect()
}

/// A bind mount in the long syntax: the short `source:target` cannot hold a path with `:`.
fn bind_volume(source: &str, target: &str, readonly: bool) -> Value {
    let volume = Map::new()
        .set("type", "bind")
        .set("source", source)
        .set("target", target);
    if readonly {
        volume.set("read_only", true).into()
    } else {
        volume.into()
    }
}

/// Every `$` in the strings of `value` written `$$`, which Compose reads as a literal `$`.
fn escape_interpolation(value: &mut Value) {
    match value {
        Value::String(s) => *s = s.replace('$', "$$"),
        Value::Sequence(items) => items.iter_mut().for_each(escape_interpolation),
        Value::Mapping(m) => m.iter_mut().for_each(|(_, v)| escape_interpolation(v)),
        Value::Tagged(t) => escape_interpolation(&mut t.value),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `12g`, `512m`, or bytes: how `--shm-size` is written, exact.
pub fn compose_size(bytes: u64) -> Value {
    const G: u64 = 1 << 30;
    const M: u64 = 1 << 20;
    if bytes % G == 0 {
        Value::String(format!("{}g", bytes / G))
    } else if bytes % M == 0 {
        Value::String(format!("{}m", bytes / M))
    } else {
        Value::from(bytes)
    }
}

#[cfg(test)]
mod tests;
