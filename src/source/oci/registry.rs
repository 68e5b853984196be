//! Registries: anonymous, basic and bearer-token auth (the flow Harbor and the distribution
//! registry use), TLS verified by default, `--insecure-registry` (plain HTTP or an untrusted
//! certificate) and `--ca-cert`. Every request goes through the project's one registry HTTP
//! client ([`crate::source::http`]), so pulls and the sweep's listing share one retry policy:
//! `Retry-After` honoured on 429/503, backoff on 5xx and dropped connections, a token renewed
//! when it expires mid-pull. (oci-client, which hides response headers from its callers, only
//! parses references here.) Manifests and indexes are fetched raw and parsed by
//! [`super::manifest`]; layers are streamed from the response into a blocking reader, so a layer
//! is never buffered whole, and hashed by the layer reader.
//!
//! Must not depend on the engine.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use oci_client::Reference;

use super::auth::{self, Credentials};
use super::manifest::{self, Descriptor};
use super::{BlobStore, DigestOf, MAX_SMALL_BLOB, Plan, archive, plans_of};
use crate::source::http::{
    HttpError, HttpOptions, Insecure, Notify, Pace, RegistryHttp, Retry, Transfer, TransferError,
    host_port,
};

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Credentials from `--username`/`--password-stdin` (or the environment), for every
    /// registry on the command line.
    pub credentials: Option<Credentials>,
    /// Which registries (and token servers) may be reached over plain HTTP or with an
    /// untrusted certificate.
    pub insecure: Insecure,
    /// Extra trusted CA certificates (PEM).
    pub ca_certs: Vec<Vec<u8>>,
    /// When and how long to retry (shared with the sweep's listing).
    pub retry: Retry,
    /// Deadline and minimum transfer rate of each request.
    pub pace: Pace,
    /// Where waits before retries are announced.
    pub notify: Notify,
    /// The docker config file to read credentials from.
    pub docker_config: Option<PathBuf>,
}

/// Registry access for one run: a runtime for the async client and one client per registry.
pub struct Registry {
    runtime: tokio::runtime::Runtime,
    options: RegistryOptions,
    clients: Mutex<HashMap<String, Arc<Remote>>>,
}

struct Remote {
    http: RegistryHttp,
    /// `host[:port]` as the user wrote it, for messages.
    host: String,
    with_credentials: bool,
}

impl Registry {
    /// A runtime and the TLS provider.
    pub fn new(options: RegistryOptions) -> Result<Registry, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the network runtime: {e}"))?;
        Ok(Registry { runtime, options, clients: Mutex::default() })
    }

    /// Resolves `text` (tag or digest) to the images to scan.
    pub fn open(
        &self,
        text: &str,
        platform: Option<&str>,
    ) -> Result<(Box<dyn BlobStore + '_>, Vec<Plan>), String> {
        let reference: Reference =
            text.parse().map_err(|e| format!("invalid image reference: {e}"))?;
        let remote = self.remote(&reference)?;
        let repository = reference.repository().to_owned();
        let store = RemoteStore {
            registry: self,
            scope: format!("repository:{repository}:pull"),
            repository,
            whole: reference.whole(),
            remote,
        };
        let wanted = reference.digest().or(reference.tag()).unwrap_or("latest");
        let (data, digest) = store.pull_manifest(wanted)?;
        if let Some(wanted) = reference.digest()
            && wanted != digest
        {
            return Err(format!("the registry served manifest {digest} for {wanted}"));
        }
        let parsed = manifest::parse(&data, None)?;
        let plans = plans_of(&store, parsed, &digest, platform)?;
        Ok((Box::new(store), plans))
    }

    /// The client for `reference`'s registry, made on first use (for an insecure registry,
    /// HTTPS without verification when something answers it, else plain HTTP).
    fn remote(&self, reference: &Reference) -> Result<Arc<Remote>, String> {
        let host = reference.resolve_registry().to_owned();
        if let Some(remote) = lock(&self.clients).get(&host) {
            return Ok(Arc::clone(remote));
        }
        let credentials = auth::resolve(
            reference.registry(),
            self.options.credentials.as_ref(),
            self.options.docker_config.as_deref(),
        )?;
        let with_credentials = credentials.is_some();
        let options = HttpOptions {
            insecure: self.options.insecure.clone(),
            ca_cert: (!self.options.ca_certs.is_empty())
                .then(|| self.options.ca_certs.join(&b'\n')),
            credentials,
            retry: self.options.retry,
            pace: self.options.pace,
            notify: self.options.notify.clone(),
        };
        let client = |base: &str| {
            RegistryHttp::new(base, &options).map_err(|e| format!("registry {host}: {e}"))
        };
        let mut http = client(&format!("https://{host}"))?;
        if self.options.insecure.registry(&host) && !self.runtime.block_on(http.answers()) {
            http = client(&format!("http://{host}"))?;
        }
        let remote =
            Arc::new(Remote { http, host: reference.registry().to_owned(), with_credentials });
        lock(&self.clients).insert(host, Arc::clone(&remote));
        Ok(remote)
    }
}

