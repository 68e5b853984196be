//! A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution, the core of
//! Harbor) on 127.0.0.1, a free port, storage in a temp dir; plain HTTP, htpasswd basic auth,
//! token auth (with a small token server in this file, Harbor's Bearer flow) or TLS with a
//! throwaway CA. Stopped on drop. Also builds OCI image layouts in Rust (tar + gzip/zstd) and
//! pushes them with `skopeo`, so no Docker engine is needed.
//!
//! Shared with the sweep tests: keep it free of image-scanning assertions.

#![allow(dead_code)] // each test module uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use leakhound::engine::decode::{base64, base64_encode};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// Test registry user and password (bcrypt in htpasswd; given to the token server).
pub const USER: &str = "robot$proj+ci";
/// The password of [`USER`]: random-looking, as a real one is, so the catalog's value model
/// takes it for a secret wherever a test writes it (a docker config's `password`); joined from
/// halves so this file holds no secret-shaped literal.
pub const PASSWORD: &str = concat!("Fx7qLm2vRt9w", "Kp4ZcN8s");

/// How the registry authenticates and serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plain HTTP, anonymous.
    Plain,
    /// Plain HTTP, htpasswd basic auth.
    Basic,
    /// Plain HTTP, Bearer tokens from a token server (Harbor's scheme).
    Token,
    /// HTTPS with a certificate from a throwaway CA, anonymous.
    Tls,
}

/// A running registry; stopped and cleaned up on drop.
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The CA certificate (PEM file), in TLS mode.
    pub ca: Option<PathBuf>,
    mode: Mode,
    child: Child,
    token: Option<TokenServer>,
    dir: TempDir,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl Registry {
    /// Starts a registry in `mode`.
    pub fn start(mode: Mode) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let (auth, tls, ca, token) = security(mode, d);
        // The registry cannot report a port it picked itself: pick one, retry if it was taken.
        for _ in 0..20 {
            let port = free_port();
            let addr = format!("127.0.0.1:{port}");
            let config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: fixture-http-secret-not-sensitive\n{tls}{auth}",
                d.join("storage").display()
            );
            std::fs::write(d.join("config.yml"), config).expect("write config");
            let log = std::fs::File::create(d.join("registry.log")).expect("log file");
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(d.join("config.yml"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("docker-registry runs (apt-get install docker-registry)");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(&addr).is_ok() {
                    return Registry { addr, ca, mode, child, token, dir };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "docker-registry did not start: {}",
            std::fs::read_to_string(d.join("registry.log")).unwrap_or_default()
        );
    }

    /// Pushes `oci:LAYOUT:TAG` to `REPO:TAG` here with skopeo. `--preserve-digests` keeps
    /// zstd layers zstd (skopeo's blob cache would otherwise swap in gzip blobs).
    pub fn push(&self, layout: &Path, tag: &str, repo_tag: &str) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["--insecure-policy", "copy", "--quiet", "--all", "--preserve-digests"]);
        match self.mode {
            Mode::Tls => {
                let certs = self.dir.path().join("certs.d");
                std::fs::create_dir_all(&certs).expect("mkdir");
                std::fs::copy(self.ca.as_ref().expect("ca"), certs.join("ca.crt"))
                    .expect("copy ca");
                cmd.arg("--dest-cert-dir").arg(certs);
            }
            _ => {
                cmd.arg("--dest-tls-verify=false");
            }
        }
        if matches!(self.mode, Mode::Basic | Mode::Token) {
            cmd.arg("--dest-creds").arg(format!("{USER}:{PASSWORD}"));
        }
        cmd.arg(format!("oci:{}:{tag}", layout.display()));
        cmd.arg(format!("docker://{}/{repo_tag}", self.addr));
        // skopeo keeps a blob-info cache outside the temp dir; a private one avoids cross-talk.
        cmd.env("TMPDIR", self.dir.path());
        run(&mut cmd);
    }

    /// Freezes the registry (SIGSTOP): connections are accepted by the kernel and never
    /// answered, so whatever pulls from it waits (an outage that comes back).
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused registry go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, which: &str) {
        run(Command::new("kill").args([which, &self.child.id().to_string()]));
    }

    /// Token mode: the next token the server issues is already expired.
    pub fn expire_next_token(&self) {
        if let Some(token) = &self.token {
            token.expire_next.store(true, Ordering::Relaxed);
        }
    }

    /// `ADDR/REPO:TAG`.
    pub fn image(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.addr)
    }

    /// The flags that allow plain HTTP here: `--insecure-registry`, plus, in token mode,
    /// `--insecure-registry=` the token server (a plain-HTTP realm on another port, which gets
    /// no credentials unless named).
    pub fn insecure_args(&self) -> Vec<String> {
        let mut args = vec!["--insecure-registry".to_owned()];
        if let Some(token) = &self.token {
            args.push(format!("--insecure-registry={}", token.addr()));
        }
        args
    }

    /// Token mode: the token server's `127.0.0.1:PORT`.
    pub fn token_addr(&self) -> Option<String> {
        self.token.as_ref().map(TokenServer::addr)
    }

    /// Token mode: how many token requests carried credentials so far.
    pub fn token_requests_with_credentials(&self) -> usize {
        self.token.as_ref().map_or(0, |t| t.with_credentials.load(Ordering::SeqCst))
    }
}

