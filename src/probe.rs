//! Reading an image's facts (`image_facts`): from ptenv's cache, keyed by the image ID, else
//! with a short probe container (no GPU, no network, no mounts, the image's own user, its
//! entrypoint bypassed) whose answer is then cached. An image ID names its content, so a cached
//! answer never goes stale: a `ptenv up` of an image read before pays nothing.
//!
//! The cache is `<cache dir>/images/<id>.json` (e.g. ~/.cache/ptenv/images), folder 0700 and
//! files 0600 like ptenv's other files, written atomically. What the probe reads and why is
//! docs/compatibility.md §11.

use std::path::PathBuf;
use std::time::Duration;

use crate::atomic;
use crate::engine::container::{CreateError, StartError, Unfinished};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::image_facts::{Config, ImageFacts, Outcome, FORMAT, SCRIPT};
use crate::output::Printer;

/// How long the probe may take: importing torch from a cold 6 GB image on a slow disk takes a
/// while (8 s on the test machine, benches/RESULTS.md); a hung import must not hang `up`.
const TIMEOUT: Duration = Duration::from_secs(180);

/// The label on a probe container, so `docker ps -a` says what it is.
pub const LABEL_PROBE: &str = "dev.ptenv.probe";

/// An image's facts and where they came from.
#[derive(Debug, Clone)]
pub struct Probed {
    pub facts: ImageFacts,
    /// Read from the cache (no container ran).
    pub cached: bool,
}

/// The facts of `image`, which the engine must have.
pub async fn facts(engine: &Engine, image: &str, printer: &Printer) -> Result<Probed> {
    facts_of(engine, image, None, None, printer).await
}

/// [`facts`] when the caller knows the image ID already (`up`, right after its pull): a
/// cached answer then costs no request to the engine.
pub async fn facts_of(
    engine: &Engine,
    image: &str,
    known_id: Option<&str>,
    pending: Option<&Unfinished>,
    printer: &Printer,
) -> Result<Probed> {
    if let Some(id) = known_id {
        if let Some(facts) = cache_path(id).and_then(|p| read(&p, id)) {
            printer.detail(format!("facts of {image} from ptenv's cache"));
            return Ok(Probed {
                facts,
                cached: true,
            });
        }
    }
    let config = engine.image_config(image).await?.ok_or_else(|| {
        Error::new(format!("the image {image} is not on this machine")).hint(format!(
            "pull it first (`docker pull {image}`, or `ptenv up` with it), then ask again"
        ))
    })?;
    let path = cache_path(&config.id);
    if let Some(facts) = path.as_ref().and_then(|p| read(p, &config.id)) {
        printer.detail(format!(
            "facts of {image} from ptenv's cache ({})",
            path.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ));
        return Ok(Probed {
            facts,
            cached: true,
        });
    }
    printer.info(format!(
        "Reading what {image} contains (once per image: a short container, without GPU or network) …"
    ));
    let outcome = run(engine, image, &config, pending).await?;
    let facts = ImageFacts::from_probe(&config, &outcome).map_err(|tail| {
        Error::new(format!(
            "the probe of {image} printed no result{}",
            if tail.is_empty() {
                String::new()
            } else {
                format!(": {tail}")
            }
        ))
        .hint(format!(
            "`docker run --rm --entrypoint python3 {image} -c 'import torch'` shows what fails"
        ))
    })?;
    if let Some(p) = &path {
        if let Err(e) = write(p, &facts) {
            // Without the cache the next `up` probes again; nothing else depends on it.
            printer.warn(format!(
                "could not cache the facts of {image}: {}",
                e.message
            ));
        }
    }
    Ok(Probed {
        facts,
        cached: false,
    })
}

/// `<cache dir>/images/<hex of the ID>.json`; `None` without a home directory.
fn cache_path(id: &str) -> Option<PathBuf> {
    let hex: String = id
        .strip_prefix("sha256:")
        .unwrap_or(id)
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    if hex.is_empty() {
        return None;
    }
    directories::ProjectDirs::from("", "", "ptenv")
        .map(|d| d.cache_dir().join("images").join(format!("{hex}.json")))
}

/// A cached answer of this format for exactly this image, else `None` (probe again).
fn read(path: &std::path::Path, id: &str) -> Option<ImageFacts> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str::<ImageFacts>(&text)
        .ok()
        .filter(|f| f.format == FORMAT && f.id == id)
}

