//! The command line of issue #2: help, profiles, `up --dry-run`, `init`, and the errors a
//! broken or wrong `ptenv.yaml` gives. These run the real binary and need no engine.

use crate::support::Project;

#[test]
fn help_lists_every_command() {
    let p = Project::new("cli-help");
    let out = p.ptenv(&["--help"]).run();
    out.assert_success();
    for cmd in [
        "up",
        "ssh",
        "shell",
        "doctor",
        "select",
        "down",
        "ls",
        "logs",
        "exec",
        "init",
        "profiles",
        "completions",
    ] {
        assert!(
            out.stdout.contains(&format!("\n  {cmd} ")),
            "`{cmd}` missing from help:\n{out}"
        );
    }
    for flag in ["--json", "--quiet", "--verbose", "--project <DIR>"] {
        assert!(out.stdout.contains(flag), "{flag} missing:\n{out}");
    }
}

#[test]
fn dry_run_in_an_empty_folder_prints_the_builtin_jupyter_profile() {
    let p = Project::new("cli-dry-run");
    let out = p.ptenv(&["up", "jupyter", "--dry-run"]).run();
    out.assert_success();
    let yaml: serde_json::Value =
        serde_yaml::from_str(&out.stdout).expect("the dry run prints YAML");
    assert_eq!(yaml["name"], "jupyter");
    assert_eq!(yaml["mode"], "jupyter");
    assert_eq!(yaml["pytorch"], "2.6");
    assert_eq!(yaml["repository"], "pytorch/pytorch");
    assert_eq!(yaml["gpus"], "all");
    assert_eq!(yaml["shm_size"], "auto");
    assert_eq!(yaml["bind"], "127.0.0.1");
    assert_eq!(yaml["ports"][0]["container"], 8888);
    assert_eq!(yaml["ulimits"]["memlock"]["soft"], -1);
    assert_eq!(yaml["workdir"], "/workspace");
    // The chosen image and the container, as comments above the profile.
    let first = out.stdout.lines().next().unwrap();
    assert!(
        first.starts_with("# image: pytorch/pytorch:2.6.0-cuda")
            && first.ends_with("-runtime (on the CPU)"),
        "{out}"
    );
    assert!(
        out.stdout.contains("\n# container: ptenv-cli-dry-run-"),
        "{out}"
    );
    // Nothing was written into the project.
    assert_eq!(std::fs::read_dir(p.path()).unwrap().count(), 0);
}

