//! The tree pass of a whole-history scan: which trees hold the entries a report must place.
//!
//! The commit walk diffs each commit's trees against its parents' to find what it introduced,
//! but a report places only a few entries ("wanted": blobs with findings, blobs named as not
//! scanned, blobs missing from the object database, submodules). Read commit by commit, a tree's
//! delta chain is inflated again and again: on git.git 840,000 decodes for its 382,000 trees, most
//! of the walk's 11 s of CPU. Here every tree of the packs is inflated once, in pack order on all
//! cores, and kept only as the edges to its subtrees and its wanted entries. The trees above a
//! wanted entry are then marked, and a commit's diff runs over the marked entries alone, without
//! reading a tree: a wanted entry a parent holds is in the parent's marked trees too.
//!
//! A tree the pass did not read (a loose one, or one below a damaged entry) leaves every tree
//! above it to the reading diff ([`super::walk`]), which names what it cannot read.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use git2::Oid;
use gix_hash::{ObjectId, oid};

use super::packs::{Every, PacksOf};
use super::walk::{GITLINK, Introduced, name_order, next_entry};
use crate::blob::BlobId;

/// The entries a report must place: submodules, blobs with findings or named as not scanned,
/// and blobs the object database lacks (missing ones).
pub struct Wanted {
    /// Every blob of the object database, and each blob with findings or named, true for those.
    /// Asked of every entry of every tree (128 million on git.git): ids are hashed by their
    /// first bytes, not by `SipHash`.
    blobs: gix_hashtable::HashMap<ObjectId, bool>,
}

impl Wanted {
    /// The entries a report must place, given the blobs of the object database (`known`) and
    /// those with findings or named as not scanned (`placed`).
    pub fn new(known: &HashSet<BlobId>, placed: impl Iterator<Item = BlobId>) -> Wanted {
        let id = |b: &BlobId| ObjectId::try_from(&b.0[..]).ok();
        let mut blobs: gix_hashtable::HashMap<ObjectId, bool> =
            known.iter().filter_map(|b| Some((id(b)?, false))).collect();
        blobs.extend(placed.filter_map(|b| Some((id(&b)?, true))));
        Wanted { blobs }
    }

    /// True for the entry of object `id` with git file `mode` when a report must place it.
    pub fn contains(&self, id: &[u8], mode: i32) -> bool {
        mode == GITLINK
            || oid::try_from_bytes(id).is_ok_and(|id| self.blobs.get(id) != Some(&false))
    }
}

/// The marked trees of a history, from one pass over its packs.
pub struct Held {
    /// Every tree the pass read, by id: its index in `status` and `kept`.
    index: gix_hashtable::HashMap<ObjectId, u32>,
    status: Vec<Status>,
    /// A marked tree's marked entries, in git order.
    kept: Vec<Box<[Kept]>>,
    /// The names of kept entries.
    names: Vec<Box<[u8]>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Holds no wanted entry.
    Plain,
    /// Holds a wanted entry, at some depth.
    Marked,
    /// Holds, at some depth, a tree the pass did not read: left to the reading diff.
    Unread,
}

/// A marked entry of a tree: its name (an index into the names) and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kept {
    name: u32,
    what: Target,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// A marked subtree, by index.
    Tree(u32),
    /// A wanted blob or submodule.
    Leaf { id: Oid, mode: i32 },
}

/// Subtree entries per chunk of [`Edges::children`]: 32 MiB, above the size from which the
/// allocator maps memory of its own, so a chunk's untouched tail costs no resident memory and a
/// freed chunk goes back to the system.
const EDGE_CHUNK: usize = 1 << 22;

/// The subtree entries one reading thread saw: most of the pass's memory (8 bytes for each of
/// git.git's 7 million), kept in chunks so that growing never copies it.
#[derive(Default)]
struct Edges {
    /// Each tree read with subtrees, and how many: theirs are the next that many `children`.
    parents: Vec<(u32, u32)>,
    /// Each subtree entry: the subtree's index and the entry's name.
    children: Vec<Vec<(u32, u32)>>,
}

