//! Containers: find, create, copy files in, start, list, stop/remove, logs, exec.

use std::collections::HashMap;
use std::io::Write;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::tarball::{archive, Entry};
use super::{error_text, failed, status_of, Engine};
use crate::error::{Error, Result};
use crate::modes::ContainerFile;
use crate::project::LABEL_PROJECT;

/// The container a command has created and not yet finished with (started, or removed): what
/// its Ctrl-C handler removes, so an interrupt leaves nothing half-made. One at a time: the
/// image probe's short container, then the environment's own before its start.
#[derive(Debug, Default)]
pub struct Unfinished(std::sync::Mutex<Option<String>>);

impl Unfinished {
    /// `id` was created; remove it if the command is interrupted from now on.
    pub fn hold(&self, id: &str) {
        *self.0.lock().expect("not poisoned") = Some(id.to_owned());
    }

    /// Started or removed: no longer the interrupt's to remove.
    pub fn release(&self) {
        *self.0.lock().expect("not poisoned") = None;
    }

    /// The container to remove now, if any.
    pub fn take(&self) -> Option<String> {
        self.0.lock().expect("not poisoned").take()
    }
}

/// A container the engine knows, by name or from a list (the core's type: `ptenv ls` shapes it).
pub use ptenv_core::listing::Found;

/// Why `create` failed, where the caller acts on the reason.
#[derive(Debug)]
pub enum CreateError {
    /// A container of that name exists (another `up` created it a moment ago).
    Conflict,
    Other(Error),
}

/// Why `start` failed, where the caller acts on the reason.
#[derive(Debug)]
pub enum StartError {
    /// `could not select device driver "" with capabilities: [[gpu]]`: no NVIDIA runtime.
    GpuDriver(String),
    /// `error setting rlimit type 8: operation not permitted`: the engine cannot raise memlock.
    Memlock(String),
    /// The host port was taken between ptenv's check and the start.
    PortTaken(String),
    /// The runtime found no program to run (runc: `exec: "python3": executable file not found
    /// in $PATH`; a dangling link: `no such file or directory`).
    ProgramNotFound(String),
    Other(String),
}

impl StartError {
    /// The engine's words, whatever the kind.
    pub fn into_message(self) -> String {
        match self {
            StartError::GpuDriver(m)
            | StartError::Memlock(m)
            | StartError::PortTaken(m)
            | StartError::ProgramNotFound(m)
            | StartError::Other(m) => m,
        }
    }

    /// Classify the engine's message (the texts are moby's and runc's).
    pub fn classify(message: &str) -> StartError {
        let m = message.to_string();
        if message.contains("could not select device driver") {
            StartError::GpuDriver(m)
        } else if message.contains("error setting rlimit type 8") {
            StartError::Memlock(m)
        } else if message.contains("port is already allocated")
            || message.contains("address already in use")
        {
            StartError::PortTaken(m)
        } else if message.contains("executable file not found")
            || message.contains("no such file or directory")
        {
            StartError::ProgramNotFound(m)
        } else {
            StartError::Other(m)
        }
    }
}

impl Engine {
    /// The container of that name, if any.
    pub async fn find(&self, name: &str) -> Result<Option<Found>> {
        match self.docker.inspect_container(name, None).await {
            Ok(c) => {
                let config = c.config.unwrap_or_default();
                Ok(Some(Found {
                    id: c.id.unwrap_or_default(),
                    name: c
                        .name
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_string(),
                    state: c
                        .state
                        .and_then(|s| s.status)
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    status: String::new(),
                    image: config.image.unwrap_or_default(),
                    labels: config.labels.unwrap_or_default(),
                    created: 0,
                }))
            }
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(failed(
                &format!("cannot inspect container {name}"),
                &self.endpoint,
                &e,
            )),
        }
    }

    /// `POST /containers/create?name=…` with `body`, the plan's create body as is.
    pub async fn create(
        &self,
        name: &str,
        body: &serde_json::Value,
    ) -> std::result::Result<String, CreateError> {
        let config: ContainerCreateBody = serde_json::from_value(body.clone()).map_err(|e| {
            CreateError::Other(Error::new(format!(
                "internal error: the create body does not fit the Engine API: {e}"
            )))
        })?;
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        match self.docker.create_container(Some(options), config).await {
            Ok(r) => Ok(r.id),
            Err(e) if status_of(&e) == Some(409) => Err(CreateError::Conflict),
            Err(e) => Err(CreateError::Other(failed(
                &format!("cannot create container {name}"),
                &self.endpoint,
                &e,
            ))),
        }
    }

    /// Copy files into a created container before it starts (never bind-mounted: a secret on
    /// the host stays where it is, and `docker inspect` does not show it).
    pub async fn copy_files(&self, id: &str, files: &[ContainerFile]) -> Result<()> {
        if files.is_empty() {
            return Ok(());
        }
        let entries: Vec<Entry> = files
            .iter()
            .map(|f| Entry {
                path: &f.path,
                contents: &f.contents,
                mode: f.mode,
                uid: f.uid,
                gid: f.gid,
            })
            .collect();
        let tar = archive(&entries)?;
        let options = UploadToContainerOptionsBuilder::default().path("/").build();
        self.docker
            .upload_to_container(id, Some(options), bollard::body_full(tar.into()))
            .await
            .map_err(|e| failed("cannot copy files into the container", &self.endpoint, &e))
    }

