//! Bringing a project's environment up: what `ptenv up` does, and `ptenv shell`/`ptenv ssh`
//! before they do their part. [`prepare`] decides everything that needs no engine (the
//! profile, trust, the image with the lock, the mode's files); [`Up::preview`] says what would
//! happen (`--dry-run`); [`Up::run`] pulls, builds the derived image, reconciles the container
//! with the spec ([`reconcile`]: reuse, start, recreate or create, with the engine's refusals
//! handled) and hands over to the mode (`modes::after_start`). Progress goes through the
//! printer as it happens; the results come back as serializable values for the command to
//! render.

mod gpus;
mod image_check;
mod memlock;
mod ports;
mod reconcile;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::context::Ctx;
use crate::engine::build::Network;
use crate::engine::container::Unfinished;
use crate::engine::recipe::Recipe;
use crate::engine::{block_on, Engine};
use crate::error::{Error, Result, EXIT_INTERRUPTED};
use crate::gpu;
use crate::identity::User;
use crate::lockfile;
use crate::modes::{self, Setup, SetupInput, Started};
use crate::output::Printer;
use crate::plan::{self, Spec};
use crate::profile::{self, Layer, Profile};
use crate::project::{Project, LABEL_CONFIG};
use crate::select::{self, Choice};
use crate::trust_gate::{self, Gate};

pub use reconcile::Action;

/// How long `up` waits, after a Ctrl-C, for the step in progress to say what it interrupted.
const STEP_ANSWER: Duration = Duration::from_secs(5);

/// What the user asked `up` for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The profile; `None`: the project's default.
    pub profile: Option<String>,
    /// The profile settings given as flags (the top layer).
    pub flags: Layer,
    /// `--trust`: apply an untrusted project file for this run.
    pub trust: bool,
    /// `--dry-run`: change nothing (not even ptenv's own data folder).
    pub dry_run: bool,
    /// `--new-token`: a new Jupyter token.
    pub new_token: bool,
    /// `--relock`: write ptenv.lock again when this host resolves another image.
    pub relock: bool,
    /// `--force`: start an image whose own facts say it cannot run here.
    pub force: bool,
}

/// `ptenv up NAME` as other commands (`ssh`, `shell`) run it before doing their part: no dry
/// run, the stored token, no browser; its `--json` document as `up` prints it. The exit code.
pub fn for_command(ctx: &Ctx, name: &str, flags: Layer, detach: bool, trust: bool) -> Result<i32> {
    let request = Request {
        profile: Some(name.to_string()),
        flags,
        trust,
        ..Request::default()
    };
    let outcome = prepare(ctx, &request)?.run(detach, false)?;
    ctx.printer.json(&outcome);
    Ok(outcome.code)
}

/// Everything `up` decided before it talks to the engine.
pub struct Up {
    pub profile: Profile,
    pub choice: Choice,
    /// The project's dependency files, torch lines already checked.
    pub dependencies: crate::dependencies::Dependencies,
    pub project: Project,
    pub setup: Setup,
    /// The machine's GPU facts, for what a failed container's output means here.
    facts: gpu::HostFacts,
    /// Who runs this `up` (the owner label of the containers it makes).
    owner: String,
    /// The same person by name (the user label).
    user_name: String,
    /// The engine's default runtime is `nvidia` (docs/gpus.md §2).
    /// Whether the profile's `ca_bundle` may serve ptenv's registry requests (it comes from the
    /// user's own config, not from the project's file).
    registry_ca_from_profile: bool,
    printer: Printer,
    user: User,
    home: PathBuf,
    host_ram: u64,
    /// `--force`: start an image whose own facts say it cannot run here.
    force: bool,
    /// The engine runs on another machine: the project's files go to a volume there.
    remote: bool,
    /// The ssh connection to that machine, when it is reached over ssh.
    ssh: Option<std::sync::Arc<crate::transport::SshConnection>>,
    /// That machine, for messages.
    server: String,
}

impl Up {
    /// The project's home volume and where it is mounted, for `--dry-run`.
    pub fn home_volume(&self) -> crate::plan::NamedVolume {
        crate::home::volume(&self.project, &self.user)
    }
}

