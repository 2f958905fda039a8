//! `ptenv inspect IMAGE`: what the image says about itself, the catalog line its tag names,
//! and whether it runs on the machine (the verdict), as `--json` and as text.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog::{self, DriverVersion};
use crate::gpu::HostFacts;
use crate::image_facts::{self, ImageFacts};
use crate::select::ImageVerdict;

/// One inspected image, judged for one machine.
pub struct Inspection {
    pub image: String,
    pub facts: ImageFacts,
    /// The facts were read from the cache (no container ran).
    pub cached: bool,
    /// The catalog line the image's tag names.
    pub line: Option<&'static catalog::Line>,
    pub verdict: ImageVerdict,
    /// The machine it was judged for.
    pub host: HostFacts,
}

impl Inspection {
    /// `--json`.
    pub fn json(&self) -> Inspected<'_> {
        to_json(
            &self.image,
            &self.facts,
            self.cached,
            self.line,
            &self.verdict,
            &self.host,
        )
    }

    /// The text `ptenv inspect` prints.
    pub fn render(&self) -> String {
        render(
            &self.image,
            &self.facts,
            self.line,
            &self.verdict,
            &self.host,
        )
    }
}

/// `--json`: the image's facts, the catalog line its tag names, and the verdict for the machine.
#[derive(Serialize)]
pub struct Inspected<'a> {
    image: &'a str,
    id: &'a str,
    platform: &'a str,
    cached: bool,
    python: Option<&'a str>,
    torch: Option<TorchJson<'a>>,
    problem: Option<&'a str>,
    nvidia_require_cuda: Option<&'a str>,
    labels: &'a BTreeMap<String, String>,
    env: &'a BTreeMap<String, String>,
    catalog: Option<CatalogJson<'a>>,
    machine: MachineJson<'a>,
    verdict: &'a ImageVerdict,
}

#[derive(Serialize)]
struct TorchJson<'a> {
    version: &'a str,
    release: &'a str,
    cuda: Option<&'a str>,
    sass: &'a [String],
    ptx: &'a [String],
    cudnn: Option<&'a str>,
}

#[derive(Serialize)]
struct CatalogJson<'a> {
    pytorch: &'a str,
    cuda: String,
    arch: String,
    disagreements: Vec<String>,
}

#[derive(Serialize)]
struct MachineJson<'a> {
    driver: Option<&'a DriverVersion>,
    driver_cuda: Option<String>,
    gpus: Vec<String>,
}

fn to_json<'a>(
    image: &'a str,
    facts: &'a ImageFacts,
    cached: bool,
    line: Option<&'a catalog::Line>,
    verdict: &'a ImageVerdict,
    host: &'a HostFacts,
) -> Inspected<'a> {
    Inspected {
        image,
        id: &facts.id,
        platform: &facts.platform,
        cached,
        python: facts.python.as_deref(),
        torch: facts.torch.as_ref().map(|t| TorchJson {
            version: &t.version,
            release: image_facts::release(&t.version),
            cuda: t.cuda.as_deref(),
            sass: &t.sass,
            ptx: &t.ptx,
            cudnn: t.cudnn.as_deref(),
        }),
        problem: facts.problem.as_deref(),
        nvidia_require_cuda: facts.require_cuda.as_deref(),
        labels: &facts.labels,
        env: &facts.env,
        catalog: line.map(|l| CatalogJson {
            pytorch: &l.pytorch,
            cuda: l.cuda_str(),
            arch: l.arch_list(),
            disagreements: image_facts::disagreements(l, facts),
        }),
        machine: MachineJson {
            driver: host.driver.as_ref(),
            driver_cuda: host.driver_cuda().map(|(a, b)| format!("{a}.{b}")),
            gpus: host.gpus.iter().map(|g| g.cc_str()).collect(),
        },
        verdict,
    }
}

