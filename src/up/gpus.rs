//! The GPU facts `up` needs from the engine and NVML before it plans: a count made devices
//! (the GPUs no other environment holds, the least busy: `allocate`, docs/gpus.md §5), and
//! whether the engine's default runtime is `nvidia` (then no GPU must be said as
//! `NVIDIA_VISIBLE_DEVICES=void`, docs/gpus.md §2).

use crate::allocate::{allocate, Holder};
use crate::engine::{block_on, Engine};
use crate::error::Result;
use crate::gpu::HostFacts;
use crate::host::Machine;
use crate::output::Printer;
use crate::ownership::owner;
use crate::plan::LABEL_GPUS;
use crate::profile::{Gpus, Profile};
use crate::project::{Project, LABEL_PROJECT};

/// With `gpus: N` on a machine whose GPUs are known, the devices to take instead (said on
/// stderr with the reasons); the profile unchanged otherwise.
pub fn decide_count(
    profile: Profile,
    facts: &HostFacts,
    machine: &dyn Machine,
    project: &Project,
    p: &Printer,
) -> Result<Profile> {
    let Gpus::Count(n) = profile.gpus else {
        return Ok(profile);
    };
    if facts.gpus.is_empty() {
        // `select` says why no GPU can be used.
        return Ok(profile);
    }
    let own = project.container_name(&profile.name);
    let containers = block_on(async { Engine::connect().await?.list(None).await })?;
    // The environment's own container keeps its GPUs when it still asks for as many: a
    // second `up` must not move it (that would recreate it) because its own work made them busy.
    if let Some(c) = containers.iter().find(|c| c.name == own) {
        let kept: Vec<String> = c
            .label(LABEL_GPUS)
            .split(',')
            .filter(|d| facts.gpus.iter().any(|g| g.index.to_string() == *d))
            .map(str::to_string)
            .collect();
        if kept.len() == n as usize {
            p.info(format!(
                "{n} GPU{} asked for: keeping GPU {} of {own}.",
                if n == 1 { "" } else { "s" },
                kept.join(", ")
            ));
            return Ok(Profile {
                gpus: Gpus::Devices(kept),
                ..profile
            });
        }
    }
    let holders: Vec<Holder> = containers
        .iter()
        .filter(|c| c.name != own)
        .map(|c| Holder {
            container: c.name.clone(),
            project: c.label(LABEL_PROJECT).to_string(),
            user: owner(&c.labels).unwrap_or_default(),
            devices: c.label(LABEL_GPUS).to_string(),
        })
        .collect();
    // The load of the machine that has the GPUs: on a server, read there by ptenv's agent.
    let usage = match machine.gpu_usage() {
        Ok(reading) => reading.usage,
        Err(why) => {
            p.warn(format!("{}; free GPUs are taken by index", why.message));
            Vec::new()
        }
    };
    let a = allocate(n, &facts.gpus, &usage, &holders)?;
    for r in &a.reasons {
        p.info(r);
    }
    Ok(Profile {
        gpus: Gpus::Devices(a.devices),
        ..profile
    })
}

/// Whether the engine runs containers with NVIDIA's runtime by default. Asked only when no GPU
/// is requested, of the engine the command already talks to (one connection per command); an
/// engine that does not answer here fails later with its own error.
pub async fn nvidia_default_runtime(engine: &Engine, wants_none: bool) -> bool {
    if !wants_none {
        return false;
    }
    engine
        .doctor_info()
        .await
        .is_ok_and(|info| info.default_runtime.as_deref() == Some("nvidia"))
}
