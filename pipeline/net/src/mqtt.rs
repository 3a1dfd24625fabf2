//! How a client reaches a broker: `mqtt://host[:port]` or `mqtts://host[:port]` with a CA, a
//! login, the rumqttc options built from them, and the backoff between connection tries. The
//! edge agent's publisher and OSD listener and triage's ingest all connect through here.

use std::path::Path;
use std::time::Duration;

use argus_core::broker::BrokerUrl;
use rumqttc::{MqttOptions, Transport};

/// Why a connection cannot be made as configured (found before any thread starts: a mistake
/// here stops the service at once instead of leaving it up and deaf).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MqttError {
    /// The URL is not `mqtt[s]://host[:port]`.
    #[error("mqtt url {0:?}: expected mqtt://host:port or mqtts://host:port")]
    Url(String),
    /// `mqtts://` without a CA.
    #[error("mqtt url {0:?}: mqtts needs a CA file (mqtt.ca_file)")]
    NoCa(String),
    /// A CA file without a PEM certificate.
    #[error("mqtt url {0:?}: mqtt.ca_file holds no PEM certificate")]
    BadCa(String),
    /// A file the `[mqtt]` section names cannot be read.
    #[error("mqtt.{key} {path}: {error}")]
    File {
        /// `password_file` or `ca_file`.
        key: &'static str,
        /// The file.
        path: String,
        /// Why it cannot be read.
        error: String,
    },
}

/// How a config's `[mqtt]` section says a client logs in (the same keys in the edge agent's
/// and triage's configs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Login<'a> {
    /// `username`.
    pub username: Option<&'a str>,
    /// `password`, written inline.
    pub password: Option<&'a str>,
    /// `password_file`: a file holding the password (a trailing newline is not part of it).
    pub password_file: Option<&'a Path>,
    /// `ca_file`: the CA certificate (PEM) for `mqtts://`.
    pub ca_file: Option<&'a Path>,
}

impl Login<'_> {
    /// The connection to `url` with this login: the password and the CA read from their files.
    /// A password without a username is not used (MQTT 3.1.1 has no such login).
    pub fn connection(&self, url: String) -> Result<Connection, MqttError> {
        let read = |key: &'static str, path: &Path| {
            std::fs::read(path).map_err(|e| MqttError::File {
                key,
                path: path.display().to_string(),
                error: e.to_string(),
            })
        };
        let password = match (self.password, self.password_file) {
            (Some(p), _) => Some(p.to_string()),
            (None, Some(f)) => Some(
                String::from_utf8_lossy(&read("password_file", f)?)
                    .trim_end()
                    .to_string(),
            ),
            (None, None) => None,
        };
        Ok(Connection {
            url,
            credentials: self
                .username
                .map(|u| (u.to_string(), password.unwrap_or_default())),
            ca_pem: self.ca_file.map(|f| read("ca_file", f)).transpose()?,
        })
    }
}

/// Where a client connects and how it logs in.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    /// `mqtt://host:port` or `mqtts://host:port`.
    pub url: String,
    /// Username and password.
    pub credentials: Option<(String, String)>,
    /// CA certificate (PEM) for `mqtts://`.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password never reaches a log.
        f.debug_struct("Connection")
            .field("url", &argus_core::redact::url(&self.url))
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("ca", &self.ca_pem.is_some())
            .finish()
    }
}

impl Connection {
    /// Checks the URL and the TLS set-up (a CA that holds a certificate).
    pub fn check(&self) -> Result<(), MqttError> {
        self.options("check", Duration::from_secs(15))?;
        if let Some(ca) = &self.ca_pem {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject as _;
            if !CertificateDer::pem_slice_iter(ca).any(|c| c.is_ok()) {
                return Err(MqttError::BadCa(self.url.clone()));
            }
        }
        Ok(())
    }

