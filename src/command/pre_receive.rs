//! `leakhound pre-receive`: the server-side hook (git's `hooks/pre-receive`, GitLab's
//! `custom_hooks/pre-receive.d/`). It reads git's `<old> <new> <ref>` lines on stdin, scans only
//! what the push adds, reading it from git's quarantine area in place, and refuses the push when
//! it holds a secret. Every ref counts, not only branches and tags: the commits of any ref, the
//! messages of pushed tags, and trees and blobs that a ref names directly (git allows
//! `git push origin <blob>:refs/x`). Its rules come from the server alone (`--config` or
//! `LEAKHOUND_CONFIG`, and `--baseline`): a pushed `.leakhound.toml` never counts, so a pusher
//! cannot turn the check off. The check runs under a time limit, so a hook never holds a push
//! forever.

use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use anyhow::{Context, Result};
use git2::{ObjectType, Oid, Repository};

use super::git::{History, history_report_with};
use super::pre_push::push_selection;
use super::{Outcome, size_caps, triage};
use crate::cli::{OnError, PreReceiveArgs, seconds};
use crate::finding::{Skipped, redact};
use crate::report::text::sanitize;
use crate::rules::gitleaks::load_any;
use crate::rules::load::ServerSyntax;
use crate::source::git;

/// The push option that asks to skip the check (`git push -o leakhound.skip`).
pub const SKIP_OPTION: &str = "leakhound.skip";

/// The check's time limit when neither the hook nor the server config sets one: a stuck check
/// (a wrapper that never closes stdin) still gives the pusher an answer; a first push of a very
/// large history may need more.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// More input than this is not git's: about 400,000 ref updates.
const MAX_INPUT: u64 = 64 << 20;

/// At most this many not-scanned items are listed to the pusher; the rest are counted.
const MAX_SKIPPED_SHOWN: usize = 10;

/// Checks a push; findings (exit 1) make git refuse every ref of it.
pub fn run(args: &PreReceiveArgs) -> Result<Outcome> {
    // --only-verified and --fail-on verified need --verify, so refusing it refuses them too.
    if args.scan.verify.verify {
        anyhow::bail!(
            "pre-receive does not verify: a push would wait on providers' APIs, and the server \
             would send pushed credentials out; drop --verify (and --only-verified, --fail-on) \
             from the hook, and verify in a scheduled scan instead"
        );
    }
    let say = Say { gitlab: under_gitlab() };
    // The server config's `[server]` policy; one that cannot be read is an internal error, under
    // the policy the flags and environment give (else reject).
    let (server, config_error) = match server_policy(args) {
        Ok(policy) => (policy, None),
        Err(e) => (ServerSyntax::default(), Some(format!("{e:#}"))),
    };
    let on_error = args.on_error.or(server.on_error).unwrap_or(OnError::Reject);
    let allow_bypass =
        args.allow_push_option_bypass || server.allow_push_option_bypass == Some(true);
    // `server_policy` checked the config's timeout.
    let timeout = args
        .timeout
        .or_else(|| server.timeout.and_then(|t| seconds(t).ok()))
        .unwrap_or(DEFAULT_TIMEOUT);
    if push_options().iter().any(|o| o == SKIP_OPTION) {
        let pusher = std::env::var("GL_USERNAME").unwrap_or_else(|_| "an unknown pusher".into());
        if allow_bypass {
            say.lines(&format!(
                "leakhound: check skipped for this push: push option {SKIP_OPTION} given by \
                 {pusher} (the server allows the bypass)"
            ));
            return Ok(Outcome::Clean);
        }
        say.lines(&format!(
            "leakhound: push option {SKIP_OPTION} from {pusher} ignored: this server does not \
             allow the bypass; the push is checked"
        ));
    }
    let checked = match config_error {
        Some(e) => Err(anyhow::anyhow!(e)),
        None => check_within(args, timeout),
    };
    let failure = match checked {
        Ok(Check { said, verdict }) => {
            say.lines(&said);
            match verdict {
                Ok(outcome) => return Ok(outcome),
                Err(errors) => errors.join("\n"),
            }
        }
        Err(e) => format!("{e:#}"),
    };
    Ok(unchecked(&say, failure, on_error))
}

