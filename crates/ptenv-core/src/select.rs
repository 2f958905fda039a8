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

use serde::Serialize;

use crate::catalog::{self, Coverage, DriverVersion, Line, Status};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, HostFacts, Source};
use crate::image_facts::{self, Holds, ImageFacts, Requirement};
use crate::plan::GpuRequest;
use crate::profile::{Gpus, Profile, Variant, LATEST};

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
    /// Why the container runs on the CPU, when it does (a sentence for the user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_reason: Option<String>,
    /// PyTorch's label for the line, when it is in the catalog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
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
    /// No GPU request; the sentence says why.
    Cpu(String),
    /// These GPUs, each checked.
    Gpus(Vec<Gpu>),
    /// A planned machine given by `--driver` alone: the driver is checked, the GPUs cannot be.
    UnknownGpus,
}

/// Choose the image for `profile` on a host described by `facts`.
pub fn choose(profile: &Profile, facts: &HostFacts) -> Result<Choice> {
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

/// Which GPUs the container gets, from `gpus:` and what the host has.
fn target(profile: &Profile, facts: &HostFacts, warnings: &mut Vec<String>) -> Result<Target> {
    let (explicit, count) = match &profile.gpus {
        Gpus::None => {
            return Ok(Target::Cpu(
                "The profile says `gpus: none`, so the container runs on the CPU and no GPU is requested from Docker.".to_string(),
            ))
        }
        Gpus::All => (None, None),
        Gpus::Count(n) => (None, Some(*n)),
        Gpus::Devices(d) => (Some(d), None),
    };
    let why_no_gpu = if facts.driver.is_none() && facts.gpus.is_empty() {
        Some("No NVIDIA driver was found on this machine".to_string())
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
                for p in facts.problems.iter().filter(|p| p.contains("GPU ")) {
                    warnings.push(format!("{p}; run `ptenv doctor`"));
                }
                Some(format!(
                    "The NVIDIA driver {} is installed but reports no usable GPU",
                    facts.driver.as_deref().unwrap_or("")
                ))
            }
            _ => {
                warnings.push(format!(
                    "the NVIDIA driver {} is loaded, but its GPUs could not be listed ({}); run `ptenv doctor` to find out why",
                    facts.driver.as_deref().unwrap_or(""),
                    facts
                        .problems
                        .first()
                        .map(String::as_str)
                        .unwrap_or("no source answered")
                ));
                Some(format!(
                    "The NVIDIA driver {} is loaded but ptenv could not list its GPUs",
                    facts.driver.as_deref().unwrap_or("")
                ))
            }
        }
    } else {
        None
    };
    if let Some(why) = why_no_gpu {
        if let Some(n) = count {
            return Err(Error::new(format!(
                "the profile `{}` asks for {n} GPU{}, but {}",
                profile.name,
                if n == 1 { "" } else { "s" },
                lowercase_first(&why)
            ))
            .hint("run on the CPU with `--gpus none`, or `gpus: none` in ptenv.yaml")
            .hint("`ptenv doctor` checks the driver step by step"));
        }
        if let Some(devices) = explicit {
            let mut e = Error::new(format!(
                "the profile `{}` asks for GPU {}, but {}",
                profile.name,
                devices.join(", "),
                lowercase_first(&why)
            ));
            if let Some(p) = facts.problems.first() {
                e = e.hint(format!("what failed: {p}"));
            }
            return Err(e
                .hint("run on the CPU with `--gpus none`, or `gpus: none` in ptenv.yaml")
                .hint("`ptenv doctor` checks the driver step by step"));
        }
        return Ok(Target::Cpu(format!(
            "{why}, so the container runs on the CPU and no GPU is requested from Docker."
        )));
    }
    if let Some(n) = count {
        if n as usize > facts.gpus.len() {
            return Err(Error::new(format!(
                "the profile `{}` asks for {n} GPUs, but this machine has {}",
                profile.name,
                facts.gpus.len()
            ))
            .hint(format!(
                "ask for at most {0} (`--gpus {0}`), or `--gpus all`",
                facts.gpus.len()
            )));
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
                return Err(Error::new(format!(
                    "the profile `{}` asks for GPU `{d}`, which is not on this machine",
                    profile.name
                ))
                .hint(format!("this machine has GPU {}", have.join(", ")))
                .hint("change `gpus:` (or --gpus) to those indexes or UUIDs, or `all`"));
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

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// One line of the catalog judged for a machine: `ptenv select --list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub image: String,
    pub pytorch: String,
    pub cuda: String,
    pub status: Status,
    pub pypi_default: bool,
    /// Whether it runs on the machine with the profile's `gpus:` and variant.
    pub fits: bool,
    /// Whether `choose` takes it for the profile as it is.
    pub chosen: bool,
    /// Why it does not run; empty when it does.
    pub reasons: Vec<String>,
    /// The same, in a few words each.
    pub summary: Vec<String>,
}

/// Every line of the catalog, newest release first, judged by rules (b) and (c) for the
/// profile's variant and `gpus:` on the machine of `facts`.
pub fn matrix(profile: &Profile, facts: &HostFacts) -> Result<Vec<Verdict>> {
    let mut ignored = Vec::new();
    let target = target(profile, facts, &mut ignored)?;
    let chosen = choose(profile, facts).ok().map(|c| c.image);
    let mut lines: Vec<&'static Line> = catalog::LINES.iter().collect();
    lines.sort_by_key(|l| std::cmp::Reverse((catalog::release_key(&l.pytorch), l.cuda)));
    Ok(lines
        .into_iter()
        .map(|l| {
            let image = image_of(profile, l, profile.variant);
            let why = misfit_list(l, profile.variant, facts, &target);
            Verdict {
                chosen: chosen.as_ref() == Some(&image),
                image,
                pytorch: l.pytorch.clone(),
                cuda: l.cuda_str(),
                status: l.status,
                pypi_default: l.pypi_default,
                fits: why.is_empty(),
                summary: why.iter().map(|m| m.short.clone()).collect(),
                reasons: why.into_iter().map(|m| m.long).collect(),
            }
        })
        .collect())
}

/// Why `image`, chosen elsewhere (pinned in `ptenv.lock`), cannot run on the machine of
/// `facts` with `profile`'s `gpus:`, by rules (b) and (c); empty when it can, or when its tag
/// is not in the catalog and ptenv cannot tell.
pub fn misfits_of(profile: &Profile, image: &str, facts: &HostFacts) -> Result<Vec<String>> {
    // The warnings belong to a selection; here only the verdict on `image` matters.
    let mut ignored = Vec::new();
    let target = target(profile, facts, &mut ignored)?;
    let line = catalog::parse_tag(image)
        .and_then(|t| catalog::find(&t.pytorch, t.cuda).map(|l| (l, t.variant)));
    Ok(match line {
        Some((l, variant)) => misfits(l, variant, facts, &target),
        None => Vec::new(),
    })
}

/// Why `line` (as `variant`) does not run on `target`; empty when it does.
fn misfits(line: &Line, variant: Variant, facts: &HostFacts, target: &Target) -> Vec<String> {
    misfit_list(line, variant, facts, target)
        .into_iter()
        .map(|m| m.long)
        .collect()
}

/// Why a line does not run, in two lengths: a sentence for the explanation and a phrase for
/// the `--list` table.
struct Misfit {
    long: String,
    short: String,
}

fn misfit_list(line: &Line, variant: Variant, facts: &HostFacts, target: &Target) -> Vec<Misfit> {
    let mut out = Vec::new();
    if !line.variants.contains(&variant) {
        out.push(Misfit {
            long: format!("PyTorch publishes no {variant} image of this line"),
            short: format!("no {variant} image"),
        });
    }
    if let Target::Gpus(gpus) = target {
        for g in gpus {
            if !line.covers(g.cc).is_covered() {
                out.push(Misfit {
                    long: no_code_for(line, g),
                    short: format!("no code for GPU {} ({})", g.index, g.cc_str()),
                });
            }
        }
    }
    if matches!(target, Target::Gpus(_) | Target::UnknownGpus) {
        if let Some(m) = driver_misfit(line, variant, facts) {
            out.push(m);
        }
    }
    out
}

/// "has no GPU code for your RTX 5090 (Blackwell, compute capability 12.0): …"
fn no_code_for(line: &Line, g: &Gpu) -> String {
    let who = describe_gpu(g);
    let (oldest, newest) = (line.oldest_sass(), line.newest_sass());
    let span = match (oldest, newest) {
        (Some(o), Some(n)) => format!(
            "its GPU code covers {} ({}) to {} ({})",
            catalog::arch_name(o),
            cc_str(o),
            catalog::arch_name(n),
            cc_str(n)
        ),
        _ => "it has no GPU code".to_string(),
    };
    if matches!(g.cc, (7, 2) | (8, 7)) {
        return format!("has no GPU code for your {who}: Jetson (Tegra) GPUs need code built for exactly their chip");
    }
    match (oldest, newest) {
        (Some(o), _) if g.cc < o => format!(
            "has no GPU code for your {who}: {span}, and your GPU is older; PyTorch would say it \"is too old\" and not use it"
        ),
        (_, Some(n)) if g.cc > n => format!(
            "has no GPU code for your {who}: {span}, and code built for one GPU generation does not run on a newer one; PyTorch would fail with \"no kernel image is available for execution on the device\""
        ),
        _ => format!(
            "has no GPU code for your {who} ({span}, but not for this one); PyTorch would fail with \"no kernel image is available for execution on the device\""
        ),
    }
}

/// "RTX 3090 (Ampere, compute capability 8.6)"
pub fn describe_gpu(g: &Gpu) -> String {
    let arch = g.arch_name();
    if g.short_name().contains(&arch) {
        // "Hopper GPU", as named by `--gpu 9.0`.
        format!("{} (compute capability {})", g.short_name(), g.cc_str())
    } else {
        format!(
            "{} ({arch}, compute capability {})",
            g.short_name(),
            g.cc_str()
        )
    }
}

fn cc_str(cc: catalog::Cc) -> String {
    format!("{}.{}", cc.0, cc.1)
}

/// The driver rule (c) for one line, or `None` when the driver is fine.
fn driver_misfit(line: &Line, variant: Variant, facts: &HostFacts) -> Option<Misfit> {
    let d = facts.driver_version()?;
    match variant {
        Variant::Runtime => (d < line.floor()).then(|| Misfit {
            long: format!(
                "needs NVIDIA driver {} or newer (the oldest that runs CUDA {}.x), and this machine has {d}",
                line.driver_floor, line.cuda.0
            ),
            short: format!("needs driver {}+", line.driver_floor),
        }),
        Variant::Devel => {
            let supports = facts.driver_cuda();
            if supports.is_some_and(|c| c >= line.cuda) {
                return None;
            }
            let has = match supports {
                Some(c) => format!("driver {d} supports CUDA {}", cc_str(c)),
                None => format!("driver {d} supports a CUDA older than any line ptenv knows"),
            };
            Some(Misfit {
                long: format!(
                    "is a devel image, which inherits NVIDIA_REQUIRE_CUDA=cuda>={}: the container would not start because {has}; it needs driver {} or newer",
                    line.cuda_str(),
                    devel_driver(line)
                ),
                short: format!("devel needs driver {}+", devel_driver(line)),
            })
        }
    }
}

/// The oldest driver whose own CUDA version reaches the line's (release notes Table 3).
fn devel_driver(line: &Line) -> String {
    catalog::TOOLKIT_DRIVERS
        .iter()
        .find(|(c, _)| *c >= line.cuda)
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| line.full_feature_driver.to_string())
}

