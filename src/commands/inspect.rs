//! `ptenv inspect IMAGE`: what the image says about itself (read once per image by a probe
//! container, then cached) and whether it runs on this machine (or the one given by `--driver`
//! and `--gpu`), judged by the catalog's rules. Exit 0 when it runs, 1 when it cannot.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Ctx;
use crate::catalog;
use crate::catalog::DriverVersion;
use crate::cli::InspectArgs;
use crate::engine::{block_on, Engine};
use crate::error::Result;
use crate::gpu::{self, HostFacts};
use crate::image_facts::{self, ImageFacts};
use crate::probe;
use crate::profile::{self, PullPolicy};
use crate::select::{self, ImageVerdict};

pub fn run(ctx: &Ctx, args: InspectArgs) -> Result<i32> {
    let sources = profile::load_sources(&ctx.project)?;
    let name = args
        .profile_name
        .clone()
        .unwrap_or_else(|| sources.default_name());
    let profile = sources.resolve(&name, &profile::Layer::default())?;
    let host = if args.driver.is_some() || !args.gpu.is_empty() {
        gpu::facts_for(args.driver.as_deref(), &args.gpu)?
    } else {
        ctx.machine.gpu_facts()
    };
    let p = &ctx.printer;
    let probed = block_on(async {
        let engine = Engine::connect().await?;
        engine
            .ensure_image(&args.image, PullPolicy::Missing, &[], p)
            .await?;
        probe::facts(&engine, &args.image, p).await
    })?;
    let facts = &probed.facts;
    let line = catalog::parse_tag(&args.image).and_then(|t| catalog::find(&t.pytorch, t.cuda));
    let verdict = select::judge_image(&profile, &args.image, line, facts, &host)?;
    p.json(&to_json(
        &args.image,
        facts,
        probed.cached,
        line,
        &verdict,
        &host,
    ));
    p.result(render(&args.image, facts, line, &verdict, &host));
    Ok(if verdict.runs { 0 } else { 1 })
}

/// `--json`: the image's facts, the catalog line its tag names, and the verdict for the machine.
#[derive(Serialize)]
struct Inspected<'a> {
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
