//! Fake machines for the fake NVML (tests/nvml/fake_nvml.c, loaded through `PTENV_NVML_LIB`):
//! the scenarios several tests share, and the one way a test puts a command on one.
//!
//! A scenario is the fake library's statements: `driver VERSION`, `cuda N` (NVML's CUDA
//! version, 12040 for 12.4), `gpu CC MEMORY UUID ARCH NAME…`, `gpu_error INDEX CODE`,
//! `init_error CODE`, `load INDEX GPU% MEM%`, `process INDEX PID BYTES` (a compute process;
//! the GPU's used memory is the sum of its processes').

use std::path::{Path, PathBuf};

use super::{fake_nvml_lib, Project, Run};

/// An RTX A5000 (Ampere, 8.6) on driver 550.54.15.
pub const RTX_A5000: &str = "driver 550.54.15\ncuda 12040\ngpu 8.6 25769803776 GPU-11111111-2222-3333-4444-555555555555 AMPERE NVIDIA RTX A5000\n";

/// An RTX 3090 (Ampere, 8.6) on driver 550.54.15.
pub const RTX_3090: &str = "driver 550.54.15\ncuda 12040\ngpu 8.6 25769803776 GPU-3090-0000 AMPERE NVIDIA GeForce RTX 3090\n";

/// An RTX 5090 (Blackwell, 12.0) on driver 570.124.06: only PyTorch 2.7+ has code for it.
pub const RTX_5090: &str = "driver 570.124.06\ncuda 12080\ngpu 12.0 34190917632 GPU-8a1b2c3d-0000-4000-8000-000000005090 BLACKWELL NVIDIA GeForce RTX 5090\n";

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
