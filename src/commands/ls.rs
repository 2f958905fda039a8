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
    // "ssh://gpu-box (from `host:` in the profile)": which engine, and what chose it.
    let named = match crate::engine::chosen_by() {
        Some(by) => format!("{host} (from {by})"),
        None => host.clone(),
    };
    let facts = ctx.machine.gpu_facts();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let list = &found.containers;
    p.json(
        &list
            .iter()
            .map(|c| listing::json(c, &host, &facts))
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
    let rows: Vec<_> = list.iter().map(|c| listing::row(c, &facts, now)).collect();
    p.result(crate::output::table(
        &listing::HEADER.map(String::from),
        &rows,
    ));
    Ok(0)
}
