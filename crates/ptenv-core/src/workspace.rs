//! The project's files on an engine that cannot see the laptop's folder: a named volume per
//! project, filled through the Engine API. This module decides what one upload sends and
//! deletes, from the files on the laptop now and the manifest of the last upload (path →
//! size, mtime, hash), and refuses an upload larger than the limit before anything is sent.
//! The binary walks the folder, streams the archive and keeps the manifest (`src/workspace.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::project::Project;

/// The default largest upload: a project tree bigger than this is usually data or a virtual
/// environment that `.gitignore` or `.ptenvignore` should leave out.
pub const DEFAULT_UPLOAD_LIMIT: u64 = 1 << 30;

/// The file ptenv lists the project's own ignore patterns in, beside `.gitignore`'s.
pub const IGNORE_FILE: &str = ".ptenvignore";

/// Put at the volume's root first and removed last: while it is there, the volume holds a
/// partial upload (an interrupted `up`), and the next `up` sends every file again.
pub const INCOMPLETE_MARKER: &str = ".ptenv-upload-incomplete";

/// The NUL-separated list of paths the upload deletes, sent in the archive and removed once
/// those paths are gone.
pub const DELETE_LIST: &str = ".ptenv-upload-delete";

/// Label on the volume: a random identity given when ptenv made it, recorded in the manifest,
/// so that a volume removed and made again under the same name is known to be empty.
pub const LABEL_WORKSPACE: &str = "dev.ptenv.workspace";

/// The named volume that holds the project on a remote engine: one per project folder, shared
/// by its profiles, as the folder is shared by their containers on this machine.
pub fn volume_name(project: &Project) -> String {
    format!("ptenv-{}-workspace", project.id)
}

/// `workspace:` in a profile: how the project gets to an engine on another machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The largest upload, in bytes (written `2g`, `500m` or a number of bytes).
    #[serde(
        default,
        deserialize_with = "upload_limit",
        skip_serializing_if = "Option::is_none"
    )]
    pub upload_limit: Option<u64>,
    /// A folder that already exists on the server, mounted at /workspace instead of the
    /// uploaded volume.
    #[serde(
        default,
        deserialize_with = "host_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub host_path: Option<String>,
}

impl Settings {
    /// `over` on top of `self`: each field is replaced when given.
    pub fn merge(&mut self, over: &Settings) {
        if over.upload_limit.is_some() {
            self.upload_limit = over.upload_limit;
        }
        if over.host_path.is_some() {
            self.host_path.clone_from(&over.host_path);
        }
    }

    pub fn limit(&self) -> u64 {
        self.upload_limit.unwrap_or(DEFAULT_UPLOAD_LIMIT)
    }
}

fn upload_limit<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u64>, D::Error> {
    use serde::de::Error as _;
    let v = serde_yaml::Value::deserialize(d)?;
    let text = match &v {
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::String(s) => s.clone(),
        _ => {
            return Err(D::Error::custom(
                "`workspace.upload_limit` is a size like `2g` or `500m`",
            ))
        }
    };
    crate::size::parse_size(&text)
        .map(Some)
        .map_err(|e| D::Error::custom(format!("`workspace.upload_limit`: {e}")))
}

fn host_path<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    use serde::de::Error as _;
    let path = String::deserialize(d)?;
    if !path.starts_with('/') || path.contains(['\n', '\0']) {
        return Err(D::Error::custom(format!(
            "`workspace.host_path: {path}` is not an absolute path on the server (e.g. /srv/me/project)"
        )));
    }
    Ok(Some(path))
}

/// A file as the last upload sent it, or as the laptop has it now (`hash` empty until read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    pub size: u64,
    /// Seconds since the epoch: a tar header's precision.
    pub mtime: i64,
    /// Hex SHA-256 of the contents; empty when not read.
    #[serde(default)]
    pub hash: String,
}

impl FileState {
    /// Whether the file looks changed from `before` (size or mtime; the hash is compared only
    /// when both have one).
    pub fn differs(&self, before: &FileState) -> bool {
        if self.size != before.size {
            return true;
        }
        if !self.hash.is_empty() && !before.hash.is_empty() {
            return self.hash != before.hash;
        }
        self.mtime != before.mtime
    }
}

/// What ptenv knows of the volume's contents: the files the last upload left there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The volume's identity (its [`LABEL_WORKSPACE`]): a volume removed and made again under
    /// the same name is empty, whatever this manifest says.
    pub volume: String,
    /// False from the moment an upload begins until it has finished.
    pub complete: bool,
    pub files: BTreeMap<String, FileState>,
}

