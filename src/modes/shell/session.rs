//! The shell mode once its container runs: the interactive shell through the engine's exec.

use super::command;
use crate::engine::running::ExecSpec;
use crate::error::Result;
use crate::modes::{AfterStart, Started};

/// `ptenv up shell`: opens the shell, unless `--detach`; `up`'s exit code is the shell's.
pub async fn after_start(s: &Started<'_>) -> Result<AfterStart> {
    if s.detach {
        s.printer.info(format!(
            "{} runs in the background (`ptenv shell` opens a shell in it, `ptenv down {}` stops it)",
            s.container, s.profile.name
        ));
        return Ok(AfterStart::default());
    }
    let code = run(s, &[]).await?;
    Ok(AfterStart { code, json: None })
}

/// Runs `cmd` (a login shell when empty) in the running container as the user, in the
/// workspace, attached to our terminal or pipes; returns its exit code.
pub async fn run(s: &Started<'_>, cmd: &[String]) -> Result<i32> {
    let spec = ExecSpec {
        cmd: command(cmd),
        user: format!("{}:{}", s.user.uid, s.user.gid),
        workdir: s.profile.workdir.clone(),
        env: Vec::new(),
    };
    s.engine.exec_attached(s.container, &spec).await
}
