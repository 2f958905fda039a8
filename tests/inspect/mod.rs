//! Facts read from the image: `ptenv inspect` on the real torch fixture (torch 2.6.0 from PyPI),
//! the same image as an NGC-like image (another repository and name, `NVIDIA_REQUIRE_CUDA`
//! set) judged from its probe for an H100 and an RTX 5090 (fake NVML), `ptenv up` refusing it
//! (and `--force` starting it anyway), and the catalog confirmed by the probe of a catalog tag.

use std::os::unix::fs::PermissionsExt;

use crate::modes_shell::fixture_project;
use crate::select::{json, strings, RTX_5090};
use crate::support::gpus::H100;
use crate::support::{docker, docker_ok, Project, Run, Testbed};

/// `ptenv ARGS` on the machine the fake NVML `scenario` describes.
fn on(p: &Project, scenario: &str, args: &[&str]) -> Run {
    let file = p.gpu_scenario(scenario);
    p.ptenv(args).fake_gpus(&file)
}

const SM_50_TO_90: [&str; 7] = [
    "sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90",
];

#[test]
fn inspect_reads_torch_cuda_and_the_gpu_code_from_the_torch_fixture() {
    let tb = Testbed::get();
    let p = Project::new("inspect-torch");
    let out = on(&p, H100, &["inspect", &tb.torch_image, "--json"]).run();
    out.assert_success();
    let v = json(&out);
    assert_eq!(v["torch"]["release"], "2.6.0", "{v:#}");
    assert_eq!(v["torch"]["version"], "2.6.0+cu124", "{v:#}");
    assert_eq!(v["torch"]["cuda"], "12.4", "{v:#}");
    assert_eq!(strings(&v["torch"]["sass"]), SM_50_TO_90, "{v:#}");
    assert!(strings(&v["torch"]["ptx"]).is_empty(), "{v:#}");
    assert_eq!(v["torch"]["cudnn"], "9.1.0", "{v:#}");
    assert_eq!(v["python"], "3.11.2", "{v:#}");
    assert_eq!(v["cached"], false, "{v:#}");
    // The image's config: the official image's label and env.
    assert_eq!(v["labels"]["com.nvidia.volumes.needed"], "nvidia_driver");
    assert_eq!(v["env"]["PYTORCH_VERSION"], "2.6.0");
    // The catalog's row of the tag agrees with the image.
    assert!(strings(&v["catalog"]["disagreements"]).is_empty(), "{v:#}");
    assert_eq!(v["verdict"]["runs"], true, "{v:#}");
    let id = v["id"].as_str().expect("id").to_string();
    assert_eq!(
        id,
        docker_ok(&["image", "inspect", "-f", "{{.Id}}", &tb.torch_image]).trim()
    );

    // Cached by image ID, 0600 in a 0700 folder: the second time no container runs.
    let file = p
        .cache_dir()
        .join("ptenv/images")
        .join(format!("{}.json", id.trim_start_matches("sha256:")));
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    let out = on(&p, H100, &["inspect", &tb.torch_image]).run();
    out.assert_success();
    assert!(!out.stderr.contains("Reading what"), "{out}");
    for phrase in [
        "torch                2.6.0+cu124",
        "GPU code             sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90",
        "catalog              agrees (2.6.0 CUDA 12.4)",
        "Runs here (driver 550.54.15, GPU 9.0)",
    ] {
        assert!(out.stdout.contains(phrase), "missing `{phrase}`:\n{out}");
    }
}

/// The torch fixture under another repository and name, with NVIDIA's `NVIDIA_REQUIRE_CUDA`
/// as an NGC image declares it: no catalog row, so only its probe can judge it.
fn ngc_like(p: &Project) -> String {
    let tb = Testbed::get();
    let tag = format!(
        "ptenv-test/nvidia-like-pytorch:24.04-py3-{}",
        crate::support::unique_suffix()
    );
    let dockerfile = format!(
        "FROM {}\nENV NVIDIA_REQUIRE_CUDA=\"cuda>=12.4 brand=tesla,driver>=470,driver<471 brand=tesla,driver>=535,driver<536\"\nENV NVIDIA_PYTORCH_VERSION=24.04\nLABEL com.nvidia.build.ref=ptenv-test\n",
        tb.torch_image
    );
    let out = p
        .command("docker", &["build", "-q", "-t", &tag, "-"])
        .stdin(dockerfile)
        .run();
    out.assert_success();
    p.track_image(&tag);
    tag
}

