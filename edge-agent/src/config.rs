//! The agent's TOML config. Unknown keys are refused, naming the key and its place.
//!
//! ```toml
//! [agent]
//! id = "dock-7"                    # its topics: argus_core::topics::AgentTopic
//! model = "models/argus-det"
//! map = "district.geojson"         # rules and roofs; without it nothing is a violation
//! dem = "terrain.tif"              # optional: terrain heights (GeoTIFF, WGS84); else flat ground
//! utc_offset_min = 480             # local time for vending hours
//! classes = "classes.toml"         # optional: the class catalog (argus_core::catalog); else built in
//!
//! [analysis]                       # see AnalysisOptions
//! detect_fps = 5
//!
//! [mqtt]
//! url = "mqtt://broker:1883"
//! outbox = "/var/lib/argus/outbox"
//!
//! [[source]]
//! id = "patrol"
//! kind = "drone"
//! uri = "flight.mp4"               # a file path, rtsp://…, or udp://…
//! telemetry = "flight.SRT"
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use argus_analysis::AnalysisOptions;

/// The whole config.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Who the agent is and what it runs.
    #[serde(default)]
    pub agent: AgentConfig,
    /// Analysis settings.
    #[serde(default)]
    pub analysis: AnalysisOptions,
    /// Publishing.
    #[serde(default)]
    pub mqtt: Option<MqttConfig>,
    /// Video sources.
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceConfig>,
    /// Health and metrics endpoint.
    #[serde(default)]
    pub health: Option<HealthConfig>,
}

/// `[agent]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Agent id (topic segment): letters, digits, `-`, `_`.
    pub id: String,
    /// Model folder.
    pub model: PathBuf,
    /// Inference threads.
    pub threads: usize,
    /// ONNX Runtime library (else `ORT_DYLIB_PATH`, else the project's `.venv`).
    pub onnxruntime: Option<PathBuf>,
    /// Map GeoJSON.
    pub map: Option<PathBuf>,
    /// Terrain: a DEM GeoTIFF in WGS84 latitude/longitude; without it the ground is flat.
    pub dem: Option<PathBuf>,
    /// Local time minus UTC, minutes.
    pub utc_offset_min: i32,
    /// The class catalog (which detector class becomes which violation, by which rule); the
    /// built-in one when not set. Triage reads the same file.
    pub classes: Option<PathBuf>,
    /// Largest difference between this agent's clock and a dock's OSD timestamps, seconds;
    /// messages further off are refused (and counted on `/health`).
    pub max_clock_skew_s: f64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            id: "edge-1".into(),
            model: PathBuf::from("models/argus-det"),
            threads: 2,
            onnxruntime: None,
            map: None,
            dem: None,
            utc_offset_min: 0,
            classes: None,
            max_clock_skew_s: 30.0,
        }
    }
}

/// `[mqtt]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host:port` or `mqtts://host:port`.
    pub url: String,
    /// Username.
    #[serde(default)]
    pub username: Option<String>,
    /// Password (or `password_file`).
    #[serde(default)]
    pub password: Option<String>,
    /// A file holding the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// CA certificate (PEM) for `mqtts://`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Durable outbox folder.
    #[serde(default = "default_outbox")]
    pub outbox: PathBuf,
    /// Most hits the outbox holds before the pipeline waits for the broker.
    #[serde(default = "default_outbox_max")]
    pub outbox_max: usize,
    /// Keep-alive, seconds.
    #[serde(default = "default_keep_alive")]
    pub keep_alive_s: u64,
    /// How long a hit the broker took waits for triage's receipt before it is sent again,
    /// seconds (the wait doubles with each try, up to ten minutes).
    #[serde(default = "default_receipt_timeout")]
    pub receipt_timeout_s: f64,
    /// When every source has ended: how long to wait for the broker to take what the outbox
    /// still holds before exiting (what is left is sent first on the next start), seconds.
    #[serde(default = "default_drain")]
    pub drain_s: u64,
}

fn default_drain() -> u64 {
    120
}

fn default_outbox() -> PathBuf {
    PathBuf::from("var/outbox")
}
fn default_outbox_max() -> usize {
    100_000
}
fn default_receipt_timeout() -> f64 {
    30.0
}
fn default_keep_alive() -> u64 {
    15
}

