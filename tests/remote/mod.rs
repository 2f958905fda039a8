//! ptenv on a laptop with the GPUs on another machine, against the test bed's second host
//! (tests/testbed/remote.sh): a real sshd on loopback for the server user `ptenv-remote`, and
//! the laptop user `ptenv-laptop` that reaches it with the real OpenSSH client.

use crate::support::{docker_inspect, docker_ok, ls_entry, Project, Testbed, PROJECT_LABEL};

/// A shell profile of the small image with no GPU: what most tests run on the server.
const SHELL: &str = "default: shell\nrepository: {repo}\ngpus: none\n";

/// A laptop project `name` for the test bed's server, and the `--host` that reaches it (the
/// registry checked first). `yaml` (none when empty) is its ptenv.yaml, with `{repo}` for the
/// small image's repository and `{ca}` for the registry's CA bundle.
fn remote_project(name: &str, yaml: &str) -> (&'static Testbed, Project, String) {
    let tb = Testbed::get();
    tb.registry();
    let project = Project::new(name);
    if !yaml.is_empty() {
        let ca = tb.ca_bundle.display().to_string();
        project.write(
            "ptenv.yaml",
            &yaml.replace("{repo}", &tb.small_repo).replace("{ca}", &ca),
        );
    }
    (tb, project, format!("ssh://{}", tb.remote_host()))
}

/// The test bed's second host is what the remote tests rely on: the laptop user reaches the
/// server's engine user with its pinned host key, gets the server's fake GPU through the
/// session's environment, cannot use this machine's engine itself, and the server user cannot
/// read the laptop's project folder.
#[test]
fn remote_test_host_is_a_separate_machine() {
    let tb = Testbed::get();
    let host = tb.remote_host();
    let project = Project::new("remote-testbed");
    let secret = project.write("notes.txt", "laptop only\n");

    let session = project
        .as_laptop("ssh", &["-o", "BatchMode=yes", host, "id -nG; env"])
        .run();
    session.assert_success();
    assert!(
        session
            .stdout
            .lines()
            .next()
            .unwrap_or("")
            .split(' ')
            .any(|g| g == "docker"),
        "the server user is in the docker group:\n{session}"
    );
    assert!(
        session.stdout.contains("PTENV_NVML_LIB=")
            && session.stdout.contains("PTENV_FAKE_NVML_SCENARIO="),
        "the server's sessions get the fake NVML:\n{session}"
    );

    let local = project.as_laptop("docker", &["version"]).run();
    local.assert_failure();
    assert!(local.stderr.contains("permission denied"), "{local}");

    let read = project
        .as_laptop(
            "ssh",
            &[
                "-o",
                "BatchMode=yes",
                host,
                &format!("cat '{}'", secret.display()),
            ],
        )
        .run();
    read.assert_failure();
    assert!(read.stderr.contains("Permission denied"), "{read}");

    let unknown = project
        .as_laptop(
            "ssh",
            &["-o", "BatchMode=yes", "gpu-server-unknown", "true"],
        )
        .run();
    unknown.assert_failure();
    assert!(
        unknown.stderr.contains("Host key verification failed"),
        "{unknown}"
    );
}

/// A container of the server's engine (the machine's own) with ptenv's project label of
/// `project`, named `ptenv-<name>-<pid>`: what `ls` must list.
fn labelled_container(tb: &Testbed, project: &Project, name: &str) -> String {
    let name = format!("ptenv-{name}-{}", std::process::id());
    let label = format!("{PROJECT_LABEL}={}", project.path().display());
    docker_ok(&[
        "create",
        "--name",
        &name,
        "--label",
        &label,
        &tb.small_image,
    ]);
    name
}

/// `ptenv ls` run by the laptop user, who cannot use this machine's engine, lists the server's
/// containers through one ssh connection and says which engine it asked; no private folder of
/// the connection is left behind.
#[test]
fn ls_reaches_the_remote_engine_over_ssh() {
    let (tb, project, target) = remote_project("remote-ls", "");
    // A container of the server's engine with ptenv's project label: `ls` must list it.
    let name = labelled_container(tb, &project, "remote-ls");

    let local = project.ptenv_as_laptop(&["ls"]).run();
    local.assert_failure();
    assert!(
        local
            .stderr
            .contains("permission denied on the Docker socket"),
        "{local}"
    );

    let ls = project
        .ptenv_as_laptop(&["-v", "--host", &target, "ls"])
        .run();
    ls.assert_success();
    assert!(ls.stdout.contains(&name), "{ls}");
    assert!(
        ls.stderr.contains("engine: ssh://gpu-server (from --host)"),
        "{ls}"
    );
    assert!(
        ls.stderr
            .contains("ptenv containers on the engine at ssh://gpu-server (from --host):"),
        "{ls}"
    );

    let json = project
        .ptenv_as_laptop(&["--json", "--host", &target, "ls"])
        .run();
    let ours = ls_entry(&json, "name", &name);
    assert_eq!(ours["host"], "ssh://gpu-server", "{json}");
    assert_eq!(ours["host_from"], "--host", "{json}");

    // DOCKER_HOST is read as docker reads it; with PTENV_SSH_PERSIST=0 the connection is the
    // command's own and ends with it: no master left, nor its private folder.
    for pid in project.ssh_masters() {
        crate::support::kill(pid, rustix::process::Signal::KILL);
    }
    let env = project
        .ptenv_as_laptop(&["ls"])
        .env("DOCKER_HOST", &target)
        .env("PTENV_SSH_PERSIST", "0")
        .run();
    env.assert_success();
    assert!(env.stdout.contains(&name), "{env}");
    docker_ok(&["rm", "-f", &name]);
    assert_eq!(project.ssh_masters(), Vec::<i32>::new(), "{env}");
    let tmp = project.path().parent().unwrap().join("laptop-tmp");
    let leftovers: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ptenv-ssh-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "the ssh connection's private folder is removed: {leftovers:?}"
    );
}

/// A directory with an `ssh` that records each of its argument lists (one line each, in
/// `ssh.calls` beside it) and runs the real one: what ptenv asked of ssh, for `PATH`.
fn recording_ssh(project: &Project) -> (String, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let base = project.path().parent().unwrap();
    let bin = base.join("recording-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = base.join("ssh.calls");
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v ssh"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let script = bin.join("ssh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec {} \"$@\"\n",
            calls.display(),
            real.trim()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    (path, calls)
}

/// How many masters the recorded ssh calls started (`ControlMaster=yes`).
fn masters_started(calls: &std::path::Path) -> usize {
    std::fs::read_to_string(calls)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("ControlMaster=yes"))
        .count()
}

