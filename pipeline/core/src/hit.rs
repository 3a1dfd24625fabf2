//! The hit: one violation seen by one agent on one pass, as published on its
//! [`AgentTopic::Hits`](crate::topics::AgentTopic::Hits). Its JSON Schema is `schemas/hit.v1.schema.json`.
//!
//! Readers ignore unknown fields (so this type does not deny them); removing or changing a
//! field means `argus.hit/2`.

use serde::{Deserialize, Serialize};

use crate::camera::Pose;
use crate::clock::Timestamp;
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

/// A hit's id: a UUIDv7 in its canonical lower-case form (unique, time-ordered, the
/// idempotency key). Checked once, when it is read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HitId(String);

/// A text that is no UUIDv7 in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a UUIDv7")]
pub struct NotAHitId(pub String);

impl HitId {
    /// A new id, made now.
    pub fn now_v7() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// When the id was made, Unix milliseconds (a UUIDv7's first 48 bits).
    pub fn unix_ms(&self) -> u64 {
        uuid::Uuid::try_parse(&self.0)
            .ok()
            .and_then(|u| u.get_timestamp())
            .map_or(0, |t| {
                let (s, ns) = t.to_unix();
                s * 1000 + u64::from(ns) / 1_000_000
            })
    }
}

/// Whether `id` is a UUIDv7 (RFC 9562's variant) in its canonical lower-case form.
pub fn is_uuid7(id: &str) -> bool {
    id.len() == 36
        && !id.bytes().any(|b| b.is_ascii_uppercase())
        && uuid::Uuid::try_parse(id)
            .is_ok_and(|u| u.get_version_num() == 7 && u.get_variant() == uuid::Variant::RFC4122)
}

impl std::str::FromStr for HitId {
    type Err = NotAHitId;

    fn from_str(s: &str) -> Result<Self, NotAHitId> {
        if is_uuid7(s) {
            Ok(Self(s.into()))
        } else {
            Err(NotAHitId(s.chars().take(64).collect()))
        }
    }
}

impl TryFrom<String> for HitId {
    type Error = NotAHitId;

    fn try_from(s: String) -> Result<Self, NotAHitId> {
        if is_uuid7(&s) {
            Ok(Self(s))
        } else {
            Err(NotAHitId(s.chars().take(64).collect()))
        }
    }
}

impl From<HitId> for String {
    fn from(id: HitId) -> String {
        id.0
    }
}

impl std::ops::Deref for HitId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for HitId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for HitId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for HitId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
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
    pub hit_id: HitId,
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
    /// When the evidence frame was taken (RFC 3339; written in UTC).
    pub observed_at: Timestamp,
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
    pub update_of: Option<HitId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_ignore_unknown_fields_and_updates_are_optional() {
        let hit = Hit {
            schema: HIT_SCHEMA.into(),
            hit_id: "0192f0c4-0000-7000-8000-000000000001".parse().unwrap(),
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
            observed_at: "2026-11-22T10:00:00Z".parse().unwrap(),
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
        let back: Hit = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(back, hit);
        assert_eq!(hit.hit_id.unix_ms(), 0x0192f0c40000);
        // Ids and times are checked as they are read.
        for (field, bad) in [
            ("hit_id", "0192f0c4-0000-4000-8000-000000000001"),
            ("hit_id", "0192F0C4-0000-7000-8000-000000000001"),
            ("hit_id", "0192f0c4-0000-7000-c000-000000000001"),
            ("hit_id", "0192f0c4-0000-7000-0000-000000000001"),
            ("update_of", "x"),
            ("observed_at", "2026-11-22 10:00:00"),
        ] {
            let mut w = v.clone();
            w[field] = serde_json::json!(bad);
            let e = serde_json::from_value::<Hit>(w).unwrap_err().to_string();
            assert!(e.contains(bad), "{field}: {e}");
        }
    }
}
