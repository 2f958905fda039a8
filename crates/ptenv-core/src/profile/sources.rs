//! The files a profile comes from and resolving a named profile through them.

use super::*;

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
pub struct SourceFile {
    pub origin: Origin,
    pub layer: Layer,
}

/// Everything profiles are resolved from, lowest layer first (user, then project).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub files: Vec<SourceFile>,
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

    /// The engine the files choose: the project's `host:`, else the user's, with the file that
    /// sets it.
    pub fn host(&self) -> Option<(&str, &SourceFile)> {
        self.files
            .iter()
            .rev()
            .find_map(|s| s.layer.host.as_deref().map(|h| (h, s)))
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
        fn named<'a>(s: &'a SourceFile, name: &str) -> Option<&'a Layer> {
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
pub(super) fn finish(name: &str, l: Layer) -> Result<Profile> {
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
        idle_stop: l.idle_stop.and_then(crate::idle::IdleSetting::limit),
        ca_bundle: l.ca_bundle,
        sudo: l.sudo.unwrap_or(DEFAULT_SUDO),
        workdir: WORKDIR.to_string(),
        kubernetes: l.kubernetes.unwrap_or_default(),
        workspace: l.workspace.unwrap_or_default(),
    })
}

/// A repository is an image name without a tag: `pytorch/pytorch`,
/// `registry.example.com/team/pytorch`, `127.0.0.1:5000/pytorch/pytorch`.
pub(super) fn check_repository(repo: &str) -> std::result::Result<(), String> {
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