/// Resolves the profile, passes the trust gate, chooses the image (with the lock) and prepares
/// the mode's files; says on the way what the user should know (warnings, the CPU, the lock).
pub fn prepare(ctx: &Ctx, req: &Request) -> Result<Up> {
    let (sources, profile) = ctx.profile(req.profile.as_deref(), &req.flags)?;
    let remote = ctx.machine.is_remote();
    if remote {
        remote_limits(&profile, &ctx.machine.describe())?;
        if ctx.machine.connection().is_none() && profile.mode == crate::profile::Mode::Ssh {
            return Err(Error::new(format!(
                "the ssh mode needs an ssh path to {}: its sshd listens on that machine's loopback, which ptenv reaches only through the Docker API there",
                ctx.machine.describe()
            ))
            .hint("reach the server over ssh instead: --host ssh://USER@HOST (or a docker context with an ssh:// host); `ptenv shell` and `ptenv exec` work over this engine"));
        }
        if let (Some(path), Some(conn)) = (&profile.workspace.host_path, ctx.machine.connection()) {
            crate::workspace::check_server_folder(&conn, path)?;
        }
    } else if let Some(path) = &profile.workspace.host_path {
        say_host_path_is_for_servers(ctx, path);
    }
    let gate = match req.dry_run {
        true => Gate::Preview,
        false => Gate::Apply {
            trust_flag: req.trust,
        },
    };
    trust_gate::require(ctx, &sources, gate)?;
    let p = &ctx.printer;
    let facts = ctx.machine.gpu_facts();
    let project = Project::new(&ctx.project);
    let profile = gpus::decide_count(profile, &facts, ctx.machine.as_ref(), &project, p)?;
    let choice = select::choose(&profile, &facts)?;
    // With a ptenv.lock, the locked digest is the base image (or a refusal says why not).
    let locked = lockfile::apply(
        &ctx.project,
        &profile,
        &facts,
        choice,
        req.relock,
        req.dry_run,
        p,
    )?;
    locked.say(&profile.name, p);
    let choice = locked.choice;
    for w in &choice.warnings {
        p.warn(w);
    }
    say_cpu(p, &choice, &facts, req.flags.gpus.as_ref());
    // The project's dependency files, checked against the image's torch before anything is
    // pulled or built.
    let (dependencies, kept) = crate::project::dependencies(&ctx.project, &profile, &choice)?;
    for s in &kept {
        p.info(s);
    }
    for s in &dependencies.skipped {
        p.warn(s);
    }
    let user = ctx.machine.container_user(&ctx.project);
    if user.is_root() && !remote {
        p.info(format!(
            "The container runs as root: you are root and {} is root's, so what it writes there stays root's, as for any of your processes",
            ctx.project.display()
        ));
    }
    warn_unwritable_workspace(ctx, &user);
    let input = SetupInput {
        user: &user,
        project: &project,
        new_token: req.new_token,
    };
    // A dry run changes nothing, not even ptenv's own data folder.
    let setup = if req.dry_run {
        modes::preview(&profile, &input)?
    } else {
        modes::setup(&profile, &input)?
    };
    for w in &setup.warnings {
        p.warn(w);
    }
    // ptenv's own registry requests carry the user's credentials: a CA that a project file
    // names never vouches for them (the image build may use it; it needed trust for that).
    let registry_ca_from_profile = !sources.project_sets(&profile.name, |l| l.ca_bundle.is_some());
    Ok(Up {
        facts,
        owner: crate::project::owner()?,
        user_name: crate::project::user(),
        registry_ca_from_profile,
        printer: *p,
        profile,
        choice,
        dependencies,
        project,
        user,
        setup,
        home: ctx.machine.home(),
        host_ram: ctx.machine.ram(),
        force: req.force,
        remote,
        ssh: ctx.machine.connection(),
        server: ctx.machine.describe(),
    })
}

/// `--dry-run --json`: the image, the container, what `up` would do with it, and the exact
/// create body. (Fields in alphabetical order, as the JSON has always been written.)
#[derive(Debug, Serialize)]
pub struct Preview {
    pub container: PreviewContainer,
    pub create: serde_json::Value,
    pub dependencies: crate::dependencies::Dependencies,
    pub docker_run: String,
    pub image: PreviewImage,
    pub profile: Profile,
}

#[derive(Debug, Serialize)]
pub struct PreviewContainer {
    /// create, start, recreate or reuse.
    pub action: &'static str,
    /// The paths of the mode's files in the container.
    pub files: Vec<String>,
    pub name: String,
}

#[derive(Debug, Serialize)]
pub struct PreviewImage {
    pub base: String,
    /// ptenv's derived image, when the base is on this machine.
    pub derived: Option<String>,
    pub gpu: bool,
    /// Why `derived` is unknown.
    pub note: Option<&'static str>,
}

