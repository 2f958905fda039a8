//! `ptenv init`: write a commented `ptenv.yaml`. On a terminal it asks a few questions
//! (dialoguer); `--yes` or a non-terminal takes the defaults. An existing file is kept unless
//! `--force`.

use std::io::IsTerminal;

use super::Ctx;
use crate::atomic::{self, Mode, Owner};
use crate::cli::InitArgs;
use crate::error::{Error, Result};
use crate::profile::{self, PROJECT_FILE};

/// The answers that shape the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers {
    pub default: String,
    pub pytorch: String,
    pub gpus: String,
    pub shm_size: String,
    pub pip: Vec<String>,
}

impl Default for Answers {
    fn default() -> Self {
        Answers {
            default: "jupyter".into(),
            pytorch: profile::DEFAULT_PYTORCH.into(),
            gpus: "all".into(),
            shm_size: "auto".into(),
            pip: Vec::new(),
        }
    }
}

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
    ctx.printer.json(&serde_json::json!({ "path": path }));
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

/// The file's text: the answers, and every other key as a commented example.
pub fn render(a: &Answers) -> String {
    let pip = if a.pip.is_empty() {
        "#   pip: [einops, wandb]".to_string()
    } else {
        format!("  pip: [{}]", a.pip.join(", "))
    };
    let packages_key = if a.pip.is_empty() {
        "# packages:"
    } else {
        "packages:"
    };
    format!(
        r#"# ptenv.yaml: how this project's PyTorch environment is built and started.
# Layers, lowest first: ptenv's built-in profiles < ~/.config/ptenv/config.yaml < this file
# < command-line flags. Keys at the top level apply to every profile; `profiles:` below
# defines named ones. `ptenv up NAME --dry-run` prints what a profile resolves to.

# The profile `ptenv up` starts without a name.
default: {default}

# PyTorch version of the image ("2.0" to "2.14", or latest: the newest that runs here);
# ptenv picks the CUDA line that fits your driver and GPUs (`ptenv select --list` shows them).
pytorch: "{pytorch}"
# runtime, or devel (adds nvcc for building CUDA extensions).
variant: runtime
# Pin the CUDA line or the whole image (still checked against your GPUs):
# cuda: "12.4"
# image: pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime
# A private mirror of pytorch/pytorch:
# repository: registry.example.com/team/pytorch
# When to pull: missing (default), always, never.
pull: missing

# GPUs: all, none, or a list of indexes or UUIDs such as [0, 1].
gpus: {gpus}
# /dev/shm for DataLoader workers: auto (half of RAM) or a size like 16g.
shm_size: {shm}
# Or share the host's IPC namespace (then shm_size is ignored):
# ipc: host

# Extra packages baked into the environment image:
{packages_key}
#   apt: [git, htop]
{pip}

# More mounts (the project folder is always /workspace):
# mounts:
#   - ~/datasets:/data:ro
# Environment variables:
# env:
#   WANDB_MODE: offline
# Ports published on 127.0.0.1 (write `bind: 0.0.0.0` to expose them to the network):
# ports: [6006]

# Named profiles; each one starts from the built-in profile of its mode.
# profiles:
#   train:
#     mode: shell
#     gpus: [0]
#     command: python train.py
"#,
        default = a.default,
        pytorch = a.pytorch,
        gpus = a.gpus,
        shm = a.shm_size,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Gpus, Layer, Origin, ShmSize, Source, Sources};
    use std::path::{Path, PathBuf};

    fn resolve(text: &str) -> crate::profile::Profile {
        let layer = profile::parse(text, Path::new("ptenv.yaml")).unwrap();
        let sources = Sources {
            files: vec![Source {
                origin: Origin::Project(PathBuf::from("ptenv.yaml")),
                layer,
            }],
        };
        sources
            .resolve(&sources.default_name(), &Layer::default())
            .unwrap()
    }

    #[test]
    fn the_default_template_resolves_to_the_builtin_defaults() {
        let p = resolve(&render(&Answers::default()));
        assert_eq!(p.name, "jupyter");
        assert_eq!(p.gpus, Gpus::All);
        assert_eq!(p.shm_size, Some(ShmSize::Auto));
        assert!(p.packages.pip.is_empty());
    }

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

    #[test]
    fn answers_end_up_in_the_file() {
        let a = Answers {
            default: "ssh".into(),
            pytorch: "2.7".into(),
            gpus: "none".into(),
            shm_size: "16g".into(),
            pip: vec!["einops".into(), "wandb".into()],
        };
        let p = resolve(&render(&a));
        assert_eq!(p.name, "ssh");
        assert_eq!(p.pytorch, "2.7");
        assert_eq!(p.gpus, Gpus::None);
        assert_eq!(p.shm_size, Some(ShmSize::Bytes(16 << 30)));
        assert_eq!(p.packages.pip, vec!["einops", "wandb"]);
    }
}
