//! Facts about the host that the container plan needs besides the GPUs: the user's home (for
//! mounts written `~/data`) and the RAM (for `shm_size: auto`). Shared by `up` and `export`, so
//! both plan the same container.

use std::path::{Path, PathBuf};

/// The host user's home; `/` when `HOME` is unset.
pub fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// The host's RAM from /proc/meminfo (`MemTotal:       24576000 kB`); 0 when unknown, which
/// makes `shm_size: auto` Docker's 64 MiB floor.
pub fn ram() -> u64 {
    meminfo_total(Path::new("/proc/meminfo")).unwrap_or(0)
}

fn meminfo_total(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_meminfo(&text)
}

fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_gives_bytes() {
        assert_eq!(
            parse_meminfo("MemTotal:       24576000 kB\nMemFree:  1 kB\n"),
            Some(24576000 * 1024)
        );
        assert_eq!(parse_meminfo("nothing"), None);
    }
}
