//! The embedded MQTT broker (rumqttd): what triage listens on when no external broker is
//! configured, so a site or a demo needs nothing installed. MQTT 3.1.1, plain TCP, no
//! authentication — bind it to loopback or a private network; deployments that need TLS,
//! passwords or persistence across restarts run Mosquitto and point `[mqtt] url` at it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

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

/// A running embedded broker; it lives as long as the process. Its threads are watched: a
/// panic on rumqttd's router or listener threads (which would leave the port open and every
/// client unanswered) is noted, and [`EmbeddedBroker::wait`] returns.
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
    death: DeathNote,
}

impl EmbeddedBroker {
    /// Starts listening on `addr` and waits until the port accepts connections.
    pub fn start(addr: SocketAddr) -> Result<Self, BrokerError> {
        // rumqttd logs a failed bind from its own thread and carries on; find out here.
        TcpListener::bind(addr).map_err(|source| BrokerError::Bind { addr, source })?;
        let death: DeathNote = Arc::default();
        {
            let note = death.clone();
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let name = std::thread::current().name().unwrap_or("").to_string();
                if name.starts_with("router-") || name == SERVER_NAME || name == "mqtt-broker" {
                    note_death(&note, format!("thread {name} panicked: {info}"));
                }
                previous(info);
            }));
        }
        let mut broker = rumqttd::Broker::new(config(addr));
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

fn config(addr: SocketAddr) -> rumqttd::Config {
    let text = format!(
        r#"
id = 0
[router]
id = 0
max_connections = 1024
max_outgoing_packet_count = 1000
max_segment_size = 104857600
max_segment_count = 10
[v4.1]
name = "{SERVER_NAME}"
listen = "{addr}"
next_connection_delay_ms = 1
[v4.1.connections]
connection_timeout_ms = 60000
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
        let err = EmbeddedBroker::start(addr).unwrap_err().to_string();
        assert!(
            err.contains("cannot listen on") && err.contains(&addr.to_string()),
            "{err}"
        );
    }

    #[test]
    fn its_config_parses() {
        let c = config("127.0.0.1:1883".parse().unwrap());
        assert_eq!(c.v4.unwrap()["1"].connections.max_payload_size, MAX_PAYLOAD);
    }
}
