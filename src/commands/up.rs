//! `ptenv up [MODE]`: resolve the profile and start (or reuse) the environment.

use super::Ctx;
use crate::cli::UpArgs;
use crate::error::{Error, Result};
use crate::profile;

pub fn run(ctx: &Ctx, args: UpArgs) -> Result<i32> {
    let sources = profile::load_sources(&ctx.project)?;
    let name = args.mode.clone().unwrap_or_else(|| sources.default_name());
    let resolved = sources.resolve(&name, &args.profile.layer())?;
    if args.dry_run {
        let p = &ctx.printer;
        p.json(&serde_json::json!({ "profile": resolved }));
        p.result(serde_yaml::to_string(&resolved).expect("a profile serializes"));
        return Ok(0);
    }
    Err(Error::usage(
        "`ptenv up` without --dry-run is not yet implemented (issue #5)",
    ))
}
