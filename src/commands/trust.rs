//! `ptenv trust [--show | --revoke]`: record (or show, or revoke) the user's trust in the
//! project's `ptenv.yaml` (the rules: `crate::trust`; the gate other commands pass:
//! `crate::trust_gate`).

use std::path::Path;

use serde::Serialize;

use super::Ctx;
use crate::cli::TrustArgs;
use crate::error::Result;
use crate::profile;
use crate::trust::{Changes, Risk, Store};
use crate::trust_gate::assess;

/// `--json` (fields in alphabetical order, as the JSON has always been written; without a
/// project file, no `changes` and no `sha256`).
#[derive(Serialize)]
struct Json<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<Option<Changes>>,
    file: Option<&'a Path>,
    project: &'a Path,
    settings: &'a [Risk],
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<&'a str>,
    trusted: bool,
}

pub fn run(ctx: &Ctx, args: TrustArgs) -> Result<i32> {
    let p = &ctx.printer;
    let store = Store::for_user()?;
    if args.revoke {
        let removed = store.remove(&ctx.project)?;
        #[derive(Serialize)]
        struct Revoked<'a> {
            project: &'a Path,
            revoked: bool,
        }
        p.json(&Revoked {
            project: &ctx.project,
            revoked: removed,
        });
        p.info(if removed {
            format!("Trust in {} revoked", ctx.project.display())
        } else {
            format!("{} was not trusted", ctx.project.display())
        });
        return Ok(0);
    }
    let sources = profile::load_sources(&ctx.project)?;
    let Some(a) = assess(&ctx.project, &sources, &store)? else {
        p.json(&Json {
            changes: None,
            file: None,
            project: &ctx.project,
            settings: &[],
            sha256: None,
            trusted: true,
        });
        p.info(format!(
            "{} has no {}: nothing to trust",
            ctx.project.display(),
            profile::PROJECT_FILE
        ));
        return Ok(0);
    };
    let was_trusted = a.is_trusted();
    let record = !args.show && !a.risks.is_empty() && !was_trusted;
    if record {
        store.put(&ctx.project, &a.record_now())?;
    }
    p.json(&Json {
        changes: Some(a.changes()),
        file: Some(&a.file),
        project: &ctx.project,
        settings: &a.risks,
        sha256: Some(&a.sha256),
        trusted: was_trusted || record,
    });
    if a.risks.is_empty() {
        p.result(format!(
            "{} has no setting that needs trust (mounts, command, env, packages, image, repository, ca_bundle, a non-loopback bind, ipc: host)",
            a.file.display()
        ));
        return Ok(0);
    }
    p.result(a.describe());
    p.result(match (args.show, was_trusted) {
        (_, true) => "This version of the file is trusted.".to_string(),
        (true, false) => "Not trusted: `ptenv trust` trusts this version.".to_string(),
        (false, false) => format!(
            "Trusted this version of {} (`ptenv trust --revoke` undoes it; any change asks again).",
            a.file.display()
        ),
    });
    Ok(0)
}
