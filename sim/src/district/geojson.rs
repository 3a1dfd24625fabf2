//! The district's file format: one GeoJSON `FeatureCollection` in WGS84, every feature with a
//! `layer` property, and a foreign member `argus` with the generator's parameters.

use std::path::Path;

use argus_core::geodesy::{GeoPoint, LocalFrame};
use serde_json::{Map, Value, json};

use super::{Area, Building, District, Lane, Object, ObjectKind, Region, RoofType, VendingZone};
use crate::geom::{self, P2};

/// The schema tag of district files.
pub const SCHEMA: &str = "argus.district/1";

/// Errors reading a district file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DistrictFileError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{path}: not valid JSON: {source}")]
    Json {
        /// The file.
        path: String,
        /// Where and why.
        source: serde_json::Error,
    },
    /// The collection or one of its features is not what a district needs.
    #[error("{path}: {at}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// Which part: `argus`, `features[12]`, …
        at: String,
        /// What is wrong.
        message: String,
    },
}

fn round(v: f64) -> f64 {
    (v * 1e9).round() / 1e9
}

fn ring_coords(frame: &LocalFrame, ring: &[P2]) -> Value {
    let mut pts: Vec<Value> = ring
        .iter()
        .map(|p| {
            let g = frame.ground_to_geo(p[0], p[1]);
            json!([round(g.lon), round(g.lat)])
        })
        .collect();
    pts.push(pts[0].clone());
    json!([pts])
}

fn feature(frame: &LocalFrame, ring: &[P2], props: Value) -> Value {
    json!({"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": ring_coords(frame, ring)}})
}

fn r2(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The district as a GeoJSON value.
pub fn to_geojson(d: &District) -> Value {
    let f = d.frame();
    let mut feats = Vec::new();
    for a in &d.roads {
        feats.push(feature(
            &f,
            &a.ring,
            json!({"layer": "road", "id": a.id, "kind": a.kind}),
        ));
    }
    for l in &d.lanes {
        let (dx, dy) = (l.end[0] - l.start[0], l.end[1] - l.start[1]);
        feats.push(feature(
            &f,
            &l.ring(),
            json!({
                "layer": "lane", "id": l.id, "road": l.road, "width_m": r2(l.width),
                "length_m": r2(dx.hypot(dy)), "heading_deg": r2(dx.atan2(dy).to_degrees()),
                "left_is_centre": l.left_is_centre, "right_is_kerb": l.right_is_kerb,
            }),
        ));
    }
    for a in &d.footways {
        feats.push(feature(
            &f,
            &a.ring,
            json!({"layer": "footway", "id": a.id}),
        ));
    }
    for a in &d.grounds {
        feats.push(feature(
            &f,
            &a.ring,
            json!({"layer": "ground", "id": a.id, "kind": a.kind}),
        ));
    }
    for b in &d.buildings {
        feats.push(feature(
            &f,
            &b.footprint,
            json!({"layer": "building", "id": b.id, "height_m": r2(b.height), "roof": b.roof, "variant": b.variant}),
        ));
    }
    for z in &d.vending_zones {
        feats.push(feature(
            &f,
            &z.ring,
            json!({"layer": "vending_zone", "id": z.id, "hours": z.hours_text()}),
        ));
    }
    for (layer, regions) in [
        ("construction_site", &d.construction_sites),
        ("baseline_structure", &d.baseline),
        ("jurisdiction", &d.jurisdictions),
        ("grid_cell", &d.grid_cells),
    ] {
        for r in regions {
            feats.push(feature(
                &f,
                &r.ring,
                json!({"layer": layer, "id": r.id, "name": r.name}),
            ));
        }
    }
    for o in &d.objects {
        let mut p = json!({
            "layer": if o.violation { "violation" } else { "object" },
            "id": o.id, "kind": o.kind, "violation": o.violation, "rule": o.rule,
            "length_m": r2(o.length), "width_m": r2(o.width), "height_m": r2(o.height),
            "elev_m": r2(o.elev), "yaw_deg": r2(o.yaw.to_degrees()), "variant": o.variant,
        });
        if let (Some(v), Some(c)) = (o.kind.violation_class(), o.kind.det_class()) {
            p["class"] = json!(v.as_str());
            p["object_class"] = json!(c.as_str());
        }
        feats.push(feature(
            &f,
            &geom::oriented_rect(o.center, o.length, o.width, o.yaw),
            p,
        ));
    }
    json!({
        "type": "FeatureCollection",
        "argus": {
            "schema": SCHEMA, "seed": d.seed, "origin": {"lat": d.origin.lat, "lon": d.origin.lon},
            "size_m": d.size_m, "rotation_deg": d.rotation_deg,
            "scene_time": format!("{:02}:{:02}", d.scene_minute / 60, d.scene_minute % 60),
        },
        "features": feats,
    })
}

/// Writes `district.geojson` (pretty-printed, stable key order) into `dir`.
pub fn write(d: &District, dir: &Path) -> std::io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("district.geojson");
    let text = serde_json::to_string_pretty(&to_geojson(d)).expect("a Value always serialises");
    std::fs::write(&path, text + "\n")?;
    Ok(path)
}

