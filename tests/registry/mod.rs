//! What a pull downloads, asked of real registries that need more than the test bed's open one:
//! Debian's docker-registry with token authentication (the flow of Docker Hub, GHCR, NGC), and
//! with TLS under a private CA plus htpasswd logins (a company registry). The token service is
//! the test's own (the registry verifies its signed tokens for real); everything else is the
//! real registry, the real engine and `ptenv up`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;

use crate::lifecycle::shell_project;
use crate::support::{docker, docker_ok, free_port, Outcome, OwnRegistry, Project, Testbed};

const USER: &str = "ptenv";
const PASSWORD: &str = "s3cret-registry";
const TAG: &str = "2.6.0-cuda12.4-cudnn9-runtime";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn b64url(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn run(program: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}\nhint: ./tests/testbed/setup.sh installs it"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An address of this machine that is not loopback: the engine counts loopback registries as
/// insecure (plain HTTP allowed), any other as secure.
pub fn outside_address() -> String {
    let out = run("hostname", &["-I"], Path::new("/"));
    out.split_whitespace()
        .find(|a| !a.contains(':') && !a.starts_with("127."))
        .unwrap_or_else(|| panic!("this machine has no IPv4 address besides loopback: {out:?}"))
        .to_string()
}

/// A token service in the manner of Docker Hub's: `GET /token?service=…&scope=…` with the
/// user's basic credentials answers a JWT (ES256, its certificate in `x5c`) that grants the
/// asked scopes. Counts the requests of ptenv (by User-Agent) that carried the right login.
struct TokenService {
    addr: String,
    ptenv_logins: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl TokenService {
    /// Listens on `ip` (an ephemeral port), with its key and certificate in `dir`.
    fn start(dir: &Path, ip: &str) -> TokenService {
        // An ECDSA key and its self-signed certificate; the registry trusts the certificate.
        run(
            "openssl",
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "token.key",
            ],
            dir,
        );
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "token.key",
                "-subj",
                "/CN=ptenv-test-token",
                "-days",
                "2",
                "-out",
                "token.pem",
            ],
            dir,
        );
        run(
            "openssl",
            &[
                "pkcs8",
                "-topk8",
                "-nocrypt",
                "-in",
                "token.key",
                "-outform",
                "DER",
                "-out",
                "token.p8",
            ],
            dir,
        );
        run(
            "openssl",
            &[
                "x509",
                "-in",
                "token.pem",
                "-outform",
                "DER",
                "-out",
                "token.der",
            ],
            dir,
        );
        let pkcs8 = std::fs::read(dir.join("token.p8")).unwrap();
        let cert = std::fs::read(dir.join("token.der")).unwrap();
        let rng = ring::rand::SystemRandom::new();
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
            &rng,
        )
        .expect("an ECDSA P-256 key");
        let listener = TcpListener::bind(format!("{ip}:0")).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let ptenv_logins = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (logins, stopped) = (ptenv_logins.clone(), stop.clone());
        let header = b64url(
            serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [b64(&cert)]}).to_string(),
        );
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let _ = answer(stream, &header, &key, &rng, &logins);
            }
        });
        TokenService {
            addr,
            ptenv_logins,
            stop,
        }
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn answer(
    stream: TcpStream,
    header: &str,
    key: &ring::signature::EcdsaKeyPair,
    rng: &ring::rand::SystemRandom,
    ptenv_logins: &AtomicUsize,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let (mut authorization, mut agent, mut length) = (String::new(), String::new(), 0usize);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            match k.to_ascii_lowercase().as_str() {
                "authorization" => authorization = v.trim().to_string(),
                "user-agent" => agent = v.trim().to_string(),
                "content-length" => length = v.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let target = request_line.split_whitespace().nth(1).unwrap_or("");
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let decode = |v: &str| {
        let v = v.replace('+', " ");
        let mut out = Vec::new();
        let mut bytes = v.bytes();
        while let Some(b) = bytes.next() {
            if b == b'%' {
                let hex: String = bytes.by_ref().take(2).map(char::from).collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap_or(b'?'));
            } else {
                out.push(b);
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    let params: Vec<(String, String)> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    let expected = format!("Basic {}", b64(format!("{USER}:{PASSWORD}")));
    let mut out = stream;
    if authorization != expected {
        let body = r#"{"details":"wrong user or password"}"#;
        return write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
    if agent.starts_with("ptenv/") {
        ptenv_logins.fetch_add(1, Ordering::SeqCst);
    }
    // `repository:ptenv-test/tok/pytorch:pull,push` → an access entry.
    let access: Vec<serde_json::Value> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .filter_map(|(_, scope)| {
            let (kind, rest) = scope.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let service = params
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = b64url(
        serde_json::json!({
            "iss": "ptenv-test", "sub": USER, "aud": service, "exp": now + 600,
            "nbf": now - 60, "iat": now, "jti": format!("{now}-{}", std::process::id()),
            "access": access,
        })
        .to_string(),
    );
    let input = format!("{header}.{claims}");
    let signature = key.sign(rng, input.as_bytes()).expect("sign");
    let token = format!("{input}.{}", b64url(signature.as_ref()));
    let body =
        serde_json::json!({"token": token, "access_token": token, "expires_in": 600}).to_string();
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// `~/.docker/config.json` of the test's user (and of the docker CLI that pushes), with a login
/// for `registry`.
fn docker_config(p: &Project, registry: &str, password: &str) -> PathBuf {
    let dir = p.home().join(".docker");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::json!({"auths": {registry: {"auth": b64(format!("{USER}:{password}"))}}})
            .to_string(),
    )
    .unwrap();
    dir
}

/// Build the small fixture plus a random layer as `image`, push it with the login in
/// `config_dir`, and remove it locally. Returns the new layer's size (compressed) and the number
/// of layers, as the registry has them.
fn push(p: &Project, image: &str, config_dir: &Path, megabytes: u32) -> (u64, usize) {
    // On top of the shell image ptenv derived from the small fixture: it has the tools and
    // the user already, so ptenv's own derived build of this image is quick.
    crate::lifecycle::warm();
    // Tagged as this test's own at once: other tests remove ptenv/* images when they finish,
    // and a base that vanished between the push and the pull would change what the pull
    // downloads. Looked up again if it went between the query and the tag.
    let from = format!(
        "ptenv-test/registry-base:{}",
        crate::support::unique_suffix()
    );
    let tagged = (0..3).any(|_| {
        let derived = docker_ok(&[
            "images",
            "-q",
            "--filter",
            &format!(
                "label=dev.ptenv.derived-from={}:{TAG}",
                Testbed::get().small_repo
            ),
            // Images built on it inherit the label: only ptenv's own.
            "--filter",
            "reference=ptenv/*",
        ]);
        let Some(id) = derived.split_whitespace().next() else {
            // Removed since `warm` made it: make one again.
            let w = shell_project("registry-warm", "");
            w.ptenv(&["up", "--detach"]).run().assert_success();
            return false;
        };
        docker(&["tag", id, from.as_str()]).status.success()
    });
    assert!(tagged, "no derived image of the small fixture to build on");
    p.track_image(&from);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {from}\nRUN head -c {megabytes}000000 /dev/urandom > /blob\n"),
    )
    .unwrap();
    // Removed by the project even when the test fails before the `rmi` below.
    p.track_image(image);
    docker_ok(&[
        "build",
        "-q",
        "--no-cache",
        "-t",
        image,
        dir.path().to_str().unwrap(),
    ]);
    let config = config_dir.to_str().unwrap();
    docker_ok(&["--config", config, "push", "-q", image]);
    let manifest: serde_json::Value = serde_json::from_str(&docker_ok(&[
        "--config",
        config,
        "manifest",
        "inspect",
        "--insecure",
        image,
    ]))
    .unwrap();
    docker_ok(&["rmi", image]);
    let layers = manifest["layers"].as_array().unwrap();
    (
        layers.last().unwrap()["size"].as_u64().unwrap(),
        layers.len(),
    )
}

/// `ptenv up` said, before the pull, that one layer of `bytes` out of `count` is to download.
fn assert_size_said(out: &Outcome, base: &str, bytes: u64, count: usize, registry: &OwnRegistry) {
    let said = format!(
        "Pulling {base} (not on this machine yet): {} to download in 1 of {count} layers for linux/amd64",
        ptenv::size::human(bytes)
    );
    assert!(
        out.stderr.contains(&said),
        "expected {said:?}\n{out}\n{}",
        registry.log_text()
    );
}

#[test]
fn a_token_registry_tells_the_size_to_ptenv_with_the_user_s_login() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenService::start(dir.path(), "127.0.0.1");
    let addr = format!("127.0.0.1:{}", free_port());
    let auth = format!(
        "auth:\n  token:\n    realm: http://{}/token\n    service: ptenv-test-registry\n    issuer: ptenv-test\n    rootcertbundle: {}\n",
        tokens.addr,
        dir.path().join("token.pem").display()
    );
    let registry = OwnRegistry::serve(
        dir.path(),
        "token",
        &addr,
        &dir.path().join("storage"),
        "",
        &auth,
    );
    let p = shell_project("registry-token", "");
    let config = docker_config(&p, &addr, PASSWORD);
    let repo = format!("{addr}/ptenv-test/tok/pytorch");
    let base = format!("{repo}:{TAG}");
    let (layer, count) = push(&p, &base, &config, 3);
    p.track_image(&base);
    p.write(
        "ptenv.yaml",
        &format!("default: shell\ngpus: none\nrepository: {repo}\n"),
    );

    // Without a login, ptenv cannot get a token (and neither can the engine).
    std::fs::rename(config.join("config.json"), config.join("saved.json")).unwrap();
    let out = p.ptenv(&["up", "--detach", "-v"]).run();
    out.assert_exit(1);
    assert!(
        out.stderr
            .contains("its download size is unknown: the registry's token service refused (401"),
        "{out}\n{}",
        registry.log_text()
    );
    assert!(out.stderr.contains(&format!("cannot pull {base}")), "{out}");
    assert!(p.containers().is_empty(), "{:?}", p.containers());
    assert_eq!(tokens.ptenv_logins.load(Ordering::SeqCst), 0);

    // With it: the size before the pull, from a token ptenv got with the user's login.
    std::fs::rename(config.join("saved.json"), config.join("config.json")).unwrap();
    let out = p.ptenv(&["up", "--detach"]).run();
    out.assert_success();
    assert_size_said(&out, &base, layer, count, &registry);
    assert!(tokens.ptenv_logins.load(Ordering::SeqCst) >= 1);

    // The same images behind a registry whose token service is plain http on this machine's
    // network address: ptenv sends no login there (the engine, with its own rules, still pulls).
    let open_dir = dir.path().join("open");
    std::fs::create_dir(&open_dir).unwrap();
    let open_tokens = TokenService::start(&open_dir, &outside_address());
    let open_addr = format!("127.0.0.1:{}", free_port());
    let open_auth = format!(
        "auth:\n  token:\n    realm: http://{}/token\n    service: ptenv-test-registry\n    issuer: ptenv-test\n    rootcertbundle: {}\n",
        open_tokens.addr,
        open_dir.join("token.pem").display()
    );
    let open_registry = OwnRegistry::serve(
        &open_dir,
        "token-open",
        &open_addr,
        &dir.path().join("storage"),
        "",
        &open_auth,
    );
    let open_base = format!("{open_addr}/ptenv-test/tok/pytorch:{TAG}");
    docker_config(&p, &open_addr, PASSWORD);
    p.track_image(&open_base);
    p.write(
        "ptenv.yaml",
        &format!("default: shell\ngpus: none\nrepository: {open_addr}/ptenv-test/tok/pytorch\n"),
    );
    let out = p.ptenv(&["up", "--detach", "-v"]).run();
    out.assert_success();
    assert!(
        out.stderr.contains(&format!(
            "its download size is unknown: the registry names a token service that is not https (http://{}/token)",
            open_tokens.addr
        )),
        "{out}\n{}",
        open_registry.log_text()
    );
    assert_eq!(open_tokens.ptenv_logins.load(Ordering::SeqCst), 0);

    p.ptenv(&["down"]).run().assert_success();
    for b in [&base, &open_base] {
        let derived = docker_ok(&[
            "images",
            "-q",
            "--filter",
            &format!("label=dev.ptenv.derived-from={b}"),
        ]);
        for id in derived.split_whitespace() {
            let _ = crate::support::docker(&["rmi", id]);
        }
    }
}

#[test]
fn a_company_registry_under_a_private_ca_is_trusted_through_the_user_s_ca_bundle_never_the_project_s(
) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let host = outside_address();
    // The company's CA, and the registry's certificate for this machine's address.
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-subj",
            "/CN=ptenv test company CA",
            "-days",
            "2",
            "-out",
            "ca.pem",
        ],
        d,
    );
    run(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-subj",
            "/CN=ptenv-test-registry",
            "-out",
            "server.csr",
        ],
        d,
    );
    std::fs::write(
        d.join("server.ext"),
        format!("subjectAltName=IP:{host}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    run(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
        d,
    );
    let htpasswd = run("htpasswd", &["-Bbn", USER, PASSWORD], d);
    std::fs::write(d.join("htpasswd"), htpasswd).unwrap();

    // Fill the storage through an open loopback registry (the engine does not trust the
    // company CA, so it cannot push to the TLS one), then serve it with TLS and logins.
    let storage = d.join("storage");
    let p = shell_project("registry-tls", "");
    let open_addr = format!("127.0.0.1:{}", free_port());
    let (layer, count) = {
        let _open = OwnRegistry::serve(d, "open", &open_addr, &storage, "", "");
        let config = docker_config(&p, &open_addr, PASSWORD);
        push(
            &p,
            &format!("{open_addr}/ptenv-test/tls/pytorch:{TAG}"),
            &config,
            2,
        )
    };
    let addr = format!("{host}:{}", free_port());
    let tls = format!(
        "  tls:\n    certificate: {}\n    key: {}\n",
        d.join("server.pem").display(),
        d.join("server.key").display()
    );
    let auth = format!(
        "auth:\n  htpasswd:\n    realm: ptenv-test\n    path: {}\n",
        d.join("htpasswd").display()
    );
    let registry = OwnRegistry::serve(d, "tls", &addr, &storage, &tls, &auth);
    docker_config(&p, &addr, PASSWORD);
    std::fs::copy(d.join("ca.pem"), p.path().join("company-ca.pem")).unwrap();
    let repo = format!("{addr}/ptenv-test/tls/pytorch");
    let base = format!("{repo}:{TAG}");
    let yaml = format!("default: shell\ngpus: none\nrepository: {repo}\n");

    // The CA in the user's own config: ptenv trusts the registry and logs in by basic auth; it
    // says the size, then the engine (which does not trust the CA) fails the pull with its own
    // reason.
    let user_config = p.config_dir().join("ptenv/config.yaml");
    std::fs::create_dir_all(user_config.parent().unwrap()).unwrap();
    let user_ca = format!("ca_bundle: {}\n", p.path().join("company-ca.pem").display());
    std::fs::write(&user_config, &user_ca).unwrap();
    p.write("ptenv.yaml", &yaml);
    let out = p
        .ptenv(&["up", "--detach"])
        .env_remove("SSL_CERT_FILE")
        .run();
    out.assert_exit(1);
    assert_size_said(&out, &base, layer, count, &registry);
    assert!(out.stderr.contains(&format!("cannot pull {base}")), "{out}");
    assert!(p.containers().is_empty(), "{:?}", p.containers());

    // Without the CA, the certificate is refused: no size, and -v says why. The same when the
    // CA comes from the project's file, even a trusted one: ptenv's requests carry the user's
    // credentials, and a project file may not vouch for where they go.
    std::fs::remove_file(&user_config).unwrap();
    for project_yaml in [yaml.clone(), format!("{yaml}ca_bundle: company-ca.pem\n")] {
        p.write("ptenv.yaml", &project_yaml);
        let out = p
            .ptenv(&["up", "--detach", "-v"])
            .env_remove("SSL_CERT_FILE")
            .run();
        out.assert_exit(1);
        assert!(
            out.stderr
                .contains(&format!("Pulling {base} (not on this machine yet)\n")),
            "{out}"
        );
        assert!(out.stderr.contains("its download size is unknown"), "{out}");
        assert!(out.stderr.to_lowercase().contains("certificate"), "{out}");
    }

    // With the CA and a wrong password: the registry refuses, and ptenv says so.
    std::fs::write(&user_config, &user_ca).unwrap();
    p.write("ptenv.yaml", &yaml);
    docker_config(&p, &addr, "not-the-password");
    let out = p
        .ptenv(&["up", "--detach", "-v"])
        .env_remove("SSL_CERT_FILE")
        .run();
    out.assert_exit(1);
    assert!(
        out.stderr
            .contains("its download size is unknown: the registry refused access (401)"),
        "{out}"
    );
}

#[test]
fn docker_hub_images_are_asked_of_the_engine_s_mirrors_first() {
    use ptenv::registry::{download, Platform, Reference, Settings};
    let tb = Testbed::get();
    // The test bed's registry as a Docker Hub mirror: it has `pytorch/pytorch:<tag>` (the torch
    // fixture), as a pull-through mirror of Docker Hub would.
    let mirror = format!("http://{}", tb.registry());
    let settings = Settings {
        mirrors: vec![mirror.clone()],
        timeout: Duration::from_secs(4),
        ..Default::default()
    };
    let platform = Platform {
        os: "linux".into(),
        arch: "amd64".into(),
        variant: None,
    };
    let d = download(
        &Reference::parse(&tb.torch_image),
        &platform,
        &settings,
        None,
    )
    .unwrap_or_else(|e| panic!("the mirror did not answer: {e}"));
    assert_eq!(d.source, mirror);
    let manifest: serde_json::Value = serde_json::from_str(&docker_ok(&[
        "manifest",
        "inspect",
        "--insecure",
        &format!("{}:{TAG}", tb.torch_repo),
    ]))
    .unwrap();
    let sizes: Vec<u64> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .collect();
    assert_eq!(d.layers.iter().map(|l| l.size).collect::<Vec<_>>(), sizes);
    assert!(!d.diff_ids.is_empty(), "the config's diff IDs were read");
    // A mirror without the image does not end the question: Docker Hub is asked next (it does
    // not answer here; where it does, it refuses an anonymous look at a repository it lacks).
    let e = download(
        &Reference::parse("ptenv-test-no-such/image:1"),
        &platform,
        &settings,
        None,
    )
    .unwrap_err();
    assert!(
        e.contains("registry-1.docker.io") || e.contains("refused"),
        "{e}"
    );
}
