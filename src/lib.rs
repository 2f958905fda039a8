//! ptenv: PyTorch environments on Docker without environment hell.
//!
//! The pure core (`profile`, `size`, and later selection and planning) does no I/O and is
//! covered by unit tests; `commands` wires it to the outside world.

pub mod address;
pub mod atomic;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod credentials;
pub mod dependencies;
pub mod doctor;
pub mod engine;
pub mod error;
pub mod export;
pub mod flock;
pub mod gpu;
pub mod host;
pub mod identity;
pub mod lock;
pub mod modes;
pub mod output;
pub mod package_name;
pub mod plan;
pub mod profile;
pub mod project;
pub mod registry;
pub mod secrets;
pub mod select;
pub mod shell;
pub mod size;
pub mod sshconfig;
pub mod terminal;
pub mod trust;

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
            if printer.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&e.to_json()).unwrap_or_default()
                );
            }
            eprintln!("ptenv: {e}");
            e.code
        }
    }
}
