//! `ptenv.lock`: the images ptenv resolved for a project, pinned by registry digest, so every
//! checkout of the project starts from the same bytes. Pure: the file's model, its rendering
//! (sorted and stable, so a re-run that resolves the same images writes the same file and a
//! review diff shows only what changed), its parsing with located errors, and the comparison
//! that says what made a lock stale, and what `ptenv up` does with a lock ([`for_up`]: a typed
//! outcome, worded by the caller). Resolving against the registry and the file's I/O happen in
//! the binary's `lockfile`.

mod changes;
mod policy;
mod recorded;
pub mod report;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::catalog::DriverVersion;
use crate::error::{Error, Result};
use crate::gpu::{HostFacts, Source};
use crate::image_facts::{ImageFacts, Torch};
use crate::profile::{Mode, Profile, Variant};
use crate::registry::Reference;
use crate::select::{self, Choice};

pub use changes::*;
pub use policy::*;
pub use recorded::*;

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
    pub target: TargetMachine,
    /// Per profile, sorted by name.
    pub profiles: BTreeMap<String, Entry>,
}

/// The machine the selection was made for: this host's facts when locked without flags, or
/// `--driver`/`--gpu`. `ptenv lock --check` re-resolves for it, so CI needs no GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetMachine {
    /// `x86_64`, `aarch64`.
    pub machine: String,
    /// The NVIDIA driver version; absent: no usable GPU, the images were chosen for the CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<DriverVersion>,
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

impl TargetMachine {
    /// The machine of `facts` as the lock records it. A host whose driver shows no GPU is
    /// recorded as the CPU, which is what the selection made of it.
    pub fn of(facts: &HostFacts) -> TargetMachine {
        let cpu = facts.gpus.is_empty() && facts.source != Source::Override;
        TargetMachine {
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
