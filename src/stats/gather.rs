//! The facts `ptenv stats` attributes: NVML's load and processes, each process's container
//! (its `/proc/PID/cgroup`, docs/gpus.md §4) and ptenv's containers on the engine.

use std::collections::HashMap;

use super::{container_id, report, Env, Report};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ownership::owner;
use crate::project::{LABEL_PROFILE, LABEL_PROJECT};

/// One refresh: NVML read now, the cgroups of the processes it lists, the engine's list.
/// NVML's problems with one GPU come back as sentences beside the report.
pub async fn gather(engine: &Engine) -> Result<(Report, Vec<String>)> {
    let (usage, problems) = crate::gpu::usage().map_err(|why| {
        Error::new(format!("cannot read the GPUs' load: {why}"))
            .hint("`ptenv stats` needs the NVIDIA driver's NVML (libnvidia-ml.so.1) on this machine; `ptenv doctor` checks it")
    })?;
    let mut containers = HashMap::new();
    for p in usage.iter().flat_map(|u| &u.processes) {
        // A process that ended since NVML listed it has no cgroup file: it counts as "other".
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{}/cgroup", p.pid)) {
            if let Some(id) = container_id(&text) {
                containers.insert(p.pid, id);
            }
        }
    }
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
    Ok((report(&usage, &envs, &containers), problems))
}
