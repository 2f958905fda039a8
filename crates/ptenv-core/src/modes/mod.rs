//! The three ways of working inside an environment (jupyter, ssh, shell): what each adds to the
//! container before it starts ([`Setup`]). What each does once it runs (waiting, the terminal)
//! is the binary's `modes`.

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
    /// The mode's command runs the profile's own command itself (ssh: sshd as root, the
    /// command as the user), so it stays the container's command when the profile has one.
    pub runs_profile_command: bool,
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

use crate::error::Result;
use crate::profile::{Mode, Profile};

/// The project's secrets, as a mode's setup needs them: kept by the binary (`secrets::Store`,
/// files 0600 in ptenv's data dir), made on first use.
pub trait Secrets {
    /// The Jupyter token; a new one when `rotate`.
    fn jupyter_token(&mut self, rotate: bool) -> Result<String>;
    /// The key ssh clients log in with (its public half goes into the container).
    fn client_key(&mut self, comment: &str) -> Result<KeyPair>;
    /// sshd's host key (copied into the container, pinned in ptenv's known_hosts).
    fn host_key(&mut self, comment: &str) -> Result<KeyPair>;
    /// Things the user should know (e.g. a secret whose loose permissions were tightened).
    fn take_warnings(&mut self) -> Vec<String>;
}

