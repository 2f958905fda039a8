//! Issue #8, the fault matrix: what the user sees when things go wrong around `ptenv`, against
//! the real engine. Every row checks a clear message, the exit code, and that nothing is lost
//! or left behind: no containers, no half-written files, `~/.ssh/config` unchanged on failure,
//! secrets still 0600 in a 0700 folder.
//!
//! Rows covered elsewhere (not repeated here):
//! - Ctrl-C during a pull: `engine::ctrl_c_during_a_pull_exits_130_and_creates_nothing`.
//! - A daemon socket that refuses (`DOCKER_HOST` at a dead socket, a missing one, a closed TCP
//!   port): `engine::a_daemon_that_is_not_there_is_named_with_the_fix`.
//! - A read-only `~/.ssh/config`: `modes_ssh::a_read_only_ssh_config_is_left_untouched_and_ssh_
//!   still_works_with_its_file`; a CRLF one gets the Include on top and its bytes back with
//!   `--forget`: `modes_ssh::ssh_logs_in_with_the_pinned_key_only_as_the_user_in_the_workspace`.
//!   Here: a CRLF config is left byte-for-byte when `ptenv ssh` fails.
//! - Broken YAML with line and column: `cli::broken_yaml_gives_line_and_column_and_exit_1`.
//!
//! The tests run as root, who reads any file whatever its mode: "unreadable" rows run ptenv as
//! `nobody` through `setpriv` (util-linux), with the files given to nobody first.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::lifecycle::{only_container, shell_project, warm};
use crate::modes_shell::fixture_project;
use crate::support::{docker, docker_ok, Outcome, OwnRegistry, Project, Testbed};

const TAG: &str = "2.6.0-cuda12.4-cudnn9-runtime";
const NOBODY: u32 = 65534;

// --- what every row checks --------------------------------------------------------------------

#[track_caller]
fn nothing_left(p: &Project) {
    assert!(
        p.containers().is_empty(),
        "containers left behind: {:?}",
        p.containers()
    );
}

/// The project's secrets folder (`~/.local/share/ptenv/projects/<id>`), once ptenv made it.
fn secrets_dir(p: &Project) -> Option<PathBuf> {
    let projects = p.data_dir().join("ptenv/projects");
    let entry = std::fs::read_dir(&projects).ok()?.next()?.ok()?;
    Some(entry.path())
}

/// Secrets are 0600 files in 0700 folders, and no temporary file of an atomic write was left.
#[track_caller]
fn secrets_intact(p: &Project) {
    let Some(dir) = secrets_dir(p) else { return };
    let mut stack = vec![dir];
    while let Some(dir) = stack.pop() {
        let mode = std::fs::metadata(&dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700, "{} has mode {mode:o}", dir.display());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                !name.contains(".ptenv-"),
                "half-written file left: {}",
                path.display()
            );
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                let mode = meta.mode() & 0o777;
                assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
            }
        }
    }
}

/// `ptenv ARGS` started in the background, its stderr read line by line.
struct Background {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: String,
}

impl Background {
    fn start(p: &Project, args: &[&str], env: &[(&str, &Path)]) -> Background {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ptenv"));
        cmd.args(args)
            .current_dir(p.path())
            .env("HOME", p.home())
            .env("XDG_CONFIG_HOME", p.config_dir())
            .env("XDG_DATA_HOME", p.data_dir())
            .env("XDG_CACHE_HOME", p.cache_dir())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // As `Project::command`: what the developer's shell set for ptenv stays out.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PTENV_") {
                cmd.env_remove(&key);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start ptenv");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Background {
            child,
            lines,
            seen: String::new(),
        }
    }

    /// Reads stderr until a line contains `marker`; panics if ptenv ends first (or after ten
    /// minutes, the harness's limit: a hang is a failure, not a measurement).
    fn wait_for(&mut self, marker: &str) {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(600)) {
                Ok(line) => {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                    if line.contains(marker) {
                        return;
                    }
                }
                Err(_) => panic!("ptenv ended (or hung) before `{marker}`:\n{}", self.seen),
            }
        }
    }

    fn interrupt(&self) {
        crate::support::send_sigint(self.child.id());
    }

    /// Waits for the end; the exit code and all of stderr.
    fn finish(mut self) -> (i32, String) {
        let status = self.child.wait().unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
        use std::os::unix::process::ExitStatusExt;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        (code, self.seen)
    }
}

