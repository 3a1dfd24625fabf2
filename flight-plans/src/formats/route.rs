//! The simulator's route JSON (`sim flight --route`): route-wide height, speed and gimbal
//! pitch, and waypoints that may change them from there on and hover.
//!
//! ```json
//! {"altitude_m": 100, "speed_mps": 12, "gimbal_pitch_deg": -90,
//!  "home": {"lat": 30.70, "lon": 121.02, "elevation_m": 4.5},
//!  "waypoints": [{"lat": 30.701, "lon": 121.02},
//!                {"lat": 30.702, "lon": 121.02, "alt_m": 40, "gimbal_pitch_deg": -60, "hover_s": 10}]}
//! ```
//!
//! At a waypoint the gimbal turns first, then the aircraft hovers; a mission whose actions
//! come in another order, or that holds actions a route has no words for, is refused.

use serde::{Deserialize, Serialize};

use super::FormatError;
use crate::mission::{Action, Home, Mission, Template, Waypoint};

/// Default height above ground, metres.
pub const DEFAULT_ALTITUDE_M: f64 = 100.0;
/// Default ground speed, m/s.
pub const DEFAULT_SPEED_MPS: f64 = 12.0;
/// Default gimbal pitch: straight down.
pub const DEFAULT_PITCH_DEG: f64 = -90.0;

fn default_altitude() -> f64 {
    DEFAULT_ALTITUDE_M
}
fn default_speed() -> f64 {
    DEFAULT_SPEED_MPS
}
fn default_pitch() -> f64 {
    DEFAULT_PITCH_DEG
}

/// A route waypoint; `alt_m`, `gimbal_pitch_deg` and `speed_mps` hold from here on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteWaypoint {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Height above the take-off point here, metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_m: Option<f64>,
    /// Gimbal pitch from here, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gimbal_pitch_deg: Option<f64>,
    /// Ground speed from here, m/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_mps: Option<f64>,
    /// Hover here, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hover_s: Option<f64>,
}

/// The take-off point, when the route has one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteHome {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Above the ellipsoid, metres.
    #[serde(default)]
    pub elevation_m: f64,
}

/// A patrol route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Height above ground, metres.
    #[serde(default = "default_altitude")]
    pub altitude_m: f64,
    /// Ground speed, m/s.
    #[serde(default = "default_speed")]
    pub speed_mps: f64,
    /// Gimbal pitch, degrees (−90 nadir … 0 horizon).
    #[serde(default = "default_pitch")]
    pub gimbal_pitch_deg: f64,
    /// Gimbal yaw relative to the direction of travel, degrees.
    #[serde(default)]
    pub gimbal_yaw_offset_deg: f64,
    /// The take-off point; without it, the first waypoint on the ground.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<RouteHome>,
    /// The waypoints, flown in order.
    pub waypoints: Vec<RouteWaypoint>,
}

