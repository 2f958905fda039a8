//! The connection to an engine on another machine over ssh: one OpenSSH master connection
//! (ControlMaster) through the system `ssh`, so the user's `~/.ssh/config`, agent, keys,
//! `ProxyJump` and known_hosts apply as for `docker -H ssh://` (docs/remote.md §3). The master
//! forwards the remote engine's socket to a socket in a private 0700 folder here, which the
//! engine adapter connects to; every other remote step (`run`) shares the master. The master
//! is kept in the background between commands for an idle time, so the next command pays no
//! ssh handshake, or, with `PTENV_SSH_PERSIST=0`, is this command's own (docs/remote.md §7).
//! `BatchMode` makes ssh fail instead of asking; host key checking stays as the user
//! configured it (ptenv never weakens it).

use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::target::{Endpoint, KeepConnection, SshHost, Target};

mod failure;
use failure::{socket_verdict, ssh_failure};

/// The engine's socket on the remote machine when the address names none.
const REMOTE_SOCKET: &str = "/var/run/docker.sock";

/// How long the master may take to connect and authenticate: ssh's own ConnectTimeout covers
/// the TCP connect; this covers a server that accepts and then stalls.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a kept master may take to answer the engine's ping before it is replaced: long
/// enough for a slow link, short enough that a dead one costs little.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest unix socket path, in bytes, on every system ptenv runs on (macOS: 104 with the
/// final NUL; Linux: 108).
const MAX_SOCKET_PATH: usize = 103;

/// How this command reaches its engine: directly (a socket or TCP port ptenv connects to
/// itself) or through an ssh master connection that lives as long as this value.
pub enum Connection {
    Direct(Target),
    Ssh(Target, std::sync::Arc<SshConnection>),
}

impl Connection {
    /// Opens what `target` needs: nothing for a socket or TCP engine, the ssh master for ssh.
    pub fn open(target: Target) -> Result<Connection> {
        match &target.endpoint {
            Endpoint::Ssh(host) => {
                let ssh = SshConnection::open(host)?;
                Ok(Connection::Ssh(target, std::sync::Arc::new(ssh)))
            }
            _ => Ok(Connection::Direct(target)),
        }
    }

    /// What `-v` says about the ssh connection: kept from an earlier command, or new.
    pub fn ssh_detail(&self) -> Option<String> {
        match self {
            Connection::Ssh(_, ssh) if ssh.reused => Some(format!(
                "ssh: reused the connection to {} kept by an earlier command",
                ssh.host
            )),
            Connection::Ssh(_, ssh) => Some(match ssh.own {
                Some(_) => format!("ssh: connected to {} for this command only", ssh.host),
                None => format!(
                    "ssh: connected to {}; the connection stays for the next commands ({} sets how long)",
                    ssh.host,
                    KeepConnection::VARIABLE
                ),
            }),
            Connection::Direct(_) => None,
        }
    }

    pub fn target(&self) -> &Target {
        match self {
            Connection::Direct(t) | Connection::Ssh(t, _) => t,
        }
    }

    /// The machine the engine runs on: this one, the server over ssh, or a server known only
    /// through its engine's API (a TCP engine elsewhere).
    pub fn machine(&self) -> Box<dyn crate::host::Machine> {
        match self {
            Connection::Ssh(_, ssh) => Box::new(crate::agent::Remote::new(ssh.clone())),
            Connection::Direct(t) if t.endpoint.is_remote() => {
                Box::new(crate::host::ApiOnly::new(t.endpoint.to_string()))
            }
            Connection::Direct(_) => Box::new(crate::host::Local),
        }
    }

    /// The address the engine adapter connects to.
    pub fn engine_url(&self) -> String {
        match self {
            Connection::Ssh(_, ssh) => ssh.engine_url(),
            Connection::Direct(t) => match &t.endpoint {
                Endpoint::Unix { path } => format!("unix://{}", path.display()),
                Endpoint::Tcp { host, port, .. } if host.contains(':') => {
                    format!("tcp://[{host}]:{port}")
                }
                Endpoint::Tcp { host, port, .. } => format!("tcp://{host}:{port}"),
                Endpoint::Ssh(host) => host.to_string(),
            },
        }
    }
}

