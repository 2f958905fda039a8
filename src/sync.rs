//! `ptenv sync --down`: the files the container made or changed in the project's workspace
//! volume on a server, brought back to the project folder here. A helper container lists the
//! volume (size and mtime of each file); the core compares that with the manifest of the last
//! upload and with the folder here (`workspace::down`); a file changed on both sides is a
//! conflict that only `--force` overwrites, and nothing is written while one is left. Paths the
//! folder's top `.gitignore` or `.ptenvignore` leave out stay on the server (checkpoints, data).
//! Each file is written beside its place and renamed, with the container's mtime, and recorded
//! in the manifest, so the next `up` does not send it back.

use std::collections::BTreeMap;
use std::path::{Component, Path};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::context::Ctx;
use crate::engine::{block_on, Engine};
use crate::error::{Error, Result};
use crate::project::Project;
use crate::workspace::{self as ws, Down, FileState, Manifest, INCOMPLETE_MARKER};

/// What the user asked for.
pub struct Request {
    pub profile: Option<String>,
    pub force: bool,
    pub dry_run: bool,
}

/// What `sync --down` did (or, with `--dry-run`, would do), for `--json`.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// New here.
    pub created: Vec<String>,
    /// Changed in the container, unchanged here since the upload.
    pub updated: Vec<String>,
    /// Changed on both sides; overwritten with `--force`.
    pub overwritten: Vec<String>,
    pub dry_run: bool,
}

pub fn down(ctx: &Ctx, req: &Request) -> Result<Report> {
    if !ctx.machine.is_remote() {
        return Err(Error::new(format!(
            "on {} the project folder itself is the containers' /workspace: their files are already here",
            ctx.machine.describe()
        ))
        .hint("`ptenv sync --down` is for an environment on a server (--host ssh://…)"));
    }
    let project = Project::new(&ctx.project);
    block_on(async {
        let engine = Engine::connect().await?;
        let c = crate::containers::pick(&engine, &project, req.profile.as_deref(), false).await?;
        let volume = ws::volume_name(&project);
        let Some(labels) = engine.volume_labels(&volume).await? else {
            return Err(Error::new(format!(
                "there is no workspace volume {volume} on {}",
                engine.endpoint
            ))
            .hint("`ptenv up` makes it; with `workspace.host_path` the project's files are that folder of the server, and there is nothing to bring back"));
        };
        let identity = labels.get(ws::LABEL_WORKSPACE).cloned().unwrap_or_default();
        let manifest_path = ws::manifest_path(&engine.endpoint, &volume)?;
        let manifest = ws::read_manifest(&manifest_path).filter(|m| m.volume == identity);
        let helper = Helper::create(&engine, &volume, &c.image).await?;
        let result = sync(ctx, req, &engine, &helper.id, manifest, &manifest_path).await;
        let _ = engine.remove(&helper.id).await;
        result
    })
}

/// A stopped container that mounts the volume read-only: it lists it, and the files are read
/// from it.
struct Helper {
    id: String,
}

impl Helper {
    async fn create(engine: &Engine, volume: &str, image: &str) -> Result<Helper> {
        let name = format!("{volume}-sync");
        engine.remove(&name).await?;
        // `stat -c` is in GNU coreutils and busybox alike; one file a line.
        let body = serde_json::json!({
            "Image": image,
            "Cmd": ["sh", "-c", "cd /workspace && find . -type f -exec stat -c '%s %Y %n' {} +"],
            "Entrypoint": [],
            "User": "0:0",
            "NetworkDisabled": true,
            "HostConfig": {
                "Mounts": [{ "Type": "volume", "Source": volume, "Target": "/workspace", "ReadOnly": true }],
                "NetworkMode": "none"
            }
        });
        let id = engine.create(&name, &body).await.map_err(|e| match e {
            crate::engine::container::CreateError::Other(e) => e,
            _ => Error::new(format!("the helper name {name} is taken"))
                .hint("another `ptenv sync` of this project runs; wait for it"),
        })?;
        let helper = Helper { id };
        engine.start(&helper.id).await.map_err(|e| {
            Error::new(format!(
                "cannot list the workspace volume: {}",
                e.into_message()
            ))
        })?;
        Ok(helper)
    }
}

