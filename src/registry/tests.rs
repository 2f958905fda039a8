use super::*;

#[test]
fn docker_hub_asks_its_mirrors_first_and_insecure_registries_fall_back_to_http() {
    let settings = Settings {
        mirrors: vec!["https://mirror.example.com/".into()],
        ..Default::default()
    };
    let hub = endpoints(&Reference::parse("pytorch/pytorch:2.6.0"), &settings);
    let bases: Vec<_> = hub
        .iter()
        .map(|e| (e.base.as_str(), e.verify, e.mirror))
        .collect();
    assert_eq!(
        bases,
        vec![
            ("https://mirror.example.com", true, true),
            ("https://registry-1.docker.io", true, false)
        ]
    );
    // Mirrors are for Docker Hub only.
    let other = endpoints(
        &Reference::parse("nvcr.io/nvidia/pytorch:24.01-py3"),
        &settings,
    );
    assert_eq!(
        other,
        vec![Endpoint {
            base: "https://nvcr.io".into(),
            verify: true,
            mirror: false
        }]
    );
    let insecure = Settings {
        insecure: true,
        ..Default::default()
    };
    let local = endpoints(&Reference::parse("127.0.0.1:5000/x:1"), &insecure);
    assert_eq!(
        local,
        vec![
            Endpoint {
                base: "https://127.0.0.1:5000".into(),
                verify: false,
                mirror: false
            },
            Endpoint {
                base: "http://127.0.0.1:5000".into(),
                verify: false,
                mirror: false
            },
        ]
    );
}

/// The heads (request line and headers, lower-cased) a test server received.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A one-request-at-a-time HTTP server on loopback: `answer` gets each request's head and
/// returns the whole response. Returns its port and the heads it received.
fn serve(answer: impl Fn(&str) -> String + Send + 'static) -> (u16, Seen) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Seen::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                head.push_str(&line.to_ascii_lowercase());
            }
            let response = answer(&head);
            log.lock().unwrap().push(head);
            let _ = (&stream).write_all(response.as_bytes());
        }
    });
    (port, seen)
}

/// An answer with no body.
fn empty(status: &str, headers: &str) -> String {
    format!("HTTP/1.1 {status}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n")
}

fn ana() -> Credentials {
    Credentials {
        username: Some("ana".into()),
        password: Some("s3cret".into()),
        ..Default::default()
    }
}

/// One request of a session to `base` for `reference`, with Ana's login.
fn get_once(base: String, mirror: bool, reference: &str) -> Result<(String, String), Failure> {
    let endpoint = Endpoint {
        base,
        verify: false,
        mirror,
    };
    let reference = Reference::parse(reference);
    let login = ana();
    let deadline = Instant::now() + Duration::from_secs(10);
    Session::new(
        &endpoint,
        &reference,
        &Settings::default(),
        Some(&login),
        deadline,
    )
    .get(&format!("manifests/{}", reference.reference), "*/*")
}

#[test]
fn a_redirect_to_another_host_carries_no_login() {
    let (storage, seen) = serve(|_| empty("404 Not Found", ""));
    let (registry, _) = serve(move |head| {
        if head.contains("authorization: basic") {
            empty(
                "302 Found",
                &format!("Location: http://localhost:{storage}/blob\r\n"),
            )
        } else {
            empty(
                "401 Unauthorized",
                "WWW-Authenticate: Basic realm=\"r\"\r\n",
            )
        }
    });
    let settings = Settings {
        insecure: true,
        timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let reference = Reference::parse(&format!("127.0.0.1:{registry}/x/y:1"));
    let platform = Platform {
        os: "linux".into(),
        arch: "amd64".into(),
        variant: None,
    };
    let err = download(&reference, &platform, &settings, Some(&ana())).unwrap_err();
    assert!(err.contains("has no x/y:1"), "{err}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "the redirect was followed once: {seen:?}");
    assert!(seen[0].starts_with("get /blob "), "{seen:?}");
    assert!(!seen[0].contains("authorization"), "{seen:?}");
}

#[test]
fn a_mirror_never_gets_the_registry_s_login() {
    let (mirror, seen) = serve(|_| {
        empty(
            "401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"r\"\r\n",
        )
    });
    match get_once(
        format!("http://127.0.0.1:{mirror}"),
        true,
        "pytorch/pytorch:2.6.0",
    ) {
        Err(Failure::Answer(e)) => assert!(e.contains("wants a login"), "{e}"),
        _ => panic!("the mirror's challenge is not answered"),
    }
    let seen = seen.lock().unwrap();
    assert!(
        !seen.is_empty() && seen.iter().all(|h| !h.contains("authorization")),
        "{seen:?}"
    );
}

#[test]
fn a_token_service_on_another_host_gets_no_login() {
    let (tokens, seen) = serve(|_| empty("401 Unauthorized", ""));
    // `localhost` is another host than `127.0.0.1` as far as names go.
    let (registry, _) = serve(move |_| {
        empty(
                "401 Unauthorized",
                &format!("WWW-Authenticate: Bearer realm=\"http://localhost:{tokens}/token\",service=\"s\"\r\n"),
            )
    });
    let reference = format!("127.0.0.1:{registry}/x/y:1");
    match get_once(format!("http://127.0.0.1:{registry}"), false, &reference) {
        Err(Failure::Answer(e)) => assert!(
            e.contains("ptenv did not send your login to localhost, which is not 127.0.0.1"),
            "{e}"
        ),
        _ => panic!("the token service refused"),
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(!seen[0].contains("authorization"), "{seen:?}");
}

#[test]
fn basic_credentials_are_user_colon_password() {
    assert_eq!(basic(&ana()).as_deref(), Some("YW5hOnMzY3JldA=="));
    assert_eq!(basic(&Credentials::default()), None);
}

#[test]
fn sizes_from_a_layer_on() {
    let blob = |d: &str, size| Blob {
        digest: d.into(),
        size,
        media_type: String::new(),
    };
    let d = Download {
        layers: vec![
            blob("sha256:a", 10),
            blob("sha256:b", 20),
            blob("sha256:c", 30),
        ],
        config: blob("sha256:cfg", 1),
        diff_ids: vec![],
        source: String::new(),
    };
    assert_eq!(d.bytes_from(0), 60);
    assert_eq!(d.bytes_from(2), 30);
    assert_eq!(d.bytes_from(3), 0);
    assert_eq!(d.bytes_from(9), 0);
}
