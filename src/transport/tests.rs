use super::failure::SshFailure;
use super::*;

fn host() -> SshHost {
    SshHost {
        user: Some("me".into()),
        host: "gpu".into(),
        port: Some(2222),
        socket: None,
    }
}

#[test]
fn destination_is_dockers_argument_order() {
    assert_eq!(
        destination(&host()),
        ["-l", "me", "-p", "2222", "--", "gpu"]
    );
    let bare = SshHost {
        user: None,
        host: "lab".into(),
        port: None,
        socket: None,
    };
    assert_eq!(destination(&bare), ["--", "lab"]);
    assert!(common_options().contains(&"BatchMode=yes"));
    assert!(!common_options()
        .iter()
        .any(|o| o.contains("StrictHostKeyChecking")));
}

#[test]
fn ssh_failures_are_classified_by_ssh_words() {
    let kind = |stderr: &str| SshFailure::classify(stderr, Some(255));
    assert_eq!(
        kind("@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.\n"),
        SshFailure::HostKeyChanged
    );
    assert_eq!(
        kind("Host key verification failed.\n"),
        SshFailure::HostKeyUnknown
    );
    assert_eq!(
        kind("me@h: Permission denied (publickey).\n"),
        SshFailure::LoginRefused
    );
    assert_eq!(
        kind("ssh: Could not resolve hostname nowhere: Name or service not known\n"),
        SshFailure::UnknownHost
    );
    assert_eq!(
        kind("ssh: connect to host h port 22: Connection timed out\n"),
        SshFailure::Unreachable
    );
    assert_eq!(
        SshFailure::classify("something new\n", None),
        SshFailure::Other { code: None }
    );
}

#[test]
fn ssh_failures_say_what_to_do() {
    let unknown = ssh_failure(&host(), "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\nHost key verification failed.\n", Some(255));
    assert!(unknown.message.contains("not known yet"), "{unknown}");
    assert!(
        unknown.hints[0].contains("`ssh -p 2222 me@gpu`"),
        "{unknown}"
    );
    let changed = ssh_failure(&host(), "@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.\n", Some(255));
    assert!(
        changed
            .message
            .contains("not the one your known_hosts pins"),
        "{changed}"
    );
    assert!(changed.hints[0].contains("ssh-keygen -R gpu"), "{changed}");
    let denied = ssh_failure(
        &host(),
        "me@127.0.0.1: Permission denied (publickey).\n",
        Some(255),
    );
    assert!(denied.message.contains("refused the login"), "{denied}");
    let refused = ssh_failure(
        &host(),
        "ssh: connect to host 127.0.0.1 port 2222: Connection refused\n",
        Some(255),
    );
    assert!(
        refused
            .message
            .starts_with("cannot reach ssh://me@gpu:2222"),
        "{refused}"
    );
    let dns = ssh_failure(
        &host(),
        "ssh: Could not resolve hostname gpu: Name or service not known\n",
        Some(255),
    );
    assert!(dns.message.contains("cannot find the host"), "{dns}");
    let other = ssh_failure(&host(), "something new\n", Some(1));
    assert!(other.message.contains("code 1: something new"), "{other}");
}

#[test]
fn socket_verdicts() {
    assert!(socket_verdict(&host(), "/var/run/docker.sock", "ok", "me", "").is_ok());
    let missing = socket_verdict(&host(), "/var/run/docker.sock", "missing", "me", "").unwrap_err();
    assert!(
        missing
            .message
            .contains("Docker is not installed or not running"),
        "{missing}"
    );
    let denied = socket_verdict(&host(), "/var/run/docker.sock", "denied", "me", "").unwrap_err();
    assert!(
        denied
            .message
            .contains("the user me on ssh://me@gpu:2222 may not use"),
        "{denied}"
    );
    assert!(
        denied.hints[0].contains("usermod -aG docker me"),
        "{denied}"
    );
    let broken = socket_verdict(&host(), "/s", "", "me", "sh: not found").unwrap_err();
    assert!(broken.message.contains("sh: not found"), "{broken}");
}
