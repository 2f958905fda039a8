//! `ptenv down [MODE|--all|--purge]`: stop and remove the project's containers (one profile's,
//! or every ptenv container with `--all`). Keys, tokens, derived images and the project's home
//! volume are kept, so the next `up` is quick, the Jupyter URL stays the same and what the user
//! installed is still there; `--purge` removes the home volume too (this project's only).

use super::Ctx;
use crate::cli::DownArgs;
use crate::engine::{block_on, Engine};
use crate::error::Result;
use crate::project::Project;

pub fn run(ctx: &Ctx, args: DownArgs) -> Result<i32> {
    let p = &ctx.printer;
    let project = Project::new(&ctx.project);
    let removed = block_on(async {
        let engine = Engine::connect().await?;
        let targets = match (&args.mode, args.all) {
            (_, true) => engine.list(None).await?,
            (Some(mode), false) => {
                let all = engine.list(Some(&project.path)).await?;
                crate::containers::check_profile_name(&project.path, mode, &all)?;
                engine
                    .find(&project.container_name(mode))
                    .await?
                    .into_iter()
                    .collect()
            }
            (None, false) => engine.list(Some(&project.path)).await?,
        };
        let mut removed = Vec::new();
        for c in targets {
            engine.remove(&c.id).await?;
            p.info(format!("Removed {}", c.name));
            removed.push(c.name);
        }
        let mut volumes = Vec::new();
        if args.purge {
            for name in engine.project_volumes(&project).await? {
                engine.remove_volume(&name).await?;
                p.info(format!(
                    "Removed {name}, the project's home: what `pip install` put there, caches, shell history and VS Code's server"
                ));
                volumes.push(name);
            }
            if volumes.is_empty() {
                p.info("No home volume for this project.");
            }
        }
        Ok::<_, crate::error::Error>((removed, volumes))
    })?;
    let (removed, volumes) = removed;
    if removed.is_empty() {
        p.info(match (&args.mode, args.all) {
            (_, true) => "No ptenv containers on this machine.".to_string(),
            (Some(mode), _) => format!("No `{mode}` container for this project."),
            (None, _) => "No ptenv containers for this project.".to_string(),
        });
    }
    #[derive(serde::Serialize)]
    struct Removed {
        removed: Vec<String>,
        volumes: Vec<String>,
    }
    p.json(&Removed { removed, volumes });
    Ok(0)
}
