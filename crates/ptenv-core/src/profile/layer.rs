//! One layer of settings as a file or the command line writes it, and how layers merge.

use super::*;

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
    pub ulimits: Option<BTreeMap<String, UlimitValue>>,
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
    /// Stop the environment once it has been idle this long, or `off` to turn off a lower
    /// layer's (see `crate::idle`).
    pub idle_stop: Option<crate::idle::IdleSetting>,
    pub kubernetes: Option<Kubernetes>,
    /// How the project reaches an engine on another machine (see `crate::workspace`).
    pub workspace: Option<crate::workspace::Settings>,
    /// Only at the top level of a file: the engine the project's commands use (`ssh://…`,
    /// `tcp://…`, `unix://…` or a docker context name), after `--host` (see `crate::target`).
    pub host: Option<String>,
    /// Only at the top level of a file: the profile `ptenv up` uses without a MODE.
    pub default: Option<String>,
    /// Only at the top level of a file: named profiles.
    pub profiles: Option<BTreeMap<String, Layer>>,
}

/// A string setting checked where it is written.
pub(super) fn checked_string<'de, D: Deserializer<'de>>(
    d: D,
    check: fn(&str) -> std::result::Result<(), String>,
) -> std::result::Result<Option<String>, D::Error> {
    checked(d, |v| {
        let text = scalar_string(&v).ok_or_else(|| bad("expected a string"))?;
        check(&text).map_err(bad)?;
        Ok(Some(text))
    })
}

pub(super) fn bind_address<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    checked_string(d, |t| check_ip(t).map(drop))
}

pub(super) fn repository_name<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    checked_string(d, check_repository)
}

pub(super) fn image_ref<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    checked_string(d, check_image)
}

/// `ulimits:` with each name checked at its key.
pub(super) fn ulimit_map<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<BTreeMap<String, UlimitValue>>, D::Error> {
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
    let map = BTreeMap::<Name, UlimitValue>::deserialize(d)?;
    Ok(Some(map.into_iter().map(|(k, v)| (k.0, v)).collect()))
}

pub(super) fn check_ulimit_name(name: &str) -> std::result::Result<(), String> {
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

pub(super) fn check_image(image: &str) -> std::result::Result<(), String> {
    if image.trim().is_empty() || image.contains(char::is_whitespace) {
        Err(format!("`{image}` is not an image reference"))
    } else {
        Ok(())
    }
}

/// Every key a layer accepts, for "did you mean" suggestions.
pub const KEYS: [&str; 27] = [
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
    "idle_stop",
    "kubernetes",
    "workspace",
    "host",
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
            sudo,
            idle_stop
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
        if let Some(w) = &over.workspace {
            self.workspace.get_or_insert_with(Default::default).merge(w);
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
    pub(super) fn settings(&self) -> Layer {
        Layer {
            host: None,
            default: None,
            profiles: None,
            ..self.clone()
        }
    }
}
