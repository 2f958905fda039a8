//! The workspace volume on a remote engine and the archives streamed in and out of a container:
//! what `crate::workspace` and `crate::sync` are made of.

use std::collections::HashMap;

use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::UploadToContainerOptionsBuilder;
use futures_util::StreamExt;

use super::{failed, Engine};
use crate::error::Result;

impl Engine {
    /// Creates the volume (a no-op when it exists: the engine answers with the existing one)
    /// and returns its labels.
    pub async fn create_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<HashMap<String, String>> {
        let request = VolumeCreateRequest {
            name: Some(name.to_owned()),
            labels: Some(labels),
            ..Default::default()
        };
        let v = self
            .docker
            .create_volume(request)
            .await
            .map_err(|e| failed(&format!("cannot create volume {name}"), &self.endpoint, &e))?;
        Ok(v.labels)
    }

    /// `PUT /containers/{id}/archive?path=…` with a tar archive that arrives in chunks from
    /// `chunks` (the archive is never whole in memory). The engine extracts as it reads.
    pub async fn upload_stream(
        &self,
        id: &str,
        path: &str,
        chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
    ) -> Result<()> {
        let stream = futures_util::stream::unfold(chunks, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk.into(), rx))
        });
        let options = UploadToContainerOptionsBuilder::default()
            .path(path)
            .build();
        self.docker
            .upload_to_container(id, Some(options), bollard::body_stream(stream.boxed()))
            .await
            .map_err(|e| failed("cannot upload the project's files", &self.endpoint, &e))
    }
}

impl Engine {
    /// Everything a (stopped) container wrote to stdout.
    pub async fn stdout_of(&self, id: &str) -> Result<String> {
        let options = bollard::query_parameters::LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(false)
            .tail("all")
            .build();
        let mut stream = self.docker.logs(id, Some(options));
        let mut out = String::new();
        while let Some(item) = stream.next().await {
            let item = item.map_err(|e| failed("cannot read the output", &self.endpoint, &e))?;
            out.push_str(&item.to_string());
        }
        Ok(out)
    }

    /// `GET /containers/{id}/archive?path=…`: the file at `path` as a tar archive.
    pub async fn download(&self, id: &str, path: &str) -> Result<Vec<u8>> {
        let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let mut stream = self.docker.download_from_container(id, Some(options));
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| failed(&format!("cannot read {path}"), &self.endpoint, &e))?;
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// A regular file of a container (running or stopped), read through the archive endpoint
    /// with no process in it. `None` when the container has no such file (the engine answers
    /// 404) or it is not a regular file.
    pub async fn file_of(&self, id: &str, path: &str) -> Result<Option<Vec<u8>>> {
        let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let mut stream = self.docker.download_from_container(id, Some(options));
        let mut tar = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => tar.extend_from_slice(&bytes),
                Err(_) => return Ok(None),
            }
        }
        let mut archive = tar::Archive::new(&tar[..]);
        let Some(Ok(mut entry)) = archive.entries()?.next() else {
            return Ok(None);
        };
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Ok(None);
        }
        let mut contents = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut contents)?;
        Ok(Some(contents))
    }

    /// The size and modification time (RFC 3339) of a file of a container (running or
    /// stopped): `HEAD /containers/{id}/archive?path=…`, which stats the path without reading or
    /// archiving it. `None` when the engine cannot say (no such file: 404).
    pub async fn stat_of(&self, id: &str, path: &str) -> Option<(i64, String)> {
        let options = bollard::query_parameters::ContainerArchiveInfoOptionsBuilder::default()
            .path(path)
            .build();
        let stat = self
            .docker
            .get_container_archive_info(id, Some(options))
            .await
            .ok()?;
        Some((stat.size, stat.modification_time?))
    }
}
