//! Building the derived image through `POST /build` (the classic builder, which Engine 20.10
//! runs for API clients), with the generated Dockerfile as the whole context. The output
//! streams behind a spinner (every line with `-v`); a failed build shows its last lines.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::query_parameters::{BuildImageOptionsBuilder, ListImagesOptionsBuilder};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use super::recipe::{Recipe, CA_ARG, CA_FLAG, PIP_ARGS, PROXY_ARGS, RESOLVED, SYSTEM_BUNDLE};
use super::tarball::{archive, Entry};
use super::{error_text, Engine};
use crate::error::{Error, Result};
use crate::output::Printer;

/// Lines of a failed build shown to the user.
const TAIL: usize = 25;

/// Label on derived images: the base they were built from.
pub const LABEL_DERIVED_FROM: &str = "dev.ptenv.derived-from";
/// Label on derived images with dependency layers: the project folder they were built for and
/// the SHA-256 of each dependency file (a JSON [`Built`]), so the next build can say which file
/// changed. One label: the classic builder commits an image for each.
pub const LABEL_DEPENDENCIES: &str = "dev.ptenv.dependencies";

/// What [`LABEL_DEPENDENCIES`] holds.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Built {
    project: String,
    files: BTreeMap<String, String>,
}

/// How the build reaches the network: proxies, the pip index, a CA bundle. Read from the
/// environment and the profile by [`Network::from_env`]; never part of the image's tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    /// Build args: the proxy variables and pip settings that are set.
    pub args: Vec<(String, String)>,
    /// The CA bundle's path and PEM text.
    pub ca: Option<(PathBuf, String)>,
}

impl Network {
    /// The proxy and pip variables of `env`, and the CA bundle: the profile's `ca_bundle`
    /// (relative to the project), else `SSL_CERT_FILE`, else `PIP_CERT`.
    pub fn from_env(
        env: &dyn Fn(&str) -> Option<String>,
        ca_bundle: Option<&str>,
        project: &Path,
    ) -> Result<Network> {
        let mut args = Vec::new();
        for key in PROXY_ARGS.iter().chain(PIP_ARGS.iter()) {
            if let Some(v) = env(key).filter(|v| !v.is_empty()) {
                args.push((key.to_string(), v));
            }
        }
        let (path, from) = match ca_bundle {
            Some(p) => (Some(project.join(p)), "the profile's ca_bundle"),
            None => match env("SSL_CERT_FILE").filter(|v| !v.is_empty()) {
                Some(p) => (Some(PathBuf::from(p)), "SSL_CERT_FILE"),
                None => (
                    env("PIP_CERT").filter(|v| !v.is_empty()).map(PathBuf::from),
                    "PIP_CERT",
                ),
            },
        };
        let ca = match path {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    Error::new(format!(
                        "cannot read the CA bundle {} ({from}): {e}",
                        path.display()
                    ))
                    .hint("point it at a PEM file, or unset it")
                })?;
                if !text.contains("-----BEGIN CERTIFICATE-----") {
                    return Err(Error::new(format!(
                        "the CA bundle {} ({from}) holds no PEM certificate",
                        path.display()
                    ))
                    .hint("a CA bundle is a text file of `-----BEGIN CERTIFICATE-----` blocks"));
                }
                Some((path, text))
            }
        };
        Ok(Network { args, ca })
    }

    /// What the user should know before the build records these settings.
    pub fn warnings(&self) -> Vec<String> {
        self.args
            .iter()
            .filter(|(k, v)| PIP_ARGS.contains(&k.as_str()) && has_password(v))
            .map(|(k, _)| {
                format!(
                    "{k} contains a password; the classic builder records build args in the derived image's history (the image stays on this machine)"
                )
            })
            .collect()
    }

    /// The build args; `extra_certs`: the CA bundle's certificates the base image lacks.
    fn build_args(&self, extra_certs: Option<&str>) -> HashMap<String, String> {
        let mut args: HashMap<String, String> = self.args.iter().cloned().collect();
        if self.ca.is_some() {
            args.insert(CA_FLAG.to_string(), "1".to_string());
            args.insert(CA_ARG.to_string(), extra_certs.unwrap_or("").to_string());
        }
        args
    }
}

