use super::*;

fn none(_: &str) -> Result<Option<ContextEndpoint>> {
    Ok(None)
}

fn ssh(user: Option<&str>, host: &str, port: Option<u16>) -> Endpoint {
    Endpoint::Ssh(SshHost {
        user: user.map(str::to_owned),
        host: host.to_owned(),
        port,
        socket: None,
    })
}

fn inputs() -> Inputs<'static> {
    Inputs {
        cert_path: Path::new("/home/me/.docker"),
        ..Inputs::default()
    }
}

#[test]
fn nothing_set_is_the_local_socket() {
    let t = resolve(&inputs(), &none).unwrap();
    assert_eq!(t.source, Source::Default);
    assert_eq!(t.endpoint.to_string(), "unix:///var/run/docker.sock");
    assert!(!t.endpoint.is_remote());
}

#[test]
fn first_set_wins_in_dockers_order() {
    let lookup = |name: &str| -> Result<Option<ContextEndpoint>> {
        Ok(Some(ContextEndpoint {
            host: format!("ssh://{name}-box"),
            ..ContextEndpoint::default()
        }))
    };
    let mut i = Inputs {
        flag: Some("ssh://flag@a"),
        profile: Some("ssh://b"),
        docker_host: Some("tcp://c:1"),
        docker_context: Some("envctx"),
        current_context: Some("cfgctx"),
        ..inputs()
    };
    let t = resolve(&i, &lookup).unwrap();
    assert_eq!(
        (t.source, t.endpoint),
        (Source::Flag, ssh(Some("flag"), "a", None))
    );
    i.flag = None;
    assert_eq!(
        resolve(&i, &lookup).unwrap().source,
        Source::Profile(String::new())
    );
    assert_eq!(
        Source::Profile(String::new()).to_string(),
        "`host:` in the profile"
    );
    let file = Inputs {
        profile_file: Some(Path::new("/home/me/.config/ptenv/config.yaml")),
        ..i.clone()
    };
    let chosen = resolve(&file, &lookup).unwrap().source;
    assert_eq!(
        chosen.to_string(),
        "`host:` in /home/me/.config/ptenv/config.yaml"
    );
    i.profile = Some("  ");
    let t = resolve(&i, &lookup).unwrap();
    assert_eq!(
        t.source,
        Source::DockerHost,
        "a blank value counts as unset"
    );
    // DOCKER_HOST beats DOCKER_CONTEXT (docker: a set DOCKER_HOST selects the default context).
    i.docker_host = Some("");
    let t = resolve(&i, &lookup).unwrap();
    assert_eq!(t.source, Source::DockerContext("envctx".into()));
    assert_eq!(t.endpoint, ssh(None, "envctx-box", None));
    i.docker_context = None;
    let t = resolve(&i, &lookup).unwrap();
    assert_eq!(t.source, Source::CurrentContext("cfgctx".into()));
    assert_eq!(t.endpoint.to_string(), "ssh://cfgctx-box");
}

#[test]
fn a_flag_without_scheme_names_a_context() {
    let lookup = |name: &str| -> Result<Option<ContextEndpoint>> {
        Ok((name == "lab").then(|| ContextEndpoint {
            host: "ssh://me@lab.example:2200".into(),
            ..ContextEndpoint::default()
        }))
    };
    let i = Inputs {
        flag: Some("lab"),
        ..inputs()
    };
    let t = resolve(&i, &lookup).unwrap();
    assert_eq!(t.endpoint, ssh(Some("me"), "lab.example", Some(2200)));
    let missing = Inputs {
        flag: Some("nolab"),
        ..inputs()
    };
    let e = resolve(&missing, &lookup).unwrap_err();
    assert!(e.message.contains("no docker context named `nolab`"), "{e}");
    assert!(e.hints[0].contains("docker context ls"), "{e}");
}

#[test]
fn the_default_context_is_docker_host_or_the_socket() {
    let i = Inputs {
        docker_context: Some("default"),
        ..inputs()
    };
    let t = resolve(&i, &none).unwrap();
    assert_eq!(t.endpoint.to_string(), "unix:///var/run/docker.sock");
    let i = Inputs {
        flag: Some("default"),
        docker_host: Some("ssh://me@box"),
        ..inputs()
    };
    assert_eq!(
        resolve(&i, &none).unwrap().endpoint,
        ssh(Some("me"), "box", None)
    );
}

#[test]
fn context_tls_and_skip_verify() {
    let files = TlsFiles::under(Path::new("/c/tls/abc/docker"));
    let with_tls = |_: &str| -> Result<Option<ContextEndpoint>> {
        Ok(Some(ContextEndpoint {
            host: "tcp://10.0.0.5:2376".into(),
            skip_tls_verify: false,
            tls: Some(TlsFiles::under(Path::new("/c/tls/abc/docker"))),
        }))
    };
    let i = Inputs {
        docker_context: Some("secure"),
        ..inputs()
    };
    let t = resolve(&i, &with_tls).unwrap();
    assert_eq!(
        t.endpoint,
        Endpoint::Tcp {
            host: "10.0.0.5".into(),
            port: 2376,
            tls: Some(files)
        }
    );
    assert!(t.endpoint.is_remote());
    let skip = |_: &str| -> Result<Option<ContextEndpoint>> {
        Ok(Some(ContextEndpoint {
            host: "tcp://10.0.0.5:2376".into(),
            skip_tls_verify: true,
            tls: None,
        }))
    };
    let e = resolve(&i, &skip).unwrap_err();
    assert!(e.message.contains("skips TLS verification"), "{e}");
    // A context with an empty Host is the local socket.
    let empty =
        |_: &str| -> Result<Option<ContextEndpoint>> { Ok(Some(ContextEndpoint::default())) };
    assert_eq!(
        resolve(&i, &empty).unwrap().endpoint.to_string(),
        "unix:///var/run/docker.sock"
    );
}

