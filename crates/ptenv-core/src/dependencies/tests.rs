use super::*;

pub(crate) fn files(
    list: &[(&str, &str)],
) -> impl Fn(&str) -> std::result::Result<Option<String>, String> {
    let map: BTreeMap<String, String> = list
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |p: &str| Ok(map.get(p).cloned())
}

const RELEASES: [&str; 4] = ["2.4.1", "2.5.1", "2.6.0", "2.7.0"];

pub(crate) fn image() -> ImageTorch<'static> {
    ImageTorch {
        version: Some("2.6.0"),
        cuda: Some("12.4"),
        releases: &RELEASES,
    }
}

#[test]
fn requirements_are_read_with_their_lines_includes_and_options() {
    let read = files(&[
        (
            "requirements.txt",
            "# training\ntorch\neinops>=0.7  # tensors\n\nnumpy >=1.26, \\\n  <3\n-r dev/extra.txt\n-e .\n--extra-index-url https://pypi.example/simple\n",
        ),
        ("dev/extra.txt", "pytest==8.3.3 --hash=sha256:ab\n-c pins.txt\n"),
        ("dev/pins.txt", "rich<14\n"),
    ]);
    let d = detect(None, &read).unwrap();
    let names: Vec<(&str, String)> = d
        .pip
        .iter()
        .map(|r| (r.name.as_str(), r.origin.to_string()))
        .collect();
    assert_eq!(
        names,
        [
            ("torch", "requirements.txt:2".to_string()),
            ("einops", "requirements.txt:3".into()),
            ("numpy", "requirements.txt:5".into()),
            ("pytest", "dev/extra.txt:1".into()),
        ]
    );
    assert_eq!(d.pip[2].specifier, ">=1.26,<3");
    assert_eq!(d.pip[3].specifier, "==8.3.3");
    assert_eq!(d.constraints[0].text, "rich<14");
    assert_eq!(d.constraints[0].origin.to_string(), "dev/pins.txt:1");
    assert_eq!(
        d.options,
        [(
            "--extra-index-url https://pypi.example/simple".to_string(),
            Origin {
                file: "requirements.txt".into(),
                line: 9
            }
        )]
    );
    assert!(
        d.skipped[0].starts_with("requirements.txt:8: `-e .`"),
        "{:?}",
        d.skipped
    );
    let paths: Vec<&str> = d.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["requirements.txt", "dev/extra.txt", "dev/pins.txt"]);
    let txt = d.requirements_txt();
    assert!(txt.contains("# requirements.txt:3\neinops>=0.7\n"), "{txt}");
    assert!(
        txt.starts_with("# requirements.txt:9\n--extra-index-url"),
        "{txt}"
    );
}

#[test]
fn bad_lines_and_missing_files_name_the_place_and_the_fix() {
    let e = detect(None, &files(&[("requirements.txt", "ok\n--user\n")])).unwrap_err();
    assert!(
        e.message
            .starts_with("requirements.txt:2: the option `--user`"),
        "{e}"
    );
    let e = detect(None, &files(&[("requirements.txt", "-r ../secret.txt\n")])).unwrap_err();
    assert!(e.message.contains("outside the project"), "{e}");
    let e = detect(None, &files(&[("requirements.txt", "-r other.txt\n")])).unwrap_err();
    assert!(
        e.message
            .contains("requirements.txt:1: other.txt is not in the project"),
        "{e}"
    );
    let e = detect(
        None,
        &files(&[("requirements.txt", "https://x.example/a.whl\n")]),
    )
    .unwrap_err();
    assert!(e.message.contains("name @"), "{e}");
    let loop_ = files(&[
        ("requirements.txt", "-r a.txt\n"),
        ("a.txt", "-r b.txt\n"),
        ("b.txt", "-r a.txt\n"),
    ]);
    // A file read twice is read once: a loop ends.
    assert!(detect(None, &loop_).unwrap().pip.is_empty());
    let s = Settings {
        pip: Some(vec!["reqs/base.txt".into()]),
        ..Settings::default()
    };
    let e = detect(Some(&s), &files(&[])).unwrap_err();
    assert!(e.message.contains("names reqs/base.txt"), "{e}");
    assert!(e.hints[0].contains("create reqs/base.txt"), "{e:?}");
    let e = detect(None, &files(&[("apt.txt", "git\nfoo;rm\n")])).unwrap_err();
    assert!(
        e.message
            .starts_with("apt.txt:2: `foo;rm` is not a Debian package"),
        "{e}"
    );
}

