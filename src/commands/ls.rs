//! `ptenv ls [--all-users]`: ptenv's containers on the engine (this machine's, or `--host`'s),
//! of every project: name, profile, state, ports, GPUs (index and name), owner, age and project
//! (from the labels `up` put on them). Without `--all-users` another user's environments are
//! left out on this machine (an engine reached with `--host` has users of its own, so all are
//! shown there). Last activity is not shown: the engine records no time of the last
//! exec/attach, and reading it from inside each container would cost a process per row.

use serde::Serialize;

use super::Ctx;
use crate::cli::LsArgs;
use crate::engine::container::Found;
use crate::engine::{block_on, Engine};
use crate::error::Result;
use crate::gpu::HostFacts;
use crate::ownership::{owner, Who};
use crate::plan::LABEL_GPUS;
use crate::project::{LABEL_BASE_IMAGE, LABEL_MODE, LABEL_PORTS, LABEL_PROFILE, LABEL_PROJECT};

pub fn run(ctx: &Ctx, args: LsArgs) -> Result<i32> {
    let p = &ctx.printer;
    let me = crate::project::user();
    let who = Who {
        me: &me,
        my_uid: rustix::process::geteuid().as_raw(),
        named: &[],
    };
    let (list, idle, hidden) = block_on(async {
        let engine = Engine::connect().await?;
        let mut list = engine.list(None).await?;
        let hidden = if args.all_users || ctx.machine.is_remote() {
            0
        } else {
            let before = list.len();
            list.retain(|c| who.may_remove(owner(&c.labels).as_deref()));
            before - list.len()
        };
        // Only stopped containers that had an idle watcher: why they stopped is in their output.
        let mut idle = Vec::new();
        for c in &list {
            let watched = c.state == "exited" && !c.label(crate::idle::LABEL).is_empty();
            idle.push(match watched {
                true => engine
                    .log_tail(&c.id, 20)
                    .await
                    .ok()
                    .and_then(|tail| crate::idle::stopped_idle(&tail)),
                false => None,
            });
        }
        Ok::<_, crate::error::Error>((list, idle, hidden))
    })?;
    let host = crate::engine::shown_endpoint();
    // "ssh://gpu-box (from `host:` in ~/.config/ptenv/config.yaml)": which engine, and what
    // chose it.
    let chosen_by = crate::engine::chosen_by();
    let named = match &chosen_by {
        Some(by) => format!("{host} (from {by})"),
        None => host.clone(),
    };
    let facts = ctx.machine.gpu_facts();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    p.json(
        &list
            .iter()
            .zip(&idle)
            .map(|(c, idle)| to_json(c, (&host, chosen_by.as_deref()), &facts, idle.as_deref()))
            .collect::<Vec<_>>(),
    );
    if hidden > 0 {
        p.info(format!(
            "{hidden} environments of other users are not shown (`ptenv ls --all-users` shows them)."
        ));
    }
    if list.is_empty() {
        p.info(format!(
            "No ptenv containers on the engine at {named}. Start one with `ptenv up`."
        ));
        return Ok(0);
    }
    p.info(format!("ptenv containers on the engine at {named}:"));
    let rows: Vec<[String; 8]> = list
        .iter()
        .zip(&idle)
        .map(|(c, idle)| {
            [
                c.name.clone(),
                c.label(LABEL_PROFILE).to_string(),
                match idle {
                    Some(limit) => format!("stopped: idle {limit}"),
                    None => status(c),
                },
                ports(c.label(LABEL_PORTS)),
                gpus(c.label(LABEL_GPUS), &facts),
                owner(&c.labels).unwrap_or_else(|| "-".into()),
                age(now - c.created),
                c.label(LABEL_PROJECT).to_string(),
            ]
        })
        .collect();
    let header = [
        "NAME", "PROFILE", "STATUS", "PORTS", "GPUS", "OWNER", "AGE", "PROJECT",
    ]
    .map(String::from);
    p.result(crate::output::table(&header, &rows));
    Ok(0)
}

/// One container in `--json` (fields in alphabetical order, as the JSON has always been
/// written).
#[derive(Serialize)]
struct Json<'a> {
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
    mode: &'a str,
    name: &'a str,
    /// The host user who made it, when recorded.
    owner: Option<String>,
    ports: Vec<crate::plan::PublishedPort>,
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

fn to_json<'a>(
    c: &'a Found,
    (host, host_from): (&'a str, Option<&'a str>),
    facts: &HostFacts,
    stopped_idle: Option<&'a str>,
) -> Json<'a> {
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
        mode: c.label(LABEL_MODE),
        name: &c.name,
        owner: owner(&c.labels),
        ports: crate::plan::parse_ports_label(c.label(LABEL_PORTS)),
        profile: c.label(LABEL_PROFILE),
        project: c.label(LABEL_PROJECT),
        state: &c.state,
        status: &c.status,
        stopped_idle,
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
    fn the_table_lines_up() {
        let header = ["A", "B", "C", "D", "E", "F", "G"].map(String::from);
        let rows = [["long-name", "x", "y", "z", "all", "img", "/p"].map(String::from)];
        let t = crate::output::table(&header, &rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0].find('B'), lines[1].find('x'));
        assert!(lines[1].ends_with("/p"));
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
}
