//! A small HTTP/1.1 server on 127.0.0.1 standing in for a provider's API in the `--verify` tests
//! (#16) and for GitLab's REST API in the `gitlab` tests (#20): each test gives it a handler
//! written from that provider's documented request and response shapes, and reads back what was
//! asked of it. Bodies may be binary either way (git's smart HTTP, served by a CGI).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET /path HTTP/1.1`.
    pub line: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body, as far as `Content-Length` says (or de-chunked), as text.
    pub body: String,
    /// The same body as bytes.
    pub bytes: Vec<u8>,
}

impl Request {
    /// The value of header `name` (lowercase), or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
    }
}

/// How the fake answers one request.
pub enum Reply {
    /// Status line (`200 OK`), extra header lines (each ending in `\r\n`), body.
    Answer(&'static str, String, String),
    /// The same with any status and a binary body (what a CGI answered).
    Bytes(String, String, Vec<u8>),
    /// Never answers (for 30 s).
    Hang,
    /// Closes the connection without answering.
    Reset,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: &'static str, body: &str) -> Reply {
        Reply::Answer(status, "Content-Type: application/json\r\n".into(), body.into())
    }
}

type Handler = dyn Fn(&Request, usize) -> Reply + Send + Sync;

/// The running fake.
pub struct FakeApi {
    /// Its port on 127.0.0.1.
    pub port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl FakeApi {
    /// Serves every request with `handler(request, how many requests so far, this one included)`.
    pub fn start(handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> FakeApi {
        FakeApi::serve_with(None, handler)
    }

    /// The same over TLS with `config` (see [`tls_config`]).
    pub fn start_tls(
        config: Arc<rustls::ServerConfig>,
        handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static,
    ) -> FakeApi {
        FakeApi::serve_with(Some(config), handler)
    }

    fn serve_with(
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static,
    ) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake API");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let handler: Arc<Handler> = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, handler, tls) = (Arc::clone(&seen), Arc::clone(&handler), tls.clone());
                std::thread::spawn(move || match tls {
                    None => serve(stream, &*handler, &seen),
                    Some(config) => {
                        let Ok(session) = rustls::ServerConnection::new(config) else { return };
                        serve(rustls::StreamOwned::new(session, stream), &*handler, &seen);
                    }
                });
            }
        });
        FakeApi { port, requests }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("lock").clone()
    }
}

/// A TLS server config for `srv.pem` (the chain) and `srv.key` in `dir`.
pub fn tls_config(dir: &std::path::Path) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.join("srv.pem")).expect("cert").flatten().collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("srv.key")).expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    Arc::new(config)
}

fn serve(stream: impl Read + Write, handler: &Handler, seen: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        let Some(body) = read_chunks(&mut reader) else { return };
        body
    } else {
        let length =
            headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok());
        let mut body = vec![0; length.unwrap_or(0)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        body
    };
    let request = Request {
        line: line.trim().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        bytes: body,
    };
    let count = {
        let mut seen = seen.lock().expect("lock");
        seen.push(request.clone());
        seen.len()
    };
    let (status, extra, body) = match handler(&request, count) {
        Reply::Hang => {
            std::thread::sleep(Duration::from_secs(30));
            return;
        }
        Reply::Reset => return,
        Reply::Answer(status, extra, body) => (status.to_owned(), extra, body.into_bytes()),
        Reply::Bytes(status, extra, body) => (status, extra, body),
    };
    let stream = reader.get_mut();
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(&body);
    let _ = stream.flush();
}

/// A `Transfer-Encoding: chunked` body (git sends one when a request outgrows its buffer).
fn read_chunks(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
        let mut chunk = vec![0; size + 2];
        if size == 0 {
            // The trailer section ends with an empty line.
            let mut end = String::new();
            reader.read_line(&mut end).ok()?;
            return Some(body);
        }
        reader.read_exact(&mut chunk).ok()?;
        body.extend_from_slice(&chunk[..size]);
    }
}
