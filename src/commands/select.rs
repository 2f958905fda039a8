//! `ptenv select [MODE]`: which image fits this machine (or the one described by `--driver`
//! and `--gpu`), and why. The image reference goes to stdout, so `$(ptenv select)` works;
//! the explanation goes to stderr.

use super::Ctx;
use crate::cli::SelectArgs;
use crate::error::Result;
use crate::gpu::{self, HostFacts, Source};
use crate::output::Printer;
use crate::profile;
use crate::select::{self, Choice};

pub fn run(ctx: &Ctx, args: SelectArgs) -> Result<i32> {
    let sources = profile::load_sources(&ctx.project)?;
    let name = args.mode.clone().unwrap_or_else(|| sources.default_name());
    let resolved = sources.resolve(&name, &args.profile.layer())?;
    let facts = if args.driver.is_some() || !args.gpu.is_empty() {
        gpu::facts_for(args.driver.as_deref(), &args.gpu)?
    } else {
        ctx.machine.gpu_facts()
    };
    let place = if ctx.machine.is_remote() {
        format!("The server {}", ctx.machine.describe())
    } else {
        "This machine".to_string()
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
            return Err(e);
        }
    };
    let mut json = to_json(&choice, &facts, &resolved.name);
    json["host"] = ctx.machine.describe().into();
    p.json(&json);
    p.result(&choice.image);
    explain(p, &choice, &facts, &place);
    Ok(0)
}

