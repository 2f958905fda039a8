//! An exclusive lock between ptenv processes (and threads), for the read-modify-write of files
//! several commands may touch at once: a project's secrets (two first-time `up`s would
//! otherwise make two tokens and keep one) and `~/.ssh/config` (`ssh --forget` racing `ssh`
//! would lose the Include line). `flock(2)` on a lock file in ptenv's data dir: the kernel
//! releases it when the process dies, so a crash never leaves a stale lock.

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::{flock, FlockOperation, OFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// Held until dropped.
#[derive(Debug)]
pub struct Held {
    _file: fs::File,
}

/// Waits for the lock named by the file `path` (created 0600 when absent) and holds it.
pub fn exclusive(path: &Path) -> Result<Held> {
    let cannot = |e: std::io::Error| {
        Error::new(format!("cannot lock {}: {e}", path.display())).hint(format!(
            "{} must be a file you can write; remove it if it is something else",
            path.display()
        ))
    };
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags((OFlags::NOFOLLOW | OFlags::CLOEXEC).bits() as i32)
        .open(path)
        .map_err(cannot)?;
    loop {
        match flock(&file, FlockOperation::LockExclusive) {
            Ok(()) => return Ok(Held { _file: file }),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(cannot(e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn one_holder_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let path = Arc::new(tmp.path().join(".lock"));
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (path, inside, most) = (path.clone(), inside.clone(), most.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let _held = exclusive(&path).unwrap();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_link_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(".lock");
        std::os::unix::fs::symlink(tmp.path().join("elsewhere"), &path).unwrap();
        assert!(exclusive(&path).is_err());
        assert!(!tmp.path().join("elsewhere").exists());
    }
}
