//! The selection as the user reads it: the machine's facts, why this image, the images not
//! taken, as lines (with `wrap`), and the `--json` documents of `ptenv select`. Pure: the choice
//! and the facts in, text and serializable values out.

use serde::Serialize;

use crate::catalog::DriverVersion;
use crate::catalog::Maturity;
use crate::gpu::{Gpu, HostFacts, Source};
use crate::profile::Variant;
use crate::select::{Choice, Rejected, Verdict};

/// `ptenv select --json` (fields in alphabetical order, as the JSON has always been written).
#[derive(Serialize)]
pub struct ChoiceJson<'a> {
    pub cuda: &'a Option<String>,
    pub driver: &'a Option<DriverVersion>,
    pub driver_cuda: Option<String>,
    pub gpu: bool,
    pub gpus: Vec<GpuJson<'a>>,
    pub image: &'a str,
    pub machine: &'a str,
    pub pinned: Option<&'static str>,
    /// The problems as sentences, as `ptenv select --json` has always written them.
    pub problems: Vec<String>,
    pub profile: &'a str,
    pub pytorch: &'a str,
    pub reasons: &'a [String],
    pub rejected: &'a [Rejected],
    pub source: &'static str,
    pub status: &'a Option<Maturity>,
    pub variant: Variant,
    pub warnings: &'a [String],
}

/// One GPU in [`ChoiceJson`].
#[derive(Serialize)]
pub struct GpuJson<'a> {
    pub architecture: String,
    pub compute_capability: String,
    pub index: u32,
    pub memory_bytes: u64,
    pub name: &'a str,
    /// Handed to the container.
    pub used: bool,
    pub uuid: &'a str,
}

impl<'a> ChoiceJson<'a> {
    pub fn new(choice: &'a Choice, facts: &'a HostFacts, profile: &'a str) -> Self {
        ChoiceJson {
            cuda: &choice.cuda,
            driver: &facts.driver,
            driver_cuda: driver_cuda(facts),
            gpu: choice.gpu,
            gpus: facts.gpus.iter().map(|g| GpuJson::new(g, choice)).collect(),
            image: &choice.image,
            machine: &facts.machine,
            pinned: choice.pinned,
            problems: facts.problems.iter().map(|p| p.to_string()).collect(),
            profile,
            pytorch: &choice.pytorch,
            reasons: &choice.reasons,
            rejected: &choice.rejected,
            source: facts.source.as_str(),
            status: &choice.status,
            variant: choice.variant,
            warnings: &choice.warnings,
        }
    }
}

impl<'a> GpuJson<'a> {
    fn new(g: &'a Gpu, choice: &Choice) -> Self {
        GpuJson {
            architecture: g.arch_name(),
            compute_capability: g.cc_str(),
            index: g.index,
            memory_bytes: g.memory_bytes,
            name: &g.name,
            used: choice.gpus.contains(g),
            uuid: &g.uuid,
        }
    }
}

/// `ptenv select --list --json`.
#[derive(Serialize)]
pub struct MatrixJson<'a> {
    pub driver: &'a Option<DriverVersion>,
    pub driver_cuda: Option<String>,
    pub gpus: Vec<String>,
    pub lines: &'a [Verdict],
    pub profile: &'a str,
    pub variant: Variant,
}

/// "12.4": the CUDA version the driver supports.
pub fn driver_cuda(facts: &HostFacts) -> Option<String> {
    facts.driver_cuda().map(|(a, b)| format!("{a}.{b}"))
}

/// `--list`'s table: one row per catalog line.
pub fn matrix_rows(verdicts: &[Verdict]) -> Vec<[String; 5]> {
    verdicts
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
        .collect()
}

/// The machine in a few words, under `--list`'s table.
pub fn machine_summary(facts: &HostFacts) -> String {
    match (&facts.driver, facts.gpus.is_empty()) {
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
    }
}

/// The machine's driver and GPUs, a line each, starting with an empty line.
pub fn machine_lines(choice: &Choice, facts: &HostFacts) -> Vec<String> {
    let mut out = vec![String::new()];
    let machine = if facts.source == Source::Override {
        "The planned machine"
    } else {
        "This machine"
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
    out
}

/// Why this image, and the images not taken, starting with an empty line.
pub fn why_lines(choice: &Choice) -> Vec<String> {
    let mut out = Vec::new();
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
    out
}

/// Greedy word wrap at 100 columns with a first-line and a continuation prefix.
pub fn wrap(text: &str, first: &str, rest: &str) -> Vec<String> {
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
