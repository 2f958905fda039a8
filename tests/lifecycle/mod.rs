//! `ptenv up` and the lifecycle commands against the real engine (issue #5): the shell profile
//! on the small fixture from the local registry, detached. Create, reuse, start again,
//! recreate, ls, exec, logs, down, and two `up` at once.
//!
//! Every test here uses the same profile inputs, so the derived image is built once (by
//! [`warm`]) and reused by the others.

use std::sync::OnceLock;
use std::time::Duration;

use crate::support::{docker_inspect, docker_ok, Project, Testbed};

/// `ptenv.yaml` for a CPU shell on the small fixture, plus `extra` lines.
pub fn shell_yaml(extra: &str) -> String {
    format!(
        "default: shell\nrepository: {}\ngpus: none\n{extra}",
        Testbed::get().small_repo
    )
}

/// A project with the shell profile. When the tests run as root, the folder is given to
/// 1000:1000, as a user's own folder would be theirs: the container user takes its owner's ids.
pub fn shell_project(name: &str, extra: &str) -> Project {
    Testbed::get().registry();
    let p = Project::new(name);
    p.write("ptenv.yaml", &shell_yaml(extra));
    if rustix::process::getuid().as_raw() == 0 {
        std::os::unix::fs::chown(p.path(), Some(1000), Some(1000)).expect("chown the project");
    }
    p
}

/// Build the derived shell image once per test run (the first `up` pulls and builds; the
/// others find it).
pub fn warm() {
    static WARM: OnceLock<()> = OnceLock::new();
    WARM.get_or_init(|| {
        let p = shell_project("lifecycle-warm", "");
        p.ptenv(&["up", "--detach"]).run().assert_success();
    });
}

/// The one container of the project, inspected.
pub fn only_container(p: &Project) -> serde_json::Value {
    let ids = p.containers();
    assert_eq!(ids.len(), 1, "expected exactly one container: {ids:?}");
    docker_inspect(&ids[0])
}

#[test]
fn up_shell_detach_creates_reuses_lists_execs_and_goes_down() {
    warm();
    let p = shell_project("lifecycle-main", "");
    let first = p.ptenv(&["up", "shell", "--detach"]).run();
    first.assert_success();
    assert!(
        first.stderr.contains("Started ptenv-lifecycle-main-"),
        "{first}"
    );
    let c = only_container(&p);
    assert_eq!(c["State"]["Running"], true);
    let name = c["Name"]
        .as_str()
        .unwrap()
        .trim_start_matches('/')
        .to_string();
    assert!(name.ends_with("-shell"), "{name}");
    assert!(c["Config"]["Image"]
        .as_str()
        .unwrap()
        .starts_with("ptenv/pytorch-"));
    assert_eq!(c["Config"]["User"], "1000:1000");
    assert_eq!(c["Config"]["WorkingDir"], "/workspace");
    assert_eq!(c["Config"]["Labels"]["dev.ptenv.profile"], "shell");
    assert_eq!(c["Config"]["Labels"]["dev.ptenv.mode"], "shell");
    assert_eq!(
        c["HostConfig"]["Mounts"][0],
        serde_json::json!({"Type": "bind", "Source": p.path(), "Target": "/workspace"})
    );

    // A second `up` reuses the running container at once.
    let second = p.ptenv(&["up", "shell", "--detach"]).run();
    second.assert_success();
    assert!(second.stderr.contains("reusing"), "{second}");
    assert!(second.elapsed < Duration::from_secs(5), "{second}");
    assert_eq!(only_container(&p)["Id"], c["Id"]);

    // ls shows it, with its profile and project.
    let mine = crate::support::ls_entry(&p.ptenv(&["ls", "--json"]).run(), "name", &name);
    assert_eq!(mine["profile"], "shell");
    assert_eq!(mine["state"], "running");
    assert_eq!(mine["project"], p.path().display().to_string());
    assert_eq!(mine["gpus"], "none");
    let table = p.ptenv(&["ls"]).run();
    assert!(
        table.stdout.lines().next().unwrap().starts_with("NAME"),
        "{table}"
    );
    assert!(table.stdout.contains(&name), "{table}");

    // exec runs as the user in /workspace; files it makes belong to that user on the host;
    // its exit code is ptenv's.
    let id = p
        .ptenv(&["exec", "--", "sh", "-c", "id -u; pwd; touch made-inside"])
        .run();
    id.assert_success();
    assert_eq!(id.stdout, "1000\n/workspace\n", "{id}");
    let meta = std::fs::metadata(p.path().join("made-inside")).expect("the file is on the host");
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 1000);
    p.ptenv(&["exec", "--", "sh", "-c", "echo out; echo err >&2; exit 7"])
        .run()
        .assert_exit(7);
    // Piped input reaches the command, as with `docker exec -i`.
    let cat = p.ptenv(&["exec", "--", "cat"]).stdin("piped in\n").run();
    cat.assert_success();
    assert_eq!(cat.stdout, "piped in\n", "{cat}");
    let sudo = p.ptenv(&["exec", "--", "sudo", "-n", "id", "-u"]).run();
    sudo.assert_success();
    assert_eq!(sudo.stdout, "0\n", "passwordless sudo: {sudo}");

    // logs answers (the shell container prints little) and exits 0.
    p.ptenv(&["logs", "--tail", "5"]).run().assert_success();

    // down removes it; keys and tokens stay (the data folder is untouched).
    let down = p.ptenv(&["down"]).run();
    down.assert_success();
    assert!(down.stderr.contains(&format!("Removed {name}")), "{down}");
    assert!(p.containers().is_empty());
    let again = p.ptenv(&["down"]).run();
    again.assert_success();
    assert!(again.stderr.contains("No ptenv containers"), "{again}");
}

