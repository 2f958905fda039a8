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

/// The project's dependency files as the profile says (or by convention), read from the
/// project folder, with the torch rule applied against the chosen image's torch (from the
/// catalog, before any pull). Returns them and what the torch rule found (the lines the image
/// satisfies); what the files ask for and the build does not install is in `skipped`.
pub(crate) fn dependencies(
    project: &std::path::Path,
    profile: &crate::profile::Profile,
    choice: &crate::select::Choice,
) -> Result<(crate::dependencies::Dependencies, Vec<String>)> {
    use crate::dependencies as deps;
    let read = project_reader(project);
    let mut found = deps::detect(profile.dependencies.as_ref(), &read)?;
    let releases = crate::catalog::releases();
    let image = deps::ImageTorch {
        version: Some(choice.pytorch.as_str()).filter(|v| *v != "unknown"),
        cuda: choice.cuda.as_deref(),
        releases: &releases,
    };
    let said = deps::keep_torch(&mut found, &image)?;
    Ok((found, said))
}

/// Reads a file of the project by its relative path: `None` when it is not there. A link that
/// leads out of the project is refused: it would bake another folder's file into the image.
pub(crate) fn project_reader(
    project: &std::path::Path,
) -> impl Fn(&str) -> std::result::Result<Option<String>, String> + '_ {
    let root = project
        .canonicalize()
        .unwrap_or_else(|_| project.to_path_buf());
    move |rel: &str| {
        let path = project.join(rel);
        match path.canonicalize() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
            Ok(real) if !real.starts_with(&root) => {
                return Err(format!("it leads out of the project to {}", real.display()))
            }
            Ok(_) => {}
        }
        std::fs::read_to_string(&path)
            .map(Some)
            .map_err(|e| e.to_string())
    }
}
