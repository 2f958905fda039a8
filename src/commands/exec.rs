//! `ptenv exec [--profile-name NAME] -- CMD`: run a command in the project's running container
//! as the container user, in /workspace; its exit code becomes ptenv's.

use super::Ctx;
use crate::cli::ExecArgs;
use crate::engine::{block_on, Engine};
use crate::error::Result;
use crate::identity::User;
use crate::project::Project;

pub fn run(ctx: &Ctx, args: ExecArgs) -> Result<i32> {
    let project = Project::new(&ctx.project);
    let user = User::for_host(&ctx.project);
    let code = block_on(async {
        let engine = Engine::connect().await?;
        let c = super::logs::pick(&engine, &project, args.profile_name.as_deref(), true).await?;
        engine
            .exec(
                &c.id,
                &args.cmd,
                Some(&format!("{}:{}", user.uid, user.gid)),
            )
            .await
    })?;
    // Exit codes outside 0..=255 (never from a real process) are reported as a failure.
    Ok(i32::try_from(code)
        .ok()
        .filter(|c| (0..=255).contains(c))
        .unwrap_or(1))
}
