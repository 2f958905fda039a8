use super::super::explain::NothingThere;
use super::super::Status;
use super::*;

fn folder(path: &str, access: Option<(u32, u32, u32)>) -> Workspace<'_> {
    Workspace::Folder {
        path,
        server: None,
        access,
    }
}

#[test]
fn a_workspace_the_container_user_cannot_write_is_flagged_with_the_fix() {
    let dev = User::for_ids(1000, 1000);
    let ok = check_workspace(&dev, &folder("/home/ana/proj", Some((1000, 1000, 0o755))));
    assert_eq!(ok.status, Status::Pass);
    let group = check_workspace(&dev, &folder("/srv/proj", Some((0, 1000, 0o775))));
    assert_eq!(group.status, Status::Pass);
    let bad = check_workspace(&dev, &folder("/srv/proj", Some((0, 0, 0o755))));
    assert_eq!(bad.status, Status::Warn);
    assert!(bad.summary.contains("cannot write /workspace"), "{bad:?}");
    assert_eq!(
        bad.evidence,
        ["/srv/proj: owner 0:0, mode 755; container user `dev` 1000:1000"]
    );
    let fix = bad.fix.as_deref().unwrap();
    assert!(fix.starts_with("run ptenv as the folder's owner"), "{fix}");
    assert!(fix.contains("`sudo chown -R 1000:1000 /srv/proj`"), "{fix}");
    let root = check_workspace(
        &User::for_ids(0, 0),
        &folder("/root/proj", Some((0, 0, 0o700))),
    );
    assert_eq!(root.status, Status::Pass);
    let unknown = check_workspace(&dev, &folder("/gone", None));
    assert_eq!(unknown.status, Status::Skip);
}

#[test]
fn on_a_server_the_workspace_check_names_the_server_folder_or_the_volume() {
    let dev = User::for_ids(1000, 1000);
    let bad = check_workspace(
        &dev,
        &Workspace::Folder {
            path: "/srv/data/proj",
            server: Some("ssh://me@gpu-box"),
            access: Some((0, 0, 0o755)),
        },
    );
    assert_eq!(bad.status, Status::Warn);
    assert_eq!(
        bad.evidence,
        ["/srv/data/proj on ssh://me@gpu-box: owner 0:0, mode 755; container user `dev` 1000:1000"]
    );
    let fix = bad.fix.as_deref().unwrap();
    assert!(
        fix.starts_with("log in to ssh://me@gpu-box as the folder's owner (uid 0)"),
        "{fix}"
    );
    assert!(
        fix.contains("`sudo chown -R 1000:1000 /srv/data/proj`"),
        "{fix}"
    );
    let unread = check_workspace(
        &dev,
        &Workspace::Folder {
            path: "/srv/data/proj",
            server: Some("tcp://gpu-box:2376 (TLS)"),
            access: None,
        },
    );
    assert_eq!(unread.status, Status::Skip);
    assert_eq!(
        unread.summary,
        "cannot read the owner of /srv/data/proj on tcp://gpu-box:2376 (TLS)"
    );
    let volume = check_workspace(
        &dev,
        &Workspace::Volume {
            server: "ssh://me@gpu-box",
        },
    );
    assert_eq!(volume.status, Status::Skip);
    assert!(
        volume
            .summary
            .starts_with("/workspace is the project's volume on ssh://me@gpu-box, not a folder"),
        "{volume:?}"
    );
    assert!(
        !volume.summary.contains("/home/"),
        "no laptop path: {volume:?}"
    );
}

/// What the real probe printed in pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime started
/// without GPUs on the test machine.
const NO_GPU: &str = r#"/opt/conda/lib/python3.11/site-packages/torch/_subclasses/functional_tensor.py:275: UserWarning: Failed to initialize NumPy: No module named 'numpy'
PTENV-PROBE {"dev_nvidia": [], "env": {"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_DRIVER_CAPABILITIES": "compute,utility", "CUDA_VISIBLE_DEVICES": null}, "libcuda": "libcuda.so.1: cannot open shared object file: No such file or directory", "version": "2.6.0+cu124", "cuda": "12.4", "available": false, "count": 0, "arch_list": [], "arch_flags": "sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90", "init_error": "RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.aspx", "warnings": []}"#;

