//! Exporting a profile: the container `ptenv up` would create, as a Compose file or Kubernetes
//! manifests, for machines other than this one.
//!
//! It takes the same path as `up` (profile → image choice → mode setup → `plan::plan`) and
//! hands the plan to the pure renderers in `export/`. Two differences, both because the file
//! runs elsewhere: the GPUs follow the profile, not this machine's detection (a laptop without
//! GPUs exports for a GPU server), and nothing is pulled or built: the image is ptenv's derived
//! tag when the base image is on this machine, else a name Compose builds.
//!
//! With an output file the files beside it are written (secrets 0600, in folders only the user
//! can read); without, the caller prints the main document and no secret.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::atomic;
use crate::cli::K8sKind;
use crate::context::Ctx;
use crate::engine::pull::LocalImage;
use crate::engine::recipe::Recipe;
use crate::engine::{block_on, Engine};
use crate::error::{Error, Result};
use crate::export::{compose, k8s, Input, Rendered};
use crate::gpu;
use crate::modes::{self, SetupInput};
use crate::plan;
use crate::profile::{self, Layer};
use crate::project::{slug, Project};
use crate::select;

/// What the user asked to export.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The profile; `None`: the project's default.
    pub profile: Option<String>,
    /// The profile settings given as flags.
    pub flags: Layer,
    /// `--driver`/`--gpu`: the machines that will run it, instead of this one.
    pub driver: Option<String>,
    pub gpu: Vec<String>,
    /// `--trust`: apply an untrusted project file for this run.
    pub trust: bool,
    /// `-o FILE`: write the document there, and the files beside it.
    pub output: Option<PathBuf>,
    /// Kubernetes manifests instead of a Compose file.
    pub k8s: Option<K8sRequest>,
    /// `--nodes`: a multi-node training job (Compose services, or pods of a PyTorchJob or JobSet).
    pub nodes: Option<u32>,
}

/// `ptenv export k8s`'s own options.
#[derive(Debug, Clone, Default)]
pub struct K8sRequest {
    pub kind: Option<K8sKind>,
    pub gpu_count: Option<u32>,
    pub pvc: Option<String>,
    pub host_path: bool,
}

/// What was exported.
#[derive(Debug)]
pub struct Exported {
    /// "compose" or "k8s".
    pub target: &'static str,
    pub profile: profile::Profile,
    /// The image the document runs (ptenv's derived tag, or the name Compose builds).
    pub image: String,
    pub base_image: String,
    /// Whether the mode places files in the container (a token, keys).
    pub mode_has_files: bool,
    pub rendered: Rendered,
    /// With an output file: it, and the files written beside it.
    pub written: Option<(PathBuf, Vec<PathBuf>)>,
}

/// The memory a pod of the profile has, and where that figure comes from: the profile's
/// `kubernetes.memory`, else [`K8S_DEFAULT_POD_MEMORY`].
fn k8s_pod_memory(profile: &profile::Profile) -> (u64, String) {
    match &profile.kubernetes.memory {
        Some(m) => (
            crate::size::parse_size(&m.0).expect("checked when the profile was resolved"),
            format!("`kubernetes.memory: {}`", m.0),
        ),
        None => (
            K8S_DEFAULT_POD_MEMORY,
            format!(
                "{} assumed for the pod (no `kubernetes.memory`)",
                crate::size::human(K8S_DEFAULT_POD_MEMORY)
            ),
        ),
    }
}

/// The pod memory assumed when the profile does not say: it gives an 8 GiB /dev/shm, enough for
/// a few DataLoader workers on one GPU, and fits the nodes of any GPU cluster.
const K8S_DEFAULT_POD_MEMORY: u64 = 16 << 30;

