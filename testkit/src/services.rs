//! Real services for tests: a Mosquitto broker started from the Debian package on a free port,
//! stopped (and restartable on the same port) by the test. No mocks: the system under test talks
//! MQTT to the real thing.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 held for one test: free now, and never handed to another test
/// process while the lease lives, even while nothing listens on it (a broker stopped for a
/// minute keeps its port). Leases are file locks in the temporary folder.
#[derive(Debug)]
pub struct PortLease {
    /// The port.
    pub port: u16,
    _lock: std::fs::File,
}

/// Leases a free port from 20000–29999 (outside Linux's ephemeral range, so the OS never hands
/// it to a client socket either).
pub fn lease_port() -> PortLease {
    let dir = std::env::temp_dir().join("argus-test-ports");
    std::fs::create_dir_all(&dir).expect("port lease folder");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let seed = u64::from(std::process::id()) ^ nanos;
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    for _ in 0..2000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let port = 20000 + ((x >> 33) % 10000) as u16;
        let Ok(file) = std::fs::File::create(dir.join(port.to_string())) else {
            continue;
        };
        if file.try_lock().is_err() {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return PortLease { port, _lock: file };
        }
    }
    panic!("no free port in 20000–29999");
}

/// A free port for the life of the test process.
pub fn free_port() -> u16 {
    let lease = lease_port();
    let port = lease.port;
    // Held until the process exits: the port is this test's for good.
    std::mem::forget(lease);
    port
}

/// Waits until something listens on the port.
pub fn wait_port(port: u16, timeout: Duration) -> bool {
    let until = Instant::now() + timeout;
    while Instant::now() < until {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Waits up to `grace` for a process asked to stop, then kills it.
fn reap(c: &mut Child, grace: Duration) {
    let until = Instant::now() + grace;
    while Instant::now() < until {
        if let Ok(Some(_)) = c.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = c.kill();
    let _ = c.wait();
}

/// A Mosquitto broker in a temporary folder, with persistence (a restarted broker keeps its
/// sessions and queued QoS 1 messages, like a production one).
#[derive(Debug)]
pub struct Mosquitto {
    /// Its port.
    pub port: u16,
    _lease: PortLease,
    dir: PathBuf,
    child: Option<Child>,
    secure: Option<Secure>,
}

/// A broker's TLS and password settings.
#[derive(Debug, Clone)]
pub struct Secure {
    /// The CA certificate (PEM) that signed the broker's certificate.
    pub ca_file: PathBuf,
    /// The one user allowed in.
    pub user: String,
    /// Its password.
    pub password: String,
}

fn run_tool(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e} (run ./scripts/bootstrap.sh)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throw-away CA and a server certificate for 127.0.0.1 signed by it, made with `openssl`;
/// every file readable by the broker's user.
fn make_certificates(dir: &Path) {
    let sh = |script: &str| run_tool(Command::new("sh").arg("-c").arg(script).current_dir(dir));
    sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=argus-test-ca 2>/dev/null",
    );
    sh(
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null",
    );
    sh(
        "printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > san.ext && \
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext 2>/dev/null",
    );
    sh("chmod 644 ca.crt server.crt server.key");
}

fn mosquitto_binary() -> PathBuf {
    for p in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("mosquitto is not installed: run ./scripts/bootstrap.sh (Debian package `mosquitto`)");
}

impl Mosquitto {
    /// Starts a broker in `dir` on a free port.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, None)
    }

    /// Starts a broker that takes only TLS connections (a certificate from a fresh CA) of
    /// `user` with `password`. [`Mosquitto::secure`] tells clients the CA.
    pub fn start_secure(dir: &Path, user: &str, password: &str) -> Self {
        std::fs::create_dir_all(dir).expect("broker folder");
        make_certificates(dir);
        let passwords = dir.join("passwords");
        std::fs::write(&passwords, "").expect("password file");
        run_tool(
            Command::new("mosquitto_passwd")
                .arg("-b")
                .arg(&passwords)
                .arg(user)
                .arg(password),
        );
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&passwords, std::fs::Permissions::from_mode(0o644))
            .expect("password file mode");
        Self::start_with(
            dir,
            Some(Secure {
                ca_file: dir.join("ca.crt"),
                user: user.into(),
                password: password.into(),
            }),
        )
    }

    fn start_with(dir: &Path, secure: Option<Secure>) -> Self {
        let lease = lease_port();
        let mut m = Self {
            port: lease.port,
            _lease: lease,
            dir: dir.to_path_buf(),
            child: None,
            secure,
        };
        m.restart();
        m
    }

    /// Its TLS and password settings, if it has them.
    pub fn secure(&self) -> Option<&Secure> {
        self.secure.as_ref()
    }

    /// `mqtt://127.0.0.1:PORT`, or `mqtts://` for a secure broker.
    pub fn url(&self) -> String {
        let scheme = if self.secure.is_some() {
            "mqtts"
        } else {
            "mqtt"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the broker on the same port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        std::fs::create_dir_all(&self.dir).expect("broker folder");
        // Started as root, Mosquitto drops to its own user: let it write its log and its
        // persistence database (sessions and queued messages survive a restart only then).
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o777))
            .expect("broker folder mode");
        let conf = self.dir.join("mosquitto.conf");
        let d = self.dir.display();
        let access = if self.secure.is_some() {
            format!(
                "allow_anonymous false\npassword_file {d}/passwords\n\
                 cafile {d}/ca.crt\ncertfile {d}/server.crt\nkeyfile {d}/server.key\n"
            )
        } else {
            "allow_anonymous true\n".into()
        };
        std::fs::write(
            &conf,
            format!(
                "listener {} 127.0.0.1\n{access}persistence true\npersistence_location {d}/\n\
                 autosave_interval 1\nmax_queued_messages 100000\nmax_inflight_messages 1000\nset_tcp_nodelay true\nlog_dest file {d}/mosquitto.log\n",
                self.port,
            ),
        )
        .expect("writing mosquitto.conf");
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting mosquitto");
        self.child = Some(child);
        assert!(
            wait_port(self.port, Duration::from_secs(10)),
            "mosquitto did not listen on {} (see {}/mosquitto.log)",
            self.port,
            self.dir.display()
        );
    }

    /// Kills the broker (SIGKILL: what it had not saved is gone).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the broker (SIGTERM: it saves its sessions, as a service stop does).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            reap(&mut c, Duration::from_secs(10));
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A PostgreSQL server from the Debian packages in a temporary folder, for tests: a fresh
/// cluster (`initdb`, trust authentication on 127.0.0.1) with a database `argus` owned by the
/// user `argus`. Run as root, it runs as the `postgres` system user (PostgreSQL refuses root).
#[derive(Debug)]
pub struct Postgres {
    /// Its port.
    pub port: u16,
    _lease: PortLease,
    dir: PathBuf,
    data: PathBuf,
    child: Option<Child>,
}

