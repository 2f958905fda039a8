//! The ssh mode: sshd in the container for `ssh ptenv-<project>` and VS Code Remote-SSH.
//!
//! Key-only: the client key and the host key are ed25519 pairs ptenv generates and keeps per
//! project; the host key is copied into the container and pinned in ptenv's own known_hosts,
//! so the client checks it strictly. No passwords, no root, only the container user. Every
//! session (a shell, a command, VS Code's server) goes through a forced command that loads the
//! container's environment and starts in /workspace.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::AsyncReadExt;

use super::{
    AfterStart, ContainerFile, Setup, SetupInput, Started, CONTAINER_DIR, ENVIRONMENT_FILE,
};
use crate::error::{Error, Result};
use crate::secrets::Store;
use crate::sshconfig::{HostEntry, SshConfig};

/// How long to wait for sshd's greeting after the container started.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// sshd's port inside the container.
pub const PORT: u16 = 22;

fn dir() -> String {
    format!("{CONTAINER_DIR}/ssh")
}

pub fn config_path() -> String {
    format!("{}/sshd_config", dir())
}

pub fn host_key_path() -> String {
    format!("{}/ssh_host_ed25519_key", dir())
}

pub fn authorized_keys_path() -> String {
    format!("{}/authorized_keys", dir())
}

fn start_path() -> String {
    format!("{}/start.sh", dir())
}

fn session_path() -> String {
    format!("{}/session.sh", dir())
}

/// The comment on the project's keys, shown by `ssh-add -l` and in authorized_keys.
pub fn key_comment(alias: &str) -> String {
    format!("{alias} (ptenv)")
}

/// The setup of a profile without a command of its own.
pub fn setup(store: &mut Store, input: &SetupInput) -> Result<Setup> {
    setup_running(store, input, None)
}

/// `own_command` is the profile's `command`: it runs as the user next to sshd.
pub fn setup_running(
    store: &mut Store,
    input: &SetupInput,
    own_command: Option<&[String]>,
) -> Result<Setup> {
    let alias = input.project.ssh_alias();
    let client = store.client_key(&key_comment(&alias))?;
    let host = store.host_key(&format!("{alias} host (ptenv)"))?;
    let user = &input.user.name;
    let root = |path: String, mode: u32, contents: Vec<u8>| ContainerFile {
        path,
        contents,
        mode,
        uid: 0,
        gid: 0,
    };
    // The keys, and sshd's config and scripts with them (the environment file, the login hook
    // and the entry script are in the derived image).
    let files = vec![
        root(config_path(), 0o644, sshd_config(user).into_bytes()),
        root(
            host_key_path(),
            0o600,
            host.private_openssh.as_bytes().to_vec(),
        ),
        root(
            format!("{}.pub", host_key_path()),
            0o644,
            format!("{}\n", host.public_openssh).into_bytes(),
        ),
        root(
            authorized_keys_path(),
            0o644,
            format!("{}\n", client.public_openssh).into_bytes(),
        ),
        root(start_path(), 0o755, start_script(input.user).into_bytes()),
        root(session_path(), 0o755, session_script().into_bytes()),
    ];
    let mut command = vec!["/bin/sh".into(), start_path()];
    command.extend(own_command.unwrap_or_default().iter().cloned());
    Ok(Setup {
        env: Vec::new(),
        files,
        command: Some(command),
        run_as_root: true,
        runs_profile_command: true,
        warnings: Vec::new(),
    })
}

