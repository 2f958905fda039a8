//! The known errors of the chain from GPU to torch, as a table, and what they mean here.
//!
//! Each [`Pattern`] is derived from the format string that prints the message, in the source of
//! the component that emits it (cited next to the pattern, by repository, path and tag); the
//! variable parts of the format string (pids, sizes, versions, paths, device names) are `{}`
//! in the pattern's shapes (see [`shape_hits`]). The facts of this machine (driver, GPUs, the
//! container's /dev/shm) are added where they decide the fix.

mod context;
mod patterns;
#[cfg(test)]
pub(crate) mod tests;

use super::container::ContainerShm;
use crate::catalog::{self, Cc, DriverVersion};
use crate::gpu::HostFacts;

use context::*;
pub use patterns::*;

/// What ptenv knows about the place a text came from.
#[derive(Clone, Copy)]
pub struct Facts<'a> {
    pub host: &'a HostFacts,
    /// The container whose output is read (`None` for a pasted log).
    pub container: Option<&'a ContainerShm>,
    /// Where a finding's context looks up the rest, only when a pattern that needs it matched.
    pub lookup: &'a dyn Lookup,
}

impl<'a> Facts<'a> {
    pub fn host(host: &'a HostFacts, lookup: &'a dyn Lookup) -> Facts<'a> {
        Facts {
            host,
            container: None,
            lookup,
        }
    }
}

impl std::fmt::Debug for Facts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Facts")
            .field("host", &self.host)
            .field("container", &self.container)
            .finish_non_exhaustive()
    }
}

/// What some findings' context reads on the host: the binary reads it there
/// (`doctor::host`, `doctor::docker_host`), and only for a finding that needs it.
pub trait Lookup {
    /// Whether the nvidia kernel module is loaded, and the PCI addresses of the NVIDIA GPUs
    /// bound to vfio-pci (reserved for virtual machines).
    fn nvidia_module(&self) -> (bool, Vec<String>);
    /// Where `nvidia-container-runtime-hook` is on PATH, and the CDI spec files in place.
    fn toolkit(&self) -> (Option<std::path::PathBuf>, Vec<std::path::PathBuf>);
}

/// For tests: a host with no module loaded, no hook and no CDI spec.
#[cfg(test)]
pub(crate) struct NothingThere;

#[cfg(test)]
impl Lookup for NothingThere {
    fn nvidia_module(&self) -> (bool, Vec<String>) {
        (false, Vec::new())
    }
    fn toolkit(&self) -> (Option<std::path::PathBuf>, Vec<std::path::PathBuf>) {
        (None, Vec::new())
    }
}

/// One known error.
#[derive(Debug)]
pub struct Pattern {
    /// Stable name, used in `--json`.
    pub id: &'static str,
    /// The line matches when it fits one of these shapes ([`shape_hits`]).
    pub shapes: &'static [&'static str],
    /// What it is, in a few words.
    pub title: &'static str,
    pub cause: &'static str,
    pub fix: &'static str,
    /// What this machine's facts add (e.g. "this host's driver 535.104.05 supports CUDA 12.2").
    context: fn(&str, &Facts) -> Option<String>,
}

impl Pattern {
    fn hits(&self, line: &str) -> bool {
        self.shapes.iter().any(|s| shape_hits(s, line))
    }
}

/// Whether `line` contains a message printed by a format string: `shape` is the format string
/// with each variable part written `{}`, which stands for any text (possibly empty). The fixed
/// parts must appear in order; anything may come before and after (log prefixes, `RuntimeError: `).
/// Taking each fixed part at its first occurrence after the previous one is enough: if any
/// placement fits, that one does.
pub fn shape_hits(shape: &str, line: &str) -> bool {
    let mut rest = line;
    for part in shape.split("{}").filter(|p| !p.is_empty()) {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// One known error found in a text.
#[derive(Debug)]
pub struct Finding {
    pub pattern: &'static Pattern,
    /// 1-based line of the first occurrence.
    pub line_no: usize,
    /// That line, trimmed (and shortened when very long).
    pub line: String,
    /// How many lines matched.
    pub count: usize,
    pub fix: String,
    pub host: Option<String>,
}

/// Every known error in `text`, once per pattern, in the order they first appear.
pub fn scan(text: &str, facts: &Facts) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for p in PATTERNS.iter().filter(|p| p.hits(line)) {
            if let Some(f) = out.iter_mut().find(|f| std::ptr::eq(f.pattern, p)) {
                f.count += 1;
                continue;
            }
            let trimmed = line.trim();
            let shown: String = if trimmed.chars().count() > 240 {
                trimmed.chars().take(240).chain("…".chars()).collect()
            } else {
                trimmed.to_string()
            };
            out.push(Finding {
                pattern: p,
                line_no: i + 1,
                line: shown,
                count: 1,
                fix: p.fix.to_string(),
                host: (p.context)(line, facts),
            });
        }
    }
    out
}

/// The findings for people: each with where it was, what it means, what to do, and what this
/// host adds. Echoed log lines are redacted (a Jupyter URL in a log carries its token).
pub fn render(findings: &[Finding]) -> String {
    use super::redact;
    let mut out = String::new();
    for f in findings {
        let more = if f.count > 1 {
            format!(
                " (and {} more line{})",
                f.count - 1,
                if f.count == 2 { "" } else { "s" }
            )
        } else {
            String::new()
        };
        out.push_str(&format!("line {}{more}: {}\n", f.line_no, redact(&f.line)));
        out.push_str(&format!("  {}: {}\n", f.pattern.id, f.pattern.title));
        out.push_str(&format!("  cause: {}\n", f.pattern.cause));
        out.push_str(&format!("  fix: {}\n", f.fix));
        if let Some(h) = &f.host {
            out.push_str(&format!("  this host: {h}\n"));
        }
        out.push('\n');
    }
    match findings.len() {
        0 => out.push_str("No known GPU/CUDA/Docker error found in the text. `ptenv doctor` checks the machine itself.\n"),
        1 => out.push_str("1 known error found.\n"),
        n => out.push_str(&format!("{n} known errors found; the first one in the text is usually the cause of the others.\n")),
    }
    out
}

/// `{findings: [{id, line, count, text, title, cause, fix, host}], recognised}`.
pub fn to_json(findings: &[Finding]) -> FindingsJson<'_> {
    FindingsJson {
        findings: findings
            .iter()
            .map(|f| FindingJson {
                cause: f.pattern.cause,
                count: f.count,
                fix: &f.fix,
                host: &f.host,
                id: f.pattern.id,
                line: f.line_no,
                text: super::redact(&f.line),
                title: f.pattern.title,
            })
            .collect(),
        recognised: findings.len(),
    }
}

/// `--explain --json` (fields in alphabetical order, as the JSON has always been written).
#[derive(Debug, serde::Serialize)]
pub struct FindingsJson<'a> {
    pub findings: Vec<FindingJson<'a>>,
    pub recognised: usize,
}

/// One finding in [`FindingsJson`].
#[derive(Debug, serde::Serialize)]
pub struct FindingJson<'a> {
    pub cause: &'static str,
    pub count: usize,
    pub fix: &'a str,
    pub host: &'a Option<String>,
    pub id: &'static str,
    pub line: usize,
    pub text: String,
    pub title: &'static str,
}