/// An open master connection to `host` with the remote engine's socket forwarded here: kept
/// between commands (the next one reuses it), or this command's own.
pub struct SshConnection {
    pub host: SshHost,
    /// The master's control socket, for every other ssh through it.
    control: PathBuf,
    /// The remote engine's socket, forwarded here.
    socket: PathBuf,
    /// This command's own master, ended with it; `None` for a kept one.
    own: Option<OwnMaster>,
    /// Whether this command found the kept master running and uses it.
    pub reused: bool,
    /// Forwards this command added to a kept master (`ssh -O forward` arguments), cancelled
    /// when it ends: a kept master outlives the command that asked for them.
    added: std::sync::Mutex<Vec<String>>,
}

/// A master connection that lives as long as this command.
struct OwnMaster {
    dir: PathBuf,
    master: Child,
    /// The master session's stdin: closing it ends the connection.
    lifeline: Option<std::process::ChildStdin>,
}

impl SshConnection {
    /// Connects to `host` (or reuses the kept connection to it), checks that its engine socket
    /// exists and is usable by the remote user, and forwards it. Every failure says what to do
    /// next.
    pub fn open(host: &SshHost) -> Result<SshConnection> {
        let keep =
            KeepConnection::from_env(std::env::var(KeepConnection::VARIABLE).ok().as_deref())?;
        match keep {
            KeepConnection::PerCommand => SshConnection::open_own(host),
            KeepConnection::Idle { seconds } => SshConnection::open_kept(host, seconds),
        }
    }

