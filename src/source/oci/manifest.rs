//! Manifests and indexes (OCI and Docker v2) as JSON, and the media types leakhound accepts.
//! Parsing only; must not depend on where the bytes came from.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::config::platform_string;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Every manifest type accepted from a registry.
pub const ACCEPTED: &[&str] = &[OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];
/// The annotation naming a tag in an OCI layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Layer media types leakhound reads (the compression is taken from the bytes themselves).
const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

/// True for a layer media type leakhound can read.
pub fn is_layer_type(media_type: &str) -> bool {
    LAYER_TYPES.contains(&media_type)
}

/// A content descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type.
    #[serde(default)]
    pub media_type: String,
    /// `sha256:…`.
    pub digest: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// Platform of an index entry.
    #[serde(default)]
    pub platform: Option<PlatformSpec>,
    /// Annotations (an OCI layout's tag lives here).
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An index entry's platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PlatformSpec {
    /// CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// CPU variant.
    #[serde(default)]
    pub variant: Option<String>,
}

impl PlatformSpec {
    /// `os/arch[/variant]`.
    pub fn text(&self) -> String {
        platform_string(&self.os, &self.architecture, self.variant.as_deref())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// An index or manifest list: one entry per platform.
    Index(Vec<Descriptor>),
    /// One image: a config and its layers, base first.
    Image {
        /// The config blob.
        config: Descriptor,
        /// The layers.
        layers: Vec<Descriptor>,
    },
}

/// Parses manifest JSON; `media_type` is what the transport said, when it said.
pub fn parse(data: &[u8], media_type: Option<&str>) -> Result<Manifest, String> {
    let raw: Raw =
        serde_json::from_slice(data).map_err(|e| format!("invalid manifest JSON: {e}"))?;
    let kind = raw.media_type.as_deref().or(media_type).unwrap_or_default();
    if raw.schema_version == Some(1) || kind.contains("distribution.manifest.v1") {
        return Err("Docker schema 1 manifests are not supported: re-push the image".into());
    }
    match (raw.manifests, raw.config, raw.layers) {
        (Some(manifests), _, _) if kind.is_empty() || kind == OCI_INDEX || kind == DOCKER_LIST => {
            Ok(Manifest::Index(manifests))
        }
        (None, Some(config), Some(layers))
            if kind.is_empty() || kind == OCI_MANIFEST || kind == DOCKER_MANIFEST =>
        {
            Ok(Manifest::Image { config, layers })
        }
        _ => Err(format!(
            "unknown manifest media type {:?}: not an image manifest or index",
            if kind.is_empty() { "(none)" } else { kind }
        )),
    }
}

/// True when an index entry matches `--platform` (`os/arch` matches every variant).
pub fn platform_matches(entry: Option<&PlatformSpec>, wanted: &str) -> bool {
    let Some(p) = entry else { return false };
    let text = p.text();
    text == wanted || text.starts_with(&format!("{wanted}/"))
}

/// True for index entries that are not runnable images (build attestations).
pub fn is_attestation(entry: &Descriptor) -> bool {
    entry.platform.as_ref().is_some_and(|p| p.os == "unknown")
        || entry.annotations.as_ref().is_some_and(|a| a.contains_key("vnd.docker.reference.type"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
            "manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "digest":"sha256:a","size":1,"platform":{"architecture":"arm64","os":"linux"}}]}"#;
        let Ok(Manifest::Index(entries)) = parse(index, None) else { panic!("index") };
        assert!(platform_matches(entries[0].platform.as_ref(), "linux/arm64"));
        assert!(!platform_matches(entries[0].platform.as_ref(), "linux/amd64"));
        let image = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:c","size":2},
            "layers":[]}"#;
        assert!(matches!(parse(image, Some(DOCKER_MANIFEST)), Ok(Manifest::Image { .. })));
        assert!(parse(br#"{"schemaVersion":2,"mediaType":"application/x-weird"}"#, None).is_err());
        assert!(parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, None).is_err());
    }
}
