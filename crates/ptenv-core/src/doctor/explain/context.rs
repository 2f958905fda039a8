//! What this machine's facts add to a finding: the driver's CUDA lines, the GPUs' compute
//! capabilities, the container's /dev/shm, the kernel module and the toolkit.

use super::*;

pub(super) fn no_context(_: &str, _: &Facts) -> Option<String> {
    None
}

pub(super) fn cuda_text(c: (u32, u32)) -> String {
    format!("{}.{}", c.0, c.1)
}

/// "found version 11040" → (11, 4).
pub(super) fn found_version(line: &str) -> Option<(u32, u32)> {
    let rest = &line[line.find("found version ")? + "found version ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    crate::gpu::parse::cuda_driver_int(digits.parse().ok()?)
}

/// Up to four names as they are, more as the first three and how many follow, up to the
/// last: the catalog has dozens of lines.
pub(super) fn few(names: &[String]) -> String {
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
pub(super) fn lines_for_driver(d: &DriverVersion) -> String {
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

pub(super) fn driver_context(line: &str, facts: &Facts) -> Option<String> {
    let host = facts.host;
    let mut parts = Vec::new();
    if let Some(v) = found_version(line) {
        parts.push(format!(
            "the driver in that log supports CUDA {}",
            cuda_text(v)
        ));
    }
    match host.driver.as_ref() {
        Some(d) => {
            let runs = lines_for_driver(d);
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

pub(super) fn no_driver_context(_: &str, facts: &Facts) -> Option<String> {
    let host = facts.host;
    Some(match &host.driver {
        Some(d) => format!(
            "this host has driver {d}, so the container that printed this was not given the GPU (or the toolkit did not inject the driver)"
        ),
        None => format!(
            "this host has no NVIDIA driver that answers ({}), so the container cannot have one either",
            host.problems
                .first()
                .map_or_else(|| "nothing found".to_string(), |p| p.to_string())
        ),
    })
}

/// `sm_120` in a line → (12, 0).
pub(super) fn sm_in(line: &str) -> Option<Cc> {
    let at = line.find("sm_")?;
    let digits: String = line[at + 3..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    crate::gpu::parse::cc(&format!("sm_{digits}"))
}

/// The images whose code covers a compute capability.
pub(super) fn covering(cc: Cc) -> Vec<String> {
    catalog::LINES
        .iter()
        .filter(|l| l.covers(cc).is_covered())
        .map(|l| format!("{}-cuda{}", l.pytorch, l.cuda_str()))
        .collect()
}

pub(super) fn arch_context(line: &str, facts: &Facts) -> Option<String> {
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
pub(super) fn module_context(_: &str, facts: &Facts) -> Option<String> {
    let (loaded, vfio) = facts.lookup.nvidia_module();
    let mut s = format!(
        "the nvidia kernel module is {}{}",
        if loaded { "loaded" } else { "not loaded" },
        facts
            .host
            .driver
            .as_ref()
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

pub(super) fn toolkit_context(_: &str, facts: &Facts) -> Option<String> {
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
pub(super) fn shm_context(_: &str, facts: &Facts) -> Option<String> {
    Some(match facts.container {
        Some(c) if c.ipc_mode.as_deref() == Some("host") => format!(
            "container {} uses the host's /dev/shm (`ipc: host`): the host's /dev/shm itself is full (`df -h /dev/shm` on the host)",
            c.name
        ),
        Some(c) => {
            let bytes = c
                .shm_size
                .filter(|b| *b > 0)
                .unwrap_or(crate::doctor::container::DOCKER_DEFAULT_SHM);
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
pub(super) fn oom_gpu(line: &str) -> Option<(u32, String)> {
    let at = line.find("GPU ")? + 4;
    let rest = &line[at..];
    let (index, rest) = rest.split_once(" has a total capacity of ")?;
    let (total, _) = rest.split_once(" of which ")?;
    Some((index.trim().parse().ok()?, total.to_string()))
}

/// The GPUs' memory on this host, and what the message says about the GPU and other processes.
pub(super) fn oom_context(line: &str, facts: &Facts) -> Option<String> {
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
pub(super) fn rlimit_context(line: &str, facts: &Facts) -> Option<String> {
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
pub(super) fn required_cuda(line: &str) -> Option<(u32, u32)> {
    let rest = &line[line.find("cuda>=")? + 6..];
    let v: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.trim_end_matches('.').parse().ok()?))
}

pub(super) fn require_context(line: &str, facts: &Facts) -> Option<String> {
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
    match (host.driver.as_ref().map(|d| d.as_str()), host.driver_cuda()) {
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
    use crate::doctor::explain::tests::{host, rtx5090, SAMPLES};

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
