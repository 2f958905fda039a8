//! The derived image's recipe: the Dockerfile ptenv builds on top of the selected base image,
//! and its deterministic tag. Pure: text in, text out.
//!
//! The official images have no Jupyter and no sshd and run as root. The derived image adds the
//! mode's tools (skipped when the base has them: the checks run inside the build), the
//! profile's extra apt/pip packages, and a user whose UID/GID match the host user, with
//! passwordless sudo unless the profile says `sudo: false`. The image's default user stays root: sshd needs it, and the other modes
//! set the container's user at create time.
//!
//! Corporate networks: the proxy variables are Docker's predefined build args (`HTTP_PROXY`,
//! `HTTPS_PROXY`, `NO_PROXY`, `FTP_PROXY`, `ALL_PROXY`, upper and lower case), which the builder
//! passes to every `RUN` without declaring them and never records in the image's history. The
//! CA bundle and the pip index have no such mechanism in the classic builder (Engine 20.10 has
//! no secret mounts), so they come in as build args that only the single `RUN` consumes: the CA
//! is written to /tmp, used by apt and pip, and deleted within that same `RUN`, so no layer's
//! file system ever contains it, and the index URL lives only in that `RUN`'s environment.
//! Build args travel in the request's URL, which is limited to 64 KiB: a whole system bundle
//! (200 KiB) does not fit, so only the certificates the base image's own bundle lacks are sent
//! (usually the one corporate root), and the `RUN` appends them to the image's bundle.
//! Trade-off: the classic builder records the values of declared build args in the image's
//! history (`docker history --no-trunc`). For a public CA bundle that is harmless; an index URL
//! with a password in it would be visible there, so ptenv tells the user when it passes one
//! (see `build::Network::warnings`). The derived image is local and never pushed.

use sha2::{Digest, Sha256};

use crate::dependencies::{Dependencies, Installer};
use crate::error::{Error, Result};
use crate::identity::User;
use crate::modes::ContainerFile;
use crate::package_name::{check_apt, check_pip};
use crate::profile::{Mode, Packages};
use crate::project::{hex, slug};

/// JupyterLab settings ptenv's Jupyter images start with: no news pop-up, no update check.
pub const JUPYTERLAB_OVERRIDES: &str = r#"{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}"#;

/// The build arg that carries the PEM certificates the base image does not trust yet.
pub const CA_ARG: &str = "PTENV_CA_PEM";
/// Set (to `1`) when a CA bundle is in use, even if the base image already has all of its
/// certificates: pip then still needs to be pointed at the system bundle (it trusts certifi's).
pub const CA_FLAG: &str = "PTENV_CA";
/// Where Debian and Ubuntu (the bases of the official images) keep the system bundle.
pub const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The pip settings that reach the build as build args (pip reads them from the environment).
pub const PIP_ARGS: [&str; 3] = ["PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST"];
/// Where the dependency layer keeps its files: the requirements it installed, the
/// constraints, the image's torch stack (`image.txt`), what the image had (`before.txt`), what
/// is installed after (`installed.txt`) and the difference ([`RESOLVED`]).
pub const DEPENDENCIES_DIR: &str = "/etc/ptenv/dependencies";
/// What the dependency layer's install added or changed, `name==version` a line as `pip
/// freeze` prints them (`installed.txt` less the image's own `before.txt`).
pub const RESOLVED: &str = "/etc/ptenv/dependencies/resolved.txt";
/// The pip constraints that keep the image's torch stack: written by the dependency layer
/// from the image's own `pip list`, used by every later install.
pub const IMAGE_CONSTRAINTS: &str = "/etc/ptenv/dependencies/image.txt";

