//! One module per command. Each takes its arguments and the [`Ctx`] and returns the exit code.

mod completions;
mod doctor;
mod down;
mod exec;
mod export;
mod init;
mod lock;
mod logs;
mod ls;
mod profiles;
mod select;
mod shell;
mod ssh;
mod trust;
mod up;

use std::path::PathBuf;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};
use crate::output::Printer;

pub use crate::context::Ctx;

pub fn run(cli: Cli, printer: Printer) -> Result<i32> {
    let project = project_dir(cli.global.project.as_deref())?;
    let ctx = Ctx {
        printer,
        project,
        machine: Box::new(crate::host::Local),
    };
    let uses_engine = !matches!(
        cli.command,
        Command::Init(_) | Command::Profiles | Command::Completions { .. } | Command::Select(_)
    );
    if uses_engine {
        if let Some(w) = crate::engine::exposure_warning(&crate::engine::endpoint()) {
            printer.warn(w);
        }
    }
    match cli.command {
        Command::Up(args) => up::run(&ctx, args),
        Command::Init(args) => init::run(&ctx, args),
        Command::Profiles => profiles::run(&ctx),
        Command::Completions { shell } => completions::run(shell),
        Command::Ssh(args) => ssh::run(&ctx, args),
        Command::Shell(args) => shell::run(&ctx, args),
        Command::Doctor(args) => doctor::run(&ctx, args),
        Command::Select(args) => select::run(&ctx, args),
        Command::Down(args) => down::run(&ctx, args),
        Command::Ls => ls::run(&ctx),
        Command::Logs(args) => logs::run(&ctx, args),
        Command::Exec(args) => exec::run(&ctx, args),
        Command::Export(args) => export::run(&ctx, args),
        Command::Lock(args) => lock::run(&ctx, args),
        Command::Trust(args) => trust::run(&ctx, args),
    }
}

/// The project folder as an absolute, canonical path: it names containers and is mounted.
fn project_dir(given: Option<&std::path::Path>) -> Result<PathBuf> {
    let dir = match given {
        Some(d) => d.to_path_buf(),
        None => std::env::current_dir()
            .map_err(|e| Error::new(format!("cannot read the current directory: {e}")))?,
    };
    dir.canonicalize().map_err(|e| {
        Error::new(format!(
            "the project folder {} is not usable: {e}",
            dir.display()
        ))
        .hint("pass an existing folder with --project DIR, or cd into the project")
    })
}