fn render(
    image: &str,
    facts: &ImageFacts,
    line: Option<&catalog::Line>,
    verdict: &ImageVerdict,
    host: &HostFacts,
) -> String {
    let mut out = vec![format!("{image} ({}, {})", facts.id, facts.platform)];
    let row = |k: &str, v: String| format!("  {k:<20} {v}");
    match &facts.torch {
        Some(t) => {
            out.push(row("torch", t.version.clone()));
            out.push(row(
                "CUDA",
                t.cuda.clone().unwrap_or_else(|| "none (CPU build)".into()),
            ));
            out.push(row("GPU code", t.arch_list()));
            out.push(row(
                "cuDNN",
                t.cudnn.clone().unwrap_or_else(|| "none".into()),
            ));
        }
        None => out.push(row(
            "torch",
            facts.problem.clone().unwrap_or_else(|| "none".into()),
        )),
    }
    out.push(row(
        "Python",
        facts.python.clone().unwrap_or_else(|| "none".into()),
    ));
    if let Some(r) = &facts.require_cuda {
        out.push(row("NVIDIA_REQUIRE_CUDA", r.clone()));
    }
    if let Some(l) = line {
        let differ = image_facts::disagreements(l, facts);
        out.push(row(
            "catalog",
            if differ.is_empty() {
                format!("agrees ({} CUDA {})", l.pytorch, l.cuda_str())
            } else {
                differ.join("; ")
            },
        ));
    }
    let machine = match (&host.driver, host.gpus.is_empty()) {
        (None, _) => "no NVIDIA driver".to_string(),
        (Some(d), true) => format!("driver {d}, no GPU listed"),
        (Some(d), false) => format!(
            "driver {d}, GPU {}",
            host.gpus
                .iter()
                .map(|g| g.cc_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    out.push(String::new());
    if verdict.runs {
        out.push(format!("Runs here ({machine}):"));
        out.extend(verdict.reasons.iter().skip(1).map(|r| format!("  {r}")));
    } else {
        out.push(format!("Cannot run here ({machine}):"));
        out.extend(verdict.refusals.iter().map(|r| format!("  it {r}")));
        out.push("What to do:".into());
        out.extend(verdict.fixes.iter().map(|f| format!("  {f}")));
    }
    out.extend(
        verdict
            .disagreement
            .iter()
            .chain(&verdict.warnings)
            .map(|w| format!("warning: {w}")),
    );
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::judge_image;
    use crate::testing::{host, want};

    fn inspected(ccs: &[crate::catalog::Cc]) -> Inspection {
        let image = "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime";
        let facts = crate::image_facts::tests::torch_fixture(&[]);
        let line = catalog::find("2.6.0", (12, 4));
        let host = host(Some("550.54.15"), ccs);
        let verdict = judge_image(&want("2.6").profile(), image, line, &facts, &host).unwrap();
        Inspection {
            image: image.into(),
            facts,
            cached: true,
            line,
            verdict,
            host,
        }
    }

    #[test]
    fn an_image_that_runs_says_its_facts_and_why() {
        let i = inspected(&[(8, 6)]);
        let text = i.render();
        assert!(
            text.starts_with(
                "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime (sha256:abc, linux/amd64)"
            ),
            "{text}"
        );
        assert!(
            text.contains("  torch                2.6.0+cu124"),
            "{text}"
        );
        assert!(
            text.contains("catalog              agrees (2.6.0 CUDA 12.4)"),
            "{text}"
        );
        assert!(
            text.contains("Runs here (driver 550.54.15, GPU 8.6):"),
            "{text}"
        );
        let json = serde_json::to_value(i.json()).unwrap();
        assert_eq!(json["cached"], true);
        assert_eq!(json["machine"]["gpus"][0], "8.6");
        assert_eq!(json["catalog"]["cuda"], "12.4");
        assert_eq!(json["verdict"]["runs"], true);
    }

    #[test]
    fn an_image_that_cannot_run_says_why_and_what_to_do() {
        // The RTX 5090 (12.0) has no code in an image that stops at sm_90.
        let i = inspected(&[(12, 0)]);
        assert!(!i.verdict.runs);
        let text = i.render();
        assert!(
            text.contains("Cannot run here (driver 550.54.15, GPU 12.0):"),
            "{text}"
        );
        assert!(text.contains("\n  it "), "{text}");
        assert!(text.contains("What to do:"), "{text}");
    }
}