pub fn export(ctx: &Ctx, req: &Request) -> Result<Exported> {
    let k8s_args = req.k8s.as_ref();
    let p = &ctx.printer;
    let (sources, profile) = ctx.profile(req.profile.as_deref(), &req.flags)?;
    crate::trust_gate::require(
        ctx,
        &sources,
        crate::trust_gate::Gate::Apply {
            trust_flag: req.trust,
        },
    )?;
    // The file runs elsewhere: it requests what the profile asks for, whatever this machine
    // has, and hides the GPUs when it asks for none (that machine's default runtime is
    // unknown: docs/gpus.md §2). Decided once here; the renderers read it from the plan.
    let request = plan::GpuRequest::from_profile(&profile.gpus, true);
    let overrides = req.driver.is_some() || !req.gpu.is_empty();
    let facts = if overrides {
        gpu::from_overrides(req.driver.as_deref(), &req.gpu)?
    } else {
        ctx.machine.gpu_facts()
    };
    // The file runs elsewhere: on a machine without a driver, choose the image as for the CPU
    // (as `gpus: all` does there) instead of refusing GPU indexes this machine cannot have;
    // the export still requests them.
    let choice = if facts.driver.is_none() && !overrides && request.is_some() {
        let cpu = profile::Profile {
            gpus: profile::Gpus::None,
            ..profile.clone()
        };
        select::choose(&cpu, &facts)?
    } else {
        select::choose(&profile, &facts)?
    };
    for w in &choice.warnings {
        p.warn(w);
    }
    // With a ptenv.lock, the team's pinned digest, as `ptenv up` uses it (nothing is rewritten).
    let locked = crate::lockfile::apply(&ctx.project, &profile, &facts, choice, false, true, p)?;
    locked.say(&profile.name, p);
    let choice = locked.choice;
    if let (Some(wanted), false) = (&request, choice.gpu) {
        p.warn(format!(
            "this machine has no GPU ptenv can use, so {} was chosen without checking GPUs; the export still requests the GPUs the profile asks for (`gpus: {wanted}`)",
            choice.image
        ));
        p.info("  check the image against the target machines with --driver VERSION [--gpu CC], or export for the CPU with --gpus none");
    }
    // The same dependency layers as `ptenv up` builds: Compose builds them from the
    // Dockerfile, and the image a cluster pulls is the one built here.
    let (dependencies, kept) = crate::project::dependencies(&ctx.project, &profile, &choice)?;
    for s in kept.iter().chain(&dependencies.skipped) {
        p.info(s);
    }
    let project = Project::new(&ctx.project);
    let user = ctx.machine.container_user(&ctx.project);
    let setup = modes::setup(
        &profile,
        &SetupInput {
            user: &user,
            project: &project,
            new_token: false,
        },
    )?;
    for w in &setup.warnings {
        p.warn(w);
    }
    let base = block_on(local_image(&choice.image));
    let (base_id, base_user) = base.map(|b| (b.id, b.user)).unzip();
    let recipe = Recipe {
        base: &choice.image,
        base_id: base_id.as_deref().unwrap_or(""),
        base_user: base_user.as_deref(),
        mode: profile.mode,
        packages: &profile.packages,
        user: &user,
        sudo: profile.sudo,
        dependencies: Some(&dependencies),
    };
    // The derived tag hashes the base image's ID: known only when the base is here. Otherwise
    // a stable name that Compose builds from the Dockerfile.
    let image = match &base_id {
        Some(_) => recipe.tag()?,
        None => format!("ptenv/{}-{}", project.id, slug(&profile.name)),
    };
    let dockerfile = recipe.dockerfile()?;
    let home = ctx.machine.home();
    // `shm_size: auto` is half of the RAM of the machine that runs the environment: this one
    // for Compose; for Kubernetes the pod's memory, which this machine cannot know.
    let target_ram = match k8s_args {
        None => ctx.machine.ram(),
        Some(_) => {
            let (ram, from) = k8s_pod_memory(&profile);
            if profile.shm_size == Some(profile::ShmSize::Auto) {
                p.info(format!(
                    "/dev/shm in the pod: {} (`shm_size: auto` is half of {from}); set `shm_size` or `kubernetes.memory` for your nodes",
                    crate::size::human(plan::auto_shm(ram))
                ));
            }
            ram
        }
    };
    let spec = plan::plan(&plan::Input {
        profile: &profile,
        project: &project,
        image: &image,
        base_image: &choice.image,
        gpus: request,
        nvidia_default_runtime: true,
        host_ram: target_ram,
        user: &user,
        setup: &setup,
        home: &home,
        workspace: plan::Workspace::Project,
    });
    let input = Input {
        profile: &profile,
        project: &project,
        spec: &spec,
        setup: &setup,
        base_image: &choice.image,
        dockerfile: &dockerfile,
    };
    let output = req.output.as_deref().map(absolute).transpose()?;
    let out_dir = output
        .as_deref()
        .map(|o| o.parent().unwrap_or(Path::new("/")).to_path_buf());
    let rendered = match k8s_args {
        None => {
            let in_project = match &out_dir {
                Some(d) => same_dir(d, &ctx.project),
                None => std::env::current_dir().is_ok_and(|d| same_dir(&d, &ctx.project)),
            };
            compose::render(
                &input,
                &compose::Layout::for_profile(&profile.name, in_project),
                req.nodes,
            )?
        }
        Some(k) => {
            let workspace = if k.host_path {
                k8s::Workspace::HostPath
            } else {
                k8s::Workspace::Claim(
                    k.pvc
                        .clone()
                        .or_else(|| profile.kubernetes.pvc.clone())
                        .unwrap_or_else(|| k8s::default_claim(&input)),
                )
            };
            if let Some(pvc) = &k.pvc {
                if !profile::is_dns_subdomain(pvc) {
                    return Err(Error::usage(format!("`--pvc {pvc}` is not a claim name"))
                        .hint("lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit"));
                }
            }
            let secret_file = output.as_deref().map(secret_file_name);
            k8s::render(
                &input,
                &k8s::Options {
                    kind: k.kind.map(Into::into),
                    gpu_count: k.gpu_count,
                    nodes: req.nodes,
                    workspace,
                    secret_file,
                },
            )?
        }
    };
    let mut rendered = rendered;
    if profile.mode == crate::profile::Mode::Ssh {
        // The renderers are pure; where ptenv keeps the project's client key is a fact of here.
        let key =
            crate::secrets::Store::open(&crate::project::data_dir(&project)?)?.client_key_path();
        for n in &mut rendered.next {
            *n = n.replace("<ptenv's client key>", &key.display().to_string());
        }
    }
    for w in &rendered.warnings {
        p.warn(w);
    }
    let written = match (&output, &out_dir) {
        (Some(file), Some(dir)) => Some((file.clone(), write_all(file, dir, &rendered)?)),
        _ => None,
    };
    Ok(Exported {
        target: if k8s_args.is_some() { "k8s" } else { "compose" },
        profile,
        image: spec.image.clone(),
        base_image: choice.image,
        mode_has_files: !setup.files.is_empty(),
        rendered,
        written,
    })
}