/// Blobs of one repository.
struct RemoteStore<'r> {
    registry: &'r Registry,
    remote: Arc<Remote>,
    repository: String,
    /// The token scope pulls need.
    scope: String,
    /// The reference as given, for messages.
    whole: String,
}

impl RemoteStore<'_> {
    /// GETs `/v2/REPO/KIND/REFERENCE`.
    fn get(&self, kind: &str, reference: &str, accept: &[&str]) -> Result<Body, String> {
        let path = format!("/v2/{}/{kind}/{reference}", self.repository);
        let mut transfer = self.remote.http.transfer();
        let response = self
            .registry
            .runtime
            .block_on(self.remote.http.open(&path, &self.scope, accept, 0, &mut transfer))
            .map_err(|e| self.describe(&e))?;
        Ok(Body {
            handle: self.registry.runtime.handle().clone(),
            response,
            transfer,
            chunk: bytes::Bytes::new(),
            remote: Arc::clone(&self.remote),
            path,
            scope: self.scope.clone(),
            received: 0,
            skip: 0,
            resumed: 0,
            failed: None,
        })
    }

    /// A manifest or index by tag or digest, and the digest of its bytes.
    fn pull_manifest(&self, reference: &str) -> Result<(Vec<u8>, String), String> {
        let body = self.get("manifests", reference, manifest::ACCEPTED)?;
        let mut data = Vec::new();
        body.take(MAX_SMALL_BLOB + 1).read_to_end(&mut data).map_err(|e| {
            format!("cannot read manifest {reference} from {}: {e}", self.remote.host)
        })?;
        if data.len() as u64 > MAX_SMALL_BLOB {
            return Err(format!("manifest {reference} is larger than {MAX_SMALL_BLOB} bytes"));
        }
        let digest = archive::digest_of(&data);
        Ok((data, digest))
    }

    /// The error in words a user can act on; never includes credentials.
    fn describe(&self, e: &HttpError) -> String {
        let host = &self.remote.host;
        let after = |n: u32| if n > 0 { format!(" (after {n} retries)") } else { String::new() };
        match e {
            HttpError::Unauthorized { status: 403, .. } => format!(
                "{host} denied access to {} (403 forbidden): the account lacks pull permission",
                self.repository
            ),
            HttpError::Unauthorized { .. } if self.remote.with_credentials => format!(
                "{host} refused the credentials (401 unauthorized): check --username and \
                 --password-stdin, {} / {}, or your docker login",
                auth::ENV_USER,
                auth::ENV_PASSWORD
            ),
            HttpError::Unauthorized { .. } => format!(
                "{host} requires authentication (401 unauthorized): pass --username and \
                 --password-stdin, set {} / {}, or docker login",
                auth::ENV_USER,
                auth::ENV_PASSWORD
            ),
            HttpError::Status { status: 404, .. } => {
                format!(
                    "{} not found on {host} (404): check the repository, tag or digest",
                    self.whole
                )
            }
            HttpError::Status { status: 429, retries, .. } => format!(
                "{host} is rate limiting requests (429 too many requests){}: try later",
                after(*retries)
            ),
            HttpError::Status { status, retries, .. } if *status >= 500 => format!(
                "{host} answered {status} (server error){}: try again later",
                after(*retries)
            ),
            HttpError::Slow { message, retries, .. } => {
                format!("{host}: {message}{}", after(*retries))
            }
            HttpError::Connect { message, .. } if message.contains("refused") => {
                format!("cannot connect to {host}: connection refused (is the registry running?)")
            }
            HttpError::Connect { url, message, .. }
                if (message.contains("certificate") || message.contains("Certificate"))
                    && !url.starts_with(self.remote.http.base()) =>
            {
                let server =
                    reqwest::Url::parse(url).map_or_else(|_| url.clone(), |u| host_port(&u));
                format!(
                    "TLS verification of the token server {server} failed ({message}): add its \
                     CA with --ca-cert FILE, or pass --insecure-registry={server}"
                )
            }
            HttpError::Connect { message, .. }
                if message.contains("certificate") || message.contains("Certificate") =>
            {
                format!(
                    "TLS verification of {host} failed ({message}): add its CA with --ca-cert \
                     FILE, or use --insecure-registry"
                )
            }
            HttpError::Connect { message, retries: 0, .. } => format!(
                "cannot connect to {host} ({message}); for a plain-HTTP registry use \
                 --insecure-registry"
            ),
            HttpError::Connect { message, retries, .. } => {
                format!("lost the connection to {host} ({message}){}", after(*retries))
            }
            _ => format!("registry {host}: {e}"),
        }
    }
}

