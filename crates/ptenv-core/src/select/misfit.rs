//! Why a catalog line does not run on a machine: the misfits of rules (b) and (c), in a
//! sentence for explanations and a phrase for `ptenv select --list`.

use super::*;

/// One line of the catalog judged for a machine: `ptenv select --list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub image: String,
    pub pytorch: String,
    pub cuda: String,
    pub status: Maturity,
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
pub(super) fn misfits(
    line: &Line,
    variant: Variant,
    facts: &HostFacts,
    target: &Target,
) -> Vec<String> {
    misfit_list(line, variant, facts, target)
        .into_iter()
        .map(|m| m.long)
        .collect()
}

/// Why a line does not run, by kind, in two lengths: a sentence for the explanation and a
/// phrase for the `--list` table.
pub(super) struct Misfit {
    pub(super) kind: RefusalKind,
    pub(super) long: String,
    pub(super) short: String,
}

pub(super) fn misfit_list(
    line: &Line,
    variant: Variant,
    facts: &HostFacts,
    target: &Target,
) -> Vec<Misfit> {
    let mut out = Vec::new();
    if !line.variants.contains(&variant) {
        out.push(Misfit {
            kind: RefusalKind::NoImage,
            long: format!("PyTorch publishes no {variant} image of this line"),
            short: format!("no {variant} image"),
        });
    }
    if let Target::Gpus(gpus) = target {
        for g in gpus {
            if !line.covers(g.cc).is_covered() {
                out.push(Misfit {
                    kind: RefusalKind::NoGpuCode,
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
pub(super) fn no_code_for(line: &Line, g: &Gpu) -> String {
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

pub(super) fn cc_str(cc: catalog::Cc) -> String {
    format!("{}.{}", cc.0, cc.1)
}

/// The driver rule (c) for one line, or `None` when the driver is fine.
pub(super) fn driver_misfit(line: &Line, variant: Variant, facts: &HostFacts) -> Option<Misfit> {
    let d = facts.driver.as_ref()?;
    match variant {
        Variant::Runtime => (*d < line.floor()).then(|| Misfit {
            kind: RefusalKind::Driver,
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
                kind: RefusalKind::Driver,
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
pub(super) fn devel_driver(line: &Line) -> String {
    catalog::TOOLKIT_DRIVERS
        .iter()
        .find(|(c, _)| *c >= line.cuda)
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| line.full_feature_driver.to_string())
}

/// "2.0.1 to 2.14.0": the releases in the catalog.
pub(super) fn known_releases() -> String {
    let all = catalog::releases();
    match (all.first(), all.last()) {
        (Some(a), Some(b)) if a != b => format!("{a} to {b}"),
        (Some(a), _) => a.to_string(),
        _ => "none".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{host, want, RTX_5090};

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
}
