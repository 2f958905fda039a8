use super::*;
use crate::profile::{Layer, Sources};

pub(crate) fn profile(mode: &str, yaml: &str) -> Profile {
    let layer = crate::profile::parse(yaml, Path::new("ptenv.yaml")).unwrap();
    let sources = Sources {
        files: vec![crate::profile::SourceFile {
            origin: crate::profile::Origin::Project(PathBuf::from("ptenv.yaml")),
            layer,
        }],
    };
    sources.resolve(mode, &Layer::default()).unwrap()
}

pub(crate) fn spec_for(p: &Profile, gpu: bool, setup: &Setup) -> Spec {
    spec_on(p, gpu, false, setup)
}

fn spec_on(p: &Profile, gpu: bool, nvidia_default_runtime: bool, setup: &Setup) -> Spec {
    let project = Project::new(Path::new("/home/ana/proj"));
    let user = User::for_ids(1234, 1300);
    plan(&Input {
        profile: p,
        project: &project,
        image: "ptenv/x:1",
        base_image: "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime",
        gpus: GpuRequest::from_profile(&p.gpus, gpu),
        nvidia_default_runtime,
        host_ram: 24 << 30,
        user: &user,
        setup,
        home: Path::new("/home/ana"),
        workspace: Workspace::Project,
    })
}

#[test]
fn shm_auto_is_half_the_ram_and_sizes_are_bytes() {
    let spec = spec_for(&profile("shell", ""), false, &Setup::default());
    assert_eq!(spec.shm_size, Some(12 << 30));
    assert!(!spec.ipc_host);
    assert_eq!(spec.create_body()["HostConfig"]["PortBindings"], json!({}));
    assert!(spec.create_body().get("ExposedPorts").is_none());
    let spec = spec_for(
        &profile("shell", "shm_size: 8g\n"),
        false,
        &Setup::default(),
    );
    assert_eq!(
        spec.create_body()["HostConfig"]["ShmSize"],
        json!(8589934592u64)
    );
    assert!(spec.create_body()["HostConfig"].get("IpcMode").is_none());
    assert_eq!(auto_shm(100 << 20), 64 << 20);
}

#[test]
fn gpus_follow_the_profile_and_the_selection() {
    let p = profile("shell", "gpus: [0, 1]\n");
    let body = spec_for(&p, true, &Setup::default()).create_body();
    assert_eq!(
        body["HostConfig"]["DeviceRequests"],
        json!([{"Driver": "", "Count": 0, "DeviceIDs": ["0", "1"], "Capabilities": [["gpu"]], "Options": {}}])
    );
    assert_eq!(body["Labels"][LABEL_GPUS], "0,1");
    // The selection found no usable GPU: no request, whatever the profile says.
    let spec = spec_for(&p, false, &Setup::default());
    assert!(spec.create_body()["HostConfig"]
        .get("DeviceRequests")
        .is_none());
    assert_eq!(spec.labels[LABEL_GPUS], "none");
    let spec = spec_for(&profile("shell", "gpus: none\n"), true, &Setup::default());
    assert_eq!(spec.gpus, None);
    assert!(!spec
        .env
        .iter()
        .any(|e| e.starts_with("NVIDIA_VISIBLE_DEVICES")));
}

#[test]
fn no_gpus_is_void_where_the_default_runtime_is_nvidia() {
    let none = profile("shell", "gpus: none\n");
    let spec = spec_on(&none, true, true, &Setup::default());
    assert!(spec
        .env
        .contains(&"NVIDIA_VISIBLE_DEVICES=void".to_string()));
    // With a GPU request the toolkit sets the devices; nothing is added.
    let spec = spec_on(
        &profile("shell", "gpus: all\n"),
        true,
        true,
        &Setup::default(),
    );
    assert!(!spec
        .env
        .iter()
        .any(|e| e.starts_with("NVIDIA_VISIBLE_DEVICES")));
    // A value the profile sets stays.
    let own = profile("shell", "gpus: none\nenv: {NVIDIA_VISIBLE_DEVICES: none}\n");
    let spec = spec_on(&own, true, true, &Setup::default());
    assert!(spec
        .env
        .contains(&"NVIDIA_VISIBLE_DEVICES=none".to_string()));
}

#[test]
fn the_request_s_devices_are_every_process_s_nvidia_visible_devices() {
    let devices = Spec {
        gpus: Some(GpuRequest::Devices(vec!["1".into(), "3".into()])),
        env: vec!["A=1".into(), "NVIDIA_VISIBLE_DEVICES=all".into()],
        ..spec_for(&profile("shell", ""), true, &Setup::default())
    };
    assert_eq!(
        devices.create_body()["Env"],
        json!(["A=1", "NVIDIA_VISIBLE_DEVICES=1,3"])
    );
    assert!(
        devices
            .docker_run_line()
            .contains("-e A=1 -e NVIDIA_VISIBLE_DEVICES=1,3"),
        "{}",
        devices.docker_run_line()
    );
    // The spec itself (what the exports write) is unchanged: the device plugin or the
    // machine's engine sets it there.
    assert!(devices
        .env
        .contains(&"NVIDIA_VISIBLE_DEVICES=all".to_string()));
    let all = Spec {
        gpus: Some(GpuRequest::All),
        ..devices.clone()
    };
    assert_eq!(all.create_body()["Env"][1], "NVIDIA_VISIBLE_DEVICES=all");
    let count = Spec {
        gpus: Some(GpuRequest::Count(2)),
        env: vec!["A=1".into()],
        ..devices.clone()
    };
    assert_eq!(count.create_body()["Env"], json!(["A=1"]));
    let none = Spec {
        gpus: None,
        env: vec!["A=1".into()],
        ..devices
    };
    assert_eq!(none.create_body()["Env"], json!(["A=1"]));
}

