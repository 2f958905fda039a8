//! A `tcp://` engine over TLS with the client's certificate, as `docker --tlsverify` reaches
//! it: the engine's CA (`ca.pem`), the client's certificate and key (`cert.pem`, `key.pem`),
//! from `DOCKER_CERT_PATH` or a docker context's TLS folder. Verification is always on, and
//! ca.pem is the only root the engine's certificate may chain to, as in docker's client
//! (docs/remote.md §6): a certificate some public CA issued for the same name is not the
//! engine's. bollard's own `connect_with_ssl` adds the system's roots to ca.pem (and fails when
//! a system certificate cannot be read), so the connection is built here and handed to bollard
//! as a custom transport.

use std::path::Path;

use bollard::Docker;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};
use crate::target::TlsFiles;

/// A client for the engine at `endpoint` (`tcp://host:port`) with `files`. The files are
/// checked and read here, each named when it is missing or not PEM: a client certificate that
/// is missing would otherwise look like the engine refusing the handshake.
pub fn client(
    endpoint: &str,
    files: &TlsFiles,
    timeout: u64,
    version: &bollard::ClientVersion,
) -> Result<Docker> {
    for (what, path, label) in [
        ("the engine's CA certificate", &files.ca, "CERTIFICATE"),
        ("the client certificate", &files.cert, "CERTIFICATE"),
        ("the client key", &files.key, "PRIVATE KEY"),
    ] {
        check_pem(endpoint, what, path, label)?;
    }
    let config = client_config(endpoint, files)?;
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    // The connector sees `https://` addresses: TLS is the layer above it.
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnector::from((http, config));
    let mut builder =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new());
    // No idle connections kept, as bollard's own clients: an attach or exec stream takes its
    // connection over, and the engine may close idle ones at any time.
    builder.pool_max_idle_per_host(0);
    let http_client = builder.build(https);
    let transport = move |request: bollard::BollardRequest| {
        let http_client = http_client.clone();
        async move {
            http_client
                .request(request)
                .await
                .map_err(bollard::errors::Error::from)
        }
    };
    let address = endpoint.replacen("tcp://", "https://", 1);
    Docker::connect_with_custom_transport(transport, Some(address), timeout, version).map_err(|e| {
        Error::new(format!(
            "cannot set up TLS for the engine at {endpoint}: {}",
            super::error_text(&e)
        ))
        .hint(files_hint(files))
    })
}

/// rustls' client configuration: ca.pem as the only trusted root, the client certificate
/// chain and key from cert.pem and key.pem.
fn client_config(endpoint: &str, files: &TlsFiles) -> Result<rustls::ClientConfig> {
    let unreadable = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        Error::new(format!(
            "cannot connect to the engine at {endpoint} over TLS: {what} {} cannot be read as PEM ({e})",
            path.display()
        ))
        .hint(files_hint(files))
    };
    let mut roots = rustls::RootCertStore::empty();
    let cas = CertificateDer::pem_file_iter(&files.ca)
        .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| unreadable("the engine's CA certificate", &files.ca, &e))?;
    let (added, _) = roots.add_parsable_certificates(cas);
    if added == 0 {
        return Err(Error::new(format!(
            "cannot connect to the engine at {endpoint} over TLS: the engine's CA certificate {} holds no certificate ptenv can use",
            files.ca.display()
        ))
        .hint(files_hint(files)));
    }
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| unreadable("the client certificate", &files.cert, &e))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| unreadable("the client key", &files.key, &e))?;
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| {
            Error::new(format!(
                "cannot connect to the engine at {endpoint} over TLS: the client certificate {} and key {} do not go together ({e})",
                files.cert.display(),
                files.key.display()
            ))
            .hint(files_hint(files))
        })?;
    // No session resumption, as docker's Go client (no ClientSessionCache): a server that
    // verifies client certificates without a session ID context (an OpenSSL-based TLS front,
    // such as socat or stunnel before an engine's socket) refuses a resumed session.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// Whether `path` holds a PEM block whose label ends with `label` (`RSA PRIVATE KEY`, `EC
