//! The container user's home, kept per project: a named volume mounted at the home of every
//! container of the project, so what the user installs or keeps there outlives the containers
//! and the images (`pip install` into ~/.local, ~/.cache, shell history, the server VS Code's
//! Remote-SSH installs in ~/.vscode-server). `down` keeps it; `down --purge` removes it.
//!
//! `pip install x` as the user lands in the user site (~/.local/lib/pythonX.Y/site-packages,
//! ~/.local/bin), which the image's python reads, always with the image's torch stack pinned
//! (the rules and their sources: docs/dependencies.md, "Installing at run time").
//!
//! Nothing of ptenv's own lives in the home: the modes' keys, token and scripts are under
//! /etc/ptenv (`modes`), so a home kept from an older container hides none of them and holds no
//! stale key.

use std::collections::BTreeMap;

use crate::identity::User;
use crate::plan::NamedVolume;
use crate::project::{Project, LABEL_PROJECT, LABEL_VOLUME};
use crate::recipe::IMAGE_CONSTRAINTS;

/// The environment every container gets for run-time installs: uv (which has no `--user`:
/// `uv pip install --python python --prefix ~/.local`) never replaces what the image's torch
/// needs. pip gets the same from the image's own python's site config instead (see
/// [`image_code`]), which a venv made in the container does not read.
pub const ENV: [(&str, &str); 1] = [("UV_CONSTRAINT", IMAGE_CONSTRAINTS)];

/// The project's home volume, at `user`'s home.
pub fn volume(project: &Project, user: &User) -> NamedVolume {
    NamedVolume {
        name: project.home_volume(),
        target: user.home.clone(),
        labels: labels(project),
    }
}

/// The home volume's labels: the one project it belongs to (its folder), and what it is.
pub fn labels(project: &Project) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            LABEL_PROJECT.to_string(),
            project.path.display().to_string(),
        ),
        (LABEL_VOLUME.to_string(), HOME_LABEL.to_string()),
    ])
}

/// What [`LABEL_VOLUME`] says of the home volume.
pub const HOME_LABEL: &str = "home";

/// Shell code that puts `~/.local/bin` (where pip puts the console scripts of user installs)
/// first on PATH, once, for whoever runs it: each user's own, never another's, since a folder
/// another user can write must not be on root's PATH.
pub const USER_BIN_ON_PATH: &str = "case \":$PATH:\" in *\":$HOME/.local/bin:\"*) ;; \
     *) PATH=\"$HOME/.local/bin:$PATH\"; export PATH ;; esac";

