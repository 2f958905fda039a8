//! Asking a container registry directly what a pull will download. The engine's API has no
//! call for it (its distribution inspect gives the index's digest, not the layers' sizes), so
//! ptenv reads the manifest itself over the Registry HTTP API v2, the way `docker manifest
//! inspect` does, and follows the engine's own registry settings: Docker Hub mirrors first,
//! plain HTTP only for registries the engine counts as insecure, the CA files of
//! `/etc/docker/certs.d/<registry>/`, and the credentials of `~/.docker/config.json`.
//!
//! Only manifests and the small image config are read, never layers. Blocking (ureq): callers
//! run it on a blocking thread with a deadline.
//!
//! Why not the `oci-client` crate (0.17, evaluated for this module): it speaks the same
//! protocol, but it cannot follow the engine's and ptenv's rules, and it would bring a second
//! TLS stack.
//! - Its token request sends the login to whatever realm the registry's 401 names, over http
//!   as well; ptenv sends it only over https to the registry's own site (`realm`), because the
//!   registry may come from a project file.
//! - Its insecure registries (`ClientProtocol::HttpsExcept`) are plain HTTP only, and
//!   `accept_invalid_certificates` holds for every registry of a client; the engine tries HTTPS
//!   without verification first, then HTTP, for the registries it counts as insecure only.
//! - Docker Hub mirrors: it rewrites a reference to one mirror (containerd's `?ns=` form);
//!   the engine asks its mirrors in order, then Docker Hub, and a mirror never gets the
//!   registry's login.
//! - Its `rustls-tls` feature builds rustls on aws-lc-rs (a C library compiled with the crate)
//!   and reqwest with tower; ptenv's rustls runs on ring through ureq. With
//!   `default-features = false, features = ["rustls-tls"]` it adds about 45 crates to the tree
//!   (aws-lc-sys, reqwest, tower, hyper-rustls, chrono, regex, oci-spec, jsonwebtoken, …);
//!   `native-tls` would bring OpenSSL instead.
//!
//! What would remain for it to serve is two GETs (a manifest by media type, the config blob by
//! digest) once the login, the endpoint and the TLS roots are decided here, so the module keeps
//! its own client: `reference` (docker's naming), `challenge` (`WWW-Authenticate`), `realm`
//! (where a login may go), `manifest` (the index and manifest JSON).

pub mod challenge;
pub mod manifest;
pub use ptenv_core::registry::{realm, reference};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::credentials::Credentials;
use base64::Engine as _;
use ureq::http::Response;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::{Agent, Body, Proxy};

use challenge::Challenge;
use manifest::{Blob, Manifest};
pub use reference::Reference;

/// How a registry may be reached, from the engine's registry settings.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The engine counts the registry as insecure: HTTPS without verification, then plain HTTP
    /// (the engine's order).
    pub insecure: bool,
    /// Mirrors the engine uses for Docker Hub (`https://mirror.example.com`), asked first.
    pub mirrors: Vec<String>,
    /// Extra PEM files of trusted roots: the profile's CA bundle, `SSL_CERT_FILE`.
    pub ca_files: Vec<PathBuf>,
    /// How long the whole question may take, over all endpoints and requests.
    pub timeout: Duration,
}

/// The platform the engine pulls for: `linux`, `amd64`, maybe a variant (`v8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.variant {
            Some(v) => write!(f, "{}/{}/{v}", self.os, self.arch),
            None => write!(f, "{}/{}", self.os, self.arch),
        }
    }
}

/// What a pull of the image downloads, as its registry describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The compressed layers, bottom first.
    pub layers: Vec<Blob>,
    /// The image config blob.
    pub config: Blob,
    /// The layers' uncompressed digests (from the config), bottom first; empty when the config
    /// could not be read. Lets the engine tell which layers it has already.
    pub diff_ids: Vec<String>,
    /// Where the manifest came from: `https://registry-1.docker.io`, a mirror, `http://…`.
    pub source: String,
}

impl Download {
    /// Bytes of the layers from `first` on (the ones below are on this machine already).
    pub fn bytes_from(&self, first: usize) -> u64 {
        self.layers.iter().skip(first).map(|l| l.size).sum()
    }
}

