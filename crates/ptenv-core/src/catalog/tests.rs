use super::*;

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