/// The PEM certificate blocks of a bundle, each normalized (trimmed lines, no comments), so
/// the same certificate compares equal in two bundles.
pub fn pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines().map(str::trim) {
        if line == "-----BEGIN CERTIFICATE-----" {
            current = Some(vec![line]);
        } else if let Some(lines) = current.as_mut() {
            lines.push(line);
            if line == "-----END CERTIFICATE-----" {
                blocks.push(lines.join("\n"));
                current = None;
            }
        }
    }
    blocks
}

/// The certificates of `ours` that `theirs` (the base image's bundle) does not have.
pub fn missing_certs(ours: &str, theirs: &str) -> String {
    let known: std::collections::HashSet<String> = pem_blocks(theirs).into_iter().collect();
    pem_blocks(ours)
        .into_iter()
        .filter(|b| !known.contains(b))
        .map(|b| b + "\n")
        .collect()
}

/// What fits in a build arg: the whole query string of `POST /build` must stay below 64 KiB,
/// and URL encoding grows PEM text by about a third.
const MAX_EXTRA_CERTS: usize = 40 * 1024;

/// `https://user:pass@host/…`
fn has_password(url: &str) -> bool {
    url.split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .is_some_and(|authority| authority.contains('@'))
}

impl Engine {
    /// The derived image for `recipe`, built unless an image with its tag exists. Returns the
    /// tag.
    /// `project`: the project folder, which the image's labels name when it has dependency
    /// layers.
    pub async fn derive(
        &self,
        recipe: &Recipe<'_>,
        network: &Network,
        project: &Path,
        printer: &Printer,
    ) -> Result<String> {
        let tag = recipe.tag()?;
        if self.image_id(&tag).await?.is_some() {
            printer.detail(format!("derived image {tag} is here; not building"));
            return Ok(tag);
        }
        for w in network.warnings() {
            printer.warn(w);
        }
        // Before "Building" shows: from then on a Ctrl-C is this step's to report.
        let mut interrupt = crate::interrupt::Interrupt::listen()?;
        printer.info(format!(
            "Building {tag} from {} (once for this base and profile)",
            recipe.base
        ));
        let mut labels = HashMap::from([(LABEL_DERIVED_FROM.to_string(), recipe.base.to_string())]);
        let deps = recipe.dependencies.filter(|d| !d.is_empty());
        if let Some(d) = deps {
            let now = crate::dependencies::hashes(d);
            let project = project.display().to_string();
            if let Some(before) = self.last_dependencies(&project).await {
                let changed = crate::dependencies::changed(&before, &now);
                if !changed.is_empty() {
                    printer.info(format!(
                        "{} changed since the last build: the dependency layer is built again, the layers below it come from the build cache",
                        changed.join(", ")
                    ));
                }
            }
            printer.info(format!(
                "Installing the project's dependencies ({}) with the image's torch kept",
                d.file_list()
            ));
            let built = Built {
                project,
                files: now,
            };
            labels.insert(
                LABEL_DEPENDENCIES.into(),
                serde_json::to_string(&built).expect("strings serialize"),
            );
        }
        let dockerfile = recipe.dockerfile()?;
        printer.detail(format!("Dockerfile:\n{dockerfile}"));
        let context = archive(&[Entry {
            path: "Dockerfile",
            contents: dockerfile.as_bytes(),
            mode: 0o644,
            uid: 0,
            gid: 0,
        }])?;
        let extra_certs = match &network.ca {
            None => None,
            Some((path, pem)) => {
                let theirs = self
                    .image_file(recipe.base_id, SYSTEM_BUNDLE)
                    .await?
                    .unwrap_or_default();
                let extra = missing_certs(pem, &String::from_utf8_lossy(&theirs));
                printer.detail(format!(
                    "CA bundle {}: {} certificate(s) that {} lacks",
                    path.display(),
                    pem_blocks(&extra).len(),
                    recipe.base
                ));
                if extra.len() > MAX_EXTRA_CERTS {
                    return Err(Error::new(format!(
                        "the CA bundle {} has {} KiB of certificates that {} does not have; a build can take at most {} KiB",
                        path.display(),
                        extra.len() / 1024,
                        recipe.base,
                        MAX_EXTRA_CERTS / 1024
                    ))
                    .hint("set `ca_bundle:` in ptenv.yaml to a file with only your organisation's root certificates"));
                }
                Some(extra)
            }
        };
        let options = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(&tag)
            .rm(true)
            .forcerm(true)
            .buildargs(&network.build_args(extra_certs.as_deref()))
            .labels(&labels)
            .build();
        let mut stream =
            self.docker
                .build_image(options, None, Some(bollard::body_full(context.into())));
        let spinner = Spinner::new(printer, &tag);
        let mut tail: VecDeque<String> = VecDeque::new();
        loop {
            let item = tokio::select! {
                item = stream.next() => item,
                _ = interrupt.recv() => {
                    spinner.clear();
                    return Err(Error::interrupted(format!("while building {tag}"))
                        .hint("nothing was created; the next `ptenv up` builds it again"));
                }
            };
            let Some(item) = item else { break };
            match item {
                Ok(info) => {
                    let text = info.stream.or(info.status).unwrap_or_default();
                    for line in text.lines().filter(|l| !l.trim().is_empty()) {
                        spinner.line(printer, line);
                        if tail.len() == TAIL {
                            tail.pop_front();
                        }
                        tail.push_back(line.to_string());
                    }
                }
                Err(e) => {
                    spinner.clear();
                    let shown: Vec<String> = tail.iter().map(|l| format!("  | {l}")).collect();
                    return Err(Error::new(format!(
                        "building the derived image {tag} failed: {}\n  last lines of the build:\n{}",
                        error_text(&e),
                        shown.join("\n")
                    ))
                    .hint(match deps {
                        Some(d) => format!("check the project's dependency files ({}), the profile's `packages` and the network (proxy, ca_bundle, PIP_INDEX_URL)", d.file_list()),
                        None => "check the profile's `packages` (apt and pip names) and the network (proxy, ca_bundle, PIP_INDEX_URL)".to_string(),
                    })
                    .hint("run `ptenv up -v` to see the whole build"));
                }
            }
        }
        spinner.clear();
        if self.image_id(&tag).await?.is_none() {
            return Err(Error::new(format!(
                "the build of {tag} ended without an image: last lines:\n{}",
                tail.iter().cloned().collect::<Vec<_>>().join("\n")
            )));
        }
        printer.info(format!("Built {tag}"));
        Ok(tag)
    }
}