#[test]
fn a_stopped_container_is_started_again_and_a_changed_profile_recreates_it() {
    warm();
    let p = shell_project("lifecycle-change", "");
    p.ptenv(&["up", "--detach"]).run().assert_success();
    let before = only_container(&p);
    let id = before["Id"].as_str().unwrap().to_string();
    docker_ok(&["stop", "-t", "1", &id]);
    let restart = p.ptenv(&["up", "--detach"]).run();
    restart.assert_success();
    assert!(restart.stderr.contains("again"), "{restart}");
    let after = only_container(&p);
    assert_eq!(after["Id"], before["Id"]);
    assert_eq!(after["State"]["Running"], true);

    p.write("ptenv.yaml", &shell_yaml("env: {TRAIN_SEED: '42'}\n"));
    let changed = p.ptenv(&["up", "--detach"]).run();
    changed.assert_success();
    assert!(changed.stderr.contains("recreating"), "{changed}");
    let new = only_container(&p);
    assert_ne!(new["Id"], before["Id"]);
    let env: Vec<&str> = new["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(env.contains(&"TRAIN_SEED=42"), "{env:?}");
}

#[test]
fn two_ups_at_once_make_exactly_one_container() {
    warm();
    let p = shell_project("lifecycle-race", "");
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| p.ptenv(&["up", "--detach"]).run());
        let b = s.spawn(|| p.ptenv(&["up", "--detach"]).run());
        (a.join().unwrap(), b.join().unwrap())
    });
    a.assert_success();
    b.assert_success();
    let c = only_container(&p);
    assert_eq!(c["State"]["Running"], true);
    // The loser said what it did: it waited for the winner or found it running.
    let both = format!("{}{}", a.stderr, b.stderr);
    assert_eq!(both.matches("Started ptenv-").count(), 1, "{a}\n{b}");
}

#[test]
fn dry_run_json_prints_the_create_body_and_creates_nothing() {
    warm();
    let p = shell_project(
        "lifecycle-dry",
        "shm_size: 2g\nports: ['127.0.0.1:18080:8080']\n",
    );
    let out = p.ptenv(&["up", "--dry-run", "--json"]).run();
    out.assert_success();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    let body = &v["create"];
    assert_eq!(body["HostConfig"]["ShmSize"], 2u64 << 30);
    assert_eq!(body["HostConfig"]["Init"], true);
    assert_eq!(
        body["HostConfig"]["Mounts"][0],
        serde_json::json!({"Type": "bind", "Source": p.path(), "Target": "/workspace"})
    );
    assert_eq!(body["ExposedPorts"]["8080/tcp"], serde_json::json!({}));
    assert_eq!(
        body["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostIp"],
        "127.0.0.1"
    );
    assert!(
        body["HostConfig"].get("DeviceRequests").is_none(),
        "gpus: none"
    );
    // The base is in the engine (warm pulled it), so the derived image is named exactly.
    let derived = v["image"]["derived"].as_str().expect("the derived tag");
    assert_eq!(body["Image"], derived);
    assert_eq!(v["container"]["action"], "create");
    assert!(p.containers().is_empty(), "a dry run creates nothing");
}

#[test]
fn exec_and_logs_without_a_container_say_how_to_start_one() {
    let p = shell_project("lifecycle-none", "");
    let out = p.ptenv(&["exec", "--", "true"]).run();
    out.assert_exit(1);
    assert!(out.stderr.contains("has no ptenv container"), "{out}");
    assert!(
        out.stderr.contains("hint: start one with `ptenv up`"),
        "{out}"
    );
    let logs = p.ptenv(&["logs", "jupyter"]).run();
    logs.assert_exit(1);
    assert!(logs.stderr.contains("no `jupyter` container"), "{logs}");
    assert!(
        logs.stderr.contains("start it with `ptenv up jupyter`"),
        "{logs}"
    );
}

