//! The project's files on an engine that cannot see this machine's folder (a server reached
//! over ssh): a named volume per project, filled and updated through the Engine API. The
//! folder is walked as git would see it (`.gitignore`, `.git/info/exclude`, the global
//! excludes) plus `.ptenvignore`; only files changed since the last upload are sent, files
//! deleted here are deleted there; what was sent is recorded in a manifest in ptenv's data dir.
//!
//! An interrupted upload never leaves the volume looking complete: the archive's first entry
//! is a marker file at the volume's root, removed only by the helper container that runs after
//! the whole archive arrived, and the manifest says `complete` only after that; otherwise the
//! next `up` sends every file again. The decisions are the core's (`ptenv_core::workspace`);
//! the engine's behaviour this relies on: docs/remote.md §4.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use ptenv_core::workspace::*;

use crate::engine::container::Unfinished;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::identity::User;
use crate::output::Printer;
use crate::project::{Project, LABEL_OWNER, LABEL_PROJECT};

/// Bytes per chunk of the archive on its way to the engine.
const CHUNK: usize = 256 << 10;

/// On the upload helper container: the project folder it uploads.
const HELPER_LABEL: &str = "dev.ptenv.workspace-upload";

/// Where the workspace volume is mounted in the helper container.
const MOUNT: &str = "/workspace";

/// The files of the project folder that go to the volume, with their sizes and mtimes.
pub struct Scan {
    pub files: BTreeMap<String, FileState>,
    /// Symbolic links and special files, which are not uploaded.
    pub skipped: Vec<String>,
}

/// Walks `root` as git sees it plus `.ptenvignore`; `.git` itself stays here.
pub fn scan(root: &Path) -> Result<Scan> {
    let mut walk = ignore::WalkBuilder::new(root);
    walk.hidden(false)
        .require_git(false)
        .follow_links(false)
        .add_custom_ignore_filename(IGNORE_FILE)
        .filter_entry(|e| e.file_name() != ".git");
    let mut out = Scan {
        files: BTreeMap::new(),
        skipped: Vec::new(),
    };
    for entry in walk.build() {
        let entry = entry.map_err(|e| {
            Error::new(format!("cannot read the project folder: {e}"))
                .hint("make the folder readable, or leave the unreadable part out in .ptenvignore")
        })?;
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let Some(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            continue;
        }
        let name = rel.to_string_lossy().into_owned();
        // The helper reads the delete list line by line: a name with a newline (or one that is
        // not UTF-8) cannot be carried faithfully, so it is named and left out.
        if !kind.is_file() || name.contains('\n') || rel.to_str().is_none() {
            out.skipped.push(name);
            continue;
        }
        let meta = entry
            .metadata()
            .map_err(|e| Error::new(format!("cannot read {}: {e}", entry.path().display())))?;
        out.files.insert(
            name,
            FileState {
                size: meta.len(),
                mtime: mtime_of(&meta),
                hash: String::new(),
            },
        );
    }
    Ok(out)
}

fn mtime_of(meta: &std::fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt;
    meta.mtime()
}

/// `workspace.host_path` must be a folder that exists on the server, checked there before
/// anything is made: the engine would otherwise create it, empty and root's.
pub fn check_server_folder(conn: &crate::transport::SshConnection, path: &str) -> Result<()> {
    let probe = format!(
        "if [ -d {p} ]; then echo ok; else echo missing; fi",
        p = crate::shell::quote(path)
    );
    let out = conn.run(&probe, None)?;
    match String::from_utf8_lossy(&out.stdout).trim() {
        "ok" => Ok(()),
        _ => Err(Error::new(format!(
            "`workspace.host_path: {path}` is not a folder on {}",
            conn.host
        ))
        .hint(format!(
            "make it there first (`{} mkdir -p {}`), or remove `host_path` to have ptenv copy the project into a volume",
            conn.host.ssh_line(),
            crate::shell::quote(path)
        ))),
    }
}

/// A new volume's identity.
fn random_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::new(format!("no randomness: {e}")))?;
    Ok(crate::project::hex(&bytes))
}

