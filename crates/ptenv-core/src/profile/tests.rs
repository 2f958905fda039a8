use super::*;

pub(crate) fn project(text: &str) -> Sources {
    Sources {
        files: vec![SourceFile {
            origin: Origin::Project(PathBuf::from("ptenv.yaml")),
            layer: parse(text, Path::new("ptenv.yaml")).unwrap(),
        }],
    }
}

pub(crate) fn err(text: &str) -> Error {
    parse(text, Path::new("ptenv.yaml")).unwrap_err()
}

#[test]
fn sudo_is_on_unless_a_layer_turns_it_off() {
    let on = Sources::default()
        .resolve("shell", &Layer::default())
        .unwrap();
    assert!(on.sudo);
    let off = project("sudo: false\n")
        .resolve("jupyter", &Layer::default())
        .unwrap();
    assert!(!off.sudo);
    let again = project("sudo: false\nprofiles:\n  t:\n    mode: shell\n    sudo: true\n")
        .resolve("t", &Layer::default())
        .unwrap();
    assert!(again.sudo);
}

#[test]
fn idle_stop_is_off_unless_a_layer_sets_it_and_a_profile_may_change_it() {
    let off = Sources::default()
        .resolve("shell", &Layer::default())
        .unwrap();
    assert_eq!(off.idle_stop, None);
    let sources = project("idle_stop: 2h\nprofiles:\n  t:\n    mode: shell\n    idle_stop: 90s\n");
    let on = sources.resolve("jupyter", &Layer::default()).unwrap();
    assert_eq!(on.idle_stop.map(|d| d.seconds), Some(7_200));
    let own = sources.resolve("t", &Layer::default()).unwrap();
    assert_eq!(own.idle_stop.map(|d| d.to_string()), Some("1m30s".into()));
    // A higher layer turns off what a lower one set.
    let sources =
        project("idle_stop: 2h\nprofiles:\n  t:\n    mode: shell\n    idle_stop: 'off'\n");
    assert_eq!(
        sources.resolve("t", &Layer::default()).unwrap().idle_stop,
        None
    );
    assert_eq!(
        sources
            .resolve("jupyter", &Layer::default())
            .unwrap()
            .idle_stop
            .map(|d| d.seconds),
        Some(7_200)
    );
    let sources = project("idle_stop: 2h\nprofiles:\n  t:\n    mode: shell\n    idle_stop: off\n");
    assert_eq!(
        sources.resolve("t", &Layer::default()).unwrap().idle_stop,
        None
    );
}

#[test]
fn builtins_parse_and_resolve() {
    for m in Mode::ALL {
        let p = Sources::default()
            .resolve(m.as_str(), &Layer::default())
            .unwrap();
        assert_eq!(p.mode, m);
        assert_eq!(p.pytorch, "2.6");
        assert_eq!(p.variant, Variant::Runtime);
        assert_eq!(p.repository, "pytorch/pytorch");
        assert_eq!(p.pull, PullPolicy::Missing);
        assert_eq!(p.gpus, Gpus::All);
        assert_eq!(p.shm_size, Some(ShmSize::Auto));
        assert_eq!(p.bind, "127.0.0.1");
        assert_eq!(p.workdir, "/workspace");
        assert_eq!(p.ulimits["memlock"], UlimitValue { soft: -1, hard: -1 });
        assert_eq!(
            p.ulimits["stack"],
            UlimitValue {
                soft: 67108864,
                hard: 67108864
            }
        );
        assert!(builtin(m).description.is_some());
    }
    let j = Sources::default()
        .resolve("jupyter", &Layer::default())
        .unwrap();
    assert_eq!(
        j.ports,
        vec![Port {
            container: 8888,
            host: None,
            bind: None
        }]
    );
    let s = Sources::default()
        .resolve("ssh", &Layer::default())
        .unwrap();
    assert_eq!(
        s.ports,
        vec![Port {
            container: 22,
            host: Some(2222),
            bind: None
        }]
    );
    let sh = Sources::default()
        .resolve("shell", &Layer::default())
        .unwrap();
    assert!(sh.ports.is_empty());
}

