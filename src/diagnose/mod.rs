//! Gathering the facts of each link of the chain from the host to torch on the GPU, in chain
//! order, for `ptenv doctor`: each link's facts are read through the adapters (the machine,
//! the engine, files under `PTENV_SYSROOT`), judged by `doctor`'s pure checks, and a link whose
//! prerequisite failed is skipped with the reason. [`torch`] runs torch in the profile's image.

mod torch;

use std::path::Path;

use crate::context::Ctx;
use crate::doctor::daemon::{self, Daemon};
use crate::doctor::gpu_path::{self, GpuPath, GpuPathFacts, GpuRequestTrial};
use crate::doctor::{cgroup, docker_host};
use crate::doctor::{container, id, image, logs, Check, Report};
use crate::engine::{self, Engine};
use crate::error::Result;
use crate::gpu::HostFacts;
use crate::profile::Profile;
use crate::select;

/// The chain's report for `profile` (or why it cannot be resolved), with the GPU facts of the
/// machine that runs the engine. `root`: where this machine's files are read
/// (`PTENV_SYSROOT`). `probe`: whether to run torch in the image, or why not. `no_container`:
/// why no container may be started at all (then the GPU path is judged without asking the
/// engine to take a GPU request).
pub async fn diagnose(
    ctx: &Ctx,
    profile: &Result<Profile>,
    root: &Path,
    probe: std::result::Result<(), String>,
    no_container: Option<String>,
) -> (Report, HostFacts) {
    let mut r = Report::default();

    // Host: PCI → kernel module → NVML, read on the machine that runs the engine.
    let host = ctx.machine.doctor_host(root);
    let facts = host.facts.clone();
    for c in &host.checks {
        r.push(c.clone());
    }

    // Docker: daemon → GPU path → cgroup.
    let endpoint = engine::endpoint();
    // A remote engine's socket is on the server: this machine's file says nothing about it.
    let socket = daemon::socket_path(&endpoint)
        .filter(|_| !ctx.machine.is_remote())
        .map(|p| docker_host::read_socket(&p, Path::new("/")));
    let engine = Engine::connect().await;
    let daemon = match &engine {
        Ok(e) => Daemon::Up {
            endpoint: e.endpoint.clone(),
            version: e.version.clone(),
            api_version: e.api_version.clone(),
        },
        Err(e) => Daemon::Down {
            endpoint: endpoint.clone(),
            error: e.message.clone(),
        },
    };
    r.push(daemon::check_docker(&daemon, socket.as_ref()));
    let engine = engine.ok();
    let mut path = GpuPath::None;
    let mut info = None;
    match (r.blocked(id::GPU_PATH, &[id::DOCKER]), &engine) {
        (Some(skip), _) => r.push(skip),
        (None, Some(e)) => match e.doctor_info().await {
            Ok(i) => {
                // Only where the answer decides: a registered runtime serves `--gpus` anyway.
                let trial = match no_container {
                    // An engine reached only through its API: its GPUs were read by a
                    // container with `--gpus all`, which was the engine's answer already.
                    _ if facts.source == crate::gpu::Source::ProbeContainer => {
                        GpuRequestTrial::Served {
                            image: "the probe container that read the GPUs".into(),
                            error: None,
                        }
                    }
                    Some(why) => GpuRequestTrial::NotTried(why),
                    None if i.runtimes.iter().any(|r| r == "nvidia") => {
                        GpuRequestTrial::NotTried("the nvidia runtime is registered".into())
                    }
                    None => e.try_gpu_request().await,
                };
                let facts = GpuPathFacts {
                    engine_version: e.version.clone(),
                    info: i,
                    cdi_specs: host.cdi_specs.clone(),
                    hook: host.hook.clone(),
                    trial,
                };
                let (check, p) = gpu_path::check_gpu_path(&facts);
                path = p;
                r.push(check);
                info = Some(facts.info);
            }
            Err(err) => r.push(
                Check::fail(id::GPU_PATH, "cannot read the engine's info").evidence(err.message),
            ),
        },
        (None, None) => r.push(Check::skip(id::GPU_PATH, "no engine connection")),
    }
    // The cgroup setup matters once a GPU path exists, but is judged from the engine's
    // settings alone, so a missing toolkit does not hide it.
    let check = match (r.blocked(id::CGROUP, &[id::DOCKER]), &info) {
        (Some(skip), _) => skip,
        (None, Some(i)) => cgroup::check_cgroup(i, path, &host.nvidia_nodes, &host.char_links),
        (None, None) => Check::skip(
            id::CGROUP,
            "needs the engine's info, which could not be read",
        ),
    };
    r.push(check);

    // The image the profile selects, against the driver and the GPUs.
    let profile = match profile {
        Ok(p) => Some(p),
        Err(e) => {
            r.push(
                Check::fail(
                    id::IMAGE,
                    format!("the profile cannot be resolved: {}", e.message),
                )
                .fix(if e.hints.is_empty() {
                    "fix ptenv.yaml (`ptenv profiles` lists what is defined)".to_string()
                } else {
                    e.hints.join("; ")
                }),
            );
            None
        }
    };
    // With a ptenv.lock, `ptenv up` runs the pinned image: that is the one to judge and probe.
    // A lock that cannot be read stops `up` as well: it is this link's finding, and there is
    // no image to judge or probe.
    let (profile, pinned) = match profile.map(|p| (p, crate::lockfile::pinned(&ctx.project, p))) {
        Some((p, Ok(entry))) => (Some(p), entry),
        Some((_, Err(e))) => {
            r.push(Check::fail(id::IMAGE, e.message.clone()).fix(e.hints.join("; ")));
            (None, None)
        }
        None => (None, None),
    };
    let selection = profile.map(|p| match &pinned {
        None => select::choose(p, &facts),
        Some(entry) => select::choose(
            &Profile {
                image: Some(entry.image.clone()),
                ..p.clone()
            },
            &facts,
        ),
    });
    // What the image says about itself, when it is on this machine: the facts `ptenv up` and
    // `ptenv inspect` judge (read once per image by a probe without GPU, then cached).
    let probed = match (&engine, profile, &selection, &probe) {
        (Some(e), Some(p), Some(Ok(c)), Ok(())) => {
            let image = pinned
                .as_ref()
                .map(|x| x.reference())
                .unwrap_or_else(|| c.image.clone());
            match e.image_id(&image).await {
                Ok(Some(_)) => match crate::probe::facts(e, &image, &ctx.printer).await {
                    Ok(found) => {
                        select::judge_image(p, &c.image, c.line, &found.facts, &facts).ok()
                    }
                    Err(_) => None,
                },
                _ => None,
            }
        }
        _ => None,
    };
    if let (Some(p), Some(selection)) = (profile, &selection) {
        let check = r.blocked(id::IMAGE, &[id::NVML]).unwrap_or_else(|| {
            let alternative = match &pinned {
                None => alternative(p, &facts),
                Some(_) => select::choose(p, &facts).ok().map(|c| {
                    format!("`ptenv up --relock` pins {}, which fits this machine (commit ptenv.lock if the team should use it too)", c.image)
                }),
            };
            let check = image::check_image(selection, &facts, alternative.as_deref());
            let check = match (&probed, selection) {
                (Some(verdict), Ok(choice)) => image::with_facts(check, choice, verdict),
                _ => check,
            };
            match &pinned {
                Some(entry) => check.evidence(format!(
                    "ptenv.lock pins it for profile `{}` at {}",
                    p.name,
                    crate::lock::short(&entry.digest)
                )),
                None => check,
            }
        });
        r.push(check);
    }
    // The probe runs what `up` runs: the locked digest.
    let selection = selection.map(|s| match &pinned {
        Some(entry) => s.map(|mut c| {
            c.image = entry.reference();
            c
        }),
        None => s,
    });

    // The project's running containers.
    let check = match (r.blocked(id::SHM, &[id::DOCKER]), &engine) {
        (Some(skip), _) => skip,
        (None, Some(e)) => match e.project_shm(&ctx.project).await {
            Ok(list) => container::check_shm(&list),
            Err(err) => Check::fail(id::SHM, "cannot inspect the project's containers")
                .evidence(err.message),
        },
        (None, None) => Check::skip(id::SHM, "no engine connection"),
    };
    r.push(check);

    // /workspace as `up` would make it, for the user `up` would run: the project folder here;
    // on a server the folder `workspace.host_path` names there, else the project's volume.
    let server = ctx.machine.describe();
    let here = ctx.project.display().to_string();
    let access = |path: &str| {
        ctx.machine
            .folder_access(std::path::Path::new(path))
            .map(|((uid, gid), mode)| (uid, gid, mode))
    };
    let host_path = profile.and_then(|p| p.workspace.host_path.as_deref());
    let workspace = match (ctx.machine.is_remote(), host_path) {
        (true, None) => container::Workspace::Volume { server: &server },
        (true, Some(path)) => container::Workspace::Folder {
            path,
            server: Some(&server),
            access: access(path),
        },
        (false, _) => container::Workspace::Folder {
            path: &here,
            server: None,
            access: access(&here),
        },
    };
    r.push(container::check_workspace(
        &ctx.machine.container_user(&ctx.project),
        &workspace,
    ));

    // torch inside the image.
    let check = if let Err(why) = probe {
        Check::skip(id::TORCH, why)
    } else {
        match (
            r.blocked(id::TORCH, &[id::DOCKER]),
            &engine,
            profile.zip(selection.as_ref()),
        ) {
            (Some(skip), _, _) => skip,
            (None, _, None) => Check::skip(id::TORCH, "needs a profile to know which image to run"),
            (None, Some(e), Some((p, selection))) => {
                torch::probe(ctx, e, p, &facts, selection, path, &r).await
            }
            (None, None, _) => Check::skip(id::TORCH, "no engine connection"),
        }
    };
    r.push(check);

    // What the project's containers printed: where a training run's error is.
    let check = match (r.blocked(id::LOGS, &[id::DOCKER]), &engine) {
        (Some(skip), _) => skip,
        (None, Some(e)) => match e.project_output(&ctx.project, logs::TAIL_LINES).await {
            Ok(list) => logs::check_logs(&list, &facts, &crate::doctor::ThisHost),
            // Output that cannot be read (e.g. `--log-driver none`) says nothing about the chain.
            Err(err) => Check::warn(id::LOGS, "cannot read the project's containers' output")
                .evidence(err.message),
        },
        (None, None) => Check::skip(id::LOGS, "no engine connection"),
    };
    r.push(check);
    if ctx.machine.is_remote() {
        placed(&mut r, &ctx.machine.describe(), &host.unread);
    }
    (r, facts)
}

