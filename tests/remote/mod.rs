//! ptenv on a laptop with the GPUs on another machine, against the test bed's second host
//! (tests/testbed/remote.sh): a real sshd on loopback for the server user `ptenv-remote`, and
//! the laptop user `ptenv-laptop` that reaches it with the real OpenSSH client.

use crate::support::{Project, Testbed};

/// The test bed's second host is what the remote tests rely on: the laptop user reaches the
/// server's engine user with its pinned host key, gets the server's fake GPU through the
/// session's environment, cannot use this machine's engine itself, and the server user cannot
/// read the laptop's project folder.
#[test]
fn remote_test_host_is_a_separate_machine() {
    let tb = Testbed::get();
    let host = tb.remote_host();
    let project = Project::new("remote-testbed");
    let secret = project.write("notes.txt", "laptop only\n");

    let session = project
        .as_laptop("ssh", &["-o", "BatchMode=yes", host, "id -nG; env"])
        .run();
    session.assert_success();
    assert!(
        session
            .stdout
            .lines()
            .next()
            .unwrap_or("")
            .split(' ')
            .any(|g| g == "docker"),
        "the server user is in the docker group:\n{session}"
    );
    assert!(
        session.stdout.contains("PTENV_NVML_LIB=")
            && session.stdout.contains("PTENV_FAKE_NVML_SCENARIO="),
        "the server's sessions get the fake NVML:\n{session}"
    );

    let local = project.as_laptop("docker", &["version"]).run();
    local.assert_failure();
    assert!(local.stderr.contains("permission denied"), "{local}");

    let read = project
        .as_laptop(
            "ssh",
            &[
                "-o",
                "BatchMode=yes",
                host,
                &format!("cat '{}'", secret.display()),
            ],
        )
        .run();
    read.assert_failure();
    assert!(read.stderr.contains("Permission denied"), "{read}");

    let unknown = project
        .as_laptop(
            "ssh",
            &["-o", "BatchMode=yes", "gpu-server-unknown", "true"],
        )
        .run();
    unknown.assert_failure();
    assert!(
        unknown.stderr.contains("Host key verification failed"),
        "{unknown}"
    );
}
