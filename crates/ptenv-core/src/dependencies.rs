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

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::project::hex;

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

impl Dependencies {
    fn add_file(&mut self, path: &str, kind: Kind, text: &str) -> bool {
        if self.files.iter().any(|f| f.path == path) {
            return false;
        }
        self.files.push(File {
            path: path.to_string(),
            kind,
            sha256: sha256(text),
        });
        true
    }

    /// A requirements file, pip's format: one requirement a line, `#` comments, `\`
    /// continuations, `-r`/`-c` includes relative to the file, index options.
    fn read_requirements(
        &mut self,
        path: &str,
        text: &str,
        read: Reader,
        depth: usize,
    ) -> Result<()> {
        if !self.add_file(path, Kind::Requirements, text) {
            return Ok(());
        }
        for (line_no, line) in logical_lines(text) {
            let origin = Origin {
                file: path.to_string(),
                line: line_no,
            };
            self.take_line(&line, origin, read, depth)?;
        }
        Ok(())
    }

    /// One line of a requirements file (or of environment.yml's `pip:` list) at `origin`.
    fn take_line(&mut self, line: &str, origin: Origin, read: Reader, depth: usize) -> Result<()> {
        match parse_line(line).map_err(|m| file_error(&origin, m))? {
            Line::Requirement(r) => self.pip.push(r.at(origin)),
            Line::Include { constraint, file } => {
                let target = relative_to(&origin.file, &file);
                check_path(&target).map_err(|m| file_error(&origin, m))?;
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(file_error(&origin, "includes nest too deep")
                        .hint("check the `-r` lines for a loop"));
                }
                let included = read(&target)
                    .map_err(|e| file_error(&origin, format!("cannot read {target}: {e}")))?
                    .ok_or_else(|| {
                        file_error(&origin, format!("{target} is not in the project"))
                            .hint(format!("create {target} or remove the line"))
                    })?;
                if !constraint {
                    return self.read_requirements(&target, &included, read, depth + 1);
                }
                if self.add_file(&target, Kind::Requirements, &included) {
                    for (n, l) in logical_lines(&included) {
                        let o = Origin {
                            file: target.clone(),
                            line: n,
                        };
                        match parse_line(&l).map_err(|m| file_error(&o, m))? {
                            Line::Requirement(r) => self.constraints.push(r.at(o)),
                            Line::Option(opt) => self.options.push((opt, o)),
                            _ => {}
                        }
                    }
                }
            }
            Line::Option(o) => self.options.push((o, origin)),
            Line::Local(what) => self.skipped.push(format!(
                "{origin}: `{what}` is not installed in the image (the project's own code is mounted at run time, not at build); inside the environment run `pip install -e .` if the project needs it"
            )),
            Line::Empty => {}
        }
        Ok(())
    }

    /// `pyproject.toml`: `[project] dependencies`, and the named groups of
    /// `[project.optional-dependencies]` or `[dependency-groups]` (PEP 735).
    fn read_pyproject(&mut self, path: &str, text: &str, groups: &[String]) -> Result<()> {
        let at_file = |m: String| Error::new(format!("{path}: {m}"));
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            at_file(format!("is not valid TOML: {}", e.message())).hint(format!(
                "fix {path}, or set `dependencies: {{auto: false}}` in ptenv.yaml to not read it"
            ))
        })?;
        self.add_file(path, Kind::Pyproject, text);
        let project = doc.get("project").and_then(|p| p.as_table());
        let dynamic = project
            .and_then(|p| p.get("dynamic"))
            .and_then(|d| d.as_array())
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("dependencies")));
        if dynamic {
            self.skipped.push(format!(
                "{path}: the dependencies are `dynamic` (computed by the build backend), so ptenv cannot read them; list them in requirements.txt"
            ));
        }
        let list = |v: Option<&toml::Value>, what: &str| -> Result<Vec<String>> {
            let Some(v) = v else { return Ok(Vec::new()) };
            let arr = v
                .as_array()
                .ok_or_else(|| at_file(format!("{what} is not a list")))?;
            arr.iter()
                .filter(|x| !x.is_table())
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| at_file(format!("{what} holds a non-string: {x:?}")))
                })
                .collect()
        };
        let mut wanted = list(
            project.and_then(|p| p.get("dependencies")),
            "[project] dependencies",
        )?;
        let optional = project
            .and_then(|p| p.get("optional-dependencies"))
            .and_then(|o| o.as_table());
        let dep_groups = doc.get("dependency-groups").and_then(|g| g.as_table());
        let mut stack: Vec<String> = groups.to_vec();
        let mut seen: Vec<String> = Vec::new();
        while let Some(g) = stack.pop() {
            if seen.contains(&g) {
                continue;
            }
            seen.push(g.clone());
            if let Some(v) = optional.and_then(|o| o.get(&g)) {
                wanted.extend(list(
                    Some(v),
                    &format!("[project.optional-dependencies] {g}"),
                )?);
            } else if let Some(v) = dep_groups.and_then(|o| o.get(&g)) {
                wanted.extend(list(Some(v), &format!("[dependency-groups] {g}"))?);
                // `{include-group = "other"}` entries (PEP 735).
                for inc in v.as_array().into_iter().flatten() {
                    if let Some(other) = inc.get("include-group").and_then(|x| x.as_str()) {
                        stack.push(other.to_string());
                    }
                }
            } else {
                let mut have: Vec<&String> = optional.into_iter().flat_map(|o| o.keys()).collect();
                have.extend(dep_groups.into_iter().flat_map(|o| o.keys()));
                return Err(at_file(format!("has no dependency group `{g}`"))
                    .hint(match have.is_empty() {
                        true => format!("{path} defines no groups; remove `{g}` from `dependencies: {{pyproject: {{groups: …}}}}` in ptenv.yaml"),
                        false => format!(
                            "the groups it defines: {}; fix `groups:` under `dependencies: {{pyproject: …}}` in ptenv.yaml",
                            have.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    }));
            }
        }
        let own = project
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .map(normalize);
        for req in wanted {
            let origin = Origin {
                file: path.to_string(),
                line: line_of(text, &req),
            };
            match parse_line(&req).map_err(|m| file_error(&origin, m))? {
                // `myproject[dev]`: the project's own extras, already followed above.
                Line::Requirement(r) if Some(&r.name) == own.as_ref() => {}
                Line::Requirement(r) => self.pip.push(r.at(origin)),
                _ => {
                    return Err(file_error(
                        &origin,
                        format!("`{req}` is not a requirement (PEP 508)"),
                    ))
                }
            }
        }
        Ok(())
    }

    /// `apt.txt`: Debian package names, one a line, `#` comments (repo2docker's format).
    fn read_apt(&mut self, path: &str, text: &str) -> Result<()> {
        if !self.add_file(path, Kind::Apt, text) {
            return Ok(());
        }
        for (i, line) in text.lines().enumerate() {
            let origin = Origin {
                file: path.to_string(),
                line: i + 1,
            };
            let name = line.split('#').next().unwrap_or("").trim();
            if name.is_empty() {
                continue;
            }
            for word in name.split_whitespace() {
                crate::package_name::check_apt(word).map_err(|m| {
                    file_error(
                        &origin,
                        format!("`{word}` is not a Debian package name: {m}"),
                    )
                    .hint(format!("{path} lists Debian package names, one a line"))
                })?;
                self.apt.push((word.to_string(), origin.clone()));
            }
        }
        Ok(())
    }

    /// A conda `environment.yml`: the `pip:` list is installed; conda packages are not (the
    /// images are not conda-solvable quickly) and are reported, except those the image
    /// already provides.
    fn read_environment(&mut self, path: &str, text: &str, read: Reader) -> Result<()> {
        #[derive(Deserialize)]
        struct Env {
            #[serde(default)]
            dependencies: Vec<serde_yaml::Value>,
        }
        let env: Env = serde_yaml::from_str(text).map_err(|e| {
            Error::new(format!("{path}: is not a conda environment file: {e}")).hint(format!(
                "fix {path}, or set `dependencies: {{auto: false}}` in ptenv.yaml to not read it"
            ))
        })?;
        self.add_file(path, Kind::Conda, text);
        let mut conda: Vec<String> = Vec::new();
        for item in env.dependencies {
            match item {
                serde_yaml::Value::String(s) => {
                    let name = s
                        .split(['=', '<', '>', '!', ' '])
                        .next()
                        .unwrap_or("")
                        .rsplit("::")
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let from_image = matches!(
                        name.as_str(),
                        "python"
                            | "pip"
                            | "pytorch"
                            | "torchvision"
                            | "torchaudio"
                            | "pytorch-cuda"
                            | "cudatoolkit"
                            | "cuda-toolkit"
                            | "numpy"
                    );
                    if !from_image {
                        conda.push(s);
                    }
                }
                serde_yaml::Value::Mapping(m) => {
                    if let Some(serde_yaml::Value::Sequence(pips)) = m.get("pip") {
                        for p in pips {
                            let Some(line) = p.as_str() else { continue };
                            let origin = Origin {
                                file: path.to_string(),
                                line: line_of(text, line),
                            };
                            self.take_line(line, origin, read, 1)?;
                        }
                    }
                }
                _ => {}
            }
        }
        if !conda.is_empty() {
            self.skipped.push(format!(
                "{path}: the conda packages {} are not installed (the image's Python is not solved by conda at build); put their pip names in requirements.txt, or Debian ones in apt.txt",
                conda.join(", ")
            ));
        }
        Ok(())
    }
}