fn run(output: &str, gpu: Option<&str>) -> ProbeRun {
    ProbeRun {
        image: "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime".into(),
        gpu_request: gpu.map(Into::into),
        no_gpu_reason: gpu.is_none().then(|| {
            (
                "the host has no NVIDIA driver".to_string(),
                Some("install the driver".to_string()),
            )
        }),
        start_error: None,
        exit_code: Some(0),
        output: output.into(),
    }
}

#[test]
fn the_probe_line_parses_among_warnings() {
    let v = TorchView::parse(NO_GPU).unwrap();
    assert_eq!(v.version.as_deref(), Some("2.6.0+cu124"));
    assert!(!v.available);
    assert_eq!(v.arch(), "sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90");
    assert!(v.libcuda.is_some());
    assert_eq!(TorchView::parse("no marker"), None);
}

#[test]
fn no_gpu_without_a_request_names_the_missing_devices_and_the_earlier_link() {
    let c = check_torch(&run(NO_GPU, None), &HostFacts::default(), &NothingThere);
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.summary
            .contains("started without GPUs (the host has no NVIDIA driver)"),
        "{c:?}"
    );
    assert!(
        c.summary.contains("no /dev/nvidia* and no libcuda.so.1"),
        "{c:?}"
    );
    assert_eq!(c.fix.as_deref(), Some("install the driver"));
    assert!(
        c.evidence
            .iter()
            .any(|e| e.contains("Found no NVIDIA driver")),
        "{c:?}"
    );
    assert!(c
        .evidence
        .iter()
        .any(|e| e == "torch.cuda.is_available(): False, device_count(): 0"));
}

#[test]
fn no_gpu_with_a_request_points_at_the_injection() {
    let c = check_torch(
        &run(NO_GPU, Some("--gpus all")),
        &HostFacts::default(),
        &NothingThere,
    );
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains("although GPUs were requested"), "{c:?}");
    assert!(c.fix.unwrap().contains("did not inject the devices"));
    let libs_missing = NO_GPU.replace(
        r#""dev_nvidia": []"#,
        r#""dev_nvidia": ["/dev/nvidia0", "/dev/nvidiactl"]"#,
    );
    let c = check_torch(
        &run(&libs_missing, Some("--gpus all")),
        &HostFacts::default(),
        &NothingThere,
    );
    assert!(
        c.fix
            .as_deref()
            .unwrap()
            .contains("NVIDIA_DRIVER_CAPABILITIES"),
        "{c:?}"
    );
    let too_old = libs_missing
            .replace(r#""libcuda": "libcuda.so.1: cannot open shared object file: No such file or directory""#, r#""libcuda": null"#)
            .replace("Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.aspx", "The NVIDIA driver on your system is too old (found version 11040). Please update your GPU driver");
    let c = check_torch(
        &run(&too_old, Some("--gpus all")),
        &HostFacts::default(),
        &NothingThere,
    );
    assert!(c.evidence.iter().any(|e| e.contains("too old")), "{c:?}");
    assert!(
        c.fix.unwrap().to_lowercase().contains("driver"),
        "a driver fix"
    );
}

#[test]
fn a_visible_gpu_without_code_is_an_architecture_mismatch() {
    let out = r#"PTENV-PROBE {"dev_nvidia": ["/dev/nvidia0"], "libcuda": null, "version": "2.6.0+cu124", "cuda": "12.4", "available": true, "count": 1, "arch_list": ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"], "devices": [{"name": "NVIDIA GeForce RTX 5090", "cc": [12, 0]}], "kernel_error": "RuntimeError: CUDA error: no kernel image is available for execution on the device", "warnings": ["NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current PyTorch installation."]}"#;
    let c = check_torch(
        &run(out, Some("--gpus all")),
        &HostFacts::default(),
        &NothingThere,
    );
    assert_eq!(c.status, Status::Fail, "{c:?}");
    assert!(
        c.summary.contains("architecture mismatch") && c.summary.contains("sm_120"),
        "{c:?}"
    );
    assert!(c.fix.unwrap().contains("2.7.0-cuda12.8"));
}

