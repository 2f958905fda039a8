//! JupyterLab: runs as the container user in /workspace, listens on all interfaces of the
//! container on 8888 (published on 127.0.0.1), and requires the project's token.
//!
//! The token never appears in the container's command, environment or labels (all shown by
//! `docker inspect`), nor in its logs: it is copied in as a 0600 file owned by the user, and
//! `JUPYTER_TOKEN_FILE` names that file. Jupyter Server prints `?token=...` (literally three
//! dots) in its log for a token it did not generate.

use std::net::SocketAddr;

use super::{entry_command, ContainerFile, Secrets, Setup, SetupInput, CONTAINER_DIR};
use crate::error::Result;

/// Jupyter's port inside the container.
pub const PORT: u16 = 8888;

/// The token file inside the container.
pub fn token_path() -> String {
    format!("{CONTAINER_DIR}/jupyter/token")
}

pub fn setup(store: &mut dyn Secrets, input: &SetupInput) -> Result<Setup> {
    let token = store.jupyter_token(input.new_token)?;
    // The token is the only file copied in (a secret never goes into an image).
    let files = vec![ContainerFile {
        path: token_path(),
        contents: token.into_bytes(),
        mode: 0o600,
        uid: input.user.uid,
        gid: input.user.gid,
    }];
    Ok(Setup {
        env: vec![("JUPYTER_TOKEN_FILE".into(), token_path())],
        files,
        command: Some(entry_command(command_for(input.user))),
        run_as_root: false,
        runs_profile_command: false,
        warnings: Vec::new(),
    })
}

/// `jupyter lab` on all interfaces of the container, in /workspace, without a browser.
pub fn command() -> Vec<String> {
    [
        "jupyter",
        "lab",
        "--ip=0.0.0.0",
        &format!("--port={PORT}"),
        "--no-browser",
        &format!("--ServerApp.root_dir={}", crate::profile::WORKDIR),
    ]
    .map(str::to_string)
    .to_vec()
}

/// [`command`] for `user`: Jupyter refuses to run as root unless told that it is meant.
fn command_for(user: &crate::identity::User) -> Vec<String> {
    let mut cmd = command();
    if user.is_root() {
        cmd.push("--allow-root".into());
    }
    cmd
}

/// `http://127.0.0.1:8888/lab?token=…` (`http://[::1]:8888/…` for IPv6): what the user opens.
pub fn url(address: SocketAddr, token: &str) -> String {
    format!("http://{address}/lab?token={token}")
}

/// The host part of an engine address as users see it (`tcp://gpu-box:2376 (TLS)` →
/// `gpu-box`), for an ssh line to that machine.
pub fn engine_host(shown: &str) -> &str {
    let rest = shown.split_once("://").map_or(shown, |(_, r)| r);
    let authority = rest.split([' ', '/']).next().unwrap_or(rest);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    }
}

/// The ssh command that forwards Jupyter's `address` on the loopback of `server` (an engine
/// address as users see it) to the same port of this machine's loopback.
pub fn forward_line(server: &str, address: SocketAddr) -> String {
    format!(
        "ssh -N -L {}:{address} USER@{}",
        address.port(),
        engine_host(server)
    )
}

/// The code in an HTTP status line: `HTTP/1.1 403 Forbidden\r\n…` → 403.
pub fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forward_line_names_the_engine_host_and_the_port() {
        let address: SocketAddr = "127.0.0.1:8890".parse().unwrap();
        assert_eq!(
            forward_line("tcp://gpu-box:2376 (TLS)", address),
            "ssh -N -L 8890:127.0.0.1:8890 USER@gpu-box"
        );
        assert_eq!(engine_host("tcp://[2001:db8::5]:2376 (TLS)"), "2001:db8::5");
        assert_eq!(engine_host("tcp://10.0.0.5:2375"), "10.0.0.5");
    }

    #[test]
    fn the_command_and_url_carry_no_secret_and_the_right_place() {
        let cmd = command().join(" ");
        assert_eq!(
            cmd,
            "jupyter lab --ip=0.0.0.0 --port=8888 --no-browser --ServerApp.root_dir=/workspace"
        );
        let v4 = crate::address::connect_to("0.0.0.0", 8889);
        assert_eq!(url(v4, "abc"), "http://127.0.0.1:8889/lab?token=abc");
        let v6 = crate::address::connect_to("::1", 8889);
        assert_eq!(url(v6, "abc"), "http://[::1]:8889/lab?token=abc");
        assert_eq!(token_path(), "/etc/ptenv/jupyter/token");
        let root = crate::identity::User::for_ids(0, 0);
        assert_eq!(command_for(&root).last().unwrap(), "--allow-root");
        let dev = crate::identity::User::for_ids(1000, 1000);
        assert_eq!(command_for(&dev), command());
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 200 OK\r\nServer: x"),
            Some(200)
        );
        assert_eq!(parse_status_line(b"HTTP/1.0 403 Forbidden\r\n"), Some(403));
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
    }
}
