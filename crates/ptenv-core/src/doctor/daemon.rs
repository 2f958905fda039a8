//! Link 4 of the chain, the Docker daemon: it answers (with an API that knows `--gpus`), and
//! the user may use its socket. The facts arrive as plain values: the engine adapter's answer
//! ([`Daemon`]) and the socket's file facts (read by `doctor::docker_host`).

use std::path::PathBuf;

use super::{id, Check};

/// What ptenv learnt from the daemon, or why it could not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Daemon {
    Up {
        endpoint: String,
        /// "20.10.24+dfsg1"
        version: String,
        /// The negotiated API version, "1.41".
        api_version: String,
    },
    Down {
        endpoint: String,
        /// The error as the engine adapter worded it (first line).
        error: String,
    },
}

/// The user's access to a unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketFacts {
    pub path: PathBuf,
    pub exists: bool,
    /// Permission bits, e.g. 0o660.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// The group's name from /etc/group ("docker").
    pub group: Option<String>,
    /// access(2) says this process may read and write it.
    pub accessible: bool,
    pub euid: u32,
    /// The process is a member of the socket's group.
    pub in_group: bool,
}

/// The unix socket of an endpoint (`unix:///var/run/docker.sock`); `None` for tcp/ssh hosts.
pub fn socket_path(endpoint: &str) -> Option<PathBuf> {
    endpoint.strip_prefix("unix://").map(PathBuf::from)
}

/// `/etc/group` lines: `docker:x:999:ana,bo`.
pub fn group_name(text: &str, gid: u32) -> Option<String> {
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        (f.next()?.parse::<u32>().ok()? == gid).then(|| name.to_string())
    })
}

/// "20.10.24+dfsg1" → (20, 10); "28.2.2" → (28, 2).
pub fn engine_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The Engine API version `DeviceRequests` (`--gpus`) appeared in: 1.40, Docker 19.03
/// (docs/compatibility.md §7, marked unverified there; it matches moby's API changelog).
const GPUS_API: (u32, u32) = (1, 40);

/// Link 4: the daemon answers, and the user may talk to it.
pub fn check_docker(daemon: &Daemon, socket: Option<&SocketFacts>) -> Check {
    match daemon {
        Daemon::Up {
            endpoint,
            version,
            api_version,
        } => {
            let c = Check::pass(
                id::DOCKER,
                format!("Docker Engine {version} answers at {endpoint} (API {api_version})"),
            );
            let c = match socket {
                Some(s) => c.evidence(describe_socket(s)),
                None => c,
            };
            if engine_version(api_version).is_some_and(|v| v < GPUS_API) {
                return Check {
                    status: super::Status::Fail,
                    summary: format!("Docker Engine {version} (API {api_version}) is too old for `--gpus` (API 1.40, Docker 19.03)"),
                    ..c
                }
                .fix("upgrade Docker Engine (https://docs.docker.com/engine/install/)");
            }
            c
        }
        Daemon::Down { endpoint, error } => {
            let c = Check::fail(
                id::DOCKER,
                format!("the Docker daemon does not answer at {endpoint}"),
            )
            .evidence(format!("error: {error}"));
            let Some(s) = socket else {
                return c.fix("check DOCKER_HOST and that the remote engine is up; unset DOCKER_HOST to use the local socket");
            };
            let c = c.evidence(describe_socket(s));
            if !s.exists {
                return c.fix(format!(
                    "start the daemon (`sudo systemctl start docker`) or install Docker Engine; if it runs elsewhere, point DOCKER_HOST at it (now {endpoint})"
                ));
            }
            if !s.accessible {
                let group = s.group.clone().unwrap_or_else(|| format!("gid {}", s.gid));
                let c = Check {
                    summary: format!(
                        "permission denied on the Docker socket {}",
                        s.path.display()
                    ),
                    ..c
                };
                return if s.in_group {
                    c.fix(format!("you are in group `{group}` but this shell started before you joined it: log out and in again (or `newgrp {group}`)"))
                } else {
                    c.fix(format!("join the socket's group: `sudo usermod -aG {group} $USER`, then log out and in again (or use rootless Docker)"))
                };
            }
            c.fix("the socket exists but nothing answers: restart the daemon (`sudo systemctl restart docker`) and read `journalctl -u docker`")
        }
    }
}

fn describe_socket(s: &SocketFacts) -> String {
    if !s.exists {
        return format!("socket {}: does not exist", s.path.display());
    }
    format!(
        "socket {}: mode {:o}, owner uid {}, group {}; this process (euid {}) {} it{}",
        s.path.display(),
        s.mode,
        s.uid,
        s.group.clone().unwrap_or_else(|| format!("gid {}", s.gid)),
        s.euid,
        if s.accessible {
            "may use"
        } else {
            "may not use"
        },
        if s.in_group {
            ", and is in its group"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    fn socket(exists: bool, accessible: bool, in_group: bool) -> SocketFacts {
        SocketFacts {
            path: "/var/run/docker.sock".into(),
            exists,
            mode: 0o660,
            uid: 0,
            gid: 999,
            group: Some("docker".into()),
            accessible,
            euid: 1000,
            in_group,
        }
    }

    fn down(error: &str) -> Daemon {
        Daemon::Down {
            endpoint: "unix:///var/run/docker.sock".into(),
            error: error.into(),
        }
    }

    #[test]
    fn an_answering_daemon_passes_with_its_version() {
        let up = Daemon::Up {
            endpoint: "unix:///var/run/docker.sock".into(),
            version: "20.10.24+dfsg1".into(),
            api_version: "1.41".into(),
        };
        let c = check_docker(&up, Some(&socket(true, true, true)));
        assert_eq!(c.status, Status::Pass);
        assert!(c.summary.contains("20.10.24+dfsg1") && c.summary.contains("1.41"));
        assert!(c.evidence[0].contains("mode 660"), "{c:?}");
        let old = Daemon::Up {
            endpoint: "tcp://h:2375".into(),
            version: "18.09.1".into(),
            api_version: "1.39".into(),
        };
        let c = check_docker(&old, None);
        assert_eq!(c.status, Status::Fail);
        assert!(c.summary.contains("--gpus"));
    }

    #[test]
    fn a_silent_daemon_is_told_apart_from_a_forbidden_socket() {
        let c = check_docker(
            &down("the socket does not exist"),
            Some(&socket(false, false, false)),
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.unwrap().contains("systemctl start docker"));
        let c = check_docker(
            &down("permission denied"),
            Some(&socket(true, false, false)),
        );
        assert!(c.summary.contains("permission denied"), "{c:?}");
        assert!(c.fix.unwrap().contains("usermod -aG docker"));
        let c = check_docker(&down("permission denied"), Some(&socket(true, false, true)));
        assert!(c.fix.unwrap().contains("log out and in"));
        let c = check_docker(&down("connection refused"), Some(&socket(true, true, true)));
        assert!(c.fix.unwrap().contains("restart"));
        let c = check_docker(&down("timeout"), None);
        assert!(c.fix.unwrap().contains("DOCKER_HOST"));
    }

    #[test]
    fn engine_versions_parse() {
        assert_eq!(engine_version("20.10.24+dfsg1"), Some((20, 10)));
        assert_eq!(engine_version("28.2.2"), Some((28, 2)));
        assert_eq!(engine_version("1.41"), Some((1, 41)));
        assert_eq!(engine_version("dev"), None);
    }
}
