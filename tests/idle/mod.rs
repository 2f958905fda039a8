//! `idle_stop`: the watcher ptenv starts inside the container stops an idle environment by
//! itself and says so in its output, leaves a busy one running (an exec'd process, a busy
//! Jupyter kernel), and `ptenv up` starts it again with the same token. Short limits (seconds)
//! stand for the hours a user would write.

use std::time::{Duration, Instant};

use crate::lifecycle::{shell_project, warm};
use crate::support::{docker_inspect, wait_for_state};

/// Polls the container's state until `want` ("running", "exited") or `within` passes.
fn wait_state(id: &str, want: &str, within: Duration) -> String {
    let state = || {
        docker_inspect(id)["State"]["Status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    wait_for_state(state, want, within)
}

#[test]
fn an_idle_environment_stops_itself_says_why_and_up_starts_it_again() {
    warm();
    let p = shell_project("idle-stops", "idle_stop: 3s\n");
    p.ptenv(&["up", "--detach"]).run().assert_success();
    let id = p.containers().pop().expect("a container");
    assert_eq!(
        wait_state(&id, "exited", Duration::from_secs(40)),
        "exited",
        "nothing happened for 3 s: the environment stops"
    );
    let logs = p.ptenv(&["logs"]).run();
    logs.assert_success();
    assert!(
        logs.stdout
            .contains("ptenv: stopped: idle for 3s (no session")
            || logs
                .stderr
                .contains("ptenv: stopped: idle for 3s (no session"),
        "{logs}"
    );
    let ls = p.ptenv(&["ls"]).run();
    ls.assert_success();
    assert!(ls.stdout.contains("stopped: idle 3s"), "{ls}");
    let mine = listed(&p, &id);
    assert_eq!(mine["stopped_idle"], "3s", "{mine}");
    assert_eq!(mine["state"], "exited", "{mine}");

    // Started again: the same container, running, with a watcher of its own.
    p.ptenv(&["up", "--detach"]).run().assert_success();
    assert_eq!(
        p.containers(),
        std::slice::from_ref(&id),
        "the same container"
    );
    assert_eq!(docker_inspect(&id)["State"]["Status"], "running");
    assert_eq!(
        wait_state(&id, "exited", Duration::from_secs(40)),
        "exited",
        "and it stops again when idle"
    );
}

#[test]
fn a_running_exec_keeps_the_environment_up_past_the_limit() {
    warm();
    let p = shell_project("idle-busy-exec", "idle_stop: 4s\n");
    p.ptenv(&["up", "--detach"]).run().assert_success();
    let id = p.containers().pop().expect("a container");
    // Busy for three times the limit: a `ptenv exec` (or `ptenv shell`) session.
    let exec = p.ptenv(&["exec", "--", "sleep", "12"]).run();
    exec.assert_success();
    assert_eq!(
        docker_inspect(&id)["State"]["Status"],
        "running",
        "a session ran the whole time: never stopped while busy"
    );
    // Idle from now on: it stops.
    assert_eq!(wait_state(&id, "exited", Duration::from_secs(40)), "exited");
}

/// `ptenv up jupyter --json` with `idle_stop`: the container, its port and token.
fn up_jupyter(p: &crate::support::Project) -> (String, u64, String) {
    let out = p.ptenv(&["--json", "up", "jupyter"]).run();
    out.assert_success();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{out}"));
    (
        doc["container"].as_str().expect("container").to_owned(),
        doc["port"].as_u64().expect("port"),
        doc["token"].as_str().expect("token").to_owned(),
    )
}

fn fixture_project(name: &str, limit: &str) -> crate::support::Project {
    let tb = crate::support::Testbed::get();
    crate::modes_shell::fixture_project(name, &tb.small_repo, &format!("idle_stop: {limit}\n"))
}

fn status(port: u64, token: &str) -> u16 {
    let auth = format!("token {token}");
    crate::support::http_get(
        &format!("127.0.0.1:{port}"),
        "/api/status",
        &[("Authorization", &auth)],
    )
    .map(|(code, _)| code)
    .unwrap_or(0)
}

#[test]
fn a_busy_kernel_keeps_jupyter_up_and_an_idle_one_stops_and_comes_back_with_its_token() {
    let p = fixture_project("idle-jupyter", "6s");
    let (id, port, token) = up_jupyter(&p);
    // A cell that runs for three times the limit.
    let cell = std::process::Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/idle/run_cell.py"
        ))
        .args([&port.to_string(), &token, "import time; time.sleep(18)"])
        .output()
        .expect("run run_cell.py");
    assert!(
        cell.status.success(),
        "{}",
        String::from_utf8_lossy(&cell.stderr)
    );
    let busy_since = Instant::now();
    std::thread::sleep(Duration::from_secs(14));
    assert_eq!(
        docker_inspect(&id)["State"]["Status"],
        "running",
        "a kernel was busy for {:?}: never stopped while busy",
        busy_since.elapsed()
    );
    // The cell ends; then nothing happens: it stops.
    assert_eq!(wait_state(&id, "exited", Duration::from_secs(60)), "exited");
    let logs = p.ptenv(&["logs", "jupyter"]).run();
    assert!(
        format!("{}{}", logs.stdout, logs.stderr).contains("ptenv: stopped: idle for 6s"),
        "{logs}"
    );

    // Up again: the same container and the same token.
    let (again, port, token_again) = up_jupyter(&p);
    assert_eq!(again, id);
    assert_eq!(token_again, token);
    assert_eq!(status(port, &token), 200);
}

