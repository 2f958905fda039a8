//! `ptenv doctor` (issue #7): the chain from GPU to torch on this machine and on the machines
//! the fake NVML describes. The host's files are a sysfs-like tree in the test's folder
//! (`PTENV_SYSROOT`) when the test needs NVIDIA hardware this machine does not have; the
//! Docker checks talk to the real engine (which has no NVIDIA runtime), and the torch probe
//! runs the real torch fixture image.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::{docker, docker_ok, Outcome, Project, Testbed};

/// A sysfs/procfs tree with one NVIDIA GPU per `drivers` entry (the kernel driver bound to
/// it, if any) and, with `module`, the nvidia kernel module of that version loaded.
pub fn sysroot(p: &Project, drivers: &[Option<&str>], module: Option<&str>) -> PathBuf {
    let root = p.home().join("sysroot");
    let devices = root.join("sys/bus/pci/devices");
    std::fs::create_dir_all(&devices).unwrap();
    // The host bridge every machine has.
    write(
        &devices.join("0000:00:00.0"),
        &[
            ("vendor", "0x8086"),
            ("device", "0x1237"),
            ("class", "0x060000"),
        ],
    );
    for (i, driver) in drivers.iter().enumerate() {
        let dev = devices.join(format!("0000:{:02x}:00.0", i + 1));
        write(
            &dev,
            &[
                ("vendor", "0x10de"),
                ("device", "0x2b85"),
                ("class", "0x030000"),
            ],
        );
        if let Some(d) = driver {
            std::os::unix::fs::symlink(format!("../../../bus/pci/drivers/{d}"), dev.join("driver"))
                .unwrap();
        }
    }
    if let Some(version) = module {
        write(&root.join("sys/module/nvidia"), &[("version", version)]);
        write(
            &root.join("proc/driver/nvidia"),
            &[("version", &format!("NVRM version: NVIDIA UNIX x86_64 Kernel Module  {version}  Tue Mar  5 22:23:56 UTC 2024"))],
        );
    }
    root
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), format!("{text}\n")).unwrap();
    }
}

/// `ptenv doctor ARGS --json` with the machine described by `sysroot` and `scenario` (fake
/// NVML statements); returns the outcome and the parsed report.
pub fn doctor(
    p: &Project,
    args: &[&str],
    sysroot: Option<&Path>,
    scenario: Option<&str>,
) -> (Outcome, Value) {
    let mut all = vec!["doctor", "--json"];
    all.extend_from_slice(args);
    let mut run = p.ptenv(&all);
    if let Some(root) = sysroot {
        run = run.env("PTENV_SYSROOT", root);
    }
    if let Some(text) = scenario {
        run = run.fake_gpus(&p.gpu_scenario(text));
    }
    let out = run.run();
    let json: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("--json printed no JSON ({e}):\n{out}"));
    (out, json)
}

pub fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks is a list")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check `{id}` in {report:#}"))
}