/// The ssh master connection outlives the command that opened it (in the background, its
/// output in a log file, so the command's own output ends with the command) and the next
/// command reuses it: it starts no master and logs in no second time. It lives in a 0700
/// folder of the laptop user's temporary folder, named after the destination.
#[test]
fn a_second_command_reuses_the_kept_ssh_connection() {
    use std::os::unix::fs::PermissionsExt;
    let tb = Testbed::get();
    let project = Project::new("remote-keep");
    let target = format!("ssh://{}", tb.remote_host());
    let (path, calls) = recording_ssh(&project);

    let first = project
        .ptenv_as_laptop(&["--host", &target, "ls"])
        .env("PATH", &path)
        .run();
    first.assert_success();
    assert_eq!(masters_started(&calls), 1, "{first}");
    let masters = project.ssh_masters();
    assert_eq!(masters.len(), 1, "the master stays: {first}");
    // `pid (comm) state ppid pgrp session …`: ssh -f made it a session of its own.
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", masters[0])).unwrap();
    let session = stat.rsplit_once(") ").unwrap().1.split(' ').nth(3).unwrap();
    assert_eq!(session, masters[0].to_string(), "in the background: {stat}");
    let tmp = project.path().parent().unwrap().join("laptop-tmp");
    let folders: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("ptenv-"))
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let meta = folders[0].metadata().unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", masters[0])).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(
        cmdline.contains(&format!("ControlPath={}/", folders[0].path().display()))
            && cmdline.contains("ControlPersist=600s")
            && cmdline.contains("BatchMode=yes"),
        "{cmdline}"
    );

    let second = project
        .ptenv_as_laptop(&["-v", "--host", &target, "ls"])
        .env("PATH", &path)
        .run();
    second.assert_success();
    assert_eq!(
        masters_started(&calls),
        1,
        "the second command started no master: {second}"
    );
    assert_eq!(project.ssh_masters(), masters, "{second}");
    assert!(
        second
            .stderr
            .contains("ssh: reused the connection to ssh://gpu-server kept by an earlier command"),
        "{second}"
    );

    // Another destination (the engine's socket named) is another connection, here with an
    // idle time of its own.
    let socket = format!("{target}/var/run/docker.sock");
    let short = project
        .ptenv_as_laptop(&["--host", &socket, "ls"])
        .env("PATH", &path)
        .env("PTENV_SSH_PERSIST", "90s")
        .run();
    short.assert_success();
    assert_eq!(masters_started(&calls), 2, "{short}");
    let now = project.ssh_masters();
    assert_eq!(now.len(), 2, "{short}");
    let new = now.iter().find(|p| !masters.contains(p)).unwrap();
    let cmdline = std::fs::read(format!("/proc/{new}/cmdline")).unwrap();
    assert!(
        String::from_utf8_lossy(&cmdline).contains("ControlPersist=90s"),
        "{short}"
    );
    let bad = project
        .ptenv_as_laptop(&["--host", &target, "ls"])
        .env("PTENV_SSH_PERSIST", "60")
        .run();
    bad.assert_exit(1);
    assert!(
        bad.stderr
            .contains("PTENV_SSH_PERSIST: `60` is not a duration"),
        "{bad}"
    );
}

/// A kept master that is gone (killed), lost its forwarded socket, or no longer answers
/// (frozen: the engine's ping through it times out) is replaced by a new one, and the command
/// works.
#[test]
fn a_stale_kept_ssh_connection_is_replaced() {
    let tb = Testbed::get();
    let project = Project::new("remote-stale");
    let target = format!("ssh://{}", tb.remote_host());
    let (path, calls) = recording_ssh(&project);
    let ls = || {
        let run = project
            .ptenv_as_laptop(&["--host", &target, "ls"])
            .env("PATH", &path)
            .run();
        run.assert_success();
        let masters = project.ssh_masters();
        assert_eq!(masters.len(), 1, "{run}");
        masters[0]
    };
    let first = ls();
    crate::support::kill(first, rustix::process::Signal::KILL);
    let second = ls();
    assert_ne!(second, first);
    assert_eq!(masters_started(&calls), 2);

    // Its forwarded socket removed (a temporary folder cleaner): the master is asked to end
    // and a new one takes its place (`ls` finds exactly one).
    let tmp = project.path().parent().unwrap().join("laptop-tmp");
    let dir = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("ptenv-"))
        .expect("the kept connections' folder")
        .path();
    let forwarded: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "s"))
        .collect();
    assert_eq!(forwarded.len(), 1, "{forwarded:?}");
    std::fs::remove_file(&forwarded[0]).unwrap();
    let third = ls();
    assert_ne!(third, second);
    assert_eq!(masters_started(&calls), 3);

    crate::support::kill(third, rustix::process::Signal::STOP);
    let run = project
        .ptenv_as_laptop(&["--host", &target, "ls"])
        .env("PATH", &path)
        .run();
    run.assert_success();
    assert_eq!(masters_started(&calls), 4, "{run}");
    let masters = project.ssh_masters();
    assert!(
        masters.contains(&third) && masters.len() == 2,
        "a new master beside the frozen one: {masters:?}"
    );
}

/// Each way reaching the server can fail gives its own error with the next step, exits 1,
/// before anything is asked of an engine: unknown host key, a user the server refuses,
/// a user not allowed on the socket, a server without a Docker socket, and a docker context
/// that does not exist.
#[test]
fn remote_faults_say_what_to_do() {
    let tb = Testbed::get();
    let project = Project::new("remote-faults");
    let host = tb.remote_host();
    let cases = [
        (
            "ssh://gpu-server-unknown".to_string(),
            "the host key of ssh://gpu-server-unknown is not known yet",
            "connect once with `ssh gpu-server-unknown`",
        ),
        (
            format!("ssh://nobody@{host}"),
            "refused the login",
            "`ssh nobody@gpu-server` logs in without a password prompt",
        ),
        (
            "ssh://gpu-server-nogroup".to_string(),
            "the user ptenv-nogroup on ssh://gpu-server-nogroup may not use the Docker socket",
            "usermod -aG docker ptenv-nogroup",
        ),
        (
            format!("ssh://{host}/run/no-docker-here.sock"),
            "no Docker Engine socket at /run/no-docker-here.sock",
            "install and start Docker",
        ),
        (
            "no-such-context".to_string(),
            "there is no docker context named `no-such-context`",
            "docker context ls",
        ),
    ];
    for (target, message, hint) in cases {
        let run = project.ptenv_as_laptop(&["--host", &target, "ls"]).run();
        run.assert_exit(1);
        assert!(run.stderr.contains(message), "{target}: {run}");
        assert!(run.stderr.contains(hint), "{target}: {run}");
    }
}