/// Says why the push could not be checked and what `on_error` makes of that.
fn unchecked(say: &Say, mut failure: String, on_error: OnError) -> Outcome {
    // Git sets both for a hook; Gitaly passes `GIT_OBJECT_DIRECTORY` on.
    if ["GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY"].iter().all(|v| std::env::var_os(v).is_none())
    {
        failure.push_str(
            "\n(GIT_QUARANTINE_PATH and GIT_OBJECT_DIRECTORY are not set, so this is not git's \
             receive-pack running the hook: a push's objects were looked for in the repository \
             itself; run `leakhound pre-receive` from the pre-receive hook)",
        );
    }
    let (verdict, outcome) = match on_error {
        OnError::Reject => {
            ("the push is rejected (server policy on_error = reject)", Outcome::Incomplete)
        }
        OnError::Accept => {
            ("the push is accepted unchecked (server policy on_error = accept)", Outcome::Clean)
        }
    };
    say.lines(&format!(
        "leakhound: internal error, the push could not be checked:\n{failure}\n{verdict}"
    ));
    outcome
}

/// The server config (`--config`, else `LEAKHOUND_CONFIG`), the only place the hook's rules and
/// policy come from.
fn server_config(args: &PreReceiveArgs) -> Option<PathBuf> {
    args.scan.rules.config.clone().or_else(|| std::env::var_os("LEAKHOUND_CONFIG").map(Into::into))
}

/// The `[server]` table of the server config (a gitleaks-format config has none), or the
/// defaults when there is no config.
fn server_policy(args: &PreReceiveArgs) -> Result<ServerSyntax> {
    let Some(path) = server_config(args) else { return Ok(ServerSyntax::default()) };
    // The file itself comes last, after what it extends.
    let configs = load_any(&path)?;
    let server = configs.into_iter().last().map(|c| c.syntax.server).unwrap_or_default();
    if let Some(timeout) = server.timeout {
        seconds(timeout)
            .map_err(|e| anyhow::anyhow!("{}: [server] timeout: {e}", path.display()))?;
    }
    Ok(server)
}

/// How a check ended: what to tell the pusher, and an outcome, or the scan's errors (for the
/// `on_error` policy).
struct Check {
    said: String,
    verdict: Result<Outcome, Vec<String>>,
}

/// [`check`] on a thread of its own, given up after `timeout` (zero: no limit) as an internal
/// error. A check given up on prints nothing (it only returns what to say) and ends with the
/// process.
fn check_within(args: &PreReceiveArgs, timeout: Duration) -> Result<Check> {
    let (tx, rx) = mpsc::channel();
    let job = args.clone();
    std::thread::spawn(move || {
        // The receiver is gone only when the check was given up on.
        let _ = tx.send(check(&job));
    });
    let answer = if timeout.is_zero() {
        rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
    } else {
        rx.recv_timeout(timeout)
    };
    match answer {
        Ok(checked) => checked,
        Err(RecvTimeoutError::Timeout) => anyhow::bail!(
            "the check did not finish within {} s, the server's time limit (`--timeout`, \
             `LEAKHOUND_TIMEOUT` or `[server] timeout`)",
            timeout.as_secs_f64()
        ),
        Err(RecvTimeoutError::Disconnected) => {
            anyhow::bail!("the check stopped without an answer (see the message above)")
        }
    }
}

