//! Parity with `docker run` (issue #5, item 7): for a matrix of profiles, the container ptenv
//! creates and the one `docker create` makes from the flags an expert would type are compared
//! field by field in `docker inspect`: DeviceRequests, ShmSize, IpcMode, Ulimits, Mounts,
//! PortBindings, Env, Init, WorkingDir and User.
//!
//! The docker flags are written here by hand from the profile (the independent oracle), not
//! taken from ptenv's output. GPU rows cannot start on this GPU-less engine, so for them the
//! exact body of `ptenv up --dry-run --json` (what `up` sends) is created through the Engine
//! API with curl, then compared the same way.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::lifecycle::{only_container, shell_project, warm};
use crate::support::{docker, docker_inspect, docker_ok, Project, Testbed};

/// The inspect fields that carry the docker run flags.
const FIELDS: [&str; 8] = [
    "/HostConfig/DeviceRequests",
    "/HostConfig/ShmSize",
    "/HostConfig/IpcMode",
    "/HostConfig/Ulimits",
    "/HostConfig/PortBindings",
    "/HostConfig/Init",
    "/Config/WorkingDir",
    "/Config/User",
];

/// Half of the host's RAM, as `shm_size: auto` promises (read here independently).
fn half_ram() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: u64 = text
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024 / 2
}

/// `docker create` with `flags` and ptenv's image, labelled so the project's cleanup removes it.
fn docker_create(p: &Project, name: &str, flags: &[String], image: &str) -> Value {
    let label = format!("dev.ptenv.project={}", p.path().display());
    let mut args: Vec<String> = vec!["create".into(), "--name".into(), name.into()];
    args.extend(["--label".into(), label]);
    args.extend(flags.iter().cloned());
    args.push(image.into());
    args.extend(["sleep".into(), "infinity".into()]);
    docker_inspect(&docker_ok(&args))
}

