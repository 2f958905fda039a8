//! `ptenv.lock`: the images ptenv resolved for a project, pinned by registry digest, so every
//! checkout of the project starts from the same bytes. Pure: the file's model, its rendering
//! (sorted and stable, so a re-run that resolves the same images writes the same file and a
//! review diff shows only what changed), its parsing with located errors, and the comparison
//! that says what made a lock stale, and what `ptenv up` does with a lock ([`for_up`]: a typed
//! outcome, worded by the caller). Resolving against the registry and the file's I/O happen in
//! the binary's `lockfile`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gpu::{HostFacts, Source};
use crate::image_facts::{ImageFacts, Torch};
use crate::profile::{Mode, Profile, Variant};
use crate::registry::Reference;
use crate::select::{self, Choice};

/// The lock file, next to `ptenv.yaml`.
pub const LOCK_FILE: &str = "ptenv.lock";

/// The format this ptenv writes and reads. A newer format is refused rather than half-read.
pub const VERSION: u32 = 1;

/// The first lines of every lock file: what it is and what to do with it.
const HEADER: &str = "\
# ptenv.lock: the images `ptenv lock` resolved for this project, pinned by registry digest.
# Commit it: `ptenv up` pulls these digests on every machine, and `ptenv lock --check` (CI)
# fails when it is stale. Do not edit by hand; run `ptenv lock` to update it.
";

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub version: u32,
    /// The machine the images were chosen for.
    pub target: Target,
    /// Per profile, sorted by name.
    pub profiles: BTreeMap<String, Entry>,
}

/// The machine the selection was made for: this host's facts when locked without flags, or
/// `--driver`/`--gpu`. `ptenv lock --check` re-resolves for it, so CI needs no GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// `x86_64`, `aarch64`.
    pub machine: String,
    /// The NVIDIA driver version; absent: no usable GPU, the images were chosen for the CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The GPUs' compute capabilities in index order, `["8.6"]`. Empty with a driver: the
    /// GPUs were unknown (`--driver` alone) and only the driver was checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<String>,
}

/// One profile's pinned image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// What the profile asked for when it was locked: a change makes the entry stale.
    pub settings: Settings,
    /// The selected base image by tag, `pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime`.
    pub image: String,
    /// What the tag pointed to in the registry: the image index (manifest list) of a
    /// multi-arch image, else the image manifest.
    pub digest: String,
    /// The media type of what `digest` names.
    pub media_type: String,
    /// The platform the image runs as, `linux/amd64`.
    pub platform: String,
    /// The inputs of the derived image ptenv builds on top.
    pub derived: Derived,
    /// What the pinned image says about itself, read by its probe where `ptenv lock` ran:
    /// `lock --check` on a machine without the image or a GPU, and `up` before its pull, judge
    /// it from these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<Facts>,
}

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

impl Entry {
    /// `repository@sha256:…`: what `ptenv up` pulls and builds on.
    pub fn reference(&self) -> String {
        format!("{}@{}", repository_of(&self.image), self.digest)
    }

    /// Refuses an entry that does not pin an image of the repository `profile` names (that of
    /// its `image:`, else its `repository:`) by a sha256 digest. A lock chooses which image of
    /// the repository runs, never another one: the file comes with the project, and an
    /// edited lock must not be a way to run someone else's image.
    pub fn check_pins(&self, profile: &Profile) -> Result<()> {
        let name = &profile.name;
        let fix = "run `ptenv lock` to pin the profile's own image again, and see who changed ptenv.lock: `git log -p ptenv.lock`";
        let hex = self.digest.strip_prefix("sha256:").unwrap_or_default();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::new(format!(
                "ptenv.lock pins profile `{name}` at `{}`, which is not a sha256 digest",
                self.digest
            ))
            .hint(fix));
        }
        let wanted = profile
            .image
            .as_deref()
            .map_or(profile.repository.as_str(), repository_of);
        let (a, b) = (Reference::parse(wanted), Reference::parse(&self.image));
        if (a.registry, a.repository) != (b.registry, b.repository) {
            return Err(Error::new(format!(
                "ptenv.lock pins profile `{name}` to {}@{}, which is not an image of {wanted}, the repository the profile names",
                repository_of(&self.image),
                short(&self.digest)
            ))
            .hint(fix));
        }
        Ok(())
    }
}

