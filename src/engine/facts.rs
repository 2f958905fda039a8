//! What the engine reports about itself and the project's containers: the GPU-related parts
//! of `GET /info`, the shared-memory settings and recent output of the containers, and a
//! short-lived container run to its end with its output collected (doctor's torch probe; `up`
//! reads a failed container's output too; the GPU probe of an engine reached only through its
//! API runs as `docker run --rm` does), and the tagged images to run such a look in. The answers are plain structs of the doctor's
//! checks, so those stay free of bollard types.

use std::path::Path;
use std::time::Duration;

use bollard::query_parameters::{AttachContainerOptionsBuilder, WaitContainerOptionsBuilder};
use futures_util::StreamExt;

use super::container::Found;
use super::{failed, Engine};
use crate::doctor::container::ContainerShm;
use crate::doctor::gpu_path::{EngineInfo, GpuRequestTrial};
use crate::doctor::logs::ContainerOutput;
use crate::error::{Error, Result};
use crate::plan::LABEL_MEMLOCK;

impl Engine {
    /// The engine's answer to `--gpus all`: a throwaway container (entrypoint `true`, no
    /// network) of the smallest image the engine has (nothing is pulled for it), with a device
    /// request for `[[gpu]]`, started and removed. Docker selects the device driver at start,
    /// before the runtime runs anything, so any other failure after it means the driver took
    /// the request.
    pub async fn try_gpu_request(&self) -> GpuRequestTrial {
        use super::container::{CreateError, StartError};
        const NO_DRIVER: &str = "could not select device driver";
        let images = match self
            .docker
            .list_images(None::<bollard::query_parameters::ListImagesOptions>)
            .await
        {
            Ok(list) => list,
            Err(e) => {
                return GpuRequestTrial::NotTried(format!(
                    "cannot list the engine's images: {}",
                    super::error_text(&e)
                ))
            }
        };
        let Some(image) = images.iter().min_by_key(|i| i.size) else {
            return GpuRequestTrial::NotTried(
                "the engine has no image to try it with (ptenv pulls none for this)".into(),
            );
        };
        let shown = image
            .repo_tags
            .iter()
            .find(|t| !t.starts_with("<none>"))
            .cloned()
            .unwrap_or_else(|| image.id.clone());
        let body = serde_json::json!({
            "Image": image.id,
            "Entrypoint": ["true"],
            "Cmd": [],
            "NetworkDisabled": true,
            "Labels": {"dev.ptenv.doctor": "gpu-request"},
            "HostConfig": {
                "DeviceRequests": [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]
            }
        });
        let name = format!("ptenv-doctor-gpu-request-{}", std::process::id());
        let id = match self.create(&name, &body).await {
            Ok(id) => id,
            Err(CreateError::Other(e)) if e.message.contains(NO_DRIVER) => {
                return GpuRequestTrial::NoDriver(e.message)
            }
            Err(CreateError::Other(e)) => {
                return GpuRequestTrial::NotTried(format!(
                    "cannot create a test container: {}",
                    e.message
                ))
            }
            Err(CreateError::Conflict) => {
                return GpuRequestTrial::NotTried(format!("a container named {name} exists"))
            }
        };
        let started = self.start(&id).await;
        let _ = self.remove(&id).await;
        match started {
            // The image has no `true`: the runtime got that far, so the driver took it.
            Ok(()) | Err(StartError::ProgramNotFound(_)) => GpuRequestTrial::Served {
                image: shown,
                error: None,
            },
            Err(StartError::GpuDriver(m)) => GpuRequestTrial::NoDriver(m),
            Err(other) => GpuRequestTrial::Served {
                image: shown,
                error: Some(other.into_message()),
            },
        }
    }

