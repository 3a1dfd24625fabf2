//! Plans: `argus.plan/1` TOML files, checked whole, and the missions they make.
//!
//! ```toml
//! schema = "argus.plan/1"
//! id = "unit-u03-area"
//! dock = "dock-1"
//! kind = "area"                  # area | corridor | points
//! [geometry]                     # polygon / line (+ width_m) / points as [[lat, lon], …],
//! polygon = [[30.7009, 121.0148], …]   # or geojson = "FILE" + feature = "ID"
//! [camera]
//! preset = "sim-1080p"
//! [flight]
//! altitude_m = 100
//! ```
//!
//! Every mission starts and ends at its dock: take-off, transit, the work, return. A plan
//! that breaks one of its dock's limits (range, flight time, altitude) is refused with the
//! numbers, or with `split = true` flown as several sorties that each keep them.

use std::path::{Path, PathBuf};

use argus_core::geodesy::{GeoPoint, LocalFrame, haversine_m};
use geo::{Coord, LineString, Polygon, Validation};
use serde::Deserialize;

use crate::camera::{Camera, CameraSpec};
use crate::coverage::{self, SweepOptions, Transect};
use crate::dock::{Dock, Docks, is_id};
use crate::mission::{Action, Home, Mission, Template, Waypoint};
use crate::schedule::ScheduleSpec;

/// The schema tag of this version.
pub const PLAN_SCHEMA: &str = "argus.plan/1";

/// Most points a plan's shape may have (a jurisdiction's outline has hundreds; checking a
/// polygon's simplicity grows with the square of its points).
pub const MAX_POINTS: usize = 10_000;

/// A gimbal pitch within this of −90° looks straight down: lines may end half a footprint
/// inside the area's edge.
const NADIR_TOLERANCE_DEG: f64 = 1.0;

/// What a plan flies over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An area, swept by parallel lines.
    Area,
    /// A corridor along a line (a street).
    Corridor,
    /// Points, each inspected from close by.
    Points,
}

/// `[[lat, lon], …]`, each point exactly two numbers: a third (a height, or a stray value) is
/// refused, not dropped.
fn lat_lon_pairs<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<[f64; 2]>>, D::Error> {
    let raw = Vec::<Vec<f64>>::deserialize(d)?;
    raw.into_iter()
        .enumerate()
        .map(|(k, p)| match p.as_slice() {
            &[lat, lon] => Ok([lat, lon]),
            other => Err(serde::de::Error::custom(format!(
                "point {k} has {} numbers; a point is [lat, lon]",
                other.len()
            ))),
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// `[geometry]`: the shape inline (`[lat, lon]` pairs), or a GeoJSON feature.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeometrySpec {
    /// An area's outline, `[[lat, lon], …]` (not closed, or closed).
    #[serde(default, deserialize_with = "lat_lon_pairs")]
    pub polygon: Option<Vec<[f64; 2]>>,
    /// A corridor's centre line.
    #[serde(default, deserialize_with = "lat_lon_pairs")]
    pub line: Option<Vec<[f64; 2]>>,
    /// The points to inspect.
    #[serde(default, deserialize_with = "lat_lon_pairs")]
    pub points: Option<Vec<[f64; 2]>>,
    /// A GeoJSON file (relative to the plan) holding the shape…
    #[serde(default)]
    pub geojson: Option<PathBuf>,
    /// …and the feature's id (its `id`, or its `properties.id`).
    #[serde(default)]
    pub feature: Option<String>,
    /// A corridor's width, metres.
    #[serde(default)]
    pub width_m: Option<f64>,
}

fn default_altitude() -> f64 {
    crate::formats::route::DEFAULT_ALTITUDE_M
}
fn default_speed() -> f64 {
    crate::formats::route::DEFAULT_SPEED_MPS
}
fn default_pitch() -> f64 {
    crate::formats::route::DEFAULT_PITCH_DEG
}
fn default_overlap() -> f64 {
    0.2
}
fn default_turnaround() -> f64 {
    20.0
}
fn default_inspect_height() -> f64 {
    40.0
}
fn default_hover() -> f64 {
    10.0
}
fn default_inspect_pitch() -> f64 {
    -60.0
}

/// The sweep bearing: `"auto"` or degrees clockwise from north.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Angle {
    /// The bearing that needs the fewest lines.
    #[default]
    Auto,
    /// This bearing, degrees.
    Deg(f64),
}

impl<'de> Deserialize<'de> for Angle {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(v) if v.is_finite() && v.abs() <= 360.0 => Ok(Self::Deg(v)),
            Raw::Text(t) if t == "auto" => Ok(Self::Auto),
            Raw::Num(v) => Err(serde::de::Error::custom(format!(
                "angle_deg {v} is not a bearing (-360..360 degrees)"
            ))),
            Raw::Text(t) => Err(serde::de::Error::custom(format!(
                "angle_deg {t:?}: \"auto\" or degrees"
            ))),
        }
    }
}

