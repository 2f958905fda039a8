//! Pulling the base image, per the profile's pull policy, with progress like `docker pull`: on
//! a terminal one bar per layer (download, then extraction) and a total; elsewhere one line per
//! layer event worth reading; with `--quiet`/`--json` nothing. Ctrl-C stops the pull (the
//! engine cancels it when the connection closes) and exits 130.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::download::PullSize;
use super::{error_text, failed, status_of, Engine, RegistryFault};
use crate::error::{Error, Result};
use crate::output::Printer;
use crate::profile::PullPolicy;
use crate::registry::reference::split_reference;
use crate::size::human;

/// An image the engine has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    /// `sha256:…`
    pub id: String,
    /// The user it runs as (`Config.User`), empty for root.
    pub user: String,
}

impl Engine {
    /// The image's ID if the engine has it.
    pub async fn image_id(&self, image: &str) -> Result<Option<String>> {
        Ok(self.local_image(image).await?.map(|i| i.id))
    }

    /// The image's ID and user if the engine has it.
    pub async fn local_image(&self, image: &str) -> Result<Option<LocalImage>> {
        match self.docker.inspect_image(image).await {
            Ok(i) => Ok(i.id.map(|id| LocalImage {
                id,
                user: i.config.and_then(|c| c.user).unwrap_or_default(),
            })),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(failed(
                &format!("cannot inspect image {image}"),
                &self.endpoint,
                &e,
            )),
        }
    }

    /// What the image's config declares (ID, platform, env, labels), if the engine has it:
    /// the part of an image's facts that needs no container.
    pub async fn image_config(&self, image: &str) -> Result<Option<crate::image_facts::Config>> {
        match self.docker.inspect_image(image).await {
            Ok(i) => {
                let config = i.config.unwrap_or_default();
                Ok(Some(crate::image_facts::Config {
                    id: i.id.unwrap_or_default(),
                    platform: format!(
                        "{}/{}",
                        i.os.unwrap_or_else(|| "linux".into()),
                        i.architecture.unwrap_or_default()
                    ),
                    env: config.env.unwrap_or_default(),
                    labels: config.labels.unwrap_or_default().into_iter().collect(),
                }))
            }
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(failed(
                &format!("cannot inspect image {image}"),
                &self.endpoint,
                &e,
            )),
        }
    }

    /// Make sure `image` is here according to `policy`; returns its ID and user. Before a
    /// pull, says what it downloads when the registry tells (`ca_files`: extra roots for asking).
    pub async fn ensure_image(
        &self,
        image: &str,
        policy: PullPolicy,
        ca_files: &[PathBuf],
        printer: &Printer,
    ) -> Result<LocalImage> {
        let present = self.local_image(image).await?;
        match (policy, present) {
            (PullPolicy::Missing, Some(local)) => {
                printer.detail(format!(
                    "{image} is here ({}); not pulling (pull: missing)",
                    local.id
                ));
                return Ok(local);
            }
            (PullPolicy::Never, Some(local)) => return Ok(local),
            (PullPolicy::Never, None) => {
                return Err(Error::new(format!(
                    "the image {image} is not on this machine, and the profile says `pull: never`"
                ))
                .hint(format!(
                    "pull it once with `ptenv up --pull missing`, or `docker pull {image}`"
                )))
            }
            (PullPolicy::Missing, None) | (PullPolicy::Always, _) => {}
        }
        let why = if policy == PullPolicy::Always {
            "pull: always"
        } else {
            "not on this machine yet"
        };
        self.pull(image, why, ca_files, printer).await?;
        self.local_image(image).await?.ok_or_else(|| {
            Error::new(format!(
                "the engine reported {image} as pulled, but does not have it"
            ))
        })
    }

