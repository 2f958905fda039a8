//! `ptenv select` (issue #4) on machines described to the fake `libnvidia-ml.so.1`
//! (tests/nvml/fake_nvml.c), loaded both ways ptenv finds NVML: the file in `PTENV_NVML_LIB`
//! and `libnvidia-ml.so.1` through the loader's `LD_LIBRARY_PATH`. This machine has no NVIDIA
//! kernel module and no nvidia-smi, so when NVML fails the real fallback chain runs to "no
//! NVIDIA driver". These tests need no Docker engine.

use crate::support::gpus::{gtx_1080, RTX_3090, RTX_3090_H100};
use crate::support::{Outcome, Project, Run};

/// How the fake library is found.
#[derive(Clone, Copy)]
enum Load {
    /// `PTENV_NVML_LIB=<dir>/libnvidia-ml.so.1`
    EnvLib,
    /// `LD_LIBRARY_PATH=<dir>`
    LoaderPath,
}

/// `ptenv select ARGS` on a machine described by `scenario` (fake NVML statements).
fn select(p: &Project, load: Load, scenario: &str, args: &[&str]) -> Outcome {
    let file = p.gpu_scenario(scenario);
    let mut all = vec!["select"];
    all.extend_from_slice(args);
    let run: Run = p
        .ptenv(&all)
        .fake_gpus_file(&file)
        .env_remove("LD_LIBRARY_PATH");
    match load {
        Load::EnvLib => run.env("PTENV_NVML_LIB", crate::support::fake_nvml_lib()),
        Load::LoaderPath => run.env(
            "LD_LIBRARY_PATH",
            crate::support::fake_nvml_lib().parent().expect("a folder"),
        ),
    }
    .run()
}

/// [`select`] through `PTENV_NVML_LIB`, with the scenario in its own file `file` (for tests
/// that run several machines at once).
fn select_with(p: &Project, file: &std::path::Path, scenario: &str, args: &[&str]) -> Outcome {
    std::fs::write(file, scenario).expect("write the scenario");
    let mut all = vec!["select"];
    all.extend_from_slice(args);
    p.ptenv(&all)
        .fake_gpus(file)
        .env_remove("LD_LIBRARY_PATH")
        .run()
}

/// stdout as the one JSON document `--json` prints.
pub fn json(out: &Outcome) -> serde_json::Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{out}"))
}

/// A JSON list of strings.
pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_default().to_string())
        .collect()
}

pub use crate::support::gpus::RTX_5090;

#[test]
fn nvml_from_ptenv_nvml_lib_lists_driver_and_gpus() {
    let p = Project::new("select-nvml-lib");
    let out = select(&p, Load::EnvLib, RTX_3090_H100, &["--json"]);
    out.assert_success();
    let v = json(&out);
    assert_eq!(
        v["image"], "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime",
        "{v:#}"
    );
    assert_eq!(v["pytorch"], "2.6.0");
    assert_eq!(v["cuda"], "12.4");
    assert_eq!(v["variant"], "runtime");
    assert_eq!(v["gpu"], true);
    assert_eq!(v["driver"], "550.54.15");
    assert_eq!(v["driver_cuda"], "12.4");
    assert_eq!(v["source"], "nvml");
    assert_eq!(v["gpus"][0]["name"], "NVIDIA GeForce RTX 3090");
    assert_eq!(v["gpus"][0]["compute_capability"], "8.6");
    assert_eq!(v["gpus"][0]["memory_bytes"], 25769803776u64);
    assert_eq!(v["gpus"][1]["compute_capability"], "9.0");
    assert_eq!(
        v["gpus"][1]["uuid"],
        "GPU-0b4f43c9-1b5e-7d59-3f6f-1a2b3c4d5e6f"
    );
    assert_eq!(v["gpus"][1]["architecture"], "Hopper");
    assert!(strings(&v["warnings"]).is_empty(), "{v:#}");
    let rejected = v["rejected"].as_array().expect("rejected");
    assert_eq!(rejected.len(), 2, "{v:#}");
    assert!(strings(&v["problems"]).is_empty(), "{v:#}");

    let out = select(&p, Load::EnvLib, RTX_3090_H100, &["-v"]);
    out.assert_success();
    assert!(out.stderr.contains("Facts from NVML"), "{out}");
    assert!(out.stderr.contains("(PTENV_NVML_LIB)"), "{out}");
}

