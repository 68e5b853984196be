//! Real database servers for the verification tests (#16): `PostgreSQL`, `MariaDB` and Redis as
//! Debian installs them (`apt-get install postgresql mariadb-server redis-server`), each started
//! by the test on 127.0.0.1, a free port and a data directory in a temp dir, with one user and
//! password, and stopped on drop. The `_tls` variants serve TLS only, with a certificate for
//! 127.0.0.1 from a throwaway CA ([`crate::registry::ca_and_leaf`]; [`Server::ca_cert`]) that no
//! system store trusts. `PostgreSQL` and `MariaDB` refuse to run as root, so as root (CI)
//! they run as `nobody` through `setpriv`, owning their temp dir.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::registry::free_port;

/// A running server; stopped (SIGTERM, by its pid) on drop.
pub struct Server {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    child: Child,
    log: PathBuf,
    dir: TempDir,
}

/// The database user every server has.
pub const USER: &str = "app";

impl Server {
    /// `PostgreSQL` with superuser [`USER`] whose password is `password` (SCRAM over TCP).
    pub fn postgres(password: &str) -> Server {
        Server::start_postgres(password, false, None)
    }

    /// [`Server::postgres`] with `ssl=on` whose `pg_hba.conf` takes TCP logins over TLS only
    /// (`hostssl`), so a login that works went over TLS.
    pub fn postgres_tls(password: &str) -> Server {
        Server::start_postgres(password, true, None)
    }

    /// [`Server::postgres_tls`] whose certificate names only the host `name`, not 127.0.0.1.
    pub fn postgres_tls_for(password: &str, name: &str) -> Server {
        Server::start_postgres(password, true, Some(name))
    }

    /// With `tls`, a certificate for 127.0.0.1, or for `name` only.
    fn start_postgres(password: &str, tls: bool, name: Option<&str>) -> Server {
        let (dir, d) = data_dir();
        std::fs::write(d.join("pw"), password).expect("write password file");
        let initdb = postgres_bin("initdb");
        let out = unprivileged(&initdb)
            .arg("-D")
            .arg(d.join("data"))
            .args(["-U", USER, "--auth-host=scram-sha-256", "--auth-local=trust", "--no-sync"])
            .arg(format!("--pwfile={}", d.join("pw").display()))
            .output()
            .expect("initdb runs (apt-get install postgresql)");
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let port = free_port();
        let log = d.join("postgres.log");
        let mut postgres = unprivileged(&postgres_bin("postgres"));
        if tls {
            tls_files(&d, name);
            let hba = "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n";
            std::fs::write(d.join("data/pg_hba.conf"), hba).expect("write pg_hba.conf");
            postgres
                .args(["-c", "ssl=on"])
                .arg("-c")
                .arg(format!("ssl_cert_file={}", d.join("srv.pem").display()));
            postgres.arg("-c").arg(format!("ssl_key_file={}", d.join("srv.key").display()));
        }
        let child = postgres
            .arg("-D")
            .arg(d.join("data"))
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .arg("-k")
            .arg(&d)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("postgres runs");
        Server::ready(child, port, log, dir, "ready to accept connections")
    }

    /// `MariaDB` with user [`USER`]@`%` whose password is `password`, granted everything.
    pub fn mariadb(password: &str) -> Server {
        Server::start_mariadb(password, false)
    }

    /// [`Server::mariadb`] with TLS, whose user must log in over it (`REQUIRE SSL`).
    pub fn mariadb_tls(password: &str) -> Server {
        Server::start_mariadb(password, true)
    }

    fn start_mariadb(password: &str, tls: bool) -> Server {
        let (dir, d) = data_dir();
        let out = unprivileged(Path::new("mariadb-install-db"))
            .args(["--no-defaults", "--auth-root-authentication-method=normal", "--skip-test-db"])
            .arg(format!("--datadir={}", d.join("data").display()))
            .output()
            .expect("mariadb-install-db runs (apt-get install mariadb-server)");
        assert!(out.status.success(), "install-db: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(
            d.join("init.sql"),
            format!(
                "CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{password}'{};\n\
                 GRANT ALL ON *.* TO '{USER}'@'%';\n",
                if tls { " REQUIRE SSL" } else { "" }
            ),
        )
        .expect("write init file");
        let port = free_port();
        let log = d.join("mariadb.log");
        let path = |name: &str| d.join(name).display().to_string();
        let mut mariadbd = unprivileged(Path::new("mariadbd"));
        mariadbd.arg("--no-defaults");
        if tls {
            tls_files(&d, None);
            mariadbd.arg(format!("--ssl-cert={}", path("srv.pem")));
            mariadbd.arg(format!("--ssl-key={}", path("srv.key")));
        }
        let child = mariadbd
            .arg(format!("--datadir={}", path("data")))
            .arg(format!("--port={port}"))
            .args(["--bind-address=127.0.0.1", "--skip-name-resolve", "--skip-log-bin"])
            .arg(format!("--socket={}", path("sock")))
            .arg(format!("--pid-file={}", path("pid")))
            .arg(format!("--log-error={}", log.display()))
            .arg(format!("--init-file={}", path("init.sql")))
            .arg("--innodb-buffer-pool-size=16M")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd runs");
        Server::ready(child, port, log, dir, "ready for connections")
    }

