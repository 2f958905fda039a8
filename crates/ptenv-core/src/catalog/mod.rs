//! The PyTorch images ptenv knows, as data: one row per (PyTorch release, CUDA line), with the
//! GPU code compiled in and the drivers it needs. Selection (`select.rs`) and `ptenv doctor`
//! filter these rows; no decision about a particular tag is hard-coded anywhere else.
//!
//! The rows are `catalog/pytorch.yaml` (every pytorch/pytorch release line from 2.0 on),
//! compiled in and parsed once; each row cites its primary sources there (pytorch/pytorch
//! `RELEASE.md`, `.ci/manywheel/build_cuda.sh` at the release tag and the PRs that changed it,
//! the published wheels) and says which of its cells are not yet verified. The driver tables
//! below come from the CUDA Toolkit release notes, Tables 2 and 3
//! (<https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html>) and the CUDA
//! minor-version compatibility guide
//! (<https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html>);
//! compute capabilities from <https://developer.nvidia.com/cuda-gpus>. docs/compatibility.md
//! states the facts and rules in the project's words (§1 tags, §2 architectures, §4 drivers,
//! §6 compute capabilities), each with its source and whether it was checked.

mod arch;
mod driver;
mod tag;
#[cfg(test)]
pub(crate) mod tests;

use std::cmp::Ordering;
use std::fmt;

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::profile::Variant;

pub use arch::*;
pub use driver::*;
pub use tag::*;

/// A compute capability, `(major, minor)`: 8.6 is `(8, 6)`.
pub type Cc = (u32, u32);

/// How PyTorch's release matrix labels a CUDA line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Maturity {
    Stable,
    Experimental,
}

impl Maturity {
    pub fn as_str(self) -> &'static str {
        match self {
            Maturity::Stable => "stable",
            Maturity::Experimental => "experimental",
        }
    }
}

/// One CUDA line of one PyTorch release: the tags `<pytorch>-cuda<x.y>-cudnn<n>-<variant>`.
/// The rows live in `catalog/pytorch.yaml`, whose header says what each field means and which
/// primary source it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The release, as in the tag: "2.6.0".
    pub pytorch: String,
    /// The CUDA line, as in the tag: (12, 4) for `cuda12.4`.
    pub cuda: (u32, u32),
    /// The full CUDA version the release build used, for display only, when known.
    pub cuda_full: Option<String>,
    /// The cuDNN major version in the tag (`cudnn9`) and the exact version inside.
    pub cudnn: u32,
    pub cudnn_full: Option<String>,
    pub status: Maturity,
    /// Whether `pip install torch==<pytorch>` from PyPI gets this line.
    pub pypi_default: bool,
    /// Native code (SASS) compiled in: `sm_XY` as (X, Y).
    pub sass: Vec<Cc>,
    /// Embedded PTX (`compute_XY`), which the driver can JIT-compile for newer GPUs.
    pub ptx: Vec<Cc>,
    /// Whether `sass`/`ptx` were read from the published wheel (else they are inferred from
    /// the build scripts).
    pub arch_verified: bool,
    /// Oldest driver that starts this CUDA runtime at all, under CUDA minor-version
    /// compatibility (release notes Table 2).
    pub driver_floor: String,
    /// The GA driver of the line's CUDA major.minor (release notes Table 3), the oldest that
    /// supports that CUDA version: below it the image runs "with limited feature-set". A
    /// toolkit update release (12.4.1) does not raise it.
    pub full_feature_driver: String,
    /// Image variants published for this line.
    pub variants: Vec<Variant>,
    /// The variants also published for linux/arm64 (whose images hold the CPU build of
    /// PyTorch): runtime images are built for `linux/arm64,linux/amd64`, devel images for
    /// `linux/amd64` only.
    pub arm64_variants: Vec<Variant>,
    /// The primary sources of the row, abbreviated as in the data file's header.
    pub source: String,
    /// The cells of the row that are inferences not yet confirmed against a primary source.
    pub unverified: Option<String>,
}

/// The data file, compiled in.
const DATA: &str = include_str!("../../catalog/pytorch.yaml");

/// The images ptenv chooses from, in the data file's order (oldest release first). Order does
/// not matter to selection, which sorts.
pub static LINES: LazyLock<Vec<Line>> =
    LazyLock::new(|| parse_catalog(DATA).unwrap_or_else(|e| panic!("catalog/pytorch.yaml: {e}")));

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    releases: Vec<RawRelease>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelease {
    pytorch: String,
    lines: Vec<RawLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    cuda: String,
    cuda_full: Option<String>,
    cudnn: u32,
    cudnn_full: Option<String>,
    status: Maturity,
    pypi_default: bool,
    sass: Vec<String>,
    ptx: Vec<String>,
    arch_verified: bool,
    driver_floor: String,
    full_feature_driver: String,
    variants: Vec<Variant>,
    arm64_variants: Vec<Variant>,
    source: String,
    unverified: Option<String>,
}

