//! `ptenv exec [PROFILE] -- CMD`: run a command in the project's running container
//! as the container user, in /workspace, like `docker exec` (with `-it` when on a terminal, and
//! piped input passed on); its exit code becomes ptenv's.

use super::Ctx;
use crate::cli::ExecArgs;
use crate::engine::running::ExecSpec;
use crate::engine::{block_on, Engine};
use crate::error::Result;
use crate::project::Project;

pub fn run(ctx: &Ctx, args: ExecArgs) -> Result<i32> {
    let project = Project::new(&ctx.project);
    let user = ctx.machine.container_user(&ctx.project);
    let code = block_on(async {
        let engine = Engine::connect().await?;
        let name = args.mode.clone().or_else(|| args.profile_name.clone());
        let c = crate::containers::pick(&engine, &project, name.as_deref(), true).await?;
        let spec = ExecSpec {
            cmd: args.cmd.clone(),
            user: format!("{}:{}", user.uid, user.gid),
            workdir: crate::profile::WORKDIR.to_string(),
            env: Vec::new(),
        };
        engine.exec_attached(&c.id, &spec).await
    })?;
    // Exit codes outside 0..=255 (never from a real process) are reported as a failure.
    Ok(Some(code).filter(|c| (0..=255).contains(c)).unwrap_or(1))
}