/// "2.0.1 to 2.14.0": the releases in the catalog.
fn known_releases() -> String {
    let all = catalog::releases();
    match (all.first(), all.last()) {
        (Some(a), Some(b)) if a != b => format!("{a} to {b}"),
        (Some(a), _) => a.to_string(),
        _ => "none".to_string(),
    }
}

fn image_of(profile: &Profile, line: &Line, variant: Variant) -> String {
    format!("{}:{}", profile.repository, line.tag(variant))
}

/// Rule (d): stable first, then the line `pip install torch` gets (where a release has two
/// stable lines of the newest CUDA major, like 2.14's 13.0 and 13.2, the one PyPI's users
/// run), then the newest CUDA.
fn rank(l: &Line) -> (bool, bool, (u32, u32)) {
    (l.status == Status::Stable, l.pypi_default, l.cuda)
}

fn from_catalog(
    profile: &Profile,
    facts: &HostFacts,
    target: &Target,
    warnings: Vec<String>,
) -> Result<Choice> {
    if profile.pytorch == LATEST {
        latest(profile, facts, target, warnings)
    } else {
        release_choice(profile, &profile.pytorch, facts, target, warnings)
    }
}

/// `pytorch: latest`: the newest release with a line that runs on `target` (every GPU
/// covered, the driver new enough); on the CPU, the newest release. A pinned `cuda:` narrows
/// the releases to those that have that line.
fn latest(
    profile: &Profile,
    facts: &HostFacts,
    target: &Target,
    warnings: Vec<String>,
) -> Result<Choice> {
    let variant = profile.variant;
    let lines_of = |r: &str| -> Vec<&'static Line> {
        catalog::lines_for(r)
            .into_iter()
            .filter(|l| profile.cuda.as_ref().is_none_or(|c| l.cuda_str() == *c))
            .collect()
    };
    let mut releases: Vec<&'static str> = catalog::releases()
        .into_iter()
        .filter(|r| !lines_of(r).is_empty())
        .collect();
    releases.reverse();
    let Some(newest) = releases.first().copied() else {
        return Err(Error::new(format!(
            "no PyTorch release that ptenv knows ({}) has a CUDA {} image",
            known_releases(),
            profile.cuda.as_deref().unwrap_or("?")
        ))
        .hint("change `cuda:` (or --cuda), or remove it and let ptenv choose; `ptenv select --list` shows every line"));
    };
    let runs = |r: &str| {
        lines_of(r)
            .iter()
            .any(|l| misfits(l, variant, facts, target).is_empty())
    };
    let Some(at) = releases.iter().position(|r| runs(r)) else {
        // Nothing runs: explain with the newest release that has code for every GPU (then the
        // driver is what stops it), else with the newest release.
        let gpus: &[Gpu] = match target {
            Target::Gpus(g) => g,
            _ => &[],
        };
        let coded = releases.iter().copied().find(|r| {
            lines_of(r)
                .iter()
                .any(|l| gpus.iter().all(|g| l.covers(g.cc).is_covered()))
        });
        return release_choice(profile, coded.unwrap_or(newest), facts, target, warnings);
    };
    let chosen = releases[at];
    let mut choice = release_choice(profile, chosen, facts, target, warnings)?;
    let mut why = format!(
        "`pytorch: latest` takes the newest PyTorch release with an image that runs here: {chosen}"
    );
    if at == 0 {
        why.push_str(&format!(
            ", the newest release ptenv knows ({}).",
            if matches!(target, Target::Cpu(_)) {
                "on the CPU every release runs"
            } else {
                "it fits your GPUs and driver"
            }
        ));
    } else {
        why.push_str(". Newer releases do not: ");
        why.push_str(&newer_misfits(&releases[..at], profile, facts, target).join("; "));
        why.push('.');
    }
    choice.reasons.insert(1, why);
    Ok(choice)
}