/// The rows of the data file, each field checked for its form; the cross-row invariants are
/// unit tests.
fn parse_catalog(text: &str) -> std::result::Result<Vec<Line>, String> {
    let raw: RawCatalog = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for r in raw.releases {
        if release_key(&r.pytorch).len() != 3 {
            return Err(format!("`{}` is not a release like 2.6.0", r.pytorch));
        }
        for l in r.lines {
            let at = format!("{} cuda {}", r.pytorch, l.cuda);
            let cuda = l
                .cuda
                .split_once('.')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                .ok_or_else(|| format!("{at}: `cuda` must be like \"12.4\""))?;
            let arch = |list: &[String], prefix: &str| -> std::result::Result<Vec<Cc>, String> {
                list.iter()
                    .map(|a| {
                        a.strip_prefix(prefix)
                            .and_then(cc_digits)
                            .ok_or_else(|| format!("{at}: `{a}` is not {prefix}XY"))
                    })
                    .collect()
            };
            for d in [&l.driver_floor, &l.full_feature_driver] {
                DriverVersion::parse(d).ok_or_else(|| format!("{at}: `{d}` is not a driver"))?;
            }
            out.push(Line {
                pytorch: r.pytorch.clone(),
                cuda,
                cuda_full: l.cuda_full,
                cudnn: l.cudnn,
                cudnn_full: l.cudnn_full,
                status: l.status,
                pypi_default: l.pypi_default,
                sass: arch(&l.sass, "sm_")?,
                ptx: arch(&l.ptx, "compute_")?,
                arch_verified: l.arch_verified,
                driver_floor: l.driver_floor,
                full_feature_driver: l.full_feature_driver,
                variants: l.variants,
                arm64_variants: l.arm64_variants,
                source: l.source,
                unverified: l.unverified,
            });
        }
    }
    Ok(out)
}

/// "86" → (8, 6), "120" → (12, 0): the digits of `sm_XY` / `compute_XY`, nothing else.
fn cc_digits(d: &str) -> Option<Cc> {
    if d.len() < 2 || !d.chars().all(|c| c.is_ascii_digit()) || d.starts_with('0') {
        return None;
    }
    let (major, minor) = d.split_at(d.len() - 1);
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// "2.10.0" → [2, 10, 0], for ordering releases by number ("2.10" is newer than "2.9").
/// Empty when the text is not dot-separated numbers.
pub fn release_key(v: &str) -> Vec<u32> {
    v.split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<Vec<u32>>>()
        .unwrap_or_default()
}

impl Line {
    /// `2.6.0-cuda12.4-cudnn9-runtime`
    pub fn tag(&self, variant: Variant) -> String {
        format!(
            "{}-cuda{}.{}-cudnn{}-{}",
            self.pytorch, self.cuda.0, self.cuda.1, self.cudnn, variant
        )
    }

    /// "12.4"
    pub fn cuda_str(&self) -> String {
        format!("{}.{}", self.cuda.0, self.cuda.1)
    }

    /// "2.6" for "2.6.0".
    pub fn pytorch_minor(&self) -> &str {
        match self.pytorch.rmatch_indices('.').next() {
            Some((i, _)) if self.pytorch.matches('.').count() == 2 => &self.pytorch[..i],
            _ => &self.pytorch,
        }
    }

    pub fn floor(&self) -> DriverVersion {
        driver(&self.driver_floor)
    }

    pub fn full_feature(&self) -> DriverVersion {
        driver(&self.full_feature_driver)
    }

    /// Whether a driver that supports CUDA `driver_cuda` (NVML's answer, or [`cuda_for_driver`]
    /// of its version; `None`: older than any line) runs this line only under minor-version
    /// compatibility: its CUDA major.minor is newer. The toolkit's update release inside the
    /// image (12.4.1) does not count.
    pub fn needs_compat(&self, driver_cuda: Option<(u32, u32)>) -> bool {
        driver_cuda.is_none_or(|c| c < self.cuda)
    }

    /// How this line's compiled code covers a GPU: see [`coverage`].
    pub fn covers(&self, cc: Cc) -> Coverage {
        coverage(&self.sass, &self.ptx, cc)
    }

    /// `sm_50 sm_60 … sm_90 compute_120`, as `torch.cuda.get_arch_list()` prints them.
    pub fn arch_list(&self) -> String {
        let mut out: Vec<String> = self.sass.iter().map(|c| sm(*c)).collect();
        out.extend(self.ptx.iter().map(|(a, b)| format!("compute_{a}{b}")));
        out.join(" ")
    }

    /// "Turing (7.5) to Blackwell (12.0)": the generations the line has code for.
    pub fn span(&self) -> String {
        match (self.oldest_sass(), self.newest_sass()) {
            (Some(o), Some(n)) => format!(
                "GPU code for {} ({}.{}) to {} ({}.{})",
                arch_name(o),
                o.0,
                o.1,
                arch_name(n),
                n.0,
                n.1
            ),
            _ => "no GPU code".to_string(),
        }
    }

    /// The newest SASS compute capability in the line.
    pub fn newest_sass(&self) -> Option<Cc> {
        self.sass.iter().copied().max()
    }

    /// The oldest SASS compute capability in the line.
    pub fn oldest_sass(&self) -> Option<Cc> {
        self.sass.iter().copied().min()
    }
}

/// The rows of a PyTorch version as the user writes it: "2.6" matches 2.6.0, "2.6.0" exactly.
pub fn lines_for(pytorch: &str) -> Vec<&'static Line> {
    LINES
        .iter()
        .filter(|l| l.pytorch == pytorch || l.pytorch_minor() == pytorch)
        .collect()
}

/// The PyTorch releases in the catalog, oldest first: ["2.0.1", …, "2.6.0", …, "2.10.0", …].
pub fn releases() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = LINES.iter().map(|l| l.pytorch.as_str()).collect();
    out.sort_by_key(|r| release_key(r));
    out.dedup();
    out
}

/// The row of a tag in the official scheme, if it is in the catalog.
pub fn find(pytorch: &str, cuda: (u32, u32)) -> Option<&'static Line> {
    LINES
        .iter()
        .find(|l| l.pytorch == pytorch && l.cuda == cuda)
}
