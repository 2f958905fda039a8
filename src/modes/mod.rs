//! The three ways of working inside an environment (jupyter, ssh, shell): what each adds to the
//! container before it starts ([`Setup`]), and what each does once it runs.

use crate::identity::User;

/// A file ptenv places in the container before it starts (through the engine's archive API),
/// e.g. the sshd host key or authorized_keys. Never a bind mount of a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ContainerFile {
    /// Absolute path inside the container.
    pub path: String,
    pub contents: Vec<u8>,
    /// Unix permission bits, e.g. 0o600.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Shows the size of the contents, never the contents: they may be a key or a token.
impl std::fmt::Debug for ContainerFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerFile")
            .field("path", &self.path)
            .field("bytes", &self.contents.len())
            .field("mode", &format_args!("{:o}", self.mode))
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .finish()
    }
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
    /// Things the user should know (e.g. a secret whose loose permissions were tightened), for
    /// the command to print with `Printer::warn`.
    pub warnings: Vec<String>,
}

/// Everything a mode needs to prepare its setup.
pub struct SetupInput<'a> {
    pub user: &'a User,
    pub project: &'a crate::project::Project,
    /// `ptenv up jupyter --new-token`: replace the stored token (the container is recreated,
    /// since its files change).
    pub new_token: bool,
}

// --- per mode ------------------------------------------------------------------------------

pub mod jupyter;
pub mod shell;
pub mod ssh;
pub mod terminal;

use crate::error::Result;
use crate::profile::{Mode, Profile};
use crate::secrets::Store;

/// Where ptenv's files live inside every container it starts (scripts, configs, the token).
pub const CONTAINER_DIR: &str = "/etc/ptenv";

/// The container's environment as the mode's command saw it at start, as `export K='V'`
/// lines. Login shells (`bash -l` in `ptenv shell`, ssh sessions, Jupyter's terminals) read it
/// back through [`PROFILE_SCRIPT`], because Debian's /etc/profile resets PATH and would lose
/// /opt/conda/bin.
pub const ENVIRONMENT_FILE: &str = "/etc/ptenv/environment";
/// Sourced by login shells.
pub const PROFILE_SCRIPT: &str = "/etc/profile.d/ptenv.sh";
/// Saves the environment, then runs the mode's command.
pub const ENTRY_SCRIPT: &str = "/etc/ptenv/entry.sh";

/// What a mode adds to the container of `profile`: its command, environment and the files
/// copied in before start. Reads (or makes) the project's secrets.
pub fn setup(profile: &Profile, input: &SetupInput) -> Result<Setup> {
    let mut store = Store::open(&input.project.data_dir()?)?;
    let mut setup = match profile.mode {
        Mode::Jupyter => jupyter::setup(&mut store, input)?,
        Mode::Ssh => ssh::setup(&mut store, input)?,
        Mode::Shell => shell::setup(input),
    };
    setup.warnings.append(&mut store.warnings);
    Ok(setup)
}

/// `sh -c` code that writes the current environment to [`ENVIRONMENT_FILE`], less what
/// belongs to one process or login. POSIX `export -p` prints lines a shell can read back.
pub fn save_environment_code() -> String {
    format!(
        "(unset HOME PWD OLDPWD SHLVL USER LOGNAME MAIL SHELL TERM HOSTNAME _; export -p) >{ENVIRONMENT_FILE}"
    )
}

/// The files every mode places: the environment file (writable by whoever runs the command,
/// `owner`), the login-shell hook and the entry script.
fn common_files(owner: &User) -> Vec<ContainerFile> {
    let root = |path: &str, mode: u32, text: String| ContainerFile {
        path: path.into(),
        contents: text.into_bytes(),
        mode,
        uid: 0,
        gid: 0,
    };
    vec![
        ContainerFile {
            path: ENVIRONMENT_FILE.into(),
            contents: Vec::new(),
            mode: 0o644,
            uid: owner.uid,
            gid: owner.gid,
        },
        root(
            PROFILE_SCRIPT,
            0o644,
            format!(
                "# Written by ptenv: login shells get the container's environment back\n\
                 # (/etc/profile may reset PATH and lose e.g. /opt/conda/bin).\n\
                 if [ -r {ENVIRONMENT_FILE} ]; then . {ENVIRONMENT_FILE}; fi\n"
            ),
        ),
        root(
            ENTRY_SCRIPT,
            0o755,
            format!(
                "#!/bin/sh\n\
                 # Written by ptenv: the container's command. Saves the environment for login\n\
                 # shells, then runs the mode's program.\n\
                 {}\n\
                 exec \"$@\"\n",
                save_environment_code()
            ),
        ),
    ]
}

/// `command` run through [`ENTRY_SCRIPT`].
fn entry_command(command: Vec<String>) -> Vec<String> {
    let mut out = vec!["/bin/sh".to_string(), ENTRY_SCRIPT.to_string()];
    out.extend(command);
    out
}

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
}

/// What the mode's step after start produced: `up`'s exit code, and the fields the mode adds
/// to `up`'s `--json` document (e.g. Jupyter's `url`, `port` and `token`).
#[derive(Debug, Default)]
pub struct AfterStart {
    pub code: i32,
    pub json: serde_json::Map<String, serde_json::Value>,
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