/// sshd's whole configuration: ptenv does not rely on the image's /etc/ssh/sshd_config.
pub fn sshd_config(user: &str) -> String {
    format!(
        "# Written by ptenv: key-only logins of {user}; no passwords{no_root}.\n\
         Port {PORT}\n\
         AddressFamily inet\n\
         ListenAddress 0.0.0.0\n\
         HostKey {host_key}\n\
         PidFile /run/sshd.pid\n\
         AuthorizedKeysFile {authorized_keys}\n\
         AuthenticationMethods publickey\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         HostbasedAuthentication no\n\
         PermitEmptyPasswords no\n\
         PermitRootLogin {permit_root}\n\
         AllowUsers {user}\n\
         StrictModes yes\n\
         # PAM's session modules fail in containers; key-only logins need none of it.\n\
         UsePAM no\n\
         PermitUserEnvironment no\n\
         # The container never reaches back into the user's agent or X display.\n\
         AllowAgentForwarding no\n\
         X11Forwarding no\n\
         # VS Code Remote-SSH forwards a local port (or socket) to reach its server; nothing\n\
         # needs the other direction, which would listen in the container for the host.\n\
         AllowTcpForwarding local\n\
         AllowStreamLocalForwarding local\n\
         PermitTunnel no\n\
         PrintMotd no\n\
         # Every session starts in /workspace with the container's environment.\n\
         ForceCommand {session}\n\
         Subsystem sftp /usr/lib/openssh/sftp-server\n",
        host_key = host_key_path(),
        authorized_keys = authorized_keys_path(),
        session = session_path(),
        // Root only when the container user is root (ptenv run as root in root's folder), and
        // then with a key only.
        permit_root = if user == "root" {
            "prohibit-password"
        } else {
            "no"
        },
        no_root = if user == "root" { "" } else { ", no root" },
    )
}

/// The container's command (as root): save the environment, make the user's account usable
/// for key logins, run sshd with its log on stderr (`ptenv logs`). Its arguments are the
/// profile's own command: then sshd runs in the background and the command in the foreground
/// as the user (only sshd needs root), so the container lives as long as the command does.
fn start_script(user: &crate::identity::User) -> String {
    format!(
        "#!/bin/sh\n\
         # Written by ptenv: starts sshd for {name}, and the profile's command as {name}.\n\
         set -eu\n\
         umask 022\n\
         {save}\n\
         # Without PAM, sshd refuses an account whose password is locked ('!' in /etc/shadow),\n\
         # even for keys; '*' matches no password, which is what key-only logins want.\n\
         if grep -q '^{name}:!' /etc/shadow; then usermod -p '*' {name}; fi\n\
         mkdir -p /run/sshd\n\
         chmod 0755 /run/sshd\n\
         if [ \"$#\" -eq 0 ]; then exec {sshd}; fi\n\
         if ! command -v setpriv >/dev/null 2>&1; then\n\
         \x20   echo \"ptenv: the profile's command must run as {name}, and this image has no setpriv (util-linux)\" >&2\n\
         \x20   exit 127\n\
         fi\n\
         {sshd} &\n\
         HOME={home} USER={name} LOGNAME={name}\n\
         export HOME USER LOGNAME\n\
         exec setpriv --reuid={uid} --regid={gid} --init-groups -- \"$@\"\n",
        name = user.name,
        home = user.home,
        uid = user.uid,
        gid = user.gid,
        save = super::save_environment_code(),
        sshd = format_args!("/usr/sbin/sshd -D -e -f {}", config_path()),
    )
}

/// sshd's forced command, run by the user's shell for every session; `SSH_ORIGINAL_COMMAND`
/// holds what the client asked for (nothing for an interactive login).
fn session_script() -> String {
    format!(
        "#!/bin/sh\n\
         # Written by ptenv: every ssh session starts in /workspace with the container's\n\
         # environment (image ENV, the profile's env, NVIDIA_*).\n\
         if [ -r {ENVIRONMENT_FILE} ]; then . {ENVIRONMENT_FILE}; fi\n\
         cd /workspace 2>/dev/null || cd\n\
         shell=/bin/sh\n\
         if [ -x /bin/bash ]; then shell=/bin/bash; fi\n\
         if [ -n \"${{SSH_ORIGINAL_COMMAND:-}}\" ]; then\n\
         \x20   exec \"$shell\" -c \"$SSH_ORIGINAL_COMMAND\"\n\
         fi\n\
         exec \"$shell\" -l\n"
    )
}

/// How to reach the project's sshd, once ptenv's client config is written.
#[derive(Debug, Clone)]
pub struct Connection {
    pub alias: String,
    /// sshd's published port, at the address to connect to.
    pub address: SocketAddr,
    /// ptenv's config file with the project's `Host` entry (for `ssh -F`).
    pub config_file: PathBuf,
    /// Whether `~/.ssh/config` includes ptenv's files, so plain `ssh <alias>` works.
    pub included: bool,
}

