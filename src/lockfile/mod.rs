//! `ptenv.lock` on this machine: reading and writing the file, resolving a new lock against
//! the registry (`ptenv lock`, `ptenv up --relock`), and applying the lock to the image `up` and
//! `export` start from. The rules (what a lock may pin, when it is stale, what `up` does with
//! it) are the pure `crate::lock`; this module does the I/O around them and returns typed
//! outcomes that the commands word.

mod update;

pub use update::{update, Request, Updated};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::atomic;
use crate::dependencies::Dependencies;
use crate::engine::distribution::RegistryImage;
use crate::engine::recipe::Recipe;
use crate::engine::{block_on, Engine};
use crate::error::{Error, Result};
use crate::gpu::{self, HostFacts};
use crate::identity::User;
use crate::lock::{self, Derived, Entry, ForUp, Lock, Pinned, Settings, TargetMachine, LOCK_FILE};
use crate::output::Printer;
use crate::profile::{self, Layer, Mode, Profile, Sources};
use crate::project::hex;
use crate::select::{self, Choice};

/// The lock `ptenv lock` would write now for the machine of `facts`. `p` shows, with `-v`,
/// which images the registry is asked about. An entry whose digest is unchanged keeps the
/// facts `old` recorded; `probe`: read the facts of the others from the image when it is on
/// this machine (not for `--check`, which changes nothing).
pub async fn resolve(
    project: &Path,
    sources: &Sources,
    facts: &HostFacts,
    p: &Printer,
    old: Option<&Lock>,
    probe: bool,
) -> Result<Lock> {
    let mut chosen = Vec::new();
    for name in profile_names(sources) {
        let in_profile = |e: Error| e.context(format!("profile `{name}`"));
        let profile = sources
            .resolve(&name, &Layer::default())
            .map_err(in_profile)?;
        let choice = select::choose(&profile, facts)
            .map_err(Error::from)
            .map_err(in_profile)?;
        let (deps, _) =
            crate::project::dependencies(project, &profile, &choice).map_err(in_profile)?;
        chosen.push((name, profile, choice, deps));
    }
    // Only now the engine: a profile that cannot be chosen fails without it.
    let engine = Engine::connect().await?;
    let platform = lock::platform(&facts.machine);
    let mut asked = BTreeMap::new();
    let mut profiles = BTreeMap::new();
    let mut unresolved = false;
    for (name, profile, choice, deps) in chosen {
        let at = (choice.image.as_str(), platform.as_str());
        let mut entry = entry_for(&engine, &profile, at, &deps, &mut asked, p).await?;
        entry.facts = old
            .and_then(|l| l.profiles.get(&name))
            .filter(|o| o.digest == entry.digest)
            .and_then(|o| o.facts.clone());
        if entry.facts.is_none() && probe {
            entry.facts = probed_facts(&engine, &entry, p).await?;
        }
        if !deps.pip.is_empty() {
            let old = old.and_then(|l| l.profiles.get(&name));
            entry.derived.resolved = resolved(&engine, project, &entry, old).await?;
            unresolved |= entry.derived.resolved.is_empty();
        }
        profiles.insert(name, entry);
    }
    if unresolved {
        p.info(format!(
            "no image built here installs the project's dependency files as they are now, so {LOCK_FILE} records no resolved versions for them; after `ptenv up`, `ptenv lock` records them"
        ));
    }
    Ok(Lock {
        version: lock::VERSION,
        target: TargetMachine::of(facts),
        profiles,
    })
}

/// What the dependency layer resolved, from the image `ptenv up` built here for the same
/// dependency files; else what `old` recorded for the same files (a machine without the image,
/// e.g. CI, keeps it), else nothing yet.
async fn resolved(
    engine: &Engine,
    project: &Path,
    entry: &Entry,
    old: Option<&Entry>,
) -> Result<Vec<String>> {
    let files = &entry.derived.dependencies;
    let project = project.display().to_string();
    if let Some(built) = engine.resolved_dependencies(&project, files).await? {
        return Ok(built);
    }
    Ok(old
        .filter(|o| o.derived.dependencies == *files)
        .map(|o| o.derived.resolved.clone())
        .unwrap_or_default())
}

