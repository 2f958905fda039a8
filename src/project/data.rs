//! Where ptenv keeps its data on this machine (tokens, keys, trust records), and who this
//! process is for the containers' owner label. The names derived from a project folder are
//! the core's.

use std::path::PathBuf;

use super::Project;
use crate::error::{Error, Result};

/// The value of [`super::LABEL_OWNER`] for this process.
pub fn owner() -> Result<String> {
    let uid = rustix::process::geteuid().as_raw();
    Ok(format!("{uid}:{}", data_root()?.display()))
}

/// The host user running ptenv, by name (the value of [`super::LABEL_USER`]): the name of the
/// effective uid in /etc/passwd.
pub fn user() -> String {
    let uid = rustix::process::geteuid().as_raw();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    super::user_name(&passwd, uid)
}

/// ptenv's data dir (e.g. ~/.local/share/ptenv).
pub fn data_root() -> Result<PathBuf> {
    directories::ProjectDirs::from("", "", "ptenv")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or_else(|| Error::new("cannot find a home directory for ptenv's data").hint("set HOME"))
}

/// ptenv's data folder for `project` on this machine (tokens, keys).
pub fn data_dir(project: &Project) -> Result<PathBuf> {
    Ok(project.data_dir_in(&data_root()?))
}