/// The 1-based line of the first occurrence of `needle` in `text` (1 when absent).
fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle)
        .map_or(1, |i| text[..i].matches('\n').count() + 1)
}

/// `dir/a.txt` includes `b.txt`: `dir/b.txt`.
fn relative_to(including: &str, file: &str) -> String {
    match including.rsplit_once('/') {
        Some((dir, _)) if !file.starts_with('/') => format!("{dir}/{file}"),
        _ => file.to_string(),
    }
    .trim_start_matches("./")
    .to_string()
}

/// The logical lines of a requirements file with their first line's number: `\` at the end
/// joins the next line; comments (`#` at the start or after whitespace) are removed.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw);
        let (start, mut acc) = current.take().unwrap_or((i + 1, String::new()));
        if let Some(body) = line.strip_suffix('\\') {
            acc.push_str(body);
            current = Some((start, acc));
            continue;
        }
        acc.push_str(line);
        out.push((start, acc.trim().to_string()));
    }
    if let Some((start, acc)) = current {
        out.push((start, acc.trim().to_string()));
    }
    out
}

fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return line[..i].trim_end();
        }
    }
    line.trim_end()
}

/// A requirement without its origin yet.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parsed {
    text: String,
    name: String,
    specifier: String,
    url: bool,
}

impl Parsed {
    fn at(self, origin: Origin) -> Requirement {
        Requirement {
            text: self.text,
            name: self.name,
            specifier: self.specifier,
            url: self.url,
            origin,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Empty,
    Requirement(Parsed),
    Include {
        constraint: bool,
        file: String,
    },
    /// An index or resolver option, as written.
    Option(String),
    /// An editable or local-path install of the project's own code.
    Local(String),
}

/// Options of pip's requirements-file format that change where packages come from or how
/// they resolve; they are kept for the install (pip's "Requirements File Format").
const KEPT_OPTIONS: [&str; 10] = [
    "-i",
    "--index-url",
    "--extra-index-url",
    "--no-index",
    "-f",
    "--find-links",
    "--trusted-host",
    "--pre",
    "--prefer-binary",
    "--only-binary",
];

/// One logical line of a requirements file.
///
/// ```text
/// einops>=0.7  # a comment
/// torch==2.5.1 ; sys_platform == "linux"
/// -r requirements-dev.txt
/// --extra-index-url https://download.pytorch.org/whl/cpu
/// -e .
/// ```
fn parse_line(line: &str) -> std::result::Result<Line, String> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(Line::Empty);
    }
    if line.starts_with('-') {
        let (opt, value) = match line.split_once(['=', ' ', '\t']) {
            Some((o, v)) => (o, v.trim()),
            None => (line, ""),
        };
        return match opt {
            "-r" | "--requirement" | "-c" | "--constraint" => {
                if value.is_empty() {
                    return Err(format!("`{opt}` needs a file name"));
                }
                Ok(Line::Include {
                    constraint: opt.starts_with("-c") || opt == "--constraint",
                    file: value.to_string(),
                })
            }
            "-e" | "--editable" => Ok(Line::Local(line.to_string())),
            o if KEPT_OPTIONS.contains(&o) => Ok(Line::Option(line.to_string())),
            o => Err(format!(
                "the option `{o}` is not one ptenv passes to the image build (it keeps {}, -r and -c)",
                KEPT_OPTIONS.join(", ")
            )),
        };
    }
    if line.starts_with('.') || line.starts_with('/') || line.starts_with("file:") {
        return Ok(Line::Local(line.to_string()));
    }
    parse_requirement(line).map(Line::Requirement)
}