#[test]
fn every_command_names_the_profile_the_same_way_and_unknown_names_are_errors() {
    warm();
    let p = shell_project("lifecycle-names", "profiles: {train: {mode: shell}}\n");
    p.ptenv(&["up", "train", "--detach"]).run().assert_success();
    // PROFILE as an argument, as for up, logs and down.
    let out = p.ptenv(&["exec", "train", "--", "echo", "in-train"]).run();
    out.assert_success();
    assert_eq!(out.stdout.trim(), "in-train", "{out}");
    // The older --profile-name still works.
    let out = p
        .ptenv(&["exec", "--profile-name", "train", "--", "true"])
        .run();
    out.assert_success();
    let out = p.ptenv(&["exec", "shell", "--", "true"]).run();
    out.assert_exit(1);
    assert!(out.stderr.contains("no `shell` container"), "{out}");

    // A name that is no profile: an error with the nearest, for every command.
    for args in [
        &["down", "trian"][..],
        &["logs", "trian"],
        &["exec", "trian", "--", "true"],
    ] {
        let out = p.ptenv(args).run();
        out.assert_exit(1);
        assert!(
            out.stderr.contains("there is no profile named `trian`"),
            "{args:?}: {out}"
        );
        assert!(
            out.stderr.contains("did you mean `train`?"),
            "{args:?}: {out}"
        );
        assert!(!out.stderr.contains("ptenv up trian"), "{args:?}: {out}");
    }
    assert_eq!(p.containers().len(), 1, "down trian removed nothing");
    // A defined profile without a container: said, and not an error for down.
    let out = p.ptenv(&["down", "shell"]).run();
    out.assert_success();
    assert!(out.stderr.contains("No `shell` container"), "{out}");
    // A container whose profile left ptenv.yaml can still be named.
    p.write("ptenv.yaml", &shell_yaml(""));
    let out = p.ptenv(&["logs", "train"]).run();
    out.assert_success();
    p.ptenv(&["down", "train"]).run().assert_success();
    assert!(p.containers().is_empty());
}

#[test]
fn logs_follow_streams_until_ctrl_c() {
    use std::io::Read;
    warm();
    let p = shell_project(
        "lifecycle-logs",
        "command: 'echo hello-from-the-container; exec sleep infinity'\n",
    );
    p.ptenv(&["up", "--detach"]).run().assert_success();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ptenv"))
        .args(["logs", "-f"])
        .current_dir(p.path())
        .env("HOME", p.home())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("hello-from-the-container") {
        let mut buf = [0u8; 256];
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "logs -f ended: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    // Still following: it has not exited by itself.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "logs -f stopped following"
    );
    crate::support::send_sigint(child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "Ctrl-C ends `logs -f` quietly");
}

#[test]
fn up_says_in_one_line_when_it_runs_on_the_cpu_and_warns_when_gpus_were_asked_for() {
    // A machine whose NVIDIA kernel module is not loaded (the fake NVML says so).
    let p = shell_project("lifecycle-cpu", "");
    let scenario = p.gpu_scenario(crate::support::gpus::DRIVER_NOT_LOADED);
    let up = |args: &[&str]| {
        let out = p.ptenv(args).fake_gpus(&scenario).run();
        out.assert_success();
        out
    };

    // `gpus: none` in the profile: said, no doctor needed.
    let out = up(&["up", "--dry-run"]);
    assert!(
        out.stderr
            .contains("Running on the CPU: The profile says `gpus: none`"),
        "{out}"
    );
    assert!(!out.stderr.contains("warning: `--gpus"), "{out}");

    // Asked for with --gpus: a warning that names the broken link and doctor.
    let out = up(&["up", "--dry-run", "--gpus", "all"]);
    let warning = out
        .stderr
        .lines()
        .find(|l| l.starts_with("warning: `--gpus all` was asked for, but no GPU will be used"))
        .unwrap_or_else(|| panic!("no warning:\n{out}"));
    assert!(warning.contains("No NVIDIA driver was found"), "{out}");
    assert!(warning.contains("DRIVER_NOT_LOADED"), "{out}");
    assert!(warning.contains("`ptenv doctor`"), "{out}");

    // The default (all GPUs, none found): one line, with doctor for those who expected one.
    p.write(
        "ptenv.yaml",
        &format!(
            "default: shell\nrepository: {}\n",
            Testbed::get().small_repo
        ),
    );
    let out = up(&["up", "--detach"]);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("on the CPU"))
        .collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].starts_with("Running on the CPU: No NVIDIA driver"),
        "{out}"
    );
    assert!(lines[0].contains("`ptenv doctor`"), "{out}");
    let c = only_container(&p);
    assert!(
        c["HostConfig"]["DeviceRequests"].is_null(),
        "no GPU requested: {c:#}"
    );
}

