//! The embedded MQTT broker (rumqttd): what triage listens on when no external broker is
//! configured, so a site or a demo needs nothing installed. MQTT 3.1.1, plain TCP, in memory:
//! what it holds is lost with the process, and the agents' receipts bring it back.
//!
//! Without credentials it listens on loopback only (a non-loopback address is refused at
//! start). With `[mqtt] credentials` and `[mqtt] acl` (the `USER.pass` files and the
//! `dynamic-security.json` that `triage broker-config` writes for Mosquitto) every client logs
//! in as one of those users, with a client id that is its username or starts with `USERNAME-`
//! (the longest username that is the id or begins it with `-` owns it, so no one takes over
//! another's session), and may publish and subscribe only as the ACL
//! says — the same rights Mosquitto enforces from the same file. A refused subscription gets a
//! failed SUBACK; a refused publish or will closes the connection (MQTT 3.1.1 cannot refuse one
//! message). The ACL is enforced by Argus's fork of rumqttd (`vendor/rumqttd/ARGUS.md`).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::acl::Acl;

/// The name of the embedded broker's MQTT listener thread (rumqttd names it after the server).
const SERVER_NAME: &str = "argus-v4";

/// The biggest message the embedded broker takes: above the ingest's own 2 MiB limit, so an
/// oversized hit still reaches the dead letters instead of being cut off at the broker.
const MAX_PAYLOAD: usize = 4 * 1024 * 1024;

/// Why the embedded broker cannot start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The address is taken or not ours.
    #[error("embedded broker: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A non-loopback address without credentials.
    #[error(
        "embedded broker: {0} is not a loopback address; set [mqtt] credentials (a folder of USER.pass files) to listen there"
    )]
    Open(SocketAddr),
    /// Credentials without an ACL, or the other way round.
    #[error(
        "embedded broker: [mqtt] credentials and [mqtt] acl go together (both are written by `triage broker-config`)"
    )]
    HalfSecured,
    /// The credentials folder.
    #[error("embedded broker: credentials {path}: {why}")]
    Credentials {
        /// The folder.
        path: String,
        /// Why.
        why: String,
    },
    /// The ACL file.
    #[error("embedded broker: acl {0}")]
    Acl(#[from] crate::acl::AclError),
    /// The broker's threads did not start.
    #[error("embedded broker: {0}")]
    Start(String),
}

/// Why the broker died, once it has.
type DeathNote = Arc<(Mutex<Option<String>>, Condvar)>;

fn note_death(note: &DeathNote, why: String) {
    let (lock, cond) = &**note;
    let mut g = lock.lock().unwrap_or_else(|p| p.into_inner());
    g.get_or_insert(why);
    cond.notify_all();
}

/// Who may log in to the embedded broker, and what each user may do.
#[derive(Debug, Clone)]
pub struct Logins {
    /// User → password.
    pub passwords: HashMap<String, String>,
    /// Each user's topic rights.
    pub acl: Acl,
}

impl Logins {
    /// Reads the credentials folder and the ACL file (both or neither: a broker that checks
    /// passwords but not topics, or the other way round, is refused).
    pub fn read(
        credentials: Option<&Path>,
        acl: Option<&Path>,
    ) -> Result<Option<Self>, BrokerError> {
        match (credentials, acl) {
            (None, None) => Ok(None),
            (Some(dir), Some(acl)) => Ok(Some(Self {
                passwords: read_credentials(dir)?,
                acl: Acl::load(acl)?,
            })),
            _ => Err(BrokerError::HalfSecured),
        }
    }
}

/// A running embedded broker; it lives as long as the process. Its threads are watched: a
/// panic on rumqttd's router or listener threads (which would leave the port open and every
/// client unanswered) is noted, and [`EmbeddedBroker::wait`] returns.
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
    death: DeathNote,
}