fn check(args: &PreReceiveArgs) -> Result<Check> {
    let mut input = Vec::new();
    std::io::stdin()
        .take(MAX_INPUT + 1)
        .read_to_end(&mut input)
        .context("cannot read the pre-receive input")?;
    if input.len() as u64 > MAX_INPUT {
        anyhow::bail!(
            "pre-receive input over {MAX_INPUT} bytes: not git's; run it from a pre-receive hook"
        );
    }
    // Ids are ASCII; a ref's name need not be UTF-8, and is only shown.
    let input = String::from_utf8_lossy(&input);
    let updates = parse(&input)?;
    // Opened from git's environment: `GIT_DIR`, and the quarantine's object directories.
    let repo = git::open(None).map_err(|e| anyhow::anyhow!("{}: {}", e.origin, e.message))?;
    let pushed = pushed(&repo, &updates)?;
    let commits: Vec<(&str, &str)> =
        pushed.commits.iter().map(|(old, new)| (old.as_str(), new.as_str())).collect();
    // What the server already has: every ref (the refs are not updated before the hook accepts).
    let selection = push_selection(&repo, &commits, "refs/")?;
    let selection = (!selection.include.is_empty()).then_some(selection);
    if selection.is_none() && pushed.objects.is_empty() {
        return Ok(Check { said: String::new(), verdict: Ok(Outcome::Clean) });
    }
    let mut scan = args.scan.clone();
    scan.rules.no_repo_config = true;
    scan.rules.config = server_config(args);
    let caps = size_caps(&scan);
    let history = History { selection, all_objects: false, cache: None };
    let report = history_report_with(&repo, history, &scan, "pre-receive".into(), |run| {
        git::objects::scan(&repo, &pushed.objects, caps, run);
    })?;
    let shown = triage(&report, &scan.output)?;
    let mut said = not_scanned(&shown.skipped);
    if !shown.errors.is_empty() {
        let errors = shown
            .errors
            .iter()
            .map(|e| format!("{}: {}", sanitize(&e.origin), sanitize(&e.message)))
            .collect();
        return Ok(Check { said, verdict: Err(errors) });
    }
    if shown.findings.is_empty() {
        return Ok(Check { said, verdict: Ok(Outcome::Clean) });
    }
    said.push_str("leakhound: push rejected: the pushed commits contain secrets:\n");
    for f in &shown.findings {
        let commit = f
            .commit
            .as_ref()
            .map_or_else(String::new, |c| format!("commit {} ", &c.sha[..c.sha.len().min(12)]));
        let secret = if scan.output.show_secrets { f.secret.clone() } else { redact(&f.secret) };
        let _ = writeln!(
            said,
            "  {commit}{}:{} rule {} secret {} (fingerprint {})",
            sanitize(&f.path),
            f.line,
            f.rule_id,
            sanitize(&secret),
            f.fingerprint,
        );
    }
    said.push_str(
        "To fix: remove the secret from those commits by rewriting them (`git rebase -i`, \
         `git commit --amend`; a tag: `git tag -d`, then tag again), revoke it if it was real, \
         and push again.\n\
         A finding that is not a secret: mark the line with `leakhound:allow`, or ask the \
         server's administrator to add its fingerprint to the server baseline.",
    );
    Ok(Check { said, verdict: Ok(Outcome::Findings) })
}

/// One line of git's pre-receive input.
struct Update<'a> {
    old: &'a str,
    new: &'a str,
    name: &'a str,
}

/// The updates of git's pre-receive input, after checking its shape. No line at all is bad
/// input too: git runs the hook only for a push that updates a ref, so empty input means that
/// something before leakhound (a wrapper script) read it, and the push would go unchecked.
fn parse(input: &str) -> Result<Vec<Update<'_>>> {
    let is_id = |s: &str| matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit());
    let mut out = Vec::new();
    for line in input.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields[..] {
            [old, new, name] if is_id(old) && is_id(new) => out.push(Update { old, new, name }),
            _ => anyhow::bail!(
                "unexpected pre-receive input {:?}: expected `<old id> <new id> <ref>` lines with \
                 full object ids; run it from a pre-receive hook",
                sanitize(line)
            ),
        }
    }
    if out.is_empty() {
        anyhow::bail!(
            "no `<old id> <new id> <ref>` lines on stdin, where git always writes one per pushed \
             ref: if a script runs leakhound from the hook, pass the hook's stdin on to it"
        );
    }
    Ok(out)
}

