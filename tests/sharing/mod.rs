//! A GPU server shared by several people: who owns an environment, which GPUs a count takes,
//! and what `down` may remove (docs/gpus.md). Containers of "other users" and "other
//! projects" are made here with plain `docker create` and ptenv's labels, as ptenv would have
//! made them on that user's behalf; they never start (nothing here needs a GPU to run).

use std::time::Duration;

use crate::support::gpus::FOUR_A100;
use crate::support::{
    docker_inspect, docker_ok, fake_nvml_lib, Project, Testbed, Tmux, PROJECT_LABEL,
};

/// The devices label of the containers that hold no GPU. The engine is shared by the tests
/// running at once, and the count test counts every container's devices: only it holds any.
const NO_GPU: &str = "none";

/// A container of `project` as ptenv labels it, made for `user` with `gpus` (the devices
/// label), never started. Removed with the project.
fn held_by(project: &Project, profile: &str, user: &str, gpus: &str) -> String {
    made_for(project, profile, user, gpus, "create")
}

/// As [`held_by`], started (`docker run -d`): its processes are real host processes.
fn running_for(project: &Project, profile: &str, user: &str, gpus: &str) -> String {
    made_for(project, profile, user, gpus, "run")
}

fn made_for(project: &Project, profile: &str, user: &str, gpus: &str, how: &str) -> String {
    let image = Testbed::get().small_local("2.6.0-cuda12.4-cudnn9-runtime");
    let name = format!("ptenv-test-{}-{profile}", project.name());
    let mut args = vec![how.to_string()];
    if how == "run" {
        args.push("-d".into());
    }
    args.extend(["--name".to_string(), name.clone()]);
    for label in [
        format!("{PROJECT_LABEL}={}", project.path().display()),
        format!("dev.ptenv.profile={profile}"),
        "dev.ptenv.mode=shell".to_string(),
        format!("dev.ptenv.user={user}"),
        format!("dev.ptenv.gpus={gpus}"),
    ] {
        args.extend(["--label".to_string(), label]);
    }
    args.extend([image, "sleep".into(), "infinity".into()]);
    docker_ok(&args);
    name
}

/// This test process's user name, as ptenv records it.
fn me() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("run id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn down_all_leaves_another_users_environment_unless_named() {
    let p = Project::new("sharing-down-user");
    p.write("ptenv.yaml", "profiles: {train: {mode: shell}}\n");
    let theirs = held_by(&p, "theirs", "someone-else", NO_GPU);
    let mine = held_by(&p, "mine", &me(), NO_GPU);

    let down = p.ptenv(&["down", "--all"]).run();
    down.assert_success();
    assert!(down.stderr.contains(&format!("Removed {mine}")), "{down}");
    assert!(
        down.stderr.contains(&format!("Left {theirs} alone"))
            && down.stderr.contains("--user 'someone-else'"),
        "{down}"
    );
    assert_eq!(p.containers().len(), 1, "theirs is still there: {down}");

    let named = p.ptenv(&["down", "--all", "--user", "someone-else"]).run();
    named.assert_success();
    assert!(
        named.stderr.contains(&format!("Removed {theirs}")),
        "{named}"
    );
    assert!(p.containers().is_empty(), "{named}");
}

#[test]
fn down_all_projects_lists_and_asks_and_without_a_terminal_needs_yes() {
    let elsewhere = Project::new("sharing-down-elsewhere");
    let held = held_by(&elsewhere, "train", &me(), NO_GPU);
    let here = Project::new("sharing-down-here");
    here.write("ptenv.yaml", "profiles: {train: {mode: shell}}\n");

    // The test runs without a terminal: refused, naming what would go, nothing removed.
    let refused = here.ptenv(&["down", "--all-projects"]).run();
    refused.assert_failure();
    assert!(refused.stderr.contains(&held), "{refused}");
    assert!(refused.stderr.contains("--yes"), "{refused}");
    assert_eq!(elsewhere.containers().len(), 1, "{refused}");

    // Plain `down` here never reaches the other project.
    here.ptenv(&["down", "--all"]).run().assert_success();
    assert_eq!(elsewhere.containers().len(), 1);
}

