//! The ssh client configuration that makes `ssh ptenv-<project>` and VS Code Remote-SSH work.
//!
//! ptenv never edits the user's host entries. It writes one file per project,
//! `<data dir>/ssh/<alias>.conf`, holding a `Host <alias>` entry (usable alone with
//! `ssh -F FILE <alias>`), and adds a single line `Include <data dir>/ssh/*.conf` at the top of
//! `~/.ssh/config`. At the top, because a later `Include` would land inside the user's last
//! `Host` block and apply only to it. Everything else in `~/.ssh/config` is kept byte for byte,
//! its line endings (LF or CRLF) included; the file is replaced atomically, keeping its owner and
//! mode, or created with mode 0600. `ptenv ssh --forget` removes the project's file, and the
//! Include line with the last one. Changes hold a lock in ptenv's folder, so `ssh` and
//! `ssh --forget` of two projects at once cannot undo each other.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

use std::path::{Path, PathBuf};

use crate::atomic::{self, Mode, Owner};
use crate::error::{Error, Result};
use crate::flock;

/// What ptenv puts in a project's `Host` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub alias: String,
    /// sshd's published port at the address to connect to ([`crate::address::connect_to`]).
    pub address: std::net::SocketAddr,
    pub user: String,
    pub identity_file: PathBuf,
    pub known_hosts: PathBuf,
    /// The project folder, named in a comment.
    pub project: PathBuf,
    /// How to reach `address` when it is on a server's loopback ([`proxy_command`]); `None`:
    /// straight to this machine's.
    pub proxy: Option<String>,
}