#[test]
fn a_gpu_that_runs_a_kernel_passes() {
    let out = r#"PTENV-PROBE {"dev_nvidia": ["/dev/nvidia0"], "libcuda": null, "version": "2.6.0+cu124", "cuda": "12.4", "available": true, "count": 1, "arch_list": ["sm_50", "sm_86", "sm_90"], "devices": [{"name": "NVIDIA GeForce RTX 4090", "cc": [8, 9]}]}"#;
    let c = check_torch(
        &run(out, Some("--gpus all")),
        &HostFacts::default(),
        &NothingThere,
    );
    assert_eq!(c.status, Status::Pass, "{c:?}");
    assert!(c.summary.contains("sees 1 GPU"));
}

#[test]
fn a_refused_start_and_a_silent_probe_fail_with_their_cause() {
    let mut r = run("", Some("--gpus all"));
    r.start_error = Some("could not select device driver \"\" with capabilities: [[gpu]]".into());
    let c = check_torch(&r, &HostFacts::default(), &NothingThere);
    assert_eq!(c.status, Status::Fail);
    assert!(c.fix.unwrap().contains("Container Toolkit"), "toolkit fix");
    let mut r = run("python: not found", None);
    r.exit_code = Some(127);
    let c = check_torch(&r, &HostFacts::default(), &NothingThere);
    assert!(c.summary.contains("exit code 127"), "{c:?}");
    assert!(c.evidence.iter().any(|e| e.contains("python: not found")));
    let c = check_torch(
        &run(
            r#"PTENV-PROBE {"import_error": "ModuleNotFoundError: No module named 'torch'"}"#,
            None,
        ),
        &HostFacts::default(),
        &NothingThere,
    );
    assert!(c.summary.contains("does not import"));
    let cpu = NO_GPU.replace(r#""cuda": "12.4""#, r#""cuda": null"#);
    assert!(
        check_torch(&run(&cpu, None), &HostFacts::default(), &NothingThere)
            .summary
            .contains("CPU-only")
    );
}

#[test]
fn shared_memory_below_a_gibibyte_warns_and_ipc_host_is_noted() {
    assert_eq!(check_shm(&[]).status, Status::Skip);
    let small = ContainerShm {
        name: "ptenv-x-jupyter".into(),
        shm_size: Some(64 << 20),
        ipc_mode: Some("private".into()),
        memlock_capped: None,
    };
    let c = check_shm(std::slice::from_ref(&small));
    assert_eq!(c.status, Status::Warn);
    assert!(c.summary.contains("bus error"), "{c:?}");
    assert!(
        c.evidence[0].contains("64 MiB") || c.evidence[0].contains("64"),
        "{c:?}"
    );
    let default = ContainerShm {
        shm_size: None,
        ..small.clone()
    };
    assert!(check_shm(&[default]).evidence[0].contains("Docker's default"));
    let host = ContainerShm {
        ipc_mode: Some("host".into()),
        ..small.clone()
    };
    let c = check_shm(&[host]);
    assert_eq!(c.status, Status::Pass);
    assert!(c.evidence[0].contains("ipc host"));
    let big = ContainerShm {
        shm_size: Some(8 << 30),
        ..small.clone()
    };
    assert_eq!(check_shm(std::slice::from_ref(&big)).status, Status::Pass);
    let capped = ContainerShm {
        memlock_capped: Some("8388608".into()),
        ..big
    };
    let c = check_shm(&[capped]);
    assert_eq!(c.status, Status::Warn);
    assert!(c.summary.contains("memlock"));
}
