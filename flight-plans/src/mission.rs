//! The mission: what every file format reads and writes — a take-off point, waypoints with
//! heights above it, speeds, and the gimbal and hover actions at each — plus what the plan
//! was drawn over (an area, a corridor), which the DJI template and the QGroundControl geofence
//! carry.

use argus_core::geodesy::{GeoPoint, haversine_m};

/// Vertical speed assumed for take-off, climbs and descents, m/s (docked DJI aircraft climb at
/// 5–6 m/s; 4 keeps the flight-time estimate on the safe side).
pub const VERTICAL_SPEED_MPS: f64 = 4.0;

/// Where the aircraft takes off (and returns to): the dock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Home {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Height of the take-off point above the ellipsoid (WGS84) or sea level, metres: written
    /// where a format needs an absolute height (DJI `takeOffRefPoint`, QGC home, WPL row 0).
    pub elevation_m: f64,
}

impl Home {
    /// As a point.
    pub fn point(&self) -> GeoPoint {
        GeoPoint {
            lat: self.lat,
            lon: self.lon,
        }
    }
}

/// Something the aircraft does on reaching a waypoint, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Turn the gimbal to this pitch, degrees (−90 nadir … 0 horizon); it stays there.
    Gimbal {
        /// Pitch, degrees.
        pitch_deg: f64,
    },
    /// Hold position, seconds.
    Hover {
        /// How long, seconds.
        seconds: f64,
    },
    /// An action read from a file that Argus does not model (DJI `takePhoto`, `focus`, …): kept
    /// by name so that a writer that cannot express it refuses it instead of dropping it.
    Other {
        /// The format's name for it (DJI `actionActuatorFunc`, or `MAV_CMD n`).
        name: String,
    },
}

impl Action {
    /// The action's name as errors show it.
    pub fn name(&self) -> &str {
        match self {
            Self::Gimbal { .. } => "gimbal pitch",
            Self::Hover { .. } => "hover",
            Self::Other { name } => name,
        }
    }
}

/// A waypoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Waypoint {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Height above the take-off point, metres.
    pub height_m: f64,
    /// The speed flown from this waypoint on, m/s (`None`: unchanged).
    pub speed_mps: Option<f64>,
    /// What is done here, in order.
    pub actions: Vec<Action>,
}

impl Waypoint {
    /// A waypoint with no speed change and no action.
    pub fn at(lat: f64, lon: f64, height_m: f64) -> Self {
        Self {
            lat,
            lon,
            height_m,
            speed_mps: None,
            actions: Vec::new(),
        }
    }

    /// As a point.
    pub fn point(&self) -> GeoPoint {
        GeoPoint {
            lat: self.lat,
            lon: self.lon,
        }
    }
}

/// What the plan was drawn over.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// Waypoints only (points to inspect, or a route from elsewhere).
    Waypoints,
    /// An area swept by parallel lines.
    Area {
        /// The polygon, `[lat, lon]`, not closed.
        polygon: Vec<[f64; 2]>,
        /// Side overlap, 0–1.
        side_overlap: f64,
        /// Bearing of the lines, degrees clockwise from north.
        bearing_deg: f64,
    },
    /// A corridor along a line.
    Corridor {
        /// The centre line, `[lat, lon]`.
        line: Vec<[f64; 2]>,
        /// Its width, metres.
        width_m: f64,
        /// Side overlap, 0–1.
        side_overlap: f64,
    },
}

/// A mission: one sortie from the dock and back.
#[derive(Debug, Clone, PartialEq)]
pub struct Mission {
    /// Take-off and return point.
    pub home: Home,
    /// Speed until a waypoint changes it, m/s.
    pub speed_mps: f64,
    /// Return-to-home height above the take-off point, metres.
    pub rth_altitude_m: f64,
    /// What it was drawn over.
    pub template: Template,
    /// The waypoints, flown in order.
    pub waypoints: Vec<Waypoint>,
}

/// What a mission costs: its length, duration and farthest point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// Horizontal length from take-off through every waypoint and back, metres.
    pub length_m: f64,
    /// Flight time: horizontal legs at their speeds, climbs and descents at
    /// [`VERTICAL_SPEED_MPS`], hovers; seconds.
    pub duration_s: f64,
    /// Farthest waypoint from the take-off point, metres.
    pub range_m: f64,
    /// Highest waypoint above the take-off point, metres.
    pub max_height_m: f64,
}

impl Mission {
    /// Length, duration and reach, counting the climb from the dock, the legs between
    /// waypoints and the return to the dock at the last waypoint's height.
    pub fn cost(&self) -> Cost {
        let home = self.home.point();
        let mut speed = self.speed_mps;
        let mut at = home;
        let mut height = 0.0_f64;
        let (mut length, mut duration, mut range, mut max_h) = (0.0, 0.0, 0.0_f64, 0.0_f64);
        for w in &self.waypoints {
            let d = haversine_m(at, w.point());
            length += d;
            duration += d / speed.max(0.1) + (w.height_m - height).abs() / VERTICAL_SPEED_MPS;
            for a in &w.actions {
                if let Action::Hover { seconds } = a {
                    duration += seconds;
                }
            }
            if let Some(s) = w.speed_mps {
                speed = s;
            }
            range = range.max(haversine_m(home, w.point()));
            max_h = max_h.max(w.height_m);
            at = w.point();
            height = w.height_m;
        }
        let back = haversine_m(at, home);
        length += back;
        duration += back / speed.max(0.1) + height / VERTICAL_SPEED_MPS;
        Cost {
            length_m: length,
            duration_s: duration,
            range_m: range,
            max_height_m: max_h,
        }
    }
}