/// An image of its own (the small fixture plus `megabytes` of random bytes, so a pull really
/// downloads), pushed to `registry` and removed from the engine; returns its repository.
fn own_image(registry: &str, name: &str, megabytes: u32) -> String {
    let repo = format!("{registry}/ptenv-faults-{name}/pytorch");
    crate::support::push_random_image(&repo, name, megabytes)
}

// --- the registry -------------------------------------------------------------------------------

#[test]
fn the_registry_killed_mid_pull_is_a_clear_error_and_leaves_nothing() {
    let mut registry = OwnRegistry::start();
    let repo = own_image(&registry.addr, "registry-killed", 400);
    let p = shell_project("faults-registry-killed", "");
    p.write(
        "ptenv.yaml",
        &format!("default: shell\ngpus: none\nrepository: {repo}\n"),
    );
    let image = format!("{repo}:{TAG}");
    p.track_image(&image);
    let mut up = Background::start(&p, &["up", "--detach"], &[]);
    // A layer line means the manifest came and the blobs are being fetched.
    up.wait_for("Pulling fs layer");
    registry.kill();
    let (code, stderr) = up.finish();
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("ptenv: cannot pull {image}")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("the registry {} does not answer", registry.addr)),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
    nothing_left(&p);
    // No half-pulled image under the tag: the next `up` pulls again.
    assert!(!docker(&["image", "inspect", &image]).status.success());
    secrets_intact(&p);
}

// --- Ctrl-C ----------------------------------------------------------------------------------

#[test]
fn ctrl_c_during_the_derived_build_exits_130_and_leaves_nothing() {
    // A base of its own, so that the build's intermediate containers are told apart from
    // those of the tests running alongside (they would have this base as their image).
    let repo = own_image(Testbed::get().registry(), "build-interrupt", 1);
    let base = format!("{repo}:{TAG}");
    let p = shell_project("faults-build-interrupt", "");
    p.write(
        "ptenv.yaml",
        &format!("default: shell\ngpus: none\nrepository: {repo}\npackages: {{apt: [tree]}}\n"),
    );
    p.track_image(&base);
    let mut up = Background::start(&p, &["up", "--detach"], &[]);
    up.wait_for("Building ");
    // Let the build get into its RUN step (apt-get update), where a container runs.
    std::thread::sleep(Duration::from_secs(2));
    up.interrupt();
    let (code, stderr) = up.finish();
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.contains("ptenv: interrupted while building"),
        "{stderr}"
    );
    nothing_left(&p);
    let base_id = docker_ok(&["image", "inspect", "-f", "{{.Id}}", &base]);
    // The engine removes the build's container once it sees the client gone (forcerm); give
    // it the time a removal takes on this machine, then none may remain.
    let mut left = String::new();
    for _ in 0..60 {
        left = docker_ok(&["ps", "-aq", "--filter", &format!("ancestor={base_id}")]);
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(left.is_empty(), "build containers left behind: {left}");
    let derived = docker_ok(&[
        "images",
        "-q",
        "--filter",
        &format!("label=dev.ptenv.derived-from={base}"),
    ]);
    assert!(derived.is_empty(), "a derived image was left: {derived}");
    secrets_intact(&p);
}

#[test]
fn ctrl_c_while_the_image_is_probed_exits_130_and_leaves_no_probe_container() {
    // An image whose `python3` hangs, so the probe (`Reading what … contains`) is still running
    // when the Ctrl-C comes.
    let repo = "ptenv-faults-probe-interrupt/pytorch";
    let image = format!("{repo}:{TAG}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}\nRUN mkdir /hang && printf '#!/bin/sh\\nsleep 120\\n' > /hang/python3 && chmod 755 /hang/python3\nENV PATH=/hang:$PATH\n",
            Testbed::get().small_image
        ),
    )
    .unwrap();
    docker_ok(&["build", "-q", "-t", &image, dir.path().to_str().unwrap()]);
    let p = shell_project("faults-probe-interrupt", "");
    p.track_image(&image);
    p.write(
        "ptenv.yaml",
        &format!("default: shell\ngpus: none\nrepository: {repo}\npull: never\n"),
    );
    let mut up = Background::start(&p, &["up", "--detach"], &[]);
    up.wait_for("Reading what");
    // The probe container exists from just before that line: give its start a moment.
    std::thread::sleep(Duration::from_secs(2));
    up.interrupt();
    let (code, stderr) = up.finish();
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("ptenv: interrupted"), "{stderr}");
    nothing_left(&p);
    let probes = docker_ok(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=dev.ptenv.probe={image}"),
    ]);
    assert!(probes.is_empty(), "probe container left behind: {probes}");
}

