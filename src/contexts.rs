//! docker's contexts, read from its config folder (`$DOCKER_CONFIG`, else `~/.docker`) the way
//! the docker CLI stores them (docs/remote.md): `config.json`'s `currentContext`, each
//! context's `contexts/meta/<sha256 of name>/meta.json`, and its TLS files under
//! `contexts/tls/<sha256 of name>/docker/`. Then [`choose`] asks `target` for the engine.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::target::{self, ContextEndpoint, Inputs, Target, TlsFiles};

/// The engine this command talks to: `--host` (`flag`), the profile's `host:`, then docker's
/// environment and config.
pub fn choose(flag: Option<&str>, profile: Option<(&str, Option<&Path>)>) -> Result<Target> {
    let dir = config_dir();
    let config = std::fs::read_to_string(dir.join("config.json")).ok();
    let current = config.as_deref().and_then(current_context);
    let docker_host = std::env::var("DOCKER_HOST").ok();
    let docker_context = std::env::var("DOCKER_CONTEXT").ok();
    let cert_path = std::env::var_os("DOCKER_CERT_PATH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.clone());
    let inputs = Inputs {
        flag,
        profile: profile.map(|(host, _)| host),
        profile_file: profile.and_then(|(_, file)| file),
        docker_host: docker_host.as_deref(),
        docker_context: docker_context.as_deref(),
        current_context: current.as_deref(),
        tls_verify: std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty()),
        cert_path: &cert_path,
    };
    target::resolve(&inputs, &|name| lookup(&dir, name))
}

/// docker's config folder: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn config_dir() -> PathBuf {
    crate::credentials::config_path()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from(".docker"))
}

/// The context `name` in the store under `dir`, or `None` when it does not exist.
pub fn lookup(dir: &Path, name: &str) -> Result<Option<ContextEndpoint>> {
    let id = context_id(name);
    let meta = dir.join("contexts/meta").join(&id).join("meta.json");
    let text = match std::fs::read_to_string(&meta) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::new(format!(
                "cannot read the docker context `{name}` ({}): {e}",
                meta.display()
            )))
        }
    };
    let mut endpoint = parse_meta(&text).map_err(|why| {
        Error::new(format!(
            "the docker context `{name}` ({}) is not readable: {why}",
            meta.display()
        ))
        .hint(format!("`docker context inspect {name}` shows it; recreate it with `docker context rm {name}` and `docker context create`"))
    })?;
    let tls = dir.join("contexts/tls").join(&id).join("docker");
    if tls.join("ca.pem").is_file() {
        endpoint.tls = Some(TlsFiles::under(&tls));
    }
    Ok(Some(endpoint))
}

/// The folder name docker gives a context: the hex SHA-256 of its name.
fn context_id(name: &str) -> String {
    crate::project::hex(&Sha256::digest(name.as_bytes()))
}

/// `currentContext` of config.json, when set.
fn current_context(config: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(config).ok()?;
    let name = value.get("currentContext")?.as_str()?.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// The docker endpoint of a context's meta.json. docker writes `Name`, `Metadata`,
/// `Endpoints`; Go matches JSON keys case-insensitively, so ptenv does too.
fn parse_meta(text: &str) -> std::result::Result<ContextEndpoint, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let field = |v: &serde_json::Value, key: &str| -> Option<serde_json::Value> {
        v.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    let docker = field(&value, "Endpoints")
        .and_then(|e| field(&e, "docker"))
        .ok_or("it has no docker endpoint")?;
    let host = match field(&docker, "Host") {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s,
        Some(other) => return Err(format!("its Host is {other}, not a string")),
    };
    let skip_tls_verify = field(&docker, "SkipTLSVerify")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    Ok(ContextEndpoint {
        host,
        skip_tls_verify,
        tls: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_ids_are_sha256_of_the_name() {
        // `docker context create default-like` stores "default" under this folder name.
        assert_eq!(
            context_id("default"),
            "37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f"
        );
    }

    #[test]
    fn meta_json_as_docker_writes_it() {
        let text = r#"{"Name":"lab","Metadata":{"Description":"the lab box"},"Endpoints":{"docker":{"Host":"ssh://me@lab","SkipTLSVerify":false}}}"#;
        let ep = parse_meta(text).unwrap();
        assert_eq!(ep.host, "ssh://me@lab");
        assert!(!ep.skip_tls_verify);
        let lower =
            r#"{"name":"x","endpoints":{"docker":{"host":"tcp://h:2376","skipTLSVerify":true}}}"#;
        let ep = parse_meta(lower).unwrap();
        assert_eq!(
            (ep.host.as_str(), ep.skip_tls_verify),
            ("tcp://h:2376", true)
        );
        assert!(parse_meta(r#"{"Name":"k8s","Endpoints":{}}"#)
            .unwrap_err()
            .contains("no docker endpoint"));
        assert!(parse_meta("{").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn current_context_of_config_json() {
        assert_eq!(
            current_context(r#"{"auths":{},"currentContext":"lab"}"#).as_deref(),
            Some("lab")
        );
        assert_eq!(current_context(r#"{"currentContext":""}"#), None);
        assert_eq!(current_context(r#"{"auths":{}}"#), None);
    }

    #[test]
    fn lookup_reads_the_store_folders() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(lookup(dir.path(), "lab").unwrap(), None);
        let id = context_id("lab");
        let meta = dir.path().join("contexts/meta").join(&id);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"lab","Endpoints":{"docker":{"Host":"tcp://10.0.0.5:2376"}}}"#,
        )
        .unwrap();
        let ep = lookup(dir.path(), "lab").unwrap().unwrap();
        assert_eq!((ep.host.as_str(), ep.tls), ("tcp://10.0.0.5:2376", None));
        let tls = dir.path().join("contexts/tls").join(&id).join("docker");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(tls.join("ca.pem"), "x").unwrap();
        let ep = lookup(dir.path(), "lab").unwrap().unwrap();
        assert_eq!(ep.tls, Some(TlsFiles::under(&tls)));
    }
}
