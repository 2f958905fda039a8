//! Reconciling the project's container with the spec `up` planned: reuse it when its config
//! hash (a label: profile, image, mode files) is unchanged and it runs; start it again when it
//! is stopped; recreate it when it changed; create it when there is none. The engine's
//! refusals are handled here: a port taken meanwhile (move on to the next free one), a
//! `memlock=-1` the engine may not grant (start without it, remembered per engine), a name
//! taken by a concurrent `up` of the same profile (wait for it and reuse its container), an
//! image removed meanwhile (build it again). Whatever fails after `create` removes what this
//! run created, so nothing half-made stays behind.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::memlock::{MemlockMemo, MEMLOCK_WARNING};
use super::ports::bindable;
use super::Up;
use crate::engine::build::Network;
use crate::engine::container::{CreateError, StartError, Unfinished};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::plan::{self, Spec};
use crate::project::LABEL_CONFIG;

/// How often `create` retries when a concurrent `up` removes the container it waited for.
pub(super) const MAX_RACES: u32 = 10;
/// How long an `up` that lost the race for the container name waits for the winner's start.
const RACE_WAIT: Duration = Duration::from_secs(120);

/// What `up` did with the container, for messages and `--json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    Recreated,
    Started,
    Reused,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Recreated => "recreated",
            Action::Started => "started",
            Action::Reused => "reused",
        }
    }
}

impl Up {
    /// Pull, derive, then reuse, start, recreate or create the container. Returns the spec the
    /// running container was made from.
    pub(super) async fn container(
        &self,
        engine: &Engine,
        pending: &Unfinished,
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
        self.check_image(engine, &base.id, pending).await?;
        let mut image = engine
            .derive(
                &self.recipe(&base.id, Some(&base.user)),
                &network,
                &self.project.path,
                p,
            )
            .await?;
        if self.workspace_volume().is_some() {
            crate::workspace::upload(&crate::workspace::Upload {
                engine,
                project: &self.project,
                image: &image,
                user: &self.user,
                owner: &self.owner,
                limit: self.profile.workspace.limit(),
                printer: p,
                pending,
            })
            .await?;
        }
        let nvidia_default_runtime =
            super::gpus::nvidia_default_runtime(engine, self.choice.request.is_none()).await;
        loop {
            match self
                .place(engine, &image, pending, nvidia_default_runtime)
                .await?
            {
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
        pending: &Unfinished,
        nvidia_default_runtime: bool,
    ) -> Result<Placed> {
        let p = &self.printer;
        let spec = self.spec(image, nvidia_default_runtime);
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

    /// Create the container with the project's home volume, made first when it is new (and
    /// removed again when the container could not be made, so a failed first `up` leaves
    /// nothing behind).
    async fn create(&self, engine: &Engine, spec: Spec, pending: &Unfinished) -> Result<Placed> {
        self.check_mounts()?;
        let made_home = engine.ensure_home(&self.project).await?;
        let placed = self.create_container(engine, spec, pending).await;
        if made_home {
            match &placed {
                Ok(Placed::Ready(..)) => self.printer.info(format!(
                    "Made {} for the container user's home: what is installed there with `pip install` lasts (`ptenv down --purge` removes it)",
                    self.project.home_volume()
                )),
                // Best effort: another `up` of the project may have mounted it meanwhile.
                _ => {
                    let _ = engine.remove_volume(&self.project.home_volume()).await;
                }
            }
        }
        placed
    }

    /// Create, copy the mode's files in, start. Handles the engine's refusals: memlock (retry
    /// without it), GPUs (clean error), a name taken by a concurrent `up` (wait for it).
    async fn create_container(
        &self,
        engine: &Engine,
        mut spec: Spec,
        pending: &Unfinished,
    ) -> Result<Placed> {
        let p = &self.printer;
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
            pending.hold(&id);
            let started = match engine.copy_files(&id, &self.setup.files).await {
                Ok(()) => engine.start(&id).await,
                Err(e) => Err(StartError::Other(e.message)),
            };
            match started {
                Ok(()) => {
                    pending.release();
                    return Ok(Placed::Ready(spec, Action::Created));
                }
                Err(e) => {
                    engine.remove(&id).await?;
                    pending.release();
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
            StartError::ProgramNotFound(m) | StartError::Other(m) => Error::new(format!("cannot start {name}: {m}"))
                .hint("check the profile's `command` and `mounts`; `ptenv up -v` shows the create body"),
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