impl Engine {
    /// The dependency files' hashes of the newest image built for `project`, if any.
    async fn last_dependencies(&self, project: &str) -> Option<BTreeMap<String, String>> {
        let filters = HashMap::from([("label", vec![LABEL_DEPENDENCIES])]);
        let options = ListImagesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let images = self.docker.list_images(Some(options)).await.ok()?;
        images
            .iter()
            .filter_map(|i| {
                let built: Built = serde_json::from_str(i.labels.get(LABEL_DEPENDENCIES)?).ok()?;
                (built.project == project).then_some((i.created, built.files))
            })
            .max_by_key(|(created, _)| *created)
            .map(|(_, files)| files)
    }

    /// What the dependency layer resolved (`recipe::RESOLVED`, `name==version` lines) in the
    /// newest image built for `project` with dependency files of these hashes; `None` when
    /// there is no such image (or it was built before ptenv recorded it).
    pub async fn resolved_dependencies(
        &self,
        project: &str,
        files: &BTreeMap<String, String>,
    ) -> Result<Option<Vec<String>>> {
        let filters = HashMap::from([("label", vec![LABEL_DEPENDENCIES])]);
        let options = ListImagesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let images = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(|e| super::failed("cannot list images", &self.endpoint, &e))?;
        let newest = images
            .iter()
            .filter(|i| {
                i.labels
                    .get(LABEL_DEPENDENCIES)
                    .and_then(|l| serde_json::from_str::<Built>(l).ok())
                    .is_some_and(|b| b.project == project && b.files == *files)
            })
            .max_by_key(|i| i.created);
        let Some(image) = newest else {
            return Ok(None);
        };
        let Some(bytes) = self.image_file(&image.id, RESOLVED).await? else {
            return Ok(None);
        };
        Ok(Some(
            String::from_utf8_lossy(&bytes)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
        ))
    }

