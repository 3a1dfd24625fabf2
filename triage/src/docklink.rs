//! The link to the docks: an MQTT session of its own on the DJI Cloud API topics, feeding the
//! [`Dispatcher`] and publishing what it sends, and the dispatcher's clock (a tick every
//! [`TICK`], so an execute leaves within that of its instant).
//!
//! The session is persistent (not clean) on a client id that stays the same across restarts
//! (`[patrols] client_id`), and every subscription is QoS 1: what a dock reports while triage
//! is away — a restart, a broker restart — is kept by the broker and delivered when triage is
//! back. A message is acknowledged only once the dispatcher has stored what it says; when the
//! store fails, the session is dropped and resumed, and the broker delivers it again.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argus_core::topics::{DockTopic, TRIAGE_GROUP, shared};
use argus_net::mqtt::{Backoff, Connection, MqttError};
use rumqttc::{Client, Event, Packet, QoS, RecvTimeoutError};

use crate::dispatch::{Dispatcher, Publish};

/// How often the dispatcher looks at the clock.
pub const TICK: Duration = Duration::from_millis(200);

/// Messages to docks waiting for room in the client's queue, at most (the oldest go first, with
/// an error: a dock asks again, and a run waiting for a reply times out with the reason).
const MAX_OUTBOX: usize = 10_000;

/// Where the docks' broker is and how to be known there.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// The broker and triage's login.
    pub connection: Connection,
    /// The session's client id (stable across restarts: the broker keeps the session).
    pub client_id: String,
    /// Subscribe through `$share/triage/…` (several instances on one broker).
    pub shared: bool,
    /// The docks' gateway serial numbers (their own OSD).
    pub gateways: Vec<String>,
}

/// The filters triage takes from docks: their replies, events, requests and status, and each
/// gateway's own OSD (which says it is there; the aircraft's is the edge agents').
pub fn filters(shared_group: bool, gateways: &[String]) -> Vec<String> {
    let osd = gateways.iter().map(|sn| DockTopic::Osd.topic(sn));
    [
        DockTopic::ServicesReply,
        DockTopic::Events,
        DockTopic::Requests,
        DockTopic::Status,
    ]
    .into_iter()
    .map(|k| {
        if shared_group {
            shared(TRIAGE_GROUP, &k.filter())
        } else {
            k.filter()
        }
    })
    .chain(osd)
    .collect()
}

struct Outbox(VecDeque<(String, Vec<u8>)>);

impl Publish for Outbox {
    fn publish(&mut self, topic: String, payload: Vec<u8>) {
        if self.0.len() >= MAX_OUTBOX
            && let Some((t, _)) = self.0.pop_front()
        {
            tracing::error!(topic = %t, "too many messages to docks waiting; the oldest is dropped");
        }
        self.0.push_back((topic, payload));
    }
}

impl Outbox {
    /// Hands what fits to the client.
    fn flush(&mut self, client: &Client) {
        while let Some((topic, payload)) = self.0.pop_front() {
            match client.try_publish(topic.as_str(), QoS::AtLeastOnce, false, payload) {
                Ok(()) => {}
                Err(rumqttc::ClientError::TryRequest(rumqttc::Request::Publish(p))) => {
                    self.0.push_front((topic, p.payload.to_vec()));
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, topic = %topic, "cannot publish to a dock");
                    return;
                }
            }
        }
    }
}

fn lock(d: &Mutex<Dispatcher>) -> std::sync::MutexGuard<'_, Dispatcher> {
    d.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Serves the docks until `stop`, reconnecting with backoff.
pub fn serve(
    opts: &LinkOptions,
    dispatcher: &Mutex<Dispatcher>,
    stop: &AtomicBool,
) -> Result<(), MqttError> {
    let mut mo = opts
        .connection
        .options(&opts.client_id, Duration::from_secs(15))?;
    mo.set_clean_session(false).set_manual_acks(true);
    let filters = filters(opts.shared, &opts.gateways);
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
    let mut outbox = Outbox(VecDeque::new());
    let mut last_tick = Instant::now() - TICK;
    while !stop.load(Ordering::SeqCst) {
        let (client, mut conn) = Client::new(mo.clone(), 256);
        loop {
            if stop.load(Ordering::SeqCst) {
                let _ = client.disconnect();
                return Ok(());
            }
            if last_tick.elapsed() >= TICK {
                last_tick = Instant::now();
                let mut d = lock(dispatcher);
                for (topic, payload) in d.take_queued() {
                    outbox.publish(topic, payload);
                }
                if let Err(e) = d.tick(argus_core::clock::now_unix_s(), &mut outbox) {
                    tracing::error!(error = %e, "the patrol dispatcher cannot reach the store; retrying");
                }
            }
            outbox.flush(&client);
            match conn.recv_timeout(TICK) {
                Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => {
                    backoff.reset();
                    for f in &filters {
                        let _ = client.try_subscribe(f.as_str(), QoS::AtLeastOnce);
                    }
                    tracing::info!(
                        session_kept = ack.session_present,
                        "linked to the docks' broker"
                    );
                }
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    let taken = lock(dispatcher).on_message(
                        &p.topic,
                        &p.payload,
                        argus_core::clock::now_unix_s(),
                        &mut outbox,
                    );
                    match taken {
                        Ok(()) => {
                            let _ = client.try_ack(&p);
                        }
                        Err(e) => {
                            // Not acknowledged: the broker delivers it again on the resumed
                            // session.
                            tracing::error!(error = %e, topic = %p.topic, "cannot store a dock message; reconnecting");
                            break;
                        }
                    }
                }
                Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "docks' broker connection failed; retrying");
                    break;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        backoff.wait(stop);
    }
    Ok(())
}

/// The dispatcher shared by the link and the HTTP API (wayline downloads).
pub type SharedDispatcher = Arc<Mutex<Dispatcher>>;