/// `--list`: the whole catalog judged for this machine, as a table (stdout) or JSON.
fn list(p: &Printer, profile: &profile::Profile, facts: &HostFacts) -> Result<i32> {
    let verdicts = select::matrix(profile, facts)?;
    p.json(&serde_json::json!({
        "profile": profile.name,
        "variant": profile.variant,
        "driver": facts.driver,
        "driver_cuda": facts.driver_cuda().map(|(a, b)| format!("{a}.{b}")),
        "gpus": facts.gpus.iter().map(|g| g.cc_str()).collect::<Vec<_>>(),
        "lines": verdicts,
    }));
    let header = ["PYTORCH", "CUDA", "STATUS", "RUNS HERE", "WHY NOT"].map(String::from);
    let rows: Vec<[String; 5]> = verdicts
        .iter()
        .map(|v| {
            [
                v.pytorch.clone(),
                v.cuda.clone(),
                format!(
                    "{}{}",
                    v.status.as_str(),
                    if v.pypi_default { ", pip" } else { "" }
                ),
                match (v.fits, v.chosen) {
                    (true, true) => "yes (chosen)".to_string(),
                    (true, false) => "yes".to_string(),
                    (false, _) => "no".to_string(),
                },
                v.summary.join("; "),
            ]
        })
        .collect();
    p.result(super::ls::table(&header, &rows));
    let machine = match (&facts.driver, facts.gpus.is_empty()) {
        (None, _) => "no NVIDIA driver: every image runs on the CPU".to_string(),
        (Some(d), true) => format!("NVIDIA driver {d}, no GPU listed"),
        (Some(d), false) => format!(
            "NVIDIA driver {d}, GPU {}",
            facts
                .gpus
                .iter()
                .map(|g| format!("{} ({})", g.cc_str(), g.arch_name()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    p.info(format!(
        "\n{} {} images of profile `{}` for {machine}; \"pip\" marks the line `pip install torch` gets; `--json` says why in full.",
        verdicts.len(),
        profile.variant,
        profile.name
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

fn to_json(choice: &Choice, facts: &HostFacts, profile: &str) -> serde_json::Value {
    let gpus: Vec<serde_json::Value> = facts
        .gpus
        .iter()
        .map(|g| {
            serde_json::json!({
                "index": g.index,
                "name": g.name,
                "uuid": g.uuid,
                "compute_capability": g.cc_str(),
                "architecture": g.arch_name(),
                "memory_bytes": g.memory_bytes,
                "used": choice.gpus.contains(g),
            })
        })
        .collect();
    serde_json::json!({
        "image": choice.image,
        "pytorch": choice.pytorch,
        "cuda": choice.cuda,
        "variant": choice.variant,
        "gpu": choice.gpu,
        "status": choice.status,
        "pinned": choice.pinned,
        "profile": profile,
        "driver": facts.driver,
        "driver_cuda": facts.driver_cuda().map(|(a, b)| format!("{a}.{b}")),
        "gpus": gpus,
        "source": facts.source.as_str(),
        "machine": facts.machine,
        "problems": facts.problems,
        "reasons": choice.reasons,
        "warnings": choice.warnings,
        "rejected": choice.rejected,
    })
}

/// The explanation under the image reference (stderr; `--quiet` and `--json` drop it, except
/// warnings, which `--json` keeps on stderr).
fn explain(p: &Printer, choice: &Choice, facts: &HostFacts, place: &str) {
    let mut out = vec![String::new()];
    let machine = if facts.source == Source::Override {
        "The planned machine"
    } else {
        place
    };
    match (&facts.driver, facts.driver_cuda()) {
        (None, _) => out.push(format!("{machine}: no NVIDIA driver found.")),
        (Some(d), Some((a, b))) => out.push(format!(
            "{machine}: NVIDIA driver {d} (supports CUDA up to {a}.{b})."
        )),
        (Some(d), None) => out.push(format!("{machine}: NVIDIA driver {d}.")),
    }
    for g in &facts.gpus {
        let arch = g.arch_name();
        let mut line = if g.name.contains(&arch) {
            // Planned with `--gpu 12.0`: the name is the architecture already.
            format!(
                "  GPU {}: {} (compute capability {}",
                g.index,
                g.name,
                g.cc_str()
            )
        } else {
            format!(
                "  GPU {}: {} ({arch}, compute capability {}",
                g.index,
                g.name,
                g.cc_str()
            )
        };
        if g.memory_bytes > 0 {
            line.push_str(&format!(", {}", crate::size::human(g.memory_bytes)));
        }
        line.push(')');
        if !choice.gpus.contains(g) && choice.gpu {
            line.push_str(" (not handed to the container)");
        }
        out.push(line);
    }
    for line in out.drain(..) {
        p.info(line);
    }
    show_facts_source(p, facts);
    out.push(String::new());
    out.push("Why this image:".to_string());
    for r in &choice.reasons {
        out.extend(wrap(r, "  - ", "    "));
    }
    if !choice.rejected.is_empty() {
        out.push(String::new());
        out.push("Not chosen:".to_string());
        for r in &choice.rejected {
            out.extend(wrap(
                &format!("{}: {}", r.image, r.reasons.join("; ")),
                "  - ",
                "    ",
            ));
        }
    }
    for line in out {
        p.info(line);
    }
    if !choice.warnings.is_empty() {
        p.info("");
    }
    for w in &choice.warnings {
        p.warn(wrap(w, "", "  ").join("\n"));
    }
}

/// Greedy word wrap at 100 columns with a first-line and a continuation prefix.
fn wrap(text: &str, first: &str, rest: &str) -> Vec<String> {
    const WIDTH: usize = 100;
    let mut lines = Vec::new();
    let mut current = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && current.chars().count() + 1 + word.chars().count() > WIDTH {
            lines.push(std::mem::replace(&mut current, rest.to_string()));
            empty = true;
        }
        if !empty {
            current.push(' ');
        }
        current.push_str(word);
        empty = false;
    }
    lines.push(current);
    lines
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrapping_keeps_every_word_and_the_prefixes() {
        let text = "word ".repeat(60);
        let lines = wrap(&text, "  - ", "    ");
        assert!(lines.len() > 1);
        assert!(lines[0].starts_with("  - word"));
        assert!(lines[1].starts_with("    word"));
        assert!(lines.iter().all(|l| l.chars().count() <= 100));
        let words: usize = lines
            .iter()
            .map(|l| l.split_whitespace().filter(|w| *w == "word").count())
            .sum();
        assert_eq!(words, 60);
    }
}
