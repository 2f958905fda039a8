//! What a pull will download, said before it begins: the registry's manifest (read directly,
//! see `registry`), taken with the engine's registry settings and compared with the layers the
//! engine already has. Nothing here is needed for the pull itself: when the registry does not
//! tell within a few seconds, the pull goes on without the figure.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use bollard::models::RegistryServiceConfig;
use bollard::query_parameters::ListImagesOptionsBuilder;
use futures_util::StreamExt;

use super::{error_text, Engine};
use crate::registry::{self, Download, Platform, Reference, Settings};
use crate::size::human;

/// How long the whole question may take before the pull starts without the answer.
const DEADLINE: Duration = Duration::from_secs(4);

/// How many local images are compared, at most, to find the layers already here.
const MAX_IMAGES: usize = 300;

/// What a pull of an image will download.
#[derive(Debug, Clone)]
pub struct PullSize {
    pub download: Download,
    pub platform: Platform,
    /// How many of the bottom layers the engine has already (from other images).
    pub here: usize,
    /// Free space where the engine keeps images, when the engine is on this machine.
    pub free: Option<(PathBuf, u64)>,
}

impl PullSize {
    /// Bytes still to download.
    pub fn bytes(&self) -> u64 {
        self.download.bytes_from(self.here)
    }

    /// `2.1 GiB to download in 12 layers for linux/amd64`, with the part already here.
    pub fn describe(&self) -> String {
        let all = self.download.layers.len();
        let missing = all.saturating_sub(self.here);
        let plural = |n: usize| if n == 1 { "layer" } else { "layers" };
        if missing == 0 {
            return format!(
                "all {all} {} for {} are on this machine already",
                plural(all),
                self.platform
            );
        }
        let mut text = format!("{} to download", human(self.bytes()));
        if self.here == 0 {
            text.push_str(&format!(" in {all} {} for {}", plural(all), self.platform));
        } else {
            let have = self.download.layers[..self.here]
                .iter()
                .map(|l| l.size)
                .sum();
            text.push_str(&format!(
                " in {missing} of {all} layers for {} ({} {}, {}, on this machine already)",
                self.platform,
                self.here,
                plural(self.here),
                human(have)
            ));
        }
        text
    }

    /// A warning when the engine's disk looks too small: layers unpack to roughly two to three
    /// times their compressed size, and the download itself needs room while it unpacks.
    pub fn disk_warning(&self) -> Option<String> {
        let (root, free) = self.free.as_ref()?;
        let need = self.bytes().saturating_mul(3);
        (*free < need).then(|| {
            format!(
                "{} has {} free; this pull downloads {} that unpack to roughly two to three times as much (free space with `docker system prune`, or move the engine's data-root)",
                root.display(),
                human(*free),
                human(self.bytes())
            )
        })
    }

    /// Sizes by the short layer IDs the engine's pull progress uses, for the layers to fetch.
    pub fn expected(&self) -> Vec<(String, u64)> {
        self.download.layers[self.here.min(self.download.layers.len())..]
            .iter()
            .map(|l| (l.short_id().to_string(), l.size))
            .collect()
    }
}

impl Engine {
    /// Ask the registry of `image` what a pull downloads. `Err` says in a few words why it did
    /// not tell; the pull does not depend on it.
    pub async fn pull_size(&self, image: &str, ca_files: Vec<PathBuf>) -> Result<PullSize, String> {
        let started = tokio::time::Instant::now();
        let info = self.docker.info().await.map_err(|e| error_text(&e))?;
        let reference = Reference::parse(image);
        let settings = Settings {
            insecure: is_insecure(&reference, info.registry_config.as_ref(), &resolve),
            mirrors: info
                .registry_config
                .as_ref()
                .and_then(|c| c.mirrors.clone())
                .unwrap_or_default(),
            ca_files,
            timeout: DEADLINE,
        };
        let platform = Platform {
            os: self.os.clone(),
            arch: self.arch.clone(),
            variant: None,
        };
        let credentials = crate::credentials::credentials_for(image);
        let asked = platform.clone();
        let task = tokio::task::spawn_blocking(move || {
            registry::download(&reference, &asked, &settings, credentials.as_ref())
        });
        let download = tokio::time::timeout(DEADLINE, task)
            .await
            .map_err(|_| {
                format!(
                    "the registry did not answer within {} s",
                    DEADLINE.as_secs()
                )
            })?
            .map_err(|e| e.to_string())??;
        let remaining = DEADLINE.saturating_sub(started.elapsed());
        let here = tokio::time::timeout(remaining, self.layers_here(&download.diff_ids))
            .await
            .unwrap_or(0);
        let free = info
            .docker_root_dir
            .filter(|_| self.endpoint.starts_with("unix://"))
            .and_then(|root| free_space(&root).map(|f| (PathBuf::from(root), f)));
        Ok(PullSize {
            download,
            platform,
            here,
            free,
        })
    }