/// `select` reports the server's GPU, read there by ptenv's own agent (copied once into the
/// server user's cache, then reused), not the laptop's lack of one.
#[test]
fn select_reports_the_servers_gpu() {
    let (tb, project, target) = remote_project("remote-select", "");

    let laptop = project.ptenv_as_laptop(&["--json", "select"]).run();
    laptop.assert_success();
    let here: serde_json::Value = serde_json::from_str(&laptop.stdout).unwrap();
    assert_eq!(
        here["driver"],
        serde_json::Value::Null,
        "the laptop has no GPU: {laptop}"
    );

    for _ in 0..2 {
        let run = project
            .ptenv_as_laptop(&["--json", "--host", &target, "select"])
            .run();
        run.assert_success();
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(v["host"], "ssh://gpu-server", "{run}");
        assert_eq!(v["driver"], "550.54.15", "{run}");
        assert_eq!(v["source"], "nvml", "{run}");
        assert_eq!(v["gpus"][0]["name"], "NVIDIA GeForce RTX 4090", "{run}");
        assert_eq!(v["gpu"], true, "{run}");
    }
    let human = project
        .ptenv_as_laptop(&["--host", &target, "select"])
        .run();
    human.assert_success();
    assert!(
        human
            .stderr
            .contains("The server ssh://gpu-server: NVIDIA driver 550.54.15"),
        "{human}"
    );
    // The agent sits in the server user's cache, by version and hash.
    let cached = project
        .as_laptop(
            "ssh",
            &[
                "-o",
                "BatchMode=yes",
                tb.remote_host(),
                "ls ~/.cache/ptenv/agent/*/ptenv",
            ],
        )
        .run();
    cached.assert_success();
    assert!(
        cached
            .stdout
            .contains(&format!("/agent/{}-", env!("CARGO_PKG_VERSION"))),
        "{cached}"
    );
}

/// `up shell --detach` on the server copies the project into a volume there (never a bind of
/// the laptop's path, which the server cannot read), as git sees the folder plus
/// `.ptenvignore`; `exec`, `logs` and `down` find the environment by the laptop's folder; the
/// next `up` sends only what changed and deletes what the laptop deleted.
#[test]
fn up_on_a_server_fills_a_workspace_volume_and_keeps_it_in_step() {
    let (_, project, target) = remote_project("remote-workspace", SHELL);
    project.write("train.py", "print('v1')\n");
    project.write("sub/a.txt", "a\n");
    project.write(".gitignore", "data/\n");
    project.write("data/big.bin", "ignored by git\n");
    project.write(".ptenvignore", "secret.txt\n");
    project.write("secret.txt", "laptop only\n");

    let up = project
        .ptenv_as_laptop(&["--host", &target, "up", "shell", "--detach"])
        .run();
    up.assert_success();
    assert!(
        up.stderr
            .contains("to the workspace volume ptenv-remote-workspace-"),
        "{up}"
    );
    let ids = project.containers();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let c = docker_inspect(&ids[0]);
    let mount = workspace_mount(&c);
    assert_eq!(mount["Type"], "volume", "{c}");
    assert_eq!(mount["Destination"], "/workspace", "{c}");
    let volume = mount["Name"].as_str().unwrap().to_owned();
    assert!(volume.ends_with("-workspace"), "{volume}");
    let binds = c["HostConfig"]["Binds"].to_string();
    assert!(
        !binds.contains(project.path().to_str().unwrap()),
        "no bind of the laptop's folder: {binds}"
    );
    let labels = docker_inspect_volume(&volume);
    assert_eq!(
        labels["dev.ptenv.project"],
        project.path().to_str().unwrap(),
        "the volume is labelled like the containers"
    );

    let ls = |p: &Project| {
        let run = p
            .ptenv_as_laptop(&[
                "--host",
                &target,
                "exec",
                "--",
                "sh",
                "-c",
                "cd /workspace && touch sub/made-here && rm sub/made-here && find . -type f | sort && stat -c '%u' train.py && id -u && cat train.py",
            ])
            .run();
        run.assert_success();
        run.stdout
    };
    let first = ls(&project);
    for wanted in [
        "./train.py",
        "./sub/a.txt",
        "./.gitignore",
        "./.ptenvignore",
        "./ptenv.yaml",
    ] {
        assert!(first.lines().any(|l| l == wanted), "{wanted} in:\n{first}");
    }
    for unwanted in [
        "./data/big.bin",
        "./secret.txt",
        "./.ptenv-upload-incomplete",
    ] {
        assert!(!first.contains(unwanted), "{unwanted} not in:\n{first}");
    }
    let tail: Vec<&str> = first.lines().rev().take(3).collect();
    assert_eq!(tail[0], "print('v1')", "{first}");
    assert_eq!(
        tail[1], tail[2],
        "the files are the container user's:\n{first}"
    );

    // A change on the laptop reaches the container on the next `up`; a deletion too.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    project.write("train.py", "print('v2')\n");
    project.write("new.py", "x = 1\n");
    std::fs::remove_file(project.path().join("sub/a.txt")).unwrap();
    let again = project
        .ptenv_as_laptop(&["--host", &target, "up", "shell", "--detach"])
        .run();
    again.assert_success();
    assert!(
        again.stderr.contains("Uploading 2 files")
            && again.stderr.contains("deleting 1 removed here"),
        "only what changed: {again}"
    );
    assert!(
        again.stderr.contains("is already running; reusing it"),
        "{again}"
    );
    let second = ls(&project);
    assert!(second.contains("print('v2')"), "{second}");
    assert!(second.lines().any(|l| l == "./new.py"), "{second}");
    assert!(!second.contains("./sub/a.txt"), "{second}");

    // Unchanged: nothing is sent.
    let quiet = project
        .ptenv_as_laptop(&["--host", &target, "up", "shell", "--detach"])
        .run();
    quiet.assert_success();
    assert!(!quiet.stderr.contains("Uploading"), "{quiet}");

    let logs = project.ptenv_as_laptop(&["--host", &target, "logs"]).run();
    logs.assert_success();
    let down = project.ptenv_as_laptop(&["--host", &target, "down"]).run();
    down.assert_success();
    assert!(project.containers().is_empty(), "{down}");
    // The volume holds what the container wrote: `down` keeps it.
    docker_ok(&["volume", "inspect", &volume]);
    let helper = docker_ok(&["ps", "-aq", "--filter", &format!("name={volume}-upload")]);
    assert!(
        helper.trim().is_empty(),
        "no upload helper is left: {helper}"
    );
}

