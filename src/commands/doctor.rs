//! `ptenv doctor`: gather the facts of each link in chain order, let `doctor`'s checks judge
//! them, print the report; `--explain FILE` reads a log instead.
//!
//! Files are read under `PTENV_SYSROOT` (default `/`): tests point it at a sysfs-like tree.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use super::Ctx;
use crate::cli::DoctorArgs;
use crate::doctor::container::{self, ProbeRun, PROBE_SCRIPT};
use crate::doctor::docker::{self, Daemon, GpuPath, GpuPathFacts};
use crate::doctor::{explain, host, id, image, logs, Check, Report};
use crate::engine::{self, container::StartError, Engine};
use crate::error::{Error, Result};
use crate::gpu::HostFacts;
use crate::profile::{self, Gpus, Profile};
use crate::project::{Project, LABEL_PROJECT};
use crate::select::{self, Choice};

/// How long torch may take to import and answer in the probe container (a cold 6 GB image on a
/// slow disk takes a while; a hung CUDA init must not hang doctor).
const PROBE_TIMEOUT: Duration = Duration::from_secs(180);

/// The label on the probe container, so `docker ps` says what it is.
const LABEL_DOCTOR: &str = "dev.ptenv.doctor";

pub fn run(ctx: &Ctx, args: DoctorArgs) -> Result<i32> {
    if let Some(file) = &args.explain {
        return explain_file(ctx, file);
    }
    let root = host::sysroot();
    // A broken ptenv.yaml is one more finding, not a reason to skip the host and Docker.
    let sources = profile::load_sources(&ctx.project);
    let profile = sources.as_ref().map_err(Clone::clone).and_then(|sources| {
        let name = args
            .mode
            .clone()
            .or_else(|| args.profile_name.clone())
            .unwrap_or_else(|| sources.default_name());
        sources.resolve(&name, &args.profile.layer())
    });
    // The probe runs the profile's image: not one that an untrusted project file names.
    let untrusted = match &sources {
        Ok(s) if !args.trust => super::trust::untrusted(ctx, s)?,
        _ => None,
    };
    let probe = match (args.no_container, untrusted) {
        (true, _) => Err("skipped: --no-container".to_string()),
        (false, Some(a)) => Err(format!(
            "skipped: {} is not trusted, and the probe would run what it names (`ptenv trust`, or `ptenv doctor --trust`, then run doctor again)",
            a.file.display()
        )),
        (false, None) => Ok(()),
    };
    let report = engine::block_on(diagnose(ctx, &profile, &root, probe));
    let p = &ctx.printer;
    p.json(&report.to_json());
    p.result(report.render().trim_end());
    Ok(report.exit_code())
}