/// Pins the host key on the published port, writes the `Host` entry and the Include line, and
/// waits until sshd greets.
pub async fn connect_setup(s: &Started<'_>) -> Result<Connection> {
    let alias = s.project.ssh_alias();
    let address = s.engine.published(s.container, PORT).await?.ok_or_else(|| {
        Error::new(format!(
            "sshd's port {PORT} is not published by container {}",
            s.container
        ))
        .hint("the profile's `ports` must include 22; recreate it with `ptenv down ssh && ptenv ssh`")
    })?;
    let mut store = Store::open(&crate::project::data_dir(s.project)?)?;
    let host = store.host_key(&format!("{alias} host (ptenv)"))?;
    let client = store.client_key(&key_comment(&alias))?;
    for w in store.warnings.drain(..) {
        s.printer.warn(w);
    }
    super::interruptible("waiting for sshd", wait_sshd(s, address)).await?;
    let known_hosts = store.write_known_hosts(address, &host.public_openssh)?;
    let config = SshConfig::for_user()?;
    let config_file = config.write_host(&HostEntry {
        alias: alias.clone(),
        address,
        user: s.user.name.clone(),
        identity_file: client.path.clone(),
        known_hosts,
        project: s.project.path.clone(),
    })?;
    let included = match config.add_include() {
        Ok(_) => true,
        Err(e) => {
            // The environment works; only the short alias does not. Say how to get it.
            s.printer.warn(e.to_string());
            false
        }
    };
    Ok(Connection {
        alias,
        address,
        config_file,
        included,
    })
}

/// Prints how to connect: the alias, the ssh command and the VS Code command. sshd always
/// runs in the background; with `--detach` (as `ptenv ssh -- CMD` and `--code` call it) the
/// lines go to stderr, so that stdout carries only the command's output.
pub async fn after_start(s: &Started<'_>) -> Result<AfterStart> {
    let c = connect_setup(s).await?;
    print_connection(s.printer, &c, !s.detach);
    Ok(AfterStart {
        code: 0,
        json: connection_json(&c),
    })
}

pub fn ssh_command(c: &Connection) -> Vec<String> {
    if c.included {
        vec!["ssh".into(), c.alias.clone()]
    } else {
        vec![
            "ssh".into(),
            "-F".into(),
            c.config_file.to_string_lossy().into_owned(),
            c.alias.clone(),
        ]
    }
}

pub fn print_connection(printer: &crate::output::Printer, c: &Connection, to_stdout: bool) {
    printer.info(format!(
        "sshd is ready on {} (key-only; host key pinned in ptenv's known_hosts).",
        c.address
    ));
    let lines = [
        format!("host:    {}", c.alias),
        format!("ssh:     {}", crate::shell::join(&ssh_command(c))),
        format!("VS Code: {}", vscode_command(&c.alias).join(" ")),
    ];
    for line in lines {
        if to_stdout {
            printer.result(line);
        } else {
            printer.info(line);
        }
    }
}

pub fn connection_json(c: &Connection) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("alias".into(), json!(c.alias));
    m.insert("host".into(), json!(c.address.ip().to_string()));
    m.insert("port".into(), json!(c.address.port()));
    m.insert("ssh_config".into(), json!(c.config_file));
    m.insert("ssh_command".into(), json!(ssh_command(c)));
    m.insert("code_command".into(), json!(vscode_command(&c.alias)));
    m
}

