//! The known errors of the chain from GPU to torch, as a table, and what they mean here.
//!
//! Each [`Pattern`] is derived from the format string that prints the message, in the source of
//! the component that emits it (cited next to the pattern, by repository, path and tag); the
//! variable parts of the format string (pids, sizes, versions, paths, device names) are `{}`
//! in the pattern's shapes (see [`shape_hits`]). The facts of this machine (driver, GPUs, the
//! container's /dev/shm) are added where they decide the fix.

use super::container::ContainerShm;
use crate::catalog::{self, Cc, DriverVersion};
use crate::gpu::HostFacts;

/// What ptenv knows about the place a text came from.
#[derive(Clone, Copy)]
pub struct Facts<'a> {
    pub host: &'a HostFacts,
    /// The container whose output is read (`None` for a pasted log).
    pub container: Option<&'a ContainerShm>,
    /// Where a finding's context looks up the rest, only when a pattern that needs it matched.
    pub lookup: &'a dyn Lookup,
}

impl<'a> Facts<'a> {
    pub fn host(host: &'a HostFacts, lookup: &'a dyn Lookup) -> Facts<'a> {
        Facts {
            host,
            container: None,
            lookup,
        }
    }
}

impl std::fmt::Debug for Facts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Facts")
            .field("host", &self.host)
            .field("container", &self.container)
            .finish_non_exhaustive()
    }
}

/// What some findings' context reads on the host: the binary reads it there
/// (`doctor::host`, `doctor::docker_host`), and only for a finding that needs it.
pub trait Lookup {
    /// Whether the nvidia kernel module is loaded, and the PCI addresses of the NVIDIA GPUs
    /// bound to vfio-pci (reserved for virtual machines).
    fn nvidia_module(&self) -> (bool, Vec<String>);
    /// Where `nvidia-container-runtime-hook` is on PATH, and the CDI spec files in place.
    fn toolkit(&self) -> (Option<std::path::PathBuf>, Vec<std::path::PathBuf>);
}

/// For tests: a host with no module loaded, no hook and no CDI spec.
#[cfg(test)]
pub(crate) struct NothingThere;

#[cfg(test)]
impl Lookup for NothingThere {
    fn nvidia_module(&self) -> (bool, Vec<String>) {
        (false, Vec::new())
    }
    fn toolkit(&self) -> (Option<std::path::PathBuf>, Vec<std::path::PathBuf>) {
        (None, Vec::new())
    }
}

/// One known error.
#[derive(Debug)]
pub struct Pattern {
    /// Stable name, used in `--json`.
    pub id: &'static str,
    /// The line matches when it fits one of these shapes ([`shape_hits`]).
    pub shapes: &'static [&'static str],
    /// What it is, in a few words.
    pub title: &'static str,
    pub cause: &'static str,
    pub fix: &'static str,
    /// What this machine's facts add (e.g. "this host's driver 535.104.05 supports CUDA 12.2").
    context: fn(&str, &Facts) -> Option<String>,
}

impl Pattern {
    fn hits(&self, line: &str) -> bool {
        self.shapes.iter().any(|s| shape_hits(s, line))
    }
}