fn docker_inspect_volume(name: &str) -> serde_json::Value {
    let text = docker_ok(&["volume", "inspect", "--format", "{{json .Labels}}", name]);
    serde_json::from_str(text.trim()).expect("labels are JSON")
}

/// More than the upload limit is refused before anything is sent or made on the server: no
/// volume, no container.
#[test]
fn a_workspace_over_the_limit_is_refused_before_anything_is_made() {
    let (_, project, target) = remote_project("remote-too-big", SHELL);
    // Sparse: its size counts, no disk is used.
    let big = std::fs::File::create(project.path().join("weights.bin")).unwrap();
    big.set_len(1100 << 20).unwrap();
    let up = project
        .ptenv_as_laptop(&["--host", &target, "up", "shell", "--detach"])
        .run();
    up.assert_exit(1);
    assert!(
        up.stderr.contains("more than the workspace limit of 1 GiB"),
        "{up}"
    );
    assert!(up.stderr.contains("weights.bin"), "{up}");
    assert!(up.stderr.contains(".ptenvignore"), "{up}");
    assert!(project.containers().is_empty());
    let volumes = docker_ok(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("label={}", project.label_filter()),
    ]);
    assert!(volumes.trim().is_empty(), "no volume: {volumes}");
}

/// What a server cannot do is refused before anything is made there: a mount that names a
/// folder of the project (on the laptop).
#[test]
fn what_a_server_cannot_do_is_refused_without_making_anything() {
    let (_, project, target) = remote_project(
        "remote-up-refused",
        &format!("{SHELL}mounts: ['./data:/data']\n"),
    );
    let run = project
        .ptenv_as_laptop(&["--host", &target, "up", "--detach"])
        .run();
    run.assert_exit(1);
    assert!(
        run.stderr.contains(
            "the mount ./data:/data names a folder of the project, which is on this machine, not on ssh://gpu-server"
        ),
        "{run}"
    );
    assert!(
        project.containers().is_empty(),
        "{:?}",
        project.containers()
    );
}

/// `ptenv stats` against a server reads the server's GPUs (its fake NVML, through ptenv's
/// agent there), not the laptop's lack of one, in every format.
#[test]
fn stats_reads_the_servers_gpus_through_the_agent() {
    let tb = Testbed::get();
    let project = Project::new("remote-stats");
    let target = format!("ssh://{}", tb.remote_host());

    let here = project.ptenv_as_laptop(&["stats"]).run();
    here.assert_exit(1);

    let json = project
        .ptenv_as_laptop(&["--json", "--host", &target, "stats"])
        .run();
    json.assert_success();
    let r: serde_json::Value = serde_json::from_str(&json.stdout).expect("stats --json is JSON");
    let gpus = r["gpus"].as_array().expect("gpus");
    assert_eq!(gpus.len(), 1, "{json}");
    assert_eq!(gpus[0]["name"], "NVIDIA GeForce RTX 4090", "{json}");
    assert_eq!(
        gpus[0]["uuid"], "GPU-7e57a1e0-0000-4000-8000-000000000001",
        "{json}"
    );
    assert_eq!(gpus[0]["memory_total"], 25757220864u64, "{json}");

    let table = project.ptenv_as_laptop(&["--host", &target, "stats"]).run();
    table.assert_success();
    assert!(table.stdout.contains("NVIDIA GeForce RTX 4090"), "{table}");
    let prom = project
        .ptenv_as_laptop(&["--host", &target, "stats", "--format", "prometheus"])
        .run();
    prom.assert_success();
    assert!(
        prom.stdout.contains(
            "ptenv_gpu_utilization_percent{gpu=\"0\",uuid=\"GPU-7e57a1e0-0000-4000-8000-000000000001\"} 0"
        ),
        "{prom}"
    );
}

/// `ptenv doctor` against a server runs the host links there, by ptenv's agent: it reports
/// the server's fake GPU (the laptop has none), and every check says where it ran.
#[test]
fn doctor_checks_the_server_through_its_agent() {
    let (_, project, target) = remote_project("remote-doctor", "default: shell\ngpus: none\n");

    let laptop = project
        .ptenv_as_laptop(&["--json", "doctor", "--no-container"])
        .run();
    let here: serde_json::Value = serde_json::from_str(&laptop.stdout).unwrap();
    assert_eq!(here["host"]["remote"], false, "{laptop}");
    assert!(
        here["host"]["facts"]["gpus"].as_array().unwrap().is_empty(),
        "the laptop has no GPU: {laptop}"
    );
    assert!(
        here["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("where").is_none()),
        "checks run here say no place: {laptop}"
    );

    let run = project
        .ptenv_as_laptop(&["--json", "--host", &target, "doctor", "--no-container"])
        .run();
    let v: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run}"));
    assert_eq!(v["host"]["where"], "ssh://gpu-server", "{run}");
    assert_eq!(v["host"]["remote"], true, "{run}");
    assert_eq!(v["host"]["facts"]["driver"], "550.54.15", "{run}");
    assert_eq!(
        v["host"]["facts"]["gpus"][0]["name"], "NVIDIA GeForce RTX 4090",
        "{run}"
    );
    let place = |id: &str| {
        crate::doctor::check(&v, id)["where"]
            .as_str()
            .unwrap_or_else(|| panic!("check {id} says not where it ran: {run}"))
            .to_owned()
    };
    for id in ["pci", "kernel-driver", "nvml"] {
        assert_eq!(place(id), "ssh://gpu-server, by ptenv's agent", "{run}");
    }
    for id in ["docker", "gpu-path", "cgroup", "shm", "logs"] {
        assert_eq!(
            place(id),
            "ssh://gpu-server, through its Docker engine",
            "{run}"
        );
    }
    let docker = crate::doctor::check(&v, "docker");
    assert_eq!(
        docker["status"], "pass",
        "the laptop user reaches the server's engine: {run}"
    );
    // The project goes to a volume there: no laptop folder is judged.
    let workspace = crate::doctor::check(&v, "workspace");
    assert_eq!(workspace["status"], "skip", "{run}");
    assert!(
        workspace["summary"]
            .as_str()
            .unwrap()
            .starts_with("/workspace is the project's volume on ssh://gpu-server, not a folder"),
        "{run}"
    );

    let human = project
        .ptenv_as_laptop(&["--host", &target, "doctor", "--no-container"])
        .run();
    assert!(
        human
            .stdout
            .contains("Host: GPU and driver (on ssh://gpu-server, by ptenv's agent)"),
        "{human}"
    );
}