fn status(report: &Value, id: &str) -> String {
    check(report, id)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn text(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

use crate::support::gpus::{DRIVER_NOT_LOADED, RTX_3090, RTX_3090_R470, RTX_5090, V100_5090};

#[test]
fn on_this_machine_the_missing_driver_is_the_first_broken_link() {
    let p = Project::new("doctor-here");
    let (out, report) = doctor(&p, &["--no-container"], None, None);
    out.assert_exit(1);
    assert_eq!(report["verdict"], "fail");
    assert_eq!(report["first_failure"]["id"], "pci", "{report:#}");
    assert!(
        text(&report["first_failure"]["summary"]).contains("no NVIDIA driver"),
        "{report:#}"
    );
    assert!(text(&report["first_failure"]["fix"]).contains("NVIDIA GPU"));
    for (id, expected) in [
        ("pci", "fail"),
        ("kernel-driver", "skip"),
        ("nvml", "skip"),
        ("docker", "pass"),
        ("gpu-path", "fail"),
        ("cgroup", "pass"),
        ("image", "skip"),
        ("shm", "skip"),
        ("torch", "skip"),
        ("logs", "skip"),
    ] {
        assert_eq!(status(&report, id), expected, "{id}: {report:#}");
    }
    let ids: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| text(&c["id"]))
        .collect();
    assert_eq!(
        ids,
        [
            "pci",
            "kernel-driver",
            "nvml",
            "docker",
            "gpu-path",
            "cgroup",
            "image",
            "shm",
            "workspace",
            "torch",
            "logs"
        ],
        "chain order"
    );
    // The skip says which earlier link it waits for.
    assert!(text(&check(&report, "kernel-driver")["summary"]).contains("`pci`, which failed"));
    assert!(text(&check(&report, "torch")["summary"]).contains("--no-container"));
    // The evidence is the real bus and the real engine.
    assert!(text(&check(&report, "pci")["evidence"]).contains("vendor 0x10de"));
    assert!(
        text(&check(&report, "docker")["summary"]).contains(&docker_ok(&[
            "version",
            "--format",
            "{{.Server.Version}}"
        ]))
    );
    assert!(text(&check(&report, "cgroup")["summary"]).contains("cgroupfs"));
    // --no-container stays fast: no container, no image. (About 0.2 s in a debug build; the
    // bound leaves room for a test bed busy with other tests, and is still far below the
    // seconds a torch import in a container takes.)
    assert!(
        out.elapsed < Duration::from_secs(4),
        "took {:?}",
        out.elapsed
    );
}

#[test]
fn the_text_report_groups_the_links_and_ends_with_the_first_broken_one() {
    let p = Project::new("doctor-text");
    let out = p.ptenv(&["doctor", "--no-container"]).run();
    out.assert_exit(1);
    let s = &out.stdout;
    let host = s.find("Host: GPU and driver\n").expect(s);
    let dock = s.find("\nDocker\n").expect(s);
    let cont = s.find("\nContainer\n").expect(s);
    assert!(host < dock && dock < cont, "{out}");
    assert!(s.contains("  FAIL  pci "), "{out}");
    assert!(s.contains("  skip  kernel-driver "), "{out}");
    let tail = &s[s.find("First broken link: pci").expect(s)..];
    assert!(tail.contains("  fix: "), "{out}");
    assert!(tail.contains("also failing: gpu-path"), "{out}");
}

#[test]
fn with_a_driver_the_missing_container_toolkit_is_the_first_broken_link() {
    let p = Project::new("doctor-toolkit");
    let root = sysroot(&p, &[Some("nvidia")], Some("550.54.15"));
    let (out, report) = doctor(&p, &["--no-container"], Some(&root), Some(RTX_3090));
    out.assert_exit(1);
    for (id, expected) in [
        ("pci", "pass"),
        ("kernel-driver", "pass"),
        ("nvml", "pass"),
        ("docker", "pass"),
        ("gpu-path", "fail"),
        ("image", "pass"),
    ] {
        assert_eq!(status(&report, id), expected, "{id}: {report:#}");
    }
    assert_eq!(report["first_failure"]["id"], "gpu-path");
    assert!(
        text(&report["first_failure"]["summary"]).contains("NVIDIA Container Toolkit is missing"),
        "{report:#}"
    );
    assert!(text(&report["first_failure"]["fix"])
        .contains("nvidia-ctk runtime configure --runtime=docker"));
    let nvml = check(&report, "nvml");
    assert_eq!(nvml["summary"], "driver 550.54.15 (CUDA 12.4), 1 GPU");
    assert!(
        text(&nvml["evidence"]).contains("NVIDIA GeForce RTX 3090, compute capability 8.6"),
        "{nvml:#}"
    );
    assert!(text(&check(&report, "image")["summary"]).contains("2.6.0-cuda12.4-cudnn9-runtime"));
}

#[test]
fn an_rtx_5090_on_2_6_is_an_architecture_mismatch_with_the_2_7_cu128_fix() {
    let p = Project::new("doctor-5090");
    let root = sysroot(&p, &[Some("nvidia")], Some("570.124.06"));
    let (out, report) = doctor(&p, &["--no-container"], Some(&root), Some(RTX_5090));
    out.assert_exit(1);
    let image = check(&report, "image");
    assert_eq!(image["status"], "fail", "{report:#}");
    assert!(
        text(&image["summary"]).starts_with("architecture mismatch: "),
        "{image:#}"
    );
    assert!(text(&image["summary"]).contains("RTX 5090"), "{image:#}");
    assert!(
        text(&image["summary"]).contains("no kernel image"),
        "{image:#}"
    );
    assert!(
        text(&image["fix"]).contains("2.7.0-cuda12.8-cudnn9-runtime"),
        "{image:#}"
    );
    assert!(text(&image["fix"]).contains("--pytorch 2.7"), "{image:#}");
    // The same machine with 2.7 passes the image link.
    let (_, report) = doctor(
        &p,
        &["--no-container", "--pytorch", "2.7"],
        Some(&root),
        Some(RTX_5090),
    );
    let image = check(&report, "image");
    assert_eq!(image["status"], "pass", "{image:#}");
    assert!(text(&image["summary"]).contains("2.7.0-cuda12.8"));
    // A pinned CUDA 12.4 on 2.6 also fails, with the unpinned choice as the fix.
    let (_, report) = doctor(
        &p,
        &["--no-container", "--pytorch", "2.7", "--cuda", "12.6"],
        Some(&root),
        Some(RTX_5090),
    );
    let image = check(&report, "image");
    assert_eq!(image["status"], "fail", "{image:#}");
    assert!(
        text(&image["summary"]).starts_with("architecture mismatch"),
        "{image:#}"
    );
    assert!(text(&image["fix"]).contains("2.7.0-cuda12.8"), "{image:#}");
}

#[test]
fn mixed_gpus_that_no_single_image_covers_fail_the_image_link() {
    let p = Project::new("doctor-mixed");
    let root = sysroot(&p, &[Some("nvidia"), Some("nvidia")], Some("570.124.06"));
    let scenario = V100_5090;
    let (_, report) = doctor(
        &p,
        &["--no-container", "--pytorch", "2.7"],
        Some(&root),
        Some(scenario),
    );
    assert_eq!(status(&report, "nvml"), "pass");
    assert_eq!(
        check(&report, "nvml")["summary"],
        "driver 570.124.06 (CUDA 12.8), 2 GPUs"
    );
    let image = check(&report, "image");
    assert_eq!(image["status"], "fail", "{image:#}");
    assert!(text(&image["summary"]).contains("V100"), "{image:#}");
    assert!(
        text(&image["fix"]).contains("--gpus"),
        "only the GPUs it can use: {image:#}"
    );
}

#[test]
fn a_gpu_that_does_not_answer_warns_in_the_nvml_link() {
    let p = Project::new("doctor-lost-gpu");
    let root = sysroot(&p, &[Some("nvidia"), Some("nvidia")], Some("550.54.15"));
    let scenario = format!("{RTX_3090}gpu 8.6 25769803776 GPU-3090-0001 AMPERE NVIDIA GeForce RTX 3090\ngpu_error 1 GPU_IS_LOST\n");
    let (_, report) = doctor(&p, &["--no-container"], Some(&root), Some(&scenario));
    let nvml = check(&report, "nvml");
    assert_eq!(nvml["status"], "warn", "{report:#}");
    assert!(
        text(&nvml["summary"]).contains("GPU 1 does not answer"),
        "{nvml:#}"
    );
    assert!(text(&nvml["fix"]).contains("Xid 79"), "{nvml:#}");
    // A warning does not block the links after it.
    assert_eq!(status(&report, "image"), "pass", "{report:#}");
}

#[test]
fn an_old_driver_fails_a_pinned_cuda_12_image() {
    let p = Project::new("doctor-old-driver");
    let root = sysroot(&p, &[Some("nvidia")], Some("470.256.02"));
    let scenario = RTX_3090_R470;
    let (_, report) = doctor(
        &p,
        &["--no-container", "--cuda", "12.4"],
        Some(&root),
        Some(scenario),
    );
    let image = check(&report, "image");
    assert_eq!(image["status"], "fail", "{image:#}");
    assert!(
        text(&image["summary"]).contains("insufficient"),
        "{image:#}"
    );
    assert!(text(&image["summary"]).contains("525.60.13"), "{image:#}");
    assert!(
        text(&image["fix"]).contains("cuda11.8"),
        "the cu118 alternative: {image:#}"
    );
    // Unpinned, ptenv picks cu118, which runs (with a warning below its full-feature driver).
    let (_, report) = doctor(&p, &["--no-container"], Some(&root), Some(scenario));
    let image = check(&report, "image");
    assert_eq!(image["status"], "warn", "{image:#}");
    assert!(text(&image["fix"]).contains("520.61.05"), "{image:#}");
}

#[test]
fn no_driver_module_and_a_broken_nvml_are_told_apart() {
    let p = Project::new("doctor-no-driver");
    // A GPU on the bus, no module: the kernel link breaks; NVML waits for it.
    let root = sysroot(&p, &[None], None);
    let (_, report) = doctor(
        &p,
        &["--no-container"],
        Some(&root),
        Some(DRIVER_NOT_LOADED),
    );
    assert_eq!(status(&report, "pci"), "pass");
    assert_eq!(report["first_failure"]["id"], "kernel-driver", "{report:#}");
    assert!(text(&report["first_failure"]["fix"]).contains("dkms"));
    assert_eq!(status(&report, "nvml"), "skip");
    assert_eq!(status(&report, "image"), "skip");

    // nouveau drives the GPU.
    let p = Project::new("doctor-nouveau");
    let root = sysroot(&p, &[Some("nouveau")], None);
    std::fs::create_dir_all(root.join("sys/module/nouveau")).unwrap();
    let (_, report) = doctor(
        &p,
        &["--no-container"],
        Some(&root),
        Some(DRIVER_NOT_LOADED),
    );
    assert_eq!(report["first_failure"]["id"], "kernel-driver");
    assert!(
        text(&report["first_failure"]["summary"]).contains("nouveau"),
        "{report:#}"
    );

    // The module is loaded but NVML does not match it (driver upgraded, no reboot).
    let p = Project::new("doctor-mismatch");
    let root = sysroot(&p, &[Some("nvidia")], Some("550.54.15"));
    let (_, report) = doctor(
        &p,
        &["--no-container"],
        Some(&root),
        Some("init_error LIB_RM_VERSION_MISMATCH\n"),
    );
    assert_eq!(status(&report, "kernel-driver"), "pass", "{report:#}");
    let nvml = check(&report, "nvml");
    assert_eq!(nvml["status"], "fail", "{report:#}");
    assert!(
        text(&nvml["evidence"]).to_lowercase().contains("mismatch"),
        "{nvml:#}"
    );
    assert!(text(&nvml["fix"]).contains("reboot"), "{nvml:#}");
}

#[test]
fn a_broken_profile_fails_the_image_link_and_the_rest_still_runs() {
    let p = Project::new("doctor-bad-yaml");
    p.write("ptenv.yaml", "pytorch: [2.6\n");
    let (out, report) = doctor(&p, &["--no-container"], None, None);
    out.assert_exit(1);
    let image = check(&report, "image");
    assert_eq!(image["status"], "fail", "{report:#}");
    assert!(
        text(&image["summary"]).starts_with("the profile cannot be resolved: "),
        "{image:#}"
    );
    assert!(text(&image["summary"]).contains("ptenv.yaml"), "{image:#}");
    assert_eq!(status(&report, "docker"), "pass");
    let (_, report) = doctor(&p, &[], None, None);
    assert_eq!(status(&report, "torch"), "skip", "{report:#}");
}

#[test]
fn a_user_outside_the_docker_group_is_told_to_join_it() {
    let p = Project::new("doctor-no-permission");
    // The test runs as root, who may use any socket; `nobody` may not use a 0660 root:docker
    // socket. The folders must be readable for nobody.
    let out = p
        .ptenv_as_nobody(&["doctor"])
        .arg("--json")
        .arg("--no-container")
        .run();
    out.assert_exit(1);
    let report: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}:\n{out}"));
    let d = check(&report, "docker");
    assert_eq!(d["status"], "fail", "{report:#}");
    assert!(
        text(&d["summary"]).contains("permission denied on the Docker socket"),
        "{d:#}"
    );
    assert!(
        text(&d["evidence"]).contains("(euid 65534) may not use it"),
        "{d:#}"
    );
    assert!(text(&d["fix"]).contains("usermod -aG"), "{d:#}");
    assert_eq!(status(&report, "gpu-path"), "skip");
}

