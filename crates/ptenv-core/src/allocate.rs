//! A count of GPUs (`gpus: 2`, `--gpus 2`) becomes devices: the GPUs no other ptenv
//! environment holds, the least memory used first, then the least utilisation, then the lower
//! index (docs/gpus.md §5). Docker itself would take GPUs 0..N-1 whether busy or not
//! (docs/gpus.md §1).

use crate::error::{Error, Result};
use crate::gpu::usage::Usage;
use crate::gpu::Gpu;

/// A container of another environment and the GPUs its devices label records.
#[derive(Debug, Clone)]
pub struct Holder {
    pub container: String,
    pub project: String,
    /// Its owner, empty when not recorded.
    pub user: String,
    /// The label's value: `all`, `none`, or indexes/UUIDs separated by commas.
    pub devices: String,
}

impl Holder {
    fn holds(&self, g: &Gpu) -> bool {
        match self.devices.as_str() {
            "all" => true,
            "" | "none" => false,
            list => list
                .split(',')
                .any(|d| d == g.index.to_string() || d.eq_ignore_ascii_case(&g.uuid)),
        }
    }

    fn describe(&self) -> String {
        let user = if self.user.is_empty() {
            "owner not recorded".to_string()
        } else {
            format!("user {}", self.user)
        };
        format!("{} ({user}, project {})", self.container, self.project)
    }
}

/// The GPUs a count took, by index, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub devices: Vec<String>,
    pub reasons: Vec<String>,
}

