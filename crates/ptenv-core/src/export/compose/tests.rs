use super::*;
use crate::export::fixture::{assert_snapshot, build};

fn service(text: &str, name: &str) -> serde_yaml::Value {
    let doc: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
    doc["services"][name].clone()
}

#[test]
fn jupyter_is_the_container_up_creates() {
    let f = build("", "jupyter");
    let r = render(&f.input(), &Layout::for_profile("jupyter", true), None).unwrap();
    assert_snapshot("compose-jupyter.yaml", &r.text);
    let s = service(&r.text, "jupyter");
    assert_eq!(s["image"], f.spec.image.as_str());
    assert_eq!(s["build"]["context"], "./ptenv-jupyter");
    // The build args ptenv up passes, by name: compose fills them in from its environment.
    let args = s["build"]["args"].as_sequence().unwrap();
    for name in ["HTTPS_PROXY", "PIP_INDEX_URL", "PTENV_CA", "PTENV_CA_PEM"] {
        assert!(args.contains(&name.into()), "{name} in {args:?}");
    }
    assert!(r
        .text
        .contains("PTENV_CA=1 PTENV_CA_PEM=\"$(cat corp-root.pem)\""));
    assert_eq!(s["user"], "1234:1300");
    assert_eq!(s["init"], true);
    assert_eq!(s["shm_size"], "12g");
    assert_eq!(s["ports"][0], "127.0.0.1:8888:8888");
    assert_eq!(s["volumes"][0]["type"], "bind");
    assert_eq!(s["volumes"][0]["source"], ".");
    assert_eq!(s["volumes"][0]["target"], "/workspace");
    assert!(s["volumes"][0].get("read_only").is_none());
    assert_eq!(s["ulimits"]["memlock"], "${PTENV_MEMLOCK:--1}");
    assert_eq!(s["ulimits"]["stack"], 67108864);
    assert_eq!(
        s["deploy"]["resources"]["reservations"]["devices"][0]["count"],
        "all"
    );
    // The token is a secret file, never in the compose file.
    assert_eq!(s["secrets"][0]["target"], "/etc/ptenv/jupyter/token");
    assert!(!r.text.contains("fixture contents"));
    let token = r.files.iter().find(|f| f.secret).unwrap();
    assert_eq!(
        token.path,
        std::path::PathBuf::from("ptenv-jupyter/secrets/jupyter-token")
    );
    assert_eq!((token.mode, token.owner), (0o600, Some((1234, 1300))));
    let dockerfile = r
        .files
        .iter()
        .find(|f| f.path.ends_with("Dockerfile"))
        .unwrap();
    assert_eq!(dockerfile.contents, f.dockerfile.as_bytes());
    // The entry script and the environment file come with the image the Dockerfile
    // builds: nothing of ptenv's is bind-mounted but the token.
    let baked = String::from_utf8_lossy(&dockerfile.contents);
    assert!(baked.contains("> '/etc/ptenv/entry.sh'"), "{baked}");
    assert!(
        baked.contains("chown 1234:1300 '/etc/ptenv/user-environment'"),
        "{baked}"
    );
    assert!(!r
        .files
        .iter()
        .any(|f| f.path.starts_with("ptenv-jupyter/files")));
    // The workspace and the home volume: no config file is mounted.
    assert_eq!(s["volumes"].as_sequence().unwrap().len(), 2, "{}", r.text);
    assert_eq!(s["volumes"][1]["type"], "volume");
    assert_eq!(s["volumes"][1]["source"], "home");
    assert_eq!(s["volumes"][1]["target"], "/home/dev");
    let doc: serde_yaml::Value = serde_yaml::from_str(&r.text).unwrap();
    assert!(doc["volumes"]["home"].is_mapping(), "{}", r.text);
    assert!(r.next[0].contains("PTENV_MEMLOCK=<its limit in bytes>"));
    assert!(r.next[1].contains("/lab?token=$(cat ptenv-jupyter/secrets/jupyter-token)"));
}

#[test]
fn gpus_by_id_mounts_env_and_a_project_elsewhere() {
    let f = build(
            "profiles:\n  train:\n    mode: shell\n    gpus: [0, 2]\n    shm_size: 8g\n    mounts: ['~/data:/data:ro']\n    env: {WANDB_MODE: offline, AT: '10:30'}\n    ulimits: {nofile: '1024:4096'}\n    command: [python, train.py]\n",
            "train",
        );
    let r = render(&f.input(), &Layout::for_profile("train", false), None).unwrap();
    assert_snapshot("compose-train.yaml", &r.text);
    let s = service(&r.text, "train");
    assert_eq!(
        s["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"],
        serde_yaml::to_value(["0", "2"]).unwrap()
    );
    assert_eq!(s["volumes"][0]["source"], "/home/ana/proj");
    assert_eq!(s["volumes"][0]["target"], "/workspace");
    assert_eq!(s["volumes"][1]["source"], "/home/ana/data");
    assert_eq!(s["volumes"][1]["target"], "/data");
    assert_eq!(s["volumes"][1]["read_only"], true);
    assert_eq!(s["environment"][0], "AT=10:30");
    assert_eq!(s["ulimits"]["nofile"]["soft"], 1024);
    // Through the entry script, so login shells get the environment.
    assert_eq!(s["command"][1], crate::modes::ENTRY_SCRIPT);
    assert_eq!(s["command"][3], "train.py");
    assert_eq!(s["shm_size"], "8g");
    assert!(
        r.files.iter().all(|f| !f.secret),
        "the shell mode has no secret"
    );
    assert!(
        !r.warnings.is_empty(),
        "absolute extra mounts are worth a word"
    );
}

