//! Test helpers: the test bed (Docker Engine, local registry, fixture images, fake NVML), a
//! temporary project with an isolated home, and a builder that runs the real `ptenv` binary.
//!
//! Tests may use the `docker` CLI as an independent observer of what ptenv did; ptenv itself
//! talks to the engine through its API only. Nothing here skips: a test that needs the test
//! bed fails with a message that says how to bring it up.

#![allow(dead_code)]

pub mod gpus;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// The label ptenv puts on every container, volume and image it makes for a project; its
/// value is the project's absolute path.
pub const PROJECT_LABEL: &str = "dev.ptenv.project";

/// How long a command may run before the harness kills it and fails the test.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// What `tests/testbed/setup.sh` brought up, read from `target/testbed/testbed.env`.
#[derive(Debug)]
pub struct Testbed {
    vars: BTreeMap<String, String>,
    /// `127.0.0.1:5000`
    pub registry: String,
    /// `127.0.0.1:5000/ptenv-fixture/pytorch`: the small fixture (no torch) under every tag of
    /// `small_tags`.
    pub small_repo: String,
    /// `127.0.0.1:5000/pytorch/pytorch`: the torch fixture under `2.6.0-cuda12.4-cudnn9-runtime`.
    pub torch_repo: String,
    /// `pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime`, in the engine already.
    pub torch_image: String,
    /// `ptenv-fixture/pytorch:2.6.0-cuda12.4-cudnn9-runtime`, in the engine already (as are
    /// all `small_tags` under `ptenv-fixture/pytorch`).
    pub small_image: String,
    pub small_tags: Vec<String>,
    /// The folder holding the fake `libnvidia-ml.so.1`, once `tests/nvml/build.sh` exists.
    pub fake_nvml_dir: Option<PathBuf>,
    /// The host's CA bundle, for pip inside containers.
    pub ca_bundle: PathBuf,
}

impl Testbed {
    /// The test bed, loaded once per test binary. Panics with what to do when it is not set up
    /// or the engine does not answer.
    pub fn get() -> &'static Testbed {
        static TESTBED: OnceLock<Testbed> = OnceLock::new();
        TESTBED.get_or_init(Testbed::load)
    }

    pub fn env_file() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/testbed/testbed.env")
    }

    fn load() -> Testbed {
        let path = Testbed::env_file();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|err| {
            panic!(
                "the test bed is not set up: cannot read {}: {err}\n\
                 hint: run ./tests/testbed/setup.sh (or the whole suite with ./tests/run.sh)",
                path.display()
            )
        });
        let vars = parse_env_file(&text);
        let get = |key: &str| -> String {
            vars.get(key).cloned().unwrap_or_else(|| {
                panic!(
                    "{} has no {key}\nhint: run ./tests/testbed/setup.sh again",
                    path.display()
                )
            })
        };
        let testbed = Testbed {
            registry: get("PTENV_TEST_REGISTRY"),
            small_repo: get("PTENV_TEST_SMALL_REPO"),
            torch_repo: get("PTENV_TEST_TORCH_REPO"),
            torch_image: get("PTENV_TEST_TORCH_IMAGE"),
            small_image: get("PTENV_TEST_SMALL_IMAGE"),
            small_tags: get("PTENV_TEST_SMALL_TAGS")
                .split(',')
                .map(str::to_owned)
                .collect(),
            fake_nvml_dir: vars.get("PTENV_FAKE_NVML_DIR").map(PathBuf::from),
            ca_bundle: PathBuf::from(get("PTENV_TEST_CA_BUNDLE")),
            vars,
        };
        let version = docker(&["version", "--format", "{{.Server.Version}}"]);
        if !version.status.success() {
            panic!(
                "the Docker engine is not reachable: `docker version` failed:\n{}\n\
                 hint: run ./tests/testbed/setup.sh (it starts dockerd when run as root)",
                String::from_utf8_lossy(&version.stderr).trim()
            );
        }
        testbed
    }

    /// Any KEY of testbed.env.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// The registry's address, after checking that it answers `GET /v2/`.
    pub fn registry(&self) -> &str {
        if let Err(err) = http_get_status(&self.registry, "/v2/").and_then(|status| {
            if status == 200 {
                Ok(())
            } else {
                Err(format!("GET /v2/ answered {status}"))
            }
        }) {
            panic!(
                "the local registry does not answer at http://{}/v2/: {err}\n\
                 hint: run ./tests/testbed/setup.sh (tests/run.sh stops the registry when done)",
                self.registry
            );
        }
        &self.registry
    }

    /// The laptop user of the remote test host (tests/testbed/remote.sh), after checking that
    /// it reaches the server over ssh.
    pub fn remote_laptop_user(&self) -> &str {
        let user = self.var("PTENV_TEST_REMOTE_LAPTOP_USER").unwrap_or_else(|| {
            panic!("testbed.env has no PTENV_TEST_REMOTE_LAPTOP_USER\nhint: run ./tests/testbed/setup.sh again")
        });
        static CHECKED: OnceLock<()> = OnceLock::new();
        CHECKED.get_or_init(|| {
            let status = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/remote.sh"))
                .arg("status")
                .output()
                .expect("run tests/testbed/remote.sh status");
            assert!(
                status.status.success(),
                "the remote test host's sshd does not run: {}\nhint: run ./tests/testbed/setup.sh (tests/run.sh stops it when done)",
                String::from_utf8_lossy(&status.stderr).trim()
            );
        });
        user
    }

    /// The remote test host's name in the laptop user's `~/.ssh/config` (`gpu-server`).
    pub fn remote_host(&self) -> &str {
        self.var("PTENV_TEST_REMOTE_HOST")
            .expect("testbed.env has PTENV_TEST_REMOTE_HOST (run ./tests/testbed/setup.sh again)")
    }

    /// `ptenv-fixture/pytorch:TAG`, a local tag of the small fixture.
    pub fn small_local(&self, tag: &str) -> String {
        format!("ptenv-fixture/pytorch:{tag}")
    }
}

