//! `ptenv lock`: resolve every profile of the project (the selection for this host, or for the
//! machine given by `--driver`/`--gpu`), ask the registry for each image's digest, and write
//! `ptenv.lock`; `--check` compares instead and fails when the lock is stale (CI). Also the
//! hook `ptenv up` calls ([`for_up`]) to start from the locked digest.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::Ctx;
use crate::atomic;
use crate::cli::LockArgs;
use crate::dependencies::Dependencies;
use crate::engine::distribution::RegistryImage;
use crate::engine::recipe::Recipe;
use crate::engine::{block_on, Engine};
use crate::error::{Error, Result};
use crate::gpu::{self, HostFacts, Source};
use crate::identity::User;
use crate::lock::{self, Derived, Entry, Lock, Settings, Target, LOCK_FILE};
use crate::output::Printer;
use crate::profile::{self, Layer, Mode, Profile, Sources};
use crate::project::hex;
use crate::select::{self, Choice};

pub fn run(ctx: &Ctx, args: LockArgs) -> Result<i32> {
    let p = &ctx.printer;
    let path = ctx.project.join(LOCK_FILE);
    let sources = profile::load_sources(&ctx.project)?;
    super::trust::require(
        ctx,
        &sources,
        super::trust::Gate::Apply {
            trust_flag: args.trust,
        },
    )?;
    let old = read(&path)?;
    let flags = args.driver.is_some() || !args.gpu.is_empty();
    let facts = match &old {
        // CI checks the lock for the machine it was made for, which CI usually is not.
        Some(l) if args.check && !flags => facts_of(&l.target)?,
        _ => gpu::facts_for(args.driver.as_deref(), &args.gpu)?,
    };
    if args.check && old.is_none() {
        return Err(Error::new(format!(
            "there is no {LOCK_FILE} in {}",
            ctx.project.display()
        ))
        .hint("run `ptenv lock` and commit ptenv.lock")
        .hint(
            "with --driver/--gpu it pins the images for the team's machines instead of this one",
        ));
    }
    let new = block_on(resolve(&ctx.project, &sources, &facts, p))?;
    let changes = old
        .as_ref()
        .map(|o| lock::changes(o, &new))
        .unwrap_or_default();
    if args.check {
        let json =
            serde_json::json!({ "path": path, "stale": !changes.is_empty(), "changes": changes });
        if changes.is_empty() {
            p.json(&json);
            p.info(format!(
                "{LOCK_FILE} is up to date: {} profile{} pinned for {}",
                new.profiles.len(),
                plural(new.profiles.len()),
                new.target.describe()
            ));
            return Ok(0);
        }
        let mut message = format!("{LOCK_FILE} is stale:");
        for c in &changes {
            message.push_str(&format!("\n  - {c}"));
        }
        return Err(Error::new(message)
            .hint("run `ptenv lock` (with the same --driver/--gpu, if any) and commit ptenv.lock")
            .hint("`git diff ptenv.lock` then shows what changed"));
    }
    let unchanged = old.as_ref() == Some(&new);
    if !unchanged {
        write(&path, &lock::render(&new))?;
    }
    report(p, &new, &path, old.is_some(), unchanged, &changes);
    Ok(0)
}

/// What `ptenv lock` says: the pinned references on stdout, one per profile; on stderr what
/// changed and for which machine.
fn report(
    p: &Printer,
    new: &Lock,
    path: &Path,
    existed: bool,
    unchanged: bool,
    changes: &[String],
) {
    p.json(&serde_json::json!({
        "path": path,
        "written": !unchanged,
        "changes": changes,
        "lock": new,
    }));
    let n = new.profiles.len();
    if unchanged {
        p.info(format!(
            "{LOCK_FILE} is up to date ({n} profile{}, for {})",
            plural(n),
            new.target.describe()
        ));
    } else {
        p.info(format!(
            "{} {} for {}: {n} profile{} pinned by digest",
            if existed { "Updated" } else { "Wrote" },
            path.display(),
            new.target.describe(),
            plural(n)
        ));
        for c in changes {
            p.info(format!("  - {c}"));
        }
    }
    let width = new.profiles.keys().map(String::len).max().unwrap_or(0);
    for (name, e) in &new.profiles {
        p.result(format!("{name:<width$}  {}", e.reference()));
        p.detail(format!("{:<width$}  ({})", "", e.image));
    }
    if !unchanged {
        p.info("Commit ptenv.lock: `ptenv up` then starts every checkout from these digests.");
    }
}

