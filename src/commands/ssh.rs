//! `ptenv ssh`: bring up the project's ssh environment (as `ptenv up ssh`), make
//! `ssh ptenv-<project>` work for ssh and VS Code, and print how to connect. `--code` opens
//! VS Code on it, `-- CMD` runs a command over ssh (its exit code is returned), `--forget`
//! removes ptenv's entry and, with the last project, its Include line from ~/.ssh/config.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Ctx;
use crate::cli::SshArgs;
use crate::error::{Error, Result};
use crate::modes::ssh::vscode_command;
use crate::project::Project;
use crate::sshconfig::SshConfig;

pub fn run(ctx: &Ctx, args: SshArgs) -> Result<i32> {
    let project = Project::new(&ctx.project);
    let alias = project.ssh_alias();
    if args.forget {
        return forget(ctx, &alias);
    }
    // Before anything starts: without `code` there is nothing to open.
    if args.code && find_on_path("code").is_none() {
        return Err(Error::new("`code` (the VS Code command) is not on PATH")
            .hint("in VS Code, run \"Shell Command: Install 'code' command in PATH\", then run this again")
            .hint(format!(
                "or start the environment with `ptenv ssh` and open it yourself: {}",
                vscode_command(&alias).join(" ")
            )));
    }
    let name = args
        .mode
        .clone()
        .or_else(|| args.profile_name.clone())
        .unwrap_or_else(|| "ssh".to_string());
    // sshd runs in the background either way; detached, the connection lines go to stderr
    // and leave stdout to CMD.
    let detach = !args.cmd.is_empty() || args.code;
    let code = crate::up::for_command(ctx, &name, args.profile.layer(), detach, args.trust)?;
    if code != 0 {
        return Ok(code);
    }
    let config_file = SshConfig::for_user()?.host_file(&alias);
    if !args.cmd.is_empty() {
        let mut ssh = Command::new("ssh");
        ssh.arg("-F")
            .arg(&config_file)
            .arg(&alias)
            .arg("--")
            .args(&args.cmd);
        return run_program(
            &mut ssh,
            "ssh",
            "install the OpenSSH client (e.g. `sudo apt-get install openssh-client`)",
        );
    }
    if args.code {
        let words = vscode_command(&alias);
        let mut code = Command::new(&words[0]);
        code.args(&words[1..]);
        return run_program(&mut code, "code", "check your VS Code installation");
    }
    Ok(0)
}

fn forget(ctx: &Ctx, alias: &str) -> Result<i32> {
    let config = SshConfig::for_user()?;
    let forgotten = config.forget(alias)?;
    let p = &ctx.printer;
    match &forgotten.host_file {
        Some(f) => p.info(format!("Removed the ssh host {alias} ({})", f.display())),
        None => p.info(format!("ptenv had no ssh host {alias}")),
    }
    if forgotten.include_removed {
        p.info(format!(
            "Removed ptenv's Include line from {} (no project is left)",
            config.user_config.display()
        ));
    }
    #[derive(serde::Serialize)]
    struct Forgotten<'a> {
        alias: &'a str,
        include_removed: bool,
        removed: Option<&'a Path>,
    }
    p.json(&Forgotten {
        alias,
        include_removed: forgotten.include_removed,
        removed: forgotten.host_file.as_deref(),
    });
    Ok(0)
}

/// Runs a program with our stdin, stdout and stderr; its exit code (128+N for signal N).
fn run_program(cmd: &mut Command, name: &str, install_hint: &str) -> Result<i32> {
    let status = cmd.status().map_err(|e| {
        Error::new(format!("cannot run `{name}`: {e}")).hint(install_hint.to_string())
    })?;
    Ok(status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + status.signal().unwrap_or(0)
    }))
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