    /// Redis whose default user's password is `password` (`requirepass`), nothing saved.
    pub fn redis(password: &str) -> Server {
        Server::start_redis(Some(password), false)
    }

    /// Redis with no password at all: it answers anyone.
    pub fn redis_without_auth() -> Server {
        Server::start_redis(None, false)
    }

    /// [`Server::redis`] on TLS only, with a certificate from a throwaway CA (not trusted by the
    /// system roots).
    pub fn redis_tls(password: &str) -> Server {
        Server::start_redis(Some(password), true)
    }

    fn start_redis(password: Option<&str>, tls: bool) -> Server {
        let (dir, d) = data_dir();
        let port = free_port().to_string();
        let log = d.join("redis.log");
        let mut cmd = Command::new("redis-server");
        if tls {
            crate::registry::ca_and_leaf(&d);
            cmd.args(["--port", "0", "--tls-port", &port, "--tls-auth-clients", "no"])
                .arg("--tls-cert-file")
                .arg(d.join("srv.pem"))
                .arg("--tls-key-file")
                .arg(d.join("srv.key"))
                .arg("--tls-ca-cert-file")
                .arg(d.join("ca.pem"));
        } else {
            cmd.args(["--port", &port]);
        }
        if let Some(password) = password {
            cmd.args(["--requirepass", password]);
        }
        let child = cmd
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&d)
            .arg("--logfile")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server)");
        let port = port.parse().expect("port");
        Server::ready(child, port, log, dir, "Ready to accept connections")
    }

    /// Waits until the log says `ready` and the port accepts connections.
    fn ready(mut child: Child, port: u16, log: PathBuf, dir: TempDir, ready: &str) -> Server {
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the server exited ({status}): {}", read(&log));
            }
            if read(&log).contains(ready) && TcpStream::connect(&addr).is_ok() {
                return Server { addr, child, log, dir };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        panic!("the server did not start: {}", read(&log));
    }

    /// The CA that signed a `_tls` server's certificate (PEM), for `--ca-cert`.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server's log so far, for failure messages.
    pub fn log(&self) -> String {
        read(&self.log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM lets PostgreSQL and MariaDB stop their helper processes too.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    text
}

/// The CA and a certificate for 127.0.0.1 (or only for `name`) in `d`, the key readable only by
/// the server's user (`PostgreSQL` refuses a key others can read).
fn tls_files(d: &Path, name: Option<&str>) {
    crate::registry::ca_and_leaf(d);
    if let Some(name) = name {
        std::fs::write(d.join("srv.ext"), format!("subjectAltName=DNS:{name}\n"))
            .expect("write ext");
        let status = Command::new("openssl")
            .current_dir(d)
            .args(["x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key"])
            .args(["-CAcreateserial", "-days", "2", "-extfile", "srv.ext", "-out", "srv.pem"])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "openssl x509 for {name}");
    }
    let key = d.join("srv.key");
    if is_root() {
        let status = Command::new("chown").arg("nobody:nogroup").arg(&key).status();
        assert!(status.is_ok_and(|s| s.success()), "chown nobody {}", key.display());
    }
    let status = Command::new("chmod").arg("600").arg(&key).status();
    assert!(status.is_ok_and(|s| s.success()), "chmod 600 {}", key.display());
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A temp dir the server may write: owned by `nobody` when we are root.
fn data_dir() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    if is_root() {
        let status = Command::new("chown").arg("nobody:nogroup").arg(&path).status();
        assert!(status.is_ok_and(|s| s.success()), "chown nobody {}", path.display());
    }
    (dir, path)
}

/// `program`, run as `nobody` (through `setpriv`, util-linux) when we are root.
fn unprivileged(program: &Path) -> Command {
    if !is_root() {
        return Command::new(program);
    }
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"]).arg(program);
    cmd
}

/// A `PostgreSQL` server program: on PATH, else in Debian's `/usr/lib/postgresql/VERSION/bin`.
fn postgres_bin(name: &str) -> PathBuf {
    let on_path = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output();
    if let Ok(out) = on_path
        && out.status.success()
    {
        return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries.filter_map(|e| Some(e.ok()?.path().join("bin").join(name))).collect()
        })
        .unwrap_or_default();
    versions.retain(|p| p.exists());
    versions.sort();
    versions.pop().unwrap_or_else(|| panic!("{name} not found (apt-get install postgresql)"))
}
