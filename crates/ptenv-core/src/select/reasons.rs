//! The sentences a choice carries: why a line was taken, why others were not, the
//! minor-version warning of rule (e), and the error when no line fits.

use super::*;

/// One sentence per kind of GPU the machine has, in the order they first appear: four
/// identical boards are one reason ("Your 4 × RTX A5000 (…)"), not four equal lines.
pub(super) fn gpu_reasons<'g>(line: &Line, gpus: impl IntoIterator<Item = &'g Gpu>) -> Vec<String> {
    let mut kinds: Vec<(&Gpu, usize)> = Vec::new();
    for g in gpus {
        match kinds
            .iter_mut()
            .find(|(k, _)| describe_gpu(k) == describe_gpu(g))
        {
            Some((_, n)) => *n += 1,
            None => kinds.push((g, 1)),
        }
    }
    kinds
        .into_iter()
        .map(|(g, n)| gpu_reason(line, g, n))
        .collect()
}

/// "Your RTX 3090 (Ampere, compute capability 8.6) runs this image's code for 8.6 (sm_86)."
fn gpu_reason(line: &Line, g: &Gpu, count: usize) -> String {
    let who = match count {
        1 => describe_gpu(g),
        n => format!("{n} × {}", describe_gpu(g)),
    };
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

pub(super) fn driver_reason(
    line: &Line,
    variant: Variant,
    d: &DriverVersion,
    facts: &HostFacts,
) -> String {
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
pub(super) fn compat_warning(
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

pub(super) fn preference_reason(line: &Line, fits: &[&'static Line]) -> String {
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
            if line.status == Maturity::Experimental {
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

/// The error when GPUs are present and no line fits (rule f): which kind, with what the
/// user can do instead.
#[allow(clippy::too_many_arguments)]
pub(super) fn no_fit(
    profile: &Profile,
    facts: &HostFacts,
    target: &Target,
    release: &str,
    minor: &str,
    all: &[&'static Line],
    rejected: &[(&'static Line, Vec<String>)],
) -> SelectError {
    let variant = profile.variant;
    let minor = minor.to_string();
    let gpus: &[Gpu] = match target {
        Target::Gpus(g) => g,
        _ => &[],
    };
    // GPUs that no line of this release covers, whatever the driver.
    let blocked: Vec<&Gpu> = gpus
        .iter()
        .filter(|g| !all.iter().any(|l| l.covers(g.cc).is_covered()))
        .collect();
    if let Some(g) = blocked.first().copied() {
        let newest = all.iter().filter_map(|l| l.newest_sass()).max();
        let oldest = all.iter().filter_map(|l| l.oldest_sass()).min();
        let limit = match (newest, oldest) {
            (Some(n), _) if g.cc > n => CodeLimit::TooNew {
                arch: catalog::arch_name(n).to_string(),
                cc: cc_str(n),
            },
            (_, Some(o)) if g.cc < o => CodeLimit::TooOld {
                arch: catalog::arch_name(o).to_string(),
                cc: cc_str(o),
            },
            _ => CodeLimit::Missing,
        };
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
        let instead = match other {
            Some(l) => Instead::Release {
                minor: l.pytorch_minor().to_string(),
                image: image_of(profile, l, variant),
                span: l.span(),
                blackwell_driver: facts
                    .driver
                    .as_ref()
                    .filter(|d| g.cc.0 >= 10 && d.branch() < 570)
                    .map(|d| d.to_string()),
            },
            None if matches!(g.cc, (7, 2) | (8, 7)) => Instead::Jetson,
            None => Instead::Nothing {
                known: known_releases(),
            },
        };
        // Mixed GPUs: the ones that do fit some line.
        let usable: Vec<String> = if gpus.len() > 1 {
            gpus.iter()
                .filter(|x| !blocked.contains(x))
                .map(|x| x.index.to_string())
                .collect()
        } else {
            Vec::new()
        };
        return SelectError::NoCodeForGpu {
            minor,
            gpu: describe_gpu(g),
            limit: Box::new(limit),
            instead: Box::new(instead),
            usable,
        };
    }
    if gpus.len() > 1
        && all
            .iter()
            .all(|l| gpus.iter().any(|g| !l.covers(g.cc).is_covered()))
    {
        // Every GPU is covered by some line, but no line covers all of them.
        let partial = all
            .iter()
            .map(|l| PartialFit {
                image: image_of(profile, l, variant),
                cuda: l.cuda_str(),
                devices: gpus
                    .iter()
                    .filter(|g| l.covers(g.cc).is_covered())
                    .map(|g| g.index.to_string())
                    .collect(),
            })
            .filter(|p| !p.devices.is_empty())
            .collect();
        return SelectError::NoSingleImage {
            minor,
            gpus: gpus.iter().map(describe_gpu).collect(),
            partial,
        };
    }
    // Only the lines that have code for the GPUs: the driver is what stops them.
    let misfits_here = rejected
        .iter()
        .filter(|(l, _)| gpus.iter().all(|g| l.covers(g.cc).is_covered()))
        .flat_map(|(l, why)| {
            let image = image_of(profile, l, variant);
            why.iter().map(move |w| (image.clone(), w.clone()))
        })
        .collect();
    let runtime_fits = variant == Variant::Devel
        && all
            .iter()
            .any(|l| misfits(l, Variant::Runtime, facts, target).is_empty());
    SelectError::DriverTooOld {
        driver: facts
            .driver
            .as_ref()
            .map_or_else(|| "unknown".to_string(), |d| d.to_string()),
        minor,
        variant,
        misfits: misfits_here,
        runtime_fits,
    }
}
