use super::*;
use std::os::unix::fs::MetadataExt;

const LINE: &str = "Include /d/ssh/*.conf";

fn config(tmp: &Path) -> SshConfig {
    SshConfig {
        user_config: tmp.join("home/.ssh/config"),
        dir: tmp.join("data/ptenv/ssh"),
    }
}

fn entry(alias: &str, tmp: &Path) -> HostEntry {
    HostEntry {
        alias: alias.into(),
        address: "127.0.0.1:2222".parse().unwrap(),
        user: "dev".into(),
        identity_file: tmp.join("keys/client_ed25519"),
        known_hosts: tmp.join("keys/known_hosts"),
        project: "/home/ana/demo".into(),
        proxy: None,
    }
}

#[test]
fn the_include_goes_on_top_and_the_rest_stays_byte_for_byte() {
    let text = b"Host *\n    ServerAliveInterval 30\n\nHost gpu\n  HostName gpu.lan";
    let out = with_include(text, LINE).unwrap();
    assert_eq!(
            out,
            b"Include /d/ssh/*.conf\nHost *\n    ServerAliveInterval 30\n\nHost gpu\n  HostName gpu.lan"
        );
    assert_eq!(with_include(&out, LINE), None, "idempotent");
    assert_eq!(without_include(&out, LINE).unwrap(), text);
    assert_eq!(without_include(text, LINE), None);
    assert_eq!(with_include(b"", LINE).unwrap(), b"Include /d/ssh/*.conf\n");
}

#[test]
fn crlf_files_get_a_crlf_line() {
    let text = b"Host a\r\n  Port 22\r\n";
    let out = with_include(text, LINE).unwrap();
    assert_eq!(out, b"Include /d/ssh/*.conf\r\nHost a\r\n  Port 22\r\n");
    assert_eq!(with_include(&out, LINE), None);
    assert_eq!(without_include(&out, LINE).unwrap(), text);
}

#[test]
fn the_host_entry_pins_the_key_and_quotes_odd_paths() {
    let e = HostEntry {
        alias: "ptenv-demo-1a2b3c4d".into(),
        address: "127.0.0.1:2223".parse().unwrap(),
        user: "dev".into(),
        identity_file: "/home/ana b/100%/id".into(),
        known_hosts: "/k/known_hosts".into(),
        project: "/home/ana/demo\n".into(),
        proxy: None,
    };
    let text = render_host(&e);
    assert!(
        text.starts_with("# Written by ptenv for /home/ana/demo?;"),
        "{text}"
    );
    assert!(
        text.contains(
            "\nHost ptenv-demo-1a2b3c4d\n    HostName 127.0.0.1\n    Port 2223\n    User dev\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("    IdentityFile \"/home/ana b/100%%/id\"\n"),
        "{text}"
    );
    assert!(text.contains("    IdentitiesOnly yes\n"), "{text}");
    assert!(
        text.contains("    UserKnownHostsFile /k/known_hosts\n"),
        "{text}"
    );
    assert!(text.contains("    StrictHostKeyChecking yes\n"), "{text}");
    assert!(!text.contains("StrictHostKeyChecking no"));
    let v6 = render_host(&HostEntry {
        address: "[::1]:2224".parse().unwrap(),
        ..e.clone()
    });
    assert!(v6.contains("\n    HostName ::1\n    Port 2224\n"), "{v6}");
    for line in ["ForwardAgent no", "ForwardX11 no", "ProxyJump none"] {
        assert!(text.contains(&format!("\n    {line}\n")), "{text}");
    }
}

#[test]
fn on_a_server_the_entry_goes_through_ssh_to_it() {
    let server = crate::target::SshHost {
        user: Some("me".into()),
        host: "gpu%box".into(),
        port: Some(2222),
        socket: None,
    };
    let proxy = proxy_command(&server);
    assert_eq!(
        proxy,
        "ssh -o BatchMode=yes -l me -p 2222 -W %h:%p -- gpu%%box"
    );
    let text = render_host(&HostEntry {
        proxy: Some(proxy),
        ..entry("ptenv-a", Path::new("/t"))
    });
    assert!(
        text.contains(
            "\n    ProxyCommand ssh -o BatchMode=yes -l me -p 2222 -W %h:%p -- gpu%%box\n"
        ),
        "{text}"
    );
    assert!(!text.contains("ProxyJump"), "{text}");
    assert!(text.contains("    StrictHostKeyChecking yes\n"), "{text}");
}

#[test]
fn add_creates_the_file_0600_then_is_idempotent_and_forget_restores_it() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(tmp.path());
    c.write_host(&entry("ptenv-a", tmp.path())).unwrap();
    assert!(c.add_include().unwrap());
    let ssh_dir = c.user_config.parent().unwrap();
    assert_eq!(fs::metadata(ssh_dir).unwrap().mode() & 0o777, 0o700);
    assert_eq!(fs::metadata(&c.user_config).unwrap().mode() & 0o777, 0o600);
    assert_eq!(
        fs::read_to_string(&c.user_config).unwrap(),
        format!("{}\n", c.include_line())
    );
    assert!(!c.add_include().unwrap());
    let host = c.host_file("ptenv-a");
    assert_eq!(fs::metadata(&host).unwrap().mode() & 0o777, 0o600);
    let f = c.forget("ptenv-a").unwrap();
    assert_eq!(f.host_file, Some(host.clone()));
    assert!(f.include_removed);
    assert!(!host.exists());
    assert_eq!(fs::read_to_string(&c.user_config).unwrap(), "");
}

