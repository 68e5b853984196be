//! `--verify` of database URIs (#16) against real `PostgreSQL`, `MariaDB` and Redis servers
//! ([`crate::databases`]): a valid password is verified as `user@host:port/database`, a wrong
//! one invalid, and a database host the user did not list is not contacted at all. Over TLS
//! (`sslmode`, `rediss://`) the server's certificate must chain to a trusted CA (`--ca-cert`):
//! else the check is unverified and the password never leaves.

use std::net::TcpListener;

use crate::common::TestEnv;
use crate::databases::{Server, USER};

/// The passwords the servers are started with, and a wrong one of the same shape.
const LIVE: &str = "Zq8vLt3mWx9pRk2N";
const WRONG: &str = "Hc5nVy7bQe3jTs6D";

/// A tree with one URI per password, for `scheme`, at `server`; `database` may carry a query.
fn tree(scheme: &str, addr: &str, user: &str, database: &str) -> TestEnv {
    let env = TestEnv::new();
    env.file("live.env", format!("DATABASE_URL={scheme}://{user}:{LIVE}@{addr}/{database}\n"));
    env.file("wrong.env", format!("DATABASE_URL={scheme}://{user}:{WRONG}@{addr}/{database}\n"));
    env
}

/// Scans `env` with `--verify` allowing `addr`, and `extra` arguments; the verification of
/// `live.env` and `wrong.env`.
fn verify_with(
    env: &TestEnv,
    addr: &str,
    extra: &[&std::ffi::OsStr],
) -> (serde_json::Value, serde_json::Value, String) {
    let out = env
        .cmd()
        .args(["dir", ".", "--verify", "--verify-host", addr, "--format", "json"])
        .args(extra)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let of = |file: &str| {
        let findings = doc["findings"].as_array().expect("findings");
        let f = findings.iter().find(|f| f["path"] == file).unwrap_or_else(|| panic!("{doc}"));
        assert_eq!(f["rule_id"], "uri.password");
        f["verification"].clone()
    };
    let all = stdout + &String::from_utf8_lossy(&out.stderr);
    assert!(!all.contains(LIVE) && !all.contains(WRONG), "passwords stay redacted: {all}");
    (of("live.env"), of("wrong.env"), all)
}

/// [`verify_with`] and no more arguments.
fn verify(env: &TestEnv, addr: &str) -> (serde_json::Value, serde_json::Value, String) {
    verify_with(env, addr, &[])
}

/// [`verify_with`] trusting `server`'s CA.
fn verify_trusting(
    env: &TestEnv,
    server: &Server,
) -> (serde_json::Value, serde_json::Value, String) {
    let ca = server.ca_cert();
    verify_with(env, &server.addr, &["--ca-cert".as_ref(), ca.as_os_str()])
}

/// Both checks unverified with a detail naming the certificate: the handshake failed first.
fn refused_certificate(checks: [serde_json::Value; 2], scheme: &str) {
    for v in checks {
        assert_eq!(v["status"], "unverified", "{v}");
        let detail = v["detail"].as_str().expect("detail");
        assert!(detail.contains("certificate") && detail.contains(scheme), "{detail}");
    }
}

#[test]
fn postgres_uri_verified_by_logging_in_and_a_wrong_password_invalid() {
    let server = Server::postgres(LIVE);
    let env = tree("postgresql", &server.addr, USER, "postgres");
    let (live, wrong, _) = verify(&env, &server.addr);
    assert_eq!(live["status"], "verified", "{live} {}", server.log());
    assert_eq!(live["identity"], format!("{USER}@{}/postgres", server.addr));
    assert_eq!(wrong["status"], "invalid", "{wrong}");
    assert!(wrong["detail"].as_str().expect("detail").contains("password authentication failed"));
}

#[test]
fn mariadb_uri_verified_by_logging_in_and_a_wrong_password_invalid() {
    let server = Server::mariadb(LIVE);
    let env = tree("mysql", &server.addr, USER, "mysql");
    let (live, wrong, _) = verify(&env, &server.addr);
    assert_eq!(live["status"], "verified", "{live} {}", server.log());
    assert_eq!(live["identity"], format!("{USER}@{}/mysql", server.addr));
    assert_eq!(wrong["status"], "invalid", "{wrong}");
    assert!(wrong["detail"].as_str().expect("detail").contains("Access denied"), "{wrong}");
}

#[test]
fn redis_uri_verified_by_auth_and_a_wrong_password_invalid() {
    let server = Server::redis(LIVE);
    let env = tree("redis", &server.addr, "", "0");
    let (live, wrong, _) = verify(&env, &server.addr);
    assert_eq!(live["status"], "verified", "{live} {}", server.log());
    assert_eq!(live["identity"], format!("default@{}/0", server.addr));
    assert_eq!(wrong["status"], "invalid", "{wrong}");
}

/// `rediss://` is TLS with the certificate verified: a server whose certificate no trusted CA
/// signed never gets the password (the handshake fails first), and the check says why.
#[test]
fn rediss_uri_to_an_untrusted_certificate_is_unverified() {
    let server = Server::redis_tls(LIVE);
    let env = tree("rediss", &server.addr, "", "0");
    let (live, wrong, _) = verify(&env, &server.addr);
    refused_certificate([live, wrong], "rediss://");
}

/// `--ca-cert` is trusted for `rediss://` as for every other check.
#[test]
fn rediss_uri_verified_with_the_servers_ca_cert() {
    let server = Server::redis_tls(LIVE);
    let env = tree("rediss", &server.addr, "", "0");
    let (live, wrong, _) = verify_trusting(&env, &server);
    assert_eq!(live["status"], "verified", "{live} {}", server.log());
    assert_eq!(wrong["status"], "invalid", "{wrong}");
}

