use super::*;
use crate::catalog::Cc;
use crate::profile::{Layer, Sources, Version};

/// A host seen through NVML: `driver` and one GPU per compute capability.
pub(crate) fn host(driver: Option<&str>, ccs: &[Cc]) -> HostFacts {
    HostFacts {
        driver: driver.and_then(DriverVersion::parse),
        cuda_driver: driver
            .and_then(DriverVersion::parse)
            .and_then(|d| catalog::cuda_for_driver(&d)),
        gpus: ccs
            .iter()
            .enumerate()
            .map(|(i, cc)| Gpu {
                index: i as u32,
                name: format!("NVIDIA Test GPU {}.{}", cc.0, cc.1),
                uuid: format!("GPU-{i}"),
                cc: *cc,
                memory_bytes: 1 << 30,
                arch: None,
            })
            .collect(),
        source: if driver.is_some() {
            Source::Nvml
        } else {
            Source::None
        },
        problems: Vec::new(),
        machine: "x86_64".into(),
    }
}

pub(crate) struct Want {
    pytorch: &'static str,
    variant: Variant,
    cuda: Option<&'static str>,
    image: Option<&'static str>,
    gpus: Option<Gpus>,
}

pub(crate) fn want(pytorch: &'static str) -> Want {
    Want {
        pytorch,
        variant: Variant::Runtime,
        cuda: None,
        image: None,
        gpus: None,
    }
}

impl Want {
    pub(crate) fn devel(mut self) -> Want {
        self.variant = Variant::Devel;
        self
    }
    pub(crate) fn cuda(mut self, c: &'static str) -> Want {
        self.cuda = Some(c);
        self
    }
    pub(crate) fn image(mut self, i: &'static str) -> Want {
        self.image = Some(i);
        self
    }
    pub(crate) fn gpus(mut self, g: &str) -> Want {
        self.gpus = Some(Gpus::parse(g).unwrap());
        self
    }
    pub(crate) fn profile(&self) -> Profile {
        let layer = Layer {
            pytorch: Some(Version(self.pytorch.into())),
            variant: Some(self.variant),
            cuda: self.cuda.map(|c| Version(c.into())),
            image: self.image.map(str::to_string),
            gpus: self.gpus.clone(),
            ..Layer::default()
        };
        Sources::default().resolve("jupyter", &layer).unwrap()
    }
}

/// What a scenario must give: the tag (or the whole pinned image) and whether GPUs are
/// requested, or an error containing every given phrase.
enum Expect {
    Image(&'static str, bool),
    Fails(&'static [&'static str]),
}
use Expect::*;

pub(crate) const RTX_5090: Cc = (12, 0);

