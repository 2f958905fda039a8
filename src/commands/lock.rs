//! `ptenv lock`: resolve every profile of the project (the selection for this host, or for the
//! machine given by `--driver`/`--gpu`), ask the registry for each image's digest, and write
//! `ptenv.lock`; `--check` compares instead and fails when the lock is stale (CI). The flow is
//! `crate::lockfile::update`'s and the words the core's `lock::report`; this file prints them.

use super::Ctx;
use crate::cli::LockArgs;
use crate::error::Result;
use crate::lockfile::{self, Updated};

pub fn run(ctx: &Ctx, args: LockArgs) -> Result<i32> {
    let p = &ctx.printer;
    let request = lockfile::Request {
        check: args.check,
        driver: args.driver.as_deref(),
        gpus: &args.gpu,
        trust: args.trust,
    };
    match lockfile::update(ctx, request)? {
        Updated::Checked(checked) => {
            p.json(&checked);
            p.info(checked.summary());
        }
        // On stdout the pinned references, one per profile; on stderr what changed and for
        // which machine.
        Updated::Written(written) => {
            for m in &written.misfits {
                p.warn(m);
            }
            p.json(&written);
            for line in written.summary() {
                p.info(line);
            }
            for (pin, image) in written.pins() {
                p.result(pin);
                p.detail(image);
            }
            if let Some(next) = written.next_step() {
                p.info(next);
            }
        }
    }
    Ok(0)
}