/// A PEP 508 requirement: `name[extras] specifier ; marker` or `name[extras] @ url ; marker`,
/// possibly followed by pip's per-requirement options (`--hash=…`).
fn parse_requirement(line: &str) -> std::result::Result<Parsed, String> {
    if line
        .split(['@', ' '])
        .next()
        .is_some_and(|w| w.contains("://"))
    {
        return Err(format!(
            "`{line}` is a URL without a package name; write it as `name @ {line}`"
        ));
    }
    let body = line.split(" --").next().unwrap_or(line);
    let body = body.split(';').next().unwrap_or(body).trim();
    let end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(body.len());
    let name = &body[..end];
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("`{line}` is not a requirement (PEP 508)"));
    }
    let mut rest = body[end..].trim_start();
    if rest.starts_with('[') {
        let close = rest
            .find(']')
            .ok_or_else(|| format!("`{line}`: an extras list `[` is not closed"))?;
        rest = rest[close + 1..].trim_start();
    }
    let url = rest.starts_with('@');
    let specifier = if url {
        String::new()
    } else {
        let s = rest.trim_start_matches('(').trim_end_matches(')');
        s.chars().filter(|c| !c.is_whitespace()).collect()
    };
    if !url && !specifier.is_empty() && !specifier.starts_with(['=', '!', '<', '>', '~']) {
        return Err(format!("`{line}` is not a requirement (PEP 508)"));
    }
    Ok(Parsed {
        text: line.to_string(),
        name: normalize(name),
        specifier,
        url,
    })
}

