//! JupyterLab: runs as the container user in /workspace, listens on all interfaces of the
//! container on 8888 (published on 127.0.0.1), and requires the project's token.
//!
//! The token never appears in the container's command, environment or labels (all shown by
//! `docker inspect`), nor in its logs: it is copied in as a 0600 file owned by the user, and
//! `JUPYTER_TOKEN_FILE` names that file. Jupyter Server prints `?token=...` (literally three
//! dots) in its log for a token it did not generate.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{common_files, entry_command, ContainerFile, Setup, SetupInput, CONTAINER_DIR};
use crate::error::Result;
use crate::secrets::Store;

/// Jupyter's port inside the container.
pub const PORT: u16 = 8888;

/// The token file inside the container.
pub fn token_path() -> String {
    format!("{CONTAINER_DIR}/jupyter/token")
}

pub fn setup(store: &mut Store, input: &SetupInput) -> Result<Setup> {
    let token = store.jupyter_token(input.new_token)?;
    let mut files = common_files(input.user);
    files.push(ContainerFile {
        path: token_path(),
        contents: token.into_bytes(),
        mode: 0o600,
        uid: input.user.uid,
        gid: input.user.gid,
    });
    Ok(Setup {
        env: vec![("JUPYTER_TOKEN_FILE".into(), token_path())],
        files,
        command: Some(entry_command(command())),
        run_as_root: false,
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

/// `http://127.0.0.1:8888/lab?token=…`: what the user opens.
pub fn url(host_port: u16, token: &str) -> String {
    format!("http://127.0.0.1:{host_port}/lab?token={token}")
}

/// The answer to `GET /api/status` on 127.0.0.1:`port`, with the token when given: the HTTP
/// status code (200 when Jupyter is up and the token is right, 403 without it), or the I/O
/// error (refused, or closed by Docker's proxy while Jupyter is still starting).
pub async fn status(port: u16, token: Option<&str>, timeout: Duration) -> std::io::Result<u16> {
    tokio::time::timeout(timeout, request_status(port, token))
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer in time",
            ))
        })
}

async fn request_status(port: u16, token: Option<&str>) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let auth = token
        .map(|t| format!("Authorization: token {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Accept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed before answering",
            ));
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status_line(&head)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP answer"))
}

/// The code in an HTTP status line: `HTTP/1.1 403 Forbidden\r\n…` → 403.
fn parse_status_line(head: &[u8]) -> Option<u16> {
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
    use tokio::net::TcpListener;

    #[test]
    fn the_command_and_url_carry_no_secret_and_the_right_place() {
        let cmd = command().join(" ");
        assert_eq!(
            cmd,
            "jupyter lab --ip=0.0.0.0 --port=8888 --no-browser --ServerApp.root_dir=/workspace"
        );
        assert_eq!(url(8889, "abc"), "http://127.0.0.1:8889/lab?token=abc");
        assert_eq!(token_path(), "/etc/ptenv/jupyter/token");
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

    /// A real listener that answers like Jupyter: 200 with the right token, 403 without.
    #[tokio::test]
    async fn the_probe_sends_the_token_and_reads_the_code() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..2 {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut req = Vec::new();
                let mut buf = [0u8; 512];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = sock.read(&mut buf).await.unwrap();
                    req.extend_from_slice(&buf[..n]);
                }
                let req = String::from_utf8(req).unwrap();
                let ok = req.contains("\r\nAuthorization: token s3cret\r\n");
                let answer: &[u8] = if ok {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
                } else {
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"
                };
                sock.write_all(answer).await.unwrap();
                seen.push(req);
            }
            seen
        });
        let t = Duration::from_secs(5);
        assert_eq!(status(port, Some("s3cret"), t).await.unwrap(), 200);
        assert_eq!(status(port, None, t).await.unwrap(), 403);
        let seen = server.await.unwrap();
        assert!(
            seen[0].starts_with("GET /api/status HTTP/1.1\r\n"),
            "{}",
            seen[0]
        );
        assert!(seen[0].contains(&format!("\r\nHost: 127.0.0.1:{port}\r\n")));
    }

    #[tokio::test]
    async fn a_closed_port_or_a_silent_close_is_not_ready() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // Like Docker's proxy before Jupyter listens: accept, then close.
        let server = tokio::spawn(async move {
            let (sock, _) = listener.accept().await.unwrap();
            drop(sock);
        });
        let err = status(port, Some("t"), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
            ),
            "{err:?}"
        );
        server.await.unwrap();
        let err = status(port, None, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err:?}");
    }
}
