//! The edge of triage: every hit message is checked whole before anything is decided on it.
//! A message that fails becomes a dead letter whose reason is a [`HitRejection`] — never a
//! store error that would hold up the hits sharing its batch.
//!
//! What is checked: the topic's agent id (`[A-Za-z0-9_-]{1,64}`) against the payload's; the
//! schema tag; `hit_id` (and `update_of`) a UUIDv7; `class` one of the configured classes; every
//! float finite and in range (position, pose, score in [0, 1], uncertainty up to
//! [`Limits::max_uncertainty_m`], the box inside its frame); `observed_at` a real RFC 3339 instant
//! no older than [`Limits::max_age_days`] and no later than [`Limits::max_future_s`] ahead of
//! triage's clock; every string free of control characters; the evidence's SHA-256.

use std::collections::BTreeSet;

use argus_core::clock::Timestamp;
use argus_core::hit::{HIT_SCHEMA, Hit};
pub use argus_core::hit::{is_agent_id, is_uuid7};
use argus_core::topics::AgentTopic;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Largest payload taken, bytes (a hit with a generous evidence JPEG is ~100 kB).
pub const MAX_PAYLOAD: usize = 2 << 20;

/// Why a hit message was refused. Its text is what the dead-letter table keeps.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HitRejection {
    /// Over [`MAX_PAYLOAD`].
    #[error("payload of {0} bytes is over the {MAX_PAYLOAD}-byte limit")]
    TooLarge(usize),
    /// Not a hits topic, or its agent id is not `[A-Za-z0-9_-]{1,64}`.
    #[error(
        "topic {0:?} is not an agent's hits topic (an agent id is 1-64 letters, digits, '-' or '_')"
    )]
    Topic(String),
    /// Not UTF-8 JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// No `schema` tag.
    #[error("no `schema` field")]
    NoSchema,
    /// Another schema.
    #[error("unknown schema {0:?} (this triage reads {HIT_SCHEMA})")]
    Schema(String),
    /// The tag is right, the shape is not (a missing field, a wrong type).
    #[error("not an {HIT_SCHEMA}: {0}")]
    Shape(String),
    /// The payload's agent is not the topic's.
    #[error("agent_id {payload:?} disagrees with the topic's {topic:?}")]
    AgentMismatch {
        /// In the payload.
        payload: String,
        /// In the topic.
        topic: String,
    },
    /// An id that is not a UUIDv7.
    #[error("{field} {value:?} is not a UUIDv7")]
    Id {
        /// `hit_id` or `update_of`.
        field: &'static str,
        /// What was sent.
        value: String,
    },
    /// A string with a control character (NUL, escape, newline, …) or over 1,024 bytes.
    #[error("{0} holds a control character or is over 1024 bytes")]
    Text(&'static str),
    /// A class this triage is not configured for.
    #[error("class {0:?} is not one of the configured classes")]
    Class(String),
    /// A number that is not finite or out of its range.
    #[error("{field} = {value} is out of range ({range})")]
    Range {
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
        /// What is allowed.
        range: String,
    },
    /// The box is not inside its frame.
    #[error("bbox {bbox:?} is not inside the {width}×{height} frame")]
    Bbox {
        /// The box.
        bbox: [f64; 4],
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
    },
    /// `observed_at` is no RFC 3339 instant.
    #[error("observed_at {0:?} is not an RFC 3339 time")]
    Time(String),
    /// `observed_at` lies outside the accepted window.
    #[error("observed_at {at:?} is {why}")]
    TimeWindow {
        /// The time.
        at: String,
        /// How far off.
        why: String,
    },
    /// The evidence is not base64.
    #[error("evidence is not base64: {0}")]
    Evidence(String),
    /// The evidence is not what its hash says.
    #[error("evidence SHA-256 is {actual}, the hit says {claimed}")]
    EvidenceHash {
        /// Computed.
        actual: String,
        /// Claimed.
        claimed: String,
    },
    /// `update_of` names another agent's hit.
    #[error("update_of {first} is a hit of agent {owner:?}, not of {agent:?}")]
    UpdateAgent {
        /// The first hit.
        first: String,
        /// Whose it is.
        owner: String,
        /// Who sent the update.
        agent: String,
    },
    /// `update_of` lies too far from its first hit to be the same violation.
    #[error(
        "update_of {first} lies {distance_m:.0} m from its first hit (at most {allowed_m:.0} m)"
    )]
    UpdateFar {
        /// The first hit.
        first: String,
        /// How far.
        distance_m: f64,
        /// The class radius plus both uncertainties.
        allowed_m: f64,
    },
    /// `update_of` names the hit itself.
    #[error("update_of names the hit itself")]
    UpdateSelf,
    /// The store refused this message alone (its reason), after its batch was split.
    #[error("the store refused it: {0}")]
    Store(String),
}

