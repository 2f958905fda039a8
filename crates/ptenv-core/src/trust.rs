//! Trust in a project's `ptenv.yaml`.
//!
//! `git clone … && ptenv up` must not let a stranger's file mount this machine's folders, open
//! ports to the network, run commands or pull images from anywhere. Settings of that kind in a
//! project file (the [`Risk`]s) are applied only once the user has trusted that exact content,
//! as direnv (`direnv allow`), mise (`mise trust`) and VS Code (Workspace Trust) do. The user's
//! own `~/.config/ptenv/config.yaml` is theirs and always trusted; flags are typed by the user.
//!
//! Trust is recorded per project folder in ptenv's data dir with the SHA-256 of the file it
//! covers; any change to the file needs trust again, and the risky settings are compared with
//! the recorded ones so the user sees what changed. `ptenv.lock` needs no trust of its own: it
//! may only pin a digest of the repository the (trusted) profile names, which is checked
//! wherever the lock is used.
//!
//! This module is pure; the binary's `trust::Store` reads and writes the records.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::profile::{Ipc, Kubernetes, Layer, DEFAULT_REPOSITORY};
use crate::project::hex;
use crate::registry::reference::Reference;

/// One setting of a project file that reaches the host or runs code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Risk {
    /// Where it is written: `mounts`, `profiles.train.command`.
    pub place: String,
    /// The value, as the file gives it: `/var/run/docker.sock:/var/run/docker.sock`.
    pub setting: String,
    /// What it lets the file do.
    pub why: String,
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.place, self.setting, self.why)
    }
}

/// The risky settings of a project file's layer: its top-level settings and each profile's.
pub fn risks(layer: &Layer) -> Vec<Risk> {
    let mut out = Vec::new();
    settings_risks(layer, "", &mut out);
    for (name, profile) in layer.profiles.iter().flatten() {
        settings_risks(profile, &format!("profiles.{name}."), &mut out);
    }
    out
}