/// `probe`: whether to run torch in the image, or why not.
async fn diagnose(
    ctx: &Ctx,
    profile: &Result<Profile>,
    root: &Path,
    probe: std::result::Result<(), String>,
) -> Report {
    let mut r = Report::default();

    // Host: PCI → kernel module → NVML.
    let pci = host::read_pci(root);
    let wsl = host::is_wsl(root);
    r.push(host::check_pci(&pci, wsl));
    let kernel = host::read_kernel(root);
    let check = r
        .blocked(id::KERNEL, &[id::PCI])
        .unwrap_or_else(|| host::check_kernel(&kernel, pci.as_deref().unwrap_or_default(), wsl));
    r.push(check);
    let facts = ctx.machine.gpu_facts();
    let check = r
        .blocked(id::NVML, &[id::KERNEL])
        .unwrap_or_else(|| host::check_nvml(&facts));
    r.push(check);

    // Docker: daemon → GPU path → cgroup.
    let endpoint = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| engine::DEFAULT_HOST.to_string());
    let socket = docker::socket_path(&endpoint).map(|p| docker::read_socket(&p, Path::new("/")));
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
    r.push(docker::check_docker(&daemon, socket.as_ref()));
    let engine = engine.ok();
    let mut path = GpuPath::None;
    let mut info = None;
    match (r.blocked(id::GPU_PATH, &[id::DOCKER]), &engine) {
        (Some(skip), _) => r.push(skip),
        (None, Some(e)) => match e.doctor_info().await {
            Ok(i) => {
                let facts = GpuPathFacts {
                    engine_version: e.version.clone(),
                    info: i,
                    cdi_specs: docker::read_cdi_specs(root),
                    hook: docker::which("nvidia-container-runtime-hook"),
                };
                let (check, p) = docker::check_gpu_path(&facts);
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
        (None, Some(i)) => docker::check_cgroup(
            i,
            path,
            &docker::read_nvidia_nodes(root),
            &docker::read_char_links(root),
        ),
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
    let (profile, pinned) = match profile.map(|p| (p, super::lock::pinned(&ctx.project, p))) {
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
    if let (Some(p), Some(selection)) = (profile, &selection) {
        let check = r.blocked(id::IMAGE, &[id::NVML]).unwrap_or_else(|| {
            let alternative = match &pinned {
                None => alternative(p, &facts),
                Some(_) => select::choose(p, &facts).ok().map(|c| {
                    format!("`ptenv up --relock` pins {}, which fits this machine (commit ptenv.lock if the team should use it too)", c.image)
                }),
            };
            let check = image::check_image(selection, &facts, alternative.as_deref(), &p.pytorch);
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

    // The project folder as /workspace, for the user `up` would run.
    let folder = ctx
        .machine
        .folder_access(&ctx.project)
        .map(|((uid, gid), mode)| (uid, gid, mode));
    r.push(container::check_workspace(
        &ctx.machine.container_user(&ctx.project),
        &ctx.project.display().to_string(),
        folder,
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
                probe_torch(ctx, e, p, &facts, selection, path, &r).await
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
    r
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
        Err(e) => e.hints.first().cloned(),
    }
}

/// The image to probe: the selected one, else the one ptenv would run without GPUs (so the
/// probe still shows what torch in the profile's release says).
fn probe_image(profile: &Profile, selection: &Result<Choice>) -> Result<Choice> {
    match selection {
        Ok(c) => Ok(c.clone()),
        Err(_) => select::choose(profile, &HostFacts::default()),
    }
}

/// Why the probe runs without GPUs: the first broken link below Docker's GPU path, or the
/// profile. `None` when GPUs can be requested.
fn no_gpu_reason(
    r: &Report,
    profile: &Profile,
    choice: &Choice,
) -> Option<(String, Option<String>)> {
    if profile.gpus == Gpus::None {
        return Some((
            "the profile says `gpus: none`".into(),
            Some("set `gpus: all` in ptenv.yaml (or --gpus all)".into()),
        ));
    }
    for link in [id::PCI, id::KERNEL, id::NVML, id::GPU_PATH] {
        if let Some(c) = r
            .get(link)
            .filter(|c| c.status == crate::doctor::Status::Fail)
        {
            // Short: the report shows that link's own summary just above.
            return Some((format!("`{link}` failed"), c.fix.clone()));
        }
    }
    if !choice.gpu {
        return Some(("the selection found no GPU to hand over".into(), None));
    }
    None
}

/// The `DeviceRequests` entry for the GPU path, and the `docker run` flag it stands for.
fn device_request(path: GpuPath, gpus: &Gpus) -> Option<(serde_json::Value, String)> {
    let ids: Option<Vec<String>> = match gpus {
        Gpus::All => None,
        Gpus::None => return None,
        Gpus::Devices(d) => Some(d.clone()),
    };
    match path {
        GpuPath::Runtime => Some(match ids {
            None => (
                serde_json::json!({"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}),
                "--gpus all".to_string(),
            ),
            Some(d) => (
                serde_json::json!({"Driver": "", "DeviceIDs": d, "Capabilities": [["gpu"]]}),
                format!("--gpus device={}", d.join(",")),
            ),
        }),
        GpuPath::Cdi => {
            let names: Vec<String> = match ids {
                None => vec!["nvidia.com/gpu=all".into()],
                Some(d) => d.iter().map(|x| format!("nvidia.com/gpu={x}")).collect(),
            };
            let flag = names
                .iter()
                .map(|n| format!("--device {n}"))
                .collect::<Vec<_>>()
                .join(" ");
            Some((
                serde_json::json!({"Driver": "cdi", "DeviceIDs": names}),
                flag,
            ))
        }
        GpuPath::None => None,
    }
}

async fn probe_torch(
    ctx: &Ctx,
    engine: &Engine,
    profile: &Profile,
    facts: &HostFacts,
    selection: &Result<Choice>,
    path: GpuPath,
    r: &Report,
) -> Check {
    let choice = match probe_image(profile, selection) {
        Ok(c) => c,
        Err(e) => {
            return Check::skip(id::TORCH, format!("no image to run: {}", e.message));
        }
    };
    match engine.image_id(&choice.image).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            // Pulling gigabytes is `ptenv up`'s decision, not a diagnosis'.
            return Check::skip(
                id::TORCH,
                format!("{} is not on this machine yet", choice.image),
            )
            .fix(format!(
                "`docker pull {}` (or `ptenv up`), then run `ptenv doctor` again",
                choice.image
            ));
        }
        Err(e) => {
            return Check::fail(id::TORCH, format!("cannot inspect {}", choice.image))
                .evidence(e.message)
        }
    }
    let reason = no_gpu_reason(r, profile, &choice);
    let request = if reason.is_none() {
        device_request(path, &profile.gpus)
    } else {
        None
    };
    let project = Project::new(&ctx.project);
    let mut host_config = serde_json::json!({});
    if let Some((req, _)) = &request {
        host_config["DeviceRequests"] = serde_json::json!([req]);
    }
    let body = serde_json::json!({
        "Image": choice.image,
        "Cmd": ["python", "-c", PROBE_SCRIPT],
        "Labels": {
            LABEL_PROJECT: ctx.project.display().to_string(),
            LABEL_DOCTOR: "torch-probe",
        },
        "NetworkDisabled": true,
        "HostConfig": host_config,
    });
    ctx.printer
        .info(format!("doctor: running torch in {} …", choice.image));
    let name = format!(
        "{}-doctor-{}",
        project.container_name("probe"),
        std::process::id()
    );
    let mut run = ProbeRun {
        image: choice.image.clone(),
        gpu_request: request.as_ref().map(|(_, flag)| flag.clone()),
        no_gpu_reason: reason,
        ..ProbeRun::default()
    };
    let id = match engine.create(&name, &body).await {
        Ok(id) => id,
        Err(engine::container::CreateError::Conflict) => {
            return Check::fail(
                id::TORCH,
                format!("a container named {name} exists already"),
            )
            .fix(format!(
                "`docker rm -f {name}`, then run `ptenv doctor` again"
            ));
        }
        Err(engine::container::CreateError::Other(e)) => {
            run.start_error = Some(e.message);
            return container::check_torch(&run, facts, &crate::doctor::ThisHost);
        }
    };
    match engine.start(&id).await {
        Ok(()) => match engine.wait_output(&id, PROBE_TIMEOUT).await {
            Ok((code, output)) => {
                run.exit_code = code;
                run.output = output;
            }
            Err(e) => run.start_error = Some(e.message),
        },
        Err(StartError::GpuDriver(m))
        | Err(StartError::Memlock(m))
        | Err(StartError::PortTaken(m))
        | Err(StartError::Other(m)) => run.start_error = Some(m),
    }
    if let Err(e) = engine.remove(&id).await {
        ctx.printer.warn(format!(
            "could not remove the probe container {name}: {}",
            e.message
        ));
    }
    container::check_torch(&run, facts, &crate::doctor::ThisHost)
}

/// `--explain FILE` (or `-`): the known errors in a log, with this host's facts.
fn explain_file(ctx: &Ctx, file: &Path) -> Result<i32> {
    let bytes = if file == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Error::new(format!("cannot read standard input: {e}")))?;
        buf
    } else {
        std::fs::read(file).map_err(|e| {
            Error::new(format!("cannot read {}: {e}", file.display()))
                .hint("pass a log file, or `-` to read it from standard input")
        })?
    };
    // Logs are often partly binary (progress bars, colour codes): read what is text.
    let text = String::from_utf8_lossy(&bytes);
    let facts = ctx.machine.gpu_facts();
    let findings = explain::scan(
        &text,
        &explain::Facts::host(&facts, &crate::doctor::ThisHost),
    );
    let p = &ctx.printer;
    p.json(&explain::to_json(&findings));
    p.result(explain::render(&findings).trim_end());
    // Like grep: 0 when something was recognised, 1 when nothing was.
    Ok(if findings.is_empty() { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_requests_follow_the_gpu_path_and_the_profile() {
        let (req, flag) = device_request(GpuPath::Runtime, &Gpus::All).unwrap();
        assert_eq!(req["Count"], -1);
        assert_eq!(req["Capabilities"][0][0], "gpu");
        assert_eq!(flag, "--gpus all");
        let (req, flag) = device_request(
            GpuPath::Runtime,
            &Gpus::Devices(vec!["0".into(), "1".into()]),
        )
        .unwrap();
        assert_eq!(req["DeviceIDs"][1], "1");
        assert!(
            req.get("Count").is_none(),
            "Count and DeviceIDs are exclusive"
        );
        assert_eq!(flag, "--gpus device=0,1");
        let (req, flag) = device_request(GpuPath::Cdi, &Gpus::All).unwrap();
        assert_eq!(req["Driver"], "cdi");
        assert_eq!(req["DeviceIDs"][0], "nvidia.com/gpu=all");
        assert_eq!(flag, "--device nvidia.com/gpu=all");
        assert!(device_request(GpuPath::None, &Gpus::All).is_none());
        assert!(device_request(GpuPath::Runtime, &Gpus::None).is_none());
    }

    #[test]
    fn the_probe_runs_without_gpus_for_the_first_broken_link() {
        let profile = profile::Sources::default()
            .resolve("jupyter", &profile::Layer::default())
            .unwrap();
        let choice = select::choose(&profile, &HostFacts::default()).unwrap();
        let mut r = Report::default();
        r.push(Check::pass(id::PCI, "1 GPU"));
        r.push(Check::fail(id::KERNEL, "module missing").fix("install it"));
        r.push(Check::fail(id::GPU_PATH, "no toolkit"));
        let (why, fix) = no_gpu_reason(&r, &profile, &choice).unwrap();
        assert_eq!(why, "`kernel-driver` failed");
        assert_eq!(fix.as_deref(), Some("install it"));
        let none = Profile {
            gpus: Gpus::None,
            ..profile.clone()
        };
        assert!(no_gpu_reason(&Report::default(), &none, &choice)
            .unwrap()
            .0
            .contains("gpus: none"));
    }
}
