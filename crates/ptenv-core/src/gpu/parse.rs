//! Pure parsers for what the driver and its tools print. Each takes the text as read and
//! returns what it found, or why not; each is tested with real samples.

use super::{Gpu, Problem};
use crate::catalog::{Cc, DriverVersion};

/// `/sys/module/nvidia/version`: the loaded kernel module's version and a newline.
///
/// ```text
/// 550.54.15
/// ```
pub fn sysfs_version(text: &str) -> Option<DriverVersion> {
    DriverVersion::parse(text.lines().next().unwrap_or(""))
}

/// `/proc/driver/nvidia/version`: the first line names the kernel module and its version,
/// proprietary or open, x86_64 or aarch64.
///
/// ```text
/// NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024
/// GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)
/// ```
/// ```text
/// NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.124.06  Release Build  (dvs-builder@U16-I3-B03-4-3)  Thu Feb 20 23:55:37 UTC 2025
/// ```
pub fn procfs_version(text: &str) -> Option<DriverVersion> {
    let line = text.lines().find(|l| l.starts_with("NVRM version:"))?;
    // The version is the first word with a dot that parses; "x86_64" and dates have none
    // that do.
    line.split_whitespace()
        .filter(|w| w.contains('.'))
        .find_map(DriverVersion::parse)
}

/// The fields ptenv asks `nvidia-smi` for, in this order.
pub const SMI_QUERY: &str = "index,name,uuid,compute_cap,memory.total,driver_version";

/// One line per GPU of `nvidia-smi --query-gpu=SMI_QUERY --format=csv,noheader,nounits`.
/// `memory.total` is in MiB. Names are not quoted and may contain commas, so the fixed fields
/// are taken from both ends and the name is what remains.
///
/// ```text
/// 0, NVIDIA GeForce RTX 3090, GPU-5d2e5e6a-9b1c-4c52-a43e-0d7d5d6e8c1f, 8.6, 24576, 550.54.15
/// 1, NVIDIA H100 80GB HBM3, GPU-0b4f43c9-1b5e-7d59-3f6f-1a2b3c4d5e6f, 9.0, 81559, 550.54.15
/// ```
pub fn smi_csv(text: &str) -> Result<(Option<DriverVersion>, Vec<Gpu>), String> {
    let mut driver = None;
    let mut gpus = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let raw: Vec<&str> = line.split(',').collect();
        let fields: Vec<&str> = raw.iter().map(|f| f.trim()).collect();
        if fields.len() < 6 {
            return Err(format!("unexpected nvidia-smi line `{line}`"));
        }
        let n = fields.len();
        let index = fields[0]
            .parse()
            .map_err(|_| format!("unexpected GPU index in `{line}`"))?;
        let name = raw[1..n - 4].join(",").trim().to_string();
        let uuid = fields[n - 4].to_string();
        let cc = cc(fields[n - 3]).ok_or_else(|| {
            format!(
                "nvidia-smi gave no compute capability (`{}`)",
                fields[n - 3]
            )
        })?;
        // "[N/A]" for memory on some boards: unknown is 0.
        let memory_bytes = fields[n - 2].parse::<u64>().unwrap_or(0) * 1024 * 1024;
        if driver.is_none() {
            driver = DriverVersion::parse(fields[n - 1]);
        }
        gpus.push(Gpu {
            index,
            name,
            uuid,
            cc,
            memory_bytes,
            arch: None,
        });
    }
    Ok((driver, gpus))
}

/// A compute capability as written by people and tools: `8.6`, `12.0`, `sm_86`, `sm_120`.
pub fn cc(text: &str) -> Option<Cc> {
    let t = text.trim();
    if let Some(digits) = t.strip_prefix("sm_").or_else(|| t.strip_prefix("sm")) {
        if digits.len() >= 2 && digits.chars().all(|c| c.is_ascii_digit()) {
            let (a, b) = digits.split_at(digits.len() - 1);
            return Some((a.parse().ok()?, b.parse().ok()?));
        }
        return None;
    }
    let (a, b) = t.split_once('.')?;
    let ok = |s: &str| !s.is_empty() && s.len() <= 2 && s.chars().all(|c| c.is_ascii_digit());
    if ok(a) && ok(b) && b.len() == 1 {
        Some((a.parse().ok()?, b.parse().ok()?))
    } else {
        None
    }
}

/// A source's failure as a problem: `nvidia-smi` says "Failed to initialize NVML:
/// Driver/library version mismatch" when the driver's libraries and the loaded kernel module
/// differ (docs/compatibility.md §8), which doctor answers with its own fix.
pub fn source_problem(text: String) -> Problem {
    if text.to_ascii_lowercase().contains("version mismatch") {
        Problem::VersionMismatch { detail: text }
    } else {
        Problem::Other { detail: text }
    }
}