/// Ask the registry of `reference` what a pull for `platform` downloads. The error is one line
/// saying why the registry did not tell (the pull itself may still work: the engine has its own
/// network settings).
pub fn download(
    reference: &Reference,
    platform: &Platform,
    settings: &Settings,
    credentials: Option<&Credentials>,
) -> Result<Download, String> {
    let deadline = Instant::now() + settings.timeout;
    let mut last_error = String::new();
    for endpoint in endpoints(reference, settings) {
        if Instant::now() >= deadline {
            break;
        }
        let session = Session::new(&endpoint, reference, settings, credentials, deadline);
        match session.download(platform) {
            Ok(d) => return Ok(d),
            // A connection that fails, on to the next endpoint (the mirror's fallback, or plain
            // HTTP after HTTPS for an insecure registry); a registry that answered has spoken.
            Err(Failure::Connect(e)) => last_error = format!("{}: {e}", endpoint.base),
            // A mirror that lacks the image or refuses: on to the next, as the engine does.
            Err(Failure::Answer(e)) if endpoint.mirror => {
                last_error = format!("{}: {e}", endpoint.base)
            }
            Err(Failure::Answer(e)) => return Err(e),
        }
    }
    if last_error.is_empty() {
        last_error = format!("no answer within {} s", settings.timeout.as_secs());
    }
    Err(last_error)
}

/// One base URL to try, whether its certificate is checked, and whether it is a mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    base: String,
    verify: bool,
    mirror: bool,
}

/// The engine's order: Docker Hub's mirrors, then the registry itself; HTTPS, and for an
/// insecure registry HTTPS without verification, then HTTP.
fn endpoints(reference: &Reference, settings: &Settings) -> Vec<Endpoint> {
    let mut out = Vec::new();
    if reference.is_docker_hub() {
        for m in &settings.mirrors {
            out.push(Endpoint {
                base: m.trim_end_matches('/').to_string(),
                verify: true,
                mirror: true,
            });
        }
    }
    let host = reference.api_host();
    out.push(Endpoint {
        base: format!("https://{host}"),
        verify: !settings.insecure,
        mirror: false,
    });
    if settings.insecure {
        out.push(Endpoint {
            base: format!("http://{host}"),
            verify: false,
            mirror: false,
        });
    }
    out
}

enum Failure {
    /// Nothing answered (connection refused, TLS handshake failed, timeout).
    Connect(String),
    /// The registry answered, but not with what a pull needs.
    Answer(String),
}

/// Requests to one endpoint, carrying the authorization once it is known.
struct Session<'a> {
    agent: Agent,
    base: &'a str,
    /// The endpoint's host, without the port: where the login may go (see [`realm`]).
    host: String,
    reference: &'a Reference,
    /// The login for the registry; none for a mirror, which is another host.
    credentials: Option<&'a Credentials>,
    authorization: std::cell::RefCell<Option<String>>,
    deadline: Instant,
}

