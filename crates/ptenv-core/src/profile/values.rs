//! The profile's value types that are written as one scalar or short form: mode, variant,
//! GPUs, shared memory, ulimits, mounts and ports, each parsed and checked where it is written.

use super::*;

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

impl<'de> Deserialize<'de> for crate::idle::IdleSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        checked(d, |v| {
            let text = scalar_string(&v).ok_or_else(|| {
                bad("`idle_stop` must be a duration like `2h` or `30m`, or `off`")
            })?;
            crate::idle::IdleSetting::parse(&text).map_err(bad)
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
pub struct UlimitValue {
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

impl UlimitValue {
    /// `-1`, `67108864`, `1024:4096`, `64m` (sizes for the byte-valued limits).
    pub fn parse(text: &str) -> std::result::Result<UlimitValue, String> {
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
        Ok(UlimitValue { soft, hard })
    }
}

impl<'de> Deserialize<'de> for UlimitValue {
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
                UlimitValue::parse(&format!("{}:{}", sh.soft, sh.hard)).map_err(bad)
            }
            v => {
                let text = scalar_string(&v)
                    .ok_or_else(|| bad("a ulimit is a number, `-1`, or `soft:hard`"))?;
                UlimitValue::parse(&text).map_err(bad)
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

pub(super) fn check_ip(ip: &str) -> std::result::Result<String, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            UlimitValue::parse("-1"),
            Ok(UlimitValue { soft: -1, hard: -1 })
        );
        assert_eq!(
            UlimitValue::parse("1024:-1"),
            Ok(UlimitValue {
                soft: 1024,
                hard: -1
            })
        );
        assert!(UlimitValue::parse("-1:1024").is_err());
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
}
