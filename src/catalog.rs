//! The PyTorch images ptenv knows, as data: one row per (PyTorch release, CUDA line), with the
//! GPU code compiled in and the drivers it needs. Selection (`select.rs`) and `ptenv doctor`
//! filter these rows; no decision about a particular tag is hard-coded anywhere else.
//!
//! Every number here comes from `docs/compatibility.md` (§1–§6), which gives each fact its
//! primary source and says which ones are unverified; each row's comment names the sections
//! that matter for it and repeats the unverified marks:
//! - tags, release status, cuDNN, PyPI defaults: §1 (pytorch/pytorch `RELEASE.md`, the release
//!   workflow and the PyPI wheels);
//! - architectures: §2 (the PyPI wheels' `libtorch_python.so`, `.ci/manywheel/build_cuda.sh`);
//! - drivers: §4 (CUDA Toolkit release notes Tables 2 and 3, the CUDA compatibility guide);
//! - compute capabilities: §6 (<https://developer.nvidia.com/cuda-gpus>).

use std::cmp::Ordering;
use std::fmt;

use serde::Serialize;

use crate::profile::Variant;

/// A compute capability, `(major, minor)`: 8.6 is `(8, 6)`.
pub type Cc = (u32, u32);

/// How PyTorch's release matrix labels a CUDA line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Stable,
    Experimental,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Stable => "stable",
            Status::Experimental => "experimental",
        }
    }
}

/// An NVIDIA driver version such as `550.54.15` or `570.26`, compared part by part (a missing
/// part is 0, so `570.26` = `570.26.0` < `570.26.1`), shown as written (`535.104.05` keeps its
/// zero).
#[derive(Debug, Clone)]
pub struct DriverVersion {
    parts: Vec<u32>,
    text: String,
}

impl DriverVersion {
    /// `550.54.15`, `570.26`, `535`. Surrounding whitespace is ignored; anything else that is
    /// not dot-separated numbers is refused.
    pub fn parse(text: &str) -> Option<DriverVersion> {
        let t = text.trim();
        if t.is_empty() {
            return None;
        }
        let parts: Option<Vec<u32>> = t
            .split('.')
            .map(|p| {
                if !p.is_empty() && p.len() <= 9 && p.chars().all(|c| c.is_ascii_digit()) {
                    p.parse().ok()
                } else {
                    None
                }
            })
            .collect();
        parts.filter(|p| p.len() <= 4).map(|parts| DriverVersion {
            parts,
            text: t.to_string(),
        })
    }

