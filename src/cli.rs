//! The command line, as clap definitions only: what the user can type, with its help text.
//! Turning flags into a profile layer is the one piece of logic here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::profile::{Gpus, Ipc, Layer, PullPolicy, ShmSize, Variant, Version};

#[derive(Debug, Parser)]
#[command(
    name = "ptenv",
    version,
    about = "PyTorch environments on Docker, without environment hell",
    long_about = "ptenv starts a PyTorch container that fits this machine: it reads the project's \
profile (ptenv.yaml), detects the NVIDIA driver and GPUs, picks a pytorch/pytorch image that runs \
on them, and starts it with the GPUs, enough shared memory, the project mounted at /workspace and \
ports bound to 127.0.0.1. Modes: JupyterLab with a token, SSH for VS Code Remote-SSH, or a shell.",
    after_help = "Start with `ptenv init`, then `ptenv up jupyter`. When torch cannot see the GPU, run `ptenv doctor`."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Print machine-readable JSON on stdout (for commands that report something)
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors and the command's result
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Explain more: where facts came from, what is sent to Docker
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// The project folder (default: the current directory); it is mounted at /workspace
    #[arg(long, global = true, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// The Docker Engine to use: ssh://[USER@]HOST[:PORT], tcp://HOST:PORT, unix:///PATH or a
    /// docker context name (default: DOCKER_HOST, DOCKER_CONTEXT, the current docker context,
    /// then the local socket)
    #[arg(long, global = true, value_name = "TARGET")]
    pub host: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start (or reuse) the project's environment for a profile: jupyter, ssh, shell or your own
    Up(UpArgs),
    /// Start the ssh environment and set up `ssh ptenv-<project>` for VS Code Remote-SSH
    Ssh(SshArgs),
    /// Open an interactive shell in the environment, like `docker run -it`
    Shell(ShellArgs),
    /// Find the broken link when torch cannot use the GPU, and say how to fix it
    Doctor(DoctorArgs),
    /// Show which PyTorch image fits this machine's driver and GPUs, and why
    Select(SelectArgs),
    /// Read what an image contains (torch, CUDA, compiled GPU code) and whether it runs here
    Inspect(InspectArgs),
    /// Stop and remove the project's containers (keys and tokens are kept)
    Down(DownArgs),
    /// List ptenv's containers on the engine (this machine's, or the one --host names)
    Ls(LsArgs),
    /// Show each GPU's load and which environment (or "other") its processes belong to
    Stats(StatsArgs),
    /// Show the output of the project's container
    Logs(LogsArgs),
    /// Run a command in the project's running container; its exit code is returned
    Exec(ExecArgs),
    /// Bring files the container changed on a server back to the project folder
    Sync(SyncArgs),
    /// Write a commented ptenv.yaml for the project
    Init(InitArgs),
    /// List the profiles available here and where each comes from
    Profiles,
    /// Write the environment as a Docker Compose file or Kubernetes manifests
    Export(ExportArgs),
    /// Pin the resolved images by digest in ptenv.lock, for the whole team
    Lock(LockArgs),
    /// Trust the project's ptenv.yaml: its mounts, command, env, packages, image and open ports
    Trust(TrustArgs),
    /// What ptenv runs on a server it reaches over ssh (not for people)
    #[command(hide = true, subcommand)]
    Agent(AgentCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
}

/// The agent's requests.
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Print this machine's facts (GPUs, RAM, user) as JSON
    Facts,
    /// Print doctor's host links and the Docker links' files of this machine as JSON
    Doctor,
    /// Print the GPUs' load and processes of this machine, with their containers, as JSON
    Usage,
}

