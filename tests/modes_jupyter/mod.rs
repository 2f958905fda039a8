//! Issue #6, Jupyter: `ptenv up jupyter` against the real engine with the small fixture and a
//! real JupyterLab. It answers with the project's token and refuses without it; the token is
//! stored 0600, reused, rotated by `--new-token`, and appears in no log, label, command or
//! environment of the container; a file made through Jupyter belongs to the host user; a
//! Jupyter that dies shows its last log lines.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::modes_shell::{container_uid, fixture_project, fixture_project_of, owner};
use crate::support::{docker_inspect, http_get, Project, Testbed};

struct Up {
    container: String,
    url: String,
    port: u64,
    token: String,
    action: String,
}

fn up(p: &Project, extra: &[&str]) -> Up {
    let mut args = vec!["--json", "up", "jupyter"];
    args.extend_from_slice(extra);
    let out = p.ptenv(&args).run();
    out.assert_success();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{out}"));
    let s = |k: &str| {
        doc[k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k}:\n{out}"))
            .to_owned()
    };
    Up {
        container: s("container"),
        url: s("url"),
        port: doc["port"].as_u64().expect("port"),
        token: s("token"),
        action: s("action"),
    }
}

fn status(port: u64, token: Option<&str>) -> u16 {
    let auth = token.map(|t| format!("token {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    http_get(&format!("127.0.0.1:{port}"), "/api/status", &headers)
        .unwrap_or_else(|e| panic!("GET /api/status: {e}"))
        .0
}

/// `PUT path` with a JSON body over HTTP/1.0; the status code.
fn put_json(port: u64, path: &str, token: &str, body: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port as u16)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "PUT {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAuthorization: token {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"))
}

#[test]
fn jupyter_answers_with_its_token_only_and_keeps_it_secret() {
    let tb = Testbed::get();
    let p = fixture_project(
        "jupyter-token",
        &tb.small_repo,
        "profiles:\n  jupyter:\n    ports: [\"8900:8888\"]\n",
    );
    let j = up(&p, &[]);
    assert!(
        j.token.len() >= 32 && j.token.chars().all(|c| c.is_ascii_hexdigit()),
        "{}",
        j.token
    );
    assert_eq!(
        j.url,
        format!("http://127.0.0.1:{}/lab?token={}", j.port, j.token)
    );
    assert_eq!(status(j.port, Some(&j.token)), 200);
    assert_eq!(status(j.port, None), 403);
    assert_eq!(
        status(j.port, Some("0123456789abcdef0123456789abcdef")),
        403
    );
    let (code, _) = http_get(
        &format!("127.0.0.1:{}", j.port),
        &format!("/lab?token={}", j.token),
        &[],
    )
    .unwrap();
    assert_eq!(code, 200, "the URL ptenv prints opens the lab");
    // The first screen asks nothing: no news pop-up, no update check. JupyterLab applies
    // `overrides.json` to the settings' schema defaults, which its settings API returns.
    let auth = format!("token {}", j.token);
    let (code, body) = http_get(
        &format!("127.0.0.1:{}", j.port),
        "/lab/api/settings/@jupyterlab/apputils-extension:notification",
        &[("Authorization", auth.as_str())],
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
    let settings: serde_json::Value = serde_json::from_str(&body).unwrap();
    let defaults = &settings["schema"]["properties"];
    assert_eq!(defaults["fetchNews"]["default"], "false", "{settings:#}");
    assert_eq!(
        defaults["checkForUpdates"]["default"], false,
        "{settings:#}"
    );

    // Stored 0600 in ptenv's data dir.
    let id = j
        .container
        .trim_start_matches("ptenv-")
        .trim_end_matches("-jupyter");
    let token_file = p
        .data_dir()
        .join("ptenv/projects")
        .join(id)
        .join("jupyter-token");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), j.token);

    // Nowhere that `docker inspect` or `docker logs` shows.
    let inspect = docker_inspect(&j.container).to_string();
    assert!(
        !inspect.contains(&j.token),
        "the token is in docker inspect"
    );
    let logs = crate::support::docker(&["logs", &j.container]);
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&logs.stdout),
        String::from_utf8_lossy(&logs.stderr)
    );
    assert!(logs.contains("ServerApp"), "{logs}");
    assert!(
        !logs.contains(&j.token),
        "the token is in the logs:\n{logs}"
    );

    // Jupyter runs as the user in /workspace: a file it makes belongs to the host user.
    let code = put_json(
        j.port,
        "/api/contents/made-by-jupyter.txt",
        &j.token,
        r#"{"type":"file","format":"text","content":"hello"}"#,
    );
    assert_eq!(code, 201);
    let made = p.path().join("made-by-jupyter.txt");
    assert_eq!(std::fs::read_to_string(&made).unwrap(), "hello");
    assert_eq!(owner(&made), container_uid());

    // A second `up` reuses the container and the token.
    let again = up(&p, &[]);
    assert_eq!(again.action, "reused");
    assert_eq!(again.token, j.token);

    // --new-token: a new token works, the old one no longer does.
    let rotated = up(&p, &["--new-token"]);
    assert_ne!(rotated.token, j.token);
    assert_eq!(status(rotated.port, Some(&rotated.token)), 200);
    assert_eq!(status(rotated.port, Some(&j.token)), 403);
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), rotated.token);
}

