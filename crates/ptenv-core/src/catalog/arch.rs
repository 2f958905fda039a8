//! GPU code: compute capabilities, their `sm_` names and architectures, and whether a build's
//! SASS or PTX covers a GPU (docs/compatibility.md §2, §6).

use super::*;

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
pub(super) const TEGRA: &[Cc] = &[(7, 2), (8, 7)];

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

#[cfg(test)]
mod tests {
    use super::*;

    const SM_50_TO_90: &[Cc] = &[(5, 0), (6, 0), (7, 0), (7, 5), (8, 0), (8, 6), (9, 0)];
    const SM_75_TO_120: &[Cc] = &[(7, 5), (8, 0), (8, 6), (9, 0), (10, 0), (12, 0)];

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
    fn architecture_names_follow_nvidia() {
        assert_eq!(arch_name((12, 0)), "Blackwell");
        assert_eq!(arch_name((8, 9)), "Ada Lovelace");
        assert_eq!(arch_name((8, 6)), "Ampere");
        assert_eq!(arch_name((7, 5)), "Turing");
        assert_eq!(arch_name((9, 0)), "Hopper");
    }
}