/// What one upload does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Paths to send, in order.
    pub upload: Vec<String>,
    /// Paths the laptop no longer has.
    pub delete: Vec<String>,
    /// Bytes of the files sent.
    pub bytes: u64,
    /// Whether every file is sent (a new, replaced or half-written volume).
    pub full: bool,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.upload.is_empty() && self.delete.is_empty()
    }
}

/// The upload that makes the volume (`volume`, its identity) hold `now`, given the manifest of
/// the last one. Files the laptop deleted are deleted on the volume only when the manifest is
/// the volume's: ptenv never deletes what it did not put there.
pub fn changes(
    last: Option<&Manifest>,
    now: &BTreeMap<String, FileState>,
    volume: &str,
) -> Changes {
    let same_volume = last.filter(|m| m.volume == volume);
    let trusted = same_volume.filter(|m| m.complete);
    let mut out = Changes {
        full: trusted.is_none(),
        ..Changes::default()
    };
    for (path, state) in now {
        let unchanged = trusted
            .and_then(|m| m.files.get(path))
            .is_some_and(|before| !state.differs(before));
        if !unchanged {
            out.upload.push(path.clone());
            out.bytes += state.size;
        }
    }
    if let Some(m) = same_volume {
        out.delete = m
            .files
            .keys()
            .filter(|p| !now.contains_key(*p))
            .cloned()
            .collect();
    }
    out
}

/// Refuses an upload over `limit` bytes, before anything is sent.
pub fn check_limit(changes: &Changes, limit: u64, biggest: &[(String, u64)]) -> Result<()> {
    if changes.bytes <= limit {
        return Ok(());
    }
    let list = biggest
        .iter()
        .take(5)
        .map(|(p, s)| format!("{p} ({})", crate::size::human(*s)))
        .collect::<Vec<_>>()
        .join(", ");
    Err(Error::new(format!(
        "the project's files to upload come to {}, more than the workspace limit of {}; nothing was uploaded (the largest: {list})",
        crate::size::human(changes.bytes),
        crate::size::human(limit)
    ))
    .hint(format!(
        "leave data, checkpoints and virtual environments out with `.gitignore` or a `{IGNORE_FILE}` (same syntax), or raise the limit in the profile: `workspace: {{upload_limit: 4g}}`"
    )))
}

/// What `sync --down` does with one file the container changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Down {
    /// New in the container, or changed there while the laptop's copy is as uploaded.
    Fetch(String),
    /// Changed on both sides since the last upload: only `--force` overwrites the laptop's.
    Conflict(String),
}