#[test]
fn nvml_through_ld_library_path_and_blackwell_needs_2_7() {
    let p = Project::new("select-ld-path");
    // On 2.6 (the default) an RTX 5090 has no image: exit 1, with the tag to ask for.
    let out = select(&p, Load::LoaderPath, RTX_5090, &["--json"]);
    out.assert_exit(1);
    let v = json(&out);
    let error = v["error"].as_str().expect("error");
    assert!(
        error.contains("RTX 5090 (Blackwell, compute capability 12.0)"),
        "{out}"
    );
    assert!(error.contains("up to Hopper (9.0)"), "{out}");
    let hints = strings(&v["hints"]).join("\n");
    assert!(
        hints.contains("pytorch/pytorch:2.7.0-cuda12.8-cudnn9-runtime"),
        "{out}"
    );
    assert!(hints.contains("--pytorch 2.7"), "{out}");
    assert!(hints.contains("pytorch: \"2.7\""), "{out}");

    // Asked for 2.7 in the project's file: the CUDA 12.8 line, experimental but the only fit.
    p.write("ptenv.yaml", "pytorch: \"2.7\"\n");
    let out = select(&p, Load::LoaderPath, RTX_5090, &[]);
    out.assert_success();
    assert_eq!(
        out.stdout.trim(),
        "pytorch/pytorch:2.7.0-cuda12.8-cudnn9-runtime",
        "{out}"
    );
    for phrase in [
        "This machine: NVIDIA driver 570.124.06 (supports CUDA up to 12.8).",
        "GPU 0: NVIDIA GeForce RTX 5090 (Blackwell, compute capability 12.0",
        "Why this image:",
        "Your RTX 5090 (Blackwell, compute capability 12.0)",
        "the only line of PyTorch 2.7 that fits (PyTorch marks it experimental)",
        "Not chosen:",
        "2.7.0-cuda12.6-cudnn9-runtime",
        "no kernel image",
    ] {
        assert!(out.stderr.contains(phrase), "missing `{phrase}`:\n{out}");
    }
}

#[test]
fn nvml_init_errors_fall_back_to_no_driver_and_the_cpu() {
    for (name, nvml_says) in [
        ("DRIVER_NOT_LOADED", "the NVIDIA driver is not loaded"),
        ("NO_PERMISSION", "no permission to talk to the driver"),
        ("LIB_RM_VERSION_MISMATCH", "different versions"),
        ("UNKNOWN", "unknown error"),
    ] {
        let p = Project::new("select-init-error");
        let scenario = format!("init_error {name}\n{RTX_5090}");
        let out = select(&p, Load::EnvLib, &scenario, &["--json"]);
        out.assert_success();
        let v = json(&out);
        assert_eq!(v["source"], "none", "{name}: {v:#}");
        assert_eq!(v["gpu"], false, "{name}");
        assert_eq!(v["driver"], serde_json::Value::Null, "{name}");
        assert_eq!(v["image"], "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime");
        let problems = strings(&v["problems"]);
        assert!(problems[0].starts_with("NVML: "), "{name}: {problems:?}");
        assert!(problems[0].contains(nvml_says), "{name}: {problems:?}");
        assert!(
            problems[0].contains(&format!("NVML_ERROR_{name}")),
            "{problems:?}"
        );
        // The rest of the chain ran on this machine, which has none of them.
        for source in [
            "/sys/module/nvidia/version",
            "/proc/driver/nvidia/version",
            "nvidia-smi",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(source)),
                "{name}: no `{source}` in {problems:?}"
            );
        }
    }
}

