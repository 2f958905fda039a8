//! A GPU server shared by several people: who owns an environment, which GPUs a count takes,
//! and what `down` may remove (docs/gpus.md). Containers of "other users" and "other
//! projects" are made here with plain `docker create` and ptenv's labels, as ptenv would have
//! made them on that user's behalf; they never start (nothing here needs a GPU to run).

use crate::support::{docker_ok, Project, Testbed, PROJECT_LABEL};

/// A container of `project` as ptenv labels it, made for `user` with `gpus` (the devices
/// label), never started. Removed with the project.
fn held_by(project: &Project, profile: &str, user: &str, gpus: &str) -> String {
    let image = Testbed::get().small_local("2.6.0-cuda12.4-cudnn9-runtime");
    let name = format!("ptenv-test-{}-{profile}", project.name());
    docker_ok(&[
        "create",
        "--name",
        &name,
        "--label",
        &format!("{PROJECT_LABEL}={}", project.path().display()),
        "--label",
        &format!("dev.ptenv.profile={profile}"),
        "--label",
        "dev.ptenv.mode=shell",
        "--label",
        &format!("dev.ptenv.user={user}"),
        "--label",
        &format!("dev.ptenv.gpus={gpus}"),
        &image,
        "sleep",
        "infinity",
    ]);
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
    let theirs = held_by(&p, "theirs", "someone-else", "0");
    let mine = held_by(&p, "mine", &me(), "1");

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
    let held = held_by(&elsewhere, "train", &me(), "all");
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
