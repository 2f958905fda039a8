//! The test bed itself works (issue 3): the engine answers, the registry serves the fixtures,
//! the fixtures look like the official image, and the harness cleans up after a project.
//! Nothing here runs ptenv.

use crate::support::{
    containers_with_label, docker, docker_inspect, docker_ok, http_get, Project, Testbed,
    PROJECT_LABEL,
};

#[test]
fn engine_answers() {
    Testbed::get();
    let version = docker_ok(&[
        "version",
        "--format",
        "{{.Server.Version}} {{.Server.APIVersion}}",
    ]);
    println!("Docker Engine {version}");
    assert!(!version.is_empty());
}

#[test]
fn registry_serves_every_fixture_tag() {
    let tb = Testbed::get();
    let registry = tb.registry();
    let repo = |full: &str| {
        full.strip_prefix(&format!("{registry}/"))
            .unwrap()
            .to_owned()
    };
    let mut wanted = vec![(
        repo(&tb.torch_repo),
        "2.6.0-cuda12.4-cudnn9-runtime".to_owned(),
    )];
    for tag in &tb.small_tags {
        wanted.push((repo(&tb.small_repo), tag.clone()));
    }
    assert_eq!(wanted.len(), 13, "1 torch tag and 12 small tags");
    for (repo, tag) in wanted {
        let (status, body) = http_get(
            registry,
            &format!("/v2/{repo}/manifests/{tag}"),
            &[(
                "Accept",
                "application/vnd.docker.distribution.manifest.v2+json",
            )],
        )
        .unwrap();
        assert_eq!(status, 200, "{registry}/{repo}:{tag}: {body}");
    }
}

#[test]
fn torch_fixture_runs_the_real_torch() {
    let tb = Testbed::get();
    let out = docker_ok(&[
        "run",
        "--rm",
        &tb.torch_image,
        "python",
        "-c",
        "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())",
    ]);
    assert_eq!(out, "2.6.0+cu124 12.4 False");
}

#[test]
fn fixtures_look_like_the_official_image() {
    let tb = Testbed::get();
    for image in [&tb.small_image, &tb.torch_image] {
        let config = &docker_inspect(image)["Config"];
        let env: Vec<&str> = config["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for want in [
            "PATH=/opt/conda/bin:/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "NVIDIA_VISIBLE_DEVICES=all",
            "NVIDIA_DRIVER_CAPABILITIES=compute,utility",
            "LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64",
            "PYTORCH_VERSION=2.6.0",
        ] {
            assert!(env.contains(&want), "{image}: no {want} in {env:?}");
        }
        assert_eq!(config["WorkingDir"], "/workspace", "{image}");
        assert_eq!(
            config["Labels"]["com.nvidia.volumes.needed"], "nvidia_driver",
            "{image}"
        );
        assert_eq!(config["Cmd"], serde_json::json!(["/bin/bash"]), "{image}");
    }
}

#[test]
fn small_fixture_has_conda_python_and_no_jupyter_or_sshd() {
    let tb = Testbed::get();
    let out = docker_ok(&[
        "run",
        "--rm",
        &tb.small_image,
        "sh",
        "-c",
        "for c in python pip jupyter jupyter-lab sshd; do command -v $c; done; python --version; \
         ls /usr/sbin/sshd /opt/conda/bin/jupyter 2>/dev/null; \
         python -c 'import torch' 2>/dev/null && echo has-torch; true",
    ]);
    assert_eq!(
        out.lines().take(2).collect::<Vec<_>>(),
        ["/opt/conda/bin/python", "/opt/conda/bin/pip"]
    );
    assert!(out.contains("Python 3.11"), "{out}");
    assert_eq!(
        out.lines().count(),
        3,
        "jupyter, sshd or torch in the small fixture:\n{out}"
    );
    for tag in &tb.small_tags {
        let local = tb.small_local(tag);
        let id = docker_ok(&["image", "inspect", "-f", "{{.Id}}", &local]);
        assert!(id.starts_with("sha256:"), "{local}");
    }
}

#[test]
fn torch_fixture_has_no_jupyter_or_sshd() {
    let tb = Testbed::get();
    let out = docker(&[
        "run",
        "--rm",
        &tb.torch_image,
        "sh",
        "-c",
        "command -v jupyter || command -v sshd || ls /usr/sbin/sshd",
    ]);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn project_drop_removes_its_containers_and_images() {
    let tb = Testbed::get();
    let project = Project::new("harness-cleanup");
    let label = project.label_filter();
    let id = docker_ok(&[
        "create",
        "--label",
        &label,
        "--label",
        "ptenv-test=harness",
        &tb.small_image,
        "true",
    ]);
    let tag = format!("ptenv-test-harness:{}", std::process::id());
    docker_ok(&["tag", &tb.small_image, &tag]);
    project.track_image(&tag);
    assert_eq!(project.containers(), vec![id.clone()]);
    let path = project.path().to_owned();
    assert!(path.is_absolute() && path.is_dir());
    drop(project);
    assert!(
        containers_with_label(&label).is_empty(),
        "container {id} left behind"
    );
    assert!(
        !docker(&["image", "inspect", &tag]).status.success(),
        "{tag} left behind"
    );
    assert!(!path.exists(), "{} left behind", path.display());
    assert!(containers_with_label(PROJECT_LABEL)
        .iter()
        .all(|other| other != &id));
}

#[test]
fn project_commands_run_in_the_project_with_an_isolated_home() {
    let project = Project::new("harness-run");
    project.write("sub/file.txt", "hello");
    let out = project
        .command(
            "sh",
            &[
                "-c",
                "pwd; echo $HOME; echo $XDG_CONFIG_HOME; echo $NO_COLOR; cat sub/file.txt; echo; cat; echo; echo $EXTRA; exit 3",
            ],
        )
        .env("EXTRA", "extra")
        .stdin("from stdin")
        .run();
    out.assert_exit(3);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], project.path().to_str().unwrap());
    assert_eq!(lines[1], project.home().to_str().unwrap());
    assert_eq!(lines[2], project.config_dir().to_str().unwrap());
    assert_eq!(&lines[3..], ["1", "hello", "from stdin", "extra"]);
}