impl Target {
    /// The machine of `facts` as the lock records it. A host whose driver shows no GPU is
    /// recorded as the CPU, which is what the selection made of it.
    pub fn of(facts: &HostFacts) -> Target {
        let cpu = facts.gpus.is_empty() && facts.source != Source::Override;
        Target {
            machine: facts.machine.clone(),
            driver: if cpu { None } else { facts.driver.clone() },
            gpus: facts.gpus.iter().map(|g| g.cc_str()).collect(),
        }
    }

    /// "a machine with NVIDIA driver 550.54.15 and GPUs of compute capability 8.6, 8.6".
    pub fn describe(&self) -> String {
        match (&self.driver, self.gpus.is_empty()) {
            (None, _) => "a machine without an NVIDIA GPU".to_string(),
            (Some(d), true) => format!("a machine with NVIDIA driver {d} and GPUs not given"),
            (Some(d), false) => format!(
                "a machine with NVIDIA driver {d} and GPU{} of compute capability {}",
                if self.gpus.len() == 1 { "" } else { "s" },
                self.gpus.join(", ")
            ),
        }
    }
}

/// `registry:5000/team/pytorch:2.6.0-…` → `registry:5000/team/pytorch` (a `:` before the last
/// `/` is a registry port, not a tag).
pub fn repository_of(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => &image[..last_slash + i],
        None => image,
    }
}

/// The OCI platform of a machine as `uname -m` names it: `x86_64` → `linux/amd64`.
pub fn platform(machine: &str) -> String {
    let arch = match machine {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "armv7l" => "arm",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        other => other,
    };
    format!("linux/{arch}")
}

/// Whether a media type names an image index (manifest list): a multi-arch image, whose one
/// digest stands for every platform.
pub fn is_index(media_type: &str) -> bool {
    media_type == "application/vnd.oci.image.index.v1+json"
        || media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
}

/// The file's text: the header, then the YAML. serde_yaml writes struct fields in declaration
/// order and `BTreeMap` keys sorted, so equal locks render to equal bytes.
pub fn render(lock: &Lock) -> String {
    let body = serde_yaml::to_string(lock).expect("a lock serializes");
    format!("{HEADER}{body}")
}

/// Parse the file's text; errors name the file, line and column, and how to repair it.
pub fn parse(text: &str, path: &Path) -> Result<Lock> {
    let fix = format!(
        "{} is written by `ptenv lock`: run it to write the file again (and commit it)",
        path.display()
    );
    // The version first: a newer format may have fields this ptenv would call unknown.
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| located(&e, path, &fix))?;
    match value.get("version").and_then(serde_yaml::Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) if v > u64::from(VERSION) => {
            return Err(Error::new(format!(
                "{} is in format {v}, written by a newer ptenv; this one reads format {VERSION}",
                path.display()
            ))
            .hint("update ptenv (see the README's install section)"))
        }
        Some(v) => {
            return Err(
                Error::new(format!("{}: unknown format version {v}", path.display())).hint(fix),
            )
        }
        None => {
            return Err(Error::new(format!(
                "{} has no `version:`; it is not a lock file ptenv wrote",
                path.display()
            ))
            .hint(fix))
        }
    }
    serde_yaml::from_str(text).map_err(|e| located(&e, path, &fix))
}

fn located(e: &serde_yaml::Error, path: &Path, fix: &str) -> Error {
    let text = e.to_string();
    // serde_yaml appends " at line L column C"; the place goes first, as compilers do.
    let message = text.split(" at line ").next().unwrap_or(&text);
    let place = match e.location() {
        Some(l) => format!("{}:{}:{}", path.display(), l.line(), l.column()),
        None => path.display().to_string(),
    };
    Error::new(format!("{place}: {message}")).hint(fix.to_string())
}

