//! What `leakhound image REF` accepts: a registry reference, or a local `docker save` tarball,
//! OCI archive or OCI layout directory. Parsing only; nothing here opens files or sockets.

use std::fmt;
use std::path::{Path, PathBuf};

/// One image argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// `registry/repo:tag` or `registry/repo@sha256:…`, pulled over the distribution API.
    Registry(String),
    /// `docker-archive:PATH`: a `docker save` tarball (legacy layout or Docker ≥ 25 OCI layout).
    DockerArchive(PathBuf),
    /// `oci-archive:PATH[:TAG]`: a tar of an OCI image layout.
    OciArchive {
        /// The tarball.
        path: PathBuf,
        /// The `org.opencontainers.image.ref.name` to pick; every image when absent.
        tag: Option<String>,
    },
    /// `oci:DIR[:TAG]`: an OCI image layout directory.
    OciLayout {
        /// The layout directory (holding `index.json`).
        dir: PathBuf,
        /// The tag to pick; every image when absent.
        tag: Option<String>,
    },
}

impl ImageRef {
    /// Parses one argument. A registry reference is checked by the client when it is pulled.
    pub fn parse(text: &str) -> Result<ImageRef, String> {
        if let Some(path) = text.strip_prefix("docker-archive:") {
            // skopeo allows `docker-archive:PATH:NAME`; the name does not select anything here.
            let (path, _) = split_tag(path, Path::is_file);
            return non_empty(path, text).map(|p| ImageRef::DockerArchive(p.into()));
        }
        if let Some(rest) = text.strip_prefix("oci-archive:") {
            let (path, tag) = split_tag(rest, Path::is_file);
            return non_empty(path, text)
                .map(|p| ImageRef::OciArchive { path: p.into(), tag: tag.map(str::to_owned) });
        }
        if let Some(rest) = text.strip_prefix("oci:") {
            let (dir, tag) = split_tag(rest, |p| p.join("index.json").is_file());
            return non_empty(dir, text)
                .map(|d| ImageRef::OciLayout { dir: d.into(), tag: tag.map(str::to_owned) });
        }
        if text.is_empty() || text.contains(char::is_whitespace) {
            return Err(format!("invalid image reference {text:?}"));
        }
        Ok(ImageRef::Registry(text.to_owned()))
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = |t: &Option<String>| t.as_ref().map(|t| format!(":{t}")).unwrap_or_default();
        match self {
            ImageRef::Registry(r) => f.write_str(r),
            ImageRef::DockerArchive(p) => write!(f, "docker-archive:{}", p.display()),
            ImageRef::OciArchive { path, tag: t } => {
                write!(f, "oci-archive:{}{}", path.display(), tag(t))
            }
            ImageRef::OciLayout { dir, tag: t } => write!(f, "oci:{}{}", dir.display(), tag(t)),
        }
    }
}

fn non_empty<'a>(path: &'a str, text: &str) -> Result<&'a str, String> {
    if path.is_empty() { Err(format!("{text:?} names no path")) } else { Ok(path) }
}

/// `PATH:TAG` when the whole text is not itself the path and the part before the last colon is.
fn split_tag(text: &str, exists: impl Fn(&Path) -> bool) -> (&str, Option<&str>) {
    if exists(Path::new(text)) {
        return (text, None);
    }
    match text.rsplit_once(':') {
        Some((path, tag)) if !tag.is_empty() && !tag.contains('/') && exists(Path::new(path)) => {
            (path, Some(tag))
        }
        _ => (text, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("index.json"), "{}").expect("write");
        let d = dir.path().display().to_string();
        assert_eq!(
            ImageRef::parse(&format!("oci:{d}:v1")),
            Ok(ImageRef::OciLayout { dir: d.clone().into(), tag: Some("v1".into()) })
        );
        assert_eq!(
            ImageRef::parse(&format!("oci:{d}")),
            Ok(ImageRef::OciLayout { dir: d.clone().into(), tag: None })
        );
        assert_eq!(
            ImageRef::parse("docker-archive:/x/save.tar"),
            Ok(ImageRef::DockerArchive("/x/save.tar".into()))
        );
        assert_eq!(
            ImageRef::parse("harbor.example.com/p/app@sha256:ab"),
            Ok(ImageRef::Registry("harbor.example.com/p/app@sha256:ab".into()))
        );
        assert!(ImageRef::parse("oci:").is_err());
        assert!(ImageRef::parse("").is_err());
    }
}
