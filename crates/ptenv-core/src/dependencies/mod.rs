//! The project's own dependencies: `requirements.txt`, `pyproject.toml`, `apt.txt` and
//! `environment.yml`, found by convention in the project folder or named by the profile's
//! `dependencies:` key, read into one list of pip requirements and one of Debian packages that
//! the derived image installs in a layer of its own (see `engine::recipe`).
//!
//! The rule this module enforces before any build: **torch stays the image's torch.** A line
//! that would replace it (`torch==2.5.1`, `torch<2.6`, `torch @ https://…`, a CPU wheel index)
//! is an error naming the file and the line; an unpinned `torch` is satisfied by the image and
//! left out of the install. The build then pins what the image really has (torch, torchvision,
//! torchaudio, triton, the nvidia-* wheels, numpy's major) as pip constraints, read from the
//! image itself, so an indirect requirement cannot replace them either. docs/dependencies.md
//! has the file formats and the sources of these rules.
//!
//! Pure: files come in through a reader function, decisions and texts go out.

mod files;
mod lines;
#[cfg(test)]
pub(crate) mod tests;
mod torch;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::project::hex;

pub use lines::*;
pub use torch::*;

/// The files read by convention when the profile names none, in this order.
pub const REQUIREMENTS: &str = "requirements.txt";
pub const PYPROJECT: &str = "pyproject.toml";
pub const APT: &str = "apt.txt";
pub const ENVIRONMENT: [&str; 2] = ["environment.yml", "environment.yaml"];

/// The packages the image brings and the dependency install must never replace. `nvidia-`
/// is a prefix: the CUDA wheels torch depends on (`nvidia-cublas-cu12`, …).
pub const IMAGE_STACK: [&str; 5] = ["torch", "torchvision", "torchaudio", "triton", "nvidia-"];

/// How deep `-r` includes may nest (pip has no limit; a loop must end somewhere).
const MAX_INCLUDE_DEPTH: usize = 8;

/// The profile's `dependencies:` key. Every field is optional: a field that is set replaces the
/// detection of its kind of file; `auto: false` turns the detection of the others off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Requirement files (`requirements.txt` format), relative to the project.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "paths"
    )]
    pub pip: Option<Vec<String>>,
    /// A file of Debian package names, one a line.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "path"
    )]
    pub apt: Option<String>,
    /// `pyproject.toml`: its `[project] dependencies` and the optional groups named here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pyproject: Option<PyprojectSettings>,
    /// A conda `environment.yml`: its `pip:` section is installed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "path"
    )]
    pub conda: Option<String>,
    /// Whether the files not named are detected by convention (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<bool>,
    /// What installs the pip requirements in the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installer: Option<Installer>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PyprojectSettings {
    /// The file, when it is not `pyproject.toml` at the project's top.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "path"
    )]
    pub file: Option<String>,
    /// Groups of `[project.optional-dependencies]` or `[dependency-groups]` installed too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// The pip requirements' installer in the build.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Installer {
    /// `uv pip` when uv can be installed in the build (from the index), else pip.
    #[default]
    Auto,
    Uv,
    Pip,
}

impl Installer {
    pub fn as_str(self) -> &'static str {
        match self {
            Installer::Auto => "auto",
            Installer::Uv => "uv",
            Installer::Pip => "pip",
        }
    }
}

/// A path in the project: relative, inside it, one line.
pub fn check_path(p: &str) -> std::result::Result<(), String> {
    if p.trim().is_empty() {
        return Err("a file name is empty".into());
    }
    if p.chars().any(char::is_control) {
        return Err(format!("{p:?} contains a control character"));
    }
    if p.starts_with('/') || p.split('/').any(|c| c == "..") {
        return Err(format!(
            "`{p}` is outside the project: name a file relative to the project folder, without `..`"
        ));
    }
    Ok(())
}

fn path<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    let p = String::deserialize(d)?;
    check_path(&p).map_err(serde::de::Error::custom)?;
    Ok(Some(p))
}

fn paths<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Vec<String>>, D::Error> {
    let ps = Vec::<String>::deserialize(d)?;
    for p in &ps {
        check_path(p).map_err(serde::de::Error::custom)?;
    }
    Ok(Some(ps))
}

/// Where a line comes from: `requirements.txt:3`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One pip requirement as the file writes it, with its parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requirement {
    /// The line as pip reads it (options like `--hash` included).
    pub text: String,
    /// The normalized name (PEP 503: lower case, runs of `-_.` as `-`).
    pub name: String,
    /// The version specifier, e.g. `>=2,<3`; empty when there is none.
    pub specifier: String,
    /// `name @ url`: a direct reference.
    pub url: bool,
    pub origin: Origin,
}

/// What kind of dependency file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Requirements,
    Pyproject,
    Apt,
    Conda,
}

/// A dependency file that was read, with the SHA-256 of its bytes (the lock records it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct File {
    pub path: String,
    pub kind: Kind,
    pub sha256: String,
}

/// Everything the project's files ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Dependencies {
    pub files: Vec<File>,
    /// The pip requirements, in file order.
    pub pip: Vec<Requirement>,
    /// Lines of `-c` constraint files.
    pub constraints: Vec<Requirement>,
    /// Index and resolver options the files give (`--extra-index-url …`), kept for pip.
    pub options: Vec<(String, Origin)>,
    /// Debian packages.
    pub apt: Vec<(String, Origin)>,
    /// What the files ask for that the build does not install, each a sentence with its fix.
    pub skipped: Vec<String>,
    pub installer: Installer,
}

