//! `ptenv export` (issue #9), checked by the real tools: the Compose file is accepted by
//! `docker-compose config` and started with `docker-compose up -d` on this engine (a CPU profile
//! on the small fixture), reachable on 127.0.0.1 like `ptenv up`; the Kubernetes manifests
//! validate against the Kubernetes schemas with `kubernetes-validate --strict` (installed by
//! tests/testbed/setup.sh). The manifests' exact content is pinned by the snapshot tests of
//! `crates/ptenv-core/src/export/` (tests/export/snapshots/), which are validated here too.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ptenv::engine::build::missing_certs;
use ptenv::engine::recipe::SYSTEM_BUNDLE;

use crate::support::{docker, docker_inspect, docker_ok, http_get, Outcome, Project, Testbed};

/// `kubernetes-validate --strict FILE...`: every document of every file must pass.
fn kubernetes_validate(files: &[&Path]) {
    let tb = Testbed::get();
    let bin = tb.var("PTENV_TEST_KUBERNETES_VALIDATE").unwrap_or_else(|| {
        panic!(
            "testbed.env has no PTENV_TEST_KUBERNETES_VALIDATE\nhint: run ./tests/testbed/setup.sh again (it installs kubernetes-validate)"
        )
    });
    let out = Command::new(bin)
        .arg("--strict")
        .args(files)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "kubernetes-validate failed:\n{text}");
    // It says "passed" once per document; a file of comments alone would pass silently.
    assert!(text.contains("passed for resource"), "{text}");
    assert!(!text.contains("ERROR"), "{text}");
}

/// The custom resources (PyTorchJob, JobSet) against their projects' published CRD schemas,
/// pinned in tests/export/crds/ (origin, version and licence in its README), strictly: an
/// unknown field fails. Run with the test bed's Python, which has PyYAML and jsonschema.
fn crd_validate(files: &[&Path]) -> Outcome {
    let tb = Testbed::get();
    let bin = tb.var("PTENV_TEST_KUBERNETES_VALIDATE").unwrap_or_else(|| {
        panic!("testbed.env has no PTENV_TEST_KUBERNETES_VALIDATE\nhint: run ./tests/testbed/setup.sh again")
    });
    let python = Path::new(bin).with_file_name("python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/export/crds/validate.py");
    let mut args = vec![script.to_str().unwrap()];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let p = Project::new("crd-validate");
    p.command(&python, &args).run()
}

/// A CPU project on the small fixture whose profile `web` serves /workspace over HTTP on
/// `port`. As root the folder goes to 1000:1000, as a user's own folder would be theirs.
fn web_project(name: &str, port: u16) -> Project {
    let tb = Testbed::get();
    tb.registry();
    let p = Project::new(name);
    p.write(
        "ptenv.yaml",
        &format!(
            "default: web\nrepository: {}\ngpus: none\nshm_size: 256m\nprofiles:\n  web:\n    mode: shell\n    ports: ['{port}:8765']\n    env: {{GREETING: hello}}\n    command: [python3, -m, http.server, '8765']\n",
            tb.small_repo
        ),
    );
    p.write("hello.txt", "hello from the workspace\n");
    if rustix::process::getuid().as_raw() == 0 {
        for path in [p.path().to_path_buf(), p.path().join("hello.txt")] {
            std::os::unix::fs::chown(&path, Some(1000), Some(1000)).expect("chown");
        }
    }
    p
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind a free port");
    l.local_addr().unwrap().port()
}

/// `docker-compose -p NAME ...` in the project folder; `down` when dropped, also on failure.
struct ComposeProject<'a> {
    project: &'a Project,
    name: String,
    /// The CA certificates the small fixture lacks: compose passes them to the build of the
    /// derived image as the file's header says (this machine's network may inspect TLS).
    extra_certs: String,
}

