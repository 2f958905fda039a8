//! `ptenv ls`: ptenv's containers, of every project, as the rows of its table and as its
//! `--json`: name, profile, state, ports, GPUs (index and name), owner, age, last activity and
//! project, read from the labels `up` put on them. The last activity is known only where an
//! idle watcher runs (`idle_stop`): it keeps the time as a file's modification time, which the
//! binary reads through the engine's archive endpoint; the engine itself records no time of
//! the last exec or attach.
use std::collections::HashMap;

use serde::Serialize;

use crate::gpu::HostFacts;
use crate::ownership::owner;
use crate::plan::{parse_ports_label, PublishedPort, LABEL_GPUS};
use crate::project::{LABEL_BASE_IMAGE, LABEL_MODE, LABEL_PORTS, LABEL_PROFILE, LABEL_PROJECT};

/// A container the engine knows, by name or from a list.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// `running`, `exited`, `created`, ...
    pub state: String,
    /// `Up 5 minutes`, `Exited (0) 2 hours ago` (lists only; empty from `find`).
    pub status: String,
    pub image: String,
    pub labels: HashMap<String, String>,
    /// When the engine created it, seconds since the Unix epoch (lists only; 0 from `find`).
    pub created: i64,
}

impl Found {
    pub fn running(&self) -> bool {
        self.state == "running"
    }
    pub fn label(&self, key: &str) -> &str {
        self.labels.get(key).map(String::as_str).unwrap_or("")
    }
}

/// One line of `ptenv ls`: a container and what its idle watcher left: when the watcher
/// stopped it, the profile's `idle_stop` (`2h`), and when it last saw activity.
#[derive(Debug, Clone)]
pub struct Listed {
    pub found: Found,
    pub stopped_idle: Option<String>,
    /// Seconds since the Unix epoch; `None` without a watcher or before its first look.
    pub last_activity: Option<i64>,
}

/// The table's columns.
pub const HEADER: [&str; 9] = [
    "NAME",
    "PROFILE",
    "STATUS",
    "PORTS",
    "GPUS",
    "OWNER",
    "AGE",
    "LAST ACTIVITY",
    "PROJECT",
];

/// One row of the table, `now` in seconds since the Unix epoch; GPUs named by `facts`.
pub fn row(listed: &Listed, facts: &HostFacts, now: i64) -> [String; 9] {
    let c = &listed.found;
    [
        c.name.clone(),
        c.label(LABEL_PROFILE).to_string(),
        match &listed.stopped_idle {
            Some(limit) => format!("stopped: idle {limit}"),
            None => status(c),
        },
        ports(c.label(LABEL_PORTS)),
        gpus(c.label(LABEL_GPUS), facts),
        owner(&c.labels).unwrap_or_else(|| "-".into()),
        age(now - c.created),
        listed
            .last_activity
            .map_or_else(|| "-".into(), |t| format!("{} ago", age(now - t))),
        c.label(LABEL_PROJECT).to_string(),
    ]
}

/// One container in `--json` (fields in alphabetical order, as the JSON has always been
/// written).
#[derive(Serialize)]
pub struct Json<'a> {
    base_image: &'a str,
    /// Seconds since the Unix epoch.
    created: i64,
    /// Its devices label: `all`, `none`, `0,2`.
    gpus: &'a str,
    /// The GPUs it holds, with their names where this machine's GPUs are known.
    gpu_devices: Vec<GpuJson>,
    /// The engine it runs on: `unix:///var/run/docker.sock`, `ssh://me@gpu-box`.
    host: &'a str,
    /// What chose that engine, as `-v` says it: `--host`, `DOCKER_HOST`, "`host:` in FILE".
    host_from: Option<&'a str>,
    id: &'a str,
    image: &'a str,
    /// When its idle watcher last saw activity, in seconds since the Unix epoch; null without a
    /// watcher (no `idle_stop`) or before its first look.
    last_activity: Option<i64>,
    mode: &'a str,
    name: &'a str,
    /// The host user who made it, when recorded.
    owner: Option<String>,
    ports: Vec<PublishedPort>,
    profile: &'a str,
    project: &'a str,
    state: &'a str,
    status: &'a str,
    /// The profile's `idle_stop` when the watcher stopped the container (`2h`).
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped_idle: Option<&'a str>,
}

#[derive(Serialize)]
struct GpuJson {
    device: String,
    name: Option<String>,
}