/// The config sections (auth, tls), CA file and token server for `mode`, made in `d`.
fn security(mode: Mode, d: &Path) -> (String, String, Option<PathBuf>, Option<TokenServer>) {
    let mut auth = String::new();
    let mut tls = String::new();
    let mut ca = None;
    let mut token = None;
    match mode {
        Mode::Plain => {}
        Mode::Basic => {
            let out = Command::new("htpasswd")
                .args(["-Bbn", USER, PASSWORD])
                .output()
                .expect("htpasswd runs (apt-get install apache2-utils)");
            std::fs::write(d.join("htpasswd"), out.stdout).expect("write htpasswd");
            auth = format!(
                "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                d.join("htpasswd").display()
            );
        }
        Mode::Token => {
            self_signed(d, "tok", "/CN=test-token-signer", &[]);
            let server = TokenServer::start(d.join("tok.key"), &d.join("tok.pem"));
            auth = format!(
                "auth:\n  token:\n    realm: http://127.0.0.1:{}/service/token\n    service: harbor-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
                server.port,
                d.join("tok.pem").display()
            );
            token = Some(server);
        }
        Mode::Tls => {
            ca_and_leaf(d);
            tls = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                d.join("srv.pem").display(),
                d.join("srv.key").display()
            );
            ca = Some(d.join("ca.pem"));
        }
    }
    (auth, tls, ca, token)
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal token server for the distribution registry's `auth.token` (the Bearer flow Harbor
/// uses): RS256 JWTs signed by the `openssl` CLI, the signing cert in the `x5c` header. A valid
/// user gets what it asks for; anonymous gets a token with no access (a private Harbor
/// project); bad credentials get 401.
struct TokenServer {
    port: u16,
    stop: Arc<AtomicBool>,
    /// When set, the next token is already expired (its `exp` is an hour ago) although the
    /// answer says `expires_in: 300`: what a client sees when a token expires mid-pull.
    expire_next: Arc<AtomicBool>,
    /// Requests that carried an `Authorization` header.
    with_credentials: Arc<std::sync::atomic::AtomicUsize>,
}

impl TokenServer {
    fn start(key: PathBuf, cert: &Path) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind token server");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let expire_next = Arc::new(AtomicBool::new(false));
        let expiring = Arc::clone(&expire_next);
        let with_credentials = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let credentialed = Arc::clone(&with_credentials);
        let der = {
            let out = Command::new("openssl")
                .args(["x509", "-outform", "DER", "-in"])
                .arg(cert)
                .output()
                .expect("openssl x509");
            base64_encode(&out.stdout)
        };
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let expired = expiring.swap(false, Ordering::Relaxed);
                let _ = answer_token(stream, &key, &der, expired, &credentialed);
            }
        });
        TokenServer { port, stop, expire_next, with_credentials }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn b64url(data: &[u8]) -> String {
    base64_encode(data).replace('+', "-").replace('/', "_").trim_end_matches('=').to_owned()
}

