use super::*;
use crate::doctor::Status;
use ptenv_core::testing::pci_gpu;

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
fn an_unreadable_bus_warns_and_dev_dxg_means_wsl() {
    let c = check_pci(&read_pci(Path::new("/nonexistent-root")), false);
    assert_eq!(c.status, Status::Warn);
    let t = Tree::new();
    t.write("dev/dxg", "");
    assert!(is_wsl(t.root()));
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
    let c = check_kernel(&k, &[pci_gpu("0000:01:00.0", Some("nvidia"))], false);
    assert_eq!(c.status, Status::Pass);
    assert_eq!(c.summary, "the NVIDIA kernel module (570.124.06) is loaded");
    assert_eq!(c.evidence[0], "0000:01:00.0: driven by nvidia");
}