impl<'a> ComposeProject<'a> {
    fn new(project: &'a Project, name: String) -> ComposeProject<'a> {
        ComposeProject {
            project,
            name,
            extra_certs: extra_certs(),
        }
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Outcome {
        let mut all = vec!["-p", self.name.as_str()];
        all.extend_from_slice(args);
        let mut run = self
            .project
            .command("docker-compose", &all)
            .timeout(Duration::from_secs(900))
            .env("PTENV_CA", "1")
            .env("PTENV_CA_PEM", &self.extra_certs);
        for (k, v) in env {
            run = run.env(k, v);
        }
        run.run()
    }
}

/// The certificates of the test bed's CA bundle that the small fixture's system bundle lacks,
/// what a user behind a TLS-inspecting proxy passes to `docker compose build`. Read once (a
/// container run) for all the compose projects of the test process.
fn extra_certs() -> String {
    static CERTS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CERTS
        .get_or_init(|| {
            let tb = Testbed::get();
            let ours = std::fs::read_to_string(&tb.ca_bundle).expect("the test bed's CA bundle");
            let theirs = docker_ok(&[
                "run",
                "--rm",
                "--entrypoint",
                "cat",
                tb.small_image.as_str(),
                SYSTEM_BUNDLE,
            ]);
            missing_certs(&ours, &theirs)
        })
        .clone()
}

impl Drop for ComposeProject<'_> {
    fn drop(&mut self) {
        let _ = self.run(&["down", "--volumes", "--timeout", "2"], &[]);
    }
}

/// The engine's own memlock limit in bytes, as a container started without `--ulimit` sees it.
fn engine_memlock(image: &str) -> String {
    let kib = docker_ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        image,
        "-c",
        "ulimit -l",
    ]);
    match kib.as_str() {
        "unlimited" => "-1".into(),
        n => (n.parse::<u64>().expect("ulimit -l prints KiB") * 1024).to_string(),
    }
}

/// `docker-compose up -d`: NVIDIA's memlock=-1 first; an engine that may not raise it refuses,
/// and the header's documented way out is PTENV_MEMLOCK=<the engine's limit>. Returns the
/// memlock the container got.
fn compose_up(compose: &ComposeProject, image: &str) -> String {
    let up = compose.run(&["up", "-d"], &[]);
    if up.status == 0 {
        return "-1".into();
    }
    assert!(up.stderr.contains("rlimit type 8"), "{up}");
    let memlock = engine_memlock(image);
    compose
        .run(&["up", "-d"], &[("PTENV_MEMLOCK", memlock.as_str())])
        .assert_success();
    memlock
}

/// A CPU project on the small fixture whose `extra` settings are added to ptenv.yaml.
fn cpu_project(name: &str, extra: &str) -> Project {
    let tb = Testbed::get();
    tb.registry();
    let p = Project::new(name);
    p.write(
        "ptenv.yaml",
        &format!(
            "repository: {}\ngpus: none\nshm_size: 256m\n{extra}",
            tb.small_repo
        ),
    );
    if rustix::process::getuid().as_raw() == 0 {
        std::os::unix::fs::chown(p.path(), Some(1000), Some(1000)).expect("chown");
    }
    p
}

/// Exports `profile` with -o compose.yaml and returns the compose project and its image.
fn export_compose<'a>(p: &'a Project, profile: &str) -> (ComposeProject<'a>, String) {
    p.ptenv(&["export", "compose", profile, "-o", "compose.yaml"])
        .run()
        .assert_success();
    let doc: serde_yaml::Value = serde_yaml::from_str(&p.read("compose.yaml")).unwrap();
    let image = doc["services"][profile]["image"]
        .as_str()
        .unwrap()
        .to_string();
    if !image.starts_with("ptenv/pytorch-") {
        p.track_image(&image);
    }
    let compose = ComposeProject::new(p, format!("ptenv-export-{profile}-{}", std::process::id()));
    (compose, image)
}

