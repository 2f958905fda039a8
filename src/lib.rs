//! ptenv: PyTorch environments on Docker without environment hell.
//!
//! The decisions are the core crate's (`ptenv_core`: no I/O); this crate holds the adapters
//! (engine, NVML, registry, secrets, terminal), the use cases that put them together with the
//! core (`up`, `diagnose`, `lockfile`, `exporting`, …), and the commands that parse, call a use
//! case and render (ARCHITECTURE.md).
//! The core's modules are re-exported here under their own names, so `crate::profile`,
//! `ptenv::select`, … name them; a module with a pure part and a part that reads this machine
//! is declared below: the core's items, plus the reading.

#![forbid(unsafe_code)]

pub use ptenv_core::{
    address, allocate, catalog, dependencies, error, export, home, identity, idle, image_facts,
    lock, ownership, package_name, plan, select, shell, size, target,
};

/// The host's NVIDIA driver and GPUs: the core's fact types, read here (NVML, the kernel
/// module's files, `nvidia-smi`), or through an engine with a short GPU container.
pub mod gpu {
    pub use ptenv_core::gpu::*;
    mod detect;
    mod nvml;
    mod through_engine;
    pub use detect::{detect, detect_with, facts_for, usage};
    pub use through_engine::probe_engine;
}

/// `ptenv stats`: the core's attribution of GPU processes, and the reading of NVML, the
/// processes' cgroups and the engine's list here.
pub mod stats {
    pub use ptenv_core::stats::*;
    mod gather;
    pub use gather::{gather, read_here, Reading};
}

/// `ptenv inspect`: the core's report of an image judged for a machine, and the probing here.
pub mod inspection {
    pub use ptenv_core::inspection::*;
    mod gather;
    pub use gather::gather;
}

/// `ptenv ls`: the core's rows and `--json` of ptenv's containers, and the engine's list here.
pub mod listing {
    pub use ptenv_core::listing::*;
    mod gather;
    pub use gather::{gather, Listing};
}

/// Profiles: the core's values, layers and parsing, and the reading of this machine's files.
pub mod profile {
    pub use ptenv_core::profile::*;
    mod files;
    pub use files::{load_sources, user_config_path};
}

/// A project folder: the core's names, and where ptenv keeps the project's data here.
pub mod project {
    pub use ptenv_core::project::*;
    mod data;
    mod files;
    pub use data::{data_dir, data_root, owner, user};
    pub use files::{dependencies, reader};
}

/// Trust in a project's `ptenv.yaml`: the core's rules, and the user's records on this machine.
pub mod trust {
    pub use ptenv_core::trust::*;
    mod store;
    pub use store::Store;
}

pub mod agent;
pub mod atomic;
pub mod cli;
pub mod commands;
pub mod containers;
pub mod context;
pub mod contexts;
pub mod credentials;
pub mod diagnose;
pub mod engine;
pub mod exporting;
pub mod flock;
pub mod host;
pub mod interrupt;
pub mod lockfile;
pub mod output;
pub mod probe;
pub mod registry;
pub mod secrets;
pub mod selection;
pub mod sshconfig;
pub mod sync;
pub mod template;
pub mod terminal;
pub mod transport;
pub mod trust_gate;
pub mod tunnel;
pub mod up;
pub mod workspace;

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

/// The modes: the core's setups (what each needs in the container), and what each does once
/// its container runs (waits, the terminal).
pub mod modes {
    pub use ptenv_core::modes::*;
    mod setup;
    mod started;
    pub use setup::{preview, setup};
    pub(crate) use started::interruptible;
    pub use started::{after_start, AfterStart, ModeJson, Started};

    /// Jupyter: the core's setup, and the wait for its answer.
    pub mod jupyter {
        pub use ptenv_core::modes::jupyter::*;
        mod ready;
        pub use ready::{after_start, status, Ready, READY_TIMEOUT};
    }

    /// ssh: the core's setup, and the connection once sshd runs.
    pub mod ssh {
        pub use ptenv_core::modes::ssh::*;
        mod connect;
        pub use connect::{
            after_start, connect_setup, connection_json, print_connection, ssh_command, Connection,
            ConnectionJson,
        };
    }

    /// The shell: the core's setup, and the interactive session.
    pub mod shell {
        pub use ptenv_core::modes::shell::*;
        mod session;
        pub use session::{after_start, run};
    }
}

/// `ptenv doctor`: the core's checks and the known errors, and what reads this machine's files
/// (the host's PCI bus, kernel module and device nodes; Docker's socket, CDI specs, hook and
/// device links).
pub mod doctor {
    pub use ptenv_core::doctor::*;
    pub mod docker_host;
    pub mod host;
    mod lookup;
    pub use lookup::ThisHost;
}