/// PEP 503 normalization: `Torch_Vision` and `torch.vision` are `torch-vision`.
pub fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            dash = true;
        } else {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Whether `name` (normalized) is one of the packages the image brings.
pub fn in_image_stack(name: &str) -> bool {
    IMAGE_STACK
        .iter()
        .any(|p| name == *p || (p.ends_with('-') && name.starts_with(p)))
}

/// What the chosen image's torch is, from the catalog (before the image is even pulled).
#[derive(Debug, Clone, Copy)]
pub struct ImageTorch<'a> {
    /// `2.6.0`; `None` when the catalog does not know (a pinned image of another name).
    pub version: Option<&'a str>,
    /// `12.4`; `None` on a CPU build or when unknown.
    pub cuda: Option<&'a str>,
    /// The PyTorch releases the catalog has images of (`2.5.1`, `2.6.0`, …).
    pub releases: &'a [&'a str],
}

/// The rule that keeps torch: `torch` lines are checked against the image's torch and taken
/// out of the install (the image provides it); a conflict is an error naming file:line and the
/// fix. Returns the sentences to tell the user.
pub fn keep_torch(d: &mut Dependencies, image: &ImageTorch) -> Result<Vec<String>> {
    let mut said = Vec::new();
    for (o, origin) in &d.options {
        if let Some(line) = torch_index_conflict(o, image.cuda) {
            return Err(file_error(
                origin,
                format!("`{o}` points pip at PyTorch's {line} wheels, which would replace the image's torch{}", image.cuda.map_or(String::new(), |c| format!(" (CUDA {c})"))),
            )
            .hint(format!("remove the line from {}: the image already has torch with CUDA; choose a CUDA line with `cuda:` in ptenv.yaml if you need another", origin.file)));
        }
    }
    let mut kept = Vec::new();
    for r in std::mem::take(&mut d.pip) {
        if r.name != "torch" {
            kept.push(r);
            continue;
        }
        let ours = image.version.unwrap_or("the image's");
        if r.url {
            return Err(file_error(
                &r.origin,
                format!(
                    "`{}` installs torch from a URL, replacing the image's torch {ours}",
                    r.text
                ),
            )
            .hint(format!(
                "remove the line from {}: the image's torch is kept",
                r.origin.file
            )));
        }
        let verdict = match image.version {
            Some(v) if !r.specifier.is_empty() => satisfies(v, image.cuda, &r.specifier),
            _ => Some(true),
        };
        if verdict == Some(false) {
            let mut e = file_error(
                &r.origin,
                format!(
                    "`{}` conflicts with the image's torch {ours}: installing it would replace the image's CUDA build of torch",
                    r.text
                ),
            );
            let fitting: Vec<&&str> = image
                .releases
                .iter()
                .filter(|rel| satisfies(rel, image.cuda, &r.specifier) == Some(true))
                .collect();
            if let Some(rel) = fitting.last() {
                let minor = rel.split('.').take(2).collect::<Vec<_>>().join(".");
                e = e.hint(format!(
                    "to use torch {rel}, set `pytorch: \"{minor}\"` in ptenv.yaml (ptenv has its image) and keep the line"
                ));
            }
            e = e.hint(format!(
                "or drop the pin in {} (`torch` alone is satisfied by the image's torch {ours})",
                r.origin.file
            ));
            return Err(e);
        }
        said.push(format!(
            "{}: `{}` is satisfied by the image's torch {ours}, which is kept",
            r.origin, r.text
        ));
    }
    d.pip = kept;
    for c in &d.constraints {
        if c.name == "torch" {
            if let Some(v) = image.version {
                if satisfies(v, image.cuda, &c.specifier) == Some(false) {
                    return Err(file_error(
                        &c.origin,
                        format!(
                            "the constraint `{}` conflicts with the image's torch {v}",
                            c.text
                        ),
                    )
                    .hint(format!("drop the torch line from {}", c.origin.file)));
                }
            }
        }
    }
    Ok(said)
}

