//! Issue #6, ssh: `ptenv ssh` against the real engine and the real OpenSSH client. Key-only
//! login as the container user with the pinned host key, the image's environment and
//! /workspace; a wrong host key, passwords and root are refused; `~/.ssh/config` gets one
//! Include line on top and gets its old bytes back with `--forget`; torch runs over ssh.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::modes_shell::{container_uid, fixture_project, fixture_project_of, owner};
use crate::support::{Outcome, Project, Testbed};

/// What `ptenv --json ssh` reports.
struct Connection {
    alias: String,
    port: u64,
    config_file: PathBuf,
}

fn ssh_up(p: &Project) -> Connection {
    let out = p.ptenv(&["--json", "ssh"]).run();
    out.assert_success();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{out}"));
    Connection {
        alias: doc["alias"].as_str().expect("alias").to_owned(),
        port: doc["port"].as_u64().expect("port"),
        config_file: PathBuf::from(doc["ssh_config"].as_str().expect("ssh_config")),
    }
}

/// The real ssh client with ptenv's config (the user's `~/.ssh/config` in the isolated home:
/// ssh itself looks in the passwd entry's home, not $HOME). Never prompts.
fn ssh(p: &Project, config: &Path, args: &[&str]) -> Outcome {
    let mut all = vec!["-F", config.to_str().unwrap(), "-o", "BatchMode=yes"];
    all.extend_from_slice(args);
    p.command("ssh", &all).run()
}

/// Passwords (and keyboard-interactive) are not even offered.
fn passwords_are_refused(p: &Project, c: &Connection) {
    let out = ssh(
        p,
        &c.config_file,
        &[
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
            &c.alias,
            "true",
        ],
    );
    out.assert_exit(255);
    assert!(
        out.stderr.contains("Permission denied (publickey)"),
        "{out}"
    );
}

