//! `ptenv ls [--all-users]`: ptenv's containers on the engine (this machine's, or `--host`'s),
//! of every project. The listing is `crate::listing`'s; this file renders it.

use super::Ctx;
use crate::cli::LsArgs;
use crate::error::Result;
use crate::listing;

pub fn run(ctx: &Ctx, args: LsArgs) -> Result<i32> {
    let p = &ctx.printer;
    let found = listing::gather(ctx, args.all_users)?;
    let host = crate::engine::shown_endpoint();
    // "ssh://gpu-box (from `host:` in ~/.config/ptenv/config.yaml)": which engine, and what
    // chose it.
    let chosen_by = crate::engine::chosen_by();
    let named = match &chosen_by {
        Some(by) => format!("{host} (from {by})"),
        None => host.clone(),
    };
    // The GPUs' names, asked of the machine only when an environment holds GPUs (on a
    // server that is a round trip, on a TLS engine a probe container).
    let holds_gpus = found
        .containers
        .iter()
        .any(|c| !matches!(c.found.label(crate::plan::LABEL_GPUS), "" | "none"));
    let facts = match holds_gpus {
        true => ctx.machine.gpu_facts(),
        false => crate::gpu::HostFacts::empty(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let list = &found.containers;
    p.json(
        &list
            .iter()
            .map(|c| listing::json(c, (&host, chosen_by.as_deref()), &facts))
            .collect::<Vec<_>>(),
    );
    if found.hidden > 0 {
        p.info(format!(
            "{} environments of other users are not shown (`ptenv ls --all-users` shows them).",
            found.hidden
        ));
    }
    if list.is_empty() {
        p.info(format!(
            "No ptenv containers on the engine at {named}. Start one with `ptenv up`."
        ));
        return Ok(0);
    }
    p.info(format!("ptenv containers on the engine at {named}:"));
    let rows: Vec<[String; 9]> = list.iter().map(|c| listing::row(c, &facts, now)).collect();
    p.result(crate::output::table(
        &listing::HEADER.map(String::from),
        &rows,
    ));
    Ok(0)
}