/// Why each of `newer` (newest first) has no line that runs on `target`, consecutive
/// releases with the same reason together: "PyTorch 2.8.0 to 2.14.0: no GPU code for your
/// Tesla K80 (Kepler, compute capability 3.7)".
fn newer_misfits(
    newer: &[&'static str],
    profile: &Profile,
    facts: &HostFacts,
    target: &Target,
) -> Vec<String> {
    let gpus: &[Gpu] = match target {
        Target::Gpus(g) => g,
        _ => &[],
    };
    let why = |r: &str| -> String {
        let lines = catalog::lines_for(r);
        let uncovered: Vec<String> = gpus
            .iter()
            .filter(|g| !lines.iter().any(|l| l.covers(g.cc).is_covered()))
            .map(describe_gpu)
            .collect();
        if !uncovered.is_empty() {
            format!("no GPU code for your {}", uncovered.join(" or your "))
        } else if gpus.len() > 1
            && !lines
                .iter()
                .any(|l| gpus.iter().all(|g| l.covers(g.cc).is_covered()))
        {
            "no single image with GPU code for all of your GPUs".to_string()
        } else {
            let d = facts.driver.as_deref().unwrap_or("unknown");
            format!(
                "their {} images with code for your GPUs need a newer NVIDIA driver than {d}",
                profile.variant
            )
        }
    };
    let mut groups: Vec<(Vec<&str>, String)> = Vec::new();
    for r in newer {
        let w = why(r);
        match groups.last_mut() {
            Some((rs, last)) if *last == w => rs.push(r),
            _ => groups.push((vec![r], w)),
        }
    }
    groups
        .into_iter()
        .map(|(rs, w)| match rs.as_slice() {
            [one] => format!("PyTorch {one}: {w}"),
            [newest, .., oldest] => format!("PyTorch {oldest} to {newest}: {w}"),
            [] => w,
        })
        .collect()
}

/// The image of one release (`pytorch`, as the user writes it: "2.6" or "2.6.0").
fn release_choice(
    profile: &Profile,
    pytorch: &str,
    facts: &HostFacts,
    target: &Target,
    mut warnings: Vec<String>,
) -> Result<Choice> {
    let variant = profile.variant;
    let mut lines = catalog::lines_for(pytorch);
    if lines.is_empty() {
        let newest = catalog::releases().last().copied().unwrap_or_default();
        return Err(Error::new(format!(
            "ptenv knows the images of PyTorch {}, not {}",
            known_releases(),
            pytorch
        ))
        .hint(format!(
            "use a release among them, e.g. `--pytorch {}`, or `--pytorch latest` for the newest that runs here (or `pytorch:` in ptenv.yaml); `ptenv select --list` shows them all",
            newest.rsplit_once('.').map_or(newest, |(minor, _)| minor)
        ))
        .hint("or pin an image with `image: pytorch/pytorch:<tag>`; ptenv checks its tag as far as it can"));
    }
    let release = lines[0].pytorch.as_str();
    let minor = lines[0].pytorch_minor();
    let mut pinned = None;
    if let Some(cuda) = &profile.cuda {
        let all: Vec<String> = lines.iter().map(|l| l.cuda_str()).collect();
        lines.retain(|l| l.cuda_str() == *cuda);
        if lines.is_empty() {
            return Err(Error::new(format!(
                "PyTorch {release} has no CUDA {cuda} image"
            ))
            .hint(format!(
                "its CUDA lines are {}; change `cuda:` (or --cuda), or remove it and let ptenv choose",
                all.join(", ")
            )));
        }
        pinned = Some("cuda");
    }

    let mut fits: Vec<&'static Line> = Vec::new();
    let mut rejected: Vec<(&'static Line, Vec<String>)> = Vec::new();
    for l in &lines {
        let why = misfits(l, variant, facts, target);
        if why.is_empty() {
            fits.push(l);
        } else {
            rejected.push((l, why));
        }
    }
    fits.sort_by_key(|l| std::cmp::Reverse(rank(l)));

    let line = match (fits.first(), pinned) {
        (Some(l), _) => *l,
        (None, Some(_)) => {
            // The pinned line wins even when it does not fit; say what will go wrong.
            let (l, why) = rejected.remove(0);
            for w in why {
                warnings.push(format!("the pinned CUDA {} image {w}", l.cuda_str()));
            }
            l
        }
        (None, None) => {
            let all = catalog::lines_for(pytorch);
            return Err(no_fit(
                profile, facts, target, release, minor, &all, &rejected,
            ));
        }
    };

    let mut reasons = vec![format!(
        "PyTorch {minor}, {variant} variant{}, from profile `{}`.",
        match variant {
            Variant::Runtime => " (the CUDA libraries torch needs, no compiler)",
            Variant::Devel => " (adds the CUDA toolkit with nvcc)",
        },
        profile.name
    )];
    let gpu = !matches!(target, Target::Cpu(_));
    match target {
        Target::Cpu(why) => reasons.push(format!(
            "{why} Every image runs on the CPU, so ptenv chooses as it would for a GPU of any kind; the same image then also works once a GPU is there."
        )),
        Target::Gpus(gpus) => {
            for g in gpus {
                reasons.push(gpu_reason(line, g));
            }
        }
        Target::UnknownGpus => {
            warnings.push("no `--gpu` was given, so the image was checked against the driver only, not against the GPUs' compute capability".to_string());
        }
    }
    if gpu {
        if let Some(d) = facts.driver_version() {
            reasons.push(driver_reason(line, variant, &d, facts));
            if let Some(w) = compat_warning(line, variant, &d, facts, target) {
                warnings.push(w);
            }
            if facts.source == Source::Override {
                if let Target::Gpus(gpus) = target {
                    if gpus.iter().any(|g| g.cc.0 >= 10) && d.branch() < 570 {
                        warnings.push(format!(
                            "Blackwell GPUs need driver branch R570 or newer before the driver recognises them at all (unverified); {d} is older"
                        ));
                    }
                }
            }
        }
        if !line.arch_verified {
            if let Target::Gpus(g) = target {
                if !g.is_empty() {
                    reasons.push(format!(
                        "(The GPU code list of this image, {}, comes from PyTorch's build scripts and was not read from the published wheel; `ptenv doctor` checks it inside the container.)",
                        line.arch_list()
                    ));
                }
            }
        }
    }
    if pinned.is_some() {
        reasons.push(format!(
            "CUDA {} is pinned by the profile (`cuda:` or --cuda).",
            line.cuda_str()
        ));
    } else {
        reasons.push(preference_reason(line, &fits));
    }

    let mut rej: Vec<Rejected> = rejected
        .into_iter()
        .filter(|(l, _)| *l != line)
        .map(|(l, why)| Rejected {
            image: image_of(profile, l, variant),
            fits: false,
            reasons: why,
        })
        .collect();
    for l in fits.iter().filter(|l| **l != line) {
        rej.push(Rejected {
            image: image_of(profile, l, variant),
            fits: true,
            reasons: vec![format!(
                "would run too, but ptenv prefers {}",
                if l.status != line.status {
                    "stable lines over experimental ones".to_string()
                } else if l.pypi_default != line.pypi_default {
                    format!(
                        "the line `pip install torch=={}` installs (CUDA {})",
                        line.pytorch,
                        line.cuda_str()
                    )
                } else {
                    format!(
                        "the newest CUDA ({} over {})",
                        line.cuda_str(),
                        l.cuda_str()
                    )
                }
            )],
        });
    }
    rej.sort_by(|a, b| a.image.cmp(&b.image));

    Ok(Choice {
        cpu_reason: None,
        image: image_of(profile, line, variant),
        pytorch: line.pytorch.to_string(),
        cuda: Some(line.cuda_str()),
        variant,
        gpu,
        request: GpuRequest::from_profile(&profile.gpus, gpu),
        status: Some(line.status),
        pinned,
        gpus: match target {
            Target::Gpus(g) => g.clone(),
            _ => Vec::new(),
        },
        reasons,
        warnings,
        rejected: rej,
        line: Some(line),
    })
}

/// "Your RTX 3090 (Ampere, compute capability 8.6) runs this image's code for 8.6 (sm_86)."
fn gpu_reason(line: &Line, g: &Gpu) -> String {
    let who = describe_gpu(g);
    match line.covers(g.cc) {
        Coverage::Sass(s) if s == g.cc => format!(
            "Your {who}: a GPU runs only code compiled for its generation, and this image has code built exactly for it ({}).",
            catalog::sm(s)
        ),
        Coverage::Sass(s) => format!(
            "Your {who}: a GPU runs only code compiled for its generation; this image has code for {} ({}), which runs on later models of the same generation like yours.",
            cc_str(s),
            catalog::sm(s)
        ),
        Coverage::Ptx(p) => format!(
            "Your {who}: this image has no code compiled for it, but carries portable code (PTX for {}) that the driver compiles for your GPU on first use; the first start is slower.",
            cc_str(p)
        ),
        Coverage::None => format!("Your {who}: not covered by this image."),
    }
}

fn driver_reason(line: &Line, variant: Variant, d: &DriverVersion, facts: &HostFacts) -> String {
    match variant {
        Variant::Runtime => format!(
            "NVIDIA driver {d} is new enough: CUDA {} images start on drivers from {} on, and use every feature from {} on.",
            line.cuda_str(),
            line.driver_floor,
            line.full_feature_driver
        ),
        Variant::Devel => format!(
            "NVIDIA driver {d} supports CUDA {}, at least the CUDA {} this devel image requires.",
            facts.driver_cuda().map(cc_str).unwrap_or_else(|| "?".into()),
            line.cuda_str()
        ),
    }
}

/// Rule (e): the CUDA version the driver supports (as NVML reports it, else derived from its
/// branch) against the image's CUDA major.minor. A toolkit update release (12.4.1) needs no
/// newer driver than its GA (12.4), so the GA driver of the line's CUDA is what is asked for.
fn compat_warning(
    line: &Line,
    variant: Variant,
    d: &DriverVersion,
    facts: &HostFacts,
    target: &Target,
) -> Option<String> {
    let supports = facts.driver_cuda();
    if !line.needs_compat(supports) {
        return None;
    }
    let has = match supports {
        Some(c) => format!("supports CUDA {}", cc_str(c)),
        None => "supports a CUDA older than any image ptenv knows".to_string(),
    };
    let mut w = format!(
        "driver {d} {has}, older than the CUDA {} of this image: it runs under CUDA minor-version compatibility. PyTorch's own kernels work, but PTX built by a newer CUDA cannot be JIT-compiled (cudaErrorUnsupportedPtxVersion) and some newer CUDA calls fail with cudaErrorCallRequiresNewerDriver",
        line.cuda_str()
    );
    if let Target::Gpus(gpus) = target {
        if gpus
            .iter()
            .any(|g| matches!(line.covers(g.cc), Coverage::Ptx(_)))
        {
            w.push_str("; your GPU depends on exactly that PTX, so expect errors");
        }
    }
    if variant == Variant::Devel {
        w.push_str("; CUDA extensions you compile with nvcc in this image may not load");
    }
    w.push_str(&format!(
        ". Update the driver to {} or newer for every feature.",
        line.full_feature_driver
    ));
    Some(w)
}

fn preference_reason(line: &Line, fits: &[&'static Line]) -> String {
    let pypi = if line.pypi_default {
        format!(
            " It is also what `pip install torch=={}` installs.",
            line.pytorch
        )
    } else {
        String::new()
    };
    match fits.len() {
        0 | 1 => format!(
            "CUDA {} is the only line of PyTorch {} that fits{}.{pypi}",
            line.cuda_str(),
            line.pytorch_minor(),
            if line.status == Status::Experimental {
                " (PyTorch marks it experimental)"
            } else {
                ""
            }
        ),
        n => format!(
            "{n} CUDA lines fit; ptenv prefers the ones PyTorch marks stable, then the one pip installs, then the newest CUDA: {} ({}).{pypi}",
            line.cuda_str(),
            line.status.as_str()
        ),
    }
}

/// The error when GPUs are present and no line fits (rule f): why, and what to do.
#[allow(clippy::too_many_arguments)]
fn no_fit(
    profile: &Profile,
    facts: &HostFacts,
    target: &Target,
    release: &str,
    minor: &str,
    all: &[&'static Line],
    rejected: &[(&'static Line, Vec<String>)],
) -> Error {
    let variant = profile.variant;
    let gpus: &[Gpu] = match target {
        Target::Gpus(g) => g,
        _ => &[],
    };
    // GPUs that no line of this release covers, whatever the driver.
    let blocked: Vec<&Gpu> = gpus
        .iter()
        .filter(|g| !all.iter().any(|l| l.covers(g.cc).is_covered()))
        .collect();
    let mut e;
    if !blocked.is_empty() {
        let g = blocked[0];
        let newest = all.iter().filter_map(|l| l.newest_sass()).max();
        let oldest = all.iter().filter_map(|l| l.oldest_sass()).min();
        let too_new = newest.is_some_and(|n| g.cc > n);
        let too_old = oldest.is_some_and(|o| g.cc < o);
        e = Error::new(if too_new {
            format!(
                "Your {} needs GPU code built for its generation; PyTorch {minor} images only contain code up to {} ({}), so PyTorch would fail with \"no kernel image is available for execution on the device\"",
                describe_gpu(g),
                catalog::arch_name(newest.unwrap_or((0, 0))),
                cc_str(newest.unwrap_or((0, 0)))
            )
        } else if too_old {
            format!(
                "Your {} is too old for every PyTorch {minor} image: their oldest GPU code is for {} ({})",
                describe_gpu(g),
                catalog::arch_name(oldest.unwrap_or((0, 0))),
                cc_str(oldest.unwrap_or((0, 0)))
            )
        } else {
            format!(
                "no PyTorch {minor} image has GPU code for your {}",
                describe_gpu(g)
            )
        });
        // The release nearest to the one asked for that covers every blocked GPU: the
        // smallest step away from what the profile says. Within it, a line that runs here.
        let order = catalog::releases();
        let at = |r: &str| order.iter().position(|x| *x == r).unwrap_or(0);
        let here = at(release);
        let other = catalog::LINES
            .iter()
            .filter(|l| l.pytorch != release && l.variants.contains(&variant))
            .filter(|l| blocked.iter().all(|g| l.covers(g.cc).is_covered()))
            .max_by_key(|l| {
                let there = at(&l.pytorch);
                (
                    std::cmp::Reverse(there.abs_diff(here)),
                    there,
                    misfits(l, variant, facts, target).is_empty(),
                    rank(l),
                )
            });
        match other {
            Some(l) => {
                e = e.hint(format!(
                    "PyTorch {} has it: {} ({}). Ask for it with `--pytorch {}`, or `pytorch: \"{}\"` in ptenv.yaml",
                    l.pytorch_minor(),
                    image_of(profile, l, variant),
                    l.span(),
                    l.pytorch_minor(),
                    l.pytorch_minor()
                ));
                if g.cc.0 >= 10 {
                    if let Some(d) = facts.driver_version() {
                        if d.branch() < 570 {
                            e = e.hint(format!("Blackwell GPUs also need driver R570 or newer; this machine has {d}"));
                        }
                    }
                }
            }
            None if matches!(g.cc, (7, 2) | (8, 7)) => {
                e = e.hint("Jetson boards run arm64 and need NVIDIA's L4T/JetPack PyTorch images; pin one with `image:` (ptenv cannot check it)");
            }
            None => {
                e = e.hint(format!(
                    "no PyTorch image from {} supports this GPU; pin an image built for it with `image:` (ptenv cannot check it)",
                    known_releases()
                ));
            }
        }
        // Mixed GPUs: the ones that do fit some line.
        let fine: Vec<String> = gpus
            .iter()
            .filter(|x| !blocked.contains(x))
            .map(|x| x.index.to_string())
            .collect();
        if !fine.is_empty() && gpus.len() > 1 {
            e = e.hint(format!(
                "or hand the container only the GPUs it can use: `--gpus device={}`",
                fine.join(",")
            ));
        }
    } else if gpus.len() > 1
        && all
            .iter()
            .all(|l| gpus.iter().any(|g| !l.covers(g.cc).is_covered()))
    {
        // Every GPU is covered by some line, but no line covers all of them.
        let names: Vec<String> = gpus.iter().map(describe_gpu).collect();
        e = Error::new(format!(
            "no single PyTorch {minor} image has GPU code for all of your GPUs: {}",
            names.join("; ")
        ));
        for l in all {
            let ok: Vec<String> = gpus
                .iter()
                .filter(|g| l.covers(g.cc).is_covered())
                .map(|g| g.index.to_string())
                .collect();
            if !ok.is_empty() {
                e = e.hint(format!(
                    "{} runs on GPU {}: `--gpus device={} --cuda {}`",
                    image_of(profile, l, variant),
                    ok.join(", "),
                    ok.join(","),
                    l.cuda_str()
                ));
            }
        }
    } else {
        let d = facts
            .driver
            .clone()
            .unwrap_or_else(|| "unknown".to_string());
        e = Error::new(format!(
            "NVIDIA driver {d} is too old for every PyTorch {minor} {variant} image that runs on your GPUs"
        ));
        // Only the lines that have code for the GPUs: the driver is what stops them.
        for (l, why) in rejected {
            if gpus.iter().all(|g| l.covers(g.cc).is_covered()) {
                for w in why {
                    e = e.hint(format!("{}: {w}", image_of(profile, l, variant)));
                }
            }
        }
        if variant == Variant::Devel {
            let runtime_fits = all
                .iter()
                .any(|l| misfits(l, Variant::Runtime, facts, target).is_empty());
            if runtime_fits {
                e = e.hint("the runtime variant (`--variant runtime`) runs on this driver through CUDA minor-version compatibility; it lacks only nvcc");
            }
        }
        e = e.hint(
            "update the NVIDIA driver (your distribution's driver package, or nvidia.com/Download)",
        );
    }
    e.hint("or run on the CPU: `--gpus none` (or `gpus: none` in ptenv.yaml)")
}

/// A pinned `image:`: checked as far as its tag allows; what fails becomes a warning.
fn pinned_image(
    profile: &Profile,
    image: &str,
    facts: &HostFacts,
    target: &Target,
    mut warnings: Vec<String>,
) -> Choice {
    let gpu = !matches!(target, Target::Cpu(_));
    let mut reasons = vec![format!(
        "The image is pinned by profile `{}` (`image:` or --image); ptenv uses it as written and only checks it.",
        profile.name
    )];
    if let Target::Cpu(why) = target {
        reasons.push(why.clone());
    }
    let tag = catalog::parse_tag(image);
    let line = tag.as_ref().and_then(|t| catalog::find(&t.pytorch, t.cuda));
    let variant = tag.as_ref().map(|t| t.variant).unwrap_or(profile.variant);
    match (&tag, line) {
        (Some(t), Some(l)) => {
            let why = misfits(l, t.variant, facts, target);
            if why.is_empty() {
                if let Target::Gpus(gpus) = target {
                    for g in gpus {
                        reasons.push(gpu_reason(l, g));
                    }
                }
                if gpu {
                    if let Some(d) = facts.driver_version() {
                        reasons.push(driver_reason(l, t.variant, &d, facts));
                        if let Some(w) = compat_warning(l, t.variant, &d, facts, target) {
                            warnings.push(w);
                        }
                    }
                }
            }
            for w in why {
                warnings.push(format!("the pinned image {w}"));
            }
        }
        (Some(t), None) => {
            warnings.push(format!(
                "ptenv's catalog does not list PyTorch {} with CUDA {}.{}, so its tag does not say which GPUs the image has code for; `ptenv up` reads that from the image after the pull and checks it",
                t.pytorch, t.cuda.0, t.cuda.1
            ));
            if gpu {
                if let (Some(d), Some(floor)) =
                    (facts.driver_version(), catalog::family_floor(t.cuda.0))
                {
                    match t.variant {
                        Variant::Runtime if d < floor => warnings.push(format!(
                            "the pinned image needs NVIDIA driver {floor} or newer for CUDA {}.x, and this machine has {d}",
                            t.cuda.0
                        )),
                        Variant::Devel if facts.driver_cuda().is_none_or(|c| c < t.cuda) => {
                            warnings.push(format!(
                                "the pinned devel image requires a driver that supports CUDA {}.{} (NVIDIA_REQUIRE_CUDA); driver {d} does not, so the container may not start",
                                t.cuda.0, t.cuda.1
                            ))
                        }
                        _ => reasons.push(format!(
                            "NVIDIA driver {d} is new enough for CUDA {}.{}.",
                            t.cuda.0, t.cuda.1
                        )),
                    }
                }
            }
        }
        (None, _) => warnings.push(format!(
            "`{image}` does not follow the pytorch/pytorch tag scheme (<version>-cuda<x.y>-cudnn<n>-<runtime|devel>), so ptenv cannot check it from its tag; `ptenv up` reads what the image contains after the pull and checks that (`ptenv inspect {image}` shows it)"
        )),
    }
    Choice {
        cpu_reason: None,
        image: image.to_string(),
        pytorch: tag
            .as_ref()
            .map(|t| t.pytorch.clone())
            .unwrap_or_else(|| "unknown".to_string()),
        cuda: tag.as_ref().map(|t| format!("{}.{}", t.cuda.0, t.cuda.1)),
        variant,
        gpu,
        request: GpuRequest::from_profile(&profile.gpus, gpu),
        status: line.map(|l| l.status),
        pinned: Some("image"),
        gpus: match target {
            Target::Gpus(g) => g.clone(),
            _ => Vec::new(),
        },
        reasons,
        warnings,
        rejected: Vec::new(),
        line,
    }
}

/// The verdict on an image from the facts it gives about itself (`image_facts`), by the same
/// rules as a catalog line: every GPU covered by its SASS or PTX, the driver at or above the
/// floor of its CUDA family, a warning below the driver of its CUDA version, and the image's own
/// `NVIDIA_REQUIRE_CUDA` as the NVIDIA container runtime evaluates it (docs/compatibility.md
/// §3, §4, §4.4).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageVerdict {
    /// `false`: the image cannot run here as the profile asks; `up` refuses it without `--force`.
    pub runs: bool,
    /// Why it runs, in sentences.
    pub reasons: Vec<String>,
    /// Why it cannot run here, each with its consequence.
    pub refusals: Vec<String>,
    pub warnings: Vec<String>,
    /// What to do instead, when it cannot run.
    pub fixes: Vec<String>,
    /// Where the image and the catalog's row of its tag disagree (a warning naming both);
    /// `None` when they agree or the tag has no row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disagreement: Option<String>,
}

impl ImageVerdict {
    /// The error `ptenv up` stops with, when the image cannot run.
    pub fn refusal(&self, image: &str) -> Option<Error> {
        if self.runs {
            return None;
        }
        let mut e = Error::new(format!(
            "{image} cannot run on this machine: it {}",
            self.refusals.join("; it ")
        ));
        for f in &self.fixes {
            e = e.hint(f.clone());
        }
        Some(e.hint("`--force` starts it anyway (ptenv then only warns)"))
    }
}

/// Judge `image` from its probed `facts` for `profile`'s `gpus:` on the machine of `host`.
/// `line` is the catalog's row of its tag, when it has one: a disagreement with the image is a
/// warning naming both, and the image's own facts are what counts.
pub fn judge_image(
    profile: &Profile,
    image: &str,
    line: Option<&Line>,
    facts: &ImageFacts,
    host: &HostFacts,
) -> Result<ImageVerdict> {
    let mut ignored = Vec::new();
    let target = target(profile, host, &mut ignored)?;
    let mut v = ImageVerdict {
        runs: true,
        reasons: vec![format!(
            "Read from the image ({}): {}.",
            short_id(&facts.id),
            facts.summary()
        )],
        refusals: Vec::new(),
        warnings: Vec::new(),
        fixes: Vec::new(),
        disagreement: None,
    };
    if let Some(l) = line {
        let differ = image_facts::disagreements(l, facts);
        if !differ.is_empty() {
            v.disagreement = Some(format!(
                "ptenv's catalog and the image {image} disagree: {}; ptenv goes by the image",
                differ.join("; ")
            ));
        }
    }
    let gpus: Vec<Gpu> = match &target {
        Target::Cpu(why) => {
            v.reasons.push(why.clone());
            // With a catalog row, the disagreement above says it already.
            if facts.torch.is_none() && line.is_none() {
                v.warnings.push(no_torch(image, facts));
            }
            return Ok(v);
        }
        Target::Gpus(g) => g.clone(),
        Target::UnknownGpus => Vec::new(),
    };
    let Some(torch) = &facts.torch else {
        if line.is_none() {
            v.warnings.push(no_torch(image, facts));
        }
        return Ok(v);
    };
    let Some(cuda) = &torch.cuda else {
        v.warnings.push(format!(
            "the PyTorch in {image} ({}) is a CPU-only build: it will not use the GPUs",
            torch.version
        ));
        return Ok(v);
    };
    match facts.as_line() {
        Some(l) => {
            for m in misfit_list(&l, Variant::Runtime, host, &target) {
                v.refusals.push(m.long);
            }
            if v.refusals.is_empty() {
                for g in &gpus {
                    v.reasons.push(gpu_reason(&l, g));
                }
                if let Some(d) = host.driver_version() {
                    v.reasons
                        .push(driver_reason(&l, Variant::Runtime, &d, host));
                    if let Some(w) = compat_warning(&l, Variant::Runtime, &d, host, &target) {
                        v.warnings.push(w);
                    }
                }
            }
            if torch.sass.is_empty() && torch.ptx.is_empty() {
                v.warnings.push(format!(
                    "the PyTorch in {image} does not list its compiled GPU code, so the GPUs were not checked against it"
                ));
            }
        }
        None => v.warnings.push(format!(
            "ptenv does not know the drivers of CUDA {cuda}, the CUDA of the PyTorch in {image}: it was not checked against the driver or the GPUs"
        )),
    }
    if let Some(text) = facts.require_cuda.as_deref() {
        if !facts.requirements_disabled() {
            let req = Requirement::parse(text);
            let d = host.driver_version();
            let has = match host.driver_cuda() {
                Some(c) => format!(
                    "driver {} supports CUDA {}",
                    d.as_ref().map(|d| d.to_string()).unwrap_or_default(),
                    cc_str(c)
                ),
                None => "the driver's CUDA version is unknown".to_string(),
            };
            match req.holds(d.as_ref(), host.driver_cuda(), &gpus) {
                Holds::Yes => {}
                Holds::No => v.refusals.push(format!(
                    "declares NVIDIA_REQUIRE_CUDA=\"{text}\", and {has}: the NVIDIA container runtime would refuse to start it (\"unsatisfied condition\")"
                )),
                Holds::Unknown => v.warnings.push(format!(
                    "{image} declares NVIDIA_REQUIRE_CUDA=\"{text}\", and {has}: whether the NVIDIA container runtime starts it depends on the GPUs' brand, which ptenv does not read"
                )),
            }
            if let (Holds::No, Some(c)) =
                (req.holds(d.as_ref(), host.driver_cuda(), &gpus), req.cuda())
            {
                if let Some((_, drv)) = catalog::TOOLKIT_DRIVERS.iter().find(|(t, _)| *t >= c) {
                    v.fixes.push(format!(
                        "update the NVIDIA driver to {drv} or newer (the driver of CUDA {})",
                        cc_str(c)
                    ));
                }
            }
        }
    }
    if !v.refusals.is_empty() {
        v.runs = false;
        v.fixes.extend(alternatives(profile, host, &gpus, facts));
    }
    Ok(v)
}

/// "sha256:3384360d2497"
fn short_id(id: &str) -> &str {
    let end = id.len().min("sha256:".len() + 12);
    &id[..end]
}

fn no_torch(image: &str, facts: &ImageFacts) -> String {
    format!(
        "{image} has no PyTorch: {}",
        facts
            .problem
            .as_deref()
            .unwrap_or("the probe found no torch")
    )
}

/// What to run instead of an image that cannot run: the image ptenv chooses for the profile
/// without its pins (else the nearest release that has code for the GPUs), the driver that the image's CUDA
/// needs, and an image with code for the GPUs it lacks.
fn alternatives(
    profile: &Profile,
    host: &HostFacts,
    gpus: &[Gpu],
    facts: &ImageFacts,
) -> Vec<String> {
    let mut out = Vec::new();
    let unpinned = Profile {
        image: None,
        cuda: None,
        ..profile.clone()
    };
    match choose(&unpinned, host) {
        Ok(c) => out.push(format!(
            "use {} instead, which runs here: remove the `image:` pin (or --image) and ptenv chooses it",
            c.image
        )),
        Err(e) => out.extend(e.hints.into_iter().take(1)),
    }
    if let Some(l) = facts.as_line() {
        let uncovered: Vec<String> = gpus
            .iter()
            .filter(|g| !l.covers(g.cc).is_covered())
            .map(|g| format!("{} ({})", catalog::sm(g.cc), catalog::arch_name(g.cc)))
            .collect();
        if !uncovered.is_empty() {
            out.push(format!(
                "or pin an image whose PyTorch has GPU code for {} (`ptenv inspect IMAGE` shows what an image has)",
                uncovered.join(", ")
            ));
        }
        if let Some(d) = host.driver_version() {
            if d < l.floor() {
                out.push(format!(
                    "or update the NVIDIA driver to {} or newer (the oldest that runs CUDA {}.x)",
                    l.driver_floor, l.cuda.0
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Cc;
    use crate::profile::{Layer, Sources, Version};

    /// A host seen through NVML: `driver` and one GPU per compute capability.
    fn host(driver: Option<&str>, ccs: &[Cc]) -> HostFacts {
        HostFacts {
            driver: driver.map(str::to_string),
            cuda_driver: driver
                .and_then(DriverVersion::parse)
                .and_then(|d| catalog::cuda_for_driver(&d)),
            gpus: ccs
                .iter()
                .enumerate()
                .map(|(i, cc)| Gpu {
                    index: i as u32,
                    name: format!("NVIDIA Test GPU {}.{}", cc.0, cc.1),
                    uuid: format!("GPU-{i}"),
                    cc: *cc,
                    memory_bytes: 1 << 30,
                    arch: None,
                })
                .collect(),
            source: if driver.is_some() {
                Source::Nvml
            } else {
                Source::None
            },
            problems: Vec::new(),
            machine: "x86_64".into(),
        }
    }

    struct Want {
        pytorch: &'static str,
        variant: Variant,
        cuda: Option<&'static str>,
        image: Option<&'static str>,
        gpus: Option<Gpus>,
    }

    fn want(pytorch: &'static str) -> Want {
        Want {
            pytorch,
            variant: Variant::Runtime,
            cuda: None,
            image: None,
            gpus: None,
        }
    }

    impl Want {
        fn devel(mut self) -> Want {
            self.variant = Variant::Devel;
            self
        }
        fn cuda(mut self, c: &'static str) -> Want {
            self.cuda = Some(c);
            self
        }
        fn image(mut self, i: &'static str) -> Want {
            self.image = Some(i);
            self
        }
        fn gpus(mut self, g: &str) -> Want {
            self.gpus = Some(Gpus::parse(g).unwrap());
            self
        }
        fn profile(&self) -> Profile {
            let layer = Layer {
                pytorch: Some(Version(self.pytorch.into())),
                variant: Some(self.variant),
                cuda: self.cuda.map(|c| Version(c.into())),
                image: self.image.map(str::to_string),
                gpus: self.gpus.clone(),
                ..Layer::default()
            };
            Sources::default().resolve("jupyter", &layer).unwrap()
        }
    }

    /// What a scenario must give: the tag (or the whole pinned image) and whether GPUs are
    /// requested, or an error containing every given phrase.
    enum Expect {
        Image(&'static str, bool),
        Fails(&'static [&'static str]),
    }
    use Expect::*;

    const RTX_5090: Cc = (12, 0);

    /// The scenario table: GPUs of docs/compatibility.md §6, mixed GPUs, drivers at and below
    /// every threshold, runtime and devel, CPU only, pinned lines.
    fn scenarios() -> Vec<(&'static str, Want, HostFacts, Expect)> {
        vec![
            // f: no driver or no GPU → CPU, chosen as for a host without GPU constraints.
            (
                "no driver, 2.6",
                want("2.6"),
                host(None, &[]),
                Image("2.6.0-cuda12.4-cudnn9-runtime", false),
            ),
            (
                "no driver, 2.7",
                want("2.7"),
                host(None, &[]),
                Image("2.7.0-cuda12.6-cudnn9-runtime", false),
            ),
            (
                "no driver, devel",
                want("2.6").devel(),
                host(None, &[]),
                Image("2.6.0-cuda12.4-cudnn9-devel", false),
            ),
            (
                "driver without GPUs",
                want("2.7"),
                host(Some("570.124.06"), &[]),
                Image("2.7.0-cuda12.6-cudnn9-runtime", false),
            ),
            (
                "gpus: none",
                want("2.6").gpus("none"),
                host(Some("550.54.15"), &[RTX_5090]),
                Image("2.6.0-cuda12.4-cudnn9-runtime", false),
            ),
            (
                "no driver, old driver irrelevant on CPU",
                want("2.6").gpus("none"),
                host(Some("440.33.01"), &[(8, 6)]),
                Image("2.6.0-cuda12.4-cudnn9-runtime", false),
            ),
            // §6, one GPU each.
            (
                "K80 on 2.6",
                want("2.6"),
                host(Some("470.256.02"), &[(3, 7)]),
                Image("2.6.0-cuda11.8-cudnn9-runtime", true),
            ),
            (
                "K80 on 2.7",
                want("2.7"),
                host(Some("470.256.02"), &[(3, 7)]),
                Image("2.7.0-cuda11.8-cudnn9-runtime", true),
            ),
            (
                "P100 on 2.6",
                want("2.6"),
                host(Some("550.54.15"), &[(6, 0)]),
                Image("2.6.0-cuda12.4-cudnn9-runtime", true),
            ),
            (
                "GTX 1080 on 2.7",
                want("2.7"),
                host(Some("570.124.06"), &[(6, 1)]),
                Image("2.7.0-cuda12.6-cudnn9-runtime", true),
            ),
            (
                "V100 on 2.7",
                want("2.7"),
                host(Some("570.124.06"), &[(7, 0)]),
                Image("2.7.0-cuda12.6-cudnn9-runtime", true),
            ),
            (
                "T4 on 2.6",
                want("2.6"),
                host(Some("535.104.05"), &[(7, 5)]),
                Image("2.6.0-cuda12.4-cudnn9-runtime", true),
            ),
            (
                "T4 on 2.7",
                want("2.7"),
                host(Some("570.124.06"), &[(7, 5)]),
                Image("2.7.0-cuda12.6-cudnn9-runtime", true),
            ),
            (
                "A100 on 2.6",
                want("2.6"),
                host(Some("550.54.15"), &[(8, 0)]),
                Image("2.6.0-cuda12.4-cudnn9-runtime", true),
            ),
            (
                "RTX 3090 on 2.7",
                want("2.7"),
                host(Some("560.35.05"), &[(8, 6)]),
                Image("2.7.0-cuda12.6-cudnn9-runtime", true),
            ),
            (
                "RTX 4090 on 2.6 via sm_86",
                want("2.6"),
                host(Some("550.54.15"), &[(8, 9)]),
                Image("2.6.0-cuda12.4-cudnn9-runtime", true),
            ),
            (
                "H100 on 2.7",
                want("2.7"),
                host(Some("570.124.06"), &[(9, 0)]),
                Image("2.7.0-cuda12.6-cudnn9-runtime", true),
            ),
            (
                "B200 on 2.6",
                want("2.6"),
                host(Some("570.124.06"), &[(10, 0)]),
                Fails(&[
                    "Blackwell",
                    "up to Hopper (9.0)",
                    "2.7.0-cuda12.8-cudnn9-runtime",
                    "--pytorch 2.7",
                    "pytorch: \"2.7\"",
                ]),
            ),
            (
                "B200 on 2.7",
                want("2.7"),
                host(Some("570.124.06"), &[(10, 0)]),
                Image("2.7.0-cuda12.8-cudnn9-runtime", true),
            ),
            (
                "RTX 5090 on 2.6",
                want("2.6"),
                host(Some("570.124.06"), &[RTX_5090]),
                Fails(&[
                    "compute capability 12.0",
                    "no kernel image",
                    "2.7.0-cuda12.8-cudnn9-runtime",
                    "--gpus none",
                ]),
            ),
            (
                "RTX 5090 on 2.7",
                want("2.7"),
                host(Some("570.124.06"), &[RTX_5090]),
                Image("2.7.0-cuda12.8-cudnn9-runtime", true),
            ),
            (
                "RTX 5090 on 2.7, R550 (observed to work)",
                want("2.7"),
                host(Some("550.127.08"), &[RTX_5090]),
                Image("2.7.0-cuda12.8-cudnn9-runtime", true),
            ),
            (
                "GB10 on 2.7",
                want("2.7"),
                host(Some("580.95.05"), &[(12, 1)]),
                Image("2.7.0-cuda12.8-cudnn9-runtime", true),
            ),
            (
                "Jetson Orin",
                want("2.7"),
                host(Some("540.4.0"), &[(8, 7)]),
                Fails(&["Jetson", "image:"]),
            ),
            (
                "Kepler K40 is too old",
                want("2.6"),
                host(Some("470.256.02"), &[(3, 5)]),
                Fails(&["too old", "no PyTorch image from 2.0.1 to 2.14.0 supports"]),
            ),
            // Mixed GPUs.
            (
                "3090 + 5090 on 2.7",
                want("2.7"),
                host(Some("570.124.06"), &[(8, 6), RTX_5090]),
                Image("2.7.0-cuda12.8-cudnn9-runtime", true),
            ),
            (
                "3090 + 5090 on 2.6",
                want("2.6"),
                host(Some("570.124.06"), &[(8, 6), RTX_5090]),
                Fails(&["--pytorch 2.7", "--gpus device=0"]),
            ),
            (
                "V100 + 5090 on 2.7",
                want("2.7"),
                host(Some("570.124.06"), &[(7, 0), RTX_5090]),
                Fails(&[
                    "no single PyTorch 2.7 image",
                    "--gpus device=0 --cuda 12.6",
                    "--gpus device=1 --cuda 12.8",
                ]),
            ),
            (
                "only GPU 0 of 3090 + 5090",
                want("2.6").gpus("device=0"),
                host(Some("570.124.06"), &[(8, 6), RTX_5090]),
                Image("2.6.0-cuda12.4-cudnn9-runtime", true),
            ),
            (
                "only GPU 1 of 3090 + 5090",
                want("2.6").gpus("device=1"),
                host(Some("570.124.06"), &[(8, 6), RTX_5090]),
                Fails(&["compute capability 12.0"]),
            ),
            (
                "GPU by UUID",
                want("2.7").gpus("GPU-1"),
                host(Some("570.124.06"), &[(7, 0), RTX_5090]),
                Image("2.7.0-cuda12.8-cudnn9-runtime", true),
            ),
            (
                "a GPU that is not there",
                want("2.6").gpus("device=0,7"),
                host(Some("550.54.15"), &[(8, 6)]),
                Fails(&["`7`", "not on this machine", "GPU 0"]),
            ),
            (
                "listed GPUs but no driver",
                want("2.6").gpus("device=0"),
                host(None, &[]),
                Fails(&["asks for GPU 0", "no NVIDIA driver", "--gpus none"]),
            ),
            // c: runtime floors, at and just below.
            (
                "cu12x floor",
                want("2.6"),
                host(Some("525.60.13"), &[(8, 6)]),
                Image("2.6.0-cuda12.4-cudnn9-runtime", true),
            ),
            (
                "just below the cu12x floor",
                want("2.6"),
                host(Some("525.60.12"), &[(8, 6)]),
                Image("2.6.0-cuda11.8-cudnn9-runtime", true),
            ),
            (
                "cu11x floor",
                want("2.7"),
                host(Some("450.80.02"), &[(8, 0)]),
                Image("2.7.0-cuda11.8-cudnn9-runtime", true),
            ),
            (
                "just below every floor",
                want("2.7"),
                host(Some("450.80.01"), &[(8, 0)]),
                Fails(&[
                    "driver 450.80.01 is too old",
                    "450.80.02 or newer",
                    "525.60.13 or newer",
                    "--gpus none",
                ]),
            ),
            (
                "Blackwell just below the cu12x floor",
                want("2.7"),
                host(Some("525.60.12"), &[RTX_5090]),
                Fails(&["too old", "525.60.13"]),
            ),
            // c: devel needs the driver's own CUDA version.
            (
                "devel on R535 (CUDA 12.2)",
                want("2.6").devel(),
                host(Some("535.104.05"), &[(8, 6)]),
                Image("2.6.0-cuda11.8-cudnn9-devel", true),
            ),
            (
                "devel at 12.4 GA",
                want("2.6").devel(),
                host(Some("550.54.14"), &[(8, 6)]),
                Image("2.6.0-cuda12.4-cudnn9-devel", true),
            ),
            (
                "devel just below 12.4",
                want("2.6").devel(),
                host(Some("545.29.06"), &[(8, 6)]),
                Image("2.6.0-cuda11.8-cudnn9-devel", true),
            ),
            (
                "devel 2.7 at 12.6 GA",
                want("2.7").devel(),
                host(Some("560.28.03"), &[(8, 6)]),
                Image("2.7.0-cuda12.6-cudnn9-devel", true),
            ),
            (
                "devel 2.7 just below 12.6",
                want("2.7").devel(),
                host(Some("555.58.02"), &[(8, 6)]),
                Image("2.7.0-cuda11.8-cudnn9-devel", true),
            ),
            (
                "devel below 11.8",
                want("2.6").devel(),
                host(Some("515.105.01"), &[(8, 6)]),
                Fails(&[
                    "too old",
                    "NVIDIA_REQUIRE_CUDA",
                    "--variant runtime",
                    "520.61.05",
                ]),
            ),
            (
                "devel 5090 on R560",
                want("2.7").devel(),
                host(Some("560.35.05"), &[RTX_5090]),
                Fails(&["12.8", "570.26", "--variant runtime"]),
            ),
            (
                "devel 5090 on R570",
                want("2.7").devel(),
                host(Some("570.124.06"), &[RTX_5090]),
                Image("2.7.0-cuda12.8-cudnn9-devel", true),
            ),
            // a: pins.
            (
                "pinned cuda 11.8",
                want("2.6").cuda("11.8"),
                host(Some("550.54.15"), &[(8, 6)]),
                Image("2.6.0-cuda11.8-cudnn9-runtime", true),
            ),
            (
                "pinned experimental cuda",
                want("2.6").cuda("12.6"),
                host(Some("560.35.05"), &[(8, 6)]),
                Image("2.6.0-cuda12.6-cudnn9-runtime", true),
            ),
            (
                "pinned cuda that cannot run wins, warned",
                want("2.6").cuda("12.4"),
                host(Some("570.124.06"), &[RTX_5090]),
                Image("2.6.0-cuda12.4-cudnn9-runtime", true),
            ),
            (
                "pinned cuda that does not exist",
                want("2.6").cuda("12.1"),
                host(Some("550.54.15"), &[(8, 6)]),
                Fails(&["no CUDA 12.1 image", "11.8, 12.4, 12.6"]),
            ),
            (
                "pinned image",
                want("2.6").image("pytorch/pytorch:2.7.0-cuda12.8-cudnn9-runtime"),
                host(Some("570.124.06"), &[RTX_5090]),
                Image("pytorch/pytorch:2.7.0-cuda12.8-cudnn9-runtime", true),
            ),
            (
                "pinned image that cannot run wins, warned",
                want("2.6").image("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"),
                host(Some("570.124.06"), &[RTX_5090]),
                Image("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime", true),
            ),
            (
                "pinned image outside the catalog",
                want("2.6").image("pytorch/pytorch:2.5.1-cuda12.6-cudnn9-runtime"),
                host(Some("550.54.15"), &[(8, 6)]),
                Image("pytorch/pytorch:2.5.1-cuda12.6-cudnn9-runtime", true),
            ),
            (
                "pinned image of another scheme",
                want("2.6").image("nvcr.io/nvidia/pytorch:24.05-py3"),
                host(Some("550.54.15"), &[(8, 6)]),
                Image("nvcr.io/nvidia/pytorch:24.05-py3", true),
            ),
            (
                "pinned image on CPU",
                want("2.6").image("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"),
                host(None, &[]),
                Image("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime", false),
            ),
            (
                "unknown release",
                want("1.13"),
                host(Some("550.54.15"), &[(8, 6)]),
                Fails(&["2.0.1 to 2.14.0, not 1.13", "--pytorch 2.14"]),
            ),
            (
                "exact release",
                want("2.7.0"),
                host(None, &[]),
                Image("2.7.0-cuda12.6-cudnn9-runtime", false),
            ),
        ]
    }

    #[test]
    fn the_scenario_table() {
        let mut failed = Vec::new();
        for (name, w, facts, expect) in scenarios() {
            let profile = w.profile();
            let got = choose(&profile, &facts);
            let ok = match (&expect, &got) {
                (Image(tag, gpu), Ok(c)) => {
                    let image = if tag.contains('/') {
                        tag.to_string()
                    } else {
                        format!("pytorch/pytorch:{tag}")
                    };
                    c.image == image && c.gpu == *gpu
                }
                (Fails(phrases), Err(e)) => {
                    let text = e.to_string();
                    e.code == crate::error::EXIT_FAILURE && phrases.iter().all(|p| text.contains(p))
                }
                _ => false,
            };
            if !ok {
                failed.push(format!("{name}: got {got:#?}"));
            }
        }
        assert!(
            failed.is_empty(),
            "{} scenarios failed:\n{}",
            failed.len(),
            failed.join("\n\n")
        );
    }

    /// Every GPU generation from Maxwell to Blackwell × drivers from R450 to R580 × PyTorch
    /// 2.6, 2.7, 2.8 and `latest`: the release and CUDA line chosen ("-": refused), as the
    /// rules of `catalog/pytorch.yaml` give them. Runtime images: stable before experimental,
    /// then PyPI's line, then the newest CUDA; floors 450.80.02 (11.x), 525.60.13 (12.x), 580
    /// (13.x).
    #[test]
    fn generations_by_drivers_by_releases() {
        const DRIVERS: [&str; 9] = [
            "450.80.02",
            "470.256.02",
            "525.60.13",
            "535.104.05",
            "550.54.14",
            "560.35.05",
            "570.124.06",
            "575.57.08",
            "580.95.05",
        ];
        let old = ["2.6.0/11.8", "2.7.0/11.8", "2.8.0/-"];
        let row = |first: &[&'static str], rest: &'static str, last: &'static str| {
            let mut r: Vec<&'static str> = first.to_vec();
            r.resize(8, rest);
            r.push(last);
            r
        };
        // (GPU, [2.6, 2.7, 2.8, latest] each over DRIVERS)
        let maxwell_to_volta = |sm: Cc| {
            (
                sm,
                [
                    row(&[old[0], old[0]], "2.6.0/12.4", "2.6.0/12.4"),
                    row(&[old[1], old[1]], "2.7.0/12.6", "2.7.0/12.6"),
                    row(
                        &["-", "-"],
                        if sm == (7, 0) {
                            "2.8.0/12.8"
                        } else {
                            "2.8.0/12.6"
                        },
                        if sm == (7, 0) {
                            "2.8.0/12.8"
                        } else {
                            "2.8.0/12.6"
                        },
                    ),
                    row(&[old[1], old[1]], "2.14.0/12.6", "2.14.0/12.6"),
                ],
            )
        };
        let turing_to_hopper = |sm: Cc| {
            (
                sm,
                [
                    row(&[old[0], old[0]], "2.6.0/12.4", "2.6.0/12.4"),
                    row(&[old[1], old[1]], "2.7.0/12.6", "2.7.0/12.6"),
                    row(&["-", "-"], "2.8.0/12.8", "2.8.0/12.8"),
                    row(&[old[1], old[1]], "2.14.0/12.6", "2.14.0/13.0"),
                ],
            )
        };
        let blackwell = |sm: Cc| {
            (
                sm,
                [
                    row(&["-", "-"], "-", "-"),
                    row(&["-", "-"], "2.7.0/12.8", "2.7.0/12.8"),
                    row(&["-", "-"], "2.8.0/12.8", "2.8.0/12.8"),
                    row(&["-", "-"], "2.11.0/12.8", "2.14.0/13.0"),
                ],
            )
        };
        let table = [
            maxwell_to_volta((5, 2)),
            maxwell_to_volta((6, 1)),
            maxwell_to_volta((7, 0)),
            turing_to_hopper((7, 5)),
            turing_to_hopper((8, 6)),
            turing_to_hopper((8, 9)),
            turing_to_hopper((9, 0)),
            blackwell((10, 0)),
            blackwell((12, 0)),
        ];
        let mut failed = Vec::new();
        for (cc, per_release) in &table {
            for (pytorch, expected) in ["2.6", "2.7", "2.8", "latest"].iter().zip(per_release) {
                for (driver, want) in DRIVERS.iter().zip(expected) {
                    let got = match choose(&want_of(pytorch).profile(), &host(Some(driver), &[*cc]))
                    {
                        Ok(c) => format!("{}/{}", c.pytorch, c.cuda.unwrap_or_default()),
                        Err(_) => "-".to_string(),
                    };
                    let want = if want.ends_with("/-") { "-" } else { want };
                    if got != want {
                        failed.push(format!("{cc:?} {pytorch} {driver}: want {want}, got {got}"));
                    }
                }
            }
        }
        assert!(failed.is_empty(), "{}", failed.join("\n"));
    }

    fn want_of(pytorch: &str) -> Want {
        want(Box::leak(pytorch.to_string().into_boxed_str()))
    }

    #[test]
    fn latest_says_why_newer_releases_were_passed_over() {
        // A K80 keeps its code only in the CUDA 11.8 lines, last built for 2.7.
        let c = pick(want("latest"), host(Some("470.256.02"), &[(3, 7)]));
        assert_eq!(c.image, "pytorch/pytorch:2.7.0-cuda11.8-cudnn9-runtime");
        assert!(
            has(
                &c.reasons,
                "newest PyTorch release with an image that runs here: 2.7.0"
            ),
            "{c:#?}"
        );
        assert!(has(&c.reasons, "PyTorch 2.8.0 to 2.14.0: no GPU code for your Test GPU 3.7 (Kepler, compute capability 3.7)"), "{c:#?}");
        // A Pascal GPU on R470: the 12.x lines that still have sm_60 need R525.
        let c = pick(want("latest"), host(Some("470.256.02"), &[(6, 1)]));
        assert_eq!(c.pytorch, "2.7.0");
        assert!(has(&c.reasons, "PyTorch 2.8.0 to 2.14.0: their runtime images with code for your GPUs need a newer NVIDIA driver than 470.256.02"), "{c:#?}");
        // On R525 it gets 2.14's CUDA 12.6 line; the CUDA 13 lines have no Pascal code.
        let c = pick(want("latest"), host(Some("535.104.05"), &[(6, 1)]));
        assert_eq!(c.image, "pytorch/pytorch:2.14.0-cuda12.6-cudnn9-runtime");
        assert!(has(&c.reasons, "the newest release ptenv knows"), "{c:#?}");
        assert!(
            c.rejected
                .iter()
                .any(|r| r.image.contains("cuda13.0")
                    && r.reasons[0].contains("compute capability 6.1")),
            "{c:#?}"
        );
        // Blackwell on R570: 2.12 on have only CUDA 13 lines (R580) for it.
        let c = pick(want("latest"), host(Some("570.124.06"), &[(12, 0)]));
        assert_eq!(c.image, "pytorch/pytorch:2.11.0-cuda12.8-cudnn9-runtime");
        assert!(
            has(&c.reasons, "PyTorch 2.12.1 to 2.14.0: their runtime images"),
            "{c:#?}"
        );
        // Without a GPU: the newest release, PyPI's line.
        let c = pick(want("latest"), host(None, &[]));
        assert_eq!(c.image, "pytorch/pytorch:2.14.0-cuda13.0-cudnn9-runtime");
        assert!(!c.gpu);
        // A pinned CUDA line narrows `latest` to the releases that have it.
        let c = pick(
            want("latest").cuda("11.8"),
            host(Some("580.95.05"), &[(8, 6)]),
        );
        assert_eq!(c.image, "pytorch/pytorch:2.7.0-cuda11.8-cudnn9-runtime");
        let e = choose(&want("latest").cuda("10.2").profile(), &host(None, &[])).unwrap_err();
        assert!(e.to_string().contains("has a CUDA 10.2 image"), "{e}");
        // Nothing runs: the error of the newest release with code for the GPU.
        let e = choose(
            &want("latest").profile(),
            &host(Some("470.256.02"), &[(12, 0)]),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("too old for every PyTorch 2.14"),
            "{e}"
        );
    }

    fn pick(w: Want, facts: HostFacts) -> Choice {
        choose(&w.profile(), &facts).unwrap()
    }

    fn has(list: &[String], phrase: &str) -> bool {
        list.iter().any(|w| w.contains(phrase))
    }

    #[test]
    fn below_the_full_feature_driver_warns_about_minor_version_compatibility() {
        for (pytorch, driver, ccs, warns) in [
            ("2.6", "550.54.15", &[(8, 6)][..], false),
            ("2.6", "550.54.14", &[(8, 6)][..], false),
            ("2.6", "545.23.08", &[(8, 6)][..], true),
            ("2.6", "535.104.05", &[(8, 6)][..], true),
            ("2.7", "560.35.05", &[(8, 6)][..], false),
            ("2.7", "560.35.03", &[(8, 6)][..], false),
            ("2.7", "555.42.06", &[(8, 6)][..], true),
            ("2.7", "570.26", &[RTX_5090][..], false),
            ("2.7", "565.57.01", &[RTX_5090][..], true),
            ("2.6", "520.61.05", &[(3, 7)][..], false),
            ("2.6", "520.56.06", &[(3, 7)][..], true),
        ] {
            let c = pick(want(pytorch), host(Some(driver), ccs));
            assert_eq!(
                has(&c.warnings, "minor-version compatibility"),
                warns,
                "{pytorch} {driver}: {c:#?}"
            );
            if warns {
                let full = &c.line.unwrap().full_feature_driver;
                assert!(
                    has(&c.warnings, &format!("Update the driver to {full}")),
                    "{c:#?}"
                );
            }
        }
    }

    /// The warning compares the CUDA version the driver supports (as NVML reports it) with
    /// the image's CUDA major.minor: a toolkit update release (12.4.1) does not raise it.
    #[test]
    fn the_ga_driver_of_a_cuda_version_runs_its_images_without_a_warning() {
        // 550.54.14 is the CUDA 12.4 GA driver; NVML says 12.4; 2.6's cu124 image was built
        // with 12.4.1 (whose driver is 550.54.15).
        let c = pick(want("2.6"), host(Some("550.54.14"), &[(8, 6)]));
        assert_eq!(c.image, "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime");
        assert!(c.warnings.is_empty(), "{c:#?}");
        // The same for 12.6 (560.28.03 GA, 560.35.03 Update 1; 2.7's cu126 is 12.6.3).
        for d in ["560.28.03", "560.35.03"] {
            let c = pick(want("2.7"), host(Some(d), &[(8, 6)]));
            assert_eq!(c.image, "pytorch/pytorch:2.7.0-cuda12.6-cudnn9-runtime");
            assert!(c.warnings.is_empty(), "{d}: {c:#?}");
        }
        // What NVML reports is what counts: a driver reporting CUDA 12.4 runs cu124 images.
        let mut facts = host(Some("550.40.07"), &[(8, 6)]);
        facts.cuda_driver = Some((12, 4));
        let c = pick(want("2.6"), facts);
        assert!(c.warnings.is_empty(), "{c:#?}");
        // One minor version behind warns, naming the driver that supports the image's CUDA.
        let c = pick(want("2.6"), host(Some("545.23.08"), &[(8, 6)]));
        assert!(has(&c.warnings, "supports CUDA 12.3"), "{c:#?}");
        assert!(
            has(&c.warnings, "Update the driver to 550.54.14 or newer"),
            "{c:#?}"
        );
    }

    #[test]
    fn the_cpu_is_said_clearly_and_requests_no_gpu() {
        let c = pick(want("2.6"), host(None, &[]));
        assert!(!c.gpu);
        assert!(c.gpus.is_empty());
        assert!(has(&c.reasons, "No NVIDIA driver was found"), "{c:#?}");
        assert!(has(&c.reasons, "runs on the CPU"), "{c:#?}");
        let c = pick(want("2.6").gpus("none"), host(Some("550.54.15"), &[(8, 6)]));
        assert!(has(&c.reasons, "`gpus: none`"));
    }

    #[test]
    fn a_driver_whose_gpus_cannot_be_listed_runs_on_the_cpu_with_a_warning() {
        let mut facts = host(Some("550.54.15"), &[]);
        facts.source = Source::Sysfs;
        facts.problems = vec![
            "NVML: the NVIDIA driver library and the loaded kernel module are different versions"
                .into(),
        ];
        let c = pick(want("2.6"), facts);
        assert!(!c.gpu);
        assert!(has(&c.warnings, "could not be listed"), "{c:#?}");
        assert!(has(&c.warnings, "different versions"), "{c:#?}");
        assert!(has(&c.warnings, "ptenv doctor"));
    }

    #[test]
    fn gpus_without_a_readable_driver_version_are_still_used() {
        let mut facts = host(Some("550.54.15"), &[(8, 6)]);
        facts.driver = None;
        facts.cuda_driver = None;
        let c = pick(want("2.6").devel(), facts);
        assert!(c.gpu);
        assert_eq!(c.image, "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-devel");
        assert!(has(&c.warnings, "could not be read"), "{c:#?}");
    }

    #[test]
    fn a_planned_driver_without_gpus_checks_the_driver_only() {
        let facts = crate::gpu::from_overrides(Some("535.104.05"), &[]).unwrap();
        let c = pick(want("2.6").devel(), facts);
        assert!(c.gpu);
        assert_eq!(c.image, "pytorch/pytorch:2.6.0-cuda11.8-cudnn9-devel");
        assert!(has(&c.warnings, "no `--gpu` was given"));
        let facts = crate::gpu::from_overrides(Some("550.54.15"), &["12.0".into()]).unwrap();
        let c = pick(want("2.7"), facts);
        assert!(has(&c.warnings, "R570"), "{c:#?}");
    }

    #[test]
    fn pins_win_but_are_warned_about() {
        let c = pick(
            want("2.6").cuda("12.4"),
            host(Some("570.124.06"), &[RTX_5090]),
        );
        assert_eq!(c.pinned, Some("cuda"));
        assert!(has(&c.warnings, "no kernel image"), "{c:#?}");
        let c = pick(
            want("2.6").image("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"),
            host(Some("570.124.06"), &[RTX_5090]),
        );
        assert_eq!(c.pinned, Some("image"));
        assert!(
            has(&c.warnings, "the pinned image has no GPU code"),
            "{c:#?}"
        );
        let c = pick(
            want("2.6").image("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-devel"),
            host(Some("535.104.05"), &[(8, 6)]),
        );
        assert_eq!(c.variant, Variant::Devel);
        assert!(has(&c.warnings, "NVIDIA_REQUIRE_CUDA"), "{c:#?}");
        let c = pick(
            want("2.6").image("pytorch/pytorch:2.5.1-cuda12.6-cudnn9-runtime"),
            host(Some("470.256.02"), &[(8, 6)]),
        );
        assert_eq!(
            (c.pytorch.as_str(), c.cuda.as_deref()),
            ("2.5.1", Some("12.6"))
        );
        assert!(has(&c.warnings, "does not list PyTorch 2.5.1"), "{c:#?}");
        assert!(has(&c.warnings, "525.60.13 or newer"), "{c:#?}");
        let c = pick(
            want("2.6").image("nvcr.io/nvidia/pytorch:24.05-py3"),
            host(Some("550.54.15"), &[(8, 6)]),
        );
        assert_eq!(c.pytorch, "unknown");
        assert_eq!(c.cuda, None);
        assert!(has(&c.warnings, "cannot check it"), "{c:#?}");
    }

    #[test]
    fn reasons_explain_the_gpu_in_plain_words() {
        let c = pick(want("2.6"), host(Some("550.54.15"), &[(8, 9)]));
        assert!(has(&c.reasons, "compute capability 8.9"), "{c:#?}");
        assert!(
            has(&c.reasons, "later models of the same generation"),
            "{c:#?}"
        );
        assert!(has(&c.reasons, "pip install torch==2.6.0"), "{c:#?}");
        let c = pick(want("2.7"), host(Some("580.95.05"), &[(13, 0)]));
        assert!(has(&c.reasons, "PTX for 12.0"), "{c:#?}");
        let e = choose(
            &want("2.6").profile(),
            &host(Some("570.124.06"), &[RTX_5090]),
        )
        .unwrap_err();
        assert!(e.message.starts_with("Your Test GPU 12.0 (Blackwell, compute capability 12.0) needs GPU code built for its generation; PyTorch 2.6 images only contain code up to Hopper (9.0)"), "{e}");
    }

    #[test]
    fn rejected_lines_say_why() {
        let c = pick(want("2.7"), host(Some("570.124.06"), &[RTX_5090]));
        assert_eq!(c.rejected.len(), 2);
        for r in &c.rejected {
            assert!(!r.fits);
            assert!(r.reasons[0].contains("no kernel image"), "{r:?}");
        }
        let c = pick(want("2.6"), host(Some("550.54.15"), &[(8, 6)]));
        assert!(c.rejected.iter().all(|r| r.fits));
    }

    #[test]
    fn the_repository_comes_from_the_profile() {
        let mut p = want("2.6").profile();
        p.repository = "127.0.0.1:5000/pytorch/pytorch".into();
        let c = choose(&p, &host(None, &[])).unwrap();
        assert_eq!(
            c.image,
            "127.0.0.1:5000/pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"
        );
    }

    #[test]
    fn arm64_hosts_are_warned_that_the_official_images_are_cpu_only() {
        let mut facts = host(Some("550.54.15"), &[(9, 0)]);
        facts.machine = "aarch64".into();
        let c = pick(want("2.6"), facts.clone());
        assert!(has(&c.warnings, "CPU-only build"), "{c:#?}");
        assert!(!has(&c.warnings, "linux/amd64 only"), "{c:#?}");
        let c = pick(want("2.6").devel(), facts);
        assert!(has(&c.warnings, "linux/amd64 only"), "{c:#?}");
    }

    #[test]
    fn an_image_pinned_elsewhere_is_judged_by_the_same_rules() {
        // Locked for an RTX 5090: the cu128 line, which has no code for a Pascal GPU.
        let locked = "pytorch/pytorch:2.7.0-cuda12.8-cudnn9-runtime";
        let p = want("2.7").profile();
        let why = misfits_of(&p, locked, &host(Some("550.54.15"), &[(6, 1)])).unwrap();
        assert_eq!(why.len(), 1, "{why:?}");
        assert!(why[0].contains("compute capability 6.1"), "{why:?}");
        assert!(
            misfits_of(&p, locked, &host(Some("570.124.06"), &[RTX_5090]))
                .unwrap()
                .is_empty()
        );
        // The CPU runs anything; tags outside the catalog cannot be judged.
        assert!(misfits_of(&p, locked, &host(None, &[])).unwrap().is_empty());
        let odd = "example.com/own/pytorch:nightly";
        assert!(misfits_of(&p, odd, &host(Some("550.54.15"), &[(6, 1)]))
            .unwrap()
            .is_empty());
        // A devel image needs the driver's own CUDA version to reach its line's.
        let devel = "pytorch/pytorch:2.7.0-cuda12.8-cudnn9-devel";
        let why = misfits_of(&p, devel, &host(Some("550.54.15"), &[(8, 6)])).unwrap();
        assert!(why[0].contains("NVIDIA_REQUIRE_CUDA"), "{why:?}");
    }

    /// An image the catalog does not describe, judged from its probe: the torch fixture
    /// (2.6.0, CUDA 12.4, sm_50 … sm_90) as an NGC-like image that sets NVIDIA_REQUIRE_CUDA.
    #[test]
    fn a_probed_image_is_judged_by_the_catalogs_rules() {
        let ngc = crate::image_facts::tests::torch_fixture(&[
            "NVIDIA_REQUIRE_CUDA=cuda>=12.4 brand=tesla,driver>=470,driver<471 brand=tesla,driver>=535,driver<536",
        ]);
        let image = "127.0.0.1:5000/nvidia-like/pytorch:24.04-py3";
        let pinned = want("2.6").image(image).profile();
        // H100 on R550: sm_90 code, driver at CUDA 12.4.
        let v = judge_image(
            &pinned,
            image,
            None,
            &ngc,
            &host(Some("550.54.15"), &[(9, 0)]),
        )
        .unwrap();
        assert!(v.runs, "{v:#?}");
        assert!(
            has(&v.reasons, "code built exactly for it (sm_90)"),
            "{v:#?}"
        );
        assert!(v.warnings.is_empty(), "{v:#?}");
        // RTX 5090: no Blackwell code; the fix names an image that has it.
        let v = judge_image(
            &pinned,
            image,
            None,
            &ngc,
            &host(Some("570.124.06"), &[RTX_5090]),
        )
        .unwrap();
        assert!(!v.runs);
        assert!(has(&v.refusals, "no kernel image is available"), "{v:#?}");
        let e = v.refusal(image).unwrap();
        let text = e.to_string();
        assert!(text.contains("cannot run on this machine"), "{text}");
        assert!(
            text.contains("pytorch/pytorch:2.7.0-cuda12.8-cudnn9-runtime"),
            "{text}"
        );
        assert!(text.contains("sm_120 (Blackwell)"), "{text}");
        assert!(text.contains("--force"), "{text}");
        // R535 supports CUDA 12.2: the floor of 12.x is met, NVIDIA_REQUIRE_CUDA only if
        // this is a datacenter GPU (brand: unknown to ptenv); R545 is in no alternative.
        let v = judge_image(
            &pinned,
            image,
            None,
            &ngc,
            &host(Some("535.104.05"), &[(8, 6)]),
        )
        .unwrap();
        assert!(v.runs, "{v:#?}");
        assert!(has(&v.warnings, "depends on the GPUs' brand"), "{v:#?}");
        let v = judge_image(
            &pinned,
            image,
            None,
            &ngc,
            &host(Some("545.23.08"), &[(8, 6)]),
        )
        .unwrap();
        assert!(!v.runs, "{v:#?}");
        assert!(has(&v.refusals, "unsatisfied condition"), "{v:#?}");
        assert!(
            has(&v.fixes, "update the NVIDIA driver to 550.54.14"),
            "{v:#?}"
        );
        // Below the floor of CUDA 12.x: refused by the floor rule itself.
        let v = judge_image(
            &pinned,
            image,
            None,
            &ngc,
            &host(Some("470.256.02"), &[(8, 6)]),
        )
        .unwrap();
        assert!(
            has(&v.refusals, "needs NVIDIA driver 525.60.13 or newer"),
            "{v:#?}"
        );
        // Without a GPU nothing stops it.
        let v = judge_image(&pinned, image, None, &ngc, &host(None, &[])).unwrap();
        assert!(v.runs && v.refusals.is_empty(), "{v:#?}");
    }

    #[test]
    fn a_catalog_image_that_disagrees_is_a_warning_naming_both() {
        let image = "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime";
        let facts = crate::image_facts::tests::torch_fixture(&[]);
        let row = catalog::find("2.6.0", (12, 4)).unwrap();
        let p = want("2.6").profile();
        let v = judge_image(
            &p,
            image,
            Some(row),
            &facts,
            &host(Some("550.54.15"), &[(8, 6)]),
        )
        .unwrap();
        assert!(
            v.runs && v.warnings.is_empty() && v.disagreement.is_none(),
            "{v:#?}"
        );
        let other = catalog::find("2.7.0", (12, 8)).unwrap();
        let v = judge_image(
            &p,
            image,
            Some(other),
            &facts,
            &host(Some("570.124.06"), &[(8, 6)]),
        )
        .unwrap();
        let said = v.disagreement.clone().unwrap_or_default();
        assert!(
            said.contains("PyTorch: the catalog says 2.7.0, the image has 2.6.0+cu124")
                && said
                    .contains("CUDA: the catalog says 12.8, the image's torch was built for 12.4"),
            "{v:#?}"
        );
        // An image without torch is said plainly and not refused.
        let none = crate::image_facts::ImageFacts {
            torch: None,
            problem: Some("PyTorch is not installed in the image (No module named 'torch')".into()),
            ..facts
        };
        let v = judge_image(
            &p,
            image,
            Some(row),
            &none,
            &host(Some("550.54.15"), &[(8, 6)]),
        )
        .unwrap();
        assert!(v.runs, "{v:#?}");
        assert!(
            v.disagreement
                .as_deref()
                .is_some_and(|d| d.contains("the image has none (PyTorch is not installed")),
            "{v:#?}"
        );
        assert!(v.warnings.is_empty(), "said once: {v:#?}");
        // Without a catalog row, the same is said as what it is.
        let v = judge_image(&p, image, None, &none, &host(Some("550.54.15"), &[(8, 6)])).unwrap();
        assert!(v.runs, "{v:#?}");
        assert!(
            has(&v.warnings, "has no PyTorch: PyTorch is not installed"),
            "{v:#?}"
        );
    }
}
