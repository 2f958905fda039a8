use super::*;

/// What the probe printed in the real torch fixture (torch 2.6.0 from PyPI), and its config.
const TORCH_OUTPUT: &str = "some warning\nPTENV-IMAGE-FACTS {\"python\": \"3.11.2\", \"torch\": \"2.6.0+cu124\", \"cuda\": \"12.4\", \"arch_flags\": \"sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90\", \"cudnn\": 90100}\n";

fn config(env: &[&str]) -> Config {
    Config {
        id: "sha256:abc".into(),
        platform: "linux/amd64".into(),
        env: env.iter().map(|s| s.to_string()).collect(),
        labels: BTreeMap::from([("com.nvidia.volumes.needed".into(), "nvidia_driver".into())]),
    }
}

pub fn torch_fixture(env: &[&str]) -> ImageFacts {
    ImageFacts::from_probe(&config(env), &Outcome::Ran(TORCH_OUTPUT.into())).unwrap()
}

#[test]
fn the_probe_output_becomes_the_facts() {
    let f = torch_fixture(&["PATH=/opt/conda/bin", "NVIDIA_REQUIRE_CUDA=cuda>=12.4"]);
    let t = f.torch.as_ref().unwrap();
    assert_eq!(t.version, "2.6.0+cu124");
    assert_eq!(t.cuda.as_deref(), Some("12.4"));
    assert_eq!(t.sass.first().map(String::as_str), Some("sm_50"));
    assert_eq!(t.sass.last().map(String::as_str), Some("sm_90"));
    assert!(t.ptx.is_empty());
    assert_eq!(t.cudnn.as_deref(), Some("9.1.0"));
    assert_eq!(f.python.as_deref(), Some("3.11.2"));
    assert_eq!(f.require_cuda.as_deref(), Some("cuda>=12.4"));
    assert_eq!(f.env["PATH"], "/opt/conda/bin");
    assert_eq!(f.labels["com.nvidia.volumes.needed"], "nvidia_driver");
    assert!(
        f.summary().contains("CUDA 12.4, GPU code sm_50"),
        "{}",
        f.summary()
    );
    // The same image as a catalog line: the catalog's own row, by the rules.
    let l = f.as_line().unwrap();
    let row = catalog::find("2.6.0", (12, 4)).unwrap();
    assert_eq!((l.cuda, &l.sass, &l.ptx), (row.cuda, &row.sass, &row.ptx));
    assert_eq!(l.floor(), row.floor());
    assert_eq!(l.full_feature(), row.full_feature());
    assert!(
        disagreements(row, &f).is_empty(),
        "{:?}",
        disagreements(row, &f)
    );
}

#[test]
fn no_python_no_torch_and_a_broken_torch_are_said_plainly() {
    let f = ImageFacts::from_probe(
        &config(&[]),
        &Outcome::NoPython("exec: \"python\": executable file not found in $PATH".into()),
    )
    .unwrap();
    assert!(f.torch.is_none());
    assert!(f.problem.unwrap().starts_with("the image has no Python"));
    let f = ImageFacts::from_probe(
        &config(&[]),
        &Outcome::Ran(
            "PTENV-IMAGE-FACTS {\"python\": \"3.11.2\", \"no_torch\": \"No module named 'torch'\"}"
                .into(),
        ),
    )
    .unwrap();
    assert_eq!(f.python.as_deref(), Some("3.11.2"));
    assert!(
        f.summary().contains("PyTorch is not installed"),
        "{}",
        f.summary()
    );
    assert!(f.as_line().is_none());
    let row = catalog::find("2.6.0", (12, 4)).unwrap();
    assert!(disagreements(row, &f)[0].contains("the image has none"));
    let f = ImageFacts::from_probe(
            &config(&[]),
            &Outcome::Ran("PTENV-IMAGE-FACTS {\"python\": \"3.8.0\", \"import_error\": \"OSError: libcudnn.so.9\"}".into()),
        )
        .unwrap();
    assert!(f.problem.unwrap().contains("libcudnn.so.9"));
    let e = ImageFacts::from_probe(&config(&[]), &Outcome::Ran("Segmentation fault\n".into()))
        .unwrap_err();
    assert!(e.contains("Segmentation fault"), "{e}");
}

