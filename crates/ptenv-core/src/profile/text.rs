//! Reading a layer from text: the built-in profiles and files, with errors that name the
//! place and the nearest key.

use super::*;

pub(super) const BUILTIN: [(Mode, &str); 3] = [
    (
        Mode::Jupyter,
        include_str!("../../../../profiles/jupyter.yaml"),
    ),
    (Mode::Ssh, include_str!("../../../../profiles/ssh.yaml")),
    (Mode::Shell, include_str!("../../../../profiles/shell.yaml")),
];

/// The built-in profile of a mode, parsed from the YAML compiled into the binary.
pub fn builtin(mode: Mode) -> Layer {
    let (_, text) = BUILTIN
        .iter()
        .find(|(m, _)| *m == mode)
        .expect("every mode has a built-in profile");
    parse(text, Path::new(concat!("profiles/", "built-in")))
        .expect("built-in profiles are valid (checked by unit tests)")
}

/// Parse the text of a profile file. Errors name the file, line and column, and suggest the
/// nearest valid key or value.
pub fn parse(text: &str, path: &Path) -> Result<Layer> {
    if text.trim().is_empty() {
        return Ok(Layer::default());
    }
    let layer: Layer = serde_yaml::from_str(text).map_err(|e| yaml_error(&e, path))?;
    if let Some(profiles) = &layer.profiles {
        for (name, p) in profiles {
            check_name(name).map_err(|m| {
                Error::new(format!("{}: {m}", path.display()))
                    .hint("rename the profile under `profiles:`")
            })?;
            if p.profiles.is_some() || p.default.is_some() || p.host.is_some() {
                return Err(Error::new(format!(
                    "{}: profile `{name}` contains `profiles`, `default` or `host`; those keys belong at the top level of the file",
                    path.display()
                ))
                .hint("move them to the top level, without indentation"));
            }
        }
    }
    Ok(layer)
}

pub(super) fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a profile name: use letters, digits, `-` and `_` (at most 40), starting with a letter or digit"
        ))
    }
}

pub(super) fn yaml_error(e: &serde_yaml::Error, path: &Path) -> Error {
    let text = e.to_string();
    // serde_yaml appends " at line L column C"; we put the place first, as compilers do.
    let message = match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text.clone(),
    };
    let place = match e.location() {
        Some(l) => format!("{}:{}:{}", path.display(), l.line(), l.column()),
        None => path.display().to_string(),
    };
    let mut err = Error::new(format!("{place}: {}", shorten_expected(&message)));
    if let Some(hint) = suggestion(&message) {
        err = err.hint(hint);
    }
    err.hint(format!(
        "fix {} and run the command again; `ptenv init --force` writes a fresh commented example",
        path.display()
    ))
}

/// serde lists every valid key after "expected one of"; keep the message to one line and let
/// the hint name the closest key instead.
pub(super) fn shorten_expected(message: &str) -> String {
    match message.find(", expected one of") {
        Some(i) if message.contains("unknown field") => message[..i].to_string(),
        _ => message.to_string(),
    }
}

/// For "unknown field `x`, expected one of `a`, `b`" (and "unknown variant"), the nearest of
/// the expected words.
pub(super) fn suggestion(message: &str) -> Option<String> {
    // serde_yaml puts the path of the value first: "profiles.a.mode: unknown variant `x`, …".
    let start = message
        .find("unknown field")
        .or_else(|| message.find("unknown variant"))?;
    let message = &message[start..];
    let is_field = message.starts_with("unknown field");
    let words: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let (given, expected) = words.split_first()?;
    let (best, distance) = expected
        .iter()
        .map(|w| (*w, strsim::levenshtein(given, w)))
        .min_by_key(|(_, d)| *d)?;
    let what = if is_field { "key" } else { "value" };
    if distance <= 3.max(given.len() / 3) {
        Some(format!("did you mean `{best}`?"))
    } else {
        Some(format!("valid {what}s: {}", expected.join(", ")))
    }
}

/// The project's profile file.
pub const PROJECT_FILE: &str = "ptenv.yaml";

