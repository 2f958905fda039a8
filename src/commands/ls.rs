//! `ptenv ls`: every ptenv container on the engine (this machine's, or the one `--host` names), of every project: its project, profile,
//! mode, base image, state, ports and GPUs (from the labels `up` put on it).

use serde_json::json;

use super::Ctx;
use crate::engine::container::Found;
use crate::engine::{block_on, Engine};
use crate::error::Result;
use crate::plan::LABEL_GPUS;
use crate::project::{LABEL_BASE_IMAGE, LABEL_MODE, LABEL_PORTS, LABEL_PROFILE, LABEL_PROJECT};

pub fn run(ctx: &Ctx) -> Result<i32> {
    let p = &ctx.printer;
    let list = block_on(async { Engine::connect().await?.list(None).await })?;
    let host = crate::engine::shown_endpoint();
    p.json(&json!(list
        .iter()
        .map(|c| to_json(c, &host))
        .collect::<Vec<_>>()));
    if list.is_empty() {
        p.info(format!(
            "No ptenv containers on the engine at {host}. Start one with `ptenv up`."
        ));
        return Ok(0);
    }
    p.info(format!("ptenv containers on the engine at {host}:"));
    let rows: Vec<[String; 7]> = list
        .iter()
        .map(|c| {
            [
                c.name.clone(),
                c.label(LABEL_PROFILE).to_string(),
                status(c),
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
    p.result(table(&header, &rows));
    Ok(0)
}

fn to_json(c: &Found, host: &str) -> serde_json::Value {
    json!({
        "host": host,
        "name": c.name,
        "id": c.id,
        "project": c.label(LABEL_PROJECT),
        "profile": c.label(LABEL_PROFILE),
        "mode": c.label(LABEL_MODE),
        "image": c.image,
        "base_image": c.label(LABEL_BASE_IMAGE),
        "state": c.state,
        "status": c.status,
        "ports": crate::plan::parse_ports_label(c.label(LABEL_PORTS)),
        "gpus": c.label(LABEL_GPUS),
    })
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

/// Columns padded to their widest cell; the last column is not padded.
pub(crate) fn table<const N: usize>(header: &[String; N], rows: &[[String; N]]) -> String {
    let mut widths = header.clone().map(|h| h.len());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    std::iter::once(header)
        .chain(rows)
        .map(|row| {
            row.iter()
                .zip(widths)
                .enumerate()
                .map(|(i, (cell, w))| {
                    if i + 1 == row.len() {
                        cell.clone()
                    } else {
                        format!("{cell:<w$}  ")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lines_up() {
        let header = ["A", "B", "C", "D", "E", "F", "G"].map(String::from);
        let rows = [["long-name", "x", "y", "z", "all", "img", "/p"].map(String::from)];
        let t = table(&header, &rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0].find('B'), lines[1].find('x'));
        assert!(lines[1].ends_with("/p"));
        assert_eq!(ports("127.0.0.1:8889->8888/tcp"), "127.0.0.1:8889->8888");
        assert_eq!(ports(""), "-");
    }
}