#[test]
fn an_unreachable_daemon_fails_and_the_links_after_it_are_skipped() {
    let p = Project::new("doctor-dead-daemon");
    let socket = p.home().join("nothing-listens.sock");
    let host = format!("unix://{}", socket.display());
    let mut run = p.ptenv(&["doctor", "--json"]).env("DOCKER_HOST", &host);
    run = run.timeout(Duration::from_secs(60));
    let out = run.run();
    out.assert_exit(1);
    let report: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let d = check(&report, "docker");
    assert_eq!(d["status"], "fail", "{report:#}");
    assert!(text(&d["summary"]).contains(&host), "{d:#}");
    assert!(text(&d["evidence"]).contains("does not exist"), "{d:#}");
    assert!(text(&d["fix"]).contains("systemctl start docker"), "{d:#}");
    for id in ["gpu-path", "cgroup", "shm", "torch"] {
        let c = check(&report, id);
        assert_eq!(c["status"], "skip", "{id}: {c:#}");
        assert!(
            text(&c["summary"]).contains("`docker`, which failed"),
            "{id}: {c:#}"
        );
    }
}

#[test]
fn torch_in_the_real_image_sees_no_gpu_and_doctor_says_why() {
    let tb = Testbed::get();
    let p = Project::new("doctor-probe");
    let (out, report) = doctor(&p, &[], None, None);
    out.assert_exit(1);
    let torch = check(&report, "torch");
    assert_eq!(torch["status"], "fail", "{report:#}");
    let summary = text(&torch["summary"]);
    assert!(summary.contains("torch 2.6.0"), "{torch:#}");
    assert!(summary.contains("started without GPUs"), "{torch:#}");
    assert!(
        summary.contains("no /dev/nvidia* and no libcuda.so.1"),
        "{torch:#}"
    );
    let evidence = text(&torch["evidence"]);
    assert!(evidence.contains(&tb.torch_image), "{torch:#}");
    assert!(
        evidence.contains("torch.cuda.is_available(): False, device_count(): 0"),
        "{torch:#}"
    );
    assert!(
        evidence.contains("compiled for: sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90"),
        "{torch:#}"
    );
    assert!(
        evidence.contains("Found no NVIDIA driver on your system"),
        "the real init error: {torch:#}"
    );
    assert!(
        evidence.contains("/dev/nvidia*: none in the container"),
        "{torch:#}"
    );
    assert!(
        evidence.contains("libcuda.so.1: does not load"),
        "{torch:#}"
    );
    // The fix is the first broken link's.
    assert_eq!(torch["fix"], report["first_failure"]["fix"]);
    // The probe container is gone.
    assert!(
        p.containers().is_empty(),
        "left behind: {:?}",
        p.containers()
    );
}

