//! Containers with a GPU request, started for real on the test bed's GPU engine: a second
//! dockerd with a stand-in for the NVIDIA container hook (tests/testbed/gpu-engine.sh,
//! tests/gpuhook), which records each request and hands the container the fake NVML with the
//! visible GPUs of the engine's machine (four RTX A5000).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::gpus::gpu_engine_exclusive;
use crate::support::{wait_for_state, Project, Run, Testbed};

/// The GPU engine's address (`unix://…`) and its state folder (scenario, records).
fn gpu_engine() -> (String, PathBuf) {
    let tb = Testbed::get();
    let (Some(address), Some(state)) = (
        tb.var("PTENV_TEST_GPU_ENGINE"),
        tb.var("PTENV_TEST_GPU_ENGINE_STATE"),
    ) else {
        panic!(
            "testbed.env names no GPU engine\nhint: run ./tests/testbed/setup.sh (it starts one \
             with tests/testbed/gpu-engine.sh once the fake NVML is built)"
        );
    };
    (address.to_owned(), PathBuf::from(state))
}

/// `docker -H <the GPU engine> ARGS`, which must succeed; its stdout.
fn on_engine(address: &str, args: &[&str]) -> String {
    let out = Command::new("docker")
        .arg("-H")
        .arg(address)
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker -H {address} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes the project's containers (and their volumes) from the GPU engine when dropped, as
/// `Project` does on the main engine.
struct Leftovers<'a> {
    address: &'a str,
    project: &'a Project,
}

impl Leftovers<'_> {
    fn containers(&self) -> Vec<String> {
        let filter = format!("label={}", self.project.label_filter());
        on_engine(
            self.address,
            &["ps", "-aq", "--no-trunc", "--filter", &filter],
        )
        .lines()
        .map(str::to_owned)
        .collect()
    }

    /// The project's one container on the engine, inspected.
    fn only(&self) -> serde_json::Value {
        let ids = self.containers();
        assert_eq!(ids.len(), 1, "one container on the GPU engine: {ids:?}");
        let mut all: serde_json::Value =
            serde_json::from_str(&on_engine(self.address, &["inspect", &ids[0]])).expect("JSON");
        all[0].take()
    }

    /// The name and ID of the project's one container.
    fn only_name_and_id(&self) -> (String, String) {
        let c = self.only();
        let name = c["Name"].as_str().expect("a name").trim_start_matches('/');
        (name.to_owned(), c["Id"].as_str().expect("an ID").to_owned())
    }
}

impl Drop for Leftovers<'_> {
    fn drop(&mut self) {
        for id in self.containers() {
            let _ = Command::new("docker")
                .args(["-H", self.address, "rm", "-f", "-v", &id])
                .output();
        }
    }
}

/// A shell profile on the fixture the GPU engine holds (it reaches no registry), without sudo
/// so that the derived image builds offline, with `gpus`.
fn gpu_project(name: &str, gpus: &str) -> Project {
    let p = Project::new(name);
    p.write(
        "ptenv.yaml",
        &format!(
            "default: shell\nimage: {}\npull: never\nsudo: false\ngpus: {gpus}\n",
            Testbed::get().small_image
        ),
    );
    p
}

