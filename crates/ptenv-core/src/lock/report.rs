//! What `ptenv lock` says about its outcome: the `--json` of a check and of a write, the
//! sentences on stderr (what changed and for which machine), the pinned references on stdout,
//! and the errors of a missing or stale lock under `--check`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Lock, LOCK_FILE};
use crate::error::Error;

/// `ptenv lock --check` found the lock up to date (`--json`: changes, path, stale).
#[derive(Serialize)]
pub struct Checked {
    pub changes: Vec<String>,
    pub path: PathBuf,
    pub stale: bool,
    #[serde(skip)]
    pub lock: Lock,
}

impl Checked {
    /// "ptenv.lock is up to date: 2 profiles pinned for a machine with …".
    pub fn summary(&self) -> String {
        let n = self.lock.profiles.len();
        format!(
            "{LOCK_FILE} is up to date: {n} profile{} pinned for {}",
            plural(n),
            self.lock.target.describe()
        )
    }
}

/// `ptenv lock` resolved the lock and wrote it when it changed (`--json`: changes, lock, path,
/// written).
#[derive(Serialize)]
pub struct Written {
    pub changes: Vec<String>,
    pub lock: Lock,
    pub path: PathBuf,
    pub written: bool,
    /// There was a lock before.
    #[serde(skip)]
    pub existed: bool,
    /// The pinned images that, by what they say about themselves, do not run on the lock's
    /// machine (warnings).
    #[serde(skip)]
    pub misfits: Vec<String>,
}

impl Written {
    /// What changed and for which machine.
    pub fn summary(&self) -> Vec<String> {
        let n = self.lock.profiles.len();
        let target = self.lock.target.describe();
        if !self.written {
            return vec![format!(
                "{LOCK_FILE} is up to date ({n} profile{}, for {target})",
                plural(n)
            )];
        }
        let mut lines = vec![format!(
            "{} {} for {target}: {n} profile{} pinned by digest",
            if self.existed { "Updated" } else { "Wrote" },
            self.path.display(),
            plural(n)
        )];
        lines.extend(self.changes.iter().map(|c| format!("  - {c}")));
        lines
    }

    /// Each profile's pinned reference (the result) and, below it, the image it pins.
    pub fn pins(&self) -> Vec<(String, String)> {
        let width = self
            .lock
            .profiles
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(0);
        self.lock
            .profiles
            .iter()
            .map(|(name, e)| {
                (
                    format!("{name:<width$}  {}", e.reference()),
                    format!("{:<width$}  ({})", "", e.image),
                )
            })
            .collect()
    }

    /// The last word after a write.
    pub fn next_step(&self) -> Option<&'static str> {
        self.written.then_some(
            "Commit ptenv.lock: `ptenv up` then starts every checkout from these digests.",
        )
    }
}

/// `--check` in a project without a lock.
pub fn missing(project: &Path) -> Error {
    Error::new(format!("there is no {LOCK_FILE} in {}", project.display()))
        .hint("run `ptenv lock` and commit ptenv.lock")
        .hint("with --driver/--gpu it pins the images for the team's machines instead of this one")
}

/// `--check` found `changes` (not empty).
pub fn stale(changes: &[String]) -> Error {
    let mut message = format!("{LOCK_FILE} is stale:");
    for c in changes {
        message.push_str(&format!("\n  - {c}"));
    }
    Error::new(message)
        .hint("run `ptenv lock` (with the same --driver/--gpu, if any) and commit ptenv.lock")
        .hint("`git diff ptenv.lock` then shows what changed")
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::tests::lock;

    fn written(written: bool, existed: bool) -> Written {
        Written {
            changes: vec!["jupyter: a new digest".into()],
            lock: lock(),
            path: PathBuf::from("/p/ptenv.lock"),
            written,
            existed,
            misfits: vec![],
        }
    }

    #[test]
    fn a_write_says_what_changed_for_which_machine_and_what_is_pinned() {
        let w = written(true, true);
        let summary = w.summary();
        assert!(
            summary[0]
                .starts_with("Updated /p/ptenv.lock for a machine with NVIDIA driver 550.54.15"),
            "{summary:?}"
        );
        assert!(
            summary[0].ends_with(": 2 profiles pinned by digest"),
            "{summary:?}"
        );
        assert_eq!(summary[1], "  - jupyter: a new digest");
        assert!(written(true, false).summary()[0].starts_with("Wrote "));
        let pins = w.pins();
        // Sorted by profile, names padded to the longest.
        assert!(
            pins[0]
                .0
                .starts_with("jupyter  registry.example.com:5000/team/pytorch@sha256:2222"),
            "{pins:?}"
        );
        assert!(pins[1].0.starts_with("shell    "), "{pins:?}");
        assert!(
            pins[1].1.starts_with("         (pytorch/pytorch:2.6.0"),
            "{pins:?}"
        );
        assert!(w.next_step().is_some());
        let json = serde_json::to_value(&w).unwrap();
        assert_eq!(json["written"], true);
        assert!(json.get("existed").is_none() && json.get("misfits").is_none());
    }

    #[test]
    fn an_unchanged_lock_says_so_and_asks_nothing() {
        let w = written(false, true);
        assert_eq!(w.summary().len(), 1);
        assert!(w.summary()[0].starts_with("ptenv.lock is up to date (2 profiles, for a machine"));
        assert_eq!(w.next_step(), None);
        let c = Checked {
            changes: vec![],
            path: PathBuf::from("/p/ptenv.lock"),
            stale: false,
            lock: lock(),
        };
        assert!(c
            .summary()
            .starts_with("ptenv.lock is up to date: 2 profiles pinned for a machine"));
    }

    #[test]
    fn a_stale_or_missing_lock_says_what_to_run() {
        let e = stale(&["shell: a new digest".into()]).to_string();
        assert!(
            e.contains("ptenv.lock is stale:\n  - shell: a new digest"),
            "{e}"
        );
        assert!(e.contains("run `ptenv lock`"), "{e}");
        let e = missing(Path::new("/p")).to_string();
        assert!(e.contains("there is no ptenv.lock in /p"), "{e}");
    }
}
