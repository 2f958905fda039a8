//! The project's home volume on the real torch fixture: `pip install` as the container user
//! works, lands in ~/.local with its console script on PATH, keeps the image's torch, survives
//! `down` + `up` and a rebuilt derived image, and is gone after `down --purge`; the home is
//! the user's alone.
//!
//! The package is a wheel the test writes itself (a zip with its metadata, made by the image's
//! python in /workspace) and installs with `--no-index`: nothing comes from a package index.

use crate::support::{docker, docker_inspect, Outcome, Project, Testbed};

/// Writes `dist/ptenv_home_demo-1.0-py3-none-any.whl`: a module and a console script.
const MAKE_WHEEL: &str = r#"
import zipfile, os
os.chdir("/workspace")
os.makedirs("dist", exist_ok=True)
info = "ptenv_home_demo-1.0.dist-info"
files = {
    "ptenv_home_demo.py": "def main():\n    print('demo ran')\n",
    info + "/METADATA": "Metadata-Version: 2.1\nName: ptenv-home-demo\nVersion: 1.0\n",
    info + "/WHEEL": "Wheel-Version: 1.0\nGenerator: ptenv-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    info + "/entry_points.txt": "[console_scripts]\nptenv-home-demo = ptenv_home_demo:main\n",
}
record = "".join(name + ",,\n" for name in files) + info + "/RECORD,,\n"
with zipfile.ZipFile("dist/ptenv_home_demo-1.0-py3-none-any.whl", "w") as z:
    for name, text in files.items():
        z.writestr(name, text)
    z.writestr(info + "/RECORD", record)
"#;

const WHEEL: &str = "/workspace/dist/ptenv_home_demo-1.0-py3-none-any.whl";

fn project(name: &str, extra: &str) -> Project {
    let tb = Testbed::get();
    tb.registry();
    let p = Project::new(name);
    p.write(
        "ptenv.yaml",
        &format!(
            "default: shell\nrepository: {}\ngpus: none\n{extra}",
            tb.torch_repo
        ),
    );
    chown(&p);
    p
}

/// The folder belongs to 1000:1000, as a user's own would: the container user is `dev` (1000).
fn chown(p: &Project) {
    if rustix::process::getuid().as_raw() == 0 {
        std::os::unix::fs::chown(p.path(), Some(1000), Some(1000)).unwrap();
        for entry in std::fs::read_dir(p.path()).unwrap() {
            std::os::unix::fs::chown(entry.unwrap().path(), Some(1000), Some(1000)).unwrap();
        }
    }
}

fn up(p: &Project) -> Outcome {
    let out = p
        .ptenv(&["up", "--detach"])
        .env("SSL_CERT_FILE", &Testbed::get().ca_bundle)
        .run();
    out.assert_success();
    let id = &p.containers()[0];
    let image = docker_inspect(id)["Config"]["Image"]
        .as_str()
        .unwrap()
        .to_string();
    p.track_image(&image);
    out
}

/// A login shell's command in the shell container, as the user types it in `ptenv shell`.
fn login(p: &Project, script: &str) -> Outcome {
    p.ptenv(&["exec", "shell", "--", "bash", "-lc", script])
        .run()
}

fn image_of(p: &Project) -> String {
    docker_inspect(&p.containers()[0])["Config"]["Image"]
        .as_str()
        .unwrap()
        .to_string()
}

fn volume_exists(name: &str) -> bool {
    docker(&["volume", "inspect", name]).status.success()
}