/// Prints the main process's `NVIDIA_VISIBLE_DEVICES` (`visible=…`), the exec'd process's own
/// (`exec=…`), and each GPU NVML sees inside the container (`gpu INDEX UUID`).
const VISIBLE_AND_NVML: &str = "echo \"visible=$(tr '\\0' '\\n' </proc/1/environ | grep ^NVIDIA_VISIBLE_DEVICES= | paste -sd' ')\"; echo \"exec=$NVIDIA_VISIBLE_DEVICES\"; python3 -c '
import ctypes
nvml = ctypes.CDLL(\"libnvidia-ml.so.1\")
assert nvml.nvmlInit_v2() == 0
n = ctypes.c_uint()
assert nvml.nvmlDeviceGetCount_v2(ctypes.byref(n)) == 0
for i in range(n.value):
    h = ctypes.c_void_p()
    assert nvml.nvmlDeviceGetHandleByIndex_v2(i, ctypes.byref(h)) == 0
    uuid = ctypes.create_string_buffer(96)
    assert nvml.nvmlDeviceGetUUID(h, uuid, 96) == 0
    print(\"gpu\", i, uuid.value.decode())
'";

/// What the stand-in hook recorded for container `id`: the request as the engine gave it.
fn hook_record(state: &Path, id: &str) -> serde_json::Value {
    let record = state.join("records").join(format!("{id}.json"));
    serde_json::from_str(
        &std::fs::read_to_string(&record)
            .unwrap_or_else(|e| panic!("the hook recorded nothing at {}: {e}", record.display())),
    )
    .expect("the hook's record is JSON")
}

fn on(run: Run, address: &str, scenario: &Path) -> Run {
    run.env("DOCKER_HOST", address).fake_gpus(scenario)
}

#[test]
fn the_requested_gpu_indexes_reach_the_container_through_the_hook() {
    let _engine = gpu_engine_exclusive();
    let (address, state) = gpu_engine();
    let scenario = state.join("scenario");
    let p = gpu_project("gpuengine-devices", "[1, 3]");
    let leftovers = Leftovers {
        address: &address,
        project: &p,
    };

    on(p.ptenv(&["up", "--detach"]), &address, &scenario)
        .run()
        .assert_success();
    let ids = leftovers.containers();
    assert_eq!(ids.len(), 1, "one container on the GPU engine: {ids:?}");

    // What the engine asked the hook for, as the hook saw it.
    let record = hook_record(&state, &ids[0]);
    assert_eq!(record["NVIDIA_VISIBLE_DEVICES"], "1,3", "{record}");
    assert_eq!(record["indexes"], serde_json::json!([1, 3]), "{record}");
    assert_eq!(record["args"][1], "prestart", "{record}");

    // Inside: the request in the main process's environment, and NVML sees exactly GPUs 1 and
    // 3. Docker puts the request in the OCI spec's environment only (in place of the image's
    // `NVIDIA_VISIBLE_DEVICES=all`), so it is the main process's; an exec'd process gets the
    // container's configured environment, where ptenv puts the request too (docs/gpus.md §8).
    let script = VISIBLE_AND_NVML;
    let out = on(
        p.ptenv(&["exec", "--", "sh", "-c", script]),
        &address,
        &scenario,
    )
    .run();
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "visible=NVIDIA_VISIBLE_DEVICES=1,3",
            "exec=1,3",
            "gpu 0 GPU-0a000000-0000-4000-8000-000000000001",
            "gpu 1 GPU-0a000000-0000-4000-8000-000000000003",
        ],
        "{out}"
    );

    on(p.ptenv(&["down"]), &address, &scenario)
        .run()
        .assert_success();
    assert!(leftovers.containers().is_empty(), "down removed it");
}

#[test]
fn a_container_without_a_gpu_request_never_meets_the_hook() {
    let _engine = gpu_engine_exclusive();
    let (address, state) = gpu_engine();
    let scenario = state.join("scenario");
    let p = gpu_project("gpuengine-none", "none");
    let leftovers = Leftovers {
        address: &address,
        project: &p,
    };
    on(p.ptenv(&["up", "--detach"]), &address, &scenario)
        .run()
        .assert_success();
    let ids = leftovers.containers();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let record = state.join("records").join(format!("{}.json", ids[0]));
    assert!(!record.exists(), "the hook ran for a CPU container");
    let out = on(
        p.ptenv(&[
            "exec",
            "--",
            "sh",
            "-c",
            "ls /usr/local/nvidia/lib64 /etc/ptenv-fake-nvml 2>&1; true",
        ]),
        &address,
        &scenario,
    )
    .run();
    out.assert_success();
    assert!(!out.stdout.contains("libnvidia-ml"), "{out}");
}

