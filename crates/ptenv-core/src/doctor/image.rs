//! The image link: the image the profile selects, against the driver (floor and full-feature
//! driver) and against every GPU's compute capability. `select::choose` picks the image; this
//! check judges the result from the catalog's data again, because a pinned `image:` or `cuda:`
//! wins over the rules there and only turns what is wrong into warnings.

use super::{id, Check, Status};
use crate::catalog::{self, Coverage, Line};
use crate::gpu::HostFacts;
use crate::profile::Variant;
use crate::select::{describe_gpu, Choice, ImageVerdict, RefusalKind, SelectError};

/// Link 7. `selection` is `select::choose`'s answer for the profile; `alternative` is the fix
/// to offer when a pinned image does not fit (the unpinned choice), if there is one.
pub fn check_image(
    selection: &Result<Choice, SelectError>,
    facts: &HostFacts,
    alternative: Option<&str>,
) -> Check {
    let choice = match selection {
        Ok(c) => c,
        Err(e) => {
            let summary = if e.is_arch_mismatch() {
                format!("architecture mismatch: {}", e.message())
            } else {
                e.message()
            };
            // select's error says why no image fits and which one would. Its hints leave out
            // the pointer to `ptenv doctor` that commands add: the user is here.
            let hints = e.hints();
            let c = Check::fail(id::IMAGE, summary).evidence_all(gpu_lines(facts));
            return if hints.is_empty() {
                c
            } else {
                c.fix(hints.join("; "))
            };
        }
    };
    let mut c = Check::pass(id::IMAGE, format!("{} fits this machine", choice.image))
        .evidence(format!("image: {}", choice.image));
    let mut problems: Vec<(Status, String)> = Vec::new();
    if !choice.gpu {
        let why = choice
            .cpu_reason
            .as_ref()
            .map_or_else(|| "the profile requests no GPU".into(), |r| r.to_string());
        c = c.evidence(why);
        problems.push((
            Status::Warn,
            format!(
                "{} runs on the CPU only: no GPU is requested for the container",
                choice.image
            ),
        ));
    }
    match choice.line {
        Some(line) => {
            c = c.evidence(format!(
                "GPU code: {}{}",
                line.arch_list(),
                if line.arch_verified { "" } else { " (from PyTorch's build scripts, not read from the wheel; the torch check reads it inside the image)" }
            ));
            c = c.evidence(format!(
                "driver {}: CUDA {} images start from {} and use every feature from {}",
                facts.driver.as_ref().map(|d| d.as_str()).unwrap_or("none"),
                line.cuda_str(),
                line.driver_floor,
                line.full_feature_driver
            ));
            if choice.gpu {
                problems.extend(judge_line(line, choice.variant, facts, choice));
            }
        }
        None => problems.push((
            Status::Warn,
            format!(
                "{} is not a pytorch/pytorch tag ptenv knows, so its GPU code and driver needs cannot be read from the tag; the torch check looks inside",
                choice.image
            ),
        )),
    }
    for w in &choice.warnings {
        c = c.evidence(format!("warning: {w}"));
    }
    if problems.is_empty() && !choice.warnings.is_empty() {
        problems.push((Status::Warn, choice.warnings[0].clone()));
    }
    let worst = problems.iter().map(|(s, _)| *s).max();
    let Some(worst) = worst else {
        return c;
    };
    let first = problems
        .iter()
        .find(|(s, _)| *s == worst)
        .map(|(_, t)| t.clone())
        .unwrap_or_default();
    c.status = worst;
    c.summary = first;
    for (_, p) in problems.iter().skip(1) {
        c.evidence.push(p.clone());
    }
    if worst == Status::Fail {
        if let Some(alt) = alternative {
            c.fix = Some(alt.to_string());
        } else {
            c.fix = Some("remove the `image:`/`cuda:` pin (or the --image/--cuda flag) and let ptenv choose; `ptenv select` shows what fits".into());
        }
    } else if !choice.gpu {
        c.fix = Some(
            "set `gpus: all` in ptenv.yaml (or --gpus all) once the driver and the GPU path work"
                .into(),
        );
    } else if let Some(line) = choice.line {
        c.fix = Some(format!(
            "update the NVIDIA driver to {} or newer for every feature of CUDA {}",
            line.full_feature_driver,
            line.cuda_str()
        ));
    }
    c
}

