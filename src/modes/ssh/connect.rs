//! The ssh mode once its container runs: pin the host key, write the client config, wait for
//! sshd's greeting and say how to connect.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use super::{key_comment, vscode_command, PORT};
use crate::error::{Error, Result};
use crate::modes::{AfterStart, Started};
use crate::secrets::Store;
use crate::sshconfig::{HostEntry, SshConfig};

/// How long to wait for sshd's greeting after the container started.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How to reach the project's sshd, once ptenv's client config is written.
#[derive(Debug, Clone)]
pub struct Connection {
    pub alias: String,
    /// sshd's published port, at the address to connect to.
    pub address: SocketAddr,
    /// ptenv's config file with the project's `Host` entry (for `ssh -F`).
    pub config_file: PathBuf,
    /// Whether `~/.ssh/config` includes ptenv's files, so plain `ssh <alias>` works.
    pub included: bool,
}

/// Pins the host key on the published port, writes the `Host` entry and the Include line, and
/// waits until sshd greets.
pub async fn connect_setup(s: &Started<'_>) -> Result<Connection> {
    let alias = s.project.ssh_alias();
    let address = s.engine.published(s.container, PORT).await?.ok_or_else(|| {
        Error::new(format!(
            "sshd's port {PORT} is not published by container {}",
            s.container
        ))
        .hint("the profile's `ports` must include 22; recreate it with `ptenv down ssh && ptenv ssh`")
    })?;
    let mut store = Store::open(&crate::project::data_dir(s.project)?)?;
    let host = store.host_key(&format!("{alias} host (ptenv)"))?;
    let client = store.client_key(&key_comment(&alias))?;
    for w in store.warnings.drain(..) {
        s.printer.warn(w);
    }
    // On a server, sshd's port is on the server's loopback: the wait goes through this
    // command's ssh connection, and the entry reaches it through ssh to the server.
    let (reachable, proxy) = match s.ssh {
        Some(conn) => (
            conn.forward(address)?,
            Some(crate::sshconfig::proxy_command(&conn.host)),
        ),
        None => (address, None),
    };
    crate::modes::interruptible("waiting for sshd", wait_sshd(s, reachable)).await?;
    let known_hosts = store.write_known_hosts(address, &host.public_openssh)?;
    let config = SshConfig::for_user()?;
    let config_file = config.write_host(&HostEntry {
        alias: alias.clone(),
        address,
        user: s.user.name.clone(),
        identity_file: client.path.clone(),
        known_hosts,
        project: s.project.path.clone(),
        proxy,
    })?;
    let included = match config.add_include() {
        Ok(_) => true,
        Err(e) => {
            // The environment works; only the short alias does not. Say how to get it.
            s.printer.warn(e.to_string());
            false
        }
    };
    Ok(Connection {
        alias,
        address,
        config_file,
        included,
    })
}

/// Prints how to connect: the alias, the ssh command and the VS Code command. sshd always
/// runs in the background; with `--detach` (as `ptenv ssh -- CMD` and `--code` call it) the
/// lines go to stderr, so that stdout carries only the command's output.
pub async fn after_start(s: &Started<'_>) -> Result<AfterStart> {
    let c = connect_setup(s).await?;
    print_connection(s.printer, &c, !s.detach);
    Ok(AfterStart {
        code: 0,
        json: Some(crate::modes::ModeJson::Ssh(connection_json(&c))),
    })
}

pub fn ssh_command(c: &Connection) -> Vec<String> {
    if c.included {
        vec!["ssh".into(), c.alias.clone()]
    } else {
        vec![
            "ssh".into(),
            "-F".into(),
            c.config_file.to_string_lossy().into_owned(),
            c.alias.clone(),
        ]
    }
}

pub fn print_connection(printer: &crate::output::Printer, c: &Connection, to_stdout: bool) {
    printer.info(format!(
        "sshd is ready on {} (key-only; host key pinned in ptenv's known_hosts).",
        c.address
    ));
    let lines = [
        format!("host:    {}", c.alias),
        format!("ssh:     {}", crate::shell::join(&ssh_command(c))),
        format!("VS Code: {}", vscode_command(&c.alias).join(" ")),
    ];
    for line in lines {
        if to_stdout {
            printer.result(line);
        } else {
            printer.info(line);
        }
    }
}

/// The ssh mode's fields in `up --json`: how to connect.
#[derive(Debug, serde::Serialize)]
pub struct ConnectionJson {
    pub alias: String,
    pub code_command: Vec<String>,
    pub host: String,
    pub port: u16,
    pub ssh_command: Vec<String>,
    pub ssh_config: PathBuf,
}

pub fn connection_json(c: &Connection) -> ConnectionJson {
    ConnectionJson {
        alias: c.alias.clone(),
        code_command: vscode_command(&c.alias),
        host: c.address.ip().to_string(),
        port: c.address.port(),
        ssh_command: ssh_command(c),
        ssh_config: c.config_file.clone(),
    }
}

/// Waits until sshd sends its `SSH-2.0-…` greeting through the published port (Docker's
/// proxy accepts connections before sshd listens, so a connect alone proves nothing).
async fn wait_sshd(s: &Started<'_>, address: SocketAddr) -> Result<()> {
    let start = Instant::now();
    loop {
        let last = match greeting(address).await {
            Ok(line) if line.starts_with("SSH-") => return Ok(()),
            Ok(line) => format!("it answered {line:?}"),
            Err(e) => e.to_string(),
        };
        match s.engine.find(s.container).await? {
            Some(c) if c.running() => {}
            _ => {
                let logs = s.engine.log_tail(s.container, 30).await.unwrap_or_default();
                return Err(s.with_log_hint(Error::new(format!(
                    "the ssh container {} stopped before sshd answered; its last log lines:\n{}",
                    s.container,
                    logs.trim_end()
                ))));
            }
        }
        if start.elapsed() > READY_TIMEOUT {
            let logs = s.engine.log_tail(s.container, 30).await.unwrap_or_default();
            return Err(s.with_log_hint(Error::new(format!(
                "sshd did not answer on {address} within {} s (last: {last}); its log:\n{}",
                READY_TIMEOUT.as_secs(),
                logs.trim_end()
            ))));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The first line sshd sends.
async fn greeting(address: SocketAddr) -> std::io::Result<String> {
    let read = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 256];
        while !buf.contains(&b'\n') && buf.len() < 1024 {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed before greeting",
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok(String::from_utf8_lossy(&buf)
            .lines()
            .next()
            .unwrap_or("")
            .to_string())
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no greeting",
            ))
        })
}