#[test]
fn pip_install_as_the_user_lasts_through_down_up_and_a_rebuild_and_purge_removes_it() {
    let p = project("home-pip", "");
    let first = up(&p);
    let home = format!("ptenv-{}-home", ptenv::project::Project::new(p.path()).id);
    assert!(first.stderr.contains(&format!("Made {home}")), "{first}");
    let labels = &docker_inspect(&home)["Labels"];
    assert_eq!(labels["dev.ptenv.project"], p.path().display().to_string());
    assert_eq!(labels["dev.ptenv.volume"], "home");

    // The home is the user's alone: it keeps shell history, VS Code's tokens, pip's settings.
    let stat = login(&p, "stat -c '%a %u:%g' \"$HOME\"; echo \"$HOME\"");
    stat.assert_success();
    assert_eq!(stat.stdout, "700 1000:1000\n/home/dev\n", "{stat}");

    p.ptenv(&["exec", "shell", "--", "python", "-c", MAKE_WHEEL])
        .run()
        .assert_success();
    let install = login(&p, &format!("pip install --no-index {WHEEL}"));
    install.assert_success();
    assert!(
        install
            .stdout
            .contains("Successfully installed ptenv-home-demo-1.0"),
        "{install}"
    );
    let check = "python -c 'import ptenv_home_demo, torch; print(ptenv_home_demo.__file__); print(torch.__version__)'; ptenv-home-demo";
    let out = login(&p, check);
    out.assert_success();
    assert_eq!(
        out.stdout,
        "/home/dev/.local/lib/python3.11/site-packages/ptenv_home_demo.py\n2.6.0+cu124\ndemo ran\n",
        "{out}"
    );

    // The image's torch stays: a run-time install may not replace it.
    let torch = login(&p, "pip install --no-index torch==2.5.1");
    torch.assert_failure();
    assert!(
        torch
            .stdout
            .contains("The user requested (constraint) torch==2.6.0"),
        "{torch}"
    );

    // A venv of one's own (pre-commit's, tox's) keeps plain pip: `--user` is the image's
    // python's setting, not the environment's.
    let venv = login(
        &p,
        &format!("python -m venv /tmp/own && /tmp/own/bin/pip install --no-index {WHEEL} && /tmp/own/bin/python -c 'import ptenv_home_demo; print(ptenv_home_demo.__file__)'"),
    );
    venv.assert_success();
    assert!(
        venv.stdout
            .ends_with("/tmp/own/lib/python3.11/site-packages/ptenv_home_demo.py\n"),
        "{venv}"
    );

    // `down` keeps the home; the next container has the package.
    p.ptenv(&["down"]).run().assert_success();
    assert!(p.containers().is_empty());
    assert!(volume_exists(&home));
    let again = up(&p);
    assert!(!again.stderr.contains("Made "), "{again}");
    let out = login(&p, check);
    out.assert_success();
    assert!(out.stdout.ends_with("demo ran\n"), "{out}");

    // A rebuilt derived image (another recipe: no sudo) keeps it too.
    let before = image_of(&p);
    p.write(
        "ptenv.yaml",
        &format!(
            "default: shell\nrepository: {}\ngpus: none\nsudo: false\n",
            Testbed::get().torch_repo
        ),
    );
    chown(&p);
    up(&p);
    assert_ne!(image_of(&p), before, "the derived image was rebuilt");
    let out = login(&p, check);
    out.assert_success();
    assert!(out.stdout.ends_with("demo ran\n"), "{out}");

    // `down --purge` removes the home, and says so.
    let purge = p.ptenv(&["down", "--purge"]).run();
    purge.assert_success();
    assert!(
        purge
            .stderr
            .contains(&format!("Removed {home}, the project's home")),
        "{purge}"
    );
    assert!(!volume_exists(&home));
    up(&p);
    let gone = login(&p, "python -c 'import ptenv_home_demo'");
    gone.assert_failure();
    assert!(
        gone.stderr.contains("No module named 'ptenv_home_demo'"),
        "{gone}"
    );
}

#[test]
fn purge_removes_only_this_project_s_home() {
    let tb = Testbed::get();
    let ours = Project::new("home-ours");
    let theirs = Project::new("home-theirs");
    for p in [&ours, &theirs] {
        p.write(
            "ptenv.yaml",
            &format!(
                "default: shell\nrepository: {}\ngpus: none\n",
                tb.small_repo
            ),
        );
        chown(p);
        p.ptenv(&["up", "--detach"]).run().assert_success();
        p.track_image(&image_of(p));
    }
    let name = |p: &Project| format!("ptenv-{}-home", ptenv::project::Project::new(p.path()).id);
    // The dry run names the home; only `up` makes it.
    let fresh = Project::new("home-dry");
    fresh.write(
        "ptenv.yaml",
        &format!(
            "default: shell\nrepository: {}\ngpus: none\n",
            tb.small_repo
        ),
    );
    chown(&fresh);
    let dry = fresh.ptenv(&["up", "--dry-run"]).run();
    dry.assert_success();
    assert!(
        dry.stdout.contains(&format!(
            "# home: the volume {} at /home/dev (kept by `down`, removed by `down --purge`)",
            name(&fresh)
        )),
        "{dry}"
    );
    assert!(!volume_exists(&name(&fresh)));

    let out = ours.ptenv(&["down", "--purge", "--json"]).run();
    out.assert_success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["volumes"], serde_json::json!([name(&ours)]), "{out}");
    assert!(!volume_exists(&name(&ours)));
    assert!(volume_exists(&name(&theirs)));
    assert_eq!(theirs.containers().len(), 1);
}
