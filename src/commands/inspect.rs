//! `ptenv inspect IMAGE`: what the image says about itself (read once per image by a probe
//! container, then cached) and whether it runs on this machine (or the one given by `--driver`
//! and `--gpu`), judged by the catalog's rules. Exit 0 when it runs, 1 when it cannot.

use super::Ctx;
use crate::cli::InspectArgs;
use crate::error::Result;
use crate::inspection;

pub fn run(ctx: &Ctx, args: InspectArgs) -> Result<i32> {
    let inspected = inspection::gather(
        ctx,
        &args.image,
        args.profile_name.as_deref(),
        args.driver.as_deref(),
        &args.gpu,
    )?;
    let p = &ctx.printer;
    p.json(&inspected.json());
    p.result(inspected.render());
    Ok(if inspected.verdict.runs { 0 } else { 1 })
}
