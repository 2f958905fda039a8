//! `ptenv ls [--all-users]`: ptenv's containers on the engine (this machine's, or `--host`'s),
//! of every project: name, profile, state, ports, GPUs (index and name), owner, age, last
//! activity and project (from the labels `up` put on them). Without `--all-users` another
//! user's environments are left out on this machine (an engine reached with `--host` has users
//! of its own, so all are shown there). The last activity is known only where an idle watcher
//! runs (`idle_stop`): it keeps the time as a file's modification time, which the engine's
//! archive endpoint states (one `HEAD` per such container, no process in it, nothing archived);
//! the engine itself records no time of the last exec or attach.

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
        // At once: one small request each, so a long list costs about one round trip.
        let idle = futures_util::future::join_all(list.iter().map(|c| watched(&engine, c))).await;
        Ok::<_, crate::error::Error>((list, idle, hidden))
    })?;
    let host = crate::engine::shown_endpoint();
    // "ssh://gpu-box (from `host:` in the profile)": which engine, and what chose it.
    let named = match crate::engine::chosen_by() {
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
            .map(|(c, idle)| to_json(c, &host, &facts, idle))
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
    let rows: Vec<[String; 9]> = list
        .iter()
        .zip(&idle)
        .map(|(c, idle)| {
            [
                c.name.clone(),
                c.label(LABEL_PROFILE).to_string(),
                match &idle.stopped_idle {
                    Some(limit) => format!("stopped: idle {limit}"),
                    None => status(c),
                },
                ports(c.label(LABEL_PORTS)),
                gpus(c.label(LABEL_GPUS), &facts),
                owner(&c.labels).unwrap_or_else(|| "-".into()),
                age(now - c.created),
                idle.last_activity
                    .map_or_else(|| "-".into(), |t| format!("{} ago", age(now - t))),
                c.label(LABEL_PROJECT).to_string(),
            ]
        })
        .collect();
    let header = [
        "NAME",
        "PROFILE",
        "STATUS",
        "PORTS",
        "GPUS",
        "OWNER",
        "AGE",
        "LAST ACTIVITY",
        "PROJECT",
    ]
    .map(String::from);
    p.result(crate::output::table(&header, &rows));
    Ok(0)
}

/// What a container's idle watcher left: why it stopped and when it last saw activity.
#[derive(Default)]
struct Watched {
    /// The profile's `idle_stop` when the watcher stopped the container (`2h`).
    stopped_idle: Option<String>,
    /// Seconds since the Unix epoch.
    last_activity: Option<i64>,
}

/// Read from a container with a watcher (its label): the activity file (any state), and for a
/// stopped one its last output lines, where the watcher says why it stopped. Unknown where
/// the engine cannot answer.
async fn watched(engine: &Engine, c: &Found) -> Watched {
    if c.label(crate::idle::LABEL).is_empty() {
        return Watched::default();
    }
    let stopped_idle = match c.state == "exited" {
        true => engine
            .log_tail(&c.id, 20)
            .await
            .ok()
            .and_then(|tail| crate::idle::stopped_idle(&tail)),
        false => None,
    };
    let last_activity = engine
        .stat_of(&c.id, &crate::idle::activity_path())
        .await
        .and_then(|(size, mtime)| crate::idle::last_activity(size, &mtime));
    Watched {
        stopped_idle,
        last_activity,
    }
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
    id: &'a str,
    image: &'a str,
    /// When its idle watcher last saw activity, in seconds since the Unix epoch; null without a
    /// watcher (no `idle_stop`) or before its first look.
    last_activity: Option<i64>,
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

fn to_json<'a>(c: &'a Found, host: &'a str, facts: &HostFacts, idle: &'a Watched) -> Json<'a> {
    Json {
        base_image: c.label(LABEL_BASE_IMAGE),
        created: c.created,
        gpus: c.label(LABEL_GPUS),
        gpu_devices: devices(c.label(LABEL_GPUS), facts)
            .into_iter()
            .map(|(device, name)| GpuJson { device, name })
            .collect(),
        host,
        id: &c.id,
        image: &c.image,
        last_activity: idle.last_activity,
        mode: c.label(LABEL_MODE),
        name: &c.name,
        owner: owner(&c.labels),
        ports: crate::plan::parse_ports_label(c.label(LABEL_PORTS)),
        profile: c.label(LABEL_PROFILE),
        project: c.label(LABEL_PROJECT),
        state: &c.state,
        status: &c.status,
        stopped_idle: idle.stopped_idle.as_deref(),
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
