//! What the GPUs are doing now: NVML's utilisation, memory used and compute processes per GPU
//! (docs/gpus.md §3). The binary reads them (`gpu::usage`); `allocate` and `stats` judge them.

use serde::{Deserialize, Serialize};

/// One GPU's load at the moment it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub index: u32,
    pub uuid: String,
    pub name: String,
    pub memory_total: u64,
    pub memory_used: u64,
    /// Percent of the last sample period in which a kernel ran (NVML's `gpu` utilisation).
    pub utilization: u32,
    /// The compute processes NVML lists, with host PIDs (NVML reports the host's PID
    /// namespace).
    pub processes: Vec<Process>,
}

/// A compute process on a GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    /// GPU memory it holds, when the driver says (it does not under some MIG/Windows setups).
    pub memory: Option<u64>,
}

impl Usage {
    /// Whether anything runs there: a process, memory in use, or utilisation.
    pub fn busy(&self) -> bool {
        !self.processes.is_empty() || self.memory_used > 0 || self.utilization > 0
    }
}
