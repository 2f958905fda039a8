//! `ptenv lock`'s flow: resolve every profile of the project for a machine (this one, the one
//! `--driver`/`--gpu` name, or under `--check` the one the lock was made for), compare with the
//! lock there is, and write the new one when it changed. The words are the core's
//! `lock::report`.

use crate::context::Ctx;
use crate::engine::block_on;
use crate::error::Result;
use crate::gpu;
use crate::lock::report::{self, Checked, Written};
use crate::lock::{self, LOCK_FILE};
use crate::profile;
use crate::trust_gate::{self, Gate};

/// What `ptenv lock` was asked.
pub struct Request<'a> {
    /// Compare only, fail when stale (`--check`).
    pub check: bool,
    /// The machine to resolve for (`--driver`, `--gpu`); none: this one.
    pub driver: Option<&'a str>,
    pub gpus: &'a [String],
    /// `--trust`.
    pub trust: bool,
}

/// What `ptenv lock` did.
pub enum Updated {
    /// `--check` found the lock up to date (a stale lock is an error).
    Checked(Checked),
    Written(Written),
}

pub fn update(ctx: &Ctx, request: Request) -> Result<Updated> {
    let path = ctx.project.join(LOCK_FILE);
    let sources = profile::load_sources(&ctx.project)?;
    trust_gate::require(
        ctx,
        &sources,
        Gate::Apply {
            trust_flag: request.trust,
        },
    )?;
    let old = super::read(&path)?;
    let flags = request.driver.is_some() || !request.gpus.is_empty();
    let facts = match &old {
        // CI checks the lock for the machine it was made for, which CI usually is not.
        Some(l) if request.check && !flags => super::facts_of(&l.target)?,
        _ => gpu::facts_for(request.driver, request.gpus)?,
    };
    if request.check && old.is_none() {
        return Err(report::missing(&ctx.project));
    }
    let new = block_on(super::resolve(
        &ctx.project,
        &sources,
        &facts,
        &ctx.printer,
        old.as_ref(),
        !request.check,
    ))?;
    let mut changes = old
        .as_ref()
        .map(|o| lock::changes(o, &new))
        .unwrap_or_default();
    // What the pinned images say about themselves, judged for the lock's machine: CI knows
    // whether they run there without pulling them or having a GPU.
    let misfits = super::misfits_by_facts(&sources, &new, &facts)?;
    if request.check {
        changes.extend(misfits);
        if !changes.is_empty() {
            return Err(report::stale(&changes));
        }
        return Ok(Updated::Checked(Checked {
            changes,
            path,
            stale: false,
            lock: new,
        }));
    }
    let written = old.as_ref() != Some(&new);
    if written {
        super::write(&path, &lock::render(&new))?;
    }
    Ok(Updated::Written(Written {
        changes,
        lock: new,
        path,
        written,
        existed: old.is_some(),
        misfits,
    }))
}