fn write(path: &std::path::Path, facts: &ImageFacts) -> Result<()> {
    if let Some(dir) = path.parent() {
        atomic::create_dir_all(dir, 0o700)?;
    }
    let text = serde_json::to_string_pretty(facts).expect("facts serialize");
    atomic::write(
        path,
        text.as_bytes(),
        atomic::Mode::Exactly(0o600),
        atomic::Owner::Process,
    )
}

/// Run the script with `python3`, else `python`; `NoPython` when neither starts.
async fn run(
    engine: &Engine,
    image: &str,
    config: &Config,
    pending: Option<&Unfinished>,
) -> Result<Outcome> {
    let mut last = String::new();
    for python in ["python3", "python"] {
        let body = serde_json::json!({
            "Image": config.id,
            "Entrypoint": [python],
            "Cmd": ["-c", SCRIPT],
            "Labels": { LABEL_PROBE: image },
            "NetworkDisabled": true,
            "HostConfig": {},
        });
        let mut suffix = [0u8; 4];
        getrandom::fill(&mut suffix).map_err(|e| Error::new(e.to_string()))?;
        let name = format!(
            "ptenv-probe-{}-{}",
            std::process::id(),
            crate::project::hex(&suffix)
        );
        let id = match engine.create(&name, &body).await {
            Ok(id) => id,
            Err(CreateError::Conflict) => {
                return Err(
                    Error::new(format!("a container named {name} exists already"))
                        .hint(format!("`docker rm -f {name}`, then try again")),
                )
            }
            Err(CreateError::Other(e)) => return Err(e.context(format!("probing {image}"))),
        };
        if let Some(p) = pending {
            p.hold(&id);
        }
        let started = engine.start(&id).await;
        let result = match started {
            Ok(()) => engine.wait_output(&id, TIMEOUT).await.map(Some),
            Err(StartError::ProgramNotFound(m)) => {
                last = m;
                Ok(None)
            }
            Err(e) => Err(Error::new(format!(
                "the probe container of {image} did not start: {}",
                e.into_message()
            ))),
        };
        engine.remove(&id).await?;
        if let Some(p) = pending {
            p.release();
        }
        match result? {
            None => continue,
            Some((None, _)) => {
                return Err(Error::new(format!(
                    "the probe of {image} did not finish within {} s",
                    TIMEOUT.as_secs()
                ))
                .hint(format!(
                    "`docker run --rm --entrypoint {python} {image} -c 'import torch'` shows whether Python hangs there"
                )))
            }
            Some((Some(_), output)) => return Ok(Outcome::Ran(output)),
        }
    }
    Ok(Outcome::NoPython(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_keyed_by_the_image_id_and_checked_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images").join("abc.json");
        let config = Config {
            id: "sha256:abc".into(),
            platform: "linux/amd64".into(),
            env: vec!["PATH=/opt/conda/bin".into()],
            labels: Default::default(),
        };
        let printed = "PTENV-IMAGE-FACTS {\"python\": \"3.11.2\", \"torch\": \"2.6.0+cu124\", \"cuda\": \"12.4\", \"arch_flags\": \"sm_86 sm_90\", \"cudnn\": 90100}";
        let facts = ImageFacts::from_probe(&config, &Outcome::Ran(printed.into())).unwrap();
        write(&path, &facts).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(read(&path, &facts.id), Some(facts.clone()));
        // Another image's answer under this name, or another format: probed again.
        assert_eq!(read(&path, "sha256:other"), None);
        let old = ImageFacts {
            format: FORMAT + 1,
            ..facts.clone()
        };
        write(&path, &old).unwrap();
        assert_eq!(read(&path, &facts.id), None);
        assert!(cache_path("sha256:3384360d2497")
            .is_some_and(|p| p.ends_with("images/3384360d2497.json")));
        assert_eq!(cache_path("sha256:../../x"), None);
    }

    #[test]
    fn a_missing_python_is_told_from_other_start_errors() {
        assert!(matches!(
            StartError::classify("OCI runtime create failed: runc create failed: unable to start container process: exec: \"python3\": executable file not found in $PATH: unknown"),
            StartError::ProgramNotFound(_)
        ));
        assert!(matches!(
            StartError::classify("could not select device driver \"\" with capabilities: [[gpu]]"),
            StartError::GpuDriver(_)
        ));
    }
}
