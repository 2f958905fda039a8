//! Issue #6, the shell: `ptenv shell` against the real engine with the small fixture, with
//! piped stdin and under a real pseudo-terminal (tmux): the user and folder, the image's PATH,
//! stdin streamed, window resize, Ctrl-C and Ctrl-D passed through, the exit code returned and
//! the host terminal restored.

use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use crate::support::{Project, Testbed, Tmux};

/// A project whose profiles use the fixture image `repo` from the local registry, with more
/// of `ptenv.yaml` in `extra` (tests running at once give themselves different host ports,
/// so that they do not race for the same free one).
pub fn fixture_project(name: &str, repo: &str, extra: &str) -> Project {
    // The container user has the host user's ids, or when the host user is root the folder
    // owner's: the folder goes to 1000:1000 then, as it would be a developer's own.
    fixture_project_of(name, repo, extra, container_uid())
}

/// [`fixture_project`] with its folder owned by `uid` (gid the same).
pub fn fixture_project_of(name: &str, repo: &str, extra: &str, uid: u32) -> Project {
    let tb = Testbed::get();
    let p = Project::new(name);
    p.write(
        "ptenv.yaml",
        &format!(
            "repository: {repo}\nca_bundle: {}\n{extra}",
            tb.ca_bundle.display()
        ),
    );
    std::os::unix::fs::chown(p.path(), Some(uid), Some(uid)).expect("chown the project");
    p
}

/// The uid the container user has in a [`fixture_project`]: the host user's, or for root the
/// folder owner's, 1000.
pub fn container_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata("/proc/self").expect("/proc/self").uid() {
        0 => 1000,
        uid => uid,
    }
}

pub fn owner(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .uid()
}

#[test]
fn shell_runs_commands_with_piped_stdin_and_returns_the_exit_code() {
    let tb = Testbed::get();
    let p = fixture_project("shell-piped", &tb.small_repo, "");
    let up = p.ptenv(&["up", "shell", "--detach"]).run();
    up.assert_success();

    let out = p
        .ptenv(&[
            "-q",
            "shell",
            "--",
            "sh",
            "-c",
            "id -u; pwd; touch made-in-shell; exit 3",
        ])
        .run();
    out.assert_exit(3);
    assert_eq!(
        out.stdout,
        format!("{}\n/workspace\n", container_uid()),
        "{out}"
    );
    assert_eq!(owner(&p.path().join("made-in-shell")), container_uid());

    let out = p
        .ptenv(&["-q", "shell", "--", "cat"])
        .stdin("streamed\nthrough\n")
        .run();
    out.assert_success();
    assert_eq!(out.stdout, "streamed\nthrough\n", "{out}");

    // No TTY and no command: the login shell reads its commands from stdin, with the image's
    // PATH back after /etc/profile, the user's own ~/.local/bin (pip's user installs) first.
    let out = p
        .ptenv(&["-q", "shell"])
        .stdin("echo \"path=$PATH\"; pwd; exit 5\n")
        .run();
    out.assert_exit(5);
    assert!(
        out.stdout
            .contains("path=/home/dev/.local/bin:/opt/conda/bin:"),
        "the image's PATH is lost:\n{out}"
    );
    assert!(out.stdout.contains("\n/workspace\n"), "{out}");

    // A reader that goes away ends ptenv, as in any pipeline (it used to read forever).
    let pipeline = format!(
        "'{}' -q shell -- yes | head -n 2",
        env!("CARGO_BIN_EXE_ptenv")
    );
    let out = p
        .command("sh", &["-c", &pipeline])
        .timeout(Duration::from_secs(60))
        .run();
    out.assert_success();
    assert_eq!(out.stdout, "y\ny\n", "{out}");
}

#[test]
fn a_profile_s_own_command_still_gives_login_shells_the_image_s_environment() {
    // Debian's /etc/profile resets PATH; ptenv's entry script saves the container's
    // environment for login shells, also in front of a command the profile sets.
    let tb = Testbed::get();
    let p = fixture_project(
        "shell-own-command",
        &tb.small_repo,
        "profiles:\n  idle:\n    mode: shell\n    env: {FROM_PROFILE: 'it is here'}\n    command: [sleep, infinity]\n",
    );
    p.ptenv(&["up", "idle", "--detach"]).run().assert_success();
    let out = p
        .ptenv(&[
            "-q",
            "exec",
            "--",
            "bash",
            "-lc",
            "echo \"path=$PATH\"; echo \"from=$FROM_PROFILE\"; command -v python",
        ])
        .run();
    out.assert_success();
    assert!(
        out.stdout
            .contains("path=/home/dev/.local/bin:/opt/conda/bin:"),
        "{out}"
    );
    assert!(out.stdout.contains("from=it is here\n"), "{out}");
    assert!(out.stdout.ends_with("/opt/conda/bin/python\n"), "{out}");
    p.ptenv(&["down", "idle"]).run().assert_success();
}

#[test]
fn shell_under_a_real_terminal_follows_resizes_passes_keys_and_restores_the_terminal() {
    let tb = Testbed::get();
    let p = fixture_project("shell-tty", &tb.small_repo, "");
    p.ptenv(&["up", "shell", "--detach"]).run().assert_success();

    let env = p.shell_env();
    // After ptenv returns, print its exit code and whether the terminal is cooked again.
    let script = format!(
        "cd '{dir}' && env {env} '{bin}' -q shell; echo \"EXIT=$?\"; \
         stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | tr '\\n' ' '; \
         echo STTY-DONE; sleep 600",
        dir = p.path().display(),
        bin = env!("CARGO_BIN_EXE_ptenv"),
    );
    let tmux = Tmux::start("shell", 100, 30, &script);
    let t = Duration::from_secs(60);
    tmux.wait_for("/workspace$", t);

    tmux.keys(&["stty size; echo \"id=$(id -u) tty=$(tty)\"", "Enter"]);
    let screen = tmux.wait_for("tty=/dev/pts/", t);
    assert!(screen.lines().any(|l| l.trim_end() == "30 100"), "{screen}");
    assert!(
        screen.contains(&format!("id={}", container_uid())),
        "{screen}"
    );

    tmux.resize(120, 40);
    sleep(Duration::from_millis(500));
    tmux.keys(&["clear; stty size", "Enter"]);
    tmux.wait_for_line("40 120", t);

    // Ctrl-C reaches the container's foreground process, not ptenv.
    tmux.keys(&["clear; sleep 300", "Enter"]);
    sleep(Duration::from_millis(800));
    tmux.keys(&["C-c"]);
    tmux.keys(&["echo after-ctrl-c", "Enter"]);
    tmux.wait_for_line("after-ctrl-c", t);

    // Ctrl-D ends `cat`'s input in the container.
    tmux.keys(&["clear; cat; echo cat-ended", "Enter"]);
    sleep(Duration::from_millis(800));
    tmux.keys(&["C-d"]);
    tmux.wait_for_line("cat-ended", t);

    tmux.keys(&["exit 42", "Enter"]);
    let screen = tmux.wait_for("STTY-DONE", t);
    assert!(screen.contains("EXIT=42"), "{screen}");
    assert!(
        screen.contains("icanon echo STTY-DONE"),
        "the terminal was not restored (want `icanon echo`):\n{screen}"
    );
}