/// `nvmlSystemGetCudaDriverVersion` encodes CUDA x.y as 1000·x + 10·y (12040 is 12.4;
/// docs/compatibility.md §5). Zero or negative means none.
pub fn cuda_driver_int(v: i32) -> Option<(u32, u32)> {
    if v <= 0 {
        return None;
    }
    let v = v as u32;
    Some((v / 1000, (v % 1000) / 10))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::driver;

    #[test]
    fn sysfs_gives_the_module_version() {
        assert_eq!(sysfs_version("550.54.15\n"), Some(driver("550.54.15")));
        assert_eq!(sysfs_version("570.26\n"), Some(driver("570.26")));
        assert_eq!(sysfs_version(""), None);
        assert_eq!(sysfs_version("garbage\n"), None);
    }

    #[test]
    fn procfs_gives_the_module_version_for_every_flavour() {
        let proprietary = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n";
        assert_eq!(procfs_version(proprietary), Some(driver("550.54.15")));
        let open = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.124.06  Release Build  (dvs-builder@U16-I3-B03-4-3)  Thu Feb 20 23:55:37 UTC 2025\nGCC version:  gcc version 11.4.0 (Ubuntu 11.4.0-1ubuntu1~22.04)\n";
        assert_eq!(procfs_version(open), Some(driver("570.124.06")));
        let arm = "NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  535.104.05  Release Build  (dvs-builder@U16-T02-35-3)  Sat Aug 19 01:13:48 UTC 2023\n";
        assert_eq!(procfs_version(arm), Some(driver("535.104.05")));
        let legacy = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.256.02  Thu May  2 14:37:44 UTC 2024\n";
        assert_eq!(procfs_version(legacy), Some(driver("470.256.02")));
        assert_eq!(procfs_version("GCC version: gcc 12\n"), None);
    }

    #[test]
    fn nvidia_smi_csv_lists_gpus_and_the_driver() {
        let text = "0, NVIDIA GeForce RTX 3090, GPU-5d2e5e6a-9b1c-4c52-a43e-0d7d5d6e8c1f, 8.6, 24576, 550.54.15\n1, NVIDIA H100 80GB HBM3, GPU-0b4f43c9-1b5e-7d59-3f6f-1a2b3c4d5e6f, 9.0, 81559, 550.54.15\n";
        let (d, gpus) = smi_csv(text).unwrap();
        assert_eq!(d, Some(driver("550.54.15")));
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[0].name, "NVIDIA GeForce RTX 3090");
        assert_eq!(gpus[0].cc, (8, 6));
        assert_eq!(gpus[0].memory_bytes, 24576 << 20);
        assert_eq!(gpus[1].index, 1);
        assert_eq!(gpus[1].uuid, "GPU-0b4f43c9-1b5e-7d59-3f6f-1a2b3c4d5e6f");
        // A name with a comma, and memory the board does not report.
        let (_, g) = smi_csv("0, Tesla K80, rev 2, GPU-1, 3.7, [N/A], 470.256.02\n").unwrap();
        assert_eq!(g[0].name, "Tesla K80, rev 2");
        assert_eq!(g[0].memory_bytes, 0);
        assert_eq!(smi_csv("").unwrap().1.len(), 0);
        // Old drivers do not know compute_cap.
        assert!(smi_csv("Field \"compute_cap\" is not a valid field to query.\n").is_err());
        assert!(smi_csv("0, A, GPU-1, [N/A], 1, 550.54.15").is_err());
    }

    #[test]
    fn compute_capabilities_parse_in_every_spelling() {
        assert_eq!(cc("8.6"), Some((8, 6)));
        assert_eq!(cc("12.0"), Some((12, 0)));
        assert_eq!(cc("sm_120"), Some((12, 0)));
        assert_eq!(cc("sm_86"), Some((8, 6)));
        assert_eq!(cc("sm90"), Some((9, 0)));
        for bad in ["", "8", "8.", ".6", "8.66", "x.y", "sm_", "sm_8", "ampere"] {
            assert_eq!(cc(bad), None, "{bad}");
        }
    }

    #[test]
    fn nvml_cuda_versions_decode() {
        assert_eq!(cuda_driver_int(12040), Some((12, 4)));
        assert_eq!(cuda_driver_int(12080), Some((12, 8)));
        assert_eq!(cuda_driver_int(13000), Some((13, 0)));
        assert_eq!(cuda_driver_int(11040), Some((11, 4)));
        assert_eq!(cuda_driver_int(0), None);
    }
}