/// Parses `KEY=VALUE` lines; `#` comments and blank lines are skipped.
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// `GET path` over plain HTTP/1.0; returns the status code.
pub fn http_get_status(addr: &str, path: &str) -> Result<u16, String> {
    let (status, _) = http_get(addr, path, &[])?;
    Ok(status)
}

/// `GET path` over plain HTTP/1.0 with extra headers; returns the status code and the body.
pub fn http_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> Result<(u16, String), String> {
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&sock, Duration::from_secs(5))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("write {addr}: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("read {addr}: {e}"))?;
    // "HTTP/1.1 200 OK"
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {response:.80}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Runs the `docker` CLI; never panics (look at `status`).
/// A tag or name part that no other test of this run, nor another run, uses: tests run in
/// parallel and remove what they tracked when they finish, so two tests must never share one.
pub fn unique_suffix() -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

pub fn docker<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("cannot run the docker CLI: {err}"))
}

/// Runs the `docker` CLI, panics unless it succeeds, returns its trimmed stdout.
pub fn docker_ok<S: AsRef<OsStr>>(args: &[S]) -> String {
    let out = docker(args);
    if !out.status.success() {
        let args: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
        panic!(
            "docker {} failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `docker inspect ID` (a container, image, volume or network), the object itself.
pub fn docker_inspect(id: &str) -> serde_json::Value {
    let text = docker_ok(&["inspect", id]);
    let mut all: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("docker inspect {id}: not JSON: {err}"));
    all.get_mut(0)
        .map(serde_json::Value::take)
        .unwrap_or_else(|| panic!("docker inspect {id}: empty answer"))
}

/// The ids of the containers (running or not) that carry `label` (`key` or `key=value`).
pub fn containers_with_label(label: &str) -> Vec<String> {
    let filter = format!("label={label}");
    docker_ok(&["ps", "-aq", "--no-trunc", "--filter", &filter])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A temporary project folder with an isolated HOME and XDG folders. On drop it removes every
/// container and volume labelled with its path, every image tag given to `track_image`, and
/// its files, also when the test failed.
pub struct Project {
    name: String,
    dir: PathBuf,
    home: PathBuf,
    config: PathBuf,
    data: PathBuf,
    cache: PathBuf,
    images: Mutex<Vec<String>>,
    /// Whether `write("ptenv.yaml", …)` trusts what it wrote (see [`Project::write`]).
    trusting: bool,
    // Last: dropped after the containers that may still use the folder are gone.
    _tmp: tempfile::TempDir,
}

impl Project {
    /// A project folder named `name` (ptenv derives names from it: keep it unique per test).
    pub fn new(name: &str) -> Project {
        let tmp = tempfile::Builder::new()
            .prefix("ptenv-test-")
            .tempdir()
            .expect("make a temporary folder");
        let base = tmp
            .path()
            .canonicalize()
            .expect("canonicalize the temporary folder");
        let dir = base.join(name);
        let home = base.join("home");
        let config = home.join(".config");
        let data = home.join(".local/share");
        let cache = home.join(".cache");
        for d in [&dir, &home, &config, &data, &cache] {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
        }
        Project {
            name: name.to_owned(),
            dir,
            home,
            config,
            data,
            cache,
            images: Mutex::new(Vec::new()),
            trusting: true,
            _tmp: tmp,
        }
    }

    /// A project whose `ptenv.yaml` the harness does not trust: for tests of trust itself.
    pub fn untrusted(mut self) -> Project {
        self.trusting = false;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    /// The project folder (absolute, canonical): the value of ptenv's project label.
    pub fn path(&self) -> &Path {
        &self.dir
    }
    pub fn home(&self) -> &Path {
        &self.home
    }
    pub fn config_dir(&self) -> &Path {
        &self.config
    }
    pub fn data_dir(&self) -> &Path {
        &self.data
    }
    pub fn cache_dir(&self) -> &Path {
        &self.cache
    }

    /// The isolated home as `VAR='value'` words for `env` in a shell line (for programs that a
    /// test starts through tmux rather than through [`Project::command`]).
    pub fn shell_env(&self) -> String {
        format!(
            "HOME='{}' XDG_CONFIG_HOME='{}' XDG_DATA_HOME='{}' XDG_CACHE_HOME='{}'",
            self.home.display(),
            self.config.display(),
            self.data.display(),
            self.cache.display()
        )
    }

    /// `dev.ptenv.project=<path>`, for `docker ps --filter label=...`.
    pub fn label_filter(&self) -> String {
        format!("{PROJECT_LABEL}={}", self.dir.display())
    }

    /// Writes `rel` (relative to the project folder) and its parent folders.
    ///
    /// The project's `ptenv.yaml` is then trusted with the real `ptenv trust`, as its author
    /// would (tests of other features write settings that need trust, e.g. the local registry
    /// as `repository:`); [`Project::untrusted`] projects skip that. A file that does not parse
    /// cannot be trusted: the command under test then reports its error as it would anyway.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        if rel == "ptenv.yaml" && self.trusting {
            self.ptenv(&["trust"]).run();
        }
        path
    }

    pub fn read(&self, rel: &str) -> String {
        let path = self.dir.join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// The real `ptenv` binary with these arguments, run in the project folder.
    pub fn ptenv(&self, args: &[&str]) -> Run {
        self.command(env!("CARGO_BIN_EXE_ptenv"), args)
    }

    /// The real `ptenv` binary run as the unprivileged user `nobody` (65534, no groups) through
    /// `setpriv`, for what only a non-root user sees (socket permissions). The project folder
    /// and home are opened to others, and the binary is copied next to them, since the build
    /// folder may sit under a home only root may enter.
    pub fn ptenv_as_nobody(&self, args: &[&str]) -> Run {
        use std::os::unix::fs::PermissionsExt;
        let open = |d: &Path| {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))
                .unwrap_or_else(|e| panic!("chmod 755 {}: {e}", d.display()))
        };
        let base = self
            .dir
            .parent()
            .expect("the project sits in its temporary folder");
        for d in [base, &self.dir, &self.home] {
            open(d);
        }
        if let Some(tmp) = base.parent() {
            // The run's TMPDIR (tests/run.sh makes it 755); a 0700 /tmp would be an error here.
            let mode = std::fs::metadata(tmp)
                .map(|m| m.permissions().mode())
                .unwrap_or(0);
            assert!(
                mode & 0o001 != 0,
                "{} must be searchable by others for `nobody`",
                tmp.display()
            );
        }
        let bin = base.join("ptenv-bin");
        std::fs::copy(env!("CARGO_BIN_EXE_ptenv"), &bin).expect("copy the ptenv binary");
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut run = self.command(
            "setpriv",
            &["--reuid=65534", "--regid=65534", "--clear-groups"],
        );
        run = run.arg(&bin);
        for a in args {
            run = run.arg(a);
        }
        run
    }

    /// The real `ptenv` binary run as the test bed's laptop user (`ptenv-laptop`, see
    /// tests/testbed/remote.sh) through `setpriv`: a user with no access to this machine's
    /// engine whose `~/.ssh` (OpenSSH reads the account's home, not `HOME`) names the remote
    /// test host `gpu-server`. The temporary folder becomes the laptop user's and stays 0700,
    /// so the server's users cannot read the project, as on two real machines.
    pub fn ptenv_as_laptop(&self, args: &[&str]) -> Run {
        let mut run = self.as_laptop(env!("CARGO_BIN_EXE_ptenv"), &[]);
        for a in args {
            run = run.arg(a);
        }
        run
    }

    /// Any program run as the laptop user (see [`Project::ptenv_as_laptop`]); the ptenv binary
    /// is copied next to the project, since the build folder may not be the laptop user's to run.
    pub fn as_laptop(&self, program: impl AsRef<OsStr>, args: &[&str]) -> Run {
        let tb = Testbed::get();
        let user = tb.remote_laptop_user();
        let base = self
            .dir
            .parent()
            .expect("the project sits in its temporary folder");
        let mut program = PathBuf::from(program.as_ref());
        if program == Path::new(env!("CARGO_BIN_EXE_ptenv")) {
            let bin = base.join("ptenv-bin");
            if !bin.exists() {
                std::fs::copy(&program, &bin).expect("copy the ptenv binary");
            }
            program = bin;
        }
        // The laptop user's own temporary folder: the run's TMPDIR is root's.
        let tmp = base.join("laptop-tmp");
        std::fs::create_dir_all(&tmp).expect("mkdir the laptop's TMPDIR");
        let chown = Command::new("chown")
            .args(["-R", &format!("{user}:{user}")])
            .arg(base)
            .output()
            .expect("run chown");
        assert!(
            chown.status.success(),
            "chown -R {user} {}: {}",
            base.display(),
            String::from_utf8_lossy(&chown.stderr)
        );
        // A laptop's files are not the server's to read: nothing here for others.
        use std::os::unix::fs::PermissionsExt;
        for d in [base, &self.dir] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
                .unwrap_or_else(|e| panic!("chmod 700 {}: {e}", d.display()));
        }
        let mut run = self.command(
            "setpriv",
            &[
                &format!("--reuid={user}"),
                &format!("--regid={user}"),
                "--init-groups",
            ],
        );
        run = run.arg(program).env("TMPDIR", &tmp);
        for a in args {
            run = run.arg(a);
        }
        run
    }

    /// The ssh master connections of this project's laptop runs, kept or per command: the
    /// processes whose command line has `ControlMaster=yes` and a control path in the laptop
    /// user's temporary folder of this project.
    pub fn ssh_masters(&self) -> Vec<i32> {
        let base = self.dir.parent().expect("in its temporary folder");
        let tmp = format!("ControlPath={}/", base.join("laptop-tmp").display());
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<_> = cmdline
                .split(|b| *b == 0)
                .map(String::from_utf8_lossy)
                .collect();
            if args.iter().any(|a| a == "ControlMaster=yes")
                && args.iter().any(|a| a.starts_with(&tmp))
            {
                found.push(pid);
            }
        }
        found
    }

    /// Any program, run like `ptenv` would be: in the project folder, with the isolated home.
    pub fn command(&self, program: impl AsRef<OsStr>, args: &[&str]) -> Run {
        let program = program.as_ref();
        let mut cmd = Command::new(program);
        cmd.args(args).current_dir(&self.dir);
        // What the developer's shell set for ptenv must not leak into a test.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PTENV_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", &self.config)
            .env("XDG_DATA_HOME", &self.data)
            .env("XDG_CACHE_HOME", &self.cache)
            .env("NO_COLOR", "1");
        let name = Path::new(program)
            .file_name()
            .unwrap_or(program)
            .to_string_lossy()
            .into_owned();
        Run {
            cmd,
            shown: std::iter::once(name)
                .chain(args.iter().map(|a| a.to_string()))
                .collect::<Vec<_>>()
                .join(" "),
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Removes the image tag when the project is dropped.
    pub fn track_image(&self, tag: &str) {
        self.images.lock().unwrap().push(tag.to_owned());
    }

    /// The ids of the containers labelled with this project.
    pub fn containers(&self) -> Vec<String> {
        containers_with_label(&self.label_filter())
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // The ssh masters the laptop user's commands kept (their idle time would outlive the
        // test; `pgrep -af 'ssh.*ControlMaster'` shows none after a run).
        for pid in self.ssh_masters() {
            kill(pid, rustix::process::Signal::KILL);
        }
        let ids = self.containers();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.iter().map(String::as_str));
            let _ = docker(&args);
        }
        // A workspace upload helper a failed remote test left (it holds the volume).
        let helpers = format!("label=dev.ptenv.workspace-upload={}", self.dir.display());
        let helpers = docker(&["ps", "-aq", "--filter", &helpers]);
        for id in String::from_utf8_lossy(&helpers.stdout).lines() {
            let _ = docker(&["rm", "-f", id]);
        }
        let filter = format!("label={}", self.label_filter());
        let volumes = docker(&["volume", "ls", "-q", "--filter", &filter]);
        let volumes = String::from_utf8_lossy(&volumes.stdout).into_owned();
        for volume in volumes.lines().filter(|v| !v.is_empty()) {
            let _ = docker(&["volume", "rm", "-f", volume]);
        }
        let images = std::mem::take(&mut *self.images.lock().unwrap());
        for image in images {
            let _ = docker(&["rmi", "-f", &image]);
        }
    }
}

