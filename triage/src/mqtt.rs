//! Hits from the broker: a persistent session on a shared subscription
//! (`$share/triage/argus/v1/agents/+/hits`), taken in batches, each message acknowledged only
//! after its batch is committed. A triage killed mid-batch gets the unacknowledged messages
//! again on its next connection, and the store's `hit_id` check drops the ones it had taken.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use argus_core::broker::BrokerUrl;
use argus_core::clock;
use rumqttc::{Client, Event, MqttOptions, Packet, Publish, QoS, RecvTimeoutError, Transport};

use crate::ingest::Ingest;

/// The largest packet MQTT 3.1.1 can encode.
const MQTT_MAX_PACKET: usize = 268_435_455;

/// The subscription: every agent's hits, shared among triage instances.
pub const HITS_SUBSCRIPTION: &str = "$share/triage/argus/v1/agents/+/hits";

/// Where and how to listen.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// `mqtt://host:port` or `mqtts://host:port`.
    pub url: String,
    /// Client id; keep it across restarts (the broker keeps its session and queued hits).
    pub client_id: String,
    /// Username and password.
    pub credentials: Option<(String, String)>,
    /// CA certificate (PEM) for `mqtts://`.
    pub ca_pem: Option<Vec<u8>>,
    /// Most messages in one batch (one transaction).
    pub batch_max: usize,
    /// How long a batch waits to fill once it has a message.
    pub batch_wait: Duration,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            url: "mqtt://127.0.0.1:1883".into(),
            client_id: "triage".into(),
            credentials: None,
            ca_pem: None,
            batch_max: 500,
            batch_wait: Duration::from_millis(2),
        }
    }
}

/// Why listening cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The URL is not `mqtt[s]://host[:port]`.
    #[error("mqtt url {0:?}: expected mqtt://host:port or mqtts://host:port")]
    Url(String),
    /// `mqtts://` without a CA.
    #[error("mqtt url {0:?}: mqtts needs a CA file")]
    NoCa(String),
}

impl ListenOptions {
    fn mqtt_options(&self) -> Result<MqttOptions, ListenError> {
        let url = BrokerUrl::parse(&self.url).map_err(|e| ListenError::Url(e.0))?;
        let tls = url.tls;
        let mut mo = MqttOptions::new(&self.client_id, url.host, url.port);
        mo.set_clean_session(false)
            .set_manual_acks(true)
            .set_keep_alive(Duration::from_secs(15))
            .set_inflight(self.batch_max.clamp(10, u16::MAX as usize) as u16)
            // Oversized payloads must reach the dead letters, not break the connection (and come
            // back forever): take anything MQTT can carry, refuse it after reading.
            .set_max_packet_size(MQTT_MAX_PACKET, 64 * 1024);
        if let Some((u, p)) = &self.credentials {
            mo.set_credentials(u.clone(), p.clone());
        }
        match (&self.ca_pem, tls) {
            (Some(ca), true) => {
                mo.set_transport(Transport::tls(ca.clone(), None, None));
            }
            (None, true) => return Err(ListenError::NoCa(self.url.clone())),
            _ => {}
        }
        Ok(mo)
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
) -> Result<(), ListenError> {
    let mo = opts.mqtt_options()?;
    let mut backoff = Duration::from_millis(250);
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
        let mut first_at = Instant::now();
        let mut swept = Instant::now();
        loop {
            // SLA deadlines are checked every second.
            if swept.elapsed() >= Duration::from_secs(1) {
                swept = Instant::now();
                if let Err(e) = ingest
                    .lock()
                    .expect("ingest lock")
                    .sweep(clock::now_unix_s())
                {
                    tracing::error!(error = %e, "SLA sweep failed");
                }
            }
            if stop.load(Ordering::SeqCst) {
                let _ = client.disconnect();
                return Ok(());
            }
            queue_acks(&client, &mut unacked);
            let due = !batch.is_empty()
                && (batch.len() >= opts.batch_max || first_at.elapsed() >= opts.batch_wait);
            if due {
                let msgs: Vec<(&str, &[u8])> = batch
                    .iter()
                    .map(|p| (p.topic.as_str(), p.payload.as_ref()))
                    .collect();
                let t0 = Instant::now();
                let waited = first_at.elapsed();
                let taken = ingest
                    .lock()
                    .expect("ingest lock")
                    .take(&msgs, clock::now_unix_s());
                tracing::debug!(
                    n = msgs.len(),
                    waited_ms = waited.as_secs_f64() * 1e3,
                    took_ms = t0.elapsed().as_secs_f64() * 1e3,
                    "batch"
                );
                match taken {
                    Ok(_) => {
                        // At once: with the broker's window full, nothing else would wake us.
                        unacked.extend(batch.drain(..));
                        queue_acks(&client, &mut unacked);
                    }
                    Err(e) => {
                        // Not acknowledged: the broker sends them again after a reconnect.
                        tracing::error!(error = %e, messages = batch.len(), "store failed; the batch will come again");
                        break;
                    }
                }
            }
            let wait = if batch.is_empty() {
                Duration::from_millis(200)
            } else {
                opts.batch_wait.saturating_sub(first_at.elapsed())
            };
            match conn.recv_timeout(wait.max(Duration::from_millis(1))) {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                    backoff = Duration::from_millis(250);
                    failing = None;
                    let _ = client.try_subscribe(HITS_SUBSCRIPTION, QoS::AtLeastOnce);
                }
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                    tracing::info!(topic = HITS_SUBSCRIPTION, url = %opts.url, "subscribed to hits");
                }
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    if batch.is_empty() {
                        first_at = Instant::now();
                    }
                    batch.push(p);
                }
                Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Err(e)) => {
                    if failing.as_deref() != Some(&e.to_string()) {
                        tracing::warn!(error = %e, url = %opts.url, "broker connection failed; retrying");
                        failing = Some(e.to_string());
                    }
                    break;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
    Ok(())
}
