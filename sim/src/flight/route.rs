//! Patrol routes: a JSON file of waypoints with altitude, speed and gimbal settings, validated
//! against the district, and the default serpentine over the whole district.

use std::path::Path;

use argus_core::geodesy::GeoPoint;
use serde::{Deserialize, Serialize};

use crate::district::District;
use crate::geom::{self, P2};

/// Default patrol height above ground, metres.
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

/// A waypoint; `alt_m` and `gimbal_pitch_deg` override the route's values from here on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waypoint {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Height above ground here, metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_m: Option<f64>,
    /// Gimbal pitch here, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gimbal_pitch_deg: Option<f64>,
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
    /// The waypoints, flown in order.
    pub waypoints: Vec<Waypoint>,
}

/// A route that cannot be flown, naming the field at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a route (bad JSON, unknown key, wrong type).
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Where and why (serde names the key and the line).
        source: serde_json::Error,
    },
    /// A value is out of range.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, e.g. `waypoints[2].alt_m`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> RouteError {
    RouteError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

fn check_altitude(field: String, v: f64) -> Result<(), RouteError> {
    if !(v.is_finite() && v > 2.0 && v <= 500.0) {
        return Err(invalid(
            field,
            format!("{v} m is not a height above ground in (2, 500] m"),
        ));
    }
    Ok(())
}

fn check_pitch(field: String, v: f64) -> Result<(), RouteError> {
    if !(-90.0..=0.0).contains(&v) {
        return Err(invalid(
            field,
            format!("{v}° is outside −90° (nadir) … 0° (horizon)"),
        ));
    }
    Ok(())
}

impl Route {
    /// Reads and validates a route file.
    pub fn load(path: &Path, district: &District) -> Result<Self, RouteError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RouteError::Io {
            path: shown.clone(),
            source,
        })?;
        let route: Route = serde_json::from_str(&text).map_err(|source| RouteError::Parse {
            path: shown,
            source,
        })?;
        route.validate(district)?;
        Ok(route)
    }

    /// Checks every value, naming the first field at fault.
    pub fn validate(&self, district: &District) -> Result<(), RouteError> {
        check_altitude("altitude_m".into(), self.altitude_m)?;
        check_pitch("gimbal_pitch_deg".into(), self.gimbal_pitch_deg)?;
        if !(self.speed_mps.is_finite() && self.speed_mps > 0.0 && self.speed_mps <= 30.0) {
            return Err(invalid(
                "speed_mps",
                format!("{} m/s is outside (0, 30]", self.speed_mps),
            ));
        }
        if self.waypoints.len() < 2 {
            return Err(invalid("waypoints", "a route needs at least two waypoints"));
        }
        let frame = district.frame();
        for (i, w) in self.waypoints.iter().enumerate() {
            let g = GeoPoint {
                lat: w.lat,
                lon: w.lon,
            };
            if !g.is_valid() {
                return Err(invalid(
                    format!("waypoints[{i}]"),
                    format!("{}, {} is not a valid latitude/longitude", w.lat, w.lon),
                ));
            }
            let (e, n) = frame.geo_to_ground(g);
            if !district.contains([e, n]) {
                return Err(invalid(
                    format!("waypoints[{i}]"),
                    format!("{}, {} is outside the district", w.lat, w.lon),
                ));
            }
            if let Some(a) = w.alt_m {
                check_altitude(format!("waypoints[{i}].alt_m"), a)?;
            }
            if let Some(p) = w.gimbal_pitch_deg {
                check_pitch(format!("waypoints[{i}].gimbal_pitch_deg"), p)?;
            }
        }
        Ok(())
    }

    /// The default patrol: a serpentine over the whole district along its street grid, lines
    /// spaced to cover it with a nadir camera at the default height.
    pub fn serpentine(district: &District, spacing_m: f64) -> Self {
        let half = district.size_m / 2.0 - 60.0;
        let rot = district.rotation_deg.to_radians();
        let frame = district.frame();
        let n = ((2.0 * half / spacing_m).floor() as usize).max(1) + 1;
        let step = 2.0 * half / (n - 1) as f64;
        let mut waypoints = Vec::with_capacity(2 * n);
        for k in 0..n {
            let x = -half + k as f64 * step;
            let (a, b) = if k % 2 == 0 {
                (-half, half)
            } else {
                (half, -half)
            };
            for y in [a, b] {
                let p = geom::rotate([x, y], rot);
                let g = frame.ground_to_geo(p[0], p[1]);
                waypoints.push(Waypoint {
                    lat: g.lat,
                    lon: g.lon,
                    alt_m: None,
                    gimbal_pitch_deg: None,
                });
            }
        }
        Self {
            altitude_m: DEFAULT_ALTITUDE_M,
            speed_mps: DEFAULT_SPEED_MPS,
            gimbal_pitch_deg: DEFAULT_PITCH_DEG,
            gimbal_yaw_offset_deg: 0.0,
            waypoints,
        }
    }
}

