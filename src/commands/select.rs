//! `ptenv select [MODE]`: which image fits this machine (or the one described by `--driver`
//! and `--gpu`), and why. The image reference goes to stdout, so `$(ptenv select)` works;
//! the explanation (`crate::selection`) goes to stderr.

use super::Ctx;
use crate::cli::SelectArgs;
use crate::error::Result;
use crate::gpu::{self, HostFacts, Source};
use crate::output::Printer;
use crate::profile;
use crate::select::{self, Choice};
use crate::selection::{self, ChoiceJson, MatrixJson};

pub fn run(ctx: &Ctx, args: SelectArgs) -> Result<i32> {
    let (_, resolved) = ctx.profile(args.mode.as_deref(), &args.profile.layer())?;
    let facts = if args.driver.is_some() || !args.gpu.is_empty() {
        gpu::facts_for(args.driver.as_deref(), &args.gpu)?
    } else {
        ctx.machine.gpu_facts()
    };
    let p = &ctx.printer;
    if args.list {
        return list(p, &resolved, &facts);
    }
    let choice = match select::choose(&resolved, &facts) {
        Ok(c) => c,
        Err(e) => {
            // The error says what is wrong; `-v` adds where the facts came from.
            show_facts_source(p, &facts);
            return Err(e.into());
        }
    };
    let mut json =
        serde_json::to_value(ChoiceJson::new(&choice, &facts, &resolved.name)).unwrap_or_default();
    json["host"] = ctx.machine.describe().into();
    p.json(&json);
    p.result(&choice.image);
    let place = ctx
        .machine
        .is_remote()
        .then(|| format!("The server {}", ctx.machine.describe()));
    explain(p, &choice, &facts, place.as_deref());
    Ok(0)
}

/// `--list`: the whole catalog judged for this machine, as a table (stdout) or JSON.
fn list(p: &Printer, profile: &profile::Profile, facts: &HostFacts) -> Result<i32> {
    let verdicts = select::matrix(profile, facts)?;
    p.json(&MatrixJson {
        driver: &facts.driver,
        driver_cuda: selection::driver_cuda(facts),
        gpus: facts.gpus.iter().map(|g| g.cc_str()).collect(),
        lines: &verdicts,
        profile: &profile.name,
        variant: profile.variant,
    });
    let header = ["PYTORCH", "CUDA", "STATUS", "RUNS HERE", "WHY NOT"].map(String::from);
    p.result(crate::output::table(
        &header,
        &selection::matrix_rows(&verdicts),
    ));
    p.info(format!(
        "\n{} {} images of profile `{}` for {}; \"pip\" marks the line `pip install torch` gets; `--json` says why in full.",
        verdicts.len(),
        profile.variant,
        profile.name,
        selection::machine_summary(facts)
    ));
    Ok(0)
}

/// With `-v`: where the facts came from and what failed before.
fn show_facts_source(p: &Printer, facts: &HostFacts) {
    p.detail(format!("Facts from {}.", facts.source.describe()));
    if facts.source == Source::Nvml {
        if let Some(lib) = std::env::var_os("PTENV_NVML_LIB").filter(|v| !v.is_empty()) {
            p.detail(format!(
                "  NVML loaded from {} (PTENV_NVML_LIB)",
                lib.to_string_lossy()
            ));
        }
    }
    for problem in &facts.problems {
        p.detail(format!("  tried: {problem}"));
    }
    if facts.source != Source::Nvml && facts.cuda_driver.is_some() {
        p.detail(
            "  the driver's CUDA version is derived from its branch (CUDA release notes, Table 3)",
        );
    }
}

/// The explanation under the image reference (stderr; `--quiet` and `--json` drop it, except
/// warnings, which `--json` keeps on stderr).
/// `place`: the machine's name when it is not this one ("The server ssh://gpu-box").
fn explain(p: &Printer, choice: &Choice, facts: &HostFacts, place: Option<&str>) {
    for line in selection::machine_lines(choice, facts) {
        match (place, line.strip_prefix("This machine")) {
            (Some(place), Some(rest)) => p.info(format!("{place}{rest}")),
            _ => p.info(line),
        }
    }
    show_facts_source(p, facts);
    for line in selection::why_lines(choice) {
        p.info(line);
    }
    if !choice.warnings.is_empty() {
        p.info("");
    }
    for w in &choice.warnings {
        p.warn(selection::wrap(w, "", "  ").join("\n"));
    }
}