#[test]
fn an_image_without_torch_fails_the_torch_link() {
    let tb = Testbed::get();
    let p = Project::new("doctor-no-torch");
    let (_, report) = doctor(&p, &["--image", &tb.small_image], None, None);
    let torch = check(&report, "torch");
    assert_eq!(torch["status"], "fail", "{torch:#}");
    assert!(
        text(&torch["summary"]).contains("torch does not import"),
        "{torch:#}"
    );
    assert!(
        text(&torch["evidence"]).contains("No module named 'torch'"),
        "{torch:#}"
    );
    assert!(p.containers().is_empty());
}

#[test]
fn a_cdi_spec_on_an_engine_without_cdi_is_no_gpu_path() {
    let p = Project::new("doctor-cdi-old-engine");
    let root = sysroot(&p, &[Some("nvidia")], Some("550.54.15"));
    write(
        &root.join("etc/cdi"),
        &[(
            "nvidia.yaml",
            "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices: []",
        )],
    );
    let (_, report) = doctor(&p, &["--no-container"], Some(&root), Some(RTX_3090));
    let path = check(&report, "gpu-path");
    assert_eq!(path["status"], "fail", "{report:#}");
    assert!(text(&path["summary"]).contains("predates CDI"), "{path:#}");
    assert!(
        text(&path["evidence"]).contains("kind nvidia.com/gpu"),
        "{path:#}"
    );
}