/// The largest profile file ptenv reads. Real ones are a few KiB; YAML aliases can make a
/// small file expand, and a huge one is a mistake or an attack, so it is refused unread.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// A profile file's bytes as a layer: refused when larger than [`MAX_FILE_BYTES`] (the reader
/// passes one byte more than that, to tell a too-large file without reading all of it) or not
/// UTF-8, else parsed.
pub fn layer_from_bytes(bytes: Vec<u8>, path: &Path) -> Result<Layer> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::new(format!(
            "{} is larger than {} MiB; ptenv does not read profile files that large",
            path.display(),
            MAX_FILE_BYTES >> 20
        ))
        .hint("a ptenv.yaml holds settings, not data: check that this is the file you meant"));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::new(format!("{} is not UTF-8 text", path.display()))
            .hint("save it as UTF-8 and run the command again")
    })?;
    parse(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::tests::{err, project};

    #[test]
    fn broken_yaml_names_line_and_column() {
        let e = err("mode: jupyter\nenv: {A: 1\n");
        assert!(e.message.starts_with("ptenv.yaml:"), "{e}");
        let e = err("mode: jupyter\npytorch: [2.6\nvariant: runtime\n");
        assert!(e.message.starts_with("ptenv.yaml:"), "{e}");
        let e = err("mode: jupyter\n\tpytorch: 2.6\n");
        assert!(e.message.starts_with("ptenv.yaml:2:"), "{e}");
    }

    #[test]
    fn unknown_keys_name_the_place_and_the_nearest_key() {
        let e = err("mode: shell\nshm_sise: 8g\n");
        assert_eq!(e.message, "ptenv.yaml:2:1: unknown field `shm_sise`");
        assert_eq!(e.hints[0], "did you mean `shm_size`?");
        let e = err("profiles:\n  a:\n    mode: shell\n    gpu: all\n");
        assert_eq!(e.message, "ptenv.yaml:4:5: profiles.a: unknown field `gpu`");
        assert_eq!(e.hints[0], "did you mean `gpus`?");
        let e = err("packages: {apt: [git], conda: [x]}\n");
        assert!(e.message.contains("unknown field `conda`"), "{e}");
    }

    #[test]
    fn gpus_read_as_docker_reads_them() {
        // docs/gpus.md §1: a bare number is a count, `device=` names GPUs.
        for (text, want) in [
            ("all", Gpus::All),
            ("none", Gpus::None),
            ("0", Gpus::None),
            ("2", Gpus::Count(2)),
            ("count=3", Gpus::Count(3)),
            ("device=2", Gpus::Devices(vec!["2".into()])),
            (
                "\"device=0,2\"",
                Gpus::Devices(vec!["0".into(), "2".into()]),
            ),
            ("device=GPU-abc", Gpus::Devices(vec!["GPU-abc".into()])),
            ("GPU-abc", Gpus::Devices(vec!["GPU-abc".into()])),
        ] {
            assert_eq!(Gpus::parse(text), Ok(want), "{text}");
        }
        assert!(Gpus::parse("two").is_err());
        let p = project("gpus: 2\nprofiles: {train: {mode: shell}}\n")
            .resolve("train", &Layer::default())
            .unwrap();
        assert_eq!(p.gpus, Gpus::Count(2));
        assert_eq!(p.gpus.to_string(), "2");
        assert_eq!(Gpus::Devices(vec!["2".into()]).to_string(), "device=2");
    }

    #[test]
    fn wrong_values_are_errors_with_place() {
        let cases = [
            ("mode: notebook\n", "unknown variant `notebook`"),
            ("variant: devl\n", "unknown variant `devl`"),
            ("pull: sometimes\n", "unknown variant `sometimes`"),
            ("ipc: shareable\n", "unknown variant `shareable`"),
            ("shm_size: 8 gigs\n", "is not a size"),
            ("shm_size: 10k\n", "below 1 MiB"),
            ("shm_size: [1]\n", "must be `auto` or a size"),
            ("idle_stop: 30\n", "is not a duration"),
            ("idle_stop: 0m\n", "at once"),
            ("idle_stop: [2h]\n", "must be a duration"),
            ("gpus: -1\n", "not a number of GPUs"),
            ("gpus: some\n", "is not a GPU"),
            ("gpus: [0, banana]\n", "is not a GPU"),
            ("pytorch: newest\n", "is not a PyTorch version"),
            ("pytorch: 2.10\n", "quote it"),
            ("pytorch: 2.1\n", "\"2.10\""),
            ("pytorch: [2.6]\n", "is written like"),
            ("cuda: 12\n", "is not a version"),
            ("ports: [70000]\n", "not a port number"),
            ("ports: ['1.2.3:80:80']\n", "not an IP address"),
            (
                "ports: [{container: 80, hots: 8080}]\n",
                "unknown field `hots`",
            ),
            ("mounts: ['data']\n", "is not a mount"),
            ("mounts: ['./data:data']\n", "absolute path"),
            ("mounts: ['./x:/workspace']\n", "mount `./x` somewhere else"),
            ("ulimits: {stack: lots}\n", "is not a limit"),
            ("ulimits: {nofile: '4096:1024'}\n", "soft limit is above"),
            ("env: {A: [1]}\n", "must be a string"),
            ("command: []\n", "non-empty"),
            ("description: [1]\n", "invalid type"),
            (
                "profiles: {bad name: {mode: shell}}\n",
                "is not a profile name",
            ),
            ("profiles: {a: {profiles: {}}}\n", "belong at the top level"),
        ];
        for (text, want) in cases {
            let e = err(text);
            assert!(
                e.message.contains(want),
                "{text:?} gave {e}, wanted {want:?}"
            );
            assert!(e.message.starts_with("ptenv.yaml"), "{text:?} gave {e}");
            assert!(!e.hints.is_empty(), "{text:?} gave no hint");
        }
        let e = err("mode: jupiter\n");
        assert_eq!(e.hints[0], "did you mean `jupyter`?");
        let e = err("ports: [70000]\n");
        assert!(e.message.starts_with("ptenv.yaml:1:"), "{e}");
    }

    #[test]
    fn single_values_are_checked_where_they_are_written() {
        let e = err("ulimits: {memlok: -1}\n");
        assert!(
            e.message
                .contains("`memlok` is not a ulimit (did you mean `memlock`?"),
            "{e}"
        );
        let e = err("bind: localhost\n");
        assert!(e.message.contains("not an IP address"), "{e}");
        let e = err("repository: pytorch/pytorch:2.6\n");
        assert!(e.message.contains("without a tag"), "{e}");
        let e = err("image: 'a b'\n");
        assert!(e.message.contains("not an image reference"), "{e}");
        let ok = project("repository: 127.0.0.1:5000/pytorch/pytorch\n")
            .resolve("shell", &Layer::default());
        assert_eq!(ok.unwrap().repository, "127.0.0.1:5000/pytorch/pytorch");
        // Flags are checked too, after merging.
        let flags = Layer {
            repository: Some("pytorch/pytorch:2.6".into()),
            ..Layer::default()
        };
        let e = Sources::default().resolve("shell", &flags).unwrap_err();
        assert!(e.message.contains("without a tag"), "{e}");

        // Each error names the line and column of the offending value, however deep, and
        // wherever the file's first key is.
        let head = "# a comment\n\ndefault: train\nprofiles:\n  train:\n    mode: shell\n";
        for (tail, place) in [
            ("    gpus: 2.5\n", "ptenv.yaml:7:11: profiles.train.gpus:"),
            (
                "    shm_size: 16x\n",
                "ptenv.yaml:7:15: profiles.train.shm_size:",
            ),
            (
                "    ulimits:\n      stack: 1\n      memlok: -1\n",
                "ptenv.yaml:9:7:",
            ),
            ("    bind: localhost\n", "ptenv.yaml:7:11:"),
            (
                "    env:\n      A: 1\n      JUPYTER_TOKEN: x\n",
                "ptenv.yaml:9:7:",
            ),
            ("    ports: [8888, 70000]\n", "ptenv.yaml:7:19:"),
            (
                "    mounts:\n      - /a:/b\n      - nope\n",
                "ptenv.yaml:9:9:",
            ),
            (
                "    kubernetes:\n      cpu: 4\n      pvc: Team_Data\n",
                "ptenv.yaml:9:12:",
            ),
        ] {
            let e = err(&format!("{head}{tail}"));
            assert!(
                e.message.starts_with(place),
                "{tail:?} gave {e}, wanted {place}"
            );
        }
    }

    #[test]
    fn an_empty_file_is_an_empty_layer() {
        assert_eq!(parse("", Path::new("x")).unwrap(), Layer::default());
        assert_eq!(
            parse("# only comments\n", Path::new("x")).unwrap(),
            Layer::default()
        );
    }
}
