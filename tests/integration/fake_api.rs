//! A small HTTP/1.1 server on 127.0.0.1 standing in for a provider's API in the `--verify` tests
//! (#16): each test gives it a handler written from that provider's documented request and
//! response shapes, and reads back what was asked of it.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET /path HTTP/1.1`.
    pub line: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
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
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake API");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let handler: Arc<Handler> = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, handler) = (Arc::clone(&seen), Arc::clone(&handler));
                std::thread::spawn(move || serve(stream, &*handler, &seen));
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

fn serve(stream: TcpStream, handler: &Handler, seen: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
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
    let request = Request { line: line.trim().to_owned(), headers };
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
        Reply::Answer(status, extra, body) => (status, extra, body),
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