/// The scenario table: GPUs of docs/compatibility.md §6, mixed GPUs, drivers at and below
/// every threshold, runtime and devel, CPU only, pinned lines.
fn scenarios() -> Vec<(&'static str, Want, HostFacts, Expect)> {
    vec![
        // f: no driver or no GPU → CPU, chosen as for a host without GPU constraints.
        (
            "no driver, 2.6",
            want("2.6"),
            host(None, &[]),
            Image("2.6.0-cuda12.4-cudnn9-runtime", false),
        ),
        (
            "no driver, 2.7",
            want("2.7"),
            host(None, &[]),
            Image("2.7.0-cuda12.6-cudnn9-runtime", false),
        ),
        (
            "no driver, devel",
            want("2.6").devel(),
            host(None, &[]),
            Image("2.6.0-cuda12.4-cudnn9-devel", false),
        ),
        (
            "driver without GPUs",
            want("2.7"),
            host(Some("570.124.06"), &[]),
            Image("2.7.0-cuda12.6-cudnn9-runtime", false),
        ),
        (
            "gpus: none",
            want("2.6").gpus("none"),
            host(Some("550.54.15"), &[RTX_5090]),
            Image("2.6.0-cuda12.4-cudnn9-runtime", false),
        ),
        (
            "no driver, old driver irrelevant on CPU",
            want("2.6").gpus("none"),
            host(Some("440.33.01"), &[(8, 6)]),
            Image("2.6.0-cuda12.4-cudnn9-runtime", false),
        ),
        // §6, one GPU each.
        (
            "K80 on 2.6",
            want("2.6"),
            host(Some("470.256.02"), &[(3, 7)]),
            Image("2.6.0-cuda11.8-cudnn9-runtime", true),
        ),
        (
            "K80 on 2.7",
            want("2.7"),
            host(Some("470.256.02"), &[(3, 7)]),
            Image("2.7.0-cuda11.8-cudnn9-runtime", true),
        ),
        (
            "P100 on 2.6",
            want("2.6"),
            host(Some("550.54.15"), &[(6, 0)]),
            Image("2.6.0-cuda12.4-cudnn9-runtime", true),
        ),
        (
            "GTX 1080 on 2.7",
            want("2.7"),
            host(Some("570.124.06"), &[(6, 1)]),
            Image("2.7.0-cuda12.6-cudnn9-runtime", true),
        ),
        (
            "V100 on 2.7",
            want("2.7"),
            host(Some("570.124.06"), &[(7, 0)]),
            Image("2.7.0-cuda12.6-cudnn9-runtime", true),
        ),
        (
            "T4 on 2.6",
            want("2.6"),
            host(Some("535.104.05"), &[(7, 5)]),
            Image("2.6.0-cuda12.4-cudnn9-runtime", true),
        ),
        (
            "T4 on 2.7",
            want("2.7"),
            host(Some("570.124.06"), &[(7, 5)]),
            Image("2.7.0-cuda12.6-cudnn9-runtime", true),
        ),
        (
            "A100 on 2.6",
            want("2.6"),
            host(Some("550.54.15"), &[(8, 0)]),
            Image("2.6.0-cuda12.4-cudnn9-runtime", true),
        ),
        (
            "RTX 3090 on 2.7",
            want("2.7"),
            host(Some("560.35.05"), &[(8, 6)]),
            Image("2.7.0-cuda12.6-cudnn9-runtime", true),
        ),
        (
            "RTX 4090 on 2.6 via sm_86",
            want("2.6"),
            host(Some("550.54.15"), &[(8, 9)]),
            Image("2.6.0-cuda12.4-cudnn9-runtime", true),
        ),
        (
            "H100 on 2.7",
            want("2.7"),
            host(Some("570.124.06"), &[(9, 0)]),
            Image("2.7.0-cuda12.6-cudnn9-runtime", true),
        ),
        (
            "B200 on 2.6",
            want("2.6"),
            host(Some("570.124.06"), &[(10, 0)]),
            Fails(&[
                "Blackwell",
                "up to Hopper (9.0)",
                "2.7.0-cuda12.8-cudnn9-runtime",
                "--pytorch 2.7",
                "pytorch: \"2.7\"",
            ]),
        ),
        (
            "B200 on 2.7",
            want("2.7"),
            host(Some("570.124.06"), &[(10, 0)]),
            Image("2.7.0-cuda12.8-cudnn9-runtime", true),
        ),
        (
            "RTX 5090 on 2.6",
            want("2.6"),
            host(Some("570.124.06"), &[RTX_5090]),
            Fails(&[
                "compute capability 12.0",
                "no kernel image",
                "2.7.0-cuda12.8-cudnn9-runtime",
                "--gpus none",
            ]),
        ),
        (
            "RTX 5090 on 2.7",
            want("2.7"),
            host(Some("570.124.06"), &[RTX_5090]),
            Image("2.7.0-cuda12.8-cudnn9-runtime", true),
        ),
        (
            "RTX 5090 on 2.7, R550 (observed to work)",
            want("2.7"),
            host(Some("550.127.08"), &[RTX_5090]),
            Image("2.7.0-cuda12.8-cudnn9-runtime", true),
        ),
        (
            "GB10 on 2.7",
            want("2.7"),
            host(Some("580.95.05"), &[(12, 1)]),
            Image("2.7.0-cuda12.8-cudnn9-runtime", true),
        ),
        (
            "Jetson Orin",
            want("2.7"),
            host(Some("540.4.0"), &[(8, 7)]),
            Fails(&["Jetson", "image:"]),
        ),
        (
            "Kepler K40 is too old",
            want("2.6"),
            host(Some("470.256.02"), &[(3, 5)]),
            Fails(&["too old", "no PyTorch image from 2.0.1 to 2.14.0 supports"]),
        ),
        // Mixed GPUs.
        (
            "3090 + 5090 on 2.7",
            want("2.7"),
            host(Some("570.124.06"), &[(8, 6), RTX_5090]),
            Image("2.7.0-cuda12.8-cudnn9-runtime", true),
        ),
        (
            "3090 + 5090 on 2.6",
            want("2.6"),
            host(Some("570.124.06"), &[(8, 6), RTX_5090]),
            Fails(&["--pytorch 2.7", "--gpus device=0"]),
        ),
        (
            "V100 + 5090 on 2.7",
            want("2.7"),
            host(Some("570.124.06"), &[(7, 0), RTX_5090]),
            Fails(&[
                "no single PyTorch 2.7 image",
                "--gpus device=0 --cuda 12.6",
                "--gpus device=1 --cuda 12.8",
            ]),
        ),
        (
            "only GPU 0 of 3090 + 5090",
            want("2.6").gpus("device=0"),
            host(Some("570.124.06"), &[(8, 6), RTX_5090]),
            Image("2.6.0-cuda12.4-cudnn9-runtime", true),
        ),
        (
            "only GPU 1 of 3090 + 5090",
            want("2.6").gpus("device=1"),
            host(Some("570.124.06"), &[(8, 6), RTX_5090]),
            Fails(&["compute capability 12.0"]),
        ),
        (
            "GPU by UUID",
            want("2.7").gpus("GPU-1"),
            host(Some("570.124.06"), &[(7, 0), RTX_5090]),
            Image("2.7.0-cuda12.8-cudnn9-runtime", true),
        ),
        (
            "a GPU that is not there",
            want("2.6").gpus("device=0,7"),
            host(Some("550.54.15"), &[(8, 6)]),
            Fails(&["`7`", "not on this machine", "GPU 0"]),
        ),
        (
            "listed GPUs but no driver",
            want("2.6").gpus("device=0"),
            host(None, &[]),
            Fails(&["asks for GPU 0", "no NVIDIA driver", "--gpus none"]),
        ),
        // c: runtime floors, at and just below.
        (
            "cu12x floor",
            want("2.6"),
            host(Some("525.60.13"), &[(8, 6)]),
            Image("2.6.0-cuda12.4-cudnn9-runtime", true),
        ),
        (
            "just below the cu12x floor",
            want("2.6"),
            host(Some("525.60.12"), &[(8, 6)]),
            Image("2.6.0-cuda11.8-cudnn9-runtime", true),
        ),
        (
            "cu11x floor",
            want("2.7"),
            host(Some("450.80.02"), &[(8, 0)]),
            Image("2.7.0-cuda11.8-cudnn9-runtime", true),
        ),
        (
            "just below every floor",
            want("2.7"),
            host(Some("450.80.01"), &[(8, 0)]),
            Fails(&[
                "driver 450.80.01 is too old",
                "450.80.02 or newer",
                "525.60.13 or newer",
                "--gpus none",
            ]),
        ),
        (
            "Blackwell just below the cu12x floor",
            want("2.7"),
            host(Some("525.60.12"), &[RTX_5090]),
            Fails(&["too old", "525.60.13"]),
        ),
        // c: devel needs the driver's own CUDA version.
        (
            "devel on R535 (CUDA 12.2)",
            want("2.6").devel(),
            host(Some("535.104.05"), &[(8, 6)]),
            Image("2.6.0-cuda11.8-cudnn9-devel", true),
        ),
        (
            "devel at 12.4 GA",
            want("2.6").devel(),
            host(Some("550.54.14"), &[(8, 6)]),
            Image("2.6.0-cuda12.4-cudnn9-devel", true),
        ),
        (
            "devel just below 12.4",
            want("2.6").devel(),
            host(Some("545.29.06"), &[(8, 6)]),
            Image("2.6.0-cuda11.8-cudnn9-devel", true),
        ),
        (
            "devel 2.7 at 12.6 GA",
            want("2.7").devel(),
            host(Some("560.28.03"), &[(8, 6)]),
            Image("2.7.0-cuda12.6-cudnn9-devel", true),
        ),
        (
            "devel 2.7 just below 12.6",
            want("2.7").devel(),
            host(Some("555.58.02"), &[(8, 6)]),
            Image("2.7.0-cuda11.8-cudnn9-devel", true),
        ),
        (
            "devel below 11.8",
            want("2.6").devel(),
            host(Some("515.105.01"), &[(8, 6)]),
            Fails(&[
                "too old",
                "NVIDIA_REQUIRE_CUDA",
                "--variant runtime",
                "520.61.05",
            ]),
        ),
        (
            "devel 5090 on R560",
            want("2.7").devel(),
            host(Some("560.35.05"), &[RTX_5090]),
            Fails(&["12.8", "570.26", "--variant runtime"]),
        ),
        (
            "devel 5090 on R570",
            want("2.7").devel(),
            host(Some("570.124.06"), &[RTX_5090]),
            Image("2.7.0-cuda12.8-cudnn9-devel", true),
        ),
        // a: pins.
        (
            "pinned cuda 11.8",
            want("2.6").cuda("11.8"),
            host(Some("550.54.15"), &[(8, 6)]),
            Image("2.6.0-cuda11.8-cudnn9-runtime", true),
        ),
        (
            "pinned experimental cuda",
            want("2.6").cuda("12.6"),
            host(Some("560.35.05"), &[(8, 6)]),
            Image("2.6.0-cuda12.6-cudnn9-runtime", true),
        ),
        (
            "pinned cuda that cannot run wins, warned",
            want("2.6").cuda("12.4"),
            host(Some("570.124.06"), &[RTX_5090]),
            Image("2.6.0-cuda12.4-cudnn9-runtime", true),
        ),
        (
            "pinned cuda that does not exist",
            want("2.6").cuda("12.1"),
            host(Some("550.54.15"), &[(8, 6)]),
            Fails(&["no CUDA 12.1 image", "11.8, 12.4, 12.6"]),
        ),
        (
            "pinned image",
            want("2.6").image("pytorch/pytorch:2.7.0-cuda12.8-cudnn9-runtime"),
            host(Some("570.124.06"), &[RTX_5090]),
            Image("pytorch/pytorch:2.7.0-cuda12.8-cudnn9-runtime", true),
        ),
        (
            "pinned image that cannot run wins, warned",
            want("2.6").image("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"),
            host(Some("570.124.06"), &[RTX_5090]),
            Image("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime", true),
        ),
        (
            "pinned image outside the catalog",
            want("2.6").image("pytorch/pytorch:2.5.1-cuda12.6-cudnn9-runtime"),
            host(Some("550.54.15"), &[(8, 6)]),
            Image("pytorch/pytorch:2.5.1-cuda12.6-cudnn9-runtime", true),
        ),
        (
            "pinned image of another scheme",
            want("2.6").image("nvcr.io/nvidia/pytorch:24.05-py3"),
            host(Some("550.54.15"), &[(8, 6)]),
            Image("nvcr.io/nvidia/pytorch:24.05-py3", true),
        ),
        (
            "pinned image on CPU",
            want("2.6").image("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"),
            host(None, &[]),
            Image("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime", false),
        ),
        (
            "unknown release",
            want("1.13"),
            host(Some("550.54.15"), &[(8, 6)]),
            Fails(&["2.0.1 to 2.14.0, not 1.13", "--pytorch 2.14"]),
        ),
        (
            "exact release",
            want("2.7.0"),
            host(None, &[]),
            Image("2.7.0-cuda12.6-cudnn9-runtime", false),
        ),
    ]
}

