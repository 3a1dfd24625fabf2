//! The dock's MQTT link: one rumqttc session, its last will (the offline topology), the
//! subscriptions taken again and, once the broker has acknowledged them, the topology announced
//! again on every connection (a broker restart loses a clean session), and the loop that feeds
//! the [`DockService`].
//!
//! `publish` returning `Ok` means queued: the simulated dock, like a real one, does not keep
//! what it could not queue (OSD and progress are sent again moments later); it says so in
//! the log.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use argus_core::topics::DockTopic;
use argus_net::mqtt::Backoff;
use rumqttc::{Client, Connection, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};

use super::service::DockService;

/// Requests queued between the dock's threads and the event loop, at most.
pub const QUEUE: usize = 1024;
/// How long the loop waits for the broker before looking at the workers' reports.
const POLL: Duration = Duration::from_millis(20);
/// Keep-alive of the session.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// Largest packet taken from the broker. rumqttc drops the connection on a larger one (and the
/// dock reconnects); anything over [`argus_core::cloudapi::MAX_MESSAGE_BYTES`] is refused by
/// the reader, so this only keeps a merely large message from costing a reconnect.
const MAX_INCOMING: usize = 1 << 20;

/// Publishes for the dock's threads (cheap to clone).
#[derive(Clone)]
pub struct Out {
    client: Client,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Out")
    }
}

impl Out {
    /// Queues a message; a full queue loses it, with a warning.
    pub fn send(&self, topic: String, qos: QoS, payload: Vec<u8>) {
        if let Err(e) = self.client.try_publish(topic.as_str(), qos, false, payload) {
            tracing::warn!(topic = %topic, error = %e, "a message to the broker was dropped");
        }
    }
}

/// The session's options: address, client id `sim-dock-{sn}`, and the last will.
pub fn options(
    connection: &argus_net::mqtt::Connection,
    sn: &str,
    will: Vec<u8>,
) -> Result<MqttOptions, argus_net::mqtt::MqttError> {
    let mut mo = connection.options(&format!("sim-dock-{sn}"), KEEP_ALIVE)?;
    mo.set_max_packet_size(MAX_INCOMING, MAX_INCOMING);
    mo.set_last_will(LastWill::new(
        DockTopic::Status.topic(sn),
        will,
        QoS::AtLeastOnce,
        false,
    ));
    Ok(mo)
}

/// The client and its event loop.
pub fn client(mo: MqttOptions) -> (Out, Client, Connection) {
    let (client, conn) = Client::new(mo, QUEUE);
    (
        Out {
            client: client.clone(),
        },
        client,
        conn,
    )
}

/// Serves until `stop`: then says the dock is offline and disconnects.
pub fn run(
    service: &mut DockService,
    client: &Client,
    conn: &mut Connection,
    sn: &str,
    stop: &AtomicBool,
) {
    let filters = [
        DockTopic::Services,
        DockTopic::EventsReply,
        DockTopic::StatusReply,
        DockTopic::RequestsReply,
    ]
    .map(|k| k.topic(sn));
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    let mut connected = false;
    // Subscriptions not yet acknowledged: the dock announces itself once it can hear (a cloud
    // answering the topology at once must not speak to a dock not yet listening).
    let mut unacknowledged = 0usize;
    while !stop.load(Ordering::SeqCst) {
        service.tick();
        match conn.recv_timeout(POLL) {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                backoff.reset();
                connected = true;
                unacknowledged = 0;
                for f in &filters {
                    match client.try_subscribe(f.as_str(), QoS::AtLeastOnce) {
                        Ok(()) => unacknowledged += 1,
                        Err(e) => tracing::error!(filter = %f, error = %e, "cannot subscribe"),
                    }
                }
                if unacknowledged == 0 {
                    service.on_connected();
                }
            }
            Ok(Ok(Event::Incoming(Packet::SubAck(ack)))) if unacknowledged > 0 => {
                if ack
                    .return_codes
                    .iter()
                    .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                {
                    tracing::error!(
                        pkid = ack.pkid,
                        "the broker refused a subscription: the dock will not hear that topic"
                    );
                }
                unacknowledged -= 1;
                if unacknowledged == 0 {
                    service.on_connected();
                }
            }
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => service.on_message(&p.topic, &p.payload),
            Ok(Ok(_)) | Err(rumqttc::RecvTimeoutError::Timeout) => {}
            Ok(Err(e)) => {
                if connected {
                    tracing::warn!(error = %e, "lost the broker; reconnecting");
                } else {
                    tracing::debug!(error = %e, "broker unreachable; retrying");
                }
                connected = false;
                // The next poll reconnects.
                backoff.wait(stop);
            }
            Err(rumqttc::RecvTimeoutError::Disconnected) => return,
        }
    }
    if connected {
        service.on_leaving();
        let _ = client.try_disconnect();
        // Let the offline topology and the disconnect leave (a clean disconnect: no will).
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            match conn.recv_timeout(POLL) {
                Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) | Ok(Err(_)) => break,
                Err(rumqttc::RecvTimeoutError::Disconnected) => break,
                _ => {}
            }
        }
    }
}