impl<'a> Session<'a> {
    fn new(
        endpoint: &'a Endpoint,
        reference: &'a Reference,
        settings: &Settings,
        credentials: Option<&'a Credentials>,
        deadline: Instant,
    ) -> Session<'a> {
        // Reading the roots (a system bundle of ~150 certificates) only where they are used.
        let tls = if endpoint.verify {
            TlsConfig::builder()
                .root_certs(roots(reference, settings))
                .build()
        } else {
            TlsConfig::builder().disable_verification(true).build()
        };
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            // A registry redirects blob requests to storage elsewhere: no login goes along.
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
            .proxy(proxy_for(reference))
            .user_agent(concat!("ptenv/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build()
            .into();
        let host = endpoint
            .base
            .parse::<ureq::http::Uri>()
            .ok()
            .and_then(|u| u.host().map(str::to_string))
            .unwrap_or_default();
        Session {
            agent,
            base: &endpoint.base,
            host,
            reference,
            credentials: credentials.filter(|_| !endpoint.mirror),
            authorization: std::cell::RefCell::new(None),
            deadline,
        }
    }

    /// What is left of the deadline, for the next request.
    fn left(&self) -> Option<Duration> {
        Some(
            self.deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        )
    }

    fn download(&self, platform: &Platform) -> Result<Download, Failure> {
        let (content_type, body) = self.manifest(&self.reference.reference)?;
        let (config, layers) = match manifest::parse(&content_type, &body)
            .map_err(Failure::Answer)?
        {
            Manifest::Image { config, layers } => (config, layers),
            Manifest::Index(entries) => {
                let entry = manifest::pick(
                    &entries,
                    &platform.os,
                    &platform.arch,
                    platform.variant.as_deref(),
                )
                .ok_or_else(|| Failure::Answer(format!("the image has no {platform} variant")))?;
                let (content_type, body) = self.manifest(&entry.digest)?;
                match manifest::parse(&content_type, &body).map_err(Failure::Answer)? {
                    Manifest::Image { config, layers } => (config, layers),
                    Manifest::Index(_) => {
                        return Err(Failure::Answer(
                            "the image's index points to another index".into(),
                        ))
                    }
                }
            }
        };
        // The config is a few kB; without it only the "already here" part is lost.
        let diff_ids = self
            .get(&format!("blobs/{}", config.digest), "*/*")
            .map(|(_, body)| manifest::diff_ids(&body))
            .unwrap_or_default();
        Ok(Download {
            layers,
            config,
            diff_ids,
            source: self.base.to_string(),
        })
    }

    fn manifest(&self, reference: &str) -> Result<(String, String), Failure> {
        self.get(&format!("manifests/{reference}"), manifest::ACCEPT)
    }

    /// `GET /v2/<repository>/<path>`, answering one authentication challenge.
    fn get(&self, path: &str, accept: &str) -> Result<(String, String), Failure> {
        let url = format!("{}/v2/{}/{path}", self.base, self.reference.repository);
        let mut retried = false;
        loop {
            let mut request = self
                .agent
                .get(&url)
                .config()
                .timeout_global(self.left())
                .build()
                .header("Accept", accept);
            if let Some(a) = self.authorization.borrow().as_deref() {
                request = request.header("Authorization", a);
            }
            let mut response = request
                .call()
                .map_err(|e| Failure::Connect(e.to_string()))?;
            let status = response.status().as_u16();
            if status == 401 && !retried {
                retried = true;
                let header = header(&response, "www-authenticate");
                *self.authorization.borrow_mut() = Some(self.authorize(&header)?);
                continue;
            }
            let content_type = header(&response, "content-type");
            let body = read(&mut response).map_err(Failure::Connect)?;
            return match status {
                200 => Ok((content_type, body)),
                401 | 403 => Err(Failure::Answer(format!(
                    "the registry refused access ({status}){}",
                    if self.credentials.is_some() {
                        ""
                    } else {
                        "; `docker login` may help"
                    }
                ))),
                404 => Err(Failure::Answer(format!(
                    "the registry has no {}:{}",
                    self.reference.repository, self.reference.reference
                ))),
                _ => Err(Failure::Answer(format!(
                    "the registry answered {status}: {}",
                    first_line(&body)
                ))),
            };
        }
    }

    /// The `Authorization` value that answers `challenge`.
    fn authorize(&self, challenge: &str) -> Result<String, Failure> {
        match challenge::parse(challenge) {
            Some(Challenge::Basic) => match self.credentials.and_then(basic) {
                Some(b) => Ok(format!("Basic {b}")),
                None => Err(Failure::Answer(
                    "the registry wants a login; `docker login` stores one that ptenv reads".into(),
                )),
            },
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let scope = scope
                    .unwrap_or_else(|| format!("repository:{}:pull", self.reference.repository));
                let realm_host = realm::check(&realm).map_err(Failure::Answer)?;
                self.token(&realm, &realm_host, service.as_deref(), &scope)
                    .map(|t| format!("Bearer {t}"))
            }
            None => Err(Failure::Answer(format!(
                "the registry asks for an authentication ptenv does not speak ({})",
                first_line(challenge)
            ))),
        }
    }