impl Route {
    /// The route as a mission.
    pub fn to_mission(&self) -> Result<Mission, FormatError> {
        if self.gimbal_yaw_offset_deg != 0.0 {
            return Err(FormatError::at(
                "/gimbal_yaw_offset_deg",
                "a mission has no gimbal yaw offset (only 0 converts)",
            ));
        }
        let Some(first) = self.waypoints.first() else {
            return Err(FormatError::at("/waypoints", "no waypoint"));
        };
        super::check_speed("/speed_mps", self.speed_mps)?;
        super::check_pitch("/gimbal_pitch_deg", self.gimbal_pitch_deg)?;
        if let Some(h) = &self.home {
            super::check_position("/home", h.lat, h.lon, h.elevation_m)?;
        }
        let home = self.home.map_or(
            Home {
                lat: first.lat,
                lon: first.lon,
                elevation_m: 0.0,
            },
            |h| Home {
                lat: h.lat,
                lon: h.lon,
                elevation_m: h.elevation_m,
            },
        );
        let mut height = self.altitude_m;
        let waypoints = self
            .waypoints
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let at = format!("/waypoints/{i}");
                super::check_position(&at, w.lat, w.lon, w.alt_m.unwrap_or(height))?;
                height = w.alt_m.unwrap_or(height);
                if let Some(s) = w.speed_mps {
                    super::check_speed(&format!("{at}/speed_mps"), s)?;
                }
                if let Some(p) = w.gimbal_pitch_deg {
                    super::check_pitch(&format!("{at}/gimbal_pitch_deg"), p)?;
                }
                if let Some(h) = w.hover_s {
                    super::check_hover(&format!("{at}/hover_s"), h)?;
                }
                let mut actions = Vec::new();
                match (i, w.gimbal_pitch_deg) {
                    (_, Some(p)) => actions.push(Action::Gimbal { pitch_deg: p }),
                    (0, None) => actions.push(Action::Gimbal {
                        pitch_deg: self.gimbal_pitch_deg,
                    }),
                    _ => {}
                }
                if let Some(s) = w.hover_s {
                    actions.push(Action::Hover { seconds: s });
                }
                Ok(Waypoint {
                    lat: w.lat,
                    lon: w.lon,
                    height_m: height,
                    speed_mps: w.speed_mps,
                    actions,
                })
            })
            .collect::<Result<Vec<_>, FormatError>>()?;
        Ok(Mission {
            home,
            speed_mps: self.speed_mps,
            rth_altitude_m: 100.0,
            template: Template::Waypoints,
            waypoints,
        })
    }

    /// A mission as a route.
    pub fn from_mission(m: &Mission) -> Result<Self, FormatError> {
        let mut waypoints = Vec::with_capacity(m.waypoints.len());
        let mut pitch0 = DEFAULT_PITCH_DEG;
        for (i, w) in m.waypoints.iter().enumerate() {
            let mut gimbal = None;
            let mut hover = None;
            for a in &w.actions {
                let unsupported = || FormatError::Unsupported {
                    format: "the route JSON",
                    waypoint: i,
                    action: a.name().to_string(),
                };
                match a {
                    // One gimbal turn, before any hover.
                    Action::Gimbal { pitch_deg } if gimbal.is_none() && hover.is_none() => {
                        gimbal = Some(*pitch_deg);
                    }
                    Action::Hover { seconds } if hover.is_none() => hover = Some(*seconds),
                    _ => return Err(unsupported()),
                }
            }
            if i == 0
                && let Some(p) = gimbal.take()
            {
                pitch0 = p;
            }
            waypoints.push(RouteWaypoint {
                lat: w.lat,
                lon: w.lon,
                alt_m: Some(w.height_m),
                gimbal_pitch_deg: gimbal,
                speed_mps: w.speed_mps,
                hover_s: hover,
            });
        }
        Ok(Self {
            altitude_m: m
                .waypoints
                .first()
                .map_or(DEFAULT_ALTITUDE_M, |w| w.height_m),
            speed_mps: m.speed_mps,
            gimbal_pitch_deg: pitch0,
            gimbal_yaw_offset_deg: 0.0,
            home: Some(RouteHome {
                lat: m.home.lat,
                lon: m.home.lon,
                elevation_m: m.home.elevation_m,
            }),
            waypoints,
        })
    }
}

/// Reads a route file.
pub fn read(bytes: &[u8]) -> Result<Mission, FormatError> {
    let route: Route = serde_json::from_slice(bytes).map_err(|e| {
        FormatError::at(
            &format!("line {}, column {}", e.line(), e.column()),
            &e.to_string(),
        )
    })?;
    route.to_mission()
}

/// The mission as a route file.
pub fn write(m: &Mission) -> Result<Vec<u8>, FormatError> {
    let route = Route::from_mission(m)?;
    serde_json::to_vec_pretty(&route).map_err(|e| FormatError::at("/", &e.to_string()))
}
