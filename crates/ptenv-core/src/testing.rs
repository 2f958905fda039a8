//! GPU and host fixtures shared by the unit tests of the core and of the binary (the binary's
//! tests get them through the `test-support` feature, a dev-dependency feature), and the
//! profile a selection test asks for ([`want`]): one set instead of a copy in each test module.

use crate::catalog::{self, Cc};
use crate::gpu::{Gpu, HostFacts, Source};
use crate::profile::{Gpus, Layer, Profile, Sources, Variant, Version};

/// GPU `index` named `name` with compute capability `cc` (24 GiB, UUID `GPU-<index>`).
pub fn gpu(index: u32, name: &str, cc: Cc) -> Gpu {
    Gpu {
        index,
        name: name.into(),
        uuid: format!("GPU-{index}"),
        cc,
        memory_bytes: 24 << 30,
        arch: None,
    }
}

/// `n` A100s (compute capability 8.0, 80 GiB), GPUs 0 to n-1.
pub fn a100s(n: u32) -> Vec<Gpu> {
    (0..n)
        .map(|index| Gpu {
            memory_bytes: 80 << 30,
            ..gpu(index, "NVIDIA A100-SXM4-80GB", (8, 0))
        })
        .collect()
}

/// GPU 0, a GeForce RTX 5090 (Blackwell, compute capability 12.0, 32 GiB).
pub fn rtx5090() -> Gpu {
    Gpu {
        uuid: "GPU-1".into(),
        memory_bytes: 32 << 30,
        ..gpu(0, "NVIDIA GeForce RTX 5090", RTX_5090)
    }
}

/// The RTX 5090's compute capability.
pub const RTX_5090: Cc = (12, 0);

/// An x86_64 host whose NVML answered with `driver` (its CUDA version from the driver branch)
/// and `gpus`, and no problems.
pub fn nvml_host(driver: &str, gpus: Vec<Gpu>) -> HostFacts {
    let d = catalog::driver(driver);
    HostFacts {
        cuda_driver: catalog::cuda_for_driver(&d),
        driver: Some(d),
        gpus,
        source: Source::Nvml,
        problems: vec![],
        machine: "x86_64".into(),
    }
}

/// An x86_64 host where no source found an NVIDIA driver, with `gpus` and `problems`.
pub fn driverless_host(gpus: Vec<Gpu>, problems: &[&str]) -> HostFacts {
    HostFacts {
        gpus,
        source: Source::None,
        problems: problems.iter().map(|p| (*p).into()).collect(),
        machine: "x86_64".into(),
        ..HostFacts::default()
    }
}

/// A host seen through NVML: `driver` and one GPU per compute capability, named
/// `NVIDIA Test GPU <cc>` (1 GiB); no driver: no source found one (and no problems).
pub fn host(driver: Option<&str>, ccs: &[Cc]) -> HostFacts {
    let gpus = ccs
        .iter()
        .enumerate()
        .map(|(i, cc)| Gpu {
            memory_bytes: 1 << 30,
            ..gpu(i as u32, &format!("NVIDIA Test GPU {}.{}", cc.0, cc.1), *cc)
        })
        .collect();
    match driver {
        Some(d) => nvml_host(d, gpus),
        None => driverless_host(gpus, &[]),
    }
}

/// Whether a sentence of `list` contains `phrase`.
pub fn has(list: &[String], phrase: &str) -> bool {
    list.iter().any(|w| w.contains(phrase))
}

/// The profile a selection test asks for: `want("2.6").devel().gpus("1").profile()`.
pub struct Want {
    pytorch: &'static str,
    variant: Variant,
    cuda: Option<&'static str>,
    image: Option<&'static str>,
    gpus: Option<Gpus>,
}

/// PyTorch `pytorch` (`2.6`, `2.7.0`, `latest`), runtime, the rest as the built-in profile.
pub fn want(pytorch: &'static str) -> Want {
    Want {
        pytorch,
        variant: Variant::Runtime,
        cuda: None,
        image: None,
        gpus: None,
    }
}

impl Want {
    pub fn devel(mut self) -> Want {
        self.variant = Variant::Devel;
        self
    }
    pub fn cuda(mut self, c: &'static str) -> Want {
        self.cuda = Some(c);
        self
    }
    pub fn image(mut self, i: &'static str) -> Want {
        self.image = Some(i);
        self
    }
    pub fn gpus(mut self, g: &str) -> Want {
        self.gpus = Some(Gpus::parse(g).unwrap());
        self
    }
    /// The built-in `jupyter` profile with these settings.
    pub fn profile(&self) -> Profile {
        let layer = Layer {
            pytorch: Some(Version(self.pytorch.into())),
            variant: Some(self.variant),
            cuda: self.cuda.map(|c| Version(c.into())),
            image: self.image.map(str::to_string),
            gpus: self.gpus.clone(),
            ..Layer::default()
        };
        Sources::default().resolve("jupyter", &layer).unwrap()
    }
}

/// An NVIDIA GPU (an RTX 4090's ids, VGA class) at PCI `address`, driven by `driver`.
pub fn pci_gpu(address: &str, driver: Option<&str>) -> crate::doctor::host::PciDevice {
    crate::doctor::host::PciDevice {
        address: address.into(),
        vendor: crate::doctor::host::NVIDIA_VENDOR,
        device: 0x2684,
        class: 0x030000,
        driver: driver.map(Into::into),
    }
}