/// This test process's user name, as ptenv records it.
fn me() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_count_starts_on_the_free_gpus_and_a_second_count_is_refused_naming_the_holders() {
    let _engine = gpu_engine_exclusive();
    let (address, state) = gpu_engine();
    // Project B works on GPUs 0 and 2 (named on purpose): its container really runs there.
    let b = gpu_project("gpuengine-holder", "[0, 2]");
    let b_left = Leftovers {
        address: &address,
        project: &b,
    };
    let engine_scenario = state.join("scenario");
    on(b.ptenv(&["up", "--detach"]), &address, &engine_scenario)
        .run()
        .assert_success();
    let b_container = b_left.only();
    let b_name = b_container["Name"]
        .as_str()
        .expect("a name")
        .trim_start_matches('/');
    let b_pid = b_container["State"]["Pid"].as_u64().expect("a host PID");

    // The engine's machine as NVML describes it to ptenv: its four GPUs, 0 and 2 busy with
    // B's process (load, memory, the compute process).
    let machine = format!(
        "{}load 0 97 60\nprocess 0 {b_pid} 17179869184\nload 2 71 20\nprocess 2 {b_pid} 8589934592\n",
        std::fs::read_to_string(&engine_scenario).expect("the engine's scenario")
    );
    let a = gpu_project("gpuengine-count", "all");
    let a_left = Leftovers {
        address: &address,
        project: &a,
    };
    let scenario = a.gpu_scenario(&machine);

    // `ptenv stats` on that engine names B's environment as the user of GPUs 0 and 2.
    let stats = on(a.ptenv(&["--json", "stats"]), &address, &scenario).run();
    stats.assert_success();
    let stats: serde_json::Value = serde_json::from_str(&stats.stdout).expect("JSON");
    assert_eq!(
        stats["gpus"][0]["processes"][0]["environment"], b_name,
        "{stats}"
    );
    assert_eq!(
        stats["gpus"][2]["processes"][0]["environment"], b_name,
        "{stats}"
    );

    // A's `up --gpus 2` starts a container on the two free GPUs.
    let up = on(
        a.ptenv(&["up", "--gpus", "2", "--detach"]),
        &address,
        &scenario,
    )
    .run();
    up.assert_success();
    assert!(up.stderr.contains("took GPU 1, GPU 3"), "{up}");
    let (a_name, a_id) = a_left.only_name_and_id();
    let record = hook_record(&state, &a_id);
    assert_eq!(record["NVIDIA_VISIBLE_DEVICES"], "1,3", "{record}");
    assert_eq!(record["indexes"], serde_json::json!([1, 3]), "{record}");
    let inside = on(
        a.ptenv(&["exec", "--", "sh", "-c", VISIBLE_AND_NVML]),
        &address,
        &scenario,
    )
    .run();
    inside.assert_success();
    assert_eq!(
        inside.stdout.lines().collect::<Vec<_>>(),
        [
            "visible=NVIDIA_VISIBLE_DEVICES=1,3",
            "exec=1,3",
            "gpu 0 GPU-0a000000-0000-4000-8000-000000000001",
            "gpu 1 GPU-0a000000-0000-4000-8000-000000000003",
        ],
        "{inside}"
    );

    // A third project finds no GPU free: refused, naming who holds each, nothing made.
    let c = gpu_project("gpuengine-late", "all");
    let c_left = Leftovers {
        address: &address,
        project: &c,
    };
    let late = on(
        c.ptenv(&["up", "--gpus", "2", "--detach"]),
        &address,
        &scenario,
    )
    .run();
    late.assert_failure();
    let user = me();
    for (gpu, holder, project) in [
        (0, b_name, b.path()),
        (1, a_name.as_str(), a.path()),
        (2, b_name, b.path()),
        (3, a_name.as_str(), a.path()),
    ] {
        let said = format!(
            "GPU {gpu} is held by {holder} (user {user}, project {})",
            project.display()
        );
        assert!(late.stderr.contains(&said), "{said}\n{late}");
    }
    assert!(
        late.stderr
            .contains("2 GPUs were asked for, but only 0 of this machine's 4 are free"),
        "{late}"
    );
    assert!(c_left.containers().is_empty(), "nothing made: {late}");
}

