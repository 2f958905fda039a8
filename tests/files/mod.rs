//! The files ptenv writes into a project: when ptenv runs as root in a folder that belongs to
//! someone else (`sudo ptenv …` in a user's checkout), they belong to the folder's owner, so
//! the user can still edit, commit and delete them.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::support::{Project, Testbed};

/// Every file and folder under `dir`, the folder itself included.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if std::fs::symlink_metadata(&path).unwrap().is_dir() {
            out.extend(tree(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn as_root_init_export_and_lock_leave_the_project_to_its_owner() {
    assert_eq!(
        rustix::process::getuid().as_raw(),
        0,
        "this test checks what root leaves in a user's folder: run the suite as root"
    );
    let tb = Testbed::get();
    tb.registry();
    let p = Project::new("files-owner");
    std::os::unix::fs::chown(p.path(), Some(1234), Some(1300)).unwrap();

    p.ptenv(&["init", "--yes"]).run().assert_success();
    p.ptenv(&["export", "compose", "-o", "compose.yaml"])
        .run()
        .assert_success();
    // The lock needs a repository the test registry has.
    p.write(
        "ptenv.yaml",
        &format!("repository: {}\ngpus: none\n", tb.small_repo),
    );
    p.ptenv(&["lock"]).run().assert_success();

    let files = tree(p.path());
    for name in [
        "ptenv.yaml",
        "compose.yaml",
        "ptenv.lock",
        "ptenv-jupyter/Dockerfile",
        "ptenv-jupyter/.gitignore",
        "ptenv-jupyter/secrets/jupyter-token",
    ] {
        assert!(
            files.contains(&p.path().join(name)),
            "{name} was not written: {files:?}"
        );
    }
    let not_theirs: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let m = std::fs::symlink_metadata(f).unwrap();
            ((m.uid(), m.gid()) != (1234, 1300))
                .then(|| format!("{} ({}:{})", f.display(), m.uid(), m.gid()))
        })
        .collect();
    assert!(
        not_theirs.is_empty(),
        "files ptenv wrote into 1234's project that are not 1234:1300's: {not_theirs:#?}"
    );
}
