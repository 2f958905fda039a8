//! `ptenv doctor`: walk the chain from the GPU to torch and find the first broken link.
//!
//! The chain, in order: an NVIDIA GPU on the PCI bus → the kernel driver → NVML → the Docker
//! daemon → a GPU path into containers (NVIDIA runtime or CDI) → the cgroup setup → the
//! selected image against the driver and the GPUs → the project's running container (shared
//! memory, memlock) → torch inside the image; then the known errors in the project's containers'
//! own output. Each link is a small function in a submodule
//! that turns facts (read elsewhere) into a [`Check`]; this module holds the types, the rule
//! that a check whose prerequisite failed is skipped, the verdict and the two renderings. The
//! host links' files are read by the binary's `doctor::host`, the Docker links' files by its
//! `doctor::docker_host`.

pub mod cgroup;
pub mod container;
pub mod daemon;
pub mod explain;
pub mod gpu_path;
pub mod host;
pub mod image;
pub mod logs;

use serde::{Deserialize, Deserializer, Serialize};

/// How one link of the chain looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// Skipped: a prerequisite failed, or there is nothing to look at (no running container).
    Skip,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    /// The marker in the text report; failures shout so they stand out without colour.
    fn marker(self) -> &'static str {
        match self {
            Status::Pass => "ok  ",
            Status::Skip => "skip",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// The checks, in chain order. The ids are stable: they appear in `--json`.
pub mod id {
    pub const PCI: &str = "pci";
    pub const KERNEL: &str = "kernel-driver";
    pub const NVML: &str = "nvml";
    pub const DOCKER: &str = "docker";
    pub const GPU_PATH: &str = "gpu-path";
    pub const CGROUP: &str = "cgroup";
    pub const IMAGE: &str = "image";
    pub const SHM: &str = "shm";
    pub const WORKSPACE: &str = "workspace";
    pub const TORCH: &str = "torch";
    pub const LOGS: &str = "logs";

    /// Every id, in chain order.
    pub const ALL: [&str; 11] = [
        PCI, KERNEL, NVML, DOCKER, GPU_PATH, CGROUP, IMAGE, SHM, WORKSPACE, TORCH, LOGS,
    ];
}

/// A check's id, one of [`id::ALL`]. Named so that serde reads it through [`known_id`] rather
/// than borrowing it from the input.
pub type CheckId = &'static str;

/// A check's id read back from JSON (the agent's answer): only the ids this build knows.
fn known_id<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let name = String::deserialize(d)?;
    id::ALL
        .iter()
        .find(|k| **k == name)
        .copied()
        .ok_or_else(|| serde::de::Error::custom(format!("unknown check `{name}`")))
}

/// The group a check belongs to in the text report.
pub fn group(check_id: &str) -> &'static str {
    match check_id {
        id::PCI | id::KERNEL | id::NVML => "Host: GPU and driver",
        id::DOCKER | id::GPU_PATH | id::CGROUP => "Docker",
        id::IMAGE => "Image",
        _ => "Container",
    }
}

/// `ptenv doctor --json` (see [`Report::to_json`]).
#[derive(Debug, Serialize)]
pub struct ReportJson {
    pub checks: Vec<Check>,
    pub first_failure: Option<FirstFailure>,
    pub verdict: Status,
}

/// The first failing link in [`ReportJson`].
#[derive(Debug, Serialize)]
pub struct FirstFailure {
    pub fix: Option<String>,
    pub id: &'static str,
    pub summary: String,
}

/// One link: what was found, what it rests on, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    #[serde(deserialize_with = "known_id")]
    pub id: CheckId,
    pub status: Status,
    /// One line for people.
    pub summary: String,
    /// What ptenv saw, one fact per line, so the verdict can be checked by hand.
    pub evidence: Vec<String>,
    /// The exact next step, when there is one.
    pub fix: Option<String>,
    /// Where it ran, when that is not this machine: "ssh://me@gpu-box, by ptenv's agent".
    #[serde(rename = "where", default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
}

