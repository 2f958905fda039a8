//! The scenario tables: the image chosen for GPUs and drivers, or the error.

use super::*;
use crate::catalog::Cc;

/// What a scenario must give: the tag (or the whole pinned image) and whether GPUs are
/// requested, or an error containing every given phrase.
enum Expect {
    Image(&'static str, bool),
    Fails(&'static [&'static str]),
}
use Expect::*;

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
