//! A `tcp://` engine over TLS, for real: the test bed's GPU engine listens with `--tlsverify`
//! on certificates made by openssl (tests/testbed/gpu-engine.sh), reached through a relay at
//! an address of this machine that is not loopback, so ptenv treats it as another machine's
//! engine with no ssh to it: the project goes to a volume, the GPUs are unknown.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::gpus::gpu_engine_exclusive;
use crate::support::{Project, Run, Testbed};

/// The engine over TLS: its `tcp://` address, the client's certificate folder (ca.pem,
/// cert.pem, key.pem), a CA that signed nothing of the engine's, and its unix socket (for
/// looking at what ptenv made, with the docker CLI).
struct TlsEngine {
    address: String,
    certs: PathBuf,
    other_ca: PathBuf,
    socket: String,
}

fn tls_engine() -> TlsEngine {
    let tb = Testbed::get();
    let var = |key: &str| {
        tb.var(key).map(str::to_owned).unwrap_or_else(|| {
            panic!(
                "testbed.env has no {key}\nhint: run ./tests/testbed/setup.sh (gpu-engine.sh starts the engine with its TLS listener)"
            )
        })
    };
    TlsEngine {
        address: var("PTENV_TEST_GPU_ENGINE_TLS"),
        certs: PathBuf::from(var("PTENV_TEST_GPU_ENGINE_TLS_CERTS")),
        other_ca: PathBuf::from(var("PTENV_TEST_GPU_ENGINE_TLS_OTHER_CA")),
        socket: var("PTENV_TEST_GPU_ENGINE"),
    }
}

impl TlsEngine {
    /// `run` against this engine as docker's environment names it, with the certificates in
    /// `certs`.
    fn with(&self, run: Run, certs: &Path) -> Run {
        run.env("DOCKER_HOST", &self.address)
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", certs)
    }

