//! One module per command. Each takes its arguments and the [`Ctx`] and returns the exit code.

mod completions;
mod doctor;
mod down;
mod exec;
mod export;
mod init;
mod inspect;
mod lock;
mod logs;
mod ls;
mod profiles;
mod select;
mod shell;
mod ssh;
mod stats;
mod sync;
mod trust;
mod up;

use std::path::PathBuf;

use crate::cli::{AgentCommand, Cli, Command};
use crate::error::{Error, Result};
use crate::output::Printer;

pub use crate::context::Ctx;

pub fn run(cli: Cli, printer: Printer) -> Result<i32> {
    // On the server, for the ptenv that reached it: no project, no engine.
    match cli.command {
        Command::Agent(AgentCommand::Facts) => return crate::agent::run_facts(),
        Command::Agent(AgentCommand::Doctor) => return crate::agent::run_doctor(),
        Command::Agent(AgentCommand::Usage) => return crate::agent::run_usage(),
        _ => {}
    }
    let project = project_dir(cli.global.project.as_deref())?;
    let uses_engine = !matches!(
        cli.command,
        Command::Init(_) | Command::Profiles | Command::Completions { .. } | Command::Select(_)
    );
    // `select` asks no engine, but a remote engine's machine has the GPUs it reports (or,
    // reached only through its API, GPUs it cannot know).
    let wants_machine = matches!(cli.command, Command::Select(_));
    // The engine's connection (for ssh, the master connection) lives until the command ends.
    let connection = if uses_engine || wants_machine {
        // `--host` beats the profile's `host:`, which then needs no trust: it is not used.
        // `trust` itself must work on a file whose `host:` is not trusted yet.
        let sources = match (&cli.global.host, &cli.command) {
            (None, Command::Trust(_)) | (Some(_), _) => None,
            (None, _) => crate::profile::load_sources(&project).ok(),
        };
        let profile_host = match &sources {
            Some(s) => crate::trust_gate::profile_host(&project, s)?,
            None => None,
        };
        let target = crate::contexts::choose(cli.global.host.as_deref(), profile_host)?;
        if uses_engine || target.endpoint.is_remote() {
            Some(connect(target, printer)?)
        } else {
            None
        }
    } else {
        None
    };
    let machine = connection
        .as_ref()
        .map_or_else(|| Box::new(crate::host::Local) as _, |c| c.machine());
    let ctx = Ctx {
        printer,
        project,
        machine,
    };
    match cli.command {
        Command::Up(args) => up::run(&ctx, args),
        Command::Init(args) => init::run(&ctx, args),
        Command::Profiles => profiles::run(&ctx),
        Command::Completions { shell } => completions::run(shell),
        Command::Ssh(args) => ssh::run(&ctx, args),
        Command::Shell(args) => shell::run(&ctx, args),
        Command::Doctor(args) => doctor::run(&ctx, args),
        Command::Select(args) => select::run(&ctx, args),
        Command::Inspect(args) => inspect::run(&ctx, args),
        Command::Down(args) => down::run(&ctx, args),
        Command::Ls(args) => ls::run(&ctx, args),
        Command::Stats(args) => stats::run(&ctx, args),
        Command::Logs(args) => logs::run(&ctx, args),
        Command::Exec(args) => exec::run(&ctx, args),
        Command::Sync(args) => sync::run(&ctx, args),
        Command::Export(args) => export::run(&ctx, args),
        Command::Lock(args) => lock::run(&ctx, args),
        Command::Trust(args) => trust::run(&ctx, args),
        Command::Agent(_) => unreachable!("answered before the project is read"),
    }
}

/// Opens the connection to the engine `target` names and makes it the engine of this command.
fn connect(
    target: crate::target::Target,
    printer: Printer,
) -> Result<crate::transport::Connection> {
    let connection = crate::transport::Connection::open(target)?;
    let target = connection.target();
    printer.detail(format!(
        "engine: {} (from {})",
        target.endpoint, target.source
    ));
    if let Some(ssh) = connection.ssh_detail() {
        printer.detail(ssh);
    }
    let tls = match &target.endpoint {
        crate::target::Endpoint::Tcp { tls, .. } => tls.clone(),
        _ => None,
    };
    let plain = tls.is_none();
    crate::engine::select(
        connection.engine_url(),
        target.endpoint.to_string(),
        target.source.to_string(),
        tls,
    );
    if let Some(w) = plain
        .then(|| {
            crate::engine::exposure_warning(&crate::engine::endpoint(), &target.source.to_string())
        })
        .flatten()
    {
        printer.warn(w);
    }
    Ok(connection)
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