/// A `[[source]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Id, unique in the agent.
    pub id: String,
    /// `drone` or `camera`.
    pub kind: argus_core::hit::SourceKind,
    /// A file path, `rtsp://…` or `udp://…`.
    pub uri: String,
    /// DJI SRT telemetry (drones).
    #[serde(default)]
    pub telemetry: Option<PathBuf>,
    /// A live dock drone's aircraft serial number: its poses come from its DJI Cloud API OSD
    /// messages (`DockTopic::Osd`) on the `[mqtt]` broker.
    #[serde(default)]
    pub osd_sn: Option<String>,
    /// A fixed camera's calibration (`camera.json`: pose, intrinsics, GCPs).
    #[serde(default)]
    pub camera: Option<PathBuf>,
    /// Flight id for drone hits (a recorded flight's).
    #[serde(default)]
    pub flight_id: Option<String>,
    /// A live dock drone's dock (gateway) serial number: its hits carry the `flight_id` of the
    /// task its dock's `flighttask_progress` events say is flying (none between flights).
    #[serde(default)]
    pub dock_sn: Option<String>,
    /// Overrides `[analysis] detect_fps` for this source.
    #[serde(default)]
    pub detect_fps: Option<f64>,
    /// RTSP over TCP (default) or UDP.
    #[serde(default)]
    pub rtsp_udp: bool,
}

/// `[health]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// `ADDR:PORT` for `/health` and `/metrics`.
    pub listen: String,
}

/// Errors reading a config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read, or its TOML is wrong (the message names the key and line).
    #[error(transparent)]
    File(#[from] argus_core::config::FileError),
    /// A value is out of range.
    #[error("{path}: {key}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The key.
        key: String,
        /// Why.
        message: String,
    },
}

