//! Containers with a GPU request, started for real on the test bed's GPU engine: a second
//! dockerd with a stand-in for the NVIDIA container hook (tests/testbed/gpu-engine.sh,
//! tests/gpuhook), which records each request and hands the container the fake NVML with the
//! visible GPUs of the engine's machine (four RTX A5000).

use std::path::PathBuf;
use std::process::Command;

use crate::support::{Project, Run, Testbed};

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

fn on(run: Run, address: &str, scenario: &std::path::Path) -> Run {
    run.env("DOCKER_HOST", address).fake_gpus(scenario)
}

#[test]
fn the_requested_gpu_indexes_reach_the_container_through_the_hook() {
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
    let record = state.join("records").join(format!("{}.json", ids[0]));
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&record)
            .unwrap_or_else(|e| panic!("the hook recorded nothing at {}: {e}", record.display())),
    )
    .expect("the hook's record is JSON");
    assert_eq!(record["NVIDIA_VISIBLE_DEVICES"], "1,3", "{record}");
    assert_eq!(record["indexes"], serde_json::json!([1, 3]), "{record}");
    assert_eq!(record["args"][1], "prestart", "{record}");

    // Inside: the request in the main process's environment, and NVML sees exactly GPUs 1 and
    // 3. Docker puts the request in the OCI spec's environment only (in place of the image's
    // `NVIDIA_VISIBLE_DEVICES=all`), so it is the main process's; an exec'd process gets the
    // container's configured environment, the image's `all`, hence /proc/1/environ.
    let script = "echo \"visible=$(tr '\\0' '\\n' </proc/1/environ | grep ^NVIDIA_VISIBLE_DEVICES= | paste -sd' ')\"; python3 -c '
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