#[test]
fn an_existing_config_keeps_its_bytes_and_mode_and_the_include_stays_while_hosts_remain() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(tmp.path());
    fs::create_dir_all(c.user_config.parent().unwrap()).unwrap();
    let original = b"# mine\r\nHost x\n\tUser me\n\xff\xfe not utf-8";
    fs::write(&c.user_config, original).unwrap();
    fs::set_permissions(&c.user_config, fs::Permissions::from_mode(0o640)).unwrap();
    c.write_host(&entry("ptenv-a", tmp.path())).unwrap();
    c.write_host(&entry("ptenv-b", tmp.path())).unwrap();
    assert!(c.add_include().unwrap());
    let now = fs::read(&c.user_config).unwrap();
    assert!(now.ends_with(original));
    assert_eq!(fs::metadata(&c.user_config).unwrap().mode() & 0o777, 0o640);
    let f = c.forget("ptenv-a").unwrap();
    assert!(!f.include_removed, "ptenv-b still needs it");
    assert_eq!(fs::read(&c.user_config).unwrap(), now);
    assert!(c.forget("ptenv-b").unwrap().include_removed);
    assert_eq!(fs::read(&c.user_config).unwrap(), original);
    let again = c.forget("ptenv-b").unwrap();
    assert_eq!(
        again,
        Forgotten {
            host_file: None,
            include_removed: false
        }
    );
}

#[test]
fn root_rewriting_a_user_s_config_keeps_it_theirs() {
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let c = config(tmp.path());
    fs::create_dir_all(c.user_config.parent().unwrap()).unwrap();
    fs::write(&c.user_config, "Host x\n").unwrap();
    fs::set_permissions(&c.user_config, fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::chown(&c.user_config, Some(1234), Some(1300)).unwrap();
    c.write_host(&entry("ptenv-a", tmp.path())).unwrap();
    assert!(c.add_include().unwrap());
    let meta = fs::metadata(&c.user_config).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1234, 1300));
    assert_eq!(meta.mode() & 0o777, 0o644);
    assert!(c.forget("ptenv-a").unwrap().include_removed);
    let meta = fs::metadata(&c.user_config).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1234, 1300));
    assert_eq!(fs::read_to_string(&c.user_config).unwrap(), "Host x\n");
}

#[test]
fn adding_and_forgetting_at_the_same_time_keep_the_file_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let c = std::sync::Arc::new(config(tmp.path()));
    fs::create_dir_all(c.user_config.parent().unwrap()).unwrap();
    let mine = "Host x\n    User me\n";
    fs::write(&c.user_config, mine).unwrap();
    let line = c.include_line();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let (c, line, root) = (c.clone(), line.clone(), tmp.path().to_path_buf());
            std::thread::spawn(move || {
                let alias = format!("ptenv-{i}");
                for _ in 0..150 {
                    c.write_host(&entry(&alias, &root)).unwrap();
                    c.add_include().unwrap();
                    // While this project's entry exists, nothing may take the line away.
                    let text = fs::read_to_string(&c.user_config).unwrap();
                    assert!(
                        text.lines().any(|l| l == line),
                        "the Include line was lost:\n{text}"
                    );
                    c.forget(&alias).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Everyone forgot: the user's own file, byte for byte.
    assert_eq!(fs::read_to_string(&c.user_config).unwrap(), mine);
}

#[test]
fn a_symlinked_config_is_updated_through_the_link() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(tmp.path());
    fs::create_dir_all(c.user_config.parent().unwrap()).unwrap();
    let real = tmp.path().join("dotfiles-ssh-config");
    fs::write(&real, "Host x\n").unwrap();
    std::os::unix::fs::symlink(&real, &c.user_config).unwrap();
    assert!(c.add_include().unwrap());
    assert!(fs::symlink_metadata(&c.user_config)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        fs::read_to_string(&real).unwrap(),
        format!("{}\nHost x\n", c.include_line())
    );
}

#[test]
fn a_read_only_config_is_left_alone_with_the_line_to_add() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(tmp.path());
    fs::create_dir_all(c.user_config.parent().unwrap()).unwrap();
    fs::write(&c.user_config, "Host x\n").unwrap();
    fs::set_permissions(&c.user_config, fs::Permissions::from_mode(0o444)).unwrap();
    let err = c.add_include().unwrap_err();
    assert!(err.message.contains("read-only"), "{err}");
    assert!(err.hints[0].contains(&c.include_line()), "{err}");
    assert_eq!(fs::read_to_string(&c.user_config).unwrap(), "Host x\n");
}

#[test]
fn a_path_with_spaces_is_quoted_in_the_include() {
    let c = SshConfig {
        user_config: "/h/.ssh/config".into(),
        dir: "/h/My Data/ptenv/ssh".into(),
    };
    assert_eq!(c.include_line(), "Include \"/h/My Data/ptenv/ssh/*.conf\"");
}