impl EmbeddedBroker {
    /// Starts listening on `addr` and waits until the port accepts connections; with `logins`,
    /// only those users get in, each to its own topics.
    pub fn start(addr: SocketAddr, logins: Option<Logins>) -> Result<Self, BrokerError> {
        if logins.is_none() && !addr.ip().is_loopback() {
            return Err(BrokerError::Open(addr));
        }
        raise_open_files();
        // rumqttd logs a failed bind from its own thread and carries on; find out here.
        TcpListener::bind(addr).map_err(|source| BrokerError::Bind { addr, source })?;
        let death: DeathNote = Arc::default();
        {
            let note = death.clone();
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let name = std::thread::current().name().unwrap_or("").to_string();
                // The listener's connection tasks run on the server thread, where tokio keeps a
                // panic to its task; the thread's own end is seen by `Broker::start` returning.
                if name.starts_with("router-") || name == "mqtt-broker" {
                    note_death(&note, format!("thread {name} panicked: {info}"));
                }
                previous(info);
            }));
        }
        let mut config = config(addr);
        if let (Some(logins), Some(v4)) = (logins, config.v4.as_mut()) {
            let users = Arc::new(logins.passwords);
            let acl = Arc::new(logins.acl);
            for server in v4.values_mut() {
                let users = users.clone();
                server.connections.set_auth_handler(
                    move |client_id: String, user: String, pass: String| {
                        let ok = allowed(&users, &client_id, &user, &pass);
                        if !ok {
                            refused_once(
                                &user,
                                "embedded broker refused a login (wrong user, password or client id)",
                                &client_id,
                            );
                        }
                        async move { ok }
                    },
                );
                let acl = acl.clone();
                server.connections.acl = Some(Arc::new(move |user, access, topic| {
                    let ok = match access {
                        rumqttd::Access::Publish => acl.may_send(user, topic),
                        rumqttd::Access::Subscribe => acl.may_subscribe(user, topic),
                    };
                    if !ok {
                        refused_once(user, "embedded broker refused a topic", topic);
                    }
                    ok
                }));
            }
        }
        let mut broker = rumqttd::Broker::new(config);
        let note = death.clone();
        std::thread::Builder::new()
            .name("mqtt-broker".into())
            .spawn(move || {
                let why = match broker.start() {
                    Ok(()) => "it returned".to_string(),
                    Err(e) => e.to_string(),
                };
                note_death(&note, why);
            })
            .map_err(|e| BrokerError::Start(e.to_string()))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline {
                return Err(BrokerError::Start(format!(
                    "{addr} does not accept connections"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::info!(%addr, "embedded MQTT broker listening");
        Ok(Self { addr, death })
    }

    /// Blocks until the broker dies; says why.
    pub fn wait(&self) -> String {
        let (lock, cond) = &*self.death;
        let mut g = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(why) = g.as_ref() {
                return why.clone();
            }
            g = cond.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// The address clients connect to (`mqtt://…`).
    pub fn url(&self) -> String {
        let host = if self.addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            self.addr.ip().to_string()
        };
        format!("mqtt://{host}:{}", self.addr.port())
    }
}

/// Whether `user` with `pass` may connect as `client_id`: a known user, its password (compared
/// in constant time), and a client id of its own — `[A-Za-z0-9_-]`, the username or
/// `USERNAME-…`, and no other user's by that same rule with a longer name (so `dock` cannot take
/// `dock-1`'s session, nor `dock-1` the sessions of a user `dock-1-b`).
fn allowed(users: &HashMap<String, String>, client_id: &str, user: &str, pass: &str) -> bool {
    let Some(want) = users.get(user) else {
        return false;
    };
    let same = want.len() == pass.len()
        && want
            .bytes()
            .zip(pass.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    same && owner(users, client_id) == Some(user)
}

/// The user a client id belongs to: the longest username that is the id or, followed by `-`,
/// begins it. Ids of other characters than `[A-Za-z0-9_-]` belong to no one.
fn owner<'a>(users: &'a HashMap<String, String>, client_id: &str) -> Option<&'a str> {
    if client_id.is_empty()
        || client_id.len() > 128
        || !client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    users
        .keys()
        .filter(|u| {
            client_id == u.as_str()
                || client_id
                    .strip_prefix(u.as_str())
                    .is_some_and(|rest| rest.starts_with('-'))
        })
        .max_by_key(|u| u.len())
        .map(String::as_str)
}

/// Logs a refusal once per user and kind in ten minutes (a flood of wrong passwords is one
/// line, not thousands), with what the first asked for (a client id, a topic).
fn refused_once(user: &str, what: &'static str, asked: &str) {
    static SEEN: Mutex<Option<HashMap<(String, &'static str), Instant>>> = Mutex::new(None);
    let key = (user.to_string(), what);
    let mut g = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    let seen = g.get_or_insert_with(HashMap::new);
    if seen.len() > 10_000 {
        seen.retain(|_, t| t.elapsed() < Duration::from_secs(600));
    }
    if seen
        .get(&key)
        .is_none_or(|t| t.elapsed() >= Duration::from_secs(600))
    {
        seen.insert(key, Instant::now());
        tracing::warn!(user = %user.escape_debug(), asked = %asked.escape_debug(), "{what}");
    }
}

/// Reads a credentials folder: each `USER.pass` file holds that user's password.
pub fn read_credentials(dir: &Path) -> Result<HashMap<String, String>, BrokerError> {
    let bad = |why: String| BrokerError::Credentials {
        path: dir.display().to_string(),
        why,
    };
    let mut users = HashMap::new();
    for e in std::fs::read_dir(dir).map_err(|e| bad(e.to_string()))? {
        let e = e.map_err(|e| bad(e.to_string()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(user) = name.strip_suffix(".pass") else {
            continue;
        };
        let password =
            std::fs::read_to_string(e.path()).map_err(|e| bad(format!("{name}: {e}")))?;
        let password = password.trim_end().to_string();
        if password.is_empty() {
            return Err(bad(format!("{name} is empty")));
        }
        users.insert(user.to_string(), password);
    }
    if users.is_empty() {
        return Err(bad("holds no USER.pass file".into()));
    }
    Ok(users)
}

/// Connections the embedded broker holds at once. A client that connects and says nothing is
/// dropped after 5 s (`connection_timeout_ms`), so idle sockets cannot fill these for long; the
/// process's open-file limit is raised to fit them ([`raise_open_files`]).
const MAX_CONNECTIONS: usize = 10_000;

/// Raises this process's open-file limit to its hard limit, so the embedded broker's
/// connections are not refused for want of descriptors long before `MAX_CONNECTIONS`.
pub fn raise_open_files() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut l = getrlimit(Resource::Nofile);
    if let Some(hard) = l.maximum
        && l.current.is_some_and(|c| c < hard)
    {
        l.current = Some(hard);
        if let Err(e) = setrlimit(Resource::Nofile, l) {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
        }
    }
}

/// rumqttd keeps each topic's messages in a log of segments, delivered or not; two segments of
/// 8 MiB bound a topic (an agent's hits) to 16 MiB. A subscriber that falls further behind
/// skips what was dropped — and the agents send it again, for want of a receipt.
const SEGMENT: usize = 8 * 1024 * 1024;

fn config(addr: SocketAddr) -> rumqttd::Config {
    let text = format!(
        r#"
id = 0
[router]
id = 0
max_connections = {MAX_CONNECTIONS}
max_outgoing_packet_count = 1000
max_segment_size = {SEGMENT}
max_segment_count = 2
[v4.1]
name = "{SERVER_NAME}"
listen = "{addr}"
next_connection_delay_ms = 1
[v4.1.connections]
connection_timeout_ms = 5000
max_payload_size = {MAX_PAYLOAD}
max_inflight_count = 1000
dynamic_filters = true
"#
    );
    toml::from_str(&text).expect("the embedded broker's config is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_a_clear_error() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = EmbeddedBroker::start(addr, None).unwrap_err().to_string();
        assert!(
            err.contains("cannot listen on") && err.contains(&addr.to_string()),
            "{err}"
        );
    }

    #[test]
    fn logins_need_the_password_and_a_client_id_of_their_own() {
        let users: HashMap<String, String> = [("dock-1", "s3cret"), ("triage", "t")]
            .into_iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect();
        assert!(allowed(&users, "dock-1", "dock-1", "s3cret"));
        assert!(allowed(&users, "dock-1-osd", "dock-1", "s3cret"));
        assert!(allowed(&users, "triage-0a1b2c", "triage", "t"));
        assert!(!allowed(&users, "dock-1", "dock-1", "s3cre"));
        assert!(
            !allowed(&users, "triage-0a1b2c", "dock-1", "s3cret"),
            "another's client id"
        );
        assert!(!allowed(&users, "dock-10", "dock-1", "s3cret"));
        assert!(!allowed(&users, "x", "nobody", ""));
        assert!(
            !allowed(&users, "dock-1-#", "dock-1", "s3cret"),
            "an id the broker cannot route"
        );
        assert!(!allowed(&users, "dock-1-x/y", "dock-1", "s3cret"));
        // A user whose name begins another's cannot take the other's ids.
        let mut users = users;
        users.insert("dock".into(), "d".into());
        assert!(allowed(&users, "dock-2", "dock", "d"));
        assert!(!allowed(&users, "dock-1", "dock", "d"), "dock-1's session");
        assert!(!allowed(&users, "dock-1-osd", "dock", "d"));
        assert!(allowed(&users, "dock-1-osd", "dock-1", "s3cret"));
        // Open only on loopback.
        let e = EmbeddedBroker::start("0.0.0.0:0".parse().unwrap(), None).unwrap_err();
        assert!(matches!(e, BrokerError::Open(_)), "{e}");
    }

    #[test]
    fn its_config_parses() {
        let c = config("127.0.0.1:1883".parse().unwrap());
        assert_eq!(c.v4.unwrap()["1"].connections.max_payload_size, MAX_PAYLOAD);
    }
}
