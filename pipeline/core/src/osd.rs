//! DJI Cloud API aircraft OSD messages ([`DockTopic::Osd`](crate::topics::DockTopic::Osd), `formats.md` §1) →
//! telemetry samples, for drones whose video arrives live from a dock.
//!
//! The envelope carries `timestamp` (Unix ms) and `data`; the aircraft's `data` has `latitude`,
//! `longitude`, `height` (absolute), `elevation` (above the take-off point), `attitude_head`,
//! and one payload object per gimbal keyed `{type-subtype-index}` (e.g. `"61-0-0"`) with
//! `gimbal_pitch`, `gimbal_roll`, `gimbal_yaw`. Dock OSD (no `latitude`… on the aircraft) and
//! messages without a position fix are told apart from broken ones.

use crate::telemetry::{Attitude, Sample};

/// Why an OSD message gives no sample.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum OsdError {
    /// Not JSON, or not an object with `timestamp` and `data`.
    #[error("OSD message is not a Cloud API envelope: {0}")]
    Envelope(String),
    /// A field has the wrong type or an impossible value.
    #[error("OSD field `{field}`: {problem}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A well-formed message without an aircraft position (a dock's OSD, or no fix yet).
    #[error("OSD message has no aircraft position")]
    NoPosition,
}

/// The aircraft serial number of an OSD topic, if it is one.
pub fn topic_sn(topic: &str) -> Option<&str> {
    match crate::topics::DockTopic::parse(topic)? {
        (sn, crate::topics::DockTopic::Osd) => Some(sn),
        _ => None,
    }
}

fn num(data: &serde_json::Value, field: &'static str) -> Result<Option<f64>, OsdError> {
    match data.get(field) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| OsdError::Field {
            field,
            problem: format!("{v} is not a number"),
        }),
    }
}

/// Reads one OSD message. `t_s` of the sample is the message's Unix time in seconds.
pub fn parse(payload: &[u8]) -> Result<Sample, OsdError> {
    let v: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| OsdError::Envelope(e.to_string()))?;
    let ts = v
        .get("timestamp")
        .and_then(serde_json::Value::as_f64)
        .ok_or_else(|| OsdError::Envelope("no numeric `timestamp`".into()))?;
    let data = v
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| OsdError::Envelope("no `data` object".into()))?;
    let (Some(lat), Some(lon)) = (num(data, "latitude")?, num(data, "longitude")?) else {
        return Err(OsdError::NoPosition);
    };
    if lat == 0.0 && lon == 0.0 {
        return Err(OsdError::NoPosition);
    }
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(OsdError::Field {
            field: "latitude",
            problem: format!("{lat}, {lon} is not a position"),
        });
    }
    let gimbal = data
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| {
            k.split('-').count() == 3 && k.split('-').all(|p| p.parse::<u32>().is_ok())
        })
        .min_by_key(|(k, _)| k.to_string())
        .map(|(_, p)| -> Result<Option<Attitude>, OsdError> {
            Ok(match (num(p, "gimbal_pitch")?, num(p, "gimbal_yaw")?) {
                (Some(pitch_deg), Some(yaw_deg)) => Some(Attitude {
                    yaw_deg,
                    pitch_deg,
                    roll_deg: num(p, "gimbal_roll")?.unwrap_or(0.0),
                }),
                _ => None,
            })
        })
        .transpose()?
        .flatten();
    Ok(Sample {
        t_s: ts / 1000.0,
        lat,
        lon,
        height_m: num(data, "elevation")?,
        abs_alt_m: num(data, "height")?,
        gimbal,
        focal_35mm: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = r#"{"tid":"t","bid":"b","timestamp":1724126480015,"gateway":"DOCK1",
      "data":{"latitude":22.5791,"longitude":113.9380,"height":112.6,"elevation":100.1,
              "attitude_head":35.2,"mode_code":5,"position_state":{"is_fixed":2,"rtk_number":30},
              "61-0-0":{"payload_index":"61-0-0","gimbal_pitch":-90.0,"gimbal_roll":0.0,"gimbal_yaw":35.1}}}"#;

    #[test]
    fn aircraft_osd_gives_position_height_and_gimbal() {
        let s = parse(MSG.as_bytes()).unwrap();
        assert_eq!(s.t_s, 1_724_126_480.015);
        assert_eq!((s.lat, s.lon), (22.5791, 113.938));
        assert_eq!((s.height_m, s.abs_alt_m), (Some(100.1), Some(112.6)));
        let g = s.gimbal.unwrap();
        assert_eq!((g.yaw_deg, g.pitch_deg, g.roll_deg), (35.1, -90.0, 0.0));
        assert_eq!(
            topic_sn("thing/product/1581F5BKD225D00B/osd"),
            Some("1581F5BKD225D00B")
        );
        assert_eq!(topic_sn("thing/product/x/state"), None);
    }

    #[test]
    fn broken_and_positionless_messages_are_told_apart() {
        assert!(matches!(parse(b"{not json"), Err(OsdError::Envelope(_))));
        assert!(matches!(
            parse(br#"{"data":{}}"#),
            Err(OsdError::Envelope(_))
        ));
        let dock = br#"{"timestamp":1,"data":{"mode_code":0,"network_state":{"type":2}}}"#;
        assert_eq!(parse(dock), Err(OsdError::NoPosition));
        let bad = br#"{"timestamp":1,"data":{"latitude":"north","longitude":1}}"#;
        assert!(parse(bad).unwrap_err().to_string().contains("`latitude`"));
        let off = br#"{"timestamp":1,"data":{"latitude":95,"longitude":1}}"#;
        assert!(matches!(parse(off), Err(OsdError::Field { .. })));
    }
}