/// The profiles a lock covers: the built-in ones and those the project defines. Profiles only
/// in the user's own config are left out: the lock is shared, the user config is not.
fn profile_names(sources: &Sources) -> Vec<String> {
    let mut names: Vec<String> = Mode::ALL.iter().map(|m| m.to_string()).collect();
    for s in &sources.files {
        if let profile::Origin::Project(_) = s.origin {
            for name in s.layer.profiles.iter().flatten().map(|(n, _)| n) {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
    }
    names
}

/// For each entry with recorded facts: why its image cannot run on the machine of `facts`
/// (`select::judge_image`), one sentence per profile.
pub fn misfits_by_facts(sources: &Sources, lock: &Lock, facts: &HostFacts) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (name, entry) in &lock.profiles {
        let Some(recorded) = &entry.facts else {
            continue;
        };
        let profile = sources.resolve(name, &Layer::default())?;
        let line = crate::catalog::parse_tag(&entry.image)
            .and_then(|t| crate::catalog::find(&t.pytorch, t.cuda));
        let v = select::judge_image(
            &profile,
            &entry.image,
            line,
            &recorded.to_image_facts(&entry.platform),
            facts,
        )?;
        if !v.runs {
            out.push(format!(
                "profile `{name}`: {} cannot run on {}, by what the image contains: it {}",
                entry.image,
                TargetMachine::of(facts).describe(),
                v.refusal_text()
            ));
        }
    }
    Ok(out)
}

/// The facts of the pinned digest, when this machine has it (reading them is the probe of
/// `ptenv up`, cached by image ID); `None`, said, when it does not: pulling gigabytes is
/// `up`'s decision.
async fn probed_facts(engine: &Engine, entry: &Entry, p: &Printer) -> Result<Option<lock::Facts>> {
    let reference = entry.reference();
    if engine.image_id(&reference).await?.is_none() {
        p.info(format!(
            "{} is not on this machine, so {LOCK_FILE} records no facts read from it; after `ptenv up` (or `docker pull {reference}`), `ptenv lock` records them",
            entry.image
        ));
        return Ok(None);
    }
    Ok(Some(lock::Facts::of(
        &crate::probe::facts(engine, &reference, p).await?.facts,
    )))
}

/// One profile's entry; the registry is asked once per image (profiles often share one).
async fn entry_for(
    engine: &Engine,
    profile: &Profile,
    (image, platform): (&str, &str),
    deps: &Dependencies,
    asked: &mut BTreeMap<String, RegistryImage>,
    p: &Printer,
) -> Result<Entry> {
    let found = match asked.get(image) {
        Some(f) => f.clone(),
        None => {
            p.detail(format!("asking the registry for the digest of {image}"));
            let f = engine.registry_image(image).await?;
            asked.insert(image.to_string(), f.clone());
            f
        }
    };
    let runs_here = found.platforms.is_empty()
        || found
            .platforms
            .iter()
            .any(|x| x == platform || x.starts_with(&format!("{platform}/")));
    if !runs_here {
        return Err(Error::new(format!(
            "{image} has no {platform} image in the registry (it has {})",
            found.platforms.join(", ")
        ))
        .hint("lock on (or for) a machine of a platform the image provides, or push a multi-arch image"));
    }
    let mut entry = Entry {
        settings: Settings::of(profile),
        image: image.to_string(),
        digest: found.digest,
        media_type: found.media_type,
        platform: platform.to_string(),
        derived: Derived::of(profile, String::new(), crate::dependencies::hashes(deps)),
        facts: None,
    };
    entry.derived.recipe = recipe_hash(profile, &entry.reference(), deps)?;
    Ok(entry)
}

/// `sha256:` of the Dockerfile of the derived image on `base` (the pinned reference), for the
/// reference user 1000:1000: the UID/GID are each machine's own and filled in at `up`.
pub fn recipe_hash(profile: &Profile, base: &str, deps: &Dependencies) -> Result<String> {
    let user = User::for_ids(1000, 1000);
    let recipe = Recipe {
        base,
        base_id: "",
        base_user: None,
        mode: profile.mode,
        packages: &profile.packages,
        user: &user,
        sudo: profile.sudo,
        dependencies: Some(deps),
    };
    Ok(format!(
        "sha256:{}",
        hex(&Sha256::digest(recipe.dockerfile()?.as_bytes()))
    ))
}

/// The facts of the machine a lock was made for, to resolve again as it was resolved.
pub fn facts_of(t: &TargetMachine) -> Result<HostFacts> {
    let mut facts = match &t.driver {
        Some(d) => gpu::from_overrides(Some(d.as_str()), &t.gpus).map_err(|e| {
            e.context(format!("{LOCK_FILE}: `target`"))
                .hint("run `ptenv lock` to write the file again")
        })?,
        None => HostFacts::default(),
    };
    facts.machine = t.machine.clone();
    Ok(facts)
}

/// The entry of `ptenv.lock` for `profile`, if the project has a lock that pins it: the image
/// `ptenv up` runs for it (doctor judges that one).
pub fn pinned(project: &Path, profile: &Profile) -> Result<Option<Entry>> {
    let entry = read(&project.join(LOCK_FILE))?.and_then(|mut l| l.profiles.remove(&profile.name));
    if let Some(e) = &entry {
        e.check_pins(profile)?;
    }
    Ok(entry)
}

/// The lock file, if there is one.
pub fn read(path: &Path) -> Result<Option<Lock>> {
    match std::fs::read_to_string(path) {
        Ok(text) => lock::parse(&text, path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::new(format!("cannot read {}: {e}", path.display()))
            .hint("check the file's permissions (it must be readable by you)")),
    }
}

/// A reader never sees half a lock.
pub fn write(path: &Path, text: &str) -> Result<()> {
    atomic::write(
        path,
        text.as_bytes(),
        atomic::Mode::KeepOr(0o644),
        atomic::Owner::Inherit,
    )
}

/// What applying the lock gave `up` (or `export`): the choice to start from and what to tell
/// the user about it ([`Applied::say`]).
#[derive(Debug)]
pub struct Applied {
    pub choice: Choice,
    pub how: How,
}

/// How the choice came out of the lock.
#[derive(Debug)]
pub enum How {
    /// No lock: the fresh choice. `relock`: `--relock` was given, with nothing to rewrite.
    NoLock { relock: bool },
    /// The lock has no entry for the profile: the fresh choice, by tag.
    NoEntry,
    /// `--relock --dry-run`: what would be pinned; nothing was written.
    WouldRelock,
    /// `--relock`: the lock was written again for this machine.
    Relocked {
        path: PathBuf,
        target: TargetMachine,
        changes: Vec<String>,
        entry: Box<Entry>,
    },
    /// The locked digest.
    Pinned(Box<Pinned>),
}

/// `ptenv up`'s use of the project's lock, given this host's `facts` and the fresh `choice`:
/// the decision is [`lock::for_up`]; `--relock` resolves and writes the lock again (not with
/// `dry_run`).
pub fn apply(
    project: &Path,
    profile: &Profile,
    facts: &HostFacts,
    choice: Choice,
    relock: bool,
    dry_run: bool,
    p: &Printer,
) -> Result<Applied> {
    let path = project.join(LOCK_FILE);
    let old = read(&path)?;
    let (deps, _) = crate::project::dependencies(project, profile, &choice)?;
    let how = match lock::for_up(
        old.as_ref(),
        profile,
        facts,
        choice.clone(),
        relock,
        |base| recipe_hash(profile, base, &deps),
        crate::dependencies::hashes(&deps),
    )? {
        ForUp::NoLock => How::NoLock { relock },
        ForUp::NoEntry => How::NoEntry,
        ForUp::Pinned(pinned) => {
            return Ok(Applied {
                choice: pinned.choice.clone(),
                how: How::Pinned(pinned),
            })
        }
        ForUp::Relock if dry_run => How::WouldRelock,
        ForUp::Relock => {
            return relock_for(project, &path, old.as_ref(), profile, facts, choice, p)
        }
    };
    Ok(Applied { choice, how })
}

/// `--relock`: `ptenv lock` for this host, then start from the new entry of the profile.
fn relock_for(
    project: &Path,
    path: &Path,
    old: Option<&Lock>,
    profile: &Profile,
    facts: &HostFacts,
    choice: Choice,
    p: &Printer,
) -> Result<Applied> {
    let sources = profile::load_sources(project)?;
    let new = block_on(resolve(project, &sources, facts, p, old, true))?;
    let changes = old.map(|o| lock::changes(o, &new)).unwrap_or_default();
    let Some(entry) = new.profiles.get(&profile.name) else {
        return Err(Error::new(format!(
            "profile `{}` is not a profile of the project, so `--relock` cannot pin it",
            profile.name
        ))
        .hint("define it under `profiles:` in ptenv.yaml"));
    };
    let settings = Settings::of(profile).changes_from(&entry.settings);
    if !settings.is_empty() {
        return Err(Error::new(format!(
            "the flags change profile `{}` ({}), and {LOCK_FILE} pins profiles as ptenv.yaml defines them",
            profile.name,
            settings.join(", ")
        ))
        .hint("put the settings in ptenv.yaml, then `ptenv up --relock` (or `ptenv lock`)"));
    }
    write(path, &lock::render(&new))?;
    let mut locked = choice;
    locked.image = entry.reference();
    Ok(Applied {
        choice: locked,
        how: How::Relocked {
            path: path.to_path_buf(),
            target: new.target.clone(),
            changes,
            entry: Box::new(entry.clone()),
        },
    })
}

impl Applied {
    /// What the user is told about the lock, in the order it happened.
    pub fn say(&self, profile: &str, p: &Printer) {
        match &self.how {
            How::NoLock { relock: false } => {}
            How::NoLock { relock: true } => p.warn(format!(
                "there is no {LOCK_FILE} to rewrite (`--relock`); `ptenv lock` creates one"
            )),
            How::NoEntry => p.warn(format!(
                "{LOCK_FILE} has no entry for profile `{profile}`: using {} by tag; `ptenv lock` pins it",
                self.choice.image
            )),
            How::WouldRelock => p.info(format!(
                "--relock would pin {} in {LOCK_FILE} (--dry-run changes nothing)",
                self.choice.image
            )),
            How::Relocked {
                path,
                target,
                changes,
                entry,
            } => {
                p.info(format!(
                    "Relocked {} for {}:",
                    path.display(),
                    target.describe()
                ));
                for c in changes {
                    p.info(format!("  - {c}"));
                }
                p.info(format!(
                    "Using {LOCK_FILE}: {} pinned at {}; commit ptenv.lock to share it",
                    entry.image,
                    lock::short(&entry.digest)
                ));
            }
            How::Pinned(pin) => {
                if let Some(fresh) = &pin.would_choose {
                    p.info(format!(
                        "This machine would now get {fresh}, but {LOCK_FILE} pins {} for profile `{profile}`: it was locked for {}, and this is {}. Keeping the lock; `ptenv up --relock` pins {fresh} instead.",
                        pin.entry.image,
                        pin.locked_for.describe(),
                        pin.here.describe(),
                    ));
                }
                if !pin.derived_changes.is_empty() {
                    p.warn(format!(
                        "{LOCK_FILE} is stale for profile `{profile}`: the derived image's inputs changed ({}); building from ptenv.yaml as it is now. `ptenv lock` updates the lock",
                        pin.derived_changes.join(", ")
                    ));
                }
                p.info(format!(
                    "Using {LOCK_FILE}: {} pinned at {}",
                    pin.entry.image,
                    lock::short(&pin.entry.digest)
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::Source;
    use crate::profile::Packages;

    #[test]
    fn the_target_round_trips_to_the_same_selection_facts() {
        let gpus = ["8.6".to_string(), "9.0".to_string()];
        let planned = gpu::facts_for(Some("550.54.15"), &gpus).unwrap();
        let t = TargetMachine::of(&planned);
        assert_eq!(t.driver.as_ref().map(|d| d.as_str()), Some("550.54.15"));
        assert_eq!(t.gpus, gpus);
        let back = facts_of(&t).unwrap();
        assert_eq!(back.driver, planned.driver);
        assert_eq!(back.gpus, planned.gpus);
        // `--driver` alone: GPUs unknown, the driver kept.
        let driver_only = TargetMachine::of(&gpu::facts_for(Some("535.104.05"), &[]).unwrap());
        assert_eq!(
            driver_only.driver.as_ref().map(|d| d.as_str()),
            Some("535.104.05")
        );
        assert!(driver_only.gpus.is_empty());
        // A detected driver without GPUs was chosen for as the CPU, and is recorded so.
        let no_gpu = HostFacts {
            driver: Some(crate::catalog::driver("550.54.15")),
            source: Source::Nvml,
            machine: "x86_64".into(),
            ..HostFacts::default()
        };
        let t = TargetMachine::of(&no_gpu);
        assert_eq!(t.driver, None);
        let cpu = facts_of(&t).unwrap();
        assert_eq!((cpu.driver, cpu.machine.as_str()), (None, "x86_64"));
    }

    #[test]
    fn the_recipe_hash_follows_the_base_and_the_packages_not_the_machine() {
        let sources = Sources::default();
        let mut profile = sources.resolve("shell", &Layer::default()).unwrap();
        let none = Dependencies::default();
        let a = recipe_hash(&profile, "r/p@sha256:aa", &none).unwrap();
        assert_eq!(a, recipe_hash(&profile, "r/p@sha256:aa", &none).unwrap());
        assert!(a.starts_with("sha256:") && a.len() == 71, "{a}");
        assert_ne!(a, recipe_hash(&profile, "r/p@sha256:bb", &none).unwrap());
        profile.packages = Packages {
            apt: vec![],
            pip: vec!["numpy".into()],
        };
        assert_ne!(a, recipe_hash(&profile, "r/p@sha256:aa", &none).unwrap());
    }

    #[test]
    fn the_project_profiles_and_the_built_ins_are_locked_not_the_users_own() {
        let project: Layer =
            serde_yaml::from_str("profiles:\n  train:\n    mode: shell\n").unwrap();
        let user: Layer = serde_yaml::from_str("profiles:\n  mine:\n    mode: shell\n").unwrap();
        let sources = Sources {
            files: vec![
                profile::SourceFile {
                    origin: profile::Origin::User("/home/u/.config/ptenv/config.yaml".into()),
                    layer: user,
                },
                profile::SourceFile {
                    origin: profile::Origin::Project("/p/ptenv.yaml".into()),
                    layer: project,
                },
            ],
        };
        assert_eq!(
            profile_names(&sources),
            vec!["jupyter", "ssh", "shell", "train"]
        );
    }

    #[test]
    fn a_lock_is_written_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        assert_eq!(read(&path).unwrap(), None);
        let l = Lock {
            version: lock::VERSION,
            target: TargetMachine {
                machine: "x86_64".into(),
                driver: None,
                gpus: vec![],
            },
            profiles: BTreeMap::new(),
        };
        write(&path, &lock::render(&l)).unwrap();
        assert_eq!(read(&path).unwrap(), Some(l));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");
    }

    #[test]
    fn a_link_planted_at_a_guessable_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let guess = path.with_extension(format!("lock.tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &guess).unwrap();
        let _ = write(&path, "version: 1\n");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "version: 1\n");
    }
}