    /// The branch: 550 for 550.54.15.
    pub fn branch(&self) -> u32 {
        self.parts.first().copied().unwrap_or(0)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Ord for DriverVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.parts.len().max(other.parts.len());
        for i in 0..n {
            let a = self.parts.get(i).copied().unwrap_or(0);
            let b = other.parts.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => continue,
                o => return o,
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for DriverVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for DriverVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for DriverVersion {}

impl fmt::Display for DriverVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `driver("550.54.15")` for the constants below; they are checked by a unit test.
pub fn driver(text: &str) -> DriverVersion {
    DriverVersion::parse(text).unwrap_or_else(|| panic!("`{text}` is not a driver version"))
}

/// One CUDA line of one PyTorch release: the tags `<pytorch>-cuda<x.y>-cudnn<n>-<variant>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The release, as in the tag: "2.6.0".
    pub pytorch: &'static str,
    /// The CUDA line, as in the tag: (12, 4) for `cuda12.4`.
    pub cuda: (u32, u32),
    /// The full CUDA version the release build used, for display only
    /// (docs/compatibility.md §1.2).
    pub cuda_full: &'static str,
    /// The cuDNN major version in the tag (`cudnn9`) and the exact version inside.
    pub cudnn: u32,
    pub cudnn_full: &'static str,
    pub status: Status,
    /// Whether `pip install torch==<pytorch>` from PyPI gets this line.
    pub pypi_default: bool,
    /// Native code (SASS) compiled in: `sm_XY` as (X, Y).
    pub sass: &'static [Cc],
    /// Embedded PTX (`compute_XY`), which the driver can JIT-compile for newer GPUs.
    pub ptx: &'static [Cc],
    /// Whether `sass`/`ptx` were read from the published wheel (else docs/compatibility.md §2
    /// marks them unverified: inferred from the build scripts).
    pub arch_verified: bool,
    /// Oldest driver that starts this CUDA runtime at all, under CUDA minor-version
    /// compatibility (docs/compatibility.md §4.1, §4.3).
    pub driver_floor: &'static str,
    /// The driver NVIDIA ships with the CUDA runtime the wheel bundles (release notes Table 3,
    /// docs/compatibility.md §4.2, §4.3): below it the image runs "with limited feature-set".
    pub full_feature_driver: &'static str,
    /// Image variants published for this line.
    pub variants: &'static [Variant],
    /// The variants also published for linux/arm64 (whose images hold the CPU build of
    /// PyTorch). `docker-release.yml` builds runtime images for `linux/arm64,linux/amd64` and
    /// devel images for `linux/amd64` only (docs/compatibility.md §1.4).
    pub arm64_variants: &'static [Variant],
}

const BOTH: &[Variant] = &[Variant::Runtime, Variant::Devel];
const RUNTIME_ONLY: &[Variant] = &[Variant::Runtime];

/// `sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90`: the CUDA 12.4/12.6 builds of 2.6 and 2.7.
const SM_50_TO_90: &[Cc] = &[(5, 0), (6, 0), (7, 0), (7, 5), (8, 0), (8, 6), (9, 0)];
/// The CUDA 11.8 builds add Kepler's sm_37 to the same list.
const SM_37_TO_90: &[Cc] = &[
    (3, 7),
    (5, 0),
    (6, 0),
    (7, 0),
    (7, 5),
    (8, 0),
    (8, 6),
    (9, 0),
];
/// 2.7 CUDA 12.8: `sm_75 sm_80 sm_86 sm_90 sm_100 sm_120` (no Maxwell, Pascal or Volta:
/// docs/compatibility.md §2).
const SM_75_TO_120: &[Cc] = &[(7, 5), (8, 0), (8, 6), (9, 0), (10, 0), (12, 0)];

/// The images ptenv chooses from. Order does not matter; selection sorts.
pub const LINES: &[Line] = &[
    // 2.6.0 cu118. Tag, status and cuDNN 9.1.0.70: docs/compatibility.md §1.2 (RELEASE.md).
    // Arch list: §2, *unverified*, from .ci/manywheel/build_cuda.sh (11.8 adds 3.7 and 9.0
    // to the base list). Drivers: §4.3 (11.x floor 450.80.02; 11.8 GA ships 520.61.05).
    Line {
        pytorch: "2.6.0",
        cuda: (11, 8),
        cuda_full: "11.8.0",
        cudnn: 9,
        cudnn_full: "9.1.0.70",
        status: Status::Stable,
        pypi_default: false,
        sass: SM_37_TO_90,
        ptx: &[],
        arch_verified: false,
        driver_floor: "450.80.02",
        full_feature_driver: "520.61.05",
        variants: BOTH,
        arm64_variants: RUNTIME_ONLY,
    },
    // 2.6.0 cu124: the PyPI default (torch==2.6.0 reports 2.6.0+cu124, pins cudart
    // 12.4.127 = 12.4 Update 1), docs/compatibility.md §1.2. Arch list *verified*: read from
    // the PyPI wheel's libtorch_python.so, §2. Drivers: §4.3 (12.x floor 525.60.13; 12.4
    // Update 1 ships 550.54.15).
    Line {
        pytorch: "2.6.0",
        cuda: (12, 4),
        cuda_full: "12.4.1",
        cudnn: 9,
        cudnn_full: "9.1.0.70",
        status: Status::Stable,
        pypi_default: true,
        sass: SM_50_TO_90,
        ptx: &[],
        arch_verified: true,
        driver_floor: "525.60.13",
        full_feature_driver: "550.54.15",
        variants: BOTH,
        arm64_variants: RUNTIME_ONLY,
    },
    // 2.6.0 cu126: "experimental" in the 2.6 release matrix (RELEASE.md),
    // docs/compatibility.md §1.2. Arch list *unverified*; the release builds of 12.6 carry no
    // PTX, §2. Drivers: §4.3 (12.6 Update 3 ships 560.35.05).
    Line {
        pytorch: "2.6.0",
        cuda: (12, 6),
        cuda_full: "12.6.3",
        cudnn: 9,
        cudnn_full: "9.5.1.17",
        status: Status::Experimental,
        pypi_default: false,
        sass: SM_50_TO_90,
        ptx: &[],
        arch_verified: false,
        driver_floor: "525.60.13",
        full_feature_driver: "560.35.05",
        variants: BOTH,
        arm64_variants: RUNTIME_ONLY,
    },
    // 2.7.0 cu118: stable, docs/compatibility.md §1.2 (RELEASE.md, 2.7 release blog). Arch
    // list *unverified*: same pattern as 2.6 cu118 including sm_37, §2. Drivers: §4.3.
    Line {
        pytorch: "2.7.0",
        cuda: (11, 8),
        cuda_full: "11.8.0",
        cudnn: 9,
        cudnn_full: "9.1.0.70",
        status: Status::Stable,
        pypi_default: false,
        sass: SM_37_TO_90,
        ptx: &[],
        arch_verified: false,
        driver_floor: "450.80.02",
        full_feature_driver: "520.61.05",
        variants: BOTH,
        arm64_variants: RUNTIME_ONLY,
    },
    // 2.7.0 cu126: the PyPI default (torch==2.7.0 reports 2.7.0+cu126, pins cudart 12.6.77 =
    // 12.6 Update 3), docs/compatibility.md §1.2. Arch list *verified* from the PyPI wheel,
    // no PTX, §2. Drivers: §4.3 (560.35.05).
    Line {
        pytorch: "2.7.0",
        cuda: (12, 6),
        cuda_full: "12.6.3",
        cudnn: 9,
        cudnn_full: "9.5.1.17",
        status: Status::Stable,
        pypi_default: false,
        sass: SM_50_TO_90,
        ptx: &[],
        arch_verified: true,
        driver_floor: "525.60.13",
        full_feature_driver: "560.35.05",
        variants: BOTH,
        arm64_variants: RUNTIME_ONLY,
    },
    // 2.7.0 cu128: "experimental", the only 2.6/2.7 line with Blackwell kernels (2.7
    // release blog), docs/compatibility.md §1.2. Arch list observed on 2.7.1+cu128
    // (`sm_75 … sm_120` + `compute_120`), presumed identical for 2.7.0 (*unverified*), §2.
    // Drivers: §4.3 (12.8 GA ships 570.26; the 2.7.0 cudart pin is unverified).
    Line {
        pytorch: "2.7.0",
        cuda: (12, 8),
        cuda_full: "12.8.0",
        cudnn: 9,
        cudnn_full: "9.7.1.26",
        status: Status::Experimental,
        pypi_default: false,
        sass: SM_75_TO_120,
        ptx: &[(12, 0)],
        arch_verified: false,
        driver_floor: "525.60.13",
        full_feature_driver: "570.26",
        variants: BOTH,
        arm64_variants: RUNTIME_ONLY,
    },
];

/// The oldest driver a CUDA major family runs on under minor-version compatibility (release
/// notes Table 2, docs/compatibility.md §4.1); used for pinned images that are not in [`LINES`].
pub const FAMILY_FLOORS: &[(u32, &str)] = &[(11, "450.80.02"), (12, "525.60.13"), (13, "580")];

/// "CUDA Toolkit and Corresponding Driver Versions", Linux x86_64 (release notes Table 3,
/// docs/compatibility.md §4.2): the GA driver of each toolkit. A driver supports the CUDA
/// version of the newest row it reaches; this is how `--driver` overrides get their CUDA
/// version (§5: each driver branch reports one CUDA version).
pub const TOOLKIT_DRIVERS: &[((u32, u32), &str)] = &[
    ((11, 8), "520.61.05"),
    ((12, 0), "525.60.13"),
    ((12, 1), "530.30.02"),
    ((12, 2), "535.54.03"),
    ((12, 3), "545.23.06"),
    ((12, 4), "550.54.14"),
    ((12, 5), "555.42.02"),
    ((12, 6), "560.28.03"),
    ((12, 8), "570.26"),
    ((12, 9), "575.51.03"),
    ((13, 0), "580.65.06"),
];

/// The CUDA version a driver supports (what `nvidia-smi` shows as "CUDA Version"), derived from
/// [`TOOLKIT_DRIVERS`]. `None` below 520.61.05, whose CUDA is older than any line ptenv knows.
pub fn cuda_for_driver(d: &DriverVersion) -> Option<(u32, u32)> {
    TOOLKIT_DRIVERS
        .iter()
        .rev()
        .find(|(_, min)| *d >= driver(min))
        .map(|(cuda, _)| *cuda)
}

/// The family floor of a CUDA major version, if docs/compatibility.md §4.1 gives one.
pub fn family_floor(cuda_major: u32) -> Option<DriverVersion> {
    FAMILY_FLOORS
        .iter()
        .find(|(m, _)| *m == cuda_major)
        .map(|(_, d)| driver(d))
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
    pub fn pytorch_minor(&self) -> &'static str {
        match self.pytorch.rmatch_indices('.').next() {
            Some((i, _)) if self.pytorch.matches('.').count() == 2 => &self.pytorch[..i],
            _ => self.pytorch,
        }
    }

    pub fn floor(&self) -> DriverVersion {
        driver(self.driver_floor)
    }

    pub fn full_feature(&self) -> DriverVersion {
        driver(self.full_feature_driver)
    }

    /// How this line's compiled code covers a GPU: see [`coverage`].
    pub fn covers(&self, cc: Cc) -> Coverage {
        coverage(self.sass, self.ptx, cc)
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

/// `sm_86` for (8, 6).
pub fn sm(cc: Cc) -> String {
    format!("sm_{}{}", cc.0, cc.1)
}

/// How compiled code covers one GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Native code for the GPU: `sm_XY` of the same major version and an equal or lower minor.
    Sass(Cc),
    /// No native code, but PTX of an equal or lower version that the driver can JIT-compile.
    Ptx(Cc),
    /// Neither: kernels fail with "no kernel image is available for execution on the device".
    None,
}

impl Coverage {
    pub fn is_covered(self) -> bool {
        !matches!(self, Coverage::None)
    }
}

/// The Tegra (Jetson) parts: not binary-compatible with the desktop architectures of the same
/// major version (docs/compatibility.md §3 rule 2; PyTorch's own table treats 72 and 87 as
/// separate sets).
const TEGRA: &[Cc] = &[(7, 2), (8, 7)];

/// Does an architecture list run on a GPU of compute capability `cc`? (docs/compatibility.md
/// §3, rules 1–3.) A cubin for `sm_XY` runs on devices of the same major version X and a minor
/// version ≥ Y (Tegra only on its exact arch); PTX `compute_XY` is JIT-compiled for any device
/// ≥ X.Y. SASS is preferred when both apply. Pure; `ptenv doctor` uses it on `get_arch_list()`.
pub fn coverage(sass: &[Cc], ptx: &[Cc], cc: Cc) -> Coverage {
    let tegra = TEGRA.contains(&cc);
    let native = sass
        .iter()
        .copied()
        .filter(|s| {
            if tegra || TEGRA.contains(s) {
                *s == cc
            } else {
                s.0 == cc.0 && s.1 <= cc.1
            }
        })
        .max();
    if let Some(s) = native {
        return Coverage::Sass(s);
    }
    match ptx.iter().copied().filter(|p| *p <= cc).max() {
        Some(p) => Coverage::Ptx(p),
        None => Coverage::None,
    }
}

/// Parse `get_arch_list()` output (`['sm_50', 'sm_60', 'compute_120']` or space-separated) into
/// SASS and PTX lists, for checking an image whose list was read at run time.
pub fn parse_arch_list(text: &str) -> (Vec<Cc>, Vec<Cc>) {
    let mut sass = Vec::new();
    let mut ptx = Vec::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let (list, digits) = if let Some(d) = word.strip_prefix("sm_") {
            (&mut sass, d)
        } else if let Some(d) = word.strip_prefix("compute_") {
            (&mut ptx, d)
        } else {
            continue;
        };
        // "86" → 8.6, "120" → 12.0, "100a" → 10.0 (arch-specific suffixes ignored).
        let digits: String = digits.chars().take_while(char::is_ascii_digit).collect();
        if digits.len() >= 2 {
            let (major, minor) = digits.split_at(digits.len() - 1);
            if let (Ok(a), Ok(b)) = (major.parse(), minor.parse()) {
                list.push((a, b));
            }
        }
    }
    (sass, ptx)
}

/// The name NVIDIA gives the architecture of a compute capability (cuda-gpus pages,
/// docs/compatibility.md §6), for explanations: "Blackwell", "Ampere".
pub fn arch_name(cc: Cc) -> &'static str {
    match cc {
        (3, _) => "Kepler",
        (5, _) => "Maxwell",
        (6, _) => "Pascal",
        (7, 0) | (7, 2) => "Volta",
        (7, 5) => "Turing",
        (8, 9) => "Ada Lovelace",
        (8, _) => "Ampere",
        (9, _) => "Hopper",
        (10, _) | (11, _) | (12, _) => "Blackwell",
        _ => "unknown architecture",
    }
}

