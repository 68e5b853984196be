//! What refs name besides commits: annotated tags (their messages) and trees or blobs a ref or
//! tag points at directly. No commit holds them, so the history walk never meets them; a push
//! (`pre-receive`) and a scan of every ref scan them here.

use git2::{ObjectType, Oid, Repository};

use crate::blob::Blob;
use crate::error::ScanError;
use crate::finding::{Provenance, Skipped};
use crate::scan::Scan;
use crate::source::archive::SizeCaps;
use crate::source::{Sink, Skip};

/// An object a ref names besides commits: its id, its kind, and the (first) ref that names it.
pub type RefObject = (Oid, ObjectType, String);

/// Scans `objects` (each with the ref that names it) into `run`: tag messages, and every blob
/// of a tree, or a blob, at the name of the ref that holds it (`refs/x:dir/file`).
pub fn scan(repo: &Repository, objects: &[RefObject], caps: SizeCaps, run: &Scan<'_>) {
    let odb = match repo.odb() {
        Ok(odb) => odb,
        Err(e) => return run.error(ScanError::new(repo.path().display().to_string(), e.message())),
    };
    for (id, kind, name) in objects {
        let hex = id.to_string();
        let short = &hex[..12];
        match kind {
            ObjectType::Tag => match repo.find_tag(*id) {
                Ok(tag) => run.blob(
                    &Blob::new(tag.message_bytes().unwrap_or_default().to_vec()),
                    &Provenance::file(format!("{name} (message of tag {short})")),
                ),
                Err(e) => run.error(ScanError::new(name, format!("tag {id}: {}", e.message()))),
            },
            ObjectType::Tree => {
                let mut blobs = Vec::new();
                let walked = repo.find_tree(*id).and_then(|tree| {
                    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
                        if entry.kind() == Some(ObjectType::Blob) {
                            let file = String::from_utf8_lossy(entry.name_bytes());
                            blobs.push((entry.id(), format!("{name}:{dir}{file}")));
                        }
                        git2::TreeWalkResult::Ok
                    })
                });
                if let Err(e) = walked {
                    run.error(ScanError::new(name, format!("tree {id}: {}", e.message())));
                }
                for (blob, path) in blobs {
                    scan_blob(repo, &odb, blob, &path, caps, run);
                }
            }
            _ => scan_blob(repo, &odb, *id, name, caps, run),
        }
    }
}

/// Scans one blob at `path`, within the size caps the history's blobs get.
fn scan_blob(
    repo: &Repository,
    odb: &git2::Odb<'_>,
    id: Oid,
    path: &str,
    caps: SizeCaps,
    run: &Scan<'_>,
) {
    let cannot = |why: &str| {
        run.error(ScanError::new(path, format!("blob {id} cannot be read: {why}")));
    };
    let size = match odb.read_header(id) {
        Ok((size, _)) => size as u64,
        Err(e) => return cannot(e.message()),
    };
    let too_large = || {
        run.skipped(Skip::TooLarge);
        run.not_scanned(Skipped::new(
            path,
            format!(
                "blob {id} of {size} bytes is over --max-file-size (or, for an archive, \
                 --max-archive-size); raise it to scan this blob"
            ),
        ));
    };
    if size > caps.read_limit() {
        return too_large();
    }
    match super::loose::blob(repo, id) {
        Ok(data) if caps.worth_reading(&data, size) => {
            run.blob(&Blob::new(data), &Provenance::file(path));
        }
        Ok(_) => too_large(),
        Err(why) => cannot(&why),
    }
}