#[test]
fn layers_apply_lowest_first() {
    let user = SourceFile {
        origin: Origin::User(PathBuf::from("config.yaml")),
        layer: parse(
            "repository: registry.example.com/team/pytorch\nshm_size: 4g\nenv: {A: user, B: user}\n",
            Path::new("config.yaml"),
        )
        .unwrap(),
    };
    let proj = SourceFile {
        origin: Origin::Project(PathBuf::from("ptenv.yaml")),
        layer: parse(
            "shm_size: 8g\nenv: {B: project}\nprofiles:\n  jupyter:\n    env: {C: profile}\n    pytorch: 2.7\n",
            Path::new("ptenv.yaml"),
        )
        .unwrap(),
    };
    let sources = Sources {
        files: vec![user, proj],
    };
    let flags = Layer {
        pytorch: Some(Version("2.6".into())),
        ..Layer::default()
    };
    let p = sources.resolve("jupyter", &flags).unwrap();
    assert_eq!(p.repository, "registry.example.com/team/pytorch");
    assert_eq!(p.shm_size, Some(ShmSize::Bytes(8 << 30)));
    assert_eq!(p.env["A"], "user");
    assert_eq!(p.env["B"], "project");
    assert_eq!(p.env["C"], "profile");
    assert_eq!(p.pytorch, "2.6", "flags beat the file");
    let p = sources.resolve("jupyter", &Layer::default()).unwrap();
    assert_eq!(p.pytorch, "2.7", "a float in YAML is read as a version");
    // Other profiles get the top-level settings but not jupyter's.
    let s = sources.resolve("shell", &Layer::default()).unwrap();
    assert!(!s.env.contains_key("C"));
    assert_eq!(s.env["B"], "project");
}

#[test]
fn named_profiles_take_the_builtin_of_their_mode() {
    let s = project(
        "default: train\nprofiles:\n  train:\n    mode: ssh\n    gpus: [0, 1]\n    ports: [6006]\n",
    );
    assert_eq!(s.default_name(), "train");
    let p = s.resolve("train", &Layer::default()).unwrap();
    assert_eq!(p.mode, Mode::Ssh);
    assert_eq!(p.gpus, Gpus::Devices(vec!["0".into(), "1".into()]));
    assert_eq!(
        p.ports.len(),
        2,
        "the ssh port stays and 6006 is added: {:?}",
        p.ports
    );
    let listed = s.list();
    let train = listed.iter().find(|l| l.name == "train").unwrap();
    assert!(train.is_default);
    assert_eq!(train.mode, Some(Mode::Ssh));
    assert_eq!(train.origins, vec!["project ptenv.yaml"]);
}

#[test]
fn the_list_names_every_file_that_changes_a_profile() {
    let s = Sources {
        files: vec![
            SourceFile {
                origin: Origin::User(PathBuf::from("config.yaml")),
                layer: parse("shm_size: 4g\n", Path::new("c")).unwrap(),
            },
            SourceFile {
                origin: Origin::Project(PathBuf::from("ptenv.yaml")),
                layer: parse(
                    "default: train\nprofiles: {train: {mode: shell}}\n",
                    Path::new("p"),
                )
                .unwrap(),
            },
        ],
    };
    let listed = s.list();
    let origins = |name: &str| {
        listed
            .iter()
            .find(|l| l.name == name)
            .unwrap()
            .origins
            .clone()
    };
    // `default:` alone changes no profile's settings.
    assert_eq!(
        origins("jupyter"),
        ["built-in", "user config config.yaml (top level)"]
    );
    assert_eq!(
        origins("train"),
        ["user config config.yaml (top level)", "project ptenv.yaml"]
    );
    let s = project("gpus: none\nprofiles: {train: {mode: shell}}\n");
    let listed = s.list();
    let shell = listed.iter().find(|l| l.name == "shell").unwrap();
    assert_eq!(
        shell.origins,
        ["built-in", "project ptenv.yaml (top level)"]
    );
}

#[test]
fn a_profile_without_mode_is_an_error() {
    let s = project("profiles:\n  train:\n    gpus: all\n");
    let e = s.resolve("train", &Layer::default()).unwrap_err();
    assert!(e.message.contains("does not say which mode"), "{e}");
    assert!(e.hints[0].contains("mode: jupyter"));
}

#[test]
fn unknown_profile_suggests_the_nearest() {
    let e = Sources::default()
        .resolve("jupiter", &Layer::default())
        .unwrap_err();
    assert!(e.message.contains("no profile named `jupiter`"));
    assert_eq!(e.hints[0], "did you mean `jupyter`?");
}

