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

use std::cmp::Ordering;
use std::fmt;

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::profile::Variant;

/// A compute capability, `(major, minor)`: 8.6 is `(8, 6)`.
pub type Cc = (u32, u32);

/// How PyTorch's release matrix labels a CUDA line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    pub status: Status,
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
const DATA: &str = include_str!("../catalog/pytorch.yaml");

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
    status: Status,
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

/// The oldest driver a CUDA major family runs on under minor-version compatibility (release
/// notes Table 2, docs/compatibility.md §4.1); used for pinned images that are not in [`LINES`].
pub const FAMILY_FLOORS: &[(u32, &str)] = &[(11, "450.80.02"), (12, "525.60.13"), (13, "580")];

/// "CUDA Toolkit and Corresponding Driver Versions", Linux x86_64 (release notes Table 3,
/// docs/compatibility.md §4.2): the GA driver of each toolkit. A driver supports the CUDA
/// version of the newest row it reaches; this is how `--driver` overrides get their CUDA
/// version (§5: each driver branch reports one CUDA version).
pub const TOOLKIT_DRIVERS: &[((u32, u32), &str)] = &[
    ((11, 7), "515.43.04"),
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
    ((13, 2), "595.45.04"),
];

/// The CUDA version a driver supports (what `nvidia-smi` shows as "CUDA Version"), derived from
/// [`TOOLKIT_DRIVERS`]. `None` below 515.43.04, whose CUDA is older than any line ptenv knows.
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

    const SM_50_TO_90: &[Cc] = &[(5, 0), (6, 0), (7, 0), (7, 5), (8, 0), (8, 6), (9, 0)];
    const SM_75_TO_120: &[Cc] = &[(7, 5), (8, 0), (8, 6), (9, 0), (10, 0), (12, 0)];

    #[test]
    fn every_driver_constant_parses_and_floors_are_below_full_feature() {
        for l in LINES.iter() {
            assert!(l.floor() <= l.full_feature(), "{}", l.tag(Variant::Runtime));
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

    /// What breaks the invariants of `catalog/pytorch.yaml` in `lines`, one sentence each.
    fn violations(lines: &[Line]) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut minors = std::collections::HashMap::new();
        for l in lines {
            let tag = l.tag(Variant::Runtime);
            let mut bad = |why: String| out.push(format!("{tag}: {why}"));
            // Tags well-formed: each parses back to the row it came from, once.
            for v in &l.variants {
                let back = parse_tag(&format!("pytorch/pytorch:{}", l.tag(*v)))
                    .map(|t| (t.pytorch, t.cuda, t.cudnn, t.variant));
                if back != Some((l.pytorch.clone(), l.cuda, l.cudnn, *v)) {
                    bad(format!("the {v} tag does not parse back"));
                }
            }
            if !seen.insert(tag.clone()) {
                bad("listed twice".into());
            }
            if !l.variants.contains(&Variant::Runtime)
                || !l.arm64_variants.iter().all(|a| l.variants.contains(a))
            {
                bad("variants: runtime always, arm64 ones among them".into());
            }
            // One patch release per minor, so `2.7` names one set of lines.
            let first = minors
                .entry(l.pytorch_minor().to_string())
                .or_insert(l.pytorch.clone());
            if *first != l.pytorch {
                bad(format!("a second patch release of {first}"));
            }
            // Arch lists sorted, without duplicates.
            for list in [&l.sass, &l.ptx] {
                if !list.windows(2).all(|w| w[0] < w[1]) {
                    bad(format!("{list:?} is not sorted or has duplicates"));
                }
            }
            if l.sass.is_empty() {
                bad("no SASS".into());
            }
            // Driver floors equal per CUDA major family (release notes Table 2).
            if family_floor(l.cuda.0) != Some(l.floor()) {
                bad(format!("floor {} is not its family's", l.driver_floor));
            }
            // The full-feature driver is the Table 3 GA driver of the line's CUDA version.
            let ga = TOOLKIT_DRIVERS
                .iter()
                .find(|(c, _)| *c == l.cuda)
                .map(|(_, d)| driver(d));
            if ga != Some(l.full_feature()) || cuda_for_driver(&l.full_feature()) != Some(l.cuda) {
                bad(format!(
                    "full-feature driver {} is not the GA driver of CUDA {}",
                    l.full_feature_driver,
                    l.cuda_str()
                ));
            }
            // cuDNN 8 up to 2.3, 9 from 2.4 on.
            let cudnn = if release_key(&l.pytorch) < vec![2, 4] {
                8
            } else {
                9
            };
            if l.cudnn != cudnn {
                bad(format!(
                    "cudnn{} where the release has cudnn{cudnn}",
                    l.cudnn
                ));
            }
            // Every row cites its sources: PyTorch's release matrix and the CUDA release notes.
            if !(l.source.contains("RM") && l.source.contains("NV")) {
                bad(format!("source `{}` cites no RM and NV", l.source));
            }
            if l.unverified.as_deref().is_some_and(|u| u.trim().is_empty()) {
                bad("an empty `unverified`".into());
            }
        }
        // Exactly one line per release is PyPI's default.
        let mut releases: Vec<&str> = lines.iter().map(|l| l.pytorch.as_str()).collect();
        releases.dedup();
        for r in releases {
            let n = lines
                .iter()
                .filter(|l| l.pytorch == r && l.pypi_default)
                .count();
            if n != 1 {
                out.push(format!("{r}: {n} PyPI default lines"));
            }
        }
        out
    }

    #[test]
    fn the_data_file_keeps_its_invariants() {
        let lines = parse_catalog(DATA).unwrap();
        assert_eq!(lines, *LINES);
        assert_eq!(violations(&lines), Vec::<String>::new());
        // Each invariant catches its breach.
        type Break = fn(&mut Vec<Line>);
        let breaks: [(&str, Break); 8] = [
            ("not sorted", |c| c[0].sass.reverse()),
            ("not sorted", |c| {
                let s = c[0].sass[0];
                c[0].sass.insert(0, s)
            }),
            ("not its family's", |c| {
                c[0].driver_floor = "525.60.13".into()
            }),
            ("not the GA driver", |c| {
                c[0].full_feature_driver = "570.26".into()
            }),
            ("cites no RM and NV", |c| c[0].source = "a blog".into()),
            ("listed twice", |c| {
                let l = c[0].clone();
                c.push(l)
            }),
            ("a second patch release", |c| {
                let mut l = c[0].clone();
                l.pytorch = "2.0.0".into();
                c.insert(1, l)
            }),
            ("PyPI default lines", |c| c[0].pypi_default = false),
        ];
        for (says, make) in breaks {
            let mut broken = lines.clone();
            make(&mut broken);
            let v = violations(&broken);
            assert!(v.iter().any(|x| x.contains(says)), "{says}: {v:?}");
        }
    }

    #[test]
    fn malformed_rows_are_refused() {
        let good = "releases:\n  - pytorch: 2.9.1\n    lines:\n      - cuda: \"12.8\"\n        cudnn: 9\n        status: stable\n        pypi_default: true\n        sass: [sm_70, sm_120]\n        ptx: []\n        arch_verified: false\n        driver_floor: 525.60.13\n        full_feature_driver: \"570.26\"\n        variants: [runtime]\n        arm64_variants: []\n        source: RM; NV\n";
        let l = parse_catalog(good).unwrap();
        assert_eq!(l[0].sass, vec![(7, 0), (12, 0)]);
        for (from, to, says) in [
            ("sm_120", "sm_12x", "not sm_XY"),
            ("sm_70", "compute_70", "not sm_XY"),
            ("\"12.8\"", "\"12\"", "must be like"),
            ("2.9.1", "2.9", "not a release"),
            ("525.60.13", "r525", "not a driver"),
            ("        source: RM; NV\n", "", "missing field `source`"),
            ("stable", "beta", "unknown variant"),
        ] {
            let e = parse_catalog(&good.replacen(from, to, 1)).unwrap_err();
            assert!(e.contains(says), "{from} → {to}: {e}");
        }
    }

    #[test]
    fn the_catalog_has_every_release_from_2_0_on() {
        let tags: Vec<String> = LINES.iter().map(|l| l.tag(Variant::Runtime)).collect();
        for t in [
            "2.6.0-cuda11.8-cudnn9-runtime",
            "2.6.0-cuda12.4-cudnn9-runtime",
            "2.6.0-cuda12.6-cudnn9-runtime",
            "2.7.0-cuda11.8-cudnn9-runtime",
            "2.7.0-cuda12.6-cudnn9-runtime",
            "2.7.0-cuda12.8-cudnn9-runtime",
            "2.0.1-cuda11.7-cudnn8-runtime",
            "2.8.0-cuda12.8-cudnn9-runtime",
            "2.14.0-cuda13.2-cudnn9-runtime",
        ] {
            assert!(tags.contains(&t.to_string()), "{t}");
        }
        // No 12.1 / cuDNN 8 myth for 2.6 (fact sheet §0).
        assert!(find("2.6.0", (12, 1)).is_none());
        assert_eq!(lines_for("2.6").len(), 3);
        assert_eq!(lines_for("2.7.0").len(), 3);
        assert_eq!(lines_for("2.1").len(), 2);
        assert!(lines_for("1.13").is_empty());
        assert!(
            lines_for("2.1.0").is_empty(),
            "tags of the newest patch only"
        );
        let r = releases();
        assert_eq!(r.first(), Some(&"2.0.1"));
        assert_eq!(r.last(), Some(&"2.14.0"));
        assert_eq!(r.len(), 15);
        assert!(r.windows(2).all(|w| release_key(w[0]) < release_key(w[1])));
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