impl Config {
    /// Reads and checks a config file; relative paths written in it are resolved against its
    /// folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = argus_core::config::ConfigFile::<Config>::read(path)?;
        let mut c = Self::checked(file.value.clone(), &file.path)?;
        let fix = |p: &mut PathBuf| file.resolve(p);
        // The default model folder is the project's, relative to where the agent runs; a model
        // written in the file is relative to the file.
        if file.written(&["agent", "model"]) {
            fix(&mut c.agent.model);
        }
        c.agent.map.as_mut().map(fix);
        c.agent.dem.as_mut().map(fix);
        c.agent.onnxruntime.as_mut().map(fix);
        c.agent.classes.as_mut().map(fix);
        if let Some(m) = &mut c.mqtt {
            fix(&mut m.outbox);
            m.ca_file.as_mut().map(fix);
            m.password_file.as_mut().map(fix);
        }
        for s in &mut c.sources {
            s.telemetry.as_mut().map(fix);
            s.camera.as_mut().map(fix);
            if !s.uri.contains("://") {
                let mut p = PathBuf::from(&s.uri);
                fix(&mut p);
                s.uri = p.display().to_string();
            }
        }
        Ok(c)
    }

    /// Parses and checks config text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, ConfigError> {
        Self::checked(argus_core::config::parse(text, path)?, path)
    }

    /// Checks a parsed config's values.
    fn checked(c: Config, path: &str) -> Result<Self, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.into(),
            key: key.into(),
            message,
        };
        let id_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !argus_core::hit::is_agent_id(&c.agent.id) {
            return Err(invalid(
                "agent.id",
                format!("{:?} must be letters, digits, - or _", c.agent.id),
            ));
        }
        let a = &c.analysis;
        if !(a.tile_scale > 0.0 && a.tile_scale <= 4.0) {
            return Err(invalid(
                "analysis.tile_scale",
                format!("{} is not in (0, 4]", a.tile_scale),
            ));
        }
        if a.detect_fps < 0.0 {
            return Err(invalid(
                "analysis.detect_fps",
                format!("{} is negative", a.detect_fps),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (k, s) in c.sources.iter().enumerate() {
            if !id_ok(&s.id) || !seen.insert(s.id.clone()) {
                return Err(invalid(
                    &format!("source[{k}].id"),
                    format!("{:?} is not a unique id of letters, digits, - or _", s.id),
                ));
            }
            if let Some(sn) = &s.osd_sn {
                if sn.is_empty() || !sn.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(invalid(
                        &format!("source[{k}].osd_sn"),
                        format!("{sn:?} is not an aircraft serial number (letters and digits)"),
                    ));
                }
                if s.telemetry.is_some() || s.camera.is_some() {
                    return Err(invalid(
                        &format!("source[{k}].osd_sn"),
                        "a source takes its poses from one of `telemetry`, `osd_sn` or `camera`"
                            .into(),
                    ));
                }
            }
            if let Some(sn) = &s.dock_sn {
                if !argus_core::cloudapi::is_sn(sn) {
                    return Err(invalid(
                        &format!("source[{k}].dock_sn"),
                        format!("{sn:?} is not a dock serial number (1-64 letters and digits)"),
                    ));
                }
                if s.osd_sn.is_none() || s.flight_id.is_some() {
                    return Err(invalid(
                        &format!("source[{k}].dock_sn"),
                        "goes with `osd_sn` (a live dock drone), and instead of a fixed `flight_id`"
                            .into(),
                    ));
                }
            }
        }
        if let Some(m) = &c.mqtt
            && !(m.receipt_timeout_s.is_finite() && (0.1..=3600.0).contains(&m.receipt_timeout_s))
        {
            return Err(invalid(
                "mqtt.receipt_timeout_s",
                format!("{} is not in [0.1, 3600]", m.receipt_timeout_s),
            ));
        }
        if let Some(m) = &c.mqtt
            && !(m.url.starts_with("mqtt://") || m.url.starts_with("mqtts://"))
        {
            return Err(invalid(
                "mqtt.url",
                format!("{:?} is not mqtt://host:port or mqtts://host:port", m.url),
            ));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_config_parses() {
        let c = Config::parse(
            r#"
[agent]
id = "dock-7"
map = "district.geojson"
[analysis]
detect_fps = 2.0
[analysis.tracker]
min_hits = 4
[mqtt]
url = "mqtt://localhost:1883"
[[source]]
id = "patrol"
kind = "drone"
uri = "flight.mp4"
telemetry = "flight.SRT"
"#,
            "agent.toml",
        )
        .unwrap();
        assert_eq!(c.agent.id, "dock-7");
        assert_eq!(c.analysis.detect_fps, 2.0);
        assert_eq!(c.analysis.tracker.min_hits, 4);
        assert_eq!(c.sources[0].kind, argus_core::hit::SourceKind::Drone);
    }

    #[test]
    fn unknown_and_bad_keys_are_named() {
        let e = Config::parse("[agent]\nid = \"a\"\nmodle = \"x\"\n", "agent.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("modle") && e.contains("agent.toml") && e.contains("line 3"),
            "{e}"
        );
        let e = Config::parse("[analysis.tracker]\nmin_hit = 3\n", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("min_hit"), "{e}");
        let e = Config::parse("[agent]\nid = \"a/b\"\n", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("agent.id"), "{e}");
        let e = Config::parse("[mqtt]\nurl = \"tcp://x\"\n", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("mqtt.url"), "{e}");
        let e = Config::parse(
            "[[source]]\nid = \"a\"\nkind = \"boat\"\nuri = \"x\"\n",
            "a.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("boat"), "{e}");
        // A dock's drone: `dock_sn` goes with `osd_sn`, instead of a fixed flight id.
        let live = "[[source]]\nid = \"a\"\nkind = \"drone\"\nuri = \"udp://@:5600\"\nosd_sn = \"1581F5BKD225D00B\"\n";
        let ok = Config::parse(&format!("{live}dock_sn = \"7CTDM12345\"\n"), "a.toml").unwrap();
        assert_eq!(ok.sources[0].dock_sn.as_deref(), Some("7CTDM12345"));
        for bad in [
            format!("{live}dock_sn = \"7CTDM/1\"\n"),
            format!("{live}dock_sn = \"7CTDM12345\"\nflight_id = \"f1\"\n"),
            live.replace(
                "osd_sn = \"1581F5BKD225D00B\"\n",
                "telemetry = \"f.SRT\"\ndock_sn = \"7CTDM12345\"\n",
            ),
        ] {
            let e = Config::parse(&bad, "a.toml").unwrap_err().to_string();
            assert!(e.contains("source[0].dock_sn"), "{bad}: {e}");
        }
    }
}