/// `ssh -W %h:%p` to the server: the container's sshd on the server's loopback, reached
/// through an ssh of its own that reads the user's `~/.ssh/config` for the server as any
/// `ssh SERVER` does (also when the project's entry is used with `-F`). Host key checking of
/// the server stays as the user has it; the container's key is pinned by the entry
/// (docs/remote.md §5).
pub fn proxy_command(server: &crate::target::SshHost) -> String {
    let mut words = vec!["ssh".to_owned(), "-o".into(), "BatchMode=yes".into()];
    if let Some(user) = &server.user {
        words.extend(["-l".to_owned(), user.clone()]);
    }
    if let Some(port) = server.port {
        words.extend(["-p".to_owned(), port.to_string()]);
    }
    words.extend([
        "-W".to_owned(),
        "%h:%p".into(),
        "--".into(),
        server.host.clone(),
    ]);
    words
        .iter()
        .map(|w| match w.as_str() {
            "%h:%p" => w.clone(),
            _ => crate::shell::quote(w).replace('%', "%%"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where ptenv's files are, and the user's `~/.ssh/config`.
#[derive(Debug, Clone)]
pub struct SshConfig {
    /// `~/.ssh/config`
    pub user_config: PathBuf,
    /// ptenv's folder of `<alias>.conf` files.
    pub dir: PathBuf,
}

/// What [`SshConfig::forget`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forgotten {
    pub host_file: Option<PathBuf>,
    pub include_removed: bool,
}

impl SshConfig {
    /// The user's: `$HOME/.ssh/config` and `<ptenv data dir>/ssh`.
    pub fn for_user() -> Result<SshConfig> {
        let home = directories::BaseDirs::new()
            .map(|d| d.home_dir().to_path_buf())
            .ok_or_else(|| Error::new("cannot find your home directory").hint("set HOME"))?;
        Ok(SshConfig {
            user_config: home.join(".ssh").join("config"),
            dir: crate::project::data_root()?.join("ssh"),
        })
    }

    /// The project's own config file.
    pub fn host_file(&self, alias: &str) -> PathBuf {
        self.dir.join(format!("{alias}.conf"))
    }

    /// `Include /home/ana/.local/share/ptenv/ssh/*.conf`
    pub fn include_line(&self) -> String {
        format!(
            "Include {}",
            quote(&self.dir.join("*.conf").to_string_lossy())
        )
    }

    /// Holds ptenv's lock on the ssh configuration while it reads and rewrites it: `forget`
    /// decides from the host files whether the Include line goes, and `ssh` writes a host
    /// file then makes sure the line is there; one at a time, neither undoes the other.
    fn lock(&self) -> Result<flock::Held> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| Error::new(format!("cannot create {}: {e}", self.dir.display())))?;
        flock::exclusive(&self.dir.join(".lock"))
    }

    /// Writes (or replaces) the project's `Host` entry in its own file, mode 0600.
    pub fn write_host(&self, entry: &HostEntry) -> Result<PathBuf> {
        let _held = self.lock()?;
        let path = self.host_file(&entry.alias);
        atomic::write(
            &path,
            render_host(entry).as_bytes(),
            Mode::Exactly(0o600),
            Owner::Process,
        )?;
        Ok(path)
    }

    /// Adds the Include line at the top of `~/.ssh/config` (creating `~/.ssh` 0700 and the file
    /// 0600 when absent). Returns false when the line was there already.
    pub fn add_include(&self) -> Result<bool> {
        let _held = self.lock()?;
        let line = self.include_line();
        let target = self.resolved_user_config()?;
        let current = read_optional(&target)?;
        let Some(updated) = with_include(current.as_deref().unwrap_or_default(), &line) else {
            return Ok(false);
        };
        match &current {
            Some(_) => self.check_writable(&target, &line)?,
            None => {
                if let Some(dir) = target.parent() {
                    fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(dir)
                        .map_err(|e| self.cannot_write(&target, &e.to_string(), &line))?;
                }
            }
        }
        // The user's file: their mode and owner stay, even when root rewrites it.
        atomic::write(&target, &updated, Mode::KeepOr(0o600), Owner::Inherit)
            .map_err(|e| self.cannot_write(&target, &e.message, &line))?;
        Ok(true)
    }

    /// Removes the project's file and, when no project is left, the Include line.
    pub fn forget(&self, alias: &str) -> Result<Forgotten> {
        let _held = self.lock()?;
        let file = self.host_file(alias);
        let host_file = match fs::remove_file(&file) {
            Ok(()) => Some(file),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => {
                return Err(Error::new(format!("cannot remove {}: {e}", file.display()))
                    .hint(format!("remove it yourself: rm {}", file.display())))
            }
        };
        let mut include_removed = false;
        if !self.has_hosts()? {
            let line = self.include_line();
            let target = self.resolved_user_config()?;
            if let Some(current) = read_optional(&target)? {
                if let Some(updated) = without_include(&current, &line) {
                    self.check_writable(&target, &line)?;
                    atomic::write(&target, &updated, Mode::KeepOr(0o600), Owner::Inherit)?;
                    include_removed = true;
                }
            }
        }
        Ok(Forgotten {
            host_file,
            include_removed,
        })
    }

    fn has_hosts(&self) -> Result<bool> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => {
                return Err(Error::new(format!(
                    "cannot read {}: {e}",
                    self.dir.display()
                )))
            }
        };
        Ok(entries
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().ends_with(".conf")))
    }

    /// `~/.ssh/config`, or the file it links to (dotfile managers keep it elsewhere): the link
    /// stays, the file it points to is updated.
    fn resolved_user_config(&self) -> Result<PathBuf> {
        match fs::symlink_metadata(&self.user_config) {
            Ok(m) if m.file_type().is_symlink() => {
                fs::canonicalize(&self.user_config).map_err(|e| {
                    Error::new(format!(
                        "{} is a link that cannot be followed: {e}",
                        self.user_config.display()
                    ))
                    .hint("fix or remove the link, then run the command again")
                })
            }
            _ => Ok(self.user_config.clone()),
        }
    }

    /// Refuses a file the user made read-only (root could write it anyway, but should not).
    fn check_writable(&self, target: &Path, line: &str) -> Result<()> {
        let meta = fs::metadata(target)
            .map_err(|e| Error::new(format!("cannot read {}: {e}", target.display())))?;
        if !meta.is_file() {
            return Err(Error::new(format!("{} is not a file", target.display()))
                .hint(format!("add this line at its top yourself: {line}")));
        }
        if meta.permissions().mode() & 0o200 == 0 {
            return Err(self.cannot_write(target, "it is read-only", line));
        }
        Ok(())
    }

    fn cannot_write(&self, target: &Path, why: &str, line: &str) -> Error {
        Error::new(format!(
            "cannot add ptenv's Include line to {}: {why}",
            target.display()
        ))
        .hint(format!(
            "add this line at the top of {} yourself, then run the command again: {line}",
            target.display()
        ))
        .hint(format!(
            "or connect without it: ssh -F {} <alias>",
            quote(&self.dir.join("<alias>.conf").to_string_lossy())
        ))
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::new(format!("cannot read {}: {e}", path.display()))
            .hint("check its permissions: it must be readable by you")),
    }
}