/// Ctrl-C during the upload, sent as a terminal sends it (to ptenv and its ssh alike): `up`
/// says it was interrupted, leaves no container (nor its upload helper) on the server, and the
/// volume carries the marker of a partial upload; the next `up` sends every file again and
/// clears it.
#[test]
fn ctrl_c_during_the_upload_leaves_the_volume_marked_incomplete() {
    use std::io::{BufRead, BufReader};
    let (tb, project, target) = remote_project("remote-upload-ctrl-c", SHELL);
    project.write("train.py", "print('hi')\n");
    // Sparse on the laptop, real bytes on the way: the upload takes a while.
    let big = std::fs::File::create(project.path().join("weights.bin")).unwrap();
    big.set_len(900 << 20).unwrap();

    let mut child = project
        .ptenv_as_laptop(&["--host", &target, "up", "shell", "--detach"])
        .spawn_in_own_group();
    let stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("Uploading ") {
            std::thread::sleep(std::time::Duration::from_millis(300));
            crate::support::send_sigint_to_group(child.id());
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}");
    assert!(seen.contains("interrupted"), "{seen}");
    assert!(project.containers().is_empty(), "{seen}");
    let volume = docker_ok(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("label={}", project.label_filter()),
    ]);
    let volume = volume.trim().to_owned();
    assert!(volume.ends_with("-workspace"), "the volume stays: {volume}");
    let helper = docker_ok(&["ps", "-aq", "--filter", &format!("name={volume}-upload")]);
    assert!(
        helper.trim().is_empty(),
        "the upload helper is removed: {helper}"
    );
    let inside = |vol: &str| {
        docker_ok(&[
            "run",
            "--rm",
            "-v",
            &format!("{vol}:/w"),
            &tb.small_image,
            "ls",
            "-A",
            "/w",
        ])
    };
    let partial = inside(&volume);
    assert!(
        partial.lines().any(|l| l == ".ptenv-upload-incomplete"),
        "the volume says it is incomplete: {partial}"
    );

    std::fs::remove_file(project.path().join("weights.bin")).unwrap();
    let again = project
        .ptenv_as_laptop(&["--host", &target, "up", "shell", "--detach"])
        .run();
    again.assert_success();
    assert!(
        again.stderr.contains("Uploading 2 files"),
        "every file again: {again}"
    );
    let done = inside(&volume);
    assert!(!done.contains(".ptenv-upload-incomplete"), "{done}");
    assert!(
        !done.contains("weights.bin"),
        "deleted on the laptop: {done}"
    );
    assert!(done.lines().any(|l| l == "train.py"), "{done}");
}

