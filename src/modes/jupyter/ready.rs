//! Jupyter once its container runs: wait until it answers with the project's token, then
//! show (and maybe open) its URL.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{parse_status_line, url, PORT};
use crate::error::{Error, Result};
use crate::modes::{AfterStart, Started};
use crate::secrets::Store;

/// How long `up` waits for Jupyter to answer: the first start of JupyterLab builds its
/// caches, which takes a while on a slow disk.
pub const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// Lines of the container's log shown when Jupyter does not come up.
const LOG_LINES: usize = 30;

/// Waits until Jupyter answers with the token, then prints its URL (and opens it with
/// `--open`).
pub async fn after_start(s: &Started<'_>) -> Result<AfterStart> {
    let mut store = Store::open(&crate::project::data_dir(s.project)?)?;
    let token = store.jupyter_token(false)?;
    for w in store.warnings.drain(..) {
        s.printer.warn(w);
    }
    let address = s.engine.published(s.container, PORT).await?.ok_or_else(|| {
        Error::new(format!(
            "Jupyter's port {PORT} is not published by container {}",
            s.container
        ))
        .hint("the profile's `ports` must include 8888; recreate it with `ptenv down jupyter && ptenv up jupyter`")
    })?;
    if let Some(server) = s.unreached {
        return Ok(unreached(s, server, address, token));
    }
    // On a server, Jupyter's port is on the server's loopback: a kept ssh forward brings it
    // to this machine's, and the URL names that.
    let tunnel = match s.ssh {
        Some(conn) => Some(crate::tunnel::Tunnel::new(
            &conn.host,
            &s.engine.endpoint,
            s.container,
        )?),
        None => None,
    };
    let address = match &tunnel {
        Some(t) => {
            let here = t.ensure(address)?;
            s.printer
                .detail(format!("forwarding {here} here to {address} on the server"));
            here
        }
        None => address,
    };
    let waited =
        crate::modes::interruptible("waiting for Jupyter", wait_ready(s, address, &token)).await;
    if let (Err(_), Some(t)) = (&waited, &tunnel) {
        t.end();
    }
    waited?;
    let url = url(address, &token);
    s.printer.info(format!(
        "Jupyter is ready in {} (as {}, in {}).",
        s.container, s.user.name, s.profile.workdir
    ));
    s.printer.result(&url);
    if s.open {
        open_in_browser(&url, s.printer);
    }
    Ok(AfterStart {
        code: 0,
        json: Some(crate::modes::ModeJson::Jupyter(Ready {
            port: address.port(),
            token,
            url,
            forward: None,
        })),
    })
}

/// Jupyter's fields in `up --json`.
#[derive(Debug, serde::Serialize)]
pub struct Ready {
    pub port: u16,
    pub token: String,
    pub url: String,
    /// On a server ptenv cannot forward from (a TLS engine): the ssh command that brings
    /// Jupyter's port here, after which `url` opens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward: Option<String>,
}

/// Jupyter on a server that ptenv reaches only through the Docker API: its port is on that
/// machine's loopback, which no URL on this machine reaches until the user forwards it. Says
/// how, instead of printing a URL that does not open, and does not wait (ptenv cannot ask it).
fn unreached(s: &Started<'_>, server: &str, address: SocketAddr, token: String) -> AfterStart {
    let forward = super::forward_line(server, address);
    let here = SocketAddr::from(([127, 0, 0, 1], address.port()));
    let url = url(here, &token);
    s.printer.info(format!(
        "Jupyter starts in {} on {server}, on that machine's {address}: ptenv reaches {server} only through its Docker API, so it cannot forward the port here or check that Jupyter answers.",
        s.container
    ));
    s.printer.info(format!(
        "Forward it with ssh to that machine, then open the URL: {forward}"
    ));
    s.printer.info(format!(
        "Or reach the server with --host ssh://USER@HOST: ptenv then forwards the port itself. `ptenv logs {}` shows Jupyter's output.",
        s.profile.name
    ));
    s.printer.result(&url);
    AfterStart {
        code: 0,
        json: Some(crate::modes::ModeJson::Jupyter(Ready {
            port: address.port(),
            token,
            url,
            forward: Some(forward),
        })),
    }
}

