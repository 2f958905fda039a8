//! The project's own dependency files, installed into the derived image on the real torch
//! fixture without replacing its torch: requirements.txt with an unpinned torch, a pinned torch
//! refused before any build, pyproject.toml and apt.txt projects, a changed file rebuilding only
//! from its layer, and an install that fails with the installer's own message.

use crate::support::{docker_inspect, Project, Testbed};

/// A shell project on `repo`, its folder given to 1000:1000 as a user's own would be.
fn project(name: &str, repo: &str, extra: &str) -> Project {
    Testbed::get().registry();
    let p = Project::new(name);
    p.write(
        "ptenv.yaml",
        &format!("default: shell\nrepository: {repo}\ngpus: none\n{extra}"),
    );
    chown(&p);
    p
}

fn chown(p: &Project) {
    if rustix::process::getuid().as_raw() == 0 {
        for entry in std::fs::read_dir(p.path()).unwrap() {
            let path = entry.unwrap().path();
            std::os::unix::fs::chown(&path, Some(1000), Some(1000)).unwrap();
        }
        std::os::unix::fs::chown(p.path(), Some(1000), Some(1000)).unwrap();
    }
}

/// `up --detach -v` with the test bed's CA for the build's downloads.
fn up(p: &Project, args: &[&str]) -> crate::support::Outcome {
    let tb = Testbed::get();
    let mut all = vec!["up", "--detach", "-v"];
    all.extend_from_slice(args);
    p.ptenv(&all).env("SSL_CERT_FILE", &tb.ca_bundle).run()
}

/// The image of the project's container for `profile`, tracked for removal.
fn image_of(p: &Project, profile: &str) -> String {
    let id = p
        .containers()
        .into_iter()
        .find(|id| docker_inspect(id)["Config"]["Labels"]["dev.ptenv.profile"] == profile)
        .expect("a container of the profile");
    let image = docker_inspect(&id)["Config"]["Image"]
        .as_str()
        .unwrap()
        .to_string();
    p.track_image(&image);
    image
}

/// The classic builder's steps in a build's output: each `Step i/n : INSTRUCTION` with whether
/// it came from the cache (` ---> Using cache`).
fn steps(output: &str) -> Vec<(String, bool)> {
    let lines: Vec<&str> = output.lines().map(str::trim).collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(at) = l.find("Step ") {
            let cached = lines[i + 1..]
                .iter()
                .take_while(|n| !n.contains("Step "))
                .any(|n| n.contains("---> Using cache"));
            out.push((l[at..].to_string(), cached));
        }
    }
    out
}

fn exec(p: &Project, args: &[&str]) -> String {
    let out = p
        .ptenv(&[&["exec", "shell", "--"][..], args].concat())
        .run();
    out.assert_success();
    out.stdout
}

