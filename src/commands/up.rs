//! `ptenv up [MODE]`: resolve the profile, choose the image, pull it, build the derived image,
//! and start (or reuse) the project's container for the profile, the way an expert would type
//! `docker run`. Then the mode takes over (`modes::after_start`: Jupyter's URL, ssh's config,
//! the interactive shell).
//!
//! The container of a profile is reused while its config hash (a label: profile, image, mode
//! files) is unchanged; a stopped one is started again; a changed one is recreated. Whatever
//! fails after `create` removes what this run created, so nothing half-made stays behind.

use std::net::{IpAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::trust::Gate;
use super::Ctx;
use crate::cli::UpArgs;
use crate::engine::build::Network;
use crate::engine::container::{CreateError, StartError};
use crate::engine::recipe::Recipe;
use crate::engine::{block_on, Engine};
use crate::error::{Error, Result, EXIT_INTERRUPTED};
use crate::gpu;
use crate::identity::User;
use crate::modes::{self, Setup, SetupInput, Started};
use crate::output::Printer;
use crate::plan::{self, Spec};
use crate::profile::{self, Profile};
use crate::project::{Project, LABEL_CONFIG};
use crate::select::{self, Choice};

/// How far above a taken port ptenv looks for a free one.
const PORT_SEARCH: u16 = 100;
/// How often `create` retries when a concurrent `up` removes the container it waited for.
const MAX_RACES: u32 = 10;
/// How long an `up` that lost the race for the container name waits for the winner's start.
const RACE_WAIT: Duration = Duration::from_secs(120);

pub fn run(ctx: &Ctx, args: UpArgs) -> Result<i32> {
    let sources = profile::load_sources(&ctx.project)?;
    let name = args.mode.clone().unwrap_or_else(|| sources.default_name());
    let profile = sources.resolve(&name, &args.profile.layer())?;
    let gate = match args.dry_run {
        true => Gate::Preview,
        false => Gate::Apply {
            trust_flag: args.trust,
        },
    };
    super::trust::require(ctx, &sources, gate)?;
    let p = &ctx.printer;
    let facts = ctx.machine.gpu_facts();
    let choice = select::choose(&profile, &facts)?;
    // With a ptenv.lock, the locked digest is the base image (or a refusal says why not).
    let choice = super::lock::for_up(ctx, &profile, &facts, choice, args.relock, args.dry_run)?;
    for w in &choice.warnings {
        p.warn(w);
    }
    say_cpu(
        p,
        &choice,
        &facts,
        &profile.gpus,
        args.profile.gpus.as_ref(),
    );
    // The project's dependency files, checked against the image's torch before anything is
    // pulled or built.
    let (dependencies, kept) = super::dependencies(&ctx.project, &profile, &choice)?;
    for s in &kept {
        p.info(s);
    }
    for s in &dependencies.skipped {
        p.warn(s);
    }
    let project = Project::new(&ctx.project);
    let user = ctx.machine.container_user(&ctx.project);
    if user.is_root() {
        p.info(format!(
            "The container runs as root: you are root and {} is root's, so what it writes there stays root's, as for any of your processes",
            ctx.project.display()
        ));
    }
    warn_unwritable_workspace(ctx, &user);
    let input = SetupInput {
        user: &user,
        project: &project,
        new_token: args.new_token,
    };
    // A dry run changes nothing, not even ptenv's own data folder.
    let setup = if args.dry_run {
        modes::preview(&profile, &input)?
    } else {
        modes::setup(&profile, &input)?
    };
    for w in &setup.warnings {
        p.warn(w);
    }
    // ptenv's own registry requests carry the user's credentials: a CA that a project file
    // names never vouches for them (the image build may use it; it needed trust for that).
    let registry_ca_from_profile = !sources.project_sets(&name, |l| l.ca_bundle.is_some());
    let up = Up {
        facts: &facts,
        owner: crate::project::owner()?,
        registry_ca_from_profile,
        printer: *p,
        profile: &profile,
        choice: &choice,
        dependencies: &dependencies,
        project: &project,
        user: &user,
        setup: &setup,
        home: ctx.machine.home(),
        host_ram: ctx.machine.ram(),
    };
    if args.dry_run {
        return block_on(up.dry_run());
    }
    block_on(up.run(args.detach, args.open))
}

/// Everything `up` decided before it talks to the engine.
struct Up<'a> {
    /// The machine's GPU facts, for what a failed container's output means here.
    facts: &'a gpu::HostFacts,
    /// Who runs this `up` (the owner label of the containers it makes).
    owner: String,
    /// Whether the profile's `ca_bundle` may serve ptenv's registry requests (it comes from the
    /// user's own config, not from the project's file).
    registry_ca_from_profile: bool,
    printer: Printer,
    profile: &'a Profile,
    choice: &'a Choice,
    /// The project's dependency files, torch lines already checked.
    dependencies: &'a crate::dependencies::Dependencies,
    project: &'a Project,
    user: &'a User,
    setup: &'a Setup,
    home: PathBuf,
    host_ram: u64,
}

