//! Who runs inside the container: a non-root user whose UID/GID match the host user, so files
//! created in /workspace belong to them on the host. When the host user is root, a `dev` user
//! 1000:1000 (running as root inside would defeat the point).

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

    /// The container user for the host user running ptenv.
    pub fn for_host() -> User {
        // SAFETY: getuid/getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        User::for_ids(uid, gid)
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
}
