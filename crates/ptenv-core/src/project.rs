//! The identity of a project folder: the names ptenv derives from its absolute path for
//! containers, images and the per-project data folder (tokens, keys).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::profile::Mode;

/// Label keys on every container ptenv creates.
pub const LABEL_PROJECT: &str = "dev.ptenv.project";
pub const LABEL_MODE: &str = "dev.ptenv.mode";
pub const LABEL_PROFILE: &str = "dev.ptenv.profile";
pub const LABEL_BASE_IMAGE: &str = "dev.ptenv.base-image";
pub const LABEL_PORTS: &str = "dev.ptenv.ports";
pub const LABEL_CONFIG: &str = "dev.ptenv.config-hash";
/// Who made the container: `<uid>:<ptenv data dir>`. Keys and tokens live in the data dir, so
/// two users (or two HOMEs) of one project folder have different environments.
pub const LABEL_OWNER: &str = "dev.ptenv.owner";
/// On the volumes ptenv creates, what the volume is (`home`); with [`LABEL_PROJECT`] it names
/// the one project the volume belongs to, so `down --purge` removes no other project's.
pub const LABEL_VOLUME: &str = "dev.ptenv.volume";
/// The host user who made the container, by name (`ana`), for `ls`, `stats` and `down --user`.
pub const LABEL_USER: &str = "dev.ptenv.user";

/// The name of `uid` in the text of `/etc/passwd` (`name:x:uid:gid:…` lines), or `uid N` when
/// no line names it (users from LDAP/NSS only).
pub fn user_name(passwd: &str, uid: u32) -> String {
    passwd
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id: u32 = f.nth(1)?.parse().ok()?;
            (id == uid && !name.is_empty()).then(|| name.to_string())
        })
        .next()
        .unwrap_or_else(|| format!("uid {uid}"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Absolute, canonical path of the folder.
    pub path: PathBuf,
    /// `<folder>-<8 hex of the path's sha256>`: readable, and unique per path.
    pub id: String,
}

impl Project {
    pub fn new(path: &Path) -> Project {
        let hash = hex(&Sha256::digest(path.as_os_str().as_encoded_bytes()));
        let folder = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let slug = slug(&folder);
        let slug = if slug.is_empty() {
            "project".to_string()
        } else {
            slug
        };
        Project {
            path: path.to_path_buf(),
            id: format!("{slug}-{}", &hash[..8]),
        }
    }

    /// `ptenv-<folder>-<hash>-<profile>`. Built-in profiles are named after their mode.
    pub fn container_name(&self, profile: &str) -> String {
        format!("ptenv-{}-{}", self.id, slug(profile))
    }

    /// `ptenv-<folder>-<hash>-home`: the named volume mounted at the container user's home in
    /// every container of the project, so what the user installs or keeps there (`pip install`
    /// into ~/.local, caches, shell history, VS Code's server) outlives the containers.
    pub fn home_volume(&self) -> String {
        format!("ptenv-{}-home", self.id)
    }

    /// The SSH host alias VS Code and `ssh` use: `ptenv-<folder>`, plus the hash so two
    /// folders of the same name do not collide.
    pub fn ssh_alias(&self) -> String {
        format!("ptenv-{}", self.id)
    }

    /// ptenv's data folder for this project (tokens, keys) under ptenv's data dir `root`
    /// (e.g. ~/.local/share/ptenv/projects/<id>).
    pub fn data_dir_in(&self, root: &Path) -> PathBuf {
        root.join("projects").join(&self.id)
    }

    pub fn is_mode_name(name: &str) -> Option<Mode> {
        Mode::ALL.iter().copied().find(|m| m.as_str() == name)
    }
}

/// Lowercase letters, digits and `-`, as Docker names and ssh aliases accept everywhere.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(40).collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_come_from_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n# comment\nana:x:1000:1000:Ana,,,:/home/ana:/bin/bash\nbad line\n";
        assert_eq!(user_name(passwd, 0), "root");
        assert_eq!(user_name(passwd, 1000), "ana");
        assert_eq!(user_name(passwd, 1001), "uid 1001");
    }

    #[test]
    fn names_are_stable_and_safe() {
        let p = Project::new(Path::new("/home/ana/My Project (v2)"));
        assert!(p.id.starts_with("my-project-v2-"), "{}", p.id);
        assert_eq!(p.id.len(), "my-project-v2-".len() + 8);
        assert_eq!(p, Project::new(Path::new("/home/ana/My Project (v2)")));
        assert_ne!(p.id, Project::new(Path::new("/srv/My Project (v2)")).id);
        assert_eq!(
            p.container_name("jupyter"),
            format!("ptenv-{}-jupyter", p.id)
        );
        assert_eq!(p.ssh_alias(), format!("ptenv-{}", p.id));
        assert_eq!(p.home_volume(), format!("ptenv-{}-home", p.id));
        assert!(Project::new(Path::new("/")).id.starts_with("project-"));
        assert!(Project::new(Path::new("/tmp/Ünïcødé"))
            .id
            .starts_with("n-c-d-"));
    }
}
