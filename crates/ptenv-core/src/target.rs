//! Which Docker Engine a command talks to, chosen as the docker CLI chooses it (the rules and
//! their sources: docs/remote.md): `--host` → `host:` in the profile → `DOCKER_HOST` →
//! `DOCKER_CONTEXT` → the current context of `~/.docker/config.json` → the local socket.
//!
//! Pure: the caller hands in the values it read (flag, profile, environment, config) and a
//! function that looks a context up; this module decides and explains.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// The engine's socket when nothing else is chosen (docker's default context).
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// The name of docker's built-in context: `DOCKER_HOST`, else the default socket.
pub const DEFAULT_CONTEXT: &str = "default";

/// How the engine is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Endpoint {
    /// An engine socket on this machine.
    Unix { path: PathBuf },
    /// An engine's TCP port, plain or TLS.
    Tcp {
        host: String,
        port: u16,
        tls: Option<TlsFiles>,
    },
    /// An engine on another machine, through the system OpenSSH client: `ssh [-l user]
    /// [-p port] host` with the user's own ssh config, keys and known_hosts.
    Ssh(SshHost),
}

/// `ssh://[user@]host[:port]` as ssh will be asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SshHost {
    pub user: Option<String>,
    /// A host name, an address, or an alias of the user's `~/.ssh/config`.
    pub host: String,
    pub port: Option<u16>,
    /// The engine's socket on that machine when the address names one
    /// (`ssh://host/run/user/1000/docker.sock`, as docker accepts); else its default socket.
    pub socket: Option<String>,
}

/// The client's TLS files for a `tcp://` engine; verification is always on (ptenv never
/// skips it, unlike docker's `SkipTLSVerify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Which rule chose the target: said by `-v`, `ls` and `--json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", content = "name", rename_all = "snake_case")]
pub enum Source {
    Flag,
    /// `host:` in a profile file: its path (empty when not known).
    Profile(String),
    DockerHost,
    DockerContext(String),
    CurrentContext(String),
    Default,
}

/// The engine a command talks to and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub endpoint: Endpoint,
    pub source: Source,
}

/// What a docker context holds for its docker endpoint (`Endpoints.docker` in its meta.json,
/// and the TLS files beside it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContextEndpoint {
    /// `Host`, e.g. `ssh://me@gpu-box` or `tcp://10.0.0.5:2376`; empty means the default socket.
    pub host: String,
    pub skip_tls_verify: bool,
    /// The context's TLS files, when its `tls/<id>/docker/` folder has them.
    pub tls: Option<TlsFiles>,
}

/// What the caller read: flag and profile values, the environment, docker's config.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// `--host TARGET`
    pub flag: Option<&'a str>,
    /// `host:` of the resolved profile.
    pub profile: Option<&'a str>,
    /// The file that set it, said by `-v`, `ls` and `--json`.
    pub profile_file: Option<&'a Path>,
    /// `DOCKER_HOST`
    pub docker_host: Option<&'a str>,
    /// `DOCKER_CONTEXT`
    pub docker_context: Option<&'a str>,
    /// `currentContext` of docker's config.json
    pub current_context: Option<&'a str>,
    /// `DOCKER_TLS_VERIFY` is set to a non-empty value.
    pub tls_verify: bool,
    /// `DOCKER_CERT_PATH`, else docker's config folder: where ca.pem, cert.pem, key.pem are.
    pub cert_path: &'a Path,
}

impl Default for Inputs<'_> {
    fn default() -> Self {
        Inputs {
            flag: None,
            profile: None,
            profile_file: None,
            docker_host: None,
            docker_context: None,
            current_context: None,
            tls_verify: false,
            cert_path: Path::new(".docker"),
        }
    }
}

/// A context looked up by name: `Ok(None)` when no such context exists.
pub type Lookup<'l> = dyn Fn(&str) -> Result<Option<ContextEndpoint>> + 'l;

/// Chooses the engine: the first of flag, profile, `DOCKER_HOST`, `DOCKER_CONTEXT`, current
/// context that is set wins; a flag or profile value without `://` names a context.
pub fn resolve(inputs: &Inputs, lookup: &Lookup) -> Result<Target> {
    let set = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let given = [
        (set(inputs.flag), Source::Flag, "--host"),
        (
            set(inputs.profile),
            Source::Profile(
                inputs
                    .profile_file
                    .map_or_else(String::new, |f| f.display().to_string()),
            ),
            "`host:` in the profile",
        ),
    ];
    for (value, source, what) in given {
        let Some(value) = value else { continue };
        let endpoint = if value.contains("://") {
            parse_host(&value, inputs.tls_verify, inputs.cert_path).map_err(|e| e.context(what))?
        } else {
            context(&value, inputs, lookup)?
        };
        return Ok(Target { endpoint, source });
    }
    if let Some(host) = set(inputs.docker_host) {
        let endpoint = parse_host(&host, inputs.tls_verify, inputs.cert_path)
            .map_err(|e| e.context("DOCKER_HOST"))?;
        return Ok(Target {
            endpoint,
            source: Source::DockerHost,
        });
    }
    for (name, env) in [
        (set(inputs.docker_context), true),
        (set(inputs.current_context), false),
    ] {
        let Some(name) = name else { continue };
        let endpoint = context(&name, inputs, lookup)?;
        let source = if env {
            Source::DockerContext(name)
        } else {
            Source::CurrentContext(name)
        };
        return Ok(Target { endpoint, source });
    }
    Ok(Target {
        endpoint: Endpoint::Unix {
            path: PathBuf::from(DEFAULT_SOCKET),
        },
        source: Source::Default,
    })
}

