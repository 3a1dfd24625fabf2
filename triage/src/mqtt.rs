//! Hits from the broker: a clean session on a shared subscription to every agent's hits
//! (`$share/triage/…`; on the embedded broker, where triage is the only reader, the plain
//! filter), taken in batches, each message acknowledged only after its batch is committed, and
//! then a receipt to each agent (on its receipts topic) naming the
//! hits stored or kept as dead letters. Agents keep every hit until its receipt and send again
//! whatever has none after a while, so a hit that no triage stored — lost with a killed
//! instance, a restarted broker or a full queue — comes back, and the store's `hit_id` check
//! drops the ones taken before. Clean sessions and a client id of its own per instance let a
//! dead instance's share go to the others at once.
//!
//! The connection is never dropped because of the store: a batch the store cannot take now (a
//! lock held elsewhere, a database restarting) is tried again in place with backoff while the
//! connection is kept alive, and a message the store refuses for what it holds becomes a dead
//! letter on its own ([`Ingest::take`]). [`IngestStatus`] tells `/health` how intake is doing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argus_core::clock;
use argus_core::receipt::{HitReceipt, Receipt, ReceiptStatus};
use argus_core::topics::{AgentTopic, TRIAGE_GROUP, shared};
use argus_net::mqtt::{Backoff, Connection, MqttError};
use rumqttc::{Client, Event, MqttOptions, Packet, Publish, QoS, RecvTimeoutError};

use crate::check::topic_agent;
use crate::ingest::{Ingest, Outcome};

/// The largest packet MQTT 3.1.1 can encode.
const MQTT_MAX_PACKET: usize = 268_435_455;

/// How intake is doing, for `/health` and `/metrics`.
#[derive(Debug, Default)]
pub struct IngestStatus {
    /// Connected and subscribed to the broker.
    pub connected: AtomicBool,
    /// The last batch the store took, Unix milliseconds (0: none yet).
    pub last_batch_at_ms: AtomicU64,
    /// The store took the last batch (false while a batch is being retried).
    pub store_ok: AtomicBool,
    /// Messages received and not yet committed (waiting for the store).
    pub waiting: AtomicU64,
}

impl IngestStatus {
    /// A status that starts with the store healthy and the broker not yet connected.
    pub fn new() -> Self {
        Self {
            store_ok: AtomicBool::new(true),
            ..Self::default()
        }
    }
}

/// Where and how to listen.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// The broker and triage's login there.
    pub connection: Connection,
    /// Client id, unique per instance (a second client with the same id takes the session
    /// over and throws the first off).
    pub client_id: String,
    /// Most messages in one batch (one transaction).
    pub batch_max: usize,
    /// How long a batch waits to fill once it has a message.
    pub batch_wait: Duration,
    /// Subscribe through the shared group `$share/triage` (several instances on one broker),
    /// or to the plain filter (the embedded broker, where triage is the only reader).
    pub shared: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            connection: Connection {
                url: "mqtt://127.0.0.1:1883".into(),
                credentials: None,
                ca_pem: None,
            },
            client_id: instance_client_id(),
            batch_max: 500,
            batch_wait: Duration::from_millis(2),
            shared: true,
        }
    }
}

impl ListenOptions {
    fn mqtt_options(&self) -> Result<MqttOptions, MqttError> {
        let mut mo = self
            .connection
            .options(&self.client_id, Duration::from_secs(15))?;
        mo.set_clean_session(true)
            .set_manual_acks(true)
            .set_inflight(self.batch_max.clamp(10, u16::MAX as usize) as u16)
            // Oversized payloads must reach the dead letters, not break the connection (and come
            // back forever): take anything MQTT can carry, refuse it after reading.
            .set_max_packet_size(MQTT_MAX_PACKET, 64 * 1024);
        Ok(mo)
    }
}

/// `triage-` and 12 random hex digits: a client id no other instance has.
pub fn instance_client_id() -> String {
    let u = uuid::Uuid::now_v7().simple().to_string();
    format!("triage-{}", &u[u.len() - 12..])
}