#[test]
fn the_scenario_table() {
    let mut failed = Vec::new();
    for (name, w, facts, expect) in scenarios() {
        let profile = w.profile();
        let got = choose(&profile, &facts);
        let ok = match (&expect, &got) {
            (Image(tag, gpu), Ok(c)) => {
                let image = if tag.contains('/') {
                    tag.to_string()
                } else {
                    format!("pytorch/pytorch:{tag}")
                };
                c.image == image && c.gpu == *gpu
            }
            (Fails(phrases), Err(e)) => {
                let e = crate::error::Error::from(e.clone());
                let text = e.to_string();
                e.code == crate::error::EXIT_FAILURE && phrases.iter().all(|p| text.contains(p))
            }
            _ => false,
        };
        if !ok {
            failed.push(format!("{name}: got {got:#?}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} scenarios failed:\n{}",
        failed.len(),
        failed.join("\n\n")
    );
}

/// Every GPU generation from Maxwell to Blackwell × drivers from R450 to R580 × PyTorch
/// 2.6, 2.7, 2.8 and `latest`: the release and CUDA line chosen ("-": refused), as the
/// rules of `catalog/pytorch.yaml` give them. Runtime images: stable before experimental,
/// then PyPI's line, then the newest CUDA; floors 450.80.02 (11.x), 525.60.13 (12.x), 580
/// (13.x).
#[test]
fn generations_by_drivers_by_releases() {
    const DRIVERS: [&str; 9] = [
        "450.80.02",
        "470.256.02",
        "525.60.13",
        "535.104.05",
        "550.54.14",
        "560.35.05",
        "570.124.06",
        "575.57.08",
        "580.95.05",
    ];
    let old = ["2.6.0/11.8", "2.7.0/11.8", "2.8.0/-"];
    let row = |first: &[&'static str], rest: &'static str, last: &'static str| {
        let mut r: Vec<&'static str> = first.to_vec();
        r.resize(8, rest);
        r.push(last);
        r
    };
    // (GPU, [2.6, 2.7, 2.8, latest] each over DRIVERS)
    let maxwell_to_volta = |sm: Cc| {
        (
            sm,
            [
                row(&[old[0], old[0]], "2.6.0/12.4", "2.6.0/12.4"),
                row(&[old[1], old[1]], "2.7.0/12.6", "2.7.0/12.6"),
                row(
                    &["-", "-"],
                    if sm == (7, 0) {
                        "2.8.0/12.8"
                    } else {
                        "2.8.0/12.6"
                    },
                    if sm == (7, 0) {
                        "2.8.0/12.8"
                    } else {
                        "2.8.0/12.6"
                    },
                ),
                row(&[old[1], old[1]], "2.14.0/12.6", "2.14.0/12.6"),
            ],
        )
    };
    let turing_to_hopper = |sm: Cc| {
        (
            sm,
            [
                row(&[old[0], old[0]], "2.6.0/12.4", "2.6.0/12.4"),
                row(&[old[1], old[1]], "2.7.0/12.6", "2.7.0/12.6"),
                row(&["-", "-"], "2.8.0/12.8", "2.8.0/12.8"),
                row(&[old[1], old[1]], "2.14.0/12.6", "2.14.0/13.0"),
            ],
        )
    };
    let blackwell = |sm: Cc| {
        (
            sm,
            [
                row(&["-", "-"], "-", "-"),
                row(&["-", "-"], "2.7.0/12.8", "2.7.0/12.8"),
                row(&["-", "-"], "2.8.0/12.8", "2.8.0/12.8"),
                row(&["-", "-"], "2.11.0/12.8", "2.14.0/13.0"),
            ],
        )
    };
    let table = [
        maxwell_to_volta((5, 2)),
        maxwell_to_volta((6, 1)),
        maxwell_to_volta((7, 0)),
        turing_to_hopper((7, 5)),
        turing_to_hopper((8, 6)),
        turing_to_hopper((8, 9)),
        turing_to_hopper((9, 0)),
        blackwell((10, 0)),
        blackwell((12, 0)),
    ];
    let mut failed = Vec::new();
    for (cc, per_release) in &table {
        for (pytorch, expected) in ["2.6", "2.7", "2.8", "latest"].iter().zip(per_release) {
            for (driver, want) in DRIVERS.iter().zip(expected) {
                let got = match choose(&want_of(pytorch).profile(), &host(Some(driver), &[*cc])) {
                    Ok(c) => format!("{}/{}", c.pytorch, c.cuda.unwrap_or_default()),
                    Err(_) => "-".to_string(),
                };
                let want = if want.ends_with("/-") { "-" } else { want };
                if got != want {
                    failed.push(format!("{cc:?} {pytorch} {driver}: want {want}, got {got}"));
                }
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

fn want_of(pytorch: &str) -> Want {
    want(Box::leak(pytorch.to_string().into_boxed_str()))
}

#[test]
fn latest_says_why_newer_releases_were_passed_over() {
    // A K80 keeps its code only in the CUDA 11.8 lines, last built for 2.7.
    let c = pick(want("latest"), host(Some("470.256.02"), &[(3, 7)]));
    assert_eq!(c.image, "pytorch/pytorch:2.7.0-cuda11.8-cudnn9-runtime");
    assert!(
        has(
            &c.reasons,
            "newest PyTorch release with an image that runs here: 2.7.0"
        ),
        "{c:#?}"
    );
    assert!(has(&c.reasons, "PyTorch 2.8.0 to 2.14.0: no GPU code for your Test GPU 3.7 (Kepler, compute capability 3.7)"), "{c:#?}");
    // A Pascal GPU on R470: the 12.x lines that still have sm_60 need R525.
    let c = pick(want("latest"), host(Some("470.256.02"), &[(6, 1)]));
    assert_eq!(c.pytorch, "2.7.0");
    assert!(has(&c.reasons, "PyTorch 2.8.0 to 2.14.0: their runtime images with code for your GPUs need a newer NVIDIA driver than 470.256.02"), "{c:#?}");
    // On R525 it gets 2.14's CUDA 12.6 line; the CUDA 13 lines have no Pascal code.
    let c = pick(want("latest"), host(Some("535.104.05"), &[(6, 1)]));
    assert_eq!(c.image, "pytorch/pytorch:2.14.0-cuda12.6-cudnn9-runtime");
    assert!(has(&c.reasons, "the newest release ptenv knows"), "{c:#?}");
    assert!(
        c.rejected.iter().any(
            |r| r.image.contains("cuda13.0") && r.reasons[0].contains("compute capability 6.1")
        ),
        "{c:#?}"
    );
    // Blackwell on R570: 2.12 on have only CUDA 13 lines (R580) for it.
    let c = pick(want("latest"), host(Some("570.124.06"), &[(12, 0)]));
    assert_eq!(c.image, "pytorch/pytorch:2.11.0-cuda12.8-cudnn9-runtime");
    assert!(
        has(&c.reasons, "PyTorch 2.12.1 to 2.14.0: their runtime images"),
        "{c:#?}"
    );
    // Without a GPU: the newest release, PyPI's line.
    let c = pick(want("latest"), host(None, &[]));
    assert_eq!(c.image, "pytorch/pytorch:2.14.0-cuda13.0-cudnn9-runtime");
    assert!(!c.gpu);
    // A pinned CUDA line narrows `latest` to the releases that have it.
    let c = pick(
        want("latest").cuda("11.8"),
        host(Some("580.95.05"), &[(8, 6)]),
    );
    assert_eq!(c.image, "pytorch/pytorch:2.7.0-cuda11.8-cudnn9-runtime");
    let e = choose(&want("latest").cuda("10.2").profile(), &host(None, &[])).unwrap_err();
    assert!(e.to_string().contains("has a CUDA 10.2 image"), "{e}");
    // Nothing runs: the error of the newest release with code for the GPU.
    let e = choose(
        &want("latest").profile(),
        &host(Some("470.256.02"), &[(12, 0)]),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("too old for every PyTorch 2.14"),
        "{e}"
    );
}

fn pick(w: Want, facts: HostFacts) -> Choice {
    choose(&w.profile(), &facts).unwrap()
}

pub(crate) fn has(list: &[String], phrase: &str) -> bool {
    list.iter().any(|w| w.contains(phrase))
}

#[test]
fn below_the_full_feature_driver_warns_about_minor_version_compatibility() {
    for (pytorch, driver, ccs, warns) in [
        ("2.6", "550.54.15", &[(8, 6)][..], false),
        ("2.6", "550.54.14", &[(8, 6)][..], false),
        ("2.6", "545.23.08", &[(8, 6)][..], true),
        ("2.6", "535.104.05", &[(8, 6)][..], true),
        ("2.7", "560.35.05", &[(8, 6)][..], false),
        ("2.7", "560.35.03", &[(8, 6)][..], false),
        ("2.7", "555.42.06", &[(8, 6)][..], true),
        ("2.7", "570.26", &[RTX_5090][..], false),
        ("2.7", "565.57.01", &[RTX_5090][..], true),
        ("2.6", "520.61.05", &[(3, 7)][..], false),
        ("2.6", "520.56.06", &[(3, 7)][..], true),
    ] {
        let c = pick(want(pytorch), host(Some(driver), ccs));
        assert_eq!(
            has(&c.warnings, "minor-version compatibility"),
            warns,
            "{pytorch} {driver}: {c:#?}"
        );
        if warns {
            let full = &c.line.unwrap().full_feature_driver;
            assert!(
                has(&c.warnings, &format!("Update the driver to {full}")),
                "{c:#?}"
            );
        }
    }
}

/// The warning compares the CUDA version the driver supports (as NVML reports it) with
/// the image's CUDA major.minor: a toolkit update release (12.4.1) does not raise it.
#[test]
fn the_ga_driver_of_a_cuda_version_runs_its_images_without_a_warning() {
    // 550.54.14 is the CUDA 12.4 GA driver; NVML says 12.4; 2.6's cu124 image was built
    // with 12.4.1 (whose driver is 550.54.15).
    let c = pick(want("2.6"), host(Some("550.54.14"), &[(8, 6)]));
    assert_eq!(c.image, "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime");
    assert!(c.warnings.is_empty(), "{c:#?}");
    // The same for 12.6 (560.28.03 GA, 560.35.03 Update 1; 2.7's cu126 is 12.6.3).
    for d in ["560.28.03", "560.35.03"] {
        let c = pick(want("2.7"), host(Some(d), &[(8, 6)]));
        assert_eq!(c.image, "pytorch/pytorch:2.7.0-cuda12.6-cudnn9-runtime");
        assert!(c.warnings.is_empty(), "{d}: {c:#?}");
    }
    // What NVML reports is what counts: a driver reporting CUDA 12.4 runs cu124 images.
    let mut facts = host(Some("550.40.07"), &[(8, 6)]);
    facts.cuda_driver = Some((12, 4));
    let c = pick(want("2.6"), facts);
    assert!(c.warnings.is_empty(), "{c:#?}");
    // One minor version behind warns, naming the driver that supports the image's CUDA.
    let c = pick(want("2.6"), host(Some("545.23.08"), &[(8, 6)]));
    assert!(has(&c.warnings, "supports CUDA 12.3"), "{c:#?}");
    assert!(
        has(&c.warnings, "Update the driver to 550.54.14 or newer"),
        "{c:#?}"
    );
}

#[test]
fn the_cpu_is_said_clearly_and_requests_no_gpu() {
    let c = pick(want("2.6"), host(None, &[]));
    assert!(!c.gpu);
    assert!(c.gpus.is_empty());
    assert!(has(&c.reasons, "No NVIDIA driver was found"), "{c:#?}");
    assert!(has(&c.reasons, "runs on the CPU"), "{c:#?}");
    let c = pick(want("2.6").gpus("none"), host(Some("550.54.15"), &[(8, 6)]));
    assert!(has(&c.reasons, "`gpus: none`"));
}

#[test]
fn a_driver_whose_gpus_cannot_be_listed_runs_on_the_cpu_with_a_warning() {
    let mut facts = host(Some("550.54.15"), &[]);
    facts.source = Source::Sysfs;
    facts.problems = vec![
        "NVML: the NVIDIA driver library and the loaded kernel module are different versions"
            .into(),
    ];
    let c = pick(want("2.6"), facts);
    assert!(!c.gpu);
    assert!(has(&c.warnings, "could not be listed"), "{c:#?}");
    assert!(has(&c.warnings, "different versions"), "{c:#?}");
    assert!(has(&c.warnings, "ptenv doctor"));
}

#[test]
fn gpus_without_a_readable_driver_version_are_still_used() {
    let mut facts = host(Some("550.54.15"), &[(8, 6)]);
    facts.driver = None;
    facts.cuda_driver = None;
    let c = pick(want("2.6").devel(), facts);
    assert!(c.gpu);
    assert_eq!(c.image, "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-devel");
    assert!(has(&c.warnings, "could not be read"), "{c:#?}");
}

#[test]
fn a_planned_driver_without_gpus_checks_the_driver_only() {
    let facts = crate::gpu::from_overrides(Some("535.104.05"), &[]).unwrap();
    let c = pick(want("2.6").devel(), facts);
    assert!(c.gpu);
    assert_eq!(c.image, "pytorch/pytorch:2.6.0-cuda11.8-cudnn9-devel");
    assert!(has(&c.warnings, "no `--gpu` was given"));
    let facts = crate::gpu::from_overrides(Some("550.54.15"), &["12.0".into()]).unwrap();
    let c = pick(want("2.7"), facts);
    assert!(has(&c.warnings, "R570"), "{c:#?}");
}

#[test]
fn gpus_of_a_machine_out_of_reach_take_a_pinned_image_unchecked() {
    let mut facts = host(None, &[]);
    facts.source = Source::Unreachable;
    facts.problems = vec!["the GPUs of tcp://gpu-box:2376 (TLS) are unknown".into()];
    let e = choose(&want("2.6").profile(), &facts).unwrap_err();
    assert!(
        matches!(e, SelectError::GpusUnknown { some: false, .. }),
        "{e:?}"
    );
    assert!(
        e.message()
            .contains("asks for all GPUs, but the GPUs of tcp://gpu-box:2376 (TLS) are unknown"),
        "{e}"
    );
    assert!(
        has(&e.hints(), "ptenv select --driver VERSION --gpu CC"),
        "{e}"
    );
    let e = choose(&want("2.6").gpus("2").profile(), &facts).unwrap_err();
    assert!(e.message().contains("asks for GPUs"), "{e}");
    let c = pick(
        want("2.6").image("registry.lab/pytorch:cu124"),
        facts.clone(),
    );
    assert!(c.gpu, "the pinned image gets the GPU request: {c:#?}");
    assert_eq!(c.image, "registry.lab/pytorch:cu124");
    assert!(has(&c.warnings, "not checked"), "{c:#?}");
    let c = pick(want("2.6").gpus("none"), facts);
    assert!(!c.gpu);
}

#[test]
fn pins_win_but_are_warned_about() {
    let c = pick(
        want("2.6").cuda("12.4"),
        host(Some("570.124.06"), &[RTX_5090]),
    );
    assert_eq!(c.pinned, Some("cuda"));
    assert!(has(&c.warnings, "no kernel image"), "{c:#?}");
    let c = pick(
        want("2.6").image("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"),
        host(Some("570.124.06"), &[RTX_5090]),
    );
    assert_eq!(c.pinned, Some("image"));
    assert!(
        has(&c.warnings, "the pinned image has no GPU code"),
        "{c:#?}"
    );
    let c = pick(
        want("2.6").image("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-devel"),
        host(Some("535.104.05"), &[(8, 6)]),
    );
    assert_eq!(c.variant, Variant::Devel);
    assert!(has(&c.warnings, "NVIDIA_REQUIRE_CUDA"), "{c:#?}");
    let c = pick(
        want("2.6").image("pytorch/pytorch:2.5.1-cuda12.6-cudnn9-runtime"),
        host(Some("470.256.02"), &[(8, 6)]),
    );
    assert_eq!(
        (c.pytorch.as_str(), c.cuda.as_deref()),
        ("2.5.1", Some("12.6"))
    );
    assert!(has(&c.warnings, "does not list PyTorch 2.5.1"), "{c:#?}");
    assert!(has(&c.warnings, "525.60.13 or newer"), "{c:#?}");
    let c = pick(
        want("2.6").image("nvcr.io/nvidia/pytorch:24.05-py3"),
        host(Some("550.54.15"), &[(8, 6)]),
    );
    assert_eq!(c.pytorch, "unknown");
    assert_eq!(c.cuda, None);
    assert!(has(&c.warnings, "cannot check it"), "{c:#?}");
}

#[test]
fn reasons_explain_the_gpu_in_plain_words() {
    let c = pick(want("2.6"), host(Some("550.54.15"), &[(8, 9)]));
    assert!(has(&c.reasons, "compute capability 8.9"), "{c:#?}");
    assert!(
        has(&c.reasons, "later models of the same generation"),
        "{c:#?}"
    );
    assert!(has(&c.reasons, "pip install torch==2.6.0"), "{c:#?}");
    let c = pick(want("2.7"), host(Some("580.95.05"), &[(13, 0)]));
    assert!(has(&c.reasons, "PTX for 12.0"), "{c:#?}");
    let e = choose(
        &want("2.6").profile(),
        &host(Some("570.124.06"), &[RTX_5090]),
    )
    .unwrap_err();
    assert!(e.message().starts_with("Your Test GPU 12.0 (Blackwell, compute capability 12.0) needs GPU code built for its generation; PyTorch 2.6 images only contain code up to Hopper (9.0)"), "{e}");
}

#[test]
fn rejected_lines_say_why() {
    let c = pick(want("2.7"), host(Some("570.124.06"), &[RTX_5090]));
    assert_eq!(c.rejected.len(), 2);
    for r in &c.rejected {
        assert!(!r.fits);
        assert!(r.reasons[0].contains("no kernel image"), "{r:?}");
    }
    let c = pick(want("2.6"), host(Some("550.54.15"), &[(8, 6)]));
    assert!(c.rejected.iter().all(|r| r.fits));
}

#[test]
fn the_repository_comes_from_the_profile() {
    let mut p = want("2.6").profile();
    p.repository = "127.0.0.1:5000/pytorch/pytorch".into();
    let c = choose(&p, &host(None, &[])).unwrap();
    assert_eq!(
        c.image,
        "127.0.0.1:5000/pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"
    );
}

#[test]
fn arm64_hosts_are_warned_that_the_official_images_are_cpu_only() {
    let mut facts = host(Some("550.54.15"), &[(9, 0)]);
    facts.machine = "aarch64".into();
    let c = pick(want("2.6"), facts.clone());
    assert!(has(&c.warnings, "CPU-only build"), "{c:#?}");
    assert!(!has(&c.warnings, "linux/amd64 only"), "{c:#?}");
    let c = pick(want("2.6").devel(), facts);
    assert!(has(&c.warnings, "linux/amd64 only"), "{c:#?}");
}
/// Every way `choose` fails or falls back to the CPU, with the facts that cause it.
pub(crate) fn failure_scenarios() -> Vec<(&'static str, Profile, HostFacts)> {
    let smi_failed = |mut h: HostFacts| {
        h.source = Source::NvidiaSmi;
        h.problems = vec![Problem::Other {
            detail: "nvidia-smi: exit status 9: NVIDIA-SMI has failed".into(),
        }];
        h
    };
    vec![
        (
            "no_gpu_count",
            want("2.6").gpus("2").profile(),
            host(None, &[]),
        ),
        (
            "no_gpu_count_one_no_usable",
            want("2.6").gpus("1").profile(),
            host(Some("550.54.15"), &[]),
        ),
        (
            "no_gpu_devices_not_listed",
            want("2.6").gpus("device=0,1").profile(),
            smi_failed(host(Some("550.54.15"), &[])),
        ),
        (
            "no_gpu_devices_no_driver",
            want("2.6").gpus("device=0").profile(),
            host(None, &[]),
        ),
        (
            "too_few_gpus",
            want("2.6").gpus("4").profile(),
            host(Some("550.54.15"), &[(8, 6)]),
        ),
        (
            "no_such_device",
            want("2.6").gpus("device=7").profile(),
            host(Some("550.54.15"), &[(8, 6), (8, 9)]),
        ),
        (
            "no_release_with_cuda",
            want("latest").cuda("10.2").profile(),
            host(None, &[]),
        ),
        ("unknown_release", want("1.13").profile(), host(None, &[])),
        (
            "no_such_cuda_line",
            want("2.6").cuda("10.2").profile(),
            host(None, &[]),
        ),
        (
            "no_code_too_new_blackwell_driver",
            want("2.6").profile(),
            host(Some("550.54.15"), &[(12, 0)]),
        ),
        (
            "no_code_too_new",
            want("2.6").profile(),
            host(Some("570.124.06"), &[(12, 0)]),
        ),
        (
            "no_code_too_old",
            want("2.7").profile(),
            host(Some("550.54.15"), &[(3, 5)]),
        ),
        (
            "no_code_latest",
            want("latest").profile(),
            host(Some("470.256.02"), &[(3, 5)]),
        ),
        (
            "no_code_jetson",
            want("2.6").profile(),
            host(Some("550.54.15"), &[(8, 7)]),
        ),
        (
            "no_code_mixed_usable",
            want("2.6").profile(),
            host(Some("570.124.06"), &[(8, 6), (12, 0)]),
        ),
        (
            "no_single_image",
            want("2.7").profile(),
            host(Some("570.124.06"), &[(7, 0), (12, 0)]),
        ),
        (
            "driver_too_old_runtime",
            want("2.6").profile(),
            host(Some("440.33.01"), &[(8, 6)]),
        ),
        (
            "driver_too_old_devel",
            want("2.8").devel().profile(),
            host(Some("535.104.05"), &[(8, 6)]),
        ),
        (
            "cpu_gpus_none",
            want("2.6").gpus("none").profile(),
            host(Some("550.54.15"), &[(8, 6)]),
        ),
        ("cpu_no_driver", want("2.6").profile(), host(None, &[])),
        (
            "cpu_no_usable_gpu",
            want("2.6").profile(),
            host(Some("550.54.15"), &[]),
        ),
        (
            "cpu_gpus_not_listed",
            want("2.6").profile(),
            smi_failed(host(Some("550.54.15"), &[])),
        ),
        (
            "cpu_pinned_no_driver",
            want("2.6")
                .image("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime")
                .profile(),
            host(None, &[]),
        ),
    ]
}

/// What the user reads for a scenario: the error with its hints, or the CPU reason and the
/// reasons of the choice.
pub(crate) fn shown(profile: &Profile, facts: &HostFacts) -> String {
    match choose(profile, facts) {
        Ok(c) => format!(
            "cpu_reason: {}\nreasons: {}",
            c.cpu_reason.map(|r| r.to_string()).unwrap_or_default(),
            c.reasons.join("\n")
        ),
        Err(e) => {
            let e: crate::error::Error = e.into();
            format!("exit {}: {e}", e.code)
        }
    }
}

/// `rendered.txt` is what these scenarios printed when select's errors were built as text,
/// before the kinds: the kinds must render the same bytes.
#[test]
fn every_failure_and_cpu_reason_reads_as_before() {
    let before = include_str!("rendered.txt");
    let mut now = String::new();
    for (name, p, f) in failure_scenarios() {
        now.push_str(&format!("=== {name}\n{}\n", shown(&p, &f)));
    }
    for (b, n) in before.split("=== ").zip(now.split("=== ")) {
        assert_eq!(b, n);
    }
    assert_eq!(before, now);
}

/// Each scenario fails with the kind its name says (or chooses the CPU for that reason).
#[test]
fn every_failure_is_its_kind() {
    use SelectError as E;
    for (name, p, f) in failure_scenarios() {
        let got = choose(&p, &f);
        let ok = match (name, &got) {
            (
                "no_gpu_count",
                Err(E::NoGpu {
                    asked: Asked::Count(2),
                    cause: CpuReason::NoDriver,
                    ..
                }),
            ) => true,
            (
                "no_gpu_count_one_no_usable",
                Err(E::NoGpu {
                    asked: Asked::Count(1),
                    cause: CpuReason::NoUsableGpu { .. },
                    ..
                }),
            ) => true,
            (
                "no_gpu_devices_not_listed",
                Err(E::NoGpu {
                    asked: Asked::Devices(_),
                    cause: CpuReason::GpusNotListed { .. },
                    problem: Some(_),
                    ..
                }),
            ) => true,
            (
                "no_gpu_devices_no_driver",
                Err(E::NoGpu {
                    asked: Asked::Devices(_),
                    cause: CpuReason::NoDriver,
                    problem: None,
                    ..
                }),
            ) => true,
            (
                "too_few_gpus",
                Err(E::TooFewGpus {
                    asked: 4, have: 1, ..
                }),
            ) => true,
            ("no_such_device", Err(E::NoSuchDevice { .. })) => true,
            ("no_release_with_cuda", Err(E::NoReleaseWithCuda { .. })) => true,
            ("unknown_release", Err(E::UnknownRelease { .. })) => true,
            ("no_such_cuda_line", Err(E::NoSuchCudaLine { .. })) => true,
            ("no_code_too_new_blackwell_driver", Err(E::NoCodeForGpu { limit, instead, .. })) => {
                matches!(**limit, CodeLimit::TooNew { .. })
                    && matches!(
                        &**instead,
                        Instead::Release {
                            blackwell_driver: Some(_),
                            ..
                        }
                    )
            }
            (
                "no_code_too_new",
                Err(E::NoCodeForGpu {
                    limit,
                    instead,
                    usable,
                    ..
                }),
            ) => {
                matches!(**limit, CodeLimit::TooNew { .. })
                    && matches!(
                        &**instead,
                        Instead::Release {
                            blackwell_driver: None,
                            ..
                        }
                    )
                    && usable.is_empty()
            }
            ("no_code_too_old" | "no_code_latest", Err(E::NoCodeForGpu { limit, instead, .. })) => {
                matches!(**limit, CodeLimit::TooOld { .. })
                    && matches!(**instead, Instead::Nothing { .. })
            }
            ("no_code_jetson", Err(E::NoCodeForGpu { limit, instead, .. })) => {
                matches!(**limit, CodeLimit::Missing) && matches!(**instead, Instead::Jetson)
            }
            ("no_code_mixed_usable", Err(E::NoCodeForGpu { usable, .. })) => usable == &["0"],
            ("no_single_image", Err(E::NoSingleImage { partial, .. })) => partial.len() == 3,
            (
                "driver_too_old_runtime",
                Err(E::DriverTooOld {
                    runtime_fits: false,
                    misfits,
                    ..
                }),
            ) => misfits.len() == 3,
            (
                "driver_too_old_devel",
                Err(E::DriverTooOld {
                    runtime_fits: true, ..
                }),
            ) => true,
            ("cpu_gpus_none", Ok(c)) => c.cpu_reason == Some(CpuReason::GpusNone),
            ("cpu_no_driver" | "cpu_pinned_no_driver", Ok(c)) => {
                c.cpu_reason == Some(CpuReason::NoDriver) && !c.gpu
            }
            ("cpu_no_usable_gpu", Ok(c)) => {
                matches!(c.cpu_reason, Some(CpuReason::NoUsableGpu { .. }))
            }
            ("cpu_gpus_not_listed", Ok(c)) => {
                matches!(c.cpu_reason, Some(CpuReason::GpusNotListed { .. }))
            }
            _ => false,
        };
        assert!(ok, "{name}: {got:#?}");
        // Only the failures without code for the GPUs are architecture mismatches.
        if let Err(e) = &got {
            assert_eq!(
                e.is_arch_mismatch(),
                name.starts_with("no_code") || name == "no_single_image",
                "{name}"
            );
        }
    }
}

/// Doctor reads the hints without the pointer to itself; commands get it.
#[test]
fn the_doctor_hint_is_added_for_commands_only() {
    let e = choose(&want("2.6").gpus("2").profile(), &host(None, &[])).unwrap_err();
    assert!(
        e.hints().iter().all(|h| !h.contains("ptenv doctor")),
        "{e:?}"
    );
    let shown = crate::error::Error::from(e.clone());
    assert_eq!(shown.hints.len(), e.hints().len() + 1);
    assert_eq!(
        shown.hints.last().unwrap(),
        "`ptenv doctor` checks the driver step by step"
    );
}
