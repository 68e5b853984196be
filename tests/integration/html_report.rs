//! `--format html` end to end (issue #18): the real binary scans a real git repository holding
//! fake-but-realistic secrets, and merges the shards of a sweep of a real registry, into HTML
//! reports, which real headless Chromium (Debian's
//! `chromium`, driven through the W3C `WebDriver` HTTP API of `chromedriver`) opens from disk. The
//! rendered DOM shows the groups and their counts, the filter box and the group tables narrow the
//! table, a column header sorts it, a path and a commit message holding `</script>` stay text,
//! the page holds no unredacted secret, and it loads nothing: every request Chromium logs is the
//! file itself, and the proxy every other request would have to pass (a listener of this test)
//! is never reached, even when a script tries.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{TestEnv, fake, git};
use crate::sweep::{fleet, sweep_args};

/// The W3C `WebDriver` key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Hosts Chromium itself calls whatever page it shows, which no flag of Debian's build turns off
/// (component updates, sign-in, the default search engine's preconnect). A request line naming
/// one is not the page's: the page's own requests show in the `DevTools` log, attributed to it.
const CHROMIUM_OWN: [&str; 4] = [
    " start.duckduckgo.com:443 ",
    " update.googleapis.com:443 ",
    " http://update.googleapis.com/service/update2/",
    " accounts.google.com:443 ",
];

/// A listener that records the request line of every connection made to it: Chromium's proxy,
/// so any request the page made to the network would arrive here.
struct Proxy {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                // Nothing is answered: the request line is kept, then the connection dropped.
                // Each connection on its own thread, so an idle one (Chromium opens speculative
                // connections that never send a request) delays no other; a connection that
                // closes without a request line asked for nothing and is not kept.
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut line = String::new();
                    let _ = BufReader::new(stream).read_line(&mut line);
                    let line = line.trim_end();
                    if !line.is_empty() {
                        seen.lock().expect("lock").push(line.to_owned());
                    }
                });
            }
        });
        Proxy { port, requests }
    }

    /// The requests that are not Chromium's own.
    fn requests(&self) -> Vec<String> {
        let all = self.requests.lock().expect("lock").clone();
        all.into_iter().filter(|r| !CHROMIUM_OWN.iter().any(|host| r.contains(host))).collect()
    }
}

/// One chromedriver process with one headless Chromium session.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    profile: tempfile::TempDir,
}