/// Receipts not yet handed to the event loop, at most (each names up to a batch of hits); past
/// that the oldest are dropped: their agents send those hits again, and get a receipt then.
const MAX_PENDING_RECEIPTS: usize = 10_000;

/// The receipts of a committed batch: one message per agent, naming its hits.
fn receipts(
    batch: &[Publish],
    taken: &[(Outcome, Option<argus_core::hit::HitId>)],
) -> Vec<(String, Vec<u8>)> {
    let mut by_agent: std::collections::BTreeMap<&str, Vec<HitReceipt>> = Default::default();
    for (p, (outcome, id)) in batch.iter().zip(taken) {
        let (Some(agent), Some(id)) = (topic_agent(&p.topic), id) else {
            continue;
        };
        let (status, reason) = match outcome {
            Outcome::Dead(r) => (ReceiptStatus::Dead, Some(r.to_string())),
            _ => (ReceiptStatus::Stored, None),
        };
        by_agent.entry(agent).or_default().push(HitReceipt {
            hit_id: id.clone(),
            status,
            reason,
        });
    }
    by_agent
        .into_iter()
        .filter_map(|(agent, hits)| {
            let payload = serde_json::to_vec(&Receipt::new(hits, clock::now_unix_s())).ok()?;
            Some((AgentTopic::Receipts.topic(agent), payload))
        })
        .collect()
}

/// Hands the event loop as many waiting receipts as its queue takes, in order.
fn queue_receipts(client: &Client, pending: &mut VecDeque<(String, Vec<u8>)>) {
    while let Some((topic, payload)) = pending.front() {
        if client
            .try_publish(topic.as_str(), QoS::AtLeastOnce, false, payload.clone())
            .is_err()
        {
            break;
        }
        pending.pop_front();
    }
}

/// Hands the event loop as many waiting acknowledgements as its queue takes, in order.
fn queue_acks(client: &Client, unacked: &mut VecDeque<Publish>) {
    while let Some(p) = unacked.front() {
        if client.try_ack(p).is_err() {
            break;
        }
        unacked.pop_front();
    }
}

