use super::*;
use crate::doctor::Status;
use crate::gpu::Gpu;
use crate::testing::{nvml_host, pci_gpu, rtx5090};

#[test]
fn wsl_passes_the_bus_and_the_kernel_links() {
    assert_eq!(check_pci(&Ok(vec![]), true).status, Status::Pass);
    assert_eq!(
        check_kernel(&KernelFacts::default(), &[], true).status,
        Status::Pass
    );
}

#[test]
fn a_missing_module_nouveau_and_vfio_are_named() {
    let none = KernelFacts::default();
    let c = check_kernel(&none, &[pci_gpu("0000:01:00.0", None)], false);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.summary, "the NVIDIA kernel module is not loaded");
    assert!(c.fix.unwrap().contains("dkms"));

    let nouveau = KernelFacts {
        nouveau_loaded: true,
        ..KernelFacts::default()
    };
    let c = check_kernel(&nouveau, &[pci_gpu("0000:01:00.0", Some("nouveau"))], false);
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains("nouveau"), "{c:?}");
    assert!(c.fix.unwrap().contains("blacklist nouveau"));

    let loaded = KernelFacts {
        nvidia_loaded: true,
        ..KernelFacts::default()
    };
    let c = check_kernel(&loaded, &[pci_gpu("0000:01:00.0", Some("vfio-pci"))], false);
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains("vfio-pci"));
    let c = check_kernel(
        &loaded,
        &[
            pci_gpu("0000:01:00.0", Some("nvidia")),
            pci_gpu("0000:02:00.0", Some("vfio-pci")),
        ],
        false,
    );
    assert_eq!(c.status, Status::Warn);
    assert!(c.summary.contains("0000:02:00.0"), "{c:?}");
}

#[test]
fn a_gpu_bound_to_vfio_is_reserved_for_vms_even_without_the_nvidia_module() {
    let none = KernelFacts::default();
    let c = check_kernel(&none, &[pci_gpu("0000:01:00.0", Some("vfio-pci"))], false);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.summary,
        "every NVIDIA GPU is bound to vfio-pci (reserved for virtual machines)"
    );
    assert!(c.fix.as_deref().unwrap().contains("vfio-pci.ids="), "{c:?}");
    assert!(!c.fix.as_deref().unwrap().contains("dkms"), "{c:?}");
    // One GPU for the VMs, one with no driver: the module is the link to fix, and the
    // reserved one is named.
    let c = check_kernel(
        &none,
        &[
            pci_gpu("0000:01:00.0", Some("vfio-pci")),
            pci_gpu("0000:02:00.0", None),
        ],
        false,
    );
    assert_eq!(c.summary, "the NVIDIA kernel module is not loaded");
    assert!(
        c.evidence
            .iter()
            .any(|e| e == "0000:01:00.0: driven by vfio-pci (reserved for virtual machines)"),
        "{c:?}"
    );
}

/// Driver 550.54.15 (CUDA 12.4) with `gpus`, as `source` gave them.
fn facts(source: Source, gpus: Vec<Gpu>, problems: &[Problem]) -> HostFacts {
    HostFacts {
        source,
        problems: problems.to_vec(),
        ..nvml_host("550.54.15", gpus)
    }
}

#[test]
fn nvml_passes_with_the_driver_its_cuda_and_every_gpu() {
    let c = check_nvml(&facts(Source::Nvml, vec![rtx5090()], &[]));
    assert_eq!(c.status, Status::Pass);
    assert_eq!(c.summary, "driver 550.54.15 (CUDA 12.4), 1 GPU");
    assert!(
        c.evidence[0].contains("RTX 5090, compute capability 12.0 (Blackwell)"),
        "{c:?}"
    );
    let c = check_nvml(&facts(Source::Nvml, vec![], &[]));
    assert_eq!(c.status, Status::Fail);
}

#[test]
fn a_gpu_that_does_not_answer_and_a_missing_libcuda_warn() {
    let c = check_nvml(&facts(
        Source::Nvml,
        vec![rtx5090()],
        &[Problem::GpuNotAnswering {
            index: 1,
            detail: "GPU is lost".into(),
        }],
    ));
    assert_eq!(c.status, Status::Warn, "{c:?}");
    assert!(
        c.summary
            .ends_with("but GPU 1 does not answer (GPU is lost); it is left out"),
        "{c:?}"
    );
    assert!(c.fix.unwrap().contains("Xid 79"));
    let c = check_nvml(&facts(
        Source::Nvml,
        vec![rtx5090()],
        &[Problem::CudaVersionUnread {
            detail: "NVML Shared Library Not Found".into(),
        }],
    ));
    assert_eq!(c.status, Status::Warn);
    assert!(c.fix.unwrap().contains("libcuda.so.1"));
}

#[test]
fn nvml_failing_is_named_with_its_cause() {
    let c = check_nvml(&HostFacts {
        problems: vec![Problem::NvmlUnavailable {
            detail: "libnvidia-ml.so.1 is not installed".into(),
        }],
        ..HostFacts::default()
    });
    assert_eq!(c.status, Status::Fail);
    assert!(c.evidence[0].contains("libnvidia-ml.so.1"));
    let c = check_nvml(&facts(
        Source::Sysfs,
        vec![],
        &[Problem::VersionMismatch {
            detail: "NVML: Driver/library version mismatch".into(),
        }],
    ));
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains("550.54.15"));
    assert!(c.fix.unwrap().contains("reboot"));
    let c = check_nvml(&facts(
        Source::Procfs,
        vec![],
        &[Problem::NvmlUnavailable {
            detail: "not found".into(),
        }],
    ));
    assert!(c.fix.unwrap().contains("libnvidia-ml.so.1"));
}

#[test]
fn without_the_agent_only_nvml_is_judged_and_the_rest_says_why() {
    let report = without_agent(
        crate::gpu::HostFacts::empty(),
        "ssh://gpu-box",
        "the server is Linux aarch64 and this ptenv is built for Linux x86_64",
    );
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id).collect();
    assert_eq!(ids, [id::PCI, id::KERNEL, id::NVML]);
    for c in &report.checks[..2] {
        assert_eq!(c.status, Status::Skip);
        assert!(
            c.summary.starts_with("not checked on ssh://gpu-box"),
            "{c:?}"
        );
        assert!(c.evidence.iter().any(|e| e.contains("aarch64")), "{c:?}");
    }
    assert_eq!(report.checks[2].status, Status::Fail);
    assert!(report.unread.iter().any(|u| u.starts_with("cgroup: ")));
}