/// Compare the docker-run fields of two inspected containers.
#[track_caller]
fn assert_parity(ptenv: &Value, docker: &Value) {
    for field in FIELDS {
        let (a, b) = (ptenv.pointer(field), docker.pointer(field));
        assert_eq!(a, b, "{field} differs: ptenv {a:?}, docker {b:?}");
    }
    // The mounts as sent (`--mount`), order aside; no `-v` strings.
    let sent = |c: &Value| -> BTreeSet<String> {
        c["HostConfig"]["Mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.to_string())
            .collect()
    };
    assert_eq!(sent(ptenv), sent(docker), "HostConfig.Mounts differ");
    assert_eq!(
        ptenv["HostConfig"]["Binds"],
        Value::Null,
        "no Binds strings"
    );
    // Env: the image's variables are merged in by the engine for both; order aside, the same.
    let env = |c: &Value| -> BTreeSet<String> {
        c["Config"]["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(env(ptenv), env(docker), "Env differs");
    // Mounts: the same sources, destinations and modes.
    let mounts = |c: &Value| -> BTreeSet<String> {
        c["Mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{} {} {} {}",
                    m["Type"], m["Source"], m["Destination"], m["RW"]
                )
            })
            .collect()
    };
    assert_eq!(mounts(ptenv), mounts(docker), "Mounts differ");
}

/// The flags for the ulimits ptenv set: memlock is left out when this engine refused it
/// (ptenv records that in a label; `engine::memlock_…` checks the fallback itself).
fn ulimit_flags(ptenv: &Value, extra: &[&str]) -> Vec<String> {
    let capped = ptenv["Config"]["Labels"]
        .get("dev.ptenv.memlock-capped")
        .is_some();
    let mut flags = Vec::new();
    if !capped {
        flags.extend(["--ulimit".to_string(), "memlock=-1".to_string()]);
    }
    flags.extend(["--ulimit".to_string(), "stack=67108864".to_string()]);
    for e in extra {
        flags.extend(["--ulimit".to_string(), e.to_string()]);
    }
    flags
}

/// `--mount type=bind,source=SOURCE,target=TARGET` and `extra` options.
fn mount_flag(source: &std::path::Path, target: &str, extra: &str) -> [String; 2] {
    [
        "--mount".into(),
        format!(
            "type=bind,source={},target={target}{extra}",
            source.display()
        ),
    ]
}

/// The project's home as an expert would keep it: its named volume at the user's home,
/// labelled with the project, and uv's run-time installs with the image's torch pinned (pip's
/// are set in the image).
fn home_flags(p: &Project) -> Vec<String> {
    let volume = format!("ptenv-{}-home", ptenv::project::Project::new(p.path()).id);
    vec![
        "--mount".to_string(),
        format!(
            "type=volume,source={volume},target=/home/dev,volume-label=dev.ptenv.project={},volume-label=dev.ptenv.volume=home",
            p.path().display()
        ),
        "-e".to_string(),
        "UV_CONSTRAINT=/etc/ptenv/dependencies/image.txt".to_string(),
    ]
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn ptenv_up(p: &Project) -> Value {
    p.ptenv(&["up", "--detach"]).run().assert_success();
    only_container(p)
}

#[test]
fn default_shell_profile_matches_docker_run() {
    warm();
    let p = shell_project("parity-default", "");
    let ours = ptenv_up(&p);
    let image = ours["Config"]["Image"].as_str().unwrap();
    let mut flags = strings(&["--init", "-w", "/workspace", "--user", "1000:1000"]);
    flags.extend(["--shm-size".into(), half_ram().to_string()]);
    flags.extend(ulimit_flags(&ours, &[]));
    flags.extend(mount_flag(p.path(), "/workspace", ""));
    flags.extend(home_flags(&p));
    let theirs = docker_create(&p, "ptenv-parity-default-docker", &flags, image);
    assert_parity(&ours, &theirs);
}

#[test]
fn ipc_host_ports_mounts_env_and_ulimits_match_docker_run() {
    warm();
    let data = tempfile::tempdir().unwrap();
    let data_path = data.path().canonicalize().unwrap();
    let extra = format!(
        "ipc: host\nports: ['127.0.0.1:18931:8080', '0.0.0.0:18932:6006']\nmounts: ['{}:/data:ro', './cache:/cache']\nenv: {{WANDB_MODE: offline, OMP_NUM_THREADS: 4}}\nulimits: {{nofile: '1024:4096'}}\n",
        data_path.display()
    );
    let p = shell_project("parity-ipc", &extra);
    std::fs::create_dir(p.path().join("cache")).unwrap();
    let ours = ptenv_up(&p);
    let image = ours["Config"]["Image"].as_str().unwrap();
    let mut flags = strings(&[
        "--init",
        "-w",
        "/workspace",
        "--user",
        "1000:1000",
        "--ipc",
        "host",
        "-p",
        "127.0.0.1:18931:8080",
        "-p",
        "0.0.0.0:18932:6006",
        "-e",
        "WANDB_MODE=offline",
        "-e",
        "OMP_NUM_THREADS=4",
    ]);
    flags.extend(ulimit_flags(&ours, &["nofile=1024:4096"]));
    flags.extend(mount_flag(p.path(), "/workspace", ""));
    flags.extend(home_flags(&p));
    flags.extend(mount_flag(&data_path, "/data", ",readonly"));
    flags.extend(mount_flag(&p.path().join("cache"), "/cache", ""));
    let theirs = docker_create(&p, "ptenv-parity-ipc-docker", &flags, image);
    assert_parity(&ours, &theirs);
    assert_eq!(ours["HostConfig"]["IpcMode"], "host");
    assert!(
        ours["HostConfig"]["ShmSize"].as_u64().unwrap_or(0) != 8 << 30,
        "no shm size with host IPC"
    );
}

#[test]
fn an_explicit_shm_size_matches_docker_run() {
    warm();
    let p = shell_project("parity-shm", "shm_size: 8g\n");
    let ours = ptenv_up(&p);
    let image = ours["Config"]["Image"].as_str().unwrap();
    let mut flags = strings(&["--init", "-w", "/workspace", "--user", "1000:1000"]);
    flags.extend(strings(&["--shm-size", "8g"]));
    flags.extend(ulimit_flags(&ours, &[]));
    flags.extend(mount_flag(p.path(), "/workspace", ""));
    flags.extend(home_flags(&p));
    let theirs = docker_create(&p, "ptenv-parity-shm-docker", &flags, image);
    assert_parity(&ours, &theirs);
    assert_eq!(ours["HostConfig"]["ShmSize"], 8589934592u64);
}

/// `POST /containers/create` with `body` through the engine's socket; returns the inspect.
fn create_through_api(name: &str, body: &Value) -> Value {
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| "/var/run/docker.sock".into());
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail-with-body", "--unix-socket", &socket])
        .args(["-H", "Content-Type: application/json", "-X", "POST"])
        .arg("-d")
        .arg(body.to_string())
        .arg(format!(
            "http://localhost/v1.41/containers/create?name={name}"
        ))
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "create through the API failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    docker_inspect(answer["Id"].as_str().unwrap())
}

/// `visible`: the request as `NVIDIA_VISIBLE_DEVICES`, which ptenv also puts in the container's
/// own environment for the exec'd processes (docs/gpus.md §8), as its `docker run` line says.
fn gpu_row(name: &str, gpus_yaml: &str, gpus_flag: &str, visible: &str) {
    warm();
    let p = shell_project(name, "");
    p.write(
        "ptenv.yaml",
        &format!(
            "default: shell\nrepository: {}\ngpus: {gpus_yaml}\n",
            Testbed::get().small_repo
        ),
    );
    // A fake one-GPU machine for the selection.
    let scenario = p.gpu_scenario(crate::support::gpus::RTX_A5000);
    let out = p
        .ptenv(&["up", "--dry-run", "--json"])
        .fake_gpus(&scenario)
        .run();
    out.assert_success();
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        plan["image"]["gpu"], true,
        "the fake GPU is selected: {out}"
    );
    let body = &plan["create"];
    let image = body["Image"].as_str().unwrap().to_string();
    assert!(
        image.starts_with("ptenv/"),
        "the derived image is named: {image}"
    );
    let ours = create_through_api(&format!("{name}-ptenv"), body);
    // memlock: the dry run cannot know this engine refuses it; both keep it here.
    let mut flags = strings(&["--init", "-w", "/workspace", "--user", "1000:1000"]);
    flags.extend(["--gpus".into(), gpus_flag.into()]);
    flags.extend(["-e".into(), format!("NVIDIA_VISIBLE_DEVICES={visible}")]);
    flags.extend(["--shm-size".into(), half_ram().to_string()]);
    flags.extend(strings(&[
        "--ulimit",
        "memlock=-1",
        "--ulimit",
        "stack=67108864",
    ]));
    flags.extend(mount_flag(p.path(), "/workspace", ""));
    flags.extend(home_flags(&p));
    let theirs = docker_create(&p, &format!("{name}-docker"), &flags, &image);
    assert_parity(&ours, &theirs);
    assert!(ours["HostConfig"]["DeviceRequests"].is_array());
    let _ = docker(&["rm", "-f", &format!("{name}-ptenv")]);
}

#[test]
fn gpus_all_matches_docker_run_gpus_all() {
    gpu_row("parity-gpu-all", "all", "all", "all");
}

#[test]
fn listed_gpus_match_docker_run_gpus_device() {
    gpu_row("parity-gpu-device", "[0]", "device=0", "0");
}