    /// `docker ARGS` on the engine's own socket; its stdout.
    fn docker(&self, args: &[&str]) -> String {
        let out = Command::new("docker")
            .arg("-H")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run docker");
        assert!(
            out.status.success(),
            "docker -H {} {}: {}",
            self.socket,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn containers(&self, p: &Project) -> Vec<String> {
        let filter = format!("label={}", p.label_filter());
        self.docker(&["ps", "-aq", "--no-trunc", "--filter", &filter])
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Removes the project's containers and volumes from the engine when dropped.
struct Leftovers<'a> {
    engine: &'a TlsEngine,
    project: &'a Project,
}

impl Drop for Leftovers<'_> {
    fn drop(&mut self) {
        for id in self.engine.containers(self.project) {
            let _ = Command::new("docker")
                .args(["-H", &self.engine.socket, "rm", "-f", "-v", &id])
                .output();
        }
        let filter = format!("label={}", self.project.label_filter());
        let volumes = self
            .engine
            .docker(&["volume", "ls", "-q", "--filter", &filter]);
        for v in volumes.lines() {
            let _ = Command::new("docker")
                .args(["-H", &self.engine.socket, "volume", "rm", "-f", v])
                .output();
        }
    }
}

/// A shell profile on the fixture the engine holds (it reaches no registry), without sudo so
/// that the derived image builds offline; `image` pinned or not.
fn project(name: &str, pinned: bool) -> Project {
    let p = Project::new(name);
    let image = match pinned {
        true => format!("image: {}\n", Testbed::get().small_image),
        false => String::new(),
    };
    p.write(
        "ptenv.yaml",
        &format!("default: shell\n{image}pull: never\nsudo: false\n"),
    );
    p.write("train.py", "print('hello')\n");
    p
}

/// A copy of the client's certificate folder, with `change` applied to it.
fn certs_copy(engine: &TlsEngine, p: &Project, change: impl Fn(&Path)) -> PathBuf {
    let dir = p.home().join("certs");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::copy(engine.certs.join(f), dir.join(f)).unwrap();
    }
    change(&dir);
    dir
}

#[test]
fn ls_up_and_exec_work_over_tls_with_the_project_in_a_volume() {
    // Its container holds every GPU of the engine (`gpus: all`) while it runs.
    let _gpus = gpu_engine_exclusive();
    let engine = tls_engine();
    let p = project("tls-up", true);
    let _leftovers = Leftovers {
        engine: &engine,
        project: &p,
    };

    let ls = engine.with(p.ptenv(&["ls"]), &engine.certs).run();
    ls.assert_success();
    assert!(
        ls.stdout.contains(&format!("{} (TLS)", engine.address))
            || ls.stderr.contains(&format!("{} (TLS)", engine.address)),
        "ls names the TLS engine: {ls}"
    );

    let up = engine
        .with(p.ptenv(&["up", "shell", "--detach"]), &engine.certs)
        .run();
    up.assert_success();
    assert!(up.stderr.contains("workspace volume"), "{up}");
    let ids = engine.containers(&p);
    assert_eq!(ids.len(), 1, "one container on the TLS engine: {ids:?}");

    // The container has every GPU of that machine, as the probe found them.
    let request: serde_json::Value = serde_json::from_str(&engine.docker(&[
        "inspect",
        "-f",
        "{{json .HostConfig.DeviceRequests}}",
        &ids[0],
    ]))
    .unwrap();
    assert_eq!(request[0]["Count"], -1, "{request}");
    let smi = engine
        .with(
            p.ptenv(&[
                "exec",
                "--",
                "nvidia-smi",
                "--query-gpu=index,name",
                "--format=csv,noheader,nounits",
            ]),
            &engine.certs,
        )
        .run();
    smi.assert_success();
    assert_eq!(smi.stdout.lines().count(), 4, "{smi}");
    assert!(smi.stdout.starts_with("0, NVIDIA RTX A5000\n"), "{smi}");

    let exec = engine
        .with(p.ptenv(&["exec", "--", "ls", "/workspace"]), &engine.certs)
        .run();
    exec.assert_success();
    let files: Vec<&str> = exec.stdout.lines().collect();
    assert!(files.contains(&"train.py"), "{exec}");
    assert!(files.contains(&"ptenv.yaml"), "{exec}");

    // /workspace is a volume on that engine, not a bind of this machine's folder.
    let mounts: serde_json::Value =
        serde_json::from_str(&engine.docker(&["inspect", "-f", "{{json .Mounts}}", &ids[0]]))
            .unwrap();
    let workspace = mounts
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/workspace")
        .unwrap_or_else(|| panic!("no /workspace mount: {mounts}"));
    assert_eq!(workspace["Type"], "volume", "{mounts}");

    let down = engine.with(p.ptenv(&["down"]), &engine.certs).run();
    down.assert_success();
    assert!(engine.containers(&p).is_empty(), "down removed it");
}

#[test]
fn an_engine_certificate_from_another_ca_is_refused() {
    let engine = tls_engine();
    let p = project("tls-wrong-ca", true);
    let certs = certs_copy(&engine, &p, |dir| {
        std::fs::copy(&engine.other_ca, dir.join("ca.pem")).unwrap();
    });
    let ca = certs.join("ca.pem").display().to_string();
    // Also with the engine's real CA among the system's roots (rustls reads SSL_CERT_FILE as
    // them): as in docker, ca.pem is the only root that vouches for an engine.
    for system_roots in [None, Some(engine.certs.join("ca.pem"))] {
        let mut run = engine.with(p.ptenv(&["ls"]), &certs);
        if let Some(roots) = &system_roots {
            run = run.env("SSL_CERT_FILE", roots);
        }
        let out = run.run();
        out.assert_failure();
        assert!(
            out.stderr
                .contains(&format!("certificate that {ca} does not vouch for")),
            "{out}"
        );
        assert!(
            out.stderr.contains("hint: check that ca.pem is the CA"),
            "{out}"
        );
    }
}

#[test]
fn a_missing_client_certificate_is_named() {
    let engine = tls_engine();
    let p = project("tls-no-cert", true);
    let certs = certs_copy(&engine, &p, |dir| {
        std::fs::remove_file(dir.join("cert.pem")).unwrap();
    });
    let out = engine
        .with(p.ptenv(&["up", "shell", "--detach"]), &certs)
        .run();
    out.assert_failure();
    let cert = certs.join("cert.pem").display().to_string();
    assert!(
        out.stderr
            .contains(&format!("the client certificate {cert} does not exist")),
        "{out}"
    );
    assert!(out.stderr.contains("DOCKER_CERT_PATH"), "{out}");
    assert!(engine.containers(&p).is_empty(), "nothing made");
}

/// The engine's machine is reached only through the Docker API: its GPUs come from a short
/// container with every GPU running the toolkit's `nvidia-smi` (the stand-in hook mounts the
/// test bed's), which the engine removes; `--driver/--gpu` describe a machine instead.
#[test]
fn the_servers_gpus_come_from_a_probe_container_and_the_flags_still_win() {
    let engine = tls_engine();
    let p = project("tls-select", false);
    // No probe container is left; other tests on this engine probe at the same time, so
    // "none left" is waited for a little.
    let probes = || {
        let mut left = String::new();
        for _ in 0..20 {
            left = engine.docker(&["ps", "-aq", "--filter", "label=dev.ptenv.doctor=gpu-probe"]);
            if left.trim().is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        left
    };
    let out = engine
        .with(p.ptenv(&["--json", "select"]), &engine.certs)
        .run();
    out.assert_success();
    let v: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["source"], "probe-container", "{out}");
    assert_eq!(v["driver"], "550.54.15", "{out}");
    let gpus = v["gpus"].as_array().unwrap();
    assert_eq!(gpus.len(), 4, "the engine machine's four GPUs: {out}");
    assert_eq!(gpus[3]["name"], "NVIDIA RTX A5000", "{out}");
    assert_eq!(
        gpus[3]["uuid"], "GPU-0a000000-0000-4000-8000-000000000003",
        "{out}"
    );
    assert_eq!(
        v["image"], "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime",
        "{out}"
    );
    assert_eq!(probes().trim(), "", "the probe container is gone: {out}");

    let named = engine
        .with(
            p.ptenv(&["select", "--driver", "520.61.05", "--gpu", "8.6"]),
            &engine.certs,
        )
        .run();
    named.assert_success();
    assert_eq!(
        named.stdout.trim(),
        "pytorch/pytorch:2.6.0-cuda11.8-cudnn9-runtime",
        "a driver 520 machine as described, not the engine's: {named}"
    );

    // doctor reads the same facts there and says how.
    let doctor = engine
        .with(
            p.ptenv(&["--json", "doctor", "--no-container"]),
            &engine.certs,
        )
        .run();
    let d: serde_json::Value =
        serde_json::from_str(&doctor.stdout).unwrap_or_else(|e| panic!("{e}: {doctor}"));
    let nvml = crate::doctor::check(&d, "nvml");
    assert_eq!(nvml["status"], "pass", "{doctor}");
    // That container was also the engine's answer to a GPU request: the GPU path works there.
    let gpu_path = crate::doctor::check(&d, "gpu-path");
    assert_eq!(gpu_path["status"], "pass", "{doctor}");
    assert!(
        nvml["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "source: nvidia-smi in a container with every GPU, through the engine"),
        "{doctor}"
    );
    assert_eq!(probes().trim(), "", "{doctor}");
}

/// An engine without the NVIDIA runtime (the machine's own engine, behind the test bed's TLS
/// relay): the probe container cannot start, so the GPUs are unknown and ptenv says why and
/// what to do; nothing is left on that engine.
#[test]
fn an_engine_without_the_nvidia_runtime_leaves_the_gpus_unknown_and_says_why() {
    let engine = tls_engine();
    let Some(address) = Testbed::get().var("PTENV_TEST_HOST_ENGINE_TLS") else {
        panic!("testbed.env has no PTENV_TEST_HOST_ENGINE_TLS\nhint: run ./tests/testbed/setup.sh");
    };
    let p = project("tls-no-runtime", false);
    let on_it = |run: Run| {
        run.env("DOCKER_HOST", address)
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", &engine.certs)
    };
    let out = on_it(p.ptenv(&["select"])).run();
    out.assert_exit(1);
    assert!(
        out.stderr.contains(&format!(
            "the GPUs of {address} (TLS) are unknown: ptenv reaches that engine only through its Docker API, and that engine has no NVIDIA runtime"
        )),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("could not select device driver \"\" with capabilities: [[gpu utility]]"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("ptenv select --driver VERSION --gpu CC"),
        "{out}"
    );
    let up = on_it(p.ptenv(&["up", "shell", "--detach"])).run();
    up.assert_failure();
    assert!(up.stderr.contains("no NVIDIA runtime"), "{up}");
    assert!(p.containers().is_empty(), "nothing made: {up}");
    let probes =
        crate::support::docker_ok(&["ps", "-aq", "--filter", "label=dev.ptenv.doctor=gpu-probe"]);
    assert_eq!(probes.trim(), "", "no probe container left");
}

/// The ssh mode and `stats` need the engine's machine, which a TLS engine does not give.
#[test]
fn the_ssh_mode_on_a_tls_engine_is_refused_before_anything_is_made() {
    let engine = tls_engine();
    let p = project("tls-ssh", true);
    let _leftovers = Leftovers {
        engine: &engine,
        project: &p,
    };
    let out = engine.with(p.ptenv(&["up", "ssh"]), &engine.certs).run();
    out.assert_failure();
    assert!(
        out.stderr.contains("the ssh mode needs an ssh path"),
        "{out}"
    );
    assert!(out.stderr.contains("--host ssh://USER@HOST"), "{out}");
    assert!(engine.containers(&p).is_empty(), "nothing made: {out}");

    // `stats` reads NVML on the engine's machine, which a TLS engine does not reach.
    let stats = engine.with(p.ptenv(&["stats"]), &engine.certs).run();
    stats.assert_exit(1);
    assert!(
        stats.stderr.contains("ptenv cannot read GPU use on tcp://")
            && stats.stderr.contains("--host ssh://USER@HOST"),
        "{stats}"
    );
}

#[test]
fn a_docker_context_carries_its_tls_files() {
    let engine = tls_engine();
    let p = project("tls-context", true);
    let certs = engine.certs.display().to_string();
    let docker_endpoint = format!(
        "host={},ca={certs}/ca.pem,cert={certs}/cert.pem,key={certs}/key.pem",
        engine.address
    );
    // The docker CLI writes the context (and copies the files into its TLS store) in the
    // test's own home.
    p.command(
        "docker",
        &["context", "create", "lab-tls", "--docker", &docker_endpoint],
    )
    .run()
    .assert_success();
    let out = p.ptenv(&["-v", "--host", "lab-tls", "ls"]).run();
    out.assert_success();
    assert!(
        out.stderr
            .contains(&format!("engine: {} (TLS) (from --host)", engine.address)),
        "{out}"
    );
    assert!(
        !out.stderr.contains("plain TCP"),
        "no plain-TCP warning over TLS: {out}"
    );
}