impl Check {
    pub fn new(id: &'static str, status: Status, summary: impl Into<String>) -> Check {
        Check {
            id,
            status,
            summary: summary.into(),
            evidence: Vec::new(),
            fix: None,
            place: None,
        }
    }
    pub fn pass(id: &'static str, summary: impl Into<String>) -> Check {
        Check::new(id, Status::Pass, summary)
    }
    pub fn warn(id: &'static str, summary: impl Into<String>) -> Check {
        Check::new(id, Status::Warn, summary)
    }
    pub fn fail(id: &'static str, summary: impl Into<String>) -> Check {
        Check::new(id, Status::Fail, summary)
    }
    pub fn skip(id: &'static str, summary: impl Into<String>) -> Check {
        Check::new(id, Status::Skip, summary)
    }
    pub fn evidence(mut self, line: impl Into<String>) -> Check {
        self.evidence.push(line.into());
        self
    }
    pub fn evidence_all<I: IntoIterator<Item = S>, S: Into<String>>(mut self, lines: I) -> Check {
        self.evidence.extend(lines.into_iter().map(Into::into));
        self
    }
    pub fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
    /// Says where it ran (see [`Check::place`]).
    pub fn at(mut self, place: impl Into<String>) -> Check {
        self.place = Some(place.into());
        self
    }
}

/// The checks run so far, in chain order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn push(&mut self, check: Check) {
        self.checks.push(check);
    }

    pub fn get(&self, check_id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == check_id)
    }

    /// Whether a check ran and passed (or only warned): later links may rely on it.
    pub fn ok(&self, check_id: &str) -> bool {
        self.get(check_id)
            .is_some_and(|c| matches!(c.status, Status::Pass | Status::Warn))
    }

    /// The first prerequisite that failed or was skipped itself, as the skip for `check_id`:
    /// a later link cannot be judged on a broken earlier one, and failing it too would point
    /// the user at the wrong place.
    pub fn blocked(&self, check_id: &'static str, needs: &[&str]) -> Option<Check> {
        needs.iter().find_map(|need| {
            let c = self.get(need)?;
            match c.status {
                Status::Fail => Some(Check::skip(
                    check_id,
                    format!("needs `{need}`, which failed: {}", c.summary),
                )),
                Status::Skip => Some(Check::skip(
                    check_id,
                    format!("needs `{need}`, which was skipped"),
                )),
                _ => None,
            }
        })
    }

    /// The first failing link, in chain order: the one to fix first.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| c.status == Status::Fail)
    }

    /// fail if any check failed, else warn if any warned, else pass.
    pub fn verdict(&self) -> Status {
        if self.checks.iter().any(|c| c.status == Status::Fail) {
            Status::Fail
        } else if self.checks.iter().any(|c| c.status == Status::Warn) {
            Status::Warn
        } else {
            Status::Pass
        }
    }

    /// 0 when nothing failed (warnings included), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.verdict() == Status::Fail {
            crate::error::EXIT_FAILURE
        } else {
            0
        }
    }

    /// `{checks: [{id, status, summary, evidence, fix}], verdict, first_failure}`, redacted.
    pub fn to_json(&self) -> ReportJson {
        let redacted = |c: &Check| Check {
            summary: redact(&c.summary),
            evidence: c.evidence.iter().map(|e| redact(e)).collect(),
            fix: c.fix.as_deref().map(redact),
            ..c.clone()
        };
        ReportJson {
            checks: self.checks.iter().map(redacted).collect(),
            first_failure: self.first_failure().map(|c| FirstFailure {
                fix: c.fix.as_deref().map(redact),
                id: c.id,
                summary: redact(&c.summary),
            }),
            verdict: self.verdict(),
        }
    }

    /// The report for people: grouped by link, evidence indented under each check, and the
    /// first failing link with its fix at the end. Redacted, so it can go into a bug report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut last_group = "";
        for c in &self.checks {
            let g = group(c.id);
            if g != last_group {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(g);
                if let Some(place) = &c.place {
                    out.push_str(&format!(" (on {})", redact(place)));
                }
                out.push('\n');
                last_group = g;
            }
            out.push_str(&format!(
                "  {}  {:<13} {}\n",
                c.status.marker(),
                c.id,
                redact(&c.summary)
            ));
            for e in &c.evidence {
                out.push_str(&format!("        {:<13} {}\n", "", redact(e)));
            }
            if let Some(fix) = &c.fix {
                if c.status != Status::Pass {
                    out.push_str(&format!("        {:<13} fix: {}\n", "", redact(fix)));
                }
            }
        }
        out.push('\n');
        match self.first_failure() {
            Some(c) => {
                out.push_str(&format!(
                    "First broken link: {} ({}): {}\n",
                    c.id,
                    group(c.id),
                    redact(&c.summary)
                ));
                if let Some(fix) = &c.fix {
                    out.push_str(&format!("  fix: {}\n", redact(fix)));
                }
                let later: Vec<&str> = self
                    .checks
                    .iter()
                    .filter(|o| o.status == Status::Fail && o.id != c.id)
                    .map(|o| o.id)
                    .collect();
                if !later.is_empty() {
                    out.push_str(&format!("  also failing: {}\n", later.join(", ")));
                }
            }
            None if self.verdict() == Status::Warn => {
                out.push_str("No broken link; see the warnings above.\n");
            }
            None => out.push_str("Every link of the chain holds.\n"),
        }
        out
    }
}

