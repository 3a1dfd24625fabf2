//! The hit: one violation seen by one agent on one pass, as published on its
//! [`AgentTopic::Hits`](crate::topics::AgentTopic::Hits). Its JSON Schema is `schemas/hit.v1.schema.json`.
//!
//! Readers ignore unknown fields (so this type does not deny them); removing or changing a
//! field means `argus.hit/2`.

use serde::{Deserialize, Serialize};

use crate::camera::Pose;
use crate::rules::Rule;

/// The schema tag of this version.
pub const HIT_SCHEMA: &str = "argus.hit/1";

/// Whether `id` can be an agent id: 1–64 of `[A-Za-z0-9_-]` (it is a topic segment, a client id
/// and a broker username).
pub fn is_agent_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What kind of source saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A drone's camera (moving).
    Drone,
    /// A fixed street camera.
    Camera,
}

/// The source of a hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Drone or camera.
    pub kind: SourceKind,
    /// The source's id in the agent's config.
    pub id: String,
    /// The flight, for drones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flight_id: Option<String>,
}

/// The model that made the detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
}

/// The frame the evidence comes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrameRef {
    /// Frame index from the start of the source.
    pub index: u64,
    /// Presentation time, seconds.
    pub pts_s: f64,
    /// Frame width, pixels.
    pub width: u32,
    /// Frame height, pixels.
    pub height: u32,
}

/// Where the violation is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Latitude, degrees (WGS84).
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Height of the surface it stands on above the local ground plane (the take-off point's
    /// ground), metres: a roof's height for rooftop structures, the terrain's with a DEM.
    pub elevation_m: f64,
    /// Radius of the circle holding the true position with 90 % probability, metres.
    pub uncertainty_m: f64,
}

/// The evidence image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// SHA-256 of the JPEG bytes, lower-case hex.
    pub sha256: String,
    /// The JPEG, base64 (standard alphabet, padded).
    pub jpeg_base64: String,
    /// Its width, pixels.
    pub width: u32,
    /// Its height, pixels.
    pub height: u32,
}

/// A hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Always [`HIT_SCHEMA`].
    pub schema: String,
    /// Unique and time-ordered (a UUIDv7): the idempotency key.
    pub hit_id: String,
    /// The publishing agent; must match the topic.
    pub agent_id: String,
    /// The source.
    pub source: Source,
    /// Violation class: `vending_in_lane`, `construction_waste`, `illegal_structure`.
    pub class: String,
    /// What the detector saw: `stall`, `waste_pile`, `steel_shed`.
    pub object_class: String,
    /// The best detection score of the track.
    pub score: f32,
    /// The detector.
    pub model: ModelRef,
    /// When the evidence frame was taken (RFC 3339, UTC).
    pub observed_at: String,
    /// The evidence frame.
    pub frame: FrameRef,
    /// The box in the evidence frame, pixels `[x0, y0, x1, y1]`.
    pub bbox: [f64; 4],
    /// The track, unique per agent run and source.
    pub track_id: u64,
    /// Frames that saw it so far.
    pub sightings: u32,
    /// Where it is.
    pub position: Position,
    /// The camera pose used to geotag it.
    pub pose: Pose,
    /// The rule that made it a violation.
    pub rule: Rule,
    /// The evidence image.
    pub evidence: Evidence,
    /// For a track's later, better estimate: the `hit_id` of its first hit (the same violation,
    /// not a new one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_of: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_ignore_unknown_fields_and_updates_are_optional() {
        let hit = Hit {
            schema: HIT_SCHEMA.into(),
            hit_id: "0192f0c4-0000-7000-8000-000000000001".into(),
            agent_id: "dock-1".into(),
            source: Source {
                kind: SourceKind::Drone,
                id: "m3d".into(),
                flight_id: Some("f1".into()),
            },
            class: "construction_waste".into(),
            object_class: "waste_pile".into(),
            score: 0.9,
            model: ModelRef {
                name: "argus-det".into(),
                version: "0.2.0".into(),
            },
            observed_at: "2026-11-22T10:00:00Z".into(),
            frame: FrameRef {
                index: 3,
                pts_s: 0.1,
                width: 1920,
                height: 1080,
            },
            bbox: [1.0, 2.0, 3.0, 4.0],
            track_id: 7,
            sightings: 5,
            position: Position {
                lat: 30.7,
                lon: 121.0,
                elevation_m: 0.0,
                uncertainty_m: 2.5,
            },
            pose: Pose::nadir(30.7, 121.0, 100.0),
            rule: Rule {
                layer: "construction_site".into(),
                feature_id: None,
                reason: "outside any construction site".into(),
            },
            evidence: Evidence {
                sha256: "00".repeat(32),
                jpeg_base64: String::new(),
                width: 8,
                height: 8,
            },
            update_of: None,
        };
        let mut v = serde_json::to_value(&hit).unwrap();
        assert!(v.get("update_of").is_none());
        // A newer agent adds fields at every depth: this one still reads its hit.
        v["future_field"] = serde_json::json!(1);
        for part in [
            "source", "model", "frame", "position", "pose", "rule", "evidence",
        ] {
            v[part]["future_field"] = serde_json::json!({"nested": [1, 2]});
        }
        let back: Hit = serde_json::from_value(v).unwrap();
        assert_eq!(back, hit);
    }
}
