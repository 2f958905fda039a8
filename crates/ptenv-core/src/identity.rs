//! Who runs inside the container: a non-root user whose UID/GID match the host user, so files
//! created in /workspace belong to them on the host. When ptenv runs as root (sudo, CI), the
//! project folder's owner is the person whose files these are, so the user takes their IDs.
//! Root in a folder of root's (a cloud GPU box where everyone logs in as root) runs as root in
//! the container too: any other user could not write to /workspace, and files Jupyter saves
//! belong to root, as they would for any other process of that root.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

impl User {
    /// The container user with these IDs: `dev`, or `root` for uid 0.
    pub fn for_ids(uid: u32, gid: u32) -> User {
        if uid == 0 {
            return User {
                name: "root".into(),
                uid: 0,
                gid: 0,
                home: "/root".into(),
            };
        }
        User {
            name: "dev".into(),
            uid,
            gid,
            home: "/home/dev".into(),
        }
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// The container user for the host user `host` (uid, gid) in a folder owned by
    /// `folder_owner`: the host user, or for root the folder's owner (root
    /// itself when the folder is root's or unknown).
    pub fn choose(host: (u32, u32), folder_owner: Option<(u32, u32)>) -> User {
        match (host, folder_owner) {
            ((0, _), Some((uid, gid))) if uid != 0 => User::for_ids(uid, gid),
            ((uid, gid), _) => User::for_ids(uid, gid),
        }
    }

    /// Whether this user can create files in a folder with this owner and mode, so `up` can
    /// warn before the user finds out from a "Permission denied".
    pub fn can_write(&self, owner: (u32, u32), mode: u32) -> bool {
        if self.is_root() {
            // Root passes permission checks (the engine gives container root that capability).
            true
        } else if owner.0 == self.uid {
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
    fn uid_0_is_root_and_others_are_dev() {
        let root = User::for_ids(0, 0);
        assert_eq!(
            root,
            User {
                name: "root".into(),
                uid: 0,
                gid: 0,
                home: "/root".into()
            }
        );
        assert!(root.is_root());
        assert!(!User::for_ids(1000, 1000).is_root());
        let u = User::for_ids(1234, 1300);
        assert_eq!((u.uid, u.gid, u.name.as_str()), (1234, 1300, "dev"));
    }

    #[test]
    fn root_takes_the_project_owner() {
        assert_eq!(
            User::choose((0, 0), Some((1001, 1002))),
            User::for_ids(1001, 1002)
        );
        // Root's own folder: root in the container, who can write it.
        let root = User::choose((0, 0), Some((0, 0)));
        assert!(root.is_root());
        assert!(root.can_write((0, 0), 0o755));
        assert!(User::choose((0, 0), None).is_root());
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
        assert!(User::for_ids(0, 0).can_write((1000, 1000), 0o755));
    }
}