#[test]
fn a_count_reaches_docker_as_a_count() {
    let spec = Spec {
        gpus: Some(GpuRequest::Count(2)),
        ..spec_for(&profile("shell", ""), true, &Setup::default())
    };
    assert_eq!(
        spec.create_body()["HostConfig"]["DeviceRequests"],
        json!([{"Driver": "", "Count": 2, "Capabilities": [["gpu"]], "Options": {}}])
    );
    assert!(
        spec.docker_run_line().contains("--gpus 2"),
        "{}",
        spec.docker_run_line()
    );
    assert_eq!(GpuRequest::label(spec.gpus.as_ref()), "count:2");
}

#[test]
fn mounts_env_ports_and_command() {
    let p = profile(
        "jupyter",
        "mounts: ['~/data:/data:ro', './cache/../out:/out']\nenv: {A: '1'}\nports: ['0.0.0.0:6006:6006']\n",
    );
    let setup = Setup {
        env: vec![(
            "JUPYTER_TOKEN_FILE".into(),
            "/etc/ptenv/jupyter/token".into(),
        )],
        command: Some(vec!["jupyter".into(), "lab".into()]),
        ..Setup::default()
    };
    let spec = spec_for(&p, false, &setup);
    let mounts: Vec<String> = spec.mounts.iter().map(|m| m.to_string()).collect();
    assert_eq!(
        mounts,
        vec![
            "/home/ana/proj:/workspace",
            "/home/ana/data:/data:ro",
            "/home/ana/proj/out:/out"
        ]
    );
    assert_eq!(
        spec.create_body()["HostConfig"]["Mounts"][1],
        json!({"Type": "bind", "Source": "/home/ana/data", "Target": "/data", "ReadOnly": true})
    );
    assert_eq!(
        spec.env,
        vec![
            "A=1",
            "JUPYTER_TOKEN_FILE=/etc/ptenv/jupyter/token",
            "UV_CONSTRAINT=/etc/ptenv/dependencies/image.txt"
        ]
    );
    assert_eq!(spec.cmd, vec!["jupyter", "lab"]);
    assert_eq!(
        spec.labels[LABEL_PORTS],
        "127.0.0.1:8888->8888/tcp,0.0.0.0:6006->6006/tcp"
    );
    let body = spec.create_body();
    assert_eq!(
        body["HostConfig"]["PortBindings"]["6006/tcp"],
        json!([{"HostIp": "0.0.0.0", "HostPort": "6006"}])
    );
}

#[test]
fn the_home_is_mounted_and_the_profile_may_change_uv_s_constraints() {
    let spec = spec_for(
        &profile("shell", "env: {UV_CONSTRAINT: ''}\n"),
        false,
        &Setup::default(),
    );
    assert!(
        spec.env.contains(&"UV_CONSTRAINT=".to_string()),
        "{:?}",
        spec.env
    );
    assert_eq!(spec.volumes.len(), 1);
    assert_eq!(spec.volumes[0].target, "/home/dev");
    assert!(
        spec.volumes[0].name.ends_with("-home"),
        "{:?}",
        spec.volumes
    );
}

#[test]
fn idle_stop_runs_the_watcher_beside_the_command_and_labels_the_container() {
    let setup = Setup::default();
    let plain = spec_for(&profile("shell", "command: make train\n"), false, &setup);
    assert!(!plain.labels.contains_key(crate::idle::LABEL));
    let spec = spec_for(
        &profile("shell", "command: make train\nidle_stop: 2h\n"),
        false,
        &setup,
    );
    assert_eq!(spec.labels[crate::idle::LABEL], "2h");
    assert_eq!(spec.cmd[..2], ["/bin/sh", "-c"]);
    assert!(
        spec.cmd[2].contains("idle-watch.py 7200 2h &"),
        "{:?}",
        spec.cmd
    );
    // The command it watches is the one it would have run.
    assert_eq!(spec.cmd[4..], plain.cmd[..]);
}

