//! The facts `ptenv stats` attributes: NVML's load and processes, each process's container
//! (its `/proc/PID/cgroup`, docs/gpus.md §4), both read on the engine's machine (here, or on a
//! server by ptenv's agent), and ptenv's containers on the engine.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{container_id, report, Env, Report};
use crate::engine::Engine;
use crate::error::Result;
use crate::gpu::usage::Usage;
use crate::ownership::owner;
use crate::project::{LABEL_PROFILE, LABEL_PROJECT};

/// What the machine with the GPUs says at one moment: NVML's load and processes, NVML's
/// problems with single GPUs as sentences, and the container of each process that has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    pub usage: Vec<Usage>,
    pub problems: Vec<String>,
    pub containers: HashMap<u32, String>,
}

/// NVML read now on this machine, and the cgroups of the processes it lists; why not, when
/// NVML cannot be read.
pub fn read_here() -> std::result::Result<Reading, String> {
    let (usage, problems) = crate::gpu::usage()?;
    let mut containers = HashMap::new();
    for p in usage.iter().flat_map(|u| &u.processes) {
        // A process that ended since NVML listed it has no cgroup file: it counts as "other".
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{}/cgroup", p.pid)) {
            if let Some(id) = container_id(&text) {
                containers.insert(p.pid, id);
            }
        }
    }
    Ok(Reading {
        usage,
        problems,
        containers,
    })
}

/// One refresh: the machine's reading, the engine's list. NVML's problems with one GPU come
/// back as sentences beside the report.
pub async fn gather(
    engine: &Engine,
    machine: &dyn crate::host::Machine,
) -> Result<(Report, Vec<String>)> {
    let reading = machine.gpu_usage()?;
    let envs: Vec<Env> = engine
        .list(None)
        .await?
        .into_iter()
        .map(|c| Env {
            project: c.label(LABEL_PROJECT).to_string(),
            profile: c.label(LABEL_PROFILE).to_string(),
            user: owner(&c.labels).unwrap_or_default(),
            name: c.name,
            id: c.id,
        })
        .collect();
    Ok((
        report(&reading.usage, &envs, &reading.containers),
        reading.problems,
    ))
}