#[test]
fn an_image_that_is_not_here_is_not_pulled_by_the_probe() {
    let p = Project::new("doctor-no-image");
    let (_, report) = doctor(
        &p,
        &["--image", "127.0.0.1:5000/ptenv-fixture/absent:never"],
        None,
        None,
    );
    let torch = check(&report, "torch");
    assert_eq!(torch["status"], "skip", "{torch:#}");
    assert!(text(&torch["fix"]).contains("docker pull 127.0.0.1:5000/ptenv-fixture/absent:never"));
}

/// A running container of the project, started with the docker CLI as `ptenv up` would label
/// it; `extra` are more `docker run` flags.
fn running_container(p: &Project, name: &str, extra: &[&str]) -> String {
    let label = p.label_filter();
    let mut args = vec!["run", "-d", "--name", name, "--label", &label];
    args.extend_from_slice(extra);
    let image = Testbed::get().small_image.clone();
    args.extend_from_slice(&[image.as_str(), "sleep", "300"]);
    docker_ok(&args)
}

#[test]
fn small_shared_memory_and_a_memlock_cap_of_the_running_container_warn() {
    let p = Project::new("doctor-shm");
    let suffix = std::process::id();
    running_container(
        &p,
        &format!("doctor-shm-small-{suffix}"),
        &["--shm-size", "64m"],
    );
    let (_, report) = doctor(&p, &["--no-container"], None, None);
    let shm = check(&report, "shm");
    assert_eq!(shm["status"], "warn", "{report:#}");
    assert!(text(&shm["summary"]).contains("less than 1 GiB"), "{shm:#}");
    assert!(text(&shm["summary"]).contains("bus error"), "{shm:#}");
    assert!(text(&shm["fix"]).contains("shm_size"), "{shm:#}");
    let _ = docker(&["rm", "-f", &format!("doctor-shm-small-{suffix}")]);

    running_container(
        &p,
        &format!("doctor-shm-host-{suffix}"),
        &[
            "--ipc",
            "host",
            "--label",
            "dev.ptenv.memlock-capped=8388608",
        ],
    );
    let (_, report) = doctor(&p, &["--no-container"], None, None);
    let shm = check(&report, "shm");
    assert_eq!(shm["status"], "warn", "{report:#}");
    assert!(text(&shm["evidence"]).contains("ipc host"), "{shm:#}");
    assert!(text(&shm["summary"]).contains("memlock"), "{shm:#}");
}