#[test]
fn layers_reach_the_resolved_profile() {
    let p = Project::new("cli-layers");
    std::fs::create_dir_all(p.config_dir().join("ptenv")).unwrap();
    std::fs::write(
        p.config_dir().join("ptenv/config.yaml"),
        "repository: registry.example.com/team/pytorch\nshm_size: 4g\n",
    )
    .unwrap();
    p.write(
        "ptenv.yaml",
        "default: train\nshm_size: 8g\nprofiles:\n  train:\n    mode: shell\n    gpus: [0]\n",
    );
    let out = p
        .ptenv(&["up", "--dry-run", "--json", "--gpus", "none"])
        .run();
    out.assert_success();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON on stdout");
    let prof = &v["profile"];
    assert_eq!(prof["name"], "train");
    assert_eq!(prof["mode"], "shell");
    assert_eq!(
        prof["repository"], "registry.example.com/team/pytorch",
        "user layer"
    );
    assert_eq!(prof["shm_size"], "8GiB", "project beats user");
    assert_eq!(prof["gpus"], "none", "flags beat the project");

    let listed = p.ptenv(&["profiles", "--json"]).run();
    listed.assert_success();
    let v: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(v["default"], "train");
    let train = v["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "train")
        .unwrap();
    // The user's top-level settings shape it too, then the project's file.
    let from: Vec<&str> = train["from"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(from.len(), 2, "{train}");
    assert!(
        from[0].starts_with("user config ") && from[0].ends_with("config.yaml (top level)"),
        "{train}"
    );
    assert!(from[1].ends_with("ptenv.yaml"), "{train}");
}

#[test]
fn broken_yaml_gives_line_and_column_and_exit_1() {
    let p = Project::new("cli-broken");
    p.write("ptenv.yaml", "mode: jupyter\nenv: {A: 1\n");
    let out = p.ptenv(&["up", "--dry-run"]).run();
    out.assert_exit(1);
    let path = p.path().join("ptenv.yaml");
    assert!(
        out.stderr
            .starts_with(&format!("ptenv: {}:", path.display())),
        "{out}"
    );
    let place = out.stderr.split(':').nth(2).unwrap_or("");
    assert!(place.parse::<u32>().is_ok(), "no line number:\n{out}");
    assert!(out.stderr.contains("hint:"), "{out}");
    assert!(out.stdout.is_empty());
}

#[test]
fn unknown_key_suggests_the_nearest_and_json_carries_hints() {
    let p = Project::new("cli-unknown");
    p.write(
        "ptenv.yaml",
        "profiles:\n  t:\n    mode: shell\n    shm_sise: 8g\n",
    );
    let out = p.ptenv(&["up", "t", "--dry-run", "--json"]).run();
    out.assert_exit(1);
    let v: serde_json::Value =
        serde_json::from_str(&out.stdout).expect("an error object on stdout");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .ends_with("ptenv.yaml:4:5: profiles.t: unknown field `shm_sise`"),
        "{v}"
    );
    assert_eq!(v["hints"][0], "did you mean `shm_size`?");
}

#[test]
fn an_unknown_profile_is_an_error() {
    let p = Project::new("cli-noprofile");
    let out = p.ptenv(&["up", "notebook", "--dry-run"]).run();
    out.assert_exit(1);
    assert!(out.stderr.contains("no profile named `notebook`"), "{out}");
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let p = Project::new("cli-badflag");
    let out = p.ptenv(&["up", "--dry-run", "--shm-size", "lots"]).run();
    out.assert_exit(2);
    assert!(out.stderr.contains("is not a size"), "{out}");
}

#[test]
fn init_writes_a_file_that_loads_and_never_overwrites_without_force() {
    let p = Project::new("cli-init");
    p.ptenv(&["init", "--yes"]).run().assert_success();
    let text = p.read("ptenv.yaml");
    assert!(text.starts_with("# ptenv.yaml"), "commented: {text}");
    p.ptenv(&["up", "--dry-run"]).run().assert_success();

    p.write("ptenv.yaml", "mode: shell # mine\n");
    let out = p.ptenv(&["init", "--yes"]).run();
    out.assert_exit(1);
    assert!(out.stderr.contains("--force"), "{out}");
    assert_eq!(
        p.read("ptenv.yaml"),
        "mode: shell # mine\n",
        "kept byte for byte"
    );

    p.ptenv(&["init", "--yes", "--force"])
        .run()
        .assert_success();
    assert!(p.read("ptenv.yaml").starts_with("# ptenv.yaml"));
    let leftovers: Vec<_> = std::fs::read_dir(p.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec!["ptenv.yaml"], "no temporary files left");
}

#[test]
fn init_without_a_terminal_takes_the_defaults() {
    let p = Project::new("cli-init-pipe");
    // stdin is a pipe here: no prompt may block.
    p.ptenv(&["init"]).stdin("").run().assert_success();
    assert!(p.read("ptenv.yaml").contains("default: jupyter"));
}

#[test]
fn completions_are_printed() {
    let p = Project::new("cli-completions");
    let out = p.ptenv(&["completions", "bash"]).run();
    out.assert_success();
    assert!(out.stdout.contains("_ptenv()"), "{out}");
}

#[test]
fn a_missing_project_folder_is_an_error() {
    let p = Project::new("cli-noproject");
    let out = p
        .ptenv(&["--project", "/nonexistent/folder", "profiles"])
        .run();
    out.assert_exit(1);
    assert!(out.stderr.contains("--project"), "{out}");
}

/// The command lines of the README's tables, as `(subcommand words, flags)`: a cell such as
/// `` `ptenv export compose\|k8s [PROFILE] [-o FILE]` `` gives `export compose` and
/// `export k8s`, each with `-o`.
fn readme_command_lines() -> Vec<(Vec<String>, Vec<String>)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let mut lines = Vec::new();
    for row in readme.lines().filter(|l| l.starts_with("| `ptenv")) {
        let cell = row.trim_start_matches('|').split(" | ").next().unwrap();
        for command in cell.split('`').skip(1).step_by(2) {
            let command = command.replace("\\|", "|");
            let mut words: Vec<Vec<String>> = vec![Vec::new()];
            let mut flags = Vec::new();
            for token in command.split_whitespace().skip(1) {
                let bare = token.trim_matches(|c| c == '[' || c == ']' || c == '.');
                if bare == "--" {
                    // What follows is the command to run, not ptenv's.
                    break;
                } else if bare.starts_with('-') {
                    for alt in bare.split('|').filter(|a| a.starts_with('-')) {
                        flags.push(alt.to_string());
                    }
                } else if flags.is_empty()
                    && !token.starts_with('[')
                    && bare
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "|-".contains(c))
                    && !bare.is_empty()
                {
                    // A subcommand word, or alternatives `compose|k8s`.
                    words = words
                        .into_iter()
                        .flat_map(|w| {
                            bare.split('|').map(move |alt| {
                                let mut w = w.clone();
                                w.push(alt.to_string());
                                w
                            })
                        })
                        .collect();
                }
            }
            for w in words {
                lines.push((w, flags.clone()));
            }
        }
    }
    lines
}