/// `--extra-index-url https://download.pytorch.org/whl/cpu` → `Some("CPU")`; an index of
/// another CUDA line than the image's → `Some("CUDA 11.8")`. PyTorch's wheel indexes are
/// `https://download.pytorch.org/whl/<cpu|cuXYZ|rocmX.Y>` (pytorch.org "Start Locally").
fn torch_index_conflict(option: &str, cuda: Option<&str>) -> Option<String> {
    let url = option.split([' ', '=']).nth(1)?.trim();
    if !url.contains("download.pytorch.org/whl") {
        return None;
    }
    let last = url.trim_end_matches('/').rsplit('/').next()?;
    if last == "cpu" {
        return Some("CPU-only".into());
    }
    if last.starts_with("rocm") {
        return Some(format!("ROCm ({last})"));
    }
    if let Some(digits) = last.strip_prefix("cu") {
        let ours = cuda.map(|c| c.replace('.', ""));
        if ours.as_deref() != Some(digits) {
            let (major, minor) = digits.split_at(digits.len().saturating_sub(1));
            return Some(format!("CUDA {major}.{minor}"));
        }
    }
    None
}

/// A version's release numbers and its local label: `2.6.0+cu124` → `([2, 6, 0], "cu124")`.
/// `None` for pre-, post- and dev-releases, which this small comparison does not order.
fn version(v: &str) -> Option<(Vec<u64>, String)> {
    let (public, local) = v.split_once('+').unwrap_or((v, ""));
    let nums: Option<Vec<u64>> = public
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse().ok())
        .collect();
    Some((nums?, local.to_lowercase()))
}

