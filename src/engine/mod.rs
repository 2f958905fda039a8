//! The Docker Engine, through its API (bollard). The only module that speaks bollard: connect,
//! pull, build, create/start, exec, logs, list, remove. Thin adapters: decisions are made in
//! `plan` and `recipe` (pure) and in the commands; this module carries them out and turns the
//! engine's answers into ptenv's errors, each with what to do next.

pub mod build;
pub mod container;
pub mod distribution;
pub mod download;
pub mod facts;
pub mod pull;
pub use ptenv_core::recipe;
pub mod archive;
pub mod running;
mod tarball;
pub mod tls;
pub mod volume;

use std::future::Future;
use std::io::ErrorKind;
use std::time::Duration;

use bollard::Docker;

use crate::error::{Error, Result};
use crate::target::TlsFiles;

/// Where the engine listens when `DOCKER_HOST` is not set.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// How long one request may wait for the engine's answer to begin. Generous: creating a
/// container from a 6 GB image on a slow disk takes a while; streams (pull, build, logs) are
/// not limited once they have begun.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// How long the first contact (version negotiation) may take before the engine counts as down:
/// a `tcp://` host that drops packets would otherwise hang for minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The engine this command uses, once `commands::run` has chosen it (`target`): the address
/// the adapter connects to (a forwarded socket for ssh), the one users see, and the client's
/// TLS files for a `tcp://` engine over TLS.
struct Selected {
    url: String,
    shown: String,
    /// What chose it: "--host", "`host:` in the profile", "DOCKER_HOST", ….
    chosen_by: String,
    tls: Option<TlsFiles>,
}

static SELECTED: std::sync::OnceLock<Selected> = std::sync::OnceLock::new();

/// Makes `url` the engine of every later [`Engine::connect`], named `shown` in messages,
/// chosen by `chosen_by`, reached over TLS with `tls` when given. Once per process; a second
/// call is ignored.
pub fn select(url: String, shown: String, chosen_by: String, tls: Option<TlsFiles>) {
    let _ = SELECTED.set(Selected {
        url,
        shown,
        chosen_by,
        tls,
    });
}

/// What chose the engine of this command, once one was selected.
pub fn chosen_by() -> Option<String> {
    SELECTED.get().map(|s| s.chosen_by.clone())
}

/// The engine as users know it: `ssh://me@gpu-box`, `unix:///var/run/docker.sock`.
pub fn shown_endpoint() -> String {
    SELECTED
        .get()
        .map(|s| s.shown.clone())
        .unwrap_or_else(endpoint)
}

/// A connection to the engine, with the API version negotiated.
#[derive(Clone)]
pub struct Engine {
    pub(crate) docker: Docker,
    /// `unix:///var/run/docker.sock` or `tcp://host:2375`: named in errors.
    pub endpoint: String,
    /// The engine's version, e.g. `20.10.24+dfsg1`.
    pub version: String,
    /// The negotiated API version, e.g. `1.41`.
    pub api_version: String,
    /// The platform the engine pulls for, e.g. `linux`/`amd64` (Go's names).
    pub os: String,
    pub arch: String,
}

/// Run a future on a fresh runtime: the commands are synchronous, the engine is not.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
        .block_on(future)
}

/// [`block_on`] that may also be called from inside a runtime: a synchronous fact read
/// lazily while a command already talks to its engine (the GPUs of a machine reached only
/// through its engine) runs on a thread of its own, since a runtime cannot be started on a
/// thread that drives one.
pub fn block_on_anywhere<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return block_on(future);
    }
    std::thread::scope(|s| {
        s.spawn(|| block_on(future))
            .join()
            .expect("the blocking thread does not panic")
    })
}