/// Polls `/api/status` until it answers 200, with a spinner; fails with the container's last
/// log lines when Jupyter stops or does not answer in time.
async fn wait_ready(s: &Started<'_>, address: SocketAddr, token: &str) -> Result<()> {
    let spinner = if s.printer.fancy() {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(format!("waiting for Jupyter on {address}"));
        bar.enable_steady_tick(Duration::from_millis(100));
        // Cleared however the wait ends, Ctrl-C included.
        Some(ClearOnDrop(bar))
    } else {
        s.printer
            .info(format!("waiting for Jupyter on {address} ..."));
        None
    };
    let start = Instant::now();
    let result = loop {
        let last = match status(address, Some(token), Duration::from_secs(5)).await {
            Ok(200) => break Ok(()),
            Ok(403) => {
                break Err(Error::new(format!(
                    "Jupyter on {address} refuses ptenv's token"
                ))
                .hint("another program may hold that port, or the container kept an old token: ptenv down jupyter && ptenv up jupyter"))
            }
            Ok(code) => format!("it answered HTTP {code}"),
            Err(e) => e.to_string(),
        };
        match s.engine.find(s.container).await? {
            Some(c) if c.running() => {}
            Some(c) => {
                break Err(Error::new(format!(
                    "the Jupyter container {} stopped ({}) before Jupyter answered",
                    s.container, c.state
                )))
            }
            None => {
                break Err(Error::new(format!(
                    "the Jupyter container {} is gone",
                    s.container
                )))
            }
        }
        if start.elapsed() > READY_TIMEOUT {
            break Err(Error::new(format!(
                "Jupyter did not answer on {address} within {} s (last: {last})",
                READY_TIMEOUT.as_secs()
            )));
        }
        // Each round costs a connect and an inspect, a few ms; a longer pause only makes the
        // user wait after Jupyter is up (at 300 ms, time to Jupyter was 1.09x docker's with a
        // 50 ms poll: benches/RESULTS.md).
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(spinner);
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            let logs = s
                .engine
                .log_tail(s.container, LOG_LINES)
                .await
                .unwrap_or_default();
            let mut e = e;
            if !logs.trim().is_empty() {
                e.message.push_str(&format!(
                    "\n  last lines of its log:\n{}",
                    indent(logs.trim_end(), "    ")
                ));
            }
            Err(s.with_log_hint(e))
        }
    }
}

struct ClearOnDrop(indicatif::ProgressBar);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|l| format!("{prefix}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Opens `url` with the desktop's handler (`xdg-open`, `open` on macOS); a warning, not an
/// error, when there is none: the URL is printed anyway.
fn open_in_browser(url: &str, printer: &crate::output::Printer) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        printer.warn(format!(
            "cannot open the browser with `{opener}`: {e}; open the URL above yourself"
        ));
    }
}

/// The answer to `GET /api/status` on `address`, with the token when given: the HTTP
/// status code (200 when Jupyter is up and the token is right, 403 without it), or the I/O
/// error (refused, or closed by Docker's proxy while Jupyter is still starting).
pub async fn status(
    address: SocketAddr,
    token: Option<&str>,
    timeout: Duration,
) -> std::io::Result<u16> {
    tokio::time::timeout(timeout, request_status(address, token))
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer in time",
            ))
        })
}

async fn request_status(address: SocketAddr, token: Option<&str>) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(address).await?;
    let auth = token
        .map(|t| format!("Authorization: token {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET /api/status HTTP/1.1\r\nHost: {address}\r\n{auth}Accept: application/json\r\nConnection: close\r\n\r\n"
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A real listener that answers like Jupyter: 200 with the right token, 403 without.
    #[tokio::test]
    async fn the_probe_sends_the_token_and_reads_the_code() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let port = addr.port();
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
        assert_eq!(status(addr, Some("s3cret"), t).await.unwrap(), 200);
        assert_eq!(status(addr, None, t).await.unwrap(), 403);
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
        let addr = listener.local_addr().unwrap();
        // Like Docker's proxy before Jupyter listens: accept, then close.
        let server = tokio::spawn(async move {
            let (sock, _) = listener.accept().await.unwrap();
            drop(sock);
        });
        let err = status(addr, Some("t"), Duration::from_secs(5))
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
        let err = status(addr, None, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err:?}");
    }
}
