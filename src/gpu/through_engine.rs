//! The GPUs of an engine's machine that ptenv reaches only through the engine's Docker API,
//! read by a short container with every GPU running the NVIDIA toolkit's `nvidia-smi`. The
//! core decides the image, the request and what the answer means
//! (`ptenv_core::gpu::probe`); this runs it.

use std::time::Duration;

use ptenv_core::gpu::probe::{self, Outcome};
use ptenv_core::gpu::HostFacts;

use crate::engine::Engine;

/// nvidia-smi answers in well under a second; a wedged driver can make it hang, which must
/// not hang the command.
const TIMEOUT: Duration = Duration::from_secs(30);

/// On the probe container, as on doctor's: what it is, for anyone who sees it in `docker ps`.
const LABEL_PROBE: &str = "dev.ptenv.doctor";

/// The facts of the machine behind `engine`, shown to people as `shown`.
pub async fn probe_engine(engine: &Engine, shown: &str) -> HostFacts {
    let images = match engine.tagged_images().await {
        Ok(images) => images,
        Err(e) => return probe::facts(shown, None, &Outcome::NotStarted(e.message)),
    };
    let Some(image) = probe::pick_image(&images) else {
        return probe::facts(shown, None, &Outcome::NoImage);
    };
    let command = probe::command();
    let body = serde_json::json!({
        "Image": image,
        "Entrypoint": [command[0]],
        "Cmd": command[1..],
        "Labels": {LABEL_PROBE: "gpu-probe"},
        "NetworkDisabled": true,
        "HostConfig": {
            "DeviceRequests": [probe::device_request()],
            "NetworkMode": "none",
        },
    });
    // Unique across the laptops that may probe the same server at once.
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    let name = format!("ptenv-gpu-probe-{}", crate::project::hex(&bytes));
    let outcome = match engine.run_removed(&name, &body, TIMEOUT).await {
        Ok((code, output)) => Outcome::Ran { code, output },
        Err(e) => Outcome::NotStarted(e.message),
    };
    probe::facts(shown, Some(&image), &outcome)
}