fn postgres_bin(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|r| {
            r.flatten()
                .map(|e| e.path().join("bin").join(name))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|p| p.exists());
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed: run ./scripts/bootstrap.sh (Debian package `postgresql`)"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program args…`, as the `postgres` user when we are root.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    /// Creates a cluster in `dir` and starts it on a free port.
    pub fn start(dir: &Path) -> Self {
        let lease = lease_port();
        let data = dir.join("data");
        std::fs::create_dir_all(dir).expect("postgres folder");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
            .expect("postgres folder mode");
        run_tool(
            as_postgres(&postgres_bin("initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-A", "trust", "-U", "argus", "--no-sync", "-E", "UTF8"]),
        );
        let mut pg = Self {
            port: lease.port,
            _lease: lease,
            dir: dir.to_path_buf(),
            data,
            child: None,
        };
        pg.start_server();
        pg.create_db("argus");
        pg
    }

    fn start_server(&mut self) {
        let child = as_postgres(&postgres_bin("postgres"))
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string(), "-h", "127.0.0.1", "-k"])
            .arg(&self.dir)
            .args(["-c", "fsync=off", "-c", "max_connections=50"])
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.join("postgres.log"))
                    .expect("postgres log"),
            )
            .spawn()
            .expect("starting postgres");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self
                .client_tool("pg_isready")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                break;
            }
            assert!(
                Instant::now() < until,
                "postgres did not start (see {}/postgres.log)",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A PostgreSQL client tool (`createdb`, `pg_isready`, …) pointed at this server as `argus`.
    fn client_tool(&self, name: &str) -> Command {
        let mut c = Command::new(postgres_bin(name));
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "argus",
        ]);
        c
    }

    fn stop_server(&mut self) {
        if let Some(mut c) = self.child.take() {
            // A fast shutdown (open connections are closed), as the server's own user.
            let _ = as_postgres(&postgres_bin("pg_ctl"))
                .arg("stop")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "fast", "-w"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            reap(&mut c, Duration::from_secs(10));
        }
    }

    /// Stops the server (fast: open connections are cut) and starts it again on its port,
    /// `down` later — a restart as an operator or a failover does it.
    pub fn restart(&mut self, down: Duration) {
        self.stop_server();
        std::thread::sleep(down);
        self.start_server();
    }

    /// `postgres://argus@127.0.0.1:PORT/argus`.
    pub fn url(&self) -> String {
        self.db_url("argus")
    }

    /// The URL of database `name` on this server.
    pub fn db_url(&self, name: &str) -> String {
        format!("postgres://argus@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates another empty database; returns its URL.
    pub fn create_db(&self, name: &str) -> String {
        run_tool(self.client_tool("createdb").arg(name));
        self.db_url(name)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop_server();
    }
}

/// One HTTP/1.1 exchange with a local server: `(status, body)` whatever the status, or `None`
/// when nothing answers (or the answer does not come within 30 s).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, Vec<u8>)> {
    http_full(port, method, path, headers, body).map(|(status, _, body)| (status, body))
}

