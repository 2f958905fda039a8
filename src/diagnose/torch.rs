//! Running torch in the profile's image, with the GPUs when the chain below allows it: the last
//! link of `ptenv doctor`, judged by `doctor::container::check_torch`.

use std::time::Duration;

use crate::context::Ctx;
use crate::doctor::container::{self, ProbeRun, PROBE_SCRIPT};
use crate::doctor::gpu_path::GpuPath;
use crate::doctor::{id, Check, Report};
use crate::engine::{self, Engine};
use crate::error::Result;
use crate::gpu::HostFacts;
use crate::plan::GpuRequest;
use crate::profile::Profile;
use crate::project::{Project, LABEL_PROJECT};
use crate::select::{self, Choice, SelectError};

/// How long torch may take to import and answer in the probe container (a cold 6 GB image on a
/// slow disk takes a while; a hung CUDA init must not hang doctor).
const PROBE_TIMEOUT: Duration = Duration::from_secs(180);

/// The label on the probe container, so `docker ps` says what it is.
const LABEL_DOCTOR: &str = "dev.ptenv.doctor";

/// The image to probe: the selected one, else the one ptenv would run without GPUs (so the
/// probe still shows what torch in the profile's release says).
fn probe_image(
    profile: &Profile,
    selection: &Result<Choice, SelectError>,
) -> Result<Choice, SelectError> {
    match selection {
        Ok(c) => Ok(c.clone()),
        Err(_) => select::choose(profile, &HostFacts::default()),
    }
}

/// Why the probe runs without GPUs: the first broken link below Docker's GPU path, or the
/// profile (as the choice says). `None` when GPUs can be requested.
fn no_gpu_reason(r: &Report, choice: &Choice) -> Option<(String, Option<String>)> {
    if choice.cpu_reason == Some(select::CpuReason::GpusNone) {
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
fn device_request(
    path: GpuPath,
    request: Option<&GpuRequest>,
) -> Option<(serde_json::Value, String)> {
    let ids: Option<Vec<String>> = match request? {
        GpuRequest::All => None,
        // The probe checks torch on the first N, as `docker run --gpus N` would take them
        // (docs/gpus.md §1): which N a later `up` takes depends on who holds what then.
        GpuRequest::Count(n) => Some((0..*n).map(|i| i.to_string()).collect()),
        GpuRequest::Devices(d) => Some(d.clone()),
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

pub(super) async fn probe(
    ctx: &Ctx,
    engine: &Engine,
    profile: &Profile,
    facts: &HostFacts,
    selection: &Result<Choice, SelectError>,
    path: GpuPath,
    r: &Report,
) -> Check {
    let choice = match probe_image(profile, selection) {
        Ok(c) => c,
        Err(e) => {
            return Check::skip(id::TORCH, format!("no image to run: {}", e.message()));
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
    let reason = no_gpu_reason(r, &choice);
    let request = if reason.is_none() {
        device_request(path, choice.request.as_ref())
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
        Err(e) => run.start_error = Some(e.into_message()),
    }
    if let Err(e) = engine.remove(&id).await {
        ctx.printer.warn(format!(
            "could not remove the probe container {name}: {}",
            e.message
        ));
    }
    container::check_torch(&run, facts, &crate::doctor::ThisHost)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{self, Gpus};

    #[test]
    fn device_requests_follow_the_gpu_path_and_the_profile() {
        let (req, flag) = device_request(GpuPath::Runtime, Some(&GpuRequest::All)).unwrap();
        assert_eq!(req["Count"], -1);
        assert_eq!(req["Capabilities"][0][0], "gpu");
        assert_eq!(flag, "--gpus all");
        let (req, flag) = device_request(
            GpuPath::Runtime,
            Some(&GpuRequest::Devices(vec!["0".into(), "1".into()])),
        )
        .unwrap();
        assert_eq!(req["DeviceIDs"][1], "1");
        assert!(
            req.get("Count").is_none(),
            "Count and DeviceIDs are exclusive"
        );
        assert_eq!(flag, "--gpus device=0,1");
        let (req, flag) = device_request(GpuPath::Cdi, Some(&GpuRequest::All)).unwrap();
        assert_eq!(req["Driver"], "cdi");
        assert_eq!(req["DeviceIDs"][0], "nvidia.com/gpu=all");
        assert_eq!(flag, "--device nvidia.com/gpu=all");
        assert!(device_request(GpuPath::None, Some(&GpuRequest::All)).is_none());
        assert!(device_request(GpuPath::Runtime, None).is_none());
        let (_, flag) = device_request(GpuPath::Runtime, Some(&GpuRequest::Count(2))).unwrap();
        assert_eq!(flag, "--gpus device=0,1");
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
        let (why, fix) = no_gpu_reason(&r, &choice).unwrap();
        assert_eq!(why, "`kernel-driver` failed");
        assert_eq!(fix.as_deref(), Some("install it"));
        let none = Profile {
            gpus: Gpus::None,
            ..profile.clone()
        };
        let cpu = select::choose(&none, &HostFacts::default()).unwrap();
        assert!(no_gpu_reason(&Report::default(), &cpu)
            .unwrap()
            .0
            .contains("gpus: none"));
    }
}
