//! A running container: the published address of a container port, the last lines of its
//! log, and a process in it attached to our terminal (or pipes) like `docker exec -it`.

use std::io::Write;

use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;
use rustix::process::Signal;
use tokio::io::AsyncWriteExt;

use super::{failed, status_of, Engine};
use crate::error::{Error, Result};
use crate::terminal;

/// A process to run in a running container.
#[derive(Debug, Clone)]
pub struct ExecSpec {
    pub cmd: Vec<String>,
    /// `uid:gid`
    pub user: String,
    pub workdir: String,
    /// `KEY=VALUE`
    pub env: Vec<String>,
}

impl Engine {
    /// Where to connect to `container_port`/tcp from this machine: the host port the engine
    /// published (the one ptenv moved to when the default was taken) at the address it is
    /// bound to ([`crate::address::connect_to`]), read from the running container.
    pub async fn published(
        &self,
        container: &str,
        container_port: u16,
    ) -> Result<Option<std::net::SocketAddr>> {
        let c = match self.docker.inspect_container(container, None).await {
            Ok(c) => c,
            Err(e) if status_of(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(failed("cannot inspect the container", &self.endpoint, &e)),
        };
        let key = format!("{container_port}/tcp");
        let first = |bindings: Vec<bollard::models::PortBinding>| {
            bindings.into_iter().find_map(|b| {
                let port = b.host_port?.parse().ok()?;
                Some(crate::address::connect_to(
                    b.host_ip.as_deref().unwrap_or_default(),
                    port,
                ))
            })
        };
        let from_network = c
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|p| p.get(&key).cloned().flatten())
            .and_then(first);
        if from_network.is_some() {
            return Ok(from_network);
        }
        // Not running: what it was created with.
        Ok(c.host_config
            .and_then(|h| h.port_bindings)
            .and_then(|p| p.get(&key).cloned().flatten())
            .and_then(first))
    }

    /// The last `lines` lines of the container's output (stdout and stderr together).
    pub async fn log_tail(&self, container: &str, lines: usize) -> Result<String> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut stream = self.docker.logs(container, Some(options));
        let mut out = String::new();
        while let Some(item) = stream.next().await {
            let item = item.map_err(|e| failed("cannot read the logs", &self.endpoint, &e))?;
            out.push_str(&item.to_string());
        }
        Ok(out)
    }

    /// Run `spec` in the container attached to our stdin/stdout/stderr; with a terminal on
    /// both ends, through a pseudo-terminal in raw mode, following window size changes. Returns
    /// the process's exit code.
    pub async fn exec_attached(&self, container: &str, spec: &ExecSpec) -> Result<i32> {
        let tty =
            terminal::is_terminal(std::io::stdin()) && terminal::is_terminal(std::io::stdout());
        let options = CreateExecOptions {
            cmd: Some(spec.cmd.clone()),
            user: Some(spec.user.clone()),
            working_dir: Some(spec.workdir.clone()),
            env: Some(spec.env.clone()),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(tty),
            ..Default::default()
        };
        let cannot_start = |e: &bollard::errors::Error| {
            failed(
                "cannot start the process in the container",
                &self.endpoint,
                e,
            )
        };
        let exec = self
            .docker
            .create_exec(container, options)
            .await
            .map_err(|e| cannot_start(&e))?;
        let started = self
            .docker
            .start_exec(
                &exec.id,
                Some(StartExecOptions {
                    detach: false,
                    tty,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(|e| cannot_start(&e))?;
        let StartExecResults::Attached {
            mut output,
            mut input,
        } = started
        else {
            return Err(Error::new("the engine did not attach to the process"));
        };
        let raw = if tty {
            self.resize(&exec.id).await;
            Some(terminal::RawMode::enable(std::io::stdin())?)
        } else {
            None
        };
        // stdin is read on a plain thread: a blocking read must not hold the runtime when the
        // process ends first.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
        std::thread::spawn(move || {
            use std::io::Read;
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 4096];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.blocking_send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let mut winch =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let mut stdin_open = true;
        let mut signalled: Option<Signal> = None;
        loop {
            tokio::select! {
                item = output.next() => match item {
                    Some(Ok(item)) => {
                        use bollard::container::LogOutput;
                        match item {
                            LogOutput::StdErr { message } => {
                                let mut err = std::io::stderr().lock();
                                let _ = err.write_all(&message);
                                let _ = err.flush();
                            }
                            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                                let mut out = std::io::stdout().lock();
                                if out.write_all(&message).and_then(|_| out.flush()).is_err() {
                                    // Our reader is gone (`ptenv shell -- yes | head`): stop,
                                    // as a shell pipeline would, instead of reading forever.
                                    signalled = Some(Signal::PIPE);
                                    break;
                                }
                            }
                            LogOutput::StdIn { .. } => {}
                        }
                    }
                    Some(Err(e)) => {
                        drop(raw);
                        return Err(failed("lost the connection to the process", &self.endpoint, &e));
                    }
                    None => break,
                },
                bytes = rx.recv(), if stdin_open => match bytes {
                    Some(bytes) => {
                        if input.write_all(&bytes).await.is_err() {
                            stdin_open = false;
                        }
                    }
                    None => {
                        // EOF on our stdin: the process sees EOF too.
                        let _ = input.shutdown().await;
                        stdin_open = false;
                    }
                },
                _ = winch.recv() => self.resize(&exec.id).await,
                _ = term.recv() => { signalled = Some(Signal::TERM); break; }
                _ = hangup.recv() => { signalled = Some(Signal::HUP); break; }
                // Without a TTY, Ctrl-C reaches ptenv, not the process (as with `docker exec`
                // without -t); `up` installed a SIGINT handler, so it must be caught here.
                _ = tokio::signal::ctrl_c() => { signalled = Some(Signal::INT); break; }
            }
        }
        drop(raw);
        if let Some(sig) = signalled {
            return Ok(128 + sig.as_raw());
        }
        // The output ends a moment before the engine records the exit code.
        for _ in 0..50 {
            let inspect =
                self.docker.inspect_exec(&exec.id).await.map_err(|e| {
                    failed("cannot read the process's exit code", &self.endpoint, &e)
                })?;
            if inspect.running != Some(true) {
                return Ok(inspect.exit_code.map_or(1, |c| c as i32));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(Error::new(
            "the process's output ended, but the engine still reports it running",
        ))
    }

    async fn resize(&self, exec_id: &str) {
        if let Some((rows, cols)) = terminal::size(std::io::stdout()) {
            let _ = self
                .docker
                .resize_exec(
                    exec_id,
                    ResizeExecOptions {
                        height: rows,
                        width: cols,
                    },
                )
                .await;
        }
    }
}