/// The image check with what the image says about itself: `c` is [`check_image`] of `choice`,
/// `verdict` is `select::judge_image` on the image's probed facts (the binary's `probe`), the
/// same facts `ptenv inspect` shows and `ptenv up` judges. For an image the catalog does not
/// describe, the verdict replaces "its tag does not say"; for a catalog image, a disagreement
/// with its row is a warning that names both, and an image that cannot run after all fails.
pub fn with_facts(mut c: Check, choice: &Choice, verdict: &ImageVerdict) -> Check {
    let image = &choice.image;
    let in_catalog = choice.line.is_some();
    if let Some(read) = verdict.reasons.first() {
        c.evidence.push(read.clone());
    }
    if !verdict.runs {
        let first = verdict
            .refusals
            .first()
            .map(|r| r.text.clone())
            .unwrap_or_default();
        let arch = verdict
            .refusals
            .first()
            .is_some_and(|r| r.kind == RefusalKind::NoGpuCode);
        if c.status == Status::Fail {
            c.evidence.push(format!("the image itself: it {first}"));
            return c;
        }
        c.status = Status::Fail;
        c.summary = format!(
            "{}{image} {first}",
            if arch { "architecture mismatch: " } else { "" }
        );
        c.evidence
            .extend(verdict.refusals.iter().skip(1).map(|r| format!("it {r}")));
        c.fix = Some(verdict.fixes.join("; "));
        return c;
    }
    if in_catalog {
        if let Some(d) = &verdict.disagreement {
            if c.status < Status::Warn {
                c.status = Status::Warn;
                c.summary = d.clone();
                c.fix = Some(
                    "ptenv goes by what the image says; tell ptenv's maintainers the catalog row is wrong (docs/compatibility.md §11 says how it is checked)".into(),
                );
            } else {
                c.evidence.push(d.clone());
            }
        }
        return c;
    }
    c.evidence.extend(verdict.reasons.iter().skip(1).cloned());
    // A CPU-only run stays the warning it is (check_image puts it first); an unknown tag,
    // the summary otherwise, is now known from the image.
    if choice.gpu {
        match verdict.warnings.first() {
            Some(w) => c.summary = w.clone(),
            None => {
                c.status = Status::Pass;
                c.summary =
                    format!("{image} fits this machine (judged from what the image contains)");
            }
        }
        c.evidence.extend(
            verdict
                .warnings
                .iter()
                .skip(1)
                .map(|w| format!("warning: {w}")),
        );
    }
    c
}

/// What is wrong with a catalog line on these GPUs and this driver (docs/compatibility.md
/// §2–§4).
fn judge_line(
    line: &Line,
    variant: Variant,
    facts: &HostFacts,
    choice: &Choice,
) -> Vec<(Status, String)> {
    let mut out = Vec::new();
    let tag = line.tag(variant);
    let gpus = if choice.gpus.is_empty() {
        &facts.gpus
    } else {
        &choice.gpus
    };
    for g in gpus {
        match line.covers(g.cc) {
            Coverage::None => {
                let older = line.oldest_sass().is_some_and(|o| g.cc < o);
                out.push((
                    Status::Fail,
                    if older {
                        format!(
                            "architecture mismatch: {tag} has no GPU code for GPU {} {}: it is older than the oldest code in the image ({}); PyTorch says the GPU \"is too old\"",
                            g.index,
                            describe_gpu(g),
                            line.oldest_sass().map(catalog::sm).unwrap_or_default()
                        )
                    } else {
                        format!(
                            "architecture mismatch: {tag} has no GPU code for GPU {} {} ({}): kernels fail with \"no kernel image is available for execution on the device\"",
                            g.index,
                            describe_gpu(g),
                            catalog::sm(g.cc)
                        )
                    },
                ));
            }
            Coverage::Ptx(p) => out.push((
                Status::Warn,
                format!(
                    "GPU {} {} runs {tag} only through PTX for {}.{}, JIT-compiled by the driver on first use (slow first start, and the driver must understand that PTX)",
                    g.index,
                    describe_gpu(g),
                    p.0,
                    p.1
                ),
            )),
            Coverage::Sass(_) => {}
        }
    }
    if let Some(d) = facts.driver.as_ref() {
        match variant {
            Variant::Devel if facts.driver_cuda().is_some_and(|c| c < line.cuda) => out.push((
                Status::Fail,
                format!(
                    "{tag} requires CUDA {} from the driver (NVIDIA_REQUIRE_CUDA), and driver {d} supports only CUDA {}: the container would not start (\"unsatisfied condition: cuda>={}\")",
                    line.cuda_str(),
                    facts.driver_cuda().map(|(a, b)| format!("{a}.{b}")).unwrap_or_default(),
                    line.cuda_str()
                ),
            )),
            _ if *d < line.floor() => out.push((
                Status::Fail,
                format!(
                    "driver {d} is older than {}, the oldest that runs CUDA {}.x: torch would say \"CUDA driver version is insufficient for CUDA runtime version\"",
                    line.driver_floor, line.cuda.0
                ),
            )),
            _ if line.needs_compat(facts.driver_cuda()) => out.push((
                Status::Warn,
                format!(
                    "driver {d} is older than {}, the driver of CUDA {}: the image runs under minor-version compatibility, with a limited feature set",
                    line.full_feature_driver,
                    line.cuda_str()
                ),
            )),
            _ => {}
        }
        if gpus.iter().any(|g| g.cc.0 >= 10) && d.branch() < 570 {
            // docs/compatibility.md §4.5, marked unverified there: a warning, not a failure.
            out.push((
                Status::Warn,
                format!("Blackwell GPUs need driver branch R570 or newer to be recognised at all; this machine has {d}"),
            ));
        }
    }
    out
}

