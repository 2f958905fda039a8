use super::*;
use crate::gpu::Gpu;

pub(crate) use crate::testing::rtx5090;

/// A host with `driver` seen through NVML, or without a driver where NVML was not found.
pub(crate) fn host(driver: Option<&str>, gpus: Vec<Gpu>) -> HostFacts {
    match driver {
        Some(d) => crate::testing::nvml_host(d, gpus),
        None => crate::testing::driverless_host(gpus, &["NVML: not found"]),
    }
}

/// One real line per row of docs/compatibility.md §8, as users post them.
pub(crate) const SAMPLES: &[(&str, &str)] = &[
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
        ctx.contains(
            "container ptenv-demo-train has a /dev/shm of 1 MiB; `shm_size` in ptenv.yaml sets it"
        ),
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
fn findings_render_with_cause_fix_and_redacted_lines() {
    let log = "see http://127.0.0.1:8888/lab?token=abcdef\nERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm). token=abcdef\n";
    let f = scan(log, &Facts::host(&host(None, vec![]), &NothingThere));
    let text = render(&f);
    assert!(
        text.starts_with("line 2: ERROR: Unexpected bus error"),
        "{text}"
    );
    assert!(text.contains("  dataloader-bus-error: DataLoader workers ran out of shared memory"));
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