#[test]
fn ssh_logs_in_with_the_pinned_key_only_as_the_user_in_the_workspace() {
    let tb = Testbed::get();
    let p = fixture_project("ssh-login", &tb.small_repo, "");
    // The user's own config, with CRLF line endings and no final newline: kept byte for byte.
    let ssh_dir = p.home().join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let user_config = ssh_dir.join("config");
    // Its `Host *` block asks for the opposite of what ptenv's entry must keep.
    let original = b"# mine\r\nHost gpu-box\r\n    HostName 10.1.2.3\r\n    User ana\r\nHost *\r\n    ForwardAgent yes\r\n    ForwardX11 yes\r\n    ProxyJump jump.example.org\r\n    IdentitiesOnly no".to_vec();
    std::fs::write(&user_config, &original).unwrap();

    let c = ssh_up(&p);
    assert!(c.alias.starts_with("ptenv-ssh-login-"), "{}", c.alias);
    assert!((2222..2240).contains(&c.port), "{}", c.port);
    let text = std::fs::read(&user_config).unwrap();
    let include = format!("Include {}/ptenv/ssh/*.conf\r\n", p.data_dir().display());
    assert!(
        text.starts_with(include.as_bytes()),
        "{}",
        String::from_utf8_lossy(&text)
    );
    assert_eq!(&text[include.len()..], &original[..]);
    let host_entry = std::fs::read_to_string(&c.config_file).unwrap();
    assert!(
        host_entry.contains("StrictHostKeyChecking yes"),
        "{host_entry}"
    );
    assert!(
        host_entry.contains(&format!("Port {}", c.port)),
        "{host_entry}"
    );

    // ssh takes the first value it reads, and the Include is on top: ptenv's entry wins over
    // the user's `Host *`.
    let resolved = ssh(&p, &user_config, &["-G", &c.alias]);
    resolved.assert_success();
    for line in [
        "forwardagent no",
        "forwardx11 no",
        "identitiesonly yes",
        "hostname 127.0.0.1",
    ] {
        assert!(
            resolved.stdout.lines().any(|l| l == line),
            "no `{line}` in ssh -G:\n{resolved}"
        );
    }
    assert!(
        !resolved.stdout.contains("jump.example.org"),
        "the user's ProxyJump applies:\n{resolved}"
    );

    // Through the user's config (the Include), as `ssh ptenv-<project>` and VS Code do.
    let out = ssh(
        &p,
        &user_config,
        &[
            &c.alias,
            "id -u; pwd; echo \"path=$PATH\"; echo \"nvidia=$NVIDIA_VISIBLE_DEVICES\"; touch made-over-ssh",
        ],
    );
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], container_uid().to_string(), "{out}");
    assert_eq!(lines[1], "/workspace", "{out}");
    assert!(
        lines[2].starts_with("path=/home/dev/.local/bin:/opt/conda/bin:"),
        "{out}"
    );
    assert_eq!(lines[3], "nvidia=all", "{out}");
    assert_eq!(owner(&p.path().join("made-over-ssh")), container_uid());

    // sshd refuses agent forwarding even when the client asks for it with a running agent.
    let out = p
        .command(
            "ssh-agent",
            &[
                "ssh",
                "-F",
                user_config.to_str().unwrap(),
                "-o",
                "BatchMode=yes",
                "-A",
                &c.alias,
                "echo \"agent=${SSH_AUTH_SOCK:-none}\"",
            ],
        )
        .run();
    out.assert_success();
    assert_eq!(out.stdout, "agent=none\n", "{out}");

    // Local forwarding (VS Code's way to its server) still works: through the tunnel, the
    // container's own sshd greets.
    let out = ssh(&p, &user_config, &["-W", "127.0.0.1:22", &c.alias]);
    assert!(out.stdout.starts_with("SSH-2.0-"), "{out}");

    // `ptenv ssh -- CMD`: stdout is the command's alone, and its exit code is returned.
    let out = p.ptenv(&["-q", "ssh", "--", "echo", "over", "ssh"]).run();
    out.assert_success();
    assert_eq!(out.stdout, "over ssh\n", "{out}");
    p.ptenv(&["-q", "ssh", "--", "exit 7"]).run().assert_exit(7);

    // A second `ptenv ssh` changes nothing in the user's config.
    let again = ssh_up(&p);
    assert_eq!(again.port, c.port);
    assert_eq!(std::fs::read(&user_config).unwrap(), text);

    // Another host key than the pinned one: refused, never accepted.
    let wrong = p.home().join("wrong_known_hosts");
    let keygen_dir = p.home().join("otherkey");
    std::fs::create_dir_all(&keygen_dir).unwrap();
    let key = keygen_dir.join("k");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(made.success());
    let other = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let other: Vec<&str> = other.split_whitespace().collect();
    std::fs::write(
        &wrong,
        format!("[127.0.0.1]:{} {} {}\n", c.port, other[0], other[1]),
    )
    .unwrap();
    let out = ssh(
        &p,
        &c.config_file,
        &[
            "-o",
            &format!("UserKnownHostsFile={}", wrong.display()),
            &c.alias,
            "true",
        ],
    );
    out.assert_exit(255);
    assert!(out.stderr.contains("Host key verification failed"), "{out}");

    // Passwords (and keyboard-interactive) are not offered; root may not log in.
    passwords_are_refused(&p, &c);
    let out = ssh(&p, &c.config_file, &["-l", "root", &c.alias, "true"]);
    out.assert_exit(255);
    assert!(out.stderr.contains("Permission denied"), "{out}");

    // The secrets on the host are private.
    let keys = p
        .data_dir()
        .join("ptenv/projects")
        .join(c.alias.trim_start_matches("ptenv-"))
        .join("ssh");
    for f in ["client_ed25519", "host_ed25519", "known_hosts"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }

    // --forget: the host file and (the last project) the Include line go; the rest is as it was.
    let out = p.ptenv(&["ssh", "--forget"]).run();
    out.assert_success();
    assert!(!c.config_file.exists());
    assert_eq!(std::fs::read(&user_config).unwrap(), original);
}

