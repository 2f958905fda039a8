//! Registry credentials, found the way docker's CLI finds them: `~/.docker/config.json` (or
//! `$DOCKER_CONFIG/config.json`), a per-registry `credHelpers` entry, else the `credsStore`,
//! else the base64 `auth` of an `auths` entry. Helpers are the `docker-credential-<name>`
//! programs that docker itself runs (not the docker CLI).
//!
//! The answer is ptenv's own [`Credentials`]: the registry client sends them itself, and the
//! engine adapter hands them to the daemon with a pull.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

/// A login for one registry: a user and password, or an identity token (named as docker's
/// `AuthConfig` names them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<String>,
    pub identitytoken: Option<String>,
    /// The registry they are for, as `config.json` keys it.
    pub serveraddress: Option<String>,
}

/// The key Docker Hub's credentials are stored under.
const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// The registry of an image reference as `config.json` keys it: `127.0.0.1:5000/pytorch/
/// pytorch:tag` → `127.0.0.1:5000`; `pytorch/pytorch:tag` → Docker Hub's key.
pub fn registry_of(image: &str) -> String {
    let reference = crate::registry::Reference::parse(image);
    if reference.is_docker_hub() {
        DOCKER_HUB.to_string()
    } else {
        reference.registry
    }
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// What a credential helper prints for `get`.
#[derive(Debug, Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// Credentials for the registry of `image`, or `None` (anonymous pull). A broken config or a
/// failing helper also means anonymous: the pull then fails with the registry's own message.
pub fn credentials_for(image: &str) -> Option<Credentials> {
    let path = config_path()?;
    let text = std::fs::read_to_string(&path).ok()?;
    from_config(&text, &registry_of(image), &run_helper)
}

fn from_config(
    text: &str,
    registry: &str,
    helper: &dyn Fn(&str, &str) -> Option<HelperAnswer>,
) -> Option<Credentials> {
    let config: ConfigFile = serde_json::from_str(text).ok()?;
    let helper_name = config
        .cred_helpers
        .get(registry)
        .or(config.creds_store.as_ref());
    if let Some(name) = helper_name {
        if let Some(answer) = helper(name, registry) {
            return Some(from_helper(answer, registry));
        }
    }
    let entry = config
        .auths
        .iter()
        .find_map(|(key, entry)| (normalize(key) == normalize(registry)).then_some(entry))?;
    if let Some(token) = &entry.identitytoken {
        return Some(Credentials {
            identitytoken: Some(token.clone()),
            serveraddress: Some(registry.to_string()),
            ..Default::default()
        });
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(entry.auth.as_ref()?.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some(Credentials {
        username: Some(user.to_string()),
        password: Some(pass.to_string()),
        serveraddress: Some(registry.to_string()),
        ..Default::default()
    })
}

fn from_helper(answer: HelperAnswer, registry: &str) -> Credentials {
    // Helpers return the user `<token>` for an identity token (docker/cli credentials store).
    if answer.username == "<token>" {
        Credentials {
            identitytoken: Some(answer.secret),
            serveraddress: Some(registry.to_string()),
            ..Default::default()
        }
    } else {
        Credentials {
            username: Some(answer.username),
            password: Some(answer.secret),
            serveraddress: Some(registry.to_string()),
            ..Default::default()
        }
    }
}

/// `https://registry.example.com/v1/` and `registry.example.com` are the same registry.
fn normalize(key: &str) -> &str {
    if key == DOCKER_HUB || key == "docker.io" || key == "index.docker.io" {
        return DOCKER_HUB;
    }
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// `echo REGISTRY | docker-credential-NAME get`.
fn run_helper(name: &str, registry: &str) -> Option<HelperAnswer> {
    let program = format!("docker-credential-{name}");
    if !Path::new(&program).is_absolute() && which(&program).is_none() {
        return None;
    }
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(registry.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_helper(_: &str, _: &str) -> Option<HelperAnswer> {
        None
    }

    #[test]
    fn registries_are_found_like_docker_finds_them() {
        assert_eq!(
            registry_of("127.0.0.1:5000/pytorch/pytorch:2.6"),
            "127.0.0.1:5000"
        );
        assert_eq!(registry_of("nvcr.io/nvidia/pytorch:24.01-py3"), "nvcr.io");
        assert_eq!(registry_of("localhost/x:1"), "localhost");
        assert_eq!(registry_of("pytorch/pytorch:2.6.0"), DOCKER_HUB);
        assert_eq!(registry_of("ubuntu"), DOCKER_HUB);
    }

    #[test]
    fn auths_entries_decode_user_and_password() {
        // {"auths": {"registry.example.com": {"auth": base64("ana:s3cret")}}}
        let text =
            r#"{"auths": {"https://registry.example.com/v1/": {"auth": "YW5hOnMzY3JldA=="}}}"#;
        let c = from_config(text, "registry.example.com", &no_helper).unwrap();
        assert_eq!(c.username.as_deref(), Some("ana"));
        assert_eq!(c.password.as_deref(), Some("s3cret"));
        assert!(from_config(text, "other.example.com", &no_helper).is_none());
        let hub = r#"{"auths": {"https://index.docker.io/v1/": {"identitytoken": "tok"}}}"#;
        let c = from_config(hub, DOCKER_HUB, &no_helper).unwrap();
        assert_eq!(c.identitytoken.as_deref(), Some("tok"));
    }

    #[test]
    fn helpers_come_first_per_registry_then_the_store() {
        let text = r#"{"auths": {"nvcr.io": {"auth": "YW5hOnMzY3JldA=="}},
                       "credsStore": "desktop", "credHelpers": {"nvcr.io": "ngc"}}"#;
        let helper = |name: &str, registry: &str| -> Option<HelperAnswer> {
            Some(HelperAnswer {
                username: format!("{name}-user"),
                secret: format!("{registry}-secret"),
            })
        };
        let c = from_config(text, "nvcr.io", &helper).unwrap();
        assert_eq!(c.username.as_deref(), Some("ngc-user"));
        let c = from_config(text, "ghcr.io", &helper).unwrap();
        assert_eq!(c.username.as_deref(), Some("desktop-user"));
        // A helper that knows nothing falls back to the auths entry.
        let c = from_config(text, "nvcr.io", &no_helper).unwrap();
        assert_eq!(c.username.as_deref(), Some("ana"));
        let token = from_helper(
            HelperAnswer {
                username: "<token>".into(),
                secret: "t".into(),
            },
            "ghcr.io",
        );
        assert_eq!(token.identitytoken.as_deref(), Some("t"));
        assert!(from_config("not json", "x", &no_helper).is_none());
    }
}