/// The risks of one layer's own settings. Every key is named here on purpose (no `..`): a new
/// key does not compile until someone decides whether it needs trust.
fn settings_risks(layer: &Layer, prefix: &str, out: &mut Vec<Risk>) {
    let Layer {
        description: _,
        mode: _,
        pytorch: _,
        variant: _,
        cuda: _,
        image,
        repository,
        pull: _,
        gpus: _,
        shm_size: _,
        ipc,
        ulimits: _,
        mounts,
        env,
        ports,
        bind,
        packages,
        dependencies,
        command,
        ca_bundle,
        kubernetes,
        workspace,
        // Root inside the container only: the container's own business.
        sudo: _,
        // Stops the project's own container; reaches nothing else.
        idle_stop: _,
        host,
        default: _,
        profiles: _,
    } = layer;
    let mut add = |key: &str, setting: String, why: &str| {
        out.push(Risk {
            place: format!("{prefix}{key}"),
            setting,
            why: why.to_string(),
        })
    };
    if let Some(image) = image.as_deref().filter(|i| !is_official(i)) {
        add(
            "image",
            image.to_string(),
            "runs this image instead of an official pytorch/pytorch one",
        );
    }
    if let Some(repo) = repository.as_deref().filter(|r| !is_official(r)) {
        add(
            "repository",
            repo.to_string(),
            "pulls and runs images from this repository",
        );
    }
    if *ipc == Some(Ipc::Host) {
        add(
            "ipc",
            "host".into(),
            "shares this machine's IPC namespace and /dev/shm with the container",
        );
    }
    if let Some(host) = host {
        add(
            "host",
            host.clone(),
            "connects ptenv to this Docker engine and runs the project's environments there",
        );
    }
    if let Some(path) = workspace.as_ref().and_then(|w| w.host_path.as_deref()) {
        add(
            "workspace",
            format!("host_path: {path}"),
            "gives the container this folder of the server as /workspace",
        );
    }
    for m in mounts.iter().flatten() {
        let ro = if m.readonly { ":ro" } else { "" };
        add(
            "mounts",
            format!("{}:{}{ro}", m.source, m.target),
            "gives the container this folder or file of this machine",
        );
    }
    for (k, v) in env.iter().flatten() {
        add(
            "env",
            format!("{}={}", k.0, v.0),
            "sets this variable for every process in the container",
        );
    }
    for p in ports.iter().flatten() {
        if let Some(ip) = p.bind.as_deref().filter(|ip| !is_loopback(ip)) {
            let host = p.host.map_or(String::new(), |h| format!("{h}:"));
            add(
                "ports",
                format!("{ip}:{host}{}", p.container),
                "publishes this port to the network, not only to this machine",
            );
        }
    }
    if let Some(ip) = bind.as_deref().filter(|ip| !is_loopback(ip)) {
        add(
            "bind",
            ip.to_string(),
            "publishes the environment's ports (Jupyter, ssh) to the network, not only to this machine",
        );
    }
    if let Some(p) = packages {
        for a in &p.apt {
            add(
                "packages.apt",
                a.clone(),
                "installs this Debian package as root while building the image",
            );
        }
        for a in &p.pip {
            add(
                "packages.pip",
                a.clone(),
                "installs this Python package (its build scripts run) while building the image",
            );
        }
    }
    // Named one by one, like the Kubernetes settings below: a new kind of file does not
    // compile until it is classified here.
    if let Some(crate::dependencies::Settings {
        pip,
        apt,
        pyproject,
        conda,
        // Which files are found by convention, and which installer: no file of their own.
        auto: _,
        installer: _,
    }) = dependencies
    {
        for f in pip.iter().flatten() {
            add(
                "dependencies.pip",
                f.clone(),
                "installs the Python packages this file lists (their build scripts run) while building the image",
            );
        }
        if let Some(f) = apt {
            add(
                "dependencies.apt",
                f.clone(),
                "installs the Debian packages this file lists as root while building the image",
            );
        }
        if let Some(p) = pyproject {
            add(
                "dependencies.pyproject",
                p.file.clone().unwrap_or_else(|| crate::dependencies::PYPROJECT.into()),
                "installs the Python packages this file lists (their build scripts run) while building the image",
            );
        }
        if let Some(f) = conda {
            add(
                "dependencies.conda",
                f.clone(),
                "installs the Python packages of this file's pip section while building the image",
            );
        }
    }
    if let Some(c) = command {
        add(
            "command",
            serde_json::to_string(&c.0).expect("strings serialize"),
            "runs this command in the container",
        );
    }
    if let Some(ca) = ca_bundle {
        add(
            "ca_bundle",
            ca.clone(),
            "trusts these certificate authorities for the image build's downloads",
        );
    }
    // The Kubernetes settings describe a pod on someone's cluster; none of today's reaches
    // the machine ptenv runs on. Named one by one, so that a future one (a host path) does
    // not compile until it is classified here.
    if let Some(Kubernetes {
        node_selector: _,
        tolerations: _,
        pvc: _,
        nproc_per_node: _,
        cpu: _,
        memory: _,
        nodes: _,
        gpus_per_node: _,
        // Environment variables of the exported containers (the cluster's, or Compose's on
        // this machine): NCCL reads them; none names a file or a command.
        nccl: _,
    }) = kubernetes
    {}
}

/// `pytorch/pytorch` on Docker Hub, however it is written (`docker.io/pytorch/pytorch:…`).
fn is_official(image: &str) -> bool {
    let official = Reference::parse(DEFAULT_REPOSITORY);
    let r = Reference::parse(image);
    r.registry == official.registry && r.repository == official.repository
}

fn is_loopback(ip: &str) -> bool {
    ip.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
}

/// What changed among the risky settings since the user last trusted the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub added: Vec<Risk>,
    pub removed: Vec<Risk>,
}

