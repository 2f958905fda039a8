//! What every command and use case gets: the one printer, the project folder, and the machine
//! the environment runs on.

use std::path::PathBuf;

use crate::output::Printer;

/// What every command gets: the printer, the project folder and the machine it runs on.
pub struct Ctx {
    pub printer: Printer,
    /// Absolute path of the project folder.
    pub project: PathBuf,
    /// Where the environment runs: its GPUs, RAM, user and files.
    pub machine: Box<dyn crate::host::Machine>,
}