#[test]
fn compose_jupyter_and_ssh_use_the_token_and_keys_of_their_secret_files() {
    // Jupyter: the token file is a Compose secret; Jupyter answers with it and only with it.
    let port = free_port();
    let p = cpu_project("export-jupyter", &format!("ports: ['{port}:8888']\n"));
    let (compose, image) = export_compose(&p, "jupyter");
    compose_up(&compose, &image);
    let token = p.read("ptenv-jupyter/secrets/jupyter-token");
    let auth = format!("token {token}");
    let addr = format!("127.0.0.1:{port}");
    let start = Instant::now();
    loop {
        match http_get(&addr, "/api/status", &[("Authorization", &auth)]) {
            Ok((200, _)) => break,
            other if start.elapsed() > Duration::from_secs(180) => {
                let logs = compose.run(&["logs", "--tail", "30"], &[]);
                panic!("Jupyter did not answer on {addr}: {other:?}\n{logs}")
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
    let (status, _) = http_get(&addr, "/api/status", &[]).unwrap();
    assert_eq!(status, 403, "without the token Jupyter refuses");
    drop(compose);

    // ssh: sshd's host key and the authorized key are secrets; ptenv's client key logs in as
    // the user, in /workspace.
    let port = free_port();
    let p = cpu_project("export-ssh", &format!("ports: ['{port}:22']\n"));
    let (compose, image) = export_compose(&p, "ssh");
    let authorized =
        std::fs::metadata(p.path().join("ptenv-ssh/secrets/ssh-authorized-keys")).unwrap();
    assert_eq!(
        authorized.permissions().mode() & 0o777,
        0o644,
        "sshd reads it as the user"
    );
    compose_up(&compose, &image);
    let key = find_file(p.data_dir(), "client_ed25519").expect("ptenv made the client key");
    let port = port.to_string();
    let args = [
        "-i",
        key.to_str().unwrap(),
        "-p",
        &port,
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        "dev@127.0.0.1",
        "id -un; pwd",
    ];
    let start = Instant::now();
    let out = loop {
        let out = p.command("ssh", &args).run();
        if out.status == 0 || start.elapsed() > Duration::from_secs(60) {
            break out;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    out.assert_success();
    assert_eq!(out.stdout, "dev\n/workspace\n", "{out}");
}

/// The first file named `name` under `dir`.
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

#[test]
fn compose_file_is_accepted_started_and_reachable_like_up() {
    let port = free_port();
    let p = web_project("export-compose", port);
    let out = p.ptenv(&["export", "compose", "-o", "compose.yaml"]).run();
    out.assert_success();
    assert!(out.stderr.contains("Wrote "), "{out}");
    let dockerfile = p.read("ptenv-web/Dockerfile");
    assert!(
        dockerfile.starts_with("# Generated by ptenv"),
        "{dockerfile}"
    );
    assert!(dockerfile.contains(&format!("\nFROM {}:", Testbed::get().small_repo)));
    assert_eq!(
        p.read("ptenv-web/.gitignore").lines().last(),
        Some("/secrets/")
    );
    // The build context sends the Dockerfile alone (never the secrets).
    assert!(p
        .read("ptenv-web/.dockerignore")
        .contains("\n*\n!Dockerfile\n"));
    let compose = p.read("compose.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&compose).expect("compose.yaml is YAML");
    let image = doc["services"]["web"]["image"]
        .as_str()
        .unwrap()
        .to_string();
    if !image.starts_with("ptenv/pytorch-") {
        // The base was not on this machine: Compose builds a name of this project.
        p.track_image(&image);
    }

    let compose = ComposeProject::new(&p, format!("ptenv-export-{}", std::process::id()));
    compose.run(&["config", "-q"], &[]).assert_success();
    let config = compose.run(&["config"], &[]);
    config.assert_success();
    assert!(
        config.stdout.contains(&format!("127.0.0.1:{port}:8765")),
        "{config}"
    );

    assert!(config.stdout.contains("memlock: -1"), "{config}");
    let memlock = compose_up(&compose, &image);

    let id = compose.run(&["ps", "-q", "web"], &[]);
    id.assert_success();
    let c = docker_inspect(id.stdout.trim());
    assert_eq!(c["State"]["Running"], true, "{c}");
    let host = &c["HostConfig"];
    assert_eq!(host["ShmSize"], 256u64 << 20);
    assert_eq!(host["Init"], true);
    assert_eq!(
        host["PortBindings"]["8765/tcp"][0]["HostIp"], "127.0.0.1",
        "{host}"
    );
    assert_eq!(
        host["PortBindings"]["8765/tcp"][0]["HostPort"],
        port.to_string()
    );
    let ulimits = host["Ulimits"].as_array().unwrap();
    let limit = |name: &str| ulimits.iter().find(|u| u["Name"] == name).cloned();
    assert_eq!(limit("stack").unwrap()["Soft"], 67108864);
    assert_eq!(
        limit("memlock").unwrap()["Soft"].to_string(),
        memlock,
        "{ulimits:?}"
    );
    let mut mounts: Vec<(String, String, bool)> = c["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            // A named volume by its name (Compose prefixes it with the project), a bind by path.
            let source = match m["Type"].as_str() {
                Some("volume") => m["Name"].as_str().unwrap().to_string(),
                _ => m["Source"].as_str().unwrap().to_string(),
            };
            (
                source,
                m["Destination"].as_str().unwrap().to_string(),
                m["RW"].as_bool().unwrap(),
            )
        })
        .collect();
    mounts.sort_by(|a, b| a.1.cmp(&b.1));
    // The project and the home volume: ptenv's own files are in the image.
    assert_eq!(mounts.len(), 2, "{mounts:?}");
    assert!(
        mounts[0].0.ends_with("_home") && mounts[0].1 == "/home/dev" && mounts[0].2,
        "{mounts:?}"
    );
    assert_eq!(
        mounts[1],
        (
            p.path().display().to_string(),
            "/workspace".to_string(),
            true
        ),
        "{mounts:?}"
    );
    assert_eq!(c["Config"]["WorkingDir"], "/workspace");
    let owner = std::fs::metadata(p.path()).unwrap();
    let want_user = if owner.uid() == 0 {
        "1000:1000".to_string()
    } else {
        format!("{}:{}", owner.uid(), owner.gid())
    };
    assert_eq!(c["Config"]["User"], want_user.as_str());
    let env: Vec<&str> = c["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert!(env.contains(&"GREETING=hello"), "{env:?}");

    // Reachable on 127.0.0.1 like `ptenv up`: the profile's server answers from /workspace.
    let start = Instant::now();
    let body = loop {
        match http_get(&format!("127.0.0.1:{port}"), "/hello.txt", &[]) {
            Ok((200, body)) => break body,
            other if start.elapsed() > Duration::from_secs(60) => {
                let logs = docker(&["logs", id.stdout.trim()]);
                panic!(
                    "no answer on 127.0.0.1:{port}: {other:?}\n{}{}",
                    String::from_utf8_lossy(&logs.stdout),
                    String::from_utf8_lossy(&logs.stderr)
                )
            }
            _ => std::thread::sleep(Duration::from_millis(300)),
        }
    };
    assert_eq!(body, "hello from the workspace\n");

    compose
        .run(&["down", "--timeout", "2"], &[])
        .assert_success();
    assert!(docker(&["inspect", id.stdout.trim()]).status.code() != Some(0));
}

#[test]
fn compose_secrets_are_0600_files_and_never_printed() {
    let p = Project::new("export-secrets");
    // The built-in jupyter profile: GPUs, a token. Compose must accept it even though this
    // machine has no GPU to start it on.
    let out = p
        .ptenv(&["export", "compose", "-o", "out/compose.yaml"])
        .run();
    out.assert_success();
    let secret = p.path().join("out/ptenv-jupyter/secrets/jupyter-token");
    let meta = std::fs::metadata(&secret).expect("the token file is written");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir = std::fs::metadata(secret.parent().unwrap()).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o700);
    let token = std::fs::read_to_string(&secret).unwrap();
    assert_eq!(token.len(), 64, "a 256-bit hex token: {token:?}");
    let compose = p.read("out/compose.yaml");
    assert!(!compose.contains(&token));
    assert!(
        compose.contains("capabilities:\n            - gpu"),
        "{compose}"
    );
    let config = p
        .command("docker-compose", &["-f", "out/compose.yaml", "config"])
        .run();
    config.assert_success();
    assert!(
        config.stdout.contains("target: /etc/ptenv/jupyter/token"),
        "{config}"
    );
    assert!(config.stdout.contains("count: all"), "{config}");
    // Outside the project the project is mounted by its absolute path.
    let doc: serde_yaml::Value = serde_yaml::from_str(&compose).unwrap();
    let workspace = doc["services"]["jupyter"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["target"] == "/workspace")
        .unwrap_or_else(|| panic!("no /workspace volume:\n{compose}"));
    assert_eq!(workspace["type"], "bind", "{compose}");
    assert_eq!(workspace["source"], p.path().to_str().unwrap(), "{compose}");

    // Without -o: the document on stdout, nothing written, no secret value anywhere.
    let printed = p.ptenv(&["export", "compose"]).run();
    printed.assert_success();
    assert!(printed
        .stdout
        .starts_with("# Written by `ptenv export compose`"));
    assert!(!printed.stdout.contains(&token) && !printed.stderr.contains(&token));
    assert!(printed.stderr.contains("-o FILE"), "{printed}");
    assert!(!p.path().join("ptenv-jupyter").exists());
    // The token is the project's stored one (the one `ptenv up` uses): exporting again keeps it.
    p.ptenv(&["export", "compose", "-o", "out/compose.yaml"])
        .run()
        .assert_success();
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), token);
}

/// Exports `args` to `name` (and its secret file) in the project and validates them.
fn export_and_validate(p: &Project, name: &str, args: &[&str]) -> (String, Option<PathBuf>) {
    let mut all = vec!["export", "k8s"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", name]);
    let out = p.ptenv(&all).run();
    out.assert_success();
    let main = p.path().join(name);
    let profile = args.first().filter(|a| !a.starts_with('-')).unwrap();
    let secret = p.path().join(format!(
        "ptenv-{profile}/secrets/{}",
        name.replace(".yaml", ".secret.yaml")
    ));
    let mut files = vec![main.as_path()];
    let secret = secret.exists().then_some(secret);
    if let Some(s) = &secret {
        let mode = std::fs::metadata(s).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", s.display());
        files.push(s.as_path());
    }
    kubernetes_validate(&files);
    (p.read(name), secret)
}

#[test]
fn kubernetes_sizes_come_from_the_profile_or_a_stated_default_never_this_machine() {
    let p = Project::new("export-k8s-sizes");
    p.write(
        "ptenv.yaml",
        "profiles:\n  big:\n    mode: shell\n    kubernetes: {memory: 64g}\n  fixed:\n    mode: shell\n    shm_size: 2g\n",
    );
    let doc = |name: &str| -> (serde_yaml::Value, String) {
        let out = p.ptenv(&["export", "k8s", name]).run();
        out.assert_success();
        let pod = serde_yaml::Deserializer::from_str(&out.stdout)
            .map(<serde_yaml::Value as serde::Deserialize>::deserialize)
            .map(Result::unwrap)
            .find(|d| d["kind"] == "Pod")
            .unwrap_or_else(|| panic!("no Pod:\n{out}"));
        (pod, out.stderr)
    };
    let sizes = |pod: &serde_yaml::Value| {
        let spec = &pod["spec"];
        let shm = spec["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "dshm")
            .unwrap()["emptyDir"]["sizeLimit"]
            .as_str()
            .unwrap()
            .to_string();
        let memory = spec["containers"][0]["resources"]["requests"]["memory"]
            .as_str()
            .unwrap()
            .to_string();
        (shm, memory)
    };
    // `shm_size: auto` without `kubernetes.memory`: the stated default, whatever this host has.
    let (pod, said) = doc("shell");
    assert_eq!(sizes(&pod), ("8Gi".to_string(), "8Gi".to_string()));
    assert!(said.contains("/dev/shm in the pod: 8 GiB"), "{said}");
    assert!(said.contains("16 GiB assumed for the pod"), "{said}");
    // Half of the pod's memory.
    let (pod, said) = doc("big");
    assert_eq!(sizes(&pod), ("32Gi".to_string(), "64Gi".to_string()));
    assert!(said.contains("`kubernetes.memory: 64g`"), "{said}");
    // A size the profile gives is kept, and nothing needs saying.
    let (pod, said) = doc("fixed");
    assert_eq!(sizes(&pod), ("2Gi".to_string(), "2Gi".to_string()));
    assert!(!said.contains("/dev/shm in the pod"), "{said}");
}

#[test]
fn kubernetes_manifests_validate_against_the_schemas() {
    let p = Project::new("export-k8s");
    p.write(
        "ptenv.yaml",
        "profiles:\n  train:\n    mode: shell\n    gpus: [0, 1]\n    command: [python, train.py]\n    kubernetes:\n      nproc_per_node: 2\n      node_selector: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}\n      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]\n",
    );

    // Jupyter as a Pod: the token only in the 0600 Secret file.
    let (pod, secret) = export_and_validate(&p, "jupyter.yaml", &["jupyter"]);
    assert!(
        pod.contains("kind: Pod") && pod.contains("kind: Service"),
        "{pod}"
    );
    assert!(pod.contains("nvidia.com/gpu: 1"));
    assert!(pod.contains("medium: Memory"));
    let secret = std::fs::read_to_string(secret.expect("jupyter has a Secret")).unwrap();
    assert!(secret.contains("kind: Secret") && secret.contains("jupyter-token: "));
    assert!(!pod.contains("kind: Secret"));

    // ssh as a Deployment, on the machines described by --driver/--gpu: no GPU warning.
    let out = p
        .ptenv(&[
            "export",
            "k8s",
            "ssh",
            "--kind",
            "deployment",
            "--driver",
            "550.54.15",
            "--gpu",
            "8.0",
            "--pvc",
            "team-workspace",
            "-o",
            "ssh.yaml",
        ])
        .run();
    out.assert_success();
    assert!(!out.stderr.contains("no GPU ptenv can use"), "{out}");
    kubernetes_validate(&[
        &p.path().join("ssh.yaml"),
        &p.path().join("ptenv-ssh/secrets/ssh.secret.yaml"),
    ]);
    assert!(p.read("ssh.yaml").contains("claimName: team-workspace"));

    // Multi-GPU training: a Job running torchrun on 2 GPUs of an A100 node.
    let (job, secret) = export_and_validate(&p, "train.yaml", &["train"]);
    assert!(secret.is_none(), "the shell mode has no secret");
    assert!(job.contains("kind: Job"), "{job}");
    assert!(job.contains("- --nproc_per_node=2\n"), "{job}");
    assert!(job.contains("nvidia.com/gpu: 2"));
    assert!(job.contains("nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB"));

    // A CPU pod with the project as a hostPath: a warning, and valid manifests.
    let out = p
        .ptenv(&[
            "export",
            "k8s",
            "shell",
            "--gpus",
            "none",
            "--host-path",
            "-o",
            "cpu.yaml",
        ])
        .run();
    out.assert_success();
    assert!(out.stderr.contains("hostPath"), "{out}");
    kubernetes_validate(&[&p.path().join("cpu.yaml")]);
    assert!(p.read("cpu.yaml").contains("value: void"));

    // Printed: the same manifests without the Secret, which is described instead.
    let printed = p.ptenv(&["export", "k8s", "jupyter"]).run();
    printed.assert_success();
    assert!(!printed.stdout.contains("kind: Secret"));
    assert!(printed.stdout.contains("is not printed"), "{printed}");
    p.write("printed.yaml", &printed.stdout);
    kubernetes_validate(&[&p.path().join("printed.yaml")]);
}

#[test]
fn the_snapshots_validate_too() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/export/snapshots");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the snapshots are checked in")
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("k8s-"))
        .collect();
    let (custom, builtin): (Vec<&Path>, Vec<&Path>) =
        files.iter().map(PathBuf::as_path).partition(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.contains("\nkind: PyTorchJob\n") || text.contains("\nkind: JobSet\n")
        });
    assert!(builtin.len() >= 4, "{builtin:?}");
    kubernetes_validate(&builtin);
    assert_eq!(custom.len(), 2, "the PyTorchJob and the JobSet: {custom:?}");
    let out = crd_validate(&custom);
    out.assert_success();
    assert!(out.stdout.contains("passed: PyTorchJob "), "{out}");
    assert!(out.stdout.contains("passed: JobSet "), "{out}");
}

#[test]
fn multi_node_jobs_validate_against_the_published_crd_schemas() {
    let p = Project::new("export-multinode");
    p.write(
        "ptenv.yaml",
        "profiles:\n  train:\n    mode: shell\n    command: [python, train.py]\n    kubernetes:\n      nccl: {socket_ifname: eth0, debug: INFO}\n      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]\n",
    );
    let export = |kind: &str, file: &str| {
        let out = p
            .ptenv(&[
                "export",
                "k8s",
                "train",
                "--kind",
                kind,
                "--nodes",
                "3",
                "--gpus-per-node",
                "2",
                "--driver",
                "550.54.15",
                "--gpu",
                "8.0",
                "-o",
                file,
            ])
            .run();
        out.assert_success();
        p.read(file)
    };
    let pj = export("pytorchjob", "pj.yaml");
    assert!(
        pj.contains("kind: PyTorchJob") && pj.contains("nprocPerNode: '2'"),
        "{pj}"
    );
    assert!(
        pj.contains("replicas: 2"),
        "3 nodes: a master and 2 workers\n{pj}"
    );
    let js = export("jobset", "js.yaml");
    assert!(
        js.contains("kind: JobSet") && js.contains("completions: 3"),
        "{js}"
    );
    for doc in [&pj, &js] {
        assert!(doc.contains("nvidia.com/gpu: 2"), "{doc}");
        assert!(doc.contains("- --nnodes=3\n"), "{doc}");
        assert!(doc.contains("value: eth0"), "{doc}");
    }
    let out = crd_validate(&[&p.path().join("pj.yaml"), &p.path().join("js.yaml")]);
    out.assert_success();
    assert_eq!(out.stdout.matches("passed: ").count(), 2, "{out}");

    // The check can fail: a misspelt field and a wrong type are refused, as the API server would.
    p.write("bad.yaml", &pj.replace("nprocPerNode:", "nprocPerNod:"));
    p.write(
        "bad2.yaml",
        &js.replace("completions: 3", "completions: three"),
    );
    let bad = crd_validate(&[&p.path().join("bad.yaml"), &p.path().join("bad2.yaml")]);
    bad.assert_exit(1);
    assert!(bad.stdout.contains("'nprocPerNod' was unexpected"), "{bad}");
    assert!(
        bad.stdout.contains("'three' is not of type 'integer'"),
        "{bad}"
    );

    // Requests that cannot work are usage errors that say what to do.
    let zero = p.ptenv(&["export", "k8s", "train", "--nodes", "0"]).run();
    zero.assert_exit(2);
    assert!(zero.stderr.contains("`--nodes 0`"), "{zero}");
    assert!(zero.stderr.contains("hint: --nodes 2"), "{zero}");
    let pod = p
        .ptenv(&["export", "k8s", "train", "--kind", "pod", "--nodes", "2"])
        .run();
    pod.assert_exit(2);
    assert!(pod.stderr.contains("hint: use --kind pytorchjob"), "{pod}");
    let jupyter = p
        .ptenv(&[
            "export",
            "k8s",
            "jupyter",
            "--kind",
            "pytorchjob",
            "--nodes",
            "2",
        ])
        .run();
    jupyter.assert_exit(2);
    assert!(
        jupyter.stderr.contains("under torchrun on every node"),
        "{jupyter}"
    );
    assert!(
        !p.path().join("ptenv-jupyter").exists(),
        "nothing half-made"
    );
    let compose = p
        .ptenv(&["export", "compose", "train", "--nodes", "0"])
        .run();
    compose.assert_exit(2);
    assert!(compose.stderr.contains("`--nodes 0`"), "{compose}");
}

/// The done-when of multi-node training: examples/ddp-torchrun as a 2-node job of
/// `ptenv export compose --nodes 2` on this engine, with the real torch fixture. Two
/// containers, one process each, Gloo on the CPU: they rendezvous and agree on the loss.
#[test]
fn ddp_torchrun_trains_on_two_compose_nodes_that_agree() {
    let p = crate::examples::example("ddp-torchrun");
    p.ptenv(&[
        "export",
        "compose",
        "cluster",
        "--nodes",
        "2",
        "--gpus",
        "none",
        "-o",
        "compose.yaml",
    ])
    .run()
    .assert_success();
    let doc: serde_yaml::Value = serde_yaml::from_str(&p.read("compose.yaml")).unwrap();
    let image = doc["services"]["cluster-0"]["image"]
        .as_str()
        .unwrap()
        .to_string();
    let compose = ComposeProject::new(&p, format!("ptenv-export-ddp-{}", std::process::id()));
    compose.run(&["config", "-q"], &[]).assert_success();
    compose_up(&compose, &image);
    let ids = compose.run(&["ps", "-q"], &[]);
    ids.assert_success();
    let ids: Vec<&str> = ids.stdout.split_whitespace().collect();
    assert_eq!(ids.len(), 2, "two containers, one per node");
    for id in &ids {
        // Each node's torchrun returns once training ends on every rank.
        let code = docker_ok(&["wait", id]);
        let logs = compose.run(&["logs", "--no-color"], &[]);
        assert_eq!(code, "0", "node {id} failed:\n{logs}");
    }
    let logs = compose.run(&["logs", "--no-color"], &[]);
    logs.assert_success();
    // `cluster-0_1  | rank 0/2 backend=gloo final_loss=0.000102` (docker-compose 1.x).
    let mut ranks: Vec<(String, String, String)> = logs
        .stdout
        .lines()
        .filter_map(|l| {
            let (service, line) = l.split_once('|')?;
            let line = line.trim();
            let rest = line.strip_prefix("rank ")?;
            let rank = rest.split_whitespace().next()?.to_string();
            let loss = line.rsplit("final_loss=").next()?.to_string();
            Some((rank, service.trim().to_string(), loss))
        })
        .collect();
    ranks.sort();
    let losses: Vec<(&str, &str)> = ranks
        .iter()
        .map(|(r, _, l)| (r.as_str(), l.as_str()))
        .collect();
    crate::examples::assert_two_ranks_agree(&losses, &logs.stdout);
    assert_ne!(
        ranks[0].1.split('_').next(),
        ranks[1].1.split('_').next(),
        "the ranks ran on different nodes:\n{logs}"
    );
    drop(compose);
    let left = docker_ok(&[
        "ps",
        "-aq",
        "--filter",
        &format!(
            "label=com.docker.compose.project=ptenv-export-ddp-{}",
            std::process::id()
        ),
    ]);
    assert_eq!(left, "", "nothing left after `down`");
}

#[test]
fn wrong_requests_are_usage_errors_with_hints() {
    let p = Project::new("export-errors");
    let job = p
        .ptenv(&["export", "k8s", "jupyter", "--kind", "job"])
        .run();
    job.assert_exit(2);
    assert!(
        job.stderr.contains("a Job runs the profile's `command`"),
        "{job}"
    );
    assert!(job.stderr.contains("hint: "), "{job}");
    let pvc = p.ptenv(&["export", "k8s", "--pvc", "Team_Data"]).run();
    pvc.assert_exit(2);
    assert!(pvc.stderr.contains("is not a claim name"), "{pvc}");
    p.write("ptenv.yaml", "kubernetes: {tolerations: [{value: x}]}\n");
    let bad = p.ptenv(&["export", "k8s"]).run();
    bad.assert_exit(1);
    assert!(bad.stderr.contains("needs a `key`"), "{bad}");
    assert!(bad.stderr.contains("hint: "), "{bad}");
}

#[test]
fn compose_keeps_dollars_in_values_literal() {
    let p = cpu_project(
        "export-dollars",
        "profiles:\n  lit:\n    mode: shell\n    env: {FROM_HOME: '${HOME}', PRICE: 'costs $5'}\n    command: [echo, '${HOME}', 'costs $5']\n",
    );
    p.ptenv(&["export", "compose", "lit", "-o", "compose.yaml"])
        .run()
        .assert_success();
    let config = p.command("docker-compose", &["config"]).run();
    config.assert_success();
    // `config` prints the interpolated file with each literal `$` escaped again as `$$`: a
    // `${HOME}` that Compose expanded would show the home folder instead.
    let doc: serde_yaml::Value = serde_yaml::from_str(&config.stdout).unwrap();
    let s = &doc["services"]["lit"];
    assert_eq!(s["environment"]["FROM_HOME"], "$${HOME}", "{config}");
    assert_eq!(s["environment"]["PRICE"], "costs $$5", "{config}");
    let cmd = s["command"].as_sequence().unwrap();
    assert_eq!(cmd[cmd.len() - 2], "$${HOME}", "{config}");
    assert_eq!(cmd[cmd.len() - 1], "costs $$5", "{config}");
    // ptenv's own variable is still interpolated.
    assert_eq!(s["ulimits"]["memlock"], -1, "{config}");
}

#[test]
fn k8s_secret_file_in_a_repository_is_ignored_by_git() {
    let p = Project::new("export-k8s-git");
    p.command("git", &["init", "-q"]).run().assert_success();
    p.ptenv(&["export", "k8s", "jupyter", "-o", "k8s.yaml"])
        .run()
        .assert_success();
    let status = p
        .command("git", &["status", "--porcelain", "--untracked-files=all"])
        .run();
    status.assert_success();
    assert!(status.stdout.contains("k8s.yaml"), "{status}");
    assert!(!status.stdout.contains("secret"), "{status}");
    let secret = find_file(p.path(), "k8s.secret.yaml").expect("the Secret file is written");
    let secret = secret.strip_prefix(p.path()).unwrap().to_str().unwrap();
    p.command("git", &["check-ignore", "-q", secret])
        .run()
        .assert_success();
    assert!(p
        .read("k8s.yaml")
        .contains(&format!("kubectl apply -f {secret}")));
}
