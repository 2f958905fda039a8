//! Manifests as registries serve them (OCI image spec and Docker's schema 2): an index (manifest
//! list) names one manifest per platform; an image manifest names the config blob and the
//! compressed layers, each with its size in bytes. Pure: text in, sizes out.

use serde::Deserialize;

/// What ptenv asks for, newest first. Schema 1 (signed, without sizes) is not asked for: a
/// registry that only has that answers 404 or a schema-1 body, and the size stays unknown.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A blob: a layer or the image's config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
    #[serde(default, rename = "mediaType")]
    pub media_type: String,
}

impl Blob {
    /// The short ID `docker pull` shows for this blob (first 12 hex digits of its digest).
    pub fn short_id(&self) -> &str {
        let hex = self
            .digest
            .split_once(':')
            .map_or(self.digest.as_str(), |(_, h)| h);
        &hex[..hex.len().min(12)]
    }
}

/// One platform's entry in an index.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Entry {
    pub digest: String,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    Index(Vec<Entry>),
    Image { config: Blob, layers: Vec<Blob> },
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default, rename = "schemaVersion")]
    schema_version: u32,
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Entry>>,
    #[serde(default)]
    config: Option<Blob>,
    #[serde(default)]
    layers: Option<Vec<Blob>>,
}

/// Read a manifest body; `content_type` is the response's header, which decides when the body
/// does not carry `mediaType` (OCI makes it optional).
pub fn parse(content_type: &str, body: &str) -> Result<Manifest, String> {
    let raw: Raw = serde_json::from_str(body)
        .map_err(|e| format!("the registry sent a manifest ptenv cannot read ({e})"))?;
    if raw.schema_version == 1 {
        return Err("the registry only has a schema 1 manifest, which carries no sizes".into());
    }
    let media_type = raw
        .media_type
        .as_deref()
        .unwrap_or(content_type.split(';').next().unwrap_or("").trim());
    let is_index = media_type.ends_with("index.v1+json")
        || media_type.ends_with("manifest.list.v2+json")
        || (raw.manifests.is_some() && raw.layers.is_none());
    if is_index {
        return Ok(Manifest::Index(raw.manifests.unwrap_or_default()));
    }
    match (raw.config, raw.layers) {
        (Some(config), Some(layers)) => Ok(Manifest::Image { config, layers }),
        _ => Err(format!(
            "the registry sent a manifest without config and layers ({media_type})"
        )),
    }
}

/// The entry for `os`/`arch` (and `variant` when the engine has one), as the engine would pick
/// it: an exact variant match first, else the first entry of that OS and architecture.
/// Attestation manifests (`unknown/unknown`) never match.
pub fn pick<'a>(
    entries: &'a [Entry],
    os: &str,
    arch: &str,
    variant: Option<&str>,
) -> Option<&'a Entry> {
    let of_platform = |e: &&Entry| {
        e.platform
            .as_ref()
            .is_some_and(|p| p.os == os && p.architecture == arch)
    };
    let variant_of = |e: &Entry| e.platform.as_ref().and_then(|p| p.variant.clone());
    entries
        .iter()
        .filter(of_platform)
        .find(|e| variant.is_some() && variant_of(e).as_deref() == variant)
        .or_else(|| entries.iter().find(of_platform))
}

/// The diff IDs (`rootfs.diff_ids`) of an image config: the uncompressed layers, in order, as
/// the engine records them for the images it has.
pub fn diff_ids(config: &str) -> Vec<String> {
    #[derive(Deserialize)]
    struct Config {
        rootfs: RootFs,
    }
    #[derive(Deserialize)]
    struct RootFs {
        #[serde(default)]
        diff_ids: Vec<String>,
    }
    serde_json::from_str::<Config>(config)
        .map(|c| c.rootfs.diff_ids)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"{
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.index.v1+json",
      "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:arm", "size": 1,
         "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:amd", "size": 1,
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:att", "size": 1,
         "platform": {"architecture": "unknown", "os": "unknown"}}
      ]}"#;

    const IMAGE: &str = r#"{
      "schemaVersion": 2,
      "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
      "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469,
                 "digest": "sha256:0123456789abcdef0000"},
      "layers": [
        {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 30000000,
         "digest": "sha256:aaaaaaaaaaaabbbb"},
        {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2000000000,
         "digest": "sha256:ccccccccccccdddd"}
      ]}"#;

    #[test]
    fn an_index_lists_platforms_and_the_engine_s_one_is_picked() {
        let Manifest::Index(entries) = parse("", INDEX).unwrap() else {
            panic!("not an index")
        };
        assert_eq!(entries.len(), 3);
        assert_eq!(
            pick(&entries, "linux", "amd64", None).unwrap().digest,
            "sha256:amd"
        );
        assert_eq!(
            pick(&entries, "linux", "arm64", Some("v8")).unwrap().digest,
            "sha256:arm"
        );
        // A variant the index does not name still gets the architecture's entry.
        assert_eq!(
            pick(&entries, "linux", "arm64", Some("v9")).unwrap().digest,
            "sha256:arm"
        );
        assert!(pick(&entries, "linux", "s390x", None).is_none());
        assert!(pick(&entries, "windows", "amd64", None).is_none());
    }

    #[test]
    fn an_image_manifest_gives_its_config_and_layers_with_sizes() {
        let Manifest::Image { config, layers } = parse("", IMAGE).unwrap() else {
            panic!("not an image manifest")
        };
        assert_eq!(config.size, 1469);
        assert_eq!(layers.iter().map(|l| l.size).sum::<u64>(), 2_030_000_000);
        assert_eq!(layers[0].short_id(), "aaaaaaaaaaaa");
    }

    #[test]
    fn the_content_type_decides_when_the_body_has_no_media_type() {
        let body = INDEX.replace(
            r#""mediaType": "application/vnd.oci.image.index.v1+json","#,
            "",
        );
        let m = parse(
            "application/vnd.oci.image.index.v1+json; charset=utf-8",
            &body,
        )
        .unwrap();
        assert!(matches!(m, Manifest::Index(_)));
        // Without either, `manifests` without `layers` is an index.
        assert!(matches!(parse("", &body).unwrap(), Manifest::Index(_)));
    }

    #[test]
    fn what_carries_no_sizes_is_refused_with_a_reason() {
        let e = parse("", r#"{"schemaVersion": 1, "fsLayers": []}"#).unwrap_err();
        assert!(e.contains("schema 1"), "{e}");
        let e = parse("", "<html>proxy login</html>").unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
        let e = parse(
            "application/vnd.oci.image.manifest.v1+json",
            r#"{"schemaVersion": 2}"#,
        )
        .unwrap_err();
        assert!(e.contains("without config and layers"), "{e}");
    }

    #[test]
    fn diff_ids_come_from_the_config_s_rootfs() {
        let config = r#"{"architecture": "amd64", "rootfs": {"type": "layers",
            "diff_ids": ["sha256:d1", "sha256:d2"]}}"#;
        assert_eq!(diff_ids(config), vec!["sha256:d1", "sha256:d2"]);
        assert!(diff_ids("{}").is_empty());
    }
}
