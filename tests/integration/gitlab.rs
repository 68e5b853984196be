//! `leakhound gitlab` (#20) against a fake GitLab on 127.0.0.1. Its REST API is a fake
//! ([`FakeApi`]: GitLab itself cannot run here) answering in the shapes GitLab documents for
//! `GET /api/v4/groups/:id/projects` (offset pagination with `X-Next-Page`, `X-Total-Pages` and
//! `Link`; `path_with_namespace`, `http_url_to_repo`, `archived`, `forked_from_project`,
//! `last_activity_at`). Its repositories are real bare repositories served by git's own
//! `git http-backend` CGI, so every clone and fetch is real git over HTTP, and, like GitLab, it
//! wants the token for git too (Basic, user `oauth2`), so a run that clones proves the token
//! reached git without being on its command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{TestEnv, fake, git};
use crate::fake_api::{FakeApi, Reply, Request};

/// Where Debian's git keeps its CGI.
const HTTP_BACKEND: &str = "/usr/lib/git-core/git-http-backend";

/// Projects per page: small, so a handful of projects spans pages.
const PER_PAGE: usize = 2;

/// A personal access token of GitLab's documented shape (`glpat-` and 20 characters), assembled
/// at run time so this file holds no token-shaped literal.
fn token() -> String {
    format!("glpat-{}", "Zx8Kq2LmN4pR7sT9vW1y")
}

/// A second AWS key id, for the commit a later night brings.
fn later_key() -> String {
    format!("AKIA{}", "Q5ZT3M7RWXN2KD4H")
}

/// One project of the fake group `team`.
#[derive(Clone, Copy)]
struct Spec {
    id: u64,
    path: &'static str,
    archived: bool,
    fork: bool,
    /// Whether a repository is served for it (a project whose clone 404s has none).
    served: bool,
}

/// The group: five projects over three pages, one in a subgroup, one archived, one a fork, one
/// whose repository 404s.
const PROJECTS: [Spec; 5] = [
    Spec { id: 11, path: "team/app", archived: false, fork: false, served: true },
    Spec { id: 12, path: "team/sub/lib", archived: false, fork: false, served: true },
    Spec { id: 13, path: "team/old", archived: true, fork: false, served: true },
    Spec { id: 14, path: "team/app-fork", archived: false, fork: true, served: true },
    Spec { id: 15, path: "team/gone", archived: false, fork: false, served: false },
];

/// The fake GitLab, its repositories (work trees under `src/`, served bare under `served/`),
/// the number of 429 answers still to give before listing, whether git is refused (a token
/// without `read_repository`), and what the tests change or watch while it runs.
struct Gitlab {
    env: TestEnv,
    api: FakeApi,
    /// `https` when served over TLS, else `http`.
    scheme: &'static str,
    /// The sub-path the instance is served under (`/gitlab`), or "".
    root: &'static str,
    throttle: Arc<AtomicUsize>,
    no_git: Arc<AtomicBool>,
    /// Projects the API no longer lists (deleted, moved, or hidden from the token).
    hidden: Arc<Mutex<Vec<&'static str>>>,
    git: Arc<GitWatch>,
}

/// What the fake sees of git's requests: how many are in flight (and the most so far), and,
/// when `gate` is on, team/app's and team/sub/lib's are held until a request of each has
/// arrived, which only a run that fetches the two at once can bring about (whichever starts
/// first).
#[derive(Default)]
struct GitWatch {
    in_flight: AtomicUsize,
    most: AtomicUsize,
    gate: AtomicBool,
    app_seen: AtomicBool,
    lib_seen: AtomicBool,
}