/// Flags that override the profile for one run (the highest layer).
#[derive(Debug, Args, Default, Clone)]
pub struct ProfileFlags {
    /// PyTorch version of the image, e.g. 2.6 or 2.8, or `latest` (the newest that runs here)
    #[arg(long, value_name = "VERSION", value_parser = |s: &str| Version::parse_pytorch(s))]
    pub pytorch: Option<Version>,
    /// Image variant: runtime, or devel (adds the CUDA toolkit, nvcc)
    #[arg(long, value_enum)]
    pub variant: Option<VariantArg>,
    /// Pin the CUDA line of the image, e.g. 12.4
    #[arg(long, value_name = "VERSION", value_parser = |s: &str| Version::parse(s))]
    pub cuda: Option<Version>,
    /// Use this image instead of choosing one (still checked against the GPUs)
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,
    /// Image repository, e.g. a private mirror registry.example.com/team/pytorch
    #[arg(long, value_name = "NAME")]
    pub repository: Option<String>,
    /// When to pull the image
    #[arg(long, value_enum, value_name = "POLICY")]
    pub pull: Option<PullArg>,
    /// GPUs for the container, as docker run --gpus: all, none, a count (2: free ones are
    /// taken), or device=0,2 / device=GPU-… (docs/gpus.md)
    #[arg(long, value_name = "GPUS", value_parser = |s: &str| Gpus::parse(s))]
    pub gpus: Option<Gpus>,
    /// Size of /dev/shm: auto (half of the host's RAM) or a size such as 8g
    #[arg(long, value_name = "SIZE", value_parser = |s: &str| ShmSize::parse(s))]
    pub shm_size: Option<ShmSize>,
    /// IPC namespace: host shares the host's /dev/shm (then the shm size is ignored)
    #[arg(long, value_enum)]
    pub ipc: Option<IpcArg>,
}

impl ProfileFlags {
    /// The flags as the top profile layer.
    pub fn layer(&self) -> Layer {
        Layer {
            pytorch: self.pytorch.clone(),
            variant: self.variant.map(Variant::from),
            cuda: self.cuda.clone(),
            image: self.image.clone(),
            repository: self.repository.clone(),
            pull: self.pull.map(PullPolicy::from),
            gpus: self.gpus.clone(),
            shm_size: self.shm_size,
            ipc: self.ipc.map(Ipc::from),
            ..Layer::default()
        }
    }
}

// The profile's enums as clap values. The core crate knows no clap, so each has its mirror
// here, with the same names and help, turned into the core's type at the edge.

/// `runtime` images carry the CUDA libraries torch needs; `devel` adds the toolkit (nvcc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VariantArg {
    Runtime,
    Devel,
}

impl From<VariantArg> for Variant {
    fn from(v: VariantArg) -> Variant {
        match v {
            VariantArg::Runtime => Variant::Runtime,
            VariantArg::Devel => Variant::Devel,
        }
    }
}

/// When to pull the base image, as `docker run --pull`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PullArg {
    /// Pull only when the image is not present (the default).
    Missing,
    /// Pull on every `up`, to pick up a re-pushed tag.
    Always,
    /// Never pull; fail if the image is absent.
    Never,
}

impl From<PullArg> for PullPolicy {
    fn from(p: PullArg) -> PullPolicy {
        match p {
            PullArg::Missing => PullPolicy::Missing,
            PullArg::Always => PullPolicy::Always,
            PullArg::Never => PullPolicy::Never,
        }
    }
}

/// `host` shares the host's IPC namespace and /dev/shm; `private` gives the container its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IpcArg {
    Private,
    Host,
}