async fn sync(
    ctx: &Ctx,
    req: &Request,
    engine: &Engine,
    helper: &str,
    manifest: Option<Manifest>,
    manifest_path: &Path,
) -> Result<Report> {
    let p = &ctx.printer;
    let (code, _) = engine.wait_output(helper, Duration::from_secs(600)).await?;
    let listing = engine.stdout_of(helper).await?;
    if code != Some(0) {
        return Err(Error::new(format!(
            "cannot list the workspace volume (exit {code:?}): {}",
            listing.trim()
        )));
    }
    let there = parse_listing(&listing);
    if there.contains_key(INCOMPLETE_MARKER) {
        return Err(Error::new(
            "the last upload to the workspace volume was interrupted, so its files are not what the container left",
        )
        .hint("run `ptenv up` first (it completes the upload), then `ptenv sync --down`"));
    }
    let ignore = top_ignores(&ctx.project);
    let there: BTreeMap<String, FileState> = there
        .into_iter()
        .filter(|(path, _)| !ignore.matched_path_or_any_parents(path, false).is_ignore())
        .collect();
    let here: BTreeMap<String, FileState> = there
        .keys()
        .filter_map(|path| local_state(&ctx.project, path).map(|s| (path.clone(), s)))
        .collect();
    let mut manifest_now = manifest.clone();
    let empty = Manifest::default();
    let decisions = ws::down(manifest.as_ref().unwrap_or(&empty), &there, &here);
    let conflicts: Vec<&String> = decisions
        .iter()
        .filter_map(|d| match d {
            Down::Conflict(path) => Some(path),
            Down::Fetch(_) => None,
        })
        .collect();
    if !conflicts.is_empty() && !req.force && !req.dry_run {
        let list: Vec<&str> = conflicts.iter().map(|c| c.as_str()).collect();
        return Err(Error::new(format!(
            "changed both here and in the container since the last upload: {}; nothing was written",
            list.join(", ")
        ))
        .hint("compare them (`ptenv exec -- cat FILE`), then `ptenv sync --down --force` to take the container's, or `ptenv up` to send yours"));
    }
    let mut report = Report {
        dry_run: req.dry_run,
        ..Report::default()
    };
    for d in &decisions {
        let (path, conflict) = match d {
            Down::Fetch(path) => (path, false),
            Down::Conflict(path) => (path, true),
        };
        let exists = here.contains_key(path);
        let (list, said) = match (conflict, exists) {
            (true, _) => (&mut report.overwritten, "Overwrote (changed here too)"),
            (false, true) => (&mut report.updated, "Updated"),
            (false, false) => (&mut report.created, "New"),
        };
        list.push(path.clone());
        if req.dry_run {
            p.info(format!("would write {path} ({})", said.to_lowercase()));
            continue;
        }
        let state = &there[path];
        let bytes = fetch(engine, helper, path).await?;
        write_here(&ctx.project, path, &bytes, state.mtime)?;
        p.info(format!("{said}: {path}"));
        if let Some(m) = manifest_now.as_mut() {
            m.files.insert(
                path.clone(),
                FileState {
                    size: bytes.len() as u64,
                    mtime: state.mtime,
                    hash: crate::project::hex(&Sha256::digest(&bytes)),
                },
            );
        }
    }
    if let (Some(m), false) = (manifest_now, req.dry_run) {
        ws::write_manifest(manifest_path, &m)?;
    }
    if decisions.is_empty() {
        p.info("Nothing to bring back: the container changed no file of the project");
    }
    Ok(report)
}

