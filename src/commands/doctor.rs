//! `ptenv doctor`: the report on each link of the chain (gathered by `crate::diagnose`, judged
//! by `doctor`'s checks); `--explain FILE` reads a log instead.
//!
//! Files are read under `PTENV_SYSROOT` (default `/`): tests point it at a sysfs-like tree.

use std::io::Read;
use std::path::Path;

use super::Ctx;
use crate::cli::DoctorArgs;
use crate::doctor::{explain, host};
use crate::engine;
use crate::error::{Error, Result};
use crate::profile;

pub fn run(ctx: &Ctx, args: DoctorArgs) -> Result<i32> {
    if let Some(file) = &args.explain {
        return explain_file(ctx, file);
    }
    let root = host::sysroot();
    // A broken ptenv.yaml is one more finding, not a reason to skip the host and Docker.
    let sources = profile::load_sources(&ctx.project);
    let profile = sources.as_ref().map_err(Clone::clone).and_then(|sources| {
        let name = args
            .mode
            .clone()
            .or_else(|| args.profile_name.clone())
            .unwrap_or_else(|| sources.default_name());
        sources.resolve(&name, &args.profile.layer())
    });
    // The probe runs the profile's image: not one that an untrusted project file names.
    let untrusted = match &sources {
        Ok(s) if !args.trust => crate::trust_gate::untrusted(&ctx.project, s)?,
        _ => None,
    };
    let probe = match (args.no_container, untrusted) {
        (true, _) => Err("skipped: --no-container".to_string()),
        (false, Some(a)) => Err(format!(
            "skipped: {} is not trusted, and the probe would run what it names (`ptenv trust`, or `ptenv doctor --trust`, then run doctor again)",
            a.file.display()
        )),
        (false, None) => Ok(()),
    };
    let no_container = args
        .no_container
        .then(|| "skipped: --no-container".to_string());
    let (report, facts) = engine::block_on(crate::diagnose::diagnose(
        ctx,
        &profile,
        &root,
        probe,
        no_container,
    ));
    let p = &ctx.printer;
    // The machine whose facts the checks judged: the engine's, which may be a server.
    p.json(&Json {
        report: report.to_json(),
        host: Host {
            place: ctx.machine.describe(),
            remote: ctx.machine.is_remote(),
            facts: &facts,
        },
    });
    if ctx.machine.is_remote() {
        p.result(format!(
            "Checked {}: each group's heading says where its checks ran.\n",
            ctx.machine.describe()
        ));
    }
    p.result(report.render().trim_end());
    Ok(report.exit_code())
}

/// `ptenv doctor --json`: the report, and the machine it is about.
#[derive(serde::Serialize)]
struct Json<'a> {
    #[serde(flatten)]
    report: crate::doctor::ReportJson,
    host: Host<'a>,
}

#[derive(serde::Serialize)]
struct Host<'a> {
    #[serde(rename = "where")]
    place: String,
    remote: bool,
    facts: &'a crate::gpu::HostFacts,
}

/// `--explain FILE` (or `-`): the known errors in a log, with this host's facts.
fn explain_file(ctx: &Ctx, file: &Path) -> Result<i32> {
    let bytes = if file == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Error::new(format!("cannot read standard input: {e}")))?;
        buf
    } else {
        std::fs::read(file).map_err(|e| {
            Error::new(format!("cannot read {}: {e}", file.display()))
                .hint("pass a log file, or `-` to read it from standard input")
        })?
    };
    // Logs are often partly binary (progress bars, colour codes): read what is text.
    let text = String::from_utf8_lossy(&bytes);
    let facts = ctx.machine.gpu_facts();
    let findings = explain::scan(
        &text,
        &explain::Facts::host(&facts, &crate::doctor::ThisHost),
    );
    let p = &ctx.printer;
    p.json(&explain::to_json(&findings));
    p.result(explain::render(&findings).trim_end());
    // Like grep: 0 when something was recognised, 1 when nothing was.
    Ok(if findings.is_empty() { 1 } else { 0 })
}