impl Dependencies {
    pub fn is_empty(&self) -> bool {
        self.pip.is_empty() && self.apt.is_empty()
    }

    /// The files, e.g. `requirements.txt, apt.txt`.
    pub fn file_list(&self) -> String {
        self.files
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The requirements file the build installs: the index options, then every requirement,
    /// each under a comment that says where it comes from.
    pub fn requirements_txt(&self) -> String {
        let mut out = String::new();
        for (o, origin) in &self.options {
            out.push_str(&format!("# {origin}\n{o}\n"));
        }
        for r in &self.pip {
            out.push_str(&format!("# {}\n{}\n", r.origin, r.text));
        }
        out
    }

    /// The constraints the files give (`-c`), as one file.
    pub fn constraints_txt(&self) -> String {
        self.constraints
            .iter()
            .map(|r| format!("# {}\n{}\n", r.origin, r.text))
            .collect()
    }

    /// The Debian package names.
    pub fn apt_names(&self) -> Vec<String> {
        self.apt.iter().map(|(n, _)| n.clone()).collect()
    }

    /// One line for `up --dry-run` and `profiles`: what is installed from where.
    pub fn summary(&self) -> String {
        if self.files.is_empty() {
            return "none (no requirements.txt, pyproject.toml, apt.txt or environment.yml)".into();
        }
        let mut parts = Vec::new();
        for f in &self.files {
            let pip = self.pip.iter().filter(|r| r.origin.file == f.path).count();
            let apt = self.apt.iter().filter(|(_, o)| o.file == f.path).count();
            let what = match f.kind {
                Kind::Apt => format!("{apt} apt"),
                _ => format!("{pip} pip"),
            };
            parts.push(format!("{} ({what})", f.path));
        }
        parts.join(", ")
    }
}

/// Reads a project file: `None` when it does not exist.
pub type Reader<'a> = &'a dyn Fn(&str) -> std::result::Result<Option<String>, String>;

/// The project's dependencies by the profile's settings (or by convention).
pub fn detect(settings: Option<&Settings>, read: Reader) -> Result<Dependencies> {
    let s = settings.cloned().unwrap_or_default();
    let auto = s.auto.unwrap_or(true);
    let mut d = Dependencies {
        installer: s.installer.unwrap_or_default(),
        ..Dependencies::default()
    };
    let required = |p: &str| -> Result<String> {
        read(p)
            .map_err(|e| Error::new(format!("cannot read {p}: {e}")))?
            .ok_or_else(|| {
                Error::new(format!(
                    "the profile's `dependencies:` names {p}, which is not in the project"
                ))
                .hint(format!(
                    "create {p}, or fix the file name under `dependencies:` in ptenv.yaml"
                ))
            })
    };
    let optional = |p: &str| -> Result<Option<String>> {
        read(p).map_err(|e| Error::new(format!("cannot read {p}: {e}")))
    };

    // pip requirement files
    match &s.pip {
        Some(files) => {
            for f in files {
                let text = required(f)?;
                d.read_requirements(f, &text, read, 0)?;
            }
        }
        None if auto => {
            if let Some(text) = optional(REQUIREMENTS)? {
                d.read_requirements(REQUIREMENTS, &text, read, 0)?;
            }
        }
        None => {}
    }
    // pyproject.toml
    match &s.pyproject {
        Some(p) => {
            let file = p.file.as_deref().unwrap_or(PYPROJECT);
            let text = required(file)?;
            d.read_pyproject(file, &text, &p.groups)?;
        }
        None if auto => {
            if let Some(text) = optional(PYPROJECT)? {
                d.read_pyproject(PYPROJECT, &text, &[])?;
            }
        }
        None => {}
    }
    // apt.txt
    match &s.apt {
        Some(f) => {
            let text = required(f)?;
            d.read_apt(f, &text)?;
        }
        None if auto => {
            if let Some(text) = optional(APT)? {
                d.read_apt(APT, &text)?;
            }
        }
        None => {}
    }
    // environment.yml
    match &s.conda {
        Some(f) => {
            let text = required(f)?;
            d.read_environment(f, &text, read)?;
        }
        None if auto => {
            for f in ENVIRONMENT {
                if let Some(text) = optional(f)? {
                    d.read_environment(f, &text, read)?;
                    break;
                }
            }
        }
        None => {}
    }
    Ok(d)
}

fn sha256(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn file_error(origin: &Origin, message: impl fmt::Display) -> Error {
    Error::new(format!("{origin}: {message}"))
}

/// The hashes of the files, for the lock and for "which file changed".
pub fn hashes(d: &Dependencies) -> BTreeMap<String, String> {
    d.files
        .iter()
        .map(|f| (f.path.clone(), f.sha256.clone()))
        .collect()
}

/// The files whose hash differs between two builds (added, removed or changed), in order.
pub fn changed(before: &BTreeMap<String, String>, now: &BTreeMap<String, String>) -> Vec<String> {
    let mut out: Vec<String> = now
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    out.extend(before.keys().filter(|k| !now.contains_key(*k)).cloned());
    out
}
