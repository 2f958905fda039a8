//! Image references as docker reads them: `[registry/]repository[:tag|@digest]`, where the first
//! path component names a registry only when it has a `.` or a `:` or is `localhost`, and Docker
//! Hub's one-word repositories live under `library/`.

/// Docker Hub as the engine names it in its registry settings.
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's registry API answers (`docker.io` itself does not speak it).
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `docker.io`, `nvcr.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// The repository inside the registry: `pytorch/pytorch`, `library/ubuntu`.
    pub repository: String,
    /// A tag (`2.6.0-cuda12.4-cudnn9-runtime`, `latest` when none is given) or a digest
    /// (`sha256:…`).
    pub reference: String,
}

impl Reference {
    pub fn parse(image: &str) -> Reference {
        let (name, reference) = split_reference(image);
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first, rest.to_string())
            }
            _ => (DOCKER_HUB, name.to_string()),
        };
        let registry = match registry {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB,
            r => r,
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        Reference {
            registry: registry.to_string(),
            repository,
            reference: reference.to_string(),
        }
    }

    pub fn is_docker_hub(&self) -> bool {
        self.registry == DOCKER_HUB
    }

    /// The host (and port) that serves the registry API.
    pub fn api_host(&self) -> &str {
        if self.is_docker_hub() {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The host part of the registry, without a port: what insecure-registry CIDRs match.
    pub fn host_name(&self) -> &str {
        let r = self.registry.as_str();
        if let Some(rest) = r.strip_prefix('[') {
            // [::1]:5000
            return rest.split(']').next().unwrap_or(rest);
        }
        r.rsplit_once(':').map_or(r, |(host, _)| host)
    }
}

/// `repository:tag` → (`repository`, `tag`); no tag means `latest`, as for docker. A digest
/// reference (`repo@sha256:…`) gives the digest.
pub fn split_reference(image: &str) -> (&str, &str) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo, digest);
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => (&image[..last_slash + i], &image[last_slash + i + 1..]),
        None => (image, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(image: &str) -> (String, String, String) {
        let r = Reference::parse(image);
        (r.registry, r.repository, r.reference)
    }

    fn owned(a: &str, b: &str, c: &str) -> (String, String, String) {
        (a.into(), b.into(), c.into())
    }

    #[test]
    fn references_split_like_docker_splits_them() {
        assert_eq!(
            split_reference("127.0.0.1:5000/pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"),
            (
                "127.0.0.1:5000/pytorch/pytorch",
                "2.6.0-cuda12.4-cudnn9-runtime"
            )
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/x"),
            ("127.0.0.1:5000/x", "latest")
        );
        assert_eq!(split_reference("ubuntu"), ("ubuntu", "latest"));
        assert_eq!(
            split_reference("pytorch/pytorch@sha256:abc"),
            ("pytorch/pytorch", "sha256:abc")
        );
    }

    #[test]
    fn registries_and_repositories_are_named_like_docker_names_them() {
        assert_eq!(
            parts("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"),
            owned(
                "docker.io",
                "pytorch/pytorch",
                "2.6.0-cuda12.4-cudnn9-runtime"
            )
        );
        assert_eq!(
            parts("ubuntu"),
            owned("docker.io", "library/ubuntu", "latest")
        );
        assert_eq!(
            parts("docker.io/ubuntu:24.04"),
            owned("docker.io", "library/ubuntu", "24.04")
        );
        assert_eq!(
            parts("index.docker.io/pytorch/pytorch@sha256:ab"),
            owned("docker.io", "pytorch/pytorch", "sha256:ab")
        );
        assert_eq!(
            parts("127.0.0.1:5000/ptenv/x:1"),
            owned("127.0.0.1:5000", "ptenv/x", "1")
        );
        assert_eq!(
            parts("nvcr.io/nvidia/pytorch:24.01-py3"),
            owned("nvcr.io", "nvidia/pytorch", "24.01-py3")
        );
        // A one-word repository outside Docker Hub gets no `library/`.
        assert_eq!(parts("localhost/x"), owned("localhost", "x", "latest"));
        assert_eq!(
            Reference::parse("ubuntu").api_host(),
            "registry-1.docker.io"
        );
        assert_eq!(
            Reference::parse("127.0.0.1:5000/x").api_host(),
            "127.0.0.1:5000"
        );
    }

    #[test]
    fn host_names_drop_the_port() {
        assert_eq!(
            Reference::parse("127.0.0.1:5000/x").host_name(),
            "127.0.0.1"
        );
        assert_eq!(Reference::parse("[::1]:5000/x").host_name(), "::1");
        assert_eq!(Reference::parse("nvcr.io/x/y").host_name(), "nvcr.io");
        assert_eq!(Reference::parse("ubuntu").host_name(), "docker.io");
    }
}