/// `up jupyter` on a server prints a URL that works on the laptop: ssh forwards a laptop
/// loopback port to Jupyter's port on the server's loopback, kept while the environment runs
/// (a second `up` reuses it), ended by `down`, made again by the next `up`. The server's port
/// is taken on this machine (it is the same machine), so the laptop's is another one.
#[test]
fn jupyter_on_a_server_answers_on_the_laptop() {
    use crate::support::http_get;
    let (_, project, target) = remote_project("remote-jupyter", "default: jupyter\nrepository: {repo}\nca_bundle: {ca}\ngpus: none\nprofiles:\n  jupyter:\n    ports: [\"8931:8888\"]\n");
    let up = || {
        let run = project
            .ptenv_as_laptop(&["--json", "--host", &target, "up", "jupyter"])
            .run();
        run.assert_success();
        let doc: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("one JSON document ({e}):\n{run}"));
        (
            doc["port"].as_u64().unwrap() as u16,
            doc["token"].as_str().unwrap().to_owned(),
            doc["url"].as_str().unwrap().to_owned(),
        )
    };
    let status = |port: u16, token: Option<&str>| {
        let auth = token.map(|t| format!("token {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        http_get(&format!("127.0.0.1:{port}"), "/api/status", &headers).map(|r| r.0)
    };
    let (port, token, url) = up();
    assert_ne!(port, 8931, "the laptop's own port, not the server's");
    assert_eq!(url, format!("http://127.0.0.1:{port}/lab?token={token}"));
    assert_eq!(status(port, Some(&token)), Ok(200));
    assert_eq!(status(port, None), Ok(403));
    let (code, _) = http_get(
        &format!("127.0.0.1:{port}"),
        &format!("/lab?token={token}"),
        &[],
    )
    .unwrap();
    assert_eq!(code, 200, "the printed URL opens the lab");

    let (again, _, _) = up();
    assert_eq!(again, port, "the kept forward is reused");
    assert_eq!(status(port, Some(&token)), Ok(200));

    project
        .ptenv_as_laptop(&["--host", &target, "down"])
        .run()
        .assert_success();
    assert!(status(port, Some(&token)).is_err(), "down ends the forward");

    let (back, token, _) = up();
    assert_eq!(status(back, Some(&token)), Ok(200), "up restores it");
    project
        .ptenv_as_laptop(&["--host", &target, "down"])
        .run()
        .assert_success();
}

/// `ptenv ssh` on a server writes the laptop's `ptenv-<project>` entry: the container's sshd
/// on the server's loopback, reached through ssh to the server (which reads the laptop's own
/// config for it), the container's host key pinned, the client key in the laptop's data dir.
/// A command through it runs as the container user in /workspace.
#[test]
fn ssh_on_a_server_reaches_the_container_from_the_laptop() {
    let (tb, project, target) = remote_project("remote-ssh", "repository: {repo}\nca_bundle: {ca}\ngpus: none\nprofiles:\n  ssh:\n    ports: [{container: 22, host: 2341}]\n");
    project.write("train.py", "print('hi')\n");
    let up = project
        .ptenv_as_laptop(&["--json", "--host", &target, "ssh"])
        .run();
    up.assert_success();
    let doc: serde_json::Value = serde_json::from_str(&up.stdout)
        .unwrap_or_else(|e| panic!("one JSON document ({e}):\n{up}"));
    let alias = doc["alias"].as_str().unwrap().to_owned();
    // The forward to sshd that `ptenv ssh` waited through is not left in the kept master.
    let masters = project.ssh_masters();
    assert_eq!(masters.len(), 1, "{up}");
    let listening = std::process::Command::new("ss")
        .arg("-ltnpH")
        .output()
        .expect("run ss");
    let listening = String::from_utf8_lossy(&listening.stdout);
    assert!(
        !listening.contains(&format!("pid={},", masters[0])),
        "the kept master forwards nothing more: {listening}"
    );
    let config = doc["ssh_config"].as_str().unwrap().to_owned();
    let entry = std::fs::read_to_string(&config).unwrap();
    assert!(
        entry.contains("\n    HostName 127.0.0.1\n    Port 2341\n"),
        "the server's loopback port: {entry}"
    );
    assert!(
        entry.contains("\n    ProxyCommand ssh -o BatchMode=yes -W %h:%p -- gpu-server\n"),
        "{entry}"
    );
    assert!(entry.contains("StrictHostKeyChecking yes"), "{entry}");
    let data = project.data_dir().to_str().unwrap().to_owned();
    assert!(
        entry.contains(&format!("IdentityFile {data}/")),
        "the client key stays on the laptop: {entry}"
    );
    let known = entry
        .lines()
        .find_map(|l| l.trim().strip_prefix("UserKnownHostsFile "))
        .unwrap();
    let pinned = std::fs::read_to_string(known).unwrap();
    assert!(
        pinned.starts_with("[127.0.0.1]:2341 ssh-ed25519 "),
        "{pinned}"
    );

    let server_uid = project
        .as_laptop("ssh", &["-o", "BatchMode=yes", tb.remote_host(), "id -u"])
        .run();
    server_uid.assert_success();
    let login = project
        .as_laptop(
            "ssh",
            &[
                "-F",
                &config,
                "-o",
                "BatchMode=yes",
                &alias,
                "id -u; pwd; cat train.py",
            ],
        )
        .run();
    login.assert_success();
    let lines: Vec<&str> = login.stdout.lines().collect();
    assert_eq!(lines[0], server_uid.stdout.trim(), "{login}");
    assert_eq!(lines[1], "/workspace", "{login}");
    assert_eq!(lines[2], "print('hi')", "{login}");

    project
        .ptenv_as_laptop(&["--host", &target, "down"])
        .run()
        .assert_success();
}

/// `sync --down` brings back what the container made or changed (not what `.gitignore` leaves
/// on the server), refuses a file changed on both sides until `--force`, and records what it
/// wrote so that the next `up` sends none of it back.
#[test]
fn sync_down_brings_the_containers_changes_back() {
    let (_, project, target) = remote_project("remote-sync", SHELL);
    project.write(".gitignore", "ckpt/\n");
    project.write("train.py", "print('v1')\n");
    project.write("notes.md", "laptop\n");
    let host = |args: &[&str]| {
        let mut all = vec!["--host", target.as_str()];
        all.extend_from_slice(args);
        project.ptenv_as_laptop(&all).run()
    };
    host(&["up", "--detach"]).assert_success();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    host(&[
        "exec",
        "--",
        "sh",
        "-c",
        "echo 0.93 > results.txt && mkdir -p ckpt && echo w > ckpt/model.pt && echo \"print('v2')\" > train.py",
    ])
    .assert_success();

    let dry = host(&["sync", "--down", "--dry-run"]);
    dry.assert_success();
    assert!(!project.path().join("results.txt").exists(), "{dry}");
    let sync = host(&["sync", "--down"]);
    sync.assert_success();
    assert!(sync.stderr.contains("New: results.txt"), "{sync}");
    assert!(sync.stderr.contains("Updated: train.py"), "{sync}");
    assert_eq!(project.read("results.txt"), "0.93\n");
    assert_eq!(project.read("train.py"), "print('v2')\n");
    assert!(
        !project.path().join("ckpt").exists(),
        "ignored paths stay on the server: {sync}"
    );

    // Both sides change notes.md: refused, nothing written, until --force.
    project.write("notes.md", "laptop, edited\n");
    host(&["exec", "--", "sh", "-c", "echo container > notes.md"]).assert_success();
    let conflict = host(&["sync", "--down"]);
    conflict.assert_exit(1);
    assert!(
        conflict
            .stderr
            .contains("changed both here and in the container since the last upload: notes.md"),
        "{conflict}"
    );
    assert!(conflict.stderr.contains("--force"), "{conflict}");
    assert_eq!(project.read("notes.md"), "laptop, edited\n");
    let forced = host(&["sync", "--down", "--force"]);
    forced.assert_success();
    assert!(
        forced
            .stderr
            .contains("Overwrote (changed here too): notes.md"),
        "{forced}"
    );
    assert_eq!(project.read("notes.md"), "container\n");

    // What came back is not sent again.
    let again = host(&["up", "--detach"]);
    again.assert_success();
    assert!(!again.stderr.contains("Uploading"), "{again}");
    host(&["down"]).assert_success();
}

/// The ssh connection to the server dies during the upload: `up` fails with a clear error,
/// leaves no container of the environment, the volume stays marked incomplete, and the next
/// `up` (which also clears the upload helper the lost connection kept it from removing)
/// recovers with a whole upload.
#[test]
fn a_connection_lost_mid_upload_fails_clearly_and_the_next_up_recovers() {
    use std::io::{BufRead, BufReader};
    let (_, project, target) = remote_project("remote-upload-cut", SHELL);
    project.write("train.py", "print('hi')\n");
    let big = std::fs::File::create(project.path().join("weights.bin")).unwrap();
    big.set_len(900 << 20).unwrap();

    let mut child = project
        .ptenv_as_laptop(&["--host", &target, "up", "--detach"])
        .spawn_in_own_group();
    let stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("Uploading ") {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let masters = project.ssh_masters();
            assert_eq!(masters.len(), 1, "one master: {masters:?} {seen}");
            crate::support::kill(masters[0], rustix::process::Signal::KILL);
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{seen}");
    assert!(
        seen.contains("the upload of the project's files to ssh://gpu-server was cut off"),
        "{seen}"
    );
    assert!(seen.contains("sends every file once more"), "{seen}");
    assert!(project.containers().is_empty(), "{seen}");

    std::fs::remove_file(project.path().join("weights.bin")).unwrap();
    let again = project
        .ptenv_as_laptop(&["--host", &target, "up", "--detach"])
        .run();
    again.assert_success();
    assert!(
        again.stderr.contains("Uploading 2 files"),
        "every file again: {again}"
    );
    let ls = project
        .ptenv_as_laptop(&["--host", &target, "exec", "--", "ls", "-A", "/workspace"])
        .run();
    ls.assert_success();
    assert!(!ls.stdout.contains(".ptenv-upload-incomplete"), "{ls}");
    assert!(!ls.stdout.contains("weights.bin"), "{ls}");
    let helpers = docker_ok(&[
        "ps",
        "-aq",
        "--filter",
        &format!(
            "label=dev.ptenv.workspace-upload={}",
            project.path().display()
        ),
    ]);
    assert!(
        helpers.trim().is_empty(),
        "no upload helper is left: {helpers}"
    );
}

/// `workspace:` in the profile: `upload_limit` replaces the 1 GiB limit; `host_path` mounts a
/// folder that already exists on the server instead of uploading (no volume is made), and a
/// folder that is not there is refused before anything is made.
#[test]
fn workspace_settings_set_the_limit_or_use_a_server_folder() {
    let (tb, project, target) = remote_project("remote-ws-settings", "");
    let yaml = |workspace: &str| {
        format!(
            "default: shell\nrepository: {}\ngpus: none\nworkspace: {workspace}\n",
            tb.small_repo
        )
    };
    project.write("train.py", &"x".repeat(100));
    project.write("ptenv.yaml", &yaml("{upload_limit: 50}"));
    let small = project
        .ptenv_as_laptop(&["--host", &target, "up", "--detach"])
        .run();
    small.assert_exit(1);
    assert!(
        small
            .stderr
            .contains("more than the workspace limit of 50 B"),
        "{small}"
    );

    // A folder of the server user's, made there.
    let folder = format!("ptenv-host-path-{}", std::process::id());
    let made = project
        .as_laptop(
            "ssh",
            &[
                "-o",
                "BatchMode=yes",
                tb.remote_host(),
                &format!("mkdir -p ~/{folder} && echo server > ~/{folder}/server.txt && cd ~/{folder} && pwd"),
            ],
        )
        .run();
    made.assert_success();
    let server_path = made.stdout.trim().to_owned();
    project.write(
        "ptenv.yaml",
        &yaml(&format!("{{host_path: {server_path}/missing}}")),
    );
    let missing = project
        .ptenv_as_laptop(&["--host", &target, "up", "--detach"])
        .run();
    missing.assert_exit(1);
    assert!(
        missing.stderr.contains(&format!(
            "`workspace.host_path: {server_path}/missing` is not a folder on ssh://gpu-server"
        )),
        "{missing}"
    );
    assert!(project.containers().is_empty());

    project.write(
        "ptenv.yaml",
        &yaml(&format!("{{host_path: {server_path}}}")),
    );
    let up = project
        .ptenv_as_laptop(&["--host", &target, "up", "--detach"])
        .run();
    up.assert_success();
    assert!(!up.stderr.contains("Uploading"), "{up}");
    let ids = project.containers();
    let c = docker_inspect(&ids[0]);
    let workspace = workspace_mount(&c);
    assert_eq!(workspace["Type"], "bind", "{c}");
    assert_eq!(workspace["Source"], server_path.as_str(), "{c}");
    let ls = project
        .ptenv_as_laptop(&["--host", &target, "exec", "--", "cat", "server.txt"])
        .run();
    ls.assert_success();
    assert_eq!(ls.stdout, "server\n");
    let volumes = docker_ok(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("label={}", project.label_filter()),
    ]);
    assert!(
        !volumes.lines().any(|v| v.ends_with("-workspace")),
        "no workspace volume (the project's home is another): {volumes}"
    );

    // Doctor judges that server folder, read on the server: writable by the container user
    // (the server user), then not once its mode says so.
    let workspace_check = || {
        let run = project
            .ptenv_as_laptop(&["--json", "--host", &target, "doctor", "--no-container"])
            .run();
        let v: serde_json::Value =
            serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run}"));
        let check = crate::doctor::check(&v, "workspace").clone();
        (check, run)
    };
    let (check, run) = workspace_check();
    assert_eq!(check["status"], "pass", "{run}");
    assert!(
        check["evidence"][0]
            .as_str()
            .unwrap()
            .starts_with(&format!("{server_path} on ssh://gpu-server: owner ")),
        "{run}"
    );
    let chmod = |mode: &str| {
        project
            .as_laptop(
                "ssh",
                &[
                    "-o",
                    "BatchMode=yes",
                    tb.remote_host(),
                    &format!("chmod {mode} {server_path}"),
                ],
            )
            .run()
            .assert_success();
    };
    chmod("555");
    let (check, run) = workspace_check();
    chmod("755");
    assert_eq!(check["status"], "warn", "{run}");
    assert!(
        check["fix"]
            .as_str()
            .unwrap()
            .starts_with("log in to ssh://gpu-server as the folder's owner"),
        "{run}"
    );

    project
        .ptenv_as_laptop(&["--host", &target, "down"])
        .run()
        .assert_success();
    let _ = std::fs::remove_dir_all(&server_path);
}

