//! Choosing among the catalog's lines: the release `pytorch:` names (or the newest that
//! fits, for `latest`), ranked by rule (d).

use super::*;

pub(super) fn image_of(profile: &Profile, line: &Line, variant: Variant) -> String {
    format!("{}:{}", profile.repository, line.tag(variant))
}

/// Rule (d): stable first, then the line `pip install torch` gets (where a release has two
/// stable lines of the newest CUDA major, like 2.14's 13.0 and 13.2, the one PyPI's users
/// run), then the newest CUDA.
pub(super) fn rank(l: &Line) -> (bool, bool, (u32, u32)) {
    (l.status == Maturity::Stable, l.pypi_default, l.cuda)
}

pub(super) fn from_catalog(
    profile: &Profile,
    facts: &HostFacts,
    target: &Target,
    warnings: Vec<String>,
) -> Result<Choice, SelectError> {
    if profile.pytorch == LATEST {
        latest(profile, facts, target, warnings)
    } else {
        release_choice(profile, &profile.pytorch, facts, target, warnings)
    }
}

/// `pytorch: latest`: the newest release with a line that runs on `target` (every GPU
/// covered, the driver new enough); on the CPU, the newest release. A pinned `cuda:` narrows
/// the releases to those that have that line.
pub(super) fn latest(
    profile: &Profile,
    facts: &HostFacts,
    target: &Target,
    warnings: Vec<String>,
) -> Result<Choice, SelectError> {
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
        return Err(SelectError::NoReleaseWithCuda {
            known: known_releases(),
            cuda: profile.cuda.as_deref().unwrap_or("?").to_string(),
        });
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
pub(super) fn newer_misfits(
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
            let d = facts
                .driver
                .as_ref()
                .map(|d| d.as_str())
                .unwrap_or("unknown");
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
pub(super) fn release_choice(
    profile: &Profile,
    pytorch: &str,
    facts: &HostFacts,
    target: &Target,
    mut warnings: Vec<String>,
) -> Result<Choice, SelectError> {
    let variant = profile.variant;
    let mut lines = catalog::lines_for(pytorch);
    if lines.is_empty() {
        let newest = catalog::releases().last().copied().unwrap_or_default();
        return Err(SelectError::UnknownRelease {
            asked: pytorch.to_string(),
            known: known_releases(),
            newest: newest
                .rsplit_once('.')
                .map_or(newest, |(minor, _)| minor)
                .to_string(),
        });
    }
    let release = lines[0].pytorch.as_str();
    let minor = lines[0].pytorch_minor();
    let mut pinned = None;
    if let Some(cuda) = &profile.cuda {
        let all: Vec<String> = lines.iter().map(|l| l.cuda_str()).collect();
        lines.retain(|l| l.cuda_str() == *cuda);
        if lines.is_empty() {
            return Err(SelectError::NoSuchCudaLine {
                release: release.to_string(),
                cuda: cuda.clone(),
                lines: all,
            });
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
            reasons.extend(gpu_reasons(line, gpus));
        }
        Target::UnknownGpus => {
            warnings.push("no `--gpu` was given, so the image was checked against the driver only, not against the GPUs' compute capability".to_string());
        }
    }
    if gpu {
        if let Some(d) = facts.driver.as_ref() {
            reasons.push(driver_reason(line, variant, d, facts));
            if let Some(w) = compat_warning(line, variant, d, facts, target) {
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
