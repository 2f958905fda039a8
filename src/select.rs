//! Which image runs here: the profile's wishes and the host's facts in, a [`Choice`] with its
//! reasons out. Pure: no I/O, only the catalog's data (`catalog.rs`) and the rules of
//! `shared/reference/pytorch-cuda-facts.md` §2–§3:
//!
//! a. Candidates are the catalog lines of the profile's PyTorch version and variant; a pinned
//!    `cuda:` or `image:` wins but is still checked, and what fails becomes a warning.
//! b. Every GPU handed to the container must be covered by SASS of its major version (minor ≤
//!    its own) or by PTX of an equal or lower version.
//! c. A runtime image needs the driver at or above its CUDA family's floor; a devel image
//!    inherits `NVIDIA_REQUIRE_CUDA`, so the driver's own CUDA version must reach the line's.
//! d. Stable before experimental, then the newest CUDA.
//! e. Below the line's full-feature driver: a warning about minor-version compatibility.
//! f. No driver or no GPU: the CPU, said clearly. GPUs that no line fits: an error that says
//!    what to do, never a silent CPU fallback.

use serde::Serialize;

use crate::catalog::{self, Coverage, DriverVersion, Line, Status};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, HostFacts, Source};
use crate::profile::{Gpus, Profile, Variant};

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
    if choice.gpu && facts.machine == "aarch64" && choice.line.is_some() {
        // Fact sheet §1b: the arm64 build of the official image installs the CPU wheels.
        choice.warnings.push(
            "this is an arm64 (aarch64) machine: the official pytorch/pytorch images for arm64 contain the CPU-only build of PyTorch, so torch will not see the GPUs (GH200/GB200/Jetson need NVIDIA's own images, pinned with `image:`)".to_string(),
        );
    }
    Ok(choice)
}

