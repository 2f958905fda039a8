//! `ptenv lock`: resolve every profile of the project (the selection for this host, or for the
//! machine given by `--driver`/`--gpu`), ask the registry for each image's digest, and write
//! `ptenv.lock`; `--check` compares instead and fails when the lock is stale (CI). The
//! resolving and the file are `crate::lockfile`'s; this file words the outcome.

use std::path::Path;

use serde::Serialize;

use super::Ctx;
use crate::cli::LockArgs;
use crate::engine::block_on;
use crate::error::{Error, Result};
use crate::gpu;
use crate::lock::{self, Lock, LOCK_FILE};
use crate::lockfile;
use crate::output::Printer;
use crate::profile;

/// `--check --json`.
#[derive(Serialize)]
struct Checked<'a> {
    changes: &'a [String],
    path: &'a Path,
    stale: bool,
}

/// `--json`.
#[derive(Serialize)]
struct Written<'a> {
    changes: &'a [String],
    lock: &'a Lock,
    path: &'a Path,
    written: bool,
}

pub fn run(ctx: &Ctx, args: LockArgs) -> Result<i32> {
    let p = &ctx.printer;
    let path = ctx.project.join(LOCK_FILE);
    let sources = profile::load_sources(&ctx.project)?;
    crate::trust_gate::require(
        ctx,
        &sources,
        crate::trust_gate::Gate::Apply {
            trust_flag: args.trust,
        },
    )?;
    let old = lockfile::read(&path)?;
    let flags = args.driver.is_some() || !args.gpu.is_empty();
    let facts = match &old {
        // CI checks the lock for the machine it was made for, which CI usually is not.
        Some(l) if args.check && !flags => lockfile::facts_of(&l.target)?,
        _ => gpu::facts_for(args.driver.as_deref(), &args.gpu)?,
    };
    if args.check && old.is_none() {
        return Err(Error::new(format!(
            "there is no {LOCK_FILE} in {}",
            ctx.project.display()
        ))
        .hint("run `ptenv lock` and commit ptenv.lock")
        .hint(
            "with --driver/--gpu it pins the images for the team's machines instead of this one",
        ));
    }
    let new = block_on(lockfile::resolve(
        &ctx.project,
        &sources,
        &facts,
        p,
        old.as_ref(),
        !args.check,
    ))?;
    let mut changes = old
        .as_ref()
        .map(|o| lock::changes(o, &new))
        .unwrap_or_default();
    // What the pinned images say about themselves, judged for the lock's machine: CI knows
    // whether they run there without pulling them or having a GPU.
    let misfits = lockfile::misfits_by_facts(&sources, &new, &facts)?;
    if args.check {
        changes.extend(misfits);
    } else {
        for m in &misfits {
            p.warn(m);
        }
    }
    if args.check {
        if changes.is_empty() {
            p.json(&Checked {
                changes: &changes,
                path: &path,
                stale: false,
            });
            p.info(format!(
                "{LOCK_FILE} is up to date: {} profile{} pinned for {}",
                new.profiles.len(),
                plural(new.profiles.len()),
                new.target.describe()
            ));
            return Ok(0);
        }
        let mut message = format!("{LOCK_FILE} is stale:");
        for c in &changes {
            message.push_str(&format!("\n  - {c}"));
        }
        return Err(Error::new(message)
            .hint("run `ptenv lock` (with the same --driver/--gpu, if any) and commit ptenv.lock")
            .hint("`git diff ptenv.lock` then shows what changed"));
    }
    let unchanged = old.as_ref() == Some(&new);
    if !unchanged {
        lockfile::write(&path, &lock::render(&new))?;
    }
    report(p, &new, &path, old.is_some(), unchanged, &changes);
    Ok(0)
}

/// What `ptenv lock` says: the pinned references on stdout, one per profile; on stderr what
/// changed and for which machine.
fn report(
    p: &Printer,
    new: &Lock,
    path: &Path,
    existed: bool,
    unchanged: bool,
    changes: &[String],
) {
    p.json(&Written {
        changes,
        lock: new,
        path,
        written: !unchanged,
    });
    let n = new.profiles.len();
    if unchanged {
        p.info(format!(
            "{LOCK_FILE} is up to date ({n} profile{}, for {})",
            plural(n),
            new.target.describe()
        ));
    } else {
        p.info(format!(
            "{} {} for {}: {n} profile{} pinned by digest",
            if existed { "Updated" } else { "Wrote" },
            path.display(),
            new.target.describe(),
            plural(n)
        ));
        for c in changes {
            p.info(format!("  - {c}"));
        }
    }
    let width = new.profiles.keys().map(String::len).max().unwrap_or(0);
    for (name, e) in &new.profiles {
        p.result(format!("{name:<width$}  {}", e.reference()));
        p.detail(format!("{:<width$}  ({})", "", e.image));
    }
    if !unchanged {
        p.info("Commit ptenv.lock: `ptenv up` then starts every checkout from these digests.");
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
