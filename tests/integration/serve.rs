//! `leakhound serve` (#18): the real binary as a service, Harbor's webhook payloads (the
//! documented Default format) posted to it, the real distribution registry behind it, and a
//! small real HTTP listener as the notification endpoint.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::common::fake;
use crate::registry::{Entry, Mode, Registry, free_port, layer_tar};
use crate::sweep_registry::Pusher;

/// The shared secret Harbor's webhook policy sends as its Auth Header (a test value).
const AUTH: &str = "Bearer fixture-webhook-secret-not-sensitive";

/// How long a test waits for the service to get somewhere before it fails (not a timing
/// assertion: a healthy run takes a fraction of it).
const PATIENCE: Duration = Duration::from_secs(90);

/// A running `leakhound serve`; killed on drop.
struct Service {
    child: Child,
    addr: String,
    log: PathBuf,
}

/// What a service keeps between runs: its cache (and queue) and its results.
struct State {
    dir: TempDir,
}

impl State {
    fn new() -> State {
        State { dir: tempfile::tempdir().expect("tempdir") }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache.db")
    }

    fn results(&self) -> PathBuf {
        self.dir.path().join("results")
    }

    /// The JSON report of `repository@digest`, once written.
    fn report(&self, repository: &str, digest: &str) -> Option<serde_json::Value> {
        let path =
            self.results().join(repository).join(format!("{}.json", digest.replace(':', "-")));
        let text = std::fs::read(path).ok()?;
        Some(serde_json::from_slice(&text).expect("the report is JSON"))
    }

    /// Every JSON report written, by `repository/file`.
    fn reports(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut dirs = vec![self.results()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    let rel = path.strip_prefix(self.results()).expect("under results");
                    out.insert(rel.display().to_string());
                }
            }
        }
        out
    }
}

impl Service {
    /// Starts `serve REGISTRY` with `state`, the test secret and `extra` flags; waits until
    /// `/healthz` answers.
    fn start(state: &State, registry: &str, extra: &[&str]) -> Service {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut args: Vec<String> = ["serve", registry, "--insecure-registry", "--listen", &addr]
            .iter()
            .map(|a| (*a).to_owned())
            .collect();
        args.extend(["--cache".to_owned(), state.cache().display().to_string()]);
        args.extend(["--results".to_owned(), state.results().display().to_string()]);
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        Service::launch(state, &args, addr)
    }