#[test]
fn ipc_host_drops_the_shm_size_and_higher_layers_can_undo_it() {
    let s = project("ipc: host\n");
    let p = s.resolve("shell", &Layer::default()).unwrap();
    assert_eq!(p.ipc, Ipc::Host);
    assert_eq!(p.shm_size, None);
    let flags = Layer {
        shm_size: Some(ShmSize::Bytes(1 << 30)),
        ..Layer::default()
    };
    let p = s.resolve("shell", &flags).unwrap();
    assert_eq!(p.ipc, Ipc::Private);
    assert_eq!(p.shm_size, Some(ShmSize::Bytes(1 << 30)));
}

#[test]
fn lists_merge_by_key() {
    let s = project(
        "mounts: ['~/data:/data:ro']\nprofiles:\n  jupyter:\n    mounts: [{source: /big, target: /data}]\n    ports: ['9000:8888', '0.0.0.0:6006:6006']\n    packages: {pip: [einops], apt: [git]}\n    ulimits: {nofile: '1024:4096', memlock: 64m}\n",
    );
    let p = s.resolve("jupyter", &Layer::default()).unwrap();
    assert_eq!(
        p.mounts,
        vec![Mount {
            source: "/big".into(),
            target: "/data".into(),
            readonly: false
        }]
    );
    assert_eq!(
        p.ports,
        vec![
            Port {
                container: 8888,
                host: Some(9000),
                bind: None
            },
            Port {
                container: 6006,
                host: Some(6006),
                bind: Some("0.0.0.0".into())
            },
        ]
    );
    assert_eq!(p.packages.pip, vec!["einops"]);
    assert_eq!(
        p.ulimits["nofile"],
        UlimitValue {
            soft: 1024,
            hard: 4096
        }
    );
    assert_eq!(
        p.ulimits["memlock"],
        UlimitValue {
            soft: 64 << 20,
            hard: 64 << 20
        }
    );
    assert_eq!(p.ulimits["stack"].soft, 67108864, "built-in ulimits stay");
}

#[test]
fn profile_names_that_make_the_same_container_name_are_refused() {
    for (user, project_text) in [
        (
            "",
            "profiles: {Train: {mode: shell}, train: {mode: shell}}\n",
        ),
        ("", "profiles: {a_b: {mode: shell}, a-b: {mode: ssh}}\n"),
        ("", "profiles: {Jupyter: {mode: shell}}\n"),
        (
            "profiles: {train: {mode: shell}}\n",
            "profiles: {TRAIN: {mode: shell}}\n",
        ),
    ] {
        let mut files = Vec::new();
        if !user.is_empty() {
            files.push(SourceFile {
                origin: Origin::User(PathBuf::from("config.yaml")),
                layer: parse(user, Path::new("config.yaml")).unwrap(),
            });
        }
        files.push(SourceFile {
            origin: Origin::Project(PathBuf::from("ptenv.yaml")),
            layer: parse(project_text, Path::new("ptenv.yaml")).unwrap(),
        });
        let e = Sources { files }.check_names().unwrap_err();
        assert!(e.message.contains("would share the container name"), "{e}");
    }
    // The same name in two layers is one profile, refined.
    let files = vec![
        SourceFile {
            origin: Origin::User(PathBuf::from("config.yaml")),
            layer: parse("profiles: {train: {mode: shell}}\n", Path::new("c")).unwrap(),
        },
        SourceFile {
            origin: Origin::Project(PathBuf::from("ptenv.yaml")),
            layer: parse(
                "profiles: {train: {gpus: none}, jupyter: {}}\n",
                Path::new("p"),
            )
            .unwrap(),
        },
    ];
    Sources { files }.check_names().unwrap();
}

#[test]
fn only_host_ports_the_user_gives_are_pinned() {
    let resolve = |text: &str, name: &str| project(text).resolve(name, &Layer::default()).unwrap();
    // ssh's 2222 and jupyter's 8888 are ptenv's choices.
    assert_eq!(resolve("", "ssh").pinned_host_port(22), None);
    assert_eq!(resolve("", "jupyter").pinned_host_port(8888), None);
    let p = resolve(
        "ports: ['8888:8888', 6006, {container: 22, host: 2200}]\n",
        "ssh",
    );
    assert_eq!(p.pinned_host_port(8888), Some(8888));
    assert_eq!(p.pinned_host_port(6006), None);
    assert_eq!(p.pinned_host_port(22), Some(2200));
    assert_eq!(p.pinned_host_port(1), None);
}