#[test]
fn a_missing_library_means_no_nvidia_driver_and_the_cpu_default() {
    let p = Project::new("select-no-nvml");
    // PTENV_NVML_LIB names a file that is not there.
    let out = p
        .ptenv(&["select", "--json"])
        .env("PTENV_NVML_LIB", p.home().join("no/libnvidia-ml.so.1"))
        .env_remove("LD_LIBRARY_PATH")
        .run();
    out.assert_success();
    let v = json(&out);
    let problems = strings(&v["problems"]);
    assert!(problems[0].contains("cannot load"), "{problems:?}");
    assert!(problems[0].contains("PTENV_NVML_LIB"), "{problems:?}");
    assert_eq!(v["source"], "none");

    // Nothing set: the loader finds no libnvidia-ml.so.1 on this machine.
    let out = p
        .ptenv(&["select", "-v"])
        .env_remove("LD_LIBRARY_PATH")
        .run();
    out.assert_success();
    assert_eq!(
        out.stdout.trim(),
        "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime",
        "{out}"
    );
    for phrase in [
        "This machine: no NVIDIA driver found.",
        "No NVIDIA driver was found on this machine, so the container runs on the CPU and no GPU is",
        "Facts from nothing: no source answered.",
        "tried: NVML: libnvidia-ml.so.1 is not installed or not on the library path",
        "tried: nvidia-smi: not installed",
    ] {
        assert!(out.stderr.contains(phrase), "missing `{phrase}`:\n{out}");
    }
    // Without -v the sources stay quiet.
    let out = p.ptenv(&["select"]).env_remove("LD_LIBRARY_PATH").run();
    assert!(!out.stderr.contains("tried:"), "{out}");
}

#[test]
fn a_gpu_that_does_not_answer_is_left_out_and_said() {
    let p = Project::new("select-gpu-lost");
    let scenario = format!("{RTX_3090_H100}gpu_error 1 GPU_IS_LOST\n");
    let out = select(&p, Load::EnvLib, &scenario, &["--json"]);
    out.assert_success();
    let v = json(&out);
    assert_eq!(v["gpus"].as_array().unwrap().len(), 1, "{v:#}");
    assert!(
        strings(&v["problems"])
            .iter()
            .any(|p| p.contains("GPU 1 does not answer")),
        "{v:#}"
    );

    // When no GPU answers, the container runs on the CPU and the warning says why.
    let scenario = format!("{RTX_3090}gpu_error 0 GPU_IS_LOST\n");
    let out = select(&p, Load::EnvLib, &scenario, &[]);
    out.assert_success();
    assert!(out.stderr.contains("reports no usable GPU"), "{out}");
    assert!(
        out.stderr.contains("warning: NVML: GPU 0 does not answer"),
        "{out}"
    );
}

#[test]
fn without_libcuda_the_cuda_version_comes_from_the_driver_branch() {
    let p = Project::new("select-no-libcuda");
    let scenario = crate::support::gpus::A100_R535_NO_CUDA;
    let out = select(
        &p,
        Load::EnvLib,
        scenario,
        &["--json", "--variant", "devel"],
    );
    out.assert_success();
    let v = json(&out);
    // R535 supports CUDA 12.2: a devel image must not need more (NVIDIA_REQUIRE_CUDA).
    assert_eq!(v["driver_cuda"], "12.2", "{v:#}");
    assert_eq!(
        v["image"], "pytorch/pytorch:2.6.0-cuda11.8-cudnn9-devel",
        "{v:#}"
    );
    let rejected = v["rejected"].to_string();
    assert!(rejected.contains("NVIDIA_REQUIRE_CUDA"), "{v:#}");
}

#[test]
fn listed_gpus_are_the_only_ones_checked() {
    let p = Project::new("select-listed");
    let mixed = crate::support::gpus::RTX_3090_5090;
    let out = select(&p, Load::EnvLib, mixed, &["--gpus", "device=0", "--json"]);
    out.assert_success();
    let v = json(&out);
    assert_eq!(v["image"], "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime");
    assert_eq!(v["gpus"][0]["used"], true);
    assert_eq!(v["gpus"][1]["used"], false);
    // Both GPUs on 2.6: the 5090 stops it, and the hint offers the GPU that fits.
    let out = select(&p, Load::EnvLib, mixed, &[]);
    out.assert_exit(1);
    assert!(out.stderr.contains("`--gpus device=0`"), "{out}");
    // gpus: none runs on the CPU whatever the GPUs.
    let out = select(&p, Load::EnvLib, mixed, &["--gpus", "none", "--json"]);
    out.assert_success();
    assert_eq!(json(&out)["gpu"], false);
    // A GPU that is not there.
    let out = select(&p, Load::EnvLib, mixed, &["--gpus", "GPU-nope"]);
    out.assert_exit(1);
    assert!(out.stderr.contains("not on this machine"), "{out}");
}

