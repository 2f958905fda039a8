//! How ptenv writes a file: whole or not at all, never through a name someone else chose, and
//! owned by the right person.
//!
//! The bytes go to a new file with a random name in the target's folder, created exclusively
//! (`O_CREAT|O_EXCL|O_NOFOLLOW`, so a link or file planted there is never followed or reused)
//! with its final mode, flushed to disk, then renamed over the target; the folder is flushed
//! too. A reader sees the old file or the new one, never half of one.
//!
//! Ownership matters when ptenv runs as root: a file it replaces keeps its owner (the user's
//! `~/.ssh/config` stays theirs), and a new file in a folder that belongs to someone else (a
//! user's project, written by `sudo ptenv`) goes to the folder's owner, as do folders ptenv
//! creates there. Otherwise root-owned files would land in the user's project, which they could
//! then not edit or delete.

use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;
use rustix::io::Errno;

use crate::error::{Error, Result};

/// The mode of the written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Exactly this, whatever the replaced file had (a secret is 0600, always).
    Exactly(u32),
    /// The replaced file's permission bits, or this for a new file.
    KeepOr(u32),
}

/// Who owns the written file. Only root can give a file away, so for anyone else the file is
/// simply theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The replaced file's owner; for a new file, the folder's owner when that is not root.
    Inherit,
    /// The process's own user: ptenv's secrets, which it reads only from files it owns.
    Process,
    /// This `uid:gid` (a file the container reads as its user).
    Ids(u32, u32),
}

/// Writes `bytes` to `path` atomically, with the mode and owner chosen by `mode` and `owner`.
pub fn write(path: &Path, bytes: &[u8], mode: Mode, owner: Owner) -> Result<()> {
    let dir = folder_of(path);
    let existing = fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.file_type().is_file());
    let folder = fs::metadata(dir).ok().map(|m| (m.uid(), m.gid()));
    let final_mode = match (mode, &existing) {
        (Mode::Exactly(m), _) => m,
        // Never carry set-id bits over to new content.
        (Mode::KeepOr(_), Some(meta)) => meta.mode() & 0o777,
        (Mode::KeepOr(m), None) => m,
    };
    let ids = owner_for(
        is_root(),
        owner,
        existing.as_ref().map(|m| (m.uid(), m.gid())),
        folder,
    );
    let (tmp, mut file) = create_temporary(path, final_mode).map_err(|e| cannot_write(path, &e))?;
    let result = (|| -> std::io::Result<()> {
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
        }
        // The umask may have taken bits from the mode, and chown clears set-id bits: set it
        // exactly, after the owner.
        file.set_permissions(fs::Permissions::from_mode(final_mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        cannot_write(path, &e)
    })
}