/// What `up` did, for `--json` (the mode adds its fields: Jupyter's URL, ssh's alias…).
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub action: Action,
    pub base_image: String,
    pub container: String,
    pub gpu: bool,
    pub image: String,
    pub ports: Vec<plan::PublishedPort>,
    #[serde(flatten)]
    pub mode: Option<modes::ModeJson>,
    /// `up`'s exit code (the shell's, for the shell mode).
    #[serde(skip)]
    pub code: i32,
}

impl Up {
    /// The container's name.
    pub fn container_name(&self) -> String {
        self.project.container_name(&self.profile.name)
    }

    fn recipe<'b>(&'b self, base_id: &'b str, base_user: Option<&'b str>) -> Recipe<'b> {
        Recipe {
            base: &self.choice.image,
            base_id,
            base_user,
            mode: self.profile.mode,
            packages: &self.profile.packages,
            user: &self.user,
            sudo: self.profile.sudo,
            dependencies: Some(&self.dependencies),
        }
    }

    /// `nvidia_default_runtime`: the engine starts every container with NVIDIA's runtime, so
    /// "no GPU" must be said in the environment ([`gpus::nvidia_default_runtime`]).
    fn spec(&self, image: &str, nvidia_default_runtime: bool) -> Spec {
        let volume = self.workspace_volume();
        let workspace = match (&self.profile.workspace.host_path, &volume) {
            (Some(path), _) if self.remote => plan::Workspace::ServerFolder(path),
            (_, Some(volume)) => plan::Workspace::Volume(volume),
            _ => plan::Workspace::Project,
        };
        let mut spec = plan::plan(&plan::Input {
            profile: &self.profile,
            project: &self.project,
            image,
            base_image: &self.choice.image,
            gpus: self.choice.request.clone(),
            nvidia_default_runtime,
            host_ram: self.host_ram,
            user: &self.user,
            setup: &self.setup,
            home: &self.home,
            workspace,
        });
        spec.labels
            .insert(crate::project::LABEL_OWNER.into(), self.owner.clone());
        spec.labels
            .insert(crate::project::LABEL_USER.into(), self.user_name.clone());
        spec
    }

    /// The project's volume on a remote engine, to fill before the container starts; `None`
    /// when the folder itself is mounted, or a folder of the server (`workspace.host_path`).
    pub(crate) fn workspace_volume(&self) -> Option<String> {
        (self.remote && self.profile.workspace.host_path.is_none())
            .then(|| crate::workspace::volume_name(&self.project))
    }

    fn network(&self) -> Result<Network> {
        Network::from_env(
            &|k| std::env::var(k).ok(),
            self.profile.ca_bundle.as_deref(),
            &self.project.path,
        )
    }

    /// What `up` would do. Reads from the engine when it answers (to name the derived image
    /// and the action), changes nothing.
    pub fn preview(&self) -> Result<Preview> {
        block_on(self.preview_async())
    }

    async fn preview_async(&self) -> Result<Preview> {
        let engine = tokio::time::timeout(Duration::from_secs(3), Engine::connect())
            .await
            .ok()
            .and_then(|r| r.ok());
        let base = match &engine {
            Some(e) => e.local_image(&self.choice.image).await.ok().flatten(),
            None => None,
        };
        let (image, derived, note) = match &base {
            Some(base) => {
                let tag = self.recipe(&base.id, Some(&base.user)).tag()?;
                (tag.clone(), Some(tag), None)
            }
            None => (
                self.choice.image.clone(),
                None,
                Some(match engine {
                    Some(_) => "the base image is not on this machine yet: `Image` becomes the derived image ptenv/<base>-<hash> once it is pulled and built",
                    None => "the Docker engine does not answer: `Image` becomes the derived image ptenv/<base>-<hash> once it is pulled and built",
                }),
            ),
        };
        let nvidia_default_runtime = match &engine {
            Some(e) => gpus::nvidia_default_runtime(e, self.choice.request.is_none()).await,
            None => false,
        };
        let mut spec = self.spec(&image, nvidia_default_runtime);
        let hosts: Vec<u16> = spec
            .ports
            .iter()
            .map(|port| match self.profile.pinned_host_port(port.container) {
                Some(pinned) => pinned,
                None => ports::free_port(&port.bind, port.host, |_| true).unwrap_or(port.host),
            })
            .collect();
        spec.set_host_ports(&hosts);
        let action = match &engine {
            Some(e) => match e.find(&spec.name).await.ok().flatten() {
                Some(c) if c.label(LABEL_CONFIG) == spec.config_hash() && c.running() => "reuse",
                Some(c) if c.label(LABEL_CONFIG) == spec.config_hash() => "start",
                Some(_) => "recreate",
                None => "create",
            },
            None => "create",
        };
        Ok(Preview {
            dependencies: self.dependencies.clone(),
            container: PreviewContainer {
                action,
                files: self.setup.files.iter().map(|f| f.path.clone()).collect(),
                name: spec.name.clone(),
            },
            create: spec.create_body(),
            docker_run: spec.docker_run_line(),
            image: PreviewImage {
                base: self.choice.image.clone(),
                derived,
                gpu: self.choice.gpu,
                note,
            },
            profile: self.profile.clone(),
        })
    }

    /// Pull, build, reconcile the container, then the mode's step. `detach`: start and return
    /// (the shell mode opens no shell); `open`: open Jupyter's URL in the browser.
    pub fn run(&self, detach: bool, open: bool) -> Result<Outcome> {
        block_on(self.run_async(detach, open))
    }

    async fn run_async(&self, detach: bool, open: bool) -> Result<Outcome> {
        let p = &self.printer;
        let engine = Engine::connect().await?;
        p.detail(format!(
            "Docker Engine {} (API {}) at {}",
            engine.version, engine.api_version, engine.endpoint
        ));
        // What this run created and has not yet started: removed on Ctrl-C.
        let pending = Unfinished::default();
        let flow = self.container(&engine, &pending);
        tokio::pin!(flow);
        let interrupt = tokio::signal::ctrl_c();
        // Biased, flow first: the pull and the build watch Ctrl-C themselves and say which
        // step was interrupted.
        let (spec, action) = tokio::select! {
            biased;
            r = &mut flow => r?,
            _ = interrupt => {
                // A step that listens (the pull, the build) may be between two awaits when the
                // signal comes: its listener has the signal, its select has not run yet. It
                // answers once it runs; the wait is bounded in case it never gets there.
                let own = match crate::interrupt::step_listening() {
                    true => match tokio::time::timeout(STEP_ANSWER, &mut flow).await {
                        Ok(Err(e)) if e.code == EXIT_INTERRUPTED => Some(e),
                        // The step had finished after all, and the rest followed.
                        Ok(Ok((spec, _))) => Some(Error::interrupted("`ptenv up`").hint(format!(
                            "{} had started by then and is running; `ptenv down` stops it",
                            spec.name
                        ))),
                        _ => None,
                    },
                    false => None,
                };
                if let Some(id) = pending.take() {
                    let _ = engine.remove(&id).await;
                }
                return Err(own.unwrap_or_else(|| {
                    Error::interrupted("`ptenv up`")
                        .hint("nothing half-made was left behind; run `ptenv up` again")
                }));
            }
        };
        match action {
            Action::Reused => p.info(format!("{} is already running; reusing it", spec.name)),
            Action::Started => p.info(format!("Started {} again", spec.name)),
            Action::Created | Action::Recreated => p.info(format!("Started {}", spec.name)),
        }
        p.detail(format!("equivalent: {}", spec.docker_run_line()));
        let made_now = matches!(action, Action::Created | Action::Recreated);
        let started = Started {
            engine: &engine,
            printer: p,
            profile: &self.profile,
            project: &self.project,
            user: &self.user,
            container: &spec.name,
            open,
            detach,
            ssh: self.ssh.as_deref(),
            unreached: (self.remote && self.ssh.is_none()).then_some(self.server.as_str()),
            made_now,
        };
        let after = match modes::after_start(&started).await {
            // The mode never became ready (Jupyter stopped, sshd did not answer, Ctrl-C while
            // waiting): a container this run made is half-made, so it goes like one whose
            // start failed. One that was there before stays.
            Err(mut e) if made_now => {
                if e.code == EXIT_INTERRUPTED {
                    e.hints.clear();
                } else if let Some(said) = self.explain_output(&engine, &spec.name).await {
                    // What its output explains, read before the container (and its log) goes.
                    e.hints.insert(0, said);
                }
                engine.remove(&spec.name).await?;
                e.hints.push(format!(
                    "ptenv removed {}, which this run had created, so nothing half-made was left behind; run `ptenv up` again once the cause is fixed",
                    spec.name
                ));
                return Err(e);
            }
            other => other?,
        };
        Ok(Outcome {
            action,
            base_image: self.choice.image.clone(),
            container: spec.name.clone(),
            gpu: spec.gpus.is_some(),
            image: spec.image.clone(),
            ports: spec.ports.clone(),
            mode: after.json,
            code: after.code,
        })
    }

    /// The first known error in the output of the container `name` (as `ptenv doctor` reads
    /// it), as one line for an error's hints; `None` when the output holds none or cannot be
    /// read (the error itself already quotes the log's last lines).
    async fn explain_output(&self, engine: &Engine, name: &str) -> Option<String> {
        use crate::doctor::logs::{self, ContainerOutput};
        let c = engine.find(name).await.ok().flatten()?;
        let output = engine.log_tail(&c.id, logs::TAIL_LINES).await.ok()?;
        let shm = engine.container_shm(&c).await.ok().flatten()?;
        let out = ContainerOutput {
            shm,
            state: c.state.clone(),
            output,
        };
        let first = logs::scan(&out, &self.facts, &crate::doctor::ThisHost)
            .into_iter()
            .next()?;
        Some(format!(
            "its output explains it: {} (line {}: `{}`); {}",
            first.pattern.title,
            first.line_no,
            crate::doctor::redact(&first.line),
            first.fix
        ))
    }
}

