//! What `ptenv inspect` judges: the image (pulled when it is not here) and its facts (read by
//! a probe container, or from the cache), for this machine or the one `--driver`/`--gpu` name.

use super::Inspection;
use crate::catalog;
use crate::context::Ctx;
use crate::engine::{block_on, Engine};
use crate::error::Result;
use crate::gpu;
use crate::probe;
use crate::profile::{self, PullPolicy};
use crate::select;

/// `image` inspected and judged by the rules of profile `profile_name` (default: the
/// project's default) for the machine of `driver` and `gpus` (default: this one).
pub fn gather(
    ctx: &Ctx,
    image: &str,
    profile_name: Option<&str>,
    driver: Option<&str>,
    gpus: &[String],
) -> Result<Inspection> {
    let sources = profile::load_sources(&ctx.project)?;
    let name = profile_name
        .map(str::to_string)
        .unwrap_or_else(|| sources.default_name());
    let profile = sources.resolve(&name, &profile::Layer::default())?;
    let host = if driver.is_some() || !gpus.is_empty() {
        gpu::facts_for(driver, gpus)?
    } else {
        ctx.machine.gpu_facts()
    };
    let p = &ctx.printer;
    let probed = block_on(async {
        let engine = Engine::connect().await?;
        engine
            .ensure_image(image, PullPolicy::Missing, &[], p)
            .await?;
        probe::facts(&engine, image, p).await
    })?;
    let line = catalog::parse_tag(image).and_then(|t| catalog::find(&t.pytorch, t.cuda));
    let verdict = select::judge_image(&profile, image, line, &probed.facts, &host)?;
    Ok(Inspection {
        image: image.to_string(),
        facts: probed.facts,
        cached: probed.cached,
        line,
        verdict,
        host,
    })
}