/// Pick `count` GPUs of `gpus`: free of `holders` (the other environments' containers), the
/// least busy by `usage` (empty when NVML gave no load: then by index).
pub fn allocate(
    count: u32,
    gpus: &[Gpu],
    usage: &[Usage],
    holders: &[Holder],
) -> Result<Allocation> {
    let count = count as usize;
    if count > gpus.len() {
        return Err(Error::new(format!(
            "{count} GPUs were asked for, but this machine has {}",
            gpus.len()
        ))
        .hint(format!(
            "ask for at most {} (`--gpus {}`), or `--gpus all`",
            gpus.len(),
            gpus.len()
        )));
    }
    let load = |g: &Gpu| usage.iter().find(|u| u.index == g.index);
    let (held, mut free): (Vec<&Gpu>, Vec<&Gpu>) = gpus
        .iter()
        .partition(|g| holders.iter().any(|h| h.holds(g)));
    // Least memory used, then least utilisation, then the lower index: a stable order on ties.
    free.sort_by_key(|g| {
        let u = load(g);
        (
            u.map_or(0, |u| u.memory_used),
            u.map_or(0, |u| u.utilization),
            g.index,
        )
    });
    if count > free.len() {
        let who: Vec<String> = held
            .iter()
            .map(|g| {
                let by: Vec<String> = holders
                    .iter()
                    .filter(|h| h.holds(g))
                    .map(Holder::describe)
                    .collect();
                format!("GPU {} is held by {}", g.index, by.join(" and "))
            })
            .collect();
        return Err(Error::new(format!(
            "{count} GPUs were asked for, but only {} of this machine's {} are free: {}",
            free.len(),
            gpus.len(),
            who.join("; ")
        ))
        .hint(format!(
            "ask for {} (`--gpus {}`), or ask the holders to stop theirs (`ptenv ls --all-users` shows them)",
            free.len(),
            free.len()
        ))
        .hint("or name the GPUs to share one on purpose: `--gpus device=0`"));
    }
    let taken = &free[..count];
    let mut reasons = vec![format!(
        "{count} GPU{} asked for: took {} ({}).",
        if count == 1 { " was" } else { "s were" },
        taken
            .iter()
            .map(|g| format!("GPU {}", g.index))
            .collect::<Vec<_>>()
            .join(", "),
        if usage.is_empty() {
            "NVML gave no load, so by index".to_string()
        } else {
            taken
                .iter()
                .map(|g| match load(g) {
                    Some(u) => format!(
                        "GPU {}: {} MiB used, {}% busy",
                        g.index,
                        u.memory_used >> 20,
                        u.utilization
                    ),
                    None => format!("GPU {}: no load reported", g.index),
                })
                .collect::<Vec<_>>()
                .join("; ")
        }
    )];
    if !held.is_empty() {
        reasons.push(format!(
            "Left out: {}.",
            held.iter()
                .map(|g| {
                    let by: Vec<String> = holders
                        .iter()
                        .filter(|h| h.holds(g))
                        .map(|h| h.container.clone())
                        .collect();
                    format!("GPU {} (held by {})", g.index, by.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let passed_over: Vec<String> = free[count..]
        .iter()
        .map(|g| format!("GPU {}", g.index))
        .collect();
    if !passed_over.is_empty() {
        reasons.push(format!(
            "Free but busier (or later in order): {}.",
            passed_over.join(", ")
        ));
    }
    Ok(Allocation {
        devices: taken.iter().map(|g| g.index.to_string()).collect(),
        reasons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::usage::Process;

    use crate::testing::a100s as gpus;

    fn load(index: u32, used: u64, util: u32) -> Usage {
        Usage {
            index,
            uuid: format!("GPU-{index}"),
            name: "NVIDIA A100-SXM4-80GB".into(),
            memory_total: 80 << 30,
            memory_used: used,
            utilization: util,
            processes: if used > 0 {
                vec![Process {
                    pid: 42,
                    memory: Some(used),
                }]
            } else {
                vec![]
            },
        }
    }

    fn holder(container: &str, user: &str, devices: &str) -> Holder {
        Holder {
            container: container.into(),
            project: "/srv/p".into(),
            user: user.into(),
            devices: devices.into(),
        }
    }

    #[test]
    fn a_count_takes_the_idle_gpus_in_a_stable_order() {
        // GPUs 0 and 2 busy (a process outside ptenv), 1 and 3 idle.
        let usage = [
            load(0, 40 << 30, 90),
            load(1, 0, 0),
            load(2, 10 << 30, 50),
            load(3, 0, 0),
        ];
        let a = allocate(2, &gpus(4), &usage, &[]).unwrap();
        assert_eq!(a.devices, ["1", "3"]);
        assert!(
            a.reasons[0].contains("took GPU 1, GPU 3"),
            "{:?}",
            a.reasons
        );
        // The next least used is GPU 2 (10 GiB), before GPU 0 (40 GiB).
        let a = allocate(3, &gpus(4), &usage, &[]).unwrap();
        assert_eq!(a.devices, ["1", "3", "2"]);
        // Without NVML's load: by index.
        let a = allocate(2, &gpus(4), &[], &[]).unwrap();
        assert_eq!(a.devices, ["0", "1"]);
        assert!(a.reasons[0].contains("by index"));
        // Utilisation breaks a tie in memory.
        let a = allocate(1, &gpus(2), &[load(0, 0, 30), load(1, 0, 5)], &[]).unwrap();
        assert_eq!(a.devices, ["1"]);
    }

    #[test]
    fn gpus_held_by_other_environments_are_not_taken() {
        let holders = [holder("ptenv-b-train", "bo", "1,GPU-3")];
        let a = allocate(2, &gpus(4), &[], &holders).unwrap();
        assert_eq!(a.devices, ["0", "2"]);
        assert!(
            a.reasons[1].contains("GPU 1 (held by ptenv-b-train)")
                && a.reasons[1].contains("GPU 3 (held by ptenv-b-train)"),
            "{:?}",
            a.reasons
        );
        assert!(allocate(1, &gpus(2), &[], &[holder("x", "", "none")]).is_ok());
    }

    #[test]
    fn more_than_free_is_refused_naming_the_holders() {
        let holders = [
            holder("ptenv-b-train", "bo", "0,1"),
            holder("ptenv-c-big", "", "all"),
        ];
        // Exactly as many as are free: taken.
        let a = allocate(2, &gpus(4), &[], &holders[..1]).unwrap();
        assert_eq!(a.devices, ["2", "3"]);
        let e = allocate(1, &gpus(4), &[], &holders).unwrap_err();
        let text = format!("{e:?}");
        assert!(
            text.contains("only 0 of this machine's 4 are free"),
            "{text}"
        );
        assert!(
            text.contains("GPU 0 is held by ptenv-b-train (user bo, project /srv/p) and ptenv-c-big (owner not recorded, project /srv/p)"),
            "{text}"
        );
        let e = allocate(3, &gpus(4), &[], &holders[..1]).unwrap_err();
        assert!(
            format!("{e:?}").contains("only 2 of this machine's 4"),
            "{e:?}"
        );
        let e = allocate(5, &gpus(4), &[], &[]).unwrap_err();
        assert!(format!("{e:?}").contains("this machine has 4"), "{e:?}");
    }
}