/// The endpoint of the context `name`; `default` is docker's own: `DOCKER_HOST`, else the
/// local socket.
fn context(name: &str, inputs: &Inputs, lookup: &Lookup) -> Result<Endpoint> {
    if name == DEFAULT_CONTEXT {
        return match inputs.docker_host.map(str::trim).filter(|h| !h.is_empty()) {
            Some(host) => parse_host(host, inputs.tls_verify, inputs.cert_path)
                .map_err(|e| e.context("DOCKER_HOST")),
            None => Ok(Endpoint::Unix {
                path: PathBuf::from(DEFAULT_SOCKET),
            }),
        };
    }
    let Some(ep) = lookup(name)? else {
        return Err(Error::new(format!("there is no docker context named `{name}`"))
            .hint("`docker context ls` lists the contexts; create one with `docker context create NAME --docker host=ssh://USER@HOST`")
            .hint("or name the engine directly: --host ssh://USER@HOST"));
    };
    if ep.skip_tls_verify {
        return Err(Error::new(format!(
            "the docker context `{name}` skips TLS verification, which ptenv does not do: anyone on the network path could act as the engine"
        ))
        .hint(format!("give the context the engine's CA instead: `docker context update {name} --docker host=...,ca=CA.pem,cert=CERT.pem,key=KEY.pem`")));
    }
    if ep.host.trim().is_empty() {
        return Ok(Endpoint::Unix {
            path: PathBuf::from(DEFAULT_SOCKET),
        });
    }
    let mut endpoint = parse_host(&ep.host, false, inputs.cert_path)
        .map_err(|e| e.context(format!("the docker context `{name}`")))?;
    if let Endpoint::Tcp { tls, .. } = &mut endpoint {
        *tls = ep.tls;
    }
    Ok(endpoint)
}

/// `unix:///path`, `tcp://host[:port]` (2376 with TLS, else 2375, as docker), or
/// `ssh://[user@]host[:port]`. `tls`: whether `DOCKER_TLS_VERIFY` asks for TLS on tcp.
pub fn parse_host(value: &str, tls: bool, cert_path: &Path) -> Result<Endpoint> {
    let bad = |why: &str| {
        Error::new(format!("`{value}` is not an engine address: {why}"))
            .hint("write ssh://[USER@]HOST[:PORT], tcp://HOST:PORT, unix:///path/to/docker.sock, or the name of a docker context")
    };
    let (scheme, rest) = value
        .split_once("://")
        .ok_or_else(|| bad("it has no scheme"))?;
    match scheme {
        "unix" => {
            if !rest.starts_with('/') {
                return Err(bad("a unix socket needs an absolute path (unix:///path)"));
            }
            Ok(Endpoint::Unix {
                path: PathBuf::from(rest),
            })
        }
        "tcp" | "http" | "https" => {
            let authority = rest.trim_end_matches('/');
            if authority.contains('/') {
                return Err(bad("a tcp address takes no path"));
            }
            let tls = tls || scheme == "https";
            let (host, port) = split_port(authority).map_err(|w| bad(&w))?;
            if host.is_empty() {
                return Err(bad("the host is missing"));
            }
            Ok(Endpoint::Tcp {
                host,
                port: port.unwrap_or(if tls { 2376 } else { 2375 }),
                tls: tls.then(|| TlsFiles::under(cert_path)),
            })
        }
        "ssh" => {
            if rest.contains('?') || rest.contains('#') {
                return Err(bad("an ssh address takes no query or fragment"));
            }
            let (authority, socket) = match rest.find('/') {
                Some(i) if rest.len() > i + 1 => (&rest[..i], Some(rest[i..].to_owned())),
                Some(i) => (&rest[..i], None),
                None => (rest, None),
            };
            let (user, hostport) = match authority.rsplit_once('@') {
                Some((user, _)) if user.contains(':') => return Err(bad(
                    "a password in the address is not supported: use ssh keys or your ssh agent",
                )),
                Some((user, hostport)) => (Some(user.to_owned()), hostport),
                None => (None, authority),
            };
            let (host, port) = split_port(hostport).map_err(|w| bad(&w))?;
            if host.is_empty() || host.starts_with('-') {
                return Err(bad("the host is missing"));
            }
            if user
                .as_deref()
                .is_some_and(|u| u.is_empty() || u.starts_with('-'))
            {
                return Err(bad("the user name is empty or starts with `-`"));
            }
            Ok(Endpoint::Ssh(SshHost {
                user,
                host,
                port,
                socket,
            }))
        }
        other => Err(bad(&format!("`{other}://` is not one ptenv speaks"))),
    }
}

