//! The host's terminal, for `ptenv shell`: raw mode while the container's shell owns the
//! screen (so Ctrl-C, Ctrl-D and arrow keys reach it as bytes), its size for the container's
//! pseudo-terminal, and the original mode restored when the guard is dropped, which covers
//! every return, `?` and panic. Signals that would kill ptenv while raw (SIGTERM, SIGHUP) are
//! caught by the session loop, which then returns normally.

use std::io;
use std::os::fd::RawFd;

/// Raw mode on a terminal until dropped.
pub struct RawMode {
    fd: RawFd,
    original: libc::termios,
}

impl RawMode {
    /// Puts the terminal `fd` in raw mode (as `cfmakeraw`): no echo, no line editing, no
    /// signals from keys, no output processing.
    pub fn enable(fd: RawFd) -> io::Result<RawMode> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut original: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut original) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut raw = original;
        // SAFETY: raw is a valid termios copied from the terminal.
        unsafe { libc::cfmakeraw(&mut raw) };
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawMode { fd, original })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the attributes read in `enable` on the same descriptor.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.original) };
    }
}

/// The terminal's size as (rows, columns), when `fd` is a terminal that knows it.
pub fn size(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: winsize is plain data; TIOCGWINSZ fills it or fails.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Whether `fd` is a terminal.
pub fn is_terminal(fd: RawFd) -> bool {
    // SAFETY: isatty only looks at the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_is_no_terminal_and_has_no_size() {
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        assert!(!is_terminal(fds[0]));
        assert_eq!(size(fds[0]), None);
        assert!(RawMode::enable(fds[0]).is_err());
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }

    /// A real pseudo-terminal: raw mode is set, and restored on drop.
    #[test]
    fn raw_mode_is_restored_on_drop() {
        let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY) };
        assert!(master >= 0);
        assert_eq!(unsafe { libc::grantpt(master) }, 0);
        assert_eq!(unsafe { libc::unlockpt(master) }, 0);
        let name = unsafe { std::ffi::CStr::from_ptr(libc::ptsname(master)) }.to_owned();
        let slave = unsafe { libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY) };
        assert!(slave >= 0);
        let ws = libc::winsize {
            ws_row: 33,
            ws_col: 101,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        assert_eq!(unsafe { libc::ioctl(slave, libc::TIOCSWINSZ, &ws) }, 0);
        assert!(is_terminal(slave));
        assert_eq!(size(slave), Some((33, 101)));
        let lflag = |fd| {
            let mut t: libc::termios = unsafe { std::mem::zeroed() };
            assert_eq!(unsafe { libc::tcgetattr(fd, &mut t) }, 0);
            t.c_lflag
        };
        let before = lflag(slave);
        assert_ne!(before & libc::ECHO, 0);
        {
            let _raw = RawMode::enable(slave).unwrap();
            assert_eq!(lflag(slave) & (libc::ECHO | libc::ICANON | libc::ISIG), 0);
        }
        assert_eq!(lflag(slave), before);
        unsafe {
            libc::close(slave);
            libc::close(master);
        }
    }
}
