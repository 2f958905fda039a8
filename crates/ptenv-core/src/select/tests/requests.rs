//! `latest`, the driver and CUDA decisions and their warnings, and the GPU request: the CPU,
//! GPUs that cannot be listed or reached.

use super::*;

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
        c.rejected.iter().any(
            |r| r.image.contains("cuda13.0") && r.reasons[0].contains("compute capability 6.1")
        ),
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
fn gpus_of_a_machine_out_of_reach_take_a_pinned_image_unchecked() {
    let mut facts = host(None, &[]);
    facts.source = Source::Unreachable;
    facts.problems = vec!["the GPUs of tcp://gpu-box:2376 (TLS) are unknown".into()];
    let e = choose(&want("2.6").profile(), &facts).unwrap_err();
    assert!(
        matches!(e, SelectError::GpusUnknown { some: false, .. }),
        "{e:?}"
    );
    assert!(
        e.message()
            .contains("asks for all GPUs, but the GPUs of tcp://gpu-box:2376 (TLS) are unknown"),
        "{e}"
    );
    assert!(
        has(&e.hints(), "ptenv select --driver VERSION --gpu CC"),
        "{e}"
    );
    let e = choose(&want("2.6").gpus("2").profile(), &facts).unwrap_err();
    assert!(e.message().contains("asks for GPUs"), "{e}");
    let c = pick(
        want("2.6").image("registry.lab/pytorch:cu124"),
        facts.clone(),
    );
    assert!(c.gpu, "the pinned image gets the GPU request: {c:#?}");
    assert_eq!(c.image, "registry.lab/pytorch:cu124");
    assert!(has(&c.warnings, "not checked"), "{c:#?}");
    let c = pick(want("2.6").gpus("none"), facts);
    assert!(!c.gpu);
}