fn cmp_release(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
    let n = a.len().max(b.len());
    let get = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    (0..n)
        .map(|i| get(a, i).cmp(&get(b, i)))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// Whether the image's torch `have` (public version, with its CUDA line as the local label
/// `cuXYZ` the official wheels carry) satisfies a PEP 440 specifier like `>=2.4,<2.7`.
/// `None` when this comparison cannot tell (pre-releases): the build's constraints decide.
pub fn satisfies(have: &str, cuda: Option<&str>, specifier: &str) -> Option<bool> {
    let (ours, _) = version(have)?;
    let our_local = cuda.map(|c| format!("cu{}", c.replace('.', "")));
    for clause in specifier.split(',').filter(|c| !c.is_empty()) {
        let op_len = ["===", "~=", "==", "!=", "<=", ">="]
            .iter()
            .find(|op| clause.starts_with(**op))
            .map_or(1, |op| op.len());
        let (op, v) = clause.split_at(op_len);
        let ok = match op {
            "===" => v == have,
            "==" | "!=" => {
                let eq = if let Some(prefix) = v.strip_suffix(".*") {
                    let (p, _) = version(prefix)?;
                    p.iter()
                        .enumerate()
                        .all(|(i, n)| ours.get(i).copied().unwrap_or(0) == *n)
                } else {
                    let (want, local) = version(v)?;
                    cmp_release(&ours, &want).is_eq()
                        && (local.is_empty() || Some(&local) == our_local.as_ref())
                };
                eq == (op == "==")
            }
            "~=" => {
                let (want, _) = version(v)?;
                if want.len() < 2 {
                    return None;
                }
                cmp_release(&ours, &want).is_ge()
                    && ours
                        .iter()
                        .take(want.len() - 1)
                        .eq(want.iter().take(want.len() - 1))
            }
            "<=" => cmp_release(&ours, &version(v)?.0).is_le(),
            ">=" => cmp_release(&ours, &version(v)?.0).is_ge(),
            "<" => cmp_release(&ours, &version(v)?.0).is_lt(),
            ">" => cmp_release(&ours, &version(v)?.0).is_gt(),
            _ => return None,
        };
        if !ok {
            return Some(false);
        }
    }
    Some(true)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn files(
        list: &[(&str, &str)],
    ) -> impl Fn(&str) -> std::result::Result<Option<String>, String> {
        let map: BTreeMap<String, String> = list
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |p: &str| Ok(map.get(p).cloned())
    }

    const RELEASES: [&str; 4] = ["2.4.1", "2.5.1", "2.6.0", "2.7.0"];

    fn image() -> ImageTorch<'static> {
        ImageTorch {
            version: Some("2.6.0"),
            cuda: Some("12.4"),
            releases: &RELEASES,
        }
    }

    #[test]
    fn requirements_are_read_with_their_lines_includes_and_options() {
        let read = files(&[
            (
                "requirements.txt",
                "# training\ntorch\neinops>=0.7  # tensors\n\nnumpy >=1.26, \\\n  <3\n-r dev/extra.txt\n-e .\n--extra-index-url https://pypi.example/simple\n",
            ),
            ("dev/extra.txt", "pytest==8.3.3 --hash=sha256:ab\n-c pins.txt\n"),
            ("dev/pins.txt", "rich<14\n"),
        ]);
        let d = detect(None, &read).unwrap();
        let names: Vec<(&str, String)> = d
            .pip
            .iter()
            .map(|r| (r.name.as_str(), r.origin.to_string()))
            .collect();
        assert_eq!(
            names,
            [
                ("torch", "requirements.txt:2".to_string()),
                ("einops", "requirements.txt:3".into()),
                ("numpy", "requirements.txt:5".into()),
                ("pytest", "dev/extra.txt:1".into()),
            ]
        );
        assert_eq!(d.pip[2].specifier, ">=1.26,<3");
        assert_eq!(d.pip[3].specifier, "==8.3.3");
        assert_eq!(d.constraints[0].text, "rich<14");
        assert_eq!(d.constraints[0].origin.to_string(), "dev/pins.txt:1");
        assert_eq!(
            d.options,
            [(
                "--extra-index-url https://pypi.example/simple".to_string(),
                Origin {
                    file: "requirements.txt".into(),
                    line: 9
                }
            )]
        );
        assert!(
            d.skipped[0].starts_with("requirements.txt:8: `-e .`"),
            "{:?}",
            d.skipped
        );
        let paths: Vec<&str> = d.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["requirements.txt", "dev/extra.txt", "dev/pins.txt"]);
        let txt = d.requirements_txt();
        assert!(txt.contains("# requirements.txt:3\neinops>=0.7\n"), "{txt}");
        assert!(
            txt.starts_with("# requirements.txt:9\n--extra-index-url"),
            "{txt}"
        );
    }

    #[test]
    fn bad_lines_and_missing_files_name_the_place_and_the_fix() {
        let e = detect(None, &files(&[("requirements.txt", "ok\n--user\n")])).unwrap_err();
        assert!(
            e.message
                .starts_with("requirements.txt:2: the option `--user`"),
            "{e}"
        );
        let e = detect(None, &files(&[("requirements.txt", "-r ../secret.txt\n")])).unwrap_err();
        assert!(e.message.contains("outside the project"), "{e}");
        let e = detect(None, &files(&[("requirements.txt", "-r other.txt\n")])).unwrap_err();
        assert!(
            e.message
                .contains("requirements.txt:1: other.txt is not in the project"),
            "{e}"
        );
        let e = detect(
            None,
            &files(&[("requirements.txt", "https://x.example/a.whl\n")]),
        )
        .unwrap_err();
        assert!(e.message.contains("name @"), "{e}");
        let loop_ = files(&[
            ("requirements.txt", "-r a.txt\n"),
            ("a.txt", "-r b.txt\n"),
            ("b.txt", "-r a.txt\n"),
        ]);
        // A file read twice is read once: a loop ends.
        assert!(detect(None, &loop_).unwrap().pip.is_empty());
        let s = Settings {
            pip: Some(vec!["reqs/base.txt".into()]),
            ..Settings::default()
        };
        let e = detect(Some(&s), &files(&[])).unwrap_err();
        assert!(e.message.contains("names reqs/base.txt"), "{e}");
        assert!(e.hints[0].contains("create reqs/base.txt"), "{e:?}");
        let e = detect(None, &files(&[("apt.txt", "git\nfoo;rm\n")])).unwrap_err();
        assert!(
            e.message
                .starts_with("apt.txt:2: `foo;rm` is not a Debian package"),
            "{e}"
        );
    }

    #[test]
    fn the_profile_names_files_and_auto_false_stops_the_detection() {
        let read = files(&[
            ("requirements.txt", "einops\n"),
            ("requirements-dev.txt", "pytest\n"),
            ("apt.txt", "graphviz # for torchviz\nlibsndfile1 ffmpeg\n"),
        ]);
        let d = detect(None, &read).unwrap();
        assert_eq!(d.file_list(), "requirements.txt, apt.txt");
        assert_eq!(d.apt_names(), ["graphviz", "libsndfile1", "ffmpeg"]);
        assert_eq!(d.apt[2].1.to_string(), "apt.txt:2");
        assert_eq!(d.summary(), "requirements.txt (1 pip), apt.txt (3 apt)");
        let only = Settings {
            pip: Some(vec![
                "requirements.txt".into(),
                "requirements-dev.txt".into(),
            ]),
            auto: Some(false),
            installer: Some(Installer::Pip),
            ..Settings::default()
        };
        let d = detect(Some(&only), &read).unwrap();
        assert_eq!(d.file_list(), "requirements.txt, requirements-dev.txt");
        assert!(d.apt.is_empty());
        assert_eq!(d.installer, Installer::Pip);
        let none = detect(None, &files(&[])).unwrap();
        assert!(none.is_empty() && none.files.is_empty());
        assert!(none.summary().starts_with("none"));
    }

    #[test]
    fn pyproject_dependencies_and_named_groups() {
        let toml = r#"
[project]
name = "My_Project"
dependencies = [
  "einops>=0.7",
  "torch",
]
[project.optional-dependencies]
dev = ["pytest", "my-project[viz]"]
viz = ["matplotlib"]
[dependency-groups]
lint = ["ruff", {include-group = "typing"}]
typing = ["mypy"]
"#;
        let read = files(&[("pyproject.toml", toml)]);
        let d = detect(None, &read).unwrap();
        let names: Vec<&str> = d.pip.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["einops", "torch"]);
        assert_eq!(d.pip[0].origin.to_string(), "pyproject.toml:5");
        let s = Settings {
            pyproject: Some(PyprojectSettings {
                file: None,
                groups: vec!["dev".into(), "lint".into()],
            }),
            ..Settings::default()
        };
        let d = detect(Some(&s), &read).unwrap();
        let mut names: Vec<&str> = d.pip.iter().map(|r| r.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["einops", "mypy", "pytest", "ruff", "torch"]);
        let bad = Settings {
            pyproject: Some(PyprojectSettings {
                file: None,
                groups: vec!["docs".into()],
            }),
            ..Settings::default()
        };
        let e = detect(Some(&bad), &read).unwrap_err();
        assert!(e.message.contains("no dependency group `docs`"), "{e}");
        assert!(e.hints[0].contains("dev, viz, lint, typing"), "{e:?}");
        // A tool-only pyproject.toml has nothing to install; a dynamic one says so.
        let d = detect(
            None,
            &files(&[("pyproject.toml", "[tool.black]\nline-length = 100\n")]),
        )
        .unwrap();
        assert!(d.pip.is_empty() && d.skipped.is_empty());
        let d = detect(
            None,
            &files(&[(
                "pyproject.toml",
                "[project]\nname='x'\ndynamic=['dependencies']\n",
            )]),
        )
        .unwrap();
        assert!(d.skipped[0].contains("dynamic"), "{:?}", d.skipped);
        let e = detect(None, &files(&[("pyproject.toml", "[project\n")])).unwrap_err();
        assert!(
            e.message.starts_with("pyproject.toml: is not valid TOML"),
            "{e}"
        );
    }

    #[test]
    fn environment_yml_gives_its_pip_section_and_reports_conda_packages() {
        let yml = "name: x\nchannels: [pytorch, nvidia]\ndependencies:\n  - python=3.11\n  - pytorch::pytorch=2.6\n  - pytorch-cuda=12.4\n  - ffmpeg\n  - conda-forge::opencv>=4\n  - pip\n  - pip:\n    - einops\n    - -r requirements-extra.txt\n";
        let read = files(&[
            ("environment.yml", yml),
            ("requirements-extra.txt", "rich\n"),
        ]);
        let d = detect(None, &read).unwrap();
        let names: Vec<&str> = d.pip.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["einops", "rich"]);
        assert_eq!(d.pip[0].origin.to_string(), "environment.yml:11");
        assert_eq!(d.skipped.len(), 1, "{:?}", d.skipped);
        assert!(
            d.skipped[0].contains("ffmpeg, conda-forge::opencv>=4 are not installed"),
            "{:?}",
            d.skipped
        );
        assert!(d.skipped[0].contains("apt.txt"));
    }

    #[test]
    fn versions_compare_as_pep_440_says() {
        let t = |spec: &str| satisfies("2.6.0", Some("12.4"), spec);
        for yes in [
            "",
            ">=2.0",
            "==2.6.0",
            "==2.6",
            "==2.6.*",
            "~=2.6",
            "~=2.5",
            "<2.7,>=2.6",
            "!=2.5.1",
            "==2.6.0+cu124",
            "<=2.6.0",
            "===2.6.0",
            ">2.5.1",
        ] {
            assert_eq!(t(yes), Some(true), "{yes}");
        }
        for no in [
            "==2.5.1",
            "<2.6",
            "==2.5.*",
            "~=2.6.1",
            ">2.6",
            "==2.6.0+cpu",
            "!=2.6.0",
            ">=2.7",
            "~=2.7",
        ] {
            assert_eq!(t(no), Some(false), "{no}");
        }
        assert_eq!(t(">=2.6.0rc1"), None, "pre-releases: the build decides");
        assert_eq!(normalize("Torch_Vision..x"), "torch-vision-x");
        assert!(in_image_stack("nvidia-cublas-cu12") && in_image_stack("triton"));
        assert!(!in_image_stack("nvidia") && !in_image_stack("torchmetrics"));
    }

    #[test]
    fn torch_stays_the_image_s_torch() {
        let read = files(&[("requirements.txt", "einops\ntorch>=2.0\ntorchvision\n")]);
        let mut d = detect(None, &read).unwrap();
        let said = keep_torch(&mut d, &image()).unwrap();
        assert_eq!(
            said,
            ["requirements.txt:2: `torch>=2.0` is satisfied by the image's torch 2.6.0, which is kept"]
        );
        let names: Vec<&str> = d.pip.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["einops", "torchvision"],
            "torchvision: the build's constraints pin it"
        );

        let refuse = |text: &str| {
            let mut d = detect(None, &files(&[("requirements.txt", text)])).unwrap();
            keep_torch(&mut d, &image()).unwrap_err()
        };
        let e = refuse("einops\ntorch==2.5.1\n");
        assert!(
            e.message.starts_with(
                "requirements.txt:2: `torch==2.5.1` conflicts with the image's torch 2.6.0"
            ),
            "{e}"
        );
        assert_eq!(e.hints[0], "to use torch 2.5.1, set `pytorch: \"2.5\"` in ptenv.yaml (ptenv has its image) and keep the line");
        assert!(
            e.hints[1].contains("drop the pin in requirements.txt"),
            "{e:?}"
        );
        let e = refuse("torch<2.6\n");
        assert!(e.hints[0].contains("pytorch: \"2.5\""), "{e:?}");
        let e = refuse("torch==2.3.0\n");
        assert_eq!(e.hints.len(), 1, "no image of 2.3 in the catalog: {e:?}");
        let e = refuse("torch\n--extra-index-url https://download.pytorch.org/whl/cpu\n");
        assert!(
            e.message.starts_with("requirements.txt:2:") && e.message.contains("CPU-only"),
            "{e}"
        );
        let e = refuse("--index-url https://download.pytorch.org/whl/cu118\ntorch\n");
        assert!(e.message.contains("CUDA 11.8"), "{e}");
        let e = refuse("torch @ https://download.pytorch.org/whl/cpu/torch-2.6.0%2Bcpu-cp311-cp311-linux_x86_64.whl\n");
        assert!(e.message.contains("from a URL"), "{e}");
        let e = refuse("torch==2.6.0+cpu\n");
        assert!(e.message.contains("conflicts"), "{e}");
        // The image's own CUDA index is harmless.
        let mut d = detect(
            None,
            &files(&[(
                "requirements.txt",
                "--extra-index-url https://download.pytorch.org/whl/cu124\ntorch==2.6.0\n",
            )]),
        )
        .unwrap();
        keep_torch(&mut d, &image()).unwrap();
        // A pinned image the catalog does not know: the build's constraints decide.
        let mut d = detect(None, &files(&[("requirements.txt", "torch==2.5.1\n")])).unwrap();
        let unknown = ImageTorch {
            version: None,
            ..image()
        };
        assert_eq!(keep_torch(&mut d, &unknown).unwrap().len(), 1);
    }

    #[test]
    fn changed_files_are_named() {
        let before = BTreeMap::from([
            ("requirements.txt".to_string(), "a".to_string()),
            ("apt.txt".into(), "b".into()),
        ]);
        let now = BTreeMap::from([
            ("requirements.txt".to_string(), "c".to_string()),
            ("pyproject.toml".into(), "d".into()),
        ]);
        assert_eq!(
            changed(&before, &now),
            ["pyproject.toml", "requirements.txt", "apt.txt"]
        );
        assert!(changed(&now, &now).is_empty());
    }
}