/// Masks what must not reach a bug report: Jupyter tokens in URLs (`?token=…`), environment
/// assignments of secrets (`JUPYTER_TOKEN=…`, `…PASSWORD=…`) and PEM private key blocks. The
/// checks do not collect such values on purpose; this is the net under them (and under
/// `--explain`, which echoes lines of the user's own logs).
pub fn redact(text: &str) -> String {
    const PEM_BEGIN: &str = "-----BEGIN ";
    const PEM_END: &str = "PRIVATE KEY-----";
    let mut text = text.to_string();
    // PEM blocks: from "-----BEGIN … PRIVATE KEY-----" to the matching END line.
    while let Some(start) = text.find(PEM_BEGIN) {
        let header_end = match text[start..].find(PEM_END) {
            Some(i) => start + i + PEM_END.len(),
            None => break,
        };
        let end = text[header_end..]
            .find("-----END ")
            .and_then(|i| {
                let from = header_end + i;
                text[from..].find(PEM_END).map(|j| from + j + PEM_END.len())
            })
            .unwrap_or(text.len());
        text.replace_range(start..end, "[private key redacted]");
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while !rest.is_empty() {
        match secret_value_start(rest) {
            Some(value_start) => {
                out.push_str(&rest[..value_start]);
                let value = &rest[value_start..];
                let len = value
                    .find(|c: char| c.is_whitespace() || "&\"',;)>".contains(c))
                    .unwrap_or(value.len());
                if len > 0 {
                    out.push_str("[redacted]");
                }
                rest = &value[len..];
            }
            None => {
                out.push_str(rest);
                break;
            }
        }
    }
    out
}

/// Where the value of the first secret-looking `KEY=` or `token=` in `text` starts.
fn secret_value_start(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut best: Option<usize> = None;
    for key in ["token=", "password=", "secret=", "passwd="] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(key) {
            let at = from + i + key.len();
            // Skip an empty value, which reveals nothing.
            if at < lower.len() && !lower[at..].starts_with(char::is_whitespace) {
                best = Some(best.map_or(at, |b: usize| b.min(at)));
                break;
            }
            from = at;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(statuses: &[(&'static str, Status)]) -> Report {
        let mut r = Report::default();
        for (id, s) in statuses {
            r.push(Check::new(id, *s, format!("{id} is {}", s.as_str())).fix(format!("fix {id}")));
        }
        r
    }

    #[test]
    fn the_verdict_is_the_worst_status_and_sets_the_exit_code() {
        let r = report(&[(id::PCI, Status::Pass), (id::DOCKER, Status::Warn)]);
        assert_eq!(r.verdict(), Status::Warn);
        assert_eq!(r.exit_code(), 0);
        let r = report(&[
            (id::PCI, Status::Pass),
            (id::DOCKER, Status::Fail),
            (id::TORCH, Status::Fail),
        ]);
        assert_eq!(r.verdict(), Status::Fail);
        assert_eq!(r.exit_code(), 1);
        assert_eq!(r.first_failure().unwrap().id, id::DOCKER);
        let r = report(&[(id::PCI, Status::Pass), (id::SHM, Status::Skip)]);
        assert_eq!(r.verdict(), Status::Pass);
    }

    #[test]
    fn a_check_whose_prerequisite_broke_is_skipped_with_the_reason() {
        let r = report(&[(id::PCI, Status::Fail), (id::DOCKER, Status::Pass)]);
        let s = r.blocked(id::KERNEL, &[id::PCI]).unwrap();
        assert_eq!(s.status, Status::Skip);
        assert!(
            s.summary.contains("`pci`, which failed: pci is fail"),
            "{}",
            s.summary
        );
        assert!(r.blocked(id::GPU_PATH, &[id::DOCKER]).is_none());
        let r = report(&[(id::PCI, Status::Skip)]);
        assert!(r
            .blocked(id::KERNEL, &[id::PCI])
            .unwrap()
            .summary
            .contains("skipped"));
        // A prerequisite that did not run does not block.
        assert!(Report::default().blocked(id::KERNEL, &[id::PCI]).is_none());
    }

    #[test]
    fn a_check_from_another_machine_round_trips_and_says_where_it_ran() {
        let c = Check::pass(id::NVML, "driver 550")
            .evidence("GPU 0")
            .at("ssh://gpu-box, by ptenv's agent");
        let text = serde_json::to_string(&c).unwrap();
        assert!(
            text.contains("\"where\":\"ssh://gpu-box, by ptenv's agent\""),
            "{text}"
        );
        let back: Check = serde_json::from_str(&text).unwrap();
        assert_eq!(back, c);
        let here = serde_json::to_value(Check::pass(id::PCI, "one GPU")).unwrap();
        assert!(here.get("where").is_none(), "{here}");
        let unknown = serde_json::from_str::<Check>(
            r#"{"id":"warp-drive","status":"pass","summary":"","evidence":[],"fix":null}"#,
        )
        .unwrap_err();
        assert!(
            unknown.to_string().contains("unknown check `warp-drive`"),
            "{unknown}"
        );
        let mut r = Report::default();
        r.push(c);
        assert!(
            r.render()
                .starts_with("Host: GPU and driver (on ssh://gpu-box, by ptenv's agent)\n"),
            "{}",
            r.render()
        );
    }

    #[test]
    fn json_has_the_documented_shape() {
        let r = report(&[(id::PCI, Status::Fail), (id::KERNEL, Status::Skip)]);
        let j = serde_json::to_value(r.to_json()).unwrap();
        assert_eq!(j["verdict"], "fail");
        assert_eq!(j["checks"][0]["id"], "pci");
        assert_eq!(j["checks"][0]["status"], "fail");
        assert_eq!(j["checks"][0]["fix"], "fix pci");
        assert!(j["checks"][1]["evidence"].is_array());
        assert_eq!(j["first_failure"]["id"], "pci");
        let passing = report(&[(id::PCI, Status::Pass)]).to_json();
        assert!(serde_json::to_value(passing).unwrap()["first_failure"].is_null());
    }

    #[test]
    fn the_text_report_groups_links_and_ends_with_the_first_failure() {
        let mut r = report(&[(id::PCI, Status::Pass), (id::KERNEL, Status::Fail)]);
        r.push(Check::fail(id::DOCKER, "docker down").evidence("socket: none"));
        let text = r.render();
        assert!(text.starts_with("Host: GPU and driver\n"), "{text}");
        assert!(text.contains("\nDocker\n"), "{text}");
        assert!(text.contains("socket: none"));
        assert!(text.contains("First broken link: kernel-driver"), "{text}");
        assert!(text.contains("  fix: fix kernel-driver"), "{text}");
        assert!(text.contains("also failing: docker"), "{text}");
        // A passing check's fix is not advice.
        assert!(!text.contains("fix: fix pci"), "{text}");
        assert!(report(&[(id::PCI, Status::Pass)])
            .render()
            .contains("Every link of the chain holds"));
    }

    #[test]
    fn secrets_never_reach_the_report() {
        assert_eq!(
            redact("open http://127.0.0.1:8888/lab?token=abc123def&x=1 now"),
            "open http://127.0.0.1:8888/lab?token=[redacted]&x=1 now"
        );
        assert_eq!(
            redact("JUPYTER_TOKEN=s3cr3t PASSWORD=hunter2"),
            "JUPYTER_TOKEN=[redacted] PASSWORD=[redacted]"
        );
        let pem = "key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----\nafter";
        assert_eq!(redact(pem), "key:\n[private key redacted]\nafter");
        assert_eq!(redact("token= is empty"), "token= is empty");
        assert_eq!(redact("no secrets here"), "no secrets here");
        let mut r = Report::default();
        r.push(Check::fail(id::SHM, "url ?token=zzz").evidence("TOKEN=yyy"));
        let j = serde_json::to_string(&r.to_json()).unwrap();
        assert!(!j.contains("zzz") && !j.contains("yyy"), "{j}");
        assert!(!r.render().contains("zzz"));
    }
}