#[test]
fn a_large_shm_passes() {
    let p = Project::new("doctor-shm-ok");
    running_container(
        &p,
        &format!("doctor-shm-big-{}", std::process::id()),
        &["--shm-size", "2g"],
    );
    let (_, report) = doctor(&p, &["--no-container"], None, None);
    let shm = check(&report, "shm");
    assert_eq!(shm["status"], "pass", "{report:#}");
    assert!(text(&shm["evidence"]).contains("2 GiB"), "{shm:#}");
}

/// One line of each row of docs/compatibility.md §8, as users post them.
const LOG: &str = "\
Epoch 1/10
RuntimeError: CUDA error: CUDA driver version is insufficient for CUDA runtime version
UserWarning: CUDA initialization: The NVIDIA driver on your system is too old (found version 11040). Please update your GPU driver
RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.aspx
Failed to initialize NVML: Unknown Error
docker: Error response from daemon: could not select device driver \"\" with capabilities: [[gpu]].
nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.4, please update your driver to a newer version, or use an earlier cuda container: unknown
ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm).
NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current PyTorch installation.
RuntimeError: CUDA error: no kernel image is available for execution on the device
Found GPU0 Tesla K80 which is of cuda capability 3.7. PyTorch no longer supports this GPU because it is too old.
NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.
UserWarning: CUDA initialization: CUDA unknown error - this may be due to an incorrectly set up environment
open http://127.0.0.1:8888/lab?token=0123456789abcdef
";

