//! Database URIs (#16): the password of a `postgres://`, `mysql://`/`mariadb://` or
//! `redis://`/`rediss://` URI (`uri.password`), checked by logging in to the database the URI
//! names as its user and disconnecting, with no query:
//! - `PostgreSQL` with tokio-postgres: the startup message and the password exchange the server
//!   asks for (SCRAM-SHA-256, MD5 or cleartext), then Terminate; `28P01`
//!   (`invalid_password`) or `28000` for a role that does not exist is invalid
//!   (<https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP>);
//! - `MySQL` and `MariaDB` with `mysql_async`: the handshake and its authentication plugin, then
//!   `COM_QUIT`; error 1045 (`ER_ACCESS_DENIED_ERROR`) is invalid. The server settings the
//!   client would otherwise read with a `SELECT` are given, so none is sent
//!   (<https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html>);
//! - Redis with the redis crate: `AUTH [user] password` (what redis-cli sends), then the
//!   connection is closed; `WRONGPASS` is invalid (<https://redis.io/docs/latest/commands/auth/>),
//!   unless the server has no password at all (it refuses `AUTH` then too, and answers a `PING`
//!   sent without one): that is unverified, and says the server is open.
//!
//! TLS is what the URI asks for ([`super::database_tls::Mode`]: `sslmode`/`ssl-mode`, by
//! default TLS when the server offers it; `rediss://` always), always with the certificate
//! verified against the system's roots plus `--ca-cert`; a handshake that fails is
//! `unverified`, never retried without TLS. A database host is named only by the scanned data
//! and may speak its protocol without TLS, so a host is contacted only when `--verify-host` or
//! `verify.allow_hosts` lists it ([`super::hosts::HostPolicy::check_listed`]). The identity is
//! `user@host:port/database`.

use std::time::Duration;

use reqwest::Url;

use super::database_tls::{Mode, Trust};
use super::{Checked, Context, Credential, Outcome};

/// True for the rules this verifier checks.
pub fn handles(rule_id: &str) -> bool {
    rule_id == "uri.password"
}

/// The databases with a verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Postgres,
    MySql,
    Redis { tls: bool },
}

impl Kind {
    fn of(scheme: &str) -> Option<Kind> {
        Some(match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Kind::Postgres,
            "mysql" | "mariadb" => Kind::MySql,
            "redis" => Kind::Redis { tls: false },
            "rediss" => Kind::Redis { tls: true },
            _ => return None,
        })
    }

    fn default_port(self) -> u16 {
        match self {
            Kind::Postgres => 5432,
            Kind::MySql => 3306,
            Kind::Redis { .. } => 6379,
        }
    }
}

/// Where and as whom to log in, decoded from the URI's parts.
struct Login {
    host: String,
    port: u16,
    user: String,
    password: String,
    database: Option<String>,
}

/// Checks one URI's password.
pub async fn check(context: &Context, credential: &Credential) -> Checked {
    let scheme = credential.capture("scheme").unwrap_or_default();
    let kind = Kind::of(scheme)
        .ok_or_else(|| Outcome::unverified(format!("no verifier for {scheme}:// URIs")))?;
    let host = credential
        .capture("host")
        .ok_or_else(|| Outcome::unverified("the URI names no host"))?
        .to_ascii_lowercase();
    let port = match credential.capture("port") {
        Some(port) => port
            .parse()
            .map_err(|_| Outcome::unverified(format!("the URI's port {port:?} is not a port")))?,
        None => kind.default_port(),
    };
    let url = Url::parse(&format!("{}://{host}:{port}", scheme.to_ascii_lowercase()))
        .map_err(|_| Outcome::unverified(format!("the URI's host {host:?} is not a host name")))?;
    context.options.hosts.check_listed(&url, "a database").map_err(Outcome::unverified)?;
    let login = Login {
        host,
        port,
        user: unescape(credential.capture("user").unwrap_or_default()),
        password: unescape(&credential.secret),
        database: credential.capture("database").map(unescape),
    };
    let mode = Mode::of(credential.capture("sslmode")).map_err(Outcome::unverified)?;
    let trust = Trust::new(context.options.ca_cert.as_deref()).map_err(Outcome::unverified)?;
    let timeout = context.options.timeout;
    match kind {
        Kind::Postgres => postgres(&login, mode, &trust, timeout).await,
        Kind::MySql => mysql(&login, mode, &trust).await,
        Kind::Redis { tls } => redis(login, tls, &trust, timeout).await,
    }
}