fn answer_token(
    mut stream: TcpStream,
    key: &Path,
    der: &str,
    expired: bool,
    credentialed: &std::sync::atomic::AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_owned());
            credentialed.fetch_add(1, Ordering::SeqCst);
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let query = path.split_once('?').map_or("", |(_, q)| q);
    let scopes: Vec<String> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .map(|s| s.replace("%3A", ":").replace("%2F", "/").replace("%2C", ",").replace("%2A", "*"))
        .collect();
    let user = match authorization.as_deref().and_then(|a| a.strip_prefix("Basic ")) {
        Some(b) => {
            let decoded = base64(b.as_bytes()).unwrap_or_default();
            if decoded != format!("{USER}:{PASSWORD}").as_bytes() {
                let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#;
                write!(
                    stream,
                    "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )?;
                return Ok(());
            }
            Some(USER)
        }
        None => None,
    };
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| {
            let mut parts = s.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            let actions: Vec<&str> = actions.split(',').filter(|_| user.is_some()).collect();
            Some(serde_json::json!({"type": kind, "name": name, "actions": actions}))
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let now = if expired { now - 7200 } else { now };
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [der]});
    let claims = serde_json::json!({
        "iss": "test-issuer", "sub": user.unwrap_or(""), "aud": "harbor-registry",
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", free_port()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    child.stdin.take().expect("stdin").write_all(signing_input.as_bytes())?;
    let mut signature = Vec::new();
    child.stdout.take().expect("stdout").read_to_end(&mut signature)?;
    child.wait()?;
    let jwt = format!("{signing_input}.{}", b64url(&signature));
    let body =
        serde_json::json!({"token": jwt, "access_token": jwt, "expires_in": 300}).to_string();
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A file in a test layer.
pub enum Entry {
    /// A regular file.
    File(String, Vec<u8>),
    /// A whiteout of a path from lower layers.
    Whiteout(String),
    /// An opaque marker on a directory.
    Opaque(String),
    /// A symbolic link (path, target).
    Symlink(String, String),
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

/// A tar of `entries` (docker-style names, no `./`).
pub fn layer_tar(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(1_704_067_200);
        header.set_uid(0);
        header.set_gid(0);
        let (path, data): (String, &[u8]) = match entry {
            Entry::File(p, d) => (p.clone(), d),
            Entry::Whiteout(p) => {
                let (dir, name) = p.rsplit_once('/').map_or(("", p.as_str()), |(d, n)| (d, n));
                (
                    if dir.is_empty() {
                        format!(".wh.{name}")
                    } else {
                        format!("{dir}/.wh.{name}")
                    },
                    b"",
                )
            }
            Entry::Opaque(d) => (format!("{d}/.wh..wh..opq"), b""),
            Entry::Symlink(p, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                header.set_mode(0o777);
                builder.append_link(&mut header, p, target).expect("append link");
                continue;
            }
        };
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        builder.append_data(&mut header, &path, data).expect("append");
    }
    builder.into_inner().expect("finish tar")
}

/// `tar` compressed as asked.
pub fn compress(tar: &[u8], how: Compression) -> Vec<u8> {
    match how {
        Compression::None => tar.to_vec(),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(tar).expect("gzip");
            enc.finish().expect("gzip")
        }
        Compression::Zstd => zstd::encode_all(tar, 3).expect("zstd"),
    }
}

/// `sha256:…`.
pub fn digest(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// An OCI image layout written by the tests.
pub struct Layout {
    /// The layout directory.
    pub dir: PathBuf,
    index: Vec<serde_json::Value>,
}

/// One image to write: layers (raw blob bytes plus media type), config fields.
pub struct ImageSpec {
    /// Layer blobs with their media types and uncompressed tars (for `diff_ids`).
    pub layers: Vec<(Vec<u8>, &'static str, Vec<u8>)>,
    /// `Env` entries.
    pub env: Vec<String>,
    /// History `created_by` entries (one per layer plus empty ones are fine).
    pub history: Vec<String>,
    /// Architecture.
    pub arch: &'static str,
}

impl ImageSpec {
    /// An amd64 image from tars compressed with `how`.
    pub fn new(layers: &[Vec<u8>], how: Compression) -> ImageSpec {
        let media = match how {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        };
        ImageSpec {
            layers: layers.iter().map(|t| (compress(t, how), media, t.clone())).collect(),
            env: vec!["PATH=/usr/bin:/bin".into()],
            history: Vec::new(),
            arch: "amd64",
        }
    }
}

impl Layout {
    /// A new empty layout under `dir`.
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).expect("mkdir");
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("write");
        Layout { dir: dir.to_owned(), index: Vec::new() }
    }

    /// Writes a blob, returns its descriptor JSON.
    pub fn blob(&self, data: &[u8], media_type: &str) -> serde_json::Value {
        let d = digest(data);
        std::fs::write(self.dir.join("blobs/sha256").join(&d["sha256:".len()..]), data)
            .expect("write blob");
        serde_json::json!({"mediaType": media_type, "digest": d, "size": data.len()})
    }

    /// Writes an image's blobs and manifest; returns the manifest descriptor.
    pub fn manifest(&self, spec: &ImageSpec) -> serde_json::Value {
        let layers: Vec<serde_json::Value> =
            spec.layers.iter().map(|(blob, media, _)| self.blob(blob, media)).collect();
        let diff_ids: Vec<String> = spec.layers.iter().map(|(_, _, tar)| digest(tar)).collect();
        let history: Vec<serde_json::Value> = spec
            .history
            .iter()
            .map(|h| serde_json::json!({"created": "2024-01-01T00:00:00Z", "created_by": h, "empty_layer": true}))
            .collect();
        let config = serde_json::json!({
            "created": "2024-01-01T00:00:00Z", "architecture": spec.arch, "os": "linux",
            "config": {"Env": spec.env, "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        });
        let config =
            self.blob(config.to_string().as_bytes(), "application/vnd.oci.image.config.v1+json");
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config, "layers": layers,
        });
        self.blob(manifest.to_string().as_bytes(), "application/vnd.oci.image.manifest.v1+json")
    }

    /// Tags a descriptor (manifest or index) in `index.json`.
    pub fn tag(&mut self, mut desc: serde_json::Value, tag: &str) {
        desc["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
        self.index.push(desc);
        let index = serde_json::json!({"schemaVersion": 2, "manifests": self.index});
        std::fs::write(self.dir.join("index.json"), index.to_string()).expect("write index");
    }

    /// Writes an index over platform manifests (descriptor, arch); returns its descriptor.
    pub fn index(&self, manifests: &[(serde_json::Value, &str)]) -> serde_json::Value {
        let entries: Vec<serde_json::Value> = manifests
            .iter()
            .map(|(m, arch)| {
                let mut m = m.clone();
                m["platform"] = serde_json::json!({"architecture": arch, "os": "linux"});
                m
            })
            .collect();
        let index = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        });
        self.blob(index.to_string().as_bytes(), "application/vnd.oci.image.index.v1+json")
    }
}

/// A server that answers every request with `status` (the distribution registry cannot be made
/// to fail on purpose; this stands in for a registry having an outage). Returns its address.
pub fn failing_server(status: u16) -> String {
    answering_server(status, String::new())
}

/// A server that answers every request with `status` and the header lines `headers` (each
/// ending in `\r\n`). Returns its address.
pub fn answering_server(status: u16, headers: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} Oops\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    addr
}

