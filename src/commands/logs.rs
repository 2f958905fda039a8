//! `ptenv logs [MODE] [-f] [--tail N] [--explain]`: the output of one of the project's
//! containers, or the known errors in it.

use super::Ctx;
use crate::cli::LogsArgs;
use crate::doctor::{explain, logs as doctor_logs};
use crate::engine::container::Found;
use crate::engine::{block_on, Engine};
use crate::error::{Error, Result};
use crate::project::{Project, LABEL_PROFILE};

pub fn run(ctx: &Ctx, args: LogsArgs) -> Result<i32> {
    let project = Project::new(&ctx.project);
    block_on(async {
        let engine = Engine::connect().await?;
        let c = pick(&engine, &project, args.mode.as_deref(), false).await?;
        if args.explain {
            return explain(ctx, &engine, &c, args.tail).await;
        }
        let logs = engine.logs(&c.id, args.follow, args.tail);
        tokio::select! {
            r = logs => r.map(|()| 0),
            // Ctrl-C ends `-f` the way it ends `docker logs -f`: quietly.
            _ = tokio::signal::ctrl_c() => Ok(0),
        }
    })
}

/// `--explain`: the findings in the container's last `tail` lines (default: what doctor
/// reads); exits like `doctor --explain`: 0 when something was recognised, 1 when not.
async fn explain(ctx: &Ctx, engine: &Engine, c: &Found, tail: Option<u64>) -> Result<i32> {
    let lines = tail.map_or(doctor_logs::TAIL_LINES, |n| n as usize);
    let output = engine.log_tail(&c.id, lines).await?;
    let shm = engine.container_shm(c).await?.ok_or_else(|| {
        Error::new(format!("{} was removed while its output was read", c.name))
            .hint("start it again with `ptenv up`")
    })?;
    let out = doctor_logs::ContainerOutput {
        shm,
        state: c.state.clone(),
        output,
    };
    let findings = doctor_logs::scan(&out, &ctx.machine.gpu_facts(), &crate::doctor::ThisHost);
    let p = &ctx.printer;
    p.json(&explain::to_json(&findings));
    p.result(explain::render(&findings).trim_end());
    Ok(if findings.is_empty() { 1 } else { 0 })
}

/// The project's container for `profile`, or when none is named, its only container (or its
/// only running one). `running`: it must run (for exec).
pub(super) async fn pick(
    engine: &Engine,
    project: &Project,
    profile: Option<&str>,
    running: bool,
) -> Result<Found> {
    let all = engine.list(Some(&project.path)).await?;
    let found = match profile {
        Some(name) => {
            super::check_profile_name(&project.path, name, &all)?;
            engine
                .find(&project.container_name(name))
                .await?
                .ok_or_else(|| {
                    Error::new(format!("this project has no `{name}` container"))
                        .hint(format!("start it with `ptenv up {name}`"))
                })?
        }
        None => {
            let live: Vec<&Found> = all.iter().filter(|c| c.running()).collect();
            match (all.len(), live.len()) {
                (0, _) => {
                    return Err(Error::new(format!(
                        "this project ({}) has no ptenv container",
                        project.path.display()
                    ))
                    .hint("start one with `ptenv up`, or cd into the project folder"))
                }
                (1, _) => all[0].clone(),
                (_, 1) => live[0].clone(),
                _ => {
                    let names: Vec<&str> = all.iter().map(|c| c.label(LABEL_PROFILE)).collect();
                    return Err(Error::usage(format!(
                        "this project has several containers ({}); say which",
                        names.join(", ")
                    ))
                    .hint(format!(
                        "e.g. `ptenv logs {}` or `ptenv exec {} -- CMD`",
                        names[0], names[0]
                    )));
                }
            }
        }
    };
    if running && !found.running() {
        return Err(
            Error::new(format!("{} is not running ({})", found.name, found.state)).hint(format!(
                "start it with `ptenv up {} --detach`",
                found.label(LABEL_PROFILE)
            )),
        );
    }
    Ok(found)
}