impl Engine {
    /// Connect to the engine named by `DOCKER_HOST`, else the default socket, and negotiate the
    /// API version (bollard's default, 1.53, is newer than Engine 20.10's 1.41).
    pub async fn connect() -> Result<Engine> {
        let (url, shown) = (endpoint(), shown_endpoint());
        let tls = match SELECTED.get() {
            Some(s) => s.tls.clone(),
            None => tls_from_env(&url),
        };
        let mut engine = Engine::connect_with(&url, tls.as_ref())
            .await
            .map_err(|mut e| {
                e.message = e.message.replace(&url, &shown);
                e
            })?;
        engine.endpoint = shown;
        Ok(engine)
    }

    /// Connect to `endpoint`: a unix socket or plain `tcp://`.
    pub async fn connect_to(endpoint: &str) -> Result<Engine> {
        Engine::connect_with(endpoint, None).await
    }

    /// Connect to `endpoint`, over TLS with `tls` when given.
    pub async fn connect_with(endpoint: &str, tls: Option<&TlsFiles>) -> Result<Engine> {
        if let Some(path) = endpoint.strip_prefix("unix://") {
            if !std::path::Path::new(path).exists() {
                return Err(down(endpoint, "the socket does not exist"));
            }
        }
        // An ssh engine is reached through the command's ssh connection (`transport`), which
        // hands this adapter a forwarded socket, never the ssh:// address itself.
        if endpoint.starts_with("ssh://") {
            return Err(Error::new(format!(
                "ptenv cannot connect to {endpoint} directly: an ssh engine is reached through ptenv's ssh connection"
            ))
            .hint("name it with --host ssh://USER@HOST (or DOCKER_HOST, or a docker context), which opens that connection"));
        }
        let failed = |e: &bollard::errors::Error| {
            tls.and_then(|files| tls::handshake_error(endpoint, files, e))
                .unwrap_or_else(|| connect_error(endpoint, e))
        };
        let first = client(endpoint, tls, bollard::API_DEFAULT_VERSION)?;
        // One `/version` answers both questions, the engine's release and its API version,
        // where bollard's `negotiate_version()` followed by `version()` would ask twice (about
        // 10 ms each on Engine 20.10, which asks containerd for its components). The client is
        // then made again at the lower of the two API versions, as `negotiate_version()` does:
        // bollard's default (1.53) is newer than Engine 20.10's 1.41.
        let version = match tokio::time::timeout(CONNECT_TIMEOUT, first.version()).await {
            Err(_) => return Err(down(endpoint, "no answer within 10 seconds")),
            Ok(Err(e)) => return Err(failed(&e)),
            Ok(Ok(v)) => v,
        };
        let api = negotiated(version.api_version.as_deref()).ok_or_else(|| {
            Error::new(format!(
                "the engine at {endpoint} did not say which API version it speaks (`/version` has no ApiVersion)"
            ))
            .hint("check that DOCKER_HOST points at a Docker Engine; `docker version` shows what answers there")
        })?;
        let docker = client(endpoint, tls, &api)?;
        Ok(Engine {
            endpoint: endpoint.to_string(),
            version: version.version.unwrap_or_default(),
            api_version: docker.client_version().to_string(),
            os: version.os.unwrap_or_else(|| "linux".into()),
            arch: version.arch.unwrap_or_else(|| "amd64".into()),
            docker,
        })
    }
}

/// A client for `endpoint` speaking API `version`: what `Docker::connect_with_host` makes, with
/// the version chosen instead of bollard's default.
fn client(
    endpoint: &str,
    tls: Option<&TlsFiles>,
    version: &bollard::ClientVersion,
) -> Result<Docker> {
    if let Some(files) = tls {
        return tls::client(endpoint, files, REQUEST_TIMEOUT.as_secs(), version);
    }
    let made = if endpoint.starts_with("unix://") {
        Docker::connect_with_unix(endpoint, REQUEST_TIMEOUT.as_secs(), version)
    } else if endpoint.starts_with("tcp://") || endpoint.starts_with("http://") {
        Docker::connect_with_http(endpoint, REQUEST_TIMEOUT.as_secs(), version)
    } else {
        Docker::connect_with_host(endpoint)
    };
    made.map_err(|e| {
        Error::new(format!("cannot use DOCKER_HOST={endpoint}: {e}"))
            .hint("set DOCKER_HOST to unix:///path/to/docker.sock or tcp://host:port, or unset it")
    })
}