#[test]
fn an_open_ssh_session_keeps_the_environment_up_past_the_limit() {
    let p = fixture_project("idle-ssh", "5s");
    p.ptenv(&["-q", "ssh", "--", "true"]).run().assert_success();
    let id = p.containers().pop().expect("a container");
    // A real ssh session for three times the limit.
    let session = p
        .ptenv(&["-q", "ssh", "--", "sleep 15; echo still-here"])
        .run();
    session.assert_success();
    assert_eq!(session.stdout, "still-here\n", "{session}");
    assert_eq!(
        docker_inspect(&id)["State"]["Status"],
        "running",
        "an ssh session was open the whole time: never stopped while busy"
    );
    assert_eq!(wait_state(&id, "exited", Duration::from_secs(40)), "exited");
}

/// `ptenv ls --json`'s entry for container `id`.
fn listed(p: &crate::support::Project, id: &str) -> serde_json::Value {
    crate::support::ls_entry(&p.ptenv(&["--json", "ls"]).run(), "id", id)
}

fn epoch_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

#[test]
fn ls_shows_the_last_activity_the_watcher_saw() {
    warm();
    // A limit of 8 s: the watcher looks every 2 s.
    let p = shell_project("idle-activity", "idle_stop: 8s\n");
    let plain = shell_project("idle-activity-none", "");
    let before = epoch_now();
    p.ptenv(&["up", "--detach"]).run().assert_success();
    plain.ptenv(&["up", "--detach"]).run().assert_success();
    let id = p.containers().pop().expect("a container");
    let plain_id = plain.containers().pop().expect("a container");

    // Started: the start is the last activity.
    let started = listed(&p, &id)["last_activity"]
        .as_i64()
        .unwrap_or_else(|| panic!("a time: {}", listed(&p, &id)));
    assert!(
        (before..=epoch_now()).contains(&started),
        "{before} <= {started}"
    );
    // Without a watcher it is unknown.
    assert!(listed(&plain, &plain_id)["last_activity"].is_null());

    // A session of 5 s moves it on.
    p.ptenv(&["exec", "--", "sleep", "5"])
        .run()
        .assert_success();
    let after = listed(&p, &id)["last_activity"].as_i64().expect("a time");
    assert!(
        after >= started + 2 && after <= epoch_now(),
        "the session was seen: {started} -> {after}"
    );
    let table = p.ptenv(&["ls"]).run();
    table.assert_success();
    let header = table.stdout.lines().next().unwrap_or_default();
    assert!(header.contains("LAST ACTIVITY"), "{table}");
    let column = header.find("LAST ACTIVITY").unwrap();
    let cell = |line: &str| {
        line.get(column..)
            .and_then(|rest| rest.split("  ").next())
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let row = |name: &str| {
        table
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {table}"))
            .to_owned()
    };
    let name = listed(&p, &id)["name"].as_str().unwrap().to_owned();
    let plain_name = listed(&plain, &plain_id)["name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(cell(&row(&name)).ends_with("s ago"), "{table}");
    assert_eq!(cell(&row(&plain_name)), "-", "{table}");

    // Once it stopped itself, the last activity it saw is still there.
    assert_eq!(wait_state(&id, "exited", Duration::from_secs(40)), "exited");
    let stopped = listed(&p, &id);
    assert_eq!(stopped["stopped_idle"], "8s", "{stopped}");
    assert_eq!(stopped["last_activity"], after, "{stopped}");
}
