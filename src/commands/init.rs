//! `ptenv init`: write a commented `ptenv.yaml`. On a terminal it asks a few questions
//! (dialoguer); `--yes` or a non-terminal takes the defaults. An existing file is kept unless
//! `--force`.

use std::io::IsTerminal;

use super::Ctx;
use crate::atomic::{self, Mode, Owner};
use crate::cli::InitArgs;
use crate::error::{Error, Result};
use crate::profile::{self, PROJECT_FILE};
use crate::template::{render, Answers};

pub fn run(ctx: &Ctx, args: InitArgs) -> Result<i32> {
    let path = ctx.project.join(PROJECT_FILE);
    if path.exists() && !args.force {
        return Err(Error::new(format!(
            "{} already exists; ptenv init leaves it as it is",
            path.display()
        ))
        .hint("edit it, or run `ptenv init --force` to replace it with a fresh example"));
    }
    let interactive =
        !args.yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let answers = if interactive {
        ask()?
    } else {
        Answers::default()
    };
    let text = render(&answers);
    // The rendered file must load: a template that ptenv itself rejects would be a bug.
    profile::parse(&text, &path)?;
    atomic::write(&path, text.as_bytes(), Mode::KeepOr(0o644), Owner::Inherit)?;
    ctx.printer.info(format!("wrote {}", path.display()));
    ctx.printer.info(format!(
        "next: `ptenv up {}` (or `ptenv up --dry-run` to see the resolved profile)",
        answers.default
    ));
    #[derive(serde::Serialize)]
    struct Written<'a> {
        path: &'a std::path::Path,
    }
    ctx.printer.json(&Written { path: &path });
    Ok(0)
}

fn ask() -> Result<Answers> {
    use dialoguer::{Input, Select};
    let term_err = |e: dialoguer::Error| {
        Error::new(format!("cannot ask on the terminal: {e}"))
            .hint("run `ptenv init --yes` to take the defaults")
    };
    let modes = ["jupyter", "ssh", "shell"];
    let mode = Select::new()
        .with_prompt("How will you work in this project? (the default profile of `ptenv up`)")
        .items([
            "jupyter: JupyterLab in the browser",
            "ssh: VS Code Remote-SSH",
            "shell: a terminal",
        ])
        .default(0)
        .interact()
        .map_err(term_err)?;
    let versions = ["2.6", "2.7", "latest"];
    let pytorch = Select::new()
        .with_prompt("PyTorch version")
        .items([
            "2.6",
            "2.7 (the first with code for RTX 50xx / Blackwell GPUs)",
            "latest (the newest release that runs on this machine's GPUs and driver)",
        ])
        .default(0)
        .interact()
        .map_err(term_err)?;
    let gpu_choices = ["all", "none"];
    let gpus = Select::new()
        .with_prompt("GPUs for the container")
        .items(["all GPUs", "none (CPU only)"])
        .default(0)
        .interact()
        .map_err(term_err)?;
    let shm: String = Input::new()
        .with_prompt("Shared memory (/dev/shm) for DataLoader workers")
        .default("auto".to_string())
        .validate_with(|s: &String| profile::ShmSize::parse(s).map(|_| ()))
        .interact_text()
        .map_err(term_err)?;
    let pip: String = Input::new()
        .with_prompt("Extra pip packages (space-separated, empty for none)")
        .allow_empty(true)
        .interact_text()
        .map_err(term_err)?;
    Ok(Answers {
        default: modes[mode].into(),
        pytorch: versions[pytorch].into(),
        gpus: gpu_choices[gpus].into(),
        shm_size: shm,
        pip: pip.split_whitespace().map(String::from).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_link_planted_at_a_guessable_temporary_name_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let project = tmp.path().join("p");
        std::fs::create_dir(&project).unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        // The name a writer that uses its process id would pick.
        let guess = project.join(format!(".{PROJECT_FILE}.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &guess).unwrap();
        let ctx = Ctx {
            printer: crate::output::Printer {
                quiet: true,
                verbose: false,
                json: false,
            },
            project: project.clone(),
            machine: Box::new(crate::host::Local),
        };
        let _ = run(
            &ctx,
            InitArgs {
                yes: true,
                force: false,
            },
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        let written = std::fs::read_to_string(project.join(PROJECT_FILE)).unwrap();
        profile::parse(&written, Path::new("ptenv.yaml")).unwrap();
    }
}
