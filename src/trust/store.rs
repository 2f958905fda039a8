//! Where the user's trust records are kept: one JSON file per project folder, 0600 in a 0700
//! folder of ptenv's data dir. What a record means is the core's ([`super::Assessment`]).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::Record;
use crate::error::{Error, Result};
use crate::project::hex;

/// Where trust records are kept: one JSON file per project folder, 0600 in a 0700 folder.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: PathBuf) -> Store {
        Store { dir }
    }

    /// The user's: `<ptenv data dir>/trust`.
    pub fn for_user() -> Result<Store> {
        Ok(Store::new(crate::project::data_root()?.join("trust")))
    }

    fn path(&self, project: &Path) -> PathBuf {
        let key = Sha256::digest(project.as_os_str().as_encoded_bytes());
        self.dir.join(format!("{}.json", &hex(&key)[..32]))
    }

    /// The record for `project`; an unreadable or foreign one counts as none (trust is then
    /// asked again, which is the safe side).
    pub fn get(&self, project: &Path, file: &Path) -> Option<Record> {
        let text = std::fs::read(self.path(project)).ok()?;
        serde_json::from_slice::<Record>(&text)
            .ok()
            .filter(|r| r.file == file)
    }

    pub fn put(&self, project: &Path, record: &Record) -> Result<()> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let cannot = |e: std::io::Error| {
            Error::new(format!("cannot create {}: {e}", self.dir.display()))
                .hint("check that your home directory is writable")
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(cannot)?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
            .map_err(cannot)?;
        let text = serde_json::to_vec_pretty(record).expect("a record serializes");
        crate::secrets::write_secret(&self.path(project), &text)
    }

    /// Removes the record; whether there was one.
    pub fn remove(&self, project: &Path) -> Result<bool> {
        match std::fs::remove_file(self.path(project)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::new(format!(
                "cannot remove {}: {e}",
                self.path(project).display()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_keeps_records_private_and_per_project() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().join("trust"));
        let (p, f) = (Path::new("/p"), Path::new("/p/ptenv.yaml"));
        assert_eq!(store.get(p, f), None);
        let record = Record {
            file: f.to_path_buf(),
            sha256: "ab".into(),
            risks: Vec::new(),
        };
        store.put(p, &record).unwrap();
        assert_eq!(store.get(p, f), Some(record));
        assert_eq!(store.get(Path::new("/q"), Path::new("/q/ptenv.yaml")), None);
        let file = std::fs::read_dir(tmp.path().join("trust"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        let dir = std::fs::metadata(tmp.path().join("trust")).unwrap();
        assert_eq!(dir.permissions().mode() & 0o777, 0o700);
        assert!(store.remove(p).unwrap());
        assert!(!store.remove(p).unwrap());
        assert_eq!(store.get(p, f), None);
    }
}
