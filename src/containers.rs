//! The project's existing containers as the commands that act on them (`down`, `logs`,
//! `exec`) name them: by profile, or the only one there is.

use crate::engine::container::Found;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::project::{Project, LABEL_PROFILE};

/// A profile name given to a command that acts on existing containers (`down`, `logs`,
/// `exec`): a profile defined here or one that has a container of this project; else the
/// error names the nearest. A broken ptenv.yaml does not stop these commands: the built-in
/// profiles and the containers still count.
pub fn check_profile_name(
    project: &std::path::Path,
    name: &str,
    containers: &[Found],
) -> Result<()> {
    let sources = crate::profile::load_sources(project).unwrap_or_default();
    let existing: Vec<String> = containers
        .iter()
        .map(|c| c.label(crate::project::LABEL_PROFILE).to_string())
        .collect();
    sources.check_defined(name, &existing)
}

/// The project's container for `profile`, or when none is named, its only container (or its
/// only running one). `running`: it must run (for exec).
pub async fn pick(
    engine: &Engine,
    project: &Project,
    profile: Option<&str>,
    running: bool,
) -> Result<Found> {
    let all = engine.list(Some(&project.path)).await?;
    let found = match profile {
        Some(name) => {
            check_profile_name(&project.path, name, &all)?;
            engine
                .find(&project.container_name(name))
                .await?
                .ok_or_else(|| {
                    Error::new(format!("this project has no `{name}` container"))
                        .hint(format!("start it with `ptenv up {name}`"))
                })?
        }
        None => {
            let live: Vec<&Found> = all.iter().filter(|c| c.running()).collect();
            match (all.len(), live.len()) {
                (0, _) => {
                    return Err(Error::new(format!(
                        "this project ({}) has no ptenv container",
                        project.path.display()
                    ))
                    .hint("start one with `ptenv up`, or cd into the project folder"))
                }
                (1, _) => all[0].clone(),
                (_, 1) => live[0].clone(),
                _ => {
                    let names: Vec<&str> = all.iter().map(|c| c.label(LABEL_PROFILE)).collect();
                    return Err(Error::usage(format!(
                        "this project has several containers ({}); say which",
                        names.join(", ")
                    ))
                    .hint(format!(
                        "e.g. `ptenv logs {}` or `ptenv exec {} -- CMD`",
                        names[0], names[0]
                    )));
                }
            }
        }
    };
    if running && !found.running() {
        return Err(
            Error::new(format!("{} is not running ({})", found.name, found.state)).hint(format!(
                "start it with `ptenv up {} --detach`",
                found.label(LABEL_PROFILE)
            )),
        );
    }
    Ok(found)
}