#[test]
fn stats_maps_a_gpu_process_to_its_environment_and_a_host_process_to_other() {
    let p = Project::new("sharing-stats");
    let name = running_for(&p, "train", "ana", NO_GPU);
    let pid = docker_inspect(&name)["State"]["Pid"]
        .as_u64()
        .expect("the container's host PID");
    assert!(pid > 0, "the container runs");
    // GPU 0 runs the container's process, GPU 1 a process outside any container (this test).
    let host = std::process::id();
    let scenario = p.gpu_scenario(&format!(
        "{FOUR_A100}load 0 97 40\nprocess 0 {pid} 21474836480\nload 1 30 10\nprocess 1 {host} 1073741824\n"
    ));
    let out = p.ptenv(&["--json", "stats"]).fake_gpus(&scenario).run();
    out.assert_success();
    let r: serde_json::Value = serde_json::from_str(&out.stdout).expect("stats --json is JSON");
    let gpus = r["gpus"].as_array().expect("gpus");
    assert_eq!(gpus.len(), 4, "{out}");
    assert_eq!(gpus[0]["utilization"], 97, "{out}");
    assert_eq!(gpus[0]["memory_used"], 21474836480u64, "{out}");
    assert_eq!(gpus[0]["processes"][0]["pid"], pid, "{out}");
    assert_eq!(
        gpus[0]["processes"][0]["environment"],
        name.as_str(),
        "{out}"
    );
    assert_eq!(gpus[1]["processes"][0]["pid"], host, "{out}");
    assert_eq!(gpus[1]["processes"][0]["environment"], "other", "{out}");
    assert!(gpus[2]["processes"].as_array().unwrap().is_empty(), "{out}");
    let envs = r["environments"].as_array().expect("environments");
    let ours = envs
        .iter()
        .find(|e| e["environment"] == name.as_str())
        .unwrap_or_else(|| panic!("{name} in {out}"));
    assert_eq!(ours["user"], "ana", "{out}");
    assert_eq!(ours["gpus"], serde_json::json!([0]), "{out}");
    assert_eq!(ours["memory"], 21474836480u64, "{out}");

    // The table and the Prometheus text say the same.
    let table = p.ptenv(&["stats"]).fake_gpus(&scenario).run();
    table.assert_success();
    assert!(
        table.stdout.contains(&name) && table.stdout.contains("97%"),
        "{table}"
    );
    let prom = p
        .ptenv(&["stats", "--format", "prometheus"])
        .fake_gpus(&scenario)
        .run();
    prom.assert_success();
    assert!(
        prom.stdout
            .contains("ptenv_gpu_utilization_percent{gpu=\"0\",uuid=\"GPU-a100-0000\"} 97"),
        "{prom}"
    );
    assert!(
        prom.stdout.contains(&format!(
            "ptenv_environment_gpu_memory_bytes{{environment=\"{name}\",project=\"{}\",user=\"ana\"}} 21474836480",
            p.path().display()
        )),
        "{prom}"
    );
}