    pub async fn start(&self, id: &str) -> std::result::Result<(), StartError> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(|e| StartError::classify(&error_text(&e)))
    }

    /// Stop (10 s grace, then kill) and remove, with its anonymous volumes. A container that is
    /// already gone is fine.
    pub async fn remove(&self, id: &str) -> Result<()> {
        let stop = StopContainerOptionsBuilder::default().t(10).build();
        match self.docker.stop_container(id, Some(stop)).await {
            Ok(()) => {}
            Err(e) if matches!(status_of(&e), Some(304) | Some(404)) => {}
            // Removing with force kills it anyway.
            Err(_) => {}
        }
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            // "removal of container … is already in progress": another `down` is at it.
            Err(e) if status_of(&e) == Some(409) => Ok(()),
            Err(e) => Err(failed(
                &format!("cannot remove container {id}"),
                &self.endpoint,
                &e,
            )),
        }
    }

    /// ptenv's containers: those of one project, or all of them.
    pub async fn list(&self, project: Option<&std::path::Path>) -> Result<Vec<Found>> {
        let label = match project {
            Some(p) => format!("{LABEL_PROJECT}={}", p.display()),
            None => LABEL_PROJECT.to_string(),
        };
        let filters = HashMap::from([("label", vec![label])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| failed("cannot list containers", &self.endpoint, &e))?;
        let mut found: Vec<Found> = list
            .into_iter()
            .map(|c| Found {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .unwrap_or_default()
                    .first()
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                status: c.status.unwrap_or_default(),
                image: c.image.unwrap_or_default(),
                labels: c.labels.unwrap_or_default(),
                created: c.created.unwrap_or_default(),
            })
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    /// The host ports the engine has published for running containers, each with who holds it
    /// ("container NAME"). The engine reserves
    /// them in its own allocator, which a bind probe does not always see (e.g. without the
    /// userland proxy, or while a container is starting).
    pub async fn published_ports(&self) -> Result<std::collections::HashMap<u16, String>> {
        let list = self
            .docker
            .list_containers(Some(ListContainersOptionsBuilder::default().build()))
            .await
            .map_err(|e| failed("cannot list containers", &self.endpoint, &e))?;
        let mut ports = std::collections::HashMap::new();
        for c in list {
            let name = c
                .names
                .and_then(|n| n.into_iter().next())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_else(|| c.id.unwrap_or_default());
            for p in c.ports.unwrap_or_default() {
                if let Some(port) = p.public_port {
                    ports.insert(port, format!("container {name}"));
                }
            }
        }
        Ok(ports)
    }

    /// The container's output, to our stdout and stderr; with `follow`, until it stops or the
    /// user presses Ctrl-C.
    pub async fn logs(&self, id: &str, follow: bool, tail: Option<u64>) -> Result<()> {
        let tail = tail.map_or("all".to_string(), |n| n.to_string());
        let options = LogsOptionsBuilder::default()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .tail(&tail)
            .build();
        let mut stream = self.docker.logs(id, Some(options));
        while let Some(item) = stream.next().await {
            let item = item.map_err(|e| failed("cannot read the logs", &self.endpoint, &e))?;
            write_output(&item);
        }
        Ok(())
    }
}

fn write_output(item: &bollard::container::LogOutput) {
    use bollard::container::LogOutput;
    match item {
        LogOutput::StdErr { message } => {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(message);
            let _ = err.flush();
        }
        LogOutput::StdOut { message } | LogOutput::Console { message } => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(message);
            let _ = out.flush();
        }
        LogOutput::StdIn { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_are_recognised_by_the_engines_words() {
        let gpu = "could not select device driver \"\" with capabilities: [[gpu]]";
        assert!(matches!(
            StartError::classify(gpu),
            StartError::GpuDriver(_)
        ));
        let memlock = "OCI runtime create failed: container_linux.go:380: starting container process caused: process_linux.go:545: container init caused: error setting rlimit type 8: operation not permitted: unknown";
        assert!(matches!(
            StartError::classify(memlock),
            StartError::Memlock(_)
        ));
        let port = "driver failed programming external connectivity on endpoint x: Bind for 127.0.0.1:8888 failed: port is already allocated";
        assert!(matches!(
            StartError::classify(port),
            StartError::PortTaken(_)
        ));
        assert!(matches!(
            StartError::classify("exec: \"jupyter\": executable file not found in $PATH"),
            StartError::ProgramNotFound(_)
        ));
        assert!(matches!(
            StartError::classify("exec: \"/opt/conda/bin/python3\": stat /opt/conda/bin/python3: no such file or directory"),
            StartError::ProgramNotFound(_)
        ));
        assert!(matches!(
            StartError::classify("OCI runtime create failed: something new"),
            StartError::Other(_)
        ));
    }

    #[test]
    fn the_plans_body_reaches_the_engine_unchanged() {
        // `--dry-run --json` prints the plan's body; `create` sends it through bollard's type.
        // Both must be the same JSON.
        let body = serde_json::json!({
            "Image": "ptenv/x:1",
            "Cmd": ["sleep", "infinity"],
            "User": "1000:1000",
            "Env": ["A=1"],
            "WorkingDir": "/workspace",
            "Labels": {"dev.ptenv.project": "/p"},
            "ExposedPorts": {"8888/tcp": {}},
            "HostConfig": {
                "Mounts": [{"Type": "bind", "Source": "/p:1", "Target": "/workspace"}, {"Type": "bind", "Source": "/d", "Target": "/d", "ReadOnly": true}],
                "PortBindings": {"8888/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8888"}]},
                "DeviceRequests": [{"Driver": "", "Count": 0, "DeviceIDs": ["0"], "Capabilities": [["gpu"]], "Options": {}}],
                "ShmSize": 8589934592u64,
                "Ulimits": [{"Name": "memlock", "Soft": -1, "Hard": -1}],
                "Init": true
            }
        });
        let typed: ContainerCreateBody = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&typed).unwrap(), body);
    }
}
