//! The commits of a whole history, listed from one pass over the packs, in history order.
//!
//! libgit2's revision walk reads commits one at a time through its object database: git.git's
//! 203,352 commits took 1.7 s of one core, most of a cached re-scan after 100 new commits. Here
//! every commit of the packs is inflated once, in pack order on all cores, and kept only as its
//! parents and committer date; the commits the tips reach are then ordered in memory. A commit
//! the packs do not hold (a loose one) is read through `git2`.
//!
//! The pass keeps each commit's root tree and scans its message too ([`Read`]), so that the walk
//! that places the findings need not read the commits again: on git.git that second reading
//! (inflating, and finding each commit in the pack index) was over half of the walk's CPU.
//!
//! History order is parents before children and, among commits that order leaves free, the
//! oldest committer date first (then the lower id). It follows from the commits alone, not from
//! the order of the refs or of a walk, so a secret that two unrelated commits introduced is
//! placed at the older of them on every run. (Where this listing declines, with grafts or damaged
//! commits, the git2 walk lists the history in its own parents-first order, as before.)

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::PathBuf;

use git2::{Oid, Repository};
use gix_hash::{ObjectId, oid};

use super::packs::{Every, PacksOf};
use super::walk::{commit_message, commit_parts};
use crate::cache::CommitGraph;
use crate::scan::MessageScan;

/// A commit as the order needs it, and its root tree where the pass read it.
struct Node {
    time: i64,
    parents: Vec<ObjectId>,
    tree: Option<Oid>,
}

/// What the pass over the packs read of the listed commits besides their place in history.
#[derive(Debug, Default)]
pub struct Read {
    /// Each listed commit's root tree, by position in the list: `None` for a commit the pass did
    /// not read (taken from a kept graph, or read through `git2`), which the walk reads itself.
    trees: Vec<Option<Oid>>,
    /// The scans of the messages of the commits the pass read, by position, where not clean.
    messages: HashMap<u32, MessageScan>,
}

/// What the pass read of one commit, as the walk takes it.
pub struct ReadCommit<'a> {
    /// Its root tree.
    pub tree: Oid,
    /// Its parents' root trees.
    pub parents: Vec<Oid>,
    /// Its message's scan; `None` for a clean one.
    pub message: Option<&'a MessageScan>,
}

impl Read {
    /// True when the pass read none of the commits (they came from a kept graph).
    pub fn is_empty(&self) -> bool {
        self.trees.is_empty()
    }

    /// What the pass read of the commit at position `at` of `graph`, when it read the commit and
    /// its parents.
    pub fn commit(&self, graph: &CommitGraph, at: usize) -> Option<ReadCommit<'_>> {
        let tree = |at: usize| self.trees.get(at).copied().flatten();
        let parents: Option<Vec<Oid>> =
            graph.parents_of(at).iter().map(|&p| tree(p as usize)).collect();
        let message = self.messages.get(&(at as u32));
        Some(ReadCommit { tree: tree(at)?, parents: parents?, message })
    }
}

/// What the pass makes of a commit's message: a scan worth keeping, or `None` for a clean one.
pub type ScanMessage<'a> = &'a (dyn Fn(&[u8]) -> Option<MessageScan> + Sync);

/// The commits `tips` reach, parents first (see the module note). `shallow` names the commits
/// whose parents this repository lacks. The commits of `known` (an earlier run's graph, with the
/// same shallow boundary) are taken from it, and only the others are read: through `git2`, so
/// the cost follows the new commits; without it, every commit of the packs is read in one pass.
/// `None` when a commit cannot be read or parsed or a parent is missing: the caller's walk
/// through `git2` then names what is wrong. The pass scans each message it reads with
/// `scan_message`.
pub(super) fn list(
    repo: &Repository,
    dirs: &[PathBuf],
    tips: &[Oid],
    shallow: &HashSet<Oid>,
    known: Option<&CommitGraph>,
    scan_message: ScanMessage<'_>,
) -> Option<(CommitGraph, Read)> {
    let (mut nodes, mut messages) = match known {
        Some(graph) => (from_graph(graph), Vec::new()),
        None => in_packs(dirs, scan_message)?,
    };
    let shallow: HashSet<ObjectId> = shallow.iter().filter_map(|id| to_gix(*id)).collect();
    // Depth-first from the tips: every reachable commit, read from `git2` where it is not known.
    let mut reached: Vec<ObjectId> = Vec::new();
    let mut index: gix_hashtable::HashMap<ObjectId, u32> = gix_hashtable::HashMap::default();
    let mut stack: Vec<ObjectId> = tips.iter().map(|t| to_gix(*t)).collect::<Option<_>>()?;
    while let Some(id) = stack.pop() {
        if index.contains_key(&id) {
            continue;
        }
        if !nodes.contains_key(&id) {
            nodes.insert(id, read_through_git2(repo, &id)?);
        }
        let node = nodes.get_mut(&id)?;
        if shallow.contains(&id) {
            node.parents.clear();
        }
        index.insert(id, reached.len() as u32);
        reached.push(id);
        stack.extend(node.parents.iter().copied());
    }
    let (graph, placed) = order(&reached, &index, &nodes);
    // Commits taken from a kept graph were not read: the walk reads them itself.
    let mut read = Read::default();
    if known.is_none() {
        read.trees = vec![None; graph.ids.len()];
        // (A commit the order could not place, in a cycle no real history has, stays unread.)
        for (id, &at) in reached.iter().zip(&placed) {
            if let Some(tree) = read.trees.get_mut(at as usize) {
                *tree = nodes[id].tree;
            }
        }
        // Messages of commits the tips do not reach are dropped.
        for (id, message) in messages.drain(..) {
            if let Some(&at) = index.get(&id).map(|&r| &placed[r as usize])
                && (at as usize) < read.trees.len()
            {
                read.messages.insert(at, message);
            }
        }
    }
    Some((graph, read))
}