/// `[flight]`: how to fly. Everything has a default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlightSpec {
    /// Height above the take-off point, metres.
    #[serde(default = "default_altitude")]
    pub altitude_m: f64,
    /// Ground speed, m/s.
    #[serde(default = "default_speed")]
    pub speed_mps: f64,
    /// Gimbal pitch while sweeping, degrees (−90 nadir).
    #[serde(default = "default_pitch")]
    pub gimbal_pitch_deg: f64,
    /// Side overlap of adjacent lines, 0 to 0.9.
    #[serde(default = "default_overlap")]
    pub side_overlap: f64,
    /// Sweep bearing: `"auto"` or degrees.
    #[serde(default)]
    pub angle_deg: Angle,
    /// Run-on past the area's edge to turn, metres.
    #[serde(default = "default_turnaround")]
    pub turnaround_m: f64,
    /// Spread the lines evenly from edge to edge instead of exactly the spacing apart.
    #[serde(default)]
    pub evenly: bool,
    /// Points: the height to descend to at each, metres above the take-off point.
    #[serde(default = "default_inspect_height")]
    pub inspect_height_m: f64,
    /// Points: how long to hover at each, seconds.
    #[serde(default = "default_hover")]
    pub hover_s: f64,
    /// Points: the gimbal pitch while hovering, degrees.
    #[serde(default = "default_inspect_pitch")]
    pub inspect_pitch_deg: f64,
}

impl Default for FlightSpec {
    fn default() -> Self {
        toml::from_str("").unwrap_or_else(|_| unreachable!("every field has a default"))
    }
}

/// A plan file as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// Always [`PLAN_SCHEMA`].
    pub schema: String,
    /// Letters, digits, `-`.
    pub id: String,
    /// A dock of the docks file.
    pub dock: String,
    /// Area, corridor or points.
    pub kind: Kind,
    /// The shape.
    pub geometry: GeometrySpec,
    /// The camera.
    #[serde(default)]
    pub camera: CameraSpec,
    /// How to fly.
    #[serde(default)]
    pub flight: FlightSpec,
    /// When to fly (the scheduler's business; checked here).
    #[serde(default)]
    pub schedule: Option<ScheduleSpec>,
    /// Fly a plan over its dock's flight time as several sorties.
    #[serde(default)]
    pub split: bool,
}

/// A plan that cannot be flown: the file, and what is wrong where.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PlanError {
    /// The plan file.
    pub path: PathBuf,
    /// What is wrong, naming the key and the value.
    pub message: String,
}

/// A checked plan, its shape in the dock's local frame.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The file.
    pub path: PathBuf,
    /// As written.
    pub file: PlanFile,
    /// Its dock.
    pub dock: Dock,
    /// The camera.
    pub camera: Camera,
    /// The shape, `[lat, lon]`.
    pub shape: Vec<[f64; 2]>,
    /// When to fly, if scheduled.
    pub schedule: Option<crate::schedule::Schedule>,
}

/// A GeoJSON feature's id: its `id`, else its `properties.id` (a number as its text).
pub fn feature_id(f: &serde_json::Value) -> Option<String> {
    f.get("id")
        .or_else(|| f["properties"].get("id"))
        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
}