#[test]
fn a_second_home_on_the_same_project_does_not_take_over_the_first_users_environment() {
    warm();
    let p = shell_project("lifecycle-two-homes", "");
    p.ptenv(&["up", "--detach"]).run().assert_success();
    let before = only_container(&p)["Id"].as_str().unwrap().to_owned();

    // Another HOME on the same folder (as `sudo ptenv …` after `ptenv …`).
    let other = tempfile::tempdir().unwrap();
    let as_other = |args: &[&str]| {
        p.ptenv(args)
            .env("HOME", other.path())
            .env("XDG_CONFIG_HOME", other.path().join(".config"))
            .env("XDG_DATA_HOME", other.path().join(".local/share"))
            .env("XDG_CACHE_HOME", other.path().join(".cache"))
            .run()
    };
    let out = as_other(&["up", "--detach", "--trust"]);
    out.assert_exit(1);
    assert!(out.stderr.contains("belongs to someone else"), "{out}");
    assert!(
        out.stderr.contains(&p.data_dir().display().to_string()),
        "{out}"
    );
    assert!(
        out.stderr.contains("profiles: {shell-mine: {mode: shell}}"),
        "{out}"
    );
    // Untouched: the same container, still running.
    let after = only_container(&p);
    assert_eq!(after["Id"], before.as_str());
    assert_eq!(after["State"]["Running"], true);
    // Its owner may still use it.
    p.ptenv(&["up", "--detach"]).run().assert_success();
    assert_eq!(only_container(&p)["Id"], before.as_str());
}

#[test]
fn a_project_path_with_a_colon_is_the_workspace() {
    warm();
    let odd = "it's $HOME `id` \"q\" a\nb";
    let p = shell_project(
        "lifecycle-proj:1",
        &format!("env: {{ODD: {}}}\n", serde_json::json!(odd)),
    );
    let workspace_mount = |c: &serde_json::Value| {
        let mounts = c["Mounts"].as_array().expect("Mounts").clone();
        let m = mounts
            .iter()
            .find(|m| m["Destination"] == "/workspace")
            .unwrap_or_else(|| panic!("no mount at /workspace: {mounts:?}"))
            .clone();
        assert_eq!(m["Type"], "bind", "{m}");
        assert_eq!(m["Source"], p.path().to_str().unwrap(), "{m}");
        assert_eq!(m["RW"], true, "{m}");
    };

    // The docker run line ptenv prints makes the same mount with docker's own CLI.
    let dry = p.ptenv(&["up", "shell", "--dry-run", "--json"]).run();
    dry.assert_success();
    let v: serde_json::Value = serde_json::from_str(&dry.stdout).expect("one JSON document");
    let line = v["docker_run"].as_str().expect("the docker run line");
    let create = line.replacen(
        "docker run -d",
        &format!("docker create --label '{}'", p.label_filter()),
        1,
    );
    let created = p.command("sh", &["-c", &create]).run();
    created.assert_success();
    let id = created.stdout.trim().to_string();
    let theirs = docker_inspect(&id);
    workspace_mount(&theirs);
    // The line is quoted for the shell: values reach docker as written.
    let env = theirs["Config"]["Env"].as_array().unwrap();
    assert!(
        env.contains(&serde_json::json!(format!("ODD={odd}"))),
        "{env:?}"
    );
    assert_eq!(theirs["Config"]["Cmd"], v["create"]["Cmd"]);
    docker_ok(&["rm", "-f", id.as_str()]);

    // `up` mounts it at /workspace: what the container writes there is in the folder.
    p.ptenv(&["up", "shell", "--detach"]).run().assert_success();
    workspace_mount(&only_container(&p));
    p.ptenv(&[
        "exec",
        "--",
        "sh",
        "-c",
        "echo from-container > /workspace/written",
    ])
    .run()
    .assert_success();
    assert_eq!(p.read("written"), "from-container\n");

    // Compose reads the project as a bind mount too.
    p.ptenv(&["export", "compose", "shell", "-o", "compose.yaml"])
        .run()
        .assert_success();
    let config = p.command("docker-compose", &["config"]).run();
    config.assert_success();
    let doc: serde_yaml::Value = serde_yaml::from_str(&config.stdout).unwrap();
    let volume = &doc["services"]["shell"]["volumes"][0];
    assert_eq!(volume["type"], "bind", "{config}");
    assert_eq!(volume["source"], p.path().to_str().unwrap(), "{config}");
    assert_eq!(volume["target"], "/workspace", "{config}");
}
