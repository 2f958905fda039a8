//! What a tag points to in its registry, asked through the engine's distribution inspect
//! (`GET /distribution/{name}/json`), so the engine's own registry settings (mirrors, insecure
//! registries, proxies) apply, with the same credentials as pulls. The answer's descriptor is
//! what the tag names: the image index (manifest list) of a multi-arch image, else the image
//! manifest. Nothing is downloaded but the manifest.

use super::{error_text, failed, registry_fault, status_of, Engine, RegistryFault};
use crate::error::{Error, Result};

/// A tag as the registry has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryImage {
    /// `sha256:…` of the index or manifest the tag points to.
    pub digest: String,
    /// Its media type, e.g. `application/vnd.oci.image.index.v1+json`.
    pub media_type: String,
    /// The platforms it provides, `linux/amd64`; for a single manifest the engine reads them
    /// from the image's config.
    pub platforms: Vec<String>,
}

impl Engine {
    /// Ask the registry of `image` (`repository:tag`) for the digest of its tag.
    pub async fn registry_image(&self, image: &str) -> Result<RegistryImage> {
        let credentials = crate::credentials::credentials_for(image);
        let answer = self
            .docker
            .inspect_registry_image(image, super::daemon_credentials(credentials))
            .await
            .map_err(|e| distribution_error(image, &self.endpoint, &e))?;
        let d = answer.descriptor;
        let digest = d
            .digest
            .filter(|x| x.starts_with("sha256:"))
            .ok_or_else(|| {
                Error::new(format!(
                    "the registry of {image} answered without a sha256 digest"
                ))
                .hint("check that the registry speaks the Docker Registry HTTP API v2")
            })?;
        let platforms = answer
            .platforms
            .iter()
            .filter_map(|p| {
                let os = p.os.as_deref()?;
                let arch = p.architecture.as_deref()?;
                Some(match p.variant.as_deref().filter(|v| !v.is_empty()) {
                    Some(v) => format!("{os}/{arch}/{v}"),
                    None => format!("{os}/{arch}"),
                })
            })
            .collect();
        Ok(RegistryImage {
            digest,
            media_type: d.media_type.unwrap_or_default(),
            platforms,
        })
    }
}

/// A failed inspect, in the user's terms: no such tag, no access, or no registry.
fn distribution_error(image: &str, endpoint: &str, e: &bollard::errors::Error) -> Error {
    let text = error_text(e);
    let registry = crate::credentials::registry_of(image);
    let login = format!(
        "if {registry} is private, log in with `docker login {registry}` (ptenv reads ~/.docker/config.json, as for pulls)"
    );
    match registry_fault(status_of(e), &text) {
        RegistryFault::Missing => Error::new(format!(
            "cannot pin {image}: the registry has no such tag ({text})"
        ))
        .hint("check `repository:` and the tag: `ptenv select` shows the image ptenv chose")
        .hint(login),
        RegistryFault::Denied => Error::new(format!(
            "cannot pin {image}: the registry refused access ({text})"
        ))
        .hint(login),
        RegistryFault::Unreachable => Error::new(format!(
            "cannot pin {image}: the registry {registry} does not answer ({text})"
        ))
        .hint("check the network; behind a proxy, the Docker daemon needs HTTPS_PROXY in its own environment"),
        RegistryFault::Other => failed(&format!("cannot pin {image}"), endpoint, e),
    }
}
