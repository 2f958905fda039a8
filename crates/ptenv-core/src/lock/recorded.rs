//! What an entry records besides the digest: the image's probed facts, the profile settings
//! that shaped its derived image, and the derived image itself.

use super::*;

/// The probed facts of a pinned image (`image_facts::ImageFacts`, without its labels and env
/// apart from the NVIDIA requirements the container runtime enforces).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    /// The image ID the probe ran (the config digest of the platform's image).
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sass: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ptx: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cudnn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvidia_require_cuda: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvidia_disable_require: Option<String>,
    /// Why the image has no torch, when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Facts {
    pub fn of(f: &ImageFacts) -> Facts {
        Facts {
            id: f.id.clone(),
            python: f.python.clone(),
            torch: f.torch.as_ref().map(|t| t.version.clone()),
            cuda: f.torch.as_ref().and_then(|t| t.cuda.clone()),
            sass: f.torch.as_ref().map(|t| t.sass.clone()).unwrap_or_default(),
            ptx: f.torch.as_ref().map(|t| t.ptx.clone()).unwrap_or_default(),
            cudnn: f.torch.as_ref().and_then(|t| t.cudnn.clone()),
            nvidia_require_cuda: f.require_cuda.clone(),
            nvidia_disable_require: f.env.get("NVIDIA_DISABLE_REQUIRE").cloned(),
            problem: f.problem.clone(),
        }
    }

    /// Back to the facts the judge reads.
    pub fn to_image_facts(&self, platform: &str) -> ImageFacts {
        let mut env = BTreeMap::new();
        if let Some(r) = &self.nvidia_require_cuda {
            env.insert("NVIDIA_REQUIRE_CUDA".to_string(), r.clone());
        }
        if let Some(d) = &self.nvidia_disable_require {
            env.insert("NVIDIA_DISABLE_REQUIRE".to_string(), d.clone());
        }
        ImageFacts {
            format: crate::image_facts::FORMAT,
            id: self.id.clone(),
            platform: platform.to_string(),
            python: self.python.clone(),
            torch: self.torch.as_ref().map(|version| Torch {
                version: version.clone(),
                cuda: self.cuda.clone(),
                sass: self.sass.clone(),
                ptx: self.ptx.clone(),
                cudnn: self.cudnn.clone(),
            }),
            problem: self.problem.clone(),
            require_cuda: self.nvidia_require_cuda.clone(),
            labels: BTreeMap::new(),
            env,
        }
    }
}

/// The profile settings that say which image is wanted. `gpus:` is not one of them: it says
/// where the image runs, and a CPU-only run (`--gpus none`) of a locked image is fine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub pytorch: String,
    pub variant: Variant,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub repository: String,
}

/// The derived image's inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Derived {
    pub mode: Mode,
    #[serde(default)]
    pub apt: Vec<String>,
    #[serde(default)]
    pub pip: Vec<String>,
    /// The SHA-256 of each of the project's dependency files (`requirements.txt`, …), by
    /// path: a changed file makes the entry stale.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, String>,
    /// What the dependency layer's install resolved to, `name==version` as `pip freeze`
    /// prints them (what it added or changed in the image), read from the image `ptenv up`
    /// built for these dependency files. Empty until one was built; `lock --check` compares
    /// it with the image built here, when there is one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved: Vec<String>,
    /// Who the image's user is. Always [`HOST_USER`]: the UID/GID are each machine's own, so
    /// they cannot be pinned without making the lock differ between teammates.
    pub user: String,
    /// `sha256:` of the derived image's Dockerfile, built on the pinned digest for the
    /// reference user: it changes with the base digest, the mode's tools, the packages and
    /// ptenv's recipe.
    pub recipe: String,
}

/// [`Derived::user`]: the `dev` user with the host user's UID/GID (root: 1000:1000).
pub const HOST_USER: &str = "dev, with the UID/GID of the host user running `ptenv up`";

impl Settings {
    pub fn of(profile: &Profile) -> Settings {
        Settings {
            pytorch: profile.pytorch.clone(),
            variant: profile.variant,
            cuda: profile.cuda.clone(),
            image: profile.image.clone(),
            repository: profile.repository.clone(),
        }
    }

    /// "pytorch 2.6 → 2.7", one phrase per setting that differs from `old`.
    pub fn changes_from(&self, old: &Settings) -> Vec<String> {
        let mut out = Vec::new();
        let mut field = |name: &str, old: String, new: String| {
            if old != new {
                out.push(format!("{name} {old} → {new}"));
            }
        };
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        field("pytorch", old.pytorch.clone(), self.pytorch.clone());
        field("variant", old.variant.to_string(), self.variant.to_string());
        field("cuda", opt(&old.cuda), opt(&self.cuda));
        field("image", opt(&old.image), opt(&self.image));
        field(
            "repository",
            old.repository.clone(),
            self.repository.clone(),
        );
        out
    }
}