/// What a hit may be: the configured classes and the bounds of its numbers and times.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The violation classes accepted (`class`): by default every violation of the class
    /// catalog.
    pub classes: BTreeSet<String>,
    /// Whether the config listed `classes` (else the service takes the catalog's).
    #[serde(skip)]
    pub classes_listed: bool,
    /// Largest `position.uncertainty_m`, metres.
    pub max_uncertainty_m: f64,
    /// Oldest `observed_at` accepted, days before now: a dock offline for weeks or a replayed
    /// recording still counts, a clock reset to 1970 does not.
    pub max_age_days: f64,
    /// Latest `observed_at` accepted, seconds after triage's clock (the agents' clock skew).
    pub max_future_s: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // The built-in catalog's violations (the service takes its configured catalog's).
            classes: argus_core::catalog::Catalog::builtin()
                .violations
                .into_iter()
                .map(|v| v.id)
                .collect(),
            classes_listed: false,
            max_uncertainty_m: 500.0,
            max_age_days: 3650.0,
            max_future_s: 300.0,
        }
    }
}

impl Limits {
    /// Checks every value, naming the key.
    pub fn check(&self) -> Result<(), String> {
        use crate::engine::in_range;
        if let Some(c) = self
            .classes
            .iter()
            .find(|c| !crate::engine::printable_name(c))
        {
            return Err(format!("intake.classes: {c:?} is not a class name"));
        }
        in_range(
            "intake.max_uncertainty_m",
            self.max_uncertainty_m,
            0.1,
            100_000.0,
        )?;
        in_range("intake.max_age_days", self.max_age_days, 0.001, 36_500.0)?;
        in_range("intake.max_future_s", self.max_future_s, 0.0, 86_400.0)
    }
}

/// A message that passed [`check`].
#[derive(Debug)]
pub struct Checked {
    /// The hit.
    pub hit: Hit,
    /// Its evidence JPEG.
    pub jpeg: Vec<u8>,
    /// The message as received (unknown fields too), less the JPEG: what the store keeps.
    pub stored: String,
}

/// The agent id in a hits topic, when it is one.
pub fn topic_agent(topic: &str) -> Option<&str> {
    match AgentTopic::parse(topic)? {
        (agent, AgentTopic::Hits) => Some(agent),
        _ => None,
    }
}

fn text(field: &'static str, s: &str) -> Result<(), HitRejection> {
    if s.len() > 1024 || s.chars().any(char::is_control) {
        return Err(HitRejection::Text(field));
    }
    Ok(())
}

fn range(field: &'static str, v: f64, lo: f64, hi: f64) -> Result<(), HitRejection> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(HitRejection::Range {
            field,
            value: v,
            range: format!("finite, {lo} to {hi}"),
        })
    }
}