/// Kahn's order over the `reached` commits: a commit is ready once its parents are placed, and
/// the oldest ready commit goes next. Also returns where each of `reached` was placed.
fn order(
    reached: &[ObjectId],
    index: &gix_hashtable::HashMap<ObjectId, u32>,
    nodes: &Nodes,
) -> (CommitGraph, Vec<u32>) {
    let n = reached.len();
    // Dates and parents by position in `reached`, each id looked up once: the parents of `c`
    // are `up[up_first[c]..up_first[c + 1]]`.
    let mut times = Vec::with_capacity(n);
    let mut up_first = Vec::with_capacity(n + 1);
    let mut up: Vec<u32> = Vec::with_capacity(n);
    up_first.push(0);
    for id in reached {
        let node = &nodes[id];
        times.push(node.time);
        up.extend(node.parents.iter().map(|p| index[p]));
        up_first.push(up.len() as u32);
    }
    let parents = |c: usize| &up[up_first[c] as usize..up_first[c + 1] as usize];
    // The children of commit `c` are `children[first[c]..first[c + 1]]`.
    let mut first = vec![0u32; n + 1];
    for &p in &up {
        first[p as usize + 1] += 1;
    }
    for i in 0..n {
        first[i + 1] += first[i];
    }
    let mut children = vec![0u32; up.len()];
    let mut fill = first.clone();
    for child in 0..n {
        for &p in parents(child) {
            children[fill[p as usize] as usize] = child as u32;
            fill[p as usize] += 1;
        }
    }
    let mut waiting: Vec<u32> = (0..n).map(|c| parents(c).len() as u32).collect();
    let key = |i: usize| (Reverse((times[i], reached[i])), i);
    let mut ready: BinaryHeap<_> = (0..n).filter(|&i| waiting[i] == 0).map(key).collect();
    // Positions in the output, for the parents of the graph returned.
    let mut placed = vec![u32::MAX; n];
    let mut out = CommitGraph { first: vec![0], ..CommitGraph::default() };
    while let Some((_, i)) = ready.pop() {
        placed[i] = out.ids.len() as u32;
        out.ids.push(super::packs::oid_bytes(&reached[i]));
        out.times.push(times[i]);
        out.parents.extend(parents(i).iter().map(|&p| placed[p as usize]));
        out.first.push(out.parents.len() as u32);
        for &child in &children[first[i] as usize..first[i + 1] as usize] {
            waiting[child as usize] -= 1;
            if waiting[child as usize] == 0 {
                ready.push(key(child as usize));
            }
        }
    }
    (out, placed)
}

/// Commits by id.
type Nodes = gix_hashtable::HashMap<ObjectId, Node>;

/// The commits of an earlier run's graph, by id.
fn from_graph(graph: &CommitGraph) -> Nodes {
    let id = |i: usize| ObjectId::from(graph.ids[i]);
    (0..graph.ids.len())
        .map(|i| {
            let parents = graph.parents_of(i).iter().map(|&p| id(p as usize)).collect();
            (id(i), Node { time: graph.times[i], parents, tree: None })
        })
        .collect()
}

