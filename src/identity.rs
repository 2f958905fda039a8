//! Who runs inside the container: a non-root user whose UID/GID match the host user, so files
//! created in /workspace belong to them on the host. When ptenv runs as root (sudo, CI), the
//! project folder's owner is the person whose files these are, so the user takes their IDs; a
//! folder owned by root too gives a `dev` user 1000:1000 (running as root inside would defeat
//! the point) that cannot write to /workspace, which `up` warns about.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

impl User {
    pub fn for_ids(uid: u32, gid: u32) -> User {
        let (uid, gid) = if uid == 0 { (1000, 1000) } else { (uid, gid) };
        User {
            name: "dev".into(),
            uid,
            gid,
            home: "/home/dev".into(),
        }
    }

    /// The container user for the host user running ptenv in `project`.
    pub fn for_host(project: &Path) -> User {
        // SAFETY: getuid/getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let owner = std::fs::metadata(project).ok().map(|m| (m.uid(), m.gid()));
        User::choose((uid, gid), owner)
    }

    /// Pure rule behind [`User::for_host`]: the host user, or for root the folder's owner.
    pub fn choose(host: (u32, u32), folder_owner: Option<(u32, u32)>) -> User {
        match (host, folder_owner) {
            ((0, _), Some((uid, gid))) if uid != 0 => User::for_ids(uid, gid),
            ((uid, gid), _) => User::for_ids(uid, gid),
        }
    }

    /// Whether this user can create files in a folder with this owner and mode, so `up` can
    /// warn before the user finds out from a "Permission denied".
    pub fn can_write(&self, owner: (u32, u32), mode: u32) -> bool {
        if owner.0 == self.uid {
            mode & 0o200 != 0
        } else if owner.1 == self.gid {
            mode & 0o020 != 0
        } else {
            mode & 0o002 != 0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_becomes_dev_1000() {
        assert_eq!(
            User::for_ids(0, 0),
            User {
                name: "dev".into(),
                uid: 1000,
                gid: 1000,
                home: "/home/dev".into()
            }
        );
        let u = User::for_ids(1234, 1300);
        assert_eq!((u.uid, u.gid, u.name.as_str()), (1234, 1300, "dev"));
    }

    #[test]
    fn root_takes_the_project_owner() {
        assert_eq!(
            User::choose((0, 0), Some((1001, 1002))),
            User::for_ids(1001, 1002)
        );
        assert_eq!(
            User::choose((0, 0), Some((0, 0))),
            User::for_ids(1000, 1000)
        );
        assert_eq!(User::choose((0, 0), None), User::for_ids(1000, 1000));
        // A normal user is always themselves, whoever owns the folder.
        assert_eq!(
            User::choose((1234, 1300), Some((0, 0))),
            User::for_ids(1234, 1300)
        );
    }

    #[test]
    fn write_permission_follows_owner_group_other() {
        let u = User::for_ids(1000, 1000);
        assert!(u.can_write((1000, 5), 0o755));
        assert!(!u.can_write((0, 0), 0o755));
        assert!(u.can_write((0, 1000), 0o775));
        assert!(u.can_write((0, 0), 0o777));
        assert!(!u.can_write((1000, 1000), 0o555));
    }
}