/// The derived image's lines for the home, run as root in the mode's layer with the image's
/// python in `$PY` (empty when it has none):
/// - a venv python that hides the user site (`include-system-site-packages = false`) shows it,
///   else pip refuses `--user` there ("User site-packages are not visible in this
///   virtualenv");
/// - the image's python's pip installs into the user site (`install.user`) with the image's
///   torch stack pinned (`install.constraint`), set in its site config (`<sys.prefix>/pip.conf`,
///   through `pip config --site`): unlike `PIP_USER`/`PIP_CONSTRAINT` in the environment, a
///   venv the user makes (pre-commit's, tox's) keeps plain pip, where `--user` is refused. The
///   user site itself is Python's default, `~/.local` (`PYTHONUSERBASE` stays unset), so root
///   in the same container keeps its own;
/// - the user site exists from the start, since Python puts it on `sys.path` only when it
///   exists: a notebook's `!pip install x` is then importable in the same kernel;
/// - the home is the user's alone (0700): it keeps shell history, VS Code's tokens and pip's
///   settings, and the engine gives a new volume the mode of the folder it is mounted on;
/// - the image's torch stack, pinned in [`IMAGE_CONSTRAINTS`] (when no dependency layer wrote
///   it already), for pip's `install.constraint` and [`ENV`]'s `UV_CONSTRAINT`.
pub fn image_code(user: &User, pinned: &str) -> Vec<String> {
    vec![
        "if [ -n \"$PY\" ]; then pfx=$(\"$PY\" -c 'import sys; print(sys.prefix)'); \
         if [ -f \"$pfx/pyvenv.cfg\" ]; then \
         sed -i 's/^include-system-site-packages *= *false *$/include-system-site-packages = true/' \"$pfx/pyvenv.cfg\"; fi; fi"
            .to_string(),
        format!(
            "if [ -n \"$PY\" ]; then if \"$PY\" -m pip --version >/dev/null 2>&1; then \
             \"$PY\" -m pip config --site set install.user true >/dev/null; \
             \"$PY\" -m pip config --site set install.constraint {IMAGE_CONSTRAINTS} >/dev/null; fi; fi"
        ),
        format!(
            "mkdir -p {home}; \
             if [ -n \"$PY\" ]; then s=$(HOME={home} \"$PY\" -c 'import site; print(site.getusersitepackages())'); \
             case \"$s\" in {home}/*) mkdir -p \"$s\" ;; esac; fi; \
             chown -R {uid}:{gid} {home}; chmod 0700 {home}",
            home = crate::shell::single_quoted(&user.home),
            uid = user.uid,
            gid = user.gid
        ),
        format!("if [ -n \"$PY\" ]; then if [ ! -e {IMAGE_CONSTRAINTS} ]; then {pinned}; fi; fi"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_home_is_the_project_s_volume_at_the_user_s_home() {
        let project = Project::new(std::path::Path::new("/home/ana/demo"));
        let v = volume(&project, &User::for_ids(1000, 1000));
        assert_eq!(v.name, project.home_volume());
        assert_eq!(v.target, "/home/dev");
        assert_eq!(v.labels["dev.ptenv.project"], "/home/ana/demo");
        assert_eq!(v.labels["dev.ptenv.volume"], "home");
        assert_eq!(volume(&project, &User::for_ids(0, 0)).target, "/root");
        assert_eq!(
            ENV,
            [("UV_CONSTRAINT", "/etc/ptenv/dependencies/image.txt")]
        );
    }

    #[test]
    fn the_user_bin_goes_first_on_path_once() {
        let run = |path: &str| {
            let out = std::process::Command::new("/bin/sh")
                .args([
                    "-c",
                    &format!("{USER_BIN_ON_PATH}; {USER_BIN_ON_PATH}; echo \"$PATH\""),
                ])
                .env("HOME", "/home/dev")
                .env("PATH", path)
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        assert_eq!(run("/usr/bin:/bin"), "/home/dev/.local/bin:/usr/bin:/bin");
        assert_eq!(
            run("/home/dev/.local/bin:/bin"),
            "/home/dev/.local/bin:/bin"
        );
    }

    #[test]
    fn the_image_code_closes_the_home_and_shows_the_user_site_in_a_venv() {
        let code = image_code(&User::for_ids(1234, 1300), "PINNED").join("\n");
        assert!(
            code.contains("chown -R 1234:1300 '/home/dev'; chmod 0700 '/home/dev'"),
            "{code}"
        );
        assert!(code.contains("print(site.getusersitepackages())"), "{code}");
        assert!(
            code.contains("pip config --site set install.user true"),
            "{code}"
        );
        assert!(
            code.contains(
                "pip config --site set install.constraint /etc/ptenv/dependencies/image.txt"
            ),
            "{code}"
        );
        assert!(
            code.contains("include-system-site-packages = true"),
            "{code}"
        );
        assert!(
            code.contains("if [ ! -e /etc/ptenv/dependencies/image.txt ]; then PINNED; fi; fi"),
            "{code}"
        );
    }

    #[test]
    fn a_venv_that_hides_the_user_site_shows_it_and_other_lines_stay() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("pyvenv.cfg");
        std::fs::write(
            &cfg,
            "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n",
        )
        .unwrap();
        // A stand-in for the image's python that only says where its prefix is.
        let py = dir.path().join("python");
        std::fs::write(&py, format!("#!/bin/sh\necho {}\n", dir.path().display())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&py, std::fs::Permissions::from_mode(0o755)).unwrap();
        let code = &image_code(&User::for_ids(1000, 1000), ":")[0];
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", &format!("set -e; PY={}; {code}", py.display())])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(&cfg).unwrap(),
            "home = /usr/bin\ninclude-system-site-packages = true\nversion = 3.11.2\n"
        );
    }
}