/// The API version to speak: the engine's (`ApiVersion` of `/version`, "1.41") when it is older
/// than bollard's default, else the default. `None` when the engine gave none that parses.
fn negotiated(server: Option<&str>) -> Option<bollard::ClientVersion> {
    let (major, minor) = server?.split_once('.')?;
    let server = bollard::ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    };
    let default = *bollard::API_DEFAULT_VERSION;
    Some(if server < default { server } else { default })
}

/// The engine [`Engine::connect`] talks to: the selected one, else `DOCKER_HOST`, else the
/// default socket.
pub fn endpoint() -> String {
    if let Some(s) = SELECTED.get() {
        return s.url.clone();
    }
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.to_string())
}

/// The TLS files for `url` when nothing selected the engine (a library caller): docker's
/// `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`, or an `https://` address.
fn tls_from_env(url: &str) -> Option<TlsFiles> {
    let verify = std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty());
    let cert_path = std::env::var_os("DOCKER_CERT_PATH")
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(crate::contexts::config_dir);
    match crate::target::parse_host(url, verify, &cert_path) {
        Ok(crate::target::Endpoint::Tcp { tls, .. }) => tls,
        _ => None,
    }
}

/// A warning for an engine reached over plain TCP (without TLS) at an
/// address other than loopback: the engine's API is root on its machine, and anyone on the
/// network path can use it or read what ptenv sends it (tokens, keys). `chosen_by` names what
/// chose that engine (`--host`, `DOCKER_HOST`, a docker context), so the user knows what to change.
pub fn exposure_warning(endpoint: &str, chosen_by: &str) -> Option<String> {
    let rest = endpoint
        .strip_prefix("tcp://")
        .or_else(|| endpoint.strip_prefix("http://"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if crate::registry::realm::is_loopback(host) {
        return None;
    }
    Some(format!(
        "the engine {endpoint} (from {chosen_by}) is reached over plain TCP on the network: whoever can reach that port controls the engine, and with it root on its machine, and sees the tokens and keys ptenv sends it; prefer ssh to the engine's machine: --host ssh://USER@HOST (or DOCKER_HOST, or a docker context with an ssh:// host)"
    ))
}

/// The engine does not answer at `endpoint`.
fn down(endpoint: &str, why: &str) -> Error {
    Error::new(format!(
        "cannot reach the Docker daemon at {endpoint}: {why}"
    ))
    .hint("start the daemon (`sudo systemctl start docker`), or point DOCKER_HOST at a running engine")
    .hint("`ptenv doctor` checks the whole chain from the daemon to the GPU")
}

fn connect_error(endpoint: &str, e: &bollard::errors::Error) -> Error {
    match io_kind(e) {
        Some(ErrorKind::PermissionDenied) => Error::new(format!(
            "permission denied on the Docker socket {endpoint}"
        ))
        .hint("join the docker group (`sudo usermod -aG docker $USER`), then log out and in again")
        .hint("`ptenv doctor` checks the whole chain from the daemon to the GPU"),
        Some(_) => down(endpoint, &error_text(e)),
        None => down(endpoint, &error_text(e)),
    }
}

/// The I/O error under a bollard error, if any (connection refused, permission denied, ...).
pub(crate) fn io_kind(e: &bollard::errors::Error) -> Option<ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = s.source();
    }
    None
}