impl BlobStore for RemoteStore<'_> {
    fn open(&self, desc: &Descriptor) -> Result<(Box<dyn Read + Send + '_>, DigestOf), String> {
        // Not verified in transit: the layer reader hashes what it reads.
        Ok((Box::new(self.get("blobs", &desc.digest, &[])?), DigestOf::Blob))
    }

    fn manifest(&self, desc: &Descriptor) -> Result<Vec<u8>, String> {
        let (data, digest) = self.pull_manifest(&desc.digest)?;
        if digest != desc.digest {
            return Err(format!("the registry served manifest {digest} for {}", desc.digest));
        }
        Ok(data)
    }
}

/// A blocking reader over a response body (runs on a scanning thread, never inside the
/// runtime). A body that breaks off (a connection reset mid-layer) is resumed where it stopped
/// with a `Range` request, as often as the retry policy allows; the layer reader's digest check
/// covers the joined bytes.
struct Body {
    handle: tokio::runtime::Handle,
    response: reqwest::Response,
    /// The request's deadline and rate window, kept across resumptions.
    transfer: Transfer,
    chunk: bytes::Bytes,
    remote: Arc<Remote>,
    path: String,
    scope: String,
    /// Bytes handed out so far.
    received: u64,
    /// Bytes to drop from the current response (a server that ignored `Range`).
    skip: u64,
    /// Resumptions so far.
    resumed: u32,
    /// The error that ended the body, once it did.
    failed: Option<String>,
}

impl Body {
    /// Asks again for the rest after `error`, or gives up with it (past the deadline, or when
    /// the retries are used up).
    fn resume(&mut self, error: &TransferError) -> io::Result<()> {
        let broken = |resumed: u32| {
            let after =
                if resumed > 0 { format!(" (after {resumed} retries)") } else { String::new() };
            io::Error::other(format!("{error}{after}"))
        };
        let http = &self.remote.http;
        let why = match error {
            TransferError::Deadline(_) => return Err(broken(self.resumed)),
            TransferError::Broken(_) => format!("the body broke off after {} bytes", self.received),
            TransferError::TooSlow(_) => {
                format!("the body stalled after {} bytes ({error})", self.received)
            }
        };
        if !self.handle.block_on(http.pause_before_resuming(&self.path, self.resumed, &why)) {
            return Err(broken(self.resumed));
        }
        self.resumed += 1;
        let response = self
            .handle
            .block_on(http.open(&self.path, &self.scope, &[], self.received, &mut self.transfer))
            .map_err(|e| {
                io::Error::other(format!("{}; resuming failed: {e}", broken(self.resumed)))
            })?;
        let expected = format!("bytes {}-", self.received);
        let range = response.headers().get(reqwest::header::CONTENT_RANGE);
        if response.status() == reqwest::StatusCode::PARTIAL_CONTENT
            && range.and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with(&expected))
        {
            self.skip = 0;
        } else if response.status() == reqwest::StatusCode::OK {
            self.skip = self.received;
        } else {
            return Err(io::Error::other(format!(
                "{}; the resumed answer is unusable",
                broken(self.resumed)
            )));
        }
        self.response = response;
        Ok(())
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(failed) = &self.failed {
            return Err(io::Error::other(failed.clone()));
        }
        while self.chunk.is_empty() {
            match self.handle.block_on(self.transfer.chunk(&mut self.response)) {
                Ok(Some(mut chunk)) => {
                    let drop = usize::try_from(self.skip).unwrap_or(usize::MAX).min(chunk.len());
                    self.skip -= drop as u64;
                    self.chunk = chunk.split_off(drop);
                }
                Ok(None) => return Ok(0),
                Err(e) => {
                    if let Err(failed) = self.resume(&e) {
                        // Readers drain a body after an error: they get this one at once
                        // instead of another wait for a stalled registry.
                        self.failed = Some(failed.to_string());
                        return Err(failed);
                    }
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        self.received += n as u64;
        Ok(n)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