    /// This command's own master: ControlPersist=no, ended when ptenv ends.
    fn open_own(host: &SshHost) -> Result<SshConnection> {
        let dir = private_dir()?;
        let remote_socket = host.socket.as_deref().unwrap_or(REMOTE_SOCKET);
        let log = dir.join("ssh.log");
        let log_file = std::fs::File::create(&log)
            .map_err(|e| Error::new(format!("cannot write {}: {e}", log.display())))?;
        let control = dir.join("control");
        let socket = dir.join("docker.sock");
        let mut cmd = master_command(host, &control, &socket, &["-o", "ControlPersist=no"]);
        // The master's own session reads its stdin until ptenv's end closes the pipe, also
        // when ptenv is killed: then the session, the master and its forward end.
        cmd.arg("exec cat >/dev/null")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log_file);
        let mut master = cmd.spawn().map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            no_ssh(host, e)
        })?;
        let lifeline = master.stdin.take();
        let mut conn = SshConnection {
            host: host.clone(),
            control,
            socket,
            own: Some(OwnMaster {
                dir,
                master,
                lifeline,
            }),
            reused: false,
            added: Default::default(),
        };
        conn.wait_own(&log)?;
        conn.check_socket(remote_socket)?;
        Ok(conn)
    }

    /// The kept master to `host`: the running one when it still reaches the engine, else a
    /// new one in the background that ends after `idle` seconds without use
    /// (docs/remote.md §7).
    fn open_kept(host: &SshHost, idle: u64) -> Result<SshConnection> {
        let dir = kept_dir()?;
        let key = host.connection_key();
        let mut conn = SshConnection {
            host: host.clone(),
            control: dir.join(format!("{key}.c")),
            socket: dir.join(format!("{key}.s")),
            own: None,
            reused: true,
            added: Default::default(),
        };
        // ssh binds the control socket under a longer temporary name first.
        let longest = conn.control.as_os_str().len() + 17;
        if longest > MAX_SOCKET_PATH {
            return Err(Error::new(format!(
                "the ssh connection's socket path in {} would be {longest} bytes, more than a unix socket allows ({MAX_SOCKET_PATH})",
                dir.display()
            ))
            .hint("set TMPDIR to a folder with a shorter path, such as /tmp")
            .hint(format!("or keep no connection: {}=0", KeepConnection::VARIABLE)));
        }
        // One command at a time opens the connection: two masters on one control path would
        // take each other's forwarded socket.
        let _held = crate::flock::exclusive(&dir.join(format!("{key}.lock")))?;
        if conn.socket.exists() && engine_answers(&conn.socket) {
            return Ok(conn);
        }
        // Stale: the master is gone (its socket refuses), no longer reaches the server, or
        // lost its forward. Its control socket must go too: a new master does not take over a
        // control path that exists (it would run without ControlPersist, for ever).
        if conn.control.exists() {
            conn.ask("exit");
            let _ = std::fs::remove_file(&conn.control);
        }
        let _ = std::fs::remove_file(&conn.socket);
        conn.reused = false;
        let log = dir.join(format!("{key}.log"));
        let log_file = std::fs::File::create(&log)
            .map_err(|e| Error::new(format!("cannot write {}: {e}", log.display())))?;
        // `-f -N` with ControlPersist: ssh goes to the background once it has logged in and
        // listens on the forward, and exits 0 there; its output goes to the log file, never
        // to this command's stdout or stderr (a caller waiting on them would wait for it).
        let persist = format!("ControlPersist={idle}s");
        let mut cmd = master_command(
            host,
            &conn.control,
            &conn.socket,
            &["-f", "-N", "-o", &persist],
        );
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        let mut starter = cmd.spawn().map_err(|e| no_ssh(host, e))?;
        let status = wait_within(&mut starter, OPEN_TIMEOUT).ok_or_else(|| too_slow(host))?;
        if !status.success() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(ssh_failure(host, &text, status.code()));
        }
        let remote_socket = host.socket.as_deref().unwrap_or(REMOTE_SOCKET);
        if let Err(e) = conn.check_socket(remote_socket) {
            // A master that cannot reach an engine is of no use to the next command either.
            conn.ask("exit");
            return Err(e);
        }
        Ok(conn)
    }

    /// The forwarded engine socket here, as the engine adapter's address.
    pub fn engine_url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Runs `command` (one shell line) on the remote machine through the master connection.
    pub fn run(&self, command: &str, stdin: Option<&[u8]>) -> Result<Output> {
        let mut cmd = self.command();
        cmd.arg(command);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::new(format!("cannot run ssh to {}: {e}", self.host)))?;
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write;
            pipe.write_all(bytes)
                .map_err(|e| Error::new(format!("cannot send to {}: {e}", self.host)))?;
        }
        child
            .wait_with_output()
            .map_err(|e| Error::new(format!("ssh to {} failed: {e}", self.host)))
    }

    /// A port of this machine's loopback that reaches `remote` (an address as the server
    /// sees it) through the master connection, for as long as this command runs.
    pub fn forward(&self, remote: std::net::SocketAddr) -> Result<std::net::SocketAddr> {
        let local = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| Error::new(format!("no free port on 127.0.0.1 here: {e}")))?;
        let spec = format!("{local}:{}:{}", remote.ip(), remote.port());
        let out = self
            .control_command("forward", &["-L", &spec])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::new(format!("cannot run ssh to {}: {e}", self.host)))?;
        if !out.status.success() {
            return Err(Error::new(format!(
                "cannot forward {local} here to {remote} on {}: {}",
                self.host,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
            .hint("check that the server allows port forwarding (`AllowTcpForwarding` in its sshd_config)"));
        }
        if self.own.is_none() {
            self.added.lock().expect("not poisoned").push(spec);
        }
        Ok(local)
    }

    /// `ssh` through the master connection, ready for a remote command.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(["-o", "ControlMaster=no"])
            .arg("-o")
            .arg(format!("ControlPath={}", self.control.display()))
            .args(common_options())
            .args(destination(&self.host));
        cmd
    }

    /// `ssh -O what [options]` to the master (ssh(1) `-O ctl_cmd`): `options` (a forward)
    /// come before the destination, where ssh reads options.
    fn control_command(&self, what: &str, options: &[&str]) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(["-O", what])
            .arg("-o")
            .arg(format!("ControlPath={}", self.control.display()))
            .args(options)
            .args(destination(&self.host));
        cmd
    }

    /// Asks the master to `check` or `exit`; whether it agreed within [`PING_TIMEOUT`] (a
    /// frozen master never answers).
    fn ask(&self, what: &str) -> bool {
        self.control_command(what, &[])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
            .and_then(|mut c| wait_within(&mut c, PING_TIMEOUT))
            .is_some_and(|s| s.success())
    }

    /// Waits until this command's own master has authenticated and listens on the forwarded
    /// socket, or explains why ssh gave up.
    fn wait_own(&mut self, log: &Path) -> Result<()> {
        let start = Instant::now();
        let own = self.own.as_mut().expect("an own master");
        loop {
            if let Some(status) = own.master.try_wait().ok().flatten() {
                let mut text = String::new();
                if let Ok(mut f) = std::fs::File::open(log) {
                    let _ = f.read_to_string(&mut text);
                }
                return Err(ssh_failure(&self.host, &text, status.code()));
            }
            if self.socket.exists() {
                return Ok(());
            }
            if start.elapsed() > OPEN_TIMEOUT {
                return Err(too_slow(&self.host));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The remote engine's socket must exist and be writable by the remote user: checked
    /// once here, so that the engine adapter's first request does not fail with a bare
    /// "connection closed" from the forward.
    fn check_socket(&self, socket: &str) -> Result<()> {
        let probe = format!(
            "if [ ! -S {s} ]; then echo missing; elif [ ! -w {s} ] || [ ! -r {s} ]; then echo denied; else echo ok; fi; id -un",
            s = crate::shell::quote(socket)
        );
        let out = self.run(&probe, None)?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let verdict = lines.next().unwrap_or("").trim();
        let user = lines.next().unwrap_or("the remote user").trim();
        socket_verdict(
            &self.host,
            socket,
            verdict,
            user,
            &String::from_utf8_lossy(&out.stderr),
        )
    }
}

impl Drop for SshConnection {
    fn drop(&mut self) {
        match self.own.take() {
            // The master ends its forwards and sessions with it; ControlPersist=no means no
            // background master outlives this command.
            Some(mut own) => {
                drop(own.lifeline.take());
                let _ = own.master.kill();
                let _ = own.master.wait();
                let _ = std::fs::remove_dir_all(&own.dir);
            }
            // A kept master stays for the next command, without this command's forwards.
            None => {
                let added = std::mem::take(&mut *self.added.lock().expect("not poisoned"));
                for spec in added {
                    let _ = self
                        .control_command("cancel", &["-L", &spec])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                }
            }
        }
    }
}

/// The master ssh for `host` with the engine socket forwarded to `socket` here; `options`
/// say how long it lives (`ControlPersist`, and `-f -N` for a kept one).
fn master_command(host: &SshHost, control: &Path, socket: &Path, options: &[&str]) -> Command {
    let remote_socket = host.socket.as_deref().unwrap_or(REMOTE_SOCKET);
    let mut cmd = Command::new("ssh");
    cmd.args(["-o", "ControlMaster=yes"])
        .args(options)
        .arg("-o")
        .arg(format!("ControlPath={}", control.display()))
        .args([
            "-o",
            "ExitOnForwardFailure=yes",
            "-o",
            "StreamLocalBindUnlink=yes",
        ])
        .arg("-L")
        .arg(format!("{}:{remote_socket}", socket.display()))
        .args(common_options())
        .args(destination(host))
        // Its own process group: a terminal's Ctrl-C goes to ptenv's group, and ptenv
        // still needs the connection to remove what it made on the server.
        .process_group(0);
    cmd
}

fn no_ssh(host: &SshHost, e: std::io::Error) -> Error {
    Error::new(format!("cannot run ssh to reach {host}: {e}"))
        .hint("install the OpenSSH client (`sudo apt-get install openssh-client`)")
}

fn too_slow(host: &SshHost) -> Error {
    Error::new(format!(
        "ssh to {host} did not finish connecting within {} seconds",
        OPEN_TIMEOUT.as_secs()
    ))
    .hint(format!(
        "check that `ssh {}` logs in without a prompt",
        host.host
    ))
}

/// Waits for `child` to end, at most `limit`; kills it when it takes longer (`None`).
fn wait_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().ok().flatten() {
            return Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether the engine answers `GET /_ping` through the forwarded `socket` within
/// [`PING_TIMEOUT`]: the whole path a kept master gives (its process, the ssh connection, the
/// remote engine) works.
fn engine_answers(socket: &Path) -> bool {
    use std::io::Write;
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(PING_TIMEOUT));
    let _ = stream.set_write_timeout(Some(PING_TIMEOUT));
    if stream
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && pong(&head)
}

/// An HTTP status line that says 200.
fn pong(head: &[u8]) -> bool {
    head.starts_with(b"HTTP/1.") && head.get(8..12) == Some(b" 200")
}

/// Options every ssh of ptenv gets: never prompt (a prompt would hang a command that is not on
/// a terminal), give up on a dead network, and keep the user's host key checking as it is.
pub(crate) fn common_options() -> [&'static str; 8] {
    [
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "ServerAliveInterval=15",
        "-o",
        "ServerAliveCountMax=3",
    ]
}

/// `[-l user] [-p port] -- host`, as docker passes an ssh:// address to ssh.
pub(crate) fn destination(host: &SshHost) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(user) = &host.user {
        args.extend(["-l".to_owned(), user.clone()]);
    }
    if let Some(port) = host.port {
        args.extend(["-p".to_owned(), port.to_string()]);
    }
    args.extend(["--".to_owned(), host.host.clone()]);
    args
}

/// A new 0700 folder for the control and forwarded sockets: nobody else on this machine may
/// reach the remote engine through them. Under the temporary folder, whose path stays short
/// enough for a unix socket (108 bytes).
fn private_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    for _ in 0..8 {
        let mut bytes = [0u8; 6];
        getrandom::fill(&mut bytes).map_err(|e| Error::new(format!("no randomness: {e}")))?;
        let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let dir = base.join(format!("ptenv-ssh-{name}"));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::new(format!(
                    "cannot make a private folder in {}: {e}",
                    base.display()
                ))
                .hint("set TMPDIR to a writable folder"))
            }
        }
    }
    Err(Error::new(format!(
        "cannot make a private folder in {}",
        base.display()
    )))
}

/// The folder of kept masters: `ptenv-<uid>` in the temporary folder, 0700 and this user's
/// (checked, since another user could have made it first in a shared /tmp); short, since the
/// sockets in it must fit a unix socket address.
fn kept_dir() -> Result<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let uid = rustix::process::geteuid().as_raw();
    let dir = std::env::temp_dir().join(format!("ptenv-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(Error::new(format!("cannot make {}: {e}", dir.display()))
                .hint("set TMPDIR to a writable folder"))
        }
    }
    let meta = std::fs::symlink_metadata(&dir)
        .map_err(|e| Error::new(format!("cannot read {}: {e}", dir.display())))?;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return Err(Error::new(format!(
            "{} is not a private folder of yours (it must be a folder you own with mode 0700): ptenv keeps its ssh connections there",
            dir.display()
        ))
        .hint(format!("remove it if you did not make it, or set TMPDIR to another folder; or keep no connection: {}=0", KeepConnection::VARIABLE)));
    }
    Ok(dir)
}

#[cfg(test)]
mod tests;