#[test]
fn a_mode_without_a_command_keeps_the_container_alive_and_root_modes_have_no_user() {
    let setup = Setup {
        run_as_root: true,
        ..Setup::default()
    };
    let spec = spec_for(&profile("shell", ""), false, &setup);
    assert_eq!(spec.cmd, KEEP_ALIVE.to_vec());
    assert_eq!(spec.user, None);
    assert!(spec.create_body().get("User").is_none());
    let spec = spec_for(&profile("shell", "command: make train\n"), false, &setup);
    assert_eq!(
        spec.cmd,
        vec![
            "/bin/sh",
            crate::modes::ENTRY_SCRIPT,
            "/bin/sh",
            "-c",
            "make train"
        ]
    );
    // A mode that runs the profile's command itself (ssh) keeps its own command.
    let runs_it = Setup {
        command: Some(vec!["/bin/sh".into(), "start.sh".into(), "make".into()]),
        runs_profile_command: true,
        ..setup
    };
    let spec = spec_for(&profile("ssh", "command: make\n"), false, &runs_it);
    assert_eq!(spec.cmd, vec!["/bin/sh", "start.sh", "make"]);
}

#[test]
fn the_config_hash_ignores_moved_ports_and_memlock_caps_but_sees_changes() {
    let p = profile("jupyter", "");
    let spec = spec_for(&p, false, &Setup::default());
    let mut moved = spec.clone();
    moved.set_host_ports(&[8890]);
    assert_eq!(moved.config_hash(), spec.config_hash());
    assert_eq!(moved.labels[LABEL_PORTS], "127.0.0.1:8890->8888/tcp");
    assert_eq!(
        moved.create_body()["HostConfig"]["PortBindings"]["8888/tcp"][0]["HostPort"],
        "8890"
    );
    let capped = spec.without_memlock("8388608");
    assert_eq!(capped.config_hash(), spec.config_hash());
    assert!(capped.ulimits.iter().all(|u| u.name != "memlock"));
    assert_eq!(capped.labels[LABEL_MEMLOCK], "8388608");

    let other = spec_for(
        &profile("jupyter", "shm_size: 2g\n"),
        false,
        &Setup::default(),
    );
    assert_ne!(other.config_hash(), spec.config_hash());
    let with_file = spec_for(
        &p,
        false,
        &Setup {
            files: vec![ContainerFile {
                path: "/etc/ptenv/jupyter/token".into(),
                contents: b"new".to_vec(),
                mode: 0o600,
                uid: 1,
                gid: 1,
            }],
            ..Setup::default()
        },
    );
    assert_ne!(with_file.config_hash(), spec.config_hash());
    assert_eq!(spec.config_hash().len(), 16);
}

#[test]
fn a_volume_label_with_a_comma_or_quote_is_one_csv_field() {
    let v = NamedVolume {
        name: "ptenv-x-home".into(),
        target: "/home/dev".into(),
        labels: BTreeMap::from([("dev.ptenv.project".into(), "/p/a,\"b\"".into())]),
    };
    assert_eq!(
        v.mount_flag(),
        "type=volume,source=ptenv-x-home,target=/home/dev,\"volume-label=dev.ptenv.project=/p/a,\"\"b\"\"\""
    );
}

#[test]
fn names_and_labels() {
    let spec = spec_for(&profile("shell", ""), false, &Setup::default());
    let project = Project::new(Path::new("/home/ana/proj"));
    assert_eq!(spec.name, project.container_name("shell"));
    assert_eq!(spec.labels[LABEL_PROJECT], "/home/ana/proj");
    assert_eq!(spec.labels[LABEL_MODE], "shell");
    assert_eq!(spec.labels[LABEL_PROFILE], "shell");
    assert_eq!(
        spec.labels[LABEL_BASE_IMAGE],
        "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"
    );
    assert!(spec.docker_run_line().contains("--ulimit memlock=-1:-1"));
}

#[test]
fn on_a_server_the_workspace_is_the_project_s_volume() {
    let p = profile("shell", "");
    let project = Project::new(Path::new("/home/ana/proj"));
    let user = User::for_ids(1234, 1300);
    let setup = Setup::default();
    let spec = plan(&Input {
        profile: &p,
        project: &project,
        image: "ptenv/x:1",
        base_image: "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime",
        gpus: None,
        nvidia_default_runtime: false,
        host_ram: 0,
        user: &user,
        setup: &setup,
        home: Path::new("/home/srv"),
        workspace: Workspace::Volume("ptenv-proj-1-workspace"),
    });
    assert_eq!(
        spec.create_body()["HostConfig"]["Mounts"][0],
        json!({"Type": "volume", "Source": "ptenv-proj-1-workspace", "Target": "/workspace"})
    );
    assert!(spec
        .docker_run_line()
        .contains("--mount type=volume,source=ptenv-proj-1-workspace,target=/workspace"));
    assert_eq!(
        spec.labels[LABEL_PROJECT], "/home/ana/proj",
        "the laptop's folder still names the environment"
    );
    let local = spec_for(&p, false, &setup);
    assert_ne!(local.config_hash(), spec.config_hash());
}

#[test]
fn a_decided_request_reads_as_the_profile_spelled_it() {
    // Messages quote the decided request where they once quoted `profile.gpus`: same text.
    for gpus in [
        Gpus::All,
        Gpus::Count(2),
        Gpus::Devices(vec!["0".into(), "2".into()]),
    ] {
        let request = GpuRequest::from_profile(&gpus, true).unwrap();
        assert_eq!(request.to_string(), gpus.to_string());
    }
    assert_eq!(GpuRequest::from_profile(&Gpus::None, true), None);
}