#[test]
fn tcp_follows_docker_tls_verify_and_default_ports() {
    let cert = Path::new("/certs");
    assert_eq!(
        parse_host("tcp://box", false, cert).unwrap(),
        Endpoint::Tcp {
            host: "box".into(),
            port: 2375,
            tls: None
        }
    );
    assert_eq!(
        parse_host("tcp://box", true, cert).unwrap(),
        Endpoint::Tcp {
            host: "box".into(),
            port: 2376,
            tls: Some(TlsFiles::under(cert))
        }
    );
    assert_eq!(
        parse_host("tcp://[::1]:2999", false, cert)
            .unwrap()
            .to_string(),
        "tcp://[::1]:2999"
    );
    assert!(!parse_host("tcp://127.0.0.1:2375", false, cert)
        .unwrap()
        .is_remote());
}

#[test]
fn ssh_addresses() {
    let cert = Path::new("/certs");
    assert_eq!(
        parse_host("ssh://gpu", false, cert).unwrap(),
        ssh(None, "gpu", None)
    );
    assert_eq!(
        parse_host("ssh://me@10.1.2.3:2222/", false, cert).unwrap(),
        ssh(Some("me"), "10.1.2.3", Some(2222))
    );
    assert_eq!(
        parse_host("ssh://me@[fe80::1]:22", false, cert)
            .unwrap()
            .to_string(),
        "ssh://me@[fe80::1]:22"
    );
    let Endpoint::Ssh(with_socket) =
        parse_host("ssh://box/run/user/1000/docker.sock", false, cert).unwrap()
    else {
        panic!("an ssh endpoint")
    };
    assert_eq!(
        with_socket.socket.as_deref(),
        Some("/run/user/1000/docker.sock")
    );
    assert_eq!(
        with_socket.to_string(),
        "ssh://box/run/user/1000/docker.sock"
    );
    for (bad, why) in [
        ("ssh://", "host is missing"),
        ("ssh://me:pw@box", "password"),
        ("ssh://box?x=1", "no query"),
        ("ssh://-oProxyCommand=x", "host is missing"),
        ("ssh://-l@box", "starts with `-`"),
        ("ssh://box:0", "not a port"),
        ("ssh://box:22x", "not a port"),
        ("unix://relative.sock", "absolute path"),
        ("npipe:////./pipe/docker", "not one ptenv speaks"),
        ("box:22", "no scheme"),
    ] {
        let e = parse_host(bad, false, cert).unwrap_err();
        assert!(e.message.contains(why), "{bad}: {e}");
        assert!(e.hints[0].contains("ssh://[USER@]HOST"), "{bad}: {e}");
    }
}

#[test]
fn errors_say_where_the_value_came_from() {
    let i = Inputs {
        docker_host: Some("ssh://"),
        ..inputs()
    };
    let e = resolve(&i, &none).unwrap_err();
    assert!(e.message.starts_with("DOCKER_HOST: "), "{e}");
    let i = Inputs {
        flag: Some("tcp://"),
        ..inputs()
    };
    assert!(resolve(&i, &none)
        .unwrap_err()
        .message
        .starts_with("--host: "));
}

#[test]
fn the_kept_connection_is_named_by_its_whole_destination() {
    let host = |user: Option<&str>, port, socket: Option<&str>| SshHost {
        user: user.map(str::to_owned),
        host: "gpu".into(),
        port,
        socket: socket.map(str::to_owned),
    };
    let key = host(Some("me"), Some(22), None).connection_key();
    assert_eq!(key.len(), 12);
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
    assert_eq!(key, host(Some("me"), Some(22), None).connection_key());
    for other in [
        host(None, Some(22), None),
        host(Some("you"), Some(22), None),
        host(Some("me"), Some(2222), None),
        host(Some("me"), Some(22), Some("/run/user/1000/docker.sock")),
    ] {
        assert_ne!(key, other.connection_key(), "{other}");
    }
}

#[test]
fn the_connection_is_kept_ten_minutes_unless_set() {
    assert_eq!(
        KeepConnection::from_env(None).unwrap(),
        KeepConnection::Idle { seconds: 600 }
    );
    assert_eq!(
        KeepConnection::from_env(Some(" ")).unwrap(),
        KeepConnection::DEFAULT
    );
    for off in ["0", "no", "off"] {
        assert_eq!(
            KeepConnection::from_env(Some(off)).unwrap(),
            KeepConnection::PerCommand
        );
    }
    assert_eq!(
        KeepConnection::from_env(Some("90s")).unwrap(),
        KeepConnection::Idle { seconds: 90 }
    );
    assert_eq!(
        KeepConnection::from_env(Some("1h")).unwrap(),
        KeepConnection::Idle { seconds: 3600 }
    );
    let bad = KeepConnection::from_env(Some("60")).unwrap_err();
    assert!(
        bad.message
            .starts_with("PTENV_SSH_PERSIST: `60` is not a duration"),
        "{bad}"
    );
    assert!(bad.hints[0].contains("PTENV_SSH_PERSIST=0"), "{bad}");
}
