//! `ptenv trust [--show | --revoke]`: record (or show, or revoke) the user's trust in the
//! project's `ptenv.yaml` (the rules: `crate::trust`; the gate other commands pass:
//! `crate::trust_gate`).

use serde_json::json;

use super::Ctx;
use crate::cli::TrustArgs;
use crate::error::Result;
use crate::profile;
use crate::trust::Store;
use crate::trust_gate::assess;

pub fn run(ctx: &Ctx, args: TrustArgs) -> Result<i32> {
    let p = &ctx.printer;
    let store = Store::for_user()?;
    if args.revoke {
        let removed = store.remove(&ctx.project)?;
        p.json(&json!({"project": ctx.project, "revoked": removed}));
        p.info(if removed {
            format!("Trust in {} revoked", ctx.project.display())
        } else {
            format!("{} was not trusted", ctx.project.display())
        });
        return Ok(0);
    }
    let sources = profile::load_sources(&ctx.project)?;
    let Some(a) = assess(ctx, &sources, &store)? else {
        p.json(&json!({"project": ctx.project, "file": null, "trusted": true, "settings": []}));
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
    p.json(&json!({
        "project": ctx.project,
        "file": a.file,
        "sha256": a.sha256,
        "trusted": was_trusted || record,
        "settings": a.risks,
        "changes": a.changes(),
    }));
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
