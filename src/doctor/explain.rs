//! `ptenv doctor --explain FILE`: the known errors of the chain from GPU to torch, as a table.
//!
//! Every row of `docs/compatibility.md` §8 (which cites pytorch/pytorch
//! `c10/cuda/CUDAFunctions.cpp`, `torch/cuda/__init__.py`, `torch/csrc/DataLoader.cpp`, moby
//! `daemon/errors.go`, the NVIDIA container stack, the CUDA runtime error enum and NVIDIA's
//! troubleshooting notes) is one [`Pattern`]. Matching is by fixed substrings: the messages
//! are printed verbatim by their emitters. The host's own facts (driver, GPUs, toolkit) are
//! added where they decide the fix.

use crate::catalog::{self, Cc, DriverVersion};
use crate::gpu::HostFacts;

/// One known error.
#[derive(Debug)]
pub struct Pattern {
    /// Stable name, used in `--json`.
    pub id: &'static str,
    /// The line matches when it contains every string of one of these groups.
    pub matches: &'static [&'static [&'static str]],
    /// What it is, in a few words.
    pub title: &'static str,
    pub cause: &'static str,
    pub fix: &'static str,
    /// What this host's facts add (e.g. "this host's driver 535.104.05 supports CUDA 12.2").
    context: fn(&str, &HostFacts) -> Option<String>,
}

impl Pattern {
    fn hits(&self, line: &str) -> bool {
        self.matches
            .iter()
            .any(|all| all.iter().all(|s| line.contains(s)))
    }
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

/// The table. Order is the order findings are reported in when they share a line.
pub static PATTERNS: &[Pattern] = &[
    Pattern {
        id: "insufficient-driver",
        matches: &[&["CUDA driver version is insufficient for CUDA runtime version"]],
        title: "the driver is older than the CUDA runtime in the image",
        cause: "cudaErrorInsufficientDriver (35): libcuda is below the minor-version floor of the bundled CUDA runtime (CUDA 12.x needs ≥ 525.60.13, 11.x ≥ 450.80.02); the runtime returns the same code when libcuda is missing altogether",
        fix: "upgrade the NVIDIA driver, or choose an image of an older CUDA line (`ptenv select` picks one the driver runs); if no libcuda.so.1 is in the container, the container got no GPU (see `ptenv doctor`)",
        context: driver_context,
    },
    Pattern {
        id: "driver-too-old",
        matches: &[&["The NVIDIA driver on your system is too old"]],
        title: "PyTorch found a driver older than its CUDA runtime",
        cause: "error 35 seen through PyTorch (c10/cuda/CUDAFunctions.cpp) with a driver present; \"found version NNNNN\" is the CUDA version the driver supports, 1000·major + 10·minor (11040 = 11.4)",
        fix: "update the NVIDIA driver to at least the floor of the image's CUDA line (12.x: 525.60.13), or choose an image of an older CUDA line; `ptenv select` shows which fits",
        context: driver_context,
    },
    Pattern {
        id: "no-driver",
        matches: &[&["Found no NVIDIA driver on your system"]],
        title: "libcuda.so.1 cannot be loaded",
        cause: "error 35 with no driver version: libcuda.so.1 is not there, usually because the container was started without `--gpus`/CDI, the NVIDIA toolkit did not inject the driver, or the host has no driver. torch.cuda.is_available() returns False silently in this case; this RuntimeError only appears once code forces CUDA (e.g. `.cuda()`)",
        fix: "start the container with GPUs (ptenv does when the chain allows; `ptenv doctor` shows the broken link); inside, /dev/nvidia* and libcuda.so.1 must exist; check the container's HostConfig.DeviceRequests with `docker inspect`",
        context: no_driver_context,
    },
    Pattern {
        id: "cuda-unknown-error",
        matches: &[&["CUDA unknown error"]],
        title: "CUDA failed to initialise with cudaErrorUnknown",
        cause: "commonly the nvidia_uvm module or device state (e.g. after suspend/resume), or CUDA_VISIBLE_DEVICES changed after CUDA started; the full list of causes is not documented",
        fix: "set CUDA_VISIBLE_DEVICES before importing torch; on the host reload nvidia_uvm (`sudo rmmod nvidia_uvm && sudo modprobe nvidia_uvm`) or reboot, then recreate the container",
        context: no_context,
    },
    Pattern {
        id: "cuda-init-failed",
        matches: &[&["CUDA driver initialization failed"]],
        title: "the CUDA driver failed to initialise",
        cause: "cudaErrorInitializationError: the driver is present but could not start (device state, a missing /dev/nvidia-uvm, or a GPU that fell off the bus)",
        fix: "run `nvidia-smi` on the host and read `sudo dmesg | grep -i -e nvrm -e xid`; `sudo modprobe nvidia_uvm`, or reboot; then recreate the container",
        context: no_context,
    },
    Pattern {
        id: "no-kernel-image",
        matches: &[&["no kernel image is available for execution on the device"]],
        title: "the image has no GPU code for this GPU's architecture",
        cause: "cudaErrorNoKernelImageForDevice (209): the build has neither native code (SASS of the GPU's major version) nor usable PTX for the GPU; e.g. an RTX 5090 (sm_120) on any 2.6 image, which stops at sm_90. It fires at the first kernel launch, while is_available() is still True",
        fix: BLACKWELL_FIX,
        context: arch_context,
    },
    Pattern {
        id: "sm-not-compatible",
        matches: &[&["is not compatible with the current PyTorch installation"]],
        title: "PyTorch has no code for the GPU's architecture (warning at start)",
        cause: "torch/cuda/__init__.py _check_cubins: no compiled sm_ entry has the GPU's major version; this predicts \"no kernel image is available for execution on the device\" at the first kernel",
        fix: BLACKWELL_FIX,
        context: arch_context,
    },
    Pattern {
        id: "gpu-too-old",
        matches: &[&["PyTorch no longer supports this GPU because it is too old"]],
        title: "the GPU is older than the oldest code in the build",
        cause: "torch/cuda/__init__.py _check_capability: the GPU's compute capability is below the smallest compiled architecture; e.g. a K80 (3.7) on CUDA 12 builds, or a GTX 1080/V100 on 2.7 cu128 (which starts at sm_75)",
        fix: "use a cu118 or cu126 image (2.6.0-cuda11.8 keeps sm_37; cu124/cu126 start at sm_50); `ptenv select` picks one",
        context: arch_context,
    },
    Pattern {
        id: "nvidia-smi-failed",
        matches: &[&["NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"]],
        title: "the NVIDIA kernel module is not loaded on the host",
        cause: "typical reasons: a kernel update without a DKMS rebuild, Secure Boot rejecting the unsigned module, or an incomplete install; containers cannot work until the host is fixed",
        fix: "on the host: `sudo modprobe nvidia` and read `sudo dmesg | grep -i nvidia`; rebuild with `sudo dkms autoinstall` after a kernel update, enrol the module key or turn Secure Boot off, or reinstall the driver; then reboot",
        context: module_context,
    },
    Pattern {
        id: "nvml-unknown-error",
        matches: &[&["Failed to initialize NVML: Unknown Error"]],
        title: "the running container lost access to the GPU",
        cause: "with systemd managing the container's cgroups, `systemctl daemon-reload` (or a package upgrade that runs it) makes runc drop access to NVIDIA device nodes that have no /dev/char symlink (nvidia-docker#1730, nvidia-container-toolkit#48)",
        fix: "recreate the container (`ptenv down && ptenv up`); to prevent it: `sudo nvidia-ctk system create-dev-char-symlinks --create-all` plus NVIDIA's udev rule, or `\"exec-opts\": [\"native.cgroupdriver=cgroupfs\"]` in /etc/docker/daemon.json, or use CDI",
        context: no_context,
    },
    Pattern {
        id: "nvml-version-mismatch",
        matches: &[&["Driver/library version mismatch"]],
        title: "the driver's libraries and the loaded kernel module differ",
        cause: "the driver was upgraded but the old kernel module is still loaded",
        fix: "reboot (or unload and reload the nvidia modules), then recreate the container",
        context: no_context,
    },
    Pattern {
        id: "no-device-driver",
        matches: &[&["could not select device driver"]],
        title: "Docker has no GPU device driver registered",
        cause: "moby registers the \"nvidia\" device driver only if nvidia-container-runtime-hook is on dockerd's PATH when it starts: the NVIDIA Container Toolkit is missing, or dockerd was not restarted after installing it. The `\"nvidia\"` variant appears when the request names the driver (Compose `driver: nvidia`)",
        fix: "install the NVIDIA Container Toolkit, then `sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker`; or use CDI (`--device nvidia.com/gpu=all`, on by default in Docker ≥ 28.2) after `sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`",
        context: toolkit_context,
    },
    Pattern {
        id: "unsatisfied-cuda",
        matches: &[&["unsatisfied condition: cuda>="]],
        title: "the image requires a newer CUDA than the host's driver supports",
        cause: "the NVIDIA container hook compares the image's NVIDIA_REQUIRE_CUDA (set by nvidia/cuda-based images, e.g. devel variants) with the driver's CUDA version; the container never starts",
        fix: "update the driver, use an older image (or the runtime variant, which does not set NVIDIA_REQUIRE_CUDA), or start with `-e NVIDIA_DISABLE_REQUIRE=1` and let minor-version compatibility decide",
        context: require_context,
    },
    Pattern {
        id: "dataloader-bus-error",
        matches: &[
            &["Unexpected bus error encountered in worker"],
            &["insufficient shared memory (shm)"],
        ],
        title: "DataLoader workers ran out of shared memory",
        cause: "the container's /dev/shm is full; Docker's default is 64 MB (torch/csrc/DataLoader.cpp SIGBUS handler)",
        fix: "give the container more /dev/shm: `shm_size: auto` or e.g. `8g`, or `ipc: host`, in ptenv.yaml, then `ptenv up` again; or `num_workers=0`",
        context: no_context,
    },
    Pattern {
        id: "dataloader-worker-exited",
        matches: &[&["DataLoader worker (pid", "exited unexpectedly"]],
        title: "a DataLoader worker died",
        cause: "usually follows the shm bus error above (or the OOM killer); the first error in the log is the real one",
        fix: "look for \"bus error\"/\"No space left on device\" above it and raise /dev/shm (`shm_size`/`ipc: host`); else check `dmesg` for the OOM killer",
        context: no_context,
    },
    Pattern {
        id: "shm-no-space",
        matches: &[&["unable to write to file </torch_"], &["unable to write to file", "No space left on device (28)"]],
        title: "tensors shared between processes filled /dev/shm",
        cause: "torch shares tensors between DataLoader workers through files in /dev/shm, which is full",
        fix: "raise /dev/shm (`shm_size: auto` or `ipc: host` in ptenv.yaml, then `ptenv up`), or `num_workers=0`",
        context: no_context,
    },
    Pattern {
        id: "unsupported-ptx",
        matches: &[&["the provided PTX was compiled with an unsupported toolchain"]],
        title: "the driver is too old to JIT-compile the image's PTX",
        cause: "cudaErrorUnsupportedPtxVersion (222): under minor-version compatibility the driver cannot compile PTX produced by a newer toolkit (e.g. cu128's compute_120 on a pre-570 driver)",
        fix: "update the driver to the image's full-feature driver (cu128: 570.26 or newer), or use an image with native code (SASS) for the GPU",
        context: driver_context,
    },
];

/// Every known error in `text`, once per pattern, in the order they first appear.
pub fn scan(text: &str, host: &HostFacts) -> Vec<Finding> {
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
                host: (p.context)(line, host),
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
pub fn to_json(findings: &[Finding]) -> serde_json::Value {
    serde_json::json!({
        "findings": findings.iter().map(|f| serde_json::json!({
            "id": f.pattern.id,
            "line": f.line_no,
            "count": f.count,
            "text": super::redact(&f.line),
            "title": f.pattern.title,
            "cause": f.pattern.cause,
            "fix": f.fix,
            "host": f.host,
        })).collect::<Vec<_>>(),
        "recognised": findings.len(),
    })
}

fn no_context(_: &str, _: &HostFacts) -> Option<String> {
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

fn driver_context(line: &str, host: &HostFacts) -> Option<String> {
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

fn no_driver_context(_: &str, host: &HostFacts) -> Option<String> {
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

fn arch_context(line: &str, host: &HostFacts) -> Option<String> {
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

fn module_context(_: &str, host: &HostFacts) -> Option<String> {
    let loaded = std::path::Path::new("/sys/module/nvidia").is_dir();
    Some(format!(
        "the nvidia kernel module is {}{}",
        if loaded { "loaded" } else { "not loaded" },
        host.driver
            .as_deref()
            .map(|d| format!(" (driver {d})"))
            .unwrap_or_default()
    ))
}

fn toolkit_context(_: &str, _: &HostFacts) -> Option<String> {
    let hook = super::docker::which("nvidia-container-runtime-hook");
    let specs = super::docker::read_cdi_specs(std::path::Path::new("/"));
    Some(format!(
        "nvidia-container-runtime-hook is {}; CDI specs: {}",
        hook.map(|h| format!("at {} (restart dockerd so it registers)", h.display()))
            .unwrap_or_else(|| "not on PATH (the toolkit is not installed)".into()),
        if specs.is_empty() {
            "none".to_string()
        } else {
            specs
                .iter()
                .map(|s| s.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    ))
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

fn require_context(line: &str, host: &HostFacts) -> Option<String> {
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

    #[test]
    fn every_row_of_the_fact_sheet_is_recognised_with_cause_and_fix() {
        let h = host(None, vec![]);
        for (id, line) in SAMPLES {
            let f = scan(line, &h);
            assert!(
                f.iter().any(|f| f.pattern.id == *id),
                "{id} not found in {line}: {f:?}"
            );
            let first = f.iter().find(|f| f.pattern.id == *id).unwrap();
            assert!(!first.pattern.cause.is_empty() && !first.fix.is_empty());
        }
        // Every pattern has a sample.
        for p in PATTERNS {
            assert!(
                SAMPLES.iter().any(|(id, _)| *id == p.id),
                "no sample for {}",
                p.id
            );
        }
        assert!(scan("all good\nloss 0.1", &h).is_empty());
    }

    #[test]
    fn findings_are_counted_once_per_pattern_with_the_first_line() {
        let log = "epoch 1\nRuntimeError: CUDA error: no kernel image is available for execution on the device\nretry\nRuntimeError: CUDA error: no kernel image is available for execution on the device\n";
        let f = scan(log, &host(None, vec![]));
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].line_no, f[0].count), (2, 2));
        assert!(f[0].fix.contains("2.7.0-cuda12.8"));
    }

    #[test]
    fn the_host_facts_shape_the_context() {
        let f = scan(SAMPLES[6].1, &host(Some("570.124.06"), vec![rtx5090()]));
        let ctx = f[0].host.as_deref().unwrap();
        assert!(
            ctx.contains("sm_120 (Blackwell): covered by 2.7.0-cuda12.8"),
            "{ctx}"
        );
        assert!(
            ctx.contains("this host's GPU 0 NVIDIA GeForce RTX 5090"),
            "{ctx}"
        );

        let f = scan(SAMPLES[1].1, &host(Some("535.104.05"), vec![]));
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

        let f = scan(SAMPLES[12].1, &host(Some("535.104.05"), vec![]));
        let ctx = f[0].host.as_deref().unwrap();
        assert!(
            ctx.contains("requires CUDA 12.4 (driver 550.54.14 or newer)"),
            "{ctx}"
        );
        assert!(ctx.contains("supports CUDA 12.2"), "{ctx}");

        let f = scan(SAMPLES[2].1, &host(None, vec![]));
        assert!(f[0].host.as_deref().unwrap().contains("no NVIDIA driver"));
        let f = scan(SAMPLES[2].1, &host(Some("550.54.15"), vec![]));
        assert!(f[0]
            .host
            .as_deref()
            .unwrap()
            .contains("was not given the GPU"));

        let f = scan(SAMPLES[11].1, &host(None, vec![]));
        assert!(f[0]
            .host
            .as_deref()
            .unwrap()
            .contains("nvidia-container-runtime-hook"));
    }

    #[test]
    fn findings_render_with_cause_fix_and_redacted_lines() {
        let log = "see http://127.0.0.1:8888/lab?token=abcdef\nERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm). token=abcdef\n";
        let f = scan(log, &host(None, vec![]));
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
        let j = to_json(&f);
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
