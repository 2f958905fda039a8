//! The verdict on an image from the facts it gives about itself, for images the catalog
//! does not describe.

use super::*;

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
    pub refusals: Vec<Refusal>,
    pub warnings: Vec<String>,
    /// What to do instead, when it cannot run.
    pub fixes: Vec<String>,
    /// Where the image and the catalog's row of its tag disagree (a warning naming both);
    /// `None` when they agree or the tag has no row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disagreement: Option<String>,
}

/// What keeps an image from running here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// PyTorch publishes no image of the variant asked for.
    NoImage,
    /// No GPU code (SASS or PTX) for one of the GPUs: an architecture mismatch.
    NoGpuCode,
    /// The driver is older than the image's CUDA needs.
    Driver,
    /// The image's `NVIDIA_REQUIRE_CUDA` does not hold on this machine.
    Requirement,
}

/// One reason an image cannot run: its kind, and the phrase that follows "it" ("has no GPU
/// code for your …").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub text: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// In `--json` a refusal is its phrase.
impl Serialize for Refusal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl ImageVerdict {
    /// The refusals as the phrases that follow "it", joined.
    pub fn refusal_text(&self) -> String {
        self.refusals
            .iter()
            .map(|r| r.text.as_str())
            .collect::<Vec<_>>()
            .join("; it ")
    }

    /// The error `ptenv up` stops with, when the image cannot run.
    pub fn refusal(&self, image: &str) -> Option<Error> {
        if self.runs {
            return None;
        }
        let mut e = Error::new(format!(
            "{image} cannot run on this machine: it {}",
            self.refusal_text()
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
            v.reasons.push(why.to_string());
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
                v.refusals.push(Refusal {
                    kind: m.kind,
                    text: m.long,
                });
            }
            if v.refusals.is_empty() {
                v.reasons.extend(gpu_reasons(&l, &gpus));
                if let Some(d) = host.driver.as_ref() {
                    v.reasons
                        .push(driver_reason(&l, Variant::Runtime, d, host));
                    if let Some(w) = compat_warning(&l, Variant::Runtime, d, host, &target) {
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
            let d = host.driver.as_ref();
            let has = match host.driver_cuda() {
                Some(c) => format!(
                    "driver {} supports CUDA {}",
                    d.map(|d| d.to_string()).unwrap_or_default(),
                    cc_str(c)
                ),
                None => "the driver's CUDA version is unknown".to_string(),
            };
            match req.holds(d, host.driver_cuda(), &gpus) {
                Holds::Yes => {}
                Holds::No => v.refusals.push(Refusal {
                    kind: RefusalKind::Requirement,
                    text: format!(
                        "declares NVIDIA_REQUIRE_CUDA=\"{text}\", and {has}: the NVIDIA container runtime would refuse to start it (\"unsatisfied condition\")"
                    ),
                }),
                Holds::Unknown => v.warnings.push(format!(
                    "{image} declares NVIDIA_REQUIRE_CUDA=\"{text}\", and {has}: whether the NVIDIA container runtime starts it depends on the GPUs' brand, which ptenv does not read"
                )),
            }
            if let (Holds::No, Some(c)) = (req.holds(d, host.driver_cuda(), &gpus), req.cuda()) {
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
pub(super) fn short_id(id: &str) -> &str {
    let end = id.len().min("sha256:".len() + 12);
    &id[..end]
}

pub(super) fn no_torch(image: &str, facts: &ImageFacts) -> String {
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
pub(super) fn alternatives(
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
        Err(e) => out.extend(e.hints().into_iter().take(1)),
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
        if let Some(d) = host.driver.as_ref() {
            if *d < l.floor() {
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
    use crate::testing::{has, host, want, RTX_5090};

    fn texts(refusals: &[Refusal]) -> Vec<String> {
        refusals.iter().map(|r| r.text.clone()).collect()
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
        assert!(
            has(&texts(&v.refusals), "no kernel image is available"),
            "{v:#?}"
        );
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
        assert!(has(&texts(&v.refusals), "unsatisfied condition"), "{v:#?}");
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
            has(
                &texts(&v.refusals),
                "needs NVIDIA driver 525.60.13 or newer"
            ),
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