/// The files `sync --down` brings back: those the container has that differ from what the last
/// upload sent (by size and mtime), each a conflict when the laptop's copy changed too (or is
/// there and not what was uploaded). Files the container deleted are not deleted here.
pub fn down(
    manifest: &Manifest,
    container: &BTreeMap<String, FileState>,
    laptop: &BTreeMap<String, FileState>,
) -> Vec<Down> {
    let mut out = Vec::new();
    for (path, there) in container {
        let sent = manifest.files.get(path);
        let changed_there = sent.is_none_or(|s| there.size != s.size || there.mtime != s.mtime);
        if !changed_there {
            continue;
        }
        let here = laptop.get(path);
        let changed_here = match (here, sent) {
            (None, _) => false,
            (Some(h), Some(s)) => h.differs(s),
            // A laptop file the upload never sent (ignored, or made since): the same bytes
            // are no conflict, anything else is.
            (Some(h), None) => h.size != there.size || h.mtime != there.mtime,
        };
        out.push(match changed_here {
            true => Down::Conflict(path.clone()),
            false => Down::Fetch(path.clone()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(size: u64, mtime: i64) -> FileState {
        FileState {
            size,
            mtime,
            hash: String::new(),
        }
    }

    fn files(list: &[(&str, u64, i64)]) -> BTreeMap<String, FileState> {
        list.iter()
            .map(|(p, s, m)| (p.to_string(), st(*s, *m)))
            .collect()
    }

    #[test]
    fn a_first_upload_sends_everything_and_deletes_nothing() {
        let now = files(&[("a.py", 3, 10), ("data/x", 5, 11)]);
        let c = changes(None, &now, "v1");
        assert_eq!(c.upload, ["a.py", "data/x"]);
        assert!(c.delete.is_empty() && c.full);
        assert_eq!(c.bytes, 8);
    }

    #[test]
    fn a_re_upload_sends_changed_files_and_deletes_removed_ones() {
        let last = Manifest {
            volume: "v1".into(),
            complete: true,
            files: files(&[("a.py", 3, 10), ("b.py", 4, 10), ("gone.py", 1, 10)]),
        };
        let now = files(&[("a.py", 3, 10), ("b.py", 4, 12), ("new.py", 2, 12)]);
        let c = changes(Some(&last), &now, "v1");
        assert_eq!(c.upload, ["b.py", "new.py"]);
        assert_eq!(c.delete, ["gone.py"]);
        assert_eq!((c.bytes, c.full), (6, false));
        assert!(changes(Some(&last), &last.files, "v1").is_empty());
    }

    #[test]
    fn an_interrupted_upload_or_a_new_volume_sends_everything_again() {
        let mut last = Manifest {
            volume: "v1".into(),
            complete: false,
            files: files(&[("a.py", 3, 10), ("gone.py", 1, 10)]),
        };
        let now = files(&[("a.py", 3, 10)]);
        let c = changes(Some(&last), &now, "v1");
        assert_eq!(c.upload, ["a.py"]);
        assert_eq!(c.delete, ["gone.py"], "what ptenv put on this volume");
        assert!(c.full);
        last.complete = true;
        let other = changes(Some(&last), &now, "v2");
        assert_eq!(other.upload, ["a.py"]);
        assert!(other.delete.is_empty(), "another volume: nothing of ours");
    }

    #[test]
    fn a_hash_decides_when_both_sides_have_one() {
        let mut a = st(3, 10);
        let mut b = st(3, 99);
        assert!(a.differs(&b));
        a.hash = "h".into();
        b.hash = "h".into();
        assert!(!a.differs(&b), "touched, same bytes");
        b.hash = "g".into();
        assert!(a.differs(&b));
    }

    #[test]
    fn the_limit_is_checked_before_anything_is_sent() {
        let c = Changes {
            bytes: 3 << 30,
            ..Changes::default()
        };
        let e = check_limit(
            &c,
            DEFAULT_UPLOAD_LIMIT,
            &[("data/big.bin".into(), 3 << 30)],
        )
        .unwrap_err();
        assert!(e.message.contains("nothing was uploaded"), "{e}");
        assert!(e.message.contains("data/big.bin"), "{e}");
        assert!(e.hints[0].contains(".ptenvignore"), "{e}");
        assert!(check_limit(&Changes::default(), 1, &[]).is_ok());
    }

    #[test]
    fn sync_down_fetches_container_changes_and_flags_conflicts() {
        let manifest = Manifest {
            volume: "v".into(),
            complete: true,
            files: files(&[("same.py", 1, 1), ("theirs.py", 1, 1), ("both.py", 1, 1)]),
        };
        let container = files(&[
            ("same.py", 1, 1),
            ("theirs.py", 2, 5),
            ("both.py", 2, 5),
            ("out/model.pt", 9, 5),
        ]);
        let laptop = files(&[("same.py", 1, 1), ("theirs.py", 1, 1), ("both.py", 3, 6)]);
        let d = down(&manifest, &container, &laptop);
        assert_eq!(
            d,
            [
                Down::Conflict("both.py".into()),
                Down::Fetch("out/model.pt".into()),
                Down::Fetch("theirs.py".into()),
            ]
        );
    }

    #[test]
    fn workspace_settings_are_checked_and_merge_by_field() {
        let s: Settings = serde_yaml::from_str("upload_limit: 2g\nhost_path: /srv/me/p\n").unwrap();
        assert_eq!(s.upload_limit, Some(2 << 30));
        assert_eq!(s.limit(), 2 << 30);
        assert_eq!(Settings::default().limit(), DEFAULT_UPLOAD_LIMIT);
        let bytes: Settings = serde_yaml::from_str("upload_limit: 1000\n").unwrap();
        assert_eq!(bytes.upload_limit, Some(1000));
        let e = serde_yaml::from_str::<Settings>("host_path: srv/me\n").unwrap_err();
        assert!(
            e.to_string().contains("not an absolute path on the server"),
            "{e}"
        );
        assert!(serde_yaml::from_str::<Settings>("upload_limit: lots\n").is_err());
        assert!(serde_yaml::from_str::<Settings>("other: 1\n").is_err());
        let mut base = s.clone();
        base.merge(&bytes);
        assert_eq!(base.upload_limit, Some(1000));
        assert_eq!(base.host_path.as_deref(), Some("/srv/me/p"));
    }

    #[test]
    fn the_volume_is_named_for_the_project() {
        let p = Project::new(std::path::Path::new("/home/ana/My Proj"));
        assert!(
            volume_name(&p).starts_with("ptenv-my-proj-"),
            "{}",
            volume_name(&p)
        );
        assert!(volume_name(&p).ends_with("-workspace"));
    }
}