    /// `POST /images/create`, showing progress; Ctrl-C cancels. The registry is asked what the
    /// pull downloads at the same time (see `download`), so the question costs the pull
    /// nothing: the engine's first events wait until the answer (or its deadline) has been
    /// printed, and the total bar starts with the right size.
    async fn pull(
        &self,
        image: &str,
        why: &str,
        ca_files: &[PathBuf],
        printer: &Printer,
    ) -> Result<()> {
        // Before anything says "Pulling": from then on a Ctrl-C is this step's to report.
        let mut interrupt = crate::interrupt::Interrupt::listen()?;
        let (repo, tag) = split_reference(image);
        let options = CreateImageOptionsBuilder::default()
            .from_image(repo)
            .tag(tag)
            .build();
        let credentials = crate::credentials::credentials_for(image);
        let mut stream =
            self.docker
                .create_image(Some(options), None, super::daemon_credentials(credentials));
        let size = self.pull_size(image, ca_files.to_vec());
        tokio::pin!(size);
        // Events that came before the size did, and the progress once it has been announced.
        let mut early: Vec<Event> = Vec::new();
        let mut progress: Option<Progress> = None;
        loop {
            let item = tokio::select! {
                item = stream.next() => item,
                answer = &mut size, if progress.is_none() => {
                    progress = Some(announce(image, why, answer, &mut early, printer));
                    continue;
                }
                _ = interrupt.recv() => {
                    if let Some(p) = progress.as_mut() {
                        p.clear();
                    }
                    return Err(Error::interrupted(format!("while pulling {image}"))
                        .hint("nothing was created; run `ptenv up` again to resume the pull"));
                }
            };
            let Some(item) = item else { break };
            match item {
                Ok(info) => {
                    let event = Event {
                        id: info.id.unwrap_or_default(),
                        status: info.status.unwrap_or_default(),
                        detail: info
                            .progress_detail
                            .as_ref()
                            .and_then(|d| Some((d.current?, d.total?))),
                    };
                    match progress.as_mut() {
                        Some(p) => p.event(&event),
                        None => early.push(event),
                    }
                }
                Err(e) => {
                    // Failed before the registry answered ptenv: its answer (quick when the
                    // registry is up, at most the deadline) still comes first, since it often
                    // says why (no such tag, no login, an unknown certificate).
                    let mut p = match progress {
                        Some(p) => p,
                        None => announce(image, why, size.await, &mut early, printer),
                    };
                    p.clear();
                    return Err(pull_error(image, &self.endpoint, &e));
                }
            }
        }
        // A pull quicker than the question: the answer (bounded by its deadline) still comes
        // first, so the output reads in order.
        let mut progress = match progress {
            Some(p) => p,
            None => announce(image, why, size.await, &mut early, printer),
        };
        progress.finish(image);
        Ok(())
    }
}

/// One message of the pull stream: `{"id": "a1b2…", "status": "Downloading",
/// "progressDetail": {"current": 1024, "total": 52428800}}`.
struct Event {
    id: String,
    status: String,
    detail: Option<(i64, i64)>,
}

/// Say what is pulled, with its size when the registry told, and start the progress display
/// with the events that came `early`.
fn announce(
    image: &str,
    why: &str,
    size: std::result::Result<PullSize, String>,
    early: &mut Vec<Event>,
    printer: &Printer,
) -> Progress {
    match &size {
        Ok(size) => {
            printer.info(format!("Pulling {image} ({why}): {}", size.describe()));
            if let Some(w) = size.disk_warning() {
                printer.warn(w);
            }
        }
        Err(why_not) => {
            printer.info(format!("Pulling {image} ({why})"));
            printer.detail(format!("its download size is unknown: {why_not}"));
        }
    }
    let expected = size.map(|s| s.expected()).unwrap_or_default();
    let mut progress = Progress::new(printer, &expected);
    early.drain(..).for_each(|e| progress.event(&e));
    progress
}

/// A failed pull, said in the user's terms: the image is not there, or the registry is not.
fn pull_error(image: &str, endpoint: &str, e: &bollard::errors::Error) -> Error {
    let text = error_text(e);
    let registry = crate::credentials::registry_of(image);
    match super::registry_fault(status_of(e), &text) {
        // The daemon says "pull access denied" for a repository that does not exist as well
        // as for one that needs a login, so both get both hints.
        RegistryFault::Missing | RegistryFault::Denied => Error::new(format!("cannot pull {image}: {text}"))
            .hint("check the image name and tag: `ptenv select` shows the images that fit this machine")
            .hint(format!(
                "if {registry} is private, log in with `docker login` (ptenv reads ~/.docker/config.json)"
            )),
        RegistryFault::Unreachable => Error::new(format!(
            "cannot pull {image}: the registry {registry} does not answer ({text})"
        ))
        .hint("check the network; behind a proxy, the Docker daemon needs HTTPS_PROXY in its own environment")
        .hint("an image already on this machine can be used without pulling: `--pull never`"),
        RegistryFault::Other => failed(&format!("cannot pull {image}"), endpoint, e),
    }
}

/// What is shown while pulling.
enum Progress {
    Bars {
        printer: Printer,
        multi: MultiProgress,
        layers: BTreeMap<String, ProgressBar>,
        total: ProgressBar,
        sizes: BTreeMap<String, (u64, u64)>,
    },
    Lines {
        printer: Printer,
        last: BTreeMap<String, String>,
        sizes: BTreeMap<String, u64>,
    },
    Silent,
}