impl GitWatch {
    /// Serves one git request with `serve`, counted, and held at the gate.
    fn around(&self, path: &str, serve: impl FnOnce() -> Reply) -> Reply {
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        let (app, lib) =
            (path.starts_with("/team/app.git/"), path.starts_with("/team/sub/lib.git/"));
        if app {
            self.app_seen.store(true, SeqCst);
        }
        if lib {
            self.lib_seen.store(true, SeqCst);
        }
        let held = self.gate.load(SeqCst) && (app || lib);
        let both = || self.app_seen.load(SeqCst) && self.lib_seen.load(SeqCst);
        // Not a timed assertion: the wait only keeps a run that never fetches the two
        // alongside from hanging, and that run fails on the 503.
        let until = Instant::now() + Duration::from_secs(30);
        while held && !both() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        let reply = if held && !both() {
            Reply::Answer("503 Service Unavailable", String::new(), "held\n".into())
        } else {
            serve()
        };
        self.in_flight.fetch_sub(1, SeqCst);
        reply
    }
}

impl Gitlab {
    fn start() -> Gitlab {
        Gitlab::serve_at(None, "")
    }

    fn serve(certs: Option<&Path>) -> Gitlab {
        Gitlab::serve_at(certs, "")
    }

    /// The fake over TLS with the certificate in `certs` (see `registry::ca_and_leaf`), or
    /// plain HTTP, under the sub-path `root` (GitLab's `relative_url_root`: every API and git
    /// URL starts with it, and nothing else is served).
    fn serve_at(certs: Option<&Path>, root: &'static str) -> Gitlab {
        let env = TestEnv::new();
        let served = env.path().join("served");
        for spec in PROJECTS.iter().filter(|s| s.served) {
            let src = env.path().join("src").join(spec.path);
            std::fs::create_dir_all(&src).expect("src dir");
            git(&src, &["init", "-q", "-b", "main"]);
            let secret =
                if spec.path == "team/sub/lib" { fake::github_pat() } else { fake::aws_key_id() };
            commit(&src, "config.env", &format!("TOKEN={secret}\n"), "add config");
            commit(&src, "README.md", "# nothing secret\n", "docs");
            let bare = served.join(format!("{}.git", spec.path));
            std::fs::create_dir_all(bare.parent().expect("parent")).expect("served dir");
            git(
                env.path(),
                &[
                    "clone",
                    "-q",
                    "--bare",
                    src.to_str().expect("utf-8"),
                    bare.to_str().expect("utf-8"),
                ],
            );
        }
        let throttle = Arc::new(AtomicUsize::new(0));
        let no_git = Arc::new(AtomicBool::new(false));
        let hidden = Arc::new(Mutex::new(Vec::new()));
        let watch = Arc::new(GitWatch::default());
        let (left, refuse) = (Arc::clone(&throttle), Arc::clone(&no_git));
        let (gone, git) = (Arc::clone(&hidden), Arc::clone(&watch));
        let scheme = if certs.is_some() { "https" } else { "http" };
        let handler = move |request: &Request, _| {
            if refuse.load(SeqCst) && !request.line.contains("/api/v4/") {
                // GitLab's answer to a token whose scopes do not include read_repository.
                let why = "You are not allowed to download code from this project.\n";
                return Reply::Answer("403 Forbidden", String::new(), why.into());
            }
            // A copy: the lock is not held while a request is served (or held at the gate).
            let hidden = gone.lock().expect("lock").clone();
            let at = Site { served: &served, scheme, root, hidden: &hidden };
            answer(request, &at, &left, &git)
        };
        let api = match certs {
            Some(dir) => FakeApi::start_tls(crate::fake_api::tls_config(dir), handler),
            None => FakeApi::start(handler),
        };
        Gitlab { env, api, scheme, root, throttle, no_git, hidden, git: watch }
    }

    /// A new commit in `project`, pushed to what the fake serves.
    fn push(&self, project: &str, file: &str, contents: &str) {
        let src = self.env.path().join("src").join(project);
        commit(&src, file, contents, "more config");
        let bare = self.env.path().join("served").join(format!("{project}.git"));
        git(&src, &["push", "-q", bare.to_str().expect("utf-8"), "main"]);
    }

    fn workdir(&self) -> PathBuf {
        self.env.path().join("work")
    }

