//! Why an ssh step failed, read from what ssh and the remote socket probe said, as errors
//! with the next step for the user.

use crate::error::{Error, Result};
use crate::target::SshHost;

/// Why the ssh master ended, by kind: ssh's own words (its stderr) are read here and only
/// here; [`SshFailure::render`] words each kind for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SshFailure {
    /// The server's host key is not the one known_hosts pins.
    HostKeyChanged,
    /// known_hosts has no key for the server, and ptenv does not accept one on its own.
    HostKeyUnknown,
    /// The server refused the login (no key it accepts).
    LoginRefused,
    /// The name does not resolve.
    UnknownHost,
    /// No answer, or the connection dropped.
    Unreachable,
    /// Anything else; `code` is ssh's exit code (`None`: a signal).
    Other { code: Option<i32> },
}

impl SshFailure {
    pub(super) fn classify(stderr: &str, code: Option<i32>) -> SshFailure {
        if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
            SshFailure::HostKeyChanged
        } else if stderr.contains("Host key verification failed") {
            SshFailure::HostKeyUnknown
        } else if stderr.contains("Permission denied (") {
            SshFailure::LoginRefused
        } else if stderr.contains("Could not resolve hostname") {
            SshFailure::UnknownHost
        } else if [
            "Connection refused",
            "timed out",
            "No route to host",
            "Connection closed",
            "Connection reset",
        ]
        .iter()
        .any(|w| stderr.contains(w))
        {
            SshFailure::Unreachable
        } else {
            SshFailure::Other { code }
        }
    }

    /// The error with the next step; `said` is what ssh printed, on one line.
    pub(super) fn render(self, host: &SshHost, said: &str) -> Error {
        let name = &host.host;
        let login = host.ssh_line();
        match self {
            SshFailure::HostKeyChanged => Error::new(format!(
                "the host key of {host} is not the one your known_hosts pins: ptenv will not connect"
            ))
            .hint(format!("if the server was reinstalled, check its new key with its admin, then `ssh-keygen -R {name}` and `{login}` once")),
            SshFailure::HostKeyUnknown => Error::new(format!(
                "the host key of {host} is not known yet, and ptenv does not accept unknown keys on its own"
            ))
            .hint(format!("connect once with `{login}`, check the key it shows, and answer yes; then run ptenv again")),
            SshFailure::LoginRefused => Error::new(format!("{host} refused the login: {said}"))
                .hint(format!("check the user name and that `{login}` logs in without a password prompt (a key in your ssh agent or `IdentityFile` in ~/.ssh/config)")),
            SshFailure::UnknownHost => Error::new(format!("cannot find the host of {host}: {said}"))
                .hint("check the name, or add a `Host` entry with its `HostName` in ~/.ssh/config"),
            SshFailure::Unreachable => Error::new(format!("cannot reach {host}: {said}")).hint(
                format!("check that the machine is up and its sshd answers: `ssh {name} true`"),
            ),
            SshFailure::Other { code } => {
                let code = code.map_or("a signal".to_owned(), |c| format!("code {c}"));
                Error::new(format!("ssh to {host} ended with {code}: {said}"))
                    .hint(format!("try `{login} true` to see the same failure"))
            }
        }
    }
}

/// Why the ssh master ended, from its stderr, as an error with the next step.
pub(super) fn ssh_failure(host: &SshHost, stderr: &str, code: Option<i32>) -> Error {
    let said = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("@@@"))
        .collect::<Vec<_>>()
        .join(" / ");
    SshFailure::classify(stderr, code).render(host, &said)
}

/// The remote socket probe's answer as a result: `ok`, `missing` or `denied`.
pub(super) fn socket_verdict(
    host: &SshHost,
    socket: &str,
    verdict: &str,
    user: &str,
    stderr: &str,
) -> Result<()> {
    match verdict {
        "ok" => Ok(()),
        "missing" => Err(Error::new(format!(
            "there is no Docker Engine socket at {socket} on {host}: Docker is not installed or not running there"
        ))
        .hint(format!("install and start Docker on {} (`sudo apt-get install docker.io` or Docker's own packages), or name its socket: ssh://HOST/path/to/docker.sock", host.host))),
        "denied" => Err(Error::new(format!(
            "the user {user} on {host} may not use the Docker socket {socket}"
        ))
        .hint(format!("on {}, add the user to the docker group: `sudo usermod -aG docker {user}` (then the next ssh login has it)", host.host))),
        _ => Err(Error::new(format!(
            "cannot check the Docker socket on {host}: {}",
            stderr.trim()
        ))
        .hint(format!("try `{} ls -l {socket}`", host.ssh_line()))),
    }
}
