//! Fake machines for the fake NVML (tests/nvml/fake_nvml.c, loaded through `PTENV_NVML_LIB`):
//! the scenarios several tests share, and the one way a test puts a command on one.
//!
//! A scenario is the fake library's statements: `driver VERSION`, `cuda N` (NVML's CUDA
//! version, 12040 for 12.4), `gpu CC MEMORY UUID ARCH NAME…`, `gpu_error INDEX CODE`,
//! `init_error CODE`, `load INDEX GPU% MEM%`, `process INDEX PID BYTES` (a compute process;
//! the GPU's used memory is the sum of its processes').

use std::path::{Path, PathBuf};

use super::{fake_nvml_lib, Project, Run};

/// One GPU as the fake NVML lists it (`gpu CC MEMORY UUID ARCH NAME`), or a driver's lines
/// (`driver VERSION` and NVML's CUDA version): literals, so that the scenarios below are
/// `concat!`s of them.
macro_rules! nvml {
    (RTX_A5000) => { "gpu 8.6 25769803776 GPU-11111111-2222-3333-4444-555555555555 AMPERE NVIDIA RTX A5000\n" };
    (RTX_3090) => { "gpu 8.6 25769803776 GPU-3090-0000 AMPERE NVIDIA GeForce RTX 3090\n" };
    (RTX_5090) => { "gpu 12.0 34190917632 GPU-8a1b2c3d-0000-4000-8000-000000005090 BLACKWELL NVIDIA GeForce RTX 5090\n" };
    (H100) => { "gpu 9.0 85520809984 GPU-0b4f43c9-1b5e-7d59-3f6f-1a2b3c4d5e6f HOPPER NVIDIA H100 80GB HBM3\n" };
    (A100) => { "gpu 8.0 85899345920 GPU-a100-0000 AMPERE NVIDIA A100-SXM4-80GB\n" };
    (V100) => { "gpu 7.0 17179869184 GPU-v100-0000 VOLTA Tesla V100-SXM2-16GB\n" };
    (GTX_1080) => { "gpu 6.1 8589934592 GPU-10800000-0000-4000-8000-000000001080 PASCAL NVIDIA GeForce GTX 1080\n" };
    (R470) => { "driver 470.256.02\ncuda 11040\n" };
    (R550) => { "driver 550.54.15\ncuda 12040\n" };
    (R570) => { "driver 570.124.06\ncuda 12080\n" };
    (R580) => { "driver 580.95.05\ncuda 13000\n" };
}

/// The GPUs of the scenarios, one line each, for a test that builds its own machine.
pub mod card {
    pub const RTX_3090: &str = nvml!(RTX_3090);
    pub const GTX_1080: &str = nvml!(GTX_1080);
}

/// An RTX A5000 (Ampere, 8.6) on driver 550.54.15.
pub const RTX_A5000: &str = concat!(nvml!(R550), nvml!(RTX_A5000));

/// An RTX 3090 (Ampere, 8.6) on driver 550.54.15.
pub const RTX_3090: &str = concat!(nvml!(R550), nvml!(RTX_3090));

/// An RTX 3090 on driver 470.256.02 (CUDA 11.4: no CUDA 12 image runs).
pub const RTX_3090_R470: &str = concat!(nvml!(R470), nvml!(RTX_3090));

/// An RTX 5090 (Blackwell, 12.0) on driver 570.124.06: only PyTorch 2.7+ has code for it.
pub const RTX_5090: &str = concat!(nvml!(R570), nvml!(RTX_5090));

/// An H100 (Hopper, 9.0) on driver 550.54.15.
pub const H100: &str = concat!(nvml!(R550), nvml!(H100));

/// An H100 on driver 580.95.05 (CUDA 13.0).
pub const H100_R580: &str = concat!(nvml!(R580), nvml!(H100));

/// An RTX 3090 (GPU 0) and an H100 (GPU 1) on driver 550.54.15.
pub const RTX_3090_H100: &str = concat!(nvml!(R550), nvml!(RTX_3090), nvml!(H100));

/// An RTX 3090 (GPU 0) and an RTX 5090 (GPU 1) on driver 570.124.06: no PyTorch 2.6 image has
/// code for both.
pub const RTX_3090_5090: &str = concat!(nvml!(R570), nvml!(RTX_3090), nvml!(RTX_5090));

/// A V100 (Volta, 7.0) and an RTX 5090 on driver 570.124.06: no image has code for both.
pub const V100_5090: &str = concat!(nvml!(R570), nvml!(V100), nvml!(RTX_5090));

/// An A100 on driver 535.104.05 whose NVML gives no CUDA version (no libcuda).
pub const A100_R535_NO_CUDA: &str = concat!("driver 535.104.05\n", nvml!(A100));

/// A GTX 1080 (Pascal, 6.1) on driver `driver` with NVML's CUDA version `cuda` (12040 for
/// 12.4).
pub fn gtx_1080(driver: &str, cuda: u32) -> String {
    format!("driver {driver}\ncuda {cuda}\n{}", card::GTX_1080)
}

/// A machine whose NVIDIA kernel module is not loaded.
pub const DRIVER_NOT_LOADED: &str = "init_error DRIVER_NOT_LOADED\n";

impl Project {
    /// Writes `scenario` as this project's machine (in its home); the file to pass to
    /// [`Run::fake_gpus`].
    pub fn gpu_scenario(&self, scenario: &str) -> PathBuf {
        let file = self.home().join("nvml-scenario");
        std::fs::write(&file, scenario).expect("write the fake NVML scenario");
        file
    }
}

impl Run {
    /// Runs on the machine of the scenario file `file` (see [`Project::gpu_scenario`]), with the
    /// fake NVML loaded through `PTENV_NVML_LIB`.
    pub fn fake_gpus(self, file: &Path) -> Run {
        self.fake_gpus_file(file)
            .env("PTENV_NVML_LIB", fake_nvml_lib())
    }

    /// The scenario file alone, for tests that load the fake library another way.
    pub fn fake_gpus_file(self, file: &Path) -> Run {
        self.env("PTENV_FAKE_NVML_SCENARIO", file)
    }
}

/// Four A100s with nothing running: the shared server of the sharing tests, before the
/// `load`/`process` lines that make some busy are added.
pub const FOUR_A100: &str = "driver 550.54.15\ncuda 12040\n\
gpu 8.0 85899345920 GPU-a100-0000 AMPERE NVIDIA A100-SXM4-80GB\n\
gpu 8.0 85899345920 GPU-a100-0001 AMPERE NVIDIA A100-SXM4-80GB\n\
gpu 8.0 85899345920 GPU-a100-0002 AMPERE NVIDIA A100-SXM4-80GB\n\
gpu 8.0 85899345920 GPU-a100-0003 AMPERE NVIDIA A100-SXM4-80GB\n";

/// Held by every test that makes containers on the test bed's GPU engine (directly or over
/// TLS): a count takes the GPUs no other container there holds, so a test counting free GPUs
/// must not meet another test's containers.
pub fn gpu_engine_exclusive() -> std::sync::MutexGuard<'static, ()> {
    static ENGINE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ENGINE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
