//! Hits for tests and benchmarks: valid ones, named ones, poisoned ones, and a publisher.

use argus_core::camera::Pose;
use argus_core::clock::Timestamp;
use argus_core::hit::{
    Evidence, FrameRef, HIT_SCHEMA, Hit, HitId, ModelRef, Position, Source, SourceKind,
};
use argus_core::rules::Rule;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// A UUIDv7 named by `name`: the same name, the same id (tests refer to hits by name).
pub fn hit_id(name: &str) -> HitId {
    let h = Sha256::digest(name.as_bytes());
    let mut rand = [0u8; 10];
    rand.copy_from_slice(&h[..10]);
    uuid::Builder::from_unix_timestamp_millis(1_779_876_000_000, &rand)
        .into_uuid()
        .to_string()
        .parse()
        .expect("a UUIDv7")
}

/// The evidence bytes of [`hit`].
pub const JPEG: &[u8] = b"\xff\xd8 not really a jpeg \xff\xd9";

/// A valid hit of `class` by `agent` at (`lat`, 121.0), ±2 m, observed 2026-05-27T10:00:00Z;
/// `id` must be a UUIDv7 ([`hit_id`] makes one from a name).
pub fn hit(id: &str, agent: &str, class: &str, lat: f64, score: f32) -> Hit {
    Hit {
        schema: HIT_SCHEMA.into(),
        hit_id: id.parse().expect("a hit's id is a UUIDv7"),
        agent_id: agent.into(),
        source: Source {
            kind: SourceKind::Drone,
            id: "patrol".into(),
            flight_id: None,
        },
        class: class.into(),
        object_class: "waste_pile".into(),
        score,
        model: ModelRef {
            name: "argus-det".into(),
            version: "0.3.0".into(),
        },
        observed_at: Timestamp::from_unix_s(1_779_876_000.0).expect("a time"),
        frame: FrameRef {
            index: 1,
            pts_s: 0.1,
            width: 1920,
            height: 1080,
        },
        bbox: [1.0, 2.0, 3.0, 4.0],
        track_id: 1,
        sightings: 5,
        position: Position {
            lat,
            lon: 121.0,
            elevation_m: 0.0,
            uncertainty_m: 2.0,
        },
        pose: Pose::nadir(lat, 121.0, 100.0),
        rule: Rule {
            layer: "footway".into(),
            feature_id: None,
            reason: "footway F1".into(),
        },
        evidence: Evidence {
            sha256: format!("{:x}", Sha256::digest(JPEG)),
            jpeg_base64: base64::engine::general_purpose::STANDARD.encode(JPEG),
            width: 2,
            height: 2,
        },
        update_of: None,
    }
}

/// Publishes a hit on its agent's topic at QoS 1, as an edge agent does.
pub fn publish_hit(client: &rumqttc::Client, hit: &Hit) {
    client
        .publish(
            argus_core::topics::AgentTopic::Hits.topic(&hit.agent_id),
            rumqttc::QoS::AtLeastOnce,
            false,
            serde_json::to_vec(hit).expect("a hit serialises"),
        )
        .expect("the client's queue takes the hit");
}

/// A way to spoil a hit's JSON, and a word its rejection names.
pub type Poison = (&'static str, Box<dyn Fn(&mut serde_json::Value)>);

/// Sets the field at JSON pointer `at` (e.g. `/position/lat`).
fn set(at: &'static str, to: serde_json::Value) -> Box<dyn Fn(&mut serde_json::Value)> {
    Box::new(move |v| {
        if let Some(slot) = v.pointer_mut(at) {
            *slot = to.clone();
        }
    })
}

/// The poison hits of the fault list: a NaN time, huge and negative uncertainties, NUL and
/// escape characters, an unknown class (carrying markup), boxes outside their frame, score 7,
/// latitude 91, infinities, ids that are no UUIDv7, and times too far ahead or behind (for a
/// triage whose clock reads 2026-05-27T10:00:00Z).
pub fn poisons() -> Vec<Poison> {
    use serde_json::json;
    vec![
        (
            "observed_at",
            set("/observed_at", json!("2026-05-27TNaN:00:00Z")),
        ),
        (
            "uncertainty_m",
            set("/position/uncertainty_m", json!(1e200)),
        ),
        ("uncertainty_m", set("/position/uncertainty_m", json!(-1.0))),
        (
            "control character",
            set("/rule/reason", json!("nul \0 here")),
        ),
        (
            "control character",
            set("/source/id", json!("cam\u{1b}[31m")),
        ),
        (
            "class",
            set("/class", json!("<img src=x onerror=alert(1)>")),
        ),
        ("bbox", set("/bbox", json!([10.0, 10.0, 5000.0, 20.0]))),
        ("bbox", set("/bbox", json!([10.0, 10.0, 5.0, 20.0]))),
        ("bbox", set("/bbox", json!([-1.0, 10.0, 5.0, 20.0]))),
        ("score", set("/score", json!(7.0))),
        ("position.lat", set("/position/lat", json!(91.0))),
        ("pose.alt_m", set("/pose/alt_m", json!(1e9))),
        ("hit_id", set("/hit_id", json!("hit-1"))),
        (
            "hit_id",
            set("/hit_id", json!(uuid::Uuid::new_v4().to_string())),
        ),
        ("update_of", Box::new(|v| v["update_of"] = json!("x"))),
        ("ahead", set("/observed_at", json!("2026-05-27T11:00:00Z"))),
        (
            "days old",
            set("/observed_at", json!("1970-01-01T00:00:00Z")),
        ),
    ]
}

/// `hit` spoiled by `poison`, as a payload.
pub fn poisoned(hit: &Hit, poison: &dyn Fn(&mut serde_json::Value)) -> Vec<u8> {
    let mut v = serde_json::to_value(hit).expect("a hit serialises");
    poison(&mut v);
    serde_json::to_vec(&v).expect("JSON serialises")
}

/// `n` hits of agent `dock-1` spread over a district (each its own ticket), named `tag-N`,
/// observed now: `(hit_id, payload)`.
pub fn payloads(n: usize, tag: &str) -> Vec<(HitId, Vec<u8>)> {
    let now = Timestamp::now();
    (0..n)
        .map(|i| {
            let id = hit_id(&format!("{tag}-{i:07}"));
            let mut h = hit(
                &id,
                "dock-1",
                "construction_waste",
                30.5 + (i % 400) as f64 * 0.0005,
                0.9,
            );
            h.position.lon = 121.0 + (i / 400) as f64 * 0.0006;
            h.observed_at = now;
            (id, serde_json::to_vec(&h).expect("a hit serialises"))
        })
        .collect()
}

/// A publisher for benchmarks: a window of 1,000, TCP_NODELAY (each hit leaves at once, as
/// the edge agent sends them), its event loop on a thread of its own.
pub fn bench_publisher(port: u16, id: &str) -> rumqttc::Client {
    let mut mo = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
    mo.set_inflight(1000).set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut conn) = rumqttc::Client::new(mo, 10_000);
    let mut net = conn.eventloop.network_options();
    net.set_tcp_nodelay(true);
    conn.eventloop.set_network_options(net);
    std::thread::spawn(move || for _ in conn.iter() {});
    client
}