    /// `leakhound gitlab URL --group team --insecure --workdir … --cache …` with `extra`
    /// arguments, the token in the environment: exit code, stdout, stderr.
    fn run(&self, extra: &[&str]) -> (i32, String, String) {
        let workdir = self.workdir();
        let cache = self.env.path().join("history.db");
        let url = format!("{}://127.0.0.1:{}{}/", self.scheme, self.api.port, self.root);
        let mut args = vec!["gitlab", &url, "--group", "team"];
        if self.scheme == "http" {
            args.push("--insecure");
        }
        args.extend([
            "--workdir",
            workdir.to_str().expect("utf-8"),
            "--cache",
            cache.to_str().expect("utf-8"),
        ]);
        args.extend(extra);
        let out = self
            .env
            .cmd()
            .args(&args)
            .env("LEAKHOUND_GITLAB_TOKEN", token())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("run leakhound");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().expect("exit code"), text(&out.stdout), text(&out.stderr))
    }

    /// [`Gitlab::run`] with `--format json`: exit code and report.
    fn json(&self, extra: &[&str]) -> (i32, Value, String) {
        let mut args = extra.to_vec();
        args.extend(["--format", "json"]);
        let (code, stdout, stderr) = self.run(&args);
        let doc = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}\n{stderr}"));
        (code, doc, stderr)
    }
}

fn commit(dir: &Path, file: &str, contents: &str, message: &str) {
    std::fs::write(dir.join(file), contents).expect("write");
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
}

/// Where and how the fake serves: repositories, scheme, sub-path, projects no longer listed.
struct Site<'a> {
    served: &'a Path,
    scheme: &'a str,
    root: &'a str,
    hidden: &'a [&'static str],
}