/// Checks a message received at `now` (Unix seconds) and reads its hit and evidence JPEG,
/// parsing it once.
pub fn check(
    topic: &str,
    payload: &[u8],
    limits: &Limits,
    now: f64,
) -> Result<Checked, HitRejection> {
    if payload.len() > MAX_PAYLOAD {
        return Err(HitRejection::TooLarge(payload.len()));
    }
    let agent = topic_agent(topic).ok_or_else(|| HitRejection::Topic(topic.into()))?;
    let hit: Hit = match serde_json::from_slice::<Hit>(payload) {
        Ok(h) if h.schema == HIT_SCHEMA => h,
        Ok(h) => return Err(HitRejection::Schema(h.schema)),
        Err(e) => return Err(why_not_a_hit(payload, e)),
    };
    if hit.agent_id != agent {
        return Err(HitRejection::AgentMismatch {
            payload: hit.agent_id,
            topic: agent.into(),
        });
    }
    if hit.update_of.as_ref() == Some(&hit.hit_id) {
        return Err(HitRejection::UpdateSelf);
    }
    let texts = [
        ("source.id", Some(&hit.source.id)),
        ("source.flight_id", hit.source.flight_id.as_ref()),
        ("class", Some(&hit.class)),
        ("object_class", Some(&hit.object_class)),
        ("model.name", Some(&hit.model.name)),
        ("model.version", Some(&hit.model.version)),
        ("rule.layer", Some(&hit.rule.layer)),
        ("rule.feature_id", hit.rule.feature_id.as_ref()),
        ("rule.reason", Some(&hit.rule.reason)),
        ("evidence.sha256", Some(&hit.evidence.sha256)),
    ];
    for (field, s) in texts {
        if let Some(s) = s {
            text(field, s)?;
        }
    }
    if !limits.classes.contains(&hit.class) {
        return Err(HitRejection::Class(hit.class));
    }
    let p = &hit.position;
    range("position.lat", p.lat, -90.0, 90.0)?;
    range("position.lon", p.lon, -180.0, 180.0)?;
    range("position.elevation_m", p.elevation_m, -1000.0, 10_000.0)?;
    range(
        "position.uncertainty_m",
        p.uncertainty_m,
        0.0,
        limits.max_uncertainty_m,
    )?;
    range("score", f64::from(hit.score), 0.0, 1.0)?;
    let o = &hit.pose;
    range("pose.lat", o.lat, -90.0, 90.0)?;
    range("pose.lon", o.lon, -180.0, 180.0)?;
    range("pose.alt_m", o.alt_m, -1000.0, 10_000.0)?;
    range("pose.yaw_deg", o.yaw_deg, -720.0, 720.0)?;
    range("pose.pitch_deg", o.pitch_deg, -180.0, 180.0)?;
    range("pose.roll_deg", o.roll_deg, -180.0, 180.0)?;
    range("frame.pts_s", hit.frame.pts_s, 0.0, 1e9)?;
    let (w, h) = (hit.frame.width, hit.frame.height);
    let [x0, y0, x1, y1] = hit.bbox;
    let inside = hit.bbox.iter().all(|v| v.is_finite())
        && w > 0
        && h > 0
        && 0.0 <= x0
        && x0 <= x1
        && x1 <= f64::from(w)
        && 0.0 <= y0
        && y0 <= y1
        && y1 <= f64::from(h);
    if !inside {
        return Err(HitRejection::Bbox {
            bbox: hit.bbox,
            width: w,
            height: h,
        });
    }
    let observed = hit.observed_at.unix_s();
    if observed > now + limits.max_future_s {
        return Err(HitRejection::TimeWindow {
            at: hit.observed_at.to_string(),
            why: format!(
                "{:.0} s ahead of triage's clock (at most {:.0} s)",
                observed - now,
                limits.max_future_s
            ),
        });
    }
    if observed < now - limits.max_age_days * 86_400.0 {
        return Err(HitRejection::TimeWindow {
            at: hit.observed_at.to_string(),
            why: format!(
                "{:.0} days old (at most {:.0})",
                (now - observed) / 86_400.0,
                limits.max_age_days
            ),
        });
    }
    let jpeg = base64::engine::general_purpose::STANDARD
        .decode(&hit.evidence.jpeg_base64)
        .map_err(|e| HitRejection::Evidence(e.to_string()))?;
    let sha = format!("{:x}", Sha256::digest(&jpeg));
    if sha != hit.evidence.sha256 {
        return Err(HitRejection::EvidenceHash {
            actual: sha,
            claimed: hit.evidence.sha256,
        });
    }
    // The JPEG leaves the stored copy (it is kept once, by hash). What is stored must read
    // back: an unknown field may hold text serde skips unread (a lone surrogate escape).
    let stored = without_jpeg(payload, &hit.evidence.jpeg_base64)?;
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&stored) {
        return Err(HitRejection::NotJson(e.to_string()));
    }
    Ok(Checked { hit, jpeg, stored })
}

