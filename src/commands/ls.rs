//! `ptenv ls`: every ptenv container on the engine (this machine's, or `--host`'s), of every project: its project, profile,
//! mode, base image, state, ports and GPUs (from the labels `up` put on it).

use serde::Serialize;

use super::Ctx;
use crate::engine::container::Found;
use crate::engine::{block_on, Engine};
use crate::error::Result;
use crate::plan::LABEL_GPUS;
use crate::project::{LABEL_BASE_IMAGE, LABEL_MODE, LABEL_PORTS, LABEL_PROFILE, LABEL_PROJECT};

pub fn run(ctx: &Ctx) -> Result<i32> {
    let p = &ctx.printer;
    let (list, idle) = block_on(async {
        let engine = Engine::connect().await?;
        let list = engine.list(None).await?;
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
        Ok::<_, crate::error::Error>((list, idle))
    })?;
    let host = crate::engine::shown_endpoint();
    p.json(
        &list
            .iter()
            .zip(&idle)
            .map(|(c, idle)| to_json(c, &host, idle.as_deref()))
            .collect::<Vec<_>>(),
    );
    if list.is_empty() {
        p.info(format!(
            "No ptenv containers on the engine at {host}. Start one with `ptenv up`."
        ));
        return Ok(0);
    }
    p.info(format!("ptenv containers on the engine at {host}:"));
    let rows: Vec<[String; 7]> = list
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
                c.label(LABEL_GPUS).to_string(),
                c.label(LABEL_BASE_IMAGE).to_string(),
                c.label(LABEL_PROJECT).to_string(),
            ]
        })
        .collect();
    let header = [
        "NAME", "PROFILE", "STATUS", "PORTS", "GPUS", "IMAGE", "PROJECT",
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
    gpus: &'a str,
    /// The engine it runs on: `unix:///var/run/docker.sock`, `ssh://me@gpu-box`.
    host: &'a str,
    id: &'a str,
    image: &'a str,
    mode: &'a str,
    name: &'a str,
    ports: Vec<crate::plan::PublishedPort>,
    profile: &'a str,
    project: &'a str,
    state: &'a str,
    status: &'a str,
    /// The profile's `idle_stop` when the watcher stopped the container (`2h`).
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped_idle: Option<&'a str>,
}

fn to_json<'a>(c: &'a Found, host: &'a str, stopped_idle: Option<&'a str>) -> Json<'a> {
    Json {
        base_image: c.label(LABEL_BASE_IMAGE),
        gpus: c.label(LABEL_GPUS),
        host,
        id: &c.id,
        image: &c.image,
        mode: c.label(LABEL_MODE),
        name: &c.name,
        ports: crate::plan::parse_ports_label(c.label(LABEL_PORTS)),
        profile: c.label(LABEL_PROFILE),
        project: c.label(LABEL_PROJECT),
        state: &c.state,
        status: &c.status,
        stopped_idle,
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
}
