//! Registries, through `oci-client`: anonymous, basic and bearer-token auth (the flow Harbor and
//! the distribution registry use), TLS verified by default, `--insecure-registry` (plain HTTP or
//! an untrusted certificate) and `--ca-cert`. Manifests and indexes are fetched raw and parsed by
//! [`super::manifest`]; layers are streamed from the client into a blocking reader, so a layer
//! is never buffered whole. 429 and 5xx answers are retried with exponential backoff (oci-client
//! 0.18 keeps response headers to itself, so `Retry-After` cannot be honoured yet); a 401 in the
//! middle of a pull (an expired token) re-authenticates once.
//!
//! Must not depend on the engine.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use super::auth::{self, Credentials};
use super::manifest::{self, Descriptor};
use super::{BlobStore, Plan, plans_of};

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Credentials from `--username`/`--password-stdin` (or the environment), for every
    /// registry on the command line.
    pub credentials: Option<Credentials>,
    /// Allow plain HTTP or an untrusted certificate for the registries on the command line.
    pub insecure: bool,
    /// Extra trusted CA certificates (PEM).
    pub ca_certs: Vec<Vec<u8>>,
    /// Retries of a 429/5xx answer or a timeout before the image fails.
    pub retries: u32,
    /// First backoff delay; doubled on every retry.
    pub backoff: Duration,
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
    client: Client,
    auth: RegistryAuth,
}

impl Registry {
    /// A runtime and the TLS provider.
    pub fn new(options: RegistryOptions) -> Result<Registry, String> {
        // rustls needs a process-wide crypto provider; a second install is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
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
        let store = RemoteStore { registry: self, remote, reference: reference.clone() };
        let (data, digest) = store.pull_manifest(&reference)?;
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
    /// HTTPS without verification is tried first, then plain HTTP).
    fn remote(&self, reference: &Reference) -> Result<Arc<Remote>, String> {
        let host = reference.resolve_registry().to_owned();
        if let Some(remote) = lock(&self.clients).get(&host) {
            return Ok(Arc::clone(remote));
        }
        let creds = auth::resolve(
            reference.registry(),
            self.options.credentials.as_ref(),
            self.options.docker_config.as_deref(),
        )?;
        let auth = match creds {
            Some(c) => RegistryAuth::Basic(c.username, c.password),
            None => RegistryAuth::Anonymous,
        };
        let mut remote = Remote { client: self.client(ClientProtocol::Https), auth };
        if self.options.insecure {
            let probe = self.runtime.block_on(remote.client.auth(
                reference,
                &remote.auth,
                RegistryOperation::Pull,
            ));
            if let Err(OciDistributionError::RequestError(e)) = &probe
                && (e.is_connect() || e.is_request())
            {
                remote.client = self.client(ClientProtocol::Http);
            }
        }
        let remote = Arc::new(remote);
        lock(&self.clients).insert(host, Arc::clone(&remote));
        Ok(remote)
    }

    fn client(&self, protocol: ClientProtocol) -> Client {
        let config = ClientConfig {
            protocol,
            accept_invalid_certificates: self.options.insecure,
            extra_root_certificates: self
                .options
                .ca_certs
                .iter()
                .map(|pem| Certificate { encoding: CertificateEncoding::Pem, data: pem.clone() })
                .collect(),
            platform_resolver: None,
            connect_timeout: Some(Duration::from_secs(15)),
            read_timeout: Some(Duration::from_secs(120)),
            ..ClientConfig::default()
        };
        Client::new(config)
    }

    /// Runs `op`, retrying 429/5xx/timeouts with backoff and a 401 once after re-authenticating.
    fn retry<T, F, Fut>(
        &self,
        remote: &Remote,
        reference: &Reference,
        mut op: F,
    ) -> Result<T, String>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        let mut delay = self.options.backoff;
        let mut reauthenticated = false;
        let mut attempt = 0;
        loop {
            match self.runtime.block_on(op()) {
                Ok(v) => return Ok(v),
                Err(e) if is_unauthorized(&e) && !reauthenticated => {
                    // The first 401 may be a token that expired mid-pull: ask for a fresh one
                    // and try once more; a second 401 is a real refusal.
                    reauthenticated = true;
                    let _ = self.runtime.block_on(remote.client.auth(
                        reference,
                        &remote.auth,
                        RegistryOperation::Pull,
                    ));
                }
                Err(e) if is_transient(&e) && attempt < self.options.retries => {
                    attempt += 1;
                    std::thread::sleep(delay);
                    delay = delay.saturating_mul(2);
                }
                Err(e) => return Err(describe(&e, reference, &remote.auth, attempt)),
            }
        }
    }
}

/// Blobs of one repository.
struct RemoteStore<'r> {
    registry: &'r Registry,
    remote: Arc<Remote>,
    reference: Reference,
}

impl RemoteStore<'_> {
    fn pull_manifest(&self, reference: &Reference) -> Result<(Vec<u8>, String), String> {
        let client = &self.remote.client;
        let auth = &self.remote.auth;
        self.registry
            .retry(&self.remote, reference, || async {
                client.pull_manifest_raw(reference, auth, manifest::ACCEPTED).await
            })
            .map(|(data, digest)| (data.to_vec(), digest))
    }
}