/// What `up` did with the container, for messages and `--json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Created,
    Recreated,
    Started,
    Reused,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Recreated => "recreated",
            Action::Started => "started",
            Action::Reused => "reused",
        }
    }
}

impl Up<'_> {
    fn recipe<'b>(&'b self, base_id: &'b str, base_user: Option<&'b str>) -> Recipe<'b> {
        Recipe {
            base: &self.choice.image,
            base_id,
            base_user,
            mode: self.profile.mode,
            packages: &self.profile.packages,
            user: self.user,
            sudo: self.profile.sudo,
            dependencies: Some(self.dependencies),
        }
    }

    fn spec(&self, image: &str) -> Spec {
        let mut spec = plan::plan(&plan::Input {
            profile: self.profile,
            project: self.project,
            image,
            base_image: &self.choice.image,
            gpu: self.choice.gpu,
            host_ram: self.host_ram,
            user: self.user,
            setup: self.setup,
            home: &self.home,
        });
        spec.labels
            .insert(crate::project::LABEL_OWNER.into(), self.owner.clone());
        spec
    }

    fn network(&self) -> Result<Network> {
        Network::from_env(
            &|k| std::env::var(k).ok(),
            self.profile.ca_bundle.as_deref(),
            &self.project.path,
        )
    }

    /// `--dry-run`: the resolved profile; with `--json` also the image, the container's name,
    /// what `up` would do with it, and the exact create body. Reads from the engine when it
    /// answers (to name the derived image), changes nothing.
    async fn dry_run(&self) -> Result<i32> {
        let p = &self.printer;
        if !p.json {
            // Comments, so the output stays the profile as YAML.
            p.result(format!(
                "# image: {} ({})\n# container: {}",
                self.choice.image,
                if self.choice.gpu {
                    "with the GPUs"
                } else {
                    "on the CPU"
                },
                self.project.container_name(&self.profile.name)
            ));
            p.result(format!("# dependencies: {}", self.dependencies.summary()));
            p.result(serde_yaml::to_string(self.profile).expect("a profile serializes"));
            return Ok(0);
        }
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
        let mut spec = self.spec(&image);
        let hosts: Vec<u16> = spec
            .ports
            .iter()
            .map(|port| match self.profile.pinned_host_port(port.container) {
                Some(pinned) => pinned,
                None => free_port(&port.bind, port.host, |_| true).unwrap_or(port.host),
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
        p.json(&json!({
            "profile": self.profile,
            "image": {
                "base": self.choice.image,
                "derived": derived,
                "gpu": self.choice.gpu,
                "note": note,
            },
            "dependencies": self.dependencies,
            "container": {
                "name": spec.name,
                "action": action,
                "files": self.setup.files.iter().map(|f| &f.path).collect::<Vec<_>>(),
            },
            "create": spec.create_body(),
            "docker_run": spec.docker_run_line(),
        }));
        Ok(0)
    }

    async fn run(&self, detach: bool, open: bool) -> Result<i32> {
        let p = &self.printer;
        let engine = Engine::connect().await?;
        p.detail(format!(
            "Docker Engine {} (API {}) at {}",
            engine.version, engine.api_version, engine.endpoint
        ));
        // What this run created and has not yet started: removed on Ctrl-C.
        let pending: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let flow = self.container(&engine, &pending);
        let interrupt = tokio::signal::ctrl_c();
        // Biased, flow first: the pull and the build watch Ctrl-C themselves and say which
        // step was interrupted; a random branch order let this generic answer win at times.
        let (spec, action) = tokio::select! {
            biased;
            r = flow => r?,
            _ = interrupt => {
                let id = pending.lock().expect("not poisoned").take();
                if let Some(id) = id {
                    let _ = engine.remove(&id).await;
                }
                return Err(Error::interrupted("`ptenv up`")
                    .hint("nothing half-made was left behind; run `ptenv up` again"));
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
            profile: self.profile,
            project: self.project,
            user: self.user,
            container: &spec.name,
            open,
            detach,
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
        let mut doc = serde_json::Map::new();
        doc.insert("container".into(), json!(spec.name));
        doc.insert("action".into(), json!(action.as_str()));
        doc.insert("image".into(), json!(spec.image));
        doc.insert("base_image".into(), json!(self.choice.image));
        doc.insert("gpu".into(), json!(spec.gpus.is_some()));
        doc.insert("ports".into(), json!(spec.ports));
        doc.extend(after.json);
        p.json(&serde_json::Value::Object(doc));
        Ok(after.code)
    }

    /// Pull, derive, then reuse, start, recreate or create the container. Returns the spec the
    /// running container was made from.
    async fn container(
        &self,
        engine: &Engine,
        pending: &Mutex<Option<String>>,
    ) -> Result<(Spec, Action)> {
        let p = &self.printer;
        let network = self.network()?;
        let registry_network = match self.registry_ca_from_profile {
            true => network.clone(),
            false => Network::from_env(&|k| std::env::var(k).ok(), None, &self.project.path)?,
        };
        let ca_files: Vec<PathBuf> = registry_network
            .ca
            .iter()
            .map(|(path, _)| path.clone())
            .collect();
        let base = engine
            .ensure_image(&self.choice.image, self.profile.pull, &ca_files, p)
            .await?;
        let mut image = engine
            .derive(
                &self.recipe(&base.id, Some(&base.user)),
                &network,
                &self.project.path,
                p,
            )
            .await?;
        loop {
            match self.place(engine, &image, pending).await? {
                Placed::Ready(spec, action) => return Ok((spec, action)),
                // Removed between `derive` and `create` (an image prune, or another ptenv's
                // cleanup): build it again, once.
                Placed::ImageGone if !image.is_empty() => {
                    p.warn(format!("{image} was removed meanwhile; building it again"));
                    image = engine.derive(&self.recipe(&base.id, Some(&base.user)), &network, &self.project.path, p).await?;
                    if engine.image_id(&image).await?.is_none() {
                        image.clear();
                    }
                }
                Placed::ImageGone => {
                    return Err(Error::new("the derived image keeps disappearing while `ptenv up` uses it")
                        .hint("stop whatever removes ptenv/* images (e.g. `docker image prune -a`), then run `ptenv up` again"))
                }
            }
        }
    }

    /// Reuse, start, recreate or create the container of `image`.
    async fn place(
        &self,
        engine: &Engine,
        image: &str,
        pending: &Mutex<Option<String>>,
    ) -> Result<Placed> {
        let p = &self.printer;
        let spec = self.spec(image);
        let mut recreating = false;
        if let Some(c) = engine.find(&spec.name).await? {
            self.check_owner(&c)?;
            if c.label(LABEL_CONFIG) == spec.config_hash() {
                let recorded = container_spec(&spec, &c.labels);
                if c.running() {
                    return Ok(Placed::Ready(recorded, Action::Reused));
                }
                if c.state == "created" {
                    // Another `up` may be between its create and its start.
                    if let Some((s, a)) = self.await_other_up(engine, &spec).await? {
                        return Ok(Placed::Ready(s, a));
                    }
                    return self.create(engine, spec, pending).await;
                }
                return match engine.start(&c.id).await {
                    Ok(()) => Ok(Placed::Ready(recorded, Action::Started)),
                    Err(StartError::PortTaken(m)) => {
                        // Its port went to another program meanwhile: make it anew.
                        p.warn(format!(
                            "{} cannot start again ({m}); recreating it",
                            c.name
                        ));
                        engine.remove(&c.id).await?;
                        self.create(engine, spec, pending).await.map(recreated)
                    }
                    Err(e) => Err(self.start_failed(e, &c.name)),
                };
            }
            p.info(format!(
                "The profile, image or mode files of {} changed; recreating it",
                spec.name
            ));
            engine.remove(&c.id).await?;
            recreating = true;
        }
        let placed = self.create(engine, spec, pending).await?;
        Ok(if recreating {
            recreated(placed)
        } else {
            placed
        })
    }

    /// Create, copy the mode's files in, start. Handles the engine's refusals: memlock (retry
    /// without it), GPUs (clean error), a name taken by a concurrent `up` (wait for it).
    async fn create(
        &self,
        engine: &Engine,
        mut spec: Spec,
        pending: &Mutex<Option<String>>,
    ) -> Result<Placed> {
        let p = &self.printer;
        self.check_mounts()?;
        // Ports the engine has published, and ports that turned out taken at start.
        let mut avoid = engine.published_ports().await?;
        let wanted: Vec<u16> = spec.ports.iter().map(|port| port.host).collect();
        spec.set_host_ports(&self.pick_ports(&spec, &wanted, &avoid)?);
        // An engine that refused `memlock=-1` before refuses it again: skip the failed start
        // (0.7 s of a 1.4 s cold start on the test machine, benches/RESULTS.md).
        let refused = MemlockMemo::for_engine(engine);
        let mut capped = false;
        let unlimited = |u: &plan::Ulimit| u.name == "memlock" && (u.soft < 0 || u.hard < 0);
        if spec.ulimits.iter().any(unlimited) && refused.remembered() {
            // Warned when the engine refused; `ptenv doctor` explains it from the label.
            p.detail("this engine refused `memlock=-1` before: starting without it (`ptenv doctor` explains)");
            spec = spec.without_memlock("engine-default");
            capped = true;
        }
        let mut moves = 0;
        let mut races = 0;
        loop {
            p.detail(format!(
                "create body: {}",
                serde_json::to_string(&spec.create_body()).unwrap_or_default()
            ));
            let id = match engine.create(&spec.name, &spec.create_body()).await {
                Ok(id) => id,
                Err(CreateError::Conflict) => match self.await_other_up(engine, &spec).await? {
                    Some((s, a)) => return Ok(Placed::Ready(s, a)),
                    // It went away (the other `up` failed, or is retrying): try again.
                    None if races < MAX_RACES => {
                        // While the engine removes a container its name stays taken and
                        // inspecting it answers 404: give the removal a moment.
                        races += 1;
                        tokio::time::sleep(Duration::from_millis(100 * u64::from(races))).await;
                        continue;
                    }
                    None => {
                        return Err(Error::new(format!(
                            "{} keeps being created and removed by another `ptenv up`",
                            spec.name
                        ))
                        .hint("wait for the other `ptenv up` to finish, then run it again"))
                    }
                },
                // The image may have been removed since `derive` looked (a prune, another
                // ptenv's cleanup): ask the engine rather than parse its message.
                Err(CreateError::Other(_)) if engine.image_id(&spec.image).await?.is_none() => {
                    return Ok(Placed::ImageGone)
                }
                Err(CreateError::Other(e)) => return Err(e),
            };
            *pending.lock().expect("not poisoned") = Some(id.clone());
            let started = match engine.copy_files(&id, &self.setup.files).await {
                Ok(()) => engine.start(&id).await,
                Err(e) => Err(StartError::Other(e.message)),
            };
            match started {
                Ok(()) => {
                    *pending.lock().expect("not poisoned") = None;
                    return Ok(Placed::Ready(spec, Action::Created));
                }
                Err(e) => {
                    engine.remove(&id).await?;
                    *pending.lock().expect("not poisoned") = None;
                    match e {
                        // Taken between the check and the start (another container started):
                        // move on to the next free ports.
                        StartError::PortTaken(_) if moves < MAX_RACES && !spec.ports.is_empty() => {
                            moves += 1;
                            // Ours are free again now that the container is gone: a port that
                            // cannot be bound is held by someone else.
                            for port in &spec.ports {
                                if !bindable(&port.bind, port.host) {
                                    avoid.insert(port.host, "another program".to_string());
                                }
                            }
                            spec.set_host_ports(&self.pick_ports(&spec, &wanted, &avoid)?);
                        }
                        StartError::Memlock(_) if !capped => {
                            p.warn(MEMLOCK_WARNING);
                            refused.remember();
                            spec = spec.without_memlock("engine-default");
                            capped = true;
                        }
                        e => return Err(self.start_failed(e, &spec.name)),
                    }
                }
            }
        }
    }

    /// For each port, the first free host port from the one the profile wants on, skipping
    /// `avoid`; warns when one moves. A host port the user pinned in the profile never moves:
    /// taken, it is an error that says who holds it.
    fn pick_ports(
        &self,
        spec: &Spec,
        wanted: &[u16],
        avoid: &std::collections::HashMap<u16, String>,
    ) -> Result<Vec<u16>> {
        let mut hosts = Vec::new();
        for (port, want) in spec.ports.iter().zip(wanted) {
            if self.profile.pinned_host_port(port.container) == Some(*want) {
                let holder = avoid.get(want).cloned().or_else(|| {
                    (!bindable(&port.bind, *want)).then(|| "another program".to_string())
                });
                if let Some(who) = holder {
                    return Err(Error::new(format!(
                        "port {}:{want}, which profile `{}` pins for the container's port {}, is taken by {who}",
                        port.bind, self.profile.name, port.container
                    ))
                    .hint(format!(
                        "free it (`docker ps` or `ss -ltnp 'sport = :{want}'` shows who holds it), or change the host port in `ports:`; without one, ptenv picks a free port"
                    )));
                }
                hosts.push(*want);
                continue;
            }
            let free = free_port(&port.bind, *want, |n| {
                !avoid.contains_key(&n) && !hosts.contains(&n)
            })
            .ok_or_else(|| {
                Error::new(format!(
                    "no free port on {} between {} and {}",
                    port.bind,
                    want,
                    want.saturating_add(PORT_SEARCH)
                ))
                .hint("give the profile another host port, e.g. `ports: [\"9000:8888\"]`")
            })?;
            if free != *want {
                self.printer.warn(format!(
                    "port {}:{} is taken; using {} for the container's port {}",
                    port.bind, want, free, port.container
                ));
            }
            hosts.push(free);
        }
        Ok(hosts)
    }

    /// Another `up` of the same project and profile created the container a moment ago: wait
    /// until it runs, and reuse it (exactly one container results). `None` when it went away
    /// instead (the other `up` failed, or removes it to retry without memlock): the caller
    /// creates it.
    async fn await_other_up(&self, engine: &Engine, spec: &Spec) -> Result<Option<(Spec, Action)>> {
        self.printer.info(format!(
            "Another `ptenv up` is starting {}; waiting for it",
            spec.name
        ));
        let start = Instant::now();
        loop {
            match engine.find(&spec.name).await? {
                Some(c) if c.running() => {
                    if c.label(LABEL_CONFIG) != spec.config_hash() {
                        return Err(Error::new(format!(
                            "{} was just started by another `ptenv up` with different settings",
                            spec.name
                        ))
                        .hint("run `ptenv up` again to recreate it with this profile"));
                    }
                    return Ok(Some((container_spec(spec, &c.labels), Action::Reused)));
                }
                // Between its create and its start, or being removed by it (to retry
                // without memlock): wait for the outcome.
                Some(c) if c.state == "created" || c.state == "removing" => {}
                Some(c) => {
                    return Err(Error::new(format!(
                        "another `ptenv up` was starting {}, which is now {}",
                        spec.name, c.state
                    ))
                    .hint(format!(
                        "see why with `ptenv logs {}`, then run `ptenv up` again",
                        self.profile.name
                    )))
                }
                None => return Ok(None),
            }
            if start.elapsed() > RACE_WAIT {
                return Err(Error::new(format!(
                    "{} was created but not started within {} s",
                    spec.name,
                    RACE_WAIT.as_secs()
                ))
                .hint(format!(
                    "remove it with `ptenv down {}` and run `ptenv up` again",
                    self.profile.name
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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
        let first = logs::scan(&out, self.facts, &crate::doctor::ThisHost)
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

    /// Another user's (or another HOME's) container of the same project and profile is
    /// theirs: its keys and token are in their data dir, so reusing or recreating it would
    /// lock them out. (Containers made before ptenv recorded owners have no label.)
    fn check_owner(&self, c: &crate::engine::container::Found) -> Result<()> {
        let theirs = c.label(crate::project::LABEL_OWNER);
        if theirs.is_empty() || theirs == self.owner {
            return Ok(());
        }
        let (uid, data) = theirs.split_once(':').unwrap_or((theirs, "?"));
        Err(Error::new(format!(
            "{} belongs to someone else: uid {uid}, with ptenv's data in {data} (you are {})",
            c.name,
            self.owner.replace(':', ", data in ")
        ))
        .hint("ptenv does not take over another user's environment (their keys and token would stop working)")
        .hint(format!(
            "run ptenv as that user, or give yourself your own profile: `profiles: {{{0}-mine: {{mode: {1}}}}}` in ptenv.yaml, then `ptenv up {0}-mine`",
            self.profile.name, self.profile.mode
        )))
    }

    /// Mount sources must exist: the engine would otherwise create them, owned by root.
    fn check_mounts(&self) -> Result<()> {
        for m in &self.profile.mounts {
            let source = plan::mount_source(&m.source, &self.project.path, &self.home);
            if !source.exists() {
                return Err(Error::new(format!(
                    "the mount source {} (`{}:{}`) does not exist",
                    source.display(),
                    m.source,
                    m.target
                ))
                .hint("create the folder, or fix `mounts:` in ptenv.yaml"));
            }
        }
        Ok(())
    }

    fn start_failed(&self, e: StartError, name: &str) -> Error {
        match e {
            StartError::GpuDriver(m) => Error::new(format!(
                "Docker cannot give GPUs to {name}: {m}"
            ))
            .hint("install the NVIDIA Container Toolkit and restart the daemon: https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html (`sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker`)")
            .hint("`ptenv doctor` checks the driver, the toolkit and the daemon; `--gpus none` runs on the CPU meanwhile"),
            StartError::PortTaken(m) => Error::new(format!(
                "a port of {name} was taken while it started: {m}"
            ))
            .hint("run `ptenv up` again (it picks the next free port), or set another host port in `ports:`"),
            StartError::Memlock(m) => Error::new(format!(
                "{name} cannot start even without the memlock limit: {m}"
            ))
            .hint("`ptenv doctor` checks the engine's limits"),
            StartError::Other(m) => Error::new(format!("cannot start {name}: {m}"))
                .hint("check the profile's `command` and `mounts`; `ptenv up -v` shows the create body"),
        }
    }
}

const MEMLOCK_WARNING: &str = "this Docker engine may not raise the locked-memory limit (`--ulimit memlock=-1`: \"error setting rlimit type 8: operation not permitted\"); the container runs with the engine's own limit instead, which only matters for pinned-memory transfers of some libraries (`ptenv doctor` explains)";

/// How long a remembered memlock refusal holds before ptenv asks the engine again (its
/// daemon may have been given other limits meanwhile).
const MEMLOCK_MEMO_TTL: Duration = Duration::from_secs(24 * 3600);

/// The memory that an engine refused `memlock=-1`: an empty file in ptenv's cache dir, named
/// after the engine's endpoint and version (an upgrade asks again). Best effort: without a
/// cache dir, every `up` asks the engine as before.
struct MemlockMemo(Option<PathBuf>);

impl MemlockMemo {
    fn for_engine(engine: &Engine) -> MemlockMemo {
        use sha2::{Digest, Sha256};
        let key = Sha256::digest(format!("{}\n{}", engine.endpoint, engine.version));
        MemlockMemo(directories::ProjectDirs::from("", "", "ptenv").map(|d| {
            d.cache_dir().join("engines").join(format!(
                "{}.memlock-refused",
                &crate::project::hex(&key)[..16]
            ))
        }))
    }

    fn remembered(&self) -> bool {
        self.0
            .as_ref()
            .and_then(|path| std::fs::metadata(path).ok())
            .and_then(|meta| meta.modified().ok())
            .and_then(|at| at.elapsed().ok())
            .is_some_and(|age| age < MEMLOCK_MEMO_TTL)
    }

    fn remember(&self) {
        if let Some(path) = &self.0 {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = crate::atomic::write(
                path,
                b"",
                crate::atomic::Mode::KeepOr(0o644),
                crate::atomic::Owner::Process,
            );
        }
    }
}

/// What `place` did: the container runs, or the image it needs is gone. (One value per `up`:
/// boxing the spec would buy nothing.)
#[allow(clippy::large_enum_variant)]
enum Placed {
    Ready(Spec, Action),
    ImageGone,
}

/// `Created` becomes `Recreated` when an old container was removed first.
fn recreated(placed: Placed) -> Placed {
    match placed {
        Placed::Ready(spec, Action::Created) => Placed::Ready(spec, Action::Recreated),
        other => other,
    }
}

/// The spec as the existing container was made: the same config, with the host ports and the
/// memlock cap its labels record.
fn container_spec(spec: &Spec, labels: &std::collections::HashMap<String, String>) -> Spec {
    let mut s = spec.clone();
    if let Some(ports) = labels.get(crate::project::LABEL_PORTS) {
        let recorded = plan::parse_ports_label(ports);
        let hosts: Vec<u16> = s
            .ports
            .iter()
            .map(|p| {
                recorded
                    .iter()
                    .find(|r| r.container == p.container)
                    .map_or(p.host, |r| r.host)
            })
            .collect();
        s.set_host_ports(&hosts);
    }
    if let Some(cap) = labels.get(plan::LABEL_MEMLOCK) {
        s = s.without_memlock(cap);
    }
    s
}

/// The first port from `from` on that `usable` allows and that can be bound on `bind` now.
fn free_port(bind: &str, from: u16, usable: impl Fn(u16) -> bool) -> Option<u16> {
    bind.parse::<IpAddr>().ok()?;
    (from..=from.saturating_add(PORT_SEARCH)).find(|port| usable(*port) && bindable(bind, *port))
}

/// Whether `port` can be bound on `bind` now.
fn bindable(bind: &str, port: u16) -> bool {
    bind.parse::<IpAddr>()
        .is_ok_and(|ip| TcpListener::bind((ip, port)).is_ok())
}

/// One line when no GPU will be used, and why; a warning when the user asked for GPUs with
/// `--gpus` and the chain to them is broken.
fn say_cpu(
    p: &Printer,
    choice: &Choice,
    facts: &gpu::HostFacts,
    wanted: &profile::Gpus,
    flag: Option<&profile::Gpus>,
) {
    let Some(why) = &choice.cpu_reason else {
        return;
    };
    if *wanted == profile::Gpus::None {
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
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_moves_to_the_next_free_one() {
        let held = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        let free = free_port("127.0.0.1", port, |_| true).unwrap();
        assert!(free > port, "{free} should be above the held {port}");
        let skipped = free_port("127.0.0.1", port, |n| n != free).unwrap();
        assert!(skipped > free, "the engine's ports are skipped too");
        assert_eq!(free_port("not-an-ip", 80, |_| true), None);
    }
}
