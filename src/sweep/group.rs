//! One finding per secret per place, however many images hold it: a secret in a base layer that
//! 200 images share is one finding whose `occurrences` list the other 199 images (and any other
//! layers the image source already listed), not 200 findings.
//!
//! Pure data: it must not depend on sources, the engine or the cache.

use std::collections::{BTreeMap, BTreeSet};

use crate::finding::{Finding, Occurrence};

/// Groups findings by fingerprint (rule, secret, path). The first finding in report order (path,
/// line, then image reference and layer) is kept whole; every other place becomes an occurrence,
/// each listed once. The result is sorted as every report is.
pub fn group(findings: Vec<Finding>) -> Vec<Finding> {
    let mut by_key: BTreeMap<(String, String), Vec<Finding>> = BTreeMap::new();
    for f in findings {
        by_key.entry((f.rule_id.clone(), f.fingerprint.clone())).or_default().push(f);
    }
    let mut out: Vec<Finding> = by_key
        .into_values()
        .map(|mut same| {
            same.sort_by_key(place_key);
            let mut iter = same.into_iter();
            let mut first = iter.next().expect("groups are never empty");
            let mut seen: BTreeSet<String> = BTreeSet::new();
            seen.insert(occurrence_key(&first.path, first.line, first.image.as_ref()));
            let mut occurrences = std::mem::take(&mut first.occurrences);
            for other in iter {
                occurrences.push(Occurrence {
                    path: other.path,
                    line: other.line,
                    commit: other.commit,
                    image: other.image,
                });
                occurrences.extend(other.occurrences);
            }
            occurrences.retain(|o| seen.insert(occurrence_key(&o.path, o.line, o.image.as_ref())));
            occurrences.sort_by(|a, b| {
                occurrence_key(&a.path, a.line, a.image.as_ref()).cmp(&occurrence_key(
                    &b.path,
                    b.line,
                    b.image.as_ref(),
                ))
            });
            first.occurrences = occurrences;
            first
        })
        .collect();
    out.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    out
}

fn place_key(f: &Finding) -> (String, usize, usize, String) {
    (f.path.clone(), f.line, f.column, occurrence_key(&f.path, f.line, f.image.as_ref()))
}

/// The place of a finding: image, platform, then layers base first and the config last (the
/// order `image` lists them in), then path and line.
fn occurrence_key(path: &str, line: usize, image: Option<&crate::finding::ImageInfo>) -> String {
    match image {
        Some(i) => format!(
            "{}\0{}\0{}\0{}\0{}\0{path}\0{line:010}",
            i.reference,
            i.manifest_digest,
            i.platform,
            i.layer_index.map_or_else(|| "config".to_owned(), |n| format!("{n:06}")),
            i.layer_digest.as_deref().unwrap_or(""),
        ),
        None => format!("\0{path}\0{line:010}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot set up should fail loudly
mod tests {
    use super::*;
    use crate::finding::ImageInfo;
    use crate::rules::Severity;

    fn finding(reference: &str, layer: &str, secret: &str) -> Finding {
        Finding {
            rule_id: "aws.access-key-id".into(),
            description: String::new(),
            severity: Severity::High,
            confidence: crate::rules::Confidence::High,
            path: "etc/app.conf".into(),
            line: 3,
            column: 7,
            end_line: 3,
            end_column: 26,
            secret: secret.into(),
            fingerprint: crate::finding::fingerprint(
                "aws.access-key-id",
                secret.as_bytes(),
                "etc/app.conf",
            ),
            commit: None,
            image: Some(ImageInfo {
                reference: reference.into(),
                manifest_digest: format!("sha256:m-{reference}"),
                platform: "linux/amd64".into(),
                layer_digest: Some(layer.into()),
                layer_index: Some(0),
                deleted_in_layer: None,
            }),
            repository: None,
            occurrences: Vec::new(),
            verification: None,
            captures: std::collections::BTreeMap::new(),
            note: None,
        }
    }

    #[test]
    fn one_finding_per_secret_listing_every_image() {
        let mut all: Vec<Finding> = (0..200)
            .rev()
            .map(|i| finding(&format!("p/app{i:03}:v1"), "sha256:base", "S1"))
            .collect();
        all.push(finding("p/app000:v1", "sha256:base", "S1")); // the same place twice
        all.push(finding("p/other:v1", "sha256:top", "S2"));
        let grouped = group(all);
        assert_eq!(grouped.len(), 2);
        let base = grouped.iter().find(|f| f.secret == "S1").unwrap();
        assert_eq!(base.image.as_ref().unwrap().reference, "p/app000:v1");
        assert_eq!(base.occurrences.len(), 199);
        assert!(
            base.occurrences.iter().all(|o| o.image.as_ref().unwrap().reference != "p/app000:v1")
        );
        let other = grouped.iter().find(|f| f.secret == "S2").unwrap();
        assert!(other.occurrences.is_empty());
    }

    #[test]
    fn grouping_is_order_independent() {
        let a: Vec<Finding> =
            (0..5).map(|i| finding(&format!("p/a{i}:v1"), "sha256:l", "S")).collect();
        let mut b = a.clone();
        b.reverse();
        assert_eq!(group(a), group(b));
    }
}
