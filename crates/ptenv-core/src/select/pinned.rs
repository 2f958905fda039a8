//! A pinned `image:` or `cuda:`: it wins, but is judged by the same rules and what fails
//! becomes a warning.

use super::*;

/// A pinned `image:`: checked as far as its tag allows; what fails becomes a warning.
pub(super) fn pinned_image(
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
        reasons.push(why.to_string());
    }
    let tag = catalog::parse_tag(image);
    let line = tag.as_ref().and_then(|t| catalog::find(&t.pytorch, t.cuda));
    let variant = tag.as_ref().map(|t| t.variant).unwrap_or(profile.variant);
    match (&tag, line) {
        (Some(t), Some(l)) => {
            let why = misfits(l, t.variant, facts, target);
            if why.is_empty() {
                if let Target::Gpus(gpus) = target {
                    reasons.extend(gpu_reasons(l, gpus));
                }
                if gpu {
                    if let Some(d) = facts.driver.as_ref() {
                        reasons.push(driver_reason(l, t.variant, d, facts));
                        if let Some(w) = compat_warning(l, t.variant, d, facts, target) {
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
                    (facts.driver.as_ref(), catalog::family_floor(t.cuda.0))
                {
                    match t.variant {
                        Variant::Runtime if *d < floor => warnings.push(format!(
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
