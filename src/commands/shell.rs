//! `ptenv shell [-- CMD]`: an interactive shell (or CMD) in the project's environment, as the
//! container user in /workspace, like `docker run -it`. The environment is brought up first as
//! `ptenv up shell --detach` would (reused when it runs); the shell's exit code is returned.

use super::Ctx;
use crate::cli::ShellArgs;
use crate::engine::{block_on, Engine};
use crate::error::Result;
use crate::modes::{self, Started};
use crate::profile;
use crate::project::Project;

pub fn run(ctx: &Ctx, args: ShellArgs) -> Result<i32> {
    let name = args
        .mode
        .clone()
        .or_else(|| args.profile_name.clone())
        .unwrap_or_else(|| "shell".to_string());
    let code = crate::up::for_command(ctx, &name, args.profile.layer(), true, args.trust)?;
    if code != 0 {
        return Ok(code);
    }
    let profile = profile::load_sources(&ctx.project)?.resolve(&name, &args.profile.layer())?;
    let project = Project::new(&ctx.project);
    let user = ctx.machine.container_user(&ctx.project);
    let container = project.container_name(&profile.name);
    block_on(async {
        let engine = Engine::connect().await?;
        let started = Started {
            engine: &engine,
            printer: &ctx.printer,
            profile: &profile,
            project: &project,
            user: &user,
            container: &container,
            open: false,
            detach: false,
            ssh: None,
            unreached: None,
            made_now: false,
        };
        modes::shell::run(&started, &args.cmd).await
    })
}