/// One evidence line per GPU and the driver, for failures that come before a choice.
fn gpu_lines(facts: &HostFacts) -> Vec<String> {
    let mut out = vec![format!(
        "driver {} (CUDA {})",
        facts.driver.as_ref().map(|d| d.as_str()).unwrap_or("none"),
        facts
            .driver_cuda()
            .map(|(a, b)| format!("{a}.{b}"))
            .unwrap_or_else(|| "unknown".into())
    )];
    out.extend(facts.gpus.iter().map(|g| {
        format!(
            "GPU {}: {} ({})",
            g.index,
            describe_gpu(g),
            catalog::sm(g.cc)
        )
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Layer, Profile, Sources, Version};
    use crate::select;

    fn profile(layer: Layer) -> Profile {
        Sources::default().resolve("jupyter", &layer).unwrap()
    }

    use crate::testing::{gpu, nvml_host as host};

    fn check(layer: Layer, facts: &HostFacts) -> Check {
        let p = profile(layer);
        check_image(&select::choose(&p, facts), facts, None)
    }

    #[test]
    fn a_gpu_no_release_has_code_for_is_an_architecture_mismatch_for_latest() {
        let facts = host("470.256.02", vec![gpu(0, "NVIDIA Tesla K40m", (3, 5))]);
        let c = check(
            Layer {
                pytorch: Some(Version("latest".into())),
                ..Layer::default()
            },
            &facts,
        );
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.summary.starts_with("architecture mismatch: "), "{c:?}");
    }

    #[test]
    fn an_rtx_5090_on_2_6_is_an_architecture_mismatch_with_the_2_7_cu128_fix() {
        let facts = host(
            "570.124.06",
            vec![gpu(0, "NVIDIA GeForce RTX 5090", (12, 0))],
        );
        let c = check(Layer::default(), &facts);
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.summary.starts_with("architecture mismatch: "), "{c:?}");
        assert!(c.summary.contains("no kernel image"), "{c:?}");
        let fix = c.fix.unwrap();
        assert!(fix.contains("2.7.0-cuda12.8-cudnn9-runtime"), "{fix}");
        assert!(!fix.contains("ptenv doctor"));
        assert!(
            c.evidence.iter().any(|e| e.contains("sm_120")),
            "{:?}",
            c.evidence
        );
        // On 2.7 the same GPU fits.
        let c = check(
            Layer {
                pytorch: Some(Version("2.7".into())),
                ..Layer::default()
            },
            &facts,
        );
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert!(c.summary.contains("2.7.0-cuda12.8"));
    }

    #[test]
    fn a_pinned_image_without_code_for_the_gpu_fails_with_the_alternative() {
        let facts = host(
            "570.124.06",
            vec![gpu(0, "NVIDIA GeForce RTX 5090", (12, 0))],
        );
        let p = profile(Layer {
            cuda: Some(Version("12.4".into())),
            ..Layer::default()
        });
        let c = check_image(&select::choose(&p, &facts), &facts, Some("use 2.7 cu128"));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.summary.starts_with("architecture mismatch"), "{c:?}");
        assert_eq!(c.fix.as_deref(), Some("use 2.7 cu128"));
    }

    #[test]
    fn an_old_driver_fails_below_the_floor_and_warns_below_full_feature() {
        let facts = host("520.61.05", vec![gpu(0, "NVIDIA GeForce RTX 3090", (8, 6))]);
        let p = profile(Layer {
            cuda: Some(Version("12.4".into())),
            ..Layer::default()
        });
        let c = check_image(&select::choose(&p, &facts), &facts, None);
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.summary.contains("insufficient"), "{c:?}");
        let facts = host(
            "535.104.05",
            vec![gpu(0, "NVIDIA GeForce RTX 3090", (8, 6))],
        );
        let c = check(Layer::default(), &facts);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(
            c.fix.unwrap().contains("550.54.14"),
            "driver fix names the driver of the image's CUDA version"
        );
        let facts = host("550.54.15", vec![gpu(0, "NVIDIA GeForce RTX 3090", (8, 6))]);
        assert_eq!(check(Layer::default(), &facts).status, Status::Pass);
        // The CUDA 12.4 GA driver runs the 12.4.1 build of 2.6 with every feature.
        let facts = host("550.54.14", vec![gpu(0, "NVIDIA GeForce RTX 3090", (8, 6))]);
        assert_eq!(check(Layer::default(), &facts).status, Status::Pass);
    }

    #[test]
    fn mixed_gpus_that_no_image_covers_are_named() {
        let facts = host(
            "570.124.06",
            vec![
                gpu(0, "Tesla V100-SXM2-16GB", (7, 0)),
                gpu(1, "NVIDIA GeForce RTX 5090", (12, 0)),
            ],
        );
        let c = check(
            Layer {
                pytorch: Some(Version("2.7".into())),
                ..Layer::default()
            },
            &facts,
        );
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(
            c.summary.starts_with("architecture mismatch: no single"),
            "{c:?}"
        );
        assert!(
            c.evidence.iter().any(|e| e.contains("GPU 0"))
                && c.evidence.iter().any(|e| e.contains("GPU 1")),
            "{c:?}"
        );
        assert!(c.fix.is_some(), "{c:?}");
    }

    #[test]
    fn gpus_none_runs_on_the_cpu_and_warns() {
        let facts = host("550.54.15", vec![gpu(0, "NVIDIA GeForce RTX 3090", (8, 6))]);
        let c = check(
            Layer {
                gpus: Some(crate::profile::Gpus::None),
                ..Layer::default()
            },
            &facts,
        );
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(c.summary.contains("CPU"));
        assert!(c.fix.unwrap().contains("gpus: all"));
    }

    #[test]
    fn an_unknown_pinned_image_cannot_be_judged_from_its_tag() {
        let facts = host("550.54.15", vec![gpu(0, "NVIDIA GeForce RTX 3090", (8, 6))]);
        let c = check(
            Layer {
                image: Some("nvcr.io/nvidia/pytorch:24.05-py3".into()),
                ..Layer::default()
            },
            &facts,
        );
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(c.summary.contains("torch check"), "{c:?}");
    }

    #[test]
    fn an_unknown_image_is_judged_from_what_it_contains() {
        let ngc = "nvcr.io/nvidia/pytorch:24.05-py3";
        let layer = Layer {
            image: Some(ngc.into()),
            ..Layer::default()
        };
        let facts = crate::image_facts::tests::torch_fixture(&[]);
        let judge = |host: &HostFacts| {
            let p = profile(layer.clone());
            let choice = select::choose(&p, host);
            let c = check_image(&choice, host, None);
            let v = select::judge_image(&p, ngc, None, &facts, host).unwrap();
            with_facts(c, &choice.unwrap(), &v)
        };
        let c = judge(&host(
            "550.54.15",
            vec![gpu(0, "NVIDIA H100 80GB HBM3", (9, 0))],
        ));
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert!(
            c.summary.contains("judged from what the image contains"),
            "{c:?}"
        );
        assert!(c.evidence.iter().any(|e| e.contains("sm_90")), "{c:?}");
        let c = judge(&host(
            "570.124.06",
            vec![gpu(0, "NVIDIA GeForce RTX 5090", (12, 0))],
        ));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(
            c.summary.starts_with("architecture mismatch: nvcr.io"),
            "{c:?}"
        );
        assert!(c.fix.unwrap().contains("2.7.0-cuda12.8"));
        // A catalog image whose row disagrees with the image: a warning naming both.
        let p = profile(Layer::default());
        let host = host("550.54.15", vec![gpu(0, "NVIDIA GeForce RTX 3090", (8, 6))]);
        let choice = select::choose(&p, &host);
        let c = check_image(&choice, &host, None);
        assert_eq!(c.status, Status::Pass, "{c:?}");
        let none = crate::image_facts::ImageFacts {
            torch: None,
            problem: Some("PyTorch is not installed in the image".into()),
            ..facts.clone()
        };
        let image = "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime";
        let v =
            select::judge_image(&p, image, catalog::find("2.6.0", (12, 4)), &none, &host).unwrap();
        let choice = choice.unwrap();
        assert_eq!(choice.image, image);
        let c = with_facts(c, &choice, &v);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(
            c.summary
                .contains("the catalog says 2.6.0, the image has none"),
            "{c:?}"
        );
    }

    /// Doctor names an architecture mismatch by the kind of select's failure, and by the kind
    /// of the image's refusal, not by their words or by judging the catalog again.
    #[test]
    fn the_mismatch_is_decided_by_the_kind() {
        let facts = host("550.54.15", vec![gpu(0, "NVIDIA GeForce RTX 3090", (8, 6))]);
        let mismatch = SelectError::NoSingleImage {
            minor: "2.6".into(),
            gpus: vec!["a GPU".into()],
            partial: Vec::new(),
        };
        let c = check_image(&Err(mismatch), &facts, None);
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(
            c.summary.starts_with("architecture mismatch: no single"),
            "{c:?}"
        );
        // The same GPU that every line covers: the kind still decides.
        let driver = SelectError::DriverTooOld {
            driver: "550.54.15".into(),
            minor: "2.6".into(),
            variant: Variant::Runtime,
            misfits: Vec::new(),
            runtime_fits: false,
        };
        let c = check_image(&Err(driver), &facts, None);
        assert!(
            c.summary.starts_with("NVIDIA driver 550.54.15 is too old"),
            "{c:?}"
        );
        // A missing GPU: select's hints without the pointer to doctor itself.
        let p = profile(Layer {
            gpus: Some(crate::profile::Gpus::Count(2)),
            ..Layer::default()
        });
        let none = HostFacts::default();
        let c = check_image(&select::choose(&p, &none), &none, None);
        assert_eq!(
            c.fix.as_deref(),
            Some("run on the CPU with `--gpus none`, or `gpus: none` in ptenv.yaml")
        );
        // The image's own refusal: an architecture mismatch by its kind.
        let choice = select::choose(&profile(Layer::default()), &facts).unwrap();
        let verdict = |kind| ImageVerdict {
            runs: false,
            reasons: Vec::new(),
            refusals: vec![select::Refusal {
                kind,
                text: "cannot run here".into(),
            }],
            warnings: Vec::new(),
            fixes: Vec::new(),
            disagreement: None,
        };
        let pass = || check_image(&Ok(choice.clone()), &facts, None);
        let c = with_facts(pass(), &choice, &verdict(RefusalKind::NoGpuCode));
        assert!(c.summary.starts_with("architecture mismatch: "), "{c:?}");
        let c = with_facts(pass(), &choice, &verdict(RefusalKind::Driver));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(!c.summary.contains("architecture mismatch"), "{c:?}");
    }

    /// With no GPU requested, the evidence is the typed reason, as the user reads it.
    #[test]
    fn the_cpu_reason_is_the_choices() {
        let facts = HostFacts::default();
        let c = check(Layer::default(), &facts);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(
            c.evidence.iter().any(|e| e
                == "No NVIDIA driver was found on this machine, so the container runs on the CPU and no GPU is requested from Docker."),
            "{c:?}"
        );
    }
}