#[test]
fn cpu_and_host_ipc() {
    let f = build("gpus: none\nipc: host\n", "shell");
    let r = render(&f.input(), &Layout::for_profile("shell", true), None).unwrap();
    let s = service(&r.text, "shell");
    assert!(s.get("deploy").is_none());
    assert!(s.get("shm_size").is_none());
    assert_eq!(s["ipc"], "host");
    assert!(!r.text.contains("GPUs:"));
}

#[test]
fn dollars_in_values_are_literal_for_compose() {
    let f = build(
            "profiles:\n  t:\n    mode: shell\n    env: {A: '${HOME}', B: 'costs $5'}\n    command: [echo, '$HOME', 'costs $5']\n",
            "t",
        );
    let r = render(&f.input(), &Layout::for_profile("t", true), None).unwrap();
    let s = service(&r.text, "t");
    assert_eq!(s["environment"][0], "A=$${HOME}", "{}", r.text);
    assert_eq!(s["environment"][1], "B=costs $$5");
    let cmd = s["command"].as_sequence().unwrap();
    assert_eq!(cmd[cmd.len() - 2], "$$HOME");
    assert_eq!(cmd[cmd.len() - 1], "costs $$5");
    // ptenv's own interpolation stays one.
    assert_eq!(s["ulimits"]["memlock"], "${PTENV_MEMLOCK:--1}");
}

#[test]
fn nodes_are_services_of_one_torchrun_job_meeting_at_node_0() {
    let f = build(
            "profiles:\n  train:\n    mode: shell\n    gpus: none\n    shm_size: 1g\n    ports: [6006]\n    command: [python, train.py]\n    kubernetes: {nccl: {debug: INFO}}\n",
            "train",
        );
    let r = render(&f.input(), &Layout::for_profile("train", true), Some(2)).unwrap();
    assert_snapshot("compose-train-2-nodes.yaml", &r.text);
    let doc: serde_yaml::Value = serde_yaml::from_str(&r.text).unwrap();
    let services = doc["services"].as_mapping().unwrap();
    assert_eq!(services.len(), 2);
    for i in 0..2 {
        let s = &doc["services"][format!("train-{i}").as_str()];
        assert_eq!(s["hostname"], format!("train-{i}"));
        assert_eq!(s["shm_size"], "1g");
        let cmd: Vec<&str> = s["command"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(
            cmd[2..],
            [
                "torchrun",
                "--nnodes=2",
                "--nproc_per_node=1",
                "--rdzv_backend=c10d",
                "--rdzv_endpoint=train-0:29500",
                "--rdzv_id=train",
                "train.py"
            ]
        );
        let env = serde_yaml::to_string(&s["environment"]).unwrap();
        assert!(env.contains("NCCL_DEBUG=INFO"), "{env}");
    }
    // One machine: only node 0 publishes the host port.
    assert!(doc["services"]["train-0"].get("ports").is_some());
    assert!(doc["services"]["train-1"].get("ports").is_none());
    assert!(r.next[0].contains("docker compose up"), "{:?}", r.next);

    let e = render(&f.input(), &Layout::for_profile("train", true), Some(0)).unwrap_err();
    assert!(e.message.contains("`--nodes 0`"), "{e}");
    let f = build("", "shell");
    let e = render(&f.input(), &Layout::for_profile("shell", true), Some(2)).unwrap_err();
    assert!(e.message.contains("has none"), "{e}");
    assert!(e.hints[0].contains("command: [python, train.py]"));
}

#[test]
fn a_user_that_looks_like_base_60_is_quoted() {
    let mut f = build("gpus: none\n", "shell");
    f.spec.user = Some("1000:50".into());
    let r = render(&f.input(), &Layout::for_profile("shell", true), None).unwrap();
    assert!(r.text.contains("\n    user: '1000:50'\n"), "{}", r.text);
    assert_eq!(compose_size(3 << 20), Value::String("3m".into()));
    assert_eq!(compose_size(1000), Value::from(1000u64));
}
