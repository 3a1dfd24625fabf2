//! Real services for tests: a Mosquitto broker started from the Debian package on a free port,
//! stopped (and restartable on the same port) by the test. No mocks: the system under test talks
//! MQTT to the real thing.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (the OS's choice).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral port")
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

/// A Mosquitto broker in a temporary folder, with persistence (a restarted broker keeps its
/// sessions and queued QoS 1 messages, like a production one).
#[derive(Debug)]
pub struct Mosquitto {
    /// Its port.
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
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
        let mut m = Self {
            port: free_port(),
            dir: dir.to_path_buf(),
            child: None,
        };
        m.restart();
        m
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the broker on the same port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        std::fs::create_dir_all(&self.dir).expect("broker folder");
        let conf = self.dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n\
                 autosave_interval 1\nmax_queued_messages 100000\nlog_dest file {}/mosquitto.log\n",
                self.port,
                self.dir.display(),
                self.dir.display()
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

    /// Stops the broker (SIGTERM: it saves its sessions, as a service stop does).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
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
