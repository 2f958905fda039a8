//! The gate that `up`, `ssh`, `shell`, `export`, `lock` and `doctor` pass before they apply a
//! project's `ptenv.yaml`: its settings that reach the host or run code (`crate::trust`) must
//! be trusted by the user (the record in ptenv's data dir), else ptenv asks on a terminal or
//! refuses.

use std::io::IsTerminal;
use std::path::Path;

use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::profile::{self, Origin, Sources};
use crate::trust::{Assessment, Store};

/// How a command treats a project file that needs trust and does not have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// The command applies the settings: ask on a terminal, else refuse. `--trust` lets it
    /// go on for this run without recording anything.
    Apply { trust_flag: bool },
    /// The command only shows them (`--dry-run`): warn, never ask.
    Preview,
}

/// Whether the command may go on with `sources`. Asks on a terminal (default No) and records
/// the answer; without one, refuses with the settings and the ways forward.
pub fn require(ctx: &Ctx, sources: &Sources, gate: Gate) -> Result<()> {
    let Some(a) = untrusted(&ctx.project, sources)? else {
        return Ok(());
    };
    let p = &ctx.printer;
    match gate {
        Gate::Preview => {
            p.warn(format!(
                "{}\nthey are shown, not applied: `ptenv trust` (or answering yes when a command asks) lets ptenv apply them",
                a.describe()
            ));
            Ok(())
        }
        Gate::Apply { trust_flag: true } => {
            p.warn(format!(
                "{}\napplied for this run only (--trust)",
                a.describe()
            ));
            Ok(())
        }
        Gate::Apply { trust_flag: false }
            if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() =>
        {
            p.ask(a.describe());
            let yes = dialoguer::Confirm::new()
                .with_prompt(format!(
                    "Trust this version of {} and apply these settings?",
                    a.file.display()
                ))
                .default(false)
                .interact_on(&dialoguer::console::Term::stderr())
                .map_err(|e| Error::new(format!("cannot read the answer: {e}")))?;
            if !yes {
                return Err(Error::new(format!(
                    "{} is not trusted; nothing was done",
                    a.file.display()
                ))
                .hint("`ptenv trust --show` lists the settings; `ptenv trust` trusts them"));
            }
            Store::for_user()?.put(&ctx.project, &a.record_now())?;
            p.info(format!(
                "Trusted this version of {} (`ptenv trust --revoke` undoes it)",
                a.file.display()
            ));
            Ok(())
        }
        Gate::Apply { trust_flag: false } => Err(a.refusal()),
    }
}

/// The project file's assessment when it needs trust and does not have it; asks nothing.
pub fn untrusted(project: &Path, sources: &Sources) -> Result<Option<Assessment>> {
    let store = Store::for_user()?;
    Ok(assess(project, sources, &store)?.filter(|a| !a.is_trusted()))
}

/// The engine the profile files choose (`host:`), once its file may choose it: the user's
/// config always may; a project's `ptenv.yaml` only when trusted, since its `host:` makes ptenv
/// connect where the project's author chose. Checked before any connection is made.
pub fn profile_host<'a>(
    project: &Path,
    sources: &'a Sources,
) -> Result<Option<(&'a str, Option<&'a Path>)>> {
    let Some((host, file)) = sources.host() else {
        return Ok(None);
    };
    let path = match &file.origin {
        Origin::Project(path) => path,
        Origin::User(path) => return Ok(Some((host, Some(path.as_path())))),
        Origin::BuiltIn => return Ok(Some((host, None))),
    };
    if untrusted(project, sources)?.is_some() {
        return Err(Error::new(format!(
            "{} sets `host: {host}` and is not trusted: ptenv would connect to the engine the project's author chose and run the environment there; nothing was done",
            path.display()
        ))
        .hint("`ptenv trust --show` lists the file's settings; `ptenv trust` trusts this version of it")
        .hint("or choose the engine yourself with `--host TARGET`, which comes before the project's `host:`"));
    }
    Ok(Some((host, Some(path.as_path()))))
}

/// The project file of `sources` judged against the user's record; `None` without one. The
/// file is read again for its hash and must still say what `sources` parsed, so the trusted
/// bytes are the applied ones.
pub fn assess(project: &Path, sources: &Sources, store: &Store) -> Result<Option<Assessment>> {
    let Some((path, layer)) = sources.files.iter().find_map(|s| match &s.origin {
        Origin::Project(path) => Some((path, &s.layer)),
        _ => None,
    }) else {
        return Ok(None);
    };
    let bytes = std::fs::read(path)
        .map_err(|e| Error::new(format!("cannot read {}: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&bytes);
    if profile::parse(&text, path).ok().as_ref() != Some(layer) {
        return Err(Error::new(format!(
            "{} changed while ptenv was reading it",
            path.display()
        ))
        .hint("run the command again once nothing is writing the file"));
    }
    let record = store.get(project, path);
    Ok(Some(Assessment::new(path, &bytes, layer, record)))
}