/// Where the aircraft is at a time, flying the route at constant speed.
#[derive(Debug, Clone)]
pub struct Trajectory {
    points: Vec<(P2, f64, f64)>,
    /// Cumulative distance at each waypoint.
    dist: Vec<f64>,
    speed: f64,
    yaw_offset: f64,
}

/// The true state of the camera at one instant, local frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct State {
    /// Position on the ground plane, local metres.
    pub ground: P2,
    /// Height above ground, metres.
    pub alt_m: f64,
    /// Camera yaw, degrees clockwise from north.
    pub yaw_deg: f64,
    /// Camera pitch, degrees.
    pub pitch_deg: f64,
}

impl Trajectory {
    /// The trajectory of a (validated) route.
    pub fn new(route: &Route, district: &District) -> Self {
        let frame = district.frame();
        let (mut alt, mut pitch) = (route.altitude_m, route.gimbal_pitch_deg);
        let points: Vec<(P2, f64, f64)> = route
            .waypoints
            .iter()
            .map(|w| {
                alt = w.alt_m.unwrap_or(alt);
                pitch = w.gimbal_pitch_deg.unwrap_or(pitch);
                let (e, n) = frame.geo_to_ground(GeoPoint {
                    lat: w.lat,
                    lon: w.lon,
                });
                ([e, n], alt, pitch)
            })
            .collect();
        let mut dist = vec![0.0];
        for w in points.windows(2) {
            let d = (w[1].0[0] - w[0].0[0]).hypot(w[1].0[1] - w[0].0[1]);
            dist.push(dist.last().unwrap() + d);
        }
        Self {
            points,
            dist,
            speed: route.speed_mps,
            yaw_offset: route.gimbal_yaw_offset_deg,
        }
    }

    /// Seconds to fly the whole route.
    pub fn duration_s(&self) -> f64 {
        self.dist.last().copied().unwrap_or(0.0) / self.speed
    }

    /// The state at `t` seconds (clamped to the route).
    pub fn at(&self, t: f64) -> State {
        let s = (t * self.speed).clamp(0.0, *self.dist.last().unwrap());
        let k = self
            .dist
            .partition_point(|&d| d <= s)
            .clamp(1, self.points.len() - 1);
        let (a, b) = (&self.points[k - 1], &self.points[k]);
        let seg = (self.dist[k] - self.dist[k - 1]).max(1e-9);
        let f = ((s - self.dist[k - 1]) / seg).clamp(0.0, 1.0);
        let ground = [
            a.0[0] + (b.0[0] - a.0[0]) * f,
            a.0[1] + (b.0[1] - a.0[1]) * f,
        ];
        let heading = (b.0[0] - a.0[0]).atan2(b.0[1] - a.0[1]).to_degrees();
        State {
            ground,
            alt_m: a.1 + (b.1 - a.1) * f,
            yaw_deg: wrap_deg(heading + self.yaw_offset),
            pitch_deg: a.2 + (b.2 - a.2) * f,
        }
    }
}

/// Wraps an angle into (−180, 180].
pub fn wrap_deg(a: f64) -> f64 {
    let w = a.rem_euclid(360.0);
    if w > 180.0 { w - 360.0 } else { w }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::district::generate::{DistrictOptions, generate};

    fn district() -> District {
        generate(&DistrictOptions::default()).unwrap()
    }

    #[test]
    fn the_default_route_stays_inside_and_flies_at_speed() {
        let d = district();
        let r = Route::serpentine(&d, 120.0);
        r.validate(&d).unwrap();
        let t = Trajectory::new(&r, &d);
        let (a, b) = (t.at(10.0), t.at(11.0));
        let v = (b.ground[0] - a.ground[0]).hypot(b.ground[1] - a.ground[1]);
        assert!((v - DEFAULT_SPEED_MPS).abs() < 1e-6, "{v}");
        assert!(t.duration_s() > 300.0);
    }

    #[test]
    fn invalid_routes_name_the_field() {
        let d = district();
        let mut r = Route::serpentine(&d, 120.0);
        r.waypoints[3].lat += 0.05;
        assert!(
            r.validate(&d)
                .unwrap_err()
                .to_string()
                .starts_with("waypoints[3]: ")
        );
        let mut r = Route::serpentine(&d, 120.0);
        r.waypoints[1].alt_m = Some(-5.0);
        assert!(
            r.validate(&d)
                .unwrap_err()
                .to_string()
                .starts_with("waypoints[1].alt_m: ")
        );
        let err =
            serde_json::from_str::<Route>(r#"{"waypoints": [], "altitude": 50}"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `altitude`"),
            "{err}"
        );
    }

    #[test]
    fn angles_wrap_into_half_open_range() {
        assert_eq!(wrap_deg(190.0), -170.0);
        assert_eq!(wrap_deg(-180.0), 180.0);
        assert_eq!(wrap_deg(45.0), 45.0);
    }
}