/// Listens until `stop`: takes hits into `ingest`, reconnecting with backoff.
pub fn listen(
    opts: &ListenOptions,
    ingest: &std::sync::Mutex<Ingest>,
    stop: &AtomicBool,
    status: &IngestStatus,
) -> Result<(), MqttError> {
    let mo = opts.mqtt_options()?;
    // Every agent's hits, shared among triage instances; plainly when triage is the broker's
    // only reader (the embedded broker).
    let filter = if opts.shared {
        shared(TRIAGE_GROUP, &AgentTopic::Hits.filter())
    } else {
        AgentTopic::Hits.filter()
    };
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
    let mut failing: Option<String> = None;
    while !stop.load(Ordering::SeqCst) {
        // Room for a few batches of acknowledgements; the event loop runs on this thread.
        let (client, mut conn) = Client::new(mo.clone(), 4 * opts.batch_max.max(10) + 64);
        // Acknowledgements are small writes sent one by one: without TCP_NODELAY, Nagle's
        // algorithm holds each until the broker's delayed ACK of the last (tens of ms), and a
        // broker with a small in-flight window (Mosquitto's is 20) waits for them.
        let mut net = conn.eventloop.network_options();
        net.set_tcp_nodelay(true);
        conn.eventloop.set_network_options(net);
        let mut batch: Vec<Publish> = Vec::new();
        // Committed messages whose acknowledgement is not yet queued. rumqttc's event loop
        // sends one request per turn but reads up to ten messages, so under a flood the request
        // queue fills; an acknowledgement that does not fit waits here (a lost one would leave
        // the broker's in-flight window full and delivery stalled). Bounded by that window.
        let mut unacked: VecDeque<Publish> = VecDeque::new();
        // Receipts of committed batches, waiting for room in the request queue.
        let mut pending: VecDeque<(String, Vec<u8>)> = VecDeque::new();
        let mut first_at = Instant::now();
        // While the store refuses: when to try the batch again, and the next wait.
        let mut retry_at: Option<Instant> = None;
        let mut store_backoff = Duration::from_millis(100);
        loop {
            if stop.load(Ordering::SeqCst) {
                let _ = client.disconnect();
                status.connected.store(false, Ordering::SeqCst);
                return Ok(());
            }
            queue_acks(&client, &mut unacked);
            queue_receipts(&client, &mut pending);
            status.waiting.store(batch.len() as u64, Ordering::Relaxed);
            let due = !batch.is_empty()
                && retry_at.is_none_or(|t| Instant::now() >= t)
                && (batch.len() >= opts.batch_max || first_at.elapsed() >= opts.batch_wait);
            if due {
                let msgs: Vec<(&str, &[u8])> = batch
                    .iter()
                    .map(|p| (p.topic.as_str(), p.payload.as_ref()))
                    .collect();
                let t0 = Instant::now();
                let waited = first_at.elapsed();
                let taken = match ingest.lock() {
                    Ok(mut ing) => ing.take_receipted(&msgs, clock::now_unix_s()),
                    Err(poisoned) => poisoned
                        .into_inner()
                        .take_receipted(&msgs, clock::now_unix_s()),
                };
                tracing::debug!(
                    n = msgs.len(),
                    waited_ms = waited.as_secs_f64() * 1e3,
                    took_ms = t0.elapsed().as_secs_f64() * 1e3,
                    "batch"
                );
                match taken {
                    Ok(taken) => {
                        pending.extend(receipts(&batch, &taken));
                        while pending.len() > MAX_PENDING_RECEIPTS {
                            pending.pop_front();
                        }
                        if retry_at.take().is_some() {
                            tracing::info!(
                                messages = batch.len(),
                                "the store is back; batch taken"
                            );
                        }
                        store_backoff = Duration::from_millis(100);
                        status.store_ok.store(true, Ordering::SeqCst);
                        status
                            .last_batch_at_ms
                            .store((clock::now_unix_s() * 1e3) as u64, Ordering::SeqCst);
                        // At once: with the broker's window full, nothing else would wake us.
                        unacked.extend(batch.drain(..));
                        queue_acks(&client, &mut unacked);
                        queue_receipts(&client, &mut pending);
                    }
                    Err(e) => {
                        // Not acknowledged, and the connection kept: the same messages (and
                        // those arriving meanwhile) are tried again after a pause.
                        if retry_at.is_none() {
                            tracing::error!(error = %e, messages = batch.len(), "the store cannot take hits now; retrying with backoff");
                        }
                        status.store_ok.store(false, Ordering::SeqCst);
                        retry_at = Some(Instant::now() + store_backoff);
                        store_backoff = (store_backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
            let wait = match retry_at {
                Some(t) => t.saturating_duration_since(Instant::now()),
                None if batch.is_empty() => Duration::from_millis(200),
                None => opts.batch_wait.saturating_sub(first_at.elapsed()),
            };
            match conn
                .recv_timeout(wait.clamp(Duration::from_millis(1), Duration::from_millis(200)))
            {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                    backoff.reset();
                    failing = None;
                    let _ = client.try_subscribe(filter.as_str(), QoS::AtLeastOnce);
                }
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                    status.connected.store(true, Ordering::SeqCst);
                    tracing::info!(topic = %filter, url = %argus_core::redact::url(&opts.connection.url), "subscribed to hits");
                }
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    if batch.is_empty() {
                        first_at = Instant::now();
                    }
                    batch.push(p);
                }
                Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Err(e)) => {
                    status.connected.store(false, Ordering::SeqCst);
                    if failing.as_deref() != Some(&e.to_string()) {
                        tracing::warn!(error = %e, url = %argus_core::redact::url(&opts.connection.url), "broker connection failed; retrying");
                        failing = Some(e.to_string());
                    }
                    break;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        status.connected.store(false, Ordering::SeqCst);
        backoff.wait(stop);
    }
    Ok(())
}
