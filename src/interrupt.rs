//! Ctrl-C for a step that reports its own interruption (a pull, a build).
//!
//! `tokio::signal::ctrl_c()` starts listening only when it is first polled, so a Ctrl-C that
//! comes after a step has said what it does, but before its `select!` first runs, reaches only
//! the command's generic handler. A step makes an [`Interrupt`] before it prints anything:
//! from then on every Ctrl-C is its own to report.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::error::{Error, Result};

/// How many steps listen now.
static LISTENING: AtomicUsize = AtomicUsize::new(0);

/// Listening for SIGINT from the moment it is made.
pub struct Interrupt(Signal);

impl Interrupt {
    pub fn listen() -> Result<Self> {
        let signal = signal(SignalKind::interrupt())
            .map_err(|e| Error::new(format!("cannot watch for Ctrl-C: {e}")))?;
        LISTENING.fetch_add(1, Ordering::SeqCst);
        Ok(Interrupt(signal))
    }

    /// Resolves at the next Ctrl-C.
    pub async fn recv(&mut self) {
        self.0.recv().await;
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        LISTENING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether a step listens now, and will report a Ctrl-C itself once it next runs.
pub fn step_listening() -> bool {
    LISTENING.load(Ordering::SeqCst) > 0
}