/// The `Host` entry of a project, e.g.:
///
/// ```text
/// Host ptenv-demo-1a2b3c4d
///     HostName 127.0.0.1
///     Port 2222
///     User dev
///     IdentityFile /home/ana/.local/share/ptenv/projects/demo-1a2b3c4d/ssh/client_ed25519
///     IdentitiesOnly yes
///     UserKnownHostsFile /home/ana/.local/share/ptenv/projects/demo-1a2b3c4d/ssh/known_hosts
///     StrictHostKeyChecking yes
///     PasswordAuthentication no
///     KbdInteractiveAuthentication no
///     ForwardAgent no
///     ForwardX11 no
///     ProxyJump none
/// ```
///
/// ssh keeps the first value it reads for an option and ptenv's Include is on top of
/// `~/.ssh/config`, so these lines win over a `Host *` block of the user's: the container
/// never gets the user's agent or X display, and the connection goes straight to this
/// machine's loopback, never through a jump host.
pub fn render_host(e: &HostEntry) -> String {
    let project: String = e
        .project
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    let path = |p: &Path| quote(&p.to_string_lossy().replace('%', "%%"));
    format!(
        "# Written by ptenv for {project}; `ptenv ssh --forget` removes it.\n\
         Host {alias}\n\
         \x20   HostName {host}\n\
         \x20   Port {port}\n\
         \x20   User {user}\n\
         \x20   IdentityFile {identity}\n\
         \x20   IdentitiesOnly yes\n\
         \x20   UserKnownHostsFile {known_hosts}\n\
         \x20   StrictHostKeyChecking yes\n\
         \x20   PasswordAuthentication no\n\
         \x20   KbdInteractiveAuthentication no\n\
         \x20   ForwardAgent no\n\
         \x20   ForwardX11 no\n\
         \x20   {proxy}\n",
        alias = e.alias,
        host = e.address.ip(),
        port = e.address.port(),
        user = e.user,
        identity = path(&e.identity_file),
        known_hosts = path(&e.known_hosts),
        proxy = match &e.proxy {
            Some(command) => format!("ProxyCommand {command}"),
            None => "ProxyJump none".to_owned(),
        },
    )
}

/// A value for ssh_config: in double quotes when it holds spaces.
fn quote(value: &str) -> String {
    if value.chars().any(char::is_whitespace) {
        format!("\"{value}\"")
    } else {
        value.to_string()
    }
}

/// Splits into lines, each with its ending (`\n`, `\r\n`, or none for the last).
fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split_inclusive(|b| *b == b'\n')
}

fn is_line(line: &[u8], wanted: &str) -> bool {
    line.trim_ascii() == wanted.as_bytes()
}

/// The text with `line` added at the top, in the file's own line ending; `None` when the line
/// is in the file already (anywhere: the user may have moved it on purpose).
pub fn with_include(text: &[u8], line: &str) -> Option<Vec<u8>> {
    if lines(text).any(|l| is_line(l, line)) {
        return None;
    }
    let crlf = lines(text).next().is_some_and(|l| l.ends_with(b"\r\n"));
    let mut out = Vec::with_capacity(text.len() + line.len() + 2);
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    out.extend_from_slice(text);
    Some(out)
}

/// The text without `line` (every copy of it); `None` when it is not there.
pub fn without_include(text: &[u8], line: &str) -> Option<Vec<u8>> {
    if !lines(text).any(|l| is_line(l, line)) {
        return None;
    }
    Some(
        lines(text)
            .filter(|l| !is_line(l, line))
            .flatten()
            .copied()
            .collect(),
    )
}

#[cfg(test)]
mod tests;