/// Every commit of the packs of `dirs` that parses, by id (one that does not is read through
/// `git2`), and what `scan_message` made of their messages; `None` when a pack cannot be read.
fn in_packs(
    dirs: &[PathBuf],
    scan_message: ScanMessage<'_>,
) -> Option<(Nodes, Vec<(ObjectId, MessageScan)>)> {
    type Part = (Vec<(ObjectId, Node)>, Vec<(ObjectId, MessageScan)>);
    let packs = PacksOf::plan(dirs, Every::Commit).ok()?;
    let keep = |(nodes, messages): &mut Part, id: &oid, data: &[u8]| {
        if let Some((node, message)) = parse(data) {
            nodes.push((id.to_owned(), node));
            messages.extend(scan_message(message).map(|m| (id.to_owned(), m)));
        }
    };
    let parts = packs.gather(keep).ok()?;
    let mut nodes = gix_hashtable::HashMap::default();
    nodes.reserve(parts.iter().map(|p| p.0.len()).sum());
    let mut messages = Vec::new();
    for (mine, scanned) in parts {
        nodes.extend(mine);
        messages.extend(scanned);
    }
    Some((nodes, messages))
}

/// The parents, committer date and root tree of a commit's bytes, and its message; `None` when
/// its header is not git's.
fn parse(data: &[u8]) -> Option<(Node, &[u8])> {
    let (tree, header_end) = commit_parts(data)?;
    let mut parents = Vec::new();
    for line in data[..header_end].split(|&b| b == b'\n').skip(1) {
        if let Some(hex) = line.strip_prefix(b"parent ") {
            parents.push(ObjectId::from_hex(hex).ok()?);
        } else if let Some(who) = line.strip_prefix(b"committer ") {
            // "Name <email> 1700000000 +0100": the date is the second field from the end.
            let mut fields = who.rsplit(|&b| b == b' ');
            let time = fields.nth(1).and_then(|t| std::str::from_utf8(t).ok())?.parse().ok()?;
            let node = Node { time, parents, tree: Some(tree) };
            return Some((node, commit_message(data, header_end)));
        }
    }
    None
}

/// Commit `id` through `git2` (loose, or in no pack the pass could read); `None` when it cannot
/// be read.
fn read_through_git2(repo: &Repository, id: &ObjectId) -> Option<Node> {
    let commit = repo.find_commit(Oid::from_bytes(id.as_bytes()).ok()?).ok()?;
    let parents = commit.parent_ids().map(to_gix).collect::<Option<_>>()?;
    Some(Node { time: commit.committer().when().seconds(), parents, tree: None })
}

