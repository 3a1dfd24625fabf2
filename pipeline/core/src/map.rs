//! Map layers from GeoJSON: the polygons the rules and the ground model need, in a local
//! metric frame, with a grid index so a lookup touches only nearby polygons. The planar geometry
//! (containment, distance, area, centroid, overlap) is the `geo` crate's.
//!
//! A feature's layer is its `layer` property (the simulator's district files are the reference):
//! `lane`, `footway`, `vending_zone` (with `hours`, e.g. `06:30-09:00,17:00-21:30`),
//! `construction_site`, `baseline_structure`, `building` (with `height_m`), `jurisdiction`,
//! `grid_cell`; other layers are kept too and may be queried by name.

use std::collections::HashMap;

use geo::{
    Area as _, BooleanOps, BoundingRect, Centroid, Coord, Distance, Euclidean, Intersects,
    LineString, Point, Polygon, Rect,
};

use crate::geodesy::{GeoPoint, LocalFrame};

/// A polygon of one layer, in local metres.
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    /// The feature's `id`.
    pub id: String,
    /// Its layer.
    pub layer: String,
    /// `height_m`, for buildings.
    pub height_m: Option<f64>,
    /// Opening windows in minutes of the day, for vending zones (`[start, end)`).
    pub hours: Vec<(u32, u32)>,
    /// `name`, when given.
    pub name: Option<String>,
    // Built once with the area: lookups test thousands of points against the same polygons.
    polygon: Polygon<f64>,
    bbox: Option<Rect<f64>>,
}

impl Area {
    /// An area with only an id, a layer and a ring (local east/north metres, closed or not).
    pub fn new(id: &str, layer: &str, ring: Vec<[f64; 2]>) -> Self {
        let polygon = polygon(&ring);
        Self {
            id: id.into(),
            layer: layer.into(),
            height_m: None,
            hours: Vec::new(),
            name: None,
            bbox: polygon.bounding_rect(),
            polygon,
        }
    }

    /// Its outline, local metres.
    pub fn polygon(&self) -> &Polygon<f64> {
        &self.polygon
    }

    /// Whether the local point lies inside the polygon or on its edge.
    pub fn contains(&self, p: [f64; 2]) -> bool {
        let p = Coord::from(p);
        self.bbox.is_some_and(|b| b.intersects(&p)) && self.polygon.intersects(&p)
    }

    /// The area centroid.
    pub fn centroid(&self) -> [f64; 2] {
        centre(&self.polygon)
    }

    /// The area, square metres.
    pub fn area(&self) -> f64 {
        self.polygon.unsigned_area()
    }

    /// The area this one shares with `other` (any winding, convex or not), square metres.
    pub fn overlap(&self, other: &Polygon<f64>) -> f64 {
        self.polygon.intersection(other).unsigned_area()
    }

    /// Distance from the point to the polygon, metres (0 inside and on the edge).
    pub fn distance(&self, p: [f64; 2]) -> f64 {
        Euclidean.distance(&Point::from(p), &self.polygon)
    }

    /// Whether the zone is open at `minute` of the day (no hours = always open).
    pub fn open_at(&self, minute: u32) -> bool {
        self.hours.is_empty() || self.hours.iter().any(|&(a, b)| (a..b).contains(&minute))
    }

    /// The opening hours as written (`06:00-09:00,17:00-21:30`).
    pub fn hours_text(&self) -> String {
        format_hours(&self.hours)
    }
}

/// A ring of local metres (open or closed) as a polygon without holes.
pub fn polygon(ring: &[[f64; 2]]) -> Polygon<f64> {
    Polygon::new(LineString::from(ring.to_vec()), Vec::new())
}

/// The signed area of a ring: positive for counter-clockwise rings.
pub fn signed_area(ring: &[[f64; 2]]) -> f64 {
    polygon(ring).signed_area()
}

/// The area centroid of a simple polygon (of its outline when it has no area; NaN when empty).
pub fn centroid(ring: &[[f64; 2]]) -> [f64; 2] {
    centre(&polygon(ring))
}

fn centre(polygon: &Polygon<f64>) -> [f64; 2] {
    polygon.centroid().map_or([f64::NAN; 2], Into::into)
}

/// Errors reading a map.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MapError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Not a GeoJSON FeatureCollection, or a feature that is not what its layer needs.
    #[error("{at}: {what}")]
    Invalid {
        /// Which feature (`features[12] (id L0001)`), or `document`.
        at: String,
        /// What is wrong.
        what: String,
    },
}

