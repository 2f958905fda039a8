//! What `up` hands to a mode once its container runs, and the mode's step after start.

use super::{jupyter, shell, ssh};
use crate::error::Result;
use crate::identity::User;
use crate::profile::{Mode, Profile};

/// What `up` hands to the mode once its container runs.
pub struct Started<'a> {
    pub engine: &'a crate::engine::Engine,
    pub printer: &'a crate::output::Printer,
    pub profile: &'a Profile,
    pub project: &'a crate::project::Project,
    pub user: &'a User,
    /// The container's name (or id).
    pub container: &'a str,
    /// `up --open`: open Jupyter's URL in the browser.
    pub open: bool,
    /// `up --detach`: start and return (the shell mode opens no shell).
    pub detach: bool,
    /// The server the engine runs on, when it is reached over ssh: the mode's ports are
    /// forwarded from there to this machine's loopback.
    pub ssh: Option<&'a crate::transport::SshConnection>,
    /// The engine's machine when it is another one that no ssh connection reaches (a TLS
    /// engine): the mode's ports are on its loopback, out of this machine's reach.
    pub unreached: Option<&'a str>,
    /// This `up` created the container: if the mode fails, `up` removes it, and with it the
    /// log that `ptenv logs` would show (so errors quote the log's last lines instead).
    pub made_now: bool,
}

impl Started<'_> {
    /// `e` with a pointer to the container's whole log, unless `up` removes the container
    /// with the error (one it made), and the log with it.
    pub fn with_log_hint(&self, e: crate::error::Error) -> crate::error::Error {
        match self.made_now {
            true => e,
            false => e.hint(format!(
                "see the whole log: ptenv logs {}",
                self.profile.name
            )),
        }
    }
}

/// What the mode's step after start produced: `up`'s exit code, and the fields the mode adds
/// to `up`'s `--json` document (e.g. Jupyter's `url`, `port` and `token`).
#[derive(Debug, Default)]
pub struct AfterStart {
    pub code: i32,
    pub json: Option<ModeJson>,
}

/// The fields a mode adds to `up`'s `--json` document.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum ModeJson {
    Jupyter(jupyter::Ready),
    Ssh(ssh::ConnectionJson),
}

/// Runs `work` until it ends or the user presses Ctrl-C. Needed because `up` installs a SIGINT
/// handler (to clean up a half-made container), after which Ctrl-C no longer ends the process
/// by itself. The container keeps running; the next `ptenv up` reuses it.
pub(crate) async fn interruptible<T>(
    what: &str,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::select! {
        r = work => r,
        _ = tokio::signal::ctrl_c() => Err(crate::error::Error::interrupted(what)
            .hint("the container keeps running: `ptenv up` again reuses it, `ptenv down` stops it")),
    }
}

/// The mode's step once the container runs. Jupyter: wait until it answers with the token,
/// print the URL (and open it with `--open`). ssh: pin the host key, write the client config,
/// print how to connect. shell: open the interactive shell, unless `--detach`. Human output is
/// printed here; the JSON fields are returned for `up` to print in its one document.
pub async fn after_start(started: &Started<'_>) -> Result<AfterStart> {
    match started.profile.mode {
        Mode::Jupyter => jupyter::after_start(started).await,
        Mode::Ssh => ssh::after_start(started).await,
        Mode::Shell => shell::after_start(started).await,
    }
}
