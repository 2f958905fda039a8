//! Which image runs here: the profile's wishes and the host's facts in, a [`Choice`] with its
//! reasons out. Pure: no I/O, only the catalog's data (`catalog.rs`) and the rules of
//! `docs/compatibility.md` §3–§4:
//!
//! a. Candidates are the catalog lines of the profile's PyTorch version and variant; a pinned
//!    `cuda:` or `image:` wins but is still checked, and what fails becomes a warning.
//! b. Every GPU handed to the container must be covered by SASS of its major version (minor ≤
//!    its own) or by PTX of an equal or lower version.
//! c. A runtime image needs the driver at or above its CUDA family's floor; a devel image
//!    inherits `NVIDIA_REQUIRE_CUDA`, so the driver's own CUDA version must reach the line's.
//! d. Stable before experimental, then the line PyPI's `torch` uses, then the newest CUDA.
//!    `pytorch: latest` takes the newest release that has a line passing (b) and (c).
//! e. A driver whose CUDA version (as NVML reports it) is older than the line's CUDA
//!    major.minor: a warning about minor-version compatibility.
//! f. No driver or no GPU: the CPU, said clearly. GPUs that no line fits: an error that says
//!    what to do, never a silent CPU fallback.

mod error;
mod image_verdict;
mod misfit;
mod pinned;
mod reasons;
mod release;
#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::catalog::{self, Coverage, DriverVersion, Line, Maturity};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, HostFacts, Problem, Source};
use crate::image_facts::{self, Holds, ImageFacts, Requirement};
use crate::plan::GpuRequest;
use crate::profile::{Gpus, Profile, Variant, LATEST};

pub use error::{Asked, CodeLimit, CpuReason, Instead, PartialFit, SelectError};
pub use image_verdict::*;
pub use misfit::*;
use pinned::*;
use reasons::*;
use release::*;

/// The image to run and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    /// `repository:tag`, or the pinned `image:` as written.
    pub image: String,
    /// "2.6.0"; "unknown" for a pinned image whose tag does not say.
    pub pytorch: String,
    /// "12.4"; `None` for a pinned image whose tag does not say.
    pub cuda: Option<String>,
    pub variant: Variant,
    /// Whether to request GPUs from Docker.
    pub gpu: bool,
    /// What to request from Docker, decided here once from `gpus:` and the machine (`None`:
    /// no GPU); `plan`, the lock and the exports carry it from here (docs/gpus.md §5).
    pub request: Option<GpuRequest>,
    /// Why the container runs on the CPU, when it does (in `--json`, the sentence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_reason: Option<CpuReason>,
    /// PyTorch's label for the line, when it is in the catalog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Maturity>,
    /// What was pinned by the profile: "image", "cuda", or nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<&'static str>,
    /// The GPUs that will be handed to the container and were checked.
    pub gpus: Vec<Gpu>,
    /// Why this image, in sentences for someone who has never heard of compute capabilities.
    pub reasons: Vec<String>,
    pub warnings: Vec<String>,
    /// The other lines of the same release and variant, and why they were not taken.
    pub rejected: Vec<Rejected>,
    /// The catalog row of the image, when it is one.
    #[serde(skip)]
    pub line: Option<&'static Line>,
}

/// A line that was not chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub image: String,
    /// Whether it would have run: then it lost only on preference (rule d).
    pub fits: bool,
    pub reasons: Vec<String>,
}

/// What the container will run on.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// No GPU request, and why.
    Cpu(CpuReason),
    /// These GPUs, each checked.
    Gpus(Vec<Gpu>),
    /// A planned machine given by `--driver` alone: the driver is checked, the GPUs cannot be.
    UnknownGpus,
}

/// Choose the image for `profile` on a host described by `facts`.
pub fn choose(profile: &Profile, facts: &HostFacts) -> Result<Choice, SelectError> {
    let mut warnings = Vec::new();
    let target = target(profile, facts, &mut warnings)?;
    let mut choice = match &profile.image {
        Some(image) => pinned_image(profile, image, facts, &target, warnings),
        None => from_catalog(profile, facts, &target, warnings)?,
    };
    if let Target::Cpu(why) = &target {
        choice.cpu_reason = Some(why.clone());
    }
    if let Some(line) = choice.line {
        if facts.machine == "aarch64" && !line.arm64_variants.contains(&choice.variant) {
            choice.warnings.push(format!(
                "this is an arm64 (aarch64) machine, and PyTorch publishes {} images for linux/amd64 only: Docker will find no arm64 image to pull; use the runtime variant (`--variant runtime`)",
                choice.variant
            ));
        }
    }
    if choice.gpu && facts.machine == "aarch64" && choice.line.is_some() {
        // docs/compatibility.md §1.4: the arm64 build of the official image installs the CPU
        // wheels.
        choice.warnings.push(
            "this is an arm64 (aarch64) machine: the official pytorch/pytorch images for arm64 contain the CPU-only build of PyTorch, so torch will not see the GPUs (GH200/GB200/Jetson need NVIDIA's own images, pinned with `image:`)".to_string(),
        );
    }
    Ok(choice)
}