/// The rows of a PyTorch version as the user writes it: "2.6" matches 2.6.0, "2.6.0" exactly.
pub fn lines_for(pytorch: &str) -> Vec<&'static Line> {
    LINES
        .iter()
        .filter(|l| l.pytorch == pytorch || l.pytorch_minor() == pytorch)
        .collect()
}

/// The PyTorch releases in the catalog, oldest first: ["2.6.0", "2.7.0"].
pub fn releases() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = LINES.iter().map(|l| l.pytorch).collect();
    out.sort();
    out.dedup();
    out
}

/// The row of a tag in the official scheme, if it is in the catalog.
pub fn find(pytorch: &str, cuda: (u32, u32)) -> Option<&'static Line> {
    LINES
        .iter()
        .find(|l| l.pytorch == pytorch && l.cuda == cuda)
}

/// A tag in the official scheme `<pytorch>-cuda<x.y>-cudnn<n>-<runtime|devel>`
/// (docs/compatibility.md §1.1, `docker.Makefile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub pytorch: String,
    pub cuda: (u32, u32),
    pub cudnn: u32,
    pub variant: Variant,
}

/// Parse the tag of an image reference: `pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime`,
/// `registry:5000/team/pytorch:2.7.0-cuda12.8-cudnn9-devel@sha256:…`. `None` if the reference
/// has no tag or the tag is not in the official scheme.
pub fn parse_tag(reference: &str) -> Option<Tag> {
    let reference = reference.split('@').next()?;
    let last = reference.rsplit('/').next()?;
    let (_, tag) = last.split_once(':')?;
    let mut parts = tag.split('-');
    let pytorch = parts.next()?;
    let cuda = parts.next()?.strip_prefix("cuda")?;
    let cudnn = parts.next()?.strip_prefix("cudnn")?;
    let variant = match parts.next()? {
        "runtime" => Variant::Runtime,
        "devel" => Variant::Devel,
        _ => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    let pv: Vec<&str> = pytorch.split('.').collect();
    if pv.len() != 3
        || pv
            .iter()
            .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let (cmaj, cmin) = cuda.split_once('.')?;
    Some(Tag {
        pytorch: pytorch.to_string(),
        cuda: (cmaj.parse().ok()?, cmin.parse().ok()?),
        cudnn: cudnn.parse().ok()?,
        variant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_driver_constant_parses_and_floors_are_below_full_feature() {
        for l in LINES {
            assert!(l.floor() <= l.full_feature(), "{}", l.tag(Variant::Runtime));
            assert_eq!(family_floor(l.cuda.0), Some(l.floor()), "{l:?}");
            assert!(!l.sass.is_empty());
            assert!(l.variants.contains(&Variant::Runtime));
        }
        for (_, d) in TOOLKIT_DRIVERS {
            driver(d);
        }
        for (_, d) in FAMILY_FLOORS {
            driver(d);
        }
        // Table 3 grows with the CUDA version.
        for w in TOOLKIT_DRIVERS.windows(2) {
            assert!(w[0].0 < w[1].0 && driver(w[0].1) < driver(w[1].1));
        }
    }

    #[test]
    fn the_catalog_has_the_release_matrix_of_2_6_and_2_7() {
        let tags: Vec<String> = LINES.iter().map(|l| l.tag(Variant::Runtime)).collect();
        for t in [
            "2.6.0-cuda11.8-cudnn9-runtime",
            "2.6.0-cuda12.4-cudnn9-runtime",
            "2.6.0-cuda12.6-cudnn9-runtime",
            "2.7.0-cuda11.8-cudnn9-runtime",
            "2.7.0-cuda12.6-cudnn9-runtime",
            "2.7.0-cuda12.8-cudnn9-runtime",
        ] {
            assert!(tags.contains(&t.to_string()), "{t}");
        }
        assert_eq!(tags.len(), 6);
        // No 12.1 / cuDNN 8 line (docs/compatibility.md §10).
        assert!(find("2.6.0", (12, 1)).is_none());
        assert_eq!(lines_for("2.6").len(), 3);
        assert_eq!(lines_for("2.7.0").len(), 3);
        assert!(lines_for("2.5").is_empty());
        assert_eq!(releases(), vec!["2.6.0", "2.7.0"]);
    }

    #[test]
    fn driver_versions_compare_part_by_part() {
        assert!(driver("525.60.13") > driver("525.60.12"));
        assert!(driver("525.60.13") < driver("525.85.12"));
        assert!(driver("570.26") < driver("570.124.06"));
        assert!(driver("570.26") == driver("570.26.0"));
        assert!(driver("1000.1") > driver("999.99.99"));
        assert_eq!(driver("550.54.15").to_string(), "550.54.15");
        assert_eq!(driver("535.104.05").to_string(), "535.104.05");
        assert_eq!(driver("550.54.15").branch(), 550);
        for bad in ["", "abc", "550..1", "550.54.15a", "-1", "1.2.3.4.5"] {
            assert_eq!(DriverVersion::parse(bad), None, "{bad}");
        }
        assert_eq!(
            DriverVersion::parse(" 535.104.05\n"),
            Some(driver("535.104.05"))
        );
    }

    #[test]
    fn driver_branches_map_to_the_cuda_version_nvidia_smi_shows() {
        // docs/compatibility.md §5: R525 → 12.0 … R580 → 13.0.
        for (d, cuda) in [
            ("525.60.13", Some((12, 0))),
            ("525.147.05", Some((12, 0))),
            ("530.30.02", Some((12, 1))),
            ("535.104.05", Some((12, 2))),
            ("545.23.08", Some((12, 3))),
            ("550.54.15", Some((12, 4))),
            ("550.127.08", Some((12, 4))),
            ("555.42.06", Some((12, 5))),
            ("560.35.05", Some((12, 6))),
            ("570.124.06", Some((12, 8))),
            ("575.57.08", Some((12, 9))),
            ("580.95.05", Some((13, 0))),
            ("520.61.05", Some((11, 8))),
            ("470.256.02", None),
        ] {
            assert_eq!(cuda_for_driver(&driver(d)), cuda, "{d}");
        }
    }

    #[test]
    fn sass_runs_within_a_major_version_and_ptx_jits_upwards() {
        let l = find("2.6.0", (12, 4)).unwrap();
        assert_eq!(l.covers((8, 9)), Coverage::Sass((8, 6))); // RTX 4090 via sm_86
        assert_eq!(l.covers((6, 1)), Coverage::Sass((6, 0))); // GTX 1080 via sm_60
        assert_eq!(l.covers((9, 0)), Coverage::Sass((9, 0)));
        assert_eq!(l.covers((12, 0)), Coverage::None); // RTX 5090: no kernel image
        assert_eq!(l.covers((10, 0)), Coverage::None); // B200
        assert_eq!(l.covers((3, 7)), Coverage::None); // K80
        assert_eq!(l.covers((8, 7)), Coverage::None); // Orin: Tegra
        let b = find("2.7.0", (12, 8)).unwrap();
        assert_eq!(b.covers((12, 0)), Coverage::Sass((12, 0)));
        assert_eq!(b.covers((12, 1)), Coverage::Sass((12, 0))); // GB10
        assert_eq!(b.covers((10, 3)), Coverage::Sass((10, 0))); // B300
        assert_eq!(b.covers((7, 0)), Coverage::None); // V100 dropped
        assert_eq!(b.covers((13, 0)), Coverage::Ptx((12, 0))); // JIT from compute_120
        assert_eq!(b.covers((11, 0)), Coverage::None); // Thor: below the PTX
        assert_eq!(coverage(&[(7, 2)], &[], (7, 2)), Coverage::Sass((7, 2)));
        assert_eq!(coverage(&[(7, 0)], &[], (7, 2)), Coverage::None);
    }

    #[test]
    fn arch_lists_parse_from_get_arch_list_output() {
        let (s, p) = parse_arch_list(
            "['sm_75', 'sm_80', 'sm_86', 'sm_90', 'sm_100', 'sm_120', 'compute_120']",
        );
        assert_eq!(s, SM_75_TO_120);
        assert_eq!(p, vec![(12, 0)]);
        let (s, p) = parse_arch_list("sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90");
        assert_eq!(s, SM_50_TO_90);
        assert!(p.is_empty());
        assert_eq!(
            find("2.7.0", (12, 8)).unwrap().arch_list(),
            "sm_75 sm_80 sm_86 sm_90 sm_100 sm_120 compute_120"
        );
    }

    #[test]
    fn tags_in_the_official_scheme_parse() {
        assert_eq!(
            parse_tag("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"),
            Some(Tag {
                pytorch: "2.6.0".into(),
                cuda: (12, 4),
                cudnn: 9,
                variant: Variant::Runtime
            })
        );
        let t = parse_tag("127.0.0.1:5000/team/pytorch:2.5.1-cuda12.1-cudnn9-devel@sha256:abc")
            .unwrap();
        assert_eq!(
            (t.pytorch.as_str(), t.cuda, t.variant),
            ("2.5.1", (12, 1), Variant::Devel)
        );
        for bad in [
            "pytorch/pytorch",
            "pytorch/pytorch:latest",
            "127.0.0.1:5000/pytorch",
            "pytorch/pytorch:2.6.0-cuda12.4-cudnn9",
            "pytorch/pytorch:2.6-cuda12.4-cudnn9-runtime",
            "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime-extra",
            "nvcr.io/nvidia/pytorch:24.05-py3",
        ] {
            assert_eq!(parse_tag(bad), None, "{bad}");
        }
    }

    #[test]
    fn architecture_names_follow_nvidia() {
        assert_eq!(arch_name((12, 0)), "Blackwell");
        assert_eq!(arch_name((8, 9)), "Ada Lovelace");
        assert_eq!(arch_name((8, 6)), "Ampere");
        assert_eq!(arch_name((7, 5)), "Turing");
        assert_eq!(arch_name((9, 0)), "Hopper");
    }
}
