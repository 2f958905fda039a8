//! `ptenv profiles`: what can be started here, and which files define it.

use super::Ctx;
use crate::error::Result;
use crate::profile;

pub fn run(ctx: &Ctx) -> Result<i32> {
    let sources = profile::load_sources(&ctx.project)?;
    let listed = sources.list();
    let p = &ctx.printer;
    p.json(&serde_json::json!({
        "default": sources.default_name(),
        "profiles": listed.iter().map(|l| serde_json::json!({
            "name": l.name,
            "mode": l.mode.map(|m| m.to_string()),
            "description": l.description,
            "from": l.origins,
            "default": l.is_default,
        })).collect::<Vec<_>>(),
    }));
    let width = listed.iter().map(|l| l.name.len()).max().unwrap_or(0);
    for l in &listed {
        let mark = if l.is_default { "*" } else { " " };
        let mode = l
            .mode
            .map(|m| m.to_string())
            .unwrap_or_else(|| "(no mode)".into());
        p.result(format!(
            "{mark} {:width$}  {:8} {}",
            l.name,
            mode,
            l.description.as_deref().unwrap_or(""),
        ));
        p.result(format!("  {:width$}  from: {}", "", l.origins.join(" < ")));
    }
    p.info("\n* = started by `ptenv up` without a name");
    Ok(0)
}