impl Browser {
    fn start(proxy: &Proxy) -> Browser {
        let port =
            TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("a").port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver runs (Debian package chromium-driver; scripts/test.sh installs it)",
            );
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let client = reqwest::Client::builder().no_proxy().build().expect("client");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            runtime,
            client,
            profile,
        };
        browser.wait_until("chromedriver is ready", |b| {
            b.try_call(&reqwest::Method::GET, "/status", None)
                .is_some_and(|v| v["value"]["ready"] == true)
        });
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1280,1000".to_owned(),
            // Less of Chromium's own traffic (see `CHROMIUM_OWN` for what remains).
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-pings".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-domain-reliability".to_owned(),
            "--disable-client-side-phishing-detection".to_owned(),
            "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate"
                .to_owned(),
            format!("--user-data-dir={}", browser.profile.path().display()),
            format!("--proxy-server=http://127.0.0.1:{}", proxy.port),
            // Chromium bypasses the proxy for loopback by default; nothing may bypass it.
            "--proxy-bypass-list=<-loopback>".to_owned(),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
            "goog:loggingPrefs": {"performance": "ALL"},
        }}});
        let session = browser.call(&reqwest::Method::POST, "/session", Some(caps));
        session["value"]["sessionId"]
            .as_str()
            .expect("session id")
            .clone_into(&mut browser.session);
        browser
    }

    fn try_call(&self, method: &reqwest::Method, path: &str, body: Option<Value>) -> Option<Value> {
        self.runtime.block_on(async {
            let mut request = self.client.request(method.clone(), format!("{}{path}", self.base));
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.ok()?;
            response.json::<Value>().await.ok()
        })
    }

    fn call(&self, method: &reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let value = self.try_call(method, path, body).expect("chromedriver answers");
        assert!(value["value"].get("error").is_none(), "{method} {path}: {value}");
        value
    }

    fn session(&self, method: &reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)["value"].take()
    }

    fn open(&self, url: &str) {
        self.session(&reqwest::Method::POST, "/url", Some(json!({"url": url})));
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    fn js(&self, script: &str) -> Value {
        self.session(
            &reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    fn element(&self, css: &str) -> String {
        let found = self.session(
            &reqwest::Method::POST,
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        found[ELEMENT].as_str().expect("element id").to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.session(
            &reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        );
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.session(&reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Waits for `ready`, polling; the deadline only keeps a broken page from hanging the run
    /// (the filter applies after a 60 ms pause in typing).
    fn wait_until(&self, what: &str, ready: impl Fn(&Browser) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready(self) {
            assert!(Instant::now() < deadline, "gave up waiting: {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The texts of the cells of the rows matching `css`.
    fn rows(&self, css: &str) -> Vec<Vec<String>> {
        let script = format!(
            "return [...document.querySelectorAll({css:?})].map(tr => [...tr.cells].map(td => td.textContent));"
        );
        serde_json::from_value(self.js(&script)).expect("rows of cells")
    }

    /// The URLs of every request Chromium's network log recorded so far for documents at `url`
    /// (Chromium's own pages, such as the first tab's, are not the report's).
    fn requested_urls(&self, url: &str) -> Vec<String> {
        let log =
            self.session(&reqwest::Method::POST, "/se/log", Some(json!({"type": "performance"})));
        log.as_array()
            .expect("log entries")
            .iter()
            .filter_map(|entry| {
                let message: Value = serde_json::from_str(entry["message"].as_str()?).ok()?;
                let message = &message["message"];
                let params = &message["params"];
                (message["method"] == "Network.requestWillBeSent" && params["documentURL"] == url)
                    .then(|| params["request"]["url"].as_str().map(str::to_owned))
                    .flatten()
            })
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.try_call(
                &reqwest::Method::DELETE,
                &format!("/session/{}", self.session),
                None,
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A second, distinct fake AWS access key id (same format: `AKIA` and 16 base32 characters).
fn other_aws_key_id() -> String {
    format!("AKIA{}", "QZ3MV5XTR7BN2KWD")
}

/// A git repository with three secrets in three files, one of them at a path that is markup,
/// committed with a message that tries to close the page's script.
fn repository(env: &TestEnv) {
    git(env.path(), &["init", "-q", "-b", "main"]);
    env.file("deploy/prod.env", format!("AWS_ACCESS_KEY_ID={}\n", fake::aws_key_id()));
    env.file("ci/settings.env", format!("export AWS_ACCESS_KEY_ID={}\n", other_aws_key_id()));
    env.file("<script>alert(1)</script>.env", format!("GITHUB_TOKEN={}\n", fake::github_pat()));
    git(env.path(), &["add", "-A"]);
    git(env.path(), &["commit", "-q", "-m", "add </script><script>alert(2)</script> config"]);
}

fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR", "a PNG");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().expect("4 bytes"));
    (be(16), be(20))
}

#[test]
fn html_report_renders_groups_filters_and_loads_nothing() {
    let env = TestEnv::new();
    repository(&env);
    let out = env.run(&["git", ".", "--format", "html", "--report", "report.html"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let page = std::fs::read_to_string(env.path().join("report.html")).expect("the report");
    let secrets = [fake::aws_key_id(), other_aws_key_id(), fake::github_pat()];
    for s in &secrets {
        assert!(!page.contains(s.as_str()), "the file holds {s}");
    }

    let proxy = Proxy::start();
    let browser = Browser::start(&proxy);
    let url = format!("file://{}", env.path().join("report.html").display());
    browser.open(&url);
    browser.wait_until("the table renders", |b| {
        b.js("return document.body.dataset.renderMs || ''") != ""
    });

    // The groups and their counts.
    let rules = browser.rows("#rule-groups tbody tr");
    let count_of = |rule: &str| rules.iter().find(|r| r[0] == rule).map(|r| r[1].clone());
    assert_eq!(count_of("aws.access-key-id").as_deref(), Some("2"), "{rules:?}");
    assert_eq!(count_of("github.token").as_deref(), Some("1"), "{rules:?}");
    // One place (the repository), all three findings high or critical, none checked live.
    let places = browser.rows("#where-groups tbody tr");
    assert_eq!(places, [["git .", "3", "3", "0"]]);
    assert_eq!(browser.js("return document.getElementById('count').textContent"), "3 findings");
    let all = browser.rows("#rows tr");
    assert_eq!(all.len(), 3);
    // The policy let the page's own stylesheet apply (its hash is in the policy).
    let radius =
        browser.js("return getComputedStyle(document.querySelector('.badge')).borderRadius");
    assert_ne!(radius, "0px", "the stylesheet applied");

    // Markup in a path and a commit message stays text: no script ran, none was added.
    let alert = browser
        .try_call(&reqwest::Method::GET, &format!("/session/{}/alert/text", browser.session), None)
        .expect("answer");
    assert_eq!(alert["value"]["error"], "no such alert", "{alert}");
    assert_eq!(browser.js("return document.scripts.length"), 2);
    assert!(all.iter().any(|r| r[4].starts_with("<script>alert(1)</script>.env:1:")), "{all:?}");
    assert!(
        all.iter().all(|r| r[4].contains("add </script><script>alert(2)</script> config")),
        "{all:?}"
    );

    // The rendered DOM holds no secret, only its redacted form.
    let dom = browser.session(&reqwest::Method::GET, "/source", None);
    let dom = dom.as_str().expect("page source");
    for s in &secrets {
        assert!(!dom.contains(s.as_str()), "the rendered page shows {s}");
    }
    assert!(all.iter().any(|r| r[5] == "AKIA*****"), "{all:?}");

    // A screenshot of the rendered page: a full-size PNG with more than a blank page's bytes.
    let shot = browser.session(&reqwest::Method::GET, "/screenshot", None);
    let png =
        leakhound::engine::decode::base64(shot.as_str().expect("base64").as_bytes()).expect("PNG");
    let (width, height) = png_size(&png);
    assert!(width == 1280 && height >= 600, "{width}x{height}");
    // A blank page of that size compresses to a few KB.
    assert!(png.len() > 20_000, "a page with text and tables, {} bytes", png.len());
    // Kept for a person to look at.
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("html_report.png");
    std::fs::write(&kept, &png).expect("keep the screenshot");

    // The filter box narrows the table; Clear restores it.
    browser.type_into("#filter", "ci/settings");
    browser.wait_until("the filter applies", |b| b.rows("#rows tr").len() == 1);
    let narrowed = browser.rows("#rows tr");
    assert!(narrowed[0][4].starts_with("ci/settings.env:1:"), "{narrowed:?}");
    assert_eq!(
        browser.js("return document.getElementById('count').textContent"),
        "1 of 3 findings match"
    );
    browser.click("#clear");
    browser.wait_until("the filter clears", |b| b.rows("#rows tr").len() == 3);

    // A rule group narrows it too; a header sorts it.
    browser.click("#rule-groups tbody tr[data-rule]");
    browser.wait_until("the rule group applies", |b| b.rows("#rows tr").len() != 3);
    let picked = browser.rows("#rule-groups tbody tr.picked");
    let by_rule = browser.rows("#rows tr");
    assert_eq!(by_rule.len().to_string(), picked[0][1]);
    assert!(by_rule.iter().all(|r| r[2] == picked[0][0]), "{by_rule:?} {picked:?}");
    browser.click("#clear");
    browser.click("#findings th[data-key=path]");
    browser.wait_until("the sort applies", |b| {
        b.js("return document.querySelector('#findings th[data-key=path]').getAttribute('aria-sort')") == "ascending"
    });
    let paths: Vec<String> = browser.rows("#rows tr").into_iter().map(|r| r[4].clone()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    assert_eq!(paths.len(), 3);

    // Nothing was loaded but the file; a script that tries is stopped by the page's policy.
    let urls = browser.requested_urls(&url);
    assert_eq!(urls, std::slice::from_ref(&url), "the page itself, nothing else");
    assert_eq!(browser.js("return performance.getEntriesByType('resource').length"), 0);
    let blocked = browser.js("window.violations = 0;
         document.addEventListener('securitypolicyviolation', () => window.violations++);
         const img = document.createElement('img');
         img.src = 'http://images.example.com/pixel.png';
         document.body.appendChild(img);
         return 'tried';");
    assert_eq!(blocked, "tried");
    browser.wait_until("the policy reports the blocked load", |b| {
        b.js("return window.violations") != 0
    });
    assert_eq!(proxy.requests(), Vec::<String>::new(), "the page reached the network");

    // The proxy check can fail: the same load from a page without the policy reaches it.
    browser.open("about:blank");
    browser.js("const img = document.createElement('img');
         img.src = 'http://images.example.com/pixel.png';
         document.body.appendChild(img);
         return 0;");
    browser.wait_until("a page without the policy reaches the proxy", |_| {
        proxy.requests().iter().any(|r| r.contains("images.example.com"))
    });
}

/// A sweep split in two shards and merged with `--format html`: the page groups the findings by
/// Harbor project and repository, and a secret of a base layer that six repositories share is
/// one finding that counts in each of them.
#[test]
fn merged_sweep_groups_by_project_and_repository() {
    let fleet = fleet();
    let env = TestEnv::new();
    for i in 0..2 {
        let (shard, name) = (format!("{i}/2"), format!("shard-{i}.json"));
        let out = env.run(&sweep_args(&fleet.registry, &["--shard", &shard, "--report", &name]));
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let merge =
        ["merge", "shard-0.json", "shard-1.json", "--format", "html", "--report", "sweep.html"];
    let out = env.run(&merge);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, merged) = env.json(&["merge", "shard-0.json", "shard-1.json"]);
    let findings = merged["findings"].as_array().expect("findings").len();

    let proxy = Proxy::start();
    let browser = Browser::start(&proxy);
    browser.open(&format!("file://{}", env.path().join("sweep.html").display()));
    browser.wait_until("the table renders", |b| {
        b.js("return document.body.dataset.renderMs || ''") != ""
    });
    assert_eq!(
        browser.js("return document.getElementById('count').textContent"),
        format!("{findings} findings")
    );
    let places = browser.rows("#where-groups tbody tr");
    assert_eq!(places.len(), 9, "one row per repository: {places:?}");
    let row = |repo: &str| -> Vec<String> {
        let name = format!("{}/{repo}", fleet.registry.addr);
        places
            .iter()
            .find(|r| r[1] == name)
            .unwrap_or_else(|| panic!("{name} in {places:?}"))
            .clone()
    };
    assert_eq!(row("team/svc0")[..2], ["team", &format!("{}/team/svc0", fleet.registry.addr)]);
    assert_eq!(row("team/svc0")[2], "2", "its own key and the base layer's token");
    assert_eq!(row("ops/svc1")[0], "ops");
    assert_eq!(row("team/svc2")[2], "1", "another base, its own key only");
    assert_eq!(fleet.with_base_secret.len(), 6);
    for repo in &fleet.with_base_secret {
        assert_eq!(row(repo)[2], "2", "{repo}");
    }
    // Per project: five repositories' own keys in team and four in ops, and the shared token
    // in both.
    let projects = browser.rows("#project-groups tbody tr");
    assert_eq!(projects, [["team", "6", "6", "0"], ["ops", "5", "5", "0"]]);
    // Picking a repository narrows the table to what lies in it; a project, to its findings.
    browser.click(&format!(
        "#where-groups tbody tr:nth-child({})",
        1 + places.iter().position(|r| r[1].ends_with("/team/svc0")).expect("row")
    ));
    browser.wait_until("the group applies", |b| b.rows("#rows tr").len() == 2);
    browser.click("#clear");
    browser.click("#project-groups tbody tr:nth-child(2)");
    browser.wait_until("the project applies", |b| b.rows("#rows tr").len() == 5);
    let ops = browser.rows("#rows tr");
    assert!(ops.iter().all(|r| r[3].contains("/ops/svc")), "{ops:?}");
    assert_eq!(proxy.requests(), Vec::<String>::new(), "the page reached the network");
}

/// HTML goes to stdout like any machine format, with the summary on stderr.
#[test]
fn html_report_on_stdout() {
    let env = TestEnv::new();
    env.file("a.env", format!("AWS_ACCESS_KEY_ID={}\n", fake::aws_key_id()));
    let out = env.run(&["dir", ".", "--format", "html"]);
    assert_eq!(out.status.code(), Some(1));
    let page = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("AKIA*****"), "{page}");
    assert!(!page.contains(&fake::aws_key_id()));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 finding"));
}