/// Reads a district from a `district.geojson` file, or from a folder holding one.
pub fn read(path: &Path) -> Result<District, DistrictFileError> {
    let path = if path.is_dir() {
        path.join("district.geojson")
    } else {
        path.to_path_buf()
    };
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|source| DistrictFileError::Io {
        path: shown.clone(),
        source,
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|source| DistrictFileError::Json {
        path: shown.clone(),
        source,
    })?;
    from_geojson(&v).map_err(|(at, message)| DistrictFileError::Invalid {
        path: shown,
        at,
        message,
    })
}

type Bad = (String, String);

fn get<'a>(m: &'a Map<String, Value>, at: &str, key: &str) -> Result<&'a Value, Bad> {
    m.get(key)
        .ok_or_else(|| (at.to_string(), format!("missing `{key}`")))
}

fn num(m: &Map<String, Value>, at: &str, key: &str) -> Result<f64, Bad> {
    get(m, at, key)?
        .as_f64()
        .ok_or_else(|| (at.to_string(), format!("`{key}` must be a number")))
}

fn text(m: &Map<String, Value>, at: &str, key: &str) -> Result<String, Bad> {
    get(m, at, key)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| (at.to_string(), format!("`{key}` must be a string")))
}

fn flag(m: &Map<String, Value>, at: &str, key: &str) -> Result<bool, Bad> {
    get(m, at, key)?
        .as_bool()
        .ok_or_else(|| (at.to_string(), format!("`{key}` must be true or false")))
}

fn parse_ring(frame: &LocalFrame, geometry: &Value, at: &str) -> Result<Vec<P2>, Bad> {
    let bad = |m: &str| (at.to_string(), m.to_string());
    if geometry["type"] != "Polygon" {
        return Err(bad("geometry must be a Polygon"));
    }
    let outer = geometry["coordinates"][0]
        .as_array()
        .ok_or_else(|| bad("polygon has no outer ring"))?;
    let mut ring = Vec::with_capacity(outer.len());
    for p in outer {
        let (lon, lat) = (p[0].as_f64(), p[1].as_f64());
        let (Some(lon), Some(lat)) = (lon, lat) else {
            return Err(bad("coordinates must be [lon, lat] numbers"));
        };
        let g = GeoPoint { lat, lon };
        if !g.is_valid() {
            return Err(bad(&format!(
                "coordinate [{lon}, {lat}] is not a valid longitude/latitude"
            )));
        }
        let (e, n) = frame.geo_to_ground(g);
        ring.push([e, n]);
    }
    if ring.len() > 1 && ring.first() == ring.last() {
        ring.pop();
    }
    if ring.len() < 3 {
        return Err(bad("a ring needs at least three points"));
    }
    Ok(ring)
}

