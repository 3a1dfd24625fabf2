//! A dock played by a test: a plain MQTT client speaking the Cloud API, announcing itself every
//! second as a real dock keeps doing.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use argus_core::cloudapi::{Envelope, Topology};
use argus_core::topics::DockTopic;
use rumqttc::{Client, Connection, Event, MqttOptions, Packet, QoS};

/// The example dock's gateway serial number (`flight-plans/docks.toml`).
pub const SN: &str = "7CTDM12345";
/// Its aircraft's.
pub const AIRCRAFT: &str = "1581F5BKD225D00B";

/// Now, Unix seconds.
pub fn now_s() -> f64 {
    argus_core::clock::now_unix_s()
}

/// Unix seconds as Cloud API milliseconds.
pub fn ms(t: f64) -> i64 {
    (t * 1000.0) as i64
}

/// A message the dock received: the topic's last part, the message, when.
pub type Received = (String, Envelope, f64);

/// The dock.
pub struct ScriptedDock {
    client: Client,
    conn: Connection,
    announced: Instant,
}

impl ScriptedDock {
    /// Connects to the broker on `port` and listens to its services and event replies.
    pub fn connect(port: u16) -> Self {
        let mut mo = MqttOptions::new(format!("dock-{SN}"), "127.0.0.1", port);
        mo.set_keep_alive(Duration::from_secs(5));
        let (client, conn) = Client::new(mo, 64);
        for kind in ["services", "events_reply"] {
            client
                .subscribe(format!("thing/product/{SN}/{kind}"), QoS::AtLeastOnce)
                .unwrap();
        }
        Self {
            client,
            conn,
            announced: Instant::now() - Duration::from_secs(10),
        }
    }

    /// The next message before `until` (announcing the dock meanwhile), if one comes.
    pub fn next(&mut self, until: Instant) -> Option<Received> {
        let topo = Topology {
            online: true,
            sub_devices: vec![AIRCRAFT.into()],
        };
        while Instant::now() < until {
            if self.announced.elapsed() >= Duration::from_secs(1) {
                self.announced = Instant::now();
                self.client
                    .publish(
                        DockTopic::Status.topic(SN),
                        QoS::AtLeastOnce,
                        false,
                        topo.envelope(ms(now_s())).to_json(),
                    )
                    .unwrap();
            }
            if let Ok(Ok(Event::Incoming(Packet::Publish(p)))) =
                self.conn.recv_timeout(Duration::from_millis(100))
            {
                let e = Envelope::parse(&p.payload, SN).unwrap();
                let kind = p.topic.rsplit('/').next().unwrap_or_default().to_string();
                return Some((kind, e, now_s()));
            }
        }
        None
    }

    /// The next message, which must come on `kind` before `until`.
    pub fn expect(&mut self, what: &str, kind: &str, until: Instant) -> (Envelope, f64) {
        let (k, e, at) = self.next(until).unwrap_or_else(|| panic!("no {what}"));
        assert_eq!(k, kind, "{what}: {e:?}");
        (e, at)
    }

    /// Publishes on the dock's `kind` topic.
    pub fn publish(&self, kind: &str, e: &Envelope) {
        self.client
            .publish(
                format!("thing/product/{SN}/{kind}"),
                QoS::AtLeastOnce,
                false,
                e.to_json(),
            )
            .unwrap();
    }
}