/// A URI part with its `%XX` escapes decoded (RFC 3986), as clients read it.
pub fn unescape(text: &str) -> String {
    crate::engine::decode::percent(text.as_bytes())
        .and_then(|d| String::from_utf8(d).ok())
        .unwrap_or_else(|| text.to_owned())
}

/// `user@host:port/database`, the identity of a login that worked.
fn identity(login: &Login, database: &str) -> String {
    let user = if login.user.is_empty() { "default" } else { &login.user };
    format!("{user}@{}:{}/{database}", login.host, login.port)
}

async fn postgres(login: &Login, mode: Mode, trust: &Trust, timeout: Duration) -> Checked {
    use tokio_postgres::config::SslMode;
    use tokio_postgres::error::SqlState;
    // libpq's default: the database named like the user.
    let database = login.database.clone().unwrap_or_else(|| login.user.clone());
    let mut config = tokio_postgres::Config::new();
    config
        .host(&login.host)
        .port(login.port)
        .user(&login.user)
        .password(&login.password)
        .dbname(&database)
        .application_name("leakhound verify")
        .connect_timeout(timeout)
        .ssl_mode(match mode {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        });
    let at = format!("postgres://{}:{}", login.host, login.port);
    let tls =
        trust.client_config(mode).map_err(|why| Outcome::unverified(format!("{at}: {why}")))?;
    match config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls)).await {
        Ok((client, connection)) => {
            // Dropping the client makes the connection send Terminate and end.
            drop(client);
            let _ = connection.await;
            Ok(Outcome::verified(identity(login, &database), format!("{at}: logged in")))
        }
        Err(e) => {
            let db = e.as_db_error();
            let message =
                db.map_or_else(|| crate::source::http::error_chain(&e), |d| d.message().to_owned());
            match e.code() {
                Some(code) if *code == SqlState::INVALID_PASSWORD => {
                    Err(Outcome::invalid(format!("{at}: {message}")))
                }
                // 28000 is also "no pg_hba.conf entry", which says nothing of the password.
                Some(code)
                    if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
                        && !message.contains("pg_hba.conf") =>
                {
                    Err(Outcome::invalid(format!("{at}: {message}")))
                }
                // The server checks the database only after the password.
                Some(code) if *code == SqlState::INVALID_CATALOG_NAME => Ok(Outcome::verified(
                    identity(login, &database),
                    format!("{at}: logged in; {message}"),
                )),
                _ => Err(Outcome::unverified(format!("{at}: {message}"))),
            }
        }
    }
}

async fn mysql(login: &Login, mode: Mode, trust: &Trust) -> Checked {
    /// `ER_DBACCESS_DENIED_ERROR` and `ER_BAD_DB_ERROR`: the password was accepted first.
    const AFTER_LOGIN: [u16; 2] = [1044, 1049];
    let plain = mysql_async::OptsBuilder::default()
        .ip_or_hostname(login.host.clone())
        .tcp_port(login.port)
        .user(Some(login.user.clone()))
        .pass(Some(login.password.clone()))
        .db_name(login.database.clone())
        // Known settings, so the client sends no `SELECT @@…` after logging in.
        .prefer_socket(false)
        .max_allowed_packet(Some(16 * 1024 * 1024))
        .wait_timeout(Some(60));
    // The crate's own roots are off: it trusts what the other checks trust.
    let ssl = mysql_async::SslOpts::default()
        .with_root_certs(vec![trust.pem().into()])
        .with_disable_built_in_roots(true)
        .with_danger_skip_domain_validation(mode == Mode::VerifyCa);
    let at = format!("mysql://{}:{}", login.host, login.port);
    let database = login.database.clone().unwrap_or_default();
    let connect = |tls: bool| {
        let options = if tls { plain.clone().ssl_opts(ssl.clone()) } else { plain.clone() };
        mysql_async::Conn::new(options)
    };
    let connected = match mode {
        Mode::Disable => connect(false).await,
        // The server says whether it has TLS before the client sends the password.
        Mode::Prefer => match connect(true).await {
            Err(mysql_async::Error::Driver(
                mysql_async::DriverError::NoClientSslFlagFromServer,
            )) => connect(false).await,
            other => other,
        },
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => connect(true).await,
    };
    match connected {
        Ok(conn) => {
            let _ = conn.disconnect().await;
            Ok(Outcome::verified(identity(login, &database), format!("{at}: logged in")))
        }
        Err(mysql_async::Error::Server(e)) if e.code == 1045 => {
            Err(Outcome::invalid(format!("{at}: {}", e.message)))
        }
        Err(mysql_async::Error::Server(e)) if AFTER_LOGIN.contains(&e.code) => {
            Ok(Outcome::verified(
                identity(login, &database),
                format!("{at}: logged in; {}", e.message),
            ))
        }
        Err(e) => {
            Err(Outcome::unverified(format!("{at}: {}", crate::source::http::error_chain(&e))))
        }
    }
}