#[test]
fn ctrl_c_while_waiting_for_jupyter_exits_130_and_removes_the_container() {
    let tb = Testbed::get();
    // A Jupyter profile whose command never serves: ptenv waits for it until interrupted, so
    // the signal surely lands in the wait (a real Jupyter may be ready before it).
    let p = fixture_project(
        "faults-jupyter-interrupt",
        &tb.small_repo,
        "gpus: none\nprofiles:\n  jupyter:\n    command: [sleep, infinity]\n    ports: [{container: 8888, host: 18930}]\n",
    );
    let mut up = Background::start(&p, &["up", "jupyter"], &[("SSL_CERT_FILE", &tb.ca_bundle)]);
    up.wait_for("waiting for Jupyter");
    assert_eq!(
        p.containers().len(),
        1,
        "the container runs while ptenv waits"
    );
    up.interrupt();
    let (code, stderr) = up.finish();
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("ptenv: interrupted"), "{stderr}");
    nothing_left(&p);
    // The token outlives the container: the next `up` gives the same URL.
    let token = secrets_dir(&p).unwrap().join("jupyter-token");
    assert!(token.is_file(), "the token was lost");
    secrets_intact(&p);
}

// --- the container behind ptenv's back ----------------------------------------------------------

#[test]
fn a_container_killed_or_removed_behind_ptenvs_back_comes_back_with_up_and_shell() {
    warm();
    let p = shell_project("faults-behind-back", "");
    p.ptenv(&["up", "--detach"]).run().assert_success();
    let first = only_container(&p);
    let id = first["Id"].as_str().unwrap();

    // Killed: `up` starts the same container again.
    docker_ok(&["kill", id]);
    let out = p.ptenv(&["up", "--detach"]).run();
    out.assert_success();
    assert!(
        out.stderr.contains("Started ptenv-faults-behind-back-"),
        "{out}"
    );
    assert_eq!(only_container(&p)["Id"], first["Id"]);

    // Removed: `exec` says how to start it; `shell` brings it back and runs the command.
    docker_ok(&["rm", "-f", id]);
    let exec = p.ptenv(&["exec", "--", "true"]).run();
    exec.assert_exit(1);
    assert!(exec.stderr.contains("ptenv up"), "{exec}");
    let shell = p
        .ptenv(&["shell", "--", "sh", "-c", "echo back; pwd"])
        .run();
    shell.assert_success();
    assert_eq!(shell.stdout, "back\n/workspace\n", "{shell}");
    assert_ne!(only_container(&p)["Id"], first["Id"]);

    // Removed while a `shell` session runs in it: the session ends with an error, and no
    // container of ptenv's is left half-made.
    let id = only_container(&p)["Id"].as_str().unwrap().to_owned();
    let session = std::thread::spawn({
        let path = p.path().to_owned();
        let home = p.home().to_owned();
        let (config, data, cache) = (
            p.config_dir().to_owned(),
            p.data_dir().to_owned(),
            p.cache_dir().to_owned(),
        );
        move || {
            Command::new(env!("CARGO_BIN_EXE_ptenv"))
                .args(["shell", "--", "sleep", "60"])
                .current_dir(path)
                .env("HOME", home)
                .env("XDG_CONFIG_HOME", config)
                .env("XDG_DATA_HOME", data)
                .env("XDG_CACHE_HOME", cache)
                .stdin(Stdio::null())
                .output()
                .unwrap()
        }
    });
    // Remove it once the session's process runs in it.
    for _ in 0..300 {
        let top = docker(&["top", &id]);
        if String::from_utf8_lossy(&top.stdout).contains("sleep 60") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    docker_ok(&["rm", "-f", &id]);
    let out = session.join().unwrap();
    assert!(!out.status.success(), "the session outlived its container");
    nothing_left(&p);
    p.ptenv(&["up", "--detach"]).run().assert_success();
    assert_eq!(p.containers().len(), 1);
}

#[test]
fn a_removed_ssh_container_comes_back_with_the_same_pinned_key_and_config() {
    let tb = Testbed::get();
    let p = fixture_project(
        "faults-ssh-behind-back",
        &tb.small_repo,
        "gpus: none\nprofiles:\n  ssh:\n    ports: [{container: 22, host: 2290}]\n",
    );
    let ssh = |p: &Project| {
        p.ptenv(&["ssh", "--", "echo", "over-ssh"])
            .env("SSL_CERT_FILE", &tb.ca_bundle)
            .run()
    };
    let out = ssh(&p);
    out.assert_success();
    assert_eq!(out.stdout, "over-ssh\n", "{out}");
    let config = std::fs::read(p.home().join(".ssh/config")).unwrap();
    let known_hosts = std::fs::read(secrets_dir(&p).unwrap().join("ssh/known_hosts")).unwrap();
    let id = p.containers()[0].clone();
    docker_ok(&["rm", "-f", &id]);
    let out = ssh(&p);
    out.assert_success();
    assert_eq!(out.stdout, "over-ssh\n", "{out}");
    assert_ne!(p.containers(), vec![id]);
    assert_eq!(std::fs::read(p.home().join(".ssh/config")).unwrap(), config);
    let again = std::fs::read(secrets_dir(&p).unwrap().join("ssh/known_hosts")).unwrap();
    assert_eq!(again, known_hosts, "the host key changed: ssh would warn");
    secrets_intact(&p);
}

// --- races ---------------------------------------------------------------------------------------

#[test]
fn five_ups_at_once_make_exactly_one_container() {
    warm();
    let p = shell_project("faults-five-ups", "");
    let outs: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..5)
            .map(|_| s.spawn(|| p.ptenv(&["up", "--detach"]).run()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for out in &outs {
        out.assert_success();
    }
    let c = only_container(&p);
    assert_eq!(c["State"]["Running"], true);
    let all: String = outs.iter().map(|o| o.stderr.as_str()).collect();
    assert_eq!(all.matches("Started ptenv-").count(), 1, "{all}");
}

#[test]
fn a_port_taken_between_check_and_start_moves_to_the_next_free_one() {
    warm();
    // A port of its own, free now: ptenv's check finds it free. No host port in the profile:
    // ptenv chooses (the container's port, else the next free one), so it may move it.
    let port = crate::support::free_port();
    let p = shell_project("faults-port-race", &format!("ports: [{port}]\n"));
    // `-v` prints the create body after the check and before the start: take the port then.
    let mut up = Background::start(&p, &["-v", "up", "--detach"], &[]);
    up.wait_for("create body:");
    let holder = TcpListener::bind(("127.0.0.1", port)).expect("take the port");
    let (code, stderr) = up.finish();
    assert_eq!(code, 0, "{stderr}");
    let c = only_container(&p);
    let bound = c["HostConfig"]["PortBindings"][format!("{port}/tcp")][0]["HostPort"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(bound, port.to_string(), "{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{port} is taken")),
        "{stderr}"
    );
    drop(holder);
}

#[test]
fn a_host_port_the_profile_pins_is_kept_or_the_error_names_who_holds_it() {
    warm();
    let port = crate::support::free_port();
    let yaml = format!("ports: ['{port}:9000']\n");
    // Held by another program: an error, not a move, and nothing is left behind.
    let holder = TcpListener::bind(("127.0.0.1", port)).expect("take the port");
    let p = shell_project("faults-port-pinned", &yaml);
    let out = p.ptenv(&["up", "--detach"]).run();
    out.assert_exit(1);
    assert!(
        out.stderr.contains(&format!(
            "port 127.0.0.1:{port}, which profile `shell` pins for the container's port 9000, is taken by another program"
        )),
        "{out}"
    );
    assert!(out.stderr.contains("ss -ltnp"), "{out}");
    assert!(!out.stderr.contains("using"), "{out}");
    assert!(p.containers().is_empty(), "{:?}", p.containers());
    drop(holder);

    // Held by another environment: named.
    p.ptenv(&["up", "--detach"]).run().assert_success();
    let other = shell_project("faults-port-pinned-2", &yaml);
    let out = other.ptenv(&["up", "--detach"]).run();
    out.assert_exit(1);
    let first = only_container(&p)["Name"]
        .as_str()
        .unwrap()
        .trim_start_matches('/')
        .to_owned();
    assert!(
        out.stderr
            .contains(&format!("is taken by container {first}")),
        "{out}"
    );
    assert!(other.containers().is_empty());
}

// --- files: ptenv.yaml, token, key, data dir ------------------------------------------------------

/// Runs ptenv as `nobody` (the harness's `ptenv_as_nobody`), with the project and its home
/// given to nobody first: root reads every file whatever its mode, and nobody keeps secrets
/// only in files of its own.
fn as_nobody(p: &Project, args: &[&str]) -> Outcome {
    chown_tree(p.path());
    chown_tree(p.home());
    p.ptenv_as_nobody(args).run()
}

fn chown_tree(path: &Path) {
    std::os::unix::fs::lchown(path, Some(NOBODY), Some(NOBODY)).unwrap();
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path());
        }
    }
}

