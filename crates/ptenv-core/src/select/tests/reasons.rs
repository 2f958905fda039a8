//! The sentences: pins, reasons, rejected lines, warnings, and every failure and CPU reason
//! as the user reads it.

use super::*;
use crate::testing::{a100s, gpu, nvml_host};

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
fn identical_gpus_are_one_reason_and_other_kinds_their_own() {
    let mut gpus = a100s(4);
    gpus.insert(2, gpu(2, "NVIDIA GeForce RTX 3090", (8, 6)));
    let c = pick(want("2.6"), nvml_host("550.54.15", gpus));
    let about = |who: &str| c.reasons.iter().filter(|r| r.contains(who)).count();
    assert_eq!(about("A100"), 1, "{c:#?}");
    assert!(has(&c.reasons, "Your 4 × A100"), "{c:#?}");
    assert_eq!(about("RTX 3090"), 1, "{c:#?}");
    assert!(has(&c.reasons, "Your RTX 3090 (Ampere"), "{c:#?}");
    // The kinds in the order the machine lists them.
    let first = |who: &str| c.reasons.iter().position(|r| r.contains(who));
    assert!(first("A100") < first("RTX 3090"), "{c:#?}");
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
    assert!(e.message().starts_with("Your Test GPU 12.0 (Blackwell, compute capability 12.0) needs GPU code built for its generation; PyTorch 2.6 images only contain code up to Hopper (9.0)"), "{e}");
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
/// Every way `choose` fails or falls back to the CPU, with the facts that cause it.
pub(crate) fn failure_scenarios() -> Vec<(&'static str, Profile, HostFacts)> {
    let smi_failed = |mut h: HostFacts| {
        h.source = Source::NvidiaSmi;
        h.problems = vec![Problem::Other {
            detail: "nvidia-smi: exit status 9: NVIDIA-SMI has failed".into(),
        }];
        h
    };
    vec![
        (
            "no_gpu_count",
            want("2.6").gpus("2").profile(),
            host(None, &[]),
        ),
        (
            "no_gpu_count_one_no_usable",
            want("2.6").gpus("1").profile(),
            host(Some("550.54.15"), &[]),
        ),
        (
            "no_gpu_devices_not_listed",
            want("2.6").gpus("device=0,1").profile(),
            smi_failed(host(Some("550.54.15"), &[])),
        ),
        (
            "no_gpu_devices_no_driver",
            want("2.6").gpus("device=0").profile(),
            host(None, &[]),
        ),
        (
            "too_few_gpus",
            want("2.6").gpus("4").profile(),
            host(Some("550.54.15"), &[(8, 6)]),
        ),
        (
            "no_such_device",
            want("2.6").gpus("device=7").profile(),
            host(Some("550.54.15"), &[(8, 6), (8, 9)]),
        ),
        (
            "no_release_with_cuda",
            want("latest").cuda("10.2").profile(),
            host(None, &[]),
        ),
        ("unknown_release", want("1.13").profile(), host(None, &[])),
        (
            "no_such_cuda_line",
            want("2.6").cuda("10.2").profile(),
            host(None, &[]),
        ),
        (
            "no_code_too_new_blackwell_driver",
            want("2.6").profile(),
            host(Some("550.54.15"), &[(12, 0)]),
        ),
        (
            "no_code_too_new",
            want("2.6").profile(),
            host(Some("570.124.06"), &[(12, 0)]),
        ),
        (
            "no_code_too_old",
            want("2.7").profile(),
            host(Some("550.54.15"), &[(3, 5)]),
        ),
        (
            "no_code_latest",
            want("latest").profile(),
            host(Some("470.256.02"), &[(3, 5)]),
        ),
        (
            "no_code_jetson",
            want("2.6").profile(),
            host(Some("550.54.15"), &[(8, 7)]),
        ),
        (
            "no_code_mixed_usable",
            want("2.6").profile(),
            host(Some("570.124.06"), &[(8, 6), (12, 0)]),
        ),
        (
            "no_single_image",
            want("2.7").profile(),
            host(Some("570.124.06"), &[(7, 0), (12, 0)]),
        ),
        (
            "driver_too_old_runtime",
            want("2.6").profile(),
            host(Some("440.33.01"), &[(8, 6)]),
        ),
        (
            "driver_too_old_devel",
            want("2.8").devel().profile(),
            host(Some("535.104.05"), &[(8, 6)]),
        ),
        (
            "cpu_gpus_none",
            want("2.6").gpus("none").profile(),
            host(Some("550.54.15"), &[(8, 6)]),
        ),
        ("cpu_no_driver", want("2.6").profile(), host(None, &[])),
        (
            "cpu_no_usable_gpu",
            want("2.6").profile(),
            host(Some("550.54.15"), &[]),
        ),
        (
            "cpu_gpus_not_listed",
            want("2.6").profile(),
            smi_failed(host(Some("550.54.15"), &[])),
        ),
        (
            "cpu_pinned_no_driver",
            want("2.6")
                .image("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime")
                .profile(),
            host(None, &[]),
        ),
    ]
}

/// What the user reads for a scenario: the error with its hints, or the CPU reason and the
/// reasons of the choice.
pub(crate) fn shown(profile: &Profile, facts: &HostFacts) -> String {
    match choose(profile, facts) {
        Ok(c) => format!(
            "cpu_reason: {}\nreasons: {}",
            c.cpu_reason.map(|r| r.to_string()).unwrap_or_default(),
            c.reasons.join("\n")
        ),
        Err(e) => {
            let e: crate::error::Error = e.into();
            format!("exit {}: {e}", e.code)
        }
    }
}

/// `rendered.txt` is what these scenarios printed when select's errors were built as text,
/// before the kinds: the kinds must render the same bytes.
#[test]
fn every_failure_and_cpu_reason_reads_as_before() {
    let before = include_str!("rendered.txt");
    let mut now = String::new();
    for (name, p, f) in failure_scenarios() {
        now.push_str(&format!("=== {name}\n{}\n", shown(&p, &f)));
    }
    for (b, n) in before.split("=== ").zip(now.split("=== ")) {
        assert_eq!(b, n);
    }
    assert_eq!(before, now);
}

/// Each scenario fails with the kind its name says (or chooses the CPU for that reason).
#[test]
fn every_failure_is_its_kind() {
    use SelectError as E;
    for (name, p, f) in failure_scenarios() {
        let got = choose(&p, &f);
        let ok = match (name, &got) {
            (
                "no_gpu_count",
                Err(E::NoGpu {
                    asked: Asked::Count(2),
                    cause: CpuReason::NoDriver,
                    ..
                }),
            ) => true,
            (
                "no_gpu_count_one_no_usable",
                Err(E::NoGpu {
                    asked: Asked::Count(1),
                    cause: CpuReason::NoUsableGpu { .. },
                    ..
                }),
            ) => true,
            (
                "no_gpu_devices_not_listed",
                Err(E::NoGpu {
                    asked: Asked::Devices(_),
                    cause: CpuReason::GpusNotListed { .. },
                    problem: Some(_),
                    ..
                }),
            ) => true,
            (
                "no_gpu_devices_no_driver",
                Err(E::NoGpu {
                    asked: Asked::Devices(_),
                    cause: CpuReason::NoDriver,
                    problem: None,
                    ..
                }),
            ) => true,
            (
                "too_few_gpus",
                Err(E::TooFewGpus {
                    asked: 4, have: 1, ..
                }),
            ) => true,
            ("no_such_device", Err(E::NoSuchDevice { .. })) => true,
            ("no_release_with_cuda", Err(E::NoReleaseWithCuda { .. })) => true,
            ("unknown_release", Err(E::UnknownRelease { .. })) => true,
            ("no_such_cuda_line", Err(E::NoSuchCudaLine { .. })) => true,
            ("no_code_too_new_blackwell_driver", Err(E::NoCodeForGpu { limit, instead, .. })) => {
                matches!(**limit, CodeLimit::TooNew { .. })
                    && matches!(
                        &**instead,
                        Instead::Release {
                            blackwell_driver: Some(_),
                            ..
                        }
                    )
            }
            (
                "no_code_too_new",
                Err(E::NoCodeForGpu {
                    limit,
                    instead,
                    usable,
                    ..
                }),
            ) => {
                matches!(**limit, CodeLimit::TooNew { .. })
                    && matches!(
                        &**instead,
                        Instead::Release {
                            blackwell_driver: None,
                            ..
                        }
                    )
                    && usable.is_empty()
            }
            ("no_code_too_old" | "no_code_latest", Err(E::NoCodeForGpu { limit, instead, .. })) => {
                matches!(**limit, CodeLimit::TooOld { .. })
                    && matches!(**instead, Instead::Nothing { .. })
            }
            ("no_code_jetson", Err(E::NoCodeForGpu { limit, instead, .. })) => {
                matches!(**limit, CodeLimit::Missing) && matches!(**instead, Instead::Jetson)
            }
            ("no_code_mixed_usable", Err(E::NoCodeForGpu { usable, .. })) => usable == &["0"],
            ("no_single_image", Err(E::NoSingleImage { partial, .. })) => partial.len() == 3,
            (
                "driver_too_old_runtime",
                Err(E::DriverTooOld {
                    runtime_fits: false,
                    misfits,
                    ..
                }),
            ) => misfits.len() == 3,
            (
                "driver_too_old_devel",
                Err(E::DriverTooOld {
                    runtime_fits: true, ..
                }),
            ) => true,
            ("cpu_gpus_none", Ok(c)) => c.cpu_reason == Some(CpuReason::GpusNone),
            ("cpu_no_driver" | "cpu_pinned_no_driver", Ok(c)) => {
                c.cpu_reason == Some(CpuReason::NoDriver) && !c.gpu
            }
            ("cpu_no_usable_gpu", Ok(c)) => {
                matches!(c.cpu_reason, Some(CpuReason::NoUsableGpu { .. }))
            }
            ("cpu_gpus_not_listed", Ok(c)) => {
                matches!(c.cpu_reason, Some(CpuReason::GpusNotListed { .. }))
            }
            _ => false,
        };
        assert!(ok, "{name}: {got:#?}");
        // Only the failures without code for the GPUs are architecture mismatches.
        if let Err(e) = &got {
            assert_eq!(
                e.is_arch_mismatch(),
                name.starts_with("no_code") || name == "no_single_image",
                "{name}"
            );
        }
    }
}

/// Doctor reads the hints without the pointer to itself; commands get it.
#[test]
fn the_doctor_hint_is_added_for_commands_only() {
    let e = choose(&want("2.6").gpus("2").profile(), &host(None, &[])).unwrap_err();
    assert!(
        e.hints().iter().all(|h| !h.contains("ptenv doctor")),
        "{e:?}"
    );
    let shown = crate::error::Error::from(e.clone());
    assert_eq!(shown.hints.len(), e.hints().len() + 1);
    assert_eq!(
        shown.hints.last().unwrap(),
        "`ptenv doctor` checks the driver step by step"
    );
}
