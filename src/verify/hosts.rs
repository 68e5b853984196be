//! Which hosts may receive a credential. A provider's documented API host and a host the user
//! named (`--gitlab-url`, `--verify-host`, `verify.allow_hosts` of the `--config` file) may; a host
//! named only by the scanned data (a URI's host, a docker config key, an `origin` remote) may
//! when it is a public name on the scheme's default port, and otherwise only when listed: a
//! pusher must not be able to aim credentials at a private, loopback or link-local address, or
//! at a port of their choosing. Nothing here reads the scanned tree.

use std::net::IpAddr;

use reqwest::Url;

/// Who named the host a credential would go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// The provider's own documentation (`gitlab.com`).
    Provider,
    /// The user, on the command line or in the `--config` file.
    User,
    /// Only the scanned data.
    Data,
}

/// The hosts the user allowed for credentials named by scanned data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPolicy {
    /// `host[:port]`, lowercase; without a port, any port of that host.
    allowed: Vec<String>,
    /// Those of `allowed` listed as `http://host[:port]`: the user says they speak plain HTTP,
    /// so a registry there is probed without TLS ([`HostPolicy::plain_http`]).
    plain: Vec<String>,
}

impl HostPolicy {
    /// From `--verify-host` values and the `--config` file's `verify.allow_hosts` (a trailing
    /// slash is dropped; so is a scheme, but `http://` also says the host speaks plain HTTP).
    pub fn new<'a>(hosts: impl IntoIterator<Item = &'a str>) -> HostPolicy {
        let mut policy = HostPolicy::default();
        for h in hosts {
            let h = h.trim();
            let plain = h.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://"));
            let h = h.split_once("://").map_or(h, |(_, rest)| rest);
            let h = h.trim_end_matches('/').to_ascii_lowercase();
            if h.is_empty() {
                continue;
            }
            if plain {
                policy.plain.push(h.clone());
            }
            policy.allowed.push(h);
        }
        policy
    }

    /// True when `url`'s host was listed (with its port, or without one).
    fn lists(&self, url: &Url) -> bool {
        listed(&self.allowed, url)
    }

    /// True when `url`'s host was listed as `http://host[:port]`.
    pub fn plain_http(&self, url: &Url) -> bool {
        listed(&self.plain, url)
    }

    /// Whether a credential may be sent to `url` (`scheme://host:port`) over `what`'s own
    /// protocol rather than HTTP(S): only when the host was listed, since such a host is named
    /// only by the scanned data and the protocol mostly goes without TLS.
    pub fn check_listed(&self, url: &Url, what: &str) -> Result<(), String> {
        if self.lists(url) {
            return Ok(());
        }
        let at = crate::source::http::host_port(url);
        Err(format!(
            "host not allowed: {at} ({what} named only by the scanned data); pass \
             --verify-host={at} to allow it"
        ))
    }

    /// Whether a credential may be sent to `url`, named by `named`; the error says why not and
    /// how to allow it.
    pub async fn check(&self, url: &Url, named: Named) -> Result<(), String> {
        if !matches!(url.scheme(), "https" | "http") {
            return Err(format!("{url} is not an HTTP(S) URL"));
        }
        let Some(host) = url.host_str() else { return Err(format!("{url} names no host")) };
        if named != Named::Data || self.lists(url) {
            return Ok(());
        }
        let at = crate::source::http::host_port(url);
        let refuse = |what: &str| {
            Err(format!(
                "host not allowed: {at} ({what}, named only by the scanned data); \
                 pass --verify-host={at} to allow it"
            ))
        };
        if url.port().is_some() {
            return refuse("not the scheme's default port");
        }
        if url.scheme() != "https" {
            return refuse("plain HTTP");
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => match tokio::net::lookup_host((host, port)).await {
                Ok(found) => found.map(|a| a.ip()).collect(),
                Err(e) => return Err(format!("cannot resolve {host}: {e}")),
            },
        };
        if addresses.iter().any(|ip| !public(*ip)) {
            return refuse("a private, loopback or link-local address");
        }
        Ok(())
    }
}

/// True when `url`'s host is in `list` (with its port, or without one).
fn listed(list: &[String], url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let with_port = url.port_or_known_default().map(|p| format!("{host}:{p}"));
    list.iter().any(|a| *a == host || Some(a) == with_port.as_ref())
}

/// `scheme://host:port/path` of `url`, as details name it (no query, no user info).
pub fn display(url: &Url) -> String {
    format!("{}://{}{}", url.scheme(), crate::source::http::host_port(url), url.path())
}

/// False for loopback, private, link-local, unspecified, CGNAT and unique-local addresses.
pub fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test URL")
    }

    #[tokio::test]
    async fn data_named_private_hosts_need_listing() {
        let none = HostPolicy::default();
        for u in [
            "http://127.0.0.1:8080/",
            "https://10.0.0.5/",
            "https://[::1]/",
            "https://169.254.169.254/",
        ] {
            let err = none.check(&url(u), Named::Data).await.expect_err(u);
            assert!(err.contains("--verify-host="), "{err}");
        }
        let listed = HostPolicy::new(["127.0.0.1:8080", "https://10.0.0.5/"]);
        assert!(listed.check(&url("http://127.0.0.1:8080/x"), Named::Data).await.is_ok());
        assert!(listed.check(&url("https://10.0.0.5/"), Named::Data).await.is_ok());
        assert!(listed.check(&url("http://127.0.0.1:8081/"), Named::Data).await.is_err());
        assert!(none.check(&url("http://127.0.0.1:8080/"), Named::User).await.is_ok());
        assert!(none.check(&url("https://8.8.8.8/"), Named::Data).await.is_ok());
    }

    #[test]
    fn plain_http_and_other_protocols_only_where_listed() {
        let policy = HostPolicy::new(["http://127.0.0.1:5000", "db.internal"]);
        assert!(policy.plain_http(&url("https://127.0.0.1:5000/v2/")));
        assert!(!policy.plain_http(&url("https://db.internal/")), "listed, but not as http://");
        assert!(policy.check_listed(&url("postgres://db.internal:5432"), "a database").is_ok());
        let err = policy
            .check_listed(&url("postgres://db.example.com:5432"), "a database")
            .expect_err("not listed");
        assert!(err.contains("--verify-host=db.example.com:5432"), "{err}");
    }
}
