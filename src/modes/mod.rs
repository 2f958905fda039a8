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
use crate::secrets::Store;

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
/// copied in before start. Reads (or makes) the project's secrets.
pub fn setup(profile: &Profile, input: &SetupInput) -> Result<Setup> {
    let mut store = Store::open(&crate::project::data_dir(input.project)?)?;
    setup_with(&mut store, profile, input)
}

/// What [`setup`] would add, for `ptenv up --dry-run`: the stored secrets when they exist,
/// throwaway ones otherwise, and nothing written to ptenv's data folder.
pub fn preview(profile: &Profile, input: &SetupInput) -> Result<Setup> {
    let mut store = Store::preview(&crate::project::data_dir(input.project)?);
    setup_with(&mut store, profile, input)
}

/// [`setup`] with the project's secrets in `store`.
fn setup_with(store: &mut Store, profile: &Profile, input: &SetupInput) -> Result<Setup> {
    let mut setup = match profile.mode {
        Mode::Jupyter => jupyter::setup(store, input)?,
        Mode::Ssh => ssh::setup_running(store, input, profile.command.as_deref())?,
        Mode::Shell => shell::setup(),
    };
    setup.warnings.append(&mut store.warnings);
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
/// them into the image (`engine::recipe`) instead of copying them into each container before
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
                 unset ptenv_env\n"
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
pub fn entry_command(command: Vec<String>) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Layer, Sources};
    use crate::project::Project;

    fn setup_of(mode: &str, store: &mut Store, new_token: bool) -> Setup {
        let profile = Sources::default().resolve(mode, &Layer::default()).unwrap();
        let user = User::for_ids(1234, 1300);
        let project = Project::new(std::path::Path::new("/home/ana/demo"));
        let input = SetupInput {
            user: &user,
            project: &project,
            new_token,
        };
        setup_with(store, &profile, &input).unwrap()
    }

    fn file<'a>(setup: &'a Setup, path: &str) -> &'a ContainerFile {
        setup
            .files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("no {path} in {:?}", setup.files))
    }

    #[test]
    fn jupyter_gets_its_token_as_a_private_file_of_the_user_never_in_env_or_command() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        let s = setup_of("jupyter", &mut store, false);
        let token = store.jupyter_token(false).unwrap();
        let f = file(&s, "/etc/ptenv/jupyter/token");
        assert_eq!(f.contents, token.as_bytes());
        assert_eq!((f.mode, f.uid, f.gid), (0o600, 1234, 1300));
        assert_eq!(
            s.env,
            [(
                "JUPYTER_TOKEN_FILE".to_string(),
                "/etc/ptenv/jupyter/token".to_string()
            )]
        );
        let visible = format!("{:?} {:?} {:?}", s.env, s.command, s.files);
        assert!(!visible.contains(&token), "{visible}");
        assert!(!s.run_as_root);
        // Only the token is copied in; the entry script is in the image.
        assert_eq!(s.files.len(), 1, "{:?}", s.files);
        assert_eq!(s.command.as_ref().unwrap()[..2], ["/bin/sh", ENTRY_SCRIPT]);
        // --new-token changes the file (so `up` recreates the container).
        let rotated = setup_of("jupyter", &mut store, true);
        assert_ne!(
            file(&rotated, "/etc/ptenv/jupyter/token").contents,
            f.contents
        );
    }

    #[test]
    fn ssh_gets_root_owned_keys_and_config_and_starts_as_root() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        let s = setup_of("ssh", &mut store, false);
        assert!(s.run_as_root);
        assert_eq!(
            s.command.as_deref().unwrap(),
            ["/bin/sh", "/etc/ptenv/ssh/start.sh"]
        );
        let host = file(&s, "/etc/ptenv/ssh/ssh_host_ed25519_key");
        assert_eq!((host.mode, host.uid), (0o600, 0));
        assert!(host
            .contents
            .starts_with(b"-----BEGIN OPENSSH PRIVATE KEY-----"));
        let client = store.client_key("x").unwrap();
        let auth = file(&s, "/etc/ptenv/ssh/authorized_keys");
        assert_eq!(
            auth.contents,
            format!("{}\n", client.public_openssh).as_bytes()
        );
        assert_eq!((auth.mode, auth.uid), (0o644, 0));
        let config =
            String::from_utf8(file(&s, "/etc/ptenv/ssh/sshd_config").contents.clone()).unwrap();
        assert!(config.contains("\nAllowUsers dev\n"), "{config}");
        // The client's private key never goes into the container.
        let all: Vec<u8> = s.files.iter().flat_map(|f| f.contents.clone()).collect();
        let all = String::from_utf8_lossy(&all);
        assert!(!all.contains(client.private_openssh.as_str()));
        assert!(s.env.is_empty());
        assert!(s.runs_profile_command);
        // The profile's own command goes to the start script, which runs it as the user.
        let own: Vec<String> = vec!["python".into(), "serve.py".into()];
        let user = User::for_ids(1234, 1300);
        let project = crate::project::Project::new(std::path::Path::new("/home/ana/demo"));
        let input = SetupInput {
            user: &user,
            project: &project,
            new_token: false,
        };
        let s = ssh::setup_running(&mut store, &input, Some(&own)).unwrap();
        assert_eq!(
            s.command.as_deref().unwrap(),
            ["/bin/sh", "/etc/ptenv/ssh/start.sh", "python", "serve.py"]
        );
    }

    #[test]
    fn the_shell_idles_as_the_user() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        let s = setup_of("shell", &mut store, false);
        assert!(!s.run_as_root);
        assert_eq!(
            s.command.as_deref().unwrap(),
            ["/bin/sh", ENTRY_SCRIPT, "sleep", "infinity"]
        );
        assert!(s.files.is_empty(), "nothing to copy in: {:?}", s.files);
    }

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
        assert!(entry.ends_with("exec \"$@\"\n"), "{entry}");
    }
}