#[test]
fn a_read_only_ssh_config_is_left_untouched_and_ssh_still_works_with_its_file() {
    let tb = Testbed::get();
    let p = fixture_project(
        "ssh-readonly",
        &tb.small_repo,
        "profiles:\n  ssh:\n    ports: [{container: 22, host: 2240}]\n",
    );
    let ssh_dir = p.home().join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let user_config = ssh_dir.join("config");
    std::fs::write(&user_config, "Host x\n  User y\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&user_config, std::fs::Permissions::from_mode(0o444)).unwrap();

    let out = p.ptenv(&["ssh"]).run();
    out.assert_success();
    assert!(out.stderr.contains("read-only"), "{out}");
    assert!(out.stderr.contains("add this line at the top"), "{out}");
    assert!(out.stdout.contains("ssh:     ssh -F "), "{out}");
    assert_eq!(
        std::fs::read_to_string(&user_config).unwrap(),
        "Host x\n  User y\n"
    );
    let c = ssh_up(&p);
    ssh(&p, &c.config_file, &[&c.alias, "true"]).assert_success();

    // --code without VS Code's command: says how to get it, starts nothing new.
    let out = p
        .ptenv(&["ssh", "--code"])
        .env("PATH", "/usr/bin:/bin")
        .run();
    out.assert_exit(1);
    assert!(out.stderr.contains("`code`"), "{out}");
    assert!(
        out.stderr
            .contains(&format!("code --remote ssh-remote+{} /workspace", c.alias)),
        "{out}"
    );
    // With it: ptenv runs it on the alias and the workspace (a stand-in records the call).
    let bin = p.home().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let called = p.home().join("code-args");
    let code = bin.join("code");
    std::fs::write(
        &code,
        format!("#!/bin/sh\necho \"$@\" > '{}'\n", called.display()),
    )
    .unwrap();
    std::fs::set_permissions(&code, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = p.ptenv(&["-q", "ssh", "--code"]).env("PATH", path).run();
    out.assert_success();
    assert_eq!(out.stdout, "", "stdout stays free with --code:\n{out}");
    assert_eq!(
        std::fs::read_to_string(&called).unwrap(),
        format!("--remote ssh-remote+{} /workspace\n", c.alias)
    );
}

#[test]
fn torch_runs_over_ssh_in_the_torch_image() {
    let tb = Testbed::get();
    let p = fixture_project(
        "ssh-torch",
        &tb.torch_repo,
        "profiles:\n  ssh:\n    ports: [{container: 22, host: 2260}]\n",
    );
    let c = ssh_up(&p);
    let out = ssh(
        &p,
        &c.config_file,
        &[
            &c.alias,
            "id -u; pwd; python -c \"import torch; print(torch.__version__)\"",
        ],
    );
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], container_uid().to_string(), "{out}");
    assert_eq!(lines[1], "/workspace", "{out}");
    assert!(lines[2].starts_with("2.6.0"), "{out}");
}

#[test]
fn a_failed_ssh_setup_leaves_the_users_ssh_config_as_it_was() {
    let tb = Testbed::get();
    // A file that is not a program in place of sshd: the start script cannot run it.
    let p = fixture_project(
        "ssh-fails",
        &tb.small_repo,
        "profiles:\n  ssh:\n    ports: [{container: 22, host: 2280}]\n    mounts: ['./no-sshd:/usr/sbin/sshd:ro']\n",
    );
    p.write("no-sshd", "no sshd today\n");
    let ssh_dir = p.home().join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let user_config = ssh_dir.join("config");
    std::fs::write(&user_config, "Host x\n  User y\n").unwrap();
    let out = p.ptenv(&["ssh"]).run();
    out.assert_exit(1);
    assert!(out.stderr.contains("stopped before sshd answered"), "{out}");
    assert!(
        out.stderr.contains("/usr/sbin/sshd: Permission denied"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(&user_config).unwrap(),
        "Host x\n  User y\n"
    );
    let ptenv_ssh = p.data_dir().join("ptenv/ssh");
    let entries = std::fs::read_dir(&ptenv_ssh)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(
        entries,
        0,
        "a host entry was left in {}",
        ptenv_ssh.display()
    );
}

#[test]
fn a_profile_s_own_command_runs_as_the_user_next_to_sshd() {
    let tb = Testbed::get();
    let p = fixture_project(
        "ssh-command",
        &tb.small_repo,
        "profiles:\n  ssh:\n    ports: [{container: 22, host: 2300}]\n    command: [sh, -c, 'id -u > /tmp/ran-as; echo \"$HOME\" >> /tmp/ran-as; exec sleep infinity']\n",
    );
    let c = ssh_up(&p);
    // The command runs as the container user, with the user's home; sshd (root) still
    // serves logins.
    let out = ssh(
        &p,
        &c.config_file,
        &[
            &c.alias,
            "while [ ! -s /tmp/ran-as ]; do sleep 0.1; done; cat /tmp/ran-as; stat -c %u /proc/$(cat /proc/1/task/1/children | tr -d ' ')",
        ],
    );
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], container_uid().to_string(), "{out}");
    assert_eq!(lines[1], "/home/dev", "{out}");
    // The container's main process (the init's one child) is the command, the user's.
    assert_eq!(lines[2], container_uid().to_string(), "{out}");
}