/// What a push's refs point at, tags followed: the commits, for the history walk, and what no
/// commit holds, scanned as it is: each tag's message, and the trees and blobs that a ref or tag
/// names directly. Whatever the ref's name (`refs/notes/*`, `refs/custom/x`), it is checked.
#[derive(Default)]
struct Pushed {
    /// `(old, new)` per update whose new id is, or tags, a commit; `new` is that commit.
    commits: Vec<(String, String)>,
    /// Tags, trees and blobs, each with the ref that names it.
    objects: Vec<git::objects::RefObject>,
}

fn pushed(repo: &Repository, updates: &[Update<'_>]) -> Result<Pushed> {
    let mut out = Pushed::default();
    // A deletion adds nothing.
    for update in updates.iter().filter(|u| !git::is_zero_id(u.new)) {
        follow(repo, update, &mut out)?;
    }
    Ok(out)
}

/// Adds what `update`'s new id is to `out`, through any chain of tags.
fn follow(repo: &Repository, update: &Update<'_>, out: &mut Pushed) -> Result<()> {
    // A chain of tags longer than this is a loop of damaged objects.
    const MAX_TAG_CHAIN: usize = 64;
    let name = sanitize(update.name);
    let mut id = Oid::from_str(update.new).with_context(|| format!("invalid id {}", update.new))?;
    for _ in 0..=MAX_TAG_CHAIN {
        let object = repo.find_object(id, None).map_err(|e| {
            anyhow::anyhow!("ref {name} points at {id}, which cannot be read: {}", e.message())
        })?;
        match object.kind() {
            Some(ObjectType::Commit) => {
                out.commits.push((update.old.to_owned(), id.to_string()));
                return Ok(());
            }
            Some(ObjectType::Tag) => {
                out.objects.push((id, ObjectType::Tag, name.clone()));
                id = object.as_tag().map(git2::Tag::target_id).context("a tag object")?;
            }
            Some(kind) => {
                out.objects.push((id, kind, name));
                return Ok(());
            }
            None => anyhow::bail!("ref {name} points at {id}, an object of no known kind"),
        }
    }
    anyhow::bail!("ref {name} points at a chain of tags with no end")
}

/// What the pusher is told of content deliberately not scanned (over the size caps, Git LFS
/// pointers, submodules), which does not refuse the push: named, up to [`MAX_SKIPPED_SHOWN`].
fn not_scanned(skipped: &[Skipped]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let mut text = String::from(
        "leakhound: not scanned, and not a reason to refuse the push (the server's \
         administrator sets the size limits, --max-file-size, in the hook):\n",
    );
    for s in skipped.iter().take(MAX_SKIPPED_SHOWN) {
        let _ = writeln!(text, "  {}: {}", sanitize(&s.origin), sanitize(&s.reason));
    }
    if skipped.len() > MAX_SKIPPED_SHOWN {
        let _ = writeln!(text, "  and {} more", skipped.len() - MAX_SKIPPED_SHOWN);
    }
    text
}

/// The push options git passes a hook (`GIT_PUSH_OPTION_COUNT`, `GIT_PUSH_OPTION_0`, …).
fn push_options() -> Vec<String> {
    let count: usize =
        std::env::var("GIT_PUSH_OPTION_COUNT").ok().and_then(|c| c.parse().ok()).unwrap_or(0);
    (0..count).filter_map(|i| std::env::var(format!("GIT_PUSH_OPTION_{i}")).ok()).collect()
}

/// True when Gitaly runs the hook (it sets `GL_ID`, `GL_USERNAME`, `GL_PROTOCOL`).
fn under_gitlab() -> bool {
    ["GL_ID", "GL_USERNAME", "GL_PROTOCOL"].iter().any(|v| std::env::var_os(v).is_some())
}

/// Writes the hook's messages to stderr, which git relays to the pusher.
struct Say {
    /// Prefix each line with `GL-HOOK-ERR: `, the lines GitLab shows in its UI.
    gitlab: bool,
}

impl Say {
    fn lines(&self, text: &str) {
        let prefix = if self.gitlab { "GL-HOOK-ERR: " } else { "" };
        for line in text.lines() {
            eprintln!("{prefix}{line}");
        }
    }
}
