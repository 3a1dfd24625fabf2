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

/// Triage's config for a test of patrols: the example docks and the U03 area plan in
/// `dir/plans` (with `schedule`, the `[schedule]` table's text, or none), the database
/// `dir/t.db` unless `db`, the broker on `broker_url`, docks told to download from its HTTP
/// port; prepared `lead_s` ahead, answers awaited `reply_timeout_s`. Its HTTP port comes back
/// with it.
pub fn patrol_config(
    dir: &std::path::Path,
    broker_url: String,
    schedule: Option<&str>,
    db: Option<String>,
    lead_s: f64,
    reply_timeout_s: f64,
) -> (argus_triage::config::Config, u16) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../flight-plans");
    let plans = dir.join("plans");
    std::fs::create_dir_all(&plans).unwrap();
    std::fs::copy(root.join("docks.toml"), dir.join("docks.toml")).unwrap();
    let plan = std::fs::read_to_string(root.join("plans/u03-area.toml")).unwrap();
    let head = &plan[..plan.find("[schedule]").unwrap()];
    std::fs::write(
        plans.join("u03-area.toml"),
        format!("{head}{}", schedule.unwrap_or_default()),
    )
    .unwrap();
    let http_port = argus_testkit::services::free_port();
    let mut cfg = argus_triage::config::Config {
        db: db.unwrap_or_else(|| format!("sqlite:{}", dir.join("t.db").display())),
        http: format!("127.0.0.1:{http_port}"),
        ..Default::default()
    };
    cfg.mqtt.url = Some(broker_url);
    cfg.patrols = Some(argus_triage::patrols::PatrolsConfig {
        plans,
        docks: None,
        prepare_lead_s: lead_s,
        reply_timeout_s,
        public_url: format!("http://127.0.0.1:{http_port}"),
        client_id: "triage-docks-test".into(),
    });
    (cfg, http_port)
}