#[test]
fn a_count_takes_the_free_gpus_and_more_than_free_is_refused_naming_the_holders() {
    let tb = Testbed::get();
    let yaml = format!("default: shell\nrepository: {}\n", tb.small_repo);
    // Another project's environment holds GPUs 0 and 2 (bo's, working: load and memory).
    let b = Project::new("sharing-holder");
    let theirs = held_by(&b, "train", "bo", "0,2");
    let a = Project::new("sharing-count");
    a.write("ptenv.yaml", &yaml);
    let host = std::process::id();
    let scenario = a.gpu_scenario(&format!(
        "{FOUR_A100}load 0 99 60\nprocess 0 {host} 42949672960\nload 2 70 20\nprocess 2 {host} 8589934592\n"
    ));

    // As docker's `--gpus 2`, a count; the two GPUs nobody holds are taken.
    let out = a
        .ptenv(&["up", "--gpus", "2", "--dry-run", "--json"])
        .fake_gpus(&scenario)
        .run();
    out.assert_success();
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).expect("--json is JSON");
    let request = &plan["create"]["HostConfig"]["DeviceRequests"][0];
    assert_eq!(request["DeviceIDs"], serde_json::json!(["1", "3"]), "{out}");
    assert_eq!(request["Count"], 0, "{out}");
    assert_eq!(plan["create"]["Labels"]["dev.ptenv.gpus"], "1,3", "{out}");
    // Without --json the reasons are said.
    let said = a
        .ptenv(&["up", "--gpus", "2", "--dry-run"])
        .fake_gpus(&scenario)
        .run();
    said.assert_success();
    assert!(said.stderr.contains("took GPU 1, GPU 3"), "{said}");
    assert!(
        said.stderr.contains(&format!(
            "GPU 0 (held by {theirs}), GPU 2 (held by {theirs})"
        )),
        "{said}"
    );

    // Once this project holds 1 and 3, a third project's count finds nothing free and is
    // told who holds what.
    let ours = held_by(&a, "shell", &me(), "1,3");
    let c = Project::new("sharing-late");
    c.write("ptenv.yaml", &yaml);
    let late = c
        .ptenv(&["up", "--gpus", "2", "--dry-run"])
        .fake_gpus(&scenario)
        .run();
    late.assert_failure();
    assert!(
        late.stderr
            .contains("2 GPUs were asked for, but only 0 of this machine's 4 are free"),
        "{late}"
    );
    assert!(
        late.stderr.contains(&format!(
            "GPU 0 is held by {theirs} (user bo, project {})",
            b.path().display()
        )),
        "{late}"
    );
    assert!(
        late.stderr.contains(&format!("GPU 1 is held by {ours}")),
        "{late}"
    );
    assert!(c.containers().is_empty(), "nothing made: {late}");

    // GPUs named on purpose are not counted: sharing one is the user's choice.
    let named = c
        .ptenv(&["up", "--gpus", "device=1", "--dry-run", "--json"])
        .fake_gpus(&scenario)
        .run();
    named.assert_success();
    let plan: serde_json::Value = serde_json::from_str(&named.stdout).expect("--json is JSON");
    assert_eq!(
        plan["create"]["HostConfig"]["DeviceRequests"][0]["DeviceIDs"],
        serde_json::json!(["1"]),
        "{named}"
    );
}

#[test]
fn stats_watch_redraws_in_place_and_ctrl_c_ends_it_with_130_as_docker_stats() {
    let p = Project::new("sharing-stats-watch");
    let host = std::process::id();
    let scenario = p.gpu_scenario(&format!(
        "{FOUR_A100}load 0 97 40\nprocess 0 {host} 21474836480\n"
    ));
    let command = format!(
        "cd '{}' && exec env {} PTENV_NVML_LIB='{}' PTENV_FAKE_NVML_SCENARIO='{}' '{}' stats --watch",
        p.path().display(),
        p.shell_env(),
        fake_nvml_lib().display(),
        scenario.display(),
        env!("CARGO_BIN_EXE_ptenv")
    );
    let tmux = Tmux::start("stats-watch", 120, 30, &command);
    tmux.remain_on_exit();
    let first = tmux.wait_for("97%", Duration::from_secs(30));
    assert!(first.contains("20 GiB / 80 GiB"), "{first}");

    // The machine changes between two refreshes: GPU 0 idle, GPU 3 busy. (Written aside and
    // renamed: a refresh never reads half a scenario.)
    let next = p.home().join("nvml-scenario.next");
    std::fs::write(
        &next,
        format!("{FOUR_A100}load 3 55 10\nprocess 3 {host} 1073741824\n"),
    )
    .unwrap();
    std::fs::rename(&next, &scenario).unwrap();
    let second = tmux.wait_until("55%", Duration::from_secs(30), |_| {
        tmux.visible().contains("55%")
    });
    let shown = tmux.visible();
    // Redrawn in place, as `docker stats` does: one table on the screen, the old figures gone.
    assert_eq!(
        shown.lines().filter(|l| l.starts_with("GPU  ")).count(),
        1,
        "{shown}\n(whole history:\n{second})"
    );
    assert!(!shown.contains("97%"), "{shown}");
    let gpu = |i: u32| {
        shown
            .lines()
            .find(|l| l.starts_with(&format!("{i}  ")) || l.starts_with(&format!("{i} ")))
            .unwrap_or_else(|| panic!("GPU {i} in {shown}"))
            .to_owned()
    };
    assert!(gpu(0).contains(" 0% "), "{shown}");
    assert!(
        gpu(3).contains("55%") && gpu(3).contains("other"),
        "{shown}"
    );

    // Ctrl-C is how it ends: exit status 130 (128 + SIGINT), what `docker stats` exits with.
    tmux.keys(&["C-c"]);
    assert_eq!(tmux.exit_status(Duration::from_secs(10)), "exit 130");
}
