//! The ssh mode: sshd in the container for `ssh ptenv-<project>` and VS Code Remote-SSH.
//!
//! Key-only: the client key and the host key are ed25519 pairs ptenv generates and keeps per
//! project; the host key is copied into the container and pinned in ptenv's own known_hosts,
//! so the client checks it strictly. No passwords, no root, only the container user. Every
//! session (a shell, a command, VS Code's server) goes through a forced command that loads the
//! container's environment and starts in /workspace.

use super::{ContainerFile, Secrets, Setup, SetupInput, CONTAINER_DIR, ENVIRONMENT_FILE};
use crate::error::Result;

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
pub fn setup(store: &mut dyn Secrets, input: &SetupInput) -> Result<Setup> {
    setup_running(store, input, None)
}

/// `own_command` is the profile's `command`: it runs as the user next to sshd.
pub fn setup_running(
    store: &mut dyn Secrets,
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
         {user_bin}\n\
         cd /workspace 2>/dev/null || cd\n\
         shell=/bin/sh\n\
         if [ -x /bin/bash ]; then shell=/bin/bash; fi\n\
         if [ -n \"${{SSH_ORIGINAL_COMMAND:-}}\" ]; then\n\
         \x20   exec \"$shell\" -c \"$SSH_ORIGINAL_COMMAND\"\n\
         fi\n\
         exec \"$shell\" -l\n",
        user_bin = crate::home::USER_BIN_ON_PATH
    )
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
        assert!(s.contains(crate::home::USER_BIN_ON_PATH), "{s}");
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
