//! `leakhound image`: container images from registries, `docker save` tarballs, OCI archives
//! and OCI layouts.

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{Outcome, engine, finish_scan, new_scan};
use crate::cli::{ImageArgs, RegistryArgs};
use crate::report::text::sanitize;
use crate::source::http::{Insecure, Notify, Pace, Retry};
use crate::source::oci::auth::{self, Credentials};
use crate::source::oci::layer::LayerOptions;
use crate::source::oci::reference::ImageRef;
use crate::source::oci::registry::RegistryOptions;
use crate::source::oci::{ImageOptions, scan_images};
use crate::sweep::group::group;

/// Scans the images and reports.
pub fn run(args: &ImageArgs) -> Result<Outcome> {
    let refs = args
        .refs
        .iter()
        .map(|r| ImageRef::parse(r).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    let access = &args.access;
    let credentials = match explicit_credentials(access)? {
        Some(credentials) => Some(credentials),
        None => auth::from_env(),
    };
    let ca_certs = ca_certs(&args.scan.verify.ca_cert)?;
    let options = ImageOptions {
        layer: LayerOptions {
            caps: super::size_caps(&args.scan),
            max_layer_size: access.max_layer_size,
            workers: args.scan.threads,
        },
        platform: access.platform.clone(),
        layer_jobs: args.layer_jobs.max(1),
        registry: RegistryOptions {
            credentials,
            insecure: Insecure::from_flags(&access.insecure_registry),
            ca_certs,
            retry: Retry::with_retries(access.retries),
            pace: pace(access),
            notify: notify(args.scan.output.quiet),
            docker_config: auth::docker_config_path(),
        },
    };
    let engine = engine(&args.scan.rules, None)?;
    let scan = new_scan(&engine, &args.scan);
    let warnings = scan_images(&refs, &options, &scan);
    if !args.scan.output.quiet {
        for w in &warnings {
            eprintln!("leakhound: warning: {}", sanitize(w));
        }
    }
    let mut report = scan.into_report(format!("image {}", args.refs.join(" ")));
    // One finding per secret and place however many platforms (or images) hold it, grouped as
    // a sweep groups them: an index of 500 platforms sharing a layer is one finding (#19).
    report.findings = group(std::mem::take(&mut report.findings));
    report.stats.findings = report.findings.len() as u64;
    finish_scan(&report, &with_insecure_hosts(&args.scan, access))
}

/// `scan` with the hosts `--insecure-registry=HOST` names, for `--verify`: a credential check
/// may skip certificate checks only where a pull may (the bare flag names the registries being
/// pulled, not hosts found in them, so it does not count).
pub fn with_insecure_hosts(
    scan: &crate::cli::ScanArgs,
    access: &RegistryArgs,
) -> crate::cli::ScanArgs {
    let mut scan = scan.clone();
    let insecure = Insecure::from_flags(&access.insecure_registry);
    scan.verify.insecure = Insecure { named_registries: false, hosts: insecure.hosts };
    scan
}

/// The password from standard input, without the trailing newline (`sweep` reads it so too).
pub fn read_password() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .take(64 << 10)
        .read_to_string(&mut text)
        .context("cannot read the password from standard input")?;
    let password = text.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("--password-stdin: standard input was empty");
    }
    Ok(password)
}

/// `--username` with the password from standard input, when given.
pub fn explicit_credentials(access: &RegistryArgs) -> Result<Option<Credentials>> {
    access
        .username
        .as_ref()
        .map(|username| Ok(Credentials { username: username.clone(), password: read_password()? }))
        .transpose()
}

/// The PEM files named by `--ca-cert`.
pub fn ca_certs(paths: &[std::path::PathBuf]) -> Result<Vec<Vec<u8>>> {
    paths
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("cannot read --ca-cert {}", p.display())))
        .collect()
}

/// `--request-timeout`, `--min-rate` and `--min-rate-window`.
pub fn pace(access: &RegistryArgs) -> Pace {
    Pace {
        deadline: Duration::from_secs(access.request_timeout),
        min_rate: access.min_rate,
        window: Duration::from_secs(access.min_rate_window),
    }
}

/// Announces registry waits (`Retry-After`, backoff) on standard error, unless `--quiet`.
pub fn notify(quiet: bool) -> Notify {
    if quiet {
        Notify::default()
    } else {
        Notify::new(|text| eprintln!("leakhound: {}", sanitize(text)))
    }
}