#[test]
fn overrides_plan_another_machine_without_detection() {
    let p = Project::new("select-override");
    // The fake NVML describes a 5090; the overrides must win over it.
    let out = select(
        &p,
        Load::EnvLib,
        RTX_5090,
        &[
            "--driver",
            "535.104.05",
            "--gpu",
            "9.0",
            "--gpu",
            "8.6",
            "--json",
        ],
    );
    out.assert_success();
    let v = json(&out);
    assert_eq!(v["source"], "override", "{v:#}");
    assert_eq!(v["driver"], "535.104.05");
    assert_eq!(v["driver_cuda"], "12.2");
    assert_eq!(v["gpus"][0]["compute_capability"], "9.0");
    assert_eq!(v["gpus"][1]["compute_capability"], "8.6");
    assert_eq!(v["image"], "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime");
    let warnings = strings(&v["warnings"]).join("\n");
    assert!(warnings.contains("minor-version compatibility"), "{v:#}");
    assert!(warnings.contains("550.54.14"), "{v:#}");

    // PTENV_CUDA_DRIVER_VERSION alone: the driver is checked, the GPUs cannot be.
    let file = p.gpu_scenario(RTX_5090);
    let out = p
        .ptenv(&["select", "--json", "--variant", "devel"])
        .env("PTENV_CUDA_DRIVER_VERSION", "545.23.08")
        .fake_gpus(&file)
        .run();
    out.assert_success();
    let v = json(&out);
    assert_eq!(v["source"], "override");
    assert_eq!(v["gpu"], true);
    assert_eq!(
        v["image"], "pytorch/pytorch:2.6.0-cuda11.8-cudnn9-devel",
        "{v:#}"
    );

    // Values that are not versions say how to write them.
    let out = p.ptenv(&["select", "--driver", "latest"]).run();
    out.assert_exit(1);
    assert!(out.stderr.contains("--driver 535.104.05"), "{out}");
    let out = p
        .ptenv(&["select", "--driver", "550.54.15", "--gpu", "ampere"])
        .run();
    out.assert_exit(1);
    assert!(out.stderr.contains("--gpu 8.6"), "{out}");
}

#[test]
fn a_pinned_image_is_used_and_checked() {
    let p = Project::new("select-pinned");
    p.write(
        "ptenv.yaml",
        "image: pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime\n",
    );
    let out = select(&p, Load::EnvLib, RTX_5090, &["--json"]);
    out.assert_success();
    let v = json(&out);
    assert_eq!(v["image"], "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime");
    assert_eq!(v["pinned"], "image");
    assert!(
        strings(&v["warnings"])
            .iter()
            .any(|w| w.contains("no kernel image")),
        "{v:#}"
    );
    // Warnings reach stderr even with --json.
    assert!(
        out.stderr
            .contains("warning: the pinned image has no GPU code"),
        "{out}"
    );
}

/// A few rows of the generations × drivers × releases table (the unit test
/// `generations_by_drivers_by_releases` has them all), through the fake NVML.
#[test]
fn releases_and_latest_through_nvml() {
    let p = Project::new("select-releases");
    let pascal = gtx_1080;
    let h100_r580 = crate::support::gpus::H100_R580;
    for (scenario, args, image) in [
        (
            pascal("470.256.02", 11040),
            vec!["--pytorch", "latest"],
            "2.7.0-cuda11.8-cudnn9-runtime",
        ),
        (pascal("470.256.02", 11040), vec!["--pytorch", "2.8"], ""),
        (
            pascal("535.104.05", 12020),
            vec!["--pytorch", "latest"],
            "2.14.0-cuda12.6-cudnn9-runtime",
        ),
        (
            pascal("535.104.05", 12020),
            vec!["--pytorch", "2.8"],
            "2.8.0-cuda12.6-cudnn9-runtime",
        ),
        (
            RTX_5090.to_string(),
            vec!["--pytorch", "2.8"],
            "2.8.0-cuda12.8-cudnn9-runtime",
        ),
        (
            RTX_5090.to_string(),
            vec!["--pytorch", "latest"],
            "2.11.0-cuda12.8-cudnn9-runtime",
        ),
        (
            h100_r580.to_string(),
            vec!["--pytorch", "latest"],
            "2.14.0-cuda13.0-cudnn9-runtime",
        ),
        (
            h100_r580.to_string(),
            vec![],
            "2.6.0-cuda12.4-cudnn9-runtime",
        ),
    ] {
        let mut all = args.clone();
        all.push("--json");
        let out = select(&p, Load::EnvLib, &scenario, &all);
        let v = json(&out);
        if image.is_empty() {
            out.assert_exit(1);
            continue;
        }
        out.assert_success();
        assert_eq!(
            v["image"],
            format!("pytorch/pytorch:{image}"),
            "{args:?}\n{v:#}"
        );
    }
    // The reasons say why newer releases were passed over.
    let out = select(
        &p,
        Load::EnvLib,
        &pascal("470.256.02", 11040),
        &["--pytorch", "latest", "--json"],
    );
    out.assert_success();
    let reasons = strings(&json(&out)["reasons"]).join("\n");
    for phrase in [
        "`pytorch: latest` takes the newest PyTorch release with an image that runs here: 2.7.0",
        "PyTorch 2.8.0 to 2.14.0: their runtime images with code for your GPUs need a newer NVIDIA driver than 470.256.02",
    ] {
        assert!(reasons.contains(phrase), "missing `{phrase}`:\n{out}");
    }
    // `pytorch: latest` in the project's file means the same.
    p.write("ptenv.yaml", "pytorch: latest\n");
    let out = select(&p, Load::EnvLib, RTX_5090, &[]);
    out.assert_success();
    assert_eq!(
        out.stdout.trim(),
        "pytorch/pytorch:2.11.0-cuda12.8-cudnn9-runtime",
        "{out}"
    );
}