/// [`FaultyProxy`] status: drop the connection without an answer.
pub const DROP: u16 = 0;
/// [`FaultyProxy`] status: forward, but cut the body off after 100 bytes.
pub const CUT_BODY: u16 = 1;
/// [`FaultyProxy`] status: forward the headers at once, then the body 1 byte per second.
pub const TRICKLE: u16 = 2;
/// [`FaultyProxy`] status: read the request, then answer nothing (for at most a minute).
pub const STALL: u16 = 3;

/// A fault-injecting HTTP proxy in front of a real registry. It is the mock here because
/// docker-registry cannot be made to rate-limit, fail or drop connections on purpose: the first
/// `count` requests whose path contains `pattern` get `status` (with `Retry-After` when given;
/// or [`DROP`], [`CUT_BODY`]), and everything else is forwarded to the registry unchanged, one
/// request per connection.
pub struct FaultyProxy {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// How many requests got the injected answer.
    pub injected: Arc<std::sync::atomic::AtomicUsize>,
}

impl FaultyProxy {
    /// Starts a proxy to `upstream` (`host:port`).
    pub fn start(
        upstream: &str,
        pattern: &'static str,
        status: u16,
        retry_after: Option<&'static str>,
        count: usize,
    ) -> FaultyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let injected = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (upstream, counter) = (upstream.to_owned(), Arc::clone(&injected));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, counter) = (upstream.clone(), Arc::clone(&counter));
                std::thread::spawn(move || {
                    let fault = Fault { pattern, status, retry_after, count, counter };
                    let _ = proxy_one(client, &upstream, &fault);
                });
            }
        });
        FaultyProxy { addr, injected }
    }

    /// How many requests got the injected answer so far.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }
}

struct Fault {
    pattern: &'static str,
    status: u16,
    retry_after: Option<&'static str>,
    count: usize,
    counter: Arc<std::sync::atomic::AtomicUsize>,
}