impl Derived {
    /// The inputs of `profile`'s derived image, with its recipe hash.
    /// `dependencies`: the hashes of the project's dependency files.
    pub fn of(
        profile: &Profile,
        recipe: String,
        dependencies: BTreeMap<String, String>,
    ) -> Derived {
        Derived {
            mode: profile.mode,
            apt: profile.packages.apt.clone(),
            pip: profile.packages.pip.clone(),
            dependencies,
            resolved: Vec::new(),
            user: HOST_USER.to_string(),
            recipe,
        }
    }

    /// "pip [] → [numpy]", one phrase per input that differs from `old`.
    pub fn changes_from(&self, old: &Derived) -> Vec<String> {
        let mut out = Vec::new();
        if self.mode != old.mode {
            out.push(format!("mode {} → {}", old.mode, self.mode));
        }
        if self.apt != old.apt {
            out.push(format!("apt {} → {}", list(&old.apt), list(&self.apt)));
        }
        if self.pip != old.pip {
            out.push(format!("pip {} → {}", list(&old.pip), list(&self.pip)));
        }
        let files = crate::dependencies::changed(&old.dependencies, &self.dependencies);
        if !files.is_empty() {
            out.push(format!("dependency files changed: {}", files.join(", ")));
        }
        if self.user != old.user {
            out.push(format!("user `{}` → `{}`", old.user, self.user));
        }
        // Only when both sides know it: a lock made before any build, or a check on a
        // machine without the image, has nothing to compare.
        if !old.resolved.is_empty() && !self.resolved.is_empty() {
            let moved = resolved_changes(&old.resolved, &self.resolved);
            if !moved.is_empty() {
                out.push(format!(
                    "the dependency layer resolved differently: {}",
                    moved.join(", ")
                ));
            }
        }
        if out.is_empty() && self.recipe != old.recipe {
            // Same inputs, another Dockerfile: the base digest or ptenv's recipe changed.
            out.push(format!(
                "recipe {} → {}",
                short(&old.recipe),
                short(&self.recipe)
            ));
        }
        out
    }
}

/// The differences between two `pip freeze` lists, one phrase each: `einops 0.8.0 → 0.8.1`,
/// `+ rich 14.0.0` (new), `- rich 14.0.0` (gone). Names compare as PEP 503 normalizes them.
pub fn resolved_changes(old: &[String], new: &[String]) -> Vec<String> {
    let split = |lines: &[String]| -> BTreeMap<String, String> {
        lines
            .iter()
            .map(|l| match l.split_once("==") {
                Some((name, version)) => (
                    crate::dependencies::normalize(name.trim()),
                    version.trim().to_string(),
                ),
                // `name @ url` and other forms: the whole line is what is compared.
                None => (l.trim().to_string(), String::new()),
            })
            .collect()
    };
    let (old, new) = (split(old), split(new));
    let mut out = Vec::new();
    for (name, version) in &new {
        match old.get(name) {
            Some(v) if v == version => {}
            Some(v) => out.push(format!("{name} {v} → {version}")),
            None => out.push(format!("+ {name} {version}").trim_end().to_string()),
        }
    }
    for (name, version) in &old {
        if !new.contains_key(name) {
            out.push(format!("- {name} {version}").trim_end().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::tests::lock;

    #[test]
    fn probed_facts_round_trip_through_the_lock() {
        let f = crate::image_facts::tests::torch_fixture(&[
            "NVIDIA_REQUIRE_CUDA=cuda>=12.4",
            "PATH=/opt/conda/bin",
        ]);
        let locked = Facts::of(&f);
        assert_eq!(locked.sass.len(), 7);
        let text = serde_yaml::to_string(&locked).unwrap();
        assert!(
            !text.contains("PATH"),
            "only the NVIDIA requirements of the env: {text}"
        );
        let back: Facts = serde_yaml::from_str(&text).unwrap();
        let judged = back.to_image_facts("linux/amd64");
        assert_eq!(judged.torch, f.torch);
        assert_eq!(judged.require_cuda, f.require_cuda);
        assert_eq!(judged.as_line(), f.as_line());
    }

    #[test]
    fn a_layer_that_resolved_differently_is_said_package_by_package() {
        let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut old = lock().profiles["shell"].derived.clone();
        old.resolved = lines(&["einops==0.8.0", "Rich==14.0.0", "six==1.17.0"]);
        let mut new = old.clone();
        new.resolved = lines(&["einops==0.8.1", "rich==14.0.0", "tqdm==4.67.1"]);
        assert_eq!(
            new.changes_from(&old),
            vec!["the dependency layer resolved differently: einops 0.8.0 → 0.8.1, + tqdm 4.67.1, - six 1.17.0".to_string()]
        );
        // Nothing to compare on one side (no image built here, or an older lock): no change.
        let mut unknown = old.clone();
        unknown.resolved.clear();
        assert!(unknown.changes_from(&old).is_empty());
        assert!(old.changes_from(&unknown).is_empty());
        // Recorded in the file, and read back.
        let mut l = lock();
        l.profiles.get_mut("shell").unwrap().derived = old.clone();
        let text = render(&l);
        assert!(
            text.contains("      resolved:\n      - einops==0.8.0\n"),
            "{text}"
        );
        assert_eq!(parse(&text, Path::new("ptenv.lock")).unwrap(), l);
    }
}