/// The shape read from a GeoJSON feature, `[lat, lon]`.
fn feature_shape(file: &Path, feature: &str, kind: Kind) -> Result<Vec<[f64; 2]>, String> {
    let io = |e: std::io::Error| format!("geometry.geojson {}: {e}", file.display());
    let bytes = std::fs::metadata(file).map_err(io)?.len();
    if bytes > crate::formats::MAX_FILE {
        return Err(format!(
            "geometry.geojson {}: {bytes} bytes is over the {}-byte limit",
            file.display(),
            crate::formats::MAX_FILE
        ));
    }
    let text = std::fs::read_to_string(file).map_err(io)?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("geometry.geojson {}: {e}", file.display()))?;
    let features = v["features"]
        .as_array()
        .ok_or_else(|| format!("geometry.geojson {}: no `features` array", file.display()))?;
    let id_of = feature_id;
    let Some(f) = features
        .iter()
        .find(|f| id_of(f).as_deref() == Some(feature))
    else {
        // Control characters in a hostile file's ids are shown escaped.
        let mut ids: Vec<String> = features
            .iter()
            .filter_map(id_of)
            .map(|i| i.escape_debug().to_string())
            .collect();
        let n = ids.len();
        ids.truncate(20);
        return Err(format!(
            "geometry.feature {feature:?} is not in {} (its {n} features include {}{})",
            file.display(),
            ids.join(", "),
            if n > 20 { ", …" } else { "" }
        ));
    };
    let g = &f["geometry"];
    let coords = match (g["type"].as_str(), kind) {
        (Some("Polygon"), Kind::Area) => &g["coordinates"][0],
        (Some("LineString"), Kind::Corridor) | (Some("MultiPoint"), Kind::Points) => {
            &g["coordinates"]
        }
        (t, _) => {
            return Err(format!(
                "geometry.feature {feature:?} is a {}, not what a {kind:?} plan needs",
                t.unwrap_or("geometry of no type")
            ));
        }
    };
    coords
        .as_array()
        .ok_or_else(|| format!("geometry.feature {feature:?}: no coordinates"))?
        .iter()
        .enumerate()
        .map(|(i, c)| match (c[0].as_f64(), c[1].as_f64()) {
            (Some(lon), Some(lat)) => Ok([lat, lon]),
            _ => Err(format!(
                "geometry.feature {feature:?}: coordinate {i} is not a number pair"
            )),
        })
        .collect()
}

/// Checks `[lat, lon]` pairs, naming the key and index at fault.
fn check_points(key: &str, pts: &[[f64; 2]]) -> Result<(), String> {
    for (i, &[lat, lon]) in pts.iter().enumerate() {
        if !(lat.is_finite() && lon.is_finite()) || lat.abs() > 90.0 || lon.abs() > 180.0 {
            let hint = if lat.abs() > 90.0 && lon.abs() <= 90.0 {
                " (swapped? pairs are [lat, lon])"
            } else {
                ""
            };
            return Err(format!(
                "geometry.{key}[{i}] = [{lat}, {lon}] is not a latitude, longitude{hint}"
            ));
        }
    }
    Ok(())
}

fn in_range(key: &str, v: f64, lo: f64, hi: f64, open_lo: bool) -> Result<(), String> {
    let above = if open_lo { v > lo } else { v >= lo };
    if v.is_finite() && above && v <= hi {
        Ok(())
    } else {
        let l = if open_lo { "(" } else { "[" };
        Err(format!("{key} = {v} is outside {l}{lo}, {hi}]"))
    }
}