fn proxy_one(client: TcpStream, upstream: &str, fault: &Fault) -> std::io::Result<()> {
    let mut first = [0u8; 1];
    // A TLS handshake (the client probing HTTPS first): no answer, like a plain-HTTP registry.
    if client.peek(&mut first)? == 0 || first[0] == 0x16 {
        return Ok(());
    }
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut request_line = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if request_line.is_empty() {
            request_line.clone_from(&line);
        }
        if line == "\r\n" {
            break;
        }
        if !line.to_ascii_lowercase().starts_with("connection:") {
            head.extend_from_slice(line.as_bytes());
        }
    }
    let path = request_line.split(' ').nth(1).unwrap_or_default();
    let mut client = client;
    let faulty = path.contains(fault.pattern)
        && fault
            .counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < fault.count).then_some(n + 1)
            })
            .is_ok();
    if faulty && !matches!(fault.status, CUT_BODY | TRICKLE) {
        if fault.status == DROP {
            return client.shutdown(std::net::Shutdown::Both);
        }
        if fault.status == STALL {
            // Until the client gives up (a read then sees its close), a minute at most.
            client.set_read_timeout(Some(Duration::from_secs(60)))?;
            let _ = client.read(&mut [0u8; 1]);
            return Ok(());
        }
        let retry_after =
            fault.retry_after.map(|v| format!("Retry-After: {v}\r\n")).unwrap_or_default();
        return write!(
            client,
            "HTTP/1.1 {} Injected\r\n{retry_after}Content-Length: 0\r\nConnection: close\r\n\r\n",
            fault.status
        );
    }
    let mut registry = TcpStream::connect(upstream)?;
    head.extend_from_slice(b"Connection: close\r\n\r\n");
    registry.write_all(&head)?;
    if faulty {
        let mut answer = Vec::new();
        registry.read_to_end(&mut answer)?;
        let body = answer.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |i| i + 4);
        if fault.status == TRICKLE {
            client.write_all(&answer[..body])?;
            // Ends when the client hangs up (a write fails), or after a minute.
            for byte in answer[body..].iter().take(60) {
                client.write_all(std::slice::from_ref(byte))?;
                std::thread::sleep(Duration::from_secs(1));
            }
            return client.shutdown(std::net::Shutdown::Both);
        }
        client.write_all(&answer[..(body + 100).min(answer.len())])?;
        return client.shutdown(std::net::Shutdown::Both);
    }
    std::io::copy(&mut registry, &mut client)?;
    Ok(())
}

/// `openssl s_server` on 127.0.0.1 with a self-signed certificate no client trusts: it writes
/// what it receives to a log and answers nothing (a token server whose TLS cannot be verified).
/// Stopped on drop.
pub struct UntrustedTls {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    log: PathBuf,
    child: Child,
    _dir: TempDir,
}

impl UntrustedTls {
    /// Starts it.
    pub fn start() -> UntrustedTls {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        self_signed(d, "untrusted", "/CN=127.0.0.1", &["-addext", "subjectAltName=IP:127.0.0.1"]);
        let log = d.join("received.log");
        for _ in 0..20 {
            let addr = format!("127.0.0.1:{}", free_port());
            let mut child = Command::new("openssl")
                .current_dir(d)
                .args([
                    "s_server",
                    "-quiet",
                    "-cert",
                    "untrusted.pem",
                    "-key",
                    "untrusted.key",
                    "-accept",
                ])
                .arg(&addr)
                .stdin(Stdio::piped())
                .stdout(std::fs::File::create(&log).expect("log"))
                .stderr(Stdio::null())
                .spawn()
                .expect("openssl runs");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(&addr).is_ok() {
                    return UntrustedTls { addr, log, child, _dir: dir };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("openssl s_server did not start");
    }

    /// What it received so far (decrypted).
    pub fn received(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }
}

impl Drop for UntrustedTls {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes a self-signed RSA certificate `NAME.pem` and its key `NAME.key` in `dir` for `subject`,
/// with `extra` arguments to `openssl req` (such as `-addext`).
/// A throwaway CA (`ca.pem`) and a leaf certificate it signed for 127.0.0.1 (`srv.pem`, key
/// `srv.key`), in `d`: rustls refuses a self-signed CA used as the server's certificate.
pub fn ca_and_leaf(d: &Path) {
    self_signed(d, "ca", "/CN=test-ca", &[]);
    run(Command::new("openssl").current_dir(d).args([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
    ]));
    std::fs::write(
            d.join("srv.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write ext");
    run(Command::new("openssl").current_dir(d).args([
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "srv.ext",
        "-out",
        "srv.pem",
    ]));
}

fn self_signed(dir: &Path, name: &str, subject: &str, extra: &[&str]) {
    run(Command::new("openssl")
        .current_dir(dir)
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", subject])
        .args(extra)
        .args(["-keyout", &format!("{name}.key"), "-out", &format!("{name}.pem")]));
}