/// A real `ptenv up PROFILE` that stops where it would first talk to the engine (`DOCKER_HOST`
/// at a socket that does not exist): the mode's setup, secrets included, comes before. Dry
/// runs do not do: they write nothing and tighten nothing (they preview). Returns the outcome
/// when the failure is something else than the missing daemon.
fn up_until_the_engine(p: &Project, profile: &str) -> Outcome {
    let out = p
        .ptenv(&["up", profile])
        .env("DOCKER_HOST", "unix:///nonexistent/ptenv-faults.sock")
        .run();
    out.assert_exit(1);
    out
}

#[track_caller]
fn stopped_at_the_engine(out: &Outcome) {
    assert!(
        out.stderr.contains("cannot reach the Docker daemon"),
        "{out}"
    );
}

#[test]
fn a_corrupt_or_unreadable_ptenv_yaml_is_named_and_nothing_starts() {
    let p = shell_project("faults-yaml", "");
    // Not text at all.
    let path = p.path().join("ptenv.yaml");
    std::fs::write(&path, b"\xff\xfe\x00garbage\x00\x01").unwrap();
    let out = p.ptenv(&["up", "--detach"]).run();
    out.assert_exit(1);
    assert!(
        out.stderr.contains(&format!("ptenv: {}", path.display())),
        "{out}"
    );
    nothing_left(&p);
    // Cut off in the middle of a mapping.
    std::fs::write(&path, "default: shell\nprofiles:\n  shell: {gpus: [0,\n").unwrap();
    let out = p.ptenv(&["up", "--detach"]).run();
    out.assert_exit(1);
    assert!(out.stderr.contains("ptenv.yaml:"), "{out}");
    nothing_left(&p);
    // A folder where the file should be: unreadable even for root.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let out = p.ptenv(&["up", "--detach"]).run();
    out.assert_exit(1);
    assert!(out.stderr.contains(&path.display().to_string()), "{out}");
    nothing_left(&p);
    // Unreadable for the user who runs ptenv.
    std::fs::remove_dir(&path).unwrap();
    p.write("ptenv.yaml", "default: shell\ngpus: none\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = as_nobody(&p, &["up", "--dry-run"]);
    out.assert_exit(1);
    assert!(out.stderr.contains(&path.display().to_string()), "{out}");
    assert!(out.stderr.contains("ermission denied"), "{out}");
    nothing_left(&p);
}

#[test]
fn a_corrupt_or_unreadable_token_is_named_and_a_loose_one_tightened() {
    let p = Project::new("faults-token");
    p.write("ptenv.yaml", "gpus: none\n");
    stopped_at_the_engine(&up_until_the_engine(&p, "jupyter"));
    let token = secrets_dir(&p).unwrap().join("jupyter-token");
    let good = std::fs::read_to_string(&token).unwrap();

    // Loosened: tightened, and said, with the advice to rotate it.
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(
        token.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let out = up_until_the_engine(&p, "jupyter");
    stopped_at_the_engine(&out);
    assert!(out.stderr.contains("ptenv set it to 600"), "{out}");
    assert!(out.stderr.contains("ptenv set it to 700"), "{out}");
    assert!(out.stderr.contains("--new-token"), "{out}");
    assert_eq!(std::fs::read_to_string(&token).unwrap(), good);
    secrets_intact(&p);

    // Not a token (e.g. an editor's leftovers): replaced, and said.
    std::fs::write(&token, "not a token\n").unwrap();
    let out = up_until_the_engine(&p, "jupyter");
    stopped_at_the_engine(&out);
    assert!(out.stderr.contains("does not hold a ptenv token"), "{out}");
    assert_ne!(
        std::fs::read_to_string(&token).unwrap().trim(),
        "not a token"
    );
    secrets_intact(&p);

    // A folder where the token should be: refused, left as it is.
    std::fs::remove_file(&token).unwrap();
    std::fs::create_dir(&token).unwrap();
    let out = up_until_the_engine(&p, "jupyter");
    assert!(out.stderr.contains("is not a regular file"), "{out}");
    assert!(out.stderr.contains("hint: "), "{out}");
    assert!(token.is_dir());
    std::fs::remove_dir(&token).unwrap();

    // Unreadable for the user who runs ptenv: named, not replaced.
    std::fs::write(&token, &good).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = as_nobody(&p, &["up", "jupyter", "--dry-run"]);
    out.assert_exit(1);
    assert!(out.stderr.contains(&token.display().to_string()), "{out}");
    assert!(out.stderr.contains("ermission denied"), "{out}");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        std::fs::read_to_string(&token).unwrap(),
        good,
        "the token was lost"
    );
}

#[test]
fn secrets_of_another_user_are_refused_and_left_alone() {
    let p = Project::new("faults-owner");
    p.write("ptenv.yaml", "gpus: none\n");
    stopped_at_the_engine(&up_until_the_engine(&p, "jupyter"));
    let dir = secrets_dir(&p).unwrap();
    std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
    let out = up_until_the_engine(&p, "jupyter");
    assert!(out.stderr.contains("not to you"), "{out}");
    assert!(out.stderr.contains("hint: fix the owner"), "{out}");
    assert_eq!(std::fs::metadata(&dir).unwrap().uid(), NOBODY);
}

#[test]
fn a_corrupt_key_stops_ssh_before_anything_starts_and_leaves_a_crlf_config_as_it_was() {
    let tb = Testbed::get();
    let p = fixture_project("faults-key", &tb.small_repo, "gpus: none\n");
    stopped_at_the_engine(&up_until_the_engine(&p, "ssh"));
    let key = secrets_dir(&p).unwrap().join("ssh/client_ed25519");
    std::fs::write(&key, "-----BEGIN OPENSSH PRIVATE KEY-----\ncut off\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let ssh_dir = p.home().join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let config = ssh_dir.join("config");
    let original = b"Host work\r\n  HostName 10.0.0.1\r\n  User ana\r\n".to_vec();
    std::fs::write(&config, &original).unwrap();

    let out = p.ptenv(&["ssh"]).env("SSL_CERT_FILE", &tb.ca_bundle).run();
    out.assert_exit(1);
    assert!(
        out.stderr.contains("is not an OpenSSH private key"),
        "{out}"
    );
    assert!(
        out.stderr.contains(&format!("rm {}", key.display())),
        "{out}"
    );
    nothing_left(&p);
    assert_eq!(
        std::fs::read(&config).unwrap(),
        original,
        "~/.ssh/config changed"
    );
    assert_eq!(
        std::fs::read_to_string(&key).unwrap(),
        "-----BEGIN OPENSSH PRIVATE KEY-----\ncut off\n",
        "the key file was replaced without asking"
    );
    secrets_intact(&p);

    // Unreadable for the user who runs ptenv: named, nothing changed.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = as_nobody(&p, &["up", "ssh", "--dry-run"]);
    out.assert_exit(1);
    assert!(out.stderr.contains(&key.display().to_string()), "{out}");
    assert!(out.stderr.contains("ermission denied"), "{out}");
    assert_eq!(std::fs::read(&config).unwrap(), original);
}

// --- paths ------------------------------------------------------------------------------------------

#[test]
fn a_project_path_with_spaces_and_non_ascii_characters_works() {
    warm();
    let p = shell_project("faults my prøject ünï ✓", "");
    p.write("données/π.txt", "3.14\n");
    let out = p.ptenv(&["up", "--detach"]).run();
    out.assert_success();
    let c = only_container(&p);
    let name = c["Name"].as_str().unwrap();
    assert!(
        name.starts_with("/ptenv-faults-my-pr-ject-n-"),
        "a name Docker and ssh accept: {name}"
    );
    let out = p
        .ptenv(&["exec", "--", "cat", "/workspace/données/π.txt"])
        .run();
    out.assert_success();
    assert_eq!(out.stdout, "3.14\n", "{out}");
    let ls = p.ptenv(&["--json", "ls"]).run();
    ls.assert_success();
    assert!(ls.stdout.contains(name.trim_start_matches('/')), "{ls}");
    p.ptenv(&["down"]).run().assert_success();
    nothing_left(&p);
}
