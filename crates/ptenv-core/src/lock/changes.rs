//! What made a lock stale, said in sentences: entries added, removed, re-resolved or pushed
//! again.

use super::*;

/// Why `old` (the file) differs from `new` (what `ptenv lock` resolves now): one sentence per
/// change, in a stable order; empty when the lock is current.
pub fn changes(old: &Lock, new: &Lock) -> Vec<String> {
    let mut out = Vec::new();
    if old.target != new.target {
        out.push(format!(
            "the lock was made for {}; this check resolved for {}",
            old.target.describe(),
            new.target.describe()
        ));
    }
    for (name, o) in &old.profiles {
        match new.profiles.get(name) {
            None => out.push(format!("profile `{name}` is locked but no longer defined")),
            Some(n) => out.extend(entry_changes(name, o, n)),
        }
    }
    for name in new.profiles.keys() {
        if !old.profiles.contains_key(name) {
            out.push(format!("profile `{name}` is not in the lock"));
        }
    }
    out
}

/// What changed in one profile's entry.
pub fn entry_changes(name: &str, old: &Entry, new: &Entry) -> Vec<String> {
    let mut out = Vec::new();
    let settings = new.settings.changes_from(&old.settings);
    if !settings.is_empty() {
        out.push(format!(
            "profile `{name}`: its settings changed: {}",
            settings.join(", ")
        ));
    }
    if old.image != new.image {
        out.push(format!(
            "profile `{name}`: the selected image is now {} (locked: {})",
            new.image, old.image
        ));
    } else if old.digest != new.digest {
        out.push(format!(
            "profile `{name}`: {} now has digest {} in the registry (locked: {}): the tag was pushed again",
            new.image, new.digest, old.digest
        ));
    }
    if old.platform != new.platform {
        out.push(format!(
            "profile `{name}`: platform {} → {}",
            old.platform, new.platform
        ));
    }
    let derived = new.derived.changes_from(&old.derived);
    if !derived.is_empty() {
        out.push(format!(
            "profile `{name}`: the derived image's inputs changed: {}",
            derived.join(", ")
        ));
    }
    out
}

pub(super) fn list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

/// `sha256:0123456789ab…` for sentences.
pub fn short(digest: &str) -> String {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() > 12 => format!("sha256:{}…", &hex[..12]),
        _ => digest.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::tests::{entry, lock, D1, D2};

    #[test]
    fn a_repushed_tag_is_named_with_both_digests() {
        let old = lock();
        let mut new = old.clone();
        new.profiles.get_mut("shell").unwrap().digest = D2.into();
        let c = changes(&old, &new);
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(c[0].contains("profile `shell`"), "{c:?}");
        assert!(c[0].contains("pushed again"), "{c:?}");
        assert!(c[0].contains(D1) && c[0].contains(D2), "{c:?}");
    }

    #[test]
    fn every_kind_of_staleness_is_said() {
        let old = lock();
        let mut new = old.clone();
        {
            let j = new.profiles.get_mut("jupyter").unwrap();
            j.image = "pytorch/pytorch:2.7.0-cuda12.6-cudnn9-runtime".into();
            j.settings.pytorch = "2.7".into();
            j.derived.pip = vec!["numpy>=2".into()];
        }
        new.profiles.remove("shell");
        new.profiles
            .insert("train".into(), entry("pytorch/pytorch:x", D1));
        new.target.driver = None;
        new.target.gpus.clear();
        let c = changes(&old, &new).join("\n");
        for want in [
            "the lock was made for a machine with NVIDIA driver 550.54.15 and GPU of compute capability 8.6; this check resolved for a machine without an NVIDIA GPU",
            "profile `jupyter`: its settings changed: pytorch 2.6 → 2.7",
            "profile `jupyter`: the selected image is now pytorch/pytorch:2.7.0-cuda12.6-cudnn9-runtime",
            "profile `jupyter`: the derived image's inputs changed: pip [] → [numpy>=2]",
            "profile `shell` is locked but no longer defined",
            "profile `train` is not in the lock",
        ] {
            assert!(c.contains(want), "missing `{want}` in:\n{c}");
        }
        // A dependency file changed: named.
        let mut d = old.profiles["shell"].derived.clone();
        d.dependencies
            .insert("requirements.txt".into(), "abc".into());
        let mut e = d.clone();
        e.dependencies
            .insert("requirements.txt".into(), "def".into());
        assert_eq!(
            e.changes_from(&d),
            vec!["dependency files changed: requirements.txt".to_string()]
        );
        // Only the recipe hash moved: said as such.
        let mut d = old.profiles["shell"].derived.clone();
        d.recipe = D2.into();
        assert_eq!(
            d.changes_from(&old.profiles["shell"].derived),
            vec!["recipe sha256:111111111111… → sha256:222222222222…".to_string()]
        );
    }
}