/// The fake's answer: the API (token in `PRIVATE-TOKEN`), else git over HTTP (token as the
/// Basic password of `oauth2`); 404 for anything outside the sub-path.
fn answer(request: &Request, at: &Site<'_>, throttle: &AtomicUsize, git: &GitWatch) -> Reply {
    let target = request.line.split(' ').nth(1).unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let Some(path) = path.strip_prefix(at.root).filter(|p| p.starts_with('/')) else {
        return Reply::Answer("404 Not Found", String::new(), "not under the sub-path\n".into());
    };
    if path.starts_with("/api/v4/") {
        if request.header("private-token") != token() {
            return Reply::json("401 Unauthorized", r#"{"message":"401 Unauthorized"}"#);
        }
        if throttle.load(SeqCst) > 0 {
            throttle.fetch_sub(1, SeqCst);
            return Reply::Answer(
                "429 Too Many Requests",
                "Retry-After: 1\r\n".into(),
                r#"{"message":"Retry later"}"#.into(),
            );
        }
        if path != "/api/v4/groups/team/projects" {
            return Reply::json("404 Not Found", r#"{"message":"404 Group Not Found"}"#);
        }
        return listing(request, query, at);
    }
    let basic = leakhound::engine::decode::base64_encode(format!("oauth2:{}", token()).as_bytes());
    if request.header("authorization") != format!("Basic {basic}") {
        return Reply::Answer(
            "401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"GitLab\"\r\n".into(),
            "HTTP Basic: Access denied\n".into(),
        );
    }
    git.around(path, || http_backend(request, at.served, path, query))
}

/// One page of the group's projects, as GitLab pages them.
fn listing(request: &Request, query: &str, at: &Site<'_>) -> Reply {
    let (scheme, root) = (at.scheme, at.root);
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
    };
    let subgroups = param("include_subgroups") == Some("true");
    let kept: Vec<&Spec> = PROJECTS
        .iter()
        .filter(|s| match param("archived") {
            Some("false") => !s.archived,
            Some("true") => s.archived,
            _ => true,
        })
        .filter(|s| subgroups || s.path.matches('/').count() == 1)
        .filter(|s| !at.hidden.contains(&s.path))
        .collect();
    let page: usize = param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let pages = kept.len().div_ceil(PER_PAGE).max(1);
    let host = request.header("host");
    let items: Vec<Value> = kept
        .iter()
        .skip((page - 1) * PER_PAGE)
        .take(PER_PAGE)
        .map(|s| {
            let mut project = json!({
                "id": s.id,
                "name": s.path.rsplit('/').next(),
                "path_with_namespace": s.path,
                "http_url_to_repo": format!("{scheme}://{host}{root}/{}.git", s.path),
                "ssh_url_to_repo": format!("git@127.0.0.1:{}.git", s.path),
                "web_url": format!("{scheme}://{host}{root}/{}", s.path),
                "archived": s.archived,
                "empty_repo": false,
                "repository_access_level": "enabled",
                "last_activity_at": "2026-12-01T10:00:00.000Z",
            });
            if s.fork {
                project["forked_from_project"] =
                    json!({"id": 11, "path_with_namespace": "team/app"});
            }
            project
        })
        .collect();
    let link = |n: usize, rel: &str| {
        let others: Vec<&str> = query.split('&').filter(|kv| !kv.starts_with("page=")).collect();
        format!(
            "<{scheme}://{host}{root}/api/v4/groups/team/projects?{}&page={n}>; rel=\"{rel}\"",
            others.join("&")
        )
    };
    let mut links = vec![link(1, "first"), link(pages, "last")];
    let next = if page < pages { (page + 1).to_string() } else { String::new() };
    if page < pages {
        links.insert(0, link(page + 1, "next"));
    }
    let headers = format!(
        "Content-Type: application/json\r\nX-Page: {page}\r\nX-Per-Page: {PER_PAGE}\r\n\
         X-Total: {}\r\nX-Total-Pages: {pages}\r\nX-Next-Page: {next}\r\nX-Prev-Page: {}\r\n\
         Link: {}\r\n",
        kept.len(),
        if page > 1 { (page - 1).to_string() } else { String::new() },
        links.join(", ")
    );
    Reply::Answer("200 OK", headers, Value::Array(items).to_string())
}

/// Runs `git http-backend` as a CGI for one request (RFC 3875 variables in, headers and body
/// out).
fn http_backend(request: &Request, served: &Path, path: &str, query: &str) -> Reply {
    let method = request.line.split(' ').next().unwrap_or("GET");
    let mut child = Command::new(HTTP_BACKEND)
        .env("GIT_PROJECT_ROOT", served)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("REQUEST_METHOD", method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", request.header("content-type"))
        .env("CONTENT_LENGTH", request.bytes.len().to_string())
        .env("HTTP_CONTENT_ENCODING", request.header("content-encoding"))
        .env("GIT_PROTOCOL", request.header("git-protocol"))
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("git http-backend runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let body = request.bytes.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let out = child.wait_with_output().expect("git http-backend output");
    let _ = writer.join();
    let split = out.stdout.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
    let split = split.or_else(|| out.stdout.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let (end, gap) = split.unwrap_or((out.stdout.len(), 0));
    let head = String::from_utf8_lossy(&out.stdout[..end]).into_owned();
    let status = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("status")))
        .map_or_else(|| "200 OK".to_owned(), |(_, v)| v.trim().to_owned());
    let headers: String = head
        .lines()
        .filter(|l| l.contains(':') && !l.to_ascii_lowercase().starts_with("status:"))
        .flat_map(|l| [l.trim_end(), "\r\n"])
        .collect();
    Reply::Bytes(status, headers, out.stdout[end + gap..].to_vec())
}

/// Each finding as `repository path:line rule @commit`, sorted.
fn places(doc: &Value) -> Vec<String> {
    let mut out: Vec<String> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            format!(
                "{} {}:{} {} @{}",
                f["repository"].as_str().unwrap_or("-"),
                f["path"].as_str().unwrap_or(""),
                f["line"],
                f["rule_id"].as_str().unwrap_or(""),
                f["commit"]["sha"].as_str().unwrap_or("")
            )
        })
        .collect();
    out.sort();
    out
}

/// The projects named by findings.
fn repositories(doc: &Value) -> Vec<String> {
    let mut out: Vec<String> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["repository"].as_str().expect("every finding names its project").to_owned())
        .collect();
    out.dedup();
    out
}

