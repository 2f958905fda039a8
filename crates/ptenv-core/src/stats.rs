//! `ptenv stats`: which environment each GPU process belongs to, per GPU and per environment,
//! with "other" for processes outside ptenv's environments (docs/gpus.md §3, §4). The binary
//! reads NVML, the processes' cgroups and the engine's list; this decides and words.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::gpu::usage::Usage;

/// The name under which processes outside ptenv's environments are counted.
pub const OTHER: &str = "other";

/// One ptenv environment on the engine (a container ptenv made).
#[derive(Debug, Clone)]
pub struct Env {
    /// The container's name.
    pub name: String,
    /// The full (64 hex) container ID.
    pub id: String,
    pub project: String,
    pub profile: String,
    /// Its owner (`ownership::owner`), empty when not recorded.
    pub user: String,
}

/// The container ID in a process's `/proc/PID/cgroup`: the first path segment that is, or
/// wraps (`docker-<id>.scope`), 64 hex digits (docs/gpus.md §4).
pub fn container_id(cgroup: &str) -> Option<String> {
    cgroup
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .flat_map(|path| path.split('/'))
        .map(|seg| {
            let seg = seg.strip_suffix(".scope").unwrap_or(seg);
            seg.rsplit('-').next().unwrap_or(seg)
        })
        .find(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub gpus: Vec<GpuRow>,
    /// Per environment, "other" last; only those with GPU processes.
    pub environments: Vec<EnvRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuRow {
    pub index: u32,
    pub name: String,
    pub uuid: String,
    pub utilization: u32,
    pub memory_used: u64,
    pub memory_total: u64,
    pub processes: Vec<ProcessRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessRow {
    pub pid: u32,
    pub memory: Option<u64>,
    /// The environment's container name, or [`OTHER`].
    pub environment: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvRow {
    /// The container's name, or [`OTHER`].
    pub environment: String,
    pub project: String,
    pub profile: String,
    pub user: String,
    /// The GPUs its processes run on.
    pub gpus: Vec<u32>,
    pub processes: usize,
    /// GPU memory its processes hold (those the driver reports).
    pub memory: u64,
}

/// Attribute every NVML process: `containers` maps a PID to the container ID its cgroup names
/// (PIDs absent there run outside any container, or ended meanwhile).
pub fn report(usage: &[Usage], envs: &[Env], containers: &HashMap<u32, String>) -> Report {
    let by_id: HashMap<&str, &Env> = envs.iter().map(|e| (e.id.as_str(), e)).collect();
    let env_of = |pid: u32| -> Option<&Env> {
        containers
            .get(&pid)
            .and_then(|id| by_id.get(id.as_str()).copied())
    };
    let mut rows: BTreeMap<(bool, String), EnvRow> = BTreeMap::new();
    let gpus = usage
        .iter()
        .map(|u| {
            let processes = u
                .processes
                .iter()
                .map(|p| {
                    let env = env_of(p.pid);
                    let name = env.map_or(OTHER.to_string(), |e| e.name.clone());
                    let row = rows
                        .entry((env.is_none(), name.clone()))
                        .or_insert_with(|| EnvRow {
                            environment: name.clone(),
                            project: env.map(|e| e.project.clone()).unwrap_or_default(),
                            profile: env.map(|e| e.profile.clone()).unwrap_or_default(),
                            user: env.map(|e| e.user.clone()).unwrap_or_default(),
                            gpus: Vec::new(),
                            processes: 0,
                            memory: 0,
                        });
                    if !row.gpus.contains(&u.index) {
                        row.gpus.push(u.index);
                    }
                    row.processes += 1;
                    row.memory += p.memory.unwrap_or(0);
                    ProcessRow {
                        pid: p.pid,
                        memory: p.memory,
                        environment: name,
                    }
                })
                .collect();
            GpuRow {
                index: u.index,
                name: u.name.clone(),
                uuid: u.uuid.clone(),
                utilization: u.utilization,
                memory_used: u.memory_used,
                memory_total: u.memory_total,
                processes,
            }
        })
        .collect();
    Report {
        gpus,
        environments: rows.into_values().collect(),
    }
}

/// The report in the Prometheus text exposition format, for a node exporter's textfile
/// collector: per-GPU gauges, and per-environment GPU memory and process counts.
pub fn prometheus(r: &Report) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, samples: Vec<(String, u64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (labels, v) in samples {
            out.push_str(&format!("{name}{{{labels}}} {v}\n"));
        }
    };
    let gpu = |g: &GpuRow| format!("gpu=\"{}\",uuid=\"{}\"", g.index, escape(&g.uuid));
    metric(
        "ptenv_gpu_utilization_percent",
        "Percent of time a kernel ran on the GPU (NVML).",
        r.gpus
            .iter()
            .map(|g| (gpu(g), g.utilization as u64))
            .collect(),
    );
    metric(
        "ptenv_gpu_memory_used_bytes",
        "GPU memory in use (NVML).",
        r.gpus.iter().map(|g| (gpu(g), g.memory_used)).collect(),
    );
    let env = |e: &EnvRow| {
        format!(
            "environment=\"{}\",project=\"{}\",user=\"{}\"",
            escape(&e.environment),
            escape(&e.project),
            escape(&e.user)
        )
    };
    metric(
        "ptenv_environment_gpu_memory_bytes",
        "GPU memory held by the environment's processes (\"other\": outside ptenv).",
        r.environments.iter().map(|e| (env(e), e.memory)).collect(),
    );
    metric(
        "ptenv_environment_gpu_processes",
        "GPU compute processes of the environment (\"other\": outside ptenv).",
        r.environments
            .iter()
            .map(|e| (env(e), e.processes as u64))
            .collect(),
    );
    out
}

/// A label value as the text format wants it: backslash, quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::usage::Process;

    const ID: &str = "4d03acd4ff5fb6ae2a94d3a13d6655314a2555ed937358ba7a89ff738c86ea6b";

    #[test]
    fn the_container_id_is_found_in_either_cgroup_layout() {
        let v1 = format!("9:name=systemd:/docker/{ID}\n0::/docker/{ID}\n");
        assert_eq!(container_id(&v1).as_deref(), Some(ID));
        let systemd = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(container_id(&systemd).as_deref(), Some(ID));
        assert_eq!(container_id("0::/user.slice/session-3.scope\n"), None);
        assert_eq!(container_id("4:memory:/process_api/b5da66c0\n0::/\n"), None);
    }

    fn usage(index: u32, pids: &[(u32, u64)]) -> Usage {
        Usage {
            index,
            uuid: format!("GPU-{index}"),
            name: "NVIDIA A100".into(),
            memory_total: 80 << 30,
            memory_used: pids.iter().map(|p| p.1).sum(),
            utilization: if pids.is_empty() { 0 } else { 90 },
            processes: pids
                .iter()
                .map(|&(pid, m)| Process {
                    pid,
                    memory: Some(m),
                })
                .collect(),
        }
    }

    #[test]
    fn processes_go_to_their_environment_or_to_other() {
        let envs = vec![Env {
            name: "ptenv-a-train".into(),
            id: ID.into(),
            project: "/home/ana/a".into(),
            profile: "train".into(),
            user: "ana".into(),
        }];
        let containers = HashMap::from([(100, ID.to_string()), (300, "f".repeat(64))]);
        let r = report(
            &[
                usage(0, &[(100, 1 << 30), (200, 2 << 30)]),
                usage(1, &[(100, 4 << 30)]),
                usage(2, &[(300, 1 << 30)]),
                usage(3, &[]),
            ],
            &envs,
            &containers,
        );
        assert_eq!(r.gpus[0].processes[0].environment, "ptenv-a-train");
        assert_eq!(r.gpus[0].processes[1].environment, OTHER);
        // A container ptenv did not make is "other" too.
        assert_eq!(r.gpus[2].processes[0].environment, OTHER);
        assert!(r.gpus[3].processes.is_empty());
        assert_eq!(r.environments.len(), 2);
        let a = &r.environments[0];
        assert_eq!(
            (
                a.environment.as_str(),
                a.user.as_str(),
                &a.gpus,
                a.processes,
                a.memory
            ),
            ("ptenv-a-train", "ana", &vec![0, 1], 2, 5 << 30)
        );
        let other = &r.environments[1];
        assert_eq!(
            (other.environment.as_str(), &other.gpus, other.memory),
            (OTHER, &vec![0, 2], 3 << 30)
        );
        let text = prometheus(&r);
        assert!(text.contains("ptenv_gpu_utilization_percent{gpu=\"0\",uuid=\"GPU-0\"} 90\n"));
        assert!(text.contains(
            "ptenv_environment_gpu_memory_bytes{environment=\"other\",project=\"\",user=\"\"} 3221225472\n"
        ));
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
