//! Docks, defined once: the docks file (`flight-plans/docks.toml`) that `flightplan` reads to
//! plan and triage reads to schedule. A plan names its dock by id.
//!
//! ```toml
//! [[dock]]
//! id = "dock-1"
//! lat = 30.70
//! lon = 121.02
//! elevation_m = 4.5        # the take-off point above the ellipsoid, metres
//! max_range_m = 3000
//! max_flight_s = 1500
//! max_altitude_m = 120
//! rth_altitude_m = 100
//! sn = "7CTDM12345"        # the Cloud API gateway (thing/product/{sn}/…): triage flies it
//! aircraft_sn = "1581F5BKD225D00B"   # its aircraft (OSD on thing/product/{aircraft_sn}/osd)
//! agent = "district-1"     # the edge agent analysing its video
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A dock: where its aircraft takes off and how far it may go.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dock {
    /// Its id: letters, digits, `-`.
    pub id: String,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// The take-off point above the WGS84 ellipsoid, metres.
    #[serde(default)]
    pub elevation_m: f64,
    /// Farthest a waypoint may be from the dock, metres.
    pub max_range_m: f64,
    /// Longest flight, seconds (take-off to landing).
    pub max_flight_s: f64,
    /// Highest a waypoint may be above the dock, metres.
    pub max_altitude_m: f64,
    /// Return-to-home height above the dock, metres.
    pub rth_altitude_m: f64,
    /// Its Cloud API gateway serial number (`thing/product/{sn}/…`); a dock without one is
    /// planned for but not flown by triage.
    #[serde(default)]
    pub sn: Option<String>,
    /// Its aircraft's serial number (the aircraft's OSD topic).
    #[serde(default)]
    pub aircraft_sn: Option<String>,
    /// The edge agent that analyses its video.
    #[serde(default)]
    pub agent: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocksFile {
    #[serde(default)]
    dock: Vec<Dock>,
}

/// A docks file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DockError {
    /// Not readable.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why (shown in the message, so not chained again).
        error: std::io::Error,
    },
    /// Not TOML, or an unknown key (the message names line and key).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's words.
        message: String,
    },
    /// A value out of range, or an id used twice.
    #[error("{path}: dock {id:?}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The dock.
        id: String,
        /// What is wrong.
        message: String,
    },
}

/// Whether `id` is 1–64 letters, digits and `-`.
pub fn is_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The docks of a docks file, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Docks {
    /// The file they came from.
    pub path: PathBuf,
    /// The docks, in file order.
    pub docks: Vec<Dock>,
}

