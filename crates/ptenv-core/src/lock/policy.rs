//! What `ptenv up` does with a lock: keep the choice, swap in the pinned digest, ask for a
//! relock, or refuse; a typed outcome that the caller words.

use super::*;

/// What `ptenv up` does with the project's lock for one profile, decided by [`for_up`].
#[derive(Debug, Clone)]
pub enum ForUp {
    /// There is no lock: the fresh choice.
    NoLock,
    /// The lock has no entry for the profile: the fresh choice, by tag.
    NoEntry,
    /// `--relock`, and the lock differs from what this host resolves now: resolve and write
    /// the lock again, then start from its new entry.
    Relock,
    /// Start from the locked digest.
    Pinned(Box<Pinned>),
}

/// The locked image `ptenv up` starts from, and what the caller tells the user about it.
#[derive(Debug, Clone)]
pub struct Pinned {
    /// The choice to start from: `image` is the pinned `repository@sha256:…`, the reasons and
    /// warnings are about the locked image.
    pub choice: Choice,
    /// The lock's entry for the profile.
    pub entry: Entry,
    /// The machine the lock was made for.
    pub locked_for: TargetMachine,
    /// This machine, as the lock would record it.
    pub here: TargetMachine,
    /// The image this machine would choose now, when the lock pins another one.
    pub would_choose: Option<String>,
    /// The derived image's inputs that changed since the lock was written (the lock is kept,
    /// the image is built from ptenv.yaml as it is now).
    pub derived_changes: Vec<String>,
}

/// `ptenv up`'s use of the lock, given this host's `facts` and the fresh `choice`.
/// `recipe_hash` gives the hash of the derived image's Dockerfile on a pinned reference (see
/// [`Derived::recipe`]). Errors are refusals: the profile's settings differ from the locked
/// ones (without `relock`), the entry pins another repository, or the locked image cannot run
/// here (with the reason and the fix).
pub fn for_up(
    lock: Option<&Lock>,
    profile: &Profile,
    facts: &HostFacts,
    choice: Choice,
    relock: bool,
    recipe_hash: impl Fn(&str) -> Result<String>,
    dependency_hashes: BTreeMap<String, String>,
) -> Result<ForUp> {
    let Some(lock) = lock else {
        return Ok(ForUp::NoLock);
    };
    let name = &profile.name;
    let here = TargetMachine::of(facts);
    let Some(entry) = lock.profiles.get(name) else {
        return Ok(if relock {
            ForUp::Relock
        } else {
            ForUp::NoEntry
        });
    };
    let settings = Settings::of(profile).changes_from(&entry.settings);
    if !settings.is_empty() {
        if relock {
            return Ok(ForUp::Relock);
        }
        return Err(Error::new(format!(
            "{LOCK_FILE} pins profile `{name}` for other settings than it has now: {}",
            settings.join(", ")
        ))
        .hint("`ptenv lock` pins the image for the new settings (commit ptenv.lock); `ptenv up --relock` does that and starts")
        .hint("settings given as flags are not locked: put them in ptenv.yaml first"));
    }
    let derived = Derived::of(profile, recipe_hash(&entry.reference())?, dependency_hashes);
    let derived_changes = derived.changes_from(&entry.derived);
    if relock && (choice.image != entry.image || !derived_changes.is_empty()) {
        return Ok(ForUp::Relock);
    }
    entry.check_pins(profile)?;
    let mut why = select::misfits_of(profile, &entry.image, facts)?;
    // An image the catalog does not describe: what it said about itself when it was locked.
    let tag_known = crate::catalog::parse_tag(&entry.image)
        .and_then(|t| crate::catalog::find(&t.pytorch, t.cuda))
        .is_some();
    if let (false, Some(recorded)) = (tag_known, &entry.facts) {
        let v = select::judge_image(
            profile,
            &entry.image,
            None,
            &recorded.to_image_facts(&entry.platform),
            facts,
        )?;
        why.extend(v.refusals.iter().map(|r| r.text.clone()));
    }
    if !why.is_empty() {
        let mut e = Error::new(format!(
            "the image {LOCK_FILE} pins for profile `{name}`, {}, cannot run here ({}): it {}",
            entry.image,
            here.describe(),
            why.join("; it ")
        ));
        if choice.image != entry.image {
            e = e.hint(format!(
                "`ptenv up --relock` pins {}, which fits this machine; commit ptenv.lock if the team should use it too",
                choice.image
            ));
        }
        return Err(e
            .hint(format!(
                "the lock was made for {}; to keep one image for every machine of the team, lock for the oldest of them: `ptenv lock --driver <version> --gpu <cc>`",
                lock.target.describe()
            ))
            .hint("or run on the CPU: `--gpus none`"));
    }
    let would_choose = (choice.image != entry.image).then(|| choice.image.clone());
    let mut locked = if would_choose.is_none() {
        choice
    } else {
        // The reasons and warnings must be about the image that runs, not the one not taken.
        let pinned = Profile {
            image: Some(entry.image.clone()),
            ..profile.clone()
        };
        select::choose(&pinned, facts)?
    };
    locked.image = entry.reference();
    Ok(ForUp::Pinned(Box::new(Pinned {
        choice: locked,
        entry: entry.clone(),
        locked_for: lock.target.clone(),
        here,
        would_choose,
        derived_changes,
    })))
}