impl From<IpcArg> for Ipc {
    fn from(i: IpcArg) -> Ipc {
        match i {
            IpcArg::Private => Ipc::Private,
            IpcArg::Host => Ipc::Host,
        }
    }
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Profile to start: jupyter, ssh, shell, or one from ptenv.yaml (default: the file's `default`, else jupyter)
    pub mode: Option<String>,
    #[command(flatten)]
    pub profile: ProfileFlags,
    /// Print the resolved profile (and with --json the container that would be created); change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Start in the background and return (a shell profile otherwise opens an interactive shell)
    #[arg(short, long)]
    pub detach: bool,
    /// Generate a new Jupyter token instead of reusing the stored one
    #[arg(long)]
    pub new_token: bool,
    /// Open the Jupyter URL in the browser once it answers
    #[arg(long)]
    pub open: bool,
    /// Resolve the image again and rewrite ptenv.lock when the host's selection differs
    #[arg(long)]
    pub relock: bool,
    /// Apply the project's untrusted ptenv.yaml settings for this run (CI); `ptenv trust` records trust instead
    #[arg(long)]
    pub trust: bool,
    /// Start the image even when what it says about itself shows it cannot run here (ptenv warns)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub target: ExportTarget,
}

#[derive(Debug, Subcommand)]
pub enum ExportTarget {
    /// A Compose file (docker compose / docker-compose) for the resolved profile
    Compose(ExportCompose),
    /// Kubernetes manifests (Pod, Job or Deployment, Service, Secret) for the resolved profile
    K8s(ExportK8s),
}

#[derive(Debug, Args)]
pub struct ExportCommon {
    /// Profile to export (default: the project's default)
    pub mode: Option<String>,
    #[command(flatten)]
    pub profile: ProfileFlags,
    /// Write to FILE instead of stdout (secrets go to a 0600 file beside it)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Choose the image for the machines that will run it: their NVIDIA driver version (skips detection)
    #[arg(long, value_name = "VERSION")]
    pub driver: Option<String>,
    /// With --driver: a GPU compute capability of those machines, e.g. 8.0 (repeat for several GPUs)
    #[arg(long = "gpu", value_name = "CC")]
    pub gpu: Vec<String>,
    /// Apply the project's untrusted ptenv.yaml settings for this run (CI); `ptenv trust` records trust instead
    #[arg(long)]
    pub trust: bool,
}

#[derive(Debug, Args)]
pub struct ExportCompose {
    #[command(flatten)]
    pub common: ExportCommon,
    /// Train on N nodes: N services on one network running the profile's command under torchrun, node 0 the rendezvous host
    #[arg(long, value_name = "N")]
    pub nodes: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ExportK8s {
    #[command(flatten)]
    pub common: ExportCommon,
    /// The workload kind (default: pytorchjob with nodes, job when the profile sets `kubernetes.nproc_per_node`, else pod)
    #[arg(long, value_enum)]
    pub kind: Option<K8sKind>,
    /// GPUs per pod (nvidia.com/gpu limit); default: from the profile (all = 1)
    #[arg(long = "gpu-count", value_name = "N")]
    pub gpu_count: Option<u32>,
    /// Train on N nodes (pods) with --kind pytorchjob or jobset; default: `kubernetes.nodes`
    #[arg(long, value_name = "N")]
    pub nodes: Option<u32>,
    /// GPUs of each node's pod in a multi-node job (the same limit as --gpu-count)
    #[arg(long = "gpus-per-node", value_name = "M", conflicts_with = "gpu_count")]
    pub gpus_per_node: Option<u32>,
    /// Name of the PersistentVolumeClaim that holds the workspace
    #[arg(long, value_name = "NAME")]
    pub pvc: Option<String>,
    /// Mount the project folder with hostPath instead of a PVC (single-node clusters only)
    #[arg(long, conflicts_with = "pvc")]
    pub host_path: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum K8sKind {
    Pod,
    Job,
    Deployment,
    /// Kubeflow's PyTorchJob (kubeflow.org/v1): a Master and Workers, one pod per node
    #[value(name = "pytorchjob")]
    PyTorchJob,
    /// A JobSet (jobset.x-k8s.io/v1alpha2): an indexed Job, pods found by their hostnames
    #[value(name = "jobset")]
    JobSet,
}

impl From<K8sKind> for crate::export::k8s::K8sKind {
    fn from(k: K8sKind) -> Self {
        match k {
            K8sKind::Pod => Self::Pod,
            K8sKind::Job => Self::Job,
            K8sKind::Deployment => Self::Deployment,
            K8sKind::PyTorchJob => Self::PyTorchJob,
            K8sKind::JobSet => Self::JobSet,
        }
    }
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Exit non-zero when ptenv.lock is missing or stale (for CI); write nothing
    #[arg(long)]
    pub check: bool,
    /// Resolve for another machine's NVIDIA driver version instead of this host's
    #[arg(long, value_name = "VERSION")]
    pub driver: Option<String>,
    /// Resolve for a GPU compute capability (repeat for several GPUs)
    #[arg(long = "gpu", value_name = "CC")]
    pub gpu: Vec<String>,
    /// Apply the project's untrusted ptenv.yaml settings for this run (CI); `ptenv trust` records trust instead
    #[arg(long)]
    pub trust: bool,
}

#[derive(Debug, Args)]
pub struct SshArgs {
    /// Profile to use (a profile of mode ssh; default: ssh)
    #[arg(value_name = "PROFILE")]
    pub mode: Option<String>,
    /// The same as PROFILE (the older spelling)
    #[arg(long, value_name = "NAME", hide = true, conflicts_with = "mode")]
    pub profile_name: Option<String>,
    #[command(flatten)]
    pub profile: ProfileFlags,
    /// Remove ptenv's host entry and its Include line from ~/.ssh/config
    #[arg(long)]
    pub forget: bool,
    /// Open VS Code on the environment (needs `code` on PATH)
    #[arg(long)]
    pub code: bool,
    /// A command to run over ssh instead of printing how to connect
    #[arg(last = true, value_name = "CMD")]
    pub cmd: Vec<String>,
    /// Apply the project's untrusted ptenv.yaml settings for this run (CI); `ptenv trust` records trust instead
    #[arg(long)]
    pub trust: bool,
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    /// Profile to use (default: shell)
    #[arg(value_name = "PROFILE")]
    pub mode: Option<String>,
    /// The same as PROFILE (the older spelling)
    #[arg(long, value_name = "NAME", hide = true, conflicts_with = "mode")]
    pub profile_name: Option<String>,
    #[command(flatten)]
    pub profile: ProfileFlags,
    /// A command to run instead of the interactive shell
    #[arg(last = true, value_name = "CMD")]
    pub cmd: Vec<String>,
    /// Apply the project's untrusted ptenv.yaml settings for this run (CI); `ptenv trust` records trust instead
    #[arg(long)]
    pub trust: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Skip the check that runs torch inside the selected image
    #[arg(long)]
    pub no_container: bool,
    /// Read a log or traceback (a file, or - for stdin) and explain the known errors in it
    #[arg(long, value_name = "FILE")]
    pub explain: Option<PathBuf>,
    /// Profile whose image and container are checked (default: the project's default)
    #[arg(value_name = "PROFILE")]
    pub mode: Option<String>,
    /// The same as PROFILE (the older spelling)
    #[arg(long, value_name = "NAME", hide = true, conflicts_with = "mode")]
    pub profile_name: Option<String>,
    /// Apply the project's untrusted ptenv.yaml settings for this run (CI); `ptenv trust` records trust instead
    #[arg(long)]
    pub trust: bool,
    #[command(flatten)]
    pub profile: ProfileFlags,
}

#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Profile whose PyTorch version, variant and pins are used (default: the project's default)
    pub mode: Option<String>,
    #[command(flatten)]
    pub profile: ProfileFlags,
    /// Plan for another machine: its NVIDIA driver version, e.g. 535.104.05 (skips detection)
    #[arg(long, value_name = "VERSION", env = "PTENV_CUDA_DRIVER_VERSION")]
    pub driver: Option<String>,
    /// Plan for another machine: a GPU's compute capability, e.g. 8.6 (repeat for several GPUs)
    #[arg(long = "gpu", value_name = "CC")]
    pub gpu: Vec<String>,
    /// Every release × CUDA line ptenv knows, and whether it runs on this machine (or why not)
    #[arg(long)]
    pub list: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The image, e.g. nvcr.io/nvidia/pytorch:25.01-py3 (pulled when it is not here)
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Profile whose `gpus:` the verdict uses (default: the project's default)
    #[arg(long = "profile", value_name = "NAME")]
    pub profile_name: Option<String>,
    /// Judge it for another machine: its NVIDIA driver version (skips detection)
    #[arg(long, value_name = "VERSION", env = "PTENV_CUDA_DRIVER_VERSION")]
    pub driver: Option<String>,
    /// Judge it for another machine: a GPU's compute capability (repeat for several GPUs)
    #[arg(long = "gpu", value_name = "CC")]
    pub gpu: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Only this profile's container (default: all of the project's containers)
    pub mode: Option<String>,
    /// Every profile's container of this project (yours, and those of users named with --user)
    #[arg(long, conflicts_with = "mode")]
    pub all: bool,
    /// Also remove the project's home volume (what `pip install` put there, caches, shell
    /// history, VS Code's server); keys, tokens and images are kept
    #[arg(long, conflicts_with_all = ["mode", "all", "all_projects"])]
    pub purge: bool,
    /// Every project's containers on this engine (yours, and those of users named with
    /// --user): lists them and asks first
    #[arg(long, conflicts_with_all = ["mode", "all"])]
    pub all_projects: bool,
    /// Also remove this user's environments (repeat for several); without it another user's
    /// are left alone
    #[arg(long = "user", value_name = "NAME")]
    pub users: Vec<String>,
    /// Do not ask before --all-projects removes (needed without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Also other users' environments (default: yours, and those that recorded no owner)
    #[arg(long)]
    pub all_users: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Refresh every 2 seconds until Ctrl-C, like `docker stats`
    #[arg(long)]
    pub watch: bool,
    /// `table` (default) or `prometheus` (text format for a node exporter's textfile collector)
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    pub format: StatsFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatsFormat {
    Table,
    Prometheus,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Profile whose container to show (default: the project's only running one)
    pub mode: Option<String>,
    /// Keep following the output
    #[arg(short, long)]
    pub follow: bool,
    /// Show only the last N lines
    #[arg(long, value_name = "N")]
    pub tail: Option<u64>,
    /// Name the known GPU/CUDA/Docker errors in the output (with --json: each with its line)
    #[arg(long, conflicts_with = "follow")]
    pub explain: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Profile whose container runs the command (default: the project's only running one)
    #[arg(value_name = "PROFILE")]
    pub mode: Option<String>,
    /// The same as PROFILE (the older spelling)
    #[arg(long, value_name = "NAME", hide = true, conflicts_with = "mode")]
    pub profile_name: Option<String>,
    /// The command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "CMD")]
    pub cmd: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// From the server's workspace volume to this folder (the only direction: `ptenv up`
    /// sends this folder's changes)
    #[arg(long, required = true)]
    pub down: bool,
    /// Profile whose container's image lists the volume (default: the project's only one)
    #[arg(value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Also overwrite files changed here since the last upload
    #[arg(long)]
    pub force: bool,
    /// Say what would be written, write nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Only show the settings that need trust and whether they are trusted; record nothing
    #[arg(long, conflicts_with = "revoke")]
    pub show: bool,
    /// Remove the trust recorded for this project
    #[arg(long)]
    pub revoke: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Take the defaults without asking
    #[arg(short, long)]
    pub yes: bool,
    /// Overwrite an existing ptenv.yaml
    #[arg(long)]
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_become_the_top_layer() {
        let cli = Cli::parse_from([
            "ptenv",
            "up",
            "jupyter",
            "--pytorch",
            "2.7",
            "--gpus",
            "0,1",
            "--shm-size",
            "8g",
        ]);
        let Command::Up(up) = cli.command else {
            panic!("not up")
        };
        let layer = up.profile.layer();
        assert_eq!(layer.pytorch, Some(Version("2.7".into())));
        assert_eq!(
            layer.gpus,
            Some(Gpus::Devices(vec!["0".into(), "1".into()]))
        );
        assert_eq!(layer.shm_size, Some(ShmSize::Bytes(8 << 30)));
        assert_eq!(up.mode.as_deref(), Some("jupyter"));
    }

    #[test]
    fn bad_flag_values_are_usage_errors() {
        for args in [
            vec!["ptenv", "up", "--shm-size", "lots"],
            vec!["ptenv", "up", "--gpus", "some"],
            vec!["ptenv", "up", "--pytorch", "newest"],
            vec!["ptenv", "exec"],
        ] {
            let e = Cli::try_parse_from(&args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }
}