    /// How many of the bottom layers `diff_ids` some local image has: the engine reuses a layer
    /// only with everything below it, so the longest common prefix counts.
    async fn layers_here(&self, diff_ids: &[String]) -> usize {
        if diff_ids.is_empty() {
            return 0;
        }
        let options = ListImagesOptionsBuilder::default().all(false).build();
        let Ok(images) = self.docker.list_images(Some(options)).await else {
            return 0;
        };
        // A few inspects at a time: the engine answers them in parallel.
        let mut prefixes = futures_util::stream::iter(images.iter().take(MAX_IMAGES))
            .map(|image| self.docker.inspect_image(&image.id))
            .buffer_unordered(8);
        let mut best = 0;
        while let Some(inspect) = prefixes.next().await {
            let layers = inspect
                .ok()
                .and_then(|i| i.root_fs)
                .and_then(|r| r.layers)
                .unwrap_or_default();
            best = best.max(common_prefix(&layers, diff_ids));
            if best == diff_ids.len() {
                break;
            }
        }
        best
    }
}

fn common_prefix(a: &[String], b: &[String]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The engine's rule for plain HTTP: a registry configured as insecure, else one whose
/// addresses fall in an insecure CIDR (`127.0.0.0/8` by default). A name that does not resolve
/// counts as secure.
fn is_insecure(
    reference: &Reference,
    config: Option<&RegistryServiceConfig>,
    resolve: &dyn Fn(&str) -> Vec<IpAddr>,
) -> bool {
    let Some(config) = config else {
        return false;
    };
    if let Some(index) = config
        .index_configs
        .as_ref()
        .and_then(|i| i.get(&reference.registry))
    {
        return index.secure == Some(false);
    }
    let cidrs = config
        .insecure_registry_cidrs
        .as_deref()
        .unwrap_or_default();
    let addresses = match reference.host_name().parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => resolve(reference.host_name()),
    };
    addresses
        .iter()
        .any(|ip| cidrs.iter().any(|c| in_cidr(*ip, c)))
}

fn resolve(host: &str) -> Vec<IpAddr> {
    (host, 0)
        .to_socket_addrs()
        .map(|a| a.map(|s| s.ip()).collect())
        .unwrap_or_default()
}