/// Whether `line` contains a message printed by a format string: `shape` is the format string
/// with each variable part written `{}`, which stands for any text (possibly empty). The fixed
/// parts must appear in order; anything may come before and after (log prefixes, `RuntimeError: `).
/// Taking each fixed part at its first occurrence after the previous one is enough: if any
/// placement fits, that one does.
pub fn shape_hits(shape: &str, line: &str) -> bool {
    let mut rest = line;
    for part in shape.split("{}").filter(|p| !p.is_empty()) {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// One known error found in a text.
#[derive(Debug)]
pub struct Finding {
    pub pattern: &'static Pattern,
    /// 1-based line of the first occurrence.
    pub line_no: usize,
    /// That line, trimmed (and shortened when very long).
    pub line: String,
    /// How many lines matched.
    pub count: usize,
    pub fix: String,
    pub host: Option<String>,
}

const BLACKWELL_FIX: &str = "choose an image whose GPU code covers the GPU (`ptenv select --list` shows which): for Blackwell (RTX 50xx, RTX PRO 6000, B200; sm_100/sm_120) that is 2.7.0-cuda12.8-cudnn9-runtime (`ptenv up --pytorch 2.7 --cuda 12.8`) or a newer release's CUDA 12.8, 12.9 or 13.x line (`ptenv up --pytorch latest`, or `pytorch: latest` in ptenv.yaml), with driver R570 or newer (R580 for CUDA 13)";

const SHM_FIX: &str = "give the container more /dev/shm: `shm_size: auto` (half the host's RAM) or e.g. `shm_size: 8g`, or `ipc: host`, in ptenv.yaml, then `ptenv down && ptenv up`; or `num_workers=0` in the DataLoader";

const OOM_FIX: &str = "use a smaller batch (or gradient accumulation, mixed precision, activation checkpointing); set `PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True` (`env:` in ptenv.yaml) when much memory is reserved but unallocated; stop other processes that hold the GPU's memory (`nvidia-smi` lists them)";

/// The table. Order is the order findings are reported in when they share a line.
///
/// Versions: the PyTorch messages are those of v2.6.0 and v2.7.0 (the catalog's lines; the
/// fixed parts were checked against the strings in the 2.6.0+cu124 image's libraries and
/// Python files); NCCL those of the versions those wheels bundle (v2.21.5-1, v2.26.2-1).
pub static PATTERNS: &[Pattern] = &[
    // c10/cuda/CUDAFunctions.cpp and the CUDA runtime's cudaGetErrorString (pytorch/pytorch v2.6.0):
    // TORCH_CHECK "CUDA error: " + the runtime's string.
    Pattern {
        id: "insufficient-driver",
        shapes: &["CUDA driver version is insufficient for CUDA runtime version"],
        title: "the driver is older than the CUDA runtime in the image",
        cause: "cudaErrorInsufficientDriver (35): libcuda is below the minor-version floor of the bundled CUDA runtime (CUDA 12.x needs ≥ 525.60.13, 11.x ≥ 450.80.02); the runtime returns the same code when libcuda is missing altogether",
        fix: "upgrade the NVIDIA driver, or choose an image of an older CUDA line (`ptenv select` picks one the driver runs); if no libcuda.so.1 is in the container, the container got no GPU (see `ptenv doctor`)",
        context: driver_context,
    },
    // pytorch/pytorch v2.6.0 c10/cuda/CUDAFunctions.cpp: "The NVIDIA driver on your system is
    // too old (found version ", version, "). Please update your GPU driver ..."
    Pattern {
        id: "driver-too-old",
        shapes: &["The NVIDIA driver on your system is too old (found version {})"],
        title: "PyTorch found a driver older than its CUDA runtime",
        cause: "error 35 seen through PyTorch (c10/cuda/CUDAFunctions.cpp) with a driver present; \"found version NNNNN\" is the CUDA version the driver supports, 1000·major + 10·minor (11040 = 11.4)",
        fix: "update the NVIDIA driver to at least the floor of the image's CUDA line (12.x: 525.60.13), or choose an image of an older CUDA line; `ptenv select` shows which fits",
        context: driver_context,
    },
    // pytorch/pytorch v2.6.0 c10/cuda/CUDAFunctions.cpp: "Found no NVIDIA driver on your system.
    // Please check that you have an NVIDIA GPU and installed a driver from ..."
    Pattern {
        id: "no-driver",
        shapes: &["Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver"],
        title: "libcuda.so.1 cannot be loaded",
        cause: "error 35 with no driver version: libcuda.so.1 is not there, usually because the container was started without `--gpus`/CDI, the NVIDIA toolkit did not inject the driver, or the host has no driver. torch.cuda.is_available() returns False silently in this case; this RuntimeError only appears once code forces CUDA (e.g. `.cuda()`)",
        fix: "start the container with GPUs (ptenv does when the chain allows; `ptenv doctor` shows the broken link); inside, /dev/nvidia* and libcuda.so.1 must exist; check the container's HostConfig.DeviceRequests with `docker inspect`",
        context: no_driver_context,
    },
    // pytorch/pytorch v2.6.0 c10/cuda/CUDAFunctions.cpp (cudaErrorUnknown at device count):
    // "CUDA unknown error - this may be due to an incorrectly set up environment, ..."
    Pattern {
        id: "cuda-unknown-error",
        shapes: &["CUDA unknown error - this may be due to an incorrectly set up environment"],
        title: "CUDA failed to initialise with cudaErrorUnknown",
        cause: "commonly the nvidia_uvm module or device state (e.g. after suspend/resume), or CUDA_VISIBLE_DEVICES changed after CUDA started; the full list of causes is not documented",
        fix: "set CUDA_VISIBLE_DEVICES before importing torch; on the host reload nvidia_uvm (`sudo rmmod nvidia_uvm && sudo modprobe nvidia_uvm`) or reboot, then recreate the container",
        context: no_context,
    },
    // CUDA runtime cudaGetErrorString(cudaErrorInitializationError), as c10 prints it.
    Pattern {
        id: "cuda-init-failed",
        shapes: &["CUDA driver initialization failed"],
        title: "the CUDA driver failed to initialise",
        cause: "cudaErrorInitializationError: the driver is present but could not start (device state, a missing /dev/nvidia-uvm, or a GPU that fell off the bus)",
        fix: "run `nvidia-smi` on the host and read `sudo dmesg | grep -i -e nvrm -e xid`; `sudo modprobe nvidia_uvm`, or reboot; then recreate the container",
        context: no_context,
    },
    // CUDA runtime cudaGetErrorString(cudaErrorNoKernelImageForDevice) via c10/cuda/CUDAException.h
    // C10_CUDA_CHECK: "CUDA error: " + the string.
    Pattern {
        id: "no-kernel-image",
        shapes: &["CUDA error: no kernel image is available for execution on the device"],
        title: "the image has no GPU code for this GPU's architecture",
        cause: "cudaErrorNoKernelImageForDevice (209): the build has neither native code (SASS of the GPU's major version) nor usable PTX for the GPU; e.g. an RTX 5090 (sm_120) on any 2.6 image, which stops at sm_90. It fires at the first kernel launch, while is_available() is still True",
        fix: BLACKWELL_FIX,
        context: arch_context,
    },
    // pytorch/pytorch v2.6.0 torch/cuda/__init__.py _check_cubins: incompatible_device_warn
    // "{} with CUDA capability sm_{} is not compatible with the current PyTorch installation."
    Pattern {
        id: "sm-not-compatible",
        shapes: &["{} with CUDA capability sm_{} is not compatible with the current PyTorch installation."],
        title: "PyTorch has no code for the GPU's architecture (warning at start)",
        cause: "torch/cuda/__init__.py _check_cubins: no compiled sm_ entry has the GPU's major version; this predicts \"no kernel image is available for execution on the device\" at the first kernel",
        fix: BLACKWELL_FIX,
        context: arch_context,
    },
    // pytorch/pytorch v2.6.0 torch/cuda/__init__.py _check_capability: old_gpu_warn
    // "Found GPU%d %s which is of cuda capability %d.%d. / PyTorch no longer supports this GPU
    // because it is too old." (the warning spans lines; either line is recognised).
    Pattern {
        id: "gpu-too-old",
        shapes: &[
            "Found GPU{} which is of cuda capability {}.{}.",
            "PyTorch no longer supports this GPU because it is too old.",
        ],
        title: "the GPU is older than the oldest code in the build",
        cause: "torch/cuda/__init__.py _check_capability: the GPU's compute capability is below the smallest compiled architecture; e.g. a K80 (3.7) on CUDA 12 builds, or a GTX 1080/V100 on 2.7 cu128 (which starts at sm_75)",
        fix: "use a cu118 or cu126 image (2.6.0-cuda11.8 keeps sm_37; cu124/cu126 start at sm_50); `ptenv select` picks one",
        context: arch_context,
    },
    // nvidia-smi (closed source; the message as the driver package prints it).
    Pattern {
        id: "nvidia-smi-failed",
        shapes: &["NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"],
        title: "the NVIDIA kernel module is not loaded on the host",
        cause: "typical reasons: a kernel update without a DKMS rebuild, Secure Boot rejecting the unsigned module, or an incomplete install; containers cannot work until the host is fixed",
        fix: "on the host: `sudo modprobe nvidia` and read `sudo dmesg | grep -i nvidia`; rebuild with `sudo dkms autoinstall` after a kernel update, enrol the module key or turn Secure Boot off, or reinstall the driver; then reboot",
        context: module_context,
    },
    // nvidia-smi: "Failed to initialize NVML: " + nvmlErrorString(NVML_ERROR_UNKNOWN).
    Pattern {
        id: "nvml-unknown-error",
        shapes: &["Failed to initialize NVML: Unknown Error"],
        title: "the running container lost access to the GPU",
        cause: "with systemd managing the container's cgroups, `systemctl daemon-reload` (or a package upgrade that runs it) makes runc drop access to NVIDIA device nodes that have no /dev/char symlink (nvidia-docker#1730, nvidia-container-toolkit#48)",
        fix: "recreate the container (`ptenv down && ptenv up`); to prevent it: `sudo nvidia-ctk system create-dev-char-symlinks --create-all` plus NVIDIA's udev rule, or `\"exec-opts\": [\"native.cgroupdriver=cgroupfs\"]` in /etc/docker/daemon.json, or use CDI",
        context: no_context,
    },
    // nvmlErrorString(NVML_ERROR_LIB_RM_VERSION_MISMATCH), after "Failed to initialize NVML: ".
    Pattern {
        id: "nvml-version-mismatch",
        shapes: &["Driver/library version mismatch"],
        title: "the driver's libraries and the loaded kernel module differ",
        cause: "the driver was upgraded but the old kernel module is still loaded",
        fix: "reboot (or unload and reload the nvidia modules), then recreate the container",
        context: no_context,
    },
    // NVIDIA/libnvidia-container src/driver.c error_set_nvml(err, .., "nvml error") with
    // src/error.c joining "<what>: <nvmlErrorString>", printed by the CLI as
    // "nvidia-container-cli: initialization error: nvml error: driver not loaded".
    Pattern {
        id: "container-cli-driver-not-loaded",
        shapes: &["nvml error: driver not loaded", "nvml error: Driver Not Loaded"],
        title: "the NVIDIA container CLI found no loaded driver on the host",
        cause: "libnvidia-container asks the host's NVML for the GPUs before the container starts; NVML answers that the nvidia kernel module is not loaded (no driver, a kernel update without DKMS rebuild, Secure Boot, or a GPU bound to vfio-pci)",
        fix: "fix the host driver first (`ptenv doctor` names the broken link: PCI, kernel module, NVML); `sudo modprobe nvidia` and `nvidia-smi` must work on the host",
        context: module_context,
    },
    // NVIDIA/libnvidia-container src/utils.h xdlopen: error_set_dl(err, "load library failed")
    // + dlerror(), e.g. "load library failed: libnvidia-ml.so.1: cannot open shared object file".
    Pattern {
        id: "container-cli-load-library",
        shapes: &["load library failed: {}: cannot open shared object file"],
        title: "the NVIDIA container CLI cannot load the host's driver libraries",
        cause: "libnvidia-container dlopens the host's libnvidia-ml.so.1 (and libcuda.so.1); they are missing when the driver's user-space part is not installed (only the kernel module, or a driver installed in a path ldconfig does not know)",
        fix: "install the driver's utilities/libraries package matching the loaded module (e.g. `libnvidia-compute-<branch>` / `nvidia-utils-<branch>`), run `sudo ldconfig`; `nvidia-smi` must work on the host",
        context: module_context,
    },
    // glibc dlerror ("<file>: cannot open shared object file: No such file or directory",
    // elf/dl-load.c) for the driver's library, as torch, nvidia-smi or a loader prints it.
    Pattern {
        id: "libcuda-missing",
        shapes: &["libcuda.so{}: cannot open shared object file", "libnvidia-ml.so{}: cannot open shared object file"],
        title: "the driver's libraries are not in the container",
        cause: "libcuda.so.1 and libnvidia-ml.so.1 come from the host's driver: the NVIDIA toolkit mounts them into containers started with a GPU request; without one (or with a broken toolkit) they are absent",
        fix: "start the container with GPUs (`ptenv up` does when `ptenv doctor` passes the GPU path); run `ptenv doctor` for the broken link",
        context: no_driver_context,
    },
    // moby/moby daemon/devices.go handleDevice → incompatibleDeviceRequest (daemon/errors.go):
    // "could not select device driver %q with capabilities: %v".
    Pattern {
        id: "no-device-driver",
        shapes: &["could not select device driver {} with capabilities: {}"],
        title: "Docker has no GPU device driver registered",
        cause: "moby registers the \"nvidia\" device driver only if nvidia-container-runtime-hook is on dockerd's PATH when it starts: the NVIDIA Container Toolkit is missing, or dockerd was not restarted after installing it. The `\"nvidia\"` variant appears when the request names the driver (Compose `driver: nvidia`)",
        fix: "install the NVIDIA Container Toolkit, then `sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker`; or use CDI (`--device nvidia.com/gpu=all`, on by default in Docker ≥ 28.2) after `sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`",
        context: toolkit_context,
    },
    // moby/moby daemon/runtime_unix.go getRuntime: "unknown or invalid runtime name: %s".
    Pattern {
        id: "unknown-runtime",
        shapes: &["unknown or invalid runtime name: {}"],
        title: "Docker does not know the named runtime (e.g. `nvidia`)",
        cause: "the container asks for `--runtime=nvidia` but /etc/docker/daemon.json has no such runtime: the toolkit was not configured for Docker, or dockerd was not restarted",
        fix: "`sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker`; ptenv itself uses `--gpus`/CDI and needs no runtime name",
        context: toolkit_context,
    },
    // tags.cncf.io/container-device-interface pkg/cdi/cache.go InjectDevices (vendored by
    // NVIDIA/nvidia-container-toolkit v1.20.0 and moby): "unresolvable CDI devices %s".
    Pattern {
        id: "cdi-unresolvable",
        shapes: &["unresolvable CDI devices {}"],
        title: "the CDI device asked for is in no CDI spec",
        cause: "`--device nvidia.com/gpu=all` needs a spec in /etc/cdi or /var/run/cdi that defines it; none was generated, it is stale (a GPU or driver changed), or dockerd reads another directory",
        fix: "`sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml` (again after each driver upgrade), then `nvidia-ctk cdi list` must show nvidia.com/gpu=all; restart dockerd if it cached the specs",
        context: toolkit_context,
    },
    // NVIDIA/nvidia-container-toolkit v1.20.0 internal/modifier/cdi/registry.go:
    // "failed to inject CDI devices: %v".
    Pattern {
        id: "cdi-inject-failed",
        shapes: &["failed to inject CDI devices: {}"],
        title: "the NVIDIA runtime could not apply the CDI spec",
        cause: "nvidia-container-runtime in CDI mode found the device but could not edit the container's spec with it (a spec naming files that no longer exist after a driver upgrade is the usual case)",
        fix: "regenerate the spec: `sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`, then recreate the container",
        context: toolkit_context,
    },
    // NVIDIA/libnvidia-container src/cli/dsl.c: "unsatisfied condition: %s, please update your
    // driver to a newer version, or use an earlier cuda container"; the Go implementation in
    // NVIDIA/nvidia-container-toolkit v1.20.0 internal/requirements/constraints/binary.go:
    // "unsatisfied condition: %v (%v)" (docs/compatibility.md §8).
    Pattern {
        id: "unsatisfied-cuda",
        shapes: &["unsatisfied condition: cuda>={}"],
        title: "the image requires a newer CUDA than the host's driver supports",
        cause: "the NVIDIA container hook compares the image's NVIDIA_REQUIRE_CUDA (set by nvidia/cuda-based images, e.g. devel variants) with the driver's CUDA version; the container never starts",
        fix: "update the driver, use an older image (or the runtime variant, which does not set NVIDIA_REQUIRE_CUDA), or start with `-e NVIDIA_DISABLE_REQUIRE=1` and let minor-version compatibility decide",
        context: require_context,
    },
    // opencontainers/runc v1.5.1 libcontainer/init_linux.go setupRlimits:
    // "error setting rlimit type %v: %w" (type 8 is RLIMIT_MEMLOCK, 7 RLIMIT_NOFILE).
    Pattern {
        id: "rlimit",
        shapes: &["error setting rlimit type {}: {}"],
        title: "the container's ulimit is above what dockerd may grant",
        cause: "runc sets the container's rlimits from dockerd's own process; a hard limit above dockerd's (type 8 = memlock, 7 = nofile) is refused with \"operation not permitted\" (rootless Docker, or a docker.service with a LimitMEMLOCK)",
        fix: "lower the value in `ulimits:` in ptenv.yaml (e.g. `memlock: 64m`), or raise dockerd's limit (`LimitMEMLOCK=infinity` in a systemd drop-in for docker.service, then `sudo systemctl daemon-reload && sudo systemctl restart docker`)",
        context: rlimit_context,
    },
    // pytorch/pytorch v2.6.0 torch/csrc/DataLoader.cpp SIGBUS handler: "ERROR: Unexpected bus
    // error encountered in worker. This might be caused by insufficient shared memory (shm).";
    // and handler_SIGCHLD: "DataLoader worker (pid " << pid << ") is killed by signal: " <<
    // strsignal(SIGBUS) << ". " "It is possible that dataloader's workers are out of shared
    // memory. Please try to raise your shared memory limit."
    Pattern {
        id: "dataloader-bus-error",
        shapes: &[
            "Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm).",
            "DataLoader worker (pid {}) is killed by signal: Bus error",
            "It is possible that dataloader's workers are out of shared memory.",
        ],
        title: "DataLoader workers ran out of shared memory",
        cause: "workers hand batches to the main process through /dev/shm; when it is full, touching the mapped memory raises SIGBUS in the worker",
        fix: SHM_FIX,
        context: shm_context,
    },
    // pytorch/pytorch v2.6.0 torch/csrc/DataLoader.cpp handler_SIGCHLD with strsignal(SIGKILL).
    Pattern {
        id: "dataloader-killed",
        shapes: &["DataLoader worker (pid {}) is killed by signal: Killed"],
        title: "a DataLoader worker was killed (SIGKILL), usually by the out-of-memory killer",
        cause: "the kernel's OOM killer ends the process that uses the most memory when the host (or the container's memory limit) runs out of RAM; each worker holds its own copy of what the Dataset loads",
        fix: "use fewer workers (`num_workers`), load data lazily in `__getitem__` instead of in `__init__`, or give the machine more RAM; `sudo dmesg | grep -i -e oom -e killed` on the host confirms it",
        context: no_context,
    },
    // pytorch/pytorch v2.6.0 torch/utils/data/dataloader.py _try_get_data:
    // f"DataLoader worker (pid(s) {pids_str}) exited unexpectedly".
    Pattern {
        id: "dataloader-worker-exited",
        shapes: &["DataLoader worker (pid(s) {}) exited unexpectedly"],
        title: "a DataLoader worker died",
        cause: "usually follows the shm bus error (or the OOM killer) above; the first error in the log is the real one",
        fix: "look for \"bus error\"/\"No space left on device\" above it and raise /dev/shm (`shm_size`/`ipc: host`); else check `dmesg` for the OOM killer",
        context: shm_context,
    },
    // pytorch/pytorch v2.6.0 torch/utils/data/dataloader.py _try_get_data (EMFILE):
    // "Too many open files. Communication with the workers is no longer possible. ..."
    Pattern {
        id: "too-many-open-files",
        shapes: &["Too many open files. Communication with the workers is no longer possible."],
        title: "the DataLoader ran out of file descriptors",
        cause: "with the default `file_descriptor` sharing strategy each shared tensor holds a descriptor; the container's `nofile` limit is lower than the number of batches in flight",
        fix: "raise the limit with `ulimits: {nofile: 65536}` in ptenv.yaml (then `ptenv down && ptenv up`), or call `torch.multiprocessing.set_sharing_strategy('file_system')` at the start",
        context: no_context,
    },
    // pytorch/pytorch v2.6.0 aten/src/ATen/MapAllocator.cpp: "unable to write to file <",
    // filename, ">: ", strerror, " (", errno, ")" and "unable to open shared memory object <", ...
    Pattern {
        id: "shm-no-space",
        shapes: &[
            "unable to write to file </torch_{}>",
            "unable to write to file <{}>: No space left on device (28)",
            "unable to open shared memory object </torch_{}>",
        ],
        title: "tensors shared between processes filled /dev/shm",
        cause: "torch shares tensors between DataLoader workers and the main process through files in /dev/shm, which is full (or, with errno 24, out of file descriptors)",
        fix: SHM_FIX,
        context: shm_context,
    },
    // pytorch/pytorch v2.6.0 c10/cuda/CUDACachingAllocator.cpp malloc: TORCH_CHECK_WITH(
    // OutOfMemoryError, false, "CUDA out of memory. Tried to allocate ", size, ". GPU ", device,
    // " has a total capacity of ", total, " of which ", free, " is free. ", proc_info, ...).
    Pattern {
        id: "cuda-oom",
        shapes: &[
            "CUDA out of memory. Tried to allocate {}",
            "GPU {} has a total capacity of {} of which {} is free.",
        ],
        title: "the GPU ran out of memory",
        cause: "the caching allocator could not get the block it needed even after returning its cache to the driver: the model, batch and activations need more than the GPU has free (other processes count too)",
        fix: OOM_FIX,
        context: oom_context,
    },
    // CUDA runtime cudaGetErrorString(cudaErrorMemoryAllocation) via c10/cuda/CUDAException.h:
    // "CUDA error: out of memory" (allocations outside the caching allocator, e.g. the context).
    Pattern {
        id: "cuda-error-oom",
        shapes: &["CUDA error: out of memory"],
        title: "CUDA could not allocate memory outside PyTorch's allocator",
        cause: "often the CUDA context itself (a few hundred MB per process) on a GPU that other processes already fill, or many processes on one GPU",
        fix: OOM_FIX,
        context: oom_context,
    },
    // pytorch/pytorch v2.6.0 aten/src/ATen/cuda/Exceptions.h TORCH_CUDABLAS_CHECK: "CUDA error: ",
    // cublasGetErrorString, " when calling `", #EXPR, "`"; at handle creation
    // (aten/src/ATen/cuda/CublasHandlePool.cpp) EXPR is cublasCreate(handle).
    Pattern {
        id: "cublas-init",
        shapes: &["CUBLAS_STATUS_{} when calling `cublasCreate(handle)`"],
        title: "cuBLAS could not start",
        cause: "cublasCreate fails with NOT_INITIALIZED or ALLOC_FAILED mostly because the GPU is out of memory at that moment (cuBLAS needs a workspace), less often because the driver is too old for the bundled cuBLAS",
        fix: "free GPU memory first (see the out-of-memory advice: smaller batch, other processes); if memory is free, update the driver or pick an image of an older CUDA line (`ptenv select`)",
        context: oom_context,
    },
    // pytorch/pytorch v2.6.0 aten/src/ATen/cuda/Exceptions.h AT_CUDNN_CHECK: "cuDNN error: ",
    // cudnnGetErrorString(status).
    Pattern {
        id: "cudnn-error",
        shapes: &["cuDNN error: CUDNN_STATUS_NOT_INITIALIZED", "cuDNN error: CUDNN_STATUS_ALLOC_FAILED"],
        title: "cuDNN could not start",
        cause: "cudnnCreate fails when the GPU has no memory left for its handle, or when the cuDNN libraries in the image do not match the ones torch was built against (a pip-installed nvidia-cudnn wheel over the image's)",
        fix: "free GPU memory (smaller batch; other processes); if memory is free, check `python -c 'import torch; print(torch.backends.cudnn.version())'` and remove extra nvidia-cudnn-* packages from the image",
        context: oom_context,
    },
    // glibc dlerror for the CUDA libraries torch links (elf/dl-load.c "cannot open shared object
    // file"), and pytorch/pytorch v2.6.0 torch/__init__.py _preload_cuda_deps:
    // f"{lib_name} not found in the system path {sys.path}".
    Pattern {
        id: "cuda-library-missing",
        shapes: &[
            "libcudnn{}: cannot open shared object file",
            "libcublas{}: cannot open shared object file",
            "libnccl.so{}: cannot open shared object file",
            "libcudart.so{}: cannot open shared object file",
            "libnvJitLink.so{}: cannot open shared object file",
            "libcusparse{}: cannot open shared object file",
            "libcudnn{} not found in the system path",
            "libcublas{} not found in the system path",
            "libnccl.so{} not found in the system path",
        ],
        title: "a CUDA library torch needs is not in the image",
        cause: "the image's torch was built against cuDNN/cuBLAS/NCCL libraries that are missing or shadowed: usually a pip install that replaced torch or removed the nvidia-* wheels, or LD_LIBRARY_PATH pointing at another CUDA",
        fix: "use the image's own torch (do not `pip install torch` into it; pin other packages so pip keeps it), unset a custom LD_LIBRARY_PATH, or rebuild with `ptenv up --rebuild`",
        context: no_context,
    },
    // pytorch/pytorch v2.6.0 torch/csrc/distributed/c10d/NCCLUtils.hpp C10D_NCCL_CHECK:
    // "NCCL error in: ", file:line, ", ", ncclGetErrorString(result), ", NCCL version ", ...;
    // NVIDIA/nccl v2.21.5-1 src/init.cc ncclGetErrorString(ncclSystemError).
    Pattern {
        id: "nccl-system-error",
        shapes: &["NCCL error in: {}unhandled system error"],
        title: "NCCL failed on a system call",
        cause: "in containers this is mostly /dev/shm too small for NCCL's buffers between GPUs of one machine, or no usable network interface between machines; NCCL_DEBUG=INFO prints the call that failed",
        fix: "run again with `NCCL_DEBUG=INFO` (`env:` in ptenv.yaml); for shm: raise /dev/shm (`shm_size: auto` or `ipc: host`); for sockets: set NCCL_SOCKET_IFNAME to the interface the ranks share",
        context: shm_context,
    },
    // NVIDIA/nccl src/misc/shmutils.cc ncclShmOpen: v2.21.5-1 "Error while %s shared memory
    // segment %s (size %ld)" and "Error: failed to extend %s to %ld bytes"; v2.26.2-1 adds
    // ", error: %s (%d)".
    Pattern {
        id: "nccl-shm",
        shapes: &[
            "Error while creating shared memory segment {} (size {})",
            "Error while attaching to shared memory segment {} (size {})",
            "Error: failed to extend /dev/shm/{} to {} bytes",
        ],
        title: "NCCL could not create its buffers in /dev/shm",
        cause: "NCCL's shared-memory transport between GPUs of one machine allocates segments of several MB each in /dev/shm; the container's /dev/shm is too small for them",
        fix: SHM_FIX,
        context: shm_context,
    },
    // NVIDIA/nccl v2.21.5-1 src/misc/socket.cc socketStartConnect: "socketStartConnect: Connect
    // to %s failed : %s"; src/bootstrap.cc: "Bootstrap : no socket interface found".
    Pattern {
        id: "nccl-socket",
        shapes: &[
            "socketStartConnect: Connect to {} failed : {}",
            "socketPollConnect: Connect to {} returned {}",
            "Bootstrap : no socket interface found",
        ],
        title: "NCCL could not reach another rank over the network",
        cause: "NCCL's bootstrap and socket transport connect between ranks over TCP; inside a container on Docker's bridge the chosen interface (eth0) is not reachable from other machines, or a firewall blocks the ports",
        fix: "for several machines run with host networking and set `NCCL_SOCKET_IFNAME` to the interface the machines share; check MASTER_ADDR/MASTER_PORT; for one machine, all ranks must run in the same container",
        context: no_context,
    },
    // NVIDIA/nccl v2.21.5-1 src/transport/net_ib.cc: "NET/IB : Unable to open device %s".
    Pattern {
        id: "nccl-ib",
        shapes: &["NET/IB : Unable to open device {}"],
        title: "NCCL cannot open the InfiniBand/RoCE device",
        cause: "the container sees the RDMA device list but not /dev/infiniband (or lacks the memlock limit RDMA needs)",
        fix: "pass /dev/infiniband into the container and keep `memlock` unlimited, or disable IB with `NCCL_IB_DISABLE=1` to use sockets",
        context: no_context,
    },
    // jupyter/jupyter_client 8.x jupyter_client/restarter.py and ioloop/restarter.py:
    // "KernelRestarter: restarting kernel (%i/%i), %s random ports" (and the AsyncIOLoop…
    // variant), "KernelRestarter: restart failed"; jupyter_server 2.x
    // services/kernels/kernelmanager.py: "Kernel %s died, removing from map.".
    Pattern {
        id: "jupyter-kernel-died",
        shapes: &[
            "KernelRestarter: restarting kernel ({}/{})",
            "KernelRestarter: restart failed",
            "Kernel {} died, removing from map.",
        ],
        title: "the Jupyter kernel died",
        cause: "the kernel process ended without Python raising an error: most often the out-of-memory killer (host RAM or the container's memory limit), a DataLoader bus error from a full /dev/shm, or a crash in native code",
        fix: "run the notebook's code as a script (`ptenv exec -- python ...`) to see the real error; check `sudo dmesg | grep -i -e oom -e killed` on the host; with DataLoader workers, raise /dev/shm (`shm_size: auto`)",
        context: shm_context,
    },
    // CUDA runtime cudaGetErrorString(cudaErrorUnsupportedPtxVersion).
    Pattern {
        id: "unsupported-ptx",
        shapes: &["the provided PTX was compiled with an unsupported toolchain"],
        title: "the driver is too old to JIT-compile the image's PTX",
        cause: "cudaErrorUnsupportedPtxVersion (222): under minor-version compatibility the driver cannot compile PTX produced by a newer toolkit (e.g. cu128's compute_120 on a pre-570 driver)",
        fix: "update the driver to the image's full-feature driver (cu128: 570.26 or newer), or use an image with native code (SASS) for the GPU",
        context: driver_context,
    },
];

/// Every known error in `text`, once per pattern, in the order they first appear.
pub fn scan(text: &str, facts: &Facts) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for p in PATTERNS.iter().filter(|p| p.hits(line)) {
            if let Some(f) = out.iter_mut().find(|f| std::ptr::eq(f.pattern, p)) {
                f.count += 1;
                continue;
            }
            let trimmed = line.trim();
            let shown: String = if trimmed.chars().count() > 240 {
                trimmed.chars().take(240).chain("…".chars()).collect()
            } else {
                trimmed.to_string()
            };
            out.push(Finding {
                pattern: p,
                line_no: i + 1,
                line: shown,
                count: 1,
                fix: p.fix.to_string(),
                host: (p.context)(line, facts),
            });
        }
    }
    out
}