/// An ed25519 key pair in OpenSSH formats.
#[derive(Clone)]
pub struct KeyPair {
    /// The private key file (`-----BEGIN OPENSSH PRIVATE KEY-----`).
    pub private_openssh: zeroize::Zeroizing<String>,
    /// `ssh-ed25519 AAAA… comment`
    pub public_openssh: String,
    /// Where the private key is stored on the host.
    pub path: std::path::PathBuf,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_openssh", &self.public_openssh)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Where ptenv's files live inside every container it starts (scripts, configs, the token).
pub const CONTAINER_DIR: &str = "/etc/ptenv";

/// The container's environment as the mode's command saw it at start, as `export K='V'`
/// lines. Login shells (`bash -l` in `ptenv shell`, ssh sessions, Jupyter's terminals) read it
/// back through [`PROFILE_SCRIPT`], because Debian's /etc/profile resets PATH and would lose
/// /opt/conda/bin. This one is root's: the image build fills it with the image's environment,
/// a command that starts as root (sshd's start) rewrites it, root's login shells read it. It is
/// root-owned, since a file the user could write would run the user's code as root.
pub const ENVIRONMENT_FILE: &str = "/etc/ptenv/environment";
/// The same, written by a command that starts as the container user (Jupyter, the shell);
/// read only by that user's login shells.
pub const USER_ENVIRONMENT_FILE: &str = "/etc/ptenv/user-environment";
/// Sourced by login shells.
pub const PROFILE_SCRIPT: &str = "/etc/profile.d/ptenv.sh";
/// Saves the environment, then runs the mode's command.
pub const ENTRY_SCRIPT: &str = "/etc/ptenv/entry.sh";

/// What a mode adds to the container of `profile`: its command, environment and the files
/// copied in before start, with the project's secrets from `store`.
pub fn setup_with(store: &mut dyn Secrets, profile: &Profile, input: &SetupInput) -> Result<Setup> {
    let mut setup = match profile.mode {
        Mode::Jupyter => jupyter::setup(store, input)?,
        Mode::Ssh => ssh::setup_running(store, input, profile.command.as_deref())?,
        Mode::Shell => shell::setup(),
    };
    if profile.idle_stop.is_some() {
        // Owned by the user the command runs as, who must be able to end it; root can too.
        let (uid, gid) = (input.user.uid, input.user.gid);
        setup.files.push(crate::idle::watcher_file(uid, gid));
        setup.files.push(crate::idle::activity_file(uid, gid));
    }
    setup.warnings.extend(store.take_warnings());
    Ok(setup)
}

/// `sh -c` code that writes the current environment to [`ENVIRONMENT_FILE`] (root, its owner,
/// can write it) or [`USER_ENVIRONMENT_FILE`], less what belongs to one process or login. POSIX
/// `export -p` prints lines a shell can read back. Builtins only: it runs before every mode's
/// command, and `up --detach` may be followed at once by a login shell that reads the file.
pub fn save_environment_code() -> String {
    format!(
        "f={ENVIRONMENT_FILE}; [ -w {ENVIRONMENT_FILE} ] || f={USER_ENVIRONMENT_FILE}; \
         (unset f {LOCAL_VARIABLES}; export -p) >\"$f\""
    )
}

/// What belongs to one process or login, not to the container: never saved for login shells.
pub const LOCAL_VARIABLES: &str = "HOME PWD OLDPWD SHLVL USER LOGNAME MAIL SHELL TERM HOSTNAME _";

/// The files every derived image carries, for every mode: the two environment files (root's
/// and the user's), the login-shell hook and the entry script. They depend on nothing but ptenv and the user, so the recipe bakes
/// them into the image (`recipe`) instead of copying them into each container before
/// its start: on storage drivers without a native diff (fuse-overlayfs, rootless engines) that
/// copy mounts the container's file system, about 50 ms of a 300 ms start.
pub fn image_files(owner: &User) -> Vec<ContainerFile> {
    let root = |path: &str, mode: u32, text: String| ContainerFile {
        path: path.into(),
        contents: text.into_bytes(),
        mode,
        uid: 0,
        gid: 0,
    };
    vec![
        root(ENVIRONMENT_FILE, 0o644, String::new()),
        ContainerFile {
            path: USER_ENVIRONMENT_FILE.into(),
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
                 # (/etc/profile may reset PATH and lose e.g. /opt/conda/bin). Only the user's\n\
                 # own shells read the file the user writes; root's read root's.\n\
                 ptenv_env={ENVIRONMENT_FILE}\n\
                 if [ \"$(id -u)\" != 0 ]; then\n\
                 \x20   if [ -O {USER_ENVIRONMENT_FILE} ]; then if [ -s {USER_ENVIRONMENT_FILE} ]; then ptenv_env={USER_ENVIRONMENT_FILE}; fi; fi\n\
                 fi\n\
                 if [ -r \"$ptenv_env\" ]; then . \"$ptenv_env\"; fi\n\
                 unset ptenv_env\n\
                 {}\n",
                crate::home::USER_BIN_ON_PATH
            ),
        ),
        root(
            ENTRY_SCRIPT,
            0o755,
            format!(
                "#!/bin/sh\n\
                 # Written by ptenv: the container's command. Saves the environment for login\n\
                 # shells, then runs the mode's program, with the console scripts of the\n\
                 # user's own installs (~/.local/bin) on PATH.\n\
                 {}\n\
                 {}\n\
                 exec \"$@\"\n",
                crate::home::USER_BIN_ON_PATH,
                save_environment_code()
            ),
        ),
    ]
}

/// `command` run through [`ENTRY_SCRIPT`].
pub fn entry_command(command: Vec<String>) -> Vec<String> {
    let mut out = vec!["/bin/sh".to_string(), ENTRY_SCRIPT.to_string()];
    out.extend(command);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_go_through_the_entry_script_and_back() {
        let cmd: Vec<String> = vec!["python".into(), "train.py".into()];
        let wrapped = entry_command(cmd.clone());
        assert_eq!(wrapped[..2], ["/bin/sh", ENTRY_SCRIPT]);
        assert_eq!(wrapped[2..], cmd);
    }

    #[test]
    fn every_image_carries_the_entry_script_the_login_hook_and_the_user_s_environment_file() {
        let user = User::for_ids(1234, 1300);
        let files = image_files(&user);
        let of = |path: &str| files.iter().find(|f| f.path == path).unwrap();
        // The user runs the entry script, which writes the user's environment file; root's
        // login shells read root's own, which the user cannot write.
        let env = of(USER_ENVIRONMENT_FILE);
        assert_eq!((env.uid, env.gid, env.mode), (1234, 1300, 0o644));
        assert!(env.contents.is_empty());
        let root_env = of(ENVIRONMENT_FILE);
        assert_eq!((root_env.uid, root_env.gid, root_env.mode), (0, 0, 0o644));
        let hook = String::from_utf8(of(PROFILE_SCRIPT).contents.clone()).unwrap();
        assert!(
            hook.contains("ptenv_env=/etc/ptenv/environment\n"),
            "{hook}"
        );
        assert!(
            hook.contains("if [ -O /etc/ptenv/user-environment ]; then if [ -s /etc/ptenv/user-environment ]; then ptenv_env=/etc/ptenv/user-environment;"),
            "{hook}"
        );
        let entry = of(ENTRY_SCRIPT);
        assert_eq!((entry.uid, entry.mode), (0, 0o755));
        let entry = String::from_utf8(entry.contents.clone()).unwrap();
        assert!(entry.contains(&save_environment_code()), "{entry}");
        assert!(entry.contains(crate::home::USER_BIN_ON_PATH), "{entry}");
        assert!(
            hook.ends_with(&format!("{}\n", crate::home::USER_BIN_ON_PATH)),
            "{hook}"
        );
        assert!(entry.ends_with("exec \"$@\"\n"), "{entry}");
    }
}