/// A command to run, built by `Project::ptenv` or `Project::command`.
pub struct Run {
    cmd: Command,
    shown: String,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
}

impl Run {
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Run {
        self.shown.push(' ');
        self.shown.push_str(&arg.as_ref().to_string_lossy());
        self.cmd.arg(arg);
        self
    }
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Run {
        self.cmd.env(key, value);
        self
    }
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Run {
        self.cmd.env_remove(key);
        self
    }
    /// Bytes for standard input (else it is empty: /dev/null).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Run {
        self.stdin = Some(bytes.into());
        self
    }
    pub fn timeout(mut self, timeout: Duration) -> Run {
        self.timeout = timeout;
        self
    }

    /// Runs to the end (or kills it at the timeout) and returns what it did.
    /// Starts the command in a process group of its own, as a shell starts a foreground job,
    /// with stderr piped and stdout discarded; the caller waits for it.
    pub fn spawn_in_own_group(mut self) -> std::process::Child {
        use std::os::unix::process::CommandExt;
        self.cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        self.cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", self.shown))
    }

    pub fn run(mut self) -> Outcome {
        let start = Instant::now();
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self
            .cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", self.shown));
        let feeder = self.stdin.take().map(|bytes| {
            let mut pipe = child.stdin.take().expect("stdin pipe");
            thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            })
        });
        let mut out_pipe = child.stdout.take().expect("stdout pipe");
        let mut err_pipe = child.stderr.take().expect("stderr pipe");
        let out_reader = thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out_pipe.read_to_end(&mut buf);
            buf
        });
        let err_reader = thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err_pipe.read_to_end(&mut buf);
            buf
        });
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the child") {
                break status;
            }
            if start.elapsed() > self.timeout {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait for the killed child");
            }
            thread::sleep(Duration::from_millis(20));
        };
        if let Some(feeder) = feeder {
            let _ = feeder.join();
        }
        let stdout = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
        let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
        let code = status.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + status.signal().unwrap_or(0)
        });
        let outcome = Outcome {
            command: self.shown,
            status: code,
            stdout,
            stderr,
            elapsed: start.elapsed(),
        };
        if timed_out {
            panic!("timed out after {:?}, killed:\n{outcome}", self.timeout);
        }
        outcome
    }
}