/// The base image's ID and user when the engine answers and has it (so the derived tag is the
/// one `ptenv up` builds); `None` otherwise (export works
/// without an engine).
async fn local_image(image: &str) -> Option<LocalImage> {
    let engine = tokio::time::timeout(Duration::from_secs(3), Engine::connect())
        .await
        .ok()?
        .ok()?;
    engine.local_image(image).await.ok().flatten()
}

/// `-o` relative to the current directory, as shells mean it.
fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Error::new(format!("cannot read the current directory: {e}")))?;
    Ok(cwd.join(path))
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `k8s.yaml` → `k8s.secret.yaml` (in the profile's bundle folder beside it).
fn secret_file_name(output: &Path) -> String {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ptenv".into());
    format!("{stem}.secret.yaml")
}

/// Writes the main document and the files beside it. Folders that hold secrets are 0700;
/// as root, files go to the user the container reads them as (as `ptenv up` copies them),
/// the others to the folder's owner (see [`atomic`]).
fn write_all(file: &Path, dir: &Path, r: &Rendered) -> Result<Vec<PathBuf>> {
    atomic::create_dir_all(dir, 0o755)
        .map_err(|e| e.hint("pass -o with a path in a folder you can write to"))?;
    atomic::write(
        file,
        r.text.as_bytes(),
        atomic::Mode::KeepOr(0o644),
        atomic::Owner::Inherit,
    )?;
    let mut written = Vec::new();
    for f in &r.files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            atomic::create_dir_all(parent, 0o755)?;
            if f.secret && parent != dir {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        let owner = match f.owner {
            Some((uid, gid)) => atomic::Owner::Ids(uid, gid),
            None => atomic::Owner::Inherit,
        };
        atomic::write(&path, &f.contents, atomic::Mode::Exactly(f.mode), owner)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_file_is_named_after_the_manifests() {
        assert_eq!(
            secret_file_name(Path::new("/x/k8s.yaml")),
            "k8s.secret.yaml"
        );
        assert_eq!(secret_file_name(Path::new("deploy")), "deploy.secret.yaml");
    }
}
