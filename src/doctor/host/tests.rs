use super::*;
use crate::gpu::Gpu;

/// A sysfs-like tree in a temp folder: the same layout the real one has.
struct Tree(tempfile::TempDir);

impl Tree {
    fn new() -> Tree {
        let t = Tree(tempfile::tempdir().unwrap());
        std::fs::create_dir_all(t.root().join("sys/bus/pci/devices")).unwrap();
        t
    }
    fn root(&self) -> &Path {
        self.0.path()
    }
    fn device(&self, addr: &str, vendor: &str, device: &str, class: &str, driver: Option<&str>) {
        let d = self.root().join("sys/bus/pci/devices").join(addr);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("vendor"), format!("{vendor}\n")).unwrap();
        std::fs::write(d.join("device"), format!("{device}\n")).unwrap();
        std::fs::write(d.join("class"), format!("{class}\n")).unwrap();
        if let Some(drv) = driver {
            std::os::unix::fs::symlink(format!("../../../bus/pci/drivers/{drv}"), d.join("driver"))
                .unwrap();
        }
    }
    fn write(&self, rel: &str, text: &str) {
        let p = self.root().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

#[test]
fn an_nvidia_display_controller_is_a_gpu_and_its_audio_function_is_not() {
    let t = Tree::new();
    // What this test machine's own bus looks like: virtio devices, an Intel bridge.
    t.device("0000:00:00.0", "0x8086", "0x1237", "0x060000", None);
    t.device(
        "0000:00:02.0",
        "0x1af4",
        "0x1001",
        "0x018000",
        Some("virtio-pci"),
    );
    let pci = read_pci(t.root());
    let c = check_pci(&pci, false);
    assert_eq!(c.status, Status::Fail, "{c:?}");
    assert!(c.evidence[0].contains("0x1af4, 0x8086"), "{c:?}");
    assert!(c.fix.unwrap().contains("NVIDIA GPU"));

    t.device(
        "0000:01:00.1",
        "0x10de",
        "0x22e8",
        "0x040300",
        Some("snd_hda_intel"),
    );
    assert_eq!(check_pci(&read_pci(t.root()), false).status, Status::Fail);
    t.device(
        "0000:01:00.0",
        "0x10de",
        "0x2b85",
        "0x030000",
        Some("nvidia"),
    );
    t.device("0000:02:00.0", "0x10de", "0x20b0", "0x030200", None);
    let pci = read_pci(t.root()).unwrap();
    assert_eq!(pci.iter().filter(|d| d.is_nvidia_gpu()).count(), 2);
    let c = check_pci(&Ok(pci), false);
    assert_eq!(c.status, Status::Pass);
    assert_eq!(c.summary, "2 NVIDIA GPUs on the PCI bus");
    assert!(
        c.evidence[0]
            .contains("0000:01:00.0: vendor 0x10de device 0x2b85 class 0x030000, driver nvidia"),
        "{c:?}"
    );
}

#[test]
fn an_unreadable_bus_warns_and_wsl_passes() {
    let c = check_pci(&read_pci(Path::new("/nonexistent-root")), false);
    assert_eq!(c.status, Status::Warn);
    let t = Tree::new();
    t.write("dev/dxg", "");
    assert!(is_wsl(t.root()));
    assert_eq!(check_pci(&Ok(vec![]), true).status, Status::Pass);
    assert_eq!(
        check_kernel(&KernelFacts::default(), &[], true).status,
        Status::Pass
    );
}

fn gpu_dev(addr: &str, driver: Option<&str>) -> PciDevice {
    PciDevice {
        address: addr.into(),
        vendor: NVIDIA_VENDOR,
        device: 0x2684,
        class: 0x030000,
        driver: driver.map(Into::into),
    }
}

#[test]
fn the_kernel_module_is_read_from_sysfs_then_proc() {
    let t = Tree::new();
    assert_eq!(read_kernel(t.root()), KernelFacts::default());
    t.write(
        "proc/driver/nvidia/version",
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n",
    );
    std::fs::create_dir_all(t.root().join("sys/module/nvidia")).unwrap();
    let k = read_kernel(t.root());
    assert!(k.nvidia_loaded);
    assert_eq!(k.nvidia_version.as_deref(), Some("550.54.15"));
    assert!(k
        .version_source
        .unwrap()
        .ends_with("proc/driver/nvidia/version"));
    t.write("sys/module/nvidia/version", "570.124.06\n");
    let k = read_kernel(t.root());
    assert_eq!(k.nvidia_version.as_deref(), Some("570.124.06"));
    let c = check_kernel(&k, &[gpu_dev("0000:01:00.0", Some("nvidia"))], false);
    assert_eq!(c.status, Status::Pass);
    assert_eq!(c.summary, "the NVIDIA kernel module (570.124.06) is loaded");
    assert_eq!(c.evidence[0], "0000:01:00.0: driven by nvidia");
}

#[test]
fn a_missing_module_nouveau_and_vfio_are_named() {
    let none = KernelFacts::default();
    let c = check_kernel(&none, &[gpu_dev("0000:01:00.0", None)], false);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.summary, "the NVIDIA kernel module is not loaded");
    assert!(c.fix.unwrap().contains("dkms"));

    let nouveau = KernelFacts {
        nouveau_loaded: true,
        ..KernelFacts::default()
    };
    let c = check_kernel(&nouveau, &[gpu_dev("0000:01:00.0", Some("nouveau"))], false);
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains("nouveau"), "{c:?}");
    assert!(c.fix.unwrap().contains("blacklist nouveau"));

    let loaded = KernelFacts {
        nvidia_loaded: true,
        ..KernelFacts::default()
    };
    let c = check_kernel(&loaded, &[gpu_dev("0000:01:00.0", Some("vfio-pci"))], false);
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains("vfio-pci"));
    let c = check_kernel(
        &loaded,
        &[
            gpu_dev("0000:01:00.0", Some("nvidia")),
            gpu_dev("0000:02:00.0", Some("vfio-pci")),
        ],
        false,
    );
    assert_eq!(c.status, Status::Warn);
    assert!(c.summary.contains("0000:02:00.0"), "{c:?}");
}

#[test]
fn a_gpu_bound_to_vfio_is_reserved_for_vms_even_without_the_nvidia_module() {
    let none = KernelFacts::default();
    let c = check_kernel(&none, &[gpu_dev("0000:01:00.0", Some("vfio-pci"))], false);
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
            gpu_dev("0000:01:00.0", Some("vfio-pci")),
            gpu_dev("0000:02:00.0", None),
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

use ptenv_core::testing::{nvml_host, rtx5090};

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

use super::super::Status;

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
        assert_eq!(c.status, crate::doctor::Status::Skip);
        assert!(
            c.summary.starts_with("not checked on ssh://gpu-box"),
            "{c:?}"
        );
        assert!(c.evidence.iter().any(|e| e.contains("aarch64")), "{c:?}");
    }
    assert_eq!(report.checks[2].status, crate::doctor::Status::Fail);
    assert!(report.unread.iter().any(|u| u.starts_with("cgroup: ")));
}