#[test]
fn the_list_judges_every_line_for_this_machine() {
    let p = Project::new("select-list");
    let out = select(&p, Load::EnvLib, RTX_5090, &["--list", "--json"]);
    out.assert_success();
    let v = json(&out);
    assert_eq!(v["driver"], "570.124.06", "{v:#}");
    let lines = v["lines"].as_array().expect("lines");
    let first = &lines[0];
    assert_eq!(first["pytorch"], "2.14.0", "newest first: {v:#}");
    let line = |tag: &str| {
        lines
            .iter()
            .find(|l| l["image"] == format!("pytorch/pytorch:{tag}"))
            .unwrap_or_else(|| panic!("no {tag}: {v:#}"))
    };
    let cu128 = line("2.7.0-cuda12.8-cudnn9-runtime");
    assert_eq!(cu128["fits"], true);
    let cu124 = line("2.6.0-cuda12.4-cudnn9-runtime");
    assert_eq!(cu124["fits"], false);
    assert!(
        strings(&cu124["reasons"])[0].contains("no kernel image"),
        "{v:#}"
    );
    let cu130 = line("2.14.0-cuda13.0-cudnn9-runtime");
    assert!(
        strings(&cu130["reasons"])
            .join(" ")
            .contains("580 or newer"),
        "{v:#}"
    );
    // The profile's release (2.6) has no line for a 5090, so nothing is marked chosen.
    assert!(lines.iter().all(|l| l["chosen"] == false), "{v:#}");
    assert_eq!(lines.len(), 40, "{v:#}");

    // The table: one row per line, the chosen one marked.
    let out = select(
        &p,
        Load::EnvLib,
        RTX_5090,
        &["--list", "--pytorch", "latest"],
    );
    out.assert_success();
    let rows: Vec<&str> = out.stdout.lines().collect();
    assert!(rows[0].starts_with("PYTORCH  CUDA"), "{out}");
    assert_eq!(rows.len(), 41, "{out}");
    let chosen: Vec<&&str> = rows.iter().filter(|r| r.contains("yes (chosen)")).collect();
    assert_eq!(chosen.len(), 1, "{out}");
    assert!(chosen[0].starts_with("2.11.0   12.8"), "{out}");
    // Why not, in a few words: no Blackwell code in 2.6, CUDA 13 needs R580.
    let row = |start: &str| {
        *rows
            .iter()
            .find(|r| r.starts_with(start))
            .unwrap_or_else(|| panic!("no {start} row:\n{out}"))
    };
    assert!(
        row("2.6.0    12.4").ends_with(" no code for GPU 0 (12.0)"),
        "{out}"
    );
    assert!(
        row("2.14.0   13.0").ends_with(" needs driver 580+"),
        "{out}"
    );
}