/// The engine's own message for server errors, else the whole chain of causes in one line.
pub(crate) fn error_text(e: &bollard::errors::Error) -> String {
    use bollard::errors::Error as B;
    match e {
        B::DockerResponseServerError { message, .. } => message.trim().to_string(),
        B::DockerStreamError { error } => error.trim().to_string(),
        _ => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                let s_text = s.to_string();
                if !text.contains(&s_text) {
                    text.push_str(": ");
                    text.push_str(&s_text);
                }
                source = s.source();
            }
            text
        }
    }
}

/// The HTTP status of a server error.
pub(crate) fn status_of(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// How a registry request made through the daemon (a pull, a distribution inspect) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegistryFault {
    /// No such repository or tag.
    Missing,
    /// The registry wants credentials, or refused the ones it got.
    Denied,
    /// The registry did not answer (DNS, connection, TLS, timeout).
    Unreachable,
    Other,
}

/// The daemon reports registry failures as text (and sometimes a status); these phrases are
/// the ones moby's distribution code and Go's network errors use.
pub(crate) fn registry_fault(status: Option<u16>, text: &str) -> RegistryFault {
    let lower = text.to_lowercase();
    let has = |phrases: &[&str]| phrases.iter().any(|p| lower.contains(p));
    if status == Some(404) || has(&["manifest unknown", "not found", "repository does not exist"]) {
        RegistryFault::Missing
    } else if matches!(status, Some(401 | 403)) || has(&["unauthorized", "denied"]) {
        RegistryFault::Denied
    } else if has(&[
        "connection refused",
        "no such host",
        "i/o timeout",
        "dial tcp",
        "tls handshake",
        "client.timeout",
    ]) {
        RegistryFault::Unreachable
    } else {
        RegistryFault::Other
    }
}

/// An engine error while doing something, when nothing more specific applies. A lost
/// connection gets the daemon hints.
pub(crate) fn failed(doing: &str, endpoint: &str, e: &bollard::errors::Error) -> Error {
    if status_of(e).is_none() && io_kind(e).is_some() {
        return down(endpoint, &error_text(e)).context(doing);
    }
    if broken_off(e) {
        return broke_off(endpoint, &error_text(e)).context(doing);
    }
    Error::new(format!("{doing}: {}", error_text(e)))
}

/// Whether the connection ended in the middle of an answer: hyper's own error, or the I/O
/// error bollard makes of it while it reads a stream (`io::Error::other` with hyper's text,
/// which no `source()` leads to).
fn broken_off(e: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as B;
    match e {
        B::HyperResponseError { .. } | B::HyperLegacyError { .. } => true,
        B::IOError { err } => matches!(
            err.kind(),
            ErrorKind::Other
                | ErrorKind::UnexpectedEof
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
        ),
        _ => false,
    }
}

/// The HTTP connection to the engine ended in the middle of an answer (a lost network, an ssh
/// connection that died): the engine stops what it did for the request when its client is
/// gone, so the command can simply be run again.
fn broke_off(endpoint: &str, why: &str) -> Error {
    Error::new(format!(
        "the connection to the engine at {endpoint} broke off ({why})"
    ))
    .hint("check the network (for an ssh:// engine, that `ssh HOST` still logs in), then run the command again: the engine dropped what it was doing for ptenv (a pull starts over)")
}

