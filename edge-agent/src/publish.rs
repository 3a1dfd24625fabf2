//! Publishing the outbox over MQTT (QoS 1) with rumqttc.
//!
//! A hit leaves the outbox only on the broker's PUBACK for the packet that carried it:
//! `publish()` returning `Ok` means only "queued". Packet ids are matched to hits through the
//! order in which the event loop reports sending them; that order is exact because each
//! connection gets a fresh client, so nothing queued on a dead connection is replayed behind
//! our back. After any disconnection the remaining hits are sent again on the next connection
//! (at least once; triage drops repeats by `hit_id`).
//!
//! The agent's status is a retained message on `argus/v1/agents/{id}/status`: `online` once
//! connected, `offline` on a clean stop, and the same `offline` as the last will when the agent
//! vanishes.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{
    Client, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, RecvTimeoutError, Transport,
};

use argus_core::broker::BrokerUrl;

use crate::outbox::Outbox;

/// Hits in flight (sent, not yet acknowledged) at most.
const WINDOW: usize = 64;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct PublisherOptions {
    /// `mqtt://host:port` or `mqtts://host:port`.
    pub url: String,
    /// The agent id (client id and topic segment; other clients of the agent append to it).
    pub agent_id: String,
    /// Username and password.
    pub credentials: Option<(String, String)>,
    /// CA certificate (PEM) for `mqtts://`.
    pub ca_pem: Option<Vec<u8>>,
    /// Keep-alive.
    pub keep_alive: Duration,
}

/// Publisher errors at start.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The URL is not `mqtt[s]://host[:port]`.
    #[error("mqtt url {0:?}: expected mqtt://host:port or mqtts://host:port")]
    Url(String),
    /// `mqtts://` without a CA file.
    #[error("mqtt url {0:?}: mqtts needs `ca_file`")]
    NoCa(String),
}

/// Counters the metrics endpoint shows.
#[derive(Debug, Default)]
pub struct PublishStats {
    /// Hits acknowledged by the broker.
    pub acked: AtomicU64,
    /// Publishes sent (including repeats after reconnects).
    pub sent: AtomicU64,
    /// Connections made.
    pub connects: AtomicU64,
    /// Whether connected now.
    pub connected: AtomicBool,
}

pub use argus_core::hit::hits_topic;

/// The retained status topic.
pub fn status_topic(agent_id: &str) -> String {
    format!("argus/v1/agents/{agent_id}/status")
}

fn status_payload(state: &str) -> Vec<u8> {
    format!("{{\"state\":\"{state}\"}}").into_bytes()
}

/// The running publisher.
#[derive(Debug)]
pub struct Publisher {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    /// Its counters.
    pub stats: Arc<PublishStats>,
}

impl PublisherOptions {
    /// rumqttc options for a client of this agent called `client_id`: address, keep-alive,
    /// credentials and TLS.
    pub fn mqtt_options(&self, client_id: &str) -> Result<MqttOptions, PublishError> {
        let url = BrokerUrl::parse(&self.url).map_err(|e| PublishError::Url(e.0))?;
        if url.tls && self.ca_pem.is_none() {
            return Err(PublishError::NoCa(self.url.clone()));
        }
        let mut mo = MqttOptions::new(client_id, url.host, url.port);
        mo.set_keep_alive(self.keep_alive);
        if let Some((u, p)) = &self.credentials {
            mo.set_credentials(u.clone(), p.clone());
        }
        if let Some(ca) = &self.ca_pem {
            mo.set_transport(Transport::tls(ca.clone(), None, None));
        }
        Ok(mo)
    }
}

impl Publisher {
    /// Starts publishing the outbox in a thread.
    pub fn spawn(opts: PublisherOptions, outbox: Arc<Outbox>) -> Result<Self, PublishError> {
        let mut mo = opts.mqtt_options(&opts.agent_id)?;
        mo.set_clean_session(true)
            .set_inflight(WINDOW as u16 + 8)
            .set_max_packet_size(4 << 20, 4 << 20)
            .set_last_will(LastWill::new(
                status_topic(&opts.agent_id),
                status_payload("offline"),
                QoS::AtLeastOnce,
                true,
            ));
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(PublishStats::default());
        let handle = {
            let (stop, stats, agent) = (stop.clone(), stats.clone(), opts.agent_id.clone());
            std::thread::Builder::new()
                .name("mqtt-publisher".into())
                .spawn(move || run(mo, &agent, &outbox, &stop, &stats))
                .expect("spawning the publisher thread")
        };
        Ok(Self {
            stop,
            handle: Some(handle),
            stats,
        })
    }

