//! NVIDIA driver versions: parsed once, ordered part by part, and the CUDA version each
//! driver branch supports (docs/compatibility.md §4).

use super::*;

/// An NVIDIA driver version such as `550.54.15` or `570.26`, compared part by part (a missing
/// part is 0, so `570.26` = `570.26.0` < `570.26.1`), shown as written (`535.104.05` keeps its
/// zero). Serialized as that text, so the agent's facts and `ptenv.lock` carry the version as
/// `nvidia-smi` shows it; text that is not a version is refused when read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
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

impl TryFrom<String> for DriverVersion {
    type Error = String;

    fn try_from(text: String) -> std::result::Result<Self, String> {
        DriverVersion::parse(&text)
            .ok_or_else(|| format!("`{text}` is not an NVIDIA driver version"))
    }
}

impl From<DriverVersion> for String {
    fn from(d: DriverVersion) -> String {
        d.text
    }
}

impl fmt::Display for DriverVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `driver("550.54.15")` for the constants below; they are checked by a unit test.
pub fn driver(text: &str) -> DriverVersion {
    DriverVersion::parse(text).unwrap_or_else(|| panic!("`{text}` is not a driver version"))
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn driver_versions_travel_as_the_text_nvidia_smi_shows() {
        let d = driver("535.104.05");
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"535.104.05\"");
        let back: DriverVersion = serde_json::from_str("\"535.104.05\"").unwrap();
        assert_eq!(back.as_str(), "535.104.05");
        let err = serde_json::from_str::<DriverVersion>("\"R535\"").unwrap_err();
        assert!(
            err.to_string().contains("not an NVIDIA driver version"),
            "{err}"
        );
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
}