#[test]
fn every_command_line_of_the_readme_tables_exists_with_its_flags() {
    let p = Project::new("cli-readme");
    let lines = readme_command_lines();
    assert!(
        lines.len() >= 16,
        "the README's command table was not found: {lines:?}"
    );
    assert!(
        lines.iter().any(|(w, _)| w == &["export", "k8s"]),
        "{lines:?}"
    );
    for (words, flags) in &lines {
        let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
        args.push("--help");
        let out = p.ptenv(&args).run();
        out.assert_success();
        for flag in flags {
            let shown = out
                .stdout
                .split(|c: char| c.is_whitespace() || c == ',' || c == '=')
                .any(|w| w == flag.as_str());
            assert!(
                shown,
                "the README shows `ptenv {} {flag}`, but the command has no such flag:\n{out}",
                words.join(" ")
            );
        }
    }
    // The README's `up --dry-run` lines run as written.
    p.ptenv(&["up", "--dry-run"]).run().assert_success();
}

#[test]
fn a_plain_tcp_engine_on_the_network_is_warned_about() {
    let p = Project::new("cli-tcp-engine");
    // Nothing listens on port 1: the warning comes before the connection fails.
    let host = format!("tcp://{}:1", crate::registry::outside_address());
    let out = p.ptenv(&["ls"]).env("DOCKER_HOST", &host).run();
    out.assert_exit(1);
    assert!(
        out.stderr.contains(&format!(
            "warning: the engine {host} (from DOCKER_HOST) is reached over plain TCP on the network"
        )),
        "{out}"
    );
    // What chose the engine is what the warning names.
    let flag = p.ptenv(&["--host", &host, "ls"]).run();
    flag.assert_exit(1);
    assert!(
        flag.stderr.contains(&format!(
            "warning: the engine {host} (from --host) is reached over plain TCP"
        )),
        "{flag}"
    );
    // On loopback the traffic stays on this machine: no warning.
    let out = p
        .ptenv(&["ls"])
        .env("DOCKER_HOST", "tcp://127.0.0.1:1")
        .run();
    out.assert_exit(1);
    assert!(!out.stderr.contains("plain TCP"), "{out}");
}