/// What a command did. Its `Display` shows the command, the exit code and both streams.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub command: String,
    /// The exit code; 128 + N when killed by signal N.
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    #[track_caller]
    pub fn assert_success(&self) -> &Outcome {
        self.assert_exit(0)
    }

    #[track_caller]
    pub fn assert_exit(&self, code: i32) -> &Outcome {
        if self.status != code {
            panic!("expected exit code {code}, got {}:\n{self}", self.status);
        }
        self
    }

    #[track_caller]
    pub fn assert_failure(&self) -> &Outcome {
        if self.status == 0 {
            panic!("expected a failure, got exit code 0:\n{self}");
        }
        self
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "$ {}  (exit {}, {:.1} s)",
            self.command,
            self.status,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

/// The fake `libnvidia-ml.so.1` (tests/nvml/fake_nvml.c), built once per test run by
/// tests/nvml/build.sh (the script the test bed runs), for GPU scenarios this host lacks. It
/// needs no engine, so the select tests that use it run without the test bed.
pub fn fake_nvml_lib() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nvml/build.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{} failed:\n{}{}",
            script.display(),
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        let so = PathBuf::from(stdout.lines().last().expect("build.sh prints the library"));
        assert!(so.is_file(), "build.sh printed {}", so.display());
        so.parent().expect("a folder").to_path_buf()
    })
    .join("libnvidia-ml.so.1")
}

