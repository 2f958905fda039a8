//! The three ways of working inside an environment (jupyter, ssh, shell): what each adds to the
//! container before it starts ([`Setup`]), and what each does once it runs.

use crate::identity::User;

/// A file ptenv places in the container before it starts (through the engine's archive API),
/// e.g. the sshd host key or authorized_keys. Never a bind mount of a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerFile {
    /// Absolute path inside the container.
    pub path: String,
    pub contents: Vec<u8>,
    /// Unix permission bits, e.g. 0o600.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// What a mode adds to the container spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Setup {
    /// Extra environment variables (never secrets: `docker inspect` shows them).
    pub env: Vec<(String, String)>,
    /// Files copied in before start.
    pub files: Vec<ContainerFile>,
    /// The container's command, unless the profile gives one.
    pub command: Option<Vec<String>>,
    /// sshd must start as root to drop privileges per session; the others run as the user.
    pub run_as_root: bool,
}

/// Everything a mode needs to prepare its setup.
pub struct SetupInput<'a> {
    pub user: &'a User,
    pub project: &'a crate::project::Project,
}
