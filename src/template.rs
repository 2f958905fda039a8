//! The commented `ptenv.yaml` that `ptenv init` writes: the user's answers, and every other
//! key as a commented example. Pure: answers in, text out.

use crate::profile;

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
    use crate::profile::{Gpus, Layer, Origin, ShmSize, SourceFile, Sources};
    use std::path::{Path, PathBuf};

    fn resolve(text: &str) -> crate::profile::Profile {
        let layer = profile::parse(text, Path::new("ptenv.yaml")).unwrap();
        let sources = Sources {
            files: vec![SourceFile {
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