#[test]
fn requirements_install_next_to_the_image_s_torch_and_a_change_rebuilds_only_its_layer() {
    let tb = Testbed::get();
    let p = project(
        "deps-torch",
        &tb.torch_repo,
        "profiles:\n  nosudo: {mode: shell, sudo: false}\n",
    );
    p.write(
        "requirements.txt",
        "# the usual first line\ntorch\neinops\n",
    );
    p.write("apt.txt", "tree\n");
    chown(&p);

    let dry = p.ptenv(&["up", "--dry-run"]).run();
    dry.assert_success();
    assert!(
        dry.stdout
            .contains("# dependencies: requirements.txt (1 pip), apt.txt (1 apt)"),
        "{dry}"
    );

    let out = up(&p, &[]);
    out.assert_success();
    assert!(
        out.stderr.contains(
            "requirements.txt:2: `torch` is satisfied by the image's torch 2.6.0, which is kept"
        ),
        "{out}"
    );
    assert!(out.stderr.contains("ptenv: kept from the image: "), "{out}");
    assert!(out.stderr.contains("torch==2.6.0"), "{out}");
    let first = image_of(&p, "shell");
    let versions = exec(
        &p,
        &[
            "python",
            "-c",
            "import torch, einops; print(torch.__version__); print(einops.__version__)",
        ],
    );
    let lines: Vec<&str> = versions.lines().collect();
    assert_eq!(lines[0], "2.6.0+cu124", "{versions}");
    assert!(!lines[1].is_empty(), "{versions}");
    exec(&p, &["tree", "--version"]);
    let installed = exec(&p, &["cat", "/etc/ptenv/dependencies/installed.txt"]);
    assert!(
        installed.lines().any(|l| l.starts_with("einops==")),
        "{installed}"
    );
    assert!(
        installed.lines().any(|l| l == "torch==2.6.0"),
        "{installed}"
    );

    // A second profile of the project: the dependency layers come from the cache, only the
    // mode's layer is built.
    let second = up(&p, &["nosudo"]);
    second.assert_success();
    image_of(&p, "nosudo");
    let s = steps(&second.stderr);
    let deps_step = s
        .iter()
        .find(|(l, _)| l.contains("/etc/ptenv/dependencies/requirements.txt"))
        .unwrap_or_else(|| panic!("no dependency step in {second}"));
    assert!(
        deps_step.1,
        "the dependency layer was built again: {second}"
    );
    let mode_step = s
        .iter()
        .find(|(l, _)| l.contains("gpasswd -d"))
        .expect("the mode's step without sudo");
    assert!(!mode_step.1, "{s:?}");

    // A changed requirements.txt: said, and built from its layer on; apt.txt's layer is cached.
    p.write(
        "requirements.txt",
        "# the usual first line\ntorch\neinops\nsix\n",
    );
    let again = up(&p, &[]);
    again.assert_success();
    assert!(
        again.stderr.contains(
            "requirements.txt changed since the last build: the dependency layer is built again"
        ),
        "{again}"
    );
    let s = steps(&again.stderr);
    let apt = s
        .iter()
        .find(|(l, _)| l.contains("'tree'"))
        .expect("the apt.txt step");
    assert!(apt.1, "apt.txt's layer was built again: {s:?}");
    let pip = s
        .iter()
        .find(|(l, _)| l.contains("/etc/ptenv/dependencies/requirements.txt"))
        .expect("the requirements step");
    assert!(
        !pip.1,
        "the changed requirements came from the cache: {s:?}"
    );
    let second_image = image_of(&p, "shell");
    assert_ne!(first, second_image);
    let versions = exec(
        &p,
        &[
            "python",
            "-c",
            "import torch, six; print(torch.__version__)",
        ],
    );
    assert_eq!(versions, "2.6.0+cu124\n");
}

#[test]
fn a_pinned_torch_is_refused_before_any_build_naming_the_file_and_line() {
    let tb = Testbed::get();
    let p = project("deps-pinned", &tb.small_repo, "");
    p.write("requirements.txt", "einops\ntorch==2.5.1\n");
    for args in [&["up", "--dry-run"][..], &["up", "--detach"][..]] {
        let out = p.ptenv(args).run();
        out.assert_exit(1);
        assert!(
            out.stderr.contains(
                "ptenv: requirements.txt:2: `torch==2.5.1` conflicts with the image's torch 2.6.0"
            ),
            "{out}"
        );
        assert!(
            out.stderr.contains("set `pytorch: \"2.5\"` in ptenv.yaml"),
            "{out}"
        );
        assert!(
            out.stderr.contains("or drop the pin in requirements.txt"),
            "{out}"
        );
        assert!(!out.stderr.contains("Building"), "{out}");
    }
    p.write(
        "requirements.txt",
        "--extra-index-url https://download.pytorch.org/whl/cpu\ntorch\n",
    );
    let out = p.ptenv(&["up", "--detach"]).run();
    out.assert_exit(1);
    assert!(out.stderr.contains("requirements.txt:1:"), "{out}");
    assert!(out.stderr.contains("CPU-only"), "{out}");
    assert!(p.containers().is_empty());
}

