//! What every command and use case gets: the one printer, the project folder, and the machine
//! the environment runs on.

use std::path::PathBuf;

use crate::error::Result;
use crate::output::Printer;
use crate::profile::{self, Layer, Profile, Sources};

/// What every command gets: the printer, the project folder and the machine it runs on.
pub struct Ctx {
    pub printer: Printer,
    /// Absolute path of the project folder.
    pub project: PathBuf,
    /// Where the environment runs: its GPUs, RAM, user and files.
    pub machine: Box<dyn crate::host::Machine>,
}

impl Ctx {
    /// The project's profile `name` (`None`: the project's default) with the flags' layer on
    /// top, and the sources it was resolved from (for the trust gate).
    pub fn profile(&self, name: Option<&str>, flags: &Layer) -> Result<(Sources, Profile)> {
        let sources = profile::load_sources(&self.project)?;
        let name = name.map_or_else(|| sources.default_name(), str::to_string);
        let profile = sources.resolve(&name, flags)?;
        Ok((sources, profile))
    }
}
