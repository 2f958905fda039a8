//! Reading the profile files of this machine: the user's config file and the project's
//! `ptenv.yaml`. What their text means is the core's ([`layer_from_bytes`]).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{layer_from_bytes, Layer, Origin, SourceFile, Sources, MAX_FILE_BYTES, PROJECT_FILE};
use crate::error::{Error, Result};

/// The user's config file, under the config dir from `directories` (e.g. ~/.config/ptenv).
pub fn user_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "ptenv").map(|d| d.config_dir().join("config.yaml"))
}

/// Read the user's and the project's files; a missing file is no layer, an unreadable or
/// invalid one is an error.
pub fn load_sources(project_dir: &Path) -> Result<Sources> {
    let mut files = Vec::new();
    if let Some(path) = user_config_path() {
        if let Some(layer) = read_layer(&path)? {
            files.push(SourceFile {
                origin: Origin::User(path),
                layer,
            });
        }
    }
    let path = project_dir.join(PROJECT_FILE);
    if let Some(layer) = read_layer(&path)? {
        files.push(SourceFile {
            origin: Origin::Project(path),
            layer,
        });
    }
    let sources = Sources { files };
    sources.check_names()?;
    Ok(sources)
}

fn read_layer(path: &Path) -> Result<Option<Layer>> {
    let read = std::fs::File::open(path).and_then(|f| {
        let mut bytes = Vec::new();
        // One byte more than allowed tells a too-large file without reading all of it.
        f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
        Ok(bytes)
    });
    match read {
        Ok(bytes) => layer_from_bytes(bytes, path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::new(format!("cannot read {}: {e}", path.display()))
            .hint("check the file's permissions (it must be readable by you)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_one_mib_is_refused_unparsed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PROJECT_FILE);
        let mut text = String::from("description: big\n");
        text.push_str(&"# padding\n".repeat((MAX_FILE_BYTES as usize) / 10 + 1));
        std::fs::write(&path, &text).unwrap();
        let e = load_sources(dir.path()).unwrap_err();
        assert!(e.message.contains("larger than 1 MiB"), "{e}");
        text.truncate(MAX_FILE_BYTES as usize - 1);
        std::fs::write(&path, &text).unwrap();
        assert!(load_sources(dir.path()).is_ok());
    }
}