/// `workspace.host_path` names a folder of a server: on this machine the project folder itself
/// is mounted, and the setting does nothing; say so.
fn say_host_path_is_for_servers(ctx: &Ctx, path: &str) {
    ctx.printer.info(format!(
        "`workspace.host_path: {path}` applies on a server only; here the project folder itself is /workspace"
    ));
}

/// What a remote engine cannot do, refused before anything is made there: a mount relative to the project names a laptop folder the server has not got.
fn remote_limits(profile: &Profile, server: &str) -> Result<()> {
    if let Some(m) = profile
        .mounts
        .iter()
        .find(|m| !m.source.starts_with('/') && !m.source.starts_with('~'))
    {
        return Err(Error::new(format!(
            "the mount {}:{} names a folder of the project, which is on this machine, not on {server}",
            m.source, m.target
        ))
        .hint("on a server, mounts name the server's folders: write an absolute path there (or `~/…` for the server user's home); the project itself is copied to /workspace"));
    }
    Ok(())
}

/// One line when no GPU will be used, and why; a warning when the user asked for GPUs with
/// `--gpus` and the chain to them is broken.
fn say_cpu(p: &Printer, choice: &Choice, facts: &gpu::HostFacts, flag: Option<&profile::Gpus>) {
    let Some(why) = &choice.cpu_reason else {
        return;
    };
    // The choice says why it is the CPU: asked for (`gpus: none`), or no GPU to be had.
    if *why == crate::select::CpuReason::GpusNone {
        p.info(format!("Running on the CPU: {why}"));
    } else if let Some(gpus) = flag.filter(|g| g.wants_gpu()) {
        let link = facts
            .problems
            .first()
            .map(|p| format!(" What failed: {p}."))
            .unwrap_or_default();
        p.warn(format!(
            "`--gpus {gpus}` was asked for, but no GPU will be used: {why}{link} `ptenv doctor` shows which link to the GPU is missing."
        ));
    } else {
        p.info(format!(
            "Running on the CPU: {why} If this machine has an NVIDIA GPU, `ptenv doctor` shows which link to it is missing."
        ));
    }
}

/// The container user gets the host user's IDs (or the folder owner's when ptenv runs as
/// root); when even that user cannot write to the folder, say so now rather than leave the
/// user to find a "Permission denied" in Jupyter.
fn warn_unwritable_workspace(ctx: &Ctx, user: &User) {
    let Some((owner, mode)) = ctx.machine.folder_access(&ctx.project) else {
        return;
    };
    if !user.can_write(owner, mode) {
        ctx.printer.warn(format!(
            "the container's user `{}` (uid {}) cannot write to /workspace: {} belongs to uid {} with mode {:o}",
            user.name,
            user.uid,
            ctx.project.display(),
            owner.0,
            mode & 0o777
        ));
        ctx.printer.warn(format!(
            "run ptenv as the folder's owner, or give the folder to the user: `chown -R {}:{} {}`",
            user.uid,
            user.gid,
            ctx.project.display()
        ));
    }
}

#[cfg(test)]
mod tests;
