//! Ctrl-C for a step that reports its own interruption (a pull, a build).
//!
//! `tokio::signal::ctrl_c()` starts listening only when it is first polled, so a Ctrl-C that
//! comes after a step has said what it does, but before its `select!` first runs, reaches only
//! the command's generic handler. A step makes an [`Interrupt`] before it prints anything:
//! from then on every Ctrl-C is its own to report.

use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::error::{Error, Result};

/// Listening for SIGINT from the moment it is made.
pub struct Interrupt(Signal);

impl Interrupt {
    pub fn listen() -> Result<Self> {
        signal(SignalKind::interrupt())
            .map(Interrupt)
            .map_err(|e| Error::new(format!("cannot watch for Ctrl-C: {e}")))
    }

    /// Resolves at the next Ctrl-C.
    pub async fn recv(&mut self) {
        self.0.recv().await;
    }
}