    /// Stops: waits up to `drain` for the outbox to empty, says `offline`, disconnects.
    pub fn shutdown(mut self, outbox: &Outbox, drain: Duration) {
        let deadline = Instant::now() + drain;
        while !outbox.is_empty() && Instant::now() < deadline {
            outbox.wait_change(Duration::from_millis(100));
        }
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// What the FIFO of sent publishes carries: a hit, or our own status message.
enum Sent {
    Hit(String),
    Status,
}

fn run(mo: MqttOptions, agent: &str, outbox: &Outbox, stop: &AtomicBool, stats: &PublishStats) {
    let mut backoff = Duration::from_millis(250);
    let topic = hits_topic(agent);
    // Why the last connection attempt failed: each new reason is reported once.
    let mut failing: Option<String> = None;
    while !stop.load(Ordering::SeqCst) {
        let (client, mut conn) = Client::new(mo.clone(), WINDOW * 2);
        // Each hit leaves at once, not when Nagle's algorithm lets it.
        let mut net = conn.eventloop.network_options();
        net.set_tcp_nodelay(true);
        conn.eventloop.set_network_options(net);
        let mut connected = false;
        let mut order: VecDeque<Sent> = VecDeque::new();
        let mut pkids: HashMap<u16, String> = HashMap::new();
        let mut inflight: HashSet<String> = HashSet::new();
        loop {
            if stop.load(Ordering::SeqCst) {
                if connected {
                    let _ = client.try_publish(
                        status_topic(agent),
                        QoS::AtLeastOnce,
                        true,
                        status_payload("offline"),
                    );
                    // Let the event loop send it before disconnecting.
                    let until = Instant::now() + Duration::from_millis(500);
                    while Instant::now() < until {
                        if let Ok(Ok(Event::Incoming(Packet::PubAck(_)))) =
                            conn.recv_timeout(Duration::from_millis(50))
                        {
                            break;
                        }
                    }
                    let _ = client.disconnect();
                }
                stats.connected.store(false, Ordering::SeqCst);
                return;
            }
            if connected && inflight.len() < WINDOW {
                for id in outbox.ids() {
                    if inflight.len() >= WINDOW {
                        break;
                    }
                    if inflight.contains(&id) {
                        continue;
                    }
                    let entry = match outbox.get(&id) {
                        Ok(e) => e,
                        Err(e) => {
                            tracing::error!(error = %e, "reading the outbox");
                            continue;
                        }
                    };
                    let t = if entry.topic.is_empty() {
                        topic.clone()
                    } else {
                        entry.topic
                    };
                    if client
                        .try_publish(t, QoS::AtLeastOnce, false, entry.payload)
                        .is_err()
                    {
                        break; // the request queue is full: the rest go next round
                    }
                    order.push_back(Sent::Hit(id.clone()));
                    inflight.insert(id);
                }
            }
            match conn.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => {
                    if ack.code == rumqttc::ConnectReturnCode::Success {
                        connected = true;
                        failing = None;
                        backoff = Duration::from_millis(250);
                        stats.connects.fetch_add(1, Ordering::Relaxed);
                        stats.connected.store(true, Ordering::SeqCst);
                        tracing::info!(waiting = outbox.len(), "connected to the broker");
                        if client
                            .try_publish(
                                status_topic(agent),
                                QoS::AtLeastOnce,
                                true,
                                status_payload("online"),
                            )
                            .is_ok()
                        {
                            order.push_back(Sent::Status);
                        }
                    }
                }
                Ok(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) => {
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                    if let Some(Sent::Hit(id)) = order.pop_front() {
                        pkids.insert(pkid, id);
                    }
                }
                Ok(Ok(Event::Incoming(Packet::PubAck(ack)))) => {
                    if let Some(id) = pkids.remove(&ack.pkid) {
                        if let Err(e) = outbox.remove(&id) {
                            tracing::error!(error = %e, "clearing an acknowledged hit");
                        }
                        inflight.remove(&id);
                        stats.acked.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Err(e)) => {
                    stats.connected.store(false, Ordering::SeqCst);
                    if connected {
                        tracing::warn!(error = %e, waiting = outbox.len(), "lost the broker; hits stay in the outbox");
                    } else if failing.as_deref() != Some(&e.to_string()) {
                        // A refused password or certificate says so once, not every retry.
                        tracing::warn!(error = %e, waiting = outbox.len(), "cannot connect to the broker; hits stay in the outbox");
                        failing = Some(e.to_string());
                    }
                    break;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        drop(client);
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
