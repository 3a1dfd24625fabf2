//! Patrol routes: the simulator's route JSON (the `argus-flightplan` crate's
//! [`Route`]), read from any flight-plan format and validated against the district, the default
//! patrol over the whole district (planned by the flight-plan crate's coverage code), and the
//! trajectory along a route: legs at their speeds, hovers held.

use std::path::Path;

use argus_core::geodesy::GeoPoint;
use argus_flightplan::coverage::{SweepOptions, sweep};
pub use argus_flightplan::formats::route::{
    DEFAULT_ALTITUDE_M, DEFAULT_PITCH_DEG, DEFAULT_SPEED_MPS, Route, RouteHome,
    RouteWaypoint as Waypoint,
};

use crate::district::District;
use crate::geom::{self, P2};

/// A route that cannot be flown, naming the file or the field at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The file cannot be read as a mission (any flight-plan format: `.json`, `.kmz`, `.plan`,
    /// `.waypoints`), or holds an action a route cannot fly.
    #[error(transparent)]
    File(#[from] argus_flightplan::formats::FileError),
    /// A mission a route cannot express.
    #[error("{path}: {error}")]
    Convert {
        /// The file.
        path: String,
        /// What (shown in the message, so not chained again).
        error: argus_flightplan::formats::FormatError,
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

fn check_speed(field: String, v: f64) -> Result<(), RouteError> {
    if !(v.is_finite() && v > 0.0 && v <= 30.0) {
        return Err(invalid(field, format!("{v} m/s is outside (0, 30]")));
    }
    Ok(())
}

/// Reads a route from any flight-plan file (by extension) and validates it over the district.
pub fn load(path: &Path, district: &District) -> Result<Route, RouteError> {
    let mission = argus_flightplan::formats::read_file(path)?;
    let route = Route::from_mission(&mission).map_err(|error| RouteError::Convert {
        path: path.display().to_string(),
        error,
    })?;
    // A value out of range names the file as well as the field.
    validate(&route, district).map_err(|e| match e {
        RouteError::Invalid { field, message } => RouteError::Invalid {
            field: format!("{}: {field}", path.display()),
            message,
        },
        other => other,
    })?;
    Ok(route)
}

/// Checks every value of a route over the district, naming the first field at fault.
pub fn validate(route: &Route, district: &District) -> Result<(), RouteError> {
    check_altitude("altitude_m".into(), route.altitude_m)?;
    check_pitch("gimbal_pitch_deg".into(), route.gimbal_pitch_deg)?;
    check_speed("speed_mps".into(), route.speed_mps)?;
    if route.waypoints.len() < 2 {
        return Err(invalid("waypoints", "a route needs at least two waypoints"));
    }
    let frame = district.frame();
    for (i, w) in route.waypoints.iter().enumerate() {
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
        if let Some(v) = w.speed_mps {
            check_speed(format!("waypoints[{i}].speed_mps"), v)?;
        }
        if let Some(h) = w.hover_s
            && !(h.is_finite() && (0.0..=3600.0).contains(&h))
        {
            return Err(invalid(
                format!("waypoints[{i}].hover_s"),
                format!("{h} s is outside [0, 3600]"),
            ));
        }
    }
    Ok(())
}

/// Side overlap of the default patrol's lines: 19 %, the overlap of the eight lines the patrol
/// has always flown over the default 1 km district (recorded figures stay comparable).
pub const DEFAULT_SIDE_OVERLAP: f64 = 0.19;

/// The default patrol: the whole district (less 60 m at its edges) swept along its street grid
/// at the default height by the simulator's camera (`hfov_deg` wide), the lines spread evenly
/// from edge to edge no farther apart than the swath less [`DEFAULT_SIDE_OVERLAP`]. Planned by
/// the flight-plan crate's coverage code.
pub fn serpentine(district: &District, hfov_deg: f64) -> Route {
    let half = district.size_m / 2.0 - 60.0;
    let rot = district.rotation_deg.to_radians();
    let corners: Vec<(f64, f64)> = [[-half, -half], [half, -half], [half, half], [-half, half]]
        .iter()
        .map(|&c| {
            let p = geom::rotate(c, rot);
            (p[0], p[1])
        })
        .collect();
    let square = geo::Polygon::new(geo::LineString::from(corners), vec![]);
    let swath = 2.0 * DEFAULT_ALTITUDE_M * (hfov_deg.to_radians() / 2.0).tan();
    let lines = sweep(
        &square,
        &SweepOptions {
            swath_m: swath,
            spacing_m: swath * (1.0 - DEFAULT_SIDE_OVERLAP),
            // Along the street grid: the district's north axis turned by its rotation.
            bearing_deg: Some(-district.rotation_deg),
            turnaround_m: 0.0,
            evenly: true,
            entry: None,
            frontal_m: None,
            end_inset_m: 0.0,
        },
    )
    .map(|s| s.transects)
    .unwrap_or_default();
    let frame = district.frame();
    let waypoints = lines
        .iter()
        .flat_map(|t| [t.from, t.to])
        .map(|c| {
            let g = frame.ground_to_geo(c.x, c.y);
            Waypoint {
                lat: g.lat,
                lon: g.lon,
                alt_m: None,
                gimbal_pitch_deg: None,
                speed_mps: None,
                hover_s: None,
            }
        })
        .collect();
    Route {
        altitude_m: DEFAULT_ALTITUDE_M,
        speed_mps: DEFAULT_SPEED_MPS,
        gimbal_pitch_deg: DEFAULT_PITCH_DEG,
        gimbal_yaw_offset_deg: 0.0,
        home: None,
        waypoints,
    }
}

/// One stretch of a trajectory: from one state to another over a span of time (a hover is a
/// stretch that goes nowhere).
#[derive(Debug, Clone, Copy)]
struct Stretch {
    t0: f64,
    t1: f64,
    from: (P2, f64, f64),
    to: (P2, f64, f64),
    heading_deg: f64,
}

/// Where the aircraft is at a time, flying the route: each leg at the speed in force from its
/// first waypoint, straight lines in 3D, holding position where a waypoint says hover.
#[derive(Debug, Clone)]
pub struct Trajectory {
    stretches: Vec<Stretch>,
    arrivals: Vec<f64>,
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
        let (mut alt, mut pitch, mut speed) =
            (route.altitude_m, route.gimbal_pitch_deg, route.speed_mps);
        // Each waypoint: where, the speed from it on, its hover.
        let points: Vec<((P2, f64, f64), f64, f64)> = route
            .waypoints
            .iter()
            .map(|w| {
                alt = w.alt_m.unwrap_or(alt);
                pitch = w.gimbal_pitch_deg.unwrap_or(pitch);
                speed = w.speed_mps.unwrap_or(speed);
                let (e, n) = frame.geo_to_ground(GeoPoint {
                    lat: w.lat,
                    lon: w.lon,
                });
                (([e, n], alt, pitch), speed, w.hover_s.unwrap_or(0.0))
            })
            .collect();
        let mut stretches = Vec::with_capacity(points.len() * 2);
        let mut arrivals = Vec::with_capacity(points.len());
        let mut t = 0.0;
        let mut heading = match points.as_slice() {
            [a, b, ..] => (b.0.0[0] - a.0.0[0])
                .atan2(b.0.0[1] - a.0.0[1])
                .to_degrees(),
            _ => 0.0,
        };
        for (i, &(at, v, hover)) in points.iter().enumerate() {
            arrivals.push(t);
            if hover > 0.0 {
                stretches.push(Stretch {
                    t0: t,
                    t1: t + hover,
                    from: at,
                    to: at,
                    heading_deg: heading,
                });
                t += hover;
            }
            let Some(&(next, _, _)) = points.get(i + 1) else {
                break;
            };
            let (dx, dy) = (next.0[0] - at.0[0], next.0[1] - at.0[1]);
            let horizontal = dx.hypot(dy);
            if horizontal > 1e-9 {
                heading = dx.atan2(dy).to_degrees();
            }
            let length = horizontal.hypot(next.1 - at.1);
            stretches.push(Stretch {
                t0: t,
                t1: t + length / v,
                from: at,
                to: next,
                heading_deg: heading,
            });
            t += length / v;
        }
        Self {
            stretches,
            arrivals,
            yaw_offset: route.gimbal_yaw_offset_deg,
        }
    }

    /// When each waypoint of the route is reached, seconds from the start (before its hover).
    pub fn arrivals_s(&self) -> &[f64] {
        &self.arrivals
    }

    /// Seconds to fly the whole route.
    pub fn duration_s(&self) -> f64 {
        self.stretches.last().map_or(0.0, |s| s.t1)
    }

    /// The state at `t` seconds (clamped to the route).
    pub fn at(&self, t: f64) -> State {
        let t = t.clamp(0.0, self.duration_s());
        let k = self
            .stretches
            .partition_point(|s| s.t1 < t)
            .min(self.stretches.len().saturating_sub(1));
        let Some(s) = self.stretches.get(k) else {
            return State {
                ground: [0.0, 0.0],
                alt_m: 0.0,
                yaw_deg: 0.0,
                pitch_deg: 0.0,
            };
        };
        let f = ((t - s.t0) / (s.t1 - s.t0).max(1e-9)).clamp(0.0, 1.0);
        let (a, b) = (s.from, s.to);
        State {
            ground: [
                a.0[0] + (b.0[0] - a.0[0]) * f,
                a.0[1] + (b.0[1] - a.0[1]) * f,
            ],
            alt_m: a.1 + (b.1 - a.1) * f,
            yaw_deg: wrap_deg(s.heading_deg + self.yaw_offset),
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
        let r = serpentine(&d, crate::flight::DEFAULT_HFOV_DEG);
        validate(&r, &d).unwrap();
        let t = Trajectory::new(&r, &d);
        let (a, b) = (t.at(10.0), t.at(11.0));
        let v = (b.ground[0] - a.ground[0]).hypot(b.ground[1] - a.ground[1]);
        assert!((v - DEFAULT_SPEED_MPS).abs() < 1e-6, "{v}");
        assert!(t.duration_s() > 300.0);
    }

    #[test]
    fn invalid_routes_name_the_field() {
        let d = district();
        let mut r = serpentine(&d, crate::flight::DEFAULT_HFOV_DEG);
        r.waypoints[3].lat += 0.05;
        assert!(
            validate(&r, &d)
                .unwrap_err()
                .to_string()
                .starts_with("waypoints[3]: ")
        );
        let mut r = serpentine(&d, crate::flight::DEFAULT_HFOV_DEG);
        r.waypoints[1].alt_m = Some(-5.0);
        assert!(
            validate(&r, &d)
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

    /// The default patrol before the flight-plan crate planned it: eight lines spread evenly
    /// over the district (less 60 m), 120 m apart at most by the floor of the old arithmetic.
    fn old_serpentine(d: &District) -> Vec<(f64, f64)> {
        let half = d.size_m / 2.0 - 60.0;
        let rot = d.rotation_deg.to_radians();
        let frame = d.frame();
        let n = ((2.0 * half / 120.0).floor() as usize).max(1) + 1;
        let step = 2.0 * half / (n - 1) as f64;
        let mut out = Vec::new();
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
                out.push((g.lat, g.lon));
            }
        }
        out
    }

    #[test]
    fn the_planner_flies_the_same_default_patrol_as_before() {
        for seed in [1, 2, 3] {
            let d = generate(&DistrictOptions {
                seed,
                ..DistrictOptions::default()
            })
            .unwrap();
            let new = serpentine(&d, crate::flight::DEFAULT_HFOV_DEG);
            let old = old_serpentine(&d);
            assert_eq!(new.waypoints.len(), old.len(), "seed {seed}");
            for (i, (w, o)) in new.waypoints.iter().zip(&old).enumerate() {
                assert!(
                    (w.lat - o.0).abs() < 1e-9 && (w.lon - o.1).abs() < 1e-9,
                    "seed {seed} waypoint {i}: {w:?} vs {o:?}"
                );
            }
        }
    }

    #[test]
    fn legs_keep_their_speeds_and_hovers_hold_position() {
        let d = district();
        let mut r = serpentine(&d, crate::flight::DEFAULT_HFOV_DEG);
        r.waypoints.truncate(3);
        r.waypoints[1].speed_mps = Some(6.0);
        r.waypoints[1].hover_s = Some(10.0);
        let t = Trajectory::new(&r, &d);
        let leg = |a: usize, b: usize| {
            let f = d.frame();
            let p = |w: &Waypoint| {
                f.geo_to_ground(GeoPoint {
                    lat: w.lat,
                    lon: w.lon,
                })
            };
            let (pa, pb) = (p(&r.waypoints[a]), p(&r.waypoints[b]));
            (pb.0 - pa.0).hypot(pb.1 - pa.1)
        };
        let first = leg(0, 1) / DEFAULT_SPEED_MPS;
        assert!((t.duration_s() - (first + 10.0 + leg(1, 2) / 6.0)).abs() < 1e-6);
        // Each waypoint is reached before its hover.
        let arrivals = t.arrivals_s();
        assert_eq!(arrivals.len(), 3);
        assert!(arrivals[0] == 0.0 && (arrivals[1] - first).abs() < 1e-9);
        assert!((arrivals[2] - t.duration_s()).abs() < 1e-9);
        // Hovering: the same place for ten seconds.
        let (a, b) = (t.at(first + 1.0), t.at(first + 9.0));
        assert!(
            (a.ground[0] - b.ground[0]).abs() < 1e-9 && (a.ground[1] - b.ground[1]).abs() < 1e-9
        );
        // Then at 6 m/s.
        let (a, b) = (t.at(first + 11.0), t.at(first + 12.0));
        let v = (b.ground[0] - a.ground[0]).hypot(b.ground[1] - a.ground[1]);
        assert!((v - 6.0).abs() < 1e-6, "{v}");
    }

    #[test]
    fn angles_wrap_into_half_open_range() {
        assert_eq!(wrap_deg(190.0), -170.0);
        assert_eq!(wrap_deg(-180.0), 180.0);
        assert_eq!(wrap_deg(45.0), 45.0);
    }
}