#[test]
fn explain_names_every_known_error_with_cause_and_fix() {
    let p = Project::new("doctor-explain");
    let log = p.write("train.log", LOG);
    let out = p.ptenv(&["doctor", "--json", "--explain"]).arg(&log).run();
    out.assert_success();
    let j: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let ids: Vec<String> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| text(&f["id"]))
        .collect();
    for id in [
        "insufficient-driver",
        "driver-too-old",
        "no-driver",
        "nvml-unknown-error",
        "no-device-driver",
        "unsatisfied-cuda",
        "dataloader-bus-error",
        "sm-not-compatible",
        "no-kernel-image",
        "gpu-too-old",
        "nvidia-smi-failed",
        "cuda-unknown-error",
    ] {
        assert!(
            ids.contains(&id.to_string()),
            "{id} not recognised: {ids:?}"
        );
    }
    for f in j["findings"].as_array().unwrap() {
        assert!(
            !text(&f["cause"]).is_empty() && !text(&f["fix"]).is_empty(),
            "{f:#}"
        );
    }
    let kernel = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "no-kernel-image")
        .unwrap();
    assert_eq!(kernel["line"], 10);
    assert!(text(&kernel["fix"]).contains("2.7.0-cuda12.8"));
    // This host has no driver: the context says so.
    let no_driver = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "no-driver")
        .unwrap();
    assert!(
        text(&no_driver["host"]).contains("no NVIDIA driver"),
        "{no_driver:#}"
    );
    assert!(!out.stdout.contains("0123456789abcdef"));
}