/// The manifest of the last upload of `volume` to the engine `endpoint`.
pub(crate) fn manifest_path(endpoint: &str, volume: &str) -> Result<PathBuf> {
    let key = crate::project::hex(&Sha256::digest(endpoint.as_bytes()));
    Ok(crate::project::data_root()?
        .join("workspaces")
        .join(format!("{}-{volume}.json", &key[..12])))
}

pub(crate) fn read_manifest(path: &Path) -> Option<Manifest> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

pub(crate) fn write_manifest(path: &Path, m: &Manifest) -> Result<()> {
    if let Some(dir) = path.parent() {
        crate::atomic::create_dir_all(dir, 0o700)?;
    }
    let bytes =
        serde_json::to_vec(m).map_err(|e| Error::new(format!("cannot write the manifest: {e}")))?;
    crate::atomic::write(
        path,
        &bytes,
        crate::atomic::Mode::Exactly(0o600),
        crate::atomic::Owner::Process,
    )
}

/// What [`upload`] needs.
pub struct Upload<'a> {
    pub engine: &'a Engine,
    pub project: &'a Project,
    /// An image on the engine with `sh` (the derived image): the helper container's.
    pub image: &'a str,
    /// The container user, who owns the files.
    pub user: &'a User,
    /// The owner label of the project's containers.
    pub owner: &'a str,
    pub limit: u64,
    pub printer: &'a Printer,
    /// The helper container while it exists: removed on Ctrl-C.
    pub pending: &'a Unfinished,
}

/// Brings the project's volume up to date with the folder; returns the volume's name.
pub async fn upload(u: &Upload<'_>) -> Result<String> {
    let p = u.printer;
    let volume = volume_name(u.project);
    let root = u.project.path.clone();
    let scan = tokio::task::spawn_blocking(move || scan(&root))
        .await
        .map_err(|e| Error::new(format!("the folder scan failed: {e}")))??;
    if !scan.skipped.is_empty() {
        p.info(format!(
            "Not uploaded (links and special files stay on this machine): {}",
            scan.skipped.join(", ")
        ));
    }
    let path = manifest_path(&u.engine.endpoint, &volume)?;
    let last = read_manifest(&path);
    // The volume's identity is a random label given when ptenv made it: its `CreatedAt` is
    // not one (the local driver reports its folder's mtime, which every upload changes).
    let labels = u.engine.volume_labels(&volume).await?;
    let identity_of =
        |l: &HashMap<String, String>| l.get(LABEL_WORKSPACE).cloned().unwrap_or_default();
    let changes = changes(
        last.as_ref(),
        &scan.files,
        &labels.as_ref().map(identity_of).unwrap_or_default(),
    );
    let mut biggest: Vec<(String, u64)> = changes
        .upload
        .iter()
        .map(|f| (f.clone(), scan.files[f].size))
        .collect();
    biggest.sort_by_key(|b| std::cmp::Reverse(b.1));
    check_limit(&changes, u.limit, &biggest)?;
    let identity = match labels {
        Some(l) => identity_of(&l),
        None => {
            // Labelled like the project's containers, so that what lists or cleans up a
            // project's things finds its workspace too.
            let labels = HashMap::from([
                (
                    LABEL_PROJECT.to_owned(),
                    u.project.path.display().to_string(),
                ),
                (LABEL_OWNER.to_owned(), u.owner.to_owned()),
                (LABEL_WORKSPACE.to_owned(), random_id()?),
            ]);
            identity_of(&u.engine.create_volume(&volume, labels).await?)
        }
    };
    if changes.is_empty()
        && last
            .as_ref()
            .is_some_and(|m| m.complete && m.volume == identity)
    {
        p.detail(format!("The workspace volume {volume} is up to date"));
        return Ok(volume);
    }
    // From here until the helper has finished, the volume may hold a partial upload.
    let before = last.map(|m| m.files).unwrap_or_default();
    let mut files = before.clone();
    files.extend(scan.files.iter().map(|(k, v)| (k.clone(), v.clone())));
    write_manifest(
        &path,
        &Manifest {
            volume: identity.clone(),
            complete: false,
            files,
        },
    )?;
    let hashes = send(u, &volume, &changes).await?;
    let mut files = scan.files;
    for (name, state) in files.iter_mut() {
        // A file not sent is unchanged: its hash is the one recorded when it was.
        state.hash = match hashes.get(name) {
            Some(h) => h.clone(),
            None => before.get(name).map(|b| b.hash.clone()).unwrap_or_default(),
        };
    }
    write_manifest(
        &path,
        &Manifest {
            volume: identity,
            complete: true,
            files,
        },
    )?;
    Ok(volume)
}