fn split_port(authority: &str) -> std::result::Result<(String, Option<u16>), String> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| "an IPv6 address needs its closing `]`".to_string())?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("`{p}` is not a port"))?,
        ),
    };
    Ok((host.to_owned(), port))
}

impl TlsFiles {
    /// ca.pem, cert.pem and key.pem in `dir`, the names docker uses there and in a context's
    /// TLS folder.
    pub fn under(dir: &Path) -> TlsFiles {
        TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }
}

impl Endpoint {
    /// Whether this engine runs on another machine than ptenv: its files, GPUs and ports are
    /// not this machine's.
    pub fn is_remote(&self) -> bool {
        match self {
            Endpoint::Unix { .. } => false,
            Endpoint::Tcp { host, .. } => !crate::registry::realm::is_loopback(host),
            Endpoint::Ssh(_) => true,
        }
    }
}

impl SshHost {
    /// The ssh command line a user would type to reach the same place, for hints.
    pub fn ssh_line(&self) -> String {
        let mut line = String::from("ssh ");
        if let Some(port) = self.port {
            line.push_str(&format!("-p {port} "));
        }
        if let Some(user) = &self.user {
            line.push_str(&format!("{user}@"));
        }
        line.push_str(&self.host);
        line
    }

    /// A short name for the kept connection to this destination (docs/remote.md §7): the same
    /// user, host, port and engine socket give the same name, any difference another one.
    /// Twelve hex digits keep the socket paths built from it short.
    pub fn connection_key(&self) -> String {
        use sha2::{Digest, Sha256};
        crate::project::hex(&Sha256::digest(self.to_string()))[..12].to_owned()
    }
}

/// How long ptenv's ssh master connection to a server stays open after a command ends
/// (docs/remote.md §7): the next command within that idle time reuses it and pays no ssh
/// handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepConnection {
    /// One master per command, ended with it.
    PerCommand,
    /// Kept in the background until it has carried nothing for this long (OpenSSH's
    /// `ControlPersist`).
    Idle { seconds: u64 },
}

impl KeepConnection {
    /// The environment variable that sets it.
    pub const VARIABLE: &'static str = "PTENV_SSH_PERSIST";
    /// Ten minutes: the usual pause between two commands while one edits code.
    pub const DEFAULT: KeepConnection = KeepConnection::Idle { seconds: 600 };

    /// `0`, `no` or `off`: per command; else a duration such as `10m`, `90s` or `1h`.
    pub fn parse(text: &str) -> std::result::Result<KeepConnection, String> {
        match text.trim() {
            "0" | "no" | "off" => Ok(KeepConnection::PerCommand),
            t => crate::idle::IdleStop::parse(t)
                .map(|d| KeepConnection::Idle { seconds: d.seconds })
                .map_err(|_| {
                    format!(
                        "`{t}` is not a duration: write one with a unit, such as `10m`, `90s` or \
                         `1h`, or `0` to end the connection with each command"
                    )
                }),
        }
    }

    /// The setting from the environment variable's value, the default when it is unset or
    /// empty.
    pub fn from_env(value: Option<&str>) -> Result<KeepConnection> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(KeepConnection::DEFAULT),
            Some(v) => KeepConnection::parse(v).map_err(|e| {
                Error::new(format!("{}: {e}", KeepConnection::VARIABLE)).hint(format!(
                    "set it to a duration such as `{0}=10m`, or `{0}=0`, or unset it",
                    KeepConnection::VARIABLE
                ))
            }),
        }
    }
}

impl fmt::Display for SshHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ssh://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if let Some(socket) = &self.socket {
            f.write_str(socket)?;
        }
        Ok(())
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix { path } => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp { host, port, tls } => {
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.clone()
                };
                write!(f, "tcp://{host}:{port}")?;
                if tls.is_some() {
                    f.write_str(" (TLS)")?;
                }
                Ok(())
            }
            Endpoint::Ssh(ssh) => ssh.fmt(f),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("--host"),
            Source::Profile(file) if file.is_empty() => f.write_str("`host:` in the profile"),
            Source::Profile(file) => write!(f, "`host:` in {file}"),
            Source::DockerHost => f.write_str("DOCKER_HOST"),
            Source::DockerContext(name) => write!(f, "DOCKER_CONTEXT={name}"),
            Source::CurrentContext(name) => write!(f, "the current docker context `{name}`"),
            Source::Default => f.write_str("the default socket"),
        }
    }
}

#[cfg(test)]
mod tests;