impl Plan {
    /// Reads and checks a plan against its docks file.
    pub fn load(path: &Path, docks: &Docks) -> Result<Self, PlanError> {
        let fail = |message: String| PlanError {
            path: path.into(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        Self::parse(&text, path, docks).map_err(fail)
    }

    /// Parses and checks a plan's text (`path` locates its GeoJSON).
    pub fn parse(text: &str, path: &Path, docks: &Docks) -> Result<Self, String> {
        let file: PlanFile = toml::from_str(text).map_err(|e| e.to_string())?;
        Self::check(file, path, docks)
    }

    /// Checks a plan built in code (`path` names it and locates its GeoJSON).
    pub fn check(file: PlanFile, path: &Path, docks: &Docks) -> Result<Self, String> {
        if file.schema != PLAN_SCHEMA {
            return Err(format!("schema {:?} is not {PLAN_SCHEMA:?}", file.schema));
        }
        if !is_id(&file.id) {
            return Err(format!("id {:?}: 1-64 letters, digits or '-'", file.id));
        }
        let dock = docks
            .get(&file.dock)
            .ok_or_else(|| {
                format!(
                    "dock {:?} is not in {} (its docks: {})",
                    file.dock,
                    docks.path.display(),
                    docks.ids()
                )
            })?
            .clone();
        let camera = file.camera.camera().map_err(|e| e.to_string())?;
        let f = &file.flight;
        in_range(
            "flight.altitude_m",
            f.altitude_m,
            2.0,
            dock.max_altitude_m,
            true,
        )?;
        in_range("flight.speed_mps", f.speed_mps, 0.0, 25.0, true)?;
        in_range(
            "flight.gimbal_pitch_deg",
            f.gimbal_pitch_deg,
            -90.0,
            0.0,
            false,
        )?;
        in_range("flight.side_overlap", f.side_overlap, 0.0, 0.9, false)?;
        in_range("flight.turnaround_m", f.turnaround_m, 0.0, 500.0, false)?;
        in_range(
            "flight.inspect_height_m",
            f.inspect_height_m,
            2.0,
            dock.max_altitude_m,
            true,
        )?;
        in_range("flight.hover_s", f.hover_s, 0.0, 600.0, false)?;
        in_range(
            "flight.inspect_pitch_deg",
            f.inspect_pitch_deg,
            -90.0,
            0.0,
            false,
        )?;
        let g = &file.geometry;
        let (key, shape) = match (&g.geojson, &g.feature) {
            (Some(gj), Some(feature)) => {
                if g.polygon.is_some() || g.line.is_some() || g.points.is_some() {
                    return Err(
                        "geometry: a GeoJSON feature or inline coordinates, not both".into(),
                    );
                }
                let file_path = path.parent().unwrap_or(Path::new(".")).join(gj);
                ("feature", feature_shape(&file_path, feature, file.kind)?)
            }
            (None, None) => {
                let (key, pts) = match file.kind {
                    Kind::Area => ("polygon", &g.polygon),
                    Kind::Corridor => ("line", &g.line),
                    Kind::Points => ("points", &g.points),
                };
                let pts = pts
                    .clone()
                    .ok_or_else(|| format!("geometry.{key} is missing (a {key} plan needs it)"))?;
                (key, pts)
            }
            _ => return Err("geometry: geojson and feature go together".into()),
        };
        if shape.len() > MAX_POINTS {
            return Err(format!(
                "geometry.{key}: {} points, over the {MAX_POINTS} a plan may have",
                shape.len()
            ));
        }
        check_points(key, &shape)?;
        let mut shape = shape;
        match file.kind {
            Kind::Area => {
                if shape.len() > 1 && shape.first() == shape.last() {
                    shape.pop();
                }
                if shape.len() < 3 {
                    return Err(format!(
                        "geometry.{key}: an area needs at least 3 points, not {}",
                        shape.len()
                    ));
                }
            }
            Kind::Corridor => {
                if shape.len() < 2 {
                    return Err(format!(
                        "geometry.{key}: a corridor needs at least 2 points"
                    ));
                }
                in_range(
                    "geometry.width_m",
                    g.width_m.unwrap_or(f64::NAN),
                    0.0,
                    2000.0,
                    true,
                )?;
            }
            Kind::Points => {
                if shape.is_empty() {
                    return Err(format!("geometry.{key}: no points"));
                }
            }
        }
        let schedule = file
            .schedule
            .as_ref()
            .map(|s| {
                s.parse()
                    .map_err(|e: crate::schedule::ScheduleError| e.to_string())
            })
            .transpose()?;
        let plan = Self {
            path: path.into(),
            dock,
            camera,
            shape,
            schedule,
            file,
        };
        if plan.file.kind == Kind::Area {
            let poly = plan.local_polygon();
            if let Err(e) = poly.check_validation() {
                return Err(format!(
                    "geometry.{key}: the polygon is not simple ({e}); is it self-intersecting?"
                ));
            }
        }
        Ok(plan)
    }

    /// The dock's local frame (east/north metres from the dock).
    pub fn frame(&self) -> LocalFrame {
        LocalFrame::new(GeoPoint {
            lat: self.dock.lat,
            lon: self.dock.lon,
        })
    }

    fn local(&self, p: [f64; 2]) -> Coord {
        let (x, y) = self.frame().geo_to_ground(GeoPoint {
            lat: p[0],
            lon: p[1],
        });
        Coord { x, y }
    }

    /// The area's polygon in the dock's frame.
    pub fn local_polygon(&self) -> Polygon {
        Polygon::new(
            LineString::from(
                self.shape
                    .iter()
                    .map(|&p| self.local(p))
                    .collect::<Vec<_>>(),
            ),
            vec![],
        )
    }

    /// The sweep options this plan asks for.
    pub fn sweep_options(&self) -> SweepOptions {
        let f = &self.file.flight;
        SweepOptions {
            swath_m: self.camera.swath_m(f.altitude_m),
            spacing_m: self.camera.spacing_m(f.altitude_m, f.side_overlap),
            bearing_deg: match f.angle_deg {
                Angle::Auto => None,
                Angle::Deg(d) => Some(d),
            },
            turnaround_m: f.turnaround_m,
            evenly: f.evenly,
            entry: Some(Coord { x: 0.0, y: 0.0 }),
            frontal_m: Some(self.camera.frontal_m(f.altitude_m)),
            // A camera looking straight down sees half its footprint past a line's end.
            end_inset_m: if (f.gimbal_pitch_deg + 90.0).abs() < NADIR_TOLERANCE_DEG {
                self.camera.frontal_m(f.altitude_m) / 2.0
            } else {
                0.0
            },
        }
    }

    /// The work as legs flown with the camera on, in order (local metres): a sweep's
    /// transects, a corridor's passes, or one leg per inspected point.
    fn legs(&self) -> Result<(Vec<Vec<Coord>>, Template), String> {
        let f = &self.file.flight;
        match self.file.kind {
            Kind::Area => {
                let s = coverage::sweep(&self.local_polygon(), &self.sweep_options())
                    .map_err(|e| e.to_string())?;
                let legs = s
                    .transects
                    .iter()
                    .map(|t: &Transect| vec![t.from, t.to])
                    .collect();
                Ok((
                    legs,
                    Template::Area {
                        polygon: self.shape.clone(),
                        side_overlap: f.side_overlap,
                        bearing_deg: s.bearing_deg,
                    },
                ))
            }
            Kind::Corridor => {
                let width = self.file.geometry.width_m.unwrap_or_default();
                let line = LineString::from(
                    self.shape
                        .iter()
                        .map(|&p| self.local(p))
                        .collect::<Vec<_>>(),
                );
                let passes = coverage::corridor(
                    &line,
                    width,
                    self.camera.swath_m(f.altitude_m),
                    self.camera.spacing_m(f.altitude_m, f.side_overlap),
                    f.turnaround_m,
                )
                .map_err(|e| e.to_string())?;
                Ok((
                    passes,
                    Template::Corridor {
                        line: self.shape.clone(),
                        width_m: width,
                        side_overlap: f.side_overlap,
                    },
                ))
            }
            Kind::Points => {
                // Nearest first, from the dock.
                let mut left: Vec<Coord> = self.shape.iter().map(|&p| self.local(p)).collect();
                let mut at = Coord { x: 0.0, y: 0.0 };
                let mut legs = Vec::with_capacity(left.len());
                while !left.is_empty() {
                    let (k, _) = left
                        .iter()
                        .enumerate()
                        .map(|(k, p)| (k, (p.x - at.x).hypot(p.y - at.y)))
                        .min_by(|a, b| a.1.total_cmp(&b.1))
                        .unwrap_or((0, 0.0));
                    at = left.remove(k);
                    legs.push(vec![at]);
                }
                Ok((legs, Template::Waypoints))
            }
        }
    }

    /// The waypoints of some legs, from the dock and back to it.
    fn mission_of(&self, legs: &[Vec<Coord>], template: &Template) -> Mission {
        let f = &self.file.flight;
        let frame = self.frame();
        let wp = |c: Coord, h: f64| {
            let g = frame.ground_to_geo(c.x, c.y);
            Waypoint::at(g.lat, g.lon, h)
        };
        let dock = Coord { x: 0.0, y: 0.0 };
        let mut waypoints = Vec::new();
        // Take-off: straight up over the dock, gimbal set for the work.
        let mut first = wp(dock, f.altitude_m);
        first.speed_mps = Some(f.speed_mps);
        first.actions.push(Action::Gimbal {
            pitch_deg: f.gimbal_pitch_deg,
        });
        waypoints.push(first);
        for leg in legs {
            if self.file.kind == Kind::Points {
                let p = leg[0];
                waypoints.push(wp(p, f.altitude_m));
                let mut low = wp(p, f.inspect_height_m);
                low.actions.push(Action::Gimbal {
                    pitch_deg: f.inspect_pitch_deg,
                });
                low.actions.push(Action::Hover { seconds: f.hover_s });
                waypoints.push(low);
                let mut up = wp(p, f.altitude_m);
                up.actions.push(Action::Gimbal {
                    pitch_deg: f.gimbal_pitch_deg,
                });
                waypoints.push(up);
            } else {
                waypoints.extend(leg.iter().map(|&c| wp(c, f.altitude_m)));
            }
        }
        // Return: back over the dock at the working height (the dock lands it).
        waypoints.push(wp(dock, f.altitude_m));
        Mission {
            home: Home {
                lat: self.dock.lat,
                lon: self.dock.lon,
                elevation_m: self.dock.elevation_m,
            },
            speed_mps: f.speed_mps,
            rth_altitude_m: self.dock.rth_altitude_m,
            template: template.clone(),
            waypoints,
        }
    }

    /// The plan's missions: one, or with `split` as many sorties as the dock's flight time
    /// needs. A plan out of its dock's range, or (without `split`) over its flight time, is
    /// refused with the numbers.
    pub fn missions(&self) -> Result<Vec<Mission>, PlanError> {
        let fail = |message: String| PlanError {
            path: self.path.clone(),
            message,
        };
        let d = &self.dock;
        // Refused before planning: what the camera must see from beyond the dock's range
        // cannot be flown (and a continent-sized area would keep the sweep busy for hours).
        let f = &self.file.flight;
        let seen_m = match self.file.kind {
            Kind::Points => 0.0,
            Kind::Area | Kind::Corridor => {
                self.camera
                    .swath_m(f.altitude_m)
                    .hypot(self.camera.frontal_m(f.altitude_m))
                    / 2.0
            }
        };
        let home = GeoPoint {
            lat: d.lat,
            lon: d.lon,
        };
        let far_m = self
            .shape
            .iter()
            .map(|&[lat, lon]| haversine_m(home, GeoPoint { lat, lon }))
            .fold(0.0, f64::max);
        if far_m - seen_m > d.max_range_m {
            return Err(fail(format!(
                "the {} reaches {far_m:.0} m from {} (seen from {seen_m:.0} m away at most), beyond its max_range_m of {:.0} m",
                match self.file.kind {
                    Kind::Area => "area",
                    Kind::Corridor => "corridor",
                    Kind::Points => "farthest point",
                },
                d.id,
                d.max_range_m
            )));
        }
        let (legs, template) = self.legs().map_err(fail)?;
        let whole = self.mission_of(&legs, &template);
        let cost = whole.cost();
        if cost.range_m > d.max_range_m {
            return Err(fail(format!(
                "the plan reaches {:.0} m from {}, beyond its max_range_m of {:.0} m",
                cost.range_m, d.id, d.max_range_m
            )));
        }
        if cost.duration_s <= d.max_flight_s {
            return Ok(vec![whole]);
        }
        if !self.file.split {
            return Err(fail(format!(
                "the flight takes {:.0} s ({:.1} km at {} m/s), over {}'s max_flight_s of {:.0} s; set split = true to fly it as several sorties",
                cost.duration_s,
                cost.length_m / 1000.0,
                self.file.flight.speed_mps,
                d.id,
                d.max_flight_s
            )));
        }
        let mut sorties = Vec::new();
        let mut current: Vec<Vec<Coord>> = Vec::new();
        for leg in legs {
            current.push(leg);
            if self.mission_of(&current, &template).cost().duration_s > d.max_flight_s {
                let leg = current.pop().unwrap_or_default();
                if !current.is_empty() {
                    sorties.push(self.mission_of(&current, &template));
                }
                // The leg starts the next sortie, which it alone must not already break.
                let alone = self
                    .mission_of(std::slice::from_ref(&leg), &template)
                    .cost();
                if alone.duration_s > d.max_flight_s {
                    return Err(fail(format!(
                        "one leg alone takes {:.0} s from {} and back, over its max_flight_s of {:.0} s",
                        alone.duration_s, d.id, d.max_flight_s
                    )));
                }
                current = vec![leg];
            }
        }
        if !current.is_empty() {
            sorties.push(self.mission_of(&current, &template));
        }
        Ok(sorties)
    }
}

/// Every `*.toml` plan in a folder, in name order, checked against the docks; two plans with
/// one id are refused, naming both files.
pub fn load_dir(dir: &Path, docks: &Docks) -> Result<Vec<Plan>, PlanError> {
    let listing = std::fs::read_dir(dir).map_err(|e| PlanError {
        path: dir.into(),
        message: e.to_string(),
    })?;
    let mut files: Vec<PathBuf> = listing
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut plans: Vec<Plan> = Vec::with_capacity(files.len());
    for f in files {
        let plan = Plan::load(&f, docks)?;
        if let Some(first) = plans.iter().find(|p| p.file.id == plan.file.id) {
            return Err(PlanError {
                path: f,
                message: format!(
                    "id {:?} is also the id of {}",
                    plan.file.id,
                    first.path.display()
                ),
            });
        }
        plans.push(plan);
    }
    Ok(plans)
}

impl Plan {
    /// The share of the area (or the corridor) the camera sees along the work legs of these
    /// missions, 0–1; `None` for points.
    pub fn coverage(&self, missions: &[Mission]) -> Option<f64> {
        let f = &self.file.flight;
        let (swath, frontal) = (
            self.camera.swath_m(f.altitude_m),
            self.camera.frontal_m(f.altitude_m),
        );
        let frame = self.frame();
        let local = |w: &Waypoint| {
            let (x, y) = frame.geo_to_ground(w.point());
            Coord { x, y }
        };
        let mut cover = geo::MultiPolygon::new(Vec::new());
        for m in missions {
            // The work: every waypoint but take-off and return.
            let work: Vec<Coord> = m
                .waypoints
                .get(1..m.waypoints.len().saturating_sub(1))
                .unwrap_or_default()
                .iter()
                .map(local)
                .collect();
            let legs: Vec<&[Coord]> = match self.file.kind {
                Kind::Area => work.chunks(2).collect(),
                Kind::Corridor => vec![&work[..]],
                Kind::Points => return None,
            };
            for leg in legs {
                use geo::BooleanOps;
                cover = cover.union(&coverage::footprint(leg, swath, frontal));
            }
        }
        match self.file.kind {
            Kind::Area => Some(coverage::covered_share(&self.local_polygon(), &cover)),
            Kind::Corridor => {
                use geo::{Area, BooleanOps};
                let line = LineString::from(
                    self.shape
                        .iter()
                        .map(|&p| self.local(p))
                        .collect::<Vec<_>>(),
                );
                let area =
                    coverage::corridor_area(&line, self.file.geometry.width_m.unwrap_or(0.0));
                let total = area.unsigned_area();
                (total > 0.0).then(|| area.intersection(&cover).unsigned_area() / total)
            }
            Kind::Points => None,
        }
    }
}

impl Plan {
    /// A plan built in code, flown from `dock` (id `dock`): what `flightplan cover`, `corridor`
    /// and `inspect` plan, and what benchmarks and tests sweep.
    pub fn adhoc(
        kind: Kind,
        geometry: GeometrySpec,
        camera: CameraSpec,
        flight: FlightSpec,
        dock: Dock,
    ) -> Result<Self, String> {
        let docks = Docks {
            path: PathBuf::from("(in code)"),
            docks: vec![Dock {
                id: "dock".into(),
                ..dock
            }],
        };
        let file = PlanFile {
            schema: PLAN_SCHEMA.into(),
            id: "adhoc".into(),
            dock: "dock".into(),
            kind,
            geometry,
            camera,
            flight,
            schedule: None,
            split: false,
        };
        Self::check(file, Path::new("adhoc.toml"), &docks)
    }
}

impl Dock {
    /// A dock at `lat`, `lon` with no limit a patrol would reach (100 km, a day, 500 m up).
    pub fn unlimited(lat: f64, lon: f64) -> Self {
        Self {
            id: "dock".into(),
            lat,
            lon,
            elevation_m: 0.0,
            max_range_m: 100_000.0,
            max_flight_s: 86_400.0,
            max_altitude_m: 500.0,
            rth_altitude_m: 100.0,
            sn: None,
            aircraft_sn: None,
            agent: None,
        }
    }
}