#[test]
fn pyproject_apt_and_environment_projects_build() {
    let tb = Testbed::get();
    let p = project(
        "deps-pyproject",
        &tb.small_repo,
        "dependencies: {pyproject: {groups: [dev]}, installer: pip}\n",
    );
    p.write(
        "pyproject.toml",
        "[project]\nname = \"demo\"\nversion = \"0.1\"\ndependencies = [\"six\"]\n[project.optional-dependencies]\ndev = [\"toolz\"]\n",
    );
    p.write("apt.txt", "# for the docs\ntree\n");
    p.write(
        "environment.yml",
        "dependencies:\n  - python=3.11\n  - ffmpeg\n  - pip:\n    - idna\n",
    );
    chown(&p);
    let out = up(&p, &[]);
    out.assert_success();
    assert!(
        out.stderr
            .contains("environment.yml: the conda packages ffmpeg are not installed"),
        "{out}"
    );
    assert!(
        out.stderr.contains("installing the requirements with pip"),
        "{out}"
    );
    image_of(&p, "shell");
    exec(&p, &["python", "-c", "import six, toolz, idna"]);
    exec(&p, &["tree", "--version"]);
    let profiles = p.ptenv(&["profiles"]).run();
    profiles.assert_success();
    assert!(
        profiles.stdout.contains(
            "dependencies: pyproject.toml (2 pip), apt.txt (1 apt), environment.yml (1 pip)"
        ),
        "{profiles}"
    );
}

#[test]
fn a_package_that_does_not_exist_fails_the_build_with_the_installer_s_own_line() {
    let tb = Testbed::get();
    for (installer, says) in [
        (
            "uv",
            "ptenv-no-such-package-4711 was not found in the package registry",
        ),
        (
            "pip",
            "No matching distribution found for ptenv-no-such-package-4711",
        ),
    ] {
        let p = project(
            &format!("deps-missing-{installer}"),
            &tb.small_repo,
            &format!("dependencies: {{installer: {installer}}}\n"),
        );
        p.write("requirements.txt", "ptenv-no-such-package-4711\n");
        chown(&p);
        let out = p
            .ptenv(&["up", "--detach"])
            .env("SSL_CERT_FILE", &tb.ca_bundle)
            .run();
        out.assert_exit(1);
        assert!(out.stderr.contains("building the derived image"), "{out}");
        assert!(out.stderr.contains(says), "{installer}: {out}");
        assert!(
            out.stderr
                .contains("hint: check the project's dependency files (requirements.txt)"),
            "{out}"
        );
        assert!(p.containers().is_empty(), "{:?}", p.containers());
    }
}

#[test]
fn the_lock_records_what_the_dependency_layer_resolved_and_check_reports_drift() {
    let tb = Testbed::get();
    let p = project("deps-lock", &tb.torch_repo, "");
    p.write("requirements.txt", "torch\neinops\n");
    chown(&p);

    // Before any build: pinned, and said that no resolution is known yet.
    let early = p.ptenv(&["lock"]).run();
    early.assert_success();
    assert!(
        early.stderr.contains("records no resolved versions"),
        "{early}"
    );
    assert!(!p.read("ptenv.lock").contains("resolved:"));

    up(&p, &[]).assert_success();
    image_of(&p, "shell");
    let installed = exec(
        &p,
        &["python", "-c", "import einops; print(einops.__version__)"],
    );
    let einops = format!("einops=={}", installed.trim());

    // After the build: the versions the layer installed, not the image's own torch.
    let locked = p.ptenv(&["lock"]).run();
    locked.assert_success();
    let lock: serde_yaml::Value = serde_yaml::from_str(&p.read("ptenv.lock")).unwrap();
    let resolved: Vec<String> = lock["profiles"]["shell"]["derived"]["resolved"]
        .as_sequence()
        .unwrap_or_else(|| panic!("no resolved list in {lock:?}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(resolved.contains(&einops), "{resolved:?}");
    assert!(
        !resolved.iter().any(|l| l.starts_with("torch==")),
        "{resolved:?}"
    );
    p.ptenv(&["lock", "--check"]).run().assert_success();

    // The lock says another version than the image built here resolved (as a lock made a
    // while ago, before einops released): `--check` names the drift.
    let text = p.read("ptenv.lock").replace(&einops, "einops==0.6.0");
    p.write("ptenv.lock", &text);
    let check = p.ptenv(&["lock", "--check"]).run();
    check.assert_failure();
    assert!(
        check.stderr.contains(&format!(
            "the dependency layer resolved differently: einops 0.6.0 → {}",
            installed.trim()
        )),
        "{check}"
    );
}
