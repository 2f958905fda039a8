//! In-memory tar archives: the build context sent to `POST /build` and the files copied into a
//! container before it starts (`PUT /containers/{id}/archive`).

/// One file of an archive.
pub struct Entry<'a> {
    /// Path inside the archive, without a leading `/`.
    pub path: &'a str,
    pub contents: &'a [u8],
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// A tar archive of `entries`. The engine creates missing parent folders (root, 0755).
pub fn archive(entries: &[Entry]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(e.contents.len() as u64);
        header.set_mode(e.mode);
        header.set_uid(e.uid as u64);
        header.set_gid(e.gid as u64);
        header.set_entry_type(tar::EntryType::Regular);
        // A fixed time keeps build contexts byte-identical, so the engine's cache hits.
        header.set_mtime(0);
        builder.append_data(&mut header, e.path.trim_start_matches('/'), e.contents)?;
    }
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_owner_and_mode() {
        let bytes = archive(&[Entry {
            path: "/etc/ptenv/jupyter/token",
            contents: b"secret",
            mode: 0o600,
            uid: 1234,
            gid: 1300,
        }])
        .unwrap();
        let mut a = tar::Archive::new(&bytes[..]);
        let entry = a.entries().unwrap().next().unwrap().unwrap();
        let h = entry.header();
        assert_eq!(h.path().unwrap().to_str(), Some("etc/ptenv/jupyter/token"));
        assert_eq!(h.mode().unwrap(), 0o600);
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (1234, 1300));
        assert_eq!(h.size().unwrap(), 6);
    }
}
