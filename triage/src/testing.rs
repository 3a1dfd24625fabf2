//! Hits for tests and benchmarks (not part of the service).

use argus_core::camera::Pose;
use argus_core::hit::{
    Evidence, FrameRef, HIT_SCHEMA, Hit, ModelRef, Position, Source, SourceKind,
};
use argus_core::rules::Rule;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The evidence bytes of [`hit`].
pub const JPEG: &[u8] = b"\xff\xd8 not really a jpeg \xff\xd9";

/// A valid hit of `class` by `agent` at (`lat`, 121.0), ±2 m.
pub fn hit(id: &str, agent: &str, class: &str, lat: f64, score: f32) -> Hit {
    Hit {
        schema: HIT_SCHEMA.into(),
        hit_id: id.into(),
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
        observed_at: "2026-05-27T10:00:00.000Z".into(),
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
        pose: Pose {
            lat,
            lon: 121.0,
            alt_m: 100.0,
            yaw_deg: 0.0,
            pitch_deg: -90.0,
            roll_deg: 0.0,
        },
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
            argus_core::hit::hits_topic(&hit.agent_id),
            rumqttc::QoS::AtLeastOnce,
            false,
            serde_json::to_vec(hit).expect("a hit serialises"),
        )
        .expect("the client's queue takes the hit");
}