/// The whole generations × drivers × releases table through the fake NVML: every GPU
/// generation from Maxwell to Blackwell, drivers from R450 to R580, PyTorch 2.6, 2.7, 2.8 and
/// `latest`. Detection must give what the same machine given as `--driver`/`--gpu` gives;
/// the unit test `generations_by_drivers_by_releases` pins that answer to the data file's, and
/// a few cells are checked here by value as well.
#[test]
fn the_generations_by_drivers_table_through_nvml() {
    let p = Project::new("select-table");
    let gpus = [
        ("5.2", "MAXWELL", "NVIDIA GeForce GTX 980"),
        ("6.1", "PASCAL", "NVIDIA GeForce GTX 1080"),
        ("7.0", "VOLTA", "Tesla V100-SXM2-16GB"),
        ("7.5", "TURING", "NVIDIA GeForce RTX 2080"),
        ("8.6", "AMPERE", "NVIDIA GeForce RTX 3090"),
        ("8.9", "ADA", "NVIDIA GeForce RTX 4090"),
        ("9.0", "HOPPER", "NVIDIA H100 80GB HBM3"),
        ("10.0", "BLACKWELL", "NVIDIA B200"),
        ("12.0", "BLACKWELL", "NVIDIA GeForce RTX 5090"),
    ];
    // Each driver with the CUDA version NVML reports for it (docs/compatibility.md §5).
    let drivers = [
        ("450.80.02", 11000),
        ("470.256.02", 11040),
        ("525.60.13", 12000),
        ("535.104.05", 12020),
        ("550.54.14", 12040),
        ("560.35.05", 12060),
        ("570.124.06", 12080),
        ("575.57.08", 12090),
        ("580.95.05", 13000),
    ];
    let image = |out: &Outcome| -> String {
        if out.status != 0 {
            return "-".into();
        }
        json(out)["image"].as_str().unwrap_or("?").to_string()
    };
    // One thread per GPU: 324 cells, each run twice.
    type Cell<'a> = ((&'a str, &'a str, &'a str), String);
    let cells: Vec<(Cell, Option<String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = gpus
            .iter()
            .map(|&(cc, arch, name)| {
                let p = &p;
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for (driver, cuda) in drivers {
                        let scenario = format!(
                            "driver {driver}\ncuda {cuda}\ngpu {cc} 17179869184 GPU-00000000-0000-4000-8000-000000000000 {arch} {name}\n"
                        );
                        let home = p.home().join(format!("scenario-{cc}"));
                        for pytorch in ["2.6", "2.7", "2.8", "latest"] {
                            let detected = image(&select_with(
                                p,
                                &home,
                                &scenario,
                                &["--pytorch", pytorch, "--json"],
                            ));
                            let planned = image(
                                &p.ptenv(&[
                                    "select", "--pytorch", pytorch, "--driver", driver, "--gpu",
                                    cc, "--json",
                                ])
                                .run(),
                            );
                            let wrong = (detected != planned).then(|| format!(
                                "{name} ({cc}), {driver}, {pytorch}: NVML gives {detected}, --driver/--gpu {planned}"
                            ));
                            out.push((((cc, driver, pytorch), detected), wrong));
                        }
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a worker"))
            .collect()
    });
    let failed: Vec<String> = cells.iter().filter_map(|(_, w)| w.clone()).collect();
    let table: std::collections::BTreeMap<_, _> = cells.into_iter().map(|(c, _)| c).collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    let official = |tag: &str| format!("pytorch/pytorch:{tag}");
    for (cell, want) in [
        (
            ("6.1", "470.256.02", "latest"),
            official("2.7.0-cuda11.8-cudnn9-runtime"),
        ),
        (
            ("5.2", "580.95.05", "2.8"),
            official("2.8.0-cuda12.6-cudnn9-runtime"),
        ),
        (
            ("7.0", "550.54.14", "2.8"),
            official("2.8.0-cuda12.8-cudnn9-runtime"),
        ),
        (
            ("9.0", "580.95.05", "latest"),
            official("2.14.0-cuda13.0-cudnn9-runtime"),
        ),
        (
            ("12.0", "570.124.06", "latest"),
            official("2.11.0-cuda12.8-cudnn9-runtime"),
        ),
        (("12.0", "570.124.06", "2.6"), "-".to_string()),
        (
            ("8.9", "450.80.02", "2.6"),
            official("2.6.0-cuda11.8-cudnn9-runtime"),
        ),
        (("10.0", "470.256.02", "2.7"), "-".to_string()),
    ] {
        assert_eq!(table[&cell], want, "{cell:?}");
    }
}
