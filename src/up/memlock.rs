//! The memory that an engine refused `--ulimit memlock=-1`, so the next `up` starts without
//! it instead of paying for a failed start first.

use std::path::PathBuf;
use std::time::Duration;

use crate::engine::Engine;

pub(super) const MEMLOCK_WARNING: &str = "this Docker engine may not raise the locked-memory limit (`--ulimit memlock=-1`: \"error setting rlimit type 8: operation not permitted\"); the container runs with the engine's own limit instead, which only matters for pinned-memory transfers of some libraries (`ptenv doctor` explains)";

/// How long a remembered memlock refusal holds before ptenv asks the engine again (its
/// daemon may have been given other limits meanwhile).
const MEMLOCK_MEMO_TTL: Duration = Duration::from_secs(24 * 3600);

/// The memory that an engine refused `memlock=-1`: an empty file in ptenv's cache dir, named
/// after the engine's endpoint and version (an upgrade asks again). Best effort: without a
/// cache dir, every `up` asks the engine as before.
pub(super) struct MemlockMemo(Option<PathBuf>);

impl MemlockMemo {
    pub(super) fn for_engine(engine: &Engine) -> MemlockMemo {
        use sha2::{Digest, Sha256};
        let key = Sha256::digest(format!("{}\n{}", engine.endpoint, engine.version));
        MemlockMemo(directories::ProjectDirs::from("", "", "ptenv").map(|d| {
            d.cache_dir().join("engines").join(format!(
                "{}.memlock-refused",
                &crate::project::hex(&key)[..16]
            ))
        }))
    }

    pub(super) fn remembered(&self) -> bool {
        self.0
            .as_ref()
            .and_then(|path| std::fs::metadata(path).ok())
            .and_then(|meta| meta.modified().ok())
            .and_then(|at| at.elapsed().ok())
            .is_some_and(|age| age < MEMLOCK_MEMO_TTL)
    }

    pub(super) fn remember(&self) {
        if let Some(path) = &self.0 {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = crate::atomic::write(
                path,
                b"",
                crate::atomic::Mode::KeepOr(0o644),
                crate::atomic::Owner::Process,
            );
        }
    }
}
