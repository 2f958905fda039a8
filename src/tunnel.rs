//! Ports of an environment on a server, reachable on this machine's loopback for as long as the
//! environment runs: one OpenSSH master connection per container, kept in the background
//! (`ControlPersist`) with a local forward `127.0.0.1:LOCAL → the server's 127.0.0.1:PORT`.
//! Its control socket and a record of the forward live in a private folder of ptenv's data
//! dir, so `ptenv down` ends it (`ssh -O exit`) and the next `up` finds it alive (`ssh -O
//! check`) or makes it again, on the same local port when it is free (the URL stays the same).
//! No process IDs are kept: the control socket is the handle, as ssh itself means it
//! (docs/remote.md §5).

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::target::SshHost;

/// What a kept forward serves, recorded beside its control socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    local: u16,
    remote: String,
}

/// The kept forward of `container` on the engine `endpoint`.
pub struct Tunnel {
    host: SshHost,
    control: PathBuf,
    record: PathBuf,
}

impl Tunnel {
    pub fn new(host: &SshHost, endpoint: &str, container: &str) -> Result<Tunnel> {
        let key = crate::project::hex(&Sha256::digest(format!("{endpoint}\n{container}")));
        // Short names: a unix socket's path has about 100 bytes, and ssh adds a suffix while
        // it binds it.
        let dir = crate::project::data_root()?.join("fw");
        Ok(Tunnel {
            host: host.clone(),
            control: dir.join(&key[..12]),
            record: dir.join(format!("{}.json", &key[..12])),
        })
    }

    /// A laptop address that reaches `remote` (an address on the server): the kept forward
    /// when it is alive and serves `remote`, else a new one.
    pub fn ensure(&self, remote: SocketAddr) -> Result<SocketAddr> {
        let previous = std::fs::read(&self.record)
            .ok()
            .and_then(|b| serde_json::from_slice::<Record>(&b).ok());
        if let Some(r) = &previous {
            if r.remote == remote.to_string() && self.alive() {
                return Ok(SocketAddr::from(([127, 0, 0, 1], r.local)));
            }
        }
        self.end();
        let dir = self.control.parent().expect("a folder");
        crate::atomic::create_dir_all(dir, 0o700)?;
        // The same local port as last time, else the server's, else any free one.
        let wanted = previous.map(|r| r.local).into_iter().chain([remote.port()]);
        let local = wanted
            .into_iter()
            .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
            .map_or_else(free_port, Ok)?;
        let out = Command::new("ssh")
            .args([
                "-f",
                "-N",
                "-o",
                "ControlMaster=yes",
                "-o",
                "ControlPersist=yes",
            ])
            .arg("-o")
            .arg(format!("ControlPath={}", self.control.display()))
            .args(["-o", "ExitOnForwardFailure=yes"])
            .arg("-L")
            .arg(format!(
                "127.0.0.1:{local}:{}:{}",
                remote.ip(),
                remote.port()
            ))
            .args(crate::transport::common_options())
            .args(crate::transport::destination(&self.host))
            // Not in ptenv's process group: a Ctrl-C in this terminal later must not end it.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| Error::new(format!("cannot run ssh to {}: {e}", self.host)))?;
        if !out.status.success() {
            return Err(Error::new(format!(
                "cannot forward 127.0.0.1:{local} here to {remote} on {}: {}",
                self.host,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
            .hint(format!("check that `{} true` works and that the server allows port forwarding (`AllowTcpForwarding` in its sshd_config)", self.host.ssh_line())));
        }
        let record = Record {
            local,
            remote: remote.to_string(),
        };
        let bytes = serde_json::to_vec(&record).expect("a record serializes");
        crate::atomic::write(
            &self.record,
            &bytes,
            crate::atomic::Mode::Exactly(0o600),
            crate::atomic::Owner::Process,
        )?;
        Ok(SocketAddr::from(([127, 0, 0, 1], local)))
    }

    /// Whether the kept connection still runs.
    fn alive(&self) -> bool {
        self.control.exists() && self.ask("check")
    }

    /// Ends the kept forward, if any (the environment went down).
    pub fn end(&self) -> bool {
        let ended = self.control.exists() && self.ask("exit");
        let _ = std::fs::remove_file(&self.record);
        ended
    }

    fn ask(&self, what: &str) -> bool {
        Command::new("ssh")
            .args(["-O", what])
            .arg("-o")
            .arg(format!("ControlPath={}", self.control.display()))
            .args(crate::transport::destination(&self.host))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::new(format!("no free port on 127.0.0.1 here: {e}")))
}
