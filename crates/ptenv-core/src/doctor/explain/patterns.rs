//! The table of known errors: each pattern with the source of its message, its cause and fix.

use super::*;

pub(super) const BLACKWELL_FIX: &str = "choose an image whose GPU code covers the GPU (`ptenv select --list` shows which): for Blackwell (RTX 50xx, RTX PRO 6000, B200; sm_100/sm_120) that is 2.7.0-cuda12.8-cudnn9-runtime (`ptenv up --pytorch 2.7 --cuda 12.8`) or a newer release's CUDA 12.8, 12.9 or 13.x line (`ptenv up --pytorch latest`, or `pytorch: latest` in ptenv.yaml), with driver R570 or newer (R580 for CUDA 13)";

pub(super) const SHM_FIX: &str = "give the container more /dev/shm: `shm_size: auto` (half the host's RAM) or e.g. `shm_size: 8g`, or `ipc: host`, in ptenv.yaml, then `ptenv down && ptenv up`; or `num_workers=0` in the DataLoader";

pub(super) const OOM_FIX: &str = "use a smaller batch (or gradient accumulation, mixed precision, activation checkpointing); set `PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True` (`env:` in ptenv.yaml) when much memory is reserved but unallocated; stop other processes that hold the GPU's memory (`nvidia-smi` lists them)";

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