    /// rumqttc options for a client called `client_id`: address, keep-alive, login and TLS.
    pub fn options(&self, client_id: &str, keep_alive: Duration) -> Result<MqttOptions, MqttError> {
        let url = BrokerUrl::parse(&self.url).map_err(|e| MqttError::Url(e.0))?;
        let mut mo = MqttOptions::new(client_id, url.host, url.port);
        mo.set_keep_alive(keep_alive);
        if let Some((u, p)) = &self.credentials {
            mo.set_credentials(u.clone(), p.clone());
        }
        match (&self.ca_pem, url.tls) {
            (Some(ca), true) => {
                mo.set_transport(Transport::tls(ca.clone(), None, None));
            }
            (None, true) => return Err(MqttError::NoCa(self.url.clone())),
            _ => {}
        }
        Ok(mo)
    }
}

/// The wait between connection tries: from `first`, doubling to `max`; back to `first` once a
/// connection is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// A backoff from `first` to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            next: first,
        }
    }

    /// The wait before the next try; the one after is twice as long (up to the most).
    pub fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    /// The wait the next failure will bring.
    pub fn next(&self) -> Duration {
        self.next
    }

    /// Waits out the next wait (see [`Backoff::failed`]), or less if `stop` is set meanwhile.
    pub fn wait(&mut self, stop: &std::sync::atomic::AtomicBool) {
        let until = std::time::Instant::now() + self.failed();
        while std::time::Instant::now() < until && !stop.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(
                Duration::from_millis(50)
                    .min(until.saturating_duration_since(std::time::Instant::now())),
            );
        }
    }

    /// A connection was made: the next failure waits the shortest time again.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_reads_its_files_and_names_the_key_it_cannot_read() {
        let dir = std::env::temp_dir().join(format!("argus-login-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pass = dir.join("dock.pass");
        std::fs::write(&pass, "s3cret\n").unwrap();
        let login = Login {
            username: Some("dock-1"),
            password_file: Some(&pass),
            ..Login::default()
        };
        let c = login.connection("mqtt://127.0.0.1:1883".into()).unwrap();
        assert_eq!(c.credentials, Some(("dock-1".into(), "s3cret".into())));
        // An inline password wins; the file is then not read.
        let inline = Login {
            password: Some("inline"),
            password_file: Some(&dir.join("absent")),
            ..login
        };
        let c = inline.connection("mqtt://h".into()).unwrap();
        assert_eq!(c.credentials, Some(("dock-1".into(), "inline".into())));
        let missing = Login {
            ca_file: Some(&dir.join("ca.pem")),
            ..login
        };
        let e = missing.connection("mqtts://h".into()).unwrap_err();
        assert!(e.to_string().starts_with("mqtt.ca_file "), "{e}");
        assert!(
            !format!("{c:?}").contains("inline"),
            "the password reached a log"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn urls_logins_and_tls_are_checked_before_anything_connects() {
        let c = |url: &str, ca: Option<&[u8]>| Connection {
            url: url.into(),
            credentials: Some(("dock-1".into(), "s3cret".into())),
            ca_pem: ca.map(<[u8]>::to_vec),
        };
        assert!(c("mqtt://127.0.0.1:1883", None).check().is_ok());
        assert_eq!(
            c("tcp://x:1", None).check(),
            Err(MqttError::Url("tcp://x:1".into()))
        );
        assert!(matches!(
            c("mqtts://b:8883", None).check(),
            Err(MqttError::NoCa(_))
        ));
        assert!(matches!(
            c("mqtts://b:8883", Some(b"not a certificate")).check(),
            Err(MqttError::BadCa(_))
        ));
        let mo = c("mqtt://broker:1884", None)
            .options("dock-1-osd", Duration::from_secs(5))
            .unwrap();
        assert_eq!(mo.broker_address(), ("broker".to_string(), 1884));
        assert!(mo.credentials().is_some_and(|l| l.username == "dock-1"));
        let shown = format!("{:?}", c("mqtt://u:pw@broker:1", None));
        assert!(
            !shown.contains("s3cret") && !shown.contains(":pw@"),
            "{shown}"
        );
    }

    #[test]
    fn the_wait_doubles_to_its_most_and_starts_over_after_a_connection() {
        let mut b = Backoff::new(Duration::from_millis(250), Duration::from_secs(1));
        let waits: Vec<u128> = (0..4).map(|_| b.failed().as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 1000]);
        b.reset();
        assert_eq!(b.failed(), Duration::from_millis(250));
    }
}