/// The clearest reason a payload that is not an `argus.hit/1` gives.
fn why_not_a_hit(payload: &[u8], e: serde_json::Error) -> HitRejection {
    let v: serde_json::Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(e) => return HitRejection::NotJson(e.to_string()),
    };
    let text = |field: &str| v.get(field).and_then(|s| s.as_str());
    match text("schema") {
        // The typed fields say which of them failed, in the rejection's own words.
        Some(HIT_SCHEMA) => {
            for field in ["hit_id", "update_of"] {
                if let Some(id) = text(field).filter(|id| !is_uuid7(id)) {
                    return HitRejection::Id {
                        field,
                        value: id.chars().take(64).collect(),
                    };
                }
            }
            match text("observed_at") {
                Some(t) if t.parse::<Timestamp>().is_err() => {
                    HitRejection::Time(t.chars().take(64).collect())
                }
                _ => HitRejection::Shape(e.to_string()),
            }
        }
        Some(other) => HitRejection::Schema(other.into()),
        None => HitRejection::NoSchema,
    }
}

/// The payload as text with the evidence JPEG's base64 emptied (`"jpeg_base64":""`), every
/// other byte as received. Base64 needs no JSON escapes, so the value appears verbatim after
/// its key; a payload written some other way is re-serialised without it.
fn without_jpeg(payload: &[u8], jpeg_base64: &str) -> Result<String, HitRejection> {
    const KEY: &[u8] = b"\"jpeg_base64\"";
    let text = std::str::from_utf8(payload).map_err(|e| HitRejection::NotJson(e.to_string()))?;
    let value = jpeg_base64.as_bytes();
    let mut from = 0;
    while let Some(at) = payload[from..].windows(KEY.len()).position(|w| w == KEY) {
        let mut i = from + at + KEY.len();
        let skip_ws = |i: &mut usize| {
            while payload.get(*i).is_some_and(|b| b.is_ascii_whitespace()) {
                *i += 1;
            }
        };
        skip_ws(&mut i);
        if payload.get(i) == Some(&b':') {
            i += 1;
            skip_ws(&mut i);
            let start = i + 1;
            let end = start + value.len();
            if payload.get(i) == Some(&b'"')
                && payload.get(start..end) == Some(value)
                && payload.get(end) == Some(&b'"')
            {
                return Ok(format!("{}{}", &text[..start], &text[end..]));
            }
        }
        from += at + 1;
    }
    let mut v: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| HitRejection::NotJson(e.to_string()))?;
    if let Some(e) = v.get_mut("evidence").and_then(|e| e.as_object_mut()) {
        e.insert(
            "jpeg_base64".into(),
            serde_json::Value::String(String::new()),
        );
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_testkit::hits::{hit, hit_id};

    const NOW: f64 = 1_779_876_000.0; // 2026-05-27T10:00:00Z, the test hits' time

    fn checked(h: &Hit) -> Result<Checked, HitRejection> {
        let topic = argus_core::topics::AgentTopic::Hits.topic(&h.agent_id);
        check(
            &topic,
            &serde_json::to_vec(h).unwrap(),
            &Limits::default(),
            NOW,
        )
    }

    #[test]
    fn the_stored_copy_drops_only_the_jpeg_however_the_json_is_written() {
        let b64 = "/9j/AAAA";
        // Compact, spaced, and with fields this build does not know: all kept but the JPEG.
        for text in [
            format!(
                r#"{{"a":1,"evidence":{{"jpeg_base64":"{b64}","sha256":"x"}},"future":[1,2]}}"#
            ),
            format!("{{\"evidence\" : {{ \"jpeg_base64\" :\n \"{b64}\" }}, \"future\": true}}"),
        ] {
            let out = without_jpeg(text.as_bytes(), b64).unwrap();
            assert!(!out.contains(b64), "{out}");
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["evidence"]["jpeg_base64"], "");
            assert!(v.get("future").is_some(), "{out}");
        }
        // A value written with escapes is not found verbatim: re-serialised without it.
        let escaped = r#"{"evidence":{"jpeg_base64":"\/9j\/AAAA"}}"#;
        let out = without_jpeg(escaped.as_bytes(), b64).unwrap();
        assert_eq!(out, r#"{"evidence":{"jpeg_base64":""}}"#);
    }

    #[test]
    fn every_poison_hit_is_refused_with_its_reason() {
        let good = hit(&hit_id("good"), "dock-1", "construction_waste", 30.7, 0.9);
        assert!(checked(&good).is_ok());
        // NaN and infinity are not JSON: they reach triage as null, a shape error.
        let mut nan = good.clone();
        nan.score = f32::NAN;
        assert!(matches!(checked(&nan), Err(HitRejection::Shape(_))));
        for (why, poison) in argus_testkit::hits::poisons() {
            let topic = argus_core::topics::AgentTopic::Hits.topic(&good.agent_id);
            let payload = argus_testkit::hits::poisoned(&good, &poison);
            let e = check(&topic, &payload, &Limits::default(), NOW).unwrap_err();
            assert!(e.to_string().contains(why), "{why}: {e}");
        }
    }

    #[test]
    fn ids_times_and_updates_are_checked_at_the_edge() {
        let good = hit(&hit_id("edge"), "dock-1", "construction_waste", 30.7, 0.9);
        let topic = argus_core::topics::AgentTopic::Hits.topic("dock-1");
        let with = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = serde_json::to_value(&good).unwrap();
            f(&mut v);
            check(
                &topic,
                &serde_json::to_vec(&v).unwrap(),
                &Limits::default(),
                NOW,
            )
        };
        // An update of itself.
        let own = good.hit_id.to_string();
        assert!(matches!(
            with(&|v| v["update_of"] = own.clone().into()),
            Err(HitRejection::UpdateSelf)
        ));
        // A time with a newline around it; an id of another UUID variant.
        assert!(matches!(
            with(&|v| v["observed_at"] = "\n2026-05-27T10:00:00Z\t".into()),
            Err(HitRejection::Time(_))
        ));
        let mut other = good.hit_id.to_string();
        other.replace_range(19..20, "c");
        assert!(matches!(
            with(&|v| v["hit_id"] = other.clone().into()),
            Err(HitRejection::Id { .. })
        ));
        // An unknown field holding a lone surrogate is stored text no reader could parse.
        let mut text = String::from_utf8(serde_json::to_vec(&good).unwrap()).unwrap();
        text.insert_str(1, "\"future\":\"\\ud800\",");
        assert!(matches!(
            check(&topic, text.as_bytes(), &Limits::default(), NOW),
            Err(HitRejection::NotJson(_))
        ));
    }

    #[test]
    fn the_topic_names_a_well_formed_agent_that_the_payload_agrees_with() {
        let h = hit(&hit_id("a"), "dock-1", "construction_waste", 30.7, 0.9);
        let payload = serde_json::to_vec(&h).unwrap();
        let lim = Limits::default();
        for topic in [
            "argus/v1/agents/dock 1/hits",
            "argus/v1/agents//hits",
            "argus/v1/agents/<img>/hits",
            "argus/v1/agents/a/b/hits",
        ] {
            assert!(matches!(
                check(topic, &payload, &lim, NOW),
                Err(HitRejection::Topic(_))
            ));
        }
        assert!(matches!(
            check("argus/v1/agents/dock-2/hits", &payload, &lim, NOW),
            Err(HitRejection::AgentMismatch { .. })
        ));
        assert!(topic_agent(&format!("argus/v1/agents/{}/hits", "a".repeat(65))).is_none());
    }
}