/// Why `old` (the file) differs from `new` (what `ptenv lock` resolves now): one sentence per
/// change, in a stable order; empty when the lock is current.
pub fn changes(old: &Lock, new: &Lock) -> Vec<String> {
    let mut out = Vec::new();
    if old.target != new.target {
        out.push(format!(
            "the lock was made for {}; this check resolved for {}",
            old.target.describe(),
            new.target.describe()
        ));
    }
    for (name, o) in &old.profiles {
        match new.profiles.get(name) {
            None => out.push(format!("profile `{name}` is locked but no longer defined")),
            Some(n) => out.extend(entry_changes(name, o, n)),
        }
    }
    for name in new.profiles.keys() {
        if !old.profiles.contains_key(name) {
            out.push(format!("profile `{name}` is not in the lock"));
        }
    }
    out
}

/// What changed in one profile's entry.
pub fn entry_changes(name: &str, old: &Entry, new: &Entry) -> Vec<String> {
    let mut out = Vec::new();
    let settings = new.settings.changes_from(&old.settings);
    if !settings.is_empty() {
        out.push(format!(
            "profile `{name}`: its settings changed: {}",
            settings.join(", ")
        ));
    }
    if old.image != new.image {
        out.push(format!(
            "profile `{name}`: the selected image is now {} (locked: {})",
            new.image, old.image
        ));
    } else if old.digest != new.digest {
        out.push(format!(
            "profile `{name}`: {} now has digest {} in the registry (locked: {}): the tag was pushed again",
            new.image, new.digest, old.digest
        ));
    }
    if old.platform != new.platform {
        out.push(format!(
            "profile `{name}`: platform {} → {}",
            old.platform, new.platform
        ));
    }
    let derived = new.derived.changes_from(&old.derived);
    if !derived.is_empty() {
        out.push(format!(
            "profile `{name}`: the derived image's inputs changed: {}",
            derived.join(", ")
        ));
    }
    out
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

/// `sha256:0123456789ab…` for sentences.
pub fn short(digest: &str) -> String {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() > 12 => format!("sha256:{}…", &hex[..12]),
        _ => digest.to_string(),
    }
}

/// What `ptenv up` does with the project's lock for one profile, decided by [`for_up`].
#[derive(Debug, Clone)]
pub enum ForUp {
    /// There is no lock: the fresh choice.
    NoLock,
    /// The lock has no entry for the profile: the fresh choice, by tag.
    NoEntry,
    /// `--relock`, and the lock differs from what this host resolves now: resolve and write
    /// the lock again, then start from its new entry.
    Relock,
    /// Start from the locked digest.
    Pinned(Box<Pinned>),
}

/// The locked image `ptenv up` starts from, and what the caller tells the user about it.
#[derive(Debug, Clone)]
pub struct Pinned {
    /// The choice to start from: `image` is the pinned `repository@sha256:…`, the reasons and
    /// warnings are about the locked image.
    pub choice: Choice,
    /// The lock's entry for the profile.
    pub entry: Entry,
    /// The machine the lock was made for.
    pub locked_for: Target,
    /// This machine, as the lock would record it.
    pub here: Target,
    /// The image this machine would choose now, when the lock pins another one.
    pub would_choose: Option<String>,
    /// The derived image's inputs that changed since the lock was written (the lock is kept,
    /// the image is built from ptenv.yaml as it is now).
    pub derived_changes: Vec<String>,
}