#[test]
fn the_profile_names_files_and_auto_false_stops_the_detection() {
    let read = files(&[
        ("requirements.txt", "einops\n"),
        ("requirements-dev.txt", "pytest\n"),
        ("apt.txt", "graphviz # for torchviz\nlibsndfile1 ffmpeg\n"),
    ]);
    let d = detect(None, &read).unwrap();
    assert_eq!(d.file_list(), "requirements.txt, apt.txt");
    assert_eq!(d.apt_names(), ["graphviz", "libsndfile1", "ffmpeg"]);
    assert_eq!(d.apt[2].1.to_string(), "apt.txt:2");
    assert_eq!(d.summary(), "requirements.txt (1 pip), apt.txt (3 apt)");
    let only = Settings {
        pip: Some(vec![
            "requirements.txt".into(),
            "requirements-dev.txt".into(),
        ]),
        auto: Some(false),
        installer: Some(Installer::Pip),
        ..Settings::default()
    };
    let d = detect(Some(&only), &read).unwrap();
    assert_eq!(d.file_list(), "requirements.txt, requirements-dev.txt");
    assert!(d.apt.is_empty());
    assert_eq!(d.installer, Installer::Pip);
    let none = detect(None, &files(&[])).unwrap();
    assert!(none.is_empty() && none.files.is_empty());
    assert!(none.summary().starts_with("none"));
}

#[test]
fn pyproject_dependencies_and_named_groups() {
    let toml = r#"
[project]
name = "My_Project"
dependencies = [
  "einops>=0.7",
  "torch",
]
[project.optional-dependencies]
dev = ["pytest", "my-project[viz]"]
viz = ["matplotlib"]
[dependency-groups]
lint = ["ruff", {include-group = "typing"}]
typing = ["mypy"]
"#;
    let read = files(&[("pyproject.toml", toml)]);
    let d = detect(None, &read).unwrap();
    let names: Vec<&str> = d.pip.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["einops", "torch"]);
    assert_eq!(d.pip[0].origin.to_string(), "pyproject.toml:5");
    let s = Settings {
        pyproject: Some(PyprojectSettings {
            file: None,
            groups: vec!["dev".into(), "lint".into()],
        }),
        ..Settings::default()
    };
    let d = detect(Some(&s), &read).unwrap();
    let mut names: Vec<&str> = d.pip.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["einops", "mypy", "pytest", "ruff", "torch"]);
    let bad = Settings {
        pyproject: Some(PyprojectSettings {
            file: None,
            groups: vec!["docs".into()],
        }),
        ..Settings::default()
    };
    let e = detect(Some(&bad), &read).unwrap_err();
    assert!(e.message.contains("no dependency group `docs`"), "{e}");
    assert!(e.hints[0].contains("dev, viz, lint, typing"), "{e:?}");
    // A tool-only pyproject.toml has nothing to install; a dynamic one says so.
    let d = detect(
        None,
        &files(&[("pyproject.toml", "[tool.black]\nline-length = 100\n")]),
    )
    .unwrap();
    assert!(d.pip.is_empty() && d.skipped.is_empty());
    let d = detect(
        None,
        &files(&[(
            "pyproject.toml",
            "[project]\nname='x'\ndynamic=['dependencies']\n",
        )]),
    )
    .unwrap();
    assert!(d.skipped[0].contains("dynamic"), "{:?}", d.skipped);
    let e = detect(None, &files(&[("pyproject.toml", "[project\n")])).unwrap_err();
    assert!(
        e.message.starts_with("pyproject.toml: is not valid TOML"),
        "{e}"
    );
}

#[test]
fn environment_yml_gives_its_pip_section_and_reports_conda_packages() {
    let yml = "name: x\nchannels: [pytorch, nvidia]\ndependencies:\n  - python=3.11\n  - pytorch::pytorch=2.6\n  - pytorch-cuda=12.4\n  - ffmpeg\n  - conda-forge::opencv>=4\n  - pip\n  - pip:\n    - einops\n    - -r requirements-extra.txt\n";
    let read = files(&[
        ("environment.yml", yml),
        ("requirements-extra.txt", "rich\n"),
    ]);
    let d = detect(None, &read).unwrap();
    let names: Vec<&str> = d.pip.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["einops", "rich"]);
    assert_eq!(d.pip[0].origin.to_string(), "environment.yml:11");
    assert_eq!(d.skipped.len(), 1, "{:?}", d.skipped);
    assert!(
        d.skipped[0].contains("ffmpeg, conda-forge::opencv>=4 are not installed"),
        "{:?}",
        d.skipped
    );
    assert!(d.skipped[0].contains("apt.txt"));
}

#[test]
fn changed_files_are_named() {
    let before = BTreeMap::from([
        ("requirements.txt".to_string(), "a".to_string()),
        ("apt.txt".into(), "b".into()),
    ]);
    let now = BTreeMap::from([
        ("requirements.txt".to_string(), "c".to_string()),
        ("pyproject.toml".into(), "d".into()),
    ]);
    assert_eq!(
        changed(&before, &now),
        ["pyproject.toml", "requirements.txt", "apt.txt"]
    );
    assert!(changed(&now, &now).is_empty());
}