#[test]
fn an_ssh_bound_to_another_local_address_is_reached_there() {
    let tb = Testbed::get();
    // 127.0.0.2 is loopback too on Linux; ::1 is the IPv6 loopback.
    let p = fixture_project(
        "ssh-bind",
        &tb.small_repo,
        "profiles:\n  ssh:\n    bind: 127.0.0.2\n    ports: [{container: 22, host: 2320}]\n  ssh6:\n    mode: ssh\n    bind: '::1'\n    ports: [{container: 22, host: 2330}]\n",
    );
    let ssh_dir = p.home().join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let user_config = ssh_dir.join("config");
    std::fs::write(&user_config, "").unwrap();
    let known_hosts = |alias: &str| {
        let path = p
            .data_dir()
            .join("ptenv/projects")
            .join(alias.trim_start_matches("ptenv-"))
            .join("ssh/known_hosts");
        std::fs::read_to_string(path).unwrap()
    };

    let c = ssh_up(&p);
    let host_entry = std::fs::read_to_string(&c.config_file).unwrap();
    assert!(
        host_entry.contains(&format!("    HostName 127.0.0.2\n    Port {}\n", c.port)),
        "{host_entry}"
    );
    let pinned = known_hosts(&c.alias);
    assert!(
        pinned.starts_with(&format!("[127.0.0.2]:{} ssh-ed25519 ", c.port)),
        "{pinned}"
    );
    ssh(&p, &user_config, &[&c.alias, "true"]).assert_success();

    let out = p.ptenv(&["--json", "ssh", "--profile-name", "ssh6"]).run();
    out.assert_success();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let port = doc["port"].as_u64().unwrap();
    assert_eq!(doc["host"], "::1", "{out}");
    let host_entry = std::fs::read_to_string(&c.config_file).unwrap();
    assert!(
        host_entry.contains(&format!("    HostName ::1\n    Port {port}\n")),
        "{host_entry}"
    );
    let pinned = known_hosts(&c.alias);
    assert!(
        pinned.starts_with(&format!("[::1]:{port} ssh-ed25519 ")),
        "{pinned}"
    );
    ssh(&p, &user_config, &[&c.alias, "true"]).assert_success();
}

/// Root in a folder of root's: the container user is root, whom sshd lets in with the key
/// alone; passwords stay refused.
#[test]
fn as_root_in_root_s_folder_ssh_logs_in_as_root_with_the_key_only() {
    if rustix::process::getuid().as_raw() != 0 {
        eprintln!("skipped: only root sees this case");
        return;
    }
    let tb = Testbed::get();
    let p = fixture_project_of("ssh-root", &tb.small_repo, "", 0);
    let c = ssh_up(&p);
    let out = ssh(
        &p,
        &c.config_file,
        &[
            &c.alias,
            "id -u; pwd; echo \"path=$PATH\"; touch made-as-root",
        ],
    );
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[..2], ["0", "/workspace"], "{out}");
    assert!(
        lines[2].starts_with("path=/root/.local/bin:/opt/conda/bin:"),
        "{out}"
    );
    assert_eq!(owner(&p.path().join("made-as-root")), 0);
    passwords_are_refused(&p, &c);
    p.ptenv(&["ssh", "--forget"]).run().assert_success();
}

#[test]
fn what_an_ssh_session_leaves_in_the_home_survives_down_and_up() {
    let tb = Testbed::get();
    let p = fixture_project("ssh-home", &tb.small_repo, "");
    let c = ssh_up(&p);
    // As VS Code's Remote-SSH installs its server, and a shell keeps its history.
    let out = ssh(
        &p,
        &c.config_file,
        &[
            &c.alias,
            "mkdir -p ~/.vscode-server/bin && echo server > ~/.vscode-server/bin/marker && echo ls >> ~/.bash_history && stat -c %a ~",
        ],
    );
    out.assert_success();
    assert_eq!(out.stdout, "700\n", "{out}");
    p.ptenv(&["down"]).run().assert_success();
    let c = ssh_up(&p);
    let out = ssh(
        &p,
        &c.config_file,
        &[&c.alias, "cat ~/.vscode-server/bin/marker ~/.bash_history"],
    );
    out.assert_success();
    assert_eq!(out.stdout, "server\nls\n", "{out}");
}