impl Changes {
    pub fn between(before: &[Risk], now: &[Risk]) -> Changes {
        Changes {
            added: now
                .iter()
                .filter(|r| !before.contains(r))
                .cloned()
                .collect(),
            removed: before
                .iter()
                .filter(|r| !now.contains(r))
                .cloned()
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// What the user trusted: a project's file, by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub file: PathBuf,
    pub sha256: String,
    pub risks: Vec<Risk>,
}

/// A project file as it is now, judged against what the user trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub file: PathBuf,
    pub sha256: String,
    pub risks: Vec<Risk>,
    /// The user's record for this project, if any (maybe of an older content).
    pub record: Option<Record>,
}

impl Assessment {
    /// Judge `bytes`, the content of `file` whose parsed layer is `layer`.
    pub fn new(file: &Path, bytes: &[u8], layer: &Layer, record: Option<Record>) -> Assessment {
        Assessment {
            file: file.to_path_buf(),
            sha256: hex(&Sha256::digest(bytes)),
            risks: risks(layer),
            record,
        }
    }

    /// Trusted, or nothing in it needs trust.
    pub fn is_trusted(&self) -> bool {
        self.risks.is_empty()
            || self
                .record
                .as_ref()
                .is_some_and(|r| r.sha256 == self.sha256)
    }

    /// Since the recorded trust, for an untrusted file that was trusted in another version.
    pub fn changes(&self) -> Option<Changes> {
        self.record
            .as_ref()
            .filter(|r| r.sha256 != self.sha256)
            .map(|r| Changes::between(&r.risks, &self.risks))
    }

    pub fn record_now(&self) -> Record {
        Record {
            file: self.file.clone(),
            sha256: self.sha256.clone(),
            risks: self.risks.clone(),
        }
    }

    /// The settings, one per line, for messages and the prompt.
    pub fn describe(&self) -> String {
        let mut lines = Vec::new();
        match self.changes() {
            Some(c) if c.is_empty() => {
                lines.push(format!(
                    "{} changed since you trusted it; its settings that need trust are the same:",
                    self.file.display()
                ));
                lines.extend(self.risks.iter().map(|r| format!("  - {r}")));
            }
            Some(c) => {
                lines.push(format!(
                    "{} changed since you trusted it; among the settings that need trust:",
                    self.file.display()
                ));
                lines.extend(c.added.iter().map(|r| format!("  + {r}")));
                lines.extend(c.removed.iter().map(|r| format!("  - (gone) {r}")));
                let same = self.risks.iter().filter(|r| !c.added.contains(r)).count();
                if same > 0 {
                    lines.push(format!(
                        "  ({same} more, unchanged: `ptenv trust --show` lists all)"
                    ));
                }
            }
            None => {
                lines.push(format!(
                    "{} has settings that reach this machine or run code:",
                    self.file.display()
                ));
                lines.extend(self.risks.iter().map(|r| format!("  - {r}")));
            }
        }
        lines.join("\n")
    }

