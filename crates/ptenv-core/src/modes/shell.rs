//! The shell mode: the container idles (`sleep infinity` under the init process) and
//! `ptenv shell` opens a login shell in it as the container user, in /workspace, through the
//! engine's exec API, like `docker run -it`.

use super::{entry_command, Setup};

/// Nothing to copy in: the entry script and the login hook are in the derived image.
pub fn setup() -> Setup {
    Setup {
        env: Vec::new(),
        files: Vec::new(),
        command: Some(entry_command(vec!["sleep".into(), "infinity".into()])),
        run_as_root: false,
        runs_profile_command: false,
        warnings: Vec::new(),
    }
}

/// What `ptenv shell` runs: the user's command as given, or a login shell (bash when the image
/// has it, else sh).
pub fn command(cmd: &[String]) -> Vec<String> {
    if cmd.is_empty() {
        vec![
            "/bin/sh".into(),
            "-c".into(),
            "if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi".into(),
        ]
    } else {
        cmd.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_command_runs_as_is_else_a_login_shell() {
        assert_eq!(command(&["ls".into(), "-l".into()]), ["ls", "-l"]);
        let shell = command(&[]);
        assert_eq!(shell[0], "/bin/sh");
        assert!(shell[2].contains("exec /bin/bash -l"));
    }
}
