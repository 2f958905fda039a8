//! `ptenv export`: the container `ptenv up` would create, written for the engines people run
//! beyond one workstation: a Compose file ([`compose`]) and Kubernetes manifests ([`k8s`]).
//!
//! Pure: the plan ([`Spec`]: image, GPUs, /dev/shm, ulimits, mounts, ports, env, user, command),
//! the mode's [`Setup`] (its files: scripts, the Jupyter token, sshd's keys) and the derived
//! image's Dockerfile in; YAML text and the files to write beside it out. Nothing here reads
//! the environment or writes a file: `commands/export.rs` does that.
//!
//! Secrets (the Jupyter token, sshd's host key, the authorized key) are never inlined in the
//! main document: Compose references 0600 files beside it through `secrets:`, Kubernetes gets
//! a `Secret` in a file of its own.

pub mod compose;
pub mod k8s;
pub mod torchrun;

use std::path::PathBuf;

use serde_yaml::{Mapping, Value};

use crate::modes::{ContainerFile, Setup, CONTAINER_DIR};
use crate::plan::Spec;
use crate::profile::Profile;
use crate::project::{slug, Project};

/// What an export is made from: the same pieces `ptenv up` creates its container from.
pub struct Input<'a> {
    pub profile: &'a Profile,
    pub project: &'a Project,
    /// The container `ptenv up` would create; `spec.image` is the image to run.
    pub spec: &'a Spec,
    pub setup: &'a Setup,
    /// The image the derived one is built from (`FROM` of `dockerfile`).
    pub base_image: &'a str,
    /// The derived image's Dockerfile (`engine::recipe::Recipe::dockerfile`).
    pub dockerfile: &'a str,
}

/// A file written beside the main document (only with `-o`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    /// Relative to the main document's folder.
    pub path: PathBuf,
    pub contents: Vec<u8>,
    pub mode: u32,
    /// Whether it holds a secret (its folder is kept from git and from other users).
    pub secret: bool,
    /// `uid:gid` the container reads or writes it as: when ptenv runs as root, the file is
    /// given to that user, as `ptenv up` gives the files it copies in. `None` for files only
    /// people read (the Dockerfile, ignore files): they go to the folder's owner.
    pub owner: Option<(u32, u32)>,
}

/// An export: the main document, the files beside it, and what to tell the user.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// The main document: written to `-o FILE`, or printed.
    pub text: String,
    /// Files beside it: written only with `-o` (with `-o` absent they are described instead).
    pub files: Vec<OutFile>,
    /// Things that differ from `ptenv up` or need the user's attention.
    pub warnings: Vec<String>,
    /// How to use the result, printed after it is written.
    pub next: Vec<String>,
}

/// The folder beside an export for what it needs next to it (the Dockerfile, the mode's
/// files, the secrets in `secrets/`): `ptenv-<profile>`.
pub fn bundle_dir(profile: &str) -> String {
    format!("ptenv-{}", slug(profile))
}

/// The `.gitignore` of a bundle folder: the export may sit in a repository, its secrets stay
/// on this machine.
pub(crate) fn secrets_gitignore(bundle: &str) -> OutFile {
    OutFile {
        path: format!("{bundle}/.gitignore").into(),
        contents: b"# Written by ptenv export: the secrets stay on this machine.\n/secrets/\n"
            .to_vec(),
        mode: 0o644,
        secret: false,
        owner: None,
    }
}

/// How a file of the mode reaches the container outside ptenv, which copies files in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A key or a token: a Compose secret, a Kubernetes Secret.
    Secret,
    /// A script or a config: a bind mount, a ConfigMap.
    Config,
}

/// A file of the mode, classified, with a name usable as a Compose secret name and a
/// ConfigMap or Secret key.
#[derive(Debug, Clone)]
pub struct ModeFile<'a> {
    pub file: &'a ContainerFile,
    pub kind: FileKind,
    /// `jupyter-token`, `entry-sh`, `etc-profile-d-ptenv-sh`.
    pub key: String,
}

/// The mode's files with their kind. Private files (no bits for group and others, e.g. the
/// token 0600 and the host key 0600) are secrets; so is `authorized_keys`: it is public, but
/// whoever can change it can log in.
pub fn mode_files(setup: &Setup) -> Vec<ModeFile<'_>> {
    let authorized = crate::modes::ssh::authorized_keys_path();
    setup
        .files
        .iter()
        .map(|f| {
            let kind = if f.mode & 0o077 == 0 || f.path == authorized {
                FileKind::Secret
            } else {
                FileKind::Config
            };
            let rel = f
                .path
                .strip_prefix(CONTAINER_DIR)
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(&f.path);
            ModeFile {
                file: f,
                kind,
                key: slug(rel),
            }
        })
        .collect()
}

/// An insertion-ordered YAML map, so documents read in the order people write them
/// (`apiVersion`, `kind`, `metadata`, `spec`; `image` before `command`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Map(Mapping);

