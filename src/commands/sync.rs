//! `ptenv sync --down [PROFILE] [--force] [--dry-run]`: bring the files the container changed
//! in the server's workspace volume back to the project folder.

use super::Ctx;
use crate::cli::SyncArgs;
use crate::error::Result;
use crate::sync::{self, Request};

pub fn run(ctx: &Ctx, args: SyncArgs) -> Result<i32> {
    let report = sync::down(
        ctx,
        &Request {
            profile: args.profile,
            force: args.force,
            dry_run: args.dry_run,
        },
    )?;
    let n = report.created.len() + report.updated.len() + report.overwritten.len();
    if n > 0 && !report.dry_run {
        ctx.printer.info(format!(
            "Brought back {n} file{} from the container",
            if n == 1 { "" } else { "s" }
        ));
    }
    ctx.printer.json(&report);
    Ok(0)
}
