//! `ptenv profiles`: what can be started here, and which files define it.

use super::Ctx;
use crate::error::Result;
use crate::profile::{self, Mode};

/// `--json` (fields in alphabetical order, as the JSON has always been written).
#[derive(serde::Serialize)]
struct Json<'a> {
    default: String,
    profiles: Vec<Entry<'a>>,
}

#[derive(serde::Serialize)]
struct Entry<'a> {
    default: bool,
    description: Option<&'a str>,
    from: &'a [String],
    mode: Option<Mode>,
    name: &'a str,
}

pub fn run(ctx: &Ctx) -> Result<i32> {
    let sources = profile::load_sources(&ctx.project)?;
    let listed = sources.list();
    let p = &ctx.printer;
    p.json(&Json {
        default: sources.default_name(),
        profiles: listed
            .iter()
            .map(|l| Entry {
                default: l.is_default,
                description: l.description.as_deref(),
                from: &l.origins,
                mode: l.mode,
                name: &l.name,
            })
            .collect(),
    });
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
