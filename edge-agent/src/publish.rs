//! Publishing the outbox over MQTT (QoS 1) with rumqttc.
//!
//! A hit leaves the outbox only on triage's receipt ([`AgentTopic::Receipts`], see
//! [`argus_core::receipt`]), sent after the hit is committed to triage's store — never on the
//! broker's PUBACK, which only says the broker has it (a broker restarted without persistence,
//! a triage instance killed with the hit in flight, a full broker queue would lose it). The
//! PUBACK frees a slot of the in-flight window; a hit without a receipt `receipt_timeout` after
//! its PUBACK is sent again, the wait doubling each time up to ten minutes. Triage drops repeats
//! by `hit_id`, so sending again is always safe.
//!
//! `publish()` returning `Ok` means only "queued". Packet ids are matched to hits through the
//! order in which the event loop reports sending them; that order is exact because each
//! connection gets a fresh client, so nothing queued on a dead connection is replayed behind
//! our back. Hits are sent only once the receipts subscription is acknowledged, so no receipt
//! comes before the agent listens for it.
//!
//! The agent's status is a retained message on [`AgentTopic::Status`]: `online` once
//! connected, `offline` on a clean stop, and the same `offline` as the last will when the agent
//! vanishes.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, RecvTimeoutError};

use argus_core::receipt::{Receipt, ReceiptStatus};
use argus_core::topics::AgentTopic;
use argus_net::mqtt::{Backoff, Connection, MqttError};

use crate::outbox::Outbox;

/// Hits in flight (sent, not yet acknowledged) at most.
const WINDOW: usize = 64;

/// How long a live connection may hold a hit without the broker's PUBACK. Past that the
/// connection is taken for broken (a lost acknowledgement would otherwise hold a slot of the
/// window, and the hit, for as long as the connection lasts) and made again.
const PUBACK_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct PublisherOptions {
    /// The broker and the agent's login there.
    pub connection: Connection,
    /// The agent id (client id and topic segment; other clients of the agent append to it).
    pub agent_id: String,
    /// Keep-alive.
    pub keep_alive: Duration,
    /// How long a hit the broker took waits for its receipt before it is sent again (the wait
    /// doubles with each try, up to ten minutes).
    pub receipt_timeout: Duration,
}

/// Publisher errors at start.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker's URL or TLS set-up.
    #[error(transparent)]
    Mqtt(#[from] MqttError),
    /// The publisher's thread could not start.
    #[error("starting the publisher: {0}")]
    Spawn(std::io::Error),
}

/// Counters the metrics endpoint shows.
#[derive(Debug, Default)]
pub struct PublishStats {
    /// Hits acknowledged by the broker.
    pub acked: AtomicU64,
    /// Hits triage confirmed stored (a receipt).
    pub receipted: AtomicU64,
    /// Hits triage refused (a receipt naming a dead letter).
    pub refused: AtomicU64,
    /// Hits sent again for want of a receipt.
    pub resent: AtomicU64,
    /// Publishes sent (including repeats after reconnects).
    pub sent: AtomicU64,
    /// Connections made.
    pub connects: AtomicU64,
    /// Whether connected now.
    pub connected: AtomicBool,
    /// This agent's clock against triage's, from the receipts' send times.
    pub clock: crate::state::ClockStatus,
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
        Ok(self.connection.options(client_id, self.keep_alive)?)
    }
}

impl Publisher {
    /// Starts publishing the outbox in a thread.
    pub fn spawn(opts: PublisherOptions, outbox: Arc<Outbox>) -> Result<Self, PublishError> {
        let timeout = opts.receipt_timeout.max(Duration::from_millis(100));
        let mut mo = opts.mqtt_options(&opts.agent_id)?;
        mo.set_clean_session(true)
            .set_inflight(WINDOW as u16 + 8)
            .set_max_packet_size(4 << 20, 4 << 20)
            .set_last_will(LastWill::new(
                AgentTopic::Status.topic(&opts.agent_id),
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
                .spawn(move || run(mo, &agent, timeout, &outbox, &stop, &stats))
                .map_err(PublishError::Spawn)?
        };
        Ok(Self {
            stop,
            handle: Some(handle),
            stats,
        })
    }

    /// Stops: waits up to `drain` for the outbox to empty (every hit receipted), says
    /// `offline`, disconnects.
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

/// What the FIFO of sent publishes carries: a hit (and how many times it has been sent), or
/// our own status message.
enum Sent {
    Hit(String, u32),
    Status,
}

/// A hit the broker took, waiting for its receipt.
#[derive(Debug, Clone, Copy)]
struct Awaiting {
    /// When the broker acknowledged it.
    acked_at: Instant,
    /// Times sent.
    tries: u32,
}

impl Awaiting {
    /// Whether it is time to send it again.
    fn due(&self, timeout: Duration) -> bool {
        let wait = timeout
            .saturating_mul(1 << self.tries.saturating_sub(1).min(12))
            .min(Duration::from_secs(600));
        self.acked_at.elapsed() >= wait
    }
}

/// Takes a receipt: the hits it names leave the outbox.
fn take_receipt(
    payload: &[u8],
    outbox: &Outbox,
    awaiting: &mut HashMap<String, Awaiting>,
    stats: &PublishStats,
) {
    let receipt: Receipt = match serde_json::from_slice(payload) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "a receipt that is not one; ignored");
            return;
        }
    };
    if let Some(sent) = receipt.sent_at.filter(|t| t.is_finite()) {
        stats.clock.record(argus_core::clock::now_unix_s() - sent);
    }
    for h in receipt.hits {
        // Only hits this agent holds: a receipt cannot make it drop anything else.
        if !outbox.contains(&h.hit_id) {
            continue;
        }
        match h.status {
            ReceiptStatus::Stored => {
                stats.receipted.fetch_add(1, Ordering::Relaxed);
            }
            ReceiptStatus::Dead => {
                stats.refused.fetch_add(1, Ordering::Relaxed);
                tracing::error!(hit = %h.hit_id, reason = h.reason.as_deref().unwrap_or(""), "triage refused a hit; it is dropped from the outbox");
            }
        }
        if let Err(e) = outbox.remove(&h.hit_id) {
            tracing::error!(error = %e, "clearing a receipted hit");
        }
        awaiting.remove(h.hit_id.as_str());
    }
}

