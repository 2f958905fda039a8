//! Profiles: what the user wants their environment to be.
//!
//! A profile is assembled from layers, lowest first: the built-in profile of its mode
//! (`profiles/*.yaml`, compiled in) → the user's config file → the project's `ptenv.yaml` →
//! command-line flags. Each file may hold settings for all of its profiles at the top level,
//! a `default:` profile name and named `profiles:`. This module is pure: it parses text it is
//! given and merges layers; reading the files is the binary's (`profile::load_sources`).

mod checked;
mod kubernetes;
mod layer;
mod names;
mod sources;
#[cfg(test)]
pub(crate) mod tests;
mod text;
mod values;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::project::slug;
use crate::size::parse_size;

use checked::*;
pub use kubernetes::*;
pub use layer::*;
pub use names::*;
pub use sources::*;
pub use text::*;
pub use values::*;

/// The fully resolved profile: every setting decided, nothing optional that has a default.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub mode: Mode,
    pub pytorch: String,
    pub variant: Variant,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cuda: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub repository: String,
    pub pull: PullPolicy,
    pub gpus: Gpus,
    /// `None` with `ipc: host`, where the host's /dev/shm is used and a size would be ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<ShmSize>,
    pub ipc: Ipc,
    pub ulimits: BTreeMap<String, Ulimit>,
    pub mounts: Vec<Mount>,
    pub env: BTreeMap<String, String>,
    pub ports: Vec<Port>,
    /// The address published ports bind to on the host unless a port says otherwise.
    pub bind: String,
    pub packages: Packages,
    /// The profile's `dependencies:`; `None`: the files are found by convention.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dependencies: Option<crate::dependencies::Settings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<String>,
    /// Passwordless sudo for the container user ([`DEFAULT_SUDO`]).
    pub sudo: bool,
    pub workdir: String,
    #[serde(skip_serializing_if = "is_default")]
    pub kubernetes: Kubernetes,
}

impl Profile {
    /// The host port the user pinned for `container` (in a file or by flag), as opposed to one
    /// ptenv chose: the built-in profiles' defaults (ssh's 2222) move when taken; a pin never.
    pub fn pinned_host_port(&self, container: u16) -> Option<u16> {
        let port = self.ports.iter().find(|p| p.container == container)?;
        let builtin = builtin(self.mode);
        let chosen_by_ptenv = builtin.ports.iter().flatten().any(|b| b == port);
        port.host.filter(|_| !chosen_by_ptenv)
    }
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Where the project is mounted in every container.
pub const WORKDIR: &str = "/workspace";
pub const DEFAULT_REPOSITORY: &str = "pytorch/pytorch";
pub const DEFAULT_PYTORCH: &str = "2.6";
/// The profile `ptenv up` starts when neither the command line nor a file names one.
pub const DEFAULT_PROFILE: &str = "jupyter";
/// The container user gets passwordless sudo unless a profile says `sudo: false`: as in a
/// dev container, `sudo apt-get install` must work in the environment. It also means anyone
/// with a shell in the container is root in it.
pub const DEFAULT_SUDO: bool = true;
