use super::*;

pub(crate) const D1: &str =
    "sha256:1111111111111111111111111111111111111111111111111111111111111111";
pub(crate) const D2: &str =
    "sha256:2222222222222222222222222222222222222222222222222222222222222222";

pub(crate) fn entry(image: &str, digest: &str) -> Entry {
    Entry {
        settings: Settings {
            pytorch: "2.6".into(),
            variant: Variant::Runtime,
            cuda: None,
            image: None,
            repository: repository_of(image).to_string(),
        },
        image: image.into(),
        digest: digest.into(),
        media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
        platform: "linux/amd64".into(),
        derived: Derived {
            mode: Mode::Jupyter,
            apt: vec!["git".into()],
            pip: vec![],
            dependencies: BTreeMap::new(),
            resolved: vec![],
            user: HOST_USER.into(),
            recipe: D1.into(),
        },
        facts: None,
    }
}

pub(crate) fn lock() -> Lock {
    let mut profiles = BTreeMap::new();
    // Inserted out of order: the file is sorted regardless.
    profiles.insert(
        "shell".to_string(),
        entry("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime", D1),
    );
    profiles.insert(
        "jupyter".to_string(),
        entry(
            "registry.example.com:5000/team/pytorch:2.6.0-cuda12.4-cudnn9-runtime",
            D2,
        ),
    );
    Lock {
        version: VERSION,
        target: TargetMachine {
            machine: "x86_64".into(),
            driver: Some(crate::catalog::driver("550.54.15")),
            gpus: vec!["8.6".into()],
        },
        profiles,
    }
}

#[test]
fn rendering_is_stable_sorted_and_parses_back() {
    let l = lock();
    let text = render(&l);
    assert_eq!(text, render(&l.clone()));
    assert!(text.starts_with("# ptenv.lock:"), "{text}");
    let jupyter = text.find("\n  jupyter:").expect("jupyter entry");
    let shell = text.find("\n  shell:").expect("shell entry");
    assert!(jupyter < shell, "profiles are sorted:\n{text}");
    // Versions stay strings ("2.6", not the float 2.6), and the digest is whole.
    assert!(text.contains("pytorch: '2.6'"), "{text}");
    assert!(text.contains(&format!("digest: {D2}")), "{text}");
    let back = parse(&text, Path::new("ptenv.lock")).unwrap();
    assert_eq!(back, l);
    assert!(changes(&l, &back).is_empty());
}

#[test]
fn an_entry_may_pin_only_an_image_of_the_profile_s_repository() {
    use crate::profile::{Layer, Sources};
    let profile = |layer: Layer| Sources::default().resolve("shell", &layer).unwrap();
    let hub = profile(Layer::default());
    let tag = "2.6.0-cuda12.4-cudnn9-runtime";
    assert!(entry(&format!("pytorch/pytorch:{tag}"), D1)
        .check_pins(&hub)
        .is_ok());
    // The same repository, spelt as the engine would.
    assert!(entry(&format!("docker.io/pytorch/pytorch:{tag}"), D1)
        .check_pins(&hub)
        .is_ok());
    let err = entry(&format!("evil.example/x:{tag}"), D1)
        .check_pins(&hub)
        .unwrap_err();
    assert_eq!(
        err.message,
        "ptenv.lock pins profile `shell` to evil.example/x@sha256:111111111111…, which is not an image of pytorch/pytorch, the repository the profile names"
    );
    assert!(err.hints[0].starts_with("run `ptenv lock`"), "{err}");
    assert!(entry(&format!("pytorch/pytorch-x:{tag}"), D1)
        .check_pins(&hub)
        .is_err());
    assert!(entry(&format!("pytorch/pytorch:{tag}"), "sha256:12")
        .check_pins(&hub)
        .unwrap_err()
        .message
        .contains("not a sha256 digest"));
    // A profile that pins an image names its repository.
    let pinned = profile(Layer {
        image: Some("nvcr.io/nvidia/pytorch:24.01-py3".into()),
        ..Layer::default()
    });
    assert!(entry("nvcr.io/nvidia/pytorch:24.01-py3", D1)
        .check_pins(&pinned)
        .is_ok());
    assert!(entry(&format!("pytorch/pytorch:{tag}"), D1)
        .check_pins(&pinned)
        .is_err());
}

#[test]
fn references_pin_the_repository_by_digest() {
    let e = entry(
        "registry.example.com:5000/team/pytorch:2.6.0-cuda12.4-cudnn9-runtime",
        D1,
    );
    assert_eq!(
        e.reference(),
        format!("registry.example.com:5000/team/pytorch@{D1}")
    );
    assert_eq!(repository_of("localhost:5000/x"), "localhost:5000/x");
    assert_eq!(repository_of("ubuntu"), "ubuntu");
    assert_eq!(repository_of(&format!("a/b:1@{D1}")), "a/b");
    assert_eq!(platform("x86_64"), "linux/amd64");
    assert_eq!(platform("aarch64"), "linux/arm64");
    assert!(is_index("application/vnd.oci.image.index.v1+json"));
    assert!(!is_index(
        "application/vnd.docker.distribution.manifest.v2+json"
    ));
    assert_eq!(short(D1), "sha256:111111111111…");
}

#[test]
fn bad_files_are_located_and_say_how_to_repair() {
    let path = Path::new("/p/ptenv.lock");
    let e = parse("version: 1\ntarget: [\n", path).unwrap_err();
    assert!(e.message.starts_with("/p/ptenv.lock:"), "{e}");
    assert!(e.hints[0].contains("ptenv lock"), "{e}");
    let mut text = render(&lock());
    text = text.replace("media_type:", "mediatype:");
    let e = parse(&text, path).unwrap_err();
    assert!(e.message.contains("unknown field `mediatype`"), "{e}");
    assert!(e.message.starts_with("/p/ptenv.lock:"), "{e}");
    let e = parse("version: 9\n", path).unwrap_err();
    assert!(e.message.contains("newer ptenv"), "{e}");
    let e = parse("profiles: {}\n", path).unwrap_err();
    assert!(e.message.contains("no `version:`"), "{e}");
}