/// Waits until sshd sends its `SSH-2.0-…` greeting through the published port (Docker's
/// proxy accepts connections before sshd listens, so a connect alone proves nothing).
async fn wait_sshd(s: &Started<'_>, address: SocketAddr) -> Result<()> {
    let start = Instant::now();
    loop {
        let last = match greeting(address).await {
            Ok(line) if line.starts_with("SSH-") => return Ok(()),
            Ok(line) => format!("it answered {line:?}"),
            Err(e) => e.to_string(),
        };
        match s.engine.find(s.container).await? {
            Some(c) if c.running() => {}
            _ => {
                let logs = s.engine.log_tail(s.container, 30).await.unwrap_or_default();
                return Err(s.with_log_hint(Error::new(format!(
                    "the ssh container {} stopped before sshd answered; its last log lines:\n{}",
                    s.container,
                    logs.trim_end()
                ))));
            }
        }
        if start.elapsed() > READY_TIMEOUT {
            let logs = s.engine.log_tail(s.container, 30).await.unwrap_or_default();
            return Err(s.with_log_hint(Error::new(format!(
                "sshd did not answer on {address} within {} s (last: {last}); its log:\n{}",
                READY_TIMEOUT.as_secs(),
                logs.trim_end()
            ))));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The first line sshd sends.
async fn greeting(address: SocketAddr) -> std::io::Result<String> {
    let read = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 256];
        while !buf.contains(&b'\n') && buf.len() < 1024 {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed before greeting",
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok(String::from_utf8_lossy(&buf)
            .lines()
            .next()
            .unwrap_or("")
            .to_string())
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no greeting",
            ))
        })
}

/// How `ptenv ssh` tells the user to connect.
pub fn vscode_command(alias: &str) -> Vec<String> {
    vec![
        "code".into(),
        "--remote".into(),
        format!("ssh-remote+{alias}"),
        crate::profile::WORKDIR.into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sshd_is_key_only_for_the_user_alone() {
        let c = sshd_config("dev");
        for line in [
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin no",
            "AllowUsers dev",
            "PubkeyAuthentication yes",
            "AuthenticationMethods publickey",
            "HostKey /etc/ptenv/ssh/ssh_host_ed25519_key",
            "AuthorizedKeysFile /etc/ptenv/ssh/authorized_keys",
            "ForceCommand /etc/ptenv/ssh/session.sh",
            "Port 22",
            "AllowAgentForwarding no",
            "X11Forwarding no",
            "AllowTcpForwarding local",
        ] {
            assert!(c.lines().any(|l| l == line), "missing `{line}` in\n{c}");
        }
        assert!(!c.contains("yes\nPermitRootLogin yes"));
    }

    #[test]
    fn root_may_log_in_with_a_key_only_when_it_is_the_container_user() {
        let c = sshd_config("root");
        for line in [
            "PermitRootLogin prohibit-password",
            "AllowUsers root",
            "PasswordAuthentication no",
            "AuthenticationMethods publickey",
        ] {
            assert!(c.lines().any(|l| l == line), "missing `{line}` in\n{c}");
        }
        assert!(!c.lines().any(|l| l == "PermitRootLogin yes"), "{c}");
    }

    #[test]
    fn sessions_load_the_environment_and_start_in_the_workspace() {
        let s = session_script();
        assert!(s.contains(". /etc/ptenv/environment"), "{s}");
        assert!(s.contains("cd /workspace"), "{s}");
        assert!(
            s.contains("exec \"$shell\" -c \"$SSH_ORIGINAL_COMMAND\""),
            "{s}"
        );
        let start = start_script(&crate::identity::User::for_ids(1234, 1300));
        assert!(
            start.contains(&super::super::save_environment_code()),
            "{start}"
        );
        assert!(start.contains(
            "if [ \"$#\" -eq 0 ]; then exec /usr/sbin/sshd -D -e -f /etc/ptenv/ssh/sshd_config; fi\n"
        ));
        // With the profile's command: sshd in the background, the command as the user.
        assert!(start.contains("\n/usr/sbin/sshd -D -e -f /etc/ptenv/ssh/sshd_config &\n"));
        assert!(
            start.contains("HOME=/home/dev USER=dev LOGNAME=dev\n"),
            "{start}"
        );
        assert!(start.ends_with("exec setpriv --reuid=1234 --regid=1300 --init-groups -- \"$@\"\n"));
    }

    #[test]
    fn the_vscode_command_opens_the_workspace() {
        assert_eq!(
            vscode_command("ptenv-demo-1a2b3c4d").join(" "),
            "code --remote ssh-remote+ptenv-demo-1a2b3c4d /workspace"
        );
    }
}
