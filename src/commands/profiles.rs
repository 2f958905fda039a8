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
    /// What the profile installs from the project's files, when it has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    dependencies: Option<&'a str>,
    description: Option<&'a str>,
    from: &'a [String],
    mode: Option<Mode>,
    name: &'a str,
}

pub fn run(ctx: &Ctx) -> Result<i32> {
    let sources = profile::load_sources(&ctx.project)?;
    let listed = sources.list();
    let p = &ctx.printer;
    // What each profile installs from the project's files, when it has any (the torch rule is
    // `up`'s, which knows the image).
    let read = crate::project::reader(&ctx.project);
    let deps: Vec<Option<String>> = listed
        .iter()
        .map(|l| {
            let profile = sources.resolve(&l.name, &profile::Layer::default()).ok()?;
            match crate::dependencies::detect(profile.dependencies.as_ref(), &read) {
                Ok(d) if d.files.is_empty() => None,
                Ok(d) => Some(d.summary()),
                Err(e) => Some(format!("cannot be read: {}", e.message)),
            }
        })
        .collect();
    p.json(&Json {
        default: sources.default_name(),
        profiles: listed
            .iter()
            .zip(&deps)
            .map(|(l, d)| Entry {
                default: l.is_default,
                dependencies: d.as_deref(),
                description: l.description.as_deref(),
                from: &l.origins,
                mode: l.mode,
                name: &l.name,
            })
            .collect(),
    });
    let width = listed.iter().map(|l| l.name.len()).max().unwrap_or(0);
    for (l, d) in listed.iter().zip(&deps) {
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
        if let Some(d) = d {
            p.result(format!("  {:width$}  dependencies: {d}", ""));
        }
    }
    p.info("\n* = started by `ptenv up` without a name");
    Ok(0)
}