#[test]
fn explain_reads_stdin_and_uses_this_hosts_gpus() {
    let p = Project::new("doctor-explain-stdin");
    let file = p.gpu_scenario(RTX_5090);
    let out = p
        .ptenv(&["doctor", "--explain", "-"])
        .fake_gpus(&file)
        .stdin("Traceback (most recent call last):\nRuntimeError: CUDA error: no kernel image is available for execution on the device\n")
        .run();
    out.assert_success();
    assert!(
        out.stdout
            .starts_with("line 2: RuntimeError: CUDA error: no kernel image"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("  cause: cudaErrorNoKernelImageForDevice (209)"),
        "{out}"
    );
    assert!(
        out.stdout.contains(
            "this host's GPU 0 NVIDIA GeForce RTX 5090 (sm_120): covered by 2.7.0-cuda12.8"
        ),
        "{out}"
    );
    assert!(out.stdout.contains("1 known error found."), "{out}");
}

#[test]
fn explain_says_when_nothing_is_known_and_when_the_file_is_missing() {
    let p = Project::new("doctor-explain-none");
    let log = p.write("ok.log", "loss 0.31\nloss 0.29\n");
    let out = p.ptenv(&["doctor", "--explain"]).arg(&log).run();
    out.assert_exit(1);
    assert!(out.stdout.contains("No known"), "{out}");
    let out = p.ptenv(&["doctor", "--explain", "missing.log"]).run();
    out.assert_exit(1);
    assert!(out.stderr.contains("cannot read missing.log"), "{out}");
    assert!(out.stderr.contains("hint: "), "{out}");
}

#[test]
fn a_workspace_the_container_user_cannot_write_is_flagged() {
    use std::os::unix::fs::PermissionsExt;
    let p = Project::new("doctor-workspace");
    // ptenv as root in a folder of uid 1000 gives the container user 1000, who may not write it.
    if rustix::process::getuid().as_raw() == 0 {
        std::os::unix::fs::chown(p.path(), Some(1000), Some(1000)).unwrap();
    }
    std::fs::set_permissions(p.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let (_, report) = doctor(&p, &["--no-container"], None, None);
    std::fs::set_permissions(p.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ws = check(&report, "workspace");
    assert_eq!(ws["status"], "warn", "{report:#}");
    assert!(
        text(&ws["summary"]).contains("cannot write /workspace"),
        "{ws:#}"
    );
    assert!(text(&ws["fix"]).contains("chown -R"), "{ws:#}");
}

/// A training script whose DataLoader workers each hand over 16 MiB tensors: more than a 1 MiB
/// /dev/shm holds, so a worker dies of SIGBUS as in a container with Docker's default shm.
const BUS_ERROR_TRAINING: &str = "import torch
from torch.utils.data import DataLoader, Dataset

class Big(Dataset):
    def __len__(self):
        return 64
    def __getitem__(self, i):
        return torch.ones(4 * 1024 * 1024)

for batch in DataLoader(Big(), batch_size=2, num_workers=2):
    print('batch', batch.shape, flush=True)
";

#[test]
fn a_training_run_that_dies_of_a_bus_error_is_explained_from_its_logs_with_the_shm_fix() {
    let tb = Testbed::get();
    tb.registry();
    let p = Project::new("doctor-logs-bus-error");
    // 1m is the smallest shm_size ptenv accepts.
    p.write(
        "ptenv.yaml",
        &format!(
            "default: shell\nrepository: {}\ngpus: none\nshm_size: 1m\ncommand: \"sh -c 'python /workspace/train.py; echo training-ended-$?; exec sleep infinity'\"\n",
            tb.torch_repo
        ),
    );
    p.write("train.py", BUS_ERROR_TRAINING);
    if rustix::process::getuid().as_raw() == 0 {
        for f in ["", "train.py"] {
            std::os::unix::fs::chown(p.path().join(f), Some(1000), Some(1000)).unwrap();
        }
    }
    p.ptenv(&["up", "--detach"]).run().assert_success();
    let ids = p.containers();
    assert_eq!(ids.len(), 1, "{ids:?}");
    // The script runs in the background of `up`: wait for it to end (bounded, not timed).
    let mut logs = String::new();
    for _ in 0..300 {
        let out = docker(&["logs", &ids[0]]);
        logs = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if logs.contains("training-ended-") {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        logs.contains("training-ended-1"),
        "the script did not die: {logs}"
    );
    assert!(
        logs.contains("is killed by signal: Bus error"),
        "a real bus error: {logs}"
    );

    let (_, report) = doctor(&p, &["--no-container"], None, None);
    let c = check(&report, "logs");
    assert_eq!(c["status"], "warn", "{report:#}");
    assert!(
        text(&c["summary"]).contains("DataLoader workers ran out of shared memory"),
        "{c:#}"
    );
    let evidence = text(&c["evidence"]);
    assert!(evidence.contains("dataloader-bus-error"), "{c:#}");
    assert!(
        evidence.contains("line 1: ERROR: Unexpected bus error encountered in worker"),
        "{c:#}"
    );
    assert!(evidence.contains("has a /dev/shm of 1 MiB"), "{c:#}");
    assert!(text(&c["fix"]).contains("shm_size: auto"), "{c:#}");

    // On demand, with the line each finding came from.
    let out = p.ptenv(&["logs", "--explain", "--json"]).run();
    out.assert_success();
    let j: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let bus = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "dataloader-bus-error")
        .unwrap_or_else(|| panic!("{j:#}"));
    assert!(bus["line"].as_u64().unwrap() >= 1, "{j:#}");
    assert!(
        text(&bus["text"]).contains("bus error") || text(&bus["text"]).contains("Bus error"),
        "{j:#}"
    );
    assert!(text(&bus["host"]).contains("1 MiB"), "{j:#}");
    p.ptenv(&["down"]).run().assert_success();
}

#[test]
fn a_gpu_bound_to_vfio_pci_is_named_even_when_the_nvidia_module_is_not_loaded() {
    let p = Project::new("doctor-vfio");
    let root = sysroot(&p, &[Some("vfio-pci")], None);
    let (_, report) = doctor(
        &p,
        &["--no-container"],
        Some(&root),
        Some(DRIVER_NOT_LOADED),
    );
    assert_eq!(status(&report, "pci"), "pass");
    assert_eq!(report["first_failure"]["id"], "kernel-driver", "{report:#}");
    assert!(
        text(&report["first_failure"]["summary"])
            .contains("vfio-pci (reserved for virtual machines)"),
        "{report:#}"
    );
    assert!(
        !text(&report["first_failure"]["fix"]).contains("dkms"),
        "{report:#}"
    );
}

#[test]
fn explain_names_a_gpu_reserved_for_vms_behind_a_driver_not_loaded_error() {
    let p = Project::new("doctor-explain-vfio");
    let root = sysroot(&p, &[Some("vfio-pci")], None);
    let out = p
        .ptenv(&["doctor", "--explain", "-"])
        .env("PTENV_SYSROOT", &root)
        .stdin("docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error running hook #0: error running hook: exit status 1, stdout: , stderr: nvidia-container-cli: initialization error: nvml error: driver not loaded: unknown.\n")
        .run();
    out.assert_success();
    assert!(
        out.stdout.contains(
            "  container-cli-driver-not-loaded: the NVIDIA container CLI found no loaded driver"
        ),
        "{out}"
    );
    assert!(
        out.stdout.contains(
            "this host: the nvidia kernel module is not loaded; 0000:01:00.0 is bound to vfio-pci (reserved for virtual machines)"
        ),
        "{out}"
    );
}