/// `ptenv up`'s use of the lock, given this host's `facts` and the fresh `choice`.
/// `recipe_hash` gives the hash of the derived image's Dockerfile on a pinned reference (see
/// [`Derived::recipe`]). Errors are refusals: the profile's settings differ from the locked
/// ones (without `relock`), the entry pins another repository, or the locked image cannot run
/// here (with the reason and the fix).
pub fn for_up(
    lock: Option<&Lock>,
    profile: &Profile,
    facts: &HostFacts,
    choice: Choice,
    relock: bool,
    recipe_hash: impl Fn(&str) -> Result<String>,
    dependency_hashes: BTreeMap<String, String>,
) -> Result<ForUp> {
    let Some(lock) = lock else {
        return Ok(ForUp::NoLock);
    };
    let name = &profile.name;
    let here = Target::of(facts);
    let Some(entry) = lock.profiles.get(name) else {
        return Ok(if relock {
            ForUp::Relock
        } else {
            ForUp::NoEntry
        });
    };
    let settings = Settings::of(profile).changes_from(&entry.settings);
    if !settings.is_empty() {
        if relock {
            return Ok(ForUp::Relock);
        }
        return Err(Error::new(format!(
            "{LOCK_FILE} pins profile `{name}` for other settings than it has now: {}",
            settings.join(", ")
        ))
        .hint("`ptenv lock` pins the image for the new settings (commit ptenv.lock); `ptenv up --relock` does that and starts")
        .hint("settings given as flags are not locked: put them in ptenv.yaml first"));
    }
    let derived = Derived::of(profile, recipe_hash(&entry.reference())?, dependency_hashes);
    let derived_changes = derived.changes_from(&entry.derived);
    if relock && (choice.image != entry.image || !derived_changes.is_empty()) {
        return Ok(ForUp::Relock);
    }
    entry.check_pins(profile)?;
    let mut why = select::misfits_of(profile, &entry.image, facts)?;
    // An image the catalog does not describe: what it said about itself when it was locked.
    let tag_known = crate::catalog::parse_tag(&entry.image)
        .and_then(|t| crate::catalog::find(&t.pytorch, t.cuda))
        .is_some();
    if let (false, Some(recorded)) = (tag_known, &entry.facts) {
        let v = select::judge_image(
            profile,
            &entry.image,
            None,
            &recorded.to_image_facts(&entry.platform),
            facts,
        )?;
        why.extend(v.refusals);
    }
    if !why.is_empty() {
        let mut e = Error::new(format!(
            "the image {LOCK_FILE} pins for profile `{name}`, {}, cannot run here ({}): it {}",
            entry.image,
            here.describe(),
            why.join("; it ")
        ));
        if choice.image != entry.image {
            e = e.hint(format!(
                "`ptenv up --relock` pins {}, which fits this machine; commit ptenv.lock if the team should use it too",
                choice.image
            ));
        }
        return Err(e
            .hint(format!(
                "the lock was made for {}; to keep one image for every machine of the team, lock for the oldest of them: `ptenv lock --driver <version> --gpu <cc>`",
                lock.target.describe()
            ))
            .hint("or run on the CPU: `--gpus none`"));
    }
    let would_choose = (choice.image != entry.image).then(|| choice.image.clone());
    let mut locked = if would_choose.is_none() {
        choice
    } else {
        // The reasons and warnings must be about the image that runs, not the one not taken.
        let pinned = Profile {
            image: Some(entry.image.clone()),
            ..profile.clone()
        };
        select::choose(&pinned, facts)?
    };
    locked.image = entry.reference();
    Ok(ForUp::Pinned(Box::new(Pinned {
        choice: locked,
        entry: entry.clone(),
        locked_for: lock.target.clone(),
        here,
        would_choose,
        derived_changes,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn entry(image: &str, digest: &str) -> Entry {
        Entry {
            settings: Settings {
                pytorch: "2.6".into(),
                variant: Variant::Runtime,
                cuda: None,
                image: None,
                repository: repository_of(image).to_string(),
            },
            image: image.into(),
            digest: digest.into(),
            media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
            platform: "linux/amd64".into(),
            derived: Derived {
                mode: Mode::Jupyter,
                apt: vec!["git".into()],
                pip: vec![],
                dependencies: BTreeMap::new(),
                resolved: vec![],
                user: HOST_USER.into(),
                recipe: D1.into(),
            },
            facts: None,
        }
    }

    fn lock() -> Lock {
        let mut profiles = BTreeMap::new();
        // Inserted out of order: the file is sorted regardless.
        profiles.insert(
            "shell".to_string(),
            entry("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime", D1),
        );
        profiles.insert(
            "jupyter".to_string(),
            entry(
                "registry.example.com:5000/team/pytorch:2.6.0-cuda12.4-cudnn9-runtime",
                D2,
            ),
        );
        Lock {
            version: VERSION,
            target: Target {
                machine: "x86_64".into(),
                driver: Some("550.54.15".into()),
                gpus: vec!["8.6".into()],
            },
            profiles,
        }
    }

    #[test]
    fn rendering_is_stable_sorted_and_parses_back() {
        let l = lock();
        let text = render(&l);
        assert_eq!(text, render(&l.clone()));
        assert!(text.starts_with("# ptenv.lock:"), "{text}");
        let jupyter = text.find("\n  jupyter:").expect("jupyter entry");
        let shell = text.find("\n  shell:").expect("shell entry");
        assert!(jupyter < shell, "profiles are sorted:\n{text}");
        // Versions stay strings ("2.6", not the float 2.6), and the digest is whole.
        assert!(text.contains("pytorch: '2.6'"), "{text}");
        assert!(text.contains(&format!("digest: {D2}")), "{text}");
        let back = parse(&text, Path::new("ptenv.lock")).unwrap();
        assert_eq!(back, l);
        assert!(changes(&l, &back).is_empty());
    }

    #[test]
    fn an_entry_may_pin_only_an_image_of_the_profile_s_repository() {
        use crate::profile::{Layer, Sources};
        let profile = |layer: Layer| Sources::default().resolve("shell", &layer).unwrap();
        let hub = profile(Layer::default());
        let tag = "2.6.0-cuda12.4-cudnn9-runtime";
        assert!(entry(&format!("pytorch/pytorch:{tag}"), D1)
            .check_pins(&hub)
            .is_ok());
        // The same repository, spelt as the engine would.
        assert!(entry(&format!("docker.io/pytorch/pytorch:{tag}"), D1)
            .check_pins(&hub)
            .is_ok());
        let err = entry(&format!("evil.example/x:{tag}"), D1)
            .check_pins(&hub)
            .unwrap_err();
        assert_eq!(
            err.message,
            "ptenv.lock pins profile `shell` to evil.example/x@sha256:111111111111…, which is not an image of pytorch/pytorch, the repository the profile names"
        );
        assert!(err.hints[0].starts_with("run `ptenv lock`"), "{err}");
        assert!(entry(&format!("pytorch/pytorch-x:{tag}"), D1)
            .check_pins(&hub)
            .is_err());
        assert!(entry(&format!("pytorch/pytorch:{tag}"), "sha256:12")
            .check_pins(&hub)
            .unwrap_err()
            .message
            .contains("not a sha256 digest"));
        // A profile that pins an image names its repository.
        let pinned = profile(Layer {
            image: Some("nvcr.io/nvidia/pytorch:24.01-py3".into()),
            ..Layer::default()
        });
        assert!(entry("nvcr.io/nvidia/pytorch:24.01-py3", D1)
            .check_pins(&pinned)
            .is_ok());
        assert!(entry(&format!("pytorch/pytorch:{tag}"), D1)
            .check_pins(&pinned)
            .is_err());
    }

    #[test]
    fn references_pin_the_repository_by_digest() {
        let e = entry(
            "registry.example.com:5000/team/pytorch:2.6.0-cuda12.4-cudnn9-runtime",
            D1,
        );
        assert_eq!(
            e.reference(),
            format!("registry.example.com:5000/team/pytorch@{D1}")
        );
        assert_eq!(repository_of("localhost:5000/x"), "localhost:5000/x");
        assert_eq!(repository_of("ubuntu"), "ubuntu");
        assert_eq!(repository_of(&format!("a/b:1@{D1}")), "a/b");
        assert_eq!(platform("x86_64"), "linux/amd64");
        assert_eq!(platform("aarch64"), "linux/arm64");
        assert!(is_index("application/vnd.oci.image.index.v1+json"));
        assert!(!is_index(
            "application/vnd.docker.distribution.manifest.v2+json"
        ));
        assert_eq!(short(D1), "sha256:111111111111…");
    }

    #[test]
    fn a_repushed_tag_is_named_with_both_digests() {
        let old = lock();
        let mut new = old.clone();
        new.profiles.get_mut("shell").unwrap().digest = D2.into();
        let c = changes(&old, &new);
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(c[0].contains("profile `shell`"), "{c:?}");
        assert!(c[0].contains("pushed again"), "{c:?}");
        assert!(c[0].contains(D1) && c[0].contains(D2), "{c:?}");
    }

    #[test]
    fn every_kind_of_staleness_is_said() {
        let old = lock();
        let mut new = old.clone();
        {
            let j = new.profiles.get_mut("jupyter").unwrap();
            j.image = "pytorch/pytorch:2.7.0-cuda12.6-cudnn9-runtime".into();
            j.settings.pytorch = "2.7".into();
            j.derived.pip = vec!["numpy>=2".into()];
        }
        new.profiles.remove("shell");
        new.profiles
            .insert("train".into(), entry("pytorch/pytorch:x", D1));
        new.target.driver = None;
        new.target.gpus.clear();
        let c = changes(&old, &new).join("\n");
        for want in [
            "the lock was made for a machine with NVIDIA driver 550.54.15 and GPU of compute capability 8.6; this check resolved for a machine without an NVIDIA GPU",
            "profile `jupyter`: its settings changed: pytorch 2.6 → 2.7",
            "profile `jupyter`: the selected image is now pytorch/pytorch:2.7.0-cuda12.6-cudnn9-runtime",
            "profile `jupyter`: the derived image's inputs changed: pip [] → [numpy>=2]",
            "profile `shell` is locked but no longer defined",
            "profile `train` is not in the lock",
        ] {
            assert!(c.contains(want), "missing `{want}` in:\n{c}");
        }
        // A dependency file changed: named.
        let mut d = old.profiles["shell"].derived.clone();
        d.dependencies
            .insert("requirements.txt".into(), "abc".into());
        let mut e = d.clone();
        e.dependencies
            .insert("requirements.txt".into(), "def".into());
        assert_eq!(
            e.changes_from(&d),
            vec!["dependency files changed: requirements.txt".to_string()]
        );
        // Only the recipe hash moved: said as such.
        let mut d = old.profiles["shell"].derived.clone();
        d.recipe = D2.into();
        assert_eq!(
            d.changes_from(&old.profiles["shell"].derived),
            vec!["recipe sha256:111111111111… → sha256:222222222222…".to_string()]
        );
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

    #[test]
    fn bad_files_are_located_and_say_how_to_repair() {
        let path = Path::new("/p/ptenv.lock");
        let e = parse("version: 1\ntarget: [\n", path).unwrap_err();
        assert!(e.message.starts_with("/p/ptenv.lock:"), "{e}");
        assert!(e.hints[0].contains("ptenv lock"), "{e}");
        let mut text = render(&lock());
        text = text.replace("media_type:", "mediatype:");
        let e = parse(&text, path).unwrap_err();
        assert!(e.message.contains("unknown field `mediatype`"), "{e}");
        assert!(e.message.starts_with("/p/ptenv.lock:"), "{e}");
        let e = parse("version: 9\n", path).unwrap_err();
        assert!(e.message.contains("newer ptenv"), "{e}");
        let e = parse("profiles: {}\n", path).unwrap_err();
        assert!(e.message.contains("no `version:`"), "{e}");
    }
}