fn run(
    mo: MqttOptions,
    agent: &str,
    timeout: Duration,
    outbox: &Outbox,
    stop: &AtomicBool,
    stats: &PublishStats,
) {
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    let topic = AgentTopic::Hits.topic(agent);
    let receipts = AgentTopic::Receipts.topic(agent);
    // Why the last connection attempt failed: each new reason is reported once.
    let mut failing: Option<String> = None;
    // Hits the broker took, waiting for their receipts: kept across connections (a receipt
    // sent while we were away is lost, and the hit goes again when its wait is over).
    let mut awaiting: HashMap<String, Awaiting> = HashMap::new();
    while !stop.load(Ordering::SeqCst) {
        let (client, mut conn) = Client::new(mo.clone(), WINDOW * 2);
        // Each hit leaves at once, not when Nagle's algorithm lets it.
        let mut net = conn.eventloop.network_options();
        net.set_tcp_nodelay(true);
        conn.eventloop.set_network_options(net);
        // Connected and listening for receipts: hits may go.
        let mut ready = false;
        let mut connected = false;
        let mut order: VecDeque<Sent> = VecDeque::new();
        let mut pkids: HashMap<u16, (String, u32)> = HashMap::new();
        // Hits sent on this connection and not yet acknowledged, with when each was handed over.
        let mut inflight: HashMap<String, Instant> = HashMap::new();
        loop {
            if stop.load(Ordering::SeqCst) {
                if connected {
                    let _ = client.try_publish(
                        AgentTopic::Status.topic(agent),
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
            if let Some(oldest) = inflight.values().min()
                && oldest.elapsed() > PUBACK_TIMEOUT
            {
                tracing::warn!(
                    unacknowledged = inflight.len(),
                    waiting = outbox.len(),
                    "the broker has not acknowledged a hit for {} s; connecting again",
                    PUBACK_TIMEOUT.as_secs()
                );
                stats.connected.store(false, Ordering::SeqCst);
                break;
            }
            if ready && inflight.len() < WINDOW {
                let want = WINDOW - inflight.len();
                let next = outbox.first_ids(want, |id| {
                    inflight.contains_key(id) || awaiting.get(id).is_some_and(|a| !a.due(timeout))
                });
                for id in next {
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
                    let tries = match awaiting.remove(&id) {
                        Some(a) => {
                            stats.resent.fetch_add(1, Ordering::Relaxed);
                            a.tries + 1
                        }
                        None => 1,
                    };
                    order.push_back(Sent::Hit(id.clone(), tries));
                    inflight.insert(id, Instant::now());
                }
            }
            match conn.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => {
                    if ack.code == rumqttc::ConnectReturnCode::Success {
                        connected = true;
                        failing = None;
                        backoff.reset();
                        stats.connects.fetch_add(1, Ordering::Relaxed);
                        stats.connected.store(true, Ordering::SeqCst);
                        tracing::info!(waiting = outbox.len(), "connected to the broker");
                        let _ = client.try_subscribe(receipts.clone(), QoS::AtLeastOnce);
                        if client
                            .try_publish(
                                AgentTopic::Status.topic(agent),
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
                Ok(Ok(Event::Incoming(Packet::SubAck(ack)))) => {
                    let granted = ack
                        .return_codes
                        .iter()
                        .all(|c| !matches!(c, rumqttc::SubscribeReasonCode::Failure));
                    if !granted {
                        tracing::error!(topic = %receipts, "the broker refused the receipts subscription; hits are sent, and sent again until receipted");
                    }
                    ready = true;
                }
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) if p.topic == receipts => {
                    take_receipt(&p.payload, outbox, &mut awaiting, stats);
                }
                Ok(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) => {
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                    if let Some(Sent::Hit(id, tries)) = order.pop_front() {
                        pkids.insert(pkid, (id, tries));
                    }
                }
                Ok(Ok(Event::Incoming(Packet::PubAck(ack)))) => {
                    if let Some((id, tries)) = pkids.remove(&ack.pkid) {
                        inflight.remove(&id);
                        stats.acked.fetch_add(1, Ordering::Relaxed);
                        // Receipted already (triage can be quicker than the PUBACK)?
                        if outbox.contains(&id) {
                            awaiting.insert(
                                id,
                                Awaiting {
                                    acked_at: Instant::now(),
                                    tries,
                                },
                            );
                        }
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
        backoff.wait(stop);
    }
}