impl Leftovers<'_> {
    /// Polls the state of the project's one container until it is `want` ("exited") or
    /// `within` passes; the last state seen.
    fn wait_state(&self, want: &str, within: Duration) -> String {
        let state = || {
            self.only()["State"]["Status"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        wait_for_state(state, want, within)
    }
}

#[test]
fn a_busy_gpu_keeps_an_environment_up_past_its_idle_limit_and_an_idle_gpu_does_not() {
    let _engine = gpu_engine_exclusive();
    let (address, state) = gpu_engine();
    let engine_scenario = state.join("scenario");
    let gpu0 = std::fs::read_to_string(&engine_scenario)
        .expect("the engine's scenario")
        .lines()
        .filter(|l| !l.starts_with("gpu ") || l.contains("-000000000000 "))
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    assert!(gpu0.contains("gpu 8.6"), "GPU 0 in {gpu0}");
    // Two environments on GPU 0 with the same short limit. The busy one's NVML (the fake the
    // hook gives the container) reports its GPU 88% busy: its scenario, bind-mounted where the
    // hook puts the container's, adds a load line.
    let yaml = |extra: &str| {
        format!(
            "default: shell\nimage: {}\npull: never\nsudo: false\ngpus: [0]\nidle_stop: 4s\n{extra}",
            Testbed::get().small_image
        )
    };
    let busy = Project::new("gpuengine-idle-busy");
    busy.write("busy-gpu", &format!("{gpu0}load 0 88 30\n"));
    busy.write(
        "ptenv.yaml",
        &yaml("mounts: ['busy-gpu:/etc/ptenv-fake-nvml/scenario:ro']\n"),
    );
    let idle = Project::new("gpuengine-idle-idle");
    idle.write("ptenv.yaml", &yaml(""));
    let busy_left = Leftovers {
        address: &address,
        project: &busy,
    };
    let idle_left = Leftovers {
        address: &address,
        project: &idle,
    };
    for p in [&busy, &idle] {
        on(p.ptenv(&["up", "--detach"]), &address, &engine_scenario)
            .run()
            .assert_success();
    }
    let started = Instant::now();
    // What each container's NVML says, as the watcher asks it.
    let load = |p: &Project| {
        let out = on(
            p.ptenv(&[
                "exec",
                "--",
                "python3",
                "-c",
                "import ctypes\n\
                 class U(ctypes.Structure): _fields_ = [('gpu', ctypes.c_uint), ('memory', ctypes.c_uint)]\n\
                 n = ctypes.CDLL('libnvidia-ml.so.1'); assert n.nvmlInit_v2() == 0\n\
                 h = ctypes.c_void_p(); assert n.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(h)) == 0\n\
                 u = U(); assert n.nvmlDeviceGetUtilizationRates(h, ctypes.byref(u)) == 0\n\
                 print(u.gpu)",
            ]),
            &address,
            &engine_scenario,
        )
        .run();
        out.assert_success();
        out.stdout.trim().to_owned()
    };
    // (A `ptenv exec` is a session, which is activity too: both are asked now, at once, and
    // the idle one still has its whole limit of nothing afterwards.)
    assert_eq!(load(&busy), "88");
    assert_eq!(load(&idle), "0");

    assert_eq!(
        idle_left.wait_state("exited", Duration::from_secs(40)),
        "exited",
        "the idle GPU's environment stops"
    );
    let logs = on(idle.ptenv(&["logs"]), &address, &engine_scenario).run();
    assert!(
        format!("{}{}", logs.stdout, logs.stderr).contains("ptenv: stopped: idle for 4s"),
        "{logs}"
    );
    // The busy one is still up at three times its limit.
    std::thread::sleep(Duration::from_secs(12).saturating_sub(started.elapsed()));
    assert_eq!(
        busy_left.only()["State"]["Status"],
        "running",
        "a busy GPU for {:?}: never stopped while busy",
        started.elapsed()
    );
    let logs = on(busy.ptenv(&["logs"]), &address, &engine_scenario).run();
    assert!(
        !format!("{}{}", logs.stdout, logs.stderr).contains("stopped: idle"),
        "{logs}"
    );
    // Up because its watcher sees the load, not because the watcher is gone.
    let (_, id) = busy_left.only_name_and_id();
    let top = on_engine(&address, &["top", &id, "-eo", "pid,args"]);
    assert!(top.contains("idle-watch.py 4 4s"), "{top}");
}

#[test]
fn doctor_asks_the_engine_whether_it_serves_a_gpu_request() {
    let _engine = gpu_engine_exclusive();
    let (address, state) = gpu_engine();
    let p = gpu_project("gpuengine-doctor", "all");
    let gpu_path = |run: Run| {
        let out = run.run();
        let report: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("--json printed no JSON ({e}):\n{out}"));
        crate::doctor::check(&report, "gpu-path").clone()
    };
    // The stand-in hook is on the GPU engine's PATH only, never on ptenv's: the engine's
    // answer decides.
    let here = gpu_path(on(
        p.ptenv(&["--json", "doctor"]),
        &address,
        &state.join("scenario"),
    ));
    assert_eq!(here["status"], "pass", "{here:#}");
    let evidence = here["evidence"].to_string();
    assert!(
        evidence.contains("not on ptenv's PATH")
            && evidence.contains("nvidia device driver took a test container with `--gpus all`"),
        "{here:#}"
    );
    // The machine's own engine has no hook: refused, the toolkit is missing.
    let main = gpu_path(p.ptenv(&["--json", "doctor"]));
    assert_eq!(main["status"], "fail", "{main:#}");
    assert!(
        main["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("NVIDIA Container Toolkit is missing"),
        "{main:#}"
    );
    assert!(
        main["evidence"]
            .to_string()
            .contains("could not select device driver"),
        "{main:#}"
    );
    // The test containers are gone from both engines.
    let left = on_engine(
        &address,
        &[
            "ps",
            "-aq",
            "--filter",
            "label=dev.ptenv.doctor=gpu-request",
        ],
    );
    assert!(left.trim().is_empty(), "{left}");
}