/// Writes minute windows as `HH:MM-HH:MM[,HH:MM-HH:MM…]` (the inverse of [`parse_hours`]).
pub fn format_hours(hours: &[(u32, u32)]) -> String {
    let hm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
    hours
        .iter()
        .map(|&(a, b)| format!("{}-{}", hm(a), hm(b)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses `HH:MM-HH:MM[,HH:MM-HH:MM…]` into minute windows.
pub fn parse_hours(s: &str) -> Option<Vec<(u32, u32)>> {
    let hm = |t: &str| -> Option<u32> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
    };
    s.split(',')
        .filter(|w| !w.trim().is_empty())
        .map(|w| {
            let (a, b) = w.split_once('-')?;
            let (a, b) = (hm(a)?, hm(b)?);
            (a < b).then_some((a, b))
        })
        .collect()
}

const CELL_M: f64 = 50.0;

/// The map: areas by layer with a grid index, in a local frame.
#[derive(Debug, Clone)]
pub struct Map {
    frame: LocalFrame,
    areas: Vec<Area>,
    grid: HashMap<(i64, i64), Vec<usize>>,
    /// Minutes of the day of the district's scene time, when the file says (`argus.scene_time`).
    pub scene_minute: Option<u32>,
}

fn cell(v: f64) -> i64 {
    (v / CELL_M).floor() as i64
}

impl Map {
    /// An empty map in a frame anchored at `origin`.
    pub fn empty(origin: GeoPoint) -> Self {
        Self {
            frame: LocalFrame::new(origin),
            areas: Vec::new(),
            grid: HashMap::new(),
            scene_minute: None,
        }
    }

    /// Reads a GeoJSON FeatureCollection. Polygons and MultiPolygons (outer rings) are kept;
    /// other geometries are skipped. The local frame is anchored at `argus.origin` when the
    /// file has one, else at the first coordinate.
    pub fn from_geojson(text: &str) -> Result<Self, MapError> {
        let doc: serde_json::Value = serde_json::from_str(text)?;
        let invalid = |at: String, what: &str| MapError::Invalid {
            at,
            what: what.into(),
        };
        if doc.get("type").and_then(|t| t.as_str()) != Some("FeatureCollection") {
            return Err(invalid(
                "document".into(),
                "not a GeoJSON FeatureCollection",
            ));
        }
        let features = doc
            .get("features")
            .and_then(|f| f.as_array())
            .ok_or_else(|| invalid("document".into(), "no `features` array"))?;
        let rings_of = |g: &serde_json::Value| -> Option<Vec<Vec<[f64; 2]>>> {
            let coords = g.get("coordinates")?;
            let polys: Vec<&serde_json::Value> = match g.get("type")?.as_str()? {
                "Polygon" => vec![coords],
                "MultiPolygon" => coords.as_array()?.iter().collect(),
                _ => return Some(Vec::new()),
            };
            polys
                .iter()
                .map(|p| {
                    p.get(0)?
                        .as_array()?
                        .iter()
                        .map(|c| Some([c.get(0)?.as_f64()?, c.get(1)?.as_f64()?]))
                        .collect()
                })
                .collect()
        };
        let argus = doc.get("argus");
        let origin = argus
            .and_then(|a| a.get("origin"))
            .and_then(|o| {
                Some(GeoPoint {
                    lat: o.get("lat")?.as_f64()?,
                    lon: o.get("lon")?.as_f64()?,
                })
            })
            .or_else(|| {
                features.iter().find_map(|f| {
                    let r = rings_of(f.get("geometry")?)?;
                    let c = r.first()?.first()?;
                    Some(GeoPoint {
                        lat: c[1],
                        lon: c[0],
                    })
                })
            })
            .unwrap_or(GeoPoint { lat: 0.0, lon: 0.0 });
        let mut map = Self::empty(origin);
        map.scene_minute = argus
            .and_then(|a| a.get("scene_time"))
            .and_then(|t| t.as_str())
            .and_then(|t| parse_hours(&format!("{t}-24:00")))
            .map(|w| w[0].0);
        for (k, f) in features.iter().enumerate() {
            let props = f.get("properties").cloned().unwrap_or_default();
            let text = |key: &str| props.get(key).and_then(|v| v.as_str()).map(str::to_string);
            let id = text("id").unwrap_or_else(|| format!("#{k}"));
            let at = || format!("features[{k}] (id {id})");
            let Some(layer) = text("layer") else { continue };
            let geometry = f
                .get("geometry")
                .ok_or_else(|| invalid(at(), "no geometry"))?;
            let rings = rings_of(geometry)
                .ok_or_else(|| invalid(at(), "polygon coordinates are not [lon, lat] pairs"))?;
            let hours = match text("hours") {
                Some(h) => parse_hours(&h).ok_or_else(|| {
                    invalid(
                        at(),
                        &format!("hours {h:?} are not HH:MM-HH:MM[,HH:MM-HH:MM]"),
                    )
                })?,
                None => Vec::new(),
            };
            for ring in rings {
                if ring.len() < 3 {
                    return Err(invalid(at(), "a polygon ring needs at least 3 points"));
                }
                let ring: Vec<[f64; 2]> = ring
                    .iter()
                    .map(|c| {
                        let (e, n) = map.frame.geo_to_ground(GeoPoint {
                            lat: c[1],
                            lon: c[0],
                        });
                        [e, n]
                    })
                    .collect();
                map.push(Area {
                    height_m: props.get("height_m").and_then(|v| v.as_f64()),
                    hours: hours.clone(),
                    name: text("name"),
                    ..Area::new(&id, &layer, ring)
                });
            }
        }
        Ok(map)
    }

    /// Adds an area.
    pub fn push(&mut self, a: Area) {
        let k = self.areas.len();
        if let Some(b) = a.bbox {
            for i in cell(b.min().x)..=cell(b.max().x) {
                for j in cell(b.min().y)..=cell(b.max().y) {
                    self.grid.entry((i, j)).or_default().push(k);
                }
            }
        }
        self.areas.push(a);
    }

    /// The local frame.
    pub fn frame(&self) -> &LocalFrame {
        &self.frame
    }

    /// Every area.
    pub fn areas(&self) -> &[Area] {
        &self.areas
    }

    /// Number of areas.
    pub fn len(&self) -> usize {
        self.areas.len()
    }

    /// Whether the map has no area.
    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }

    /// Areas of `layer` within `radius` metres of the local point (containing it when 0).
    pub fn near<'a>(
        &'a self,
        layer: &'a str,
        p: [f64; 2],
        radius: f64,
    ) -> impl Iterator<Item = &'a Area> + 'a {
        let (i0, i1) = (cell(p[0] - radius), cell(p[0] + radius));
        let (j0, j1) = (cell(p[1] - radius), cell(p[1] + radius));
        let mut seen = Vec::new();
        for i in i0..=i1 {
            for j in j0..=j1 {
                if let Some(v) = self.grid.get(&(i, j)) {
                    seen.extend(v.iter().copied());
                }
            }
        }
        seen.sort_unstable();
        seen.dedup();
        seen.into_iter().map(|k| &self.areas[k]).filter(move |a| {
            a.layer == layer
                && if radius > 0.0 {
                    a.distance(p) <= radius
                } else {
                    a.contains(p)
                }
        })
    }

    /// The first area of `layer` containing the local point.
    pub fn find<'a>(&'a self, layer: &'a str, p: [f64; 2]) -> Option<&'a Area> {
        self.near(layer, p, 0.0).next()
    }

    /// Areas of `layer` whose bounding box meets the segment's box (for ray casting).
    pub fn along<'a>(&'a self, layer: &'a str, a: [f64; 2], b: [f64; 2]) -> Vec<&'a Area> {
        let mut seen = Vec::new();
        for i in cell(a[0].min(b[0]))..=cell(a[0].max(b[0])) {
            for j in cell(a[1].min(b[1]))..=cell(a[1].max(b[1])) {
                if let Some(v) = self.grid.get(&(i, j)) {
                    seen.extend(v.iter().copied());
                }
            }
        }
        seen.sort_unstable();
        seen.dedup();
        seen.into_iter()
            .map(|k| &self.areas[k])
            .filter(|x| x.layer == layer)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_are_the_shared_area_whatever_the_winding_or_shape() {
        let ring = |x: f64, y: f64, side: f64| {
            vec![[x, y], [x + side, y], [x + side, y + side], [x, y + side]]
        };
        let overlap =
            |a: Vec<[f64; 2]>, b: &[[f64; 2]]| Area::new("a", "b", a).overlap(&polygon(b));
        assert!((overlap(ring(0.0, 0.0, 10.0), &ring(5.0, 5.0, 10.0)) - 25.0).abs() < 1e-9);
        let mut cw = ring(2.0, 2.0, 2.0);
        cw.reverse();
        assert!((overlap(ring(0.0, 0.0, 10.0), &cw) - 4.0).abs() < 1e-9);
        assert_eq!(overlap(ring(0.0, 0.0, 1.0), &ring(5.0, 5.0, 1.0)), 0.0);
        // An L-shaped (concave) building and a square over its notch: only the arms count,
        // whichever of the two is clipped by the other.
        let l = vec![
            [0.0, 0.0],
            [10.0, 0.0],
            [10.0, 4.0],
            [4.0, 4.0],
            [4.0, 10.0],
            [0.0, 10.0],
        ];
        assert!((overlap(l.clone(), &ring(2.0, 2.0, 6.0)) - 20.0).abs() < 1e-9);
        assert!((overlap(ring(2.0, 2.0, 6.0), &l) - 20.0).abs() < 1e-9);
    }

    fn square(id: &str, layer: &str, x: f64, y: f64, s: f64) -> Area {
        Area::new(
            id,
            layer,
            vec![[x, y], [x + s, y], [x + s, y + s], [x, y + s]],
        )
    }

    #[test]
    fn a_centroid_weighs_area_not_vertices() {
        assert_eq!(square("a", "b", 10.0, 20.0, 4.0).centroid(), [12.0, 22.0]);
        // An L of a 4 x 4 square and a 4 x 2 strip to its right: extra vertices at the joint do
        // not pull the centre towards them.
        let l = Area::new(
            "l",
            "b",
            vec![
                [0.0, 0.0],
                [8.0, 0.0],
                [8.0, 2.0],
                [4.0, 2.0],
                [4.0, 4.0],
                [0.0, 4.0],
            ],
        );
        let c = l.centroid();
        assert!(
            (c[0] - 10.0 / 3.0).abs() < 1e-9 && (c[1] - 5.0 / 3.0).abs() < 1e-9,
            "{c:?}"
        );
    }

    #[test]
    fn hours_parse_and_open() {
        assert_eq!(
            parse_hours("06:30-09:00,17:00-21:30"),
            Some(vec![(390, 540), (1020, 1290)])
        );
        assert_eq!(parse_hours("09:00-06:00"), None);
        assert_eq!(parse_hours("6-9"), None);
        let mut z = square("Z", "vending_zone", 0.0, 0.0, 10.0);
        z.hours = parse_hours("06:00-09:00").unwrap();
        assert!(z.open_at(6 * 60) && !z.open_at(9 * 60));
        assert_eq!(z.hours_text(), "06:00-09:00");
    }

    #[test]
    fn lookups_find_containing_and_near_areas_across_cells() {
        let mut m = Map::empty(GeoPoint {
            lat: 30.0,
            lon: 120.0,
        });
        m.push(square("A", "lane", 40.0, 40.0, 20.0)); // spans four grid cells
        m.push(square("B", "footway", 100.0, 0.0, 5.0));
        assert_eq!(m.find("lane", [55.0, 55.0]).unwrap().id, "A");
        assert!(m.find("lane", [61.0, 55.0]).is_none());
        // The edge belongs to the area: the same point is at distance 0.
        assert_eq!(m.find("lane", [60.0, 55.0]).unwrap().id, "A");
        assert_eq!(m.near("lane", [60.0, 55.0], 0.5).count(), 1);
        assert!(m.find("footway", [55.0, 55.0]).is_none());
        assert_eq!(m.near("lane", [62.0, 50.0], 2.5).count(), 1);
        assert_eq!(m.near("lane", [62.0, 50.0], 1.5).count(), 0);
        assert_eq!(m.along("footway", [0.0, 2.0], [200.0, 2.0]).len(), 1);
    }

    #[test]
    fn bad_documents_name_the_feature() {
        let err = Map::from_geojson(r#"{"type":"Feature"}"#).unwrap_err();
        assert!(err.to_string().contains("FeatureCollection"), "{err}");
        let doc = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"layer":"vending_zone","id":"Z9","hours":"late"},"geometry":{"type":"Polygon","coordinates":[[[120,30],[120.001,30],[120.001,30.001],[120,30]]]}}]}"#;
        let err = Map::from_geojson(doc).unwrap_err().to_string();
        assert!(
            err.contains("features[0] (id Z9)") && err.contains("late"),
            "{err}"
        );
    }
}
