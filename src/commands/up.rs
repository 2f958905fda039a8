//! `ptenv up [MODE]`: resolve the profile, choose the image, pull it, build the derived image,
//! and start (or reuse) the project's container for the profile, the way an expert would type
//! `docker run`. Then the mode takes over (Jupyter's URL, ssh's config, the interactive shell).
//! The flow is `crate::up`'s; this file turns the flags into a request and renders the result.

use super::Ctx;
use crate::cli::UpArgs;
use crate::error::Result;
use crate::up::{self, Request};

pub fn run(ctx: &Ctx, args: UpArgs) -> Result<i32> {
    let request = Request {
        profile: args.mode.clone(),
        flags: args.profile.layer(),
        trust: args.trust,
        dry_run: args.dry_run,
        new_token: args.new_token,
        relock: args.relock,
        force: args.force,
    };
    let up = up::prepare(ctx, &request)?;
    let p = &ctx.printer;
    if args.dry_run {
        if !p.json {
            // Comments, so the output stays the profile as YAML.
            p.result(format!(
                "# image: {} ({})\n# container: {}",
                up.choice.image,
                if up.choice.gpu {
                    "with the GPUs"
                } else {
                    "on the CPU"
                },
                up.container_name()
            ));
            p.result(format!("# dependencies: {}", up.dependencies.summary()));
            let home = up.home_volume();
            p.result(format!(
                "# home: the volume {} at {} (kept by `down`, removed by `down --purge`)",
                home.name, home.target
            ));
            p.result(serde_yaml::to_string(&up.profile).expect("a profile serializes"));
            return Ok(0);
        }
        p.json(&up.preview()?);
        return Ok(0);
    }
    let outcome = up.run(args.detach, args.open)?;
    p.json(&outcome);
    Ok(outcome.code)
}