/// Says where each link that is not the agent's ran on a remote machine `place`, and which
/// links could not read their files there (`unread`, when the agent could not run).
fn placed(r: &mut Report, place: &str, unread: &[String]) {
    for c in &mut r.checks {
        if c.place.is_none() {
            c.place = Some(match c.id {
                id::IMAGE => format!("this machine, from the facts of {place}"),
                _ => format!("{place}, through its Docker engine"),
            });
        }
        let prefix = format!("{}: ", c.id);
        for what in unread.iter().filter_map(|u| u.strip_prefix(&prefix)) {
            if !matches!(c.id, id::PCI | id::KERNEL) {
                c.evidence.push(format!(
                    "not read on {place} (ptenv's agent does not run there): {what}"
                ));
            }
        }
    }
}

/// For a pinned image that does not fit: what ptenv would choose without the pin.
fn alternative(profile: &Profile, facts: &HostFacts) -> Option<String> {
    if profile.image.is_none() && profile.cuda.is_none() {
        return None;
    }
    let unpinned = Profile {
        image: None,
        cuda: None,
        ..profile.clone()
    };
    match select::choose(&unpinned, facts) {
        Ok(c) => Some(format!(
            "use {} instead: remove the `image:`/`cuda:` pin (or the --image/--cuda flag) and ptenv chooses it",
            c.image
        )),
        Err(e) => e.hints().first().cloned(),
    }
}