fn stat(doc: &Value, name: &str) -> u64 {
    doc["stats"][name].as_u64().unwrap_or(0)
}

/// Every file under `dir`, read.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).expect("read")));
            }
        }
    }
    out
}

#[test]
fn gitlab_group_over_pages_with_a_429_a_404_and_a_second_night() {
    let gitlab = Gitlab::start();
    gitlab.throttle.store(1, SeqCst);
    let (code, doc, stderr) = gitlab.json(&[]);

    // Two pages (the archived project left out by the API): the 429 was waited out, the
    // subgroup's project is in, the fork is left out, the project whose clone 404s is named.
    assert_eq!(code, 2, "a project that cannot be cloned makes the run incomplete: {stderr}");
    assert_eq!(repositories(&doc), ["team/app", "team/sub/lib"], "{doc}");
    let errors = doc["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["origin"], "team/gone", "{errors:?}");
    assert!(errors[0]["message"].as_str().expect("message").contains("not found"), "{errors:?}");
    let listings: Vec<Request> =
        gitlab.api.requests().into_iter().filter(|r| r.line.contains("/api/v4/")).collect();
    assert_eq!(listings.len(), 3, "page 1 twice (after the 429), then page 2");
    assert!(listings.iter().all(|r| r.line.contains("archived=false")), "{listings:?}");
    assert!(listings.iter().all(|r| r.line.contains("include_subgroups=true")));
    assert!(stderr.contains("Retry-After"), "the wait is announced: {stderr}");
    let first_scanned = stat(&doc, "scanned");

    // The second night: one new commit in one project. Only it is fetched and scanned; the
    // report still has every finding, the rest from the cache.
    gitlab.push("team/app", "deploy.env", &format!("KEY={}\n", later_key()));
    let (code, again, stderr) = gitlab.json(&[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("0 cloned, 2 fetched, 1 failed"), "{stderr}");
    let mut expected = places(&doc);
    let new: Vec<String> = places(&again).into_iter().filter(|p| !expected.contains(p)).collect();
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(new[0].starts_with("team/app deploy.env:1 aws.access-key-id"), "{new:?}");
    expected.extend(new);
    expected.sort();
    assert_eq!(places(&again), expected, "every earlier finding is still reported");
    assert!(stat(&again, "cached") > 0, "{}", again["stats"]);
    assert!(stat(&again, "scanned") < first_scanned, "{} vs {first_scanned}", again["stats"]);

    // The token is nowhere: not on the terminal, in the report, or in the work directory
    // (no remote, no FETCH_HEAD, no credential in any config file).
    let basic = leakhound::engine::decode::base64_encode(format!("oauth2:{}", token()).as_bytes());
    let (_, text, stderr) = gitlab.run(&["--show-secrets"]);
    for secret in [token(), basic] {
        assert!(!text.contains(&secret) && !stderr.contains(&secret));
        assert!(!doc.to_string().contains(&secret) && !again.to_string().contains(&secret));
        for (path, bytes) in files_under(&gitlab.workdir()) {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "the token is in {}", path.display());
        }
    }
    let config =
        std::fs::read_to_string(gitlab.workdir().join("team/app.git/config")).expect("config");
    assert!(!config.contains("remote") && !config.contains("127.0.0.1"), "{config}");
    // The report names the project in text too.
    assert!(text.contains("repository: team/sub/lib"), "{text}");
}

#[test]
fn gitlab_archived_forks_and_a_page_cap() {
    let gitlab = Gitlab::start();
    let (code, doc, stderr) =
        gitlab.json(&["--include-archived", "--include-forks", "--since", "2026-11-01"]);
    assert_eq!(code, 2, "{stderr}");
    let asked: Vec<String> = gitlab.api.requests().into_iter().map(|r| r.line).collect();
    let listing = asked.iter().find(|l| l.contains("/api/v4/")).expect("a listing request");
    assert!(!listing.contains("archived="), "archived projects too: {listing}");
    assert!(listing.contains("last_activity_after=2026-11-01T00%3A00%3A00Z"), "{listing}");
    assert_eq!(
        repositories(&doc),
        ["team/app", "team/app-fork", "team/old", "team/sub/lib"],
        "archived projects and forks on request: {doc}"
    );

    // Three pages with a cap of two: an error that names the cap, and the two pages' projects
    // are still scanned (the fork on page 2 left out).
    let (code, doc, stderr) = gitlab.json(&["--include-archived", "--max-pages", "2"]);
    assert_eq!(code, 2, "{stderr}");
    let errors = doc["errors"].to_string();
    assert!(errors.contains("stopped after 2 pages (--max-pages)"), "{errors}");
    assert_eq!(repositories(&doc), ["team/app", "team/old", "team/sub/lib"], "{doc}");
}

#[test]
fn gitlab_shards_merge_to_the_unsharded_report() {
    let gitlab = Gitlab::start();
    let (code, whole, _) = gitlab.json(&[]);
    assert_eq!(code, 2);
    let mut reports = Vec::new();
    for shard in ["0/2", "1/2"] {
        let report = gitlab.env.path().join(format!("shard-{}.json", &shard[..1]));
        let path = report.to_str().expect("utf-8").to_owned();
        let (code, _, stderr) = gitlab.run(&["--shard", shard, "--report", &path]);
        assert!(code == 0 || code == 2, "{stderr}");
        let text = std::fs::read_to_string(&report).expect("shard report");
        assert!(text.contains("\"kind\": \"leakhound-gitlab\""), "{text}");
        reports.push(path);
    }
    let shards: Vec<Value> = reports
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json"))
        .collect();
    let scanned: Vec<usize> =
        shards.iter().map(|s| s["projects"].as_array().expect("projects").len()).collect();
    assert_eq!(scanned.iter().sum::<usize>(), 3, "each project in exactly one shard: {scanned:?}");

    let (code, merged) = gitlab.env.json(&["merge", &reports[0], &reports[1]]);
    assert_eq!(code, 2, "the 404 is kept through the merge");
    assert_eq!(places(&merged), places(&whole));
    assert_eq!(merged["errors"], whole["errors"]);

    // Half the shards is no report.
    let out = gitlab.env.run(&["merge", &reports[1]]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing shard reports: 0/2"));
}

#[test]
fn gitlab_interrupted_clone_is_cloned_again() {
    let gitlab = Gitlab::start();
    // What a run killed mid-clone leaves: a partial mirror, never taken for the real one.
    let partial = gitlab.workdir().join("team/app.git.partial");
    std::fs::create_dir_all(partial.join("objects")).expect("partial");
    std::fs::write(partial.join("HEAD"), "ref: refs/heads/main\n").expect("HEAD");
    let (code, doc, stderr) = gitlab.json(&[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(repositories(&doc).contains(&"team/app".to_owned()), "{doc}");
    assert!(!partial.exists(), "the leftover is gone");
    assert!(gitlab.workdir().join("team/app.git/HEAD").is_file());
}

/// Two runs sharing a work directory take turns per project: while another run holds a
/// project's mirror, this one names it as not scanned (exit 2), leaves it alone and scans the
/// rest; once free, the next run scans it.
#[test]
fn gitlab_project_held_by_another_run_is_named_and_left_alone() {
    let gitlab = Gitlab::start();
    let (_, first, _) = gitlab.json(&[]);
    let mirror_head = gitlab.workdir().join("team/app.git/HEAD");
    let before = std::fs::read(&mirror_head).expect("the first run's mirror");
    let lock = std::fs::File::create(gitlab.workdir().join("team/app.git.lock")).expect("lock");
    lock.try_lock().expect("the lock is free between runs");

    let (code, doc, stderr) = gitlab.json(&[]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(repositories(&doc), ["team/sub/lib"], "{doc}");
    let held: Vec<&Value> = doc["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter(|e| e["origin"] == "team/app")
        .collect();
    assert_eq!(held.len(), 1, "{}", doc["errors"]);
    assert!(held[0]["message"].to_string().contains("another leakhound run"), "{held:?}");
    assert_eq!(
        std::fs::read(&mirror_head).expect("mirror"),
        before,
        "the held mirror is untouched"
    );

    drop(lock);
    let (_, again, stderr) = gitlab.json(&[]);
    assert_eq!(places(&again), places(&first), "{stderr}");
}

#[test]
fn gitlab_token_without_read_repository_names_every_project() {
    let gitlab = Gitlab::start();
    gitlab.no_git.store(true, SeqCst);
    let (code, doc, stderr) = gitlab.json(&[]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(doc["findings"], json!([]), "nothing scanned is not clean");
    let origins = crate::common::error_origins(&doc);
    assert_eq!(origins, ["team/app", "team/gone", "team/sub/lib"], "{}", doc["errors"]);
    assert!(doc["errors"].to_string().contains("403"), "{}", doc["errors"]);
    // Nothing half-cloned stays behind.
    assert!(!gitlab.workdir().join("team/app.git").exists());
    assert!(!gitlab.workdir().join("team/app.git.partial").exists());
}

#[test]
fn gitlab_over_tls_is_verified_and_trusts_ca_cert_for_the_api_and_git() {
    let certs = tempfile::tempdir().expect("tempdir");
    crate::registry::ca_and_leaf(certs.path());
    let gitlab = Gitlab::serve(Some(certs.path()));

    // Verified by default: a certificate from an unknown CA stops the listing.
    let (code, doc, stderr) = gitlab.json(&[]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(doc["findings"], json!([]));
    let errors = doc["errors"].to_string();
    assert!(errors.contains("certificate") || errors.contains("cannot reach"), "{errors}");

    // With the CA, the API and git both trust the instance.
    let ca = certs.path().join("ca.pem");
    let (code, doc, stderr) = gitlab.json(&["--ca-cert", ca.to_str().expect("utf-8")]);
    assert_eq!(code, 2, "only team/gone fails: {stderr}");
    assert_eq!(repositories(&doc), ["team/app", "team/sub/lib"], "{doc}");
    assert_eq!(crate::common::error_origins(&doc), ["team/gone"], "{}", doc["errors"]);
}

#[test]
fn gitlab_fetches_projects_at_once_and_reports_them_in_one_order() {
    let gitlab = Gitlab::start();
    let (code, one, stderr) = gitlab.json(&["--jobs", "1"]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(gitlab.git.most.load(SeqCst), 1, "--jobs 1 fetches one project at a time");

    // team/app's and team/sub/lib's fetches are held until both have begun: only a run that
    // fetches them at once gets past it (one at a time, the first would fail with a 503).
    // The first run's requests were seen too: forget them, or the gate would open at once and
    // the two fetches need not overlap (this test failed so, now and then).
    gitlab.git.app_seen.store(false, SeqCst);
    gitlab.git.lib_seen.store(false, SeqCst);
    gitlab.git.gate.store(true, SeqCst);
    gitlab.git.most.store(0, SeqCst);
    let (code, many, stderr) = gitlab.json(&[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("0 cloned, 2 fetched, 1 failed"), "{stderr}");
    assert!(gitlab.git.most.load(SeqCst) >= 2, "the default fetches several at once");
    assert_eq!(crate::common::error_origins(&many), ["team/gone"], "{}", many["errors"]);
    // The same report, in the same order, whichever fetch ended first.
    assert_eq!(many["findings"], one["findings"]);
    assert_eq!(many["errors"], one["errors"]);
}

#[test]
fn gitlab_under_a_sub_path_keeps_it_for_the_api_and_git() {
    let gitlab = Gitlab::serve_at(None, "/gitlab");
    let (code, doc, stderr) = gitlab.json(&[]);
    assert_eq!(code, 2, "only team/gone fails: {stderr}");
    assert_eq!(repositories(&doc), ["team/app", "team/sub/lib"], "{doc}");
    assert_eq!(crate::common::error_origins(&doc), ["team/gone"], "{}", doc["errors"]);
    let requests: Vec<String> = gitlab.api.requests().into_iter().map(|r| r.line).collect();
    let listings = requests.iter().filter(|l| l.contains("/api/v4/")).count();
    assert_eq!(listings, 2, "both pages, the second under the sub-path too: {requests:?}");
    let outside: Vec<&String> = requests
        .iter()
        .filter(|l| l.split(' ').nth(1).is_none_or(|p| !p.starts_with("/gitlab/")))
        .collect();
    assert!(outside.is_empty(), "every request under /gitlab/: {outside:?}");
}

#[test]
fn gitlab_prunes_the_mirrors_of_projects_no_longer_listed() {
    let gitlab = Gitlab::start();
    let (code, _, stderr) = gitlab.run(&[]);
    assert_eq!(code, 2, "{stderr}");
    let work = gitlab.workdir();
    let lib = work.join("team/sub/lib.git");
    assert!(lib.join("HEAD").is_file());
    // Another group's mirror in the same work directory is not this run's to judge.
    let other = work.join("other/x.git");
    std::fs::create_dir_all(&other).expect("other mirror");
    std::fs::write(other.join("HEAD"), "ref: refs/heads/main\n").expect("HEAD");
    // A bare repository of the user's own in this group's folder: leakhound did not make it.
    let mine = work.join("team/mine.git");
    git(&work, &["init", "-q", "--bare", mine.to_str().expect("utf-8")]);

    // team/sub/lib is deleted. A listing stopped by its page cap, or one limited by --since,
    // does not show that a project is gone: its mirror stays.
    gitlab.hidden.lock().expect("lock").push("team/sub/lib");
    for partial in [&["--max-pages", "1"][..], &["--since", "2026-11-01"]] {
        let (code, _, stderr) = gitlab.run(partial);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("stale mirrors kept"), "{stderr}");
        assert!(lib.join("HEAD").is_file(), "{partial:?}: {stderr}");
    }

    // A complete listing: the mirror and its empty subgroup directory go, and the log says so.
    let (code, doc, stderr) = gitlab.json(&[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("removed the mirror of team/sub/lib"), "{stderr}");
    assert!(stderr.contains("1 stale mirrors removed"), "{stderr}");
    assert!(!work.join("team/sub").exists(), "the mirror and its empty directory are gone");
    assert!(work.join("team/app.git/HEAD").is_file() && other.join("HEAD").is_file());
    assert!(mine.join("HEAD").is_file(), "a repository leakhound did not make is never removed");
    assert_eq!(repositories(&doc), ["team/app"], "{doc}");
}

#[test]
fn gitlab_baseline_of_one_project_does_not_hide_the_same_secret_in_another() {
    let gitlab = Gitlab::start();
    // team/app and its fork hold the same key in the same file.
    let (code, doc, stderr) = gitlab.json(&["--include-forks"]);
    assert_eq!(code, 2, "{stderr}");
    let findings = doc["findings"].as_array().expect("findings");
    let of = |project: &str| -> Vec<Value> {
        findings.iter().filter(|f| f["repository"] == project).cloned().collect()
    };
    let (app, fork) = (of("team/app"), of("team/app-fork"));
    assert_eq!((app.len(), fork.len()), (1, 1), "{findings:?}");
    assert_eq!((&app[0]["path"], &app[0]["rule_id"]), (&fork[0]["path"], &fork[0]["rule_id"]));
    assert_ne!(app[0]["fingerprint"], fork[0]["fingerprint"], "the project is in the fingerprint");

    // team/app's finding accepted: the fork's is still reported.
    let baseline = gitlab.env.path().join("baseline.json");
    std::fs::write(&baseline, json!({ "findings": app }).to_string()).expect("baseline");
    let path = baseline.to_str().expect("utf-8");
    let (code, doc, stderr) = gitlab.json(&["--include-forks", "--baseline", path]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(repositories(&doc), ["team/app-fork", "team/sub/lib"], "{doc}");
    assert_eq!(stat(&doc, "suppressed"), 1, "{}", doc["stats"]);
}
