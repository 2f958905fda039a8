//! Named volumes: the project's home (`home`), made by `up` with the project's labels and
//! removed by `down --purge`.

use std::collections::HashMap;

use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{ListVolumesOptionsBuilder, RemoveVolumeOptionsBuilder};

use super::{failed, status_of, Engine};
use crate::error::{Error, Result};
use crate::project::{Project, LABEL_PROJECT, LABEL_VOLUME};

impl Engine {
    /// Makes the project's home volume unless it exists; true when this call made it. A volume
    /// of that name that another project (or someone else) made is refused, not shared.
    pub async fn ensure_home(&self, project: &Project) -> Result<bool> {
        let name = project.home_volume();
        let path = project.path.display().to_string();
        if let Some(existing) = self.volume_labels(&name).await? {
            return match existing.get(LABEL_PROJECT) {
                Some(p) if *p == path => Ok(false),
                other => Err(Error::new(format!(
                    "the volume {name} exists but is not this project's home ({})",
                    match other {
                        Some(p) => format!("it belongs to {p}"),
                        None => "ptenv did not make it".into(),
                    }
                ))
                .hint(format!(
                    "see what it holds with `docker volume inspect {name}`; remove it with `docker volume rm {name}` if nothing in it is needed, then run the command again"
                ))),
            };
        }
        let request = VolumeCreateRequest {
            name: Some(name.clone()),
            labels: Some(crate::home::labels(project).into_iter().collect()),
            ..Default::default()
        };
        self.docker.create_volume(request).await.map_err(|e| {
            failed(
                &format!("cannot create the volume {name}"),
                &self.endpoint,
                &e,
            )
        })?;
        Ok(true)
    }

    /// The labels of volume `name`, `None` when there is none.
    async fn volume_labels(&self, name: &str) -> Result<Option<HashMap<String, String>>> {
        match self.docker.inspect_volume(name).await {
            Ok(v) => Ok(Some(v.labels)),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(failed(
                &format!("cannot inspect the volume {name}"),
                &self.endpoint,
                &e,
            )),
        }
    }

    /// The volumes ptenv made for this project (by its exact path label), by name.
    pub async fn project_volumes(&self, project: &Project) -> Result<Vec<String>> {
        let label = format!("{LABEL_PROJECT}={}", project.path.display());
        let filters = HashMap::from([("label", vec![label, LABEL_VOLUME.to_string()])]);
        let options = ListVolumesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_volumes(Some(options))
            .await
            .map_err(|e| failed("cannot list volumes", &self.endpoint, &e))?;
        let mut names: Vec<String> = list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Removes volume `name`; one that is gone already is fine. One still in use (a
    /// container of another ptenv, or of `docker run`) is an error naming what to do.
    pub async fn remove_volume(&self, name: &str) -> Result<()> {
        let options = RemoveVolumeOptionsBuilder::default().build();
        match self.docker.remove_volume(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) if status_of(&e) == Some(409) => Err(Error::new(format!(
                "cannot remove the volume {name}: a container still uses it ({})",
                super::error_text(&e)
            ))
            .hint(format!(
                "remove that container (`docker ps -a --filter volume={name}`), then run `ptenv down --purge` again"
            ))),
            Err(e) => Err(failed(
                &format!("cannot remove the volume {name}"),
                &self.endpoint,
                &e,
            )),
        }
    }
}