fn to_gix(id: Oid) -> Option<ObjectId> {
    ObjectId::try_from(id.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    /// Runs git in `dir`, commits dated `at` (seconds), and returns what it printed.
    fn git_at(dir: &Path, at: i64, args: &[&str]) -> String {
        let date = format!("@{at} +0000");
        let out = Command::new("git")
            .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
            .args(["-c", "init.defaultBranch=main"])
            .args(args)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .current_dir(dir)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn git(dir: &Path, args: &[&str]) -> String {
        git_at(dir, 0, args)
    }

    /// Commits a change dated `at` on the checked-out branch and returns its id.
    fn commit(dir: &Path, at: i64, name: &str) -> String {
        std::fs::write(dir.join(name), name).expect("write");
        git_at(dir, at, &["add", name]);
        git_at(dir, at, &["commit", "-qm", name]);
        git(dir, &["rev-parse", "HEAD"])
    }

    /// Every ref's tip, as a whole-history scan takes them.
    fn tips(repo: &Repository) -> Vec<Oid> {
        crate::source::git::walk::all_ref_tips(repo).expect("tips").tips
    }

    /// The listing, and what its pass read; `scan_message` keeps the messages that start with "merge".
    fn listed_read(dir: &Path, known: Option<&CommitGraph>) -> Option<(CommitGraph, Read)> {
        let repo = Repository::open(dir).expect("open");
        let dirs = vec![dir.join(".git/objects")];
        let scan = |message: &[u8]| message.starts_with(b"merge").then(MessageScan::clean);
        list(&repo, &dirs, &tips(&repo), &HashSet::new(), known, &scan)
    }

    fn listed(dir: &Path, known: Option<&CommitGraph>) -> Option<CommitGraph> {
        listed_read(dir, known).map(|(graph, _)| graph)
    }

    fn ids(graph: &CommitGraph) -> Vec<String> {
        graph.ids.iter().map(|id| Oid::from_bytes(id).expect("id").to_string()).collect()
    }

    /// main: c1, c2, then c3 dated before its parent; side (from c1): s1, older than c2; then
    /// side merged into main. Packed, as a fetched history is.
    fn history(dir: &Path) -> Vec<String> {
        git(dir, &["init", "-q"]);
        let c1 = commit(dir, 1000, "c1");
        let c2 = commit(dir, 2000, "c2");
        let c3 = commit(dir, 1200, "c3");
        git(dir, &["checkout", "-qb", "side", &c1]);
        let s1 = commit(dir, 1500, "s1");
        git(dir, &["checkout", "-q", "main"]);
        git_at(dir, 3000, &["merge", "-q", "--no-ff", "-m", "merge", "side"]);
        let m = git(dir, &["rev-parse", "HEAD"]);
        git(dir, &["repack", "-adq"]);
        vec![c1, s1, c2, c3, m]
    }

    #[test]
    fn history_order_is_parents_first_then_oldest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let expected = history(dir.path());
        let graph = listed(dir.path(), None).expect("listed");
        // s1 is older than c2, so it goes first; c3 is dated before its parent c2, but follows it.
        assert_eq!(ids(&graph), expected);
        assert_eq!(graph.times, vec![1000, 1500, 2000, 1200, 3000]);
        // The merge's parents are c3 and s1, by position.
        assert_eq!(graph.parents_of(4), &[3, 1]);
        assert_eq!(graph.parents_of(0), &[] as &[u32]);
    }

    #[test]
    fn the_pass_keeps_each_commits_tree_and_scanned_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let expected = history(d);
        let tree =
            |commit: &str| Oid::from_str(&git(d, &["rev-parse", &format!("{commit}^{{tree}}")]));
        let (graph, read) = listed_read(d, None).expect("listed");
        // The merge (position 4): its tree, its parents' (c3 and s1), and its message kept.
        let merge = read.commit(&graph, 4).expect("read by the pass");
        assert_eq!(merge.tree, tree(&expected[4]).expect("tree"));
        let of = |i: usize| tree(&expected[i]).expect("tree");
        assert_eq!(merge.parents, vec![of(3), of(1)]);
        assert!(merge.message.is_some());
        // c2's message is not kept; the root has no parents.
        assert!(read.commit(&graph, 2).expect("read").message.is_none());
        assert_eq!(read.commit(&graph, 0).expect("read").parents, Vec::<Oid>::new());
        // From a kept graph nothing is read, so the walk reads the commits itself.
        let (_, kept) = listed_read(d, Some(&graph)).expect("listed");
        assert!(kept.commit(&graph, 4).is_none());
        assert!(kept.is_empty());
    }

    #[test]
    fn a_kept_graph_gives_the_list_a_fresh_one_gives() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let old = history(d);
        // A branch that goes away before the next run, and its commit with it.
        git(d, &["checkout", "-qb", "gone", &old[3]]);
        let gone = commit(d, 3500, "gone");
        git(d, &["repack", "-adq"]);
        let known = listed(d, None).expect("listed");
        assert!(ids(&known).contains(&gone));
        // Then: `gone` is deleted, so is `side` (its commit stays, merged), main moves on with
        // a loose commit, and a new branch from c1 holds a commit older than every other but c1.
        git(d, &["checkout", "-q", "main"]);
        git(d, &["branch", "-qD", "gone", "side"]);
        git(d, &["reflog", "expire", "--expire=now", "--all"]);
        let new = commit(d, 4000, "new");
        git(d, &["checkout", "-qb", "old-dated", &old[0]]);
        let early = commit(d, 1100, "early");
        let fresh = listed(d, None).expect("fresh");
        let kept = listed(d, Some(&known)).expect("from the kept graph");
        assert_eq!(kept, fresh);
        // What the kept graph says is what the listing takes: s1 dated after c3 in it moves it.
        let mut altered = known.clone();
        let s1 = ids(&known).iter().position(|id| *id == old[1]).expect("s1 is kept");
        altered.times[s1] = 2500;
        let moved = ids(&listed(d, Some(&altered)).expect("listed"));
        assert_eq!(moved[1..5], [&early, &old[2], &old[3], &old[1]].map(String::clone));
        let expected = [&old[0], &early, &old[1], &old[2], &old[3], &old[4], &new];
        assert_eq!(ids(&fresh), expected.map(String::as_str));
    }

    #[test]
    fn a_missing_parent_leaves_the_listing_to_git2() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        history(d);
        let tree = git(d, &["rev-parse", "HEAD^{tree}"]);
        let text = format!(
            "tree {tree}\nparent {}\nauthor T <t@example.com> 5000 +0000\ncommitter T \
             <t@example.com> 5000 +0000\n\norphan\n",
            "1".repeat(40)
        );
        let path = d.join("commit.txt");
        std::fs::write(&path, text).expect("write");
        let id = git(d, &["hash-object", "-t", "commit", "-w", path.to_str().expect("utf-8")]);
        git(d, &["update-ref", "refs/heads/orphan", &id]);
        assert_eq!(listed(d, None), None);
    }
}