/// The findings for people: each with where it was, what it means, what to do, and what this
/// host adds. Echoed log lines are redacted (a Jupyter URL in a log carries its token).
pub fn render(findings: &[Finding]) -> String {
    use super::redact;
    let mut out = String::new();
    for f in findings {
        let more = if f.count > 1 {
            format!(
                " (and {} more line{})",
                f.count - 1,
                if f.count == 2 { "" } else { "s" }
            )
        } else {
            String::new()
        };
        out.push_str(&format!("line {}{more}: {}\n", f.line_no, redact(&f.line)));
        out.push_str(&format!("  {}: {}\n", f.pattern.id, f.pattern.title));
        out.push_str(&format!("  cause: {}\n", f.pattern.cause));
        out.push_str(&format!("  fix: {}\n", f.fix));
        if let Some(h) = &f.host {
            out.push_str(&format!("  this host: {h}\n"));
        }
        out.push('\n');
    }
    match findings.len() {
        0 => out.push_str("No known GPU/CUDA/Docker error found in the text. `ptenv doctor` checks the machine itself.\n"),
        1 => out.push_str("1 known error found.\n"),
        n => out.push_str(&format!("{n} known errors found; the first one in the text is usually the cause of the others.\n")),
    }
    out
}

/// `{findings: [{id, line, count, text, title, cause, fix, host}], recognised}`.
pub fn to_json(findings: &[Finding]) -> FindingsJson<'_> {
    FindingsJson {
        findings: findings
            .iter()
            .map(|f| FindingJson {
                cause: f.pattern.cause,
                count: f.count,
                fix: &f.fix,
                host: &f.host,
                id: f.pattern.id,
                line: f.line_no,
                text: super::redact(&f.line),
                title: f.pattern.title,
            })
            .collect(),
        recognised: findings.len(),
    }
}