impl Edges {
    fn push(&mut self, parent: u32, child: u32, name: u32) {
        match self.parents.last_mut() {
            Some((last, count)) if *last == parent => *count += 1,
            _ => self.parents.push((parent, 1)),
        }
        if self.children.last().is_none_or(|chunk| chunk.len() == EDGE_CHUNK) {
            self.children.push(Vec::with_capacity(EDGE_CHUNK));
        }
        if let Some(chunk) = self.children.last_mut() {
            chunk.push((child, name));
        }
    }

    /// Every entry as `(parent, child, name)`.
    fn iter(&self) -> impl Iterator<Item = (u32, u32, u32)> + '_ {
        let parents = self.parents.iter().flat_map(|&(p, n)| std::iter::repeat_n(p, n as usize));
        parents.zip(self.children.iter().flatten()).map(|(p, &(c, name))| (p, c, name))
    }
}

/// What the reading threads gather, merged as each one finishes.
#[derive(Default)]
struct Gathered {
    names: HashMap<Box<[u8]>, u32>,
    name_list: Vec<Box<[u8]>>,
    /// One per reading thread.
    edges: Vec<Edges>,
    /// Each wanted entry, with the tree that holds it.
    leaves: Vec<(u32, Kept)>,
    unread: Vec<u32>,
}

impl Gathered {
    fn name(&mut self, name: &[u8]) -> u32 {
        if let Some(&at) = self.names.get(name) {
            return at;
        }
        let at = self.name_list.len() as u32;
        self.name_list.push(name.into());
        self.names.insert(name.into(), at);
        at
    }

    /// Adds what another thread gathered, its names renumbered into these.
    fn merge(&mut self, mut other: Gathered) {
        let renamed: Vec<u32> = other.name_list.iter().map(|n| self.name(n)).collect();
        let edges = other.edges.iter_mut().flat_map(|e| e.children.iter_mut().flatten());
        for (_, name) in edges {
            *name = renamed[*name as usize];
        }
        for (_, kept) in &mut other.leaves {
            kept.name = renamed[kept.name as usize];
        }
        self.edges.append(&mut other.edges);
        self.leaves.append(&mut other.leaves);
        self.unread.append(&mut other.unread);
    }
}

/// What every reading thread consults: the index of trees and the wanted entries.
struct Reading<'a> {
    index: &'a gix_hashtable::HashMap<ObjectId, u32>,
    wanted: &'a Wanted,
}

impl Reading<'_> {
    /// Adds tree `id`'s subtree edges and wanted entries to `mine`, a thread's part.
    fn tree(&self, mine: &mut Gathered, id: &oid, mut data: &[u8]) {
        let Some(&at) = self.index.get(id) else { return };
        if mine.edges.is_empty() {
            mine.edges.push(Edges::default());
        }
        while let Some(entry) = next_entry(&mut data) {
            if entry.is_tree() {
                let child = oid::try_from_bytes(entry.id).ok().and_then(|c| self.index.get(c));
                match child {
                    Some(&child) => {
                        let name = mine.name(entry.name);
                        mine.edges[0].push(at, child, name);
                    }
                    None => mine.unread.push(at),
                }
            } else if self.wanted.contains(entry.id, entry.mode.cast_signed())
                && let Ok(id) = Oid::from_bytes(entry.id)
            {
                let what = Target::Leaf { id, mode: entry.mode.cast_signed() };
                let name = mine.name(entry.name);
                mine.leaves.push((at, Kept { name, what }));
            }
        }
        // A damaged entry ends the reading diff's list too; it is left to that diff.
        if !data.is_empty() {
            mine.unread.push(at);
        }
    }
}

impl Held {
    /// Reads every tree in the packs of `dirs` and marks those that hold, at some depth, an
    /// entry of `wanted`. `None` when a pack cannot be read this way (the reading diff then
    /// serves every commit, and names what it cannot read).
    pub fn build(dirs: &[PathBuf], wanted: &Wanted) -> Option<Held> {
        let packs = PacksOf::plan(dirs, Every::Tree).ok()?;
        let mut index = gix_hashtable::HashMap::default();
        for id in packs.ids() {
            let next = index.len() as u32;
            index.entry(id.to_owned()).or_insert(next);
        }
        let reading = Reading { index: &index, wanted };
        let parts = packs.gather(|mine, id, data| reading.tree(mine, id, data)).ok()?;
        let mut gathered = Gathered::default();
        for part in parts {
            gathered.merge(part);
        }
        Some(Held::mark(index, gathered))
    }