    /// Runs the binary with `args` (which make it listen at `addr`) and the test secret; waits
    /// until `/healthz` answers.
    fn launch(state: &State, args: &[String], addr: String) -> Service {
        let log = state.dir.path().join(format!("serve-{}.log", addr.replace(':', "-")));
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("leakhound"));
        cmd.args(args)
            .env("LEAKHOUND_WEBHOOK_SECRET", AUTH)
            .env_remove("LEAKHOUND_REGISTRY_USER")
            .env_remove("LEAKHOUND_REGISTRY_PASSWORD")
            .current_dir(state.dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        let mut child = cmd.spawn().expect("leakhound serve starts");
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
            if request(&addr, "GET", "/healthz", &[], b"").is_some_and(|(s, _)| s == 200) {
                return Service { child, addr, log };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let status = child.wait().expect("wait");
        panic!(
            "serve did not answer /healthz ({status}): {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Posts a webhook body with `auth` as its Authorization header.
    fn post(&self, body: &[u8], auth: Option<&str>) -> (u16, String) {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        request(&self.addr, "POST", "/harbor", &headers, body).expect("serve answers")
    }

    /// The metrics as name → value (integer samples without labels: counters, gauges, counts).
    fn metrics(&self) -> BTreeMap<String, u64> {
        let (status, text) = request(&self.addr, "GET", "/metrics", &[], b"").expect("metrics");
        assert_eq!(status, 200);
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                Some((name.to_owned(), value.parse().ok()?))
            })
            .collect()
    }

    fn metric(&self, name: &str) -> u64 {
        self.metrics().get(&format!("leakhound_serve_{name}")).copied().unwrap_or(0)
    }

    /// Waits until the metric `name` reaches `value`.
    fn wait_for(&self, name: &str, value: u64) {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if self.metric(name) >= value {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{name} never reached {value}: {:?}\n{}", self.metrics(), self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> (Option<i32>, String) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        let status = self.child.wait().expect("wait");
        (status.code(), self.log())
    }

    /// SIGKILL (kill -9): no chance to clean up.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange; `None` when the connection fails.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    read_answer(&mut stream)
}

fn read_answer(stream: &mut TcpStream) -> Option<(u16, String)> {
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

/// A `PUSH_ARTIFACT` payload in Harbor's documented shape.
fn push_event(registry: &str, repository: &str, pushed: &[(&str, &str)]) -> Vec<u8> {
    let (namespace, name) = repository.split_once('/').expect("project/name");
    let resources: Vec<serde_json::Value> = pushed
        .iter()
        .map(|(digest, tag)| {
            serde_json::json!({
                "digest": digest, "tag": tag,
                "resource_url": format!("{registry}/{repository}:{tag}")
            })
        })
        .collect();
    serde_json::json!({
        "type": "PUSH_ARTIFACT",
        "occur_at": 1_765_000_000,
        "operator": "robot$team+ci",
        "event_data": {
            "resources": resources,
            "repository": {
                "date_created": 1_765_000_000, "name": name, "namespace": namespace,
                "repo_full_name": repository, "repo_type": "private"
            }
        }
    })
    .to_string()
    .into_bytes()
}

fn file(path: &str, content: &[u8]) -> Entry {
    Entry::File(path.to_owned(), content.to_vec())
}

/// The base layer every test image shares.
fn base() -> Vec<u8> {
    layer_tar(&[file("etc/os-release", b"ID=test\n")])
}

/// An app layer, with a fake GitHub token when `secret`.
fn app(name: &str, secret: bool) -> Vec<u8> {
    let mut content = format!("APP={name}\n");
    if secret {
        let _ = writeln!(content, "GITHUB_TOKEN={}", fake::github_pat());
    }
    layer_tar(&[file("app/config.env", content.as_bytes())])
}

/// A notification endpoint: records each request's body and answers with the next status of
/// `statuses` (200 once they run out).
struct Listener {
    addr: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Listener {
    fn start(statuses: &[u16]) -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&bodies);
        let statuses = statuses.to_vec();
        std::thread::spawn(move || {
            let mut statuses = statuses.into_iter();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let status = statuses.next().unwrap_or(200);
                if let Some(body) = answer_one(stream, status) {
                    seen.lock().expect("lock").push(body);
                }
            }
        });
        Listener { addr, bodies }
    }

    fn bodies(&self) -> Vec<String> {
        self.bodies.lock().expect("lock").clone()
    }

    fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if self.bodies().len() >= n {
                return self.bodies();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the notification endpoint got {} requests, not {n}", self.bodies().len());
    }
}

fn answer_one(stream: TcpStream, status: u16) -> Option<String> {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    reader.get_mut().write_all(answer.as_bytes()).ok()?;
    Some(String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn a_push_is_scanned_once_reported_and_notified_with_the_secret_redacted() {
    let registry = Registry::start(Mode::Plain);
    let pusher = Pusher::new(&format!("http://{}", registry.addr));
    let leaky = pusher.image("team/app", "v1", &[base(), app("leaky", true)], &[], "amd64");
    let clean = pusher.image("team/web", "v1", &[base(), app("clean", false)], &[], "amd64");
    // The first notification is refused: it is retried.
    let endpoint = Listener::start(&[503]);
    let state = State::new();
    let notify = format!("http://{}/hooks/abc", endpoint.addr);
    let service =
        Service::start(&state, &registry.addr, &["--notify", &notify, "--format", "sarif"]);

    let (status, text) =
        service.post(&push_event(&registry.addr, "team/app", &[(&leaky, "v1")]), Some(AUTH));
    assert_eq!(status, 202, "{text}");
    service.wait_for("artifacts_scanned_total", 1);
    let report = state.report("team/app", &leaky).expect("a report for the pushed artifact");
    let findings = report["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{report}");
    assert_eq!(findings[0]["rule_id"], "github.token");
    assert_eq!(findings[0]["path"], "app/config.env");
    assert!(!report.to_string().contains(&fake::github_pat()), "the report redacts: {report}");
    let sarif = state.results().join(format!("team/app/{}.sarif", leaky.replace(':', "-")));
    assert!(sarif.is_file(), "--format adds its file");

    let bodies = endpoint.wait_for(2);
    assert_eq!(bodies[0], bodies[1], "the refused notification is sent again");
    let message: serde_json::Value = serde_json::from_str(&bodies[1]).expect("JSON body");
    let text = message["text"].as_str().expect("a Slack/Mattermost text field");
    assert!(text.contains("1 secret found in"), "{text}");
    assert!(text.contains("team/app@sha256:"), "{text}");
    assert!(text.contains("github.token") && text.contains("ghp_*****"), "{text}");
    assert!(!text.contains(&fake::github_pat()), "{text}");

    // The same digest pushed again (a new tag) is not scanned again; another image over the
    // same base layer reads only its new layer.
    let (status, text) =
        service.post(&push_event(&registry.addr, "team/app", &[(&leaky, "latest")]), Some(AUTH));
    assert_eq!((status, text.trim()), (202, "queued 0 new artifact(s)"));
    let (status, _) =
        service.post(&push_event(&registry.addr, "team/web", &[(&clean, "v1")]), Some(AUTH));
    assert_eq!(status, 202);
    service.wait_for("artifacts_scanned_total", 2);
    let clean_report = state.report("team/web", &clean).expect("report");
    assert!(clean_report["findings"].as_array().expect("findings").is_empty());
    let m = service.metrics();
    assert_eq!(m["leakhound_serve_events_received_total"], 3);
    assert_eq!(m["leakhound_serve_artifacts_queued_total"], 2);
    assert_eq!(m["leakhound_serve_artifacts_scanned_total"], 2);
    assert_eq!(m["leakhound_serve_artifacts_failed_total"], 0);
    assert_eq!(m["leakhound_serve_findings_total"], 1);
    assert_eq!(m["leakhound_serve_layers_scanned_total"], 3, "two app layers and one base");
    assert_eq!(m["leakhound_serve_layer_cache_hits_total"], 1, "the base, the second time");
    assert_eq!(m["leakhound_serve_scan_seconds_count"], 2);
    assert_eq!(endpoint.bodies().len(), 2, "a clean image sends nothing");

    let (code, log) = service.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("stopped (0 queued)"), "{log}");
    assert!(!log.contains(&fake::github_pat()), "{log}");
    assert!(!log.contains("hooks/abc"), "the webhook URL's path is its secret: {log}");
}

#[test]
fn bad_webhooks_are_refused_and_other_events_ignored() {
    let state = State::new();
    // Nothing listens at the registry address: nothing here is scanned.
    let registry = format!("127.0.0.1:{}", free_port());
    let service = Service::start(&state, &registry, &["--max-body", "64K"]);
    let digest = format!("sha256:{}", "ab".repeat(32));
    let push = push_event(&registry, "team/app", &[(&digest, "v1")]);

    assert_eq!(service.post(&push, None).0, 401, "no Authorization");
    assert_eq!(service.post(&push, Some("Bearer wrong")).0, 401);
    assert_eq!(service.post(&push, Some(&AUTH[..AUTH.len() - 1])).0, 401, "a prefix");
    let (status, text) = service.post(b"{\"type\": ", Some(AUTH));
    assert_eq!(status, 400, "{text}");
    let bad = push_event(&registry, "team/app", &[("sha256:../../etc", "v1")]);
    let (status, text) = service.post(&bad, Some(AUTH));
    assert_eq!((status, text.contains("digest")), (400, true), "{text}");
    let pull = serde_json::json!({
        "type": "PULL_ARTIFACT", "occur_at": 1, "operator": "dev",
        "event_data": {"resources": [{"digest": digest, "tag": "v1"}],
                       "repository": {"name": "app", "namespace": "team", "repo_full_name": "team/app"}}
    });
    let (status, text) = service.post(pull.to_string().as_bytes(), Some(AUTH));
    assert_eq!((status, text.trim()), (200, "ignored: event type PULL_ARTIFACT"));

    // A 1 GB body: refused for its declared length, unread.
    let mut stream = TcpStream::connect(&service.addr).expect("connect");
    let head = format!(
        "POST /harbor HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nContent-Length: {}\r\n\r\n",
        1u64 << 30
    );
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(&vec![b' '; 16 << 10]).expect("send some");
    assert_eq!(read_answer(&mut stream).map(|(s, _)| s), Some(413));
    // Over the limit without a declared length (chunked): cut off at the limit.
    let mut stream = TcpStream::connect(&service.addr).expect("connect");
    let head = format!(
        "POST /harbor HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("send head");
    let chunk = vec![b' '; 32 << 10];
    for _ in 0..3 {
        stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).expect("size");
        stream.write_all(&chunk).expect("chunk");
        stream.write_all(b"\r\n").expect("end");
    }
    stream.write_all(b"0\r\n\r\n").expect("last chunk");
    assert_eq!(read_answer(&mut stream).map(|(s, _)| s), Some(413));

    let m = service.metrics();
    assert_eq!(m["leakhound_serve_events_received_total"], 8);
    assert_eq!(m["leakhound_serve_events_unauthorized_total"], 3);
    assert_eq!(m["leakhound_serve_events_malformed_total"], 4);
    assert_eq!(m["leakhound_serve_events_ignored_total"], 1);
    assert_eq!(m["leakhound_serve_artifacts_queued_total"], 0);
    drop(service);

    // Without a secret it does not start, unless told to take webhooks from anyone.
    let out = crate::common::TestEnv::new()
        .cmd()
        .args(["serve", &registry, "--insecure-registry", "--cache", "c.db", "--results", "r"])
        .env_remove("LEAKHOUND_WEBHOOK_SECRET")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LEAKHOUND_WEBHOOK_SECRET"));
}

/// Pushes `n` distinct images (the shared base, one small app layer each) to `repository`.
fn push_many(registry: &Registry, repository: &str, n: usize, secret: bool) -> Vec<String> {
    let pusher = Pusher::new(&format!("http://{}", registry.addr));
    (0..n)
        .map(|i| {
            let app = app(&format!("{repository}-{i}"), secret);
            pusher.image(repository, &format!("t{i}"), &[base(), app], &[], "amd64")
        })
        .collect()
}

#[test]
fn a_flood_is_queued_or_refused_and_every_accepted_digest_is_scanned_once() {
    // The issue's flood: 10,000 webhooks, from 8 senders.
    const POSTS: usize = 10_000;
    const SENDERS: usize = 8;
    let registry = Registry::start(Mode::Plain);
    let digests = push_many(&registry, "flood/app", 120, false);
    let state = State::new();
    let service = Service::start(
        &state,
        &registry.addr,
        &["--max-queue", "50", "--jobs", "2", "--min-rate-window", "120", "--backoff", "0.2"],
    );
    // While the registry hangs nothing is scanned, so the queue fills for sure.
    registry.pause();
    let answers: Vec<(u16, String)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..SENDERS)
            .map(|t| {
                let (service, digests, registry) = (&service, &digests, &registry);
                s.spawn(move || {
                    (0..POSTS / SENDERS)
                        .map(|i| {
                            let digest = &digests[(t * (POSTS / SENDERS) + i) % digests.len()];
                            let body = push_event(&registry.addr, "flood/app", &[(digest, "x")]);
                            (service.post(&body, Some(AUTH)).0, digest.clone())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("poster")).collect()
    });
    registry.resume();
    let accepted: BTreeSet<&String> =
        answers.iter().filter(|(s, _)| *s == 202).map(|(_, d)| d).collect();
    let refused = answers.iter().filter(|(s, _)| *s == 429).count();
    assert_eq!(answers.len(), POSTS);
    assert_eq!(
        answers.iter().filter(|(s, _)| *s == 202).count() + refused,
        POSTS,
        "every post is accepted or refused with 429"
    );
    assert!(refused > 0, "a full queue refuses");
    // 50 waiting, plus what the two workers took off the queue before they hung.
    assert!((50..=52).contains(&accepted.len()), "{} digests accepted", accepted.len());

    service.wait_for("artifacts_scanned_total", accepted.len() as u64);
    let wanted: BTreeSet<String> =
        accepted.iter().map(|d| format!("flood/app/{}.json", d.replace(':', "-"))).collect();
    assert_eq!(state.reports(), wanted, "a report for each accepted digest and no other");
    let m = service.metrics();
    assert_eq!(m["leakhound_serve_artifacts_scanned_total"], accepted.len() as u64, "once each");
    assert_eq!(m["leakhound_serve_artifacts_queued_total"], accepted.len() as u64);
    assert_eq!(m["leakhound_serve_events_refused_total"], refused as u64);
    assert_eq!(m["leakhound_serve_queue_depth"], 0);
}

#[test]
fn queued_pushes_survive_kill_9_and_are_scanned_once_after_the_restart() {
    let registry = Registry::start(Mode::Plain);
    let digests = push_many(&registry, "team/svc", 6, true);
    let state = State::new();
    // Notifications go nowhere: they fail after their retries, and scanning goes on.
    let nowhere = format!("http://127.0.0.1:{}/hook", free_port());
    let flags = ["--notify", nowhere.as_str(), "--min-rate-window", "120", "--backoff", "0.2"];
    let first = Service::start(&state, &registry.addr, &flags);
    registry.pause();
    for (i, digest) in digests.iter().enumerate() {
        for tag in ["v1", "latest"] {
            let body = push_event(&registry.addr, "team/svc", &[(digest, tag)]);
            let (status, text) = first.post(&body, Some(AUTH));
            assert_eq!(status, 202, "push {i}: {text}");
        }
    }
    assert_eq!(first.metric("artifacts_queued_total"), 6);
    first.kill();
    registry.resume();
    assert!(state.reports().is_empty(), "nothing was scanned before the kill");

    let second = Service::start(&state, &registry.addr, &flags);
    second.wait_for("artifacts_scanned_total", 6);
    for digest in &digests {
        let report = state.report("team/svc", digest).expect("every accepted push is reported");
        assert_eq!(report["findings"].as_array().expect("findings").len(), 1, "{report}");
    }
    second.wait_for("notifications_failed_total", 6);
    let again = push_event(&registry.addr, "team/svc", &[(&digests[0], "v2")]);
    assert_eq!(second.post(&again, Some(AUTH)).1.trim(), "queued 0 new artifact(s)");
    let m = second.metrics();
    assert_eq!(m["leakhound_serve_artifacts_scanned_total"], 6, "each scanned once");
    assert_eq!(m["leakhound_serve_artifacts_queued_total"], 0, "all came from the queue");
    assert_eq!(m["leakhound_serve_findings_total"], 6);
    assert_eq!(state.reports().len(), 6);
}

#[test]
fn a_registry_that_is_down_or_a_repository_that_is_gone_is_reported_failed() {
    let registry = Registry::start(Mode::Plain);
    let digests = push_many(&registry, "team/app", 1, false);
    let state = State::new();
    let flags = ["--attempts", "2", "--backoff", "0.2", "--retries", "0"];
    let service = Service::start(&state, &registry.addr, &flags);
    let gone = format!("sha256:{}", "cd".repeat(32));
    let body = push_event(&registry.addr, "team/gone", &[(&gone, "v1")]);
    assert_eq!(service.post(&body, Some(AUTH)).0, 202);
    service.wait_for("artifacts_failed_total", 1);
    let report = state.report("team/gone", &gone).expect("a failed artifact is reported");
    let error = report["errors"][0]["message"].as_str().expect("an error").to_owned();
    assert!(error.contains("404") || error.contains("unknown"), "{error}");

    // The registry goes away: retried, then reported as failed, not dropped.
    drop(registry);
    let body = push_event("gone", "team/app", &[(&digests[0], "v1")]);
    assert_eq!(service.post(&body, Some(AUTH)).0, 202);
    service.wait_for("artifacts_failed_total", 2);
    let report = state.report("team/app", &digests[0]).expect("reported");
    assert!(!report["errors"].as_array().expect("errors").is_empty(), "{report}");
    let m = service.metrics();
    assert_eq!(m["leakhound_serve_scan_retries_total"], 2, "one retry each");
    assert_eq!(m["leakhound_serve_artifacts_scanned_total"], 0);
    assert!(service.log().contains("failed after 2 attempts"), "{}", service.log());
}

#[test]
fn the_kubernetes_deployment_runs_one_writer_and_its_arguments_start_the_service() {
    let docs = crate::sweep::yaml_documents("deploy/leakhound-serve.yaml");
    let deployment = &docs[0]["spec"];
    assert_eq!(deployment["replicas"], 1, "one process writes the SQLite file");
    assert_eq!(deployment["strategy"]["type"], "Recreate", "never two pods at once");
    let container = &deployment["template"]["spec"]["containers"][0];
    let env: Vec<&str> = container["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| e["name"].as_str().expect("name"))
        .collect();
    assert!(env.contains(&"LEAKHOUND_WEBHOOK_SECRET") && env.contains(&"LEAKHOUND_REGISTRY_USER"));
    assert_eq!(docs[1]["kind"], "Service");
    assert_eq!(docs[1]["spec"]["ports"][0]["targetPort"], container["ports"][0]["name"]);

    // The container's arguments, with the volume and the port here, start the real binary.
    let state = State::new();
    let addr = format!("127.0.0.1:{}", free_port());
    let data = state.dir.path().display().to_string();
    let args: Vec<String> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| {
            a.as_str()
                .expect("arg")
                .replace("/data", &data)
                .replace("0.0.0.0:8080", &addr)
                .replace("$(NOTIFY_URL)", "https://chat.example.com/hooks/abc")
        })
        .collect();
    let service = Service::launch(&state, &args, addr);
    assert_eq!(service.metric("artifacts_queued_total"), 0);
    let (code, log) = service.terminate();
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn sigterm_stops_accepting_finishes_the_scan_in_hand_and_keeps_the_queue() {
    let registry = Registry::start(Mode::Plain);
    let digests = push_many(&registry, "team/job", 3, false);
    let state = State::new();
    let flags = ["--jobs", "1", "--min-rate-window", "120"];
    let service = Service::start(&state, &registry.addr, &flags);
    registry.pause();
    for digest in &digests {
        let body = push_event(&registry.addr, "team/job", &[(digest, "v1")]);
        assert_eq!(service.post(&body, Some(AUTH)).0, 202);
    }
    // The one worker has taken an artifact and waits on the registry.
    let deadline = Instant::now() + PATIENCE;
    while service.metric("queue_depth") != 2 {
        assert!(Instant::now() < deadline, "{:?}", service.metrics());
        std::thread::sleep(Duration::from_millis(20));
    }
    let addr = service.addr.clone();
    Command::new("kill").args(["-TERM", &service.child.id().to_string()]).status().expect("kill");
    let deadline = Instant::now() + PATIENCE;
    while request(&addr, "GET", "/healthz", &[], b"").is_some() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    registry.resume();
    let (code, log) = service.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("stopped (2 queued)"), "{log}");
    assert_eq!(state.reports().len(), 1, "the scan in hand was finished");

    let again = Service::start(&state, &registry.addr, &flags);
    again.wait_for("artifacts_scanned_total", 2);
    assert_eq!(state.reports().len(), 3, "the queue was kept");
}

/// The data block of `serve`'s `index.html` (what the page's script renders), once it lists
/// `scans` scans.
fn index_page(state: &State, service: &Service, scans: usize) -> (String, serde_json::Value) {
    let open = "<script id=\"data\" type=\"application/json\">";
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(html) = std::fs::read_to_string(state.results().join("index.html")) {
            let start = html.find(open).expect("a data block") + open.len();
            let end = start + html[start..].find("</script>").expect("closed");
            let data: serde_json::Value = serde_json::from_str(&html[start..end]).expect("JSON");
            if data["scans"].as_array().expect("scans").len() >= scans {
                return (html, data);
            }
        }
        assert!(
            Instant::now() < deadline,
            "index.html never listed {scans} scans\n{}",
            service.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn with_format_html_an_index_page_shows_every_artifact_and_names_a_damaged_report() {
    let registry = Registry::start(Mode::Plain);
    let pusher = Pusher::new(&format!("http://{}", registry.addr));
    let team_digest = pusher.image("team/app", "v1", &[base(), app("app", true)], &[], "amd64");
    let ops_digest = pusher.image("ops/api", "v1", &[base(), app("api", true)], &[], "amd64");
    let state = State::new();
    // A report an earlier run left cut short (a full disk, a hand edit).
    let damaged = format!("team/old/sha256-{}.json", "ef".repeat(32));
    let damaged_path = state.results().join(&damaged);
    std::fs::create_dir_all(damaged_path.parent().expect("folder")).expect("mkdir");
    std::fs::write(&damaged_path, "{\"version\": 1, \"findings\": [{\"rule_id\": ").expect("write");
    let service = Service::start(&state, &registry.addr, &["--format", "html"]);

    // Built at startup, from what is on disk.
    let (_, data) = index_page(&state, &service, 1);
    let scans = data["scans"].as_array().expect("scans");
    assert_eq!(scans[0]["target"], format!("{damaged} (not readable)"));
    assert_eq!(scans[0]["errors"][0]["origin"], damaged.as_str());
    let reason = scans[0]["errors"][0]["message"].as_str().expect("why").to_owned();
    assert!(reason.starts_with(&format!("{damaged} is not JSON")), "{reason}");

    for (repository, digest) in [("team/app", &team_digest), ("ops/api", &ops_digest)] {
        let (status, text) =
            service.post(&push_event(&registry.addr, repository, &[(digest, "v1")]), Some(AUTH));
        assert_eq!(status, 202, "{text}");
    }
    service.wait_for("artifacts_scanned_total", 2);
    let (html, data) = index_page(&state, &service, 3);
    let targets: Vec<&str> = data["scans"]
        .as_array()
        .expect("scans")
        .iter()
        .map(|s| s["target"].as_str().expect("target"))
        .collect();
    assert_eq!(
        targets,
        [
            format!("serve {}/ops/api@{ops_digest}", registry.addr),
            format!("serve {}/team/app@{team_digest}", registry.addr),
            format!("{damaged} (not readable)"),
        ],
        "every artifact and the damaged report, in path order"
    );
    let groups: Vec<(&str, &str)> = data["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| (g["project"].as_str().expect("p"), g["repository"].as_str().expect("r")))
        .collect();
    let (ops, team) = (format!("{}/ops/api", registry.addr), format!("{}/team/app", registry.addr));
    assert_eq!(groups, [("ops", ops.as_str()), ("team", team.as_str())]);
    let findings = data["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 2, "{data}");
    for (i, f) in findings.iter().enumerate() {
        assert_eq!((f["scan"].as_u64(), f["group"].as_u64()), (Some(i as u64), Some(i as u64)));
        assert_eq!(f["path"], "app/config.env");
        assert_eq!(f["secret"], "ghp_*****");
        assert_eq!(data["rules"][f["rule"].as_u64().expect("rule") as usize]["id"], "github.token");
    }
    assert!(!html.contains(&fake::github_pat()), "the page redacts");
    let own = state.results().join(format!("team/app/{}.html", team_digest.replace(':', "-")));
    assert!(own.is_file(), "each artifact keeps its own page");
    let (code, log) = service.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("serve: index.html: 1 reports, 1 unreadable"), "at startup: {log}");
    assert_eq!(log.matches(&format!("{damaged} is not JSON")).count(), 1, "named once: {log}");
    assert!(!log.contains(&fake::github_pat()), "{log}");
}
