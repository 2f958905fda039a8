//! The host's terminal, for `ptenv shell`: raw mode while the container's shell owns the
//! screen (so Ctrl-C, Ctrl-D and arrow keys reach it as bytes), its size for the container's
//! pseudo-terminal, and the original mode restored when the guard is dropped, which covers
//! every return, `?` and panic. Signals that would kill ptenv while raw (SIGTERM, SIGHUP) are
//! caught by the session loop, which then returns normally.

use std::io;
use std::os::fd::AsFd;

use rustix::termios::{self, OptionalActions, Termios};

/// Raw mode on the terminal `F` until dropped.
pub struct RawMode<F: AsFd> {
    fd: F,
    original: Termios,
}

impl<F: AsFd> RawMode<F> {
    /// Puts the terminal `fd` in raw mode (as `cfmakeraw`): no echo, no line editing, no
    /// signals from keys, no output processing.
    pub fn enable(fd: F) -> io::Result<RawMode<F>> {
        let original = termios::tcgetattr(&fd)?;
        let mut raw = original.clone();
        raw.make_raw();
        termios::tcsetattr(&fd, OptionalActions::Now, &raw)?;
        Ok(RawMode { fd, original })
    }
}

impl<F: AsFd> Drop for RawMode<F> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(&self.fd, OptionalActions::Now, &self.original);
    }
}

/// The terminal's size as (rows, columns), when `fd` is a terminal that knows it.
pub fn size(fd: impl AsFd) -> Option<(u16, u16)> {
    let ws = termios::tcgetwinsize(fd).ok()?;
    (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Whether `fd` is a terminal.
pub fn is_terminal(fd: impl AsFd) -> bool {
    termios::isatty(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::{self, OpenptFlags};
    use rustix::termios::{LocalModes, Winsize};

    #[test]
    fn a_pipe_is_no_terminal_and_has_no_size() {
        let (read, _write) = rustix::pipe::pipe().unwrap();
        assert!(!is_terminal(&read));
        assert_eq!(size(&read), None);
        assert!(RawMode::enable(&read).is_err());
    }

    /// A real pseudo-terminal: raw mode is set, and restored on drop.
    #[test]
    fn raw_mode_is_restored_on_drop() {
        let master = pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        pty::grantpt(&master).unwrap();
        pty::unlockpt(&master).unwrap();
        let name = pty::ptsname(&master, Vec::new()).unwrap();
        let slave = rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY,
            Mode::empty(),
        )
        .unwrap();
        let ws = Winsize {
            ws_row: 33,
            ws_col: 101,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        termios::tcsetwinsize(&slave, ws).unwrap();
        assert!(is_terminal(&slave));
        assert_eq!(size(&slave), Some((33, 101)));
        let lflag = |fd| termios::tcgetattr(fd).unwrap().local_modes;
        let before = lflag(&slave);
        assert!(before.contains(LocalModes::ECHO));
        {
            let _raw = RawMode::enable(&slave).unwrap();
            assert!(
                !lflag(&slave).intersects(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG)
            );
        }
        assert_eq!(lflag(&slave), before);
    }
}