    /// Runtimes, cgroup driver and CDI facts from `GET /info`.
    pub async fn doctor_info(&self) -> Result<EngineInfo> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| failed("cannot read the engine's info", &self.endpoint, &e))?;
        let mut runtimes: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
        runtimes.sort();
        Ok(EngineInfo {
            runtimes,
            default_runtime: info.default_runtime,
            cgroup_driver: info.cgroup_driver.map(|d| d.to_string()),
            cgroup_version: info.cgroup_version.map(|v| v.to_string()),
            cdi_spec_dirs: info.cdi_spec_dirs,
            discovered_devices: info.discovered_devices.map(|d| {
                d.into_iter()
                    .map(|x| {
                        format!(
                            "{} {}",
                            x.source.unwrap_or_default(),
                            x.id.unwrap_or_default()
                        )
                    })
                    .collect()
            }),
        })
    }

    /// The RAM of the engine's machine in bytes (`MemTotal` of `GET /info`); 0 when unknown.
    pub async fn mem_total(&self) -> Result<u64> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| failed("cannot read the engine's info", &self.endpoint, &e))?;
        Ok(info.mem_total.map_or(0, |m| m.max(0) as u64))
    }

    /// `ShmSize`, `IpcMode` and ptenv's memlock label of each running container of `project`.
    pub async fn project_shm(&self, project: &Path) -> Result<Vec<ContainerShm>> {
        let mut out = Vec::new();
        for c in self.list(Some(project)).await? {
            if !c.running() {
                continue;
            }
            if let Some(shm) = self.container_shm(&c).await? {
                out.push(shm);
            }
        }
        Ok(out)
    }

    /// One container's /dev/shm settings; `None` when it is gone.
    pub async fn container_shm(&self, c: &Found) -> Result<Option<ContainerShm>> {
        let inspected = match self.docker.inspect_container(&c.id, None).await {
            Ok(i) => i,
            // Gone between the list and now.
            Err(e) if super::status_of(&e) == Some(404) => return Ok(None),
            Err(e) => {
                return Err(failed(
                    &format!("cannot inspect container {}", c.name),
                    &self.endpoint,
                    &e,
                ))
            }
        };
        let host = inspected.host_config.unwrap_or_default();
        Ok(Some(ContainerShm {
            name: c.name.clone(),
            shm_size: host.shm_size,
            ipc_mode: host.ipc_mode,
            memlock_capped: c.labels.get(LABEL_MEMLOCK).cloned(),
        }))
    }

    /// The last `lines` lines of output of each container of `project`, running or not (a
    /// training run that died is where its error is), with its /dev/shm settings.
    pub async fn project_output(
        &self,
        project: &Path,
        lines: usize,
    ) -> Result<Vec<ContainerOutput>> {
        let mut out = Vec::new();
        for c in self.list(Some(project)).await? {
            let Some(shm) = self.container_shm(&c).await? else {
                continue;
            };
            let output = self.log_tail(&c.id, lines).await?;
            out.push(ContainerOutput {
                shm,
                state: c.state.clone(),
                output,
            });
        }
        Ok(out)
    }

    /// Wait (at most `timeout`) for a started container to stop; its exit code and its whole
    /// output, stdout and stderr together. The container is left for the caller to remove.
    pub async fn wait_output(&self, id: &str, timeout: Duration) -> Result<(Option<i64>, String)> {
        let options = WaitContainerOptionsBuilder::default()
            .condition("not-running")
            .build();
        let mut wait = self.docker.wait_container(id, Some(options));
        let code = match tokio::time::timeout(timeout, wait.next()).await {
            Err(_) => None,
            Ok(Some(Ok(r))) => Some(r.status_code),
            // bollard reports a non-zero exit as an error that carries the code.
            Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. }))) => {
                Some(code)
            }
            Ok(Some(Err(e))) => {
                return Err(failed("cannot wait for the container", &self.endpoint, &e))
            }
            Ok(None) => None,
        };
        let output = self.log_tail(id, 10_000).await?;
        Ok((code, output))
    }

    /// Runs a short container to its end, as `docker run --rm` does: created with
    /// `AutoRemove`, its output attached before it starts, so the engine removes it when it
    /// ends even if ptenv is killed meanwhile. Its exit code (`None` when it did not end within
    /// `timeout`: then it is removed by force) and its output, stdout and stderr together.
    /// A create or start refused by the engine is the error.
    pub async fn run_removed(
        &self,
        name: &str,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<(Option<i64>, String)> {
        let mut body = body.clone();
        body["HostConfig"]["AutoRemove"] = serde_json::json!(true);
        let id = match self.create(name, &body).await {
            Ok(id) => id,
            Err(super::container::CreateError::Conflict) => {
                return Err(Error::new(format!(
                    "a container named {name} exists already"
                )))
            }
            Err(super::container::CreateError::Other(e)) => return Err(e),
        };
        let attach = AttachContainerOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .stream(true)
            .logs(true)
            .build();
        let mut output = match self.docker.attach_container(&id, Some(attach)).await {
            Ok(a) => a.output,
            Err(e) => {
                let _ = self.remove(&id).await;
                return Err(failed("cannot attach to the container", &self.endpoint, &e));
            }
        };
        // Asked before the start, so that the end is not missed; "removed" answers once
        // AutoRemove has removed it, with the exit code.
        let docker = self.docker.clone();
        let wait_id = id.clone();
        let waiting = tokio::spawn(async move {
            let options = WaitContainerOptionsBuilder::default()
                .condition("removed")
                .build();
            match docker.wait_container(&wait_id, Some(options)).next().await {
                Some(Ok(r)) => Some(r.status_code),
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                    Some(code)
                }
                _ => None,
            }
        });
        if let Err(e) = self.start(&id).await {
            waiting.abort();
            // The engine may not remove a container whose start failed (docs/gpus.md §7).
            let _ = self.remove(&id).await;
            return Err(Error::new(e.into_message()));
        }
        let collect = async {
            let mut text = Vec::new();
            while let Some(Ok(item)) = output.next().await {
                text.extend_from_slice(&item.into_bytes());
            }
            let code = waiting.await.ok().flatten();
            (code, String::from_utf8_lossy(&text).into_owned())
        };
        match tokio::time::timeout(timeout, collect).await {
            Ok(done) => Ok(done),
            Err(_) => {
                let _ = self.remove(&id).await;
                Ok((None, String::new()))
            }
        }
    }

    /// The engine's tagged images, for choosing one to run a short look in.
    pub async fn tagged_images(&self) -> Result<Vec<ptenv_core::gpu::probe::ImageOnEngine>> {
        let images = self
            .docker
            .list_images(None::<bollard::query_parameters::ListImagesOptions>)
            .await
            .map_err(|e| failed("cannot list images", &self.endpoint, &e))?;
        Ok(images
            .into_iter()
            .map(|i| ptenv_core::gpu::probe::ImageOnEngine {
                tags: i.repo_tags,
                created: i.created,
            })
            .collect())
    }
}