    /// Marks the trees above each wanted entry (and, first, those above an unread tree), and
    /// keeps each marked tree's marked entries.
    fn mark(index: gix_hashtable::HashMap<ObjectId, u32>, gathered: Gathered) -> Held {
        let Gathered { name_list, edges, leaves, unread, .. } = gathered;
        let trees = index.len();
        let edges = || edges.iter().flat_map(Edges::iter);
        // The parents of tree `t` are `parents[first[t]..first[t + 1]]`.
        let mut first = vec![0u32; trees + 1];
        for (_, child, _) in edges() {
            first[child as usize + 1] += 1;
        }
        for t in 0..trees {
            first[t + 1] += first[t];
        }
        let mut parents = vec![0u32; first[trees] as usize];
        let mut fill = first.clone();
        for (parent, child, _) in edges() {
            parents[fill[child as usize] as usize] = parent;
            fill[child as usize] += 1;
        }
        let mut status = vec![Status::Plain; trees];
        let mut spread = |seeds: &mut dyn Iterator<Item = u32>, to: Status| {
            let mut work: Vec<u32> = seeds.collect();
            while let Some(t) = work.pop() {
                let t = t as usize;
                if status[t] == to || status[t] == Status::Unread {
                    continue;
                }
                status[t] = to;
                work.extend_from_slice(&parents[first[t] as usize..first[t + 1] as usize]);
            }
        };
        spread(&mut unread.into_iter(), Status::Unread);
        spread(&mut leaves.iter().map(|(t, _)| *t), Status::Marked);
        drop((fill, first, parents));
        let mut kept: Vec<Vec<Kept>> = (0..trees).map(|_| Vec::new()).collect();
        for (parent, child, name) in edges() {
            if status[parent as usize] == Status::Marked && status[child as usize] == Status::Marked
            {
                kept[parent as usize].push(Kept { name, what: Target::Tree(child) });
            }
        }
        for (t, entry) in leaves {
            if status[t as usize] == Status::Marked {
                kept[t as usize].push(entry);
            }
        }
        let order = |a: &Kept, b: &Kept| {
            let is_tree = |k: &Kept| matches!(k.what, Target::Tree(_));
            let (an, bn) = (&name_list[a.name as usize], &name_list[b.name as usize]);
            name_order((an, is_tree(a)), (bn, is_tree(b)))
        };
        let kept = kept
            .into_iter()
            .map(|mut entries| {
                entries.sort_by(order);
                // A tree in two packs was read twice.
                entries.dedup();
                entries.into_boxed_slice()
            })
            .collect();
        Held { index, status, kept, names: name_list }
    }

    /// Git's order of two kept entries.
    fn order(&self, a: &Kept, b: &Kept) -> Ordering {
        let is_tree = |k: &Kept| matches!(k.what, Target::Tree(_));
        let name = |k: &Kept| &*self.names[k.name as usize];
        name_order((name(a), is_tree(a)), (name(b), is_tree(b)))
    }

    /// The index of `tree` if the pass read it and every tree below it.
    fn covered(&self, tree: Oid) -> Option<u32> {
        let at = *self.index.get(oid::try_from_bytes(tree.as_bytes()).ok()?)?;
        (self.status[at as usize] != Status::Unread).then_some(at)
    }

    /// Adds to `out` the wanted entries that a commit of root tree `tree` introduced against its
    /// parents' root trees `parents`, as the reading diff finds them ([`super::walk::introduced`]);
    /// false, with nothing added, when the pass did not read all those trees.
    pub fn introduced(&self, tree: Oid, parents: &[Oid], out: &mut Vec<Introduced>) -> bool {
        let Some(tree) = self.covered(tree) else { return false };
        let Some(parents) = parents.iter().map(|p| self.covered(*p)).collect::<Option<Vec<_>>>()
        else {
            return false;
        };
        let start = out.len();
        self.diff(parents.first().copied(), tree, &mut Vec::new(), out);
        if let Some(others) = parents.get(1..).filter(|others| !others.is_empty()) {
            let mut i = 0;
            out.retain(|item| {
                i += 1;
                i <= start || !others.iter().any(|p| self.holds(*p, &item.path, item.id))
            });
        }
        true
    }