/// The daemon's form of a registry login, for pulls and distribution inspects.
fn daemon_credentials(
    c: Option<crate::credentials::Credentials>,
) -> Option<bollard::auth::DockerCredentials> {
    c.map(|c| bollard::auth::DockerCredentials {
        username: c.username,
        password: c.password,
        identitytoken: c.identitytoken,
        serveraddress: c.serveraddress,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_version_is_the_older_of_the_engine_s_and_bollard_s() {
        let v = |major_version, minor_version| bollard::ClientVersion {
            major_version,
            minor_version,
        };
        // Engine 20.10 speaks 1.41: that, not bollard's default.
        assert_eq!(negotiated(Some("1.41")), Some(v(1, 41)));
        // A newer engine than bollard knows: bollard's default.
        assert_eq!(
            negotiated(Some("1.99")),
            Some(*bollard::API_DEFAULT_VERSION)
        );
        assert_eq!(negotiated(Some("2.0")), Some(*bollard::API_DEFAULT_VERSION));
        for bad in [None, Some(""), Some("1"), Some("x.41")] {
            assert_eq!(negotiated(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_plain_tcp_off_loopback_is_warned_about() {
        for exposed in [
            "tcp://10.0.0.5:2375",
            "tcp://docker.lan:2375",
            "http://[2001:db8::1]:2375",
        ] {
            let w = exposure_warning(exposed, "--host").unwrap_or_else(|| panic!("{exposed}"));
            assert!(
                w.contains(&format!("the engine {exposed} (from --host) is reached")),
                "{w}"
            );
        }
        for safe in [
            "unix:///var/run/docker.sock",
            "tcp://127.0.0.1:2375",
            "tcp://localhost:2375",
            "tcp://[::1]:2375",
        ] {
            assert_eq!(exposure_warning(safe, "DOCKER_HOST"), None, "{safe}");
        }
    }

    #[test]
    fn registry_failures_are_told_apart() {
        use RegistryFault::*;
        let cases = [
            (Some(404), "manifest unknown: manifest unknown", Missing),
            (None, "manifest for 127.0.0.1:5000/x:y not found: manifest unknown", Missing),
            (None, "pull access denied for nope, repository does not exist or may require 'docker login'", Missing),
            (Some(401), "unauthorized: authentication required", Denied),
            (None, "denied: requested access to the resource is denied", Denied),
            (None, "Get \"http://127.0.0.1:5999/v2/\": dial tcp 127.0.0.1:5999: connect: connection refused", Unreachable),
            (None, "lookup registry.example.com: no such host", Unreachable),
            (Some(500), "something else", Other),
        ];
        for (status, text, want) in cases {
            assert_eq!(registry_fault(status, text), want, "{text}");
        }
    }

    #[test]
    fn a_missing_socket_is_named_with_the_fix() {
        let e = block_on(Engine::connect_to("unix:///nonexistent/docker.sock"))
            .err()
            .unwrap();
        assert!(e.message.contains("/nonexistent/docker.sock"), "{e}");
        assert!(
            e.hints.iter().any(|h| h.contains("start the daemon")),
            "{e}"
        );
        assert!(e.hints.iter().any(|h| h.contains("ptenv doctor")), "{e}");
    }

    #[test]
    fn an_ssh_address_is_sent_through_the_ssh_connection() {
        let e = block_on(Engine::connect_to("ssh://me@build-box"))
            .err()
            .unwrap();
        assert!(e.message.contains("ssh://me@build-box directly"), "{e}");
        assert!(e.hints[0].contains("--host ssh://USER@HOST"), "{e}");
    }

    #[test]
    fn a_stream_cut_off_is_said_as_a_broken_connection() {
        use bollard::errors::Error as B;
        let cut = B::IOError {
            err: std::io::Error::other("error reading a body from connection"),
        };
        let e = failed("cannot pull x:1", "ssh://gpu-box", &cut);
        assert_eq!(
            e.message,
            "cannot pull x:1: the connection to the engine at ssh://gpu-box broke off (error reading a body from connection)"
        );
        assert!(e.hints[0].contains("run the command again"), "{e}");
        let refused = B::DockerResponseServerError {
            status_code: 500,
            message: "no space left on device".into(),
        };
        assert_eq!(
            failed("cannot pull x:1", "ssh://gpu-box", &refused).message,
            "cannot pull x:1: no space left on device"
        );
    }

    #[test]
    fn an_unknown_scheme_says_what_docker_host_may_be() {
        let e = block_on(Engine::connect_to("ftp://x")).err().unwrap();
        assert!(e.message.contains("DOCKER_HOST=ftp://x"), "{e}");
    }
}