/// Streams the archive into a helper container that mounts the volume, then runs it to apply
/// the deletions, give the files' root to the container user and remove the marker. Returns
/// the hashes of the files sent.
async fn send(u: &Upload<'_>, volume: &str, changes: &Changes) -> Result<BTreeMap<String, String>> {
    let engine = u.engine;
    let name = format!("{volume}-upload");
    // One left by a killed `up`: its archive is not this one.
    engine.remove(&name).await?;
    let script = format!(
        "set -e; cd {MOUNT}; if [ -f {DELETE_LIST} ]; then while IFS= read -r f; do rm -f -- \"$f\"; done < {DELETE_LIST}; rm -f {DELETE_LIST}; fi; chown {uid}:{gid} .; rm -f {INCOMPLETE_MARKER}",
        uid = u.user.uid,
        gid = u.user.gid
    );
    let body = serde_json::json!({
        "Image": u.image,
        "Cmd": ["sh", "-c", script],
        "User": "0:0",
        "Entrypoint": [],
        "Labels": { HELPER_LABEL: u.project.path.display().to_string() },
        "NetworkDisabled": true,
        "HostConfig": {
            "Mounts": [{ "Type": "volume", "Source": volume, "Target": MOUNT }],
            "NetworkMode": "none"
        }
    });
    let id = engine.create(&name, &body).await.map_err(|e| match e {
        crate::engine::container::CreateError::Other(e) => e,
        _ => Error::new(format!("cannot create the upload helper {name}: the name is taken"))
            .hint("another `ptenv up` of this project is uploading; wait for it, then run `ptenv up` again"),
    })?;
    u.pending.hold(&id);
    u.printer.info(format!(
        "Uploading {} file{} ({}) to the workspace volume {volume}{}",
        changes.upload.len(),
        if changes.upload.len() == 1 { "" } else { "s" },
        ptenv_core::size::human(changes.bytes),
        match changes.delete.len() {
            0 => String::new(),
            n => format!(", deleting {n} removed here"),
        }
    ));
    let result = stream_and_apply(u, &id, changes).await;
    let removed = engine.remove(&id).await;
    u.pending.release();
    match (result, removed) {
        (Ok(hashes), removed) => removed.map(|()| hashes),
        (Err(e), Ok(())) => Err(e),
        // The connection that failed the upload cannot remove the helper either.
        (Err(e), Err(_)) => Err(e.hint(format!(
            "the upload helper container {name} is still on the server; the next `ptenv up` removes it"
        ))),
    }
}

async fn stream_and_apply(
    u: &Upload<'_>,
    id: &str,
    changes: &Changes,
) -> Result<BTreeMap<String, String>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let bar = progress(u.printer, changes.bytes);
    let root = u.project.path.clone();
    let list = changes.upload.clone();
    let delete = changes.delete.clone();
    let (uid, gid) = (u.user.uid, u.user.gid);
    let writer_bar = bar.clone();
    let writer = tokio::task::spawn_blocking(move || {
        archive(&root, &list, &delete, (uid, gid), tx, writer_bar.as_ref())
    });
    let sent = u.engine.upload_stream(id, MOUNT, rx).await;
    let hashes = writer
        .await
        .map_err(|e| Error::new(format!("the archive writer failed: {e}")))?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    sent.map_err(|e| {
        Error::new(format!(
            "the upload of the project's files to {} was cut off: {}",
            u.engine.endpoint, e.message
        ))
        .hint(format!(
            "check the connection (`ptenv --host {} ls`), then run `ptenv up` again: the volume is marked incomplete, so it sends every file once more",
            u.engine.endpoint
        ))
    })?;
    let hashes = hashes?;
    u.engine.start(id).await.map_err(|e| {
        Error::new(format!(
            "cannot run the upload helper: {}",
            e.into_message()
        ))
    })?;
    let (code, output) = u.engine.wait_output(id, Duration::from_secs(600)).await?;
    if code != Some(0) {
        return Err(Error::new(format!(
            "the upload to the workspace volume did not finish (exit {}): {}",
            code.map_or("unknown".to_owned(), |c| c.to_string()),
            output.trim()
        ))
        .hint("run `ptenv up` again: it sends every file once more"));
    }
    Ok(hashes)
}