/// `host:` in a project's ptenv.yaml chooses the engine only once the file is trusted, and is
/// checked before any connection; `--host` beats it, and it beats DOCKER_HOST.
#[test]
fn a_projects_host_needs_trust_and_comes_after_the_flag() {
    let tb = Testbed::get();
    let project = Project::new("remote-profile-host").untrusted();
    // A host whose key the laptop does not know: connecting would fail on the host key.
    project.write("ptenv.yaml", "host: ssh://gpu-server-unknown\n");
    let refused = project.ptenv_as_laptop(&["ls"]).run();
    refused.assert_exit(1);
    assert!(
        refused
            .stderr
            .contains("sets `host: ssh://gpu-server-unknown` and is not trusted")
            && refused.stderr.contains("`ptenv trust`"),
        "{refused}"
    );
    assert!(
        !refused.stderr.contains("host key"),
        "no ssh connection is tried before trust: {refused}"
    );

    let target = format!("ssh://{}", tb.remote_host());
    project.write("ptenv.yaml", &format!("host: {target}\n"));
    project.ptenv_as_laptop(&["trust"]).run().assert_success();
    let trusted = project
        .ptenv_as_laptop(&["-v", "ls"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    trusted.assert_success();
    assert!(
        trusted.stderr.contains(&format!(
            "engine: ssh://gpu-server (from `host:` in {}/ptenv.yaml)",
            project.path().display()
        )),
        "the profile beats DOCKER_HOST, and -v names its file: {trusted}"
    );

    let flag = project
        .ptenv_as_laptop(&["-v", "--host", "unix:///nonexistent/docker.sock", "ls"])
        .run();
    flag.assert_failure();
    assert!(
        flag.stderr
            .contains("engine: unix:///nonexistent/docker.sock (from --host)"),
        "--host beats the profile: {flag}"
    );
}

/// A GPU count on a server weighs the server's GPUs' load, read there by ptenv's agent (the
/// laptop has no NVML to read): no warning that the load is unknown, and the server's GPU taken.
#[test]
fn a_gpu_count_on_a_server_reads_the_servers_load() {
    let tb = Testbed::get();
    tb.registry();
    let project = Project::new("remote-count");
    let target = format!("ssh://{}", tb.remote_host());
    project.write(
        "ptenv.yaml",
        &format!("default: shell\nrepository: {}\n", tb.small_repo),
    );
    let run = project
        .ptenv_as_laptop(&[
            "--host",
            &target,
            "up",
            "--gpus",
            "1",
            "--dry-run",
            "--json",
        ])
        .run();
    run.assert_success();
    assert!(
        !run.stderr.contains("load could not be read")
            && !run.stderr.contains("cannot read the GPUs' load"),
        "{run}"
    );
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("--json is JSON");
    assert_eq!(
        plan["create"]["HostConfig"]["DeviceRequests"][0]["DeviceIDs"],
        serde_json::json!(["0"]),
        "{run}"
    );
}

/// `host:` in the user's own config.yaml chooses the engine with no `ptenv trust` (the user
/// wrote it, not a project's author); `-v`, `ls` and `ls --json` name the file that chose it.
#[test]
fn a_users_host_applies_without_trust_and_names_its_file() {
    let tb = Testbed::get();
    let project = Project::new("remote-user-host").untrusted();
    let target = format!("ssh://{}", tb.remote_host());
    let config = project.config_dir().join("ptenv/config.yaml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, format!("host: {target}\n")).unwrap();
    let from = format!("(from `host:` in {})", config.display());

    let verbose = project.ptenv_as_laptop(&["-v", "ls"]).run();
    verbose.assert_success();
    assert!(
        verbose
            .stderr
            .contains(&format!("engine: ssh://gpu-server {from}")),
        "{verbose}"
    );
    assert!(
        verbose
            .stderr
            .contains(&format!("on the engine at ssh://gpu-server {from}")),
        "{verbose}"
    );

    let name = labelled_container(tb, &project, "remote-user-host");
    let json = project.ptenv_as_laptop(&["--json", "ls"]).run();
    let ours = ls_entry(&json, "name", &name);
    assert_eq!(ours["host"], "ssh://gpu-server", "{json}");
    assert_eq!(
        ours["host_from"],
        format!("`host:` in {}", config.display()),
        "{json}"
    );
    docker_ok(&["rm", "-f", &name]);
}

/// The ssh connection to the server dies while the server's engine pulls the image: `up` fails
/// with a clear error, nothing of the environment is left on the server (no container, no
/// image under the tag), and the next `up` pulls again and starts it.
#[test]
fn a_connection_lost_mid_pull_fails_clearly_and_the_next_up_recovers() {
    use std::io::{BufRead, BufReader};
    let tb = Testbed::get();
    let repo = crate::support::push_random_image(
        &format!("{}/ptenv-remote-pull-cut/pytorch", tb.registry()),
        "remote-pull-cut",
        400,
    );
    let image = format!("{repo}:2.6.0-cuda12.4-cudnn9-runtime");
    let project = Project::new("remote-pull-cut");
    project.track_image(&image);
    let target = format!("ssh://{}", tb.remote_host());
    project.write(
        "ptenv.yaml",
        &format!("default: shell\nrepository: {repo}\ngpus: none\n"),
    );
    project.write("train.py", "print('hi')\n");

    let mut child = project
        .ptenv_as_laptop(&["--host", &target, "up", "--detach"])
        .spawn_in_own_group();
    let stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    let mut killed = false;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        // A layer line: the manifest came and the server's engine fetches the blobs.
        if !killed && line.contains("Pulling fs layer") {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let masters = project.ssh_masters();
            assert_eq!(masters.len(), 1, "one master: {masters:?} {seen}");
            crate::support::kill(masters[0], rustix::process::Signal::KILL);
            killed = true;
        }
    }
    let status = child.wait().unwrap();
    assert!(killed, "the pull was seen: {seen}");
    assert_eq!(status.code(), Some(1), "{seen}");
    assert!(
        seen.contains(&format!(
            "ptenv: cannot pull {image}: the connection to the engine at {target} broke off"
        )),
        "{seen}"
    );
    assert!(seen.contains("hint: check the network"), "{seen}");
    assert!(seen.contains("run the command again"), "{seen}");
    assert!(project.containers().is_empty(), "{seen}");
    // The engine stops a pull whose client is gone: no half-pulled image under the tag.
    let mut gone = false;
    for _ in 0..50 {
        if !crate::support::docker(&["image", "inspect", &image])
            .status
            .success()
        {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(gone, "no image {image} on the server after the cut: {seen}");

    let again = project
        .ptenv_as_laptop(&["--host", &target, "up", "--detach"])
        .run();
    again.assert_success();
    let ls = project
        .ptenv_as_laptop(&["--host", &target, "exec", "--", "ls", "/workspace"])
        .run();
    ls.assert_success();
    assert!(ls.stdout.contains("train.py"), "{ls}");
    project
        .ptenv_as_laptop(&["--host", &target, "down"])
        .run()
        .assert_success();
}

/// The container's mount at /workspace, from `docker inspect`: the engine lists mounts in no
/// fixed order (the home volume is there too).
fn workspace_mount(c: &serde_json::Value) -> &serde_json::Value {
    c["Mounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["Destination"] == "/workspace"))
        .unwrap_or_else(|| panic!("no mount at /workspace: {c}"))
}