impl Map {
    pub(crate) fn new() -> Map {
        Map(Mapping::new())
    }

    pub(crate) fn set(mut self, key: &str, value: impl Into<Value>) -> Map {
        self.0.insert(Value::String(key.to_string()), value.into());
        self
    }

    /// Sets `key` only when there is a value.
    pub(crate) fn opt(self, key: &str, value: Option<impl Into<Value>>) -> Map {
        match value {
            Some(v) => self.set(key, v),
            None => self,
        }
    }

    /// Sets `key` only when the list is not empty.
    pub(crate) fn list(self, key: &str, items: Vec<Value>) -> Map {
        if items.is_empty() {
            self
        } else {
            self.set(key, Value::Sequence(items))
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Without `key`, the others in their order.
    pub(crate) fn without(mut self, key: &str) -> Map {
        self.0.shift_remove(key);
        self
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Value {
        Value::Mapping(m.0)
    }
}

pub(crate) fn strings(items: &[String]) -> Value {
    Value::Sequence(items.iter().map(|s| Value::String(s.clone())).collect())
}

/// One YAML document, with `# ` comment lines on top.
pub(crate) fn document(comments: &[String], value: Value) -> String {
    let mut out = comment_lines(comments);
    out.push_str(&serde_yaml::to_string(&value).expect("a YAML value serializes"));
    out
}

/// `# ` comment lines; an empty string is an empty comment line.
pub(crate) fn comment_lines(comments: &[String]) -> String {
    let mut out = String::new();
    for c in comments {
        for line in c.lines() {
            if line.is_empty() {
                out.push_str("#\n");
            } else {
                out.push_str(&format!("# {line}\n"));
            }
        }
        if c.is_empty() {
            out.push_str("#\n");
        }
    }
    out
}

/// A job that runs to completion needs the profile's own command: the modes' servers never end,
/// and torchrun needs a program to start. `why` says what needs it, `instead` the way out.
pub(crate) fn command_required(profile: &Profile, why: &str, instead: &str) -> crate::error::Error {
    crate::error::Error::usage(format!(
        "{why}, and the profile `{}` has none (its mode's {} would never finish)",
        profile.name, profile.mode
    ))
    .hint("add e.g. `command: [python, train.py]` to the profile in ptenv.yaml")
    .hint(instead.to_string())
}

/// `KEY=VALUE` (the plan's environment) as a key and a value.
pub(crate) fn split_env(e: &str) -> (&str, &str) {
    e.split_once('=').unwrap_or((e, ""))
}

/// Deterministic inputs and checked-in snapshots for the renderers' tests.
#[cfg(test)]
pub(crate) mod fixture {
    use std::path::{Path, PathBuf};

    use crate::error::Result;
    use crate::identity::User;
    use crate::modes::{KeyPair, Secrets};
    use crate::modes::{Setup, SetupInput};
    use crate::plan::{self, Spec};
    use crate::profile::{Layer, Origin, Profile, SourceFile, Sources};
    use crate::project::Project;

    /// Fixed text for the project's secrets: the snapshots must not change with random keys.
    pub struct FixedSecrets;

    impl Secrets for FixedSecrets {
        fn jupyter_token(&mut self, _rotate: bool) -> Result<String> {
            Ok("fixture-token".into())
        }
        fn client_key(&mut self, comment: &str) -> Result<KeyPair> {
            Ok(key(comment, "client"))
        }
        fn host_key(&mut self, comment: &str) -> Result<KeyPair> {
            Ok(key(comment, "host"))
        }
        fn take_warnings(&mut self) -> Vec<String> {
            Vec::new()
        }
    }

    fn key(comment: &str, which: &str) -> KeyPair {
        KeyPair {
            private_openssh: format!("fixture private {which} key\n").into(),
            public_openssh: format!("ssh-ed25519 AAAAfixture{which} {comment}"),
            path: PathBuf::from(format!("/fixture/{which}_ed25519")),
        }
    }

    pub struct Fixture {
        pub profile: Profile,
        pub project: Project,
        pub setup: Setup,
        pub spec: Spec,
        pub dockerfile: String,
    }

    pub const BASE: &str = "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime";

    /// Profile `name` of a project at /home/ana/proj with this `ptenv.yaml`, for user
    /// 1234:1300 on a 24 GiB host; keys and tokens replaced by fixed text.
    pub fn build(yaml: &str, name: &str) -> Fixture {
        let layer = crate::profile::parse(yaml, Path::new("ptenv.yaml")).unwrap();
        let sources = Sources {
            files: vec![SourceFile {
                origin: Origin::Project(PathBuf::from("ptenv.yaml")),
                layer,
            }],
        };
        let profile = sources.resolve(name, &Layer::default()).unwrap();
        let project = Project::new(Path::new("/home/ana/proj"));
        let user = User::for_ids(1234, 1300);
        let mut store = FixedSecrets;
        let input = SetupInput {
            user: &user,
            project: &project,
            new_token: false,
        };
        let mut setup = match profile.mode {
            crate::profile::Mode::Jupyter => crate::modes::jupyter::setup(&mut store, &input),
            crate::profile::Mode::Ssh => crate::modes::ssh::setup(&mut store, &input),
            crate::profile::Mode::Shell => Ok(crate::modes::shell::setup()),
        }
        .unwrap();
        for f in &mut setup.files {
            if f.path.ends_with("/token")
                || f.path.ends_with("_key")
                || f.path.ends_with(".pub")
                || f.path.ends_with("authorized_keys")
            {
                f.contents = format!("fixture contents of {}\n", f.path).into_bytes();
            }
        }
        let recipe = crate::recipe::Recipe {
            base: BASE,
            base_id: "sha256:0123",
            base_user: None,
            mode: profile.mode,
            packages: &profile.packages,
            user: &user,
            sudo: profile.sudo,
            dependencies: None,
        };
        let image = recipe.tag().unwrap();
        let dockerfile = recipe.dockerfile().unwrap();
        let spec = plan::plan(&plan::Input {
            profile: &profile,
            project: &project,
            image: &image,
            base_image: BASE,
            gpus: plan::GpuRequest::from_profile(&profile.gpus, true),
            nvidia_default_runtime: true,
            host_ram: 24 << 30,
            user: &user,
            setup: &setup,
            home: Path::new("/home/ana"),
            workspace: plan::Workspace::Project,
        });
        Fixture {
            profile,
            project,
            setup,
            spec,
            dockerfile,
        }
    }

    impl Fixture {
        pub fn input(&self) -> super::Input<'_> {
            super::Input {
                profile: &self.profile,
                project: &self.project,
                spec: &self.spec,
                setup: &self.setup,
                base_image: BASE,
                dockerfile: &self.dockerfile,
            }
        }
    }

    /// Compares `actual` with the checked-in `tests/export/snapshots/NAME`, byte for byte;
    /// `PTENV_UPDATE_SNAPSHOTS=1` rewrites it instead (then review `git diff`).
    #[track_caller]
    pub fn assert_snapshot(name: &str, actual: &str) {
        // The snapshots sit with the workspace's tests, beside the integration tests' ones.
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/export/snapshots")
            .join(name);
        if std::env::var_os("PTENV_UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, actual).unwrap();
            return;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read the snapshot {}: {e}\nhint: PTENV_UPDATE_SNAPSHOTS=1 cargo test --lib export writes it",
                path.display()
            )
        });
        if expected != actual {
            panic!(
                "{name} differs from its snapshot {}\n--- expected\n{expected}\n--- actual\n{actual}\nhint: if the change is intended: PTENV_UPDATE_SNAPSHOTS=1 cargo test --lib export, then review `git diff tests/export/snapshots`",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::User;
    use crate::modes::SetupInput;
    use std::path::Path;

    #[test]
    fn mode_files_are_secrets_or_configs() {
        let mut store = fixture::FixedSecrets;
        let user = User::for_ids(1234, 1300);
        let project = Project::new(Path::new("/home/ana/proj"));
        let input = SetupInput {
            user: &user,
            project: &project,
            new_token: false,
        };
        let j = crate::modes::jupyter::setup(&mut store, &input).unwrap();
        let kinds: Vec<(String, FileKind)> = mode_files(&j)
            .iter()
            .map(|m| (m.key.clone(), m.kind))
            .collect();
        // The entry script and the login hook are in the derived image: only the token.
        assert_eq!(kinds, vec![("jupyter-token".into(), FileKind::Secret)]);

        let s = crate::modes::ssh::setup(&mut store, &input).unwrap();
        let keys = |kind: FileKind| -> Vec<String> {
            mode_files(&s)
                .iter()
                .filter(|m| m.kind == kind)
                .map(|m| m.key.clone())
                .collect()
        };
        assert_eq!(
            keys(FileKind::Secret),
            vec!["ssh-ssh-host-ed25519-key", "ssh-authorized-keys"],
            "the host key's public half is no secret"
        );
        assert_eq!(
            keys(FileKind::Config),
            vec![
                "ssh-sshd-config",
                "ssh-ssh-host-ed25519-key-pub",
                "ssh-start-sh",
                "ssh-session-sh"
            ]
        );
    }

    #[test]
    fn maps_keep_their_order_and_documents_carry_comments() {
        let v: Value = Map::new()
            .set("b", 1)
            .set("a", "x")
            .opt("none", None::<i64>)
            .list("empty", vec![])
            .into();
        assert_eq!(
            document(&["top\n\nmore".into()], v),
            "# top\n#\n# more\nb: 1\na: x\n"
        );
        assert_eq!(split_env("A=b=c"), ("A", "b=c"));
    }
}