impl BlobStore for RemoteStore<'_> {
    fn open(&self, desc: &Descriptor) -> Result<(Box<dyn Read + Send + '_>, bool), String> {
        let oci = OciDescriptor {
            media_type: desc.media_type.clone(),
            digest: desc.digest.clone(),
            size: i64::try_from(desc.size).unwrap_or(i64::MAX),
            ..OciDescriptor::default()
        };
        let client = &self.remote.client;
        let reference = &self.reference;
        let stream = self.registry.retry(&self.remote, reference, || async {
            client.pull_blob_stream(reference, &oci).await
        })?;
        let reader = StreamReader {
            handle: self.registry.runtime.handle().clone(),
            stream: stream.stream,
            chunk: bytes::Bytes::new(),
            ended: false,
        };
        // oci-client's stream checks the digest when it ends.
        Ok((Box::new(reader), true))
    }

    fn manifest(&self, desc: &Descriptor) -> Result<Vec<u8>, String> {
        let by_digest = self.reference.clone_with_digest(desc.digest.clone());
        let (data, digest) = self.pull_manifest(&by_digest)?;
        if digest != desc.digest {
            return Err(format!("the registry served manifest {digest} for {}", desc.digest));
        }
        Ok(data)
    }
}

/// A blocking reader over the client's byte stream (runs on a scanning thread, never inside
/// the runtime).
struct StreamReader {
    handle: tokio::runtime::Handle,
    stream: futures_util::stream::BoxStream<'static, Result<bytes::Bytes, io::Error>>,
    chunk: bytes::Bytes,
    /// Set once the stream ended: polling it again would verify the digest a second time.
    ended: bool,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.handle.block_on(self.stream.next()) {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => {
                    self.ended = true;
                    return Err(e);
                }
                None => {
                    self.ended = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

fn status_of(e: &OciDistributionError) -> Option<u16> {
    match e {
        OciDistributionError::ServerError { code, .. } => Some(*code),
        OciDistributionError::UnauthorizedError { .. } => Some(401),
        OciDistributionError::RegistryError { envelope, .. } => {
            envelope.errors.iter().find_map(|err| {
                let code = format!("{:?}", err.code).to_ascii_uppercase();
                if code.contains("TOOMANY") {
                    Some(429)
                } else if code.contains("DENIED") {
                    Some(403)
                } else if code.contains("UNAUTHORIZED") {
                    Some(401)
                } else if code.contains("UNKNOWN") {
                    Some(404)
                } else {
                    None
                }
            })
        }
        OciDistributionError::ImageManifestNotFoundError(_) => Some(404),
        _ => None,
    }
}

fn is_unauthorized(e: &OciDistributionError) -> bool {
    status_of(e) == Some(401)
}

fn is_transient(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RequestError(r) => r.is_timeout(),
        _ => status_of(e).is_some_and(|s| s == 429 || s >= 500),
    }
}

/// The error in words a user can act on; never includes credentials.
fn describe(
    e: &OciDistributionError,
    reference: &Reference,
    auth: &RegistryAuth,
    retried: u32,
) -> String {
    let host = reference.registry();
    let with_creds = !matches!(auth, RegistryAuth::Anonymous);
    let after = if retried > 0 { format!(" (after {retried} retries)") } else { String::new() };
    match (e, status_of(e)) {
        (OciDistributionError::AuthenticationFailure(_), _) | (_, Some(401)) => {
            if with_creds {
                format!(
                    "{host} refused the credentials (401 unauthorized): check --username and \
                     --password-stdin, {} / {}, or your docker login",
                    auth::ENV_USER,
                    auth::ENV_PASSWORD
                )
            } else {
                format!(
                    "{host} requires authentication (401 unauthorized): pass --username and \
                     --password-stdin, set {} / {}, or docker login",
                    auth::ENV_USER,
                    auth::ENV_PASSWORD
                )
            }
        }
        (_, Some(403)) => format!(
            "{host} denied access to {} (403 forbidden): the account lacks pull permission",
            reference.repository()
        ),
        (_, Some(404)) => format!(
            "{} not found on {host} (404): check the repository, tag or digest",
            reference.whole()
        ),
        (_, Some(429)) => {
            format!("{host} is rate limiting requests (429 too many requests){after}: try later")
        }
        (_, Some(code)) if code >= 500 => {
            format!("{host} answered {code} (server error){after}: try again later")
        }
        (OciDistributionError::RequestError(r), _) if r.is_connect() => {
            let detail = source_chain(r);
            if detail.contains("refused") {
                format!("cannot connect to {host}: connection refused (is the registry running?)")
            } else if detail.contains("certificate") || detail.contains("Certificate") {
                format!(
                    "TLS verification of {host} failed ({detail}): add its CA with --ca-cert FILE, \
                     or use --insecure-registry"
                )
            } else {
                format!(
                    "cannot connect to {host} ({detail}); for a plain-HTTP registry use \
                     --insecure-registry"
                )
            }
        }
        (OciDistributionError::RequestError(r), _) if r.is_timeout() => {
            format!("{host} timed out{after}")
        }
        (OciDistributionError::RequestError(r), _) => {
            format!("request to {host} failed: {}", source_chain(r))
        }
        (OciDistributionError::DigestError(d), _) => format!("digest check failed: {d}"),
        _ => format!("registry {host}: {e}"),
    }
}

/// An error and its causes, joined (reqwest hides the interesting part in `source`).
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        parts.push(c.to_string());
        cause = c.source();
    }
    parts.join(": ")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