#[test]
fn human_output_is_the_url_and_open_hands_it_to_the_browser() {
    let tb = Testbed::get();
    let p = fixture_project(
        "jupyter-open",
        &tb.small_repo,
        "profiles:\n  jupyter:\n    ports: [\"8920:8888\"]\n",
    );
    // A stand-in for the desktop's opener that records what it was asked to open.
    let bin = p.home().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let opened = p.home().join("opened");
    let opener = bin.join("xdg-open");
    std::fs::write(
        &opener,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", opened.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = p
        .ptenv(&["up", "jupyter", "--open"])
        .env("PATH", path)
        .run();
    out.assert_success();
    let url = out.stdout.trim();
    assert!(url.starts_with("http://127.0.0.1:"), "{out}");
    assert!(url.contains("/lab?token="), "{out}");
    assert_eq!(
        out.stdout.lines().count(),
        1,
        "stdout is the URL alone:\n{out}"
    );
    for _ in 0..50 {
        if opened.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(std::fs::read_to_string(&opened).unwrap(), url);
}

#[test]
fn a_jupyter_whose_output_has_a_known_error_says_what_it_means() {
    let tb = Testbed::get();
    // The command prints PyTorch's DataLoader message (torch/utils/data/dataloader.py) and
    // dies, as a notebook server started by a failing training import would.
    let p = fixture_project(
        "jupyter-explained",
        &tb.small_repo,
        "profiles:\n  jupyter:\n    shm_size: 64m\n    command: \"sh -c 'echo \\\"RuntimeError: DataLoader worker (pid 1234) is killed by signal: Bus error. It is possible that dataloader is workers are out of shared memory. Please try to raise your shared memory limit.\\\" >&2; exit 1'\"\n",
    );
    let out = p.ptenv(&["up", "jupyter"]).run();
    out.assert_exit(1);
    let said = out
        .stderr
        .lines()
        .find(|l| l.contains("hint: its output explains it: "))
        .unwrap_or_else(|| panic!("no explanation:\n{out}"));
    assert!(said.contains("shm_size"), "{out}");
    assert!(
        out.stderr.contains("nothing half-made was left behind"),
        "{out}"
    );
    assert!(p.containers().is_empty());
}

#[test]
fn a_jupyter_that_dies_shows_its_last_log_lines() {
    let tb = Testbed::get();
    let p = fixture_project(
        "jupyter-dies",
        &tb.small_repo,
        "profiles:\n  jupyter:\n    ports: [\"8940:8888\"]\n    command: \"sh -c 'echo broken-on-purpose >&2; exit 3'\"\n",
    );
    let out = p.ptenv(&["up", "jupyter"]).run();
    out.assert_exit(1);
    assert!(out.stderr.contains("stopped"), "{out}");
    assert!(out.stderr.contains("broken-on-purpose"), "{out}");
    // The container this run made is half-made: removed, so the error quotes its log instead
    // of pointing at `ptenv logs`.
    assert!(
        out.stderr.contains("nothing half-made was left behind"),
        "{out}"
    );
    assert!(!out.stderr.contains("ptenv logs jupyter"), "{out}");
    assert!(p.containers().is_empty(), "{:?}", p.containers());
}

#[test]
fn a_jupyter_bound_to_the_ipv6_loopback_is_probed_and_shown_there() {
    let tb = Testbed::get();
    let p = fixture_project(
        "jupyter-v6",
        &tb.small_repo,
        "profiles:\n  jupyter:\n    bind: '::1'\n    ports: [\"8930:8888\"]\n",
    );
    let j = up(&p, &[]);
    assert!(
        j.url
            .starts_with(&format!("http://[::1]:{}/lab?token=", j.port)),
        "{}",
        j.url
    );
    let auth = format!("token {}", j.token);
    let (code, _) = http_get(
        &format!("[::1]:{}", j.port),
        "/api/status",
        &[("Authorization", &auth)],
    )
    .unwrap();
    assert_eq!(code, 200);
}

/// A GPU box where everyone is root: ptenv as root in a project folder of `owner`. A notebook
/// saved through Jupyter lands in the folder owned by that owner: root's folder gets root's
/// files (the container runs as root and says so), another user's folder that user's.
#[test]
fn as_root_a_notebook_saved_through_jupyter_belongs_to_the_folder_s_owner() {
    if rustix::process::getuid().as_raw() != 0 {
        eprintln!("skipped: only root sees this case");
        return;
    }
    let tb = Testbed::get();
    for (name, owner_uid, port) in [
        ("jupyter-root", 0, 8960u16),
        ("jupyter-root-other", 4321, 8961),
    ] {
        let p = fixture_project_of(
            name,
            &tb.small_repo,
            &format!("profiles:\n  jupyter:\n    ports: [\"{port}:8888\"]\n"),
            owner_uid,
        );
        let out = p.ptenv(&["up", "jupyter"]).run();
        out.assert_success();
        let says_root = out.stderr.contains("runs as root");
        assert_eq!(says_root, owner_uid == 0, "{out}");
        assert!(!out.stderr.contains("cannot write to /workspace"), "{out}");
        let token = out
            .stdout
            .trim()
            .rsplit_once("token=")
            .map(|(_, t)| t.to_string())
            .unwrap_or_else(|| panic!("no URL:\n{out}"));
        let code = put_json(
            u64::from(port),
            "/api/contents/saved.ipynb",
            &token,
            r#"{"type":"notebook","format":"json","content":{"cells":[],"metadata":{},"nbformat":4,"nbformat_minor":5}}"#,
        );
        assert_eq!(code, 201, "{name}");
        let saved = p.path().join("saved.ipynb");
        assert!(
            std::fs::read_to_string(&saved)
                .unwrap()
                .contains("nbformat"),
            "{name}"
        );
        assert_eq!(owner(&saved), owner_uid, "{name}");
    }
}