impl Docks {
    /// Reads and checks a docks file.
    pub fn load(path: &Path) -> Result<Self, DockError> {
        let text = std::fs::read_to_string(path).map_err(|error| DockError::Io {
            path: path.into(),
            error,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks a docks file's text (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, DockError> {
        let file: DocksFile = toml::from_str(text).map_err(|e| DockError::Parse {
            path: path.into(),
            message: e.to_string(),
        })?;
        let bad = |id: &str, message: String| DockError::Invalid {
            path: path.into(),
            id: id.into(),
            message,
        };
        let mut seen = std::collections::HashSet::new();
        let mut serials = std::collections::HashMap::new();
        for d in &file.dock {
            if !is_id(&d.id) {
                return Err(bad(&d.id, "an id is 1-64 letters, digits or '-'".into()));
            }
            if !seen.insert(d.id.as_str()) {
                return Err(bad(&d.id, "defined twice".into()));
            }
            if !(d.lat.is_finite()
                && d.lat.abs() <= 90.0
                && d.lon.is_finite()
                && d.lon.abs() <= 180.0)
            {
                return Err(bad(
                    &d.id,
                    format!("lat, lon = {}, {} is not a position", d.lat, d.lon),
                ));
            }
            for (key, v, lo, hi) in [
                ("elevation_m", d.elevation_m, -500.0, 9000.0),
                ("max_range_m", d.max_range_m, 1.0, 100_000.0),
                ("max_flight_s", d.max_flight_s, 1.0, 86_400.0),
                ("max_altitude_m", d.max_altitude_m, 2.0, 1500.0),
                ("rth_altitude_m", d.rth_altitude_m, 20.0, 1500.0),
            ] {
                if !(v.is_finite() && (lo..=hi).contains(&v)) {
                    return Err(bad(&d.id, format!("{key} = {v} is outside {lo}..{hi}")));
                }
            }
            for (key, sn) in [("sn", &d.sn), ("aircraft_sn", &d.aircraft_sn)] {
                let Some(sn) = sn else { continue };
                if !argus_core::cloudapi::is_sn(sn) {
                    return Err(bad(
                        &d.id,
                        format!("{key} = {sn:?} is not a serial number (1-64 letters and digits)"),
                    ));
                }
                if let Some(other) = serials.insert(sn.as_str(), d.id.as_str()) {
                    return Err(bad(
                        &d.id,
                        format!("{key} = {sn:?} is dock {other:?}'s serial number too"),
                    ));
                }
            }
            if d.aircraft_sn.is_some() && d.sn.is_none() {
                return Err(bad(
                    &d.id,
                    "aircraft_sn is given without the dock's sn".into(),
                ));
            }
            if let Some(agent) = &d.agent
                && !argus_core::hit::is_agent_id(agent)
            {
                return Err(bad(
                    &d.id,
                    format!(
                        "agent = {agent:?} is not an agent id (1-64 letters, digits, '-', '_')"
                    ),
                ));
            }
        }
        Ok(Self {
            path: path.into(),
            docks: file.dock,
        })
    }

    /// The dock of that id.
    pub fn get(&self, id: &str) -> Option<&Dock> {
        self.docks.iter().find(|d| d.id == id)
    }

    /// The ids, for messages.
    pub fn ids(&self) -> String {
        self.docks
            .iter()
            .map(|d| d.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docks_are_checked_and_named() {
        let p = Path::new("docks.toml");
        let ok = "[[dock]]\nid = \"dock-1\"\nlat = 30.7\nlon = 121.0\nmax_range_m = 3000\nmax_flight_s = 1500\nmax_altitude_m = 120\nrth_altitude_m = 100\n";
        let d = Docks::parse(ok, p).unwrap();
        assert_eq!(d.get("dock-1").unwrap().max_range_m, 3000.0);
        let twice = format!("{ok}{ok}");
        assert!(
            Docks::parse(&twice, p)
                .unwrap_err()
                .to_string()
                .contains("defined twice")
        );
        let unknown = ok.replace("lat = 30.7", "lat = 30.7\nlatt = 1");
        let e = Docks::parse(&unknown, p).unwrap_err().to_string();
        assert!(e.contains("latt") && e.starts_with("docks.toml"), "{e}");
        let high = ok.replace("rth_altitude_m = 100", "rth_altitude_m = 5");
        let e = Docks::parse(&high, p).unwrap_err().to_string();
        assert!(e.contains("rth_altitude_m = 5"), "{e}");
        // Serial numbers and the agent.
        let flown = format!(
            "{ok}sn = \"7CTDM12345\"\naircraft_sn = \"1581F5BKD225D00B\"\nagent = \"district-1\"\n"
        );
        let d = Docks::parse(&flown, p).unwrap();
        assert_eq!(d.get("dock-1").unwrap().sn.as_deref(), Some("7CTDM12345"));
        for (bad, names) in [
            (
                flown.replace("7CTDM12345", "7CTDM/12345"),
                "sn = \"7CTDM/12345\"",
            ),
            (
                flown.replace("1581F5BKD225D00B", "7CTDM12345"),
                "dock \"dock-1\"'s serial number",
            ),
            (
                flown.replace("district-1", "district 1"),
                "agent = \"district 1\"",
            ),
            (
                flown.replace("sn = \"7CTDM12345\"\n", ""),
                "without the dock's sn",
            ),
        ] {
            let e = Docks::parse(&bad, p).unwrap_err().to_string();
            assert!(e.contains(names), "{e}");
        }
    }
}