/// `SIZE MTIME ./path` lines → path → state.
fn parse_listing(text: &str) -> BTreeMap<String, FileState> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ' ');
            let size = parts.next()?.parse().ok()?;
            let mtime = parts.next()?.parse().ok()?;
            let path = parts.next()?.strip_prefix("./")?;
            Some((
                path.to_owned(),
                FileState {
                    size,
                    mtime,
                    hash: String::new(),
                },
            ))
        })
        .collect()
}

/// The project's top `.gitignore` and `.ptenvignore`.
fn top_ignores(root: &Path) -> ignore::gitignore::Gitignore {
    let mut b = ignore::gitignore::GitignoreBuilder::new(root);
    for name in [".gitignore", ws::IGNORE_FILE] {
        let _ = b.add(root.join(name));
    }
    b.add_line(None, ".git/").ok();
    b.build()
        .unwrap_or_else(|_| ignore::gitignore::Gitignore::empty())
}

/// The file here as the comparison needs it; a folder or a link in its place counts as a
/// change here (a conflict).
fn local_state(root: &Path, rel: &str) -> Option<FileState> {
    let meta = std::fs::symlink_metadata(root.join(rel)).ok()?;
    use std::os::unix::fs::MetadataExt;
    Some(FileState {
        size: if meta.is_file() { meta.len() } else { u64::MAX },
        mtime: meta.mtime(),
        hash: String::new(),
    })
}

/// The file's bytes, out of the one-entry archive the engine answers with.
async fn fetch(engine: &Engine, helper: &str, path: &str) -> Result<Vec<u8>> {
    let tar = engine
        .download(helper, &format!("/workspace/{path}"))
        .await?;
    let mut archive = tar::Archive::new(&tar[..]);
    let broken = |e: std::io::Error| Error::new(format!("cannot read {path} from the server: {e}"));
    let mut entries = archive.entries().map_err(broken)?;
    let mut entry = entries
        .next()
        .ok_or_else(|| Error::new(format!("{path} is gone from the workspace volume")))?
        .map_err(broken)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut entry, &mut bytes).map_err(broken)?;
    Ok(bytes)
}

/// Writes `rel` under `root` atomically with `mtime`; refuses a path that would leave the
/// project (a `..`, or a folder here that is a link elsewhere).
fn write_here(root: &Path, rel: &str, bytes: &[u8], mtime: i64) -> Result<()> {
    let relative = Path::new(rel);
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(Error::new(format!(
            "refusing the odd path {rel} from the server"
        )));
    }
    let path = root.join(relative);
    let dir = path.parent().unwrap_or(root);
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::new(format!("cannot make {}: {e}", dir.display())))?;
    let real = dir
        .canonicalize()
        .map_err(|e| Error::new(format!("cannot read {}: {e}", dir.display())))?;
    if !real.starts_with(root) {
        return Err(Error::new(format!(
            "{} leads out of the project to {}; not writing {rel} there",
            dir.display(),
            real.display()
        )));
    }
    let tmp = dir.join(format!(".{}.ptenv-sync", std::process::id()));
    let write = || -> std::io::Result<()> {
        std::fs::write(&tmp, bytes)?;
        let when = SystemTime::UNIX_EPOCH + Duration::from_secs(mtime.max(0) as u64);
        std::fs::File::options()
            .write(true)
            .open(&tmp)?
            .set_modified(when)?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::new(format!("cannot write {}: {e}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_is_read_line_by_line() {
        let m = parse_listing("12 1700000000 ./out/model.pt\n3 5 ./a b.txt\nnoise\n");
        assert_eq!(m["out/model.pt"].size, 12);
        assert_eq!(m["out/model.pt"].mtime, 1700000000);
        assert_eq!(m["a b.txt"].size, 3);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn paths_out_of_the_project_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        assert!(write_here(&root, "../x", b"", 0).is_err());
        write_here(&root, "a/b.txt", b"hi", 1_700_000_000).unwrap();
        assert_eq!(std::fs::read(root.join("a/b.txt")).unwrap(), b"hi");
        let meta = std::fs::metadata(root.join("a/b.txt")).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(meta.mtime(), 1_700_000_000);
    }
}