/// Docker's predefined build args: passed through without `ARG`, never in the history.
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// What the derived image is made of.
#[derive(Debug, Clone)]
pub struct Recipe<'a> {
    /// The base image reference, e.g. `pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime`.
    pub base: &'a str,
    /// The base image's ID (`sha256:…`): a re-pulled tag gives a new derived image.
    pub base_id: &'a str,
    /// The base image's configured user (`Config.User`), when known: a `USER root` line is
    /// needed only when it is not root already.
    pub base_user: Option<&'a str>,
    pub mode: Mode,
    pub packages: &'a Packages,
    pub user: &'a User,
    /// Passwordless sudo for the user (the profile's `sudo`).
    pub sudo: bool,
    /// The project's dependencies, installed in layers of their own below the mode's (see
    /// [`Recipe::dockerfile`]); `None` or empty: no such layer.
    pub dependencies: Option<&'a Dependencies>,
}

impl Recipe<'_> {
    /// `ptenv/<base tag>-<hash>`: the same base image and inputs give the same tag, so a second
    /// `up` finds the image and builds nothing.
    pub fn tag(&self) -> Result<String> {
        let mut h = Sha256::new();
        h.update(self.base_id.as_bytes());
        h.update(b"\n");
        h.update(self.dockerfile()?.as_bytes());
        let hash = hex(&h.finalize());
        let (repo, tag) = crate::registry::reference::split_reference(self.base);
        // A locked base (`repo@sha256:…`) is named by its short digest.
        let tag = tag
            .strip_prefix("sha256:")
            .map_or(tag, |hex| &hex[..hex.len().min(12)]);
        let name = repo.rsplit('/').next().unwrap_or(repo);
        let base = slug(&format!("{name}-{tag}"));
        Ok(format!("ptenv/{base}-{}", &hash[..12]))
    }

    /// The Dockerfile. One `RUN`, so the CA bundle is created and deleted in the same layer.
    /// Commands are joined with `;` under `set -e`, never `&&`: a failure inside an `&&` list
    /// does not stop the shell, and a missing package would pass unnoticed.
    ///
    /// Package names reach apt-get and pip as quoted words collected in the positional
    /// parameters and passed after `--`: never split by the shell, never read as options.
    /// Every text from outside (a profile, the base's name) is checked here once more, so no
    /// newline can end the `RUN` line and start an instruction of its own.
    pub fn dockerfile(&self) -> Result<String> {
        self.check()?;
        let u = self.user;
        let mut apt: Vec<String> = Vec::new();
        if self.sudo {
            apt.push("sudo".into());
        }
        apt.extend(self.packages.apt.iter().cloned());
        let mut script = vec![
            "set -e".to_string(),
            // The image's own environment, for root's login shells where no command of root's
            // rewrites it at start (Jupyter and the shell start as the user): without the
            // build's args, which may carry a CA, a proxy or an index URL with a password.
            format!(
                "ptenv_env=$(unset {CA_FLAG} {CA_ARG} {} {} {}; export -p)",
                PIP_ARGS.join(" "),
                PROXY_ARGS.join(" "),
                crate::modes::LOCAL_VARIABLES
            ),
            ca_prelude(),
            // apt packages not yet installed, collected in the positional parameters; sshd
            // only when the base has none.
            "set --".to_string(),
        ];
        if !apt.is_empty() {
            script.push(apt_missing(&apt));
        }
        if self.mode == Mode::Ssh {
            script.push(
                "command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || set -- \"$@\" openssh-server"
                    .into(),
            );
        }
        script.push(APT_INSTALL.into());
        if self.mode == Mode::Ssh {
            // sshd refuses to start without its privilege-separation folder.
            script.push("mkdir -p /run/sshd".into());
        }
        // pip packages go into the image's own python, so notebooks and scripts see torch.
        let mut pip_checks: Vec<(String, String)> = Vec::new();
        if self.mode == Mode::Jupyter {
            pip_checks.push(("jupyterlab".into(), "jupyterlab".into()));
            pip_checks.push(("ipykernel".into(), "ipykernel".into()));
        }
        if !pip_checks.is_empty() || !self.packages.pip.is_empty() {
            script.push(PYTHON.into());
            // The packages collect in the positional parameters: a string of quoted words
            // would reach pip with the quotes still on (`Invalid requirement: "'jupyterlab'"`).
            script.push("set --".into());
            for (module, package) in &pip_checks {
                script.push(format!(
                    "\"$PY\" -c 'import {module}' >/dev/null 2>&1 || set -- \"$@\" {}",
                    crate::shell::single_quoted(package)
                ));
            }
            for p in &self.packages.pip {
                script.push(format!("set -- \"$@\" {}", crate::shell::single_quoted(p)));
            }
            // Below a dependency layer, the image's torch stack stays pinned here too.
            let keep = match self.pip_dependencies() {
                true => format!(" -c {IMAGE_CONSTRAINTS}"),
                false => String::new(),
            };
            script.push(format!(
                "if [ $# -gt 0 ]; then \"$PY\" -m pip install --no-cache-dir -q{keep} -- \"$@\"; fi"
            ));
        }
        if self.mode == Mode::Jupyter {
            // JupyterLab's first screen asks whether to fetch Jupyter's news and checks for
            // updates over the network; neither belongs in a project's environment. Defaults
            // for every user go in `<sys.prefix>/share/jupyter/lab/settings/overrides.json`
            // (JupyterLab's documented place); an image that has one keeps it.
            script.push(format!(
                "d=$(\"$PY\" -c 'import sys; print(sys.prefix)')/share/jupyter/lab/settings; \
                 mkdir -p \"$d\"; [ -e \"$d/overrides.json\" ] || printf '%s\\n' {} > \"$d/overrides.json\"",
                crate::shell::single_quoted(JUPYTERLAB_OVERRIDES)
            ));
        }
        // The user: reuse a group or user that already has the IDs (e.g. `ubuntu` 1000 in
        // newer Ubuntu bases), renamed, so files in /workspace show the host user's IDs. A
        // group or user that has the name but other IDs (a team's base image, or an image
        // ptenv derived for another user) is given the IDs; a user of that name in the way of
        // a rename keeps its files under the name `<name>-base`.
        script.push(format!(
            "getent group {gid} >/dev/null || \
             if getent group {name} >/dev/null; then groupmod -g {gid} {name}; else groupadd -g {gid} {name}; fi",
            gid = u.gid,
            name = u.name
        ));
        script.push(format!(
            "old=$(getent passwd {uid} | cut -d: -f1); \
             if [ -z \"$old\" ]; then \
             if getent passwd {name} >/dev/null; then usermod -u {uid} -g {gid} -d {home} -s /bin/bash {name}; \
             mkdir -p {home}; chown {uid}:{gid} {home}; \
             else useradd -m -u {uid} -g {gid} -s /bin/bash -d {home} {name}; fi; \
             elif [ \"$old\" != {name} ]; then \
             if getent passwd {name} >/dev/null; then usermod -l {name}-base {name}; fi; \
             usermod -l {name} -d {home} -m -g {gid} -s /bin/bash \"$old\"; fi",
            uid = u.uid,
            gid = u.gid,
            name = u.name,
            home = u.home
        ));
        if self.sudo {
            script.push(format!(
                "echo '{name} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/ptenv; chmod 0440 /etc/sudoers.d/ptenv",
                name = u.name
            ));
        } else {
            // No sudo: neither ptenv's rule nor the admin groups a reused base user may be in.
            script.push(format!(
                "rm -f /etc/sudoers.d/ptenv; for g in sudo admin wheel; do \
                 if id -nG {name} | tr ' ' '\\n' | grep -qx \"$g\"; then gpasswd -d {name} \"$g\" >/dev/null; fi; done",
                name = u.name
            ));
        }
        // The home the project's volume is mounted on, and what run-time installs need.
        script.push("PY=$(command -v python3 || command -v python || true)".into());
        script.extend(crate::home::image_code(u, &pin_image_stack()));
        // ptenv's own files for every container of the image (see `modes::image_files`).
        for f in crate::modes::image_files(u) {
            script.push(write_file(&f));
        }
        script.push(format!(
            "printf '%s\\n' \"$ptenv_env\" > {}",
            crate::modes::ENVIRONMENT_FILE
        ));
        script.push("rm -f /tmp/ptenv-ca.pem".into());

        let mut out = String::new();
        out.push_str(&format!(
            "# Generated by ptenv: {base} with {deps}the {mode} tools, the profile's packages and the user {name} ({uid}:{gid}).\n",
            deps = match self.dependencies.filter(|d| !d.is_empty()) {
                Some(d) => format!("the project's dependencies ({}), ", d.file_list()),
                None => String::new(),
            },
            base = self.base,
            mode = self.mode,
            name = u.name,
            uid = u.uid,
            gid = u.gid
        ));
        out.push_str(&format!("FROM {}\n", self.base));
        // Few instructions: the classic builder commits an image for each one, and on engines
        // whose storage driver has no native diff (fuse-overlayfs, rootless setups) each commit
        // walks the whole image, 20 s for a 6 GB base. One `ARG` line declares them all.
        let root = |u: &str| matches!(u.split(':').next(), Some("" | "root" | "0"));
        if !self.base_user.is_some_and(root) {
            out.push_str("USER root\n");
        }
        out.push_str(&format!("ARG {CA_FLAG} {CA_ARG} {}\n", PIP_ARGS.join(" ")));
        // The project's dependencies first, each kind in a layer of its own: the mode's
        // layer goes on top, so the modes of one project share these layers (the builder's
        // cache) and a changed requirements file rebuilds from its layer on.
        for layer in self.dependency_layers() {
            out.push_str("RUN ");
            out.push_str(&layer.join(" ; \\\n    "));
            out.push('\n');
        }
        out.push_str("RUN ");
        out.push_str(&script.join(" ; \\\n    "));
        out.push('\n');
        Ok(out)
    }

    fn pip_dependencies(&self) -> bool {
        self.dependencies.is_some_and(|d| !d.pip.is_empty())
    }

    /// The `RUN` scripts of the dependency layers: the Debian packages (`apt.txt`), then the
    /// pip requirements, installed with the image's torch stack pinned as constraints (the
    /// rules and their sources: docs/dependencies.md).
    fn dependency_layers(&self) -> Vec<Vec<String>> {
        let Some(d) = self.dependencies else {
            return Vec::new();
        };
        let mut layers = Vec::new();
        if !d.apt.is_empty() {
            layers.push(vec![
                "set -e".to_string(),
                ca_prelude(),
                "set --".to_string(),
                apt_missing(&d.apt_names()),
                APT_INSTALL.to_string(),
                "rm -f /tmp/ptenv-ca.pem".to_string(),
            ]);
        }
        if d.pip.is_empty() {
            return layers;
        }
        let root_file = |name: &str, text: String| {
            write_file(&ContainerFile {
                path: format!("{DEPENDENCIES_DIR}/{name}"),
                contents: text.into_bytes(),
                mode: 0o644,
                uid: 0,
                gid: 0,
            })
        };
        let reqs = format!("{DEPENDENCIES_DIR}/requirements.txt");
        let cons = format!("{DEPENDENCIES_DIR}/constraints.txt");
        let uv_wanted = match d.installer {
            Installer::Pip => "",
            Installer::Auto | Installer::Uv => "1",
        };
        let uv_failed = match d.installer {
            Installer::Uv => "echo 'ptenv: uv could not be installed from the package index (`installer: uv`)' >&2; exit 1",
            _ => "echo 'ptenv: uv could not be installed from the package index; installing with pip'",
        };
        let mut script = vec![
            "set -e".to_string(),
            ca_prelude(),
            PYTHON.to_string(),
            root_file("requirements.txt", d.requirements_txt()),
            root_file("constraints.txt", d.constraints_txt()),
            // What the image has, pinned: the install may add packages, never replace these.
            pin_image_stack(),
            format!(
                "\"$PY\" -m pip list --format=freeze --disable-pip-version-check > {DEPENDENCIES_DIR}/before.txt 2>/dev/null || true"
            ),
            format!("echo \"ptenv: kept from the image: $(tr '\\n' ' ' < {IMAGE_CONSTRAINTS})\""),
            // uv reads its own names for pip's index settings.
            "if [ -n \"$PIP_INDEX_URL\" ]; then export UV_INDEX_URL=\"$PIP_INDEX_URL\"; fi; \
             if [ -n \"$PIP_EXTRA_INDEX_URL\" ]; then export UV_EXTRA_INDEX_URL=\"$PIP_EXTRA_INDEX_URL\"; fi; \
             if [ -n \"$PIP_TRUSTED_HOST\" ]; then export UV_INSECURE_HOST=\"$PIP_TRUSTED_HOST\"; fi"
                .to_string(),
            format!(
                "UV=''; if [ -n '{uv_wanted}' ]; then \
                 if \"$PY\" -m pip install --disable-pip-version-check --no-cache-dir -q --target /tmp/ptenv-uv uv && [ -x /tmp/ptenv-uv/bin/uv ]; \
                 then UV=/tmp/ptenv-uv/bin/uv; else {uv_failed}; fi; fi"
            ),
            format!(
                "if [ -n \"$UV\" ]; then echo 'ptenv: installing the requirements with uv'; \
                 \"$UV\" pip install --python \"$PY\" --no-cache -c {IMAGE_CONSTRAINTS} -c {cons} -r {reqs}; \
                 else echo 'ptenv: installing the requirements with pip'; \
                 \"$PY\" -m pip install --disable-pip-version-check --no-cache-dir --progress-bar off -c {IMAGE_CONSTRAINTS} -c {cons} -r {reqs}; fi"
            ),
            // What is installed now, and what the install added or changed (the layer's
            // resolution, which `ptenv lock` records as RESOLVED).
            format!(
                "\"$PY\" -m pip list --format=freeze --disable-pip-version-check > {DEPENDENCIES_DIR}/installed.txt; \
                 grep -vxF -f {DEPENDENCIES_DIR}/before.txt {DEPENDENCIES_DIR}/installed.txt > {RESOLVED} || true"
            ),
            "rm -rf /tmp/ptenv-uv /tmp/ptenv-ca.pem".to_string(),
        ];
        script.retain(|l| !l.is_empty());
        layers.push(script);
        layers
    }

    /// The recipe's texts from outside: package names as the profile's reader checks them,
    /// and nothing with a line break or another control character.
    fn check(&self) -> Result<()> {
        let bad = |what: &str, value: &str, why: String| {
            Error::new(format!(
                "cannot write the derived image's Dockerfile: {what} {value:?} {why}"
            ))
            .hint("fix the profile (ptenv.yaml or ~/.config/ptenv/config.yaml) and run the command again")
        };
        for p in &self.packages.apt {
            check_apt(p).map_err(|m| bad("the apt package", p, m))?;
        }
        for p in &self.packages.pip {
            check_pip(p).map_err(|m| bad("the pip package", p, m))?;
        }
        if let Some(d) = self.dependencies {
            for (p, origin) in &d.apt {
                check_apt(p).map_err(|m| bad(&format!("the apt package of {origin}"), p, m))?;
            }
            let lines = d
                .pip
                .iter()
                .chain(&d.constraints)
                .map(|r| (&r.text, &r.origin));
            let options = d.options.iter().map(|(o, origin)| (o, origin));
            for (text, origin) in lines.chain(options) {
                if text.chars().any(char::is_control) {
                    return Err(bad(
                        &format!("the line {origin}"),
                        text,
                        "contains a control character".into(),
                    ));
                }
            }
        }
        let texts = [
            ("the base image", self.base),
            ("the base image's ID", self.base_id),
            ("the base image's user", self.base_user.unwrap_or("")),
            ("the user name", &self.user.name),
            ("the user's home", &self.user.home),
        ];
        for (what, value) in texts {
            if value.chars().any(char::is_control) {
                return Err(bad(what, value, "contains a control character".into()));
            }
        }
        Ok(())
    }
}