/// What a Redis server made of the URI's password.
enum RedisAuth {
    Accepted,
    Refused,
    /// Refused, because the server has no password to check: it takes anyone.
    NotAsked,
}

async fn redis(login: Login, tls: bool, trust: &Trust, timeout: Duration) -> Checked {
    let at = format!("{}://{}:{}", if tls { "rediss" } else { "redis" }, login.host, login.port);
    let addr = if tls {
        redis::ConnectionAddr::TcpTls {
            host: login.host.clone(),
            port: login.port,
            insecure: false,
            tls_params: None,
        }
    } else {
        redis::ConnectionAddr::Tcp(login.host.clone(), login.port)
    };
    let root_cert = tls.then(|| trust.pem());
    let (user, password) = (login.user.clone(), login.password.clone());
    // The crate's blocking client: its timeout covers the connect and the AUTH exchange, and it
    // needs none of the crate's async machinery. No SELECT: the database number is only shown.
    let connect = tokio::task::spawn_blocking(move || {
        let open = |settings: redis::RedisConnectionInfo| {
            let info = redis::IntoConnectionInfo::into_connection_info(addr.clone())?
                .set_redis_settings(settings.set_skip_set_lib_name());
            let client = match &root_cert {
                Some(pem) => redis::Client::build_with_tls(
                    info,
                    redis::TlsCertificates { client_tls: None, root_cert: Some(pem.clone()) },
                )?,
                None => redis::Client::open(info)?,
            };
            client.get_connection_with_timeout(timeout)
        };
        let mut settings = redis::RedisConnectionInfo::default().set_password(&password);
        if !user.is_empty() {
            settings = settings.set_username(&user);
        }
        match open(settings) {
            Ok(_) => Ok(RedisAuth::Accepted),
            // The crate words every AUTH error alike; a server with no password refuses AUTH
            // too, and only a `PING` without AUTH tells the two apart.
            Err(e) if matches!(e.kind(), redis::ErrorKind::AuthenticationFailed) => {
                let open_to_all = user.is_empty()
                    && open(redis::RedisConnectionInfo::default()).is_ok_and(|mut conn| {
                        redis::cmd("PING").query::<String>(&mut conn).is_ok()
                    });
                Ok(if open_to_all { RedisAuth::NotAsked } else { RedisAuth::Refused })
            }
            Err(e) => Err(e),
        }
    });
    let database = login.database.clone().unwrap_or_else(|| "0".to_owned());
    match connect.await {
        Ok(Ok(RedisAuth::Accepted)) => {
            Ok(Outcome::verified(identity(&login, &database), format!("{at}: AUTH accepted")))
        }
        Ok(Ok(RedisAuth::Refused)) => {
            Err(Outcome::invalid(format!("{at}: the server refused AUTH")))
        }
        Ok(Ok(RedisAuth::NotAsked)) => Err(Outcome::unverified(format!(
            "{at}: the server asks for no password (it answers anyone who reaches it), so the \
             URI's password proves nothing"
        ))),
        // The crate's message already holds its cause.
        Ok(Err(e)) => Err(Outcome::unverified(format!("{at}: {e}"))),
        Err(_) => Err(Outcome::unverified(format!("{at}: the check stopped"))),
    }
}
