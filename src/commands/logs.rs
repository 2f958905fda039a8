//! `ptenv logs [MODE] [-f] [--tail N] [--explain]`: the output of one of the project's
//! containers, or the known errors in it.

use super::Ctx;
use crate::cli::LogsArgs;
use crate::doctor::{explain, logs as doctor_logs};
use crate::engine::container::Found;
use crate::engine::{block_on, Engine};
use crate::error::{Error, Result};
use crate::project::Project;

pub fn run(ctx: &Ctx, args: LogsArgs) -> Result<i32> {
    let project = Project::new(&ctx.project);
    block_on(async {
        let engine = Engine::connect().await?;
        let c = crate::containers::pick(&engine, &project, args.mode.as_deref(), false).await?;
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