    /// A token from the registry's token service: with an identity token by OAuth2's
    /// refresh-token grant, with a user and password by basic authentication, else anonymous
    /// (public images on Docker Hub need an anonymous token too). The login goes only to a
    /// service on the registry's own domain ([`realm::may_send_login`]).
    fn token(
        &self,
        realm: &str,
        realm_host: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String, Failure> {
        let withheld = self.credentials.is_some() && !realm::may_send_login(realm_host, &self.host);
        let credentials = self.credentials.filter(|_| !withheld);
        let identity = credentials.and_then(|c| c.identitytoken.as_deref());
        let mut response = if let Some(refresh) = identity {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", "ptenv"),
                ("scope", scope),
            ];
            form.extend(service.map(|s| ("service", s)));
            self.agent
                .post(realm)
                .config()
                .timeout_global(self.left())
                .build()
                .send_form(form)
        } else {
            let mut request = self
                .agent
                .get(realm)
                .config()
                .timeout_global(self.left())
                .build()
                .query("scope", scope);
            if let Some(s) = service {
                request = request.query("service", s);
            }
            if let Some(b) = credentials.and_then(basic) {
                request = request.header("Authorization", format!("Basic {b}"));
            }
            request.call()
        }
        .map_err(|e| Failure::Connect(format!("token service {realm}: {e}")))?;
        let status = response.status().as_u16();
        let body = read(&mut response).map_err(Failure::Connect)?;
        if status != 200 {
            return Err(Failure::Answer(format!(
                "the registry's token service refused ({status}: {}){}",
                first_line(&body),
                if withheld {
                    format!(
                        "; ptenv did not send your login to {realm_host}, which is not {}",
                        self.host
                    )
                } else {
                    String::new()
                }
            )));
        }
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: Token = serde_json::from_str(&body)
            .map_err(|e| Failure::Answer(format!("the token service sent no token ({e})")))?;
        t.token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Failure::Answer("the token service sent an empty token".into()))
    }
}

/// The proxy of the environment, except for loopback registries, which Go's HTTP client (and
/// so the engine) never sends through a proxy.
fn proxy_for(reference: &Reference) -> Option<Proxy> {
    if realm::is_loopback(reference.host_name()) {
        None
    } else {
        Proxy::try_from_env()
    }
}

fn header(response: &Response<Body>, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// A manifest or config is small; anything over 4 MiB is not one.
fn read(response: &mut Response<Body>) -> Result<String, String> {
    response
        .body_mut()
        .with_config()
        .limit(4 << 20)
        .read_to_string()
        .map_err(|e| e.to_string())
}

/// The first line of an answer, at most 200 characters: enough to name a proxy's error page.
fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or("")
        .trim()
        .chars()
        .take(200)
        .collect()
}

fn basic(c: &Credentials) -> Option<String> {
    let user = c.username.as_deref()?;
    let password = c.password.as_deref().unwrap_or("");
    Some(base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// Where Linux distributions keep the system's trusted roots (the list Go's crypto/x509, and
/// so the engine, reads).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The roots to trust: the system's bundle, the extra files of `settings` and the registry's
/// `/etc/docker/certs.d/<registry>/*.crt` (the engine's per-registry CAs). Without a system
/// bundle, Mozilla's roots (compiled in) stand in for it.
fn roots(reference: &Reference, settings: &Settings) -> RootCerts {
    let system = SYSTEM_BUNDLES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    let certs_d = Path::new("/etc/docker/certs.d").join(&reference.registry);
    let registry_cas = std::fs::read_dir(certs_d)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "crt"));
    let files: Vec<PathBuf> = system
        .iter()
        .cloned()
        .chain(settings.ca_files.iter().cloned())
        .chain(registry_cas)
        .collect();
    let certs: Vec<Certificate<'static>> = files
        .iter()
        .filter_map(|f| std::fs::read(f).ok())
        .flat_map(|pem| {
            ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    if system.is_some() {
        return RootCerts::new_with_certs(&certs);
    }
    // No system bundle (a minimal container, say): Mozilla's roots, plus the extra CAs.
    let mozilla = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned());
    RootCerts::new_with_certs(&certs.into_iter().chain(mozilla).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests;
