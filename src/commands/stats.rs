//! `ptenv stats [--watch] [--json] [--format prometheus]`: per GPU, its load and which
//! environment each of its processes belongs to ("other": outside ptenv); per environment, its
//! GPUs, processes and GPU memory.

use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use super::Ctx;
use crate::cli::{StatsArgs, StatsFormat};
use crate::engine::{block_on, Engine};
use crate::error::Result;
use crate::size::human;
use crate::stats::{gather, prometheus, Report};

/// As `docker stats`, which refreshes about every second or two.
const REFRESH: Duration = Duration::from_secs(2);

/// What `--watch` exits with on Ctrl-C, its normal end: 128 + SIGINT, as `docker stats` does
/// (docs/gpus.md §6).
const INTERRUPTED: i32 = 130;

pub fn run(ctx: &Ctx, args: StatsArgs) -> Result<i32> {
    block_on(async {
        if !args.watch {
            return refresh(ctx, &args).await;
        }
        // Listening before the first refresh, whose NVML calls block the thread.
        let mut interrupt = signal(SignalKind::interrupt())
            .map_err(|e| crate::error::Error::new(format!("cannot watch for Ctrl-C: {e}")))?;
        tokio::select! {
            r = refresh(ctx, &args) => r,
            _ = interrupt.recv() => Ok(INTERRUPTED),
        }
    })
}

/// One refresh, or with `--watch` one every [`REFRESH`], until an error.
async fn refresh(ctx: &Ctx, args: &StatsArgs) -> Result<i32> {
    let p = &ctx.printer;
    let engine = Engine::connect().await?;
    loop {
        let (report, problems) = gather(&engine, ctx.machine.as_ref()).await?;
        if args.watch {
            p.redraw();
        }
        for problem in &problems {
            p.warn(problem);
        }
        p.json(&report);
        match args.format {
            StatsFormat::Prometheus => p.result(prometheus(&report).trim_end()),
            StatsFormat::Table => p.result(render(&report)),
        }
        if !args.watch {
            return Ok(0);
        }
        tokio::time::sleep(REFRESH).await;
    }
}

fn render(r: &Report) -> String {
    if r.gpus.is_empty() {
        return "No GPUs.".into();
    }
    let gpus: Vec<[String; 5]> = r
        .gpus
        .iter()
        .map(|g| {
            let mut who: Vec<&str> = g.processes.iter().map(|p| p.environment.as_str()).collect();
            who.dedup();
            [
                g.index.to_string(),
                g.name.clone(),
                format!("{}%", g.utilization),
                format!("{} / {}", human(g.memory_used), human(g.memory_total)),
                if who.is_empty() {
                    "-".into()
                } else {
                    who.join(", ")
                },
            ]
        })
        .collect();
    let header = ["GPU", "NAME", "UTIL", "MEMORY", "USED BY"].map(String::from);
    let mut out = crate::output::table(&header, &gpus);
    if !r.environments.is_empty() {
        let envs: Vec<[String; 5]> = r
            .environments
            .iter()
            .map(|e| {
                let gpus: Vec<String> = e.gpus.iter().map(u32::to_string).collect();
                [
                    e.environment.clone(),
                    if e.user.is_empty() {
                        "-".into()
                    } else {
                        e.user.clone()
                    },
                    gpus.join(","),
                    e.processes.to_string(),
                    human(e.memory),
                ]
            })
            .collect();
        let header = ["ENVIRONMENT", "USER", "GPUS", "PROCESSES", "GPU MEMORY"].map(String::from);
        out.push_str("\n\n");
        out.push_str(&crate::output::table(&header, &envs));
    }
    out
}