/// The lock `ptenv lock` would write now for the machine of `facts`.
async fn resolve(
    project: &Path,
    sources: &Sources,
    facts: &HostFacts,
    p: &Printer,
) -> Result<Lock> {
    let mut chosen = Vec::new();
    for name in profile_names(sources) {
        let in_profile = |e: Error| e.context(format!("profile `{name}`"));
        let profile = sources
            .resolve(&name, &Layer::default())
            .map_err(in_profile)?;
        let choice = select::choose(&profile, facts).map_err(in_profile)?;
        let (deps, _) = super::dependencies(project, &profile, &choice).map_err(in_profile)?;
        chosen.push((name, profile, choice, deps));
    }
    // Only now the engine: a profile that cannot be chosen fails without it.
    let engine = Engine::connect().await?;
    let platform = lock::platform(&facts.machine);
    let mut asked = BTreeMap::new();
    let mut profiles = BTreeMap::new();
    for (name, profile, choice, deps) in chosen {
        let wanted = Wanted {
            image: &choice.image,
            platform: &platform,
            dependencies: &deps,
        };
        let entry = entry_for(&engine, &profile, &wanted, &mut asked, p).await?;
        profiles.insert(name, entry);
    }
    Ok(Lock {
        version: lock::VERSION,
        target: target_of(facts),
        profiles,
    })
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

/// What one profile's entry is made for.
struct Wanted<'a> {
    image: &'a str,
    platform: &'a str,
    dependencies: &'a Dependencies,
}

/// One profile's entry; the registry is asked once per image (profiles often share one).
async fn entry_for(
    engine: &Engine,
    profile: &Profile,
    wanted: &Wanted<'_>,
    asked: &mut BTreeMap<String, RegistryImage>,
    p: &Printer,
) -> Result<Entry> {
    let (image, platform) = (wanted.image, wanted.platform);
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
        derived: Derived::of(
            profile,
            String::new(),
            crate::dependencies::hashes(wanted.dependencies),
        ),
    };
    entry.derived.recipe = recipe_hash(profile, &entry.reference(), wanted.dependencies)?;
    Ok(entry)
}

/// `sha256:` of the Dockerfile of the derived image on `base` (the pinned reference), for the
/// reference user 1000:1000: the UID/GID are each machine's own and filled in at `up`.
fn recipe_hash(profile: &Profile, base: &str, dependencies: &Dependencies) -> Result<String> {
    let user = User::for_ids(1000, 1000);
    let recipe = Recipe {
        base,
        base_id: "",
        base_user: None,
        mode: profile.mode,
        packages: &profile.packages,
        user: &user,
        sudo: profile.sudo,
        dependencies: Some(dependencies),
    };
    Ok(format!(
        "sha256:{}",
        hex(&Sha256::digest(recipe.dockerfile()?.as_bytes()))
    ))
}

/// The machine of `facts` as the lock records it. A host whose driver shows no GPU is
/// recorded as the CPU, which is what the selection made of it.
fn target_of(facts: &HostFacts) -> Target {
    let cpu = facts.gpus.is_empty() && facts.source != Source::Override;
    Target {
        machine: facts.machine.clone(),
        driver: if cpu { None } else { facts.driver.clone() },
        gpus: facts.gpus.iter().map(|g| g.cc_str()).collect(),
    }
}