/// The CA bundle (when given) for apt, pip, uv and anything using OpenSSL: the image's own
/// system bundle plus the certificates it lacks, in /tmp until the end of the `RUN`.
fn ca_prelude() -> String {
    format!(
        "if [ -n \"${CA_FLAG}\" ]; then {{ cat {SYSTEM_BUNDLE} 2>/dev/null || true; \
         printf '%s\\n' \"${CA_ARG}\"; }} > /tmp/ptenv-ca.pem; \
         export PIP_CERT=/tmp/ptenv-ca.pem SSL_CERT_FILE=/tmp/ptenv-ca.pem \
         REQUESTS_CA_BUNDLE=/tmp/ptenv-ca.pem; \
         APT_CA='-o Acquire::https::CAInfo=/tmp/ptenv-ca.pem'; else APT_CA=''; fi"
    )
}

/// Shell code that writes [`IMAGE_CONSTRAINTS`]: the image's torch stack as `pip list` shows it,
/// pinned, and numpy's major version, for every later install (at build and at run time) to
/// add packages next to them, never to replace them. The image's python is in `$PY`.
fn pin_image_stack() -> String {
    // `pip list` names the distributions as their metadata does (`torch`, `nvidia-cublas-cu12`).
    let stack = crate::dependencies::IMAGE_STACK
        .iter()
        .map(|p| match p.strip_suffix('-') {
            Some(prefix) => format!("{prefix}-[a-z0-9._-]+"),
            None => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join("|");
    format!(
        "mkdir -p {DEPENDENCIES_DIR}; \
         \"$PY\" -m pip list --format=freeze --disable-pip-version-check 2>/dev/null | grep -iE '^({stack})==' > {IMAGE_CONSTRAINTS} || true; \
         n=$(\"$PY\" -c 'import numpy; print(numpy.__version__.split(\".\")[0])' 2>/dev/null || true); \
         if [ -n \"$n\" ]; then echo \"numpy>=$n,<$((n + 1))\" >> {IMAGE_CONSTRAINTS}; fi"
    )
}

/// Adds the packages of `names` that are not installed yet to the positional parameters.
fn apt_missing(names: &[String]) -> String {
    format!(
        "for p in {}; do dpkg -s -- \"$p\" >/dev/null 2>&1 || set -- \"$@\" \"$p\"; done",
        names
            .iter()
            .map(|p| crate::shell::single_quoted(p))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// Installs the packages collected in the positional parameters, if any.
const APT_INSTALL: &str = "if [ $# -gt 0 ]; then apt-get $APT_CA update -q \
     ; DEBIAN_FRONTEND=noninteractive apt-get $APT_CA install -y -q --no-install-recommends -- \"$@\" \
     ; rm -rf /var/lib/apt/lists/*; fi";

/// The image's python, in `$PY`.
const PYTHON: &str = "PY=$(command -v python3 || command -v python || true); \
     if [ -z \"$PY\" ]; then echo 'ptenv: the base image has no python' >&2; exit 1; fi";

/// Shell code that writes `f` with its mode and owner, on one line of the Dockerfile: each
/// line of the file is one quoted `printf` argument, so the Dockerfile stays readable.
fn write_file(f: &ContainerFile) -> String {
    let path = crate::shell::single_quoted(&f.path);
    let dir = crate::shell::single_quoted(f.path.rsplit_once('/').map_or("/", |(d, _)| d));
    let text = String::from_utf8_lossy(&f.contents);
    let lines = |t: &str| {
        t.split('\n')
            .map(crate::shell::single_quoted)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let write = if text.is_empty() {
        format!(": > {path}")
    } else if let Some(body) = text.strip_suffix('\n') {
        format!("printf '%s\\n' {} > {path}", lines(body))
    } else if let Some((body, last)) = text.rsplit_once('\n') {
        // No newline at the end: the last line is printed without one.
        let last = crate::shell::single_quoted(last);
        format!(
            "{{ printf '%s\\n' {}; printf '%s' {last}; }} > {path}",
            lines(body)
        )
    } else {
        format!(
            "printf '%s' {} > {path}",
            crate::shell::single_quoted(&text)
        )
    };
    format!(
        "mkdir -p {dir}; {write}; chown {}:{} {path}; chmod {:o} {path}",
        f.uid, f.gid, f.mode
    )
}

#[cfg(test)]
mod tests;