fn progress(printer: &Printer, bytes: u64) -> Option<indicatif::ProgressBar> {
    // Small uploads finish before a bar is worth drawing.
    if !printer.fancy() || bytes < (16 << 20) {
        return None;
    }
    let bar = indicatif::ProgressBar::new(bytes);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix:>12} {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix("upload");
    Some(bar)
}

/// Writes the archive into `tx`: the marker first, then the delete list, then the files.
fn archive(
    root: &Path,
    files: &[String],
    delete: &[String],
    (uid, gid): (u32, u32),
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<BTreeMap<String, String>> {
    let sink = Chunks {
        tx,
        buf: Vec::with_capacity(CHUNK),
    };
    let mut tar = tar::Builder::new(sink);
    let broken = |e: std::io::Error| {
        Error::new(format!("the upload was cut off: {e}"))
            .hint("check the connection to the server, then run `ptenv up` again (it sends every file once more)")
    };
    let small = |tar: &mut tar::Builder<Chunks>, name: &str, bytes: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o600);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, bytes)
    };
    small(&mut tar, INCOMPLETE_MARKER, b"").map_err(broken)?;
    if !delete.is_empty() {
        let text: String = delete.iter().map(|d| format!("{d}\n")).collect();
        small(&mut tar, DELETE_LIST, text.as_bytes()).map_err(broken)?;
    }
    let mut hashes = BTreeMap::new();
    // The engine makes a missing parent folder root's: each folder gets an entry of its own,
    // so the container user may write in it.
    let mut folders = std::collections::BTreeSet::new();
    for name in files {
        for folder in Path::new(name).ancestors().skip(1) {
            if !folder.as_os_str().is_empty() {
                folders.insert(folder.to_path_buf());
            }
        }
    }
    for folder in &folders {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o755);
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Directory);
        tar.append_data(&mut h, folder, std::io::empty())
            .map_err(broken)?;
    }
    for name in files {
        let path = root.join(name);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            // Deleted since the scan: the next `up` deletes it there.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::new(format!("cannot read {}: {e}", path.display()))),
        };
        let meta = file
            .metadata()
            .map_err(|e| Error::new(format!("cannot read {}: {e}", path.display())))?;
        use std::os::unix::fs::PermissionsExt;
        let mut h = tar::Header::new_gnu();
        h.set_size(meta.len());
        // The owner's bits for everyone who may: the container user owns the file.
        h.set_mode(meta.permissions().mode() & 0o755);
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        h.set_mtime(mtime_of(&meta).max(0) as u64);
        h.set_entry_type(tar::EntryType::Regular);
        let mut reader = Hashing {
            inner: file.take(meta.len()),
            hash: Sha256::new(),
            bar,
        };
        tar.append_data(&mut h, name, &mut reader).map_err(broken)?;
        hashes.insert(name.clone(), crate::project::hex(&reader.hash.finalize()));
    }
    let mut sink = tar.into_inner().map_err(broken)?;
    sink.flush().map_err(broken)?;
    Ok(hashes)
}

/// A writer that hands the engine's request body its chunks.
struct Chunks {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl Write for Chunks {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.blocking_send(chunk).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the engine stopped reading")
        })
    }
}

/// A file's bytes on their way into the archive, hashed and counted as they pass.
struct Hashing<'a, R> {
    inner: R,
    hash: Sha256,
    bar: Option<&'a indicatif::ProgressBar>,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.hash.update(&out[..n]);
        if let Some(bar) = self.bar {
            bar.inc(n as u64);
        }
        Ok(n)
    }
}