#[test]
fn a_cpu_build_has_no_line_and_disagrees_with_a_cuda_row() {
    let out = "PTENV-IMAGE-FACTS {\"python\": \"3.11.2\", \"torch\": \"2.7.0+cpu\", \"cuda\": null, \"arch_flags\": \"\", \"cudnn\": null}";
    let f = ImageFacts::from_probe(&config(&[]), &Outcome::Ran(out.into())).unwrap();
    assert!(f.as_line().is_none());
    assert!(f.summary().contains("CPU-only"));
    let row = catalog::find("2.7.0", (12, 8)).unwrap();
    let d = disagreements(row, &f);
    assert!(
        d.iter().any(|x| x.contains("CUDA: the catalog says 12.8")),
        "{d:?}"
    );
}

#[test]
fn a_disagreeing_arch_list_names_both() {
    let row = catalog::find("2.7.0", (12, 8)).unwrap();
    let out = "PTENV-IMAGE-FACTS {\"python\": \"3.11.2\", \"torch\": \"2.7.0+cu128\", \"cuda\": \"12.8\", \"arch_flags\": \"sm_75 sm_80 sm_86 sm_90 sm_100 sm_120\", \"cudnn\": 90701}";
    let f = ImageFacts::from_probe(&config(&[]), &Outcome::Ran(out.into())).unwrap();
    let d = disagreements(row, &f);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].contains("the catalog says sm_75 sm_80 sm_86 sm_90 sm_100 sm_120 compute_120")
            && d[0].contains("the image has sm_75 sm_80 sm_86 sm_90 sm_100 sm_120"),
        "{d:?}"
    );
}

#[test]
fn cudnn_versions_read_as_nvidia_counts_them() {
    assert_eq!(cudnn_version(90100), "9.1.0");
    assert_eq!(cudnn_version(90701), "9.7.1");
    assert_eq!(cudnn_version(8907), "8.9.7");
    assert_eq!(release("2.6.0+cu124"), "2.6.0");
    assert_eq!(release("2.8.0a0+5228986c39.nv25.05"), "2.8.0a0");
}

fn gpu(cc: Cc) -> Gpu {
    crate::testing::gpu(0, "NVIDIA Test", cc)
}

#[test]
fn nvidia_require_alternatives_are_ored_and_their_parts_anded() {
    // nvidia/cuda 12.4 devel's value: CUDA 12.4, or a datacenter GPU on R470 (cuda-compat).
    let r = Requirement::parse(
        "cuda>=12.4 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=535,driver<536",
    );
    assert_eq!(r.any_of.len(), 3);
    assert_eq!(r.cuda(), Some((12, 4)));
    let d = |v: &str| catalog::driver(v);
    let g = [gpu((9, 0))];
    assert_eq!(
        r.holds(Some(&d("550.54.15")), Some((12, 4)), &g),
        Holds::Yes
    );
    assert_eq!(
        r.holds(Some(&d("560.35.05")), Some((12, 6)), &g),
        Holds::Yes
    );
    // R535 supports 12.2: only a brand-dependent alternative could hold.
    assert_eq!(
        r.holds(Some(&d("535.104.05")), Some((12, 2)), &g),
        Holds::Unknown
    );
    // R545 is in no alternative's driver range.
    assert_eq!(r.holds(Some(&d("545.23.08")), Some((12, 3)), &g), Holds::No);
    let arch = Requirement::parse("cuda>=12.0,arch>=8.0");
    assert_eq!(
        arch.holds(Some(&d("570.124.06")), Some((12, 8)), &g),
        Holds::Yes
    );
    assert_eq!(
        arch.holds(Some(&d("570.124.06")), Some((12, 8)), &[gpu((7, 5))]),
        Holds::No
    );
    assert_eq!(Requirement::parse("").holds(None, None, &[]), Holds::Yes);
}

#[test]
fn the_disable_switch_is_read_from_the_env() {
    assert!(torch_fixture(&["NVIDIA_DISABLE_REQUIRE=1"]).requirements_disabled());
    assert!(!torch_fixture(&["NVIDIA_DISABLE_REQUIRE=false"]).requirements_disabled());
    assert!(!torch_fixture(&[]).requirements_disabled());
}