/// `ip` is in `cidr` (`127.0.0.0/8`, `fd00::/8`); a malformed CIDR holds nothing.
fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// Bytes free for unprivileged use on the filesystem of `path`.
fn free_space(path: &str) -> Option<u64> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some(s.f_bavail * s.f_frsize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::manifest::Blob;
    use bollard::models::IndexInfo;
    use std::collections::HashMap;

    fn blob(digest: &str, size: u64) -> Blob {
        Blob {
            digest: digest.into(),
            size,
            media_type: String::new(),
        }
    }

    fn pull(sizes: &[u64], here: usize, free: Option<u64>) -> PullSize {
        PullSize {
            download: Download {
                layers: sizes
                    .iter()
                    .enumerate()
                    .map(|(i, s)| blob(&format!("sha256:{i:0>12}ffff"), *s))
                    .collect(),
                config: blob("sha256:cfg", 1000),
                diff_ids: vec![],
                source: "http://127.0.0.1:5000".into(),
            },
            platform: Platform {
                os: "linux".into(),
                arch: "amd64".into(),
                variant: None,
            },
            here,
            free: free.map(|f| (PathBuf::from("/var/lib/docker"), f)),
        }
    }

    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;

    #[test]
    fn the_size_is_said_with_the_layers_already_here() {
        assert_eq!(
            pull(&[30 * MIB, 2 * GIB], 0, None).describe(),
            "2 GiB to download in 2 layers for linux/amd64"
        );
        assert_eq!(
            pull(&[30 * MIB, 2 * GIB, 5 * MIB], 1, None).describe(),
            "2 GiB to download in 2 of 3 layers for linux/amd64 (1 layer, 30 MiB, on this machine already)"
        );
        assert_eq!(
            pull(&[MIB], 1, None).describe(),
            "all 1 layer for linux/amd64 are on this machine already"
        );
        assert_eq!(pull(&[MIB, 2 * MIB, 4 * MIB], 1, None).bytes(), 6 * MIB);
        let expected = pull(&[MIB, 2 * MIB], 1, None).expected();
        assert_eq!(expected, vec![("000000000001".to_string(), 2 * MIB)]);
    }

    #[test]
    fn a_small_disk_is_warned_about_before_the_pull() {
        // 2 GiB to download, 5 GiB free: under three times the download.
        let w = pull(&[2 * GIB], 0, Some(5 * GIB)).disk_warning().unwrap();
        assert!(w.contains("/var/lib/docker has 5 GiB free"), "{w}");
        assert!(w.contains("docker system prune"), "{w}");
        assert!(pull(&[2 * GIB], 0, Some(7 * GIB)).disk_warning().is_none());
        // Layers already here do not count; an engine elsewhere is not measured.
        assert!(pull(&[2 * GIB, MIB], 1, Some(GIB)).disk_warning().is_none());
        assert!(pull(&[2 * GIB], 0, None).disk_warning().is_none());
    }

    #[test]
    fn common_prefixes_count_only_from_the_bottom() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(common_prefix(&s(&["a", "b", "c"]), &s(&["a", "b", "x"])), 2);
        assert_eq!(common_prefix(&s(&["x", "b"]), &s(&["a", "b"])), 0);
        assert_eq!(common_prefix(&s(&["a"]), &s(&["a", "b"])), 1);
    }

    #[test]
    fn cidrs_match_like_the_engine_s_insecure_registry_list() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_cidr(ip("127.0.0.1"), "127.0.0.0/8"));
        assert!(in_cidr(ip("127.200.3.4"), "127.0.0.0/8"));
        assert!(!in_cidr(ip("128.0.0.1"), "127.0.0.0/8"));
        assert!(in_cidr(ip("10.1.2.3"), "10.1.2.3/32"));
        assert!(in_cidr(ip("8.8.8.8"), "0.0.0.0/0"));
        assert!(in_cidr(ip("fd00::1"), "fd00::/8"));
        assert!(!in_cidr(ip("::1"), "127.0.0.0/8"));
        assert!(!in_cidr(ip("127.0.0.1"), "127.0.0.0"));
        assert!(!in_cidr(ip("127.0.0.1"), "127.0.0.0/33"));
    }

    #[test]
    fn insecure_registries_follow_the_engine_s_settings() {
        let config = RegistryServiceConfig {
            insecure_registry_cidrs: Some(vec!["127.0.0.0/8".into()]),
            index_configs: Some(HashMap::from([
                (
                    "docker.io".to_string(),
                    IndexInfo {
                        secure: Some(true),
                        ..Default::default()
                    },
                ),
                (
                    "registry.lan:5000".to_string(),
                    IndexInfo {
                        secure: Some(false),
                        ..Default::default()
                    },
                ),
            ])),
            ..Default::default()
        };
        let nowhere = |_: &str| Vec::new();
        let local = |_: &str| vec!["127.0.1.1".parse().unwrap()];
        let r = Reference::parse;
        assert!(is_insecure(&r("127.0.0.1:5000/x"), Some(&config), &nowhere));
        assert!(is_insecure(
            &r("registry.lan:5000/x"),
            Some(&config),
            &nowhere
        ));
        assert!(!is_insecure(&r("pytorch/pytorch"), Some(&config), &local));
        assert!(!is_insecure(
            &r("nvcr.io/nvidia/pytorch:1"),
            Some(&config),
            &nowhere
        ));
        // A name that resolves into an insecure CIDR is insecure, like `localhost`.
        assert!(is_insecure(&r("localhost:5000/x"), Some(&config), &local));
        assert!(!is_insecure(&r("127.0.0.1:5000/x"), None, &nowhere));
    }
}