/// Which GPUs the container gets, from `gpus:` and what the host has.
fn target(profile: &Profile, facts: &HostFacts, warnings: &mut Vec<String>) -> Result<Target> {
    let explicit = match &profile.gpus {
        Gpus::None => {
            return Ok(Target::Cpu(
                "The profile says `gpus: none`, so the container runs on the CPU and no GPU is requested from Docker.".to_string(),
            ))
        }
        Gpus::All => None,
        Gpus::Devices(d) => Some(d),
    };
    let why_no_gpu = if facts.driver.is_none() {
        Some("No NVIDIA driver was found on this machine".to_string())
    } else if facts.gpus.is_empty() {
        match facts.source {
            Source::Override => return Ok(Target::UnknownGpus),
            Source::Nvml => Some(format!(
                "The NVIDIA driver {} is installed but reports no GPU",
                facts.driver.as_deref().unwrap_or("")
            )),
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

/// Why `line` (as `variant`) does not run on `target`; empty when it does.
fn misfits(line: &Line, variant: Variant, facts: &HostFacts, target: &Target) -> Vec<String> {
    let mut out = Vec::new();
    if !line.variants.contains(&variant) {
        out.push(format!("PyTorch publishes no {variant} image of this line"));
    }
    if let Target::Gpus(gpus) = target {
        for g in gpus {
            if !line.covers(g.cc).is_covered() {
                out.push(no_code_for(line, g));
            }
        }
    }
    if matches!(target, Target::Gpus(_) | Target::UnknownGpus) {
        if let Some(reason) = driver_misfit(line, variant, facts) {
            out.push(reason);
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
fn driver_misfit(line: &Line, variant: Variant, facts: &HostFacts) -> Option<String> {
    let d = facts.driver_version()?;
    match variant {
        Variant::Runtime => (d < line.floor()).then(|| {
            format!(
                "needs NVIDIA driver {} or newer (the oldest that runs CUDA {}.x), and this machine has {d}",
                line.driver_floor, line.cuda.0
            )
        }),
        Variant::Devel => {
            let supports = facts.driver_cuda();
            if supports.is_some_and(|c| c >= line.cuda) {
                return None;
            }
            let has = match supports {
                Some(c) => format!("driver {d} supports CUDA {}", cc_str(c)),
                None => format!("driver {d} supports a CUDA older than 11.8"),
            };
            Some(format!(
                "is a devel image, which inherits NVIDIA_REQUIRE_CUDA=cuda>={}: the container would not start because {has}; it needs driver {} or newer",
                line.cuda_str(),
                devel_driver(line)
            ))
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

fn image_of(profile: &Profile, line: &Line, variant: Variant) -> String {
    format!("{}:{}", profile.repository, line.tag(variant))
}

/// Rule (d): stable first, then the newest CUDA.
fn rank(l: &Line) -> (bool, (u32, u32)) {
    (l.status == Status::Stable, l.cuda)
}

fn from_catalog(
    profile: &Profile,
    facts: &HostFacts,
    target: &Target,
    mut warnings: Vec<String>,
) -> Result<Choice> {
    let variant = profile.variant;
    let mut lines = catalog::lines_for(&profile.pytorch);
    if lines.is_empty() {
        let known: Vec<String> = catalog::releases().iter().map(|r| r.to_string()).collect();
        return Err(Error::new(format!(
            "ptenv knows the images of PyTorch {}, not {}",
            known.join(" and "),
            profile.pytorch
        ))
        .hint("use `--pytorch 2.6` or `--pytorch 2.7` (or `pytorch:` in ptenv.yaml)")
        .hint("or pin an image with `image: pytorch/pytorch:<tag>`; ptenv checks its tag as far as it can"));
    }
    let release = lines[0].pytorch;
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
            let all = catalog::lines_for(&profile.pytorch);
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
            "{why} Any of the images runs on the CPU; ptenv takes the one it would take for a GPU of any kind, so the same image works if a GPU is added later."
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
            if let Some(w) = compat_warning(line, variant, &d, target) {
                warnings.push(w);
            }
            if facts.source == Source::Override {
                if let Target::Gpus(gpus) = target {
                    if gpus.iter().any(|g| g.cc.0 >= 10) && d.branch() < 570 {
                        warnings.push(format!(
                            "Blackwell GPUs need driver branch R570 or newer before the driver recognises them at all (unverified, fact sheet §3d); {d} is older"
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
        image: image_of(profile, line, variant),
        pytorch: line.pytorch.to_string(),
        cuda: Some(line.cuda_str()),
        variant,
        gpu,
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

/// Rule (e).
fn compat_warning(
    line: &Line,
    variant: Variant,
    d: &DriverVersion,
    target: &Target,
) -> Option<String> {
    if *d >= line.full_feature() {
        return None;
    }
    let mut w = format!(
        "driver {d} is older than {}, the driver CUDA {} ships with: the image runs under CUDA minor-version compatibility. PyTorch's own kernels work, but PTX built by a newer CUDA cannot be JIT-compiled (cudaErrorUnsupportedPtxVersion) and some newer CUDA calls fail with cudaErrorCallRequiresNewerDriver",
        line.full_feature_driver,
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
            "{n} CUDA lines fit; ptenv prefers the ones PyTorch marks stable, then the newest CUDA: {} ({}).{pypi}",
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
        // Another release that covers every blocked GPU.
        let other = catalog::LINES
            .iter()
            .filter(|l| l.pytorch != release && l.variants.contains(&variant))
            .filter(|l| blocked.iter().all(|g| l.covers(g.cc).is_covered()))
            .max_by_key(|l| rank(l));
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
                let releases: Vec<String> =
                    catalog::releases().iter().map(|r| r.to_string()).collect();
                e = e.hint(format!(
                    "no PyTorch {} image supports this GPU; pin an image built for it with `image:` (ptenv cannot check it)",
                    releases.join(" or ")
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
                "or hand the container only the GPUs it can use: `--gpus {}`",
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
                    "{} runs on GPU {}: `--gpus {} --cuda {}`",
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
        for (l, why) in rejected {
            for w in why {
                e = e.hint(format!("{}: {w}", image_of(profile, l, variant)));
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
                        if let Some(w) = compat_warning(l, t.variant, &d, target) {
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
                "ptenv's catalog does not list PyTorch {} with CUDA {}.{}, so it does not know which GPUs the image has code for; it was not checked against them",
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
            "`{image}` does not follow the pytorch/pytorch tag scheme (<version>-cuda<x.y>-cudnn<n>-<runtime|devel>), so ptenv cannot check it against the driver and GPUs"
        )),
    }
    Choice {
        image: image.to_string(),
        pytorch: tag
            .as_ref()
            .map(|t| t.pytorch.clone())
            .unwrap_or_else(|| "unknown".to_string()),
        cuda: tag.as_ref().map(|t| format!("{}.{}", t.cuda.0, t.cuda.1)),
        variant,
        gpu,
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