    /// The error of a command that may not go on: the settings and the ways forward.
    pub fn refusal(&self) -> Error {
        Error::new(format!(
            "{}\nptenv applies them only once you trust this content of the file",
            self.describe()
        ))
        .hint("read them, then run `ptenv trust` to trust this version of the file (any change asks again)")
        .hint("for a one-off run (e.g. in CI), add `--trust` to the command")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::parse;

    fn layer(text: &str) -> Layer {
        parse(text, Path::new("ptenv.yaml")).unwrap()
    }

    fn places(text: &str) -> Vec<String> {
        risks(&layer(text))
            .into_iter()
            .map(|r| format!("{} {}", r.place, r.setting))
            .collect()
    }

    #[test]
    fn a_projects_host_needs_trust_and_only_the_top_level_may_set_it() {
        assert_eq!(
            places("host: ssh://me@gpu-box\n"),
            ["host ssh://me@gpu-box"]
        );
        let e = parse(
            "profiles:\n  train:\n    host: ssh://gpu-box\n",
            Path::new("ptenv.yaml"),
        )
        .unwrap_err();
        assert!(e.message.contains("`host`"), "{}", e.message);
    }

    #[test]
    fn harmless_settings_need_no_trust() {
        let text = "default: train\npytorch: '2.7'\nvariant: devel\ncuda: '12.6'\npull: always\n\
                    gpus: [0]\nshm_size: 16g\nipc: private\nulimits: {nofile: 4096}\n\
                    ports: ['8000:8888', '127.0.0.1:6006:6006', {container: 22, bind: '::1'}]\n\
                    bind: 127.0.0.2\nrepository: pytorch/pytorch\n\
                    image: docker.io/pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime\n\
                    kubernetes: {pvc: data, nproc_per_node: 2}\n\
                    dependencies: {auto: false, installer: pip}\n\
                    profiles: {train: {mode: shell, description: x, gpus: all}}\n";
        assert_eq!(places(text), Vec::<String>::new());
    }

    #[test]
    fn each_risky_setting_is_named_with_its_place() {
        let text = "mounts: ['/:/host', '/var/run/docker.sock:/var/run/docker.sock']\n\
                    ipc: host\nbind: 0.0.0.0\nca_bundle: corp.pem\n\
                    repository: registry.example.com/team/pytorch\n\
                    profiles:\n  train:\n    mode: shell\n    image: evil.example/x:1\n\
                    \x20   command: [python, train.py]\n    env: {TOKEN: abc}\n\
                    \x20   ports: ['0.0.0.0:6006:6006']\n    packages: {apt: [git], pip: [einops]}\n\
                    \x20   dependencies: {pip: [reqs.txt], apt: apt.txt, pyproject: {groups: [dev]}, conda: env.yml, auto: false, installer: uv}\n";
        assert_eq!(
            places(text),
            [
                "repository registry.example.com/team/pytorch",
                "ipc host",
                "mounts /:/host",
                "mounts /var/run/docker.sock:/var/run/docker.sock",
                "bind 0.0.0.0",
                "ca_bundle corp.pem",
                "profiles.train.image evil.example/x:1",
                "profiles.train.env TOKEN=abc",
                "profiles.train.ports 0.0.0.0:6006:6006",
                "profiles.train.packages.apt git",
                "profiles.train.packages.pip einops",
                "profiles.train.dependencies.pip reqs.txt",
                "profiles.train.dependencies.apt apt.txt",
                "profiles.train.dependencies.pyproject pyproject.toml",
                "profiles.train.dependencies.conda env.yml",
                "profiles.train.command [\"python\",\"train.py\"]",
            ]
        );
    }

    #[test]
    fn trust_holds_for_the_exact_bytes_and_shows_what_changed() {
        let text = "mounts: ['/data:/data']\n";
        let file = Path::new("/p/ptenv.yaml");
        let a = Assessment::new(file, text.as_bytes(), &layer(text), None);
        assert!(!a.is_trusted());
        assert!(
            a.describe().contains("  - mounts: /data:/data"),
            "{}",
            a.describe()
        );
        let trusted = Assessment::new(file, text.as_bytes(), &layer(text), Some(a.record_now()));
        assert!(trusted.is_trusted());
        assert_eq!(trusted.changes(), None);

        // One byte more, even in a comment: asked again, with nothing new among the risks.
        let comment = format!("{text}#\n");
        let b = Assessment::new(
            file,
            comment.as_bytes(),
            &layer(&comment),
            Some(a.record_now()),
        );
        assert!(!b.is_trusted());
        assert_eq!(b.changes(), Some(Changes::default()));
        assert!(b.describe().contains("are the same"), "{}", b.describe());

        let changed = "mounts: ['/:/data']\nipc: host\n";
        let c = Assessment::new(
            file,
            changed.as_bytes(),
            &layer(changed),
            Some(a.record_now()),
        );
        let d = c.describe();
        assert!(d.contains("  + mounts: /:/data"), "{d}");
        assert!(d.contains("  + ipc: host"), "{d}");
        assert!(d.contains("  - (gone) mounts: /data:/data"), "{d}");
        let e = c.refusal();
        assert!(e.hints.iter().any(|h| h.contains("`ptenv trust`")), "{e}");
        assert!(e.hints.iter().any(|h| h.contains("add `--trust`")), "{e}");

        // A file without risky settings needs no record.
        let plain = "shm_size: 8g\n";
        assert!(Assessment::new(file, plain.as_bytes(), &layer(plain), None).is_trusted());
    }
}