/// PRIVATE KEY` and `PRIVATE KEY` are all keys).
fn check_pem(endpoint: &str, what: &str, path: &Path, label: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "does not exist".to_string(),
                std::io::ErrorKind::PermissionDenied => "is not readable by you".to_string(),
                _ => format!("cannot be read ({e})"),
            };
            return Err(Error::new(format!(
                "cannot connect to the engine at {endpoint} over TLS: {what} {} {why}",
                path.display()
            ))
            .hint(format!(
                "{} must hold ca.pem (the engine's CA), cert.pem and key.pem (your client certificate and key), as for `docker --tlsverify`; point DOCKER_CERT_PATH at the folder that has them, or give the docker context its files (`docker context update NAME --docker host=...,ca=...,cert=...,key=...`)",
                dir.display()
            )));
        }
    };
    let has_block = text.lines().any(|l| {
        l.strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
            .is_some_and(|l| l.ends_with(label))
    });
    if !has_block {
        return Err(Error::new(format!(
            "cannot connect to the engine at {endpoint} over TLS: {what} {} is not a PEM file with a {label}",
            path.display()
        ))
        .hint(format!(
            "{} must hold ca.pem, cert.pem and key.pem in PEM form (`-----BEGIN ...-----`), as `docker --tlsverify` reads them",
            dir.display()
        )));
    }
    Ok(())
}

fn files_hint(files: &TlsFiles) -> String {
    format!(
        "the files used: {}, {}, {}",
        files.ca.display(),
        files.cert.display(),
        files.key.display()
    )
}

/// The TLS failure under a bollard error, worded for the user, when the connection failed in
/// the handshake: the engine's certificate not signed by the CA, or the client's refused.
pub fn handshake_error(
    endpoint: &str,
    files: &TlsFiles,
    e: &bollard::errors::Error,
) -> Option<Error> {
    let tls = rustls_error(e)?;
    let error = match tls {
        rustls::Error::InvalidCertificate(why) => Error::new(format!(
            "the engine at {endpoint} presented a certificate that {} does not vouch for ({why:?}): ptenv does not talk to an engine it cannot verify",
            files.ca.display()
        ))
        .hint("check that ca.pem is the CA that signed the engine's certificate (`openssl verify -CAfile ca.pem` on the engine's certificate), and that the certificate names the host you connect to"),
        rustls::Error::AlertReceived(alert) => Error::new(format!(
            "the engine at {endpoint} refused the TLS connection ({alert:?}): it did not accept the client certificate {}",
            files.cert.display()
        ))
        .hint("use a client certificate signed by the CA the engine trusts (its --tlscacert)"),
        other => Error::new(format!(
            "the TLS connection to the engine at {endpoint} failed: {other}"
        )),
    };
    Some(error.hint(files_hint(files)))
}

/// rustls' error somewhere under `e`. An I/O error carries it as its inner error (sometimes
/// inside another I/O error), which `source()` skips, so each I/O error's inner error is the
/// next link.
fn rustls_error(e: &bollard::errors::Error) -> Option<&rustls::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            // The inner error is looked at as a link of its own: it may be rustls' error, or
            // another I/O error around it.
            source = Some(inner);
            continue;
        }
        source = s.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(files: &TlsFiles) -> Error {
        client("tcp://engine:2376", files, 10, bollard::API_DEFAULT_VERSION).expect_err("refused")
    }

    #[test]
    fn each_missing_or_wrong_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles::under(dir.path());
        let e = refusal(&files);
        assert!(e.message.contains("the engine's CA certificate"), "{e}");
        assert!(e.message.contains(&files.ca.display().to_string()), "{e}");
        assert!(e.message.contains("does not exist"), "{e}");
        assert!(e.hints[0].contains("DOCKER_CERT_PATH"), "{e}");

        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        std::fs::write(&files.ca, cert).unwrap();
        std::fs::write(&files.cert, cert).unwrap();
        let e = refusal(&files);
        assert!(e.message.contains("the client key"), "{e}");
        assert!(e.message.contains(&files.key.display().to_string()), "{e}");

        std::fs::write(&files.key, cert).unwrap();
        let e = refusal(&files);
        assert!(
            e.message.contains("is not a PEM file with a PRIVATE KEY"),
            "{e}"
        );
    }
}