/// The GPUs of a machine ptenv cannot read (reached only through its Docker API): a pinned
/// image gets the GPU request as the profile says it, unchecked (docker's own meaning of a
/// count); without one there is nothing to choose an image by.
fn unreachable_gpus(
    profile: &Profile,
    facts: &HostFacts,
    some: bool,
    warnings: &mut Vec<String>,
) -> Result<Target, SelectError> {
    if let Some(image) = &profile.image {
        warnings.push(format!(
            "the GPUs and driver of the engine's machine are unknown, so `{image}` was not checked against them: if it does not fit, torch there sees no GPU"
        ));
        return Ok(Target::UnknownGpus);
    }
    Err(SelectError::GpusUnknown {
        profile: profile.name.clone(),
        some,
        why: facts.problems.first().map_or_else(
            || "the GPUs of the engine's machine are unknown".to_string(),
            |p| p.to_string(),
        ),
    })
}

/// Which GPUs the container gets, from `gpus:` and what the host has.
fn target(
    profile: &Profile,
    facts: &HostFacts,
    warnings: &mut Vec<String>,
) -> Result<Target, SelectError> {
    let (explicit, count) = match &profile.gpus {
        Gpus::None => return Ok(Target::Cpu(CpuReason::GpusNone)),
        Gpus::All => (None, None),
        Gpus::Count(n) => (None, Some(*n)),
        Gpus::Devices(d) => (Some(d), None),
    };
    if facts.source == Source::Unreachable {
        return unreachable_gpus(
            profile,
            facts,
            explicit.is_some() || count.is_some(),
            warnings,
        );
    }
    let why_no_gpu = if facts.driver.is_none() && facts.gpus.is_empty() {
        Some(CpuReason::NoDriver)
    } else if facts.driver.is_none() {
        // NVML listed GPUs but not the driver version: use the GPUs, say what is unchecked.
        warnings.push(
            "the NVIDIA driver's version could not be read, so the image was not checked against it; run `ptenv doctor`".to_string(),
        );
        None
    } else if facts.gpus.is_empty() {
        match facts.source {
            Source::Override => return Ok(Target::UnknownGpus),
            Source::Nvml => {
                // GPUs that NVML counted but could not read are in the problems.
                for p in facts
                    .problems
                    .iter()
                    .filter(|p| matches!(p, Problem::GpuNotAnswering { .. }))
                {
                    warnings.push(format!("{p}; run `ptenv doctor`"));
                }
                Some(CpuReason::NoUsableGpu {
                    driver: driver_str(facts),
                })
            }
            _ => {
                warnings.push(format!(
                    "the NVIDIA driver {} is loaded, but its GPUs could not be listed ({}); run `ptenv doctor` to find out why",
                    driver_str(facts),
                    facts
                        .problems
                        .first()
                        .map_or_else(|| "no source answered".to_string(), |p| p.to_string())
                ));
                Some(CpuReason::GpusNotListed {
                    driver: driver_str(facts),
                })
            }
        }
    } else {
        None
    };
    if let Some(cause) = why_no_gpu {
        let asked = match (count, explicit) {
            (Some(n), _) => Asked::Count(n),
            (None, Some(devices)) => Asked::Devices(devices.clone()),
            (None, None) => return Ok(Target::Cpu(cause)),
        };
        return Err(SelectError::NoGpu {
            profile: profile.name.clone(),
            asked,
            cause,
            problem: facts.problems.first().map(|p| p.to_string()),
        });
    }
    if let Some(n) = count {
        if n as usize > facts.gpus.len() {
            return Err(SelectError::TooFewGpus {
                profile: profile.name.clone(),
                asked: n,
                have: facts.gpus.len(),
            });
        }
    }
    // A count not yet made devices (`select`, `lock`): any of the GPUs may be taken, so the
    // image is checked against all of them.
    let Some(devices) = explicit else {
        return Ok(Target::Gpus(facts.gpus.clone()));
    };
    let mut picked: Vec<Gpu> = Vec::new();
    for d in devices {
        if d.starts_with("MIG-") {
            // A MIG instance's parent GPU is not in the facts: check every GPU instead.
            warnings.push(format!(
                "`{d}` is a MIG instance; ptenv checked the image against every GPU of this machine instead"
            ));
            return Ok(Target::Gpus(facts.gpus.clone()));
        }
        let found = facts
            .gpus
            .iter()
            .find(|g| g.index.to_string() == *d || g.uuid.eq_ignore_ascii_case(d));
        match found {
            Some(g) if !picked.contains(g) => picked.push(g.clone()),
            Some(_) => {}
            None => {
                let have: Vec<String> = facts
                    .gpus
                    .iter()
                    .map(|g| format!("{} ({}{})", g.index, g.name, uuid_suffix(g)))
                    .collect();
                return Err(SelectError::NoSuchDevice {
                    profile: profile.name.clone(),
                    device: d.clone(),
                    have,
                });
            }
        }
    }
    Ok(Target::Gpus(picked))
}

fn uuid_suffix(g: &Gpu) -> String {
    if g.uuid.is_empty() {
        String::new()
    } else {
        format!(", {}", g.uuid)
    }
}

/// The driver's version as the sentences name it ("" when unknown).
fn driver_str(facts: &HostFacts) -> String {
    facts
        .driver
        .as_ref()
        .map(|d| d.as_str().to_string())
        .unwrap_or_default()
}