/// A Redis with no password takes anyone: the URI's password is neither live nor dead, and the
/// detail says the server is open (not "invalid", which would read as nothing to fix).
#[test]
fn redis_that_asks_no_password_is_unverified_and_named_open() {
    let server = Server::redis_without_auth();
    let env = tree("redis", &server.addr, "", "0");
    let (live, wrong, _) = verify(&env, &server.addr);
    for v in [live, wrong] {
        assert_eq!(v["status"], "unverified", "{v}");
        let detail = v["detail"].as_str().expect("detail");
        assert!(detail.contains("asks for no password"), "{detail}");
    }
}

/// A TLS-only `server`, URIs for `database` that ask for `mode`: with the server's CA given by
/// `--ca-cert` the login works, over TLS (the only way the server takes it); without, the
/// handshake fails on the certificate and the password is never sent: unverified, not invalid.
/// With no mode, TLS is used because the server offers it.
fn tls_needs_its_ca(server: &Server, scheme: &str, database: &str, mode: &str) {
    let env = tree(scheme, &server.addr, USER, &format!("{database}?{mode}"));
    let (live, wrong, _) = verify_trusting(&env, server);
    assert_eq!(live["status"], "verified", "{live} {}", server.log());
    assert_eq!(live["identity"], format!("{USER}@{}/{database}", server.addr));
    assert_eq!(wrong["status"], "invalid", "{wrong}");
    let (live, wrong, _) = verify(&env, &server.addr);
    refused_certificate([live, wrong], &format!("{scheme}://"));
    let env = tree(scheme, &server.addr, USER, database);
    let (live, _, _) = verify_trusting(&env, server);
    assert_eq!(live["status"], "verified", "{live} {}", server.log());
}

#[test]
fn postgres_over_tls_verified_with_its_ca_cert_and_unverified_without() {
    tls_needs_its_ca(&Server::postgres_tls(LIVE), "postgres", "postgres", "sslmode=verify-full");
}

#[test]
fn mariadb_over_tls_verified_with_its_ca_cert_and_unverified_without() {
    tls_needs_its_ca(&Server::mariadb_tls(LIVE), "mysql", "mysql", "ssl-mode=VERIFY_IDENTITY");
}

/// A certificate from the trusted CA for another name: `verify-full` refuses it, `verify-ca`
/// (which checks the chain only) logs in.
#[test]
fn verify_ca_takes_a_certificate_for_another_name_and_verify_full_does_not() {
    let server = Server::postgres_tls_for(LIVE, "db.internal");
    let env = tree("postgres", &server.addr, USER, "postgres?sslmode=verify-full");
    let (live, _, _) = verify_trusting(&env, &server);
    assert_eq!(live["status"], "unverified", "{live}");
    assert!(live["detail"].as_str().is_some_and(|d| d.contains("not valid for name")), "{live}");
    let env = tree("postgres", &server.addr, USER, "postgres?sslmode=verify-ca");
    let (live, wrong, _) = verify_trusting(&env, &server);
    assert_eq!(live["status"], "verified", "{live} {}", server.log());
    assert_eq!(wrong["status"], "invalid", "{wrong}");
}

/// A URI that asks for TLS, to a server without it, gets no login in plain text.
#[test]
fn a_uri_that_asks_for_tls_never_falls_back_to_plain_text() {
    let postgres = Server::postgres(LIVE);
    let env = tree("postgres", &postgres.addr, USER, "postgres?sslmode=require");
    let (live, _, _) = verify(&env, &postgres.addr);
    assert_eq!(live["status"], "unverified", "{live}");
    assert!(live["detail"].as_str().is_some_and(|d| d.contains("does not support TLS")), "{live}");
    let mariadb = Server::mariadb(LIVE);
    let env = tree("mariadb", &mariadb.addr, USER, "mysql?sslmode=REQUIRED");
    let (live, _, _) = verify(&env, &mariadb.addr);
    assert_eq!(live["status"], "unverified", "{live}");
}

/// A database or registry named only by the scanned data, on a port the user did not list, gets
/// no connection: the listener stands where the server would be and sees nobody.
#[test]
fn hosts_not_listed_get_no_connection_and_say_why() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr").to_string();
    let env = tree("postgres", &addr, USER, "app");
    let auth = leakhound::engine::decode::base64_encode(format!("ci-bot:{LIVE}").as_bytes());
    env.file(".docker/config.json", format!(r#"{{"auths": {{"{addr}": {{"auth": "{auth}"}}}}}}"#));
    // A config file inside the scanned tree cannot allow a host.
    env.file(".leakhound.toml", format!("[verify]\nallow_hosts = [\"{addr}\"]\n"));
    let (code, doc) = env.json(&["dir", ".", "--verify"]);
    assert_eq!(code, 1, "{doc}");
    let findings = doc["findings"].as_array().expect("findings");
    let rules: Vec<&str> = findings.iter().filter_map(|f| f["rule_id"].as_str()).collect();
    assert!(rules.contains(&"uri.password") && rules.contains(&"docker.config-auth"), "{doc}");
    for f in findings {
        let v = &f["verification"];
        assert_eq!(v["status"], "unverified", "{f}");
        let detail = v["detail"].as_str().expect("detail");
        assert!(
            detail.contains(&format!("host not allowed: {addr}"))
                && detail.contains(&format!("--verify-host={addr}")),
            "{detail}"
        );
    }
    assert!(listener.accept().is_err(), "no connection was made");
}
