//! Sweep fixtures on top of `registry.rs` (the real distribution registry): a pusher that
//! writes images straight through the registry API (a sweep test pushes dozens of images;
//! skopeo runs would cost ~0.1 s each), and the fake Harbor REST API (`fake_harbor.py`) in front
//! of a registry.

#![allow(dead_code)] // each test uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::registry::{Compression, Registry, compress, digest};

/// A pushed blob's descriptor.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub size: usize,
}

/// Pushes images over HTTP with a blocking wrapper around the async client.
pub struct Pusher {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    base: String,
}

impl Pusher {
    /// A pusher for the registry at `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> Pusher {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        Pusher { runtime, client: reqwest::Client::new(), base: base.to_owned() }
    }

    /// Uploads a blob (monolithic upload) unless the registry has it.
    pub fn blob(&self, repo: &str, data: &[u8]) -> Pushed {
        let digest = digest(data);
        self.runtime.block_on(async {
            let head = self
                .client
                .head(format!("{}/v2/{repo}/blobs/{digest}", self.base))
                .send()
                .await
                .expect("HEAD blob");
            if !head.status().is_success() {
                let start = self
                    .client
                    .post(format!("{}/v2/{repo}/blobs/uploads/", self.base))
                    .send()
                    .await
                    .expect("start upload");
                assert_eq!(start.status().as_u16(), 202, "start upload");
                let location = start.headers()["location"].to_str().expect("location").to_owned();
                let location = if location.starts_with("http") {
                    location
                } else {
                    format!("{}{location}", self.base)
                };
                let sep = if location.contains('?') { '&' } else { '?' };
                let put = self
                    .client
                    .put(format!("{location}{sep}digest={digest}"))
                    .header("content-type", "application/octet-stream")
                    .body(data.to_vec())
                    .send()
                    .await
                    .expect("PUT blob");
                assert_eq!(put.status().as_u16(), 201, "PUT blob {digest}");
            }
        });
        Pushed { digest, size: data.len() }
    }

    /// Pushes a manifest under `reference` (tag or digest) and returns its digest.
    pub fn manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> String {
        self.runtime.block_on(async {
            let put = self
                .client
                .put(format!("{}/v2/{repo}/manifests/{reference}", self.base))
                .header("content-type", media_type)
                .body(body.to_vec())
                .send()
                .await
                .expect("PUT manifest");
            let status = put.status().as_u16();
            let text = put.text().await.unwrap_or_default();
            assert_eq!(status, 201, "PUT manifest {repo}:{reference}: {text}");
        });
        digest(body)
    }

    /// Pushes an OCI image of `layers` (each a tar, gzipped here) with a
    /// config holding `env`, tagged `tag`; returns the manifest digest.
    pub fn image(
        &self,
        repo: &str,
        tag: &str,
        layers: &[Vec<u8>],
        env: &[String],
        arch: &str,
    ) -> String {
        let media = "application/vnd.oci.image.layer.v1.tar+gzip";
        let raw: Vec<(Vec<u8>, String, String)> = layers
            .iter()
            .map(|l| (compress(l, Compression::Gzip), media.to_owned(), digest(l)))
            .collect();
        self.image_raw(repo, tag, &raw, env, arch)
    }

    /// Pushes an OCI image whose layers are given as (blob, media type, diff id).
    pub fn image_raw(
        &self,
        repo: &str,
        tag: &str,
        layers: &[(Vec<u8>, String, String)],
        env: &[String],
        arch: &str,
    ) -> String {
        let diff_ids: Vec<&String> = layers.iter().map(|(_, _, d)| d).collect();
        let config = serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Env": env},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": layers.iter().map(|_| serde_json::json!({"created_by": "test layer"})).collect::<Vec<_>>(),
        });
        let config = serde_json::to_vec(&config).expect("config json");
        let config_blob = self.blob(repo, &config);
        let layer_descs: Vec<serde_json::Value> = layers
            .iter()
            .map(|(b, media, _)| {
                let p = self.blob(repo, b);
                serde_json::json!({"mediaType": media, "digest": p.digest, "size": p.size})
            })
            .collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_blob.digest, "size": config_blob.size},
            "layers": layer_descs,
        });
        let body = serde_json::to_vec(&manifest).expect("manifest json");
        self.manifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", &body)
    }

    /// Deletes a blob from the registry's storage (the registry then answers 404 for it).
    pub fn delete_blob(&self, repo: &str, digest: &str) {
        self.runtime.block_on(async {
            let r = self
                .client
                .delete(format!("{}/v2/{repo}/blobs/{digest}", self.base))
                .send()
                .await
                .expect("DELETE blob");
            assert_eq!(r.status().as_u16(), 202, "DELETE blob");
        });
    }
}

/// The fake Harbor REST API (see `fake_harbor.py`) in front of a registry; stopped on drop.
pub struct FakeHarbor {
    child: Child,
    _dir: TempDir,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl FakeHarbor {
    /// Starts it in front of `registry`, accepting only `username`/`password`; `extra` is merged
    /// into its config (`push_times`, `fail_manifests`, `throttle`).
    pub fn start(
        registry: &Registry,
        username: &str,
        password: &str,
        extra: &serde_json::Value,
    ) -> FakeHarbor {
        let dir = tempfile::tempdir().expect("temp dir");
        let port_file: PathBuf = dir.path().join("port");
        let mut config = serde_json::json!({
            "registry": format!("http://{}", registry.addr),
            "username": username,
            "password": password,
            "port_file": port_file,
        });
        if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        let config_path = dir.path().join("harbor.json");
        std::fs::write(&config_path, serde_json::to_vec(&config).expect("json")).expect("write");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/fake_harbor.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3 fake_harbor.py");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(port) = std::fs::read_to_string(&port_file) {
                return FakeHarbor { child, _dir: dir, addr: format!("127.0.0.1:{}", port.trim()) };
            }
            if Instant::now() > deadline || matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
                panic!("fake Harbor did not start");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for FakeHarbor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