/// Pushes an image of its own as `<repo>:2.6.0-cuda12.4-cudnn9-runtime`: the small fixture
/// plus a layer of `megabytes` of random bytes (`/blob-<name>`), so a pull really downloads
/// it; the local tag is removed again. Returns `repo`.
pub fn push_random_image(repo: &str, name: &str, megabytes: u32) -> String {
    let image = format!("{repo}:2.6.0-cuda12.4-cudnn9-runtime");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}\nRUN head -c {megabytes}000000 /dev/urandom > /blob-{name}\n",
            Testbed::get().small_image
        ),
    )
    .unwrap();
    docker_ok(&[
        "build",
        "-q",
        "--no-cache",
        "-t",
        &image,
        dir.path().to_str().unwrap(),
    ]);
    docker_ok(&["push", "-q", &image]);
    docker_ok(&["rmi", &image]);
    repo.to_string()
}

/// Ctrl-C for a child process (`ptenv up` being interrupted). Ignores a child that has already
/// ended.
pub fn send_sigint(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        kill(pid, rustix::process::Signal::INT);
    }
}

/// Sends `signal` to the process `pid` (gone already: nothing).
pub fn kill(pid: i32, signal: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Ctrl-C as a terminal sends it: to the whole process group `leader` leads (see
/// [`Run::spawn_in_own_group`]), children such as ssh included.
pub fn send_sigint_to_group(leader: u32) {
    use rustix::process::{kill_process_group, Pid, Signal};
    if let Some(pid) = i32::try_from(leader).ok().and_then(Pid::from_raw) {
        let _ = kill_process_group(pid, Signal::INT);
    }
}

/// A free TCP port on loopback (free when asked; bind it soon).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `docker-registry serve` of a test's own (never the test bed's on :5000, which other tests
/// use), stopped when dropped.
pub struct OwnRegistry {
    child: std::process::Child,
    pub addr: String,
    log: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl OwnRegistry {
    /// An open registry (plain HTTP, no logins) on a free loopback port, its storage in a
    /// temporary folder.
    pub fn start() -> OwnRegistry {
        let dir = tempfile::tempdir().unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let mut r = OwnRegistry::serve(
            dir.path(),
            "open",
            &addr,
            &dir.path().join("storage"),
            "",
            "",
        );
        r._dir = Some(dir);
        r
    }

    /// Serve `storage` on `addr`, with `http_extra` lines under `http:` (e.g. `tls:`) and an
    /// `auth:` section; its config and log are `dir/<name>.yml` and `dir/<name>.log`.
    pub fn serve(
        dir: &Path,
        name: &str,
        addr: &str,
        storage: &Path,
        http_extra: &str,
        auth: &str,
    ) -> OwnRegistry {
        let config = dir.join(format!("{name}.yml"));
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {addr}\n{http_extra}{auth}",
                storage.display()
            ),
        )
        .unwrap();
        let log = dir.join(format!("{name}.log"));
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start docker-registry (tests/testbed/setup.sh installs it)");
        let mut r = OwnRegistry {
            child,
            addr: addr.to_string(),
            log,
            _dir: None,
        };
        // Listening is ready: with TLS or logins, `/v2/` would not answer 200 to a plain GET.
        let start = Instant::now();
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = r.child.try_wait() {
                panic!("the registry ended ({status}): {}", r.log_text());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the test's own registry does not answer at {addr}: {}",
                r.log_text()
            );
            thread::sleep(Duration::from_millis(50));
        }
        r
    }

    /// Stop it now (a registry that goes away mid-pull).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for OwnRegistry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// tmux on a socket of its own, killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(name: &str, cols: u16, rows: u16, command: &str) -> Tmux {
        let t = Tmux {
            socket: format!("ptenv-test-{name}-{}", std::process::id()),
        };
        let status = Command::new("tmux")
            .args(["-L", &t.socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &cols.to_string(), "-y", &rows.to_string()])
            .arg(command)
            .status()
            .expect("tmux is installed (tests/testbed/setup.sh installs it)");
        assert!(status.success(), "tmux new-session failed");
        t
    }

    pub fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "0"])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }

    pub fn resize(&self, cols: u16, rows: u16) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "resize-window", "-t", "0"])
            .args(["-x", &cols.to_string(), "-y", &rows.to_string()])
            .status()
            .expect("tmux resize-window");
        assert!(status.success());
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "capture-pane",
                "-p",
                "-J",
                "-S",
                "-200",
                "-t",
                "0",
            ])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What the pane shows now, without the history above it.
    pub fn visible(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-J", "-t", "0"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Keeps the pane when its command ends, so that [`Tmux::exit_status`] can read how.
    pub fn remain_on_exit(&self) {
        let status = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "set-option",
                "-g",
                "remain-on-exit",
                "on",
            ])
            .status()
            .expect("tmux set-option");
        assert!(status.success());
    }

    /// How the pane's command ended, once it did (with [`Tmux::remain_on_exit`]):
    /// `exit N` or `signal N`; panics after `timeout`.
    pub fn exit_status(&self, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let out = Command::new("tmux")
                .args(["-L", &self.socket, "display-message", "-p", "-t", "0"])
                .arg("#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}|#{pid}")
                .output()
                .expect("tmux display-message");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            match text.trim_end().split('|').collect::<Vec<_>>()[..] {
                ["1", status, "", _] if !status.is_empty() => return format!("exit {status}"),
                ["1", "", signal, _] if !signal.is_empty() => return format!("signal {signal}"),
                // Dead (its terminal closed) but not reaped: neither yet, and perhaps never by
                // itself. tmux 3.3 built with libutempter (Debian's) removes the pane's utmp
                // record when its terminal closes, and libutempter sets SIGCHLD to SIG_DFL
                // while its helper runs (0.5 s under load): a command that exits in that
                // window is a zombie whose SIGCHLD the kernel discarded, and tmux's waitpid
                // loop runs only at the next one (tmux/tmux#311). Seen as `ptenv stats
                // --watch` exited 130 and unreaped for over 10 s; a SIGCHLD of our own makes
                // tmux reap it and say how it ended.
                ["1", "", "", server] if start.elapsed() <= timeout => {
                    if let Ok(pid) = server.parse() {
                        kill(pid, rustix::process::Signal::CHILD);
                    }
                    thread::sleep(Duration::from_millis(100));
                }
                _ if start.elapsed() > timeout => {
                    panic!(
                        "still running after {timeout:?} (tmux: dead|status|signal|server \
                         {}); the screen:\n{}",
                        text.trim_end(),
                        self.screen()
                    )
                }
                _ => thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Waits until the screen shows `text`; panics with the screen after `timeout`.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> String {
        self.wait_until(text, timeout, |screen| screen.contains(text))
    }

    /// Waits until a line of the screen is exactly `line` (not the command that prints it).
    pub fn wait_for_line(&self, line: &str, timeout: Duration) -> String {
        self.wait_until(line, timeout, |screen| {
            screen.lines().any(|l| l.trim_end() == line)
        })
    }

    pub fn wait_until(&self, text: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            if start.elapsed() > timeout {
                panic!("`{text}` did not appear within {timeout:?}; the screen:\n{screen}");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// Polls `state` (a container's `State.Status`) until it is `want` ("running", "exited") or
/// `within` passes; the last state seen.
pub fn wait_for_state(state: impl Fn() -> String, want: &str, within: Duration) -> String {
    let start = Instant::now();
    loop {
        let now = state();
        if now == want || start.elapsed() > within {
            return now;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The entry of `ptenv ls --json`'s successful answer `json` whose `key` is `value` (a
/// container's `name` or `id`).
pub fn ls_entry(json: &Outcome, key: &str, value: &str) -> serde_json::Value {
    json.assert_success();
    let list: serde_json::Value = serde_json::from_str(&json.stdout).expect("ls --json is JSON");
    list.as_array()
        .expect("a list")
        .iter()
        .find(|c| c[key] == value)
        .unwrap_or_else(|| panic!("no {key} {value} in ls --json: {json}"))
        .clone()
}