/// Creates `dir` and its missing parents with `mode`; as root, each new folder goes to the
/// owner of the folder it is made in (see the module's documentation).
pub fn create_dir_all(dir: &Path, mode: u32) -> Result<()> {
    let cannot = |d: &Path, e: std::io::Error| {
        Error::new(format!("cannot create {}: {e}", d.display()))
            .hint("check that its parent folder is writable by you")
    };
    let mut missing: Vec<PathBuf> = Vec::new();
    let mut cursor = Some(dir);
    let mut parent_ids = None;
    while let Some(d) = cursor {
        match fs::metadata(d) {
            Ok(m) => {
                parent_ids = Some((m.uid(), m.gid()));
                break;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => missing.push(d.to_path_buf()),
            Err(e) => return Err(cannot(d, e)),
        }
        cursor = d.parent().filter(|p| !p.as_os_str().is_empty());
    }
    let root = is_root();
    for d in missing.iter().rev() {
        match fs::DirBuilder::new().mode(mode).create(d) {
            Ok(()) => {}
            // Made meanwhile by someone else: theirs to keep as it is.
            Err(e) if e.kind() == ErrorKind::AlreadyExists && d.is_dir() => continue,
            Err(e) => return Err(cannot(d, e)),
        }
        if let Some((uid, gid)) = owner_for(root, Owner::Inherit, None, parent_ids) {
            std::os::unix::fs::chown(d, Some(uid), Some(gid)).map_err(|e| cannot(d, e))?;
        }
        fs::set_permissions(d, fs::Permissions::from_mode(mode)).map_err(|e| cannot(d, e))?;
    }
    Ok(())
}

/// The `uid:gid` to give the written file, or `None` to leave it as created (the process's).
/// Pure rule behind [`write`]: `existing` is the replaced file's owner, `folder` its folder's.
pub fn owner_for(
    root: bool,
    owner: Owner,
    existing: Option<(u32, u32)>,
    folder: Option<(u32, u32)>,
) -> Option<(u32, u32)> {
    if !root {
        return None;
    }
    match owner {
        Owner::Process => None,
        Owner::Ids(uid, gid) => Some((uid, gid)),
        Owner::Inherit => existing.or(folder.filter(|(uid, _)| *uid != 0)),
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A new, empty file beside `path` under a random name, created exclusively.
fn create_temporary(path: &Path, mode: u32) -> std::io::Result<(PathBuf, fs::File)> {
    let name: String = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .take(64)
        .collect();
    let mut attempts = 0;
    loop {
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).map_err(|e| std::io::Error::other(e.to_string()))?;
        let tmp = folder_of(path).join(format!(".{name}.ptenv-{}", crate::project::hex(&suffix)));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags((OFlags::NOFOLLOW | OFlags::CLOEXEC).bits() as i32)
            .open(&tmp)
        {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists && attempts < 3 => attempts += 1,
            Err(e) => return Err(e),
        }
    }
}

fn cannot_write(path: &Path, e: &std::io::Error) -> Error {
    let mut err = Error::new(format!("cannot write {}: {e}", path.display()));
    if e.kind() == ErrorKind::PermissionDenied
        || e.raw_os_error() == Some(Errno::ROFS.raw_os_error())
    {
        err = err.hint(format!(
            "{} must be writable by you; check its permissions",
            folder_of(path).display()
        ));
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn only_root_gives_files_away_and_replaced_files_keep_their_owner() {
        // Not root: always the process's.
        assert_eq!(owner_for(false, Owner::Ids(5, 5), Some((7, 7)), None), None);
        assert_eq!(owner_for(false, Owner::Inherit, Some((7, 7)), None), None);
        // Root: the replaced file's owner first, then a non-root folder's.
        assert_eq!(
            owner_for(true, Owner::Inherit, Some((7, 8)), Some((9, 9))),
            Some((7, 8))
        );
        assert_eq!(
            owner_for(true, Owner::Inherit, None, Some((1234, 100))),
            Some((1234, 100))
        );
        assert_eq!(owner_for(true, Owner::Inherit, None, Some((0, 0))), None);
        assert_eq!(owner_for(true, Owner::Inherit, None, None), None);
        // Explicit wishes win.
        assert_eq!(
            owner_for(true, Owner::Ids(5, 6), Some((7, 7)), Some((9, 9))),
            Some((5, 6))
        );
        assert_eq!(
            owner_for(true, Owner::Process, Some((7, 7)), Some((9, 9))),
            None
        );
    }

    #[test]
    fn a_new_file_gets_its_mode_and_no_temporary_file_stays() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a.yaml");
        write(&path, b"one\n", Mode::KeepOr(0o644), Owner::Inherit).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one\n");
        assert_eq!(mode(&path), 0o644);
        let secret = tmp.path().join("token");
        write(&secret, b"s", Mode::Exactly(0o600), Owner::Process).unwrap();
        assert_eq!(mode(&secret), 0o600);
        assert_eq!(names(tmp.path()), vec!["a.yaml", "token"]);
    }

    #[test]
    fn a_replaced_file_keeps_its_mode_unless_one_is_demanded() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o4640)).unwrap();
        write(&path, b"new", Mode::KeepOr(0o600), Owner::Inherit).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(mode(&path), 0o640, "kept, without the set-id bit");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write(&path, b"secret", Mode::Exactly(0o600), Owner::Process).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_link_at_the_target_is_replaced_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let path = tmp.path().join("ptenv.lock");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write(&path, b"lock", Mode::KeepOr(0o644), Owner::Inherit).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert!(fs::symlink_metadata(&path).unwrap().is_file());
        assert_eq!(fs::read(&path).unwrap(), b"lock");
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        // A folder at the target: the rename fails, the temporary file is removed.
        let path = tmp.path().join("taken");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), "x").unwrap();
        let err = write(&path, b"x", Mode::KeepOr(0o644), Owner::Inherit).unwrap_err();
        assert!(err.message.contains("cannot write"), "{err}");
        assert_eq!(names(tmp.path()), vec!["taken"]);
    }

    /// As root (the test machine runs the suite as root): ownership as the module promises.
    #[test]
    fn as_root_a_replaced_file_keeps_its_owner_and_new_ones_take_the_folder_s() {
        if !is_root() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let owned = |p: &Path| {
            let m = fs::metadata(p).unwrap();
            (m.uid(), m.gid())
        };
        // ~/.ssh/config of another user, rewritten by root: still theirs, mode kept.
        let config = tmp.path().join("config");
        fs::write(&config, "Host x\n").unwrap();
        fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&config, Some(1234), Some(1300)).unwrap();
        write(
            &config,
            b"Include y\nHost x\n",
            Mode::KeepOr(0o644),
            Owner::Inherit,
        )
        .unwrap();
        assert_eq!(owned(&config), (1234, 1300));
        assert_eq!(mode(&config), 0o600);

        // A project folder of user 1234: new files and folders in it are theirs.
        let project = tmp.path().join("project");
        fs::create_dir(&project).unwrap();
        std::os::unix::fs::chown(&project, Some(1234), Some(1300)).unwrap();
        let lock = project.join("ptenv.lock");
        write(&lock, b"l", Mode::KeepOr(0o644), Owner::Inherit).unwrap();
        assert_eq!(owned(&lock), (1234, 1300));
        let nested = project.join("ptenv-shell/secrets");
        create_dir_all(&nested, 0o700).unwrap();
        assert_eq!(owned(&project.join("ptenv-shell")), (1234, 1300));
        assert_eq!(owned(&nested), (1234, 1300));
        assert_eq!(mode(&nested), 0o700);
        let token = nested.join("token");
        write(&token, b"t", Mode::Exactly(0o600), Owner::Ids(1000, 1000)).unwrap();
        assert_eq!(owned(&token), (1000, 1000));
        // ptenv's own secrets stay root's, even in someone else's folder.
        let own = project.join("own");
        write(&own, b"s", Mode::Exactly(0o600), Owner::Process).unwrap();
        assert_eq!(owned(&own).0, 0);

        // A root-owned folder: root's files stay root's.
        let mine = tmp.path().join("mine");
        write(&mine, b"m", Mode::KeepOr(0o644), Owner::Inherit).unwrap();
        assert_eq!(owned(&mine).0, 0);
    }
}