fn parse_minutes(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

fn enum_value<T: serde::de::DeserializeOwned>(
    m: &Map<String, Value>,
    at: &str,
    key: &str,
) -> Result<T, Bad> {
    serde_json::from_value(get(m, at, key)?.clone())
        .map_err(|e| (at.to_string(), format!("`{key}`: {e}")))
}

/// Builds a district from its GeoJSON value. Errors say which part is wrong.
pub fn from_geojson(v: &Value) -> Result<District, Bad> {
    let meta = v["argus"].as_object().ok_or_else(|| {
        (
            "argus".to_string(),
            "missing the `argus` member (not a district file?)".to_string(),
        )
    })?;
    let schema = text(meta, "argus", "schema")?;
    if schema != SCHEMA {
        return Err((
            "argus.schema".into(),
            format!("unknown schema {schema:?}, expected {SCHEMA:?}"),
        ));
    }
    let origin_v = get(meta, "argus", "origin")?
        .as_object()
        .ok_or_else(|| ("argus.origin".to_string(), "must be an object".to_string()))?;
    let origin = GeoPoint {
        lat: num(origin_v, "argus.origin", "lat")?,
        lon: num(origin_v, "argus.origin", "lon")?,
    };
    if !origin.is_valid() {
        return Err((
            "argus.origin".into(),
            "not a valid latitude/longitude".into(),
        ));
    }
    let scene = text(meta, "argus", "scene_time")?;
    let scene_minute = parse_minutes(&scene)
        .filter(|m| *m < 24 * 60)
        .ok_or_else(|| {
            (
                "argus.scene_time".to_string(),
                format!("{scene:?} is not HH:MM"),
            )
        })?;
    let frame = LocalFrame::new(origin);
    let size_m = num(meta, "argus", "size_m")?;
    let rotation_deg = num(meta, "argus", "rotation_deg")?;
    let half = size_m / 2.0;
    let boundary = geom::rect(-half, -half, half, half)
        .into_iter()
        .map(|p| geom::rotate(p, rotation_deg.to_radians()))
        .collect();
    let seed = get(meta, "argus", "seed")?.as_u64().ok_or_else(|| {
        (
            "argus.seed".to_string(),
            "must be a non-negative integer".to_string(),
        )
    })?;
    let mut d = District::empty(seed, origin, size_m, rotation_deg, scene_minute, boundary);
    let feats = v["features"].as_array().ok_or_else(|| {
        (
            "features".to_string(),
            "missing or not an array".to_string(),
        )
    })?;
    for (i, feat) in feats.iter().enumerate() {
        let at = format!("features[{i}]");
        let props = feat["properties"]
            .as_object()
            .ok_or_else(|| (at.clone(), "no properties".to_string()))?;
        let layer = text(props, &at, "layer")?;
        let ring = parse_ring(&frame, &feat["geometry"], &at)?;
        let id = text(props, &at, "id")?;
        let area = |kind: String| Area {
            id: id.clone(),
            kind,
            ring: ring.clone(),
        };
        let region = || -> Result<Region, Bad> {
            Ok(Region {
                id: id.clone(),
                name: text(props, &at, "name")?,
                ring: ring.clone(),
            })
        };
        match layer.as_str() {
            "road" => d.roads.push(area(text(props, &at, "kind")?)),
            "footway" => d.footways.push(area("footway".into())),
            "ground" => d.grounds.push(area(text(props, &at, "kind")?)),
            "lane" => {
                let c = geom::centroid(&ring);
                let (len, h) = (
                    num(props, &at, "length_m")?,
                    num(props, &at, "heading_deg")?.to_radians(),
                );
                let (ux, uy) = (h.sin() * len / 2.0, h.cos() * len / 2.0);
                d.lanes.push(Lane {
                    id,
                    road: text(props, &at, "road")?,
                    start: [c[0] - ux, c[1] - uy],
                    end: [c[0] + ux, c[1] + uy],
                    width: num(props, &at, "width_m")?,
                    left_is_centre: flag(props, &at, "left_is_centre")?,
                    right_is_kerb: flag(props, &at, "right_is_kerb")?,
                });
            }
            "building" => {
                let height = num(props, &at, "height_m")?;
                if height.is_nan() || height <= 0.0 {
                    return Err((at, format!("`height_m` must be positive, got {height}")));
                }
                let roof: RoofType = enum_value(props, &at, "roof")?;
                let variant = get(props, &at, "variant")?.as_u64().unwrap_or(0) as u32;
                d.buildings.push(Building {
                    id,
                    footprint: ring,
                    height,
                    roof,
                    variant,
                });
            }
            "vending_zone" => {
                let h = text(props, &at, "hours")?;
                let hours = argus_core::map::parse_hours(&h).ok_or_else(|| {
                    (
                        at.clone(),
                        format!("`hours`: {h:?} is not like 06:00-09:00,17:00-22:00"),
                    )
                })?;
                d.vending_zones.push(VendingZone { id, ring, hours });
            }
            "construction_site" => d.construction_sites.push(region()?),
            "baseline_structure" => d.baseline.push(region()?),
            "jurisdiction" => d.jurisdictions.push(region()?),
            "grid_cell" => d.grid_cells.push(region()?),
            "violation" | "object" => {
                let kind: ObjectKind = enum_value(props, &at, "kind")?;
                let o = Object {
                    id,
                    kind,
                    violation: flag(props, &at, "violation")?,
                    rule: text(props, &at, "rule")?,
                    center: geom::centroid(&ring),
                    yaw: num(props, &at, "yaw_deg")?.to_radians(),
                    length: num(props, &at, "length_m")?,
                    width: num(props, &at, "width_m")?,
                    height: num(props, &at, "height_m")?,
                    elev: num(props, &at, "elev_m")?,
                    variant: get(props, &at, "variant")?.as_u64().unwrap_or(0) as u32,
                };
                if (layer == "violation") != o.violation {
                    return Err((
                        at,
                        format!(
                            "layer {layer:?} disagrees with `violation: {}`",
                            o.violation
                        ),
                    ));
                }
                d.objects.push(o);
            }
            other => return Err((at, format!("unknown layer {other:?}"))),
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::district::generate::{DistrictOptions, generate};

    #[test]
    fn a_district_survives_its_file_format() {
        let d = generate(&DistrictOptions {
            seed: 3,
            ..Default::default()
        })
        .unwrap();
        let back = from_geojson(&to_geojson(&d)).unwrap();
        assert_eq!(back.objects.len(), d.objects.len());
        assert_eq!(back.buildings.len(), d.buildings.len());
        for (a, b) in d.objects.iter().zip(&back.objects) {
            assert_eq!(
                (a.id.as_str(), a.kind, a.violation),
                (b.id.as_str(), b.kind, b.violation)
            );
            assert!(
                (a.center[0] - b.center[0]).abs() < 1e-3
                    && (a.center[1] - b.center[1]).abs() < 1e-3
            );
        }
        for (a, b) in d.lanes.iter().zip(&back.lanes) {
            assert!((a.start[0] - b.start[0]).abs() < 0.01 && (a.end[1] - b.end[1]).abs() < 0.01);
        }
        assert_eq!(back.vending_zones[0].hours, d.vending_zones[0].hours);
    }

    #[test]
    fn bad_features_are_named() {
        let d = generate(&DistrictOptions::default()).unwrap();
        let mut v = to_geojson(&d);
        v["features"][5]["properties"]["layer"] = json!("lava");
        let (at, msg) = from_geojson(&v).unwrap_err();
        assert_eq!(at, "features[5]");
        assert!(msg.contains("lava"));
        let mut v = to_geojson(&d);
        v["argus"]["scene_time"] = json!("25:99");
        assert_eq!(from_geojson(&v).unwrap_err().0, "argus.scene_time");
    }
}
