//! `ptenv down [MODE|--all|--all-projects|--purge] [--user NAME] [--yes]`: stop and remove
//! containers. By default this project's (one profile's with MODE); `--all-projects` every
//! project's on the engine, after showing them and asking. Another user's environments only
//! when named with `--user` (docs/gpus.md §5). Keys, tokens, derived images and the project's
//! home volume are kept, so the next `up` is quick, the Jupyter URL stays the same and what the
//! user installed is still there; `--purge` removes the home volume too (this project's only).

use std::io::IsTerminal;

use super::Ctx;
use crate::cli::DownArgs;
use crate::engine::container::Found;
use crate::engine::{block_on, Engine};
use crate::error::{Error, Result};
use crate::output::Printer;
use crate::ownership::{owner, Who};
use crate::project::{Project, LABEL_PROJECT};

pub fn run(ctx: &Ctx, args: DownArgs) -> Result<i32> {
    let p = &ctx.printer;
    let project = Project::new(&ctx.project);
    let me = crate::project::user();
    let who = Who {
        me: &me,
        my_uid: rustix::process::geteuid().as_raw(),
        named: &args.users,
    };
    let removed = block_on(async {
        let engine = Engine::connect().await?;
        let candidates = match (&args.mode, args.all_projects) {
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
        let (targets, others): (Vec<Found>, Vec<Found>) = candidates
            .into_iter()
            .partition(|c| who.may_remove(owner(&c.labels).as_deref()));
        for c in &others {
            let user = owner(&c.labels).unwrap_or_default();
            p.info(format!(
                "Left {} alone: it is {user}'s (add `--user '{user}'` to remove it too).",
                c.name
            ));
        }
        if args.all_projects && !targets.is_empty() {
            confirm(&targets, args.yes, p)?;
        }
        let mut removed = Vec::new();
        let ssh = ctx.machine.connection().map(|c| c.host.clone());
        for c in targets {
            engine.remove(&c.id).await?;
            // Its ports forwarded to this machine end with it.
            if let Some(host) = &ssh {
                crate::tunnel::Tunnel::new(host, &engine.endpoint, &c.name)?.end();
            }
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
        Ok::<_, Error>((removed, volumes))
    })?;
    let (removed, volumes) = removed;
    if removed.is_empty() {
        p.info(match (&args.mode, args.all_projects) {
            (_, true) => "No ptenv containers of yours on this engine.".to_string(),
            (Some(mode), _) => format!("No `{mode}` container for this project."),
            (None, _) => "No ptenv containers of yours for this project.".to_string(),
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

/// `--all-projects` reaches beyond this folder: show what goes and ask, or require `--yes`.
fn confirm(targets: &[Found], yes: bool, p: &Printer) -> Result<()> {
    let list: Vec<String> = targets
        .iter()
        .map(|c| {
            format!(
                "  {} ({}, {})",
                c.name,
                c.label(LABEL_PROJECT),
                owner(&c.labels).unwrap_or_else(|| "owner not recorded".into())
            )
        })
        .collect();
    let list = list.join("\n");
    if yes {
        return Ok(());
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(Error::new(format!(
            "`ptenv down --all-projects` would remove these containers of other projects too, and there is no terminal to ask:\n{list}"
        ))
        .hint("add `--yes` to remove them, or run `ptenv down` in each project's folder"));
    }
    p.ask(format!("These containers will be removed:\n{list}"));
    let ok = dialoguer::Confirm::new()
        .with_prompt(format!("Remove {} containers?", targets.len()))
        .default(false)
        .interact_on(&dialoguer::console::Term::stderr())
        .map_err(|e| Error::new(format!("cannot ask on the terminal: {e}")))?;
    if ok {
        Ok(())
    } else {
        Err(Error::new("nothing removed").hint("run it again and answer yes, or add `--yes`"))
    }
}
