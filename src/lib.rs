//! ptenv: PyTorch environments on Docker without environment hell.
//!
//! The pure core (profiles, selection, the plan, the lock's rules, the doctor's checks…) does
//! no I/O and is covered by unit tests; the adapters (`engine`, `gpu`, `registry`, `secrets`,
//! …) talk to the outside world; the use cases (`up`, `diagnose`, `lockfile`, `exporting`, …)
//! put them together, and `commands` parses, calls a use case and renders (ARCHITECTURE.md).

#![forbid(unsafe_code)]

pub mod address;
pub mod atomic;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod containers;
pub mod context;
pub mod credentials;
pub mod diagnose;
pub mod doctor;
pub mod engine;
pub mod error;
pub mod export;
pub mod exporting;
pub mod flock;
pub mod gpu;
pub mod host;
pub mod identity;
pub mod lock;
pub mod lockfile;
pub mod modes;
pub mod output;
pub mod package_name;
pub mod plan;
pub mod profile;
pub mod project;
pub mod registry;
pub mod secrets;
pub mod select;
pub mod selection;
pub mod shell;
pub mod size;
pub mod sshconfig;
pub mod template;
pub mod terminal;
pub mod trust;
pub mod trust_gate;
pub mod up;

use clap::Parser;

/// Parse the command line, run the command, print any error with its hints, and return the
/// process exit code.
pub fn run() -> i32 {
    let cli = cli::Cli::parse();
    let printer = output::Printer {
        quiet: cli.global.quiet,
        verbose: cli.global.verbose,
        json: cli.global.json,
    };
    match commands::run(cli, printer) {
        Ok(code) => code,
        Err(e) => {
            printer.error(&e);
            e.code
        }
    }
}