impl Progress {
    fn new(printer: &Printer, expected: &[(String, u64)]) -> Progress {
        if printer.fancy() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let total = multi.add(ProgressBar::new(0));
            total.set_style(
                ProgressStyle::with_template(
                    "{prefix:>12} {msg:<18} {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            total.set_prefix("total");
            total.set_length(expected.iter().map(|(_, s)| s).sum());
            total.enable_steady_tick(Duration::from_millis(200));
            Progress::Bars {
                printer: *printer,
                multi,
                layers: BTreeMap::new(),
                total,
                sizes: expected
                    .iter()
                    .map(|(id, s)| (id.clone(), (0, *s)))
                    .collect(),
            }
        } else if printer.quiet || printer.json {
            Progress::Silent
        } else {
            Progress::Lines {
                printer: *printer,
                last: BTreeMap::new(),
                sizes: expected.iter().cloned().collect(),
            }
        }
    }

    fn event(&mut self, event: &Event) {
        let (id, status, detail) = (event.id.as_str(), event.status.as_str(), event.detail);
        if id.len() != 12 {
            // "Pulling from pytorch/pytorch", "Digest: …", "Status: …" (no layer).
            return;
        }
        match self {
            Progress::Silent => {}
            Progress::Lines {
                printer,
                last,
                sizes,
            } => {
                if status == "Already exists" {
                    sizes.remove(id);
                }
                if status == "Downloading" {
                    if let Some((_, total)) = detail {
                        sizes.insert(id.to_string(), total.max(0) as u64);
                    }
                }
                // Ticks are for bars; a log gets the changes of state only.
                if last.get(id).map(String::as_str) != Some(status) {
                    last.insert(id.to_string(), status.to_string());
                    let size = sizes
                        .get(id)
                        .filter(|_| status == "Downloading")
                        .map(|s| format!(" ({})", human(*s)))
                        .unwrap_or_default();
                    printer.info(format!("  {id}: {status}{size}"));
                }
            }
            Progress::Bars {
                multi,
                layers,
                total,
                sizes,
                ..
            } => {
                let bar = layers.entry(id.to_string()).or_insert_with(|| {
                    let bar = multi.insert_before(total, ProgressBar::new(0));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix:>12} {msg:<18} {wide_bar} {bytes}/{total_bytes}",
                        )
                        .expect("a valid template")
                        .progress_chars("=> "),
                    );
                    bar.set_prefix(id.to_string());
                    bar
                });
                bar.set_message(status.to_string());
                let entry = sizes.entry(id.to_string()).or_insert((0, 0));
                match (status, detail) {
                    ("Downloading", Some((current, t))) => {
                        bar.set_length(t.max(0) as u64);
                        bar.set_position(current.max(0) as u64);
                        *entry = (current.max(0) as u64, t.max(0) as u64);
                    }
                    ("Extracting", Some((current, t))) => {
                        bar.set_length(t.max(0) as u64);
                        bar.set_position(current.max(0) as u64);
                        entry.0 = entry.1;
                    }
                    ("Download complete" | "Verifying Checksum", _) => entry.0 = entry.1,
                    ("Pull complete", _) => {
                        entry.0 = entry.1;
                        bar.finish_with_message(status.to_string());
                    }
                    // Not downloaded: out of the total (it may have been expected when the
                    // engine had it from an image ptenv did not compare).
                    ("Already exists", _) => {
                        sizes.remove(id);
                        bar.finish_with_message(status.to_string());
                    }
                    _ => {}
                }
                let (done, all) = sizes.values().fold((0, 0), |(d, a), (c, t)| (d + c, a + t));
                total.set_length(all);
                total.set_position(done);
            }
        }
    }

    fn clear(&mut self) {
        if let Progress::Bars { multi, .. } = self {
            let _ = multi.clear();
        }
    }

    fn finish(&mut self, image: &str) {
        match self {
            Progress::Bars {
                printer,
                multi,
                total,
                sizes,
                ..
            } => {
                total.finish();
                let _ = multi.clear();
                let all: u64 = sizes.values().map(|(_, t)| t).sum();
                printer.info(format!("Pulled {image} ({} downloaded)", human(all)));
            }
            Progress::Lines { printer, sizes, .. } => {
                let all: u64 = sizes.values().sum();
                printer.info(format!("Pulled {image} ({} downloaded)", human(all)));
            }
            Progress::Silent => {}
        }
    }
}