#[test]
fn an_ngc_like_image_is_judged_from_its_probe() {
    let p = Project::new("inspect-ngc");
    let image = ngc_like(&p);
    assert!(crate::support::docker(&["image", "inspect", &image])
        .status
        .success());

    // H100 on R550: sm_90 code, the driver supports CUDA 12.4: accepted.
    let out = on(&p, H100, &["inspect", &image, "--json"]).run();
    out.assert_success();
    let v = json(&out);
    assert_eq!(v["torch"]["release"], "2.6.0", "{v:#}");
    assert_eq!(strings(&v["torch"]["sass"]), SM_50_TO_90, "{v:#}");
    assert!(
        v["nvidia_require_cuda"]
            .as_str()
            .is_some_and(|r| r.starts_with("cuda>=12.4 brand=tesla")),
        "{v:#}"
    );
    assert!(v["catalog"].is_null(), "no catalog row: {v:#}");
    assert_eq!(v["verdict"]["runs"], true, "{v:#}");
    assert!(
        strings(&v["verdict"]["reasons"])
            .join("\n")
            .contains("code built exactly for it (sm_90)"),
        "{v:#}"
    );

    // RTX 5090: no Blackwell code in it; refused, with the image that has it named.
    let out = on(&p, RTX_5090, &["inspect", &image, "--json"]).run();
    out.assert_exit(1);
    let v = json(&out);
    assert_eq!(v["verdict"]["runs"], false, "{v:#}");
    assert!(
        strings(&v["verdict"]["refusals"])
            .join("\n")
            .contains("no kernel image is available"),
        "{v:#}"
    );
    let fixes = strings(&v["verdict"]["fixes"]).join("\n");
    assert!(
        fixes.contains("pytorch/pytorch:2.7.0-cuda12.8-cudnn9-runtime"),
        "{v:#}"
    );
    assert!(fixes.contains("sm_120 (Blackwell)"), "{v:#}");

    // `ptenv up` with it pinned refuses after the pull, before anything is built or started.
    let out = on(
        &p,
        RTX_5090,
        &["up", "shell", "--image", &image, "--detach"],
    )
    .run();
    out.assert_exit(1);
    let refused = format!("{image} cannot run on this machine");
    for phrase in [
        refused.as_str(),
        "RTX 5090 (Blackwell, compute capability 12.0)",
        "pytorch/pytorch:2.7.0-cuda12.8-cudnn9-runtime",
        "`--force` starts it anyway",
    ] {
        assert!(out.stderr.contains(phrase), "missing `{phrase}`:\n{out}");
    }
    assert!(p.containers().is_empty(), "nothing half-made: {out}");
    // The probe ran once for this image ID (inspect), and its container is gone.
    assert!(!out.stderr.contains("Reading what"), "cached: {out}");
    let probes = docker(&["ps", "-aq", "--filter", "label=dev.ptenv.probe"]);
    let left = String::from_utf8_lossy(&probes.stdout).into_owned();
    assert!(
        !left
            .lines()
            .any(|id| docker_ok(&["inspect", "-f", "{{.Config.Image}}", id])
                .trim()
                .contains(&image)),
        "a probe container of {image} was left behind: {left}"
    );

    // `--force` passes the check with a warning and goes on to start it: this engine has no
    // GPUs to hand over, so it is the start that fails now, and nothing is left behind.
    let out = on(
        &p,
        RTX_5090,
        &["up", "shell", "--image", &image, "--detach", "--force"],
    )
    .run();
    out.assert_exit(1);
    assert!(
        out.stderr.contains("cannot run on this machine")
            && out.stderr.contains("starting it anyway (--force)"),
        "{out}"
    );
    assert!(
        out.stderr.contains("could not select device driver"),
        "{out}"
    );
    assert!(p.containers().is_empty(), "nothing half-made: {out}");
}

#[test]
fn up_confirms_a_catalog_tag_by_its_probe_the_first_time_only() {
    let tb = Testbed::get();
    // The small fixture carries catalog tags but has no torch: the probe says so, once.
    let p = fixture_project("inspect-catalog", &tb.small_repo, "");
    let out = p.ptenv(&["up", "shell", "--detach"]).run();
    out.assert_success();
    assert!(
        out.stderr
            .contains("disagree: PyTorch: the catalog says 2.6.0, the image has none (PyTorch is not installed"),
        "{out}"
    );
    let out = p.ptenv(&["up", "shell", "--detach"]).run();
    out.assert_success();
    assert!(
        !out.stderr.contains("disagree"),
        "said the first time only: {out}"
    );
    assert!(
        !out.stderr.contains("Reading what"),
        "a cached up pays nothing: {out}"
    );
    p.ptenv(&["down"]).run().assert_success();
}

#[test]
fn a_lock_records_the_probed_facts_so_check_judges_without_the_image_or_a_gpu() {
    let tb = Testbed::get();
    let p = Project::new("inspect-lock");
    let local = ngc_like(&p);
    // In the registry under its NGC-like name (the layers are the torch fixture's, already
    // there: only the config and manifest travel).
    let remote = format!("{}/{}", tb.registry, local);
    docker_ok(&["tag", &local, &remote]);
    p.track_image(&remote);
    docker_ok(&["push", "-q", &remote]);
    p.write("ptenv.yaml", &format!("image: {remote}\n"));

    // Locked for a team of RTX 5090 machines: written, with the facts, and warned about.
    let out = p
        .ptenv(&["lock", "--trust", "--driver", "570.124.06", "--gpu", "12.0"])
        .run();
    out.assert_success();
    let lock = p.read("ptenv.lock");
    for line in [
        "  facts:",
        "    torch: 2.6.0+cu124",
        "    cuda: '12.4'",
        "    - sm_90",
        "    nvidia_require_cuda: cuda>=12.4 brand=tesla",
    ] {
        assert!(lock.contains(line), "missing `{line}`:\n{lock}");
    }
    assert!(
        out.stderr
            .contains("cannot run on a machine with NVIDIA driver 570.124.06"),
        "{out}"
    );
    // CI: no GPU, and the image removed from this engine: the recorded facts still say why.
    docker_ok(&["rmi", &remote]);
    let out = p.ptenv(&["lock", "--check", "--trust"]).run();
    out.assert_exit(1);
    assert!(
        out.stderr.contains("by what the image contains: it has no GPU code for your Blackwell GPU (compute capability 12.0)"),
        "{out}"
    );
    assert!(
        !out.stderr.contains("Reading what"),
        "no probe in a check: {out}"
    );
}