/// `c` in `--json`, on the engine at `host`, chosen by `host_from`.
pub fn json<'a>(
    listed: &'a Listed,
    (host, host_from): (&'a str, Option<&'a str>),
    facts: &HostFacts,
) -> Json<'a> {
    let c = &listed.found;
    Json {
        base_image: c.label(LABEL_BASE_IMAGE),
        created: c.created,
        gpus: c.label(LABEL_GPUS),
        gpu_devices: devices(c.label(LABEL_GPUS), facts)
            .into_iter()
            .map(|(device, name)| GpuJson { device, name })
            .collect(),
        host,
        host_from,
        id: &c.id,
        image: &c.image,
        last_activity: listed.last_activity,
        mode: c.label(LABEL_MODE),
        name: &c.name,
        owner: owner(&c.labels),
        ports: parse_ports_label(c.label(LABEL_PORTS)),
        profile: c.label(LABEL_PROFILE),
        project: c.label(LABEL_PROJECT),
        state: &c.state,
        status: &c.status,
        stopped_idle: listed.stopped_idle.as_deref(),
    }
}

/// The devices of a GPUs label (`all`: every GPU of this machine), each with its name when
/// the machine's GPUs are known (by index or UUID).
fn devices(label: &str, facts: &HostFacts) -> Vec<(String, Option<String>)> {
    let named = |d: &str| {
        facts
            .gpus
            .iter()
            .find(|g| g.index.to_string() == d || g.uuid == d)
            .map(|g| g.short_name().to_string())
    };
    match label {
        "" | "none" => Vec::new(),
        "all" => facts
            .gpus
            .iter()
            .map(|g| (g.index.to_string(), Some(g.short_name().to_string())))
            .collect(),
        list => list.split(',').map(|d| (d.to_string(), named(d))).collect(),
    }
}

/// `0 (A100), 1 (A100)`; the label itself when no GPU is known by it.
fn gpus(label: &str, facts: &HostFacts) -> String {
    let shown: Vec<String> = devices(label, facts)
        .into_iter()
        .map(|(d, name)| match name {
            Some(n) => format!("{d} ({n})"),
            None => d,
        })
        .collect();
    if shown.is_empty() {
        if label.is_empty() {
            "-".into()
        } else {
            label.to_string()
        }
    } else {
        shown.join(", ")
    }
}

/// `45s`, `12m`, `3h`, `2d`, as `docker ps` rounds.
fn age(seconds: i64) -> String {
    match seconds.max(0) {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn status(c: &Found) -> String {
    if c.status.is_empty() {
        c.state.clone()
    } else {
        c.status.clone()
    }
}

/// `127.0.0.1:8889->8888/tcp` as `127.0.0.1:8889->8888`.
fn ports(label: &str) -> String {
    if label.is_empty() {
        "-".into()
    } else {
        label.replace("/tcp", "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_lose_their_protocol() {
        assert_eq!(ports("127.0.0.1:8889->8888/tcp"), "127.0.0.1:8889->8888");
        assert_eq!(ports(""), "-");
    }

    #[test]
    fn gpus_are_named_and_ages_rounded() {
        let facts = crate::gpu::from_overrides(Some("550.54.15"), &["8.0".into(), "8.0".into()])
            .expect("override facts");
        let name = facts.gpus[0].short_name().to_string();
        assert_eq!(gpus("1", &facts), format!("1 ({name})"));
        assert_eq!(gpus("all", &facts), format!("0 ({name}), 1 ({name})"));
        assert_eq!(gpus("7", &facts), "7");
        assert_eq!(gpus("none", &facts), "none");
        assert_eq!(gpus("", &facts), "-");
        assert_eq!(age(59), "59s");
        assert_eq!(age(3599), "59m");
        assert_eq!(age(7200), "2h");
        assert_eq!(age(3 * 86400), "3d");
        assert_eq!(age(-5), "0s");
    }

    #[test]
    fn a_row_says_an_idle_stop_and_a_missing_owner() {
        let facts = HostFacts::default();
        let mut c = Listed {
            found: Found {
                name: "pt-a".into(),
                state: "exited".into(),
                status: "Exited (0) 1 hour ago".into(),
                created: 100,
                labels: HashMap::from([(LABEL_PROJECT.to_string(), "/p".to_string())]),
                ..Found::default()
            },
            stopped_idle: Some("2h".into()),
            last_activity: Some(130),
        };
        let r = row(&c, &facts, 160);
        assert_eq!(r[2], "stopped: idle 2h");
        assert_eq!(r[5], "-");
        assert_eq!(r[6], "1m");
        assert_eq!(r[7], "30s ago");
        assert_eq!(r[8], "/p");
        c.stopped_idle = None;
        c.last_activity = None;
        c.found.status.clear();
        let r = row(&c, &facts, 160);
        assert_eq!((r[2].as_str(), r[7].as_str()), ("exited", "-"));
        let j = json(&c, ("unix:///s", None), &facts);
        assert_eq!((j.stopped_idle, j.last_activity), (None, None));
    }
}