/// A response: status, headers (names in lower case), body.
pub type Response = (u16, Vec<(String, String)>, Vec<u8>);

/// [`http`] with the response's headers, names in lower case.
pub fn http_full(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Response> {
    // One client for every call, its configuration made once. It keeps no idle connection:
    // each exchange has a connection of its own, as a test of a restarted server wants.
    static AGENT: std::sync::LazyLock<ureq::Agent> = std::sync::LazyLock::new(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .build()
            .into()
    });
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = AGENT.run(req.body(body.to_vec()).ok()?).ok()?;
    let status = resp.status().as_u16();
    let head = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .ok()?;
    Some((status, head, body))
}

/// `triage serve` (the binary at `exe`) for a benchmark: its store `db`, HTTP on `port`, hits
/// from `broker_url`, and the per-client HTTP limits lifted (a benchmark's readers share one
/// address: what it measures is the service, not the limiter). Its config and log are
/// `dir/{tag}.toml` and `dir/{tag}.log`; returns once it has subscribed to hits.
pub fn bench_triage(
    exe: &str,
    db: &str,
    port: u16,
    broker_url: &str,
    dir: &Path,
    tag: &str,
) -> Child {
    let config = dir.join(format!("{tag}.toml"));
    std::fs::write(
        &config,
        format!(
            "db = \"{db}\"\nhttp = \"127.0.0.1:{port}\"\n[mqtt]\nurl = \"{broker_url}\"\n\
             [http_limits]\nper_second = 1000000\nburst = 1000000\nconcurrent = 1000\n"
        ),
    )
    .expect("the benchmark's triage config");
    start_triage(
        exe,
        &[
            "serve".to_string(),
            "--config".into(),
            config.display().to_string(),
        ],
        &dir.join(format!("{tag}.log")),
    )
}

/// Starts `triage` (the binary at `exe`) with `args`, its log in `log`, and waits until it has
/// subscribed to hits; panics with the log's path when it does not within 30 s.
pub fn start_triage<S: AsRef<std::ffi::OsStr>>(exe: &str, args: &[S], log: &Path) -> Child {
    let mut child = Command::new(exe)
        .args(args)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("triage log"))
        .spawn()
        .expect("starting triage");
    let until = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(log).is_ok_and(|t| t.contains("subscribed to hits")) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("triage exited ({status}); see {}", log.display());
        }
        assert!(
            Instant::now() < until,
            "triage did not start; see {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Starts the workspace's own `triage serve` with `args` (see [`start_triage`] and
/// [`workspace_bin`]).
pub fn serve_triage<S: AsRef<std::ffi::OsStr>>(args: &[S], log: &Path) -> Child {
    let mut all: Vec<std::ffi::OsString> = vec!["serve".into()];
    all.extend(args.iter().map(|a| a.as_ref().to_os_string()));
    start_triage(&workspace_bin("triage").to_string_lossy(), &all, log)
}

/// How a client logs in to a broker.
#[derive(Debug, Clone)]
pub struct Login {
    /// Username.
    pub user: String,
    /// Password.
    pub password: String,
    /// The CA of a TLS broker.
    pub ca_file: Option<PathBuf>,
}

impl From<&Secure> for Login {
    fn from(s: &Secure) -> Self {
        Self {
            user: s.user.clone(),
            password: s.password.clone(),
            ca_file: Some(s.ca_file.clone()),
        }
    }
}

/// A binary of the workspace (`triage`, `edge-agent`, …) next to the running test's own
/// folder: the workspace's test build builds them all. Panics, saying how to build it, when it
/// is missing.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps");
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --workspace --all-targets` (scripts/test.sh does)",
        bin.display()
    );
    bin
}
