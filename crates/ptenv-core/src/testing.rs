//! GPU fixtures shared by the unit tests of the core and of the binary (the binary's tests get
//! them through the `test-support` feature, a dev-dependency feature): one RTX 5090 and one
//! host seen through NVML, instead of a copy in each test module.

use crate::catalog;
use crate::gpu::{Gpu, HostFacts, Source};

/// GPU 0, a GeForce RTX 5090 (Blackwell, compute capability 12.0, 32 GiB).
pub fn rtx5090() -> Gpu {
    Gpu {
        index: 0,
        name: "NVIDIA GeForce RTX 5090".into(),
        uuid: "GPU-1".into(),
        cc: (12, 0),
        memory_bytes: 32 << 30,
        arch: None,
    }
}

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