/// The facts of the machine a lock was made for, to resolve again as it was resolved.
fn facts_of(t: &Target) -> Result<HostFacts> {
    let mut facts = match &t.driver {
        Some(d) => gpu::from_overrides(Some(d), &t.gpus).map_err(|e| {
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
pub fn pinned(project: &Path, profile: &Profile) -> Result<Option<lock::Entry>> {
    let entry = read(&project.join(LOCK_FILE))?.and_then(|mut l| l.profiles.remove(&profile.name));
    if let Some(e) = &entry {
        e.check_pins(profile)?;
    }
    Ok(entry)
}

/// The lock file, if there is one.
fn read(path: &Path) -> Result<Option<Lock>> {
    match std::fs::read_to_string(path) {
        Ok(text) => lock::parse(&text, path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::new(format!("cannot read {}: {e}", path.display()))
            .hint("check the file's permissions (it must be readable by you)")),
    }
}

/// A reader never sees half a lock.
fn write(path: &Path, text: &str) -> Result<()> {
    atomic::write(
        path,
        text.as_bytes(),
        atomic::Mode::KeepOr(0o644),
        atomic::Owner::Inherit,
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `ptenv up`'s use of the lock, given this host's `facts` and the fresh `choice`: the choice
/// to start from. Without a lock, or without an entry for the profile, the fresh choice (said).
/// With one: the locked image by digest; when this host would now choose another image, the
/// difference is explained and the lock kept, unless `relock`; when the locked image cannot run
/// here, a refusal with the reason and the fix.
pub fn for_up(
    ctx: &Ctx,
    profile: &Profile,
    facts: &HostFacts,
    choice: Choice,
    relock: bool,
    dry_run: bool,
) -> Result<Choice> {
    let p = &ctx.printer;
    let path = ctx.project.join(LOCK_FILE);
    let Some(lock) = read(&path)? else {
        if relock {
            p.warn(format!(
                "there is no {LOCK_FILE} to rewrite (`--relock`); `ptenv lock` creates one"
            ));
        }
        return Ok(choice);
    };
    let name = &profile.name;
    let here = target_of(facts);
    let Some(entry) = lock.profiles.get(name) else {
        if relock {
            return relocked(ctx, profile, facts, choice, dry_run);
        }
        p.warn(format!(
            "{LOCK_FILE} has no entry for profile `{name}`: using {} by tag; `ptenv lock` pins it",
            choice.image
        ));
        return Ok(choice);
    };
    let settings = Settings::of(profile).changes_from(&entry.settings);
    if !settings.is_empty() {
        if relock {
            return relocked(ctx, profile, facts, choice, dry_run);
        }
        return Err(Error::new(format!(
            "{LOCK_FILE} pins profile `{name}` for other settings than it has now: {}",
            settings.join(", ")
        ))
        .hint("`ptenv lock` pins the image for the new settings (commit ptenv.lock); `ptenv up --relock` does that and starts")
        .hint("settings given as flags are not locked: put them in ptenv.yaml first"));
    }
    let (deps, _) = super::dependencies(&ctx.project, profile, &choice)?;
    let derived = Derived::of(
        profile,
        recipe_hash(profile, &entry.reference(), &deps)?,
        crate::dependencies::hashes(&deps),
    );
    let derived_changes = derived.changes_from(&entry.derived);
    if relock && (choice.image != entry.image || !derived_changes.is_empty()) {
        return relocked(ctx, profile, facts, choice, dry_run);
    }
    entry.check_pins(profile)?;
    if choice.image != entry.image {
        p.info(format!(
            "This machine would now get {}, but {LOCK_FILE} pins {} for profile `{name}`: it was locked for {}, and this is {}. Keeping the lock; `ptenv up --relock` pins {} instead.",
            choice.image,
            entry.image,
            lock.target.describe(),
            here.describe(),
            choice.image
        ));
    }
    let why = select::misfits_of(profile, &entry.image, facts)?;
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
    if !derived_changes.is_empty() {
        p.warn(format!(
            "{LOCK_FILE} is stale for profile `{name}`: the derived image's inputs changed ({}); building from ptenv.yaml as it is now. `ptenv lock` updates the lock",
            derived_changes.join(", ")
        ));
    }
    p.info(format!(
        "Using {LOCK_FILE}: {} pinned at {}",
        entry.image,
        lock::short(&entry.digest)
    ));
    let mut locked = if choice.image == entry.image {
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
    Ok(locked)
}

/// `--relock`: `ptenv lock` for this host, then start from the new entry of the profile.
fn relocked(
    ctx: &Ctx,
    profile: &Profile,
    facts: &HostFacts,
    choice: Choice,
    dry_run: bool,
) -> Result<Choice> {
    let p = &ctx.printer;
    if dry_run {
        p.info(format!(
            "--relock would pin {} in {LOCK_FILE} (--dry-run changes nothing)",
            choice.image
        ));
        return Ok(choice);
    }
    let path = ctx.project.join(LOCK_FILE);
    let sources = profile::load_sources(&ctx.project)?;
    let new = block_on(resolve(&ctx.project, &sources, facts, p))?;
    let old = read(&path)?;
    let changes = old
        .as_ref()
        .map(|o| lock::changes(o, &new))
        .unwrap_or_default();
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
    write(&path, &lock::render(&new))?;
    p.info(format!(
        "Relocked {} for {}:",
        path.display(),
        new.target.describe()
    ));
    for c in &changes {
        p.info(format!("  - {c}"));
    }
    p.info(format!(
        "Using {LOCK_FILE}: {} pinned at {}; commit ptenv.lock to share it",
        entry.image,
        lock::short(&entry.digest)
    ));
    let mut locked = choice;
    locked.image = entry.reference();
    Ok(locked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Packages;

    #[test]
    fn the_target_round_trips_to_the_same_selection_facts() {
        let gpus = ["8.6".to_string(), "9.0".to_string()];
        let planned = gpu::facts_for(Some("550.54.15"), &gpus).unwrap();
        let t = target_of(&planned);
        assert_eq!(t.driver.as_deref(), Some("550.54.15"));
        assert_eq!(t.gpus, gpus);
        let back = facts_of(&t).unwrap();
        assert_eq!(back.driver, planned.driver);
        assert_eq!(back.gpus, planned.gpus);
        // `--driver` alone: GPUs unknown, the driver kept.
        let driver_only = target_of(&gpu::facts_for(Some("535.104.05"), &[]).unwrap());
        assert_eq!(driver_only.driver.as_deref(), Some("535.104.05"));
        assert!(driver_only.gpus.is_empty());
        // A detected driver without GPUs was chosen for as the CPU, and is recorded so.
        let no_gpu = HostFacts {
            driver: Some("550.54.15".into()),
            source: Source::Nvml,
            machine: "x86_64".into(),
            ..HostFacts::default()
        };
        let t = target_of(&no_gpu);
        assert_eq!(t.driver, None);
        let cpu = facts_of(&t).unwrap();
        assert_eq!((cpu.driver, cpu.machine.as_str()), (None, "x86_64"));
    }

    #[test]
    fn the_recipe_hash_follows_the_base_and_the_packages_not_the_machine() {
        let sources = Sources::default();
        let none = Dependencies::default();
        let mut profile = sources.resolve("shell", &Layer::default()).unwrap();
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
                profile::Source {
                    origin: profile::Origin::User("/home/u/.config/ptenv/config.yaml".into()),
                    layer: user,
                },
                profile::Source {
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
            target: Target {
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