    /// The marked entries of tree `new` that tree `old` lacks or holds with another id.
    fn diff(&self, old: Option<u32>, new: u32, prefix: &mut Vec<u8>, out: &mut Vec<Introduced>) {
        if old == Some(new) {
            return;
        }
        let before: &[Kept] = old.map_or(&[], |o| &self.kept[o as usize]);
        let mut at = 0;
        for entry in &self.kept[new as usize] {
            while before.get(at).is_some_and(|b| self.order(b, entry) == Ordering::Less) {
                at += 1;
            }
            let same = before.get(at).filter(|b| self.order(b, entry) == Ordering::Equal);
            let len = prefix.len();
            if len > 0 {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(&self.names[entry.name as usize]);
            match entry.what {
                Target::Tree(child) => {
                    let old_child = same.and_then(|b| match b.what {
                        Target::Tree(c) => Some(c),
                        Target::Leaf { .. } => None,
                    });
                    self.diff(old_child, child, prefix, out);
                }
                Target::Leaf { id, mode } => {
                    let held = same
                        .is_some_and(|b| matches!(b.what, Target::Leaf { id: h, .. } if h == id));
                    if !held {
                        out.push(Introduced { path: prefix.clone(), id, mode });
                    }
                }
            }
            prefix.truncate(len);
        }
    }

    /// True when tree `tree` holds `id` at `path` (a wanted entry, so on marked trees only).
    fn holds(&self, mut tree: u32, path: &[u8], id: Oid) -> bool {
        let mut parts = path.split(|&b| b == b'/').peekable();
        while let Some(name) = parts.next() {
            let last = parts.peek().is_none();
            let entry = self.kept[tree as usize].iter().find(|k| {
                &*self.names[k.name as usize] == name && matches!(k.what, Target::Tree(_)) != last
            });
            match entry.map(|e| e.what) {
                Some(Target::Tree(child)) => tree = child,
                Some(Target::Leaf { id: held, .. }) => return held == id,
                None => return false,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::git::walk::{Walker, introduced};
    use std::path::Path;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=T",
                "-c",
                "user.email=t@example.com",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Commits everything in the work tree at `dir`.
    fn commit(dir: &Path, message: &str) {
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-qm", message]);
    }

    fn write(dir: &Path, path: &str, content: &str) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }

    /// A history with what the diff must get right: nested directories, a file that becomes a
    /// directory, a file deleted and brought back, a merge that keeps both sides' changes and adds
    /// one of its own, a submodule, and a last commit left loose (its trees are not in a pack).
    fn history(dir: &Path) {
        git(dir, &["init", "-q"]);
        write(dir, "a/b/key.txt", "secret one");
        write(dir, "a/other.txt", "plain");
        write(dir, "top.txt", "plain top");
        commit(dir, "one");
        write(dir, "a/b/key.txt", "secret two");
        write(dir, "c/d/e/deep.txt", "secret deep");
        commit(dir, "two");
        git(dir, &["checkout", "-qb", "side"]);
        write(dir, "side.txt", "secret side");
        std::fs::remove_file(dir.join("top.txt")).expect("rm");
        write(dir, "top.txt/now-a-dir.txt", "secret one");
        commit(dir, "side");
        git(dir, &["checkout", "-q", "main"]);
        write(dir, "a/b/key.txt", "secret three");
        std::fs::remove_file(dir.join("c/d/e/deep.txt")).expect("rm");
        commit(dir, "three");
        git(dir, &["merge", "-q", "--no-commit", "side"]);
        write(dir, "merged/deep.txt", "secret deep");
        commit(dir, "merge");
        write(dir, "c/d/e/deep.txt", "secret deep");
        git(dir, &["add", "-A"]);
        let pinned = git(dir, &["rev-parse", "HEAD~1"]);
        git(dir, &["update-index", "--add", "--cacheinfo", &format!("160000,{pinned},vendor/sub")]);
        git(dir, &["commit", "-qm", "back"]);
        git(dir, &["repack", "-qad"]);
        write(dir, "a/b/key.txt", "secret loose");
        commit(dir, "loose");
    }

    /// Compares the tree pass with the reading diff on every commit of the repository at `dir`
    /// (their wanted entries must be the same), and returns how many commits the pass answered
    /// and how many wanted entries the commits introduced. Wanted: two blobs with "findings" and
    /// one blob left out of `known`, as a missing one is.
    fn compare(dir: &Path) -> (usize, usize) {
        let repo = git2::Repository::open(dir).expect("open");
        let blob = |content: &str| {
            let id =
                git2::Oid::hash_object(git2::ObjectType::Blob, content.as_bytes()).expect("id");
            BlobId(crate::source::git::packs::oid_bytes_git2(id))
        };
        let wanted = [blob("secret one"), blob("secret deep")];
        let missing = blob("secret side");
        let mut known: HashSet<BlobId> = HashSet::new();
        repo.odb()
            .expect("odb")
            .foreach(|id| {
                known.insert(BlobId(crate::source::git::packs::oid_bytes_git2(*id)));
                true
            })
            .expect("list");
        known.remove(&missing);
        let dirs = vec![dir.join(".git/objects")];
        let wanted = Wanted::new(&known, wanted.into_iter());
        let held = Held::build(&dirs, &wanted).expect("packs read");
        let keep = |i: &Introduced| wanted.contains(i.id.as_bytes(), i.mode);
        let mut walk = repo.revwalk().expect("revwalk");
        walk.push_head().expect("head");
        let commits: Vec<git2::Oid> = walk.map(|c| c.expect("commit")).collect();
        assert_eq!(commits.len(), 7);
        let mut walker = Walker::new(&repo).expect("walker");
        let (mut covered, mut found) = (0, 0);
        for id in &commits {
            let commit = walker.commit(*id).expect("commit");
            let mut read = Vec::new();
            introduced(&mut walker, *id, &commit, None, &mut read).expect("reading diff");
            read.retain(keep);
            let mut from_pass = Vec::new();
            introduced(&mut walker, *id, &commit, Some(&held), &mut from_pass).expect("pass");
            from_pass.retain(keep);
            let show = |v: &[Introduced]| -> Vec<(String, git2::Oid, i32)> {
                v.iter()
                    .map(|i| (String::from_utf8_lossy(&i.path).into_owned(), i.id, i.mode))
                    .collect()
            };
            assert_eq!(show(&from_pass), show(&read), "commit {id}");
            let commit = repo.find_commit(*id).expect("commit");
            let parents: Vec<git2::Oid> = commit.parents().map(|p| p.tree_id()).collect();
            covered += usize::from(held.introduced(commit.tree_id(), &parents, &mut Vec::new()));
            found += read.len();
        }
        (covered, found)
    }

    /// The pass agrees with the reading diff on every commit it answers, and declines the commit
    /// whose trees are loose.
    #[test]
    fn the_tree_pass_agrees_with_the_reading_diff() {
        let dir = tempfile::tempdir().expect("tempdir");
        history(dir.path());
        let (covered, found) = compare(dir.path());
        // Every packed commit was answered by the pass; the loose one was not.
        assert_eq!(covered, 6);
        // a/b/key.txt, c/d/e/deep.txt twice, top.txt/now-a-dir.txt, side.txt, merged/deep.txt,
        // vendor/sub.
        assert_eq!(found, 7);
    }

    /// Trees held by two packs (a repack that kept the old pack) are read twice and kept once.
    #[test]
    fn trees_in_two_packs_count_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        history(dir.path());
        git(dir.path(), &["repack", "-qa"]);
        let packs = std::fs::read_dir(dir.path().join(".git/objects/pack")).expect("packs");
        let count = packs
            .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "pack")))
            .count();
        assert_eq!(count, 2);
        assert_eq!(compare(dir.path()), (7, 7));
    }
}