/// `--explain --json` (fields in alphabetical order, as the JSON has always been written).
#[derive(Debug, serde::Serialize)]
pub struct FindingsJson<'a> {
    pub findings: Vec<FindingJson<'a>>,
    pub recognised: usize,
}

/// One finding in [`FindingsJson`].
#[derive(Debug, serde::Serialize)]
pub struct FindingJson<'a> {
    pub cause: &'static str,
    pub count: usize,
    pub fix: &'a str,
    pub host: &'a Option<String>,
    pub id: &'static str,
    pub line: usize,
    pub text: String,
    pub title: &'static str,
}

fn no_context(_: &str, _: &Facts) -> Option<String> {
    None
}

fn cuda_text(c: (u32, u32)) -> String {
    format!("{}.{}", c.0, c.1)
}

/// "found version 11040" → (11, 4).
fn found_version(line: &str) -> Option<(u32, u32)> {
    let rest = &line[line.find("found version ")? + "found version ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    crate::gpu::parse::cuda_driver_int(digits.parse().ok()?)
}

/// Up to four names as they are, more as the first three and how many follow, up to the
/// last: the catalog has dozens of lines.
fn few(names: &[String]) -> String {
    match names {
        [first @ .., last] if names.len() > 4 => format!(
            "{} and {} more, up to {last}",
            first[..3].join(", "),
            names.len() - 3
        ),
        _ => names.join(", "),
    }
}

/// What a driver runs, by CUDA major family (each family shares one floor): "CUDA 11.x and
/// 12.x images (PyTorch 2.6: 2.6.0-cuda11.8, 2.6.0-cuda12.4, 2.6.0-cuda12.6), not CUDA 13.x
/// ones (driver 580 or newer)". Empty when it runs none.
fn lines_for_driver(d: &DriverVersion) -> String {
    let (mut runs, mut not) = (Vec::new(), Vec::new());
    for (major, floor) in catalog::FAMILY_FLOORS {
        if catalog::LINES.iter().any(|l| l.cuda.0 == *major) {
            if *d >= catalog::driver(floor) {
                runs.push(format!("{major}.x"));
            } else {
                not.push(format!("CUDA {major}.x ones (driver {floor} or newer)"));
            }
        }
    }
    if runs.is_empty() {
        return String::new();
    }
    let default = crate::profile::DEFAULT_PYTORCH;
    let examples: Vec<String> = catalog::lines_for(default)
        .iter()
        .filter(|l| *d >= l.floor())
        .map(|l| format!("{}-cuda{}", l.pytorch, l.cuda_str()))
        .collect();
    let mut out = format!("CUDA {} images", runs.join(" and "));
    if !examples.is_empty() {
        out.push_str(&format!(" (PyTorch {default}: {})", examples.join(", ")));
    }
    if !not.is_empty() {
        out.push_str(&format!(", not {}", not.join(" or ")));
    }
    out
}

fn driver_context(line: &str, facts: &Facts) -> Option<String> {
    let host = facts.host;
    let mut parts = Vec::new();
    if let Some(v) = found_version(line) {
        parts.push(format!(
            "the driver in that log supports CUDA {}",
            cuda_text(v)
        ));
    }
    match host.driver_version() {
        Some(d) => {
            let runs = lines_for_driver(&d);
            parts.push(format!(
                "this host's driver {d} supports CUDA {}; it runs {}",
                host.driver_cuda()
                    .map(cuda_text)
                    .unwrap_or_else(|| "older than 11.8".into()),
                if runs.is_empty() {
                    "none of the images ptenv knows (CUDA 11.x needs 450.80.02)".to_string()
                } else {
                    runs
                }
            ));
        }
        None => parts.push("this host has no NVIDIA driver that answers".into()),
    }
    Some(parts.join("; "))
}

fn no_driver_context(_: &str, facts: &Facts) -> Option<String> {
    let host = facts.host;
    Some(match &host.driver {
        Some(d) => format!(
            "this host has driver {d}, so the container that printed this was not given the GPU (or the toolkit did not inject the driver)"
        ),
        None => format!(
            "this host has no NVIDIA driver that answers ({}), so the container cannot have one either",
            host.problems.first().map(String::as_str).unwrap_or("nothing found")
        ),
    })
}

/// `sm_120` in a line → (12, 0).
fn sm_in(line: &str) -> Option<Cc> {
    let at = line.find("sm_")?;
    let digits: String = line[at + 3..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    crate::gpu::parse::cc(&format!("sm_{digits}"))
}

/// The images whose code covers a compute capability.
fn covering(cc: Cc) -> Vec<String> {
    catalog::LINES
        .iter()
        .filter(|l| l.covers(cc).is_covered())
        .map(|l| format!("{}-cuda{}", l.pytorch, l.cuda_str()))
        .collect()
}

fn arch_context(line: &str, facts: &Facts) -> Option<String> {
    let host = facts.host;
    let mut parts = Vec::new();
    if let Some(cc) = sm_in(line).filter(|_| line.contains("capability")) {
        let c = covering(cc);
        parts.push(format!(
            "{} ({}): {}",
            catalog::sm(cc),
            catalog::arch_name(cc),
            if c.is_empty() {
                "no image ptenv knows covers it".to_string()
            } else {
                format!("covered by {}", few(&c))
            }
        ));
    }
    for g in &host.gpus {
        let c = covering(g.cc);
        parts.push(format!(
            "this host's GPU {} {} ({}): {}",
            g.index,
            g.name,
            catalog::sm(g.cc),
            if c.is_empty() {
                "no image ptenv knows covers it".to_string()
            } else {
                format!("covered by {}", few(&c))
            }
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Whether the module is loaded, and the GPUs no host driver may take (vfio-pci), which loading
/// the module would not change.
fn module_context(_: &str, facts: &Facts) -> Option<String> {
    let (loaded, vfio) = facts.lookup.nvidia_module();
    let mut s = format!(
        "the nvidia kernel module is {}{}",
        if loaded { "loaded" } else { "not loaded" },
        facts
            .host
            .driver
            .as_deref()
            .map(|d| format!(" (driver {d})"))
            .unwrap_or_default()
    );
    for address in vfio {
        s.push_str(&format!(
            "; {address} is bound to vfio-pci (reserved for virtual machines)"
        ));
    }
    Some(s)
}

fn toolkit_context(_: &str, facts: &Facts) -> Option<String> {
    let (hook, specs) = facts.lookup.toolkit();
    Some(format!(
        "nvidia-container-runtime-hook is {}; CDI specs: {}",
        hook.map(|h| format!("at {} (restart dockerd so it registers)", h.display()))
            .unwrap_or_else(|| "not on PATH (the toolkit is not installed)".into()),
        if specs.is_empty() {
            "none".to_string()
        } else {
            specs
                .iter()
                .map(|s| s.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    ))
}

/// What the container's /dev/shm is, and the setting that changes it.
fn shm_context(_: &str, facts: &Facts) -> Option<String> {
    Some(match facts.container {
        Some(c) if c.ipc_mode.as_deref() == Some("host") => format!(
            "container {} uses the host's /dev/shm (`ipc: host`): the host's /dev/shm itself is full (`df -h /dev/shm` on the host)",
            c.name
        ),
        Some(c) => {
            let bytes = c
                .shm_size
                .filter(|b| *b > 0)
                .unwrap_or(super::container::DOCKER_DEFAULT_SHM);
            format!(
                "container {} has a /dev/shm of {}{}; `shm_size` in ptenv.yaml sets it (`shm_size: auto` is half the host's RAM)",
                c.name,
                crate::size::human(bytes as u64),
                if c.shm_size.unwrap_or(0) <= 0 {
                    " (Docker's default)"
                } else {
                    ""
                }
            )
        }
        None => "Docker gives a container 64 MiB of /dev/shm unless told otherwise; ptenv sets it from `shm_size` (default `auto`, half the host's RAM); `ptenv doctor` shows the size of the project's running containers".to_string(),
    })
}

/// "GPU 0 has a total capacity of 23.65 GiB" → (0, "23.65 GiB").
fn oom_gpu(line: &str) -> Option<(u32, String)> {
    let at = line.find("GPU ")? + 4;
    let rest = &line[at..];
    let (index, rest) = rest.split_once(" has a total capacity of ")?;
    let (total, _) = rest.split_once(" of which ")?;
    Some((index.trim().parse().ok()?, total.to_string()))
}

/// The GPUs' memory on this host, and what the message says about the GPU and other processes.
fn oom_context(line: &str, facts: &Facts) -> Option<String> {
    let mut parts = Vec::new();
    if let Some((index, total)) = oom_gpu(line) {
        parts.push(format!("the log's GPU {index} has {total} in all"));
    }
    // proc_info in the allocator's message: "Process <pid> has <size> memory in use."
    if shape_hits("Process {} has {} memory in use", line) {
        parts.push("other processes hold part of that GPU's memory (listed in the message; `nvidia-smi` shows them)".to_string());
    }
    for g in &facts.host.gpus {
        parts.push(format!(
            "this host's GPU {} {} has {}",
            g.index,
            g.name,
            crate::size::human(g.memory_bytes)
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// "error setting rlimit type 8" → what the type is, and what ptenv did about memlock.
fn rlimit_context(line: &str, facts: &Facts) -> Option<String> {
    let at = line.find("rlimit type ")? + "rlimit type ".len();
    let n: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let name = match n.as_str() {
        "7" => "RLIMIT_NOFILE (`nofile`)",
        "8" => "RLIMIT_MEMLOCK (`memlock`)",
        "1" => "RLIMIT_FSIZE (`fsize`)",
        "6" => "RLIMIT_NPROC (`nproc`)",
        "3" => "RLIMIT_STACK (`stack`)",
        _ => return Some(format!("type {n} is a Linux RLIMIT_ number")),
    };
    let capped = facts
        .container
        .and_then(|c| c.memlock_capped.as_deref())
        .map(|cap| format!("; ptenv already started this container with memlock capped at {cap}"))
        .unwrap_or_default();
    Some(format!("type {n} is {name}{capped}"))
}

/// "cuda>=12.4" → (12, 4).
fn required_cuda(line: &str) -> Option<(u32, u32)> {
    let rest = &line[line.find("cuda>=")? + 6..];
    let v: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.trim_end_matches('.').parse().ok()?))
}

fn require_context(line: &str, facts: &Facts) -> Option<String> {
    let host = facts.host;
    let need = required_cuda(line)?;
    let driver_for = catalog::TOOLKIT_DRIVERS
        .iter()
        .find(|(c, _)| *c >= need)
        .map(|(_, d)| *d);
    let mut s = format!(
        "the image requires CUDA {}{}",
        cuda_text(need),
        driver_for
            .map(|d| format!(" (driver {d} or newer)"))
            .unwrap_or_default()
    );
    match (host.driver.as_deref(), host.driver_cuda()) {
        (Some(d), Some(c)) => s.push_str(&format!(
            "; this host's driver {d} supports CUDA {}{}",
            cuda_text(c),
            if c >= need {
                ", enough: the log comes from another machine or an older driver"
            } else {
                ""
            }
        )),
        _ => s.push_str("; this host has no NVIDIA driver that answers"),
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::{Gpu, Source};

    fn host(driver: Option<&str>, gpus: Vec<Gpu>) -> HostFacts {
        let d = driver.map(catalog::driver);
        HostFacts {
            cuda_driver: d.as_ref().and_then(catalog::cuda_for_driver),
            driver: driver.map(Into::into),
            gpus,
            source: if driver.is_some() {
                Source::Nvml
            } else {
                Source::None
            },
            problems: if driver.is_none() {
                vec!["NVML: not found".into()]
            } else {
                vec![]
            },
            machine: "x86_64".into(),
        }
    }

    fn rtx5090() -> Gpu {
        Gpu {
            index: 0,
            name: "NVIDIA GeForce RTX 5090".into(),
            uuid: "GPU-1".into(),
            cc: (12, 0),
            memory_bytes: 32 << 30,
            arch: None,
        }
    }

    /// One real line per row of docs/compatibility.md §8, as users post them.
    const SAMPLES: &[(&str, &str)] = &[
        ("insufficient-driver", "RuntimeError: CUDA error: CUDA driver version is insufficient for CUDA runtime version"),
        ("driver-too-old", "/opt/conda/lib/python3.11/site-packages/torch/cuda/__init__.py:129: UserWarning: CUDA initialization: The NVIDIA driver on your system is too old (found version 11040). Please update your GPU driver by downloading and installing a new version from the URL: http://www.nvidia.com/Download/index.aspx Alternatively, go to: https://pytorch.org to install a PyTorch version that has been compiled with your version of the CUDA driver. (Triggered internally at ../c10/cuda/CUDAFunctions.cpp:108.)"),
        ("no-driver", "RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.aspx"),
        ("cuda-unknown-error", "UserWarning: CUDA initialization: CUDA unknown error - this may be due to an incorrectly set up environment, e.g. changing env variable CUDA_VISIBLE_DEVICES after program start. Setting the available devices to be zero."),
        ("cuda-init-failed", "RuntimeError: CUDA driver initialization failed, you might not have a CUDA gpu."),
        ("no-kernel-image", "RuntimeError: CUDA error: no kernel image is available for execution on the device"),
        ("sm-not-compatible", "NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current PyTorch installation."),
        ("gpu-too-old", "Found GPU0 Tesla K80 which is of cuda capability 3.7. PyTorch no longer supports this GPU because it is too old. The minimum cuda capability supported by this library is 5.0."),
        ("nvidia-smi-failed", "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."),
        ("nvml-unknown-error", "Failed to initialize NVML: Unknown Error"),
        ("nvml-version-mismatch", "Failed to initialize NVML: Driver/library version mismatch"),
        ("no-device-driver", "docker: Error response from daemon: could not select device driver \"\" with capabilities: [[gpu]]."),
        ("unsatisfied-cuda", "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.4, please update your driver to a newer version, or use an earlier cuda container: unknown"),
        ("dataloader-bus-error", "ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm)."),
        ("dataloader-worker-exited", "RuntimeError: DataLoader worker (pid(s) 1234) exited unexpectedly"),
        ("shm-no-space", "RuntimeError: unable to write to file </torch_123_456_0>: No space left on device (28)"),
        ("unsupported-ptx", "RuntimeError: CUDA error: the provided PTX was compiled with an unsupported toolchain."),
    ];

    /// Literal messages as their sources print them (the format strings cited in the table,
    /// filled in the way users paste them), each with the finding it must give.
    const CORPUS: &[(&str, &str)] = &[
        ("dataloader-bus-error", "RuntimeError: DataLoader worker (pid 1234) is killed by signal: Bus error. It is possible that dataloader's workers are out of shared memory. Please try to raise your shared memory limit."),
        ("dataloader-bus-error", "RuntimeError: DataLoader worker (pid 48213) is killed by signal: Bus error. "),
        ("dataloader-bus-error", "dataloader's workers are out of shared memory. It is possible that dataloader's workers are out of shared memory. Please try to raise your shared memory limit."),
        ("dataloader-bus-error", "ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm)."),
        ("dataloader-killed", "RuntimeError: DataLoader worker (pid 1387320) is killed by signal: Killed. "),
        ("dataloader-worker-exited", "RuntimeError: DataLoader worker (pid(s) 4021, 4022) exited unexpectedly"),
        ("too-many-open-files", "RuntimeError: Too many open files. Communication with the workers is no longer possible. Please increase the limit using `ulimit -n` in the shell or change the sharing strategy by calling `torch.multiprocessing.set_sharing_strategy('file_system')` at the beginning of your code"),
        ("shm-no-space", "RuntimeError: unable to write to file </torch_3531_3962650647_0>: No space left on device (28)"),
        ("shm-no-space", "RuntimeError: unable to open shared memory object </torch_5120_1858437406_997> in read-write mode: Too many open files (24)"),
        ("cuda-oom", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.95 GiB. GPU 0 has a total capacity of 14.57 GiB of which 1.58 GiB is free. Process 2493055 has 12.02 GiB memory in use. Including non-PyTorch memory, this process has 966.00 MiB memory in use. Of the allocated memory 734.07 MiB is allocated by PyTorch, and 33.93 MiB is reserved by PyTorch but unallocated. If reserved but unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"),
        ("cuda-oom", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB. GPU 1 has a total capacity of 79.15 GiB of which 4.75 MiB is free. Including non-PyTorch memory, this process has 79.13 GiB memory in use."),
        ("cuda-error-oom", "RuntimeError: CUDA error: out of memory"),
        ("cublas-init", "RuntimeError: CUDA error: CUBLAS_STATUS_NOT_INITIALIZED when calling `cublasCreate(handle)`"),
        ("cublas-init", "RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
        ("cudnn-error", "RuntimeError: cuDNN error: CUDNN_STATUS_NOT_INITIALIZED"),
        ("cuda-library-missing", "OSError: libcudnn.so.9: cannot open shared object file: No such file or directory"),
        ("cuda-library-missing", "ImportError: libcublas.so.12: cannot open shared object file: No such file or directory"),
        ("cuda-library-missing", "ImportError: libnccl.so.2: cannot open shared object file: No such file or directory"),
        ("cuda-library-missing", "ValueError: libcublas.so.*[0-9] not found in the system path ['/workspace', '/opt/conda/lib/python311.zip']"),
        ("libcuda-missing", "OSError: libcuda.so.1: cannot open shared object file: No such file or directory"),
        ("nccl-system-error", "torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/NCCLUtils.hpp:317, unhandled system error (run with NCCL_DEBUG=INFO for details), NCCL version 2.21.5"),
        ("nccl-shm", "b0c4b1a5f6e2:231:231 [0] misc/shmutils.cc:113 NCCL WARN Error while creating shared memory segment /dev/shm/nccl-Aa7xYz (size 9637888)"),
        ("nccl-shm", "b0c4b1a5f6e2:231:231 [1] misc/shmutils.cc:128 NCCL WARN Error while attaching to shared memory segment /dev/shm/nccl-Aa7xYz (size 9637888), error: No such file or directory (2)"),
        ("nccl-shm", "b0c4b1a5f6e2:231:231 [0] misc/shmutils.cc:72 NCCL WARN Error: failed to extend /dev/shm/nccl-Aa7xYz to 9637892 bytes"),
        ("nccl-socket", "node1:12:34 [0] misc/socket.cc:484 NCCL WARN socketStartConnect: Connect to 172.17.0.3<45123> failed : Software caused connection abort"),
        ("nccl-socket", "node1:12:12 [0] bootstrap.cc:48 NCCL WARN Bootstrap : no socket interface found"),
        ("nccl-ib", "node1:12:12 [0] transport/net_ib.cc:426 NCCL WARN NET/IB : Unable to open device mlx5_0"),
        ("container-cli-driver-not-loaded", "docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error running hook #0: error running hook: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'\nnvidia-container-cli: initialization error: nvml error: driver not loaded: unknown."),
        ("container-cli-load-library", "nvidia-container-cli: initialization error: load library failed: libnvidia-ml.so.1: cannot open shared object file: no such file or directory: unknown."),
        ("unsatisfied-cuda", "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.8, please update your driver to a newer version, or use an earlier cuda container: unknown."),
        ("no-device-driver", "docker: Error response from daemon: could not select device driver \"nvidia\" with capabilities: [[gpu]]."),
        ("unknown-runtime", "docker: Error response from daemon: unknown or invalid runtime name: nvidia."),
        ("cdi-unresolvable", "docker: Error response from daemon: CDI device injection failed: unresolvable CDI devices nvidia.com/gpu=all."),
        ("cdi-inject-failed", "Error: failed to create containerd task: failed to create shim task: OCI runtime create failed: could not apply required modification to OCI specification: error modifying OCI spec: failed to inject CDI devices: failed to stat CDI host device \"/dev/nvidia-uvm\": no such file or directory: unknown"),
        ("rlimit", "docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error setting rlimit type 8: operation not permitted: unknown."),
        ("jupyter-kernel-died", "[I 2026-12-04 05:53:56.402 ServerApp] AsyncIOLoopKernelRestarter: restarting kernel (1/5), keep random ports"),
        ("jupyter-kernel-died", "[I 12:47:28.534 NotebookApp] KernelRestarter: restarting kernel (1/5), new random ports"),
        ("jupyter-kernel-died", "[W 2026-12-04 05:54:10.113 ServerApp] AsyncIOLoopKernelRestarter: restart failed"),
        ("jupyter-kernel-died", "[W 2026-12-04 05:54:10.114 ServerApp] Kernel 7be3ebb5-8079-41dd-a058-72f1e271f55f died, removing from map."),
        ("sm-not-compatible", "NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current PyTorch installation."),
        ("gpu-too-old", "    Found GPU0 Tesla K80 which is of cuda capability 3.7."),
        ("driver-too-old", "UserWarning: CUDA initialization: The NVIDIA driver on your system is too old (found version 11040). Please update your GPU driver"),
    ];

    /// Ordinary output: a training run, a Jupyter start, a pip install. None of it is an error.
    const ORDINARY: &str = r#"Epoch 1/10: 100%|██████████| 782/782 [00:41<00:00, 18.9it/s, loss=1.23]
train loss 0.4213, val acc 0.8731, lr 3.0e-04, memory allocated 3.1 GiB of 23.6 GiB
DataLoader(num_workers=8, pin_memory=True) using shared memory strategy file_descriptor
Saved checkpoint to /workspace/ckpt/epoch_1.pt
[I 2026-12-04 05:00:01.234 ServerApp] jupyter_lsp | extension was successfully loaded.
[I 2026-12-04 05:00:01.240 ServerApp] Serving notebooks from local directory: /workspace
[I 2026-12-04 05:00:01.240 ServerApp] Jupyter Server 2.21.1 is running at:
[I 2026-12-04 05:00:01.240 ServerApp] http://127.0.0.1:8888/lab?token=...
[I 2026-12-04 05:00:05.001 ServerApp] Kernel started: 7be3ebb5-8079-41dd-a058-72f1e271f55f
[I 2026-12-04 05:00:05.300 ServerApp] Connecting to kernel 7be3ebb5-8079-41dd-a058-72f1e271f55f.
Collecting einops
  Downloading einops-0.8.0-py3-none-any.whl (43 kB)
Requirement already satisfied: torch>=2.0 in /opt/conda/lib/python3.11/site-packages (2.6.0+cu124)
Requirement already satisfied: nvidia-cudnn-cu12==9.1.0.70 in /opt/conda/lib/python3.11/site-packages (from torch) (9.1.0.70)
Installing collected packages: einops
Successfully installed einops-0.8.0
NCCL INFO Bootstrap : Using eth0:172.17.0.2<0>
NCCL INFO NET/Plugin: No plugin found (libnccl-net.so), using internal implementation
NCCL INFO Channel 00/02 :    0   1
"#;

    #[test]
    fn shapes_match_the_fixed_parts_in_order() {
        assert!(shape_hits(
            "worker (pid {}) is killed by signal: {}",
            "x worker (pid 7) is killed by signal: Bus error"
        ));
        assert!(shape_hits("a{}b", "ab"));
        assert!(!shape_hits("a{}b", "ba"));
        assert!(!shape_hits(
            "GPU {} has a total capacity of",
            "GPU 0 has a capacity"
        ));
        assert!(shape_hits("{}", "anything"));
        // The first occurrence of a part is not always the one that fits: later ones are tried.
        assert!(shape_hits("x{}yz", "x y x yz"));
    }

    #[test]
    fn the_corpus_of_literal_messages_is_recognised_and_ordinary_output_is_not() {
        assert!(CORPUS.len() + SAMPLES.len() >= 40);
        let h = host(None, vec![]);
        for (id, line) in CORPUS.iter().chain(SAMPLES) {
            let f = scan(line, &Facts::host(&h, &NothingThere));
            assert_eq!(f.first().map(|f| f.pattern.id), Some(*id), "{line}: {f:?}");
        }
        for p in PATTERNS {
            assert!(
                CORPUS.iter().chain(SAMPLES).any(|(id, _)| *id == p.id),
                "no literal message for {}",
                p.id
            );
        }
        let f = scan(ORDINARY, &Facts::host(&h, &NothingThere));
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn an_out_of_memory_finding_names_the_gpus_memory_and_the_allocator_setting() {
        let f = scan(
            CORPUS[9].1,
            &Facts::host(&host(Some("550.54.15"), vec![rtx5090()]), &NothingThere),
        );
        assert_eq!(f[0].pattern.id, "cuda-oom");
        let ctx = f[0].host.as_deref().unwrap();
        assert!(
            ctx.contains("the log's GPU 0 has 14.57 GiB in all"),
            "{ctx}"
        );
        assert!(ctx.contains("other processes hold"), "{ctx}");
        assert!(
            ctx.contains("this host's GPU 0 NVIDIA GeForce RTX 5090 has 32 GiB"),
            "{ctx}"
        );
        assert!(f[0]
            .fix
            .contains("PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True"));
        assert!(f[0].fix.contains("smaller batch"));
    }

    #[test]
    fn a_shm_finding_names_the_containers_dev_shm_and_the_setting() {
        let h = host(None, vec![]);
        let c = ContainerShm {
            name: "ptenv-demo-train".into(),
            shm_size: Some(1 << 20),
            ipc_mode: Some("private".into()),
            memlock_capped: None,
        };
        let facts = Facts {
            host: &h,
            container: Some(&c),
            lookup: &NothingThere,
        };
        let f = scan(CORPUS[0].1, &facts);
        let ctx = f[0].host.as_deref().unwrap();
        assert!(
            ctx.contains("container ptenv-demo-train has a /dev/shm of 1 MiB; `shm_size` in ptenv.yaml sets it"),
            "{ctx}"
        );
        assert!(f[0].fix.contains("shm_size: auto"));
        let default = ContainerShm {
            shm_size: None,
            ..c.clone()
        };
        let f = scan(
            CORPUS[0].1,
            &Facts {
                host: &h,
                container: Some(&default),
                lookup: &NothingThere,
            },
        );
        assert!(f[0]
            .host
            .as_deref()
            .unwrap()
            .contains("64 MiB (Docker's default)"));
        let ipc = ContainerShm {
            ipc_mode: Some("host".into()),
            ..c
        };
        let f = scan(
            CORPUS[0].1,
            &Facts {
                host: &h,
                container: Some(&ipc),
                lookup: &NothingThere,
            },
        );
        assert!(f[0].host.as_deref().unwrap().contains("host's /dev/shm"));
        let f = scan(CORPUS[0].1, &Facts::host(&h, &NothingThere));
        assert!(f[0].host.as_deref().unwrap().contains("64 MiB"));
    }

    #[test]
    fn an_rlimit_finding_names_the_limit() {
        let h = host(None, vec![]);
        let line = CORPUS.iter().find(|(id, _)| *id == "rlimit").unwrap().1;
        let f = scan(line, &Facts::host(&h, &NothingThere));
        assert_eq!(f[0].pattern.id, "rlimit");
        assert!(f[0]
            .host
            .as_deref()
            .unwrap()
            .contains("RLIMIT_MEMLOCK (`memlock`)"));
    }

    #[test]
    fn every_row_of_the_fact_sheet_is_recognised_with_cause_and_fix() {
        let h = host(None, vec![]);
        for (id, line) in SAMPLES {
            let f = scan(line, &Facts::host(&h, &NothingThere));
            assert!(
                f.iter().any(|f| f.pattern.id == *id),
                "{id} not found in {line}: {f:?}"
            );
            let first = f.iter().find(|f| f.pattern.id == *id).unwrap();
            assert!(!first.pattern.cause.is_empty() && !first.fix.is_empty());
        }
        assert!(scan("all good\nloss 0.1", &Facts::host(&h, &NothingThere)).is_empty());
    }

    #[test]
    fn findings_are_counted_once_per_pattern_with_the_first_line() {
        let log = "epoch 1\nRuntimeError: CUDA error: no kernel image is available for execution on the device\nretry\nRuntimeError: CUDA error: no kernel image is available for execution on the device\n";
        let f = scan(log, &Facts::host(&host(None, vec![]), &NothingThere));
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].line_no, f[0].count), (2, 2));
        assert!(f[0].fix.contains("2.7.0-cuda12.8"));
    }

    #[test]
    fn the_host_facts_shape_the_context() {
        let f = scan(
            SAMPLES[6].1,
            &Facts::host(&host(Some("570.124.06"), vec![rtx5090()]), &NothingThere),
        );
        let ctx = f[0].host.as_deref().unwrap();
        assert!(
            ctx.contains("sm_120 (Blackwell): covered by 2.7.0-cuda12.8"),
            "{ctx}"
        );
        assert!(
            ctx.contains("this host's GPU 0 NVIDIA GeForce RTX 5090"),
            "{ctx}"
        );

        let f = scan(
            SAMPLES[1].1,
            &Facts::host(&host(Some("535.104.05"), vec![]), &NothingThere),
        );
        let ctx = f[0].host.as_deref().unwrap();
        assert!(ctx.contains("supports CUDA 11.4"), "{ctx}");
        assert!(
            ctx.contains("driver 535.104.05 supports CUDA 12.2"),
            "{ctx}"
        );
        assert!(ctx.contains("2.6.0-cuda12.4"), "{ctx}");
        // Dozens of lines are summed up: by CUDA family for a driver, a few names for a GPU.
        assert!(
            ctx.contains("it runs CUDA 11.x and 12.x images (PyTorch 2.6: 2.6.0-cuda11.8, 2.6.0-cuda12.4, 2.6.0-cuda12.6), not CUDA 13.x ones (driver 580 or newer)"),
            "{ctx}"
        );
        let names: Vec<String> = (1..=6).map(|i| format!("l{i}")).collect();
        assert_eq!(few(&names), "l1, l2, l3 and 3 more, up to l6");
        assert_eq!(few(&names[..4]), "l1, l2, l3, l4");

        let f = scan(
            SAMPLES[12].1,
            &Facts::host(&host(Some("535.104.05"), vec![]), &NothingThere),
        );
        let ctx = f[0].host.as_deref().unwrap();
        assert!(
            ctx.contains("requires CUDA 12.4 (driver 550.54.14 or newer)"),
            "{ctx}"
        );
        assert!(ctx.contains("supports CUDA 12.2"), "{ctx}");

        let f = scan(
            SAMPLES[2].1,
            &Facts::host(&host(None, vec![]), &NothingThere),
        );
        assert!(f[0].host.as_deref().unwrap().contains("no NVIDIA driver"));
        let f = scan(
            SAMPLES[2].1,
            &Facts::host(&host(Some("550.54.15"), vec![]), &NothingThere),
        );
        assert!(f[0]
            .host
            .as_deref()
            .unwrap()
            .contains("was not given the GPU"));

        let f = scan(
            SAMPLES[11].1,
            &Facts::host(&host(None, vec![]), &NothingThere),
        );
        assert!(f[0]
            .host
            .as_deref()
            .unwrap()
            .contains("nvidia-container-runtime-hook"));
    }

    #[test]
    fn findings_render_with_cause_fix_and_redacted_lines() {
        let log = "see http://127.0.0.1:8888/lab?token=abcdef\nERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm). token=abcdef\n";
        let f = scan(log, &Facts::host(&host(None, vec![]), &NothingThere));
        let text = render(&f);
        assert!(
            text.starts_with("line 2: ERROR: Unexpected bus error"),
            "{text}"
        );
        assert!(
            text.contains("  dataloader-bus-error: DataLoader workers ran out of shared memory")
        );
        assert!(text.contains("  fix: give the container more /dev/shm"));
        assert!(!text.contains("abcdef"), "{text}");
        assert!(text.ends_with("1 known error found.\n"));
        let j = serde_json::to_value(to_json(&f)).unwrap();
        assert_eq!(j["recognised"], 1);
        assert_eq!(j["findings"][0]["id"], "dataloader-bus-error");
        assert_eq!(j["findings"][0]["line"], 2);
        assert!(!j.to_string().contains("abcdef"));
        assert!(render(&[]).contains("No known"));
    }

    #[test]
    fn numbers_are_read_from_the_messages() {
        assert_eq!(found_version("(found version 11040)"), Some((11, 4)));
        assert_eq!(found_version("(found version 12020)."), Some((12, 2)));
        assert_eq!(
            required_cuda("unsatisfied condition: cuda>=12.4, please"),
            Some((12, 4))
        );
        assert_eq!(required_cuda("cuda>=11.8 brand=tesla"), Some((11, 8)));
        assert_eq!(sm_in("with CUDA capability sm_120 is not"), Some((12, 0)));
        assert_eq!(sm_in("sm_86."), Some((8, 6)));
    }
}