    /// A file of an image, read through a container that is created and removed, never
    /// started. `None` when the image has no such file (or it is not a regular file).
    pub async fn image_file(&self, image: &str, path: &str) -> Result<Option<Vec<u8>>> {
        use bollard::models::ContainerCreateBody;
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(vec!["true".to_string()]),
            entrypoint: Some(vec![]),
            ..Default::default()
        };
        let id = self
            .docker
            .create_container(None, body)
            .await
            .map_err(|e| {
                super::failed(
                    &format!("cannot read {path} of {image}"),
                    &self.endpoint,
                    &e,
                )
            })?
            .id;
        let found = self.file_of(&id, path).await;
        self.remove(&id).await?;
        found
    }
}

/// A spinner on a terminal that shows the latest build line; plain lines with `-v`.
struct Spinner(Option<ProgressBar>);

impl Spinner {
    fn new(printer: &Printer, tag: &str) -> Spinner {
        if !printer.fancy() || printer.verbose {
            return Spinner(None);
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {wide_msg}")
                .expect("a valid template"),
        );
        bar.set_prefix(format!("building {tag}:"));
        bar.enable_steady_tick(Duration::from_millis(120));
        Spinner(Some(bar))
    }

    fn line(&self, printer: &Printer, line: &str) {
        match &self.0 {
            Some(bar) => bar.set_message(line.trim().to_string()),
            None => printer.detail(line),
        }
    }

    fn clear(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_settings_come_from_the_environment_and_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("corp.pem"),
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let env = |k: &str| -> Option<String> {
            match k {
                "HTTPS_PROXY" => Some("http://proxy:3128".into()),
                "no_proxy" => Some("localhost".into()),
                "PIP_INDEX_URL" => Some("https://ana:pw@pypi.corp/simple".into()),
                "SSL_CERT_FILE" => Some("/nonexistent.pem".into()),
                _ => None,
            }
        };
        let n = Network::from_env(&env, Some("corp.pem"), dir.path()).unwrap();
        assert!(n
            .args
            .contains(&("HTTPS_PROXY".into(), "http://proxy:3128".into())));
        assert!(n.args.contains(&("no_proxy".into(), "localhost".into())));
        assert_eq!(n.ca.as_ref().unwrap().0, dir.path().join("corp.pem"));
        let args = n.build_args(Some(
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        ));
        assert!(args[CA_ARG].contains("BEGIN CERTIFICATE"));
        assert_eq!(args[CA_FLAG], "1");
        assert_eq!(n.warnings().len(), 1, "the index URL has a password");
        // Without the profile's bundle, SSL_CERT_FILE is used (and must be readable).
        let e = Network::from_env(&env, None, dir.path()).unwrap_err();
        assert!(e.message.contains("SSL_CERT_FILE"), "{e}");
        let nothing = Network::from_env(&|_: &str| None, None, dir.path()).unwrap();
        assert_eq!(nothing, Network::default());
        std::fs::write(dir.path().join("bad.pem"), "hello").unwrap();
        let e = Network::from_env(&|_: &str| None, Some("bad.pem"), dir.path()).unwrap_err();
        assert!(e.message.contains("no PEM certificate"), "{e}");
    }

    #[test]
    fn only_the_certificates_the_image_lacks_are_sent() {
        let a = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let b = "# corp root\n-----BEGIN CERTIFICATE-----\r\nBBBB\r\n-----END CERTIFICATE-----\n";
        let ours = format!("{a}{b}");
        assert_eq!(pem_blocks(&ours).len(), 2);
        let extra = missing_certs(&ours, a);
        assert_eq!(
            extra,
            "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n"
        );
        assert_eq!(missing_certs(a, &ours), "");
        assert_eq!(missing_certs(&ours, "").matches("BEGIN").count(), 2);
    }

    #[test]
    fn passwords_in_urls_are_noticed() {
        assert!(has_password("https://u:p@host/simple"));
        assert!(!has_password("https://host/simple"));
        assert!(!has_password("https://host/simple?x=a@b"));
    }
}
