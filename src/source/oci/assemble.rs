//! Assembles one image's findings from its ordered per-layer results ([`LayerScan`]) and the
//! findings in its config: fills in [`ImageInfo`], marks files that a later layer deletes, and
//! reports a secret found in several layers once, listing the other places as occurrences.
//!
//! Pure: no I/O, no engine. A sweep calls [`assemble`] with layer results from its cache.

use std::collections::HashMap;

use super::layer::LayerScan;
use crate::finding::{Finding, ImageInfo, Occurrence};

/// Which image (one platform of it) the findings belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageMeta {
    /// The reference as the user gave it.
    pub reference: String,
    /// Digest of the platform manifest (for a `docker save` tarball, the image id).
    pub manifest_digest: String,
    /// `os/arch[/variant]`.
    pub platform: String,
}

impl ImageMeta {
    fn info(&self, layer: Option<(usize, &str)>, deleted_in_layer: Option<String>) -> ImageInfo {
        ImageInfo {
            reference: self.reference.clone(),
            manifest_digest: self.manifest_digest.clone(),
            platform: self.platform.clone(),
            layer_digest: layer.map(|(_, d)| d.to_owned()),
            layer_index: layer.map(|(i, _)| i),
            deleted_in_layer,
        }
    }
}

/// The image's findings. `layers` are in manifest order (base first); `config` holds the
/// findings in the config's pseudo-paths (`config:Env[3]`), with `image` unset.
///
/// A secret (same rule, same secret) found in several places is one finding at its lowest
/// layer (config last), and the other places are listed in `occurrences`.
pub fn assemble(meta: &ImageMeta, layers: &[&LayerScan], config: &[Finding]) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let mut by_secret: HashMap<(String, String), usize> = HashMap::new();
    let mut place = |finding: &Finding, info: ImageInfo| {
        let key = (finding.rule_id.clone(), finding.secret.clone());
        if let Some(&at) = by_secret.get(&key) {
            let first: &mut Finding = &mut out[at];
            let already = first.occurrences.iter().any(|o| {
                o.path == finding.path
                    && o.image.as_ref().map(|i| &i.layer_digest) == Some(&info.layer_digest)
            });
            let same_as_first = first.path == finding.path
                && first.image.as_ref().map(|i| &i.layer_digest) == Some(&info.layer_digest);
            if !already && !same_as_first {
                first.occurrences.push(Occurrence {
                    path: finding.path.clone(),
                    line: finding.line,
                    commit: None,
                    image: Some(info),
                });
            }
        } else {
            by_secret.insert(key, out.len());
            out.push(Finding { image: Some(info), ..finding.clone() });
        }
    };
    for (index, layer) in layers.iter().enumerate() {
        for finding in &layer.findings {
            let deleted = deleted_in(&finding.path, &layers[index + 1..]);
            place(finding, meta.info(Some((index, &layer.digest)), deleted));
        }
    }
    for finding in config {
        place(finding, meta.info(None, None));
    }
    out
}

/// The digest of the first of `later` layers that deletes `path`: a whiteout of the path or of
/// a directory above it, or an opaque marker on a directory above it.
pub fn deleted_in(path: &str, later: &[&LayerScan]) -> Option<String> {
    later
        .iter()
        .find(|layer| {
            layer.whiteouts.iter().any(|w| is_within(path, w))
                || layer
                    .opaque_dirs
                    .iter()
                    .any(|d| d.is_empty() || path.starts_with(&format!("{d}/")))
        })
        .map(|layer| layer.digest.clone())
}

/// True when `path` is `dir` or lies under it.
fn is_within(path: &str, dir: &str) -> bool {
    path == dir || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Severity;

    fn finding(path: &str, secret: &str) -> Finding {
        Finding {
            rule_id: "r.x".into(),
            description: String::new(),
            severity: Severity::High,
            confidence: crate::rules::Confidence::High,
            path: path.into(),
            line: 1,
            column: 1,
            end_line: 1,
            end_column: 2,
            secret: secret.into(),
            fingerprint: String::new(),
            commit: None,
            image: None,
            repository: None,
            occurrences: Vec::new(),
            verification: None,
            captures: std::collections::BTreeMap::new(),
            note: None,
        }
    }

    fn layer(digest: &str) -> LayerScan {
        LayerScan { digest: digest.into(), ..LayerScan::default() }
    }

    #[test]
    fn deletions_and_grouping() {
        let meta = ImageMeta {
            reference: "r".into(),
            manifest_digest: "m".into(),
            platform: "linux/amd64".into(),
        };
        let mut l0 = layer("sha256:0");
        l0.findings =
            vec![finding("app/a.yaml", "s1"), finding("etc/b", "s2"), finding("x/c", "s3")];
        let mut l1 = layer("sha256:1");
        l1.whiteouts = vec!["app/a.yaml".into()];
        l1.opaque_dirs = vec!["x".into()];
        l1.findings = vec![finding("root/copy", "s1")];
        let mut l2 = layer("sha256:2");
        l2.whiteouts = vec!["etc".into()];
        let out = assemble(&meta, &[&l0, &l1, &l2], &[finding("config:Env[0]", "s2")]);
        assert_eq!(out.len(), 3);
        let a = &out[0];
        let info = a.image.as_ref().expect("image info");
        assert_eq!(
            (info.layer_index, info.deleted_in_layer.as_deref()),
            (Some(0), Some("sha256:1"))
        );
        assert_eq!(a.occurrences.len(), 1);
        assert_eq!(a.occurrences[0].image.as_ref().and_then(|i| i.layer_index), Some(1));
        let b = &out[1];
        assert_eq!(b.image.as_ref().and_then(|i| i.deleted_in_layer.as_deref()), Some("sha256:2"));
        assert_eq!(b.occurrences[0].path, "config:Env[0]");
        let c = &out[2];
        assert_eq!(c.image.as_ref().and_then(|i| i.deleted_in_layer.as_deref()), Some("sha256:1"));
        assert!(!is_within("etcetera", "etc"));
    }
}
